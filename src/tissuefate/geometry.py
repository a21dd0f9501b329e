"""Rasterising simple solids (spheres, ellipsoids, capped cylinders) onto a :class:`Grid`.

Pure geometry, shared by the anatomy (vessels, tumours) and the applicators (electrodes,
antennas, probes, needles).
"""

from __future__ import annotations

import numpy as np

from .grid import Grid

__all__ = [
    "bbox_slices",
    "unit",
    "distance_to_segment_m",
    "segment_mask",
    "sphere_mask",
    "ellipsoid_mask",
    "distance_to_point_m",
    "perpendicular_basis",
    "polygon_layout_m",
    "parallel_tips_m",
]


def unit(v) -> np.ndarray:
    """``v`` scaled to unit length (raises on a zero vector)."""
    v = np.asarray(v, dtype=float)
    n = np.linalg.norm(v)
    if not np.isfinite(n) or n == 0:
        raise ValueError(f"direction {v.tolist()} has no length")
    return v / n


def bbox_slices(grid: Grid, lo_m, hi_m) -> tuple[slice, slice, slice]:
    """Index slices of the voxels whose centres may lie in the world box [lo_m, hi_m] (clipped)."""
    lo = np.floor((np.asarray(lo_m) - grid.origin_m) / grid.spacing_m).astype(int)
    hi = np.ceil((np.asarray(hi_m) - grid.origin_m) / grid.spacing_m).astype(int) + 1
    lo = np.clip(lo, 0, grid.shape)
    hi = np.clip(hi, 0, grid.shape)
    return tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))  # type: ignore[return-value]


def _coords(grid: Grid, sl):
    xs, ys, zs = (grid.axis_m(i)[sl[i]] for i in range(3))
    return xs[:, None, None], ys[None, :, None], zs[None, None, :]


def distance_to_point_m(grid: Grid, point_m) -> np.ndarray:
    """Distance of every voxel centre to ``point_m`` [m]."""
    x, y, z = grid.coordinates_m()
    p = np.asarray(point_m, float)
    return np.sqrt((x - p[0]) ** 2 + (y - p[1]) ** 2 + (z - p[2]) ** 2)


def distance_to_segment_m(grid: Grid, a_m, b_m, sl=None) -> np.ndarray:
    """Distance of voxel centres to the segment a→b [m] (inside index box ``sl`` if given)."""
    sl = sl or tuple(slice(0, n) for n in grid.shape)
    x, y, z = _coords(grid, sl)
    a = np.asarray(a_m, float)
    b = np.asarray(b_m, float)
    d = b - a
    L2 = float(d @ d)
    px, py, pz = x - a[0], y - a[1], z - a[2]
    if L2 == 0:
        return np.sqrt(px**2 + py**2 + pz**2)
    t = np.clip((px * d[0] + py * d[1] + pz * d[2]) / L2, 0.0, 1.0)
    return np.sqrt((px - t * d[0]) ** 2 + (py - t * d[1]) ** 2 + (pz - t * d[2]) ** 2)


def segment_mask(
    grid: Grid, a_m, b_m, radius_m: float, *, min_radius_voxels: float = 0.75
) -> np.ndarray:
    """Voxels whose centre lies within ``radius_m`` of the segment a→b (a capsule).

    The radius is raised to ``min_radius_voxels`` voxel spacings (0.75 > √2/2) so that a thin
    needle still occupies a connected line of voxels wherever its axis runs.
    """
    r = max(float(radius_m), min_radius_voxels * min(grid.spacing_m))
    a = np.asarray(a_m, float)
    b = np.asarray(b_m, float)
    sl = bbox_slices(grid, np.minimum(a, b) - r, np.maximum(a, b) + r)
    out = np.zeros(grid.shape, dtype=bool)
    if any(s.stop <= s.start for s in sl):
        return out
    out[sl] = distance_to_segment_m(grid, a, b, sl) <= r + 1e-12
    return out


def sphere_mask(grid: Grid, centre_m, radius_m: float) -> np.ndarray:
    """Voxels whose centre lies within ``radius_m`` of ``centre_m``."""
    return ellipsoid_mask(grid, centre_m, (radius_m,) * 3)


def ellipsoid_mask(grid: Grid, centre_m, semi_axes_m, rotation=None) -> np.ndarray:
    """Voxels inside an ellipsoid with semi-axes along the columns of ``rotation`` (default xyz)."""
    c = np.asarray(centre_m, float)
    ax = np.asarray(semi_axes_m, float)
    r = float(ax.max())
    sl = bbox_slices(grid, c - r, c + r)
    out = np.zeros(grid.shape, dtype=bool)
    if any(s.stop <= s.start for s in sl):
        return out
    x, y, z = _coords(grid, sl)
    p = [x - c[0], y - c[1], z - c[2]]
    R = np.eye(3) if rotation is None else np.asarray(rotation, float)
    q = sum(((p[0] * R[0, i] + p[1] * R[1, i] + p[2] * R[2, i]) / ax[i]) ** 2 for i in range(3))
    out[sl] = q <= 1.0
    return out


def perpendicular_basis(direction) -> tuple[np.ndarray, np.ndarray]:
    """Two unit vectors perpendicular to ``direction`` and to each other (right-handed with it).

    Examples
    --------
    >>> e1, e2 = perpendicular_basis((0, 0, 1))
    >>> float(abs(e1 @ e2)) < 1e-12, float(e1[2]), float(e2[2])
    (True, 0.0, 0.0)
    """
    u = unit(direction)
    a = np.zeros(3)
    a[int(np.argmin(np.abs(u)))] = 1.0
    e1 = unit(np.cross(u, a))
    return e1, np.cross(u, e1)


def polygon_layout_m(n: int, spacing_m: float) -> np.ndarray:
    """In-plane offsets (n, 2) of ``n`` parallel applicators [m]: one at the centre, two a pair,
    n ≥ 3 the corners of a regular polygon whose side is ``spacing_m``, centred on the origin.

    Examples
    --------
    >>> polygon_layout_m(2, 0.015).round(4).tolist()
    [[-0.0075, 0.0], [0.0075, 0.0]]
    >>> d = np.linalg.norm(np.diff(polygon_layout_m(4, 0.01), axis=0), axis=1)
    >>> bool(np.allclose(d, 0.01))
    True
    """
    n = int(n)
    if n < 1:
        raise ValueError(f"n = {n}: need at least one applicator")
    if n == 1:
        return np.zeros((1, 2))
    if n == 2:
        return np.array([[-0.5 * spacing_m, 0.0], [0.5 * spacing_m, 0.0]])
    r = spacing_m / (2.0 * np.sin(np.pi / n))
    a = np.pi / 2 + 2.0 * np.pi * np.arange(n) / n
    return np.stack([r * np.cos(a), r * np.sin(a)], axis=1)


def parallel_tips_m(centre_m, direction, n: int, spacing_m: float, back_m: float = 0.0) -> np.ndarray:
    """Tips (n, 3) of ``n`` parallel applicators around ``centre_m`` [m]: the
    :func:`polygon_layout_m` offsets in the plane perpendicular to ``direction``
    (:func:`perpendicular_basis`), each moved ``back_m`` against ``direction`` (so that an active
    part of length 2 ``back_m`` running from the tip along ``direction`` is centred on the plane).

    Examples
    --------
    >>> parallel_tips_m((0, 0, 0), (0, 0, 1), 2, 0.015, 0.015).round(4).tolist()
    [[0.0, -0.0075, -0.015], [0.0, 0.0075, -0.015]]
    """
    d = unit(direction)
    e1, e2 = perpendicular_basis(d)
    xy = polygon_layout_m(n, spacing_m)
    return np.asarray(centre_m, float) + xy[:, :1] * e1 + xy[:, 1:] * e2 - back_m * d
