"""Static figures of a session: anatomy slices with zone and isotherm contours, traces.

Figures are built on :class:`matplotlib.figure.Figure` with the Agg canvas directly: no pyplot,
no ``matplotlib.use``, nothing that changes matplotlib's global state or opens a window.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy import ndimage

from ..therapy.result import SessionResult
from ..tissue.labels import N_LABELS, Label
from ..tissue.properties import DAMAGE

__all__ = [
    "LABEL_COLOURS",
    "plot_session_slices",
    "plot_traces",
    "plot_side_by_side",
    "session_planes",
]

_K0 = 273.15

#: Muted background colour of each label.
LABEL_COLOURS: dict[Label, str] = {
    Label.OUTSIDE: "#f3f3f3",
    Label.PARENCHYMA: "#eadfce",
    Label.TUMOUR: "#d3aebd",
    Label.LARGE_VESSEL: "#9fb6d1",
    Label.SMALL_VESSEL: "#c6d5e5",
    Label.CAPSULE: "#bba587",
    Label.TRACT: "#dccfbf",
    Label.APPLICATOR: "#4a4a4a",
}

_OMEGA_STYLE = {  # threshold -> (colour, linestyle, linewidth)
    "coag": ("#e08214", "--", 1.4),
    "complete": ("#b2182b", "-", 1.8),
}
_ISO_STYLES = [("#2166ac", ":", 1.5), ("#053061", "-.", 1.4), ("#4393c3", (0, (1, 3)), 1.3)]
_TUMOUR_STYLE = ("#6a1b6e", "-", 1.0)
_ZONE_STYLES = [("#2166ac", ":", 1.5), ("#053061", "-.", 1.4), ("#4393c3", (0, (1, 3)), 1.3),
                ("#1b7837", "--", 1.2), ("#762a83", (0, (3, 1, 1, 1)), 1.2)]


def _figure(figsize):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=150)
    FigureCanvasAgg(fig)
    return fig


def _lut() -> np.ndarray:
    from matplotlib.colors import to_rgb

    lut = np.ones((256, 3))
    for lab in range(N_LABELS):
        lut[lab] = to_rgb(LABEL_COLOURS.get(Label(lab), "#ffffff"))
    return lut


def _view_centre_m(result: SessionResult) -> np.ndarray:
    """Centre of the views [m]: the mean active centre of the applicators (the target of a
    probe or needle cluster; the active centre of a single applicator)."""
    return np.mean([np.asarray(p.active_centre_m, float) for p in result.placements], axis=0)


def session_planes(result: SessionResult) -> list[dict]:
    """The two display planes: the grid plane containing the applicator axis best, and the
    transverse plane, both through the (mean) active centre of the applicators.

    Each plane is a dict with ``normal`` (grid axis across the plane), ``index`` (voxel index
    along it), ``h`` and ``v`` (grid axes shown horizontally and vertically) and ``title``.
    For an applicator along z these are the x–z plane (z vertical) and the x–y plane.
    """
    g = result.grid
    p0 = result.placements[0]
    u = np.abs(np.asarray(p0.direction, float))
    c = np.clip(g.index_of(_view_centre_m(result)), 0, np.asarray(g.shape) - 1)
    a = int(np.argmax(u))
    others = [i for i in range(3) if i != a]
    b = max(others, key=lambda i: (u[i], -i))  # most of the rest of the axis; ties → lower axis
    n = [i for i in others if i != b][0]
    names = "xyz"

    def where(ax):
        return f"{names[ax]} = {g.axis_m(ax)[c[ax]] * 1e3:.1f} mm"

    return [
        {
            "normal": n,
            "index": int(c[n]),
            "h": b,
            "v": a,
            "title": f"along the applicator: {names[b]}–{names[a]} plane, {where(n)}",
        },
        {
            "normal": a,
            "index": int(c[a]),
            "h": others[0],
            "v": others[1],
            "title": f"transverse: {names[others[0]]}–{names[others[1]]} plane, {where(a)}",
        },
    ]


def _cut(arr: np.ndarray, plane: dict) -> np.ndarray:
    """2-D slice of ``arr`` indexed [v, h] (rows vertical) for imshow/contour."""
    s = np.take(arr, plane["index"], axis=plane["normal"])
    rest = [i for i in range(3) if i != plane["normal"]]
    return s.T if rest.index(plane["h"]) == 0 else s


def _fill_from_neighbours(field2d: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """Give ``hole`` pixels (the applicator) the value of the nearest pixel outside it, so that
    contours run across the applicator instead of around it."""
    if not hole.any() or hole.all():
        return field2d
    _, ind = ndimage.distance_transform_edt(hole, return_indices=True)
    return field2d[tuple(ind)]


def _draw_plane(
    ax,
    result: SessionResult,
    plane: dict,
    *,
    isotherms_degC=(50.0, 60.0),
    window_mm=None,
    scalebar=True,
) -> list:
    """Anatomy, zone contours, isotherms and tumour outline of one plane on ``ax``.

    Returns legend handles for what was drawn.
    """
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    g = result.grid
    st = result.state
    hc = g.axis_m(plane["h"]) * 1e3
    vc = g.axis_m(plane["v"]) * 1e3
    dh = g.spacing_m[plane["h"]] * 1e3
    dv = g.spacing_m[plane["v"]] * 1e3
    lab = _cut(st.label, plane)
    ax.imshow(
        _lut()[lab],
        origin="lower",
        interpolation="none",
        aspect="equal",
        extent=(hc[0] - dh / 2, hc[-1] + dh / 2, vc[0] - dv / 2, vc[-1] + dv / 2),
    )
    handles: list = []
    present = set(np.unique(lab).tolist())
    for lv in Label:
        if int(lv) in present and lv is not Label.OUTSIDE:
            handles.append(
                Patch(
                    facecolor=LABEL_COLOURS[lv],
                    edgecolor="#888888",
                    linewidth=0.4,
                    label=lv.name.lower().replace("_", " "),
                )
            )

    app = lab == Label.APPLICATOR

    def contour(field, level, colour, ls, lw, text):
        f = _fill_from_neighbours(np.asarray(field, float), app)
        if np.nanmax(f) >= level and np.nanmin(f) < level:
            ax.contour(hc, vc, f, levels=[level], colors=[colour], linestyles=[ls], linewidths=[lw])
        handles.append(Line2D([], [], color=colour, linestyle=ls, linewidth=lw, label=text))

    if result.is_thermal:
        om = _cut(np.asarray(result.omega), plane)
        pk = _cut(np.asarray(result.peak_temperature_K), plane) - _K0
        om1 = DAMAGE["omega_coagulation"].value
        om_c = DAMAGE["omega_complete"].value
        for x, (col, ls, lw) in zip(isotherms_degC, _ISO_STYLES, strict=False):
            contour(pk, float(x), col, ls, lw, f"peak T ≥ {x:g} °C")
        contour(om, om1, *_OMEGA_STYLE["coag"], f"Ω ≥ {om1:g} (63 % kill)")
        contour(om, om_c, *_OMEGA_STYLE["complete"], f"Ω ≥ {om_c:g} (99 % kill)")
    else:
        others = [d for d in result.zone_defs if d.key != result.lethal_zone]
        for d, (col, ls, lw) in zip(others, _ZONE_STYLES, strict=False):
            contour(_cut(result.field_values(d.field), plane), d.threshold, col, ls, lw, d.label)
        for d in result.zone_defs:
            if d.key == result.lethal_zone:
                contour(_cut(result.field_values(d.field), plane), d.threshold, *_OMEGA_STYLE["complete"], d.label)
    tum = _cut(((st.label == Label.TUMOUR) | (st.tumour > 0.5)).astype(float), plane)
    if tum.any():
        # a slightly smoothed mask gives the round outline of the voxelised tumour
        tum = ndimage.gaussian_filter(tum, 0.6, mode="constant")
        col, ls, lw = _TUMOUR_STYLE
        ax.contour(hc, vc, tum, levels=[0.5], colors=[col], linestyles=[ls], linewidths=[lw])
        handles.append(
            Line2D([], [], color=col, linestyle=ls, linewidth=lw, label="tumour outline")
        )

    names = "xyz"
    ax.set_xlabel(f"{names[plane['h']]} [mm]")
    ax.set_ylabel(f"{names[plane['v']]} [mm]")
    ax.tick_params(labelsize=7)
    if window_mm is not None:
        cen = _view_centre_m(result)
        ch, cv = cen[plane["h"]] * 1e3, cen[plane["v"]] * 1e3
        ax.set_xlim(max(ch - window_mm, hc[0] - dh / 2), min(ch + window_mm, hc[-1] + dh / 2))
        ax.set_ylim(max(cv - window_mm, vc[0] - dv / 2), min(cv + window_mm, vc[-1] + dv / 2))
    if scalebar:
        from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

        x0, x1 = ax.get_xlim()
        bar = 10.0 if (x1 - x0) >= 25 else 5.0
        ax.add_artist(
            AnchoredSizeBar(
                ax.transData,
                bar,
                f"{bar:g} mm",
                "lower right",
                pad=0.4,
                color="black",
                frameon=False,
                size_vertical=0.4,
                fontproperties={"size": 7},
            )
        )
    return handles


def _auto_window_mm(results: Sequence[SessionResult], pad_mm: float = 8.0) -> float | None:
    """Half-width of a view window around the active centre holding every Ω ≥ 1 zone, isotherm
    ≥ 50 °C and tumour voxel of ``results`` plus ``pad_mm`` (None: nothing to frame)."""
    half = 0.0
    for r in results:
        m = r.state.label == Label.TUMOUR
        if r.is_thermal:
            m |= np.asarray(r.omega) >= DAMAGE["omega_coagulation"].value
            m |= np.asarray(r.peak_temperature_K) >= _K0 + 50.0
        else:
            for d in r.zone_defs:
                m |= d.mask(r.field_values(d.field))
        if not m.any():
            continue
        idx = np.argwhere(m)
        lo, hi = r.grid.world_of(idx.min(axis=0)), r.grid.world_of(idx.max(axis=0))
        c = _view_centre_m(r)
        half = max(half, float(np.max(np.abs(np.r_[lo - c, hi - c]))) * 1e3)
    return half + pad_mm if half > 0 else None


def _dedupe(handles):
    seen, out = set(), []
    for h in handles:
        if h.get_label() not in seen:
            seen.add(h.get_label())
            out.append(h)
    return out


def plot_session_slices(
    result: SessionResult, path, *, isotherms_degC=(50.0, 60.0), window_mm: float | None = None
) -> Path:
    """Two panels (along the applicator, transverse) of anatomy with Ω and isotherm contours.

    Parameters
    ----------
    result : SessionResult
    path : path-like
        PNG to write.
    isotherms_degC : sequence of float
        Peak-temperature contours to draw (at most three) [°C].
    window_mm : float, optional
        Half-width of the view around the active centre [mm]; default frames the Ω ≥ 1 zone,
        the 50 °C isotherm and the tumour with 8 mm to spare.
    """
    path = Path(path)
    planes = session_planes(result)
    if window_mm is None:
        window_mm = _auto_window_mm([result])
    fig = _figure((10.5, 4.9))
    axes = fig.subplots(1, 2)
    handles: list = []
    for ax, plane in zip(axes, planes, strict=True):
        handles += _draw_plane(
            ax, result, plane, isotherms_degC=isotherms_degC, window_mm=window_mm
        )
        ax.set_title(plane["title"], fontsize=8)
    fig.suptitle(f"{result.modality.upper()} — {result.name}", fontsize=11, fontweight="bold")
    fig.legend(
        handles=_dedupe(handles),
        loc="center right",
        fontsize=7,
        frameon=False,
        bbox_to_anchor=(0.995, 0.5),
    )
    fig.text(
        0.01,
        0.01,
        "Simulated; research software, not a medical device.",
        fontsize=6,
        color="#666666",
    )
    fig.subplots_adjust(left=0.06, right=0.80, bottom=0.11, top=0.86, wspace=0.28)
    fig.savefig(path)
    return path


def _rolloff_marks(traces, t) -> tuple[list[tuple[int, int]], list[int]]:
    """Roll-off periods (index spans) of a flag trace, or roll-off instants (indices where a
    running count rises) of a non-decreasing count trace (see ``therapy.outcomes``)."""
    if "rolloff" not in traces or len(traces["rolloff"]) != t.size or t.size == 0:
        return [], []
    a = np.nan_to_num(np.asarray(traces["rolloff"], dtype=float))
    if np.all(np.diff(a) >= 0):
        events = np.flatnonzero(np.diff(a) > 0) + 1
        return [], ([0] if a[0] > 0 else []) + events.tolist()
    edges = np.flatnonzero(np.diff(np.r_[0, (a != 0).astype(int), 0]))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True)), []


_THERMAL_SERIES = [
    ("power_W", "power [W]", "#b2182b", 1.0, 0.0),
    ("impedance_ohm", "impedance [Ω]", "#2166ac", 1.0, 0.0),
    ("max_temperature_K", "max temperature [°C]", "#e08214", 1.0, -_K0),
]
#: Three trace panels per modality: (trace key, axis label, colour, scale, offset).
TRACE_SERIES = {
    "rfa": _THERMAL_SERIES,
    "mwa": _THERMAL_SERIES,
    "cryo": [
        ("probe_power_W", "heat drawn by the probes [W]", "#2166ac", 1.0, 0.0),
        ("volume_below_m40C_m3", "volume below −40 °C [mL]", "#053061", 1e6, 0.0),
        ("T_min_K", "minimum temperature [°C]", "#4393c3", 1.0, -_K0),
    ],
    "injection": [
        ("delivered_m3", "delivered volume [mL]", "#1b7837", 1e6, 0.0),
        ("retained_m3", "retained in tissue [mL]", "#762a83", 1e6, 0.0),
        ("lost_m3", "leaked (vessels, tract, surface) [mL]", "#b2182b", 1e6, 0.0),
    ],
}


def plot_traces(result: SessionResult, path) -> Path:
    """Three time traces of a session (:data:`TRACE_SERIES`; RFA/MWA: power, impedance and
    maximum temperature) against time; impedance roll-off periods shaded."""
    path = Path(path)
    tr = result.traces
    t = np.asarray(tr.get("time_s", []), float)
    minutes = t.size > 0 and (t[-1] - t[0]) > 120
    tx = t / 60.0 if minutes else t
    fig = _figure((7.0, 6.0))
    axes = fig.subplots(3, 1, sharex=True)
    series = TRACE_SERIES.get(result.modality, TRACE_SERIES["rfa"])
    spans, events = _rolloff_marks(tr, t)
    for ax, (key, ylabel, col, scale, off) in zip(axes, series, strict=True):
        y = np.asarray(tr.get(key, []), float)
        if y.size and y.size == t.size:
            ax.plot(tx, y * scale + off, color=col, linewidth=1.2)
        else:
            ax.text(
                0.5,
                0.5,
                "not recorded",
                transform=ax.transAxes,
                ha="center",
                va="center",
                color="#888888",
                fontsize=9,
            )
        for a, b in spans:
            ax.axvspan(tx[a], tx[min(b, t.size - 1)], color="#999999", alpha=0.25, linewidth=0)
        for a in events:
            ax.axvline(tx[a], color="#777777", linewidth=0.8, linestyle="--")
        ax.set_ylabel(ylabel, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(True, color="#dddddd", linewidth=0.5)
    axes[-1].set_xlabel("time [min]" if minutes else "time [s]", fontsize=8)
    title = f"{result.modality.upper()} — {result.name}: " + ("delivery" if result.is_thermal else "time course")
    if spans:
        title += " (grey: impedance roll-off)"
    elif events:
        title += f" (dashed: {len(events)} impedance roll-off{'s' if len(events) > 1 else ''})"
    fig.suptitle(title, fontsize=10, fontweight="bold")
    fig.subplots_adjust(left=0.12, right=0.97, bottom=0.08, top=0.92, hspace=0.12)
    fig.savefig(path)
    return path


def plot_side_by_side(
    results: Sequence[SessionResult], path, *, isotherms_degC=(50.0, 60.0)
) -> Path:
    """One column per session: the view along the applicator on a common window and scale,
    above a table of key metrics (the demo comparison figure)."""
    from ..therapy.outcomes import session_metrics
    from .report import key_metric_rows

    path = Path(path)
    results = list(results)
    if not results:
        raise ValueError("plot_side_by_side needs at least one SessionResult")
    window = _auto_window_mm(results)
    n = len(results)
    legend_in = 3.0
    width = 4.3 * n + legend_in
    all_rows = [key_metric_rows(r.metrics or session_metrics(r, isotherms_degC=isotherms_degC), brief=True)
                for r in results]
    table_in = 0.23 * max(len(x) for x in all_rows) + 0.3  # one table row ≈ 0.23 in at 7 pt
    fig = _figure((width, 5.6 + table_in))
    gs = fig.add_gridspec(
        2,
        n,
        height_ratios=[4.6, table_in],
        left=0.05,
        right=1 - legend_in / width,
        bottom=0.02,
        top=0.9,
        wspace=0.3,
        hspace=0.14,
    )
    handles: list = []
    for j, r in enumerate(results):
        ax = fig.add_subplot(gs[0, j])
        plane = session_planes(r)[0]
        handles += _draw_plane(ax, r, plane, isotherms_degC=isotherms_degC, window_mm=window)
        ax.set_title(f"{r.modality.upper()} — {r.name}\n{plane['title']}", fontsize=8)
        tab_ax = fig.add_subplot(gs[1, j])
        tab_ax.axis("off")
        rows = all_rows[j]
        table = tab_ax.table(
            cellText=[[k, v] for k, v in rows],
            colWidths=[0.56, 0.44],
            loc="upper center",
            cellLoc="left",
        )
        table.auto_set_font_size(False)
        table.set_fontsize(7)
        table.scale(1.0, 1.15)
        for cell in table.get_celld().values():
            cell.set_edgecolor("#cccccc")
            cell.set_linewidth(0.4)
    fig.suptitle("Session comparison (simulated)", fontsize=11, fontweight="bold")
    fig.legend(
        handles=_dedupe(handles),
        loc="upper right",
        fontsize=7,
        frameon=False,
        bbox_to_anchor=(0.995, 0.88),
    )
    fig.text(
        0.01,
        0.005,
        "Research software, not a medical device. No treatment guidance.",
        fontsize=6,
        color="#666666",
    )
    fig.savefig(path)
    return path
