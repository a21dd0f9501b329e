"""The tissue right after a session: killed cells become debris (DESIGN.md §3.3).

:func:`post_session_state` turns a :class:`~tissuefate.therapy.result.SessionResult` into the
:class:`~tissuefate.tissue.state.TissueState` that the fate model (:mod:`tissuefate.fate.healing`)
advances over days and months.

What each modality leaves behind (parameters in :data:`~tissuefate.tissue.properties.FATE`):

========= ========================== ============================ ==============================
modality  heat-fixed debris          ECM                          microvascular integrity
========= ========================== ============================ ==============================
rfa, mwa  Ω ≥ 4.6 or T_peak ≥ 60 °C   destroyed where coagulated    × exp(−Ω)
ire       only Joule coagulation      kept (matrix sparing [V])     × exp(−Ω_Joule) (spared)
cryo      none [E]                    kept [E]                      0 where T_min < 0 °C
injection agent's fixed fraction [E]  kept [E]                      ``vascular_integrity_after``
========= ========================== ============================ ==============================

Applicator voxels (``Label.APPLICATOR``) become needle tract (``Label.TRACT``) filled with debris
(crushed tissue and clot), ECM and microvessels destroyed; their debris is fixed where the
session coagulated the tract.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from ..hypotheses import HypothesisSet
from ..therapy.result import SessionResult
from ..tissue.labels import Label
from ..tissue.properties import CRYO, FATE
from ..tissue.state import TissueState

__all__ = ["post_session_state", "coagulation_mask", "fibrosis_factor", "acute_volume_change_m3",
           "LETHAL_SURVIVAL"]

#: Survival fraction at or below which a voxel belongs to a session's lethal zone (≥ 99 % kill),
#: as the sessions' ``lethal`` zone (``therapy.cryo_session.LETHAL_SURVIVAL``).
LETHAL_SURVIVAL = 0.01

_CHEMICAL_FIXED = {
    "ethanol": "fixed_fraction_ethanol",
    "acetic_acid": "fixed_fraction_acetic_acid",
    "oxidant": "fixed_fraction_oxidant",
}


def fibrosis_factor(hypotheses: HypothesisSet | None) -> float:
    """Multiplier of inflammation and fibrosis [1]: 1 unless ``suppressed_inflammation_fibrosis``
    is active (then its ``fibrosis_factor``)."""
    name = "suppressed_inflammation_fibrosis"
    if hypotheses is not None and hypotheses.is_active(name):
        return float(hypotheses.param(name, "fibrosis_factor"))
    return 1.0


def acute_volume_change_m3(result: SessionResult, hypotheses: HypothesisSet | None = None) -> float:
    r"""Acute volume change of the treated zone within an hour of the session [m³] (≤ 0).

    Non-zero only under the hypothesis ``dehydration_shrinkage`` (a claim made for oxidant
    injection; DESIGN.md §3.3 lists the acute volume change as an output). Reported only: the grid
    is not deformed and the fate model does not see it.

    Parameters
    ----------
    result : SessionResult
        The session; its lethal zone is the voxels with ``result.survival_fraction()`` ≤
        :data:`LETHAL_SURVIVAL` (0.01).
    hypotheses : HypothesisSet, optional
        Read: ``dehydration_shrinkage`` (``volume_fraction``). None or inactive: 0.0.

    Returns
    -------
    float
        :math:`\Delta V = -f\,N_{lethal}\,\Delta V_{voxel}` [m³].

    Examples
    --------
    >>> from tissuefate.grid import Grid
    >>> from tissuefate.anatomy.block import block_state
    >>> g = Grid.cube(4, 1e-3)
    >>> surv = np.ones(g.shape); surv[:2] = 0.0  # 32 lethal voxels of 1 mm³
    >>> res = SessionResult("x", "injection", g, block_state(g), [], survival=surv)
    >>> acute_volume_change_m3(res)
    0.0
    >>> hs = HypothesisSet.from_config(["dehydration_shrinkage"])
    >>> round(acute_volume_change_m3(res, hs) * 1e9, 9)  # mm³: -0.3 x 32
    -9.6
    """
    if not isinstance(result, SessionResult):
        raise ConfigError(f"acute_volume_change_m3 result = {type(result).__name__}: must be a SessionResult")
    name = "dehydration_shrinkage"
    if hypotheses is None or not hypotheses.is_active(name):
        return 0.0
    f = float(hypotheses.param(name, "volume_fraction"))
    n_lethal = int(np.count_nonzero(result.survival_fraction() <= LETHAL_SURVIVAL))
    lost = f * n_lethal * float(result.grid.voxel_volume_m3)
    return -lost if lost > 0 else 0.0


def coagulation_mask(result: SessionResult) -> np.ndarray:
    """Voxels coagulated by heat (bool): Ω ≥ ``coagulation_omega`` or peak temperature ≥
    ``coagulation_temperature_K`` (60 °C). All False for a session without heat fields."""
    shape = result.grid.shape
    coag = np.zeros(shape, dtype=bool)
    if result.omega is not None:
        coag |= np.asarray(result.omega) >= FATE["coagulation_omega"].value
    if result.peak_temperature_K is not None:
        coag |= np.asarray(result.peak_temperature_K) >= FATE["coagulation_temperature_K"].value
    return coag


def _fixed_fraction(result: SessionResult, coag: np.ndarray) -> np.ndarray:
    """Fixed fraction [1] of the debris this session creates, per voxel."""
    mod = result.modality
    if mod in ("rfa", "mwa", "ire"):
        return coag.astype(np.float64)
    if mod == "cryo":
        return np.full(coag.shape, FATE["fixed_fraction_cryo"].value) + 0.0 * coag
    if mod == "injection":
        agent = str(result.details.get("agent", ""))
        key = _CHEMICAL_FIXED.get(agent)
        if key is None:
            raise ConfigError(f"injection session {result.name!r}: details['agent'] = {agent!r}; "
                              f"fate knows {', '.join(_CHEMICAL_FIXED)}")
        return np.maximum(coag, FATE[key].value).astype(np.float64)
    raise ConfigError(f"session {result.name!r}: modality {mod!r} unknown to the fate model; "
                      "known: rfa, mwa, ire, cryo, injection")


def _ecm_kept(result: SessionResult, coag: np.ndarray) -> np.ndarray:
    """Fraction of ECM integrity kept [1], per voxel."""
    mod = result.modality
    base = {"rfa": 1.0, "mwa": 1.0, "ire": FATE["ecm_kept_ire"].value, "cryo": FATE["ecm_kept_cryo"].value,
            "injection": FATE["ecm_kept_chemical"].value}[mod]
    return np.where(coag, FATE["ecm_kept_thermal"].value, base)


def _vascular_after(result: SessionResult, before: np.ndarray) -> np.ndarray:
    """Microvascular integrity after the session [1]."""
    v = before.astype(np.float64).copy()
    if result.omega is not None:  # thermal, and IRE's Joule heating
        v *= np.exp(-np.asarray(result.omega, np.float64))
    if result.modality == "cryo" and "min_temperature_K" in result.fields:
        v[np.asarray(result.fields["min_temperature_K"]) < CRYO["vascular_injury_K"].value] = 0.0
    if result.modality == "injection" and "vascular_integrity_after" in result.fields:
        v = np.minimum(v, np.asarray(result.fields["vascular_integrity_after"], np.float64))
    return np.clip(v, 0.0, 1.0)


def post_session_state(result: SessionResult, *, hypotheses: HypothesisSet | None = None) -> TissueState:
    r"""The tissue right after ``result``'s session.

    Parameters
    ----------
    result : SessionResult
        A session; ``result.state`` is the tissue before it (applicator voxels labelled
        ``APPLICATOR``).
    hypotheses : HypothesisSet, optional
        Read: ``suppressed_inflammation_fibrosis`` (scales the inflammation seed).

    Returns
    -------
    TissueState
        A new state (the input is not modified): ``tumour``, ``normal`` reduced by the kill,
        ``debris``/``fixed`` increased, ``ecm``, ``vascular``, ``inflammation`` as the modality
        leaves them, applicators turned into needle tract. ``meta["fate"]`` records the session
        name, modality and killed volume [m³].

    Notes
    -----
    With survival :math:`s` (``result.survival_fraction()``), the killed mass per voxel
    :math:`k = (T + N)(1 - s)` moves to debris, and the fixed part of the debris is

    .. math:: D' = D + k,\qquad F' = \frac{D F + k\,\phi}{D'}

    with :math:`\phi` the modality's fixed fraction (1 where heat coagulated). The occupancy
    :math:`T + N + D + S` of each voxel is unchanged by the session (cells die in place).
    Inflammation :math:`I' = \max(I, f\,\sigma\,k)` with seed :math:`\sigma` and hypothesis factor
    :math:`f`.

    Examples
    --------
    >>> from tissuefate.grid import Grid
    >>> from tissuefate.anatomy.block import block_state
    >>> from tissuefate.therapy.result import SessionResult
    >>> g = Grid.cube(8, 1e-3)
    >>> st = block_state(g)
    >>> res = SessionResult("x", "rfa", g, st, [], omega=np.full(g.shape, 10.0, np.float32))
    >>> after = post_session_state(res)
    >>> float(after.normal.max()) < 1e-4, float(after.debris.min()) > 0.99, float(after.fixed.min())
    (True, True, 1.0)
    """
    if not isinstance(result, SessionResult):
        raise ConfigError(f"post_session_state result = {type(result).__name__}: must be a SessionResult")
    pre = result.state
    out = pre.copy()
    dt = pre.dtype
    s = np.clip(result.survival_fraction(), 0.0, 1.0)
    coag = coagulation_mask(result)
    T = pre.tumour.astype(np.float64)
    N = pre.normal.astype(np.float64)
    D = pre.debris.astype(np.float64)
    killed = (T + N) * (1.0 - s)
    phi = _fixed_fraction(result, coag)
    D_new = D + killed
    Df = D * pre.fixed.astype(np.float64) + killed * phi
    fixed = np.divide(Df, D_new, out=np.zeros_like(D_new), where=D_new > 0)
    ecm = pre.ecm.astype(np.float64) * np.where(killed > 0, _ecm_kept(result, coag), 1.0)
    vasc = _vascular_after(result, pre.vascular)
    seed = FATE["inflammation_seed"].value * fibrosis_factor(hypotheses)
    infl = np.maximum(pre.inflammation.astype(np.float64), np.clip(seed * killed, 0.0, 1.0))

    app = pre.label == Label.APPLICATOR
    if app.any():
        # the withdrawn applicator leaves a tract of crushed tissue and clot (debris), no matrix, no vessels
        free = 1.0 - pre.scar.astype(np.float64)
        T[app] = 0.0
        D_new[app] = free[app]
        fixed[app] = np.maximum(coag[app], phi[app]) if result.modality != "cryo" else phi[app]
        ecm[app] = 0.0
        vasc[app] = 0.0
        infl[app] = np.maximum(infl[app], np.clip(seed, 0.0, 1.0))
        out.label[app] = Label.TRACT
        killed = killed + np.where(app, free, 0.0)
    out.tumour[...] = (T * s).astype(dt) if not app.any() else np.where(app, 0.0, T * s).astype(dt)
    out.normal[...] = np.where(app, 0.0, N * s).astype(dt)
    out.debris[...] = np.clip(D_new, 0.0, 1.0 - out.tumour - out.normal - pre.scar).astype(dt)
    out.fixed[...] = np.clip(fixed, 0.0, 1.0).astype(dt)
    out.ecm[...] = np.clip(ecm, 0.0, 1.0).astype(dt)
    out.vascular[...] = vasc.astype(dt)
    out.inflammation[...] = np.clip(infl, 0.0, 1.0).astype(dt)
    dV = result.grid.voxel_volume_m3
    out.meta = dict(out.meta)
    out.meta["fate"] = {"session": result.name, "modality": result.modality,
                        "killed_volume_m3": float(killed.sum() * dV),
                        "coagulated_volume_m3": float(coag.sum() * dV)}
    return out
