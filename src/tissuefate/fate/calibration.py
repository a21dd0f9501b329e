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
    "case_conservation",
    "case_doubling",
    "case_sensitivity",
    "fate_sensitivity",
    "fate_sensitivity_markdown",
    "EXPECTED_DIRECTIONS",
    "FATE_VERIFICATION_CASES",
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


# --------------------------------------------------------------------------- verification (issue 4)

#: Rows of :func:`case_conservation`: lesion, follow-up and chunk length.
CONSERVATION_DAYS, CONSERVATION_CHUNK_DAYS = 120.0, 10.0


def case_conservation(model: FateModel | None = None) -> list[dict]:
    """Invariants over 120 days of the synthetic lesion with secondary ischaemic death on.

    A 12 mm RFA sphere at 1 mm inside a 14 mm tumour (a rim of sub-lethally treated tumour with
    reduced microvessels, so that ischaemic death, regrowth and clearance all act), followed with
    ``check=True`` (the invariants asserted after every step) in 10-day chunks; the rows report the
    smallest fraction and the largest occupancy T + N + D + S seen at the chunk ends.
    """
    from ..anatomy.block import block_state
    from ..hypotheses import HypothesisSet
    from .healing import occupancy

    hs = HypothesisSet.from_config(["secondary_ischaemic_death"])
    model = model or FateModel.from_properties(hs)
    # float64 state: the invariants hold to rounding of the float64 step, not of a float32 store
    res = synthetic_thermal_lesion(12e-3, spacing_m=1e-3, margin_m=3e-3, dtype=np.float64)
    res.state = block_state(res.grid, tumour_diameter_m=14e-3, dtype=np.float64)
    st = post_session_state(res, hypotheses=hs)
    lo, hi, error = np.inf, -np.inf, ""
    t = 0.0
    try:
        while t < CONSERVATION_DAYS - 1e-9:
            st, _ = model.advance(st, CONSERVATION_CHUNK_DAYS, doubling_time_days=100.0, check=True)
            t += CONSERVATION_CHUNK_DAYS
            fr = [np.asarray(getattr(st, f), np.float64) for f in ("tumour", "normal", "debris", "fixed", "scar",
                                                                  "ecm", "vascular", "inflammation")]
            lo = min(lo, min(float(a.min()) for a in fr))
            hi = max(hi, float(occupancy(st).max()))
    except AssertionError as e:  # check=True found a violation inside a chunk
        error = f"; invariant violated after {t:g} d: {e}"
    case = "fate invariants, 12 mm RFA sphere in a 14 mm tumour, 120 d"
    note = (f"hypotheses {', '.join(model.hypotheses) or 'none'}; Td = 100 d; check=True every step, extremes "
            f"sampled every {CONSERVATION_CHUNK_DAYS:g} d; float64 state{error}")
    src = "occupancy invariant (fate.healing module docstring)"
    return [
        _row(case, "smallest fraction (T, N, D, F, S, E, V, I)", lo, 0.0, ">= 0", lo >= 0.0 and not error, src,
             kind="verification", note=note),
        _row(case, "largest occupancy T + N + D + S", hi, 1.0, "<= 1 + 1e-9", hi <= 1.0 + 1e-9 and not error, src,
             kind="verification", note=note),
    ]


def case_doubling(model: FateModel | None = None, *, doubling_time_days: float = 100.0,
                  backend: str | None = None) -> list[dict]:
    r"""An isolated, unconstrained tumour residual grows as :math:`2^{t/T_d}`.

    One voxel of tumour fraction 1e-4 in the centre of a 12³ block (1 mm) without parenchyma,
    debris or scar (:math:`K = 1`, :math:`T \ll K`), followed for :math:`2 T_d`: the invasion
    Laplacian conserves the sum, so :math:`\sum T(2T_d) / \sum T(0) = 4` up to the logistic term
    (:math:`O(T)`) and the clonogen floor.
    """
    from ..anatomy.block import block_state

    model = model or FateModel.from_properties()
    g = Grid.cube(12, 1e-3)
    st = block_state(g, dtype=np.float64)
    st.normal[...] = 0.0
    c = tuple(n // 2 for n in g.shape)
    st.tumour[c] = 1e-4
    t_end = 2.0 * doubling_time_days
    _, tr = model.advance(st, t_end, doubling_time_days=doubling_time_days, record_every_days=t_end,
                          backend=backend)
    ratio = float(tr["tumour_volume_m3"][-1] / tr["tumour_volume_m3"][0])
    ref = 2.0 ** (t_end / doubling_time_days)
    return [_row(f"fate tumour doubling, isolated residual, Td = {doubling_time_days:g} d",
                 f"total tumour at {t_end:g} d / at 0 d", ratio, ref, "±1 %", abs(ratio - ref) <= 0.01 * ref,
                 "analytic: sum T = T0 2^(t/Td) (fate.healing module docstring)", kind="verification",
                 note=f"1 mm grid, 12^3 voxels, no parenchyma, T0 = 1e-4 in one voxel; "
                      f"dt = {float(tr['dt_days']):g} d")]


# --------------------------------------------------------------------------- sensitivity (issue 4)

#: Lesion and follow-up of the sensitivity runs: the 12 mm sphere of the calibration case on a coarse
#: 1 mm grid (directions checked against 0.5 mm: same signs), no tumour, 90 days.
SENSITIVITY_DIAMETER_M, SENSITIVITY_SPACING_M, SENSITIVITY_DAYS = 12e-3, 1e-3, 90.0
#: Factors applied to each parameter.
SENSITIVITY_FACTORS = (0.5, 2.0)
#: Relative change below which an outcome counts as unchanged (direction ``none``).
SENSITIVITY_RTOL = 1e-4
#: Outcomes at 90 days: name → (trace key, meaning).
SENSITIVITY_OUTCOMES = {
    "involution": ("involution", "zone content (debris + scar) at 90 d / at 0 d"),
    "scar": ("scar_volume_m3", "scar volume at 90 d"),
}
_INV, _SCAR = "involution", "scar"

#: Documented direction of each outcome when a :class:`FateModel` parameter increases, with its
#: reason: ``+`` the outcome rises, ``-`` it falls, ``none`` no effect, ``mixed`` not monotone
#: around the default (competing effects). "Involution" is the zone-content ratio, so ``-`` means
#: more involution.
EXPECTED_DIRECTIONS: dict[str, dict[str, tuple[str, str]]] = {
    "clearance_rate_per_day": {
        _INV: ("-", "the non-fixed debris of the sub-lethal rim is cleared faster"),
        _SCAR: ("-", "less persisting debris to drive inflammation and fibrosis (both scale with D)"),
    },
    "fixed_clearance_rate_per_day": {
        _INV: ("-", "the coagulum is resorbed faster behind the vessel front"),
        _SCAR: ("mixed", "fibrosis needs debris (drive) and free space (room), which only clearance makes: "
                         "slower clearance leaves no room, faster clearance removes the drive"),
    },
    "fixed_front_speed_mm_per_day": {
        _INV: ("-", "vessels, and with them clearance, reach the coagulum sooner"),
        _SCAR: ("+", "coagulum is organised behind the front: vessels recruit inflammation and clearance "
                     "makes room, so a faster front lays down more scar by 90 d"),
    },
    "vessel_front_speed_mm_per_day": {
        _INV: ("-", "vessels regrow faster into the rim and the partly fixed edge, clearing it sooner"),
        _SCAR: ("+", "as the fixed front speed: scar forms behind the vessel front"),
    },
    "fibrosis_rate_per_day": {
        _INV: ("+", "more of the cleared space becomes scar, which stays in the zone"),
        _SCAR: ("+", "collagen is laid down faster"),
    },
    "scar_max_fraction": {
        _INV: ("+", "each voxel keeps more scar instead of free (collapsing) space"),
        _SCAR: ("+", "the scar cap rises"),
    },
    "inflammation_half_life_days": {
        _INV: ("+", "longer inflammation, more fibrosis, more scar in the zone"),
        _SCAR: ("+", "fibrosis scales with inflammation, which lasts longer"),
    },
    "inflammation_recruitment_per_day": {
        _INV: ("+", "more inflammation, more fibrosis, more scar in the zone"),
        _SCAR: ("+", "fibrosis scales with inflammation, recruited faster"),
    },
    "regeneration_rate_per_day": {
        _INV: ("-", "regenerated parenchyma takes free space that fibrosis would fill (small effect)"),
        _SCAR: ("-", "as for involution: less room for scar where the matrix is intact"),
    },
    "tumour_invasion_length_mm": {
        _INV: ("none", "control: the lesion holds no surviving tumour (Td = inf)"),
        _SCAR: ("none", "control: no tumour"),
    },
}

_DIR_CODE = {"+": 1.0, "-": -1.0, "none": 0.0, "mixed": 2.0}


def _direction(base: float, lo: float, hi: float, rtol: float = SENSITIVITY_RTOL) -> str:
    """Direction of an outcome with a parameter from its values at ×0.5 (``lo``) and ×2 (``hi``)."""
    tol = rtol * abs(base)

    def sign(d):
        return 1 if d > tol else (-1 if d < -tol else 0)

    s_lo, s_hi = sign(lo - base), sign(hi - base)
    if s_lo == s_hi == 0:
        return "none"
    if s_hi >= 0 and s_lo <= 0:
        return "+"
    if s_hi <= 0 and s_lo >= 0:
        return "-"
    return "mixed"


@functools.lru_cache(maxsize=2)
def fate_sensitivity(backend: str = "numpy") -> tuple[dict, ...]:
    """One-at-a-time sensitivity of the fate model on the synthetic lesion (cached).

    Each parameter of :data:`EXPECTED_DIRECTIONS` is multiplied by 0.5 and 2 (the rest at their
    defaults) and the lesion (:data:`SENSITIVITY_DIAMETER_M` at :data:`SENSITIVITY_SPACING_M`) is
    followed for :data:`SENSITIVITY_DAYS` days without tumour growth. The NumPy reference is the
    default: on a 20³ grid it is faster than the parallel kernel when the cores are shared (≈ 3 s
    for the 21 runs on 2 busy cores), and its sums do not depend on the thread count, so
    docs/fate_sensitivity.md reproduces exactly.

    Returns
    -------
    tuple of dict
        Per parameter and outcome: ``parameter``, ``default``, ``outcome``, ``base``, ``low``, ``high``
        (outcome at ×0.5 and ×2), ``change_low``, ``change_high`` (relative), ``expected``,
        ``simulated`` (direction), ``reason``, ``passed``.
    """
    res = synthetic_thermal_lesion(SENSITIVITY_DIAMETER_M, spacing_m=SENSITIVITY_SPACING_M, margin_m=3e-3)
    st = post_session_state(res)
    base_model = FateModel.from_properties()

    def outcomes(m):
        _, tr = m.advance(st, SENSITIVITY_DAYS, doubling_time_days=np.inf, record_every_days=SENSITIVITY_DAYS,
                          backend=backend)
        return {k: float(tr[key][-1]) for k, (key, _) in SENSITIVITY_OUTCOMES.items()}

    base = outcomes(base_model)
    out = []
    for pname, exp in EXPECTED_DIRECTIONS.items():
        default = float(getattr(base_model, pname))
        lo, hi = (outcomes(FateModel.from_properties(**{pname: default * f})) for f in SENSITIVITY_FACTORS)
        for oname in SENSITIVITY_OUTCOMES:
            b = base[oname]
            sim = _direction(b, lo[oname], hi[oname])
            out.append({"parameter": pname, "default": default, "outcome": oname, "base": b, "low": lo[oname],
                        "high": hi[oname], "change_low": lo[oname] / b - 1.0, "change_high": hi[oname] / b - 1.0,
                        "expected": exp[oname][0], "simulated": sim, "reason": exp[oname][1],
                        "passed": sim == exp[oname][0]})
    return tuple(out)


def case_sensitivity(model: FateModel | None = None) -> list[dict]:
    """One row per parameter × outcome of :func:`fate_sensitivity`: the simulated direction equals the
    documented one (:data:`EXPECTED_DIRECTIONS`). ``model`` is ignored (the defaults are varied)."""
    case = (f"fate sensitivity, {SENSITIVITY_DIAMETER_M * 1e3:g} mm RFA sphere, "
            f"{SENSITIVITY_SPACING_M * 1e3:g} mm grid, {SENSITIVITY_DAYS:g} d")
    rows = []
    for r in fate_sensitivity():
        rows.append(_row(
            case, f"direction of {r['outcome']} with {r['parameter']} (+1 up, -1 down, 0 none, 2 mixed)",
            _DIR_CODE[r["simulated"]], _DIR_CODE[r["expected"]],
            f"same direction; |change| <= {SENSITIVITY_RTOL:g} counts as none", r["passed"],
            "documented expectation (fate.calibration.EXPECTED_DIRECTIONS; docs/fate_sensitivity.md)",
            kind="verification",
            note=f"x0.5: {100 * r['change_low']:+.2f} %, x2: {100 * r['change_high']:+.2f} %; {r['reason']}"))
    return rows


def _fmt_pct(x: float) -> str:
    return f"{100 * x:+.1f} %"


def fate_sensitivity_markdown() -> str:
    """docs/fate_sensitivity.md, generated from :func:`fate_sensitivity` so that the two cannot drift."""
    res = fate_sensitivity()
    out = [
        "# Fate model sensitivity",
        "",
        "<!-- generated by tissuefate.fate.calibration.fate_sensitivity_markdown(); do not edit by hand -->",
        "",
        "One parameter of `FateModel` at a time is multiplied by "
        f"{' and '.join(f'{f:g}' for f in SENSITIVITY_FACTORS)} "
        "(the others at their literature defaults, no hypothesis active) and the synthetic thermal lesion "
        f"(`fate.calibration.synthetic_thermal_lesion`: a {SENSITIVITY_DIAMETER_M * 1e3:g} mm coagulated sphere with a "
        f"0.8 mm sub-lethal rim, here on a coarse {SENSITIVITY_SPACING_M * 1e3:g} mm grid) is followed for "
        f"{SENSITIVITY_DAYS:g} days without tumour. Outcomes at {SENSITIVITY_DAYS:g} days:",
        "",
    ]
    out += [f"- **{k}**: {meaning}" for k, (_, meaning) in SENSITIVITY_OUTCOMES.items()]
    out += [
        "",
        "The *expected* direction (`fate.calibration.EXPECTED_DIRECTIONS`) is what the outcome does when the "
        "parameter increases, written down with its reason: `+` rises, `-` falls, `none` no effect, `mixed` "
        "not monotone around the default (competing effects). The *simulated* direction is `+` when the "
        "outcome does not fall at ×2 and does not rise at ×0.5 (and moves in at least one), `-` the mirror "
        f"image, `none` when both changes are within {SENSITIVITY_RTOL:g} of the base value, `mixed` otherwise. "
        "Each parameter × outcome is one verification row of `tissuefate validate` (case `fate_sensitivity`), "
        "which passes when the two agree. The directions were checked on a 0.5 mm grid (same signs); "
        "the magnitudes are those of this coarse grid and this lesion only. Honesty note: the scar directions "
        "of `fixed_clearance_rate_per_day` (`mixed`), `fixed_front_speed_mm_per_day` and "
        "`vessel_front_speed_mm_per_day` (`+`) were written down, with their reasons, *after* the first "
        "simulation showed them (the others before); for an 8 mm lesion the front-speed scar directions come "
        "out `mixed`, so these rows guard the documented behaviour of this lesion against regressions rather "
        "than test a prediction.",
        "",
        "| parameter | default | outcome | change at ×0.5 | change at ×2 | expected | simulated | pass | reason |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in res:
        out.append(f"| `{r['parameter']}` | {r['default']:g} | {r['outcome']} | {_fmt_pct(r['change_low'])} | "
                   f"{_fmt_pct(r['change_high'])} | `{r['expected']}` | `{r['simulated']}` | "
                   f"{'yes' if r['passed'] else '**no**'} | {r['reason']} |")
    base = {r["outcome"]: r["base"] for r in res}
    out += ["", f"Base values: involution {base[_INV]:.3f}, scar volume {base[_SCAR] * 1e9:.1f} mm³.",
            "",
            "Regenerate with `python -c 'from tissuefate.fate.calibration import fate_sensitivity_markdown as f; "
            "open(\"docs/fate_sensitivity.md\", \"w\").write(f() + \"\\n\")'`."]
    return "\n".join(out)


#: name → function of the verification rows (registered in ``tissuefate validate``).
FATE_VERIFICATION_CASES = {
    "fate_conservation": case_conservation,
    "fate_doubling": case_doubling,
    "fate_sensitivity": case_sensitivity,
}
