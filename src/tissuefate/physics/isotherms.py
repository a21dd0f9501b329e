"""Isotherm dimensions of a minimum-temperature field (cryo outcomes): volume, long and short
axis and equivalent diameter for the 0, −20, −30 and −40 °C isotherms."""

from __future__ import annotations

import math

import numpy as np

from ..geometry import unit
from ..grid import Grid

__all__ = ["isotherm_dimensions"]

_K0 = 273.15


def _perpendicular_basis(u):
    """Unit vectors e1, e2 with (e1, e2, u) orthonormal (as tissuefate.therapy.outcomes)."""
    a = np.zeros(3)
    a[int(np.argmin(np.abs(u)))] = 1.0
    e1 = unit(np.cross(u, a))
    return e1, np.cross(u, e1)


def isotherm_dimensions(T_min_K, grid: Grid, axis, levels_K=None, n_directions: int = 360) -> dict:
    r"""Size of the regions whose minimum temperature fell below each isotherm.

    Parameters
    ----------
    T_min_K : ndarray
        Minimum temperature per voxel [K].
    grid : Grid
    axis : 3-vector
        Probe axis (long axis of the iceball).
    levels_K : sequence of float, optional
        Isotherms [K]; default 0, −20, −30, −40 °C.
    n_directions : int
        Caliper directions in the plane perpendicular to ``axis`` (360: widths to < 0.01 %).

    Returns
    -------
    dict
        Keyed by the level in °C (``"0"``, ``"-20"``, …), each a dict with ``volume_m3``,
        ``long_axis_m`` (extent along ``axis``), ``short_axis_m`` (largest caliper width
        perpendicular to it), ``short_axis_min_m``, ``section_area_m2`` (the largest section
        perpendicular to ``axis``, from slabs one voxel thick) and ``equivalent_diameter_m``
        (2√(area/π) of that section).

    Notes
    -----
    Extents are taken over the voxel centres, plus one voxel's projected size (a region of one
    voxel is one voxel wide). Sections are exact for grid-aligned axes, approximate otherwise.

    Examples
    --------
    >>> g = Grid((20, 20, 20), (1e-3,) * 3)
    >>> T = np.full(g.shape, 300.0); T[5:15, 5:15, 2:18] = 250.0
    >>> d = isotherm_dimensions(T, g, (0, 0, 1))["0"]
    >>> round(d["long_axis_m"] * 1e3, 3), round(d["short_axis_min_m"] * 1e3, 3), round(d["volume_m3"] * 1e9)
    (16.0, 10.0, 1600)
    """
    from scipy import ndimage

    u = unit(axis)
    levels = [_K0, _K0 - 20, _K0 - 30, _K0 - 40] if levels_K is None else list(levels_K)
    h = np.asarray(grid.spacing_m)
    e1, e2 = _perpendicular_basis(u)
    ang = np.linspace(0.0, np.pi, n_directions, endpoint=False)
    dirs = np.cos(ang)[:, None] * e1 + np.sin(ang)[:, None] * e2
    h_axis = float(np.abs(u) @ h)
    out = {}
    Tm = np.asarray(T_min_K)
    for lev in levels:
        key = f"{lev - _K0:.4g}"
        zone = Tm < lev
        n = int(zone.sum())
        if n == 0:
            out[key] = dict(volume_m3=0.0, long_axis_m=0.0, short_axis_m=0.0, short_axis_min_m=0.0,
                            section_area_m2=0.0, equivalent_diameter_m=0.0)
            continue
        surface = zone & ~ndimage.binary_erosion(zone)
        pts = grid.world_of(np.argwhere(surface))
        t = pts @ u
        long_m = float(t.max() - t.min() + h_axis)
        proj = pts @ dirs.T
        widths = proj.max(axis=0) - proj.min(axis=0) + np.abs(dirs) @ h
        tall = grid.world_of(np.argwhere(zone)) @ u
        bins = np.floor((tall - tall.min()) / h_axis + 0.5).astype(int)
        area = float(np.bincount(bins).max()) * grid.voxel_volume_m3 / h_axis
        out[key] = dict(volume_m3=n * grid.voxel_volume_m3, long_axis_m=long_m, short_axis_m=float(widths.max()),
                        short_axis_min_m=float(widths.min()), section_area_m2=area,
                        equivalent_diameter_m=2.0 * math.sqrt(area / math.pi))
    return out
