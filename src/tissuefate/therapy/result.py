"""What one treatment session returns."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..grid import Grid
from ..tissue.state import TissueState

__all__ = ["ApplicatorPlacement", "SessionResult"]


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
    omega : ndarray
        Arrhenius damage integral Ω [1].
    cem43_min : ndarray
        Cumulative equivalent minutes at 43 °C [min].
    peak_temperature_K, final_temperature_K : ndarray
    traces : dict of str → ndarray
        Time series sampled during the session: ``time_s``, ``power_W``, ``impedance_ohm``,
        ``voltage_V``, ``energy_J``, ``max_temperature_K`` (keys a modality has no use for may
        be absent).
    settings : dict
        The resolved scenario (JSON-serialisable) and numerics (dt, backend, dtype).
    metrics : dict
        Filled by :func:`tissuefate.therapy.outcomes.session_metrics`.
    """

    name: str
    modality: str
    grid: Grid
    state: TissueState
    placements: list[ApplicatorPlacement]
    omega: np.ndarray
    cem43_min: np.ndarray
    peak_temperature_K: np.ndarray
    final_temperature_K: np.ndarray
    traces: dict[str, np.ndarray] = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)
    wall_time_s: float = 0.0
