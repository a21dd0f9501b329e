"""Calibration checks of the fate model against the histology timeline of literature.md §5.

One synthetic case serves all checks: a spherical thermal (RFA-like) coagulation zone of 12 mm
diameter in homogeneous liver (a rabbit-sized zone; the diameter is an assumption [E], the
J Surg Res 2008 zone size is not in literature.md), with a 0.8 mm sub-lethal transition rim
(RFA acute boundary 811 ± 477 µm, PMC5744668 [V], literature.md §2). Its Arrhenius Ω is
prescribed, not simulated, so that the checks test the fate model alone.

Each ``case_*`` function returns a list of dicts with ``case``, ``quantity``, ``simulated``,
``reference``, ``tolerance``, ``passed``, ``source``, ``kind`` (``calibration`` or ``prediction``)
and ``note`` — one row of ``tissuefate validate`` each.

Two parameters were tuned (tag ``cal`` in :data:`~tissuefate.tissue.properties.FATE`), jointly, on this
case: ``fixed_clearance_rate_per_day`` (involution at 10 weeks) and ``fibrosis_rate_per_day`` (rim at
1–2 weeks), from a 2 × 2 × 2 scan (fibrosis 0.15 / 0.5, fixed front speed 0.025 / 0.04 mm/day, fixed
clearance 0.03 / 0.06 per day) in which every row below was visible. So these rows are calibration,
not prediction; only the core and progressive-fibrosis rows passed in every scanned combination.
"""

from __future__ import annotations

import functools

import numpy as np

from ..anatomy.block import block_state
from ..grid import Grid
from ..therapy.result import SessionResult
from ..tissue.properties import DAMAGE
from .healing import FateModel
from .transition import post_session_state

__all__ = [
    "synthetic_thermal_lesion",
    "thermal_lesion_followup",
    "case_coagulated_core",
    "case_fibrous_rim",
    "case_rfa_involution",
    "fate_calibration_rows",
    "FATE_CASES",
]

_SRC_DU = "Du 2007 (rabbit RFA), literature.md §5 [V]"
_SRC_TSUDA = "Tsuda (rabbit): fibrosis around a persisting coagulated core, 3 d - 12 weeks, literature.md §5 [V]"
_SRC_INVOL = "J Surg Res 150:60, 2008 (rabbit RFA): zone ≈ 50 % of initial volume at 10 weeks, literature.md §5 [V]"

#: Days at which the follow-up is sampled (1, 2, 4, 8 and 10 weeks).
SNAPSHOT_DAYS = (7.0, 14.0, 28.0, 56.0, 70.0)
#: Rim shell around the coagulated zone's edge: from 1.5 mm inside to 1.0 mm outside [m].
RIM_INSIDE_M, RIM_OUTSIDE_M = 1.5e-3, 1.0e-3
#: Scar fraction that makes a voxel part of a detectable fibrous rim / capsule [1] (E: a choice).
RIM_SCAR_THRESHOLD = 0.05
CAPSULE_SCAR_THRESHOLD = 0.2


def synthetic_thermal_lesion(diameter_m: float = 12e-3, *, spacing_m: float = 0.5e-3,
                             transition_m: float = 0.8e-3, margin_m: float = 4e-3,
                             dtype=np.float32) -> SessionResult:
    r"""A hand-made RFA session: a sphere of Ω ≥ 4.6 in a block of liver.

    Parameters
    ----------
    diameter_m : float
        Diameter of the coagulated sphere (Ω ≥ 4.6) [m].
    spacing_m : float
        Voxel size [m].
    transition_m : float
        Width over which Ω falls from 4.6 to 0.046 (99 % → 4.5 % kill) outside the sphere [m].
    margin_m : float
        Liver beyond the transition zone on each side [m].

    Notes
    -----
    .. math:: \Omega(r) = 4.6\,\min\bigl(1,\ 100^{-(r - R)/w}\bigr)\cdot(1 + 4\,[r < R])

    (Ω = 23 inside, so the core is fully coagulated; no applicator voxels.)
    """
    R = 0.5 * diameter_m
    n = int(np.ceil(2 * (R + transition_m + margin_m) / spacing_m))
    g = Grid.cube(n, spacing_m)
    st = block_state(g, dtype=dtype)
    x, y, z = g.coordinates_m()
    r = np.sqrt(x * x + y * y + z * z)
    om_c = DAMAGE["omega_complete"].value
    omega = np.where(r < R, 5.0 * om_c, om_c * 100.0 ** (-(r - R) / transition_m)).astype(dtype)
    return SessionResult(f"synthetic RFA sphere {diameter_m * 1e3:g} mm", "rfa", g, st, [], omega=omega)


@functools.lru_cache(maxsize=4)
def thermal_lesion_followup(model: FateModel | None = None, *, diameter_m: float = 12e-3,
                            spacing_m: float = 0.5e-3) -> dict:
    """Follow :func:`synthetic_thermal_lesion` for 10 weeks (cached).

    Returns
    -------
    dict
        ``result`` (the session), ``state0`` (after the session), ``snapshots`` (day → state at
        :data:`SNAPSHOT_DAYS`), ``traces`` (concatenated), ``r_m`` (distance from the centre [m]),
        ``radius_m`` (coagulated radius).
    """
    model = model or FateModel.from_properties()
    res = synthetic_thermal_lesion(diameter_m, spacing_m=spacing_m)
    st = post_session_state(res)
    snaps, parts, t0 = {}, [], 0.0
    cur = st
    for day in SNAPSHOT_DAYS:
        cur, tr = model.advance(cur, day - t0, doubling_time_days=np.inf)
        tr = dict(tr)
        tr["time_days"] = tr["time_days"] + t0
        if parts:
            tr["regenerated_volume_m3"] = tr["regenerated_volume_m3"] + parts[-1]["regenerated_volume_m3"][-1]
        parts.append(tr if not parts else {k: v[1:] for k, v in tr.items() if np.ndim(v)})
        snaps[day] = cur
        t0 = day
    keys = [k for k in parts[0] if np.ndim(parts[0][k])]
    traces = {k: np.concatenate([p[k] for p in parts]) for k in keys}
    traces["involution"] = traces["zone_volume_m3"] / traces["zone_volume_m3"][0]
    x, y, z = res.grid.coordinates_m()
    return {"result": res, "state0": st, "snapshots": snaps, "traces": traces,
            "r_m": np.sqrt(x * x + y * y + z * z), "radius_m": 0.5 * diameter_m}


def _rim(f: dict) -> np.ndarray:
    R = f["radius_m"]
    return (f["r_m"] >= R - RIM_INSIDE_M) & (f["r_m"] <= R + RIM_OUTSIDE_M)


def _row(case, quantity, sim, ref, tol, passed, source, kind="prediction", note=""):
    return {"case": case, "quantity": quantity, "simulated": float(sim), "reference": float(ref),
            "tolerance": tol, "passed": bool(passed), "source": source, "kind": kind, "note": note}


def case_coagulated_core(model: FateModel | None = None) -> list[dict]:
    """The coagulated core is not cleared within 4 weeks (literature.md §5)."""
    f = thermal_lesion_followup(model)
    s0, s28 = f["state0"], f["snapshots"][28.0]
    fixed0 = float(np.sum(s0.debris.astype(float) * s0.fixed))
    fixed28 = float(np.sum(s28.debris.astype(float) * s28.fixed))
    frac = fixed28 / fixed0
    centre = f["r_m"] <= 0.25 * f["radius_m"]
    core_debris = float(s28.debris[centre].mean())
    case = "RFA sphere 12 mm, 4 weeks"
    return [
        _row(case, "heat-fixed debris left at 28 d / at 0 d", frac, 1.0, "> 0.5 (not cleared)", frac > 0.5,
             _SRC_TSUDA + "; " + _SRC_DU),
        _row(case, "debris fraction in the central quarter radius at 28 d", core_debris, 1.0, "> 0.95",
             core_debris > 0.95, _SRC_TSUDA),
    ]


def _first_day(days, values, thr):
    for d, v in zip(days, values, strict=True):
        if v >= thr:
            return d
    return np.inf


def case_fibrous_rim(model: FateModel | None = None) -> list[dict]:
    """A fibrous rim forms at 1–2 weeks and a closed capsule by 4–8 weeks (literature.md §5)."""
    f = thermal_lesion_followup(model)
    rim = _rim(f)
    days = list(SNAPSHOT_DAYS)
    # rim: the shell's mean scar; capsule: the fraction of the shell's voxels with scar above threshold
    mean_scar = [float(f["snapshots"][d].scar[rim].mean()) for d in days]
    covered = [float(np.mean(f["snapshots"][d].scar[rim] >= CAPSULE_SCAR_THRESHOLD)) for d in days]
    onset = _first_day(days, mean_scar, RIM_SCAR_THRESHOLD)
    capsule = _first_day(days, covered, 0.5)
    case = "RFA sphere 12 mm, rim"
    note = (f"rim = shell {RIM_INSIDE_M * 1e3:g} mm inside to {RIM_OUTSIDE_M * 1e3:g} mm outside the coagulated "
            f"edge; mean scar at 7/14/28/56/70 d = {', '.join(f'{v:.3f}' for v in mean_scar)}; "
            f"fraction with scar >= {CAPSULE_SCAR_THRESHOLD} = {', '.join(f'{v:.2f}' for v in covered)}; "
            "sampled at 1, 2, 4, 8, 10 weeks only")
    return [
        _row(case, f"first sampled day with rim mean scar >= {RIM_SCAR_THRESHOLD} [day]", onset, 14.0,
             "7-14 d", 7.0 <= onset <= 14.0, _SRC_DU, kind="calibration", note=note),
        _row(case, f"first sampled day with >= 50 % of the rim at scar >= {CAPSULE_SCAR_THRESHOLD} [day]", capsule,
             56.0, "28-56 d", 28.0 <= capsule <= 56.0, _SRC_DU + "; " + _SRC_TSUDA, kind="calibration",
             note=note),
        _row(case, "rim mean scar at 56 d / at 14 d (progressive fibrosis)",
             mean_scar[3] / max(mean_scar[1], 1e-12), 1.0, "> 1", mean_scar[3] > mean_scar[1], _SRC_TSUDA,
             note=note),
    ]


def case_rfa_involution(model: FateModel | None = None) -> list[dict]:
    """RFA zone ≈ 50 % of its initial volume at 10 weeks (rabbit; literature.md §5) — the ``cal`` case
    of ``fixed_front_speed_mm_per_day``."""
    f = thermal_lesion_followup(model)
    tr = f["traces"]
    i70 = float(np.interp(70.0, tr["time_days"], tr["involution"]))
    return [_row("RFA sphere 12 mm, 10 weeks", "zone content (debris + scar) at 70 d / at 0 d", i70, 0.5,
                 "±0.1", abs(i70 - 0.5) <= 0.1, _SRC_INVOL, kind="calibration",
                 note="calibrated: fixed_clearance_rate_per_day tuned on this case (tag cal); zone = volume "
                      "of debris + scar; the 12 mm rabbit-sized diameter is an assumption [E]")]


#: name → function, for registration in ``tissuefate validate``.
FATE_CASES = {
    "fate_coagulated_core": case_coagulated_core,
    "fate_fibrous_rim": case_fibrous_rim,
    "fate_rfa_involution": case_rfa_involution,
}


def fate_calibration_rows(model: FateModel | None = None) -> list[dict]:
    """All fate calibration rows."""
    return [row for fn in FATE_CASES.values() for row in fn(model)]
