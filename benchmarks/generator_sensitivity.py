"""How much do RFA zones depend on the impedance-control constants, which are estimates ([E])?

One constant at a time around the defaults (10 Ω rise, 15 s pause, 120 W/min ramp, restart at
90 %), on the two RFA validation cases of literature.md §3: the Lee 2009 2-cm cooled electrode in
vivo (72 × 72 × 80 block at 1 mm) and the Cool-tip 3 cm (80 × 80 × 96). Prints a Markdown table
(Ω ≥ 1 axes, volume, energy, roll-offs) for docs/validation.md. This is a sensitivity study, not a
fit: the defaults are not changed by it.

    python benchmarks/generator_sensitivity.py    # 18 sessions, 2-3 min on a quiet 2-core machine
    python benchmarks/generator_sensitivity.py --gauge-ratio   # the Song 2015 in vivo 15 G / 17 G
                                                               # ratios under each variant (18 sessions)
"""

from __future__ import annotations

import argparse
import time

from tissuefate.api import simulate
from tissuefate.config.scenario import scenario_from_dict

CASES = {
    "Lee 2009 2 cm in vivo (26.2 × 20.0 mm)": dict(active_length_mm=20, roi=[72, 72, 80]),
    "Cool-tip 3 cm in vivo (46.0 × 30.2 mm)": dict(active_length_mm=30, roi=[80, 80, 96]),
}
VARIANTS = [
    ("defaults", {}),
    ("rise 20 Ω", {"impedance_rise_ohm": 20.0}),
    ("rise 30 Ω", {"impedance_rise_ohm": 30.0}),
    ("pause 10 s", {"pulse_off_s": 10.0}),
    ("pause 20 s", {"pulse_off_s": 20.0}),
    ("ramp 60 W/min", {"ramp_W_per_min": 60.0}),
    ("ramp 240 W/min", {"ramp_W_per_min": 240.0}),
    ("restart at 100 %", {"restart_fraction": 1.0}),
    ("restart at 70 %", {"restart_fraction": 0.7}),
]


def run(case: dict, protocol: dict, gauge: int = 17) -> dict:
    scn = scenario_from_dict({
        "name": "generator-sensitivity", "modality": "rfa", "tissue": {"species": "porcine"},
        "anatomy": {"kind": "block", "tumour_diameter_mm": 0},
        "grid": {"roi_shape": case["roi"]},
        "applicator": {"type": "rf_electrode", "active_length_mm": case["active_length_mm"], "gauge": gauge},
        "protocol": {"duration_min": 12, "control": "impedance", "power_W": 200, **protocol},
    })
    r = simulate(scn)
    z = r.metrics["zones"]["omega_ge_1"]
    return dict(long=z["long_axis_mm"], short=z["short_axis_mm"], vol=z["volume_mL"],
                energy=r.metrics["delivery"]["energy_J"] / 1e3, rolloffs=int(r.traces["rolloff"][-1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gauge-ratio", action="store_true",
                    help="instead: the in vivo 15 G / 17 G volume and energy ratios of the 3-cm case under each "
                         "variant (Song 2015: 1.32 ± 0.26 and 1.32 ± 0.09)")
    args = ap.parse_args()
    t0 = time.perf_counter()
    if args.gauge_ratio:
        case = CASES["Cool-tip 3 cm in vivo (46.0 × 30.2 mm)"]
        print("| generator | 17 G volume [mL], energy [kJ] | 15 G volume, energy | volume ratio | energy ratio |")
        print("|---|---|---|---|---|")
        for label, protocol in VARIANTS:
            a, b = run(case, protocol, 17), run(case, protocol, 15)
            print(f"| {label} | {a['vol']:.2f}, {a['energy']:.1f} | {b['vol']:.2f}, {b['energy']:.1f} | "
                  f"{b['vol'] / a['vol']:.3f} | {b['energy'] / a['energy']:.3f} |", flush=True)
        print(f"\n{time.perf_counter() - t0:.0f} s")
        return
    print("| case | generator | zone Ω ≥ 1 [mm] | volume [mL] | energy [kJ] | roll-offs |")
    print("|---|---|---|---|---|---|")
    for name, case in CASES.items():
        for label, protocol in VARIANTS:
            o = run(case, protocol)
            print(f"| {name} | {label} | {o['long']:.1f} × {o['short']:.1f} | {o['vol']:.2f} | "
                  f"{o['energy']:.1f} | {o['rolloffs']} |", flush=True)
    print(f"\n{time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
