"""Time-step convergence of the RFA zone on the Lee 2009 2-cm cooled-electrode case (1 mm).

Runs the in vivo (porcine) and ex vivo (bovine) cases at the automatic step Δt and at Δt/2, /4, /8
and /16, prints the Ω ≥ 1 volume, energy and solves, and draws docs/figures/rfa_time_step.png with
three earlier states of the numerics for comparison (docs/model.md): before the generator's
roll-offs were placed inside the step (2026-11-27 morning), before σ next to the electrode was
checked every powered step with local potential re-solves (that afternoon: σ compared every 5 s,
loose global re-solves at desiccation), and before the source was switched to the new solve's
inside the step at desiccation (that evening).

    python benchmarks/rfa_time_step_study.py      # 10 sessions, about 2 min on 2 cores
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from tissuefate.api import simulate  # noqa: E402
from tissuefate.config.scenario import scenario_from_dict  # noqa: E402

DIVISORS = (1, 2, 4, 8, 16)
#: Ω ≥ 1 volumes [mL] at Δt/1, 2, 4, 8, 16 of two earlier states (docs/model.md): before the
#: in-step roll-off (ex vivo measured at Δt and Δt/16 only), and with σ compared every 5 s and
#: loose re-solves at desiccation
BEFORE = {"in_vivo": (5.53, 5.0, 4.63, 4.51, 4.34), "ex_vivo": (9.56, None, None, None, 7.42)}
PREVIOUS = {"in_vivo": (4.39, 4.41, 4.38, 4.44, 4.33), "ex_vivo": (7.62, 7.65, 7.25, 7.40, 7.37)}
#: ... and with σ compared every powered step and local re-solves, before the source was switched
#: to the new solve's inside the step at desiccation (2026-11-27 evening)
NO_SWITCH = {"in_vivo": (5.04, 5.38, 5.20, 4.89, 4.71), "ex_vivo": (9.09, 9.25, 8.98, 8.47, 8.11)}


def run(condition: str, dt_s: float | None) -> dict:
    scn = scenario_from_dict({
        "name": f"lee2009-{condition}", "modality": "rfa",
        "tissue": {"species": "bovine" if condition == "ex_vivo" else "porcine", "condition": condition},
        "anatomy": {"kind": "block", "tumour_diameter_mm": 0},
        "grid": {"roi_shape": [72, 72, 80]},
        "applicator": {"type": "rf_electrode", "active_length_mm": 20, "gauge": 17},
        "protocol": {"duration_min": 12, "control": "impedance", "power_W": 200},
        "numerics": {} if dt_s is None else {"time_step_s": dt_s},
    })
    r = simulate(scn)
    return dict(dt=r.settings["numerics"]["time_step_s"], vol=r.metrics["zones"]["omega_ge_1"]["volume_mL"],
                energy=r.metrics["delivery"]["energy_J"] / 1e3, solves=r.settings["numerics"]["source_updates"])


OUT = Path(__file__).resolve().parents[1] / "docs" / "figures" / "rfa_time_step.png"


def main(out: Path = OUT) -> None:
    results = {}
    print("| case | Δt [s] | Ω ≥ 1 [mL] | energy [kJ] | solves |")
    print("|---|---|---|---|---|")
    for cond in ("in_vivo", "ex_vivo"):
        base = run(cond, None)
        rows = [base] + [run(cond, base["dt"] / d) for d in DIVISORS[1:]]
        results[cond] = rows
        for r in rows:
            print(f"| {cond} | {r['dt']:.4f} | {r['vol']:.2f} | {r['energy']:.2f} | {r['solves']} |", flush=True)
    plot(results, out)


def plot(results: dict, out: Path = OUT) -> None:
    """The figure from ``{"in_vivo": rows, "ex_vivo": rows}`` (rows as :func:`run` returns, Δt/1 … Δt/16)."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharex=True)
    for ax, cond, title in zip(axes, ("in_vivo", "ex_vivo"), ("in vivo (porcine)", "ex vivo (bovine)"), strict=True):
        rows = results[cond]
        dts = [r["dt"] for r in rows]
        ax.plot(dts, [r["vol"] for r in rows], "o-", label="σ checked every powered step, local re-solves (now)")
        for vals, style, label in ((NO_SWITCH[cond], "v-.", "source not switched at desiccation"),
                                   (PREVIOUS[cond], "^:", "σ checked every 5 s, loose re-solves"),
                                   (BEFORE[cond], "s--", "roll-off seen at the next step")):
            pts = [(dt, v) for dt, v in zip(dts, vals, strict=True) if v is not None]
            ax.plot([p[0] for p in pts], [p[1] for p in pts], style, color="0.5", label=label)
        ref = rows[-1]["vol"]
        ax.axhspan(0.95 * ref, 1.05 * ref, color="0.9", zorder=0)
        ax.set_xscale("log")
        ax.set_xlabel("time step Δt [s]")
        ax.set_title(f"Lee 2009 2-cm cooled electrode, 12 min, 1 mm — {title}", fontsize=9)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("Ω ≥ 1 volume [mL] (band: ±5 % of now at Δt/16)")
    axes[0].legend(fontsize=8, loc="upper left")
    fig.text(0.01, 0.01, "Simulated (tissuefate); research software, not a medical device.", fontsize=7,
             color="0.4")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
