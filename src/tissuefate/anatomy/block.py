"""A homogeneous block of liver, for calibration and ex vivo cases.

Parenchyma everywhere, optionally a spherical tumour and one straight large vessel running
through the whole block (the heat-sink calibration case). No organ surface, no vessel tree,
no randomness.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError, GeometryError
from ..geometry import distance_to_segment_m, sphere_mask, unit
from ..grid import Grid
from ..tissue.labels import Label
from ..tissue.state import TissueState

__all__ = ["block_state"]

_TYPES = ("hcc", "metastasis")


def block_state(
    grid: Grid,
    *,
    tumour_diameter_m: float | None = None,
    tumour_type: str = "hcc",
    tumour_centre_m=None,
    vessel=None,
    dtype=np.float32,
) -> TissueState:
    """Untreated homogeneous liver on ``grid``, with an optional tumour and vessel.

    Parameters
    ----------
    grid : Grid
    tumour_diameter_m : float, optional
        Diameter of a spherical tumour [m] (no capsule); none if omitted.
    tumour_type : {"hcc", "metastasis"}
        Histology recorded on the state (selects tumour properties in the material table).
    tumour_centre_m : array_like of 3 float, optional
        Tumour centre [m]; default the centre of the grid. The sphere must lie inside the grid.
    vessel : (point_m, direction, diameter_m), optional
        A straight ``LARGE_VESSEL`` (heat sink, whatever its calibre) through ``point_m`` [m]
        along ``direction``, crossing the whole block. The tumour never overwrites it.
    dtype : numpy dtype
        Float type of the state's fraction fields.

    Returns
    -------
    TissueState
        ``meta`` holds ``tumour_id`` (uint8: 1 in the tumour) and ``n_tumours``.

    Examples
    --------
    >>> g = Grid.cube(32, 1e-3)
    >>> st = block_state(g, tumour_diameter_m=10e-3, vessel=((0.008, 0, 0), (0, 0, 1), 5e-3))
    >>> sorted(int(v) for v in np.unique(st.label))
    [1, 2, 3]
    """
    if not isinstance(grid, Grid):
        raise ConfigError(f"block_state grid = {grid!r}: must be a tissuefate Grid")
    if tumour_type not in _TYPES:
        raise ConfigError(f"block_state tumour_type = {tumour_type!r}: must be one of {_TYPES}")
    label = np.full(grid.shape, Label.PARENCHYMA, dtype=np.uint8)
    centre = np.asarray(grid.world_of(np.subtract(grid.shape, 1) / 2.0))
    if vessel is not None:
        try:
            point, direction, diameter = vessel
            point = np.asarray(point, float).reshape(3)
            d = unit(direction)
            diameter = float(diameter)
        except (TypeError, ValueError) as e:
            raise ConfigError(
                f"block_state vessel = {vessel!r}: must be (point_m, direction, diameter_m) ({e})"
            ) from None
        if (
            not (np.all(np.isfinite(point)) and np.isfinite(diameter))
            or diameter <= 0
            or diameter > 0.05
        ):
            raise ConfigError(
                f"block_state vessel diameter_m = {diameter} m: must be > 0 and "
                "<= 0.05 m (metres, not millimetres)"
            )
        half = float(np.linalg.norm(grid.extent_m)) + float(np.linalg.norm(point - centre))
        dist = distance_to_segment_m(grid, point - half * d, point + half * d)
        label[dist <= 0.5 * diameter + 1e-12] = Label.LARGE_VESSEL
    tumour_id = np.zeros(grid.shape, dtype=np.uint8)
    n_tumours = 0
    if tumour_diameter_m is not None:
        D = float(tumour_diameter_m)
        h = min(grid.spacing_m)
        if not np.isfinite(D) or D <= 0 or D > min(grid.extent_m):
            raise ConfigError(
                f"block_state tumour_diameter_m = {tumour_diameter_m} m: must be > 0 and <= "
                f"{min(grid.extent_m):g} m (the block's smallest edge)"
            )
        if D < 2 * h:
            raise ConfigError(
                f"block_state tumour_diameter_m = {D} m: below two voxels "
                f"({2 * h:g} m); use a finer grid"
            )
        c = centre if tumour_centre_m is None else np.asarray(tumour_centre_m, float)
        lo = np.asarray(grid.origin_m) - 0.5 * np.asarray(grid.spacing_m)
        hi = lo + np.asarray(grid.extent_m)
        if c.shape != (3,) or np.any(c - D / 2 < lo - 1e-12) or np.any(c + D / 2 > hi + 1e-12):
            raise GeometryError(
                f"block_state tumour_centre_m = {tuple(c.tolist())} m: a {D * 1e3:g} mm tumour "
                f"there leaves the block ({tuple(lo.tolist())} .. {tuple(hi.tolist())} m)"
            )
        body = sphere_mask(grid, c, 0.5 * D) & (label == Label.PARENCHYMA)
        label[body] = Label.TUMOUR
        tumour_id[body] = 1
        n_tumours = 1
    st = TissueState.from_labels(grid, label, dtype=dtype, tumour_type=tumour_type)
    st.meta.update(source="tissuefate homogeneous block", tumour_id=tumour_id, n_tumours=n_tumours)
    return st
