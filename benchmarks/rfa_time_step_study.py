"""Time-step convergence of the RFA zone on the Lee 2009 2-cm cooled-electrode case (1 mm).

Runs the in vivo (porcine) and ex vivo (bovine) cases at the automatic step Δt and at Δt/2 … Δt/64
(``--finest 128`` adds Δt/128, ≈ 2–4 min per run), under the 99 °C desiccation law (the default
before 2026-11-27) and with σ collapsing once 2 % of the water has boiled (the default since:
``tissue.rf_desiccation = "vaporised"``, ``rf_desiccation_boiled_fraction = 0.02``;
docs/validation.md, item 1). ≈ 45 min on 2 cores; the numbers of the last run are in
benchmarks/results/rfa_time_step_2026-11-27.json (``--plot`` redraws the figure from them). Prints the
Ω ≥ 1 volume, zone, energy, solves and roll-offs, and an Aitken (geometric) estimate of the Δt → 0
limit from the three finest steps where their changes shrink, and draws
docs/figures/rfa_time_step.png with three earlier states of the 99 °C law's numerics for comparison
(docs/model.md): before the generator's roll-offs were placed inside the step (2026-11-27
morning), before σ next to the electrode was checked every powered step with local potential
re-solves (that afternoon: σ compared every 5 s, loose global re-solves at desiccation), and before
the source was switched to the new solve's inside the step at desiccation (that evening).

    python benchmarks/rfa_time_step_study.py                 # 28 sessions, about 18 min on 2 cores
    python benchmarks/rfa_time_step_study.py --json r.json   # keep the numbers
    python benchmarks/rfa_time_step_study.py --plot r.json   # redraw the figure from them
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from tissuefate.api import simulate  # noqa: E402
from tissuefate.config.scenario import scenario_from_dict  # noqa: E402

DIVISORS = (1, 2, 4, 8, 16, 32, 64)
#: label → (tissue.rf_desiccation, tissue.rf_desiccation_boiled_fraction); the second is the default
#: since 2026-11-27, the first the default before (the historical sequences below are the first's)
LAWS = {"σ collapses at 99 °C (default before 2026-11-27)": ("temperature", 1.0),
        "σ collapses once 2 % of the water has boiled (default)": ("vaporised", 0.02)}
#: Ω ≥ 1 volumes [mL] of the default law at Δt/1, 2, 4, 8, 16 in two earlier states (docs/model.md):
#: before the in-step roll-off (ex vivo measured at Δt and Δt/16 only), and with σ compared every 5 s
#: and loose re-solves at desiccation
BEFORE = {"in_vivo": (5.53, 5.0, 4.63, 4.51, 4.34), "ex_vivo": (9.56, None, None, None, 7.42)}
PREVIOUS = {"in_vivo": (4.39, 4.41, 4.38, 4.44, 4.33), "ex_vivo": (7.62, 7.65, 7.25, 7.40, 7.37)}
#: ... and with σ compared every powered step and local re-solves, before the source was switched
#: to the new solve's inside the step at desiccation (2026-11-27 evening)
NO_SWITCH = {"in_vivo": (5.04, 5.38, 5.20, 4.89, 4.71), "ex_vivo": (9.09, 9.25, 8.98, 8.47, 8.11)}
CONDITIONS = {"in_vivo": "in vivo (porcine)", "ex_vivo": "ex vivo (bovine)"}
OUT = Path(__file__).resolve().parents[1] / "docs" / "figures" / "rfa_time_step.png"


def run(condition: str, dt_s: float | None, law: str = next(iter(LAWS)), cascade_fraction: float = 1.0) -> dict:
    """One 12-min Lee 2009 session at ``dt_s`` (None: the automatic step) under ``law`` (a key of LAWS),
    with ``numerics.rf_cascade_step_fraction = cascade_fraction`` (1: the step throughout)."""
    desiccation, fraction = LAWS[law]
    scn = scenario_from_dict({
        "name": f"lee2009-{condition}", "modality": "rfa",
        "tissue": {"species": "bovine" if condition == "ex_vivo" else "porcine", "condition": condition,
                   "rf_desiccation": desiccation, "rf_desiccation_boiled_fraction": fraction},
        "anatomy": {"kind": "block", "tumour_diameter_mm": 0},
        "grid": {"roi_shape": [72, 72, 80]},
        "applicator": {"type": "rf_electrode", "active_length_mm": 20, "gauge": 17},
        "protocol": {"duration_min": 12, "control": "impedance", "power_W": 200},
        "numerics": {"rf_cascade_step_fraction": cascade_fraction, **({} if dt_s is None else {"time_step_s": dt_s})},
    })
    r = simulate(scn)
    z = r.metrics["zones"]["omega_ge_1"]
    return dict(dt=r.settings["numerics"]["time_step_s"], vol=z["volume_mL"], long=z["long_axis_mm"],
                short=z["short_axis_mm"], energy=r.metrics["delivery"]["energy_J"] / 1e3,
                solves=r.settings["numerics"]["source_updates"], rolloffs=int(r.traces["rolloff"][-1]))


def aitken_limit(values) -> float | None:
    """The Δt → 0 limit of a sequence at halving steps from its last three values, if their changes
    shrink without changing sign (geometric convergence); None otherwise (not settled).

    >>> round(aitken_limit([9.0, 8.0, 7.5]), 6)
    7.0
    >>> aitken_limit([9.0, 8.0, 8.5]) is None
    True
    """
    a, b, c = values[-3:]
    d1, d2 = b - a, c - b
    if d1 == 0 or d2 == 0 or (d1 > 0) != (d2 > 0) or abs(d2) >= abs(d1):
        return None
    return c - d2 * d2 / (d2 - d1)


def main(out: Path = OUT) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--finest", type=int, default=DIVISORS[-1],
                    help="finest divisor of the automatic step (a power of 2; default 64)")
    ap.add_argument("--cascade-fraction", type=float, default=1.0,
                    help="numerics.rf_cascade_step_fraction of every session (default 1: one step "
                         "throughout, as the recorded numbers were measured; 0.25: the default "
                         "numerics, steps inside desiccation cascades cut to a quarter of the stable step)")
    ap.add_argument("--json", type=Path, default=None, help="write the results here")
    ap.add_argument("--plot", type=Path, default=None, help="only redraw the figure from this JSON")
    ap.add_argument("--figure", type=Path, default=out,
                    help="where to draw the figure (default: docs/figures/rfa_time_step.png)")
    args = ap.parse_args()
    out = args.figure
    if args.plot:
        plot(json.loads(args.plot.read_text()), out)
        return
    if args.finest < 1 or args.finest & (args.finest - 1):
        ap.error(f"--finest {args.finest}: must be a power of 2")
    divisors = [2 ** k for k in range(int(math.log2(args.finest)) + 1)]
    results = {}
    print("| case | desiccation law | Δt [s] | Ω ≥ 1 [mL] | zone [mm] | energy [kJ] | solves | roll-offs |")
    print("|---|---|---|---|---|---|---|---|")
    for cond in CONDITIONS:
        for law in LAWS:
            base = run(cond, None, law, args.cascade_fraction)
            rows = [base] + [run(cond, base["dt"] / d, law, args.cascade_fraction) for d in divisors[1:]]
            results[f"{cond}|{law}"] = rows
            for r in rows:
                print(f"| {cond} | {law} | {r['dt']:.4f} | {r['vol']:.2f} | {r['long']:.1f} × {r['short']:.1f} | "
                      f"{r['energy']:.2f} | {r['solves']} | {r['rolloffs']} |", flush=True)
    for key, rows in results.items():
        for q in ("vol", "energy"):
            lim = aitken_limit([r[q] for r in rows]) if len(rows) >= 3 else None
            print(f"{key}: {q} Δt → 0 " + ("not settled" if lim is None else
                                             f"≈ {lim:.2f} (automatic step {rows[0][q] / lim - 1:+.1%})"))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    plot(results, out)


def plot(results: dict, out: Path = OUT) -> None:
    """The figure from ``{"<condition>|<law>": rows}`` (rows as :func:`run` returns, at Δt/1, Δt/2, …):
    Ω ≥ 1 volume (top) and delivered energy (bottom) against the step, with the Aitken limits."""
    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5), sharex="col")
    colours = dict(zip(LAWS, ("C0", "C1"), strict=True))
    for j, (cond, title) in enumerate(CONDITIONS.items()):
        for law in LAWS:
            rows = results.get(f"{cond}|{law}")
            if not rows:
                continue
            dts = [r["dt"] for r in rows]
            for i, q in enumerate(("vol", "energy")):
                axes[i, j].plot(dts, [r[q] for r in rows], "o-", color=colours[law], label=law)
                lim = aitken_limit([r[q] for r in rows]) if len(rows) >= 3 else None
                if lim is not None:
                    axes[i, j].axhline(lim, color=colours[law], ls=":", lw=1)
            if law == next(iter(LAWS)):
                for vals, style, label in ((NO_SWITCH[cond], "v-.", "99 °C law, source not switched at desiccation"),
                                           (PREVIOUS[cond], "^:", "99 °C law, σ checked every 5 s, loose re-solves"),
                                           (BEFORE[cond], "s--", "99 °C law, roll-off seen at the next step")):
                    pts = [(dt, v) for dt, v in zip(dts, vals, strict=False) if v is not None]
                    axes[0, j].plot([p[0] for p in pts], [p[1] for p in pts], style, color="0.6", label=label)
        axes[0, j].set_title(f"Lee 2009 2-cm cooled electrode, 12 min, 1 mm — {title}", fontsize=9)
        for i in range(2):
            axes[i, j].set_xscale("log")
            axes[i, j].grid(alpha=0.3)
        axes[1, j].set_xlabel("time step Δt [s] (dotted: Aitken estimate of the Δt → 0 limit)")
    axes[0, 0].set_ylabel("Ω ≥ 1 volume [mL]")
    axes[1, 0].set_ylabel("delivered energy in 12 min [kJ]")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=7, loc="lower center", bbox_to_anchor=(0.5, 0.025), ncol=3)
    fig.text(0.01, 0.004, "Simulated (tissuefate); research software, not a medical device.", fontsize=7,
             color="0.4")
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
