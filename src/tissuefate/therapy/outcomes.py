"""Outcomes of one session: ablation-zone geometry, margin, tumour control, heat sink.

:func:`session_metrics` turns a :class:`~tissuefate.therapy.result.SessionResult` into the nested,
JSON-serialisable dictionary written as ``metrics.json``. Every key that holds a dimensional
number ends in its unit (``_mm``, ``_mL``, ``_degC``, ``_J``, ``_ohm``, ``_s``); dimensionless
numbers are named for what they are (``_fraction``, ``_probability``, ``sphericity``, ``n_``).
The schema, every definition and its discretisation error are documented in ``docs/metrics.md``.

Definitions in brief (see ``docs/metrics.md`` for the reasoning and the measured errors):

- **zone**: the voxels meeting a criterion (Ω ≥ 1, Ω ≥ 4.6, peak temperature ≥ X °C), restricted
  to the 26-connected component(s) that contain, or lie nearest to, the applicators' active
  centres. Applicator voxels enclosed by the zone in a grid plane are counted as zone (the
  electrode's hole is part of the lesion, as on pathology); the shaft outside the zone is not.
- **long axis**: extent of the zone along the applicator axis ``u`` of ``placements[0]``:
  ``max(p·u) − min(p·u)`` over voxel centres ``p`` plus the voxel's own width along ``u``
  (``Σ|u_i| h_i``). **short axis**: the largest such extent over all directions perpendicular to
  ``u`` (a caliper diameter, 360 directions over 180°); ``short_axis_min_mm`` is the smallest.
- **sphericity** (Wadell): ψ = π^{1/3} (6V)^{2/3} / A of the surface found by marching cubes at
  level ½ on the zone mask smoothed by a Gaussian of one voxel (V and A of the same mesh).
- **minimal ablative margin** to the Ω ≥ 4.6 zone: if the tumour lies inside the zone,
  ``min`` over tumour voxels of the distance to the nearest voxel centre outside the zone, minus
  half a voxel; otherwise ``−max`` over uncovered tumour voxels of the distance to the nearest
  zone voxel centre.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
from scipy import ndimage

from ..errors import ConfigError
from ..geometry import distance_to_segment_m, perpendicular_basis, unit
from ..grid import Grid
from ..tissue.labels import Label
from ..tissue.properties import CELLS, DAMAGE
from .result import SessionResult, ZoneDef

__all__ = [
    "SCHEMA_VERSION",
    "session_metrics",
    "select_zone",
    "zone_geometry",
    "sphericity",
    "ablative_margin",
    "zone_key",
    "zone_definitions",
    "thermal_zone_defs",
]

#: Version of the metrics.json schema (docs/metrics.md). Bump on any key change.
SCHEMA_VERSION = 3

_K0 = 273.15
_M3_PER_ML = 1e-6
_MM_PER_M = 1e3
_MAX_TRACE_POINTS = 200
_N_CALIPER_DIRECTIONS = 360
_STRUCT26 = np.ones((3, 3, 3), dtype=bool)


# --------------------------------------------------------------------------------------------
# zones
# --------------------------------------------------------------------------------------------


def zone_key(criterion: str, threshold: float) -> str:
    """Key of a zone in ``metrics["zones"]``: ``omega_ge_4.6`` or ``peak_ge_50degC``.

    Examples
    --------
    >>> zone_key("omega", 4.6), zone_key("peak_temperature", 50.0)
    ('omega_ge_4.6', 'peak_ge_50degC')
    """
    if criterion == "omega":
        return f"omega_ge_{threshold:g}"
    if criterion == "peak_temperature":
        return f"peak_ge_{threshold:g}degC"
    raise ValueError(f"unknown zone criterion {criterion!r}")


def thermal_zone_defs(isotherms_degC: Sequence[float] = (50.0, 60.0)) -> list[ZoneDef]:
    """Zones of a thermal session: Ω ≥ 1, Ω ≥ 4.6 and peak temperature ≥ each isotherm."""
    om1 = float(DAMAGE["omega_coagulation"].value)
    om_c = float(DAMAGE["omega_complete"].value)
    out = [
        ZoneDef(zone_key("omega", om1), "omega", "omega", "ge", om1, om1, "1", f"Ω ≥ {om1:g}"),
        ZoneDef(zone_key("omega", om_c), "omega", "omega", "ge", om_c, om_c, "1", f"Ω ≥ {om_c:g}"),
    ]
    for x in isotherms_degC:
        out.append(ZoneDef(zone_key("peak_temperature", float(x)), "peak_temperature", "peak_temperature_K", "ge",
                           float(x) + _K0, float(x), "degC", f"peak T ≥ {float(x):g} °C"))
    return out


def zone_definitions(result: SessionResult, isotherms_degC: Sequence[float] = (50.0, 60.0)) -> list[ZoneDef]:
    """The zones reported for ``result``: thermal zones for RFA/MWA, the modality's own otherwise."""
    defs = thermal_zone_defs(isotherms_degC) if result.is_thermal else []
    seen = {d.key for d in defs}
    defs += [d for d in result.zone_defs if d.key not in seen]
    if not defs:
        raise ConfigError(f"session {result.name!r} ({result.modality}) defines no zones")
    return defs


def _fill_applicator(mask: np.ndarray, applicator: np.ndarray | None) -> np.ndarray:
    """Add applicator voxels enclosed by ``mask`` within any grid plane (the electrode's hole)."""
    if applicator is None or not applicator.any() or not mask.any():
        return mask
    out = mask.copy()
    bb = ndimage.find_objects(mask.astype(np.uint8))[0]  # holes lie inside the bounding box
    sub, app = mask[bb], applicator[bb]
    for ax in range(3):
        # a structure flat along ``ax`` fills holes plane by plane
        st = np.zeros((3, 3, 3), dtype=bool)
        idx = [slice(None)] * 3
        idx[ax] = 1
        st[tuple(idx)] = ndimage.generate_binary_structure(2, 1)
        out[bb] |= app & ndimage.binary_fill_holes(sub, structure=st)
    return out


def select_zone(
    mask: np.ndarray,
    grid: Grid,
    seeds_m: Iterable[Sequence[float]],
    *,
    applicator: np.ndarray | None = None,
) -> tuple[np.ndarray, int]:
    """The part of ``mask`` that forms the ablation zone around the applicators.

    Parameters
    ----------
    mask : ndarray of bool
        Voxels meeting the zone criterion.
    grid : Grid
    seeds_m : iterable of 3-vectors
        Active centres of the applicators [m]. For each, the 26-connected component containing
        its voxel is kept, or, if that voxel is not in ``mask``, the component of the mask voxel
        nearest to it.
    applicator : ndarray of bool, optional
        Applicator voxels; those enclosed by the zone in a grid plane are added first.

    Returns
    -------
    zone : ndarray of bool
    n_components : int
        Number of 26-connected components of the (applicator-filled) mask.

    Examples
    --------
    >>> g = Grid((9, 1, 1), (1e-3, 1e-3, 1e-3))
    >>> m = np.zeros(g.shape, bool); m[1:3] = True; m[6] = True
    >>> zone, n = select_zone(m, g, [(1e-3, 0, 0)])
    >>> int(zone.sum()), n
    (2, 2)
    """
    mask = _fill_applicator(np.asarray(mask, dtype=bool), applicator)
    lab, n = ndimage.label(mask, structure=_STRUCT26)
    if n == 0:
        return np.zeros(grid.shape, dtype=bool), 0
    keep: set[int] = set()
    pts = None
    for seed in seeds_m:
        idx = grid.index_of(seed)
        if all(0 <= i < s for i, s in zip(idx, grid.shape, strict=True)) and lab[idx] > 0:
            keep.add(int(lab[idx]))
            continue
        if pts is None:
            pts = np.argwhere(mask)
            world = grid.world_of(pts)
        d2 = np.sum((world - np.asarray(seed, float)) ** 2, axis=1)
        keep.add(int(lab[tuple(pts[int(np.argmin(d2))])]))
    return np.isin(lab, sorted(keep)), int(n)


def _extent_m(points_m: np.ndarray, direction: np.ndarray, spacing_m: np.ndarray) -> float:
    """Extent of voxels (centres ``points_m``) along unit ``direction``, voxel width included."""
    p = points_m @ direction
    return float(p.max() - p.min() + np.abs(direction) @ spacing_m)


def sphericity(mask: np.ndarray, spacing_m: Sequence[float]) -> float | None:
    r"""Wadell sphericity ψ of a voxel mask [1]; ``None`` if it is too small to mesh.

    Notes
    -----
    .. math:: \psi = \pi^{1/3} (6 V)^{2/3} / A

    The mask is smoothed by a Gaussian of one voxel and meshed by marching cubes at level ½
    (spacing in mm); V and A are the volume and area of that one mesh. Meshing the raw mask
    instead overstates A by the staircase and gives ψ ≈ 0.92 for a ball; the smoothed mesh
    gives 0.99–1.00 for balls of radius 3–20 voxels.

    Examples
    --------
    >>> x = np.arange(-12, 13)
    >>> ball = (x[:, None, None]**2 + x[None, :, None]**2 + x[None, None, :]**2) <= 100
    >>> round(sphericity(ball, (1e-3,) * 3), 2)
    1.0
    """
    from skimage.measure import marching_cubes, mesh_surface_area

    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return None
    bb = ndimage.find_objects(mask.astype(np.uint8))[0]
    sub = np.pad(mask[bb].astype(np.float32), 3)
    smooth = ndimage.gaussian_filter(sub, 1.0)
    if smooth.max() <= 0.5:
        return None
    spacing_mm = tuple(float(h) * _MM_PER_M for h in spacing_m)
    verts, faces, _, _ = marching_cubes(smooth, 0.5, spacing=spacing_mm)
    area = float(mesh_surface_area(verts, faces))
    a, b, c = verts[faces[:, 0]], verts[faces[:, 1]], verts[faces[:, 2]]
    volume = abs(float(np.einsum("ij,ij->i", a, np.cross(b, c)).sum()) / 6.0)
    if area <= 0 or volume <= 0:
        return None
    return float(np.pi ** (1.0 / 3.0) * (6.0 * volume) ** (2.0 / 3.0) / area)


def zone_geometry(zone: np.ndarray, grid: Grid, axis_direction) -> dict:
    """Axes [mm], volume [mL], sphericity and aspect of a zone mask.

    Parameters
    ----------
    zone : ndarray of bool
    grid : Grid
    axis_direction : 3-vector
        Applicator axis (any sign, any length).

    Returns
    -------
    dict
        ``empty``, ``n_voxels``, ``volume_mL``, ``long_axis_mm``, ``short_axis_mm``,
        ``short_axis_min_mm``, ``aspect_ratio`` (short / long), ``sphericity``,
        ``centroid_mm``, ``touches_roi_boundary`` (sizes are then lower bounds).
        An empty zone gives zeros, ``None`` sphericity and ``empty: True``.

    Examples
    --------
    >>> g = Grid((10, 10, 10), (1e-3, 1e-3, 1e-3))
    >>> z = np.zeros(g.shape, bool); z[2:5, 2:5, 1:9] = True
    >>> r = zone_geometry(z, g, (0, 0, 1))
    >>> r["long_axis_mm"], r["short_axis_mm"], r["short_axis_min_mm"], r["volume_mL"]
    (8.0, 4.243, 3.0, 0.072)
    """
    u = unit(axis_direction)
    zone = np.asarray(zone, dtype=bool)
    n = int(zone.sum())
    if n == 0:
        return {
            "empty": True,
            "n_voxels": 0,
            "volume_mL": 0.0,
            "long_axis_mm": 0.0,
            "short_axis_mm": 0.0,
            "short_axis_min_mm": 0.0,
            "aspect_ratio": 0.0,
            "sphericity": None,
            "centroid_mm": None,
            "touches_roi_boundary": False,
        }
    h = np.asarray(grid.spacing_m)
    # extents are reached on the surface: caliper over boundary voxels only
    surface = zone & ~ndimage.binary_erosion(zone)
    pts = grid.world_of(np.argwhere(surface))
    long_m = _extent_m(pts, u, h)
    e1, e2 = perpendicular_basis(u)
    ang = np.linspace(0.0, np.pi, _N_CALIPER_DIRECTIONS, endpoint=False)
    dirs = np.cos(ang)[:, None] * e1 + np.sin(ang)[:, None] * e2
    proj = pts @ dirs.T
    widths = proj.max(axis=0) - proj.min(axis=0) + np.abs(dirs) @ h
    short_m, short_min_m = float(widths.max()), float(widths.min())
    centroid = grid.world_of(np.argwhere(zone).mean(axis=0))
    return {
        "empty": False,
        "n_voxels": n,
        "volume_mL": round(n * grid.voxel_volume_m3 / _M3_PER_ML, 6),
        "long_axis_mm": round(long_m * _MM_PER_M, 3),
        "short_axis_mm": round(short_m * _MM_PER_M, 3),
        "short_axis_min_mm": round(short_min_m * _MM_PER_M, 3),
        "aspect_ratio": round(short_m / long_m, 4),
        "sphericity": _round(sphericity(zone, grid.spacing_m), 4),
        "centroid_mm": [round(float(c) * _MM_PER_M, 3) for c in centroid],
        "touches_roi_boundary": _touches_boundary(zone),
    }


def _touches_boundary(mask: np.ndarray) -> bool:
    """Whether ``mask`` reaches a face of the grid (its size is then cut by the ROI)."""
    return bool(
        any(np.take(mask, i, axis=ax).any() for ax in range(3) for i in (0, mask.shape[ax] - 1))
    )


# --------------------------------------------------------------------------------------------
# margin
# --------------------------------------------------------------------------------------------


def _bbox_pad(mask: np.ndarray) -> tuple[slice, ...]:
    idx = np.argwhere(mask)
    lo, hi = idx.min(axis=0), idx.max(axis=0) + 1
    return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))


def ablative_margin(zone: np.ndarray, tumour: np.ndarray, grid: Grid) -> dict:
    """3-D minimal ablative margin of ``tumour`` inside ``zone`` [mm].

    Returns
    -------
    dict
        ``tumour_present``, ``tumour_covered`` (every tumour voxel in the zone),
        ``minimal_ablative_margin_mm`` (``None`` without tumour), ``tumour_volume_mL``,
        ``tumour_volume_covered_fraction``, ``uncovered_tumour_volume_mL``.

    Notes
    -----
    Covered tumour: margin = min over tumour voxels of the distance from its centre to the
    nearest voxel centre outside the zone, minus half the voxel spacing along that direction
    (√Σ v_i² h_i² for unit direction v). Uncovered: margin = −max over tumour voxels outside the
    zone of the distance to the nearest zone voxel centre. Outside the grid counts as outside
    the zone. On spheres the error is within ±½ voxel (docs/metrics.md).

    Examples
    --------
    >>> g = Grid((21, 21, 21), (1e-3,) * 3)
    >>> x = np.arange(21) - 10
    >>> r2 = x[:, None, None]**2 + x[None, :, None]**2 + x[None, None, :]**2
    >>> ablative_margin(r2 <= 64, r2 <= 9, g)["minimal_ablative_margin_mm"]
    4.599
    """
    zone = np.asarray(zone, dtype=bool)
    tumour = np.asarray(tumour, dtype=bool)
    dv_mL = grid.voxel_volume_m3 / _M3_PER_ML
    n_t = int(tumour.sum())
    out: dict = {
        "tumour_present": n_t > 0,
        "tumour_covered": False,
        "minimal_ablative_margin_mm": None,
        "tumour_volume_mL": round(n_t * dv_mL, 6),
        "tumour_volume_covered_fraction": 0.0,
        "uncovered_tumour_volume_mL": round(n_t * dv_mL, 6),
    }
    if n_t == 0:
        out["tumour_volume_covered_fraction"] = None
        return out
    n_cov = int((tumour & zone).sum())
    out["tumour_volume_covered_fraction"] = round(n_cov / n_t, 6)
    out["uncovered_tumour_volume_mL"] = round((n_t - n_cov) * dv_mL, 6)
    if n_t == 0 or n_cov == 0 and not zone.any():
        return out
    h = np.asarray(grid.spacing_m)
    # crop to what matters, padded by one voxel that is outside the zone (the grid's outside too)
    sl = _bbox_pad(zone | tumour)
    z = np.pad(zone[sl], 1)
    t = np.pad(tumour[sl], 1)
    if n_cov == n_t:
        out["tumour_covered"] = True
        d, ind = ndimage.distance_transform_edt(z, sampling=h, return_indices=True)
        dt = np.where(t, d, np.inf)
        i = np.unravel_index(int(np.argmin(dt)), dt.shape)
        v = (np.array([ind[k][i] for k in range(3)]) - np.array(i)) * h
        v = v / np.linalg.norm(v)
        half = 0.5 * float(np.sqrt(np.sum((v * h) ** 2)))
        margin_m = float(dt[i]) - half
    else:
        d = ndimage.distance_transform_edt(~z, sampling=h)
        margin_m = -float(d[t & ~z].max())
    out["minimal_ablative_margin_mm"] = round(margin_m * _MM_PER_M, 3)
    return out


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def _round(x, nd=6):
    if x is None:
        return None
    x = float(x)
    if not math.isfinite(x):
        return None
    return round(x, nd)


def _sig(x, digits=6):
    """Round to significant digits (clonogen counts span many decades)."""
    if x is None:
        return None
    x = float(x)
    if not math.isfinite(x):
        return None
    if x == 0:
        return 0.0
    return float(f"{x:.{digits}g}")


def _downsample(traces: dict[str, np.ndarray]) -> dict:
    """Traces on ≤ 200 common, uniformly spaced samples (first and last kept).

    Temperatures ``*_K`` become ``*_degC``.
    """
    arrays = {}
    for k, v in traces.items():
        a = np.asarray(v)
        if a.ndim != 1 or a.size == 0 or not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
            continue
        arrays[k] = a
    if not arrays:
        return {}
    n = len(arrays["time_s"]) if "time_s" in arrays else max(len(a) for a in arrays.values())
    idx = np.unique(np.rint(np.linspace(0, n - 1, min(n, _MAX_TRACE_POINTS))).astype(int))
    out = {}
    for k, a in arrays.items():
        if len(a) != n:
            continue
        vals = a[idx].astype(float)
        if k.endswith("_K"):
            k, vals = k[:-2] + "_degC", vals - _K0
        out[k] = [_sig(x) for x in vals]
    return out


_trapezoid = getattr(np, "trapezoid", None) or np.trapz  # noqa: NPY201 (NumPy < 2 lacks trapezoid)


def _count_rolloffs(trace: np.ndarray) -> int:
    """Roll-off episodes in ``traces["rolloff"]``.

    A non-decreasing trace is a running count of roll-offs (what the RF generator records):
    its maximum. Any other trace is a flag, nonzero while in roll-off: its rising edges (a run
    starting in roll-off counts one). A 0/1 flag that only rises once reads 1 either way.
    """
    a = np.asarray(trace, dtype=float)
    a = a[np.isfinite(a)]
    if a.size == 0:
        return 0
    if np.all(np.diff(a) >= 0):
        return int(round(float(a.max())))
    f = a != 0
    return int(f[0]) + int(np.count_nonzero(f[1:] & ~f[:-1]))


def _thermal_summary(result: SessionResult, tissue: np.ndarray) -> dict:
    tr = result.traces
    if result.peak_temperature_K is None:
        return {"peak_temperature_degC": None, "peak_temperature_location_mm": None,
                "max_final_temperature_degC": None}
    peak = np.asarray(result.peak_temperature_K)
    sel = np.where(tissue, peak, -np.inf)
    i = np.unravel_index(int(np.argmax(sel)), sel.shape)
    out: dict = {
        "peak_temperature_degC": _round(float(sel[i]) - _K0, 3) if np.isfinite(sel[i]) else None,
        "peak_temperature_location_mm": [
            round(float(c) * _MM_PER_M, 3) for c in result.grid.world_of(i)
        ],
        "max_final_temperature_degC": None if result.final_temperature_K is None
        else _round(float(np.max(result.final_temperature_K)) - _K0, 3),
    }
    if "max_temperature_K" in tr and len(tr["max_temperature_K"]):
        out["max_temperature_trace_degC"] = _round(float(np.max(tr["max_temperature_K"])) - _K0, 3)
    return out


def _delivery_summary(result: SessionResult) -> dict:
    tr = result.traces
    t = np.asarray(tr["time_s"], float) if "time_s" in tr else None
    out: dict = {"energy_J": None, "energy_source": None, "duration_s": None, "mean_power_W": None}
    if t is not None and t.size:
        out["duration_s"] = _round(float(t[-1] - t[0]), 3)
    if "energy_J" in tr and len(tr["energy_J"]):
        out["energy_J"] = _sig(float(np.asarray(tr["energy_J"])[-1]))
        out["energy_source"] = "trace energy_J (last sample)"
    elif "power_W" in tr and t is not None and len(tr["power_W"]) == t.size and t.size > 1:
        out["energy_J"] = _sig(float(_trapezoid(np.asarray(tr["power_W"], float), t)))
        out["energy_source"] = "trapezoidal integral of trace power_W"
    if "power_W" in tr and len(tr["power_W"]):
        out["mean_power_W"] = _sig(float(np.mean(tr["power_W"])))
        if out["energy_J"] is not None and out["duration_s"]:
            out["mean_power_W"] = _sig(out["energy_J"] / out["duration_s"])
    return out


def _impedance_summary(result: SessionResult) -> dict:
    tr = result.traces
    z = np.asarray(tr.get("impedance_ohm", []), float)
    z = z[np.isfinite(z)]
    out: dict = {"present": bool(z.size)}
    if z.size:
        out.update(
            initial_ohm=_sig(z[0]),
            min_ohm=_sig(z.min()),
            max_ohm=_sig(z.max()),
            final_ohm=_sig(z[-1]),
        )
    else:
        out.update(initial_ohm=None, min_ohm=None, max_ohm=None, final_ohm=None)
    out["n_rolloffs"] = _count_rolloffs(tr["rolloff"]) if "rolloff" in tr else None
    return out


# --------------------------------------------------------------------------------------------
# the metrics
# --------------------------------------------------------------------------------------------


def session_metrics(
    result: SessionResult,
    *,
    isotherms_degC: Sequence[float] = (50.0, 60.0),
    vessel_distance_mm: float = 5.0,
    heat_sink_adjacent_mm: float = 2.0,
    heat_sink_window_mm: float = 20.0,
) -> dict:
    """Outcomes of one session as a JSON-serialisable dict (schema: ``docs/metrics.md``).

    Parameters
    ----------
    result : SessionResult
    isotherms_degC : sequence of float
        Peak-temperature thresholds whose zones are reported [°C].
    vessel_distance_mm : float
        Surviving tumour within this distance of a large-vessel voxel counts as "near vessel"
        in the heat-sink report; tissue farther than this is the "elsewhere" reference of the
        peak-temperature contrast [mm].
    heat_sink_adjacent_mm : float
        Tissue within this distance of a large vessel is "adjacent" in the peak-temperature
        contrast [mm].
    heat_sink_window_mm : float
        Only tissue within this distance of an active segment enters the contrast [mm].

    Returns
    -------
    dict
        Keys ``schema_version``, ``name``, ``modality``, ``grid``, ``applicator``, ``zones``,
        ``margin``, ``normal_tissue``, ``tumour``, ``heat_sink``, ``thermal``, ``delivery``,
        ``impedance``, ``traces``, ``hypotheses_active``, ``wall_time_s``.

    Notes
    -----
    Clonogens per voxel: :math:`N_0 = f_T\\, n_c\\, \\phi\\, \\Delta V`, survivors
    :math:`N = N_0 e^{-\\Omega}`, tumour-control probability :math:`\\mathrm{TCP} = e^{-\\sum N}`
    (Poisson; literature.md §10) with ``n_c`` and ``φ`` from
    :data:`tissuefate.tissue.properties.CELLS`.
    """
    from .. import __version__

    if vessel_distance_mm <= 0 or heat_sink_adjacent_mm <= 0 or heat_sink_window_mm <= 0:
        raise ConfigError(
            f"vessel_distance_mm = {vessel_distance_mm}, heat_sink_adjacent_mm = "
            f"{heat_sink_adjacent_mm}, heat_sink_window_mm = {heat_sink_window_mm}: "
            "all must be > 0 mm"
        )
    if not result.placements:
        raise ConfigError(
            f"session {result.name!r} has no applicator placement: cannot measure zones"
        )
    g = result.grid
    st = result.state
    dv = g.voxel_volume_m3
    h = np.asarray(g.spacing_m)
    label = st.label
    applicator = label == Label.APPLICATOR
    tissue = ~applicator
    p0 = result.placements[0]
    axis = unit(p0.direction)
    seeds = [p.active_centre_m for p in result.placements]
    defs = zone_definitions(result, isotherms_degC)
    survival = result.survival_fraction()
    values = {"survival": survival}  # each field once, however many zones read it
    for d in defs:
        if d.field not in values:
            values[d.field] = result.field_values(d.field)
        if values[d.field].shape != g.shape:
            raise ConfigError(f"SessionResult field {d.field!r} has shape {values[d.field].shape}, grid is {g.shape}")
    peak = None if result.peak_temperature_K is None else np.asarray(result.peak_temperature_K, dtype=np.float64)

    # ---- zones
    zones: dict = {}
    masks: dict[str, np.ndarray] = {}
    raw: dict[str, np.ndarray] = {}
    for d in defs:
        m = d.mask(values[d.field])
        raw[d.key] = m
        filled = _fill_applicator(m, applicator)
        zone, ncomp = select_zone(filled, g, seeds)
        masks[d.key] = zone
        geo = zone_geometry(zone, g, axis)
        total = int(filled.sum())
        zones[d.key] = {
            "criterion": d.criterion,
            "threshold": d.display_threshold,
            "threshold_unit": d.threshold_unit,
            "label": d.label,
            **geo,
            "n_components": ncomp,
            "volume_outside_zone_mL": round((total - geo["n_voxels"]) * dv / _M3_PER_ML, 6),
        }
    irreversible_key = result.lethal_zone
    if irreversible_key not in masks:
        raise ConfigError(f"session {result.name!r}: lethal zone {irreversible_key!r} is not among its zones")
    z_irr = masks[irreversible_key]

    # ---- margin
    tumour_mask = (label == Label.TUMOUR) | (st.tumour > 0.5)
    margin = {"zone": irreversible_key, **ablative_margin(z_irr, tumour_mask, g)}

    # ---- normal tissue
    normal_w = np.where(np.isin(label, (Label.PARENCHYMA, Label.SMALL_VESSEL)), st.normal, 0.0)
    normal_w = normal_w.astype(np.float64)
    normal = {
        "lethal_zone": irreversible_key,
        "destroyed_mL": _sig(float(normal_w[raw[irreversible_key]].sum()) * dv / _M3_PER_ML),
        "killed_expected_mL": _sig(float((normal_w * (1.0 - survival)).sum()) * dv / _M3_PER_ML),
        "viable_before_mL": _sig(float(normal_w.sum()) * dv / _M3_PER_ML),
    }

    # ---- tumour and clonogens
    cells = float(CELLS["tumour_cells_per_m3"].value)
    clono = float(CELLS["clonogenic_fraction"].value)
    tum = np.asarray(st.tumour, dtype=np.float64)
    n0 = tum * (cells * clono * dv)
    n_surv = n0 * survival
    s_total = float(n_surv.sum())
    tumour = {
        "initial_volume_mL": _sig(float(tum.sum()) * dv / _M3_PER_ML),
        "viable_volume_mL": _sig(float((tum * survival).sum()) * dv / _M3_PER_ML),
        "initial_clonogens": _sig(float(n0.sum())),
        "surviving_clonogens": _sig(s_total),
        "log10_surviving_clonogens": _round(math.log10(s_total), 4) if s_total > 0 else None,
        "tumour_control_probability": _sig(math.exp(-s_total)),
        "cells_per_mL": _sig(cells * _M3_PER_ML),
        "clonogenic_fraction": clono,
    }

    # ---- heat sink
    vessels = label == Label.LARGE_VESSEL
    heat: dict = {
        "large_vessels_present": bool(vessels.any()),
        "vessel_distance_mm": float(vessel_distance_mm),
    }
    if vessels.any():
        dvess = ndimage.distance_transform_edt(~vessels, sampling=h)  # [m]
        near = (dvess <= vessel_distance_mm / _MM_PER_M) & ~vessels
    else:
        dvess = None
        near = np.zeros(g.shape, dtype=bool)
    via = tum * survival
    heat["near_vessel"] = {
        "surviving_clonogens": _sig(float(n_surv[near].sum())),
        "viable_tumour_volume_mL": _sig(float(via[near].sum()) * dv / _M3_PER_ML),
    }
    heat["elsewhere"] = {
        "surviving_clonogens": _sig(float(n_surv[~near].sum())),
        "viable_tumour_volume_mL": _sig(float(via[~near].sum()) * dv / _M3_PER_ML),
    }
    heat["surviving_clonogens_near_vessel_fraction"] = (
        _round(float(n_surv[near].sum()) / s_total) if s_total > 0 else None
    )
    for key, zm in masks.items():
        # centre-to-centre distance minus one voxel: 0 when the zone touches a vessel voxel
        gap = None
        if dvess is not None and zm.any():
            gap = round(max(float(dvess[zm].min()) - float(h.min()), 0.0) * _MM_PER_M, 3)
        zones[key]["gap_to_large_vessel_mm"] = gap
    heat["zone_gap_to_large_vessel_mm"] = zones[irreversible_key]["gap_to_large_vessel_mm"]
    heat["peak_temperature_contrast"] = _heat_sink_contrast(
        result,
        peak if result.is_thermal else None,
        dvess,
        tissue & ~vessels,
        adjacent_m=heat_sink_adjacent_mm / _MM_PER_M,
        elsewhere_m=vessel_distance_mm / _MM_PER_M,
        window_m=heat_sink_window_mm / _MM_PER_M,
    )

    hyps = result.settings.get("hypotheses", []) if isinstance(result.settings, dict) else []
    hyps = [h.get("name", str(h)) if isinstance(h, dict) else h for h in hyps]
    return {
        "schema_version": SCHEMA_VERSION,
        "tissuefate_version": __version__,
        "name": str(result.name),
        "modality": str(result.modality),
        "grid": {
            "shape_voxels": [int(s) for s in g.shape],
            "spacing_mm": [round(x * _MM_PER_M, 6) for x in g.spacing_m],
            "origin_mm": [round(x * _MM_PER_M, 6) for x in g.origin_m],
            "voxel_volume_mL": _sig(dv / _M3_PER_ML),
        },
        "applicator": {
            "n_applicators": len(result.placements),
            "kind": str(p0.kind),
            "active_centre_mm": [round(float(c) * _MM_PER_M, 3) for c in p0.active_centre_m],
            "axis_direction_unit": [round(float(c), 6) for c in axis],
            "active_length_mm": round(float(p0.active_length_m) * _MM_PER_M, 3),
        },
        "zones": zones,
        "margin": margin,
        "normal_tissue": normal,
        "tumour": tumour,
        "heat_sink": heat,
        "thermal": _thermal_summary(result, tissue),
        "details": dict(result.details),
        "delivery": _delivery_summary(result),
        "impedance": _impedance_summary(result),
        "traces": _downsample(result.traces),
        "hypotheses_active": [str(x) for x in hyps],
        "wall_time_s": _round(result.wall_time_s, 3),
    }


def _heat_sink_contrast(
    result, peak_K, dvess_m, tissue, *, adjacent_m, elsewhere_m, window_m
) -> dict:
    """Mean peak temperature next to large vessels vs. distance-matched tissue away from them.

    Tissue within ``window_m`` of an active segment is binned by its distance r to the
    applicator (one-voxel bins). "Adjacent": within ``adjacent_m`` of a large vessel;
    "elsewhere": farther than ``elsewhere_m``. The elsewhere mean is weighted by the adjacent
    voxel count of each bin, so both means refer to the same distribution of r (bins that lack
    either group are dropped).
    """
    out: dict = {
        "adjacent_mm": round(adjacent_m * _MM_PER_M, 3),
        "elsewhere_beyond_mm": round(elsewhere_m * _MM_PER_M, 3),
        "window_mm": round(window_m * _MM_PER_M, 3),
        "near_vessel_mean_degC": None,
        "elsewhere_mean_degC": None,
        "difference_degC": None,
        "n_voxels_near_vessel": 0,
        "n_voxels_elsewhere": 0,
    }
    if dvess_m is None or peak_K is None:
        return out
    g = result.grid
    r = np.full(g.shape, np.inf)
    for p in result.placements:
        a = np.asarray(p.tip_m, float)
        b = a + p.active_length_m * np.asarray(p.direction, float)
        r = np.minimum(r, distance_to_segment_m(g, a, b))
    inside = tissue & (r <= window_m)
    adj = inside & (dvess_m <= adjacent_m)
    far = inside & (dvess_m > elsewhere_m)
    if not adj.any() or not far.any():
        out["n_voxels_near_vessel"] = int(adj.sum())
        out["n_voxels_elsewhere"] = int(far.sum())
        return out
    bw = float(min(g.spacing_m))
    nb = int(np.ceil(window_m / bw)) + 1
    b_adj = np.minimum((r[adj] / bw).astype(int), nb - 1)
    b_far = np.minimum((r[far] / bw).astype(int), nb - 1)
    n_adj = np.bincount(b_adj, minlength=nb)
    s_adj = np.bincount(b_adj, weights=peak_K[adj], minlength=nb)
    n_far = np.bincount(b_far, minlength=nb)
    s_far = np.bincount(b_far, weights=peak_K[far], minlength=nb)
    both = (n_adj > 0) & (n_far > 0)
    if not both.any():
        return out
    w = n_adj[both].astype(float)
    mean_adj = float(s_adj[both].sum() / w.sum())
    mean_far = float(np.sum(w * s_far[both] / n_far[both]) / w.sum())
    out.update(
        near_vessel_mean_degC=round(mean_adj - _K0, 3),
        elsewhere_mean_degC=round(mean_far - _K0, 3),
        difference_degC=round(mean_adj - mean_far, 3),
        n_voxels_near_vessel=int(n_adj[both].sum()),
        n_voxels_elsewhere=int(n_far[both].sum()),
    )
    return out
