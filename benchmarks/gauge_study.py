"""How much larger is an RFA zone from a 15 G cooled electrode than from a 17 G one, and is the
1-mm grid fine enough to tell?

Song et al. (BJR 2015, PMC4628443) report 15 G / 17 G ratios of volume and delivered energy ex
vivo (bovine) and in vivo (porcine); the abstract gives neither tip length nor duration. The
validation case ``song2015_gauge`` assumes a 3-cm tip and 12 min; this study adds

- the 2-cm tip (is the ratio sensitive to the unknown tip length?),
- the automatic step Δt (with its sub-steps inside desiccation cascades,
  ``numerics.rf_cascade_step_fraction``) against Δt/8 throughout (the time-step error of docs/model.md),
- 1 mm against 0.5 mm at the same step, 2-cm tip in vivo (how well does the sub-grid needle
  model resolve the electrode radius?).

It prints a Markdown table for docs/validation.md. A study, not a fit: nothing is changed by it.

    python benchmarks/gauge_study.py            # 16 sessions, ≈ 6 min on a quiet 2-core machine
    python benchmarks/gauge_study.py --json out.json
"""

from __future__ import annotations

import argparse
import json
import time

from tissuefate.api import simulate
from tissuefate.validation import SONG2015, ratio_interval, rfa_block_scenario

ROI = {(20, 1.0): [72, 72, 80], (30, 1.0): [80, 80, 96], (20, 0.5): [112, 112, 128]}


def run(cond: str, gauge: int, tip_mm: int, h_mm: float = 1.0, dt_s: float | None = None,
        numerics: dict | None = None) -> dict:
    """One 12-min impedance-controlled session on a block; Ω ≥ 1 volume, energy, step."""
    scn = rfa_block_scenario(f"gauge-{cond}-{gauge}G", ROI[tip_mm, h_mm], condition=cond, tip_mm=tip_mm, gauge=gauge,
                             spacing_mm=h_mm, time_step_s=dt_s, numerics=numerics)
    r = simulate(scn)
    z = r.metrics["zones"]["omega_ge_1"]
    return dict(volume=z["volume_mL"], short=z["short_axis_mm"], energy=r.metrics["delivery"]["energy_J"] / 1e3,
                rolloffs=r.metrics["impedance"]["n_rolloffs"], dt=r.settings["numerics"]["time_step_s"])


def pair(cond: str, tip_mm: int, h_mm: float = 1.0, dt_s: float | None = None, numerics: dict | None = None) -> dict:
    """The 17 G session, then the 15 G one at the 17 G session's step."""
    g17 = run(cond, 17, tip_mm, h_mm, dt_s, numerics)
    g15 = run(cond, 15, tip_mm, h_mm, g17["dt"], numerics)
    return {"17": g17, "15": g15, "volume_ratio": g15["volume"] / g17["volume"],
            "energy_ratio": g15["energy"] / g17["energy"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", help="write every session's numbers to this file")
    args = ap.parse_args()
    t0 = time.perf_counter()
    rows = []
    for cond in ("ex_vivo", "in_vivo"):
        for tip in (30, 20):
            p = pair(cond, tip)
            rows.append((cond, tip, 1.0, "Δt", p))
            if tip == 30:
                rows.append((cond, tip, 1.0, "Δt/8", pair(cond, tip, dt_s=p["17"]["dt"] / 8)))
    # the grid pair at one step throughout (0.5 mm's stable step; no cascade sub-steps on either grid)
    whole = {"rf_cascade_step_fraction": 1.0}
    fine = pair("in_vivo", 20, h_mm=0.5, numerics=whole)
    rows.append(("in_vivo", 20, 0.5, f"{fine['17']['dt']:.3f} s", fine))
    rows.append(("in_vivo", 20, 1.0, f"{fine['17']['dt']:.3f} s",
                 pair("in_vivo", 20, dt_s=fine["17"]["dt"], numerics=whole)))

    print("| tissue | tip | grid | step | 17 G: volume [mL], energy [kJ], roll-offs | 15 G: same | "
          "volume 15/17 | energy 15/17 |")
    print("|---|---|---|---|---|---|---|---|")
    for cond, tip, h, step, p in rows:
        a, b = p["17"], p["15"]
        print(f"| {cond.replace('_', ' ')} | {tip // 10} cm | {h:g} mm | {step} | "
              f"{a['volume']:.2f}, {a['energy']:.1f}, {a['rolloffs']} | "
              f"{b['volume']:.2f}, {b['energy']:.1f}, {b['rolloffs']} | "
              f"{p['volume_ratio']:.3f} | {p['energy_ratio']:.3f} |")
    print("\npublished (Song 2015), ratio ± 2 standard errors:")
    for cond in ("ex_vivo", "in_vivo"):
        v = ratio_interval(*SONG2015[cond]["volume"])
        e = ratio_interval(*SONG2015[cond]["energy"])
        print(f"  {cond}: volume {v[0]:.3f} ± {v[1]:.3f}, energy {e[0]:.3f} ± {e[1]:.3f}")
    print(f"\n{time.perf_counter() - t0:.0f} s")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump([dict(tissue=c, tip_mm=t, h_mm=h, step=s, **p) for c, t, h, s, p in rows], fh, indent=1)


if __name__ == "__main__":
    main()
