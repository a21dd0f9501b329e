"""Figures of a multi-session course: outcome curves, tissue-composition slices, comparisons.

Built on :class:`matplotlib.figure.Figure` with the Agg canvas (no pyplot, no global state), like
:mod:`tissuefate.viz.slices`. Every function takes a
:class:`~tissuefate.course.CourseResult` (or several) and writes one PNG.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy import ndimage

from ..tissue.labels import Label
from .slices import LABEL_COLOURS, _cut, _figure, _fill_from_neighbours

__all__ = [
    "COMPOSITION_COLOURS",
    "plot_course_curves",
    "plot_course_slices",
    "plot_course_comparison",
    "course_label",
    "course_is_hypothetical",
    "composition_rgb",
    "COMPARISON_QUANTITIES",
]

#: Colour of each tissue component in the composition view (fate.py uses the same for its traces).
COMPOSITION_COLOURS: dict[str, str] = {
    "viable tumour": "#7b2d8e",
    "parenchyma": "#e6c29a",
    "non-fixed debris": "#e67e22",
    "fixed debris": "#7f8c8d",
    "scar": "#6e4b1f",
    "cleared (empty)": "#ffffff",
}
#: Labels drawn as themselves, not as a tissue mixture.
_LABEL_OVERRIDES = (Label.OUTSIDE, Label.LARGE_VESSEL, Label.APPLICATOR)
#: Labels whose voxels hold no cells of their own (fibrous capsule, needle tract): the part of the
#: voxel the state fractions leave is drawn in the label colour, not as cleared.
_LABEL_BACKGROUND = (Label.CAPSULE, Label.TRACT)

_SESSION_COLOUR = "#555555"
_DETECT_COLOUR = "#b2182b"
_DISCLAIMER = "Simulated; research software, not a medical device. No treatment guidance."
#: Quantities :func:`plot_course_comparison` can draw: (axis label, log scale).
COMPARISON_QUANTITIES: dict[str, tuple[str, bool]] = {
    "tumour_volume_mL": ("viable tumour [mL]", True),
    "involution": ("zone / after session 1", False),
    "scar_volume_mL": ("scar [mL]", False),
    "debris_volume_mL": ("debris [mL]", False),
    "zone_volume_mL": ("ablation zone [mL]", False),
    "regenerated_volume_mL": ("regenerated parenchyma [mL]", False),
    "cleared_g_per_day": ("necrotic clearance [g/day]", False),
    "expected_clonogens": ("expected surviving clonogens", True),
}
#: 12 distinguishable colours (tab10 and two more) for comparisons.
_COURSE_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                   "#bcbd22", "#17becf", "#000000", "#6b8e23")
MAX_COMPARED = len(_COURSE_COLOURS)


def _metrics(course) -> dict:
    return course.metrics if isinstance(course.metrics, dict) else {}


def course_is_hypothetical(course) -> str:
    """Why ``course``'s results are hypothetical: ``"oxidant"`` (an oxidant was injected),
    ``"hypotheses"`` (named hypotheses were active) or ``""`` (neither)."""
    m = _metrics(course)
    agent = m.get("agent", getattr(course.scenario, "agent", None))
    if agent == "oxidant":
        return "oxidant"
    return "hypotheses" if m.get("hypotheses") else ""


def course_label(course) -> str:
    """Legend label of a course: strategy, hypothesis preset in brackets, HYPOTHETICAL for an oxidant.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> c = SimpleNamespace(strategy="PEI x2", scenario=None,
    ...                     metrics={"hypothesis_preset": "seed_claims", "agent": "ethanol"})
    >>> course_label(c)
    'PEI x2 [seed_claims]'
    """
    m = _metrics(course)
    s = str(course.strategy)
    preset = getattr(course, "preset_label", None) or m.get("hypothesis_preset")
    if preset == "both":  # a course no hypothesis of either preset acts on (the demo runs it once)
        preset = "either preset"
    if preset:
        s += f" [{preset}]"
    if course_is_hypothetical(course) == "oxidant" and "HYPOTHETICAL" not in s:
        s += " — HYPOTHETICAL"
    return s


def _detection_volume_mL(course) -> float | None:
    d = _metrics(course).get("detection_diameter_mm")
    if d is None:
        return None
    return math.pi * float(d) ** 3 / 6.0 * 1e-3  # mm³ → mL


def _session_lines(ax, days, *, labels: bool) -> None:
    for k, d in enumerate(days):
        ax.axvline(d, color=_SESSION_COLOUR, linewidth=0.8, linestyle=(0, (4, 2)), zorder=1)
        if labels:
            ax.annotate(f"S{k + 1}", (d, 1.0), xycoords=("data", "axes fraction"), xytext=(2, 2),
                        textcoords="offset points", fontsize=7, color=_SESSION_COLOUR, ha="left", va="bottom")


def _positive_floor(y: np.ndarray, floor: float) -> np.ndarray:
    return np.maximum(np.nan_to_num(np.asarray(y, float), nan=floor), floor)


def plot_course_curves(course, path, *, xscale: str = "linear") -> Path:
    """Four panels against days since the first session: viable tumour (log scale, with the
    detection volume, assessments, complete response and local progression), ablation-zone
    volume with involution on the right axis, scar / debris / regenerated parenchyma, and the
    necrotic clearance load. Sessions are dashed vertical lines labelled S1, S2, …

    Parameters
    ----------
    course : CourseResult
    path : path-like
        PNG to write.
    xscale : {"linear", "symlog"}
        Day axis; ``"symlog"`` is linear for the first 7 days and logarithmic after (early
        clearance and late regrowth on one axis).

    Returns
    -------
    Path
    """
    if xscale not in ("linear", "symlog"):
        raise ValueError(f"xscale = {xscale!r}: must be 'linear' or 'symlog'")
    path = Path(path)
    tr = course.traces
    m = _metrics(course)
    t = np.asarray(tr.get("day", []), float)
    days = list(course.session_days)
    fig = _figure((8.0, 9.0))
    axes = fig.subplots(4, 1, sharex=True)
    v_det = _detection_volume_mL(course)

    # 1: viable tumour, log scale
    ax = axes[0]
    tum = np.asarray(tr.get("tumour_volume_mL", []), float)
    floor = (v_det if v_det else max(float(np.nanmax(tum)) if tum.size else 1.0, 1e-3)) * 1e-5
    if tum.size:
        ax.plot(t, _positive_floor(tum, floor), color=COMPOSITION_COLOURS["viable tumour"], lw=1.5,
                label="viable tumour (model)")
    if v_det:
        ax.axhline(v_det, color=_DETECT_COLOUR, lw=1.0, ls="--",
                   label=f"detection volume ({m.get('detection_diameter_mm'):g} mm sphere)")
    before = m.get("tumour_volume_before_mL")
    if before:
        ax.plot([0.0], [before], marker="s", ms=5, color=COMPOSITION_COLOURS["viable tumour"], mfc="white",
                ls="none", label="before session 1")
    for a in m.get("assessments", []) or []:
        det = bool(a.get("detectable"))
        ax.plot([a["day"]], [max(float(a.get("viable_tumour_mL") or 0.0), floor)], marker="o", ms=5,
                mfc=_DETECT_COLOUR if det else "white", mec=_DETECT_COLOUR, ls="none")
    ax.plot([], [], marker="o", ms=5, mfc="white", mec=_DETECT_COLOUR, ls="none",
            label="assessment (filled: detectable)")
    if m.get("complete_response") and m.get("days_to_complete_response") is not None:
        d = float(m["days_to_complete_response"])
        ax.axvline(d, color="#1b7837", lw=1.0, ls=":")
        ax.annotate(f"CR day {d:g}", (d, 0.04), xycoords=("data", "axes fraction"), xytext=(3, 0),
                    textcoords="offset points", fontsize=7, color="#1b7837")
    if m.get("local_progression") and m.get("local_progression_day") is not None:
        d = float(m["local_progression_day"])
        ax.axvline(d, color=_DETECT_COLOUR, lw=1.2, ls="-.")
        ax.plot([d], [v_det if v_det else floor], marker="v", ms=8, color=_DETECT_COLOUR, ls="none",
                label=f"local progression, day {d:g}")
    ax.set_yscale("log")
    top = max([float(np.nanmax(tum)) if tum.size else floor, v_det or floor, float(before or floor)])
    ax.set_ylim(floor * 0.8, top * 4.0)
    ax.set_ylabel("viable tumour [mL]", fontsize=8)
    ax.legend(fontsize=7, frameon=False, loc="best")
    ax.text(0.995, 0.02, f"values < {floor:.1g} mL drawn at the floor", transform=ax.transAxes, ha="right",
            va="bottom", fontsize=6, color="#777777")

    # 2: ablation-zone content and involution
    ax = axes[1]
    zone = np.asarray(tr.get("zone_volume_mL", []), float)
    inv = np.asarray(tr.get("involution", []), float)
    if zone.size:
        ax.plot(t, zone, color="#444444", lw=1.5, label="debris + scar")
    z0 = None
    if zone.size and inv.size == zone.size:
        ok = np.isfinite(inv) & (inv > 0)
        if ok.any():
            z0 = float(np.median(zone[ok] / inv[ok]))
    if z0 and math.isfinite(z0) and z0 > 0:
        sec = ax.secondary_yaxis("right", functions=(lambda v, z0=z0: v / z0, lambda r, z0=z0: r * z0))
        sec.set_ylabel("involution (zone / after S1)", fontsize=8)
        sec.tick_params(labelsize=7)
    ax.set_ylim(bottom=0)
    ax.set_ylabel("ablation zone [mL]", fontsize=8)
    ax.legend(fontsize=7, frameon=False, loc="best")

    # 3: scar, debris, regenerated parenchyma
    ax = axes[2]
    for key, lab, col in (("scar_volume_mL", "scar", COMPOSITION_COLOURS["scar"]),
                          ("debris_volume_mL", "necrotic debris", COMPOSITION_COLOURS["non-fixed debris"]),
                          ("regenerated_volume_mL", "regenerated parenchyma (cumulative)", "#27ae60")):
        y = np.asarray(tr.get(key, []), float)
        if y.size:
            ax.plot(t, y, color=col, lw=1.3, label=lab)
    ax.set_ylim(bottom=0)
    ax.set_ylabel("volume [mL]", fontsize=8)
    ax.legend(fontsize=7, frameon=False, loc="best")

    # 4: clearance load
    ax = axes[3]
    load = np.asarray(tr.get("cleared_g_per_day", []), float)
    if load.size:
        ax.plot(t, load, color="#2c3e50", lw=1.3)
        k = int(np.nanargmax(load)) if np.isfinite(load).any() else 0
        ax.plot([t[k]], [load[k]], marker="o", ms=4, color="#2c3e50")
        ax.annotate(f"peak {load[k]:.3g} g/day (day {t[k]:g})", (t[k], load[k]), xytext=(6, -2),
                    textcoords="offset points", fontsize=7, va="top")
    ax.set_ylim(bottom=0)
    ax.set_ylabel("necrotic clearance [g/day]", fontsize=8)
    ax.set_xlabel("days since the first session", fontsize=8)

    for i, a in enumerate(axes):
        _session_lines(a, days, labels=i == 0)
        a.tick_params(labelsize=7)
        a.grid(True, color="#e3e3e3", linewidth=0.5)
        if xscale == "symlog":
            a.set_xscale("symlog", linthresh=7.0)
    if t.size:
        span = float(t[-1]) - min(0.0, float(t[0]))
        axes[-1].set_xlim(min(0.0, float(t[0])) - 0.01 * span, float(t[-1]))
    title = f"Course — {course_label(course)}"
    sub = (f"{m.get('sessions_given', len(days))} session(s), stop: {m.get('stop_reason', '?')}; "
           f"TCP at day {t[-1]:g}: {_prob_text(m.get('tumour_control_probability_at_horizon'))}"
           if t.size else "")
    fig.suptitle(title + ("\n" + sub if sub else ""), fontsize=10, fontweight="bold")
    fig.text(0.01, 0.005, _DISCLAIMER, fontsize=6, color="#666666")
    fig.subplots_adjust(left=0.11, right=0.88, bottom=0.06, top=0.91, hspace=0.12)
    fig.savefig(path)
    return path


def _prob_text(x) -> str:
    if x is None or not math.isfinite(float(x)):
        return "—"
    return "< 0.001" if float(x) < 5e-4 else f"{float(x):.3f}"


def _view_plane(course) -> dict:
    """The display plane through the first session's target containing the applicator axis best
    (as :func:`tissuefate.viz.slices.session_planes`; along z → the x–z plane)."""
    g = course.snapshots[0][2].grid if course.snapshots else course.state.grid
    target_mm = None
    direction = (0.0, 0.0, 1.0)
    if course.plans:
        p0 = course.plans[0]
        target_mm = p0.get("target_mm")
        pl = p0.get("placement") or {}
        direction = pl.get("direction_used") or pl.get("direction_requested") or direction
    if target_mm is None:
        centre_m = np.asarray(g.world_of((np.asarray(g.shape) - 1) / 2.0))
    else:
        centre_m = np.asarray(target_mm, float) * 1e-3
    c = np.clip(np.asarray(g.index_of(centre_m)), 0, np.asarray(g.shape) - 1)
    u = np.abs(np.asarray(direction, float))
    a = int(np.argmax(u))
    others = [i for i in range(3) if i != a]
    b = max(others, key=lambda i: (u[i], -i))
    n = [i for i in others if i != b][0]
    names = "xyz"
    return {"normal": n, "index": int(c[n]), "h": b, "v": a, "centre_m": centre_m,
            "title": f"{names[b]}–{names[a]} plane, {names[n]} = {g.axis_m(n)[c[n]] * 1e3:.1f} mm", "grid": g}


def composition_rgb(state, plane: dict) -> np.ndarray:
    """RGB image [v, h, 3] of the tissue mixture on ``plane``: each voxel's colour is the blend of
    :data:`COMPOSITION_COLOURS` weighted by its viable-tumour, parenchyma, non-fixed and fixed debris
    and scar fractions (the rest: cleared, white; in capsule and needle-tract voxels their label
    colour); outside, large vessels and the applicator by their label colour."""
    from matplotlib.colors import to_rgb

    cut = {k: np.clip(_cut(np.asarray(getattr(state, k), float), plane), 0.0, None)
           for k in ("tumour", "normal", "debris", "fixed", "scar")}
    fixed = np.clip(cut["fixed"], 0.0, 1.0)
    parts = [("viable tumour", cut["tumour"]), ("parenchyma", cut["normal"]),
             ("non-fixed debris", cut["debris"] * (1.0 - fixed)), ("fixed debris", cut["debris"] * fixed),
             ("scar", cut["scar"])]
    total = sum(p for _, p in parts)
    scale = np.where(total > 1.0, 1.0 / np.maximum(total, 1e-12), 1.0)
    rgb = np.zeros(total.shape + (3,))
    for name, p in parts:
        rgb += (p * scale)[..., None] * np.asarray(to_rgb(COMPOSITION_COLOURS[name]))
    rest = np.clip(1.0 - total * scale, 0.0, 1.0)
    lab = _cut(np.asarray(state.label), plane)
    bg = np.broadcast_to(np.asarray(to_rgb(COMPOSITION_COLOURS["cleared (empty)"])), rgb.shape).copy()
    for lv in _LABEL_BACKGROUND:
        bg[lab == lv] = to_rgb(LABEL_COLOURS[lv])
    rgb += rest[..., None] * bg
    for lv in _LABEL_OVERRIDES:
        rgb[lab == lv] = to_rgb(LABEL_COLOURS[lv])
    return np.clip(rgb, 0.0, 1.0)


def _window(course, plane: dict, pad_mm: float = 5.0,
            max_aspect: float = 1.6) -> tuple[tuple[float, float], tuple[float, float]]:
    """(h limits, v limits) [mm] centred on the target holding every voxel with tumour, debris or
    scar in any snapshot (and the initial tumour), plus ``pad_mm``, at least 10 mm either side and
    no more than ``max_aspect`` times taller than wide (or wider than tall); the same for every
    column."""
    g = plane["grid"]
    m = np.zeros(g.shape, bool)
    states = [s for _, _, s in course.snapshots]
    if course.sessions:
        states.append(course.sessions[0].state)
    for st in states:
        m |= np.asarray(st.tumour) >= 0.01
        m |= np.asarray(st.debris) >= 0.05
        m |= np.asarray(st.scar) >= 0.05
        m |= np.asarray(st.label) == Label.TUMOUR
    c = plane["centre_m"] * 1e3
    halves = [10.0, 10.0]
    if m.any():
        xyz = (np.asarray(g.origin_m) + np.argwhere(m) * np.asarray(g.spacing_m)) * 1e3
        for i, ax in enumerate((plane["h"], plane["v"])):
            halves[i] = max(halves[i], float(np.abs(xyz[:, ax] - c[ax]).max()) + pad_mm)
    hh, hv = halves
    hh, hv = max(hh, hv / max_aspect), max(hv, hh / max_aspect)
    out = []
    for ax, half in zip((plane["h"], plane["v"]), (hh, hv), strict=True):
        a = g.axis_m(ax) * 1e3
        d = g.spacing_m[ax] * 1e3 / 2
        out.append((max(c[ax] - half, a[0] - d), min(c[ax] + half, a[-1] + d)))
    return out[0], out[1]


def _snapshot_title(day: float, label: str) -> str:
    return label if label.startswith("day") else f"{label}\n(day {day:g})"


def plot_course_slices(course, path) -> Path:
    """One column per snapshot (after each session, horizon) through the first session's target:
    tissue composition above, viable-tumour fraction (log colour scale) below, on one window;
    the initial tumour outline dashed in every panel.

    Parameters
    ----------
    course : CourseResult
    path : path-like
        PNG to write.

    Returns
    -------
    Path
    """
    from matplotlib.colors import LogNorm
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    path = Path(path)
    snaps = list(course.snapshots)
    if not snaps:
        raise ValueError(f"course {course.name!r} has no snapshots to draw")
    plane = _view_plane(course)
    g = plane["grid"]
    hc, vc = g.axis_m(plane["h"]) * 1e3, g.axis_m(plane["v"]) * 1e3
    dh, dv = g.spacing_m[plane["h"]] * 1e3 / 2, g.spacing_m[plane["v"]] * 1e3 / 2
    extent = (hc[0] - dh, hc[-1] + dh, vc[0] - dv, vc[-1] + dv)
    xlim, ylim = _window(course, plane)
    outline = None
    if course.sessions:
        s0 = course.sessions[0].state
        mask = ((np.asarray(s0.label) == Label.TUMOUR) | (np.asarray(s0.tumour) > 0.5)).astype(float)
        # the applicator of session 1 sits in the tumour: fill it so the outline runs across it
        mask2d = _fill_from_neighbours(_cut(mask, plane), _cut(np.asarray(s0.label) == Label.APPLICATOR, plane))
        outline = ndimage.gaussian_filter(mask2d, 0.6, mode="constant")
        if not (outline.max() >= 0.5):
            outline = None
    n = len(snaps)
    aspect = (ylim[1] - ylim[0]) / max(xlim[1] - xlim[0], 1e-9)
    col_w = 2.5
    legend_w = 2.3
    width = col_w * n + legend_w + 0.6
    height = 2 * col_w * aspect + 1.6
    fig = _figure((width, height))
    gs = fig.add_gridspec(2, n, left=0.6 / width, right=1 - legend_w / width, bottom=0.9 / height,
                          top=1 - 0.85 / height, wspace=0.08, hspace=0.08)
    norm = LogNorm(vmin=1e-4, vmax=1.0)
    cmap = _tumour_cmap()
    names = "xyz"
    im = None
    for j, (day, label, st) in enumerate(snaps):
        ax0 = fig.add_subplot(gs[0, j])
        ax1 = fig.add_subplot(gs[1, j], sharex=ax0, sharey=ax0)
        ax0.imshow(composition_rgb(st, plane), origin="lower", interpolation="none", extent=extent)
        tum = _cut(np.asarray(st.tumour, float), plane)
        lab = _cut(np.asarray(st.label), plane)
        shown = np.ma.masked_where(np.isin(lab, [int(v) for v in _LABEL_OVERRIDES]), np.clip(tum, 1e-6, 1.0))
        im = ax1.imshow(shown, origin="lower", interpolation="none", extent=extent, cmap=cmap, norm=norm)
        for ax in (ax0, ax1):
            if outline is not None:
                ax.contour(hc, vc, outline, levels=[0.5], colors=["#222222"], linestyles=[(0, (3, 2))],
                           linewidths=[0.9])
            ax.set_xlim(*xlim)
            ax.set_ylim(*ylim)
            ax.set_aspect("equal")
            ax.tick_params(labelsize=6)
        ax0.set_title(_snapshot_title(float(day), str(label)), fontsize=8)
        ax1.set_xlabel(f"{names[plane['h']]} [mm]", fontsize=7)
        ax0.tick_params(labelbottom=False)
        if j == 0:
            ax0.set_ylabel(f"composition\n{names[plane['v']]} [mm]", fontsize=7)
            ax1.set_ylabel(f"viable tumour\n{names[plane['v']]} [mm]", fontsize=7)
        else:
            ax0.tick_params(labelleft=False)
            ax1.tick_params(labelleft=False)
    handles = [Patch(facecolor=c, edgecolor="#888888", linewidth=0.4, label=k) for k, c in COMPOSITION_COLOURS.items()]
    present = set(np.unique(np.concatenate([_cut(np.asarray(st.label), plane).ravel() for _, _, st in snaps])).tolist())
    handles += [Patch(facecolor=LABEL_COLOURS[lv], edgecolor="#888888", linewidth=0.4,
                      label={Label.TRACT: "needle tract"}.get(lv, lv.name.lower().replace("_", " ")))
                for lv in (*_LABEL_OVERRIDES, *_LABEL_BACKGROUND) if int(lv) in present]
    if outline is not None:
        handles.append(Line2D([], [], color="#222222", ls=(0, (3, 2)), lw=0.9, label="tumour before session 1"))
    fig.legend(handles=handles, loc="upper right", fontsize=7, frameon=False,
               bbox_to_anchor=(0.995, 1 - 0.85 / height), title="composition", title_fontsize=7)
    cax = fig.add_axes((1 - legend_w / width + 0.25 / width, 0.9 / height, 0.12 / width,
                        (height - 1.75) / 2 / height))
    cb = fig.colorbar(im, cax=cax)
    cb.set_label("viable tumour fraction", fontsize=7)
    cb.ax.tick_params(labelsize=6)
    fig.suptitle(f"Course — {course_label(course)}\n{plane['title']} through the first target", fontsize=9,
                 fontweight="bold")
    fig.text(0.01, 0.01, _DISCLAIMER, fontsize=6, color="#666666")
    fig.savefig(path)
    return path


def _tumour_cmap():
    from matplotlib import colormaps

    return colormaps["magma_r"].with_extremes(under="#ffffff", bad=LABEL_COLOURS[Label.OUTSIDE])


def plot_course_comparison(courses: Sequence, path, *,
                           quantity: str | Sequence[str] = ("tumour_volume_mL", "involution", "scar_volume_mL"),
                           title: str | None = None) -> Path:
    """Several courses on the same axes against days: one panel per quantity (default viable tumour
    on a log scale with the detection volume, involution and scar volume); one colour per course,
    dashed for a course with active hypotheses, triangles at its session days on the first panel.

    Parameters
    ----------
    courses : sequence of CourseResult
        1 to 12 courses (strategies and / or hypothesis presets).
    path : path-like
        PNG to write.
    quantity : str or sequence of str
        Trace keys of :data:`tissuefate.course.COURSE_TRACE_META` to draw, one panel each.
    title : str, optional

    Returns
    -------
    Path
    """
    from matplotlib.lines import Line2D

    path = Path(path)
    courses = list(courses)
    if not 1 <= len(courses) <= MAX_COMPARED:
        raise ValueError(f"plot_course_comparison: {len(courses)} courses given; draw 1 to {MAX_COMPARED} at once "
                         "(split them over several figures)")
    qs = [quantity] if isinstance(quantity, str) else list(quantity)
    bad = [q for q in qs if q not in COMPARISON_QUANTITIES]
    if bad or not qs:
        raise ValueError(f"quantity = {bad or qs!r}: choose from {', '.join(COMPARISON_QUANTITIES)}")
    labels = [course_label(c) for c in courses]
    seen: dict[str, int] = {}
    for i, lab in enumerate(labels):  # identical labels get a number so the legend stays readable
        seen[lab] = seen.get(lab, 0) + 1
        if seen[lab] > 1:
            labels[i] = f"{lab} ({seen[lab]})"
    n_leg_rows = math.ceil(len(courses) / 2)
    legend_h = 0.22 * n_leg_rows + 0.3
    height = 2.4 * len(qs) + legend_h + 0.9
    fig = _figure((8.0, height))
    axes = np.atleast_1d(fig.subplots(len(qs), 1, sharex=True))
    t_max = 0.0
    floor = None
    if "tumour_volume_mL" in qs:
        v = [x for x in (_detection_volume_mL(c) for c in courses) if x]
        floor = (min(v) if v else 1e-2) * 1e-5
    handles = []
    for i, (c, lab) in enumerate(zip(courses, labels, strict=True)):
        col = _COURSE_COLOURS[i]
        ls = "--" if course_is_hypothetical(c) else "-"
        t = np.asarray(c.traces.get("day", []), float)
        if t.size:
            t_max = max(t_max, float(t[-1]))
        for ax, q in zip(axes, qs, strict=True):
            y = np.asarray(c.traces.get(q, []), float)
            if not t.size or y.size != t.size:
                continue
            if q == "tumour_volume_mL":
                y = _positive_floor(y, floor)
            (line,) = ax.plot(t, y, color=col, ls=ls, lw=1.4, label=lab)
            if ax is axes[0]:
                handles.append(line)
                sd = np.asarray(c.session_days, float)
                if sd.size:
                    ys = np.interp(sd, t, y)
                    ax.plot(sd, ys, marker="v", ms=5, color=col, ls="none")
    for ax, q in zip(axes, qs, strict=True):
        ylabel, log = COMPARISON_QUANTITIES[q]
        if log:
            ax.set_yscale("log")
        else:
            ax.set_ylim(bottom=0)
        if q == "tumour_volume_mL":
            for d in sorted({_metrics(c).get("detection_diameter_mm") for c in courses} - {None}):
                ax.axhline(math.pi * d ** 3 / 6e3, color=_DETECT_COLOUR, lw=1.0, ls=":")
                ax.annotate(f"detection ({d:g} mm)", (0.0, math.pi * d ** 3 / 6e3), xycoords=("axes fraction", "data"),
                            xytext=(3, 2), textcoords="offset points", fontsize=6, color=_DETECT_COLOUR)
            ax.set_ylim(bottom=floor * 0.8)
        ax.set_ylabel(ylabel, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(True, color="#e3e3e3", linewidth=0.5)
    axes[-1].set_xlabel("days since the first session", fontsize=8)
    if t_max > 0:
        axes[-1].set_xlim(-0.01 * t_max, t_max)
    top = 1 - 0.6 / height
    bottom = (legend_h + 0.45) / height
    fig.subplots_adjust(left=0.1, right=0.97, top=top, bottom=bottom, hspace=0.1)
    handles.append(Line2D([], [], marker="v", ms=5, color=_SESSION_COLOUR, ls="none", label="session given"))
    fig.legend(handles=handles, loc="lower center", ncol=2, fontsize=7, frameon=False,
               bbox_to_anchor=(0.5, 0.02))
    fig.suptitle(title or f"Course comparison ({len(courses)} courses)", fontsize=10, fontweight="bold")
    fig.text(0.01, 0.005, _DISCLAIMER + " Dashed: hypothetical (active hypotheses or oxidant).", fontsize=6,
             color="#666666")
    fig.savefig(path)
    return path

