"""Does cutting only the steps of desiccation cascades give the zone of a smaller step throughout?

The 12-min 3-cm cooled electrode ex vivo (bovine, 17 G, 1 mm, impedance control; the case of the
validation row "RFA time-step convergence (3-cm ...)", where the stable step had its largest
error), run

- at the stable step Δt throughout and at Δt/2, Δt/4, Δt/8, Δt/16 throughout
  (``numerics.rf_cascade_step_fraction = 1``), and
- at Δt with only the steps of desiccation cascades cut to Δt/2, Δt/4 (the default), Δt/8
  (``numerics.rf_cascade_step_fraction`` = 1/2, 1/4, 1/8).

Prints the Ω ≥ 1 volume, energy, steps taken, potential solves and wall time of each, and draws
docs/figures/rfa_cascade_substeps.png (docs/model.md, "Time step and the generator").

    python benchmarks/rfa_cascade_study.py                    # 8 sessions, ≈ 5 min on 2 cores
    python benchmarks/rfa_cascade_study.py --json r.json      # keep the numbers
    python benchmarks/rfa_cascade_study.py --plot r.json      # redraw the figure from them
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from tissuefate.api import simulate  # noqa: E402
from tissuefate.validation import rfa_block_scenario  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "docs" / "figures" / "rfa_cascade_substeps.png"
DIVISORS = (1, 2, 4, 8, 16)


def run(dt_s: float | None = None, cascade_fraction: float = 1.0) -> dict:
    """One session of the case at ``dt_s`` (None: the automatic step) with the given
    ``numerics.rf_cascade_step_fraction``."""
    scn = rfa_block_scenario("rfa-cascade-study", [80, 80, 96], condition="ex_vivo", tip_mm=30, spacing_mm=1.0,
                             time_step_s=dt_s, numerics={"rf_cascade_step_fraction": cascade_fraction})
    t0 = time.perf_counter()
    r = simulate(scn)
    n = r.settings["numerics"]
    return dict(dt=n["time_step_s"], fraction=cascade_fraction, substeps=n["cascade_substeps"],
                volume=r.metrics["zones"]["omega_ge_1"]["volume_mL"], energy=r.metrics["delivery"]["energy_J"] / 1e3,
                steps=n["steps_taken"], solves=n["source_updates"], wall_s=time.perf_counter() - t0)


def plot(results: dict, out: Path = OUT) -> Path:
    """Volume and energy (left) and steps taken (right) against the shortest step of the cascades."""
    whole, casc = results["whole"], results["cascades"]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for rows, style, label in ((whole, "o-", "the step throughout"),
                               (casc, "s--", "stable step Δt, cascades cut to the step")):
        x = [r["dt"] / r["substeps"] for r in rows]
        ax.plot(x, [r["volume"] for r in rows], style, color="C0", label=f"Ω ≥ 1 volume: {label}")
        ax.plot(x, [r["energy"] for r in rows], style, color="C1", label=f"energy [kJ]: {label}")
        ax2.plot(x, [r["steps"] for r in rows], style, color="C2", label=f"steps: {label}")
    default = next((r for r in casc if abs(r["fraction"] - 0.25) < 1e-9), None)
    if default:
        ax.annotate("default", (default["dt"] / default["substeps"], default["volume"]), textcoords="offset points",
                    xytext=(8, 8), fontsize=8)
    for a in (ax, ax2):
        a.set_xscale("log")
        a.grid(alpha=0.3)
        a.set_xlabel("shortest step [s]")
        a.legend(fontsize=7)
    ax.set_ylabel("Ω ≥ 1 volume [mL] / delivered energy [kJ]")
    ax2.set_yscale("log")
    ax2.set_ylabel("steps taken in 12 min")
    fig.suptitle("RFA 3-cm cooled electrode, 17 G, ex vivo bovine, 12 min, 1 mm: time step only where the "
                 "desiccated shell grows", fontsize=9)
    fig.text(0.01, 0.01, "Simulated (tissuefate); research software, not a medical device.", fontsize=7, color="0.4")
    fig.tight_layout(rect=(0, 0.03, 1, 0.95))
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", type=Path, default=None, help="write the numbers here")
    ap.add_argument("--plot", type=Path, default=None, help="only redraw the figure from this JSON")
    args = ap.parse_args()
    if args.plot:
        print(f"wrote {plot(json.loads(args.plot.read_text()))}")
        return
    t0 = time.perf_counter()
    base = run()
    whole = [base] + [run(base["dt"] / d) for d in DIVISORS[1:]]
    cascades = [run(cascade_fraction=1.0 / d) for d in (2, 4, 8)]
    print("| numerics | shortest step [s] | Ω ≥ 1 [mL] | energy [kJ] | steps | solves | wall [s] |")
    print("|---|---|---|---|---|---|---|")
    for r in whole + cascades:
        div = round(base["dt"] / r["dt"])
        what = ((f"Δt/{div}" if div > 1 else "Δt") + " throughout" if r["fraction"] == 1.0
                else f"Δt, cascades at Δt/{r['substeps']}")
        print(f"| {what} | {r['dt'] / r['substeps']:.3f} | {r['volume']:.2f} | {r['energy']:.1f} | {r['steps']} | "
              f"{r['solves']} | {r['wall_s']:.1f} |")
    results = {"whole": whole, "cascades": cascades}
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    print(f"wrote {plot(results)}\n{time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
