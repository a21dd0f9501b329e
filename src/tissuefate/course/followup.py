"""Follow-up after one session: the tissue-fate model run to a horizon, with course outcomes.

This is the one-session course of issue 4: the state right after the session
(:func:`tissuefate.fate.post_session_state`) is advanced by :class:`tissuefate.fate.FateModel`
to the horizon, and the outcomes a clinician would follow are read off the traces: involution of
the ablation zone, scar volume at 1, 3 and 12 months, viable tumour and tumour-control
probability at the horizon, local tumour progression (regrowth to an imaging-detectable size,
:data:`~tissuefate.tissue.properties.TUMOUR_GROWTH` ``detection_diameter_m``) and the necrotic
mass cleared per day (tumour-lysis / resorption load).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError
from ..fate import FateModel, post_session_state
from ..hypotheses import HypothesisSet
from ..therapy.result import SessionResult
from ..tissue.properties import TUMOUR_GROWTH
from ..tissue.state import TissueState

__all__ = ["FollowUp", "follow_up", "default_doubling_time_days", "MILESTONE_DAYS"]

#: Days at which course outcomes are reported (1, 3 and 12 months), when within the horizon.
MILESTONE_DAYS = (30.0, 90.0, 365.0)


def default_doubling_time_days(tumour_type: str) -> float:
    """Literature volume-doubling time of a tumour type [day] (:data:`TUMOUR_GROWTH`).

    Examples
    --------
    >>> default_doubling_time_days("hcc"), default_doubling_time_days("metastasis")
    (140.0, 71.4)
    """
    key = {"hcc": "hcc_doubling_time_days", "metastasis": "metastasis_doubling_time_days"}.get(tumour_type)
    if key is None:
        raise ConfigError(f"tumour_type = {tumour_type!r}: must be 'hcc' or 'metastasis'")
    return float(TUMOUR_GROWTH[key].value)


@dataclass
class FollowUp:
    """The follow-up of one session.

    Attributes
    ----------
    days : float
        Horizon [day].
    doubling_time_days : float
    traces : dict of str → ndarray
        :data:`tissuefate.fate.TRACE_META` keys, sampled every ``record_every_days``.
    state : TissueState
        Tissue at the horizon.
    metrics : dict
        JSON-serialisable outcomes (docs/metrics.md, ``followup``).
    """

    days: float
    doubling_time_days: float
    traces: dict
    state: TissueState
    metrics: dict = field(default_factory=dict)


def _at(t: np.ndarray, y: np.ndarray, day: float) -> float:
    i = int(np.searchsorted(t, day - 1e-9))
    return float(y[min(i, y.size - 1)])


def follow_up(result: SessionResult, days: float, *, doubling_time_days: float,
              hypotheses: HypothesisSet | None = None, detection_diameter_m: float | None = None,
              record_every_days: float = 1.0) -> FollowUp:
    """Advance the tissue after ``result``'s session by ``days`` and report course outcomes.

    Parameters
    ----------
    result : SessionResult
    days : float
        Horizon [day], in (0, 3650].
    doubling_time_days : float
        Volume-doubling time of the surviving tumour [day] (:func:`default_doubling_time_days`).
    hypotheses : HypothesisSet, optional
        Fate hypotheses (e.g. ``debridement_enhanced_clearance``); default none (literature).
    detection_diameter_m : float, optional
        Diameter of a sphere of viable tumour that imaging detects [m]; default
        :data:`TUMOUR_GROWTH` ``detection_diameter_m`` (5 mm, [E]).
    record_every_days : float

    Returns
    -------
    FollowUp

    Notes
    -----
    Local tumour progression is the first recorded day on which the viable tumour volume, having
    been below the detectable volume :math:`V_d = \\pi d^3/6`, reaches it; tumour already detectable
    right after the session is reported as residual disease, not progression.
    """
    if not (math.isfinite(days) and 0 < days <= 3650):
        raise ConfigError(f"followup.days = {days:g}: must be > 0 and <= 3650 days")
    if not (doubling_time_days > 0):
        raise ConfigError(f"followup.doubling_time_days = {doubling_time_days:g}: must be > 0 days")
    d = float(TUMOUR_GROWTH["detection_diameter_m"].value if detection_diameter_m is None else detection_diameter_m)
    v_det = math.pi * d**3 / 6.0
    state0 = post_session_state(result, hypotheses=hypotheses)
    model = FateModel.from_properties(hypotheses=hypotheses)
    state, tr = model.advance(state0, float(days), doubling_time_days=float(doubling_time_days),
                              record_every_days=record_every_days)
    t = np.asarray(tr["time_days"], float)
    tum = np.asarray(tr["tumour_volume_m3"], float)
    residual = bool(tum[0] >= v_det)
    progression_day = None
    if not residual:
        hit = np.flatnonzero(tum >= v_det)
        progression_day = float(t[hit[0]]) if hit.size else None
    mL = 1e6
    milestones = {}
    for day in MILESTONE_DAYS:
        if day <= t[-1] + 1e-9:
            milestones[f"day_{int(day)}"] = {
                "involution": round(_at(t, np.asarray(tr["involution"]), day), 4),
                "zone_volume_mL": round(_at(t, np.asarray(tr["zone_volume_m3"]), day) * mL, 4),
                "scar_volume_mL": round(_at(t, np.asarray(tr["scar_volume_m3"]), day) * mL, 4),
                "viable_tumour_mL": float(f"{_at(t, tum, day) * mL:.4g}"),
            }
    load = np.asarray(tr["cleared_kg_per_day"], float) * 1e3
    k = int(np.argmax(load)) if load.size else 0
    clon = float(np.asarray(tr["expected_clonogens"], float)[-1])
    metrics = {
        "horizon_days": float(days),
        "doubling_time_days": float(doubling_time_days),
        "detection_diameter_mm": round(d * 1e3, 3),
        "zone_volume_after_session_mL": round(float(tr["zone_volume_m3"][0]) * mL, 4),
        "involution_at_horizon": round(float(tr["involution"][-1]), 4),
        "scar_volume_at_horizon_mL": round(float(tr["scar_volume_m3"][-1]) * mL, 4),
        "milestones": milestones,
        "residual_detectable_after_session": residual,
        "local_progression": progression_day is not None,
        "local_progression_day": progression_day,
        "viable_tumour_at_horizon_mL": float(f"{tum[-1] * mL:.4g}"),
        "expected_clonogens_at_horizon": float(f"{clon:.4g}"),
        "tumour_control_probability_at_horizon": float(f"{math.exp(-clon):.4g}") if clon < 700 else 0.0,
        "peak_necrotic_clearance_g_per_day": round(float(load[k]), 4) if load.size else None,
        "peak_necrotic_clearance_day": float(t[k]) if load.size else None,
        "hypotheses": [] if hypotheses is None else list(hypotheses),
    }
    return FollowUp(float(days), float(doubling_time_days), {k: np.asarray(v) for k, v in tr.items()}, state,
                    metrics)
