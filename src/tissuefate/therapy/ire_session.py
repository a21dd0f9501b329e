"""Irreversible-electroporation sessions on a region of interest: needles, pulses, kill, heating.

The physics is :func:`tissuefate.physics.ire.solve_ire` (field-dependent conductivity, kill
above a field threshold, Joule-heating check); this module places it on a
:class:`TissueState` and returns a :class:`~tissuefate.therapy.result.SessionResult`.
IRE spares extracellular matrix and large vessels: the session leaves ``ecm`` and ``vascular``
untouched (they go to the fate model as they were); only the cells die.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError, GeometryError
from ..physics.ire import IREElectrode, IREProtocol, solve_ire
from ..tissue.labels import Label
from ..tissue.maps import thermal_maps
from ..tissue.properties import BLOOD, DAMAGE, IRE, OUTSIDE_FACTORS, MaterialTable
from ..tissue.state import TissueState
from .cryo_session import LETHAL_SURVIVAL
from .result import ApplicatorPlacement, SessionResult, ZoneDef

__all__ = ["IRESession", "run_ire_session", "ire_electrodes_around", "neighbour_pairs"]

_K0 = 273.15
ProgressFn = Callable[[float, str], None]


@dataclass
class IRESession:
    """Everything one IRE session needs, in SI units.

    Parameters
    ----------
    name : str
    state : TissueState
        Tissue before the session (not modified).
    table : MaterialTable
        Thermal properties and perfusion for the heating check.
    electrodes : sequence of IREElectrode
    protocol : IREProtocol
    pairs : sequence of (int, int), optional
        (anode, cathode) pulsed in order; default :func:`neighbour_pairs`.
    kill_threshold_V_per_m : float, optional
        Default :data:`IRE` ``e_irreversible_V_per_m`` (637 V/cm).
    thermal_model : {"bioheat", "adiabatic"}
    heating_blocks : int
        Pulse blocks per pair between re-solves of σ(|E|, T) in the heating check.
    initial_temperature_K : float
    settings : dict
    """

    name: str
    state: TissueState
    table: MaterialTable
    electrodes: Sequence[IREElectrode]
    protocol: IREProtocol
    pairs: Sequence[tuple[int, int]] | None = None
    kill_threshold_V_per_m: float | None = None
    thermal_model: str = "bioheat"
    heating_blocks: int = 4
    initial_temperature_K: float = BLOOD["arterial_temperature_K"].value
    settings: dict = field(default_factory=dict)

    modality = "ire"

    def __post_init__(self):
        if len(self.electrodes) < 2:
            raise ConfigError(f"applicator.n_electrodes = {len(self.electrodes)}: IRE needs at least 2 needles")


def neighbour_pairs(electrodes: Sequence[IREElectrode], *, tolerance: float = 1.05) -> list[tuple[int, int]]:
    """Pairs of needles no farther apart than ``tolerance`` × the closest spacing (the sides of a
    polygon layout; the diagonals of a square are not pulsed).

    Examples
    --------
    >>> el = ire_electrodes_around((0, 0, 0), (0, 0, 1), 4, 0.015, 0.02, 1.067e-3)
    >>> neighbour_pairs(el)
    [(0, 1), (0, 3), (1, 2), (2, 3)]
    """
    tips = np.array([e.tip_m for e in electrodes], float)
    n = len(tips)
    d = np.linalg.norm(tips[:, None] - tips[None], axis=-1)
    dmin = float(d[np.triu_indices(n, 1)].min())
    return [(i, j) for i in range(n) for j in range(i + 1, n) if d[i, j] <= tolerance * dmin]


def ire_electrodes_around(centre_m, direction, n: int, spacing_m: float, exposed_length_m: float,
                          diameter_m: float) -> list[IREElectrode]:
    """``n`` parallel needles whose exposed parts are centred on ``centre_m`` (polygon layout
    perpendicular to ``direction``, :func:`~tissuefate.geometry.polygon_layout_m`)."""
    from ..geometry import parallel_tips_m, unit

    d = tuple(unit(direction))
    return [IREElectrode(tuple(t), d, exposed_length_m, diameter_m, name=f"needle {i + 1}")
            for i, t in enumerate(parallel_tips_m(centre_m, d, n, spacing_m, 0.5 * exposed_length_m))]


def _sigma0_map(state: TissueState) -> np.ndarray:
    """Pre-pulse conductivity [S/m]: liver σ₀ (Sel 2005 [R]) in tissue, blood in large vessels,
    the extra-hepatic stand-in factor outside the organ (:data:`OUTSIDE_FACTORS`)."""
    s0 = IRE["liver_sigma0_S_per_m"].value
    sig = np.full(state.grid.shape, s0)
    sig[state.label == Label.LARGE_VESSEL] = IRE["blood_sigma_S_per_m"].value
    sig[state.label == Label.OUTSIDE] = s0 * OUTSIDE_FACTORS["rf_conductivity"].value
    return sig


def run_ire_session(session: IRESession, progress: ProgressFn | None = None) -> SessionResult:
    """Simulate one IRE session (every pair receives the full train).

    Notes
    -----
    Kill: the field kill of :func:`~tissuefate.physics.ire.solve_ire` (|E| ≥ E_kill → survival 0)
    combined with the thermal damage of its Joule-heating check, S = S_field · exp(−Ω). The
    session reports the pulse currents, the delivered energy, the peak temperature rise and
    whether IRE became thermal (Ω ≥ 1 volume ≥ 5 % of the field-kill volume).
    """
    s = session
    state = s.state.copy()
    grid = state.grid
    for i, e in enumerate(s.electrodes):
        for what, pt in (("tip", e.tip_m), ("end of the exposed part", e.exposed_end_m)):
            if not grid.contains(pt):
                raise GeometryError(f"needle {i + 1} {what} lies outside the region of interest: enlarge "
                                    "grid.roi_shape or reduce applicator.spacing_mm")
            if state.label[grid.index_of(pt)] == Label.OUTSIDE:
                raise GeometryError(f"needle {i + 1} {what} lies outside the organ: move the needles")
    pairs = list(s.pairs) if s.pairs is not None else neighbour_pairs(s.electrodes)
    if progress:
        progress(0.05, f"solving {len(pairs)} pair(s)")
    maps = thermal_maps(state, s.table)
    res = solve_ire(grid, _sigma0_map(state), list(s.electrodes), s.protocol, pairs=pairs, label=state.label,
                    kill_threshold_V_per_m=s.kill_threshold_V_per_m, thermal_model=s.thermal_model,
                    thermal_blocks=s.heating_blocks,
                    thermal_maps=maps, initial_K=s.initial_temperature_K)
    needles = res.electrode_mask
    state.label[needles] = Label.APPLICATOR
    for name in ("tumour", "normal", "ecm", "vascular"):
        getattr(state, name)[needles] = 0.0
    omega = np.asarray(res.thermal_omega, dtype=state.dtype)
    survival = (np.asarray(res.survival, np.float64) * np.exp(-omega.astype(np.float64))).astype(state.dtype)
    survival[needles] = 1.0
    peak = (s.initial_temperature_K + np.asarray(res.delta_T_K, np.float64)).astype(state.dtype)
    e_kill = float(s.kill_threshold_V_per_m or IRE["e_irreversible_V_per_m"].value)
    e_rev = float(IRE["e_reversible_V_per_m"].value)
    om1 = float(DAMAGE["omega_coagulation"].value)
    zone_defs = [
        ZoneDef(f"field_ge_{e_rev / 100:g}Vpcm", "field", "field_V_per_m", "ge", e_rev, e_rev / 100, "V/cm",
                f"|E| ≥ {e_rev / 100:g} V/cm (reversible)"),
        ZoneDef(f"field_ge_{e_kill / 100:g}Vpcm", "field", "field_V_per_m", "ge", e_kill, e_kill / 100, "V/cm",
                f"|E| ≥ {e_kill / 100:g} V/cm (irreversible)"),
        ZoneDef("thermal_omega_ge_1", "omega", "omega", "ge", om1, om1, "1", "thermal Ω ≥ 1 (Joule heating)"),
        ZoneDef("lethal", "survival", "survival", "le", LETHAL_SURVIVAL, LETHAL_SURVIVAL, "1",
                "lethal (≥ 99 % kill)"),
    ]
    mL = 1e6
    details = {
        "n_electrodes": len(s.electrodes),
        "pairs": [list(p) for p in pairs],
        "voltage_V": s.protocol.voltage_V,
        "n_pulses": s.protocol.n_pulses,
        "pulse_width_us": round(s.protocol.pulse_width_s * 1e6, 3),
        "current_start_A": [round(float(c), 3) for c in res.current_A],
        "current_end_A": [round(float(c), 3) for c in res.current_end_A],
        "energy_J": round(float(res.energy_J), 2),
        "field_kill_volume_mL": round(res.kill_volume_m3 * mL, 4),
        "reversible_volume_mL": round(res.reversible_volume_m3 * mL, 4),
        "thermal_volume_mL": round(res.thermal_volume_m3 * mL, 4),
        "peak_temperature_rise_K": round(float(res.delta_T_max_K), 2),
        "thermal_flag": bool(res.thermal_flag),
        "thermal_model": res.thermal_model,
        "kill_threshold_V_per_cm": e_kill / 100,
        "matrix_sparing": "ECM, bile ducts and large vessels are not killed; ecm/vascular state unchanged",
    }
    details["report"] = [
        ["Pulsed pairs", len(pairs), "", False],
        ["Pulse current (first pair, start → end)",
         f"{res.current_A[0]:.1f} → {res.current_end_A[0]:.1f}", "A", False],
        ["Field-kill volume", details["field_kill_volume_mL"], "mL", False],
        ["Peak temperature rise (Joule heating)", details["peak_temperature_rise_K"], "K", True],
        ["IRE became thermal", details["thermal_flag"], "", True],
    ]
    settings = dict(s.settings)
    settings["numerics"] = {"picard_solves": res.picard_solves, "iterations": list(res.iterations),
                            "thermal_model": res.thermal_model, "dtype": str(np.dtype(state.dtype))}
    if progress:
        progress(1.0, "done")
    placements = [ApplicatorPlacement("ire_electrode", tuple(float(v) for v in e.tip_m),
                                      tuple(float(v) for v in e.direction), float(e.exposed_length_m),
                                      0.5 * float(e.diameter_m), e.name) for e in s.electrodes]
    return SessionResult(
        name=s.name, modality="ire", grid=grid, state=state, placements=placements, omega=omega,
        peak_temperature_K=peak, traces={"energy_J": np.array([0.0, res.energy_J]),
                                         "time_s": np.array([0.0, s.protocol.train_duration_s * len(pairs)])},
        settings=settings, wall_time_s=res.wall_s, survival=survival,
        fields={"field_V_per_m": np.asarray(res.field_V_per_m, dtype=state.dtype)},
        zone_defs=zone_defs, lethal_zone="lethal", details=details,
    )
