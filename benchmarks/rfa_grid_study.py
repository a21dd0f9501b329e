"""Is the RFA zone converged in space? The Lee 2009 2-cm cooled electrode on finer and finer grids.

The validation row ``rfa_convergence`` compares 1 mm with 0.5 mm at one time step. This study
goes further: 1, 0.5 and 1/3 mm (``--finest 0.25`` adds a fourth grid) at one common step (the
automatic step of the finest grid, 0.093 s by default: the time-step error is then the same on
every grid), on the same 56 × 56 × 64 mm block (``--extent`` to change it), for

- the Lee 2009 in vivo porcine and ex vivo bovine cases (17 G, 12 min, impedance control),
- the in vivo case with a 15 G needle (is the needle's radius resolved? benchmarks/gauge_study.py).

It prints a Markdown table (Ω ≥ 1 axes, volume, energy, roll-offs) for docs/model.md. A study,
not a fit: nothing is changed by it.

    python benchmarks/rfa_grid_study.py                 # 9 sessions, ≈ 20 min on 2 cores
    python benchmarks/rfa_grid_study.py --grids 1 0.5   # the quick part, ≈ 5 min
    python benchmarks/rfa_grid_study.py --cases in_vivo_17 ex_vivo_17 --law temperature
                                                        # the same under the 99 °C law (the default
                                                        # before 2026-11-27)
"""

from __future__ import annotations

import argparse
import json
import time

from tissuefate.api import simulate
from tissuefate.tissue.properties import DEFAULT_RF_BOILED_FRACTION
from tissuefate.validation import rfa_block_scenario

CASES = {
    "in_vivo_17": ("Lee in vivo 17 G (26.2 × 20.0 mm)", dict(condition="in_vivo", gauge=17)),
    "ex_vivo_17": ("Lee ex vivo 17 G (30.1 × 26.2 mm)", dict(condition="ex_vivo", gauge=17)),
    "in_vivo_15": ("in vivo 15 G", dict(condition="in_vivo", gauge=15)),
}


def run(case: dict, h_mm: float, dt_s: float, extent_mm: tuple[float, float, float],
        tissue: dict | None = None, cascade_fraction: float = 1.0) -> dict:
    """One 12-min session of ``case`` at spacing ``h_mm`` and step ``dt_s`` on a block of ``extent_mm``."""
    roi = [int(round(e / h_mm / 8)) * 8 for e in extent_mm]
    scn = rfa_block_scenario("rfa-grid-study", roi, condition=case["condition"], gauge=case["gauge"],
                             spacing_mm=h_mm, time_step_s=dt_s, tissue=tissue,
                             numerics={"rf_cascade_step_fraction": cascade_fraction})
    t0 = time.perf_counter()
    r = simulate(scn)
    z = r.metrics["zones"]["omega_ge_1"]
    return dict(h_mm=h_mm, roi=roi, long=z["long_axis_mm"], short=z["short_axis_mm"], volume=z["volume_mL"],
                energy=r.metrics["delivery"]["energy_J"] / 1e3, rolloffs=r.metrics["impedance"]["n_rolloffs"],
                wall_s=time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--grids", type=float, nargs="+", default=[1.0, 0.5, 1 / 3], help="spacings [mm]")
    ap.add_argument("--finest", type=float, help="add this spacing [mm] (e.g. 0.25; ≈ 12 min per session)")
    ap.add_argument("--dt", type=float, default=0.093, help="common time step [s]")
    ap.add_argument("--extent", type=float, nargs=3, default=[56.0, 56.0, 64.0], help="block size [mm]")
    ap.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    ap.add_argument("--law", choices=["vaporised", "temperature"], default="vaporised",
                    help="desiccation law (tissue.rf_desiccation): vaporised (the default) or temperature "
                         "(σ collapses at 99 °C)")
    ap.add_argument("--boiled-fraction", type=float, default=DEFAULT_RF_BOILED_FRACTION,
                    help="vaporised law: σ collapses once this share of the water has boiled "
                         "(tissue.rf_desiccation_boiled_fraction; default %(default)g)")
    ap.add_argument("--cascade-fraction", type=float, default=1.0,
                    help="numerics.rf_cascade_step_fraction of every session (default 1: one step "
                         "throughout, as the recorded numbers were measured; 0.25: the default "
                         "numerics, steps inside desiccation cascades cut to a quarter of the stable step)")
    ap.add_argument("--json", help="write the numbers to this file")
    args = ap.parse_args()
    tissue = {"rf_desiccation": args.law, "rf_desiccation_boiled_fraction": args.boiled_fraction}
    grids = sorted(set(args.grids) | ({args.finest} if args.finest else set()), reverse=True)
    t0 = time.perf_counter()
    out = {}
    law = ("σ collapses at 99 °C" if args.law == "temperature"
           else f"σ collapses once {args.boiled_fraction:g} of the water boiled")
    print(f"step {args.dt} s, block {' × '.join(f'{e:g}' for e in args.extent)} mm, {law}\n")
    print("| case | grid [mm] | zone Ω ≥ 1 [mm] | volume [mL] | energy [kJ] | roll-offs | wall [s] |")
    print("|---|---|---|---|---|---|---|")
    for key in args.cases:
        name, case = CASES[key]
        out[name] = []
        for h in grids:
            o = run(case, h, args.dt, tuple(args.extent), tissue, args.cascade_fraction)
            out[name].append(o)
            print(f"| {name} | {h:.3g} | {o['long']:.1f} × {o['short']:.1f} | {o['volume']:.2f} | {o['energy']:.2f} | "
                  f"{o['rolloffs']} | {o['wall_s']:.0f} |", flush=True)
    print(f"\n{time.perf_counter() - t0:.0f} s")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=1)


if __name__ == "__main__":
    main()
