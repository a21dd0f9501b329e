r"""Sub-grid well model of a thin needle electrode (Peaceman-style well index).

A needle one to three voxels across is, rasterised, as thick as its raster: a 17 G needle at 1 mm
is a single voxel line (effective radius ≈ 0.44 mm instead of 0.74 mm). :func:`needle_well_factor`
finds the factor α on the electrode's face conductances that gives the rasterised needle its true
radius, from a 2-D solve on the needle's own cross-section matched to the line-electrode current
2πσ/ln(b/r_w). :class:`~tissuefate.physics.rf.PotentialSolver` takes it as
``electrode_face_factor``; RFA sessions use it for the electrical and the cold-wall conductances.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..errors import GeometryError
from ..grid import Grid

__all__ = ["needle_well_factor"]


def _well_lattice(emask, hb, hc, pb, pc, radius_m):
    """Five-point lattice (σ = 1) of a needle cross-section ``emask`` (fixed at 1) with the
    analytic line-electrode potential ``ln(R/r)/ln(R/r_w)`` on its boundary faces; ``pb, pc`` are
    the node coordinates relative to the axis [m]. Returns ``(A0, rb, e, I_exact)`` such that with
    the factor α on the electrode faces the system is ``(A0 + α diag(e)) φ = rb + α e`` and the
    current per unit length is ``α Σ e (1 − φ)``."""
    nb, nc = emask.shape
    unk = ~emask
    n = int(unk.sum())
    idx = -np.ones(emask.shape, np.int64)
    idx[unk] = np.arange(n)
    R = 4.0 * max(nb * hb, nc * hc)
    lnR = np.log(R / radius_m)

    def phi_exact(x, y):
        return np.log(R / np.hypot(x, y)) / lnR

    diag = np.zeros(n)
    rb = np.zeros(n)
    e = np.zeros(n)
    rows, cols, wts = [], [], []
    for axis, w, hh in ((0, hc / hb, hb), (1, hb / hc, hc)):
        for step in (-1, 1):
            src = [slice(None), slice(None)]
            dst = [slice(None), slice(None)]
            if step == 1:
                src[axis], dst[axis] = slice(0, -1), slice(1, None)
            else:
                src[axis], dst[axis] = slice(1, None), slice(0, -1)
            u, v = tuple(src), tuple(dst)
            # interior pairs (node u, neighbour v)
            both = unk[u] & unk[v]
            diag[idx[u][both]] += w
            rows.append(idx[u][both])
            cols.append(idx[v][both])
            wts.append(np.full(int(both.sum()), -w))
            # electrode neighbour
            el = unk[u] & emask[v]
            e[idx[u][el]] += 2.0 * w
            # boundary face on the outer side of the last row
            edge = [slice(None), slice(None)]
            edge[axis] = -1 if step == 1 else 0
            ed = tuple(edge)
            sel = unk[ed]
            x = pb[ed][sel] + (step * 0.5 * hh if axis == 0 else 0.0)
            y = pc[ed][sel] + (step * 0.5 * hh if axis == 1 else 0.0)
            diag[idx[ed][sel]] += 2.0 * w
            rb[idx[ed][sel]] += 2.0 * w * phi_exact(x, y)
    off = sp.csr_matrix((np.concatenate(wts), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n))
    A0 = (off + sp.diags(diag)).tocsc()
    return A0, rb, e, 2.0 * np.pi / lnR


def needle_well_factor(grid: Grid, electrode_mask, axis_point_m, direction, radius_m: float,
                       *, margin_voxels: int = 24) -> tuple[float, float, float]:
    r"""Per-axis factors of the electrode face conductance that give a rasterised needle its
    true radius (a sub-grid *well model*, Peaceman 1978).

    A needle of radius ``radius_m`` comparable to the voxel size is rasterised as one voxel or a
    few voxels across; with the half-cell conductance ``2σA/h`` of :class:`PotentialSolver` its
    surface is the voxel faces, so its effective radius is set by the raster (≈ 0.44 h for a
    single voxel line, ≈ 0.6 × the side for a square block) instead of by the needle. Far from
    the needle the potential of a line electrode is radial,
    ``φ(r) = φ_b − I' ln(r/r_b) / (2πσ)``, and the near field is fixed by the current per unit
    length ``I'``; Peaceman's well index matches the lattice's ``I'`` to the analytic one. Here
    the matching is done numerically on the raster's own cross-section: a 2-D lattice with the
    electrode's cross-section at 1 V and the analytic ``ln(b/r)/ln(b/r_w)`` on its boundary is
    solved for the factor ``α`` on the electrode faces that makes its current per unit length
    ``2πσ/ln(b/r_w)`` (bisection on α to 1e-7). ``α`` is applied to the electrode faces normal
    to the two axes across the needle; the axial faces (the tip's end face) keep ``2σA/h``. If no
    α in [0.01, 100] matches (a raster far from the needle's size), the factors are 1.

    Measured for a 17 G needle (r_w = 0.74 mm): α = 3.02 at 1 mm with the axis on voxel centres
    (a single voxel line), 0.52 with the axis on voxel corners (2×2); at 0.5 mm 0.68 (3×3) and
    5.89 (2×2). In the coaxial verification the current per unit length is then exact to 1e-4
    for every raster (without: −13 % to +12 %), and the impedance of a 2-cm needle at 1 and
    0.5 mm agrees to 2 % (without: 27 %; tests/reference/test_rf_potential.py). Limits: the tip
    (end faces) has no well model; oblique needles are not treated.

    Parameters
    ----------
    grid : Grid
    electrode_mask : ndarray of bool
        The rasterised active part (as passed to :class:`PotentialSolver`).
    axis_point_m : sequence of 3 float
        Any point of the needle's axis [m] (e.g. the tip).
    direction : sequence of 3 float
        Axis direction; the well model needs it along a grid axis (within 1e-6 rad). For an
        oblique needle the factors are 1 (no well model: the raster's own radius).
    radius_m : float
        True needle radius [m].
    margin_voxels : int
        Lattice extent around the cross-section (24: the factor is converged to < 0.1 %).

    Returns
    -------
    (fx, fy, fz) : tuple of float
        Factor for electrode faces normal to x, y, z.

    Examples
    --------
    >>> import numpy as np
    >>> from tissuefate.grid import Grid
    >>> from tissuefate.geometry import segment_mask
    >>> g = Grid.cube(17, 1e-3)  # odd: the z axis runs through voxel centres
    >>> m = segment_mask(g, (0, 0, -4e-3), (0, 0, 4e-3), 0.7365e-3)  # 17 G: a single voxel line
    >>> [round(v, 2) for v in needle_well_factor(g, m, (0, 0, -4e-3), (0, 0, 1), 0.7365e-3)]
    [3.02, 3.02, 1.0]
    """
    import scipy.sparse.linalg as spla

    d = np.asarray(direction, dtype=np.float64)
    d = d / np.linalg.norm(d)
    ax = int(np.argmax(np.abs(d)))
    if abs(abs(d[ax]) - 1.0) > 1e-12 or not radius_m > 0:
        return (1.0, 1.0, 1.0)
    m = np.asarray(electrode_mask, dtype=bool)
    ks = np.flatnonzero(np.moveaxis(m, ax, 0).reshape(m.shape[ax], -1).any(axis=1))
    if ks.size == 0:
        raise GeometryError("electrode_mask has no voxels: nothing to calibrate the well model on")
    kmid = int(ks[ks.size // 2])
    sec = np.take(m, kmid, axis=ax)
    lat = [a for a in range(3) if a != ax]
    hb, hc = (grid.spacing_m[a] for a in lat)
    ii = np.argwhere(sec)
    lo = ii.min(0) - margin_voxels
    hi = ii.max(0) + margin_voxels + 1
    emask = np.zeros(tuple(hi - lo), bool)
    emask[ii[:, 0] - lo[0], ii[:, 1] - lo[1]] = True
    p = np.asarray(axis_point_m, dtype=np.float64)
    xb = grid.origin_m[lat[0]] + (np.arange(lo[0], hi[0])) * hb - p[lat[0]]
    xc = grid.origin_m[lat[1]] + (np.arange(lo[1], hi[1])) * hc - p[lat[1]]
    pb, pc = np.meshgrid(xb, xc, indexing="ij")
    A0, rb, e, i_exact = _well_lattice(emask, hb, hc, pb, pc, radius_m)

    def current(alpha):
        phi = spla.spsolve((A0 + sp.diags(alpha * e)).tocsc(), rb + alpha * e)
        return alpha * float(np.sum(e * (1.0 - phi)))

    lo_a, hi_a = 1e-2, 1e2
    if current(hi_a) < i_exact or current(lo_a) > i_exact:
        return (1.0, 1.0, 1.0)
    for _ in range(60):
        mid = np.sqrt(lo_a * hi_a)
        if current(mid) < i_exact:
            lo_a = mid
        else:
            hi_a = mid
        if hi_a / lo_a < 1 + 1e-7:
            break
    alpha = float(np.sqrt(lo_a * hi_a))
    f = [alpha, alpha, alpha]
    f[ax] = 1.0
    return (f[0], f[1], f[2])
