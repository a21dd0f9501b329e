"""Regular voxel grids.

A :class:`Grid` is a box of ``shape`` voxels with ``spacing_m`` between voxel centres and
``origin_m`` the world position of the centre of voxel (0, 0, 0). Axes are named ``x, y, z``
and arrays are indexed ``[x, y, z]`` (C order, z fastest).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import GeometryError

__all__ = ["Grid"]


@dataclass(frozen=True)
class Grid:
    """A regular 3-D voxel grid.

    Parameters
    ----------
    shape : tuple of int
        Voxels along x, y, z.
    spacing_m : tuple of float
        Distance between voxel centres along x, y, z [m].
    origin_m : tuple of float
        World position of the centre of voxel (0, 0, 0) [m].

    Examples
    --------
    >>> g = Grid((4, 4, 4), spacing_m=(1e-3, 1e-3, 1e-3))
    >>> g.n_voxels, round(g.voxel_volume_m3 * 1e9, 6)
    (64, 1.0)
    >>> g.index_of((1e-3, 2e-3, 0.0))
    (1, 2, 0)
    """

    shape: tuple[int, int, int]
    spacing_m: tuple[float, float, float]
    origin_m: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def __post_init__(self) -> None:
        shape = tuple(int(s) for s in self.shape)
        if isinstance(self.spacing_m, (int, float)):
            spacing = (float(self.spacing_m),) * 3
        else:
            spacing = tuple(float(s) for s in self.spacing_m)
        origin = tuple(float(o) for o in self.origin_m)
        if len(shape) != 3 or min(shape) < 1:
            raise GeometryError(f"Grid.shape = {shape}: must be three positive integers")
        if len(spacing) != 3 or min(spacing) <= 0 or max(spacing) > 0.1:
            raise GeometryError(
                f"Grid.spacing_m = {spacing}: must be three values > 0 and <= 0.1 m "
                "(did you give millimetres instead of metres?)"
            )
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "spacing_m", spacing)
        object.__setattr__(self, "origin_m", origin)

    @classmethod
    def cube(cls, n: int, spacing_m: float, *, centre_m=(0.0, 0.0, 0.0)) -> Grid:
        """A cube of ``n``³ voxels of edge ``spacing_m`` whose centre lies at ``centre_m``."""
        centre = np.asarray(centre_m, dtype=float)
        origin = centre - 0.5 * (n - 1) * spacing_m
        return cls((n, n, n), (spacing_m,) * 3, tuple(origin))

    @property
    def n_voxels(self) -> int:
        return int(np.prod(self.shape))

    @property
    def voxel_volume_m3(self) -> float:
        return float(np.prod(self.spacing_m))

    @property
    def extent_m(self) -> tuple[float, float, float]:
        """Edge lengths of the box covered by the voxels [m]."""
        return tuple(n * h for n, h in zip(self.shape, self.spacing_m, strict=True))  # type: ignore[return-value]

    @property
    def affine(self) -> np.ndarray:
        """4×4 voxel-index → world [m] affine (diagonal: the grid is axis aligned)."""
        a = np.eye(4)
        a[:3, :3] = np.diag(self.spacing_m)
        a[:3, 3] = self.origin_m
        return a

    def axis_m(self, axis: int) -> np.ndarray:
        """World coordinates of the voxel centres along ``axis`` [m]."""
        return self.origin_m[axis] + self.spacing_m[axis] * np.arange(self.shape[axis])

    def coordinates_m(self, dtype=np.float64) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Broadcastable (open) world coordinates of voxel centres [m]."""
        return tuple(  # type: ignore[return-value]
            self.axis_m(i).astype(dtype).reshape([-1 if j == i else 1 for j in range(3)])
            for i in range(3)
        )

    def world_of(self, index) -> np.ndarray:
        """World position [m] of a (possibly fractional) voxel index."""
        return np.asarray(self.origin_m) + np.asarray(self.spacing_m) * np.asarray(index, float)

    def index_of(self, point_m) -> tuple[int, int, int]:
        """Nearest voxel index of a world point [m] (may lie outside the grid)."""
        f = (np.asarray(point_m, float) - np.asarray(self.origin_m)) / np.asarray(self.spacing_m)
        return tuple(int(v) for v in np.rint(f))  # type: ignore[return-value]

    def contains(self, point_m) -> bool:
        """Whether a world point lies inside the box covered by the voxels."""
        f = (np.asarray(point_m, float) - np.asarray(self.origin_m)) / np.asarray(self.spacing_m)
        return bool(np.all(f >= -0.5) and np.all(f <= np.asarray(self.shape) - 0.5))

    def crop_slices(self, centre_m, shape) -> tuple[slice, slice, slice]:
        """Index slices of a sub-box of ``shape`` voxels centred (as near as possible) on
        ``centre_m``, clipped so that it lies inside this grid."""
        c = self.index_of(centre_m)
        out = []
        for ax in range(3):
            n = int(shape[ax])
            if n > self.shape[ax]:
                raise GeometryError(
                    f"region of interest {tuple(shape)} voxels does not fit in the grid "
                    f"{self.shape} along axis {'xyz'[ax]}: use a smaller roi_shape"
                )
            lo = min(max(c[ax] - n // 2, 0), self.shape[ax] - n)
            out.append(slice(lo, lo + n))
        return tuple(out)  # type: ignore[return-value]

    def subgrid(self, slices) -> Grid:
        """The grid of the sub-box given by index ``slices`` (steps of 1)."""
        lo = [s.start or 0 for s in slices]
        shape = [
            (s.stop if s.stop is not None else n) - (s.start or 0)
            for s, n in zip(slices, self.shape, strict=True)
        ]
        return Grid(tuple(shape), self.spacing_m, tuple(self.world_of(lo)))  # type: ignore[arg-type]

    def nbytes(self, bytes_per_voxel: float) -> int:
        return int(self.n_voxels * bytes_per_voxel)
