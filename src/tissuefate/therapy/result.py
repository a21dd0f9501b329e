"""What one treatment session returns."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..grid import Grid
from ..tissue.state import TissueState

__all__ = ["ApplicatorPlacement", "SessionResult", "ZoneDef", "FIELD_META", "THERMAL_MODALITIES"]

#: Modalities whose kill is thermal (Arrhenius Ω); the others bring their own kill law.
THERMAL_MODALITIES = ("rfa", "mwa")

#: Units and long names of the optional per-modality fields (``SessionResult.fields``).
FIELD_META: dict[str, tuple[str, str]] = {
    "min_temperature_K": ("K", "minimum temperature reached"),
    "frozen_fraction": ("1", "ice fraction at the end of the protocol"),
    "field_V_per_m": ("V/m", "largest electric field magnitude over the pulsed pairs"),
    "fluid_fraction": ("1", "peak injected-fluid fill of the pore (mobile) volume"),
    "concentration_mol_per_m3": ("mol/m3", "agent concentration at the end"),
    "peak_concentration_mol_per_m3": ("mol/m3", "peak agent concentration"),
    "pressure_Pa": ("Pa", "peak interstitial fluid pressure (gauge)"),
    "cracked": ("1", "tissue cracked by injection pressure (0/1)"),
    "consumed_demand_fraction": ("1", "fraction of the tissue oxidant demand consumed"),
    "vascular_integrity_after": ("1", "microvascular integrity after the session (fate model input)"),
}


@dataclass(frozen=True)
class ZoneDef:
    """A zone criterion of a session: voxels where ``field`` is ``op`` ``threshold``.

    ``field`` names an attribute of :class:`SessionResult` (``omega``, ``peak_temperature_K``,
    ``survival``) or a key of ``SessionResult.fields``; ``threshold`` is in the field's SI unit;
    ``display_threshold`` and ``threshold_unit`` are what reports show (e.g. −40 and "degC").
    """

    key: str
    criterion: str
    field: str
    op: str  # "ge" or "le"
    threshold: float
    display_threshold: float
    threshold_unit: str
    label: str

    def mask(self, values: np.ndarray) -> np.ndarray:
        v = np.asarray(values)
        return v >= self.threshold if self.op == "ge" else v <= self.threshold


@dataclass(frozen=True)
class ApplicatorPlacement:
    """Where an applicator sits: its distal tip, unit direction pointing from the tip back
    towards the handle, and its active (heating) length, all in world metres.

    The active part spans ``tip_m`` → ``tip_m + direction * active_length_m``; the shaft
    continues beyond it along ``direction``.
    """

    kind: str  # "rf_electrode" | "mw_antenna" | ...
    tip_m: tuple[float, float, float]
    direction: tuple[float, float, float]
    active_length_m: float
    radius_m: float
    name: str = ""

    @property
    def active_centre_m(self) -> np.ndarray:
        return np.asarray(self.tip_m) + 0.5 * self.active_length_m * np.asarray(self.direction)


@dataclass
class SessionResult:
    """Fields, traces and provenance of one session on a region of interest.

    Attributes
    ----------
    name, modality : str
        Scenario name and modality ("rfa", "mwa").
    grid : Grid
        The region of interest that was simulated.
    state : TissueState
        Tissue before the session (on ``grid``).
    placements : list of ApplicatorPlacement
    omega : ndarray or None
        Arrhenius damage integral Ω [1] (thermal modalities; IRE: its Joule-heating check).
    cem43_min : ndarray or None
        Cumulative equivalent minutes at 43 °C [min].
    peak_temperature_K, final_temperature_K : ndarray or None
    traces : dict of str → ndarray
        Time series sampled during the session: ``time_s``, ``power_W``, ``impedance_ohm``,
        ``voltage_V``, ``energy_J``, ``max_temperature_K`` (keys a modality has no use for may
        be absent).
    settings : dict
        The resolved scenario (JSON-serialisable) and numerics (dt, backend, dtype).
    metrics : dict
        Filled by :func:`tissuefate.therapy.outcomes.session_metrics`.
    survival : ndarray or None
        Cell survival fraction of the modality's kill law [1]; None: exp(−Ω).
    fields : dict of str → ndarray
        Further per-voxel fields of the modality (units in :data:`FIELD_META`).
    zone_defs : list of ZoneDef
        Zones of a non-thermal modality (thermal zones are built from Ω and isotherms).
    lethal_zone : str
        Key of the zone used for the margin ("omega_ge_4.6" thermal, "lethal" otherwise).
    details : dict
        Modality-specific outcomes (JSON-serialisable), copied into metrics.json.
    """

    name: str
    modality: str
    grid: Grid
    state: TissueState
    placements: list[ApplicatorPlacement]
    omega: np.ndarray | None = None
    cem43_min: np.ndarray | None = None
    peak_temperature_K: np.ndarray | None = None
    final_temperature_K: np.ndarray | None = None
    traces: dict[str, np.ndarray] = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    wall_time_s: float = 0.0
    survival: np.ndarray | None = None
    fields: dict[str, np.ndarray] = field(default_factory=dict)
    zone_defs: list[ZoneDef] = field(default_factory=list)
    lethal_zone: str = "omega_ge_4.6"
    details: dict = field(default_factory=dict)
    followup: object | None = None  # tissuefate.course.FollowUp, when a follow-up was run

    @property
    def is_thermal(self) -> bool:
        return self.modality in THERMAL_MODALITIES

    def survival_fraction(self) -> np.ndarray:
        """Cell survival fraction per voxel [1]: ``survival`` if the modality set it, else
        exp(−Ω) (thermal), else 1."""
        if self.survival is not None:
            return np.asarray(self.survival, dtype=np.float64)
        if self.omega is not None:
            return np.exp(-np.asarray(self.omega, dtype=np.float64))
        return np.ones(self.grid.shape)

    def field_values(self, name: str) -> np.ndarray:
        """A named field: an attribute (``omega``, ``peak_temperature_K``, ``survival`` …) or a
        key of :attr:`fields`."""
        if name == "survival":
            return self.survival_fraction()
        if name in self.fields:
            return np.asarray(self.fields[name])
        v = getattr(self, name, None)
        if v is None:
            raise KeyError(f"session {self.name!r} has no field {name!r}")
        return np.asarray(v)
