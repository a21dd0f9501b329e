"""Which damage kinetics under the current RF numerics? A re-check of the choice in docs/validation.md.

The default kinetics (``tissue.damage_kinetics = "jacques1991_coagulation"``) were chosen over
``comsol_liver`` by the Lee 2009 rows under the 99 °C desiccation law and the RF numerics of that
time. Since then the desiccation law (2 % boiled) and the cascade sub-steps changed the RF
sessions. This script re-runs, under every named kinetics set, the cases that made the choice —
Lee 2009 ex vivo and in vivo, the Cool-tip 3 cm and the MWA 80 W row (whose efficiency was fitted
under the default kinetics and is *not* refitted here) — and says which rows pass. It is a check of
a discrete choice between two published parameter sets, not a fit.

    python benchmarks/damage_kinetics_study.py --json benchmarks/results/damage_kinetics_<date>.json
"""

from __future__ import annotations

import argparse
import json
import platform
import time

from tissuefate.api import simulate
from tissuefate.config.scenario import scenario_from_dict
from tissuefate.tissue.properties import DAMAGE_KINETICS, DEFAULT_DAMAGE_KINETICS
from tissuefate.validation import rfa_block_scenario

#: (label, scenario builder, reference long × short [mm] or None); tolerance ±15 % as in validate.
CASES = {
    "lee_ex_vivo": ("Lee 2009 2 cm ex vivo", (30.1, 26.2)),
    "lee_in_vivo": ("Lee 2009 2 cm in vivo", (26.2, 20.0)),
    "cooltip": ("Cool-tip 3 cm in vivo", (46.0, 30.2)),
    "mwa": ("MWA 80 W 5 min in vivo", (44.8, 31.2)),
}
LEE_RATIO = (0.52, 0.15)


def scenario(case: str, kinetics: str):
    tissue = {"damage_kinetics": kinetics}
    if case == "lee_ex_vivo":
        return rfa_block_scenario("lee-ex", [72, 72, 80], condition="ex_vivo", tissue=tissue)
    if case == "lee_in_vivo":
        return rfa_block_scenario("lee-in", [72, 72, 80], tissue=tissue)
    if case == "cooltip":
        return rfa_block_scenario("cooltip", [80, 80, 96], tip_mm=30, tissue=tissue)
    return scenario_from_dict({
        "name": "mwa-80W", "modality": "mwa", "tissue": {"species": "porcine", **tissue},
        "anatomy": {"kind": "block", "tumour_diameter_mm": 0}, "grid": {"roi_shape": [80, 80, 96]},
        "applicator": {"type": "mw_antenna", "frequency_MHz": 2450, "antenna": "monopole"},
        "protocol": {"duration_min": 5, "power_W": 80},
    })


def within(sim: float, ref: float, tol: float = 0.15) -> bool:
    return abs(sim - ref) <= tol * ref


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kinetics", nargs="+", default=sorted(DAMAGE_KINETICS), choices=sorted(DAMAGE_KINETICS))
    ap.add_argument("--json", help="write the numbers to this file")
    a = ap.parse_args()
    t0 = time.perf_counter()
    out = {"machine": platform.processor() or platform.machine(), "default": DEFAULT_DAMAGE_KINETICS, "runs": {}}
    print("| kinetics | case | zone Ω ≥ 1 [mm] | volume [mL] | reference [mm] | axes within 15 % |")
    print("|---|---|---|---|---|---|")
    for kin in a.kinetics:
        runs = {}
        for case, (label, ref) in CASES.items():
            z = simulate(scenario(case, kin)).metrics["zones"]["omega_ge_1"]
            ok = within(z["long_axis_mm"], ref[0]) and within(z["short_axis_mm"], ref[1])
            runs[case] = dict(long_mm=z["long_axis_mm"], short_mm=z["short_axis_mm"], volume_mL=z["volume_mL"],
                              passes=ok)
            print(f"| {kin} | {label} | {z['long_axis_mm']:.1f} × {z['short_axis_mm']:.1f} | {z['volume_mL']:.2f} | "
                  f"{ref[0]} × {ref[1]} | {'yes' if ok else 'no'} |", flush=True)
        ratio = runs["lee_in_vivo"]["volume_mL"] / max(runs["lee_ex_vivo"]["volume_mL"], 1e-9)
        runs["lee_ratio"] = dict(value=ratio, passes=abs(ratio - LEE_RATIO[0]) <= LEE_RATIO[1])
        print(f"| {kin} | Lee in vivo / ex vivo volume | {ratio:.2f} | | {LEE_RATIO[0]} ± {LEE_RATIO[1]} | "
              f"{'yes' if runs['lee_ratio']['passes'] else 'no'} |", flush=True)
        out["runs"][kin] = runs
    out["wall_s"] = time.perf_counter() - t0
    print(f"\n{out['wall_s']:.0f} s")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
