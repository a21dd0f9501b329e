"""Figures and the self-contained HTML report of a virtual trial and of a sensitivity analysis.

Built on :class:`matplotlib.figure.Figure` with the Agg canvas (no pyplot, no global state), like
:mod:`tissuefate.viz.course`. The figures take the runner's outcomes (a :class:`pandas.DataFrame`,
one row per patient × tumour × strategy × preset) or the summary of
:func:`tissuefate.trial.stats.summarise`. Rows of an oxidant strategy are labelled HYPOTHETICAL in
every legend, axis label and table.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from .. import __version__
from .course_report import _HYP_ROW_STYLE, OXIDANT_WARNING
from .report import DISCLAIMER, _common_tail, _e, _img, _page, _table
from .slices import _figure

__all__ = [
    "plot_progression_free",
    "plot_sessions",
    "plot_margin_vs_progression",
    "plot_paired_differences",
    "plot_sensitivity",
    "trial_figures",
    "trial_report_html",
    "sensitivity_report_html",
    "group_label",
]

_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
            "#17becf")
_PRESET_STYLES = {"literature": "-", "seed_claims": "--"}
_LTP_COLOUR = "#b2182b"
_NO_LTP_COLOUR = "#4d4d4d"
_FOOT = "Simulated; research software, not a medical device. No treatment guidance."


def _stats():
    from ..trial import stats

    return stats


def _valid(df):
    return _stats().valid_cases(df)[0]


def _is_oxidant(rows) -> bool:
    return _stats().strategy_is_hypothetical(rows) == "oxidant"


def group_label(rows, *, preset: bool = True) -> str:
    """Legend label of one strategy × preset: its label, ``[preset]``, and HYPOTHETICAL for an oxidant.

    Examples
    --------
    >>> import pandas as pd
    >>> rows = pd.DataFrame({"strategy": ["oxidant"], "strategy_label": ["Oxidant weekly"], "preset": ["literature"],
    ...                      "agent": ["oxidant"]})
    >>> group_label(rows)
    'Oxidant weekly [literature] — HYPOTHETICAL'
    """
    first = rows.iloc[0]
    s = str(first["strategy_label"]) if "strategy_label" in rows.columns and first["strategy_label"] else \
        str(first["strategy"])
    if preset:
        s += f" [{first['preset']}]"
    if _is_oxidant(rows) and "HYPOTHETICAL" not in s:
        s += " — HYPOTHETICAL"
    return s


def _groups(df):
    """[(label, colour, linestyle, rows)] per strategy × preset in the order of ``df``."""
    strategies = list(dict.fromkeys(df["strategy"]))
    presets = list(dict.fromkeys(df["preset"]))
    styles = dict(_PRESET_STYLES)
    for p in presets:
        styles.setdefault(p, (0, (1, 1.5)))
    out = []
    for p in presets:
        for i, s in enumerate(strategies):
            rows = df[(df["strategy"] == s) & (df["preset"] == p)]
            if len(rows):
                out.append((group_label(rows, preset=len(presets) > 1), _COLOURS[i % len(_COLOURS)], styles[p], rows))
    return out


def _finish(fig, path, title: str, note: str = "") -> Path:
    fig.suptitle(title, fontsize=10, fontweight="bold")
    fig.text(0.01, 0.005, _FOOT + (" " + note if note else ""), fontsize=6, color="#666666")
    fig.savefig(Path(path))
    return Path(path)


def _km_curve(ax, t, e, colour, ls, label):
    from lifelines import KaplanMeierFitter

    kmf = KaplanMeierFitter(alpha=0.05).fit(np.asarray(t, float), np.asarray(e, bool))
    tl = kmf.survival_function_.index.to_numpy(float)
    s = kmf.survival_function_.iloc[:, 0].to_numpy(float)
    ci = kmf.confidence_interval_survival_function_
    ax.step(tl, s, where="post", color=colour, ls=ls, lw=1.4, label=label)
    ax.fill_between(tl, ci.iloc[:, 0].to_numpy(float), ci.iloc[:, 1].to_numpy(float), step="post", color=colour,
                    alpha=0.12, lw=0)


def _at_risk_text(ax, curves, ticks) -> None:
    """Numbers at risk (cases still followed and event-free) at ``ticks``, one row per curve."""
    ax.axis("off")
    head = "at risk   " + "".join(f"{t:>8g}" for t in ticks)
    lines = [head]
    for label, t in curves:
        t = np.asarray(t, float)
        lines.append(f"{label[:46]:<46}" + "".join(f"{int(np.sum(t >= d - 1e-9)):>8d}" for d in ticks))
    ax.text(0.0, 1.0, "\n".join(lines[:1]) + "\n" + "\n".join(lines[1:]), family="monospace", fontsize=5.5,
            va="top", ha="left", transform=ax.transAxes)


def _ticks(horizon: float) -> list[float]:
    step = 90.0 if horizon <= 400 else (180.0 if horizon <= 1200 else 365.0)
    return [float(x) for x in np.arange(0.0, horizon + 1e-9, step)]


def plot_progression_free(df, path) -> Path:
    """Kaplan–Meier curves per strategy (colour) and preset (line style) with 95 % bands:
    local-progression-free over the cases with a complete response (left) and treatment-failure-free
    over all cases (right; no complete response counts as failure), numbers at risk underneath.

    Parameters
    ----------
    df : pandas.DataFrame
        Outcomes; cases with an error are left out.
    path : path-like
        PNG to write.

    Returns
    -------
    Path
    """
    st = _stats()
    df = _valid(df)
    groups = _groups(df)
    n = len(groups)
    fig = _figure((11.0, 5.2 + 0.11 * n))
    gs = fig.add_gridspec(2, 2, height_ratios=[4.0, 0.5 + 0.14 * n], left=0.07, right=0.98, top=0.88, bottom=0.04,
                          hspace=0.32, wspace=0.22)
    ax_l, ax_r = fig.add_subplot(gs[0, 0]), fig.add_subplot(gs[0, 1])
    horizon = float(np.nanmax(df["horizon_days"].astype(float))) if len(df) else 365.0
    risk_l, risk_r = [], []
    for label, col, ls, rows in groups:
        t, e = st._ltp_times(rows)
        if t.size:
            _km_curve(ax_l, t, e, col, ls, f"{label} (n = {t.size})")
            risk_l.append((label, t))
        t, e, _ = st._failure_times(rows)
        if t.size:
            _km_curve(ax_r, t, e, col, ls, f"{label} (n = {t.size})")
            risk_r.append((label, t))
    for ax, what in ((ax_l, "local-progression-free\n(cases with a complete response)"),
                     (ax_r, "treatment-failure-free\n(all cases; no complete response = failure)")):
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlim(0, horizon)
        ax.set_xlabel("days since the first session", fontsize=8)
        ax.set_ylabel(what, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(True, color="#e3e3e3", lw=0.5)
    ax_r.legend(fontsize=6, frameon=False, loc="lower left")
    ticks = _ticks(horizon)
    _at_risk_text(fig.add_subplot(gs[1, 0]), risk_l, ticks)
    _at_risk_text(fig.add_subplot(gs[1, 1]), risk_r, ticks)
    return _finish(fig, path, "Local progression and treatment failure — Kaplan–Meier, 95 % bands (exponential "
                              "Greenwood)", "Dashed: seed_claims preset (hypothetical).")


def plot_sessions(df, path) -> Path:
    """Distribution of sessions given (left) and sessions to complete response, with "no CR" (right),
    as the fraction of cases per strategy × preset (grouped bars).

    Parameters
    ----------
    df : pandas.DataFrame
    path : path-like

    Returns
    -------
    Path
    """
    df = _valid(df)
    groups = _groups(df)
    fig = _figure((11.0, 4.8))
    axes = fig.subplots(1, 2)
    given = df["sessions_given"].astype(float) if "sessions_given" in df.columns else None
    kmax = int(np.nanmax(given)) if given is not None and len(given) and np.isfinite(given).any() else 1
    cats = list(range(1, max(kmax, 1) + 1))
    width = 0.8 / max(len(groups), 1)
    for j, (label, col, ls, rows) in enumerate(groups):
        off = -0.4 + width * (j + 0.5)
        sg = rows["sessions_given"].astype(float).to_numpy() if "sessions_given" in rows.columns else np.array([])
        f = [float(np.mean(sg == k)) if sg.size else 0.0 for k in [0, *cats]]
        axes[0].bar(np.arange(len(f)) + off, f, width, color=col, hatch=None if ls == "-" else "//",
                    edgecolor="white", lw=0.3, label=label)
        stc = rows["sessions_to_cr"].astype(float).to_numpy() if "sessions_to_cr" in rows.columns else np.array([])
        f2 = [float(np.mean(stc == k)) if stc.size else 0.0 for k in [0, *cats]]
        f2.append(float(np.mean(~np.isfinite(stc))) if stc.size else 0.0)
        axes[1].bar(np.arange(len(f2)) + off, f2, width, color=col, hatch=None if ls == "-" else "//",
                    edgecolor="white", lw=0.3)
    axes[0].set_xticks(range(len(cats) + 1), [str(k) for k in [0, *cats]])
    axes[0].set_xlabel("sessions given", fontsize=8)
    axes[1].set_xticks(range(len(cats) + 2), [str(k) for k in [0, *cats]] + ["no CR"])
    axes[1].set_xlabel("sessions to complete response", fontsize=8)
    for ax in axes:
        ax.set_ylabel("fraction of cases", fontsize=8)
        ax.set_ylim(0, 1.02)
        ax.tick_params(labelsize=7)
        ax.grid(True, axis="y", color="#e3e3e3", lw=0.5)
    axes[0].legend(fontsize=6, frameon=False, loc="upper right")
    fig.subplots_adjust(left=0.07, right=0.98, top=0.88, bottom=0.13, wspace=0.18)
    return _finish(fig, path, "Sessions per strategy (fraction of cases)", "Hatched: seed_claims preset.")


def plot_margin_vs_progression(df, path, *, seed: int = 0) -> Path:
    """Minimal ablative margin of session 1 against local progression: one strip per strategy × preset
    (cases with a complete response; red: progressed, grey: not; open: no complete response; cases
    without a zone at the left), the band edges at 0, 5 and 10 mm, and the local-progression proportion
    per margin band with its Wilson 95 % interval (right).

    Parameters
    ----------
    df : pandas.DataFrame
    path : path-like
    seed : int
        Seed of the vertical jitter.

    Returns
    -------
    Path
    """
    st = _stats()
    df = _valid(df)
    groups = _groups(df)
    n = len(groups)
    fig = _figure((11.0, 1.2 + 0.45 * max(n, 2) + 1.2))
    axl, axr = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.6, 1.0]})
    rng = np.random.default_rng(seed)
    m_all = df["min_margin_mm"].astype(float).to_numpy() if "min_margin_mm" in df.columns else np.array([np.nan])
    finite = m_all[np.isfinite(m_all)]
    lo = float(min(finite.min(), -2.0)) if finite.size else -2.0
    hi = float(max(finite.max(), 12.0)) if finite.size else 12.0
    nz = lo - 0.12 * (hi - lo)  # where cases without a zone are drawn
    band_labels = [b[0] for b in st.MARGIN_BANDS]
    with_zone = [j for j, g in enumerate(groups)
                 if "min_margin_mm" in g[3].columns and np.isfinite(g[3]["min_margin_mm"].astype(float)).any()]
    for j, (label, col, ls, rows) in enumerate(groups):
        y0 = n - 1 - j
        m = rows["min_margin_mm"].astype(float).to_numpy() if "min_margin_mm" in rows.columns else \
            np.full(len(rows), np.nan)
        cr = rows["complete_response"].astype(bool).to_numpy()
        ltp = rows["local_progression"].astype(bool).to_numpy() & cr if "local_progression" in rows.columns else \
            np.zeros(len(rows), bool)
        x = np.where(np.isfinite(m), m, nz)
        y = y0 + rng.uniform(-0.3, 0.3, size=len(rows))
        axl.scatter(x[cr & ~ltp], y[cr & ~ltp], s=9, color=_NO_LTP_COLOUR, alpha=0.6, lw=0)
        axl.scatter(x[ltp], y[ltp], s=11, color=_LTP_COLOUR, alpha=0.8, lw=0)
        axl.scatter(x[~cr], y[~cr], s=9, facecolor="none", edgecolor="#888888", lw=0.5)
        bands = [st.margin_band(v) for v in m]
        xs, ps, los, his = [], [], [], []
        for b, blab in enumerate(band_labels):
            sel = np.array([bb == blab for bb in bands], bool) & cr
            k, nn = int(np.sum(ltp & sel)), int(np.sum(sel))
            ci = st.wilson_interval(k, nn)
            if ci is None:
                continue
            slot = with_zone.index(j) if j in with_zone else 0
            xs.append(b + (slot - (len(with_zone) - 1) / 2) * 0.7 / max(len(with_zone), 1))
            ps.append(k / nn)
            los.append(k / nn - ci[0])
            his.append(ci[1] - k / nn)
        if xs:
            axr.errorbar(xs, ps, yerr=[los, his], fmt="o" if ls == "-" else "s", ms=3.5, color=col, lw=1.0,
                         capsize=2, mfc=col if ls == "-" else "white", label=label)
    for edge in (0.0, 5.0, 10.0):
        axl.axvline(edge, color="#999999", lw=0.8, ls=":")
    axl.set_yticks(range(n), [g[0] for g in groups][::-1], fontsize=6)
    axl.set_xlim(nz - 0.05 * (hi - lo), hi + 0.05 * (hi - lo))
    axl.set_ylim(-0.6, n - 0.4)
    axl.annotate("no zone", (nz, -0.55), fontsize=6, ha="center", color="#666666")
    axl.set_xlabel("minimal ablative margin of session 1 [mm]", fontsize=8)
    axl.tick_params(labelsize=7)
    from matplotlib.lines import Line2D

    axl.legend(handles=[Line2D([], [], marker="o", ls="none", color=_LTP_COLOUR, ms=4, label="local progression"),
                        Line2D([], [], marker="o", ls="none", color=_NO_LTP_COLOUR, ms=4, label="no progression"),
                        Line2D([], [], marker="o", ls="none", mfc="none", mec="#888888", ms=4,
                               label="no complete response")],
               fontsize=6, frameon=False, loc="upper right")
    axr.set_xticks(range(len(band_labels)), ["≤ 0", "(0, 5]", "(5, 10]", "> 10"])
    axr.set_xlabel("margin band [mm]", fontsize=8)
    axr.set_ylabel("local progression (cases with CR)\nWilson 95 %", fontsize=8)
    axr.set_ylim(-0.02, 1.02)
    if with_zone:
        axr.legend(fontsize=5.5, frameon=False, loc="upper left")
    axr.tick_params(labelsize=7)
    axr.grid(True, axis="y", color="#e3e3e3", lw=0.5)
    fig.subplots_adjust(left=0.25, right=0.98, top=0.86, bottom=0.16, wspace=0.22)
    return _finish(fig, path, "Minimal ablative margin and local progression")


_FOREST = (
    ("complete_response", "difference in complete-response rate", 100.0, "percentage points"),
    ("sessions_given", "difference in sessions given", 1.0, "sessions"),
    ("sessions_to_cr", "difference in sessions to CR (both CR)", 1.0, "sessions"),
    ("normal_tissue_destroyed_mL", "difference in normal tissue destroyed", 1.0, "mL"),
    ("scar_365_mL", "difference in scar at 12 months", 1.0, "mL"),
)


def plot_paired_differences(summary: Mapping, path) -> Path:
    """Forest plot of the paired differences (strategy − reference, same patients) with 95 %
    intervals: one panel per outcome, one row per strategy × preset.

    Parameters
    ----------
    summary : mapping
        :func:`tissuefate.trial.stats.summarise` output.
    path : path-like

    Returns
    -------
    Path
    """
    recs = list(summary.get("paired", []))
    ref = summary.get("reference", "?")
    panels = [p for p in _FOREST if any(r.get(p[0]) for r in recs)] or list(_FOREST[:1])
    n = max(len(recs), 1)
    height = 1.7 + 0.4 * n
    fig = _figure((2.5 * len(panels) + 2.8, height))
    axes = np.atleast_1d(fig.subplots(1, len(panels), sharey=True))
    labels = []
    for r in recs:
        s = f"{r['strategy']} − {ref} [{r['preset']}]"
        if r.get("hypothetical") == "oxidant":
            s += " HYPOTHETICAL"
        labels.append(s)
    for ax, (key, title, scale, unit) in zip(axes, panels, strict=True):
        for i, r in enumerate(recs):
            q = r.get(key)
            if not q:
                continue
            d = q.get("difference")
            ci = q.get("ci")
            if d is None:
                continue
            y = n - 1 - i
            col = _LTP_COLOUR if r.get("hypothetical") == "oxidant" else "#1f4e79"
            if ci:
                ax.plot([ci[0] * scale, ci[1] * scale], [y, y], color=col, lw=1.4)
            ax.plot([d * scale], [y], "s", color=col, ms=4)
        ax.axvline(0.0, color="#555555", lw=0.8, ls="--")
        ax.set_title(title, fontsize=7)
        ax.set_xlabel(unit, fontsize=7)
        ax.tick_params(labelsize=6)
        ax.grid(True, axis="x", color="#e3e3e3", lw=0.5)
    axes[0].set_yticks(range(n), (labels or ["(no paired comparison)"])[::-1], fontsize=6)
    axes[0].set_ylim(-0.7, n - 0.3)
    fig.subplots_adjust(left=2.6 / (2.5 * len(panels) + 2.8), right=0.98, top=1 - 0.75 / height,
                        bottom=0.6 / height, wspace=0.12)
    return _finish(fig, path, f"Paired differences to the reference “{ref}” (same patients), 95 % intervals",
                   "Paired cluster bootstrap over patients.")


def plot_sensitivity(result: Mapping, path) -> Path:
    """Bar chart of a sensitivity analysis with 95 % confidence intervals as error bars: Sobol S1 and
    ST, or Morris μ* and σ (σ without an interval), one panel per outcome.

    Parameters
    ----------
    result : mapping
        :func:`tissuefate.trial.sensitivity.analyse` output.
    path : path-like

    Returns
    -------
    Path
    """
    outs = result.get("outcomes", {})
    names = list(result.get("parameters", {}))
    n_o = max(len(outs), 1)
    width = max(6.5, 1.8 + 1.3 * len(names))
    height = 1.6 + 2.8 * n_o
    fig = _figure((width, height))
    axes = np.atleast_1d(fig.subplots(n_o, 1, squeeze=False)[:, 0])
    x = np.arange(len(names))
    sobol = result.get("method") == "sobol"
    for ax, (label, r) in zip(axes, outs.items(), strict=False):
        ind = r.get("indices") or {}
        if not ind:
            ax.text(0.5, 0.5, f"not analysed: {r.get('not_analysed') or '?'}", ha="center", va="center",
                    fontsize=7, wrap=True, transform=ax.transAxes)
        if sobol:
            pairs = (("S1", "S1_conf", "first order S1", "#1f77b4"), ("ST", "ST_conf", "total ST", "#ff7f0e"))
        else:
            pairs = (("mu_star", "mu_star_conf", "μ* (mean |elementary effect|)", "#1f77b4"),
                     ("sigma", None, "σ (no interval)", "#aaaaaa"))
        for k, (key, conf, lab, col) in enumerate(pairs):
            v = np.array([_nan(ind.get(p, {}).get(key)) for p in names])
            err = None if conf is None else np.array([_nan(ind.get(p, {}).get(conf)) for p in names])
            ax.bar(x + (k - 0.5) * 0.38, v, 0.38, yerr=err, color=col, capsize=2, label=lab,
                   error_kw={"lw": 0.8})
        ax.axhline(0.0, color="#555555", lw=0.6)
        ax.set_title(str(label), fontsize=8)
        ax.set_ylabel("index [1]" if sobol else "elementary effect\n[outcome unit]", fontsize=7)
        ax.set_xticks(x, names, rotation=20, ha="right", fontsize=6)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=6, frameon=False)
        ax.grid(True, axis="y", color="#e3e3e3", lw=0.5)
    fig.subplots_adjust(left=0.8 / width, right=0.98, top=1 - 0.8 / height, bottom=1.1 / height, hspace=0.9)
    meth = "Sobol indices (Saltelli design)" if sobol else "Morris elementary effects"
    return _finish(fig, path, f"Sensitivity — {meth}\nerror bars: bootstrap 95 % confidence intervals")


def _nan(x) -> float:
    return float("nan") if x is None else float(x)


def trial_figures(df, summary: Mapping, out_dir, *, write: Callable | None = None) -> dict[str, Path]:
    """Draw the four trial figures into ``out_dir``; ``write(path, fn)`` (e.g. an atomic writer) calls
    ``fn(tmp_path)``. Returns name → path."""
    out = Path(out_dir)
    write = write or (lambda p, fn: fn(p) or p)
    jobs = {
        "progression_free": lambda p: plot_progression_free(df, p),
        "sessions": lambda p: plot_sessions(df, p),
        "margin_vs_progression": lambda p: plot_margin_vs_progression(df, p),
        "paired_differences": lambda p: plot_paired_differences(summary, p),
    }
    paths = {}
    for name, fn in jobs.items():
        if name == "paired_differences" and not summary.get("paired"):
            continue
        paths[name] = Path(write(out / f"{name}.png", fn))
    return paths


# --------------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------------
def _pct(x) -> str:
    return "—" if x is None else f"{100 * x:.1f} %"


def _ci_pct(c) -> str:
    return "—" if not c else f"[{100 * c[0]:.1f}, {100 * c[1]:.1f}]"


def _val(x, nd=2) -> str:
    return "—" if x is None else f"{x:.{nd}f}"


def _ci(c, nd=2) -> str:
    return "—" if not c else f"[{c[0]:.{nd}f}, {c[1]:.{nd}f}]"


def _mean_cell(m, nd=2) -> str:
    if not m:
        return "—"
    return f"{_val(m.get('mean'), nd)} {_ci(m.get('ci'), nd)} (n = {m.get('n')})"


def _km_cell(block, label: str) -> str:
    for a in (block or {}).get("at", []):
        if a.get("label") == label:
            if not a.get("estimable"):
                return "not estimable (beyond horizon)"
            return f"{_pct(a.get('rate'))} {_ci_pct(a.get('ci'))}"
    return "—"


def _strategy_cell(g) -> str:
    name = g.get("strategy_label") or g.get("strategy")
    flag = g.get("hypothetical") == "oxidant" and "HYPOTHETICAL" not in str(name)
    return ("HYPOTHETICAL — " if flag else "") + str(name)


def _flag_table(header, rows, flags, num_cols=()) -> str:
    out = ["<table><thead><tr>", *(f"<th>{_e(h)}</th>" for h in header), "</tr></thead><tbody>"]
    for r, f in zip(rows, flags, strict=True):
        out.append(f'<tr style="{_HYP_ROW_STYLE}">' if f else "<tr>")
        for i, c in enumerate(r):
            cls = ' class="num"' if i in num_cols else ""
            txt = f"<strong>{_e(c)}</strong>" if (f == "oxidant" and i == 0) else _e(c)
            out.append(f"<td{cls}>{txt}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _group_rows(summary: Mapping):
    header = ["strategy", "preset", "cases (errors)", "complete response % [Wilson 95 %]",
              "sessions given, mean [bootstrap 95 %]", "sessions to CR, mean [bootstrap 95 %] (CR cases)",
              "local progression at 1 y, KM % [95 %] (CR cases)", "local progression at 2 y, KM % [95 %]",
              "treatment failure at 1 y, KM % [95 %] (all)", "normal tissue destroyed, mL [bootstrap 95 %]",
              "scar 3 mo, mL [bootstrap 95 %]", "scar 12 mo, mL [bootstrap 95 %]"]
    rows, flags = [], []
    for g in summary.get("groups", []):
        cr = g["complete_response"]
        m = g.get("means", {})
        rows.append([
            _strategy_cell(g), g["preset"], f"{g['n_cases']} ({g['n_errors']})",
            f"{_pct(cr['rate'])} {_ci_pct(cr['ci'])} ({cr['k']}/{cr['n']})",
            _mean_cell(m.get("sessions_given")), _mean_cell(m.get("sessions_to_cr")),
            _km_cell(g.get("local_progression"), "1 year"), _km_cell(g.get("local_progression"), "2 years"),
            _km_cell(g.get("treatment_failure"), "1 year"),
            _mean_cell(m.get("normal_tissue_destroyed_mL")), _mean_cell(m.get("scar_90_mL")),
            _mean_cell(m.get("scar_365_mL")),
        ])
        flags.append(g.get("hypothetical", ""))
    return header, rows, flags


def _diff_cell(q, nd=2, scale=1.0, unit="") -> str:
    if not q or q.get("difference") is None:
        return "—"
    c = q.get("ci")
    ci = "—" if not c else f"[{c[0] * scale:+.{nd}f}, {c[1] * scale:+.{nd}f}]"
    n = f" (n = {q['n_pairs']})" if "n_pairs" in q else ""
    return f"{q['difference'] * scale:+.{nd}f}{unit} {ci}{n}"


def _paired_rows(summary: Mapping):
    ref = summary.get("reference", "?")
    header = ["strategy − reference", "preset", "matched pairs (unmatched)",
              "Δ complete response, pp [paired bootstrap 95 %]", "discordant pairs (ref only / strategy only)",
              "McNemar exact p", "Δ sessions given [95 %]", "Δ sessions to CR [95 %] (both CR)",
              "Δ normal tissue destroyed, mL [95 %]", "Δ scar 3 mo, mL [95 %]", "Δ scar 12 mo, mL [95 %]"]
    rows, flags = [], []
    for r in summary.get("paired", []):
        cr = r["complete_response"]
        dis = cr["discordant"]
        name = f"{r['strategy']} − {ref}"
        if r.get("hypothetical") == "oxidant":
            name = "HYPOTHETICAL — " + name
        rows.append([name, r["preset"], f"{r['n_pairs']} ({r['n_unmatched']})",
                     _diff_cell(cr, 1, 100.0), f"{dis['reference_only']} / {dis['strategy_only']}",
                     f"{cr['mcnemar_exact_p']:.3g}" if cr.get("mcnemar_exact_p") is not None else "—",
                     _diff_cell(r.get("sessions_given")), _diff_cell(r.get("sessions_to_cr")),
                     _diff_cell(r.get("normal_tissue_destroyed_mL")), _diff_cell(r.get("scar_90_mL")),
                     _diff_cell(r.get("scar_365_mL"))])
        flags.append(r.get("hypothetical", ""))
    return header, rows, flags


def _band_table(recs, what: str) -> str:
    keys = list(dict.fromkeys((r["strategy"], r["preset"]) for r in recs))
    bands = list(dict.fromkeys(r["band"] for r in recs))
    by = {(r["strategy"], r["preset"], r["band"]): r for r in recs}
    rows = []
    for s, p in keys:
        row = [s, p]
        for b in bands:
            r = by.get((s, p, b))
            row.append("—" if not r or not r["n"] else f"{_pct(r['rate'])} {_ci_pct(r['ci'])} ({r['k']}/{r['n']})")
        rows.append(row)
    return _table(["strategy", "preset", *[f"{b}: {what}" for b in bands]], rows, num_cols=range(2, 2 + len(bands)))


def _distribution_table(summary: Mapping) -> str:
    cats = []
    for g in summary.get("groups", []):
        cats += [k for k in g.get("sessions_to_cr_distribution", {}) if k not in cats]
    cats = sorted([c for c in cats if c != "no complete response"], key=float) + ["no complete response"]
    rows = [[_strategy_cell(g), g["preset"], *[str(g["sessions_to_cr_distribution"].get(c, 0)) for c in cats]]
            for g in summary.get("groups", [])]
    return _table(["strategy", "preset", *[f"CR after {c}" if c[0].isdigit() else c for c in cats]], rows,
                  num_cols=range(2, 2 + len(cats)))


def trial_report_html(df, summary: Mapping, figures: Mapping[str, Path]) -> str:
    """A self-contained HTML report of a virtual trial.

    Parameters
    ----------
    df : pandas.DataFrame
        The outcomes (for the count of excluded cases and the oxidant check).
    summary : mapping
        :func:`tissuefate.trial.stats.summarise` output (plus ``trial``, ``fingerprint``,
        ``hypotheses_per_preset`` from :func:`~tissuefate.trial.stats.write_trial_summary`).
    figures : mapping of caption → path
        Images embedded as base64 data URIs, in order.

    Returns
    -------
    str
        Title, disclaimer, the oxidant warning (when any oxidant strategy ran), the hypotheses per
        preset, per strategy × preset results with intervals, paired differences, size-band and
        margin-band tables, the sessions-to-CR distribution, how to read it, the figures, the methods and
        the excluded cases.
    """
    name = summary.get("trial") or "virtual trial"
    title = f"tissuefate — virtual trial “{name}”"
    oxidant = any(g.get("hypothetical") == "oxidant" for g in summary.get("groups", []))
    body = [
        f"<h1>{_e(title)}</h1>",
        f'<p class="meta">{summary.get("n_patients")} virtual patients · {summary.get("n_tumours")} tumours · '
        f"{summary.get('n_cases')} cases ({summary.get('n_errors')} excluded with an error) · strategies "
        f"{_e(', '.join(summary.get('strategies', [])))} · presets {_e(', '.join(summary.get('presets', [])))} · "
        f"reference “{_e(summary.get('reference'))}”"
        + (f" · fingerprint {_e(summary['fingerprint'])}" if summary.get("fingerprint") else "")
        + f" · tissuefate {_e(__version__)}</p>",
        f'<div class="disclaimer">{_e(DISCLAIMER)} A virtual trial compares model outputs on simulated patients; '
        "it is not clinical evidence.</div>",
    ]
    if oxidant:
        body.append(f'<div class="disclaimer"><strong>HYPOTHETICAL — oxidant.</strong> {_e(OXIDANT_WARNING)}</div>')
    hp = summary.get("hypotheses_per_preset") or {}
    if hp:
        items = "".join(f"<li><strong>{_e(p)}</strong>: {_e(', '.join(h) or 'none')}</li>" for p, h in hp.items())
        body.append('<div class="disclaimer"><strong>Hypotheses that acted, per preset</strong> (claims without '
                    f"measured evidence; results that depend on them are hypothetical):<ul>{items}</ul></div>")
    header, rows, flags = _group_rows(summary)
    body += ["<h2>Results per strategy and preset</h2>",
             _flag_table(header, rows, flags, num_cols=range(2, len(header))),
             '<p class="meta">Shaded rows rest on hypotheses without measured evidence; rows marked HYPOTHETICAL '
             "injected an oxidant (chlorine dioxide), which is not an approved therapy.</p>"]
    header, rows, flags = _paired_rows(summary)
    body += [f"<h2>Paired differences to the reference “{_e(summary.get('reference'))}”</h2>",
             _flag_table(header, rows, flags, num_cols=range(2, len(header))) if rows
             else "<p>Only one strategy: no paired comparison.</p>",
             '<p class="meta">Strategy − reference on the same patient × tumour; intervals from a paired cluster '
             "bootstrap over patients; the McNemar p-value tests only the complete-response difference of each "
             "strategy against the one pre-declared reference, without multiplicity correction.</p>"]
    if summary.get("by_size_band"):
        body += ["<h2>Complete response by tumour size</h2>",
                 _band_table(summary["by_size_band"], "CR % [Wilson 95 %]")]
    if summary.get("by_margin_band"):
        body += ["<h2>Local progression by minimal ablative margin (session 1)</h2>",
                 '<p class="meta">Cases with a complete response; local progression observed within follow-up '
                 "(crude proportion, Wilson 95 %). Bands: ≤ 0, (0, 5], (5, 10], > 10 mm; cases without an "
                 "ablation zone around the tumour separately.</p>",
                 _band_table(summary["by_margin_band"], "LTP % [Wilson 95 %]")]
    body += ["<h2>Sessions to complete response</h2>", _distribution_table(summary),
             "<h2>How to read this</h2>", f"<p>{_e(summary.get('how_to_read', ''))}</p>"]
    if figures:
        body.append("<h2>Figures</h2>")
        body += [_img(p, cap) for cap, p in figures.items()]
    st = summary.get("statistics", {})
    body += ["<h2>Statistical methods</h2>",
             _table(["quantity", "method"], [[k, v] for k, v in st.items()]),
             f'<p class="meta">Bootstrap: {summary.get("bootstrap", {}).get("resamples")} resamples, seed '
             f"{summary.get('bootstrap', {}).get('seed')}, patients resampled.</p>"]
    errs = summary.get("errors") or []
    if errs:
        more = summary.get("n_errors", 0) - len(errs)
        body += [f"<h2>Excluded cases ({summary.get('n_errors')})</h2>",
                 _table(["case", "strategy", "preset", "error"],
                        [[e["case_id"], e["strategy"], e["preset"], e["error"][:300]] for e in errs])
                 + (f'<p class="meta">… and {more} more (outcomes.parquet, column error).</p>' if more > 0 else "")]
    hyps = sorted({h for names in hp.values() for h in names})
    modalities = [str(m) for m in dict.fromkeys(df["modality"])] if "modality" in df.columns else []
    body += _common_tail(hyps, modalities)
    return _page(title, body)


def sensitivity_report_html(result: Mapping, figures: Mapping[str, Path]) -> str:
    """A small self-contained HTML report of a sensitivity analysis (indices with intervals, figures)."""
    method = result.get("method", "?")
    title = f"tissuefate — sensitivity analysis “{result.get('name', '')}” ({method})"
    body = [f"<h1>{_e(title)}</h1>",
            f'<p class="meta">{result.get("n_evaluations")} model evaluations · {len(result.get("parameters", {}))} '
            f"parameters · seed {result.get('seed')} · tissuefate {_e(__version__)}</p>",
            f'<div class="disclaimer">{_e(DISCLAIMER)}</div>']
    if result.get("hypothetical"):
        body.append(f'<div class="disclaimer"><strong>HYPOTHETICAL — oxidant.</strong> {_e(OXIDANT_WARNING)}</div>')
    body.append("<h2>Parameters</h2>")
    body.append(_table(["parameter", "low", "high"],
                       [[k, f"{v[0]:g}", f"{v[1]:g}"] for k, v in result.get("parameters", {}).items()],
                       num_cols=(1, 2)))
    for label, r in result.get("outcomes", {}).items():
        body.append(f"<h2>{_e(label)}</h2>")
        body.append(f'<p class="meta">{_e(r.get("method", ""))}; {r.get("n_valid")} valid of '
                    f"{r.get('n')} evaluations.</p>")
        ind = r.get("indices") or {}
        if r.get("not_analysed"):
            body.append(f"<p><strong>Not analysed:</strong> {_e(r['not_analysed'])}</p>")
            continue
        if method == "sobol":
            hdr = ["parameter", "S1 [95 %]", "ST [95 %]"]
            rows = [[p, _pm(i.get("S1"), i.get("S1_conf")), _pm(i.get("ST"), i.get("ST_conf"))] for p, i in ind.items()]
        else:
            hdr = ["parameter", "μ* [95 %]", "μ", "σ"]
            rows = [[p, _pm(i.get("mu_star"), i.get("mu_star_conf")), _val(i.get("mu"), 4), _val(i.get("sigma"), 4)]
                    for p, i in ind.items()]
        body.append(_table(hdr, rows, num_cols=range(1, len(hdr))))
    body += ["<h2>How to read this</h2>", f"<p>{_e(result.get('how_to_read', ''))}</p>"]
    if figures:
        body.append("<h2>Figures</h2>")
        body += [_img(p, cap) for cap, p in figures.items()]
    return _page(title, body)


def _pm(v, c) -> str:
    if v is None:
        return "—"
    return f"{v:.3f} ± {c:.3f}" if c is not None and math.isfinite(c) else f"{v:.3f}"
