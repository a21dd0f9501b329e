"""Applicators: RF electrodes and microwave antennas, their geometry and rasterisation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError, GeometryError
from ..geometry import segment_mask, unit
from ..grid import Grid
from ..tissue.labels import Label
from ..tissue.properties import Param
from ..tissue.state import TissueState
from .result import ApplicatorPlacement

__all__ = ["GAUGE_OUTER_DIAMETER_M", "RFElectrode", "MicrowaveAntenna", "place_through",
           "rasterise_applicator"]

#: Outer diameter of needle gauges (Stubs / Birmingham needle-gauge table) [m], [R].
GAUGE_OUTER_DIAMETER_M = {
    13: Param(2.413e-3, "m", "Stubs needle-gauge table", "R"),
    14: Param(2.108e-3, "m", "Stubs needle-gauge table", "R"),
    15: Param(1.829e-3, "m", "Stubs needle-gauge table", "R"),
    16: Param(1.651e-3, "m", "Stubs needle-gauge table", "R"),
    17: Param(1.473e-3, "m", "Stubs needle-gauge table", "R"),
    18: Param(1.270e-3, "m", "Stubs needle-gauge table", "R"),
}

#: Temperature of the chilled perfusate of internally cooled electrodes; clinical systems pump
#: ice water / chilled saline (literature.md gives no value: estimate) [E].
COOLANT_TEMPERATURE_K = Param(283.15, "K", "internally cooled electrodes run on chilled water", "E",
                              "10 degC at the electrode wall")


def _gauge_diameter(gauge: int) -> float:
    if gauge not in GAUGE_OUTER_DIAMETER_M:
        raise ConfigError(
            f"applicator.gauge = {gauge}: must be one of {sorted(GAUGE_OUTER_DIAMETER_M)} (needle gauge)"
        )
    return GAUGE_OUTER_DIAMETER_M[gauge].value


@dataclass(frozen=True)
class RFElectrode:
    """A straight monopolar RF electrode with an exposed active tip.

    Parameters
    ----------
    active_length_m : float
        Exposed (conducting) length at the distal end [m].
    gauge : int
        Needle gauge (13–18); sets the outer diameter.
    cooled : bool
        Internally cooled: the electrode wall is held at ``coolant_temperature_K``.
    coolant_temperature_K : float
    """

    active_length_m: float = 0.03
    gauge: int = 17
    cooled: bool = True
    coolant_temperature_K: float = COOLANT_TEMPERATURE_K.value

    kind = "rf_electrode"

    def __post_init__(self):
        if not 0.005 <= self.active_length_m <= 0.05:
            raise ConfigError(
                f"applicator.active_length_mm = {self.active_length_m * 1e3:g}: must be in 5-50 mm"
            )
        _gauge_diameter(self.gauge)

    @property
    def radius_m(self) -> float:
        return 0.5 * _gauge_diameter(self.gauge)


@dataclass(frozen=True)
class MicrowaveAntenna:
    """A straight interstitial microwave antenna.

    Parameters
    ----------
    frequency_Hz : float
        915e6 or 2.45e9.
    antenna_type : {"monopole", "dual-slot"}
    gauge : int
    active_length_m : float
        Length of the radiating section used for placement and reporting [m].
    """

    frequency_Hz: float = 2.45e9
    antenna_type: str = "monopole"
    gauge: int = 14
    active_length_m: float = 0.02

    kind = "mw_antenna"

    def __post_init__(self):
        _gauge_diameter(self.gauge)

    @property
    def radius_m(self) -> float:
        return 0.5 * _gauge_diameter(self.gauge)


def place_through(target_m, direction, applicator, *, tip_offset_m: float | None = None) -> ApplicatorPlacement:
    """Place ``applicator`` along ``direction`` so its active part is centred on ``target_m``.

    ``direction`` points from the tip back towards the handle. ``tip_offset_m`` (default: half
    the active length) is the distance of the tip beyond the target.
    """
    d = unit(direction)
    off = 0.5 * applicator.active_length_m if tip_offset_m is None else float(tip_offset_m)
    tip = np.asarray(target_m, float) - off * d
    return ApplicatorPlacement(applicator.kind, tuple(tip), tuple(d), applicator.active_length_m,
                               applicator.radius_m)


def rasterise_applicator(state: TissueState, placement: ApplicatorPlacement) -> tuple[np.ndarray, np.ndarray]:
    """Mark an applicator in ``state`` (label APPLICATOR, in place) and return its masks.

    Returns
    -------
    active, shaft : ndarray of bool
        Voxels of the active (conducting / radiating) part, and of the insulated shaft from the
        active part to the edge of the region of interest.

    Raises
    ------
    GeometryError
        If the tip lies outside the grid or outside the organ, or the active part crosses a
        large vessel.
    """
    grid: Grid = state.grid
    tip = np.asarray(placement.tip_m)
    d = np.asarray(placement.direction)
    end = tip + placement.active_length_m * d
    for name, p in (("tip", tip), ("end of the active part", end)):
        if not grid.contains(p):
            raise GeometryError(
                f"applicator {name} at {np.round(p * 1e3, 1).tolist()} mm lies outside the region "
                f"of interest (origin {np.round(np.asarray(grid.origin_m) * 1e3, 1).tolist()} mm, "
                f"extent {np.round(np.asarray(grid.extent_m) * 1e3, 1).tolist()} mm): move it or "
                "enlarge grid.roi_shape"
            )
        if state.label[grid.index_of(p)] == Label.OUTSIDE:
            raise GeometryError(
                f"applicator {name} at {np.round(p * 1e3, 1).tolist()} mm lies outside the organ"
            )
    active = segment_mask(grid, tip, end, placement.radius_m)
    if np.any(state.label[active] == Label.LARGE_VESSEL):
        raise GeometryError(
            "applicator active part crosses a large vessel (>= 3 mm): choose another direction "
            "or position"
        )
    far = end + 2.0 * max(grid.extent_m) * d
    shaft = segment_mask(grid, end, far, placement.radius_m) & ~active
    state.label[active | shaft] = Label.APPLICATOR
    for name in ("tumour", "normal", "ecm", "vascular"):
        getattr(state, name)[active | shaft] = 0.0
    return active, shaft
