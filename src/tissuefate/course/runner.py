r"""Multi-session courses: treat, let the tissue heal, replan on what is left, treat again.

A course (DESIGN.md §3.3–3.5, issue 4) carries one patient's tissue state through a strategy:

1. the scenario's anatomy gives the region of interest (day 0);
2. before each scheduled session the planner reads the state — viable tumour left above
   ``residual_threshold``, scar, vessels — and aims the applicators at the residual
   (:func:`residual_target`); cryo / IRE with ``layout = "planned"`` size their layout for the
   residual plus the margin, injections with ``injection_volume = "shiina"`` size the volume;
3. the session runs on the carried state (scar and fixed necrosis change its physics through the
   property maps; :mod:`tissuefate.tissue.maps`, :mod:`tissuefate.physics.injection`);
4. :func:`~tissuefate.fate.post_session_state` turns the kill into debris and the tissue-fate model
   (:class:`~tissuefate.fate.FateModel`) advances it to the next session;
5. sessions stop at complete response (no detectable viable tumour), at the session cap, or when
   the planner cannot reach the residual (the reason is recorded); follow-up continues to the
   horizon and detects local tumour progression.

Response assessment is idealised and documented as such: the model's viable tumour volume is
compared with the volume of a sphere of ``detection_diameter_mm`` (imaging sees less than this
model does). Complete response is the first assessment with less viable tumour than that; local
tumour progression is regrowth to it after a complete response.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from ..backends.threads import single_threaded_blas
from ..errors import GeometryError, TissuefateError
from ..tissue.state import TissueState

__all__ = ["CourseResult", "residual_target", "run_course", "COURSE_TRACE_META", "STOP_REASONS"]

#: Why a course stopped treating (``metrics["stop_reason"]``).
STOP_REASONS = {
    "complete_response": "no detectable viable tumour at an assessment",
    "session_cap": "every scheduled session was given",
    "unreachable": "the planner could not place applicators for the residual (see stop_detail)",
    "numerical_failure": "a session failed numerically (see stop_detail)",
}

#: Units and meanings of the course traces (absolute days from the first session).
COURSE_TRACE_META = {
    "day": ("day", "days since the first session"),
    "tumour_volume_mL": ("mL", "viable tumour volume"),
    "expected_clonogens": ("1", "expected surviving clonogens (TCP = exp(-this))"),
    "zone_volume_mL": ("mL", "ablation-zone content (debris + scar)"),
    "involution": ("1", "zone volume relative to its value right after the first session"),
    "scar_volume_mL": ("mL", "scar volume"),
    "debris_volume_mL": ("mL", "necrotic debris volume"),
    "regenerated_volume_mL": ("mL", "parenchyma regenerated since the first session (cumulative)"),
    "cleared_g_per_day": ("g/day", "necrotic mass cleared per day (tumour-lysis / resorption load)"),
}

_ML = 1e6


@dataclass
class CourseResult:
    """A course on one patient.

    Attributes
    ----------
    name, strategy : str
    scenario : Scenario
    sessions : list of SessionResult
        Every ablation given (with ``metrics`` filled in; a thermal session with overlapping
        ablations contributes one per position); empty fields when ``keep_fields`` was False.
    session_days : list of float
    session_index : list of int
        The course session (1, 2, …) each entry of ``sessions`` belongs to.
    plans : list of dict
        What the planner saw and decided before each session (and the refused one, if any).
    traces : dict of str → ndarray
        :data:`COURSE_TRACE_META` over the whole course.
    snapshots : list of (day, label, TissueState)
        The tissue right after each session and at the horizon (for figures).
    state : TissueState
        The tissue at the horizon.
    metrics : dict
        Course outcomes (docs/metrics.md, "Course").
    """

    name: str
    strategy: str
    scenario: object
    sessions: list = field(default_factory=list)
    session_days: list = field(default_factory=list)
    session_index: list = field(default_factory=list)
    plans: list = field(default_factory=list)
    traces: dict = field(default_factory=dict)
    snapshots: list = field(default_factory=list)
    state: TissueState | None = None
    metrics: dict = field(default_factory=dict)
    wall_time_s: float = 0.0


def residual_target(state: TissueState, threshold: float = 0.01) -> dict | None:
    """What the planner aims at: the viable tumour left in ``state``.

    Parameters
    ----------
    state : TissueState
    threshold : float
        Voxels whose viable-tumour fraction is at least this count as residual [1].

    Returns
    -------
    dict or None
        None if no voxel holds residual; otherwise ``centre_m`` (tumour-weighted centroid),
        ``radius_m`` (largest centroid distance of a residual voxel plus half a voxel diagonal:
        a sphere that holds all of it), ``n_voxels``, ``viable_m3`` (Σ tumour × voxel volume over
        the whole region) and ``scar_mean`` (mean scar fraction over the residual voxels).

    Examples
    --------
    >>> from tissuefate.grid import Grid
    >>> from tissuefate.anatomy.block import block_state
    >>> st = block_state(Grid.cube(21, 1e-3), tumour_diameter_m=6e-3)
    >>> t = residual_target(st)
    >>> [round(float(v) * 1e3, 1) + 0.0 for v in t["centre_m"]], round(t["radius_m"] * 1e3, 1)
    ([0.0, 0.0, 0.0], 3.9)
    >>> residual_target(st, threshold=1.5) is None
    True
    """
    T = np.asarray(state.tumour)
    m = T >= threshold
    if not m.any():
        return None
    g = state.grid
    idx = np.argwhere(m)
    xyz = np.asarray(g.origin_m, float) + idx * np.asarray(g.spacing_m, float)
    w = T[m].astype(np.float64)
    c = (xyz * w[:, None]).sum(axis=0) / w.sum()
    r = float(np.sqrt(((xyz - c) ** 2).sum(axis=1)).max()) + 0.5 * float(np.linalg.norm(g.spacing_m))
    return {"centre_m": c, "radius_m": r, "n_voxels": int(m.sum()),
            "viable_m3": float(T.sum(dtype=np.float64) * g.voxel_volume_m3),
            "scar_mean": float(np.asarray(state.scar)[m].mean())}


def _session_scenario(scn, k: int, target: dict, course):
    """The scenario of session ``k``: applicator offset only for the first session, the course
    margin for planned layouts, the injection volume by the course's rule."""
    ap_update = {}
    if k > 0:
        ap_update["offset_mm"] = (0.0, 0.0, 0.0)
    if hasattr(scn.applicator, "plan_margin_mm"):
        ap_update["plan_margin_mm"] = course.margin_mm
    upd = {"applicator": scn.applicator.model_copy(update=ap_update), "course": None}
    plan = {}
    if scn.modality == "injection" and course.injection_volume == "shiina":
        from ..therapy.planning import shiina_total_ethanol_volume_m3

        v = min(shiina_total_ethanol_volume_m3(min(target["radius_m"], 0.1)) * _ML, course.max_volume_per_session_mL)
        upd["injection"] = scn.injection.model_copy(update={"volume_mL": round(v, 3)})
        plan["volume_mL"] = round(v, 3)
        plan["volume_rule"] = "Shiina (residual radius + 5 mm), capped per session"
    return scn.model_copy(update=upd), plan


def _thermal_positions(scn, tgt: dict, course) -> tuple[list[np.ndarray], dict]:
    """Applicator positions of a thermal session: overlapping ablations planned from the published
    size of one ablation (:func:`tissuefate.therapy.planning.plan_overlapping_ablations`) to cover
    the residual plus ``course.margin_mm``; one position at the centre when the device has no
    published size (recorded)."""
    from ..geometry import perpendicular_basis
    from ..therapy.planning import expected_thermal_zone_diameter_m, plan_overlapping_ablations

    ap, p = scn.applicator, scn.protocol
    centre = np.asarray(tgt["centre_m"], float)
    chart = expected_thermal_zone_diameter_m(
        scn.modality, active_length_mm=getattr(ap, "active_length_mm", None),
        frequency_MHz=getattr(ap, "frequency_MHz", None), duration_min=p.duration_min, power_W=p.power_W)
    if chart is None:
        return [centre], {"n": 1, "rule": "no published zone size for these settings: one ablation at the centre "
                                          "(margin_mm not planned)"}
    d, source = chart
    op = plan_overlapping_ablations(min(tgt["radius_m"], 0.1), course.margin_mm * 1e-3, 0.5 * d,
                                    max_positions=course.max_overlapping_ablations)
    e1, e2 = perpendicular_basis(np.asarray(ap.direction, float))
    positions = [centre + o[0] * np.asarray(e1) + o[1] * np.asarray(e2) for o in op.offsets_m]
    info = {"n": op.n, "covered_fraction": round(op.covered_fraction, 4), "zone_diameter_mm": round(d * 1e3, 2),
            "zone_source": source, "need_radius_mm": round(op.need_radius_m * 1e3, 2), "rule": op.rule,
            "offsets_mm": [[round(float(v) * 1e3, 2) for v in o] for o in op.offsets_m]}
    return positions, info


def _assess(state: TissueState, v_det_m3: float) -> tuple[float, bool]:
    v = float(np.asarray(state.tumour, np.float64).sum() * state.grid.voxel_volume_m3)
    return v, v >= v_det_m3


class _Traces:
    """Concatenates fate traces of successive advances onto absolute days."""

    def __init__(self):
        self.parts: list[dict] = []
        self.zone0: float | None = None

    def add(self, day0: float, tr: dict, *, first: bool) -> None:
        t = np.asarray(tr["time_days"], float) + day0
        part = {
            "day": t,
            "tumour_volume_mL": np.asarray(tr["tumour_volume_m3"], float) * _ML,
            "expected_clonogens": np.asarray(tr["expected_clonogens"], float),
            "zone_volume_mL": np.asarray(tr["zone_volume_m3"], float) * _ML,
            "scar_volume_mL": np.asarray(tr["scar_volume_m3"], float) * _ML,
            "debris_volume_mL": np.asarray(tr["debris_volume_m3"], float) * _ML,
            "regenerated_volume_mL": np.asarray(tr["regenerated_volume_m3"], float) * _ML,
            "cleared_g_per_day": np.asarray(tr["cleared_kg_per_day"], float) * 1e3,
        }
        if self.zone0 is None and first:
            self.zone0 = float(part["zone_volume_mL"][0])
        if self.parts:  # regenerated volume is cumulative over the course
            part["regenerated_volume_mL"] = part["regenerated_volume_mL"] + self.parts[-1]["regenerated_volume_mL"][-1]
            if not first:  # the advance restarts at the day the last one ended: drop the duplicate sample
                part = {k: v[1:] for k, v in part.items()}
        self.parts.append(part)

    def result(self) -> dict:
        if not self.parts:
            return {k: np.zeros(0) for k in COURSE_TRACE_META}
        out = {k: np.concatenate([p[k] for p in self.parts]) for k in self.parts[0]}
        z0 = self.zone0 if self.zone0 and self.zone0 > 0 else float("nan")
        out["involution"] = out["zone_volume_mL"] / z0
        return out


@single_threaded_blas
def run_course(scn, progress=None, *, keep_fields: bool = True, fate_overrides: dict | None = None) -> CourseResult:
    """Run the course of a scenario with a ``[course]`` section.

    Parameters
    ----------
    scn : Scenario
        ``scn.course`` must be set.
    progress : callable(fraction, message), optional
    keep_fields : bool
        Keep every session's fields (for figures and NetCDF); False keeps only the metrics
        (trials: less memory).
    fate_overrides : dict, optional
        :class:`~tissuefate.fate.FateModel` attributes replacing the literature values after the
        hypotheses are applied (uncertain parameters of a trial or a sensitivity analysis), e.g.
        ``{"fibrosis_rate_per_day": 0.3}``; recorded in ``metrics["fate_overrides"]``.

    Returns
    -------
    CourseResult
        A course that cannot continue (unreachable residual, numerical failure) ends early with
        its reason in ``metrics["stop_reason"]``; it does not raise.
    """
    from ..config.build import build_session, scenario_state, scenario_table
    from ..fate import FateModel, post_session_state
    from ..fate.transition import acute_volume_change_m3
    from ..therapy.outcomes import session_metrics
    from ..therapy.session import run_session
    from .followup import default_doubling_time_days

    c = scn.course
    if c is None:
        raise TissuefateError(f"scenario {scn.name!r} has no [course] section")
    if scn.numerics.backend is not None:
        # here, not per session: a session's TissuefateError ends the course as a numerical failure
        from ..backends.registry import require_backend

        require_backend(scn.numerics.backend, "numerics.backend")
    t_wall = time.perf_counter()
    hs, dropped = scn.run_hypotheses()
    td = c.doubling_time_days or default_doubling_time_days(scn.anatomy.tumour_type)
    d_det = c.detection_diameter_mm * 1e-3
    v_det = math.pi * d_det ** 3 / 6.0
    days = c.session_days()
    fate = FateModel.from_properties(hypotheses=hs, **(fate_overrides or {}))
    table = scenario_table(scn)
    retreat_scn = scn.retreat_scenario()
    state, target0 = scenario_state(scn)
    tumour0_m3 = float(np.asarray(state.tumour, np.float64).sum() * state.grid.voxel_volume_m3)
    res = CourseResult(scn.name, c.strategy or scn.name, scn)
    traces = _Traces()
    n_steps = len(days) + 1
    day = 0.0
    stop_reason, stop_detail = "session_cap", ""
    cr_day = None
    cr_sessions = None
    assessments = []

    def say(i, f, msg):
        if progress:
            progress(min(1.0, (i + f) / n_steps), msg)

    def advance(to_day, label):
        nonlocal state, day
        if to_day > day + 1e-9:
            state, tr = fate.advance(state, to_day - day, doubling_time_days=td, record_every_days=1.0)
            traces.add(day, tr, first=not traces.parts)
            day = to_day

    for k, sday in enumerate(days):
        advance(sday, f"healing to day {sday:g}")
        if k > 0:
            v, detectable = _assess(state, v_det)
            assessments.append({"day": day, "viable_tumour_mL": float(f"{v * _ML:.4g}"), "detectable": detectable})
            if not detectable and cr_day is None:
                cr_day, cr_sessions = day, k
            if not detectable and c.stop_at_complete_response:
                stop_reason = "complete_response"
                break
        tgt = residual_target(state, c.residual_threshold)
        if tgt is None:  # nothing left to aim at
            stop_reason = "complete_response"
            if cr_day is None:
                cr_day, cr_sessions = day, k
            break
        if k == 0:
            tgt["centre_m"] = np.asarray(target0, float)  # the first session aims at the tumour itself
        base = retreat_scn if (k > 0 and retreat_scn is not None) else scn
        hs_k = hs if base is scn else base.run_hypotheses()[0]
        scn_k, plan = _session_scenario(base, k, tgt, c)
        if base is not scn:
            plan["modality"] = base.modality
        plan.update({"session": k + 1, "day": sday, "target_mm": [round(float(v) * 1e3, 2) for v in tgt["centre_m"]],
                     "residual_radius_mm": round(tgt["radius_m"] * 1e3, 2),
                     "residual_viable_mL": float(f"{tgt['viable_m3'] * _ML:.4g}"),
                     "residual_scar_mean": round(tgt["scar_mean"], 4)})
        say(k, 0.0, f"session {k + 1} on day {sday:g}")
        positions = [np.asarray(tgt["centre_m"], float)]
        if scn_k.modality in ("rfa", "mwa"):
            positions, plan["overlap"] = _thermal_positions(scn_k, tgt, c)
        plan["placements"] = []
        res.plans.append(plan)
        failed = False
        n_pos = len(positions)
        for j, pos in enumerate(positions):
            what = f"session {k + 1}" + (f", ablation {j + 1} of {len(positions)}" if len(positions) > 1 else "")
            try:
                session = build_session(scn_k, state=state, target_m=pos, target_radius_m=tgt["radius_m"],
                                        table=table, hypotheses=hs_k)
            except TissuefateError as err:
                plan["refused"] = str(err)
                stop_reason, stop_detail = "unreachable", f"{what} (day {sday:g}): {err}"
                failed = True
                break
            plan["placements"].append(session.settings.get("placement"))
            if "plan" in session.settings:
                plan["layout"] = session.settings["plan"]

            def sub(f, msg, k=k, j=j, n=n_pos, what=what):
                say(k, 0.8 * (j + f) / n, f"{what}: {msg}")

            try:
                result = run_session(session, progress=sub)
            except GeometryError as err:  # the applicators do not fit where the planner put them
                plan["refused"] = str(err)
                stop_reason, stop_detail = "unreachable", f"{what} (day {sday:g}): {err}"
                failed = True
                break
            except (FloatingPointError, np.linalg.LinAlgError, TissuefateError) as err:
                stop_reason, stop_detail = "numerical_failure", f"{what} (day {sday:g}): {err}"
                failed = True
                break
            result.name = f"{scn.name} — {what} (day {sday:g})"
            result.metrics = session_metrics(result, isotherms_degC=tuple(scn.output.isotherms_degC))
            result.metrics["course_day"] = sday
            result.metrics["course_session"] = k + 1
            result.metrics["acute_volume_change_mL"] = round(acute_volume_change_m3(result, hs_k) * _ML, 4)
            state = post_session_state(result, hypotheses=hs_k)
            res.sessions.append(result)
            res.session_days.append(sday)
            res.session_index.append(k + 1)
            if not keep_fields:
                _drop_fields(result)
        if res.session_index and res.session_index[-1] == k + 1:
            res.snapshots.append((sday, f"after session {k + 1}", state.copy()))
        if failed:
            break
    n_given = len(set(res.session_index))
    if stop_reason == "session_cap" and n_given:
        # the response after the last session
        a_day = res.session_days[-1] + c.assessment_days
        advance(a_day, "assessment")
        v, detectable = _assess(state, v_det)
        assessments.append({"day": day, "viable_tumour_mL": float(f"{v * _ML:.4g}"), "detectable": detectable})
        if not detectable and cr_day is None:
            cr_day, cr_sessions = day, n_given
    say(len(days), 0.0, f"follow-up to day {c.horizon_days:g}")
    advance(float(c.horizon_days), "follow-up")
    res.snapshots.append((day, f"day {day:g}", state.copy()))
    res.state = state
    res.traces = traces.result()
    res.wall_time_s = time.perf_counter() - t_wall
    acted, not_applicable = list(hs), list(dropped)
    if retreat_scn is not None:  # what acted in any session
        hs_r, dropped_r = retreat_scn.run_hypotheses()
        acted = list(dict.fromkeys([*acted, *hs_r]))
        not_applicable = [n for n in dict.fromkeys([*not_applicable, *dropped_r]) if n not in acted]
    res.metrics = course_metrics(res, stop_reason=stop_reason, stop_detail=stop_detail, cr_day=cr_day,
                                 cr_sessions=cr_sessions, assessments=assessments, v_det_m3=v_det,
                                 tumour0_m3=tumour0_m3, doubling_time_days=td, hypotheses=acted,
                                 dropped=not_applicable, fate_overrides=fate_overrides)
    say(len(days) + 1, 0.0, "done")
    return res


def _drop_fields(result) -> None:
    for name in ("omega", "cem43", "peak_temperature_K", "final_temperature_K", "survival"):
        if getattr(result, name, None) is not None:
            setattr(result, name, None)
    result.fields = {}


def _at_day(t: np.ndarray, y: np.ndarray, d: float):
    if t.size == 0 or d > t[-1] + 1e-9:
        return None
    i = int(np.searchsorted(t, d - 1e-9))
    return float(y[min(i, y.size - 1)])


def course_metrics(res: CourseResult, *, stop_reason: str, stop_detail: str, cr_day, cr_sessions, assessments,
                   v_det_m3: float, tumour0_m3: float, doubling_time_days: float, hypotheses, dropped,
                   fate_overrides: dict | None = None) -> dict:
    """The course outcomes of ``res`` as a JSON-serialisable dict (docs/metrics.md, "Course")."""
    c = res.scenario.course
    tr = res.traces
    t = np.asarray(tr["day"], float)
    tum = np.asarray(tr["tumour_volume_mL"], float)
    clon = np.asarray(tr["expected_clonogens"], float)
    # local tumour progression: regrowth to the detectable volume after a complete response
    ltp_day = None
    if cr_day is not None:
        hit = np.flatnonzero((t > cr_day + 1e-9) & (tum >= v_det_m3 * _ML))
        ltp_day = float(t[hit[0]]) if hit.size else None
    sess = []
    normal_mL = passes = leaked = 0.0
    index = res.session_index or list(range(1, len(res.sessions) + 1))
    for r, d, kk in zip(res.sessions, res.session_days, index, strict=True):
        m = r.metrics
        lz = m.get("margin", {}).get("zone")
        z = m.get("zones", {}).get(lz, {}) if lz else {}
        nd = (m.get("normal_tissue") or {}).get("destroyed_mL") or 0.0
        leak = r.details.get("leaked_mL") if isinstance(r.details, dict) else None
        n_app = len(r.placements)
        normal_mL += nd
        passes += n_app
        leaked += float(leak or 0.0)
        sess.append({
            "session": kk, "ablation": sum(1 for x in sess if x["session"] == kk) + 1, "day": d,
            "modality": r.modality, "needle_passes": n_app,
            "lethal_zone_volume_mL": z.get("volume_mL"),
            "minimal_ablative_margin_mm": m.get("margin", {}).get("minimal_ablative_margin_mm"),
            "normal_tissue_destroyed_mL": nd,
            "tumour_control_probability": (m.get("tumour") or {}).get("tumour_control_probability"),
            "energy_J": (m.get("delivery") or {}).get("energy_J"),
            "injected_mL": r.details.get("delivered_mL") if isinstance(r.details, dict) else None,
            "leaked_mL": leak,
            "acute_volume_change_mL": m.get("acute_volume_change_mL"),
            "wall_time_s": round(float(r.wall_time_s), 2),
        })
    load = np.asarray(tr["cleared_g_per_day"], float)
    kpk = int(np.argmax(load)) if load.size else 0
    scar = {}
    for d in (30.0, 90.0, 365.0):
        v = _at_day(t, np.asarray(tr["scar_volume_mL"], float), d)
        scar[f"day_{int(d)}"] = None if v is None else round(v, 4)
    inv = np.asarray(tr["involution"], float)
    inv_at = {d: _at_day(t, inv, d) for d in (7.0, 30.0, 90.0, 180.0, 365.0, 730.0)}
    inv_curve = {f"day_{int(d)}": (None if v is None else round(v, 4)) for d, v in inv_at.items()}
    clon_end = float(clon[-1]) if clon.size else float("nan")
    clon_tx = None
    if res.sessions:  # right after the last session: the first trace sample at or after its day
        clon_tx = _at_day(t, clon, res.session_days[-1])
    return {
        "strategy": res.strategy,
        "modality": res.scenario.modality,
        "retreat_modality": None if c.retreat is None else c.retreat.modality,
        "agent": res.scenario.agent,
        "schedule_days": c.session_days(),
        "sessions_given": len(set(index)),
        "ablations_given": len(res.sessions),
        "session_days": list(res.session_days),
        "stop_reason": stop_reason,
        "stop_reason_meaning": STOP_REASONS[stop_reason],
        "stop_detail": stop_detail,
        "complete_response": cr_day is not None,
        "sessions_to_complete_response": cr_sessions,
        "days_to_complete_response": cr_day,
        "assessments": assessments,
        "detection_diameter_mm": c.detection_diameter_mm,
        "doubling_time_days": doubling_time_days,
        "horizon_days": c.horizon_days,
        "tumour_volume_before_mL": float(f"{tumour0_m3 * _ML:.4g}"),
        "expected_clonogens_after_sessions": None if clon_tx is None else float(f"{clon_tx:.4g}"),
        "tumour_control_probability_after_sessions": None if clon_tx is None else _tcp(clon_tx),
        "expected_clonogens_at_horizon": float(f"{clon_end:.4g}"),
        "tumour_control_probability_at_horizon": _tcp(clon_end),
        "viable_tumour_at_horizon_mL": float(f"{tum[-1]:.4g}") if tum.size else None,
        "local_progression": ltp_day is not None,
        "local_progression_day": ltp_day,
        "normal_tissue_destroyed_mL": round(normal_mL, 4),
        "scar_volume_mL": scar,
        "scar_volume_at_horizon_mL": round(float(tr["scar_volume_mL"][-1]), 4) if t.size else None,
        "involution": inv_curve,
        "needle_passes": int(passes),
        "leaked_agent_mL": round(leaked, 4),
        "peak_necrotic_clearance_g_per_day": round(float(load[kpk]), 4) if load.size else None,
        "peak_necrotic_clearance_day": float(t[kpk]) if load.size else None,
        "acute_volume_change_mL": round(sum((s["acute_volume_change_mL"] or 0.0) for s in sess), 4),
        "sessions": sess,
        "plans": res.plans,
        "hypotheses": list(hypotheses),
        "hypotheses_not_applicable": list(dropped),
        "hypothesis_preset": res.scenario.hypotheses.preset,
        "fate_overrides": dict(fate_overrides or {}),
        "wall_time_s": round(res.wall_time_s, 2),
    }


def _tcp(clonogens: float) -> float:
    return float(f"{math.exp(-clonogens):.4g}") if clonogens < 700 else 0.0

