r"""7-point conductance networks on a voxel grid: assembly from a voxel conductivity, CSR form,
dissipation, a geometric-multigrid preconditioner and a small PCG.

Shared by every steady ``∇·(σ∇u) = 0`` problem on the grid: the RF and IRE potential
(:mod:`tissuefate.physics.rf`), and equally Darcy pressure with σ → permeability/viscosity.

The operator is a *conductance network*: every voxel is a node, neighbouring nodes are joined by
face conductances ``gx, gy, gz`` [S] and every node may have a conductance ``g0`` [S] to a fixed
potential (a Dirichlet electrode or box face, already moved to the right-hand side). Voxels with
``active == 0`` are not unknowns (their value is kept at zero in every vector).

.. math:: (A\varphi)_i = g_{0,i}\,\varphi_i + \sum_{j \sim i} g_{ij}\,(\varphi_i - \varphi_j)

:class:`GeometricMultigrid` is a symmetric V-cycle used as a CG preconditioner:

- red–black Gauss–Seidel smoothing (red then black before the coarse correction, black then red
  after it, so that the cycle is a symmetric operator, as CG needs);
- 2×2×2 cell aggregation with piecewise-constant prolongation ``P`` and restriction ``Pᵀ``;
- coarse operator ``½ PᵀAP``: the Galerkin product of a 7-point network with box aggregates is
  again a 7-point network (coarse face conductance = sum of the four fine faces across the coarse
  face, coarse ``g0`` = sum of the eight children's), which handles conductivity jumps the way
  the fine operator does; the factor ½ corrects the known factor-2 over-stiffness of constant
  interpolation in 3-D (on a uniform network it reproduces exactly the re-discretised coarse
  operator; the usual over-correction of unsmoothed aggregation);
- the coarsest network (≤ ~512 voxels or a dimension < 4) is factorised with SuperLU;
- by default V(2,2) in float32 (the cycle is memory-bound; the outer PCG stays float64).

As a CG preconditioner this takes 5–6 iterations to rtol 1e-6 at 64³ and 128³ with 20 %
heterogeneity and a 1e-2 desiccated shell (9 on odd 97×83×61, 12 with 1:1:2 voxels).

Everything is numba-compiled, parallel over x-planes. No state is global.
"""

from __future__ import annotations

import time

import numba as nb
import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from ..errors import NumericalError

__all__ = [
    "assemble_network",
    "network_dissipation",
    "csr_row_counts",
    "csr_fill",
    "GeometricMultigrid",
    "network_matvec",
    "network_to_csr",
    "pcg",
    "residual_norms_of_guesses",
]


# --------------------------------------------------------------------------------------------
# kernels


@nb.njit(parallel=True, cache=True)
def _rb_sweep(gx, gy, gz, g0, act, x, b, colour):  # pragma: no cover - compiled
    nx, ny, nz = x.shape
    for i in nb.prange(nx):
        for j in range(ny):
            k0 = (i + j + colour) % 2
            for k in range(k0, nz, 2):
                if act[i, j, k] == 0:
                    continue
                s = b[i, j, k]
                d = g0[i, j, k]
                if i > 0:
                    g = gx[i - 1, j, k]
                    s += g * x[i - 1, j, k]
                    d += g
                if i < nx - 1:
                    g = gx[i, j, k]
                    s += g * x[i + 1, j, k]
                    d += g
                if j > 0:
                    g = gy[i, j - 1, k]
                    s += g * x[i, j - 1, k]
                    d += g
                if j < ny - 1:
                    g = gy[i, j, k]
                    s += g * x[i, j + 1, k]
                    d += g
                if k > 0:
                    g = gz[i, j, k - 1]
                    s += g * x[i, j, k - 1]
                    d += g
                if k < nz - 1:
                    g = gz[i, j, k]
                    s += g * x[i, j, k + 1]
                    d += g
                if d > 0.0:
                    x[i, j, k] = s / d


@nb.njit(inline="always")
def _apply_at(gx, gy, gz, g0, x, i, j, k, nx, ny, nz):  # pragma: no cover - compiled
    xi = x[i, j, k]
    s = g0[i, j, k] * xi
    if i > 0:
        s += gx[i - 1, j, k] * (xi - x[i - 1, j, k])
    if i < nx - 1:
        s += gx[i, j, k] * (xi - x[i + 1, j, k])
    if j > 0:
        s += gy[i, j - 1, k] * (xi - x[i, j - 1, k])
    if j < ny - 1:
        s += gy[i, j, k] * (xi - x[i, j + 1, k])
    if k > 0:
        s += gz[i, j, k - 1] * (xi - x[i, j, k - 1])
    if k < nz - 1:
        s += gz[i, j, k] * (xi - x[i, j, k + 1])
    return s


@nb.njit(parallel=True, cache=True)
def _matvec(gx, gy, gz, g0, act, x, out):  # pragma: no cover - compiled
    nx, ny, nz = x.shape
    for i in nb.prange(nx):
        for j in range(ny):
            for k in range(nz):
                if act[i, j, k] == 0:
                    out[i, j, k] = 0.0
                else:
                    out[i, j, k] = _apply_at(gx, gy, gz, g0, x, i, j, k, nx, ny, nz)


@nb.njit(parallel=True, cache=True)
def _residual_norms2(gx, gy, gz, g0, act, b, x, xprev):  # pragma: no cover - compiled
    """(‖b − A x‖², ‖b − A y‖²) with y = 2x − xprev, in one pass."""
    nx, ny, nz = x.shape
    s1 = 0.0
    s2 = 0.0
    for i in nb.prange(nx):
        for j in range(ny):
            for k in range(nz):
                if act[i, j, k] == 0:
                    continue
                ax = _apply_at(gx, gy, gz, g0, x, i, j, k, nx, ny, nz)
                ap = _apply_at(gx, gy, gz, g0, xprev, i, j, k, nx, ny, nz)
                r1 = b[i, j, k] - ax
                r2 = b[i, j, k] - (2.0 * ax - ap)
                s1 += r1 * r1
                s2 += r2 * r2
    return s1, s2


def residual_norms_of_guesses(gx, gy, gz, g0, act, b, x, xprev) -> tuple[float, float]:
    """``(‖b − A x‖, ‖b − A(2x − xprev)‖)``: the last solution and its linear extrapolation."""
    s1, s2 = _residual_norms2(gx, gy, gz, g0, act, b, x, xprev)
    return float(np.sqrt(s1)), float(np.sqrt(s2))


@nb.njit(parallel=True, cache=True)
def _residual_restrict(gx, gy, gz, g0, act, x, b, rc):  # pragma: no cover - compiled
    """rc = Pᵀ (b − A x) for 2×2×2 aggregates (rc is overwritten)."""
    nx, ny, nz = x.shape
    ncx, ncy, ncz = rc.shape
    for ci in nb.prange(ncx):
        for cj in range(ncy):
            for ck in range(ncz):
                rc[ci, cj, ck] = 0.0
        for i in range(2 * ci, min(2 * ci + 2, nx)):
            for j in range(ny):
                cj = j // 2
                for k in range(nz):
                    if act[i, j, k] != 0:
                        r = b[i, j, k] - _apply_at(gx, gy, gz, g0, x, i, j, k, nx, ny, nz)
                        rc[ci, cj, k // 2] += r


@nb.njit(parallel=True, cache=True)
def _prolong_add(act, x, xc):  # pragma: no cover - compiled
    nx, ny, nz = x.shape
    for i in nb.prange(nx):
        ci = i // 2
        for j in range(ny):
            cj = j // 2
            for k in range(nz):
                if act[i, j, k] != 0:
                    x[i, j, k] += xc[ci, cj, k // 2]


@nb.njit(parallel=True, cache=True)
def _coarsen(gx, gy, gz, g0, act, gxc, gyc, gzc, g0c, actc, scale):  # pragma: no cover
    """Coarse network = scale · PᵀAP for 2×2×2 aggregates (all coarse arrays overwritten)."""
    nx, ny, nz = g0.shape
    ncx, ncy, ncz = g0c.shape
    for ci in nb.prange(ncx):
        for cj in range(ncy):
            for ck in range(ncz):
                s0 = 0.0
                a = 0
                sx = 0.0
                sy = 0.0
                sz = 0.0
                for i in range(2 * ci, min(2 * ci + 2, nx)):
                    for j in range(2 * cj, min(2 * cj + 2, ny)):
                        for k in range(2 * ck, min(2 * ck + 2, nz)):
                            s0 += g0[i, j, k]
                            if act[i, j, k] != 0:
                                a = 1
                # faces across the coarse +x, +y, +z faces of this aggregate
                i = 2 * ci + 1
                if ci < ncx - 1 and i < nx - 1:
                    for j in range(2 * cj, min(2 * cj + 2, ny)):
                        for k in range(2 * ck, min(2 * ck + 2, nz)):
                            sx += gx[i, j, k]
                j = 2 * cj + 1
                if cj < ncy - 1 and j < ny - 1:
                    for i in range(2 * ci, min(2 * ci + 2, nx)):
                        for k in range(2 * ck, min(2 * ck + 2, nz)):
                            sy += gy[i, j, k]
                k = 2 * ck + 1
                if ck < ncz - 1 and k < nz - 1:
                    for i in range(2 * ci, min(2 * ci + 2, nx)):
                        for j in range(2 * cj, min(2 * cj + 2, ny)):
                            sz += gz[i, j, k]
                g0c[ci, cj, ck] = scale * s0
                actc[ci, cj, ck] = a
                if ci < ncx - 1:
                    gxc[ci, cj, ck] = scale * sx
                if cj < ncy - 1:
                    gyc[ci, cj, ck] = scale * sy
                if ck < ncz - 1:
                    gzc[ci, cj, ck] = scale * sz


# --------------------------------------------------------------------------------------------
# assembly of a network from a voxel conductivity (kernels: callers validate the inputs)


@nb.njit(parallel=True, cache=True)
def assemble_network(
    sig, kind, fixv, efac, hx, hy, hz, dflag, fxl, fxh, fyl, fyh, fzl, fzh, gx, gy, gz, g0, b
):  # pragma: no cover - compiled
    """Network of a voxel conductivity ``sig`` [S/m] (written into gx, gy, gz, g0, b).

    ``kind`` = 0 for unknown voxels, else a fixed-potential voxel at ``fixv`` (a perfect
    conductor: half-cell conductance ``2σA/h`` to it, times ``efac[kind, axis]``, the well
    factor of that kind of fixed voxel for faces normal to ``axis``; 1 without a well model).
    Box face f (x-low, x-high, y-low, ...) is
    held at ``fxl, fxh, fyl, fyh, fzl, fzh`` (2-D arrays over each face) when ``dflag[f]``,
    insulated otherwise. Face conductance between unknowns: ``A/h · 2σ₁σ₂/(σ₁+σ₂)``.
    """
    nx, ny, nz = sig.shape
    ax = hy * hz / hx
    ay = hx * hz / hy
    az = hx * hy / hz
    for i in nb.prange(nx):
        for j in range(ny):
            for k in range(nz):
                s = sig[i, j, k]
                if kind[i, j, k] != 0:
                    g0[i, j, k] = 0.0
                    b[i, j, k] = 0.0
                    if i < nx - 1:
                        gx[i, j, k] = 0.0
                    if j < ny - 1:
                        gy[i, j, k] = 0.0
                    if k < nz - 1:
                        gz[i, j, k] = 0.0
                    continue
                d0 = 0.0
                r = 0.0
                # x
                if i == 0:
                    if dflag[0]:
                        g = 2.0 * s * ax
                        d0 += g
                        r += g * fxl[j, k]
                elif kind[i - 1, j, k] != 0:
                    g = 2.0 * s * ax * efac[kind[i - 1, j, k], 0]
                    d0 += g
                    r += g * fixv[i - 1, j, k]
                if i == nx - 1:
                    if dflag[1]:
                        g = 2.0 * s * ax
                        d0 += g
                        r += g * fxh[j, k]
                elif kind[i + 1, j, k] != 0:
                    g = 2.0 * s * ax * efac[kind[i + 1, j, k], 0]
                    d0 += g
                    r += g * fixv[i + 1, j, k]
                    gx[i, j, k] = 0.0
                else:
                    s2 = sig[i + 1, j, k]
                    gx[i, j, k] = ax * 2.0 * s * s2 / (s + s2)
                # y
                if j == 0:
                    if dflag[2]:
                        g = 2.0 * s * ay
                        d0 += g
                        r += g * fyl[i, k]
                elif kind[i, j - 1, k] != 0:
                    g = 2.0 * s * ay * efac[kind[i, j - 1, k], 1]
                    d0 += g
                    r += g * fixv[i, j - 1, k]
                if j == ny - 1:
                    if dflag[3]:
                        g = 2.0 * s * ay
                        d0 += g
                        r += g * fyh[i, k]
                elif kind[i, j + 1, k] != 0:
                    g = 2.0 * s * ay * efac[kind[i, j + 1, k], 1]
                    d0 += g
                    r += g * fixv[i, j + 1, k]
                    gy[i, j, k] = 0.0
                else:
                    s2 = sig[i, j + 1, k]
                    gy[i, j, k] = ay * 2.0 * s * s2 / (s + s2)
                # z
                if k == 0:
                    if dflag[4]:
                        g = 2.0 * s * az
                        d0 += g
                        r += g * fzl[i, j]
                elif kind[i, j, k - 1] != 0:
                    g = 2.0 * s * az * efac[kind[i, j, k - 1], 2]
                    d0 += g
                    r += g * fixv[i, j, k - 1]
                if k == nz - 1:
                    if dflag[5]:
                        g = 2.0 * s * az
                        d0 += g
                        r += g * fzh[i, j]
                elif kind[i, j, k + 1] != 0:
                    g = 2.0 * s * az * efac[kind[i, j, k + 1], 2]
                    d0 += g
                    r += g * fixv[i, j, k + 1]
                    gz[i, j, k] = 0.0
                else:
                    s2 = sig[i, j, k + 1]
                    gz[i, j, k] = az * 2.0 * s * s2 / (s + s2)
                g0[i, j, k] = d0
                b[i, j, k] = r


@nb.njit(inline="always")
def _face_heat(s, s2, area_over_h, dphi):  # pragma: no cover - compiled
    # power of the face G dphi^2, G = A/h 2 s s2/(s+s2); the share of the half-cell of
    # conductivity s is its resistance fraction s2/(s+s2).
    t = s + s2
    return area_over_h * 2.0 * s * s2 * s2 / (t * t) * dphi * dphi


@nb.njit(parallel=True, cache=True)
def network_dissipation(
    sig, kind, fixv, efac, keep, phi, hx, hy, hz, dflag, fxl, fxh, fyl, fyh, fzl, fzh, q
):  # pragma: no cover - compiled
    """Power dissipated per voxel [W] into ``q`` for the potential ``phi`` of the network of
    :func:`assemble_network`; returns the current leaving the voxels of kind 1 [A].

    Each face's ``G Δφ²`` is split between its two half-cells in proportion to their
    resistances; faces to fixed potentials give the fraction ``keep[kind]`` of it to the unknown
    voxel (1: all of it; the rest is taken up by the fixed voxel, e.g. a cooled electrode's
    coolant).
    """
    nx, ny, nz = sig.shape
    ax = hy * hz / hx
    ay = hx * hz / hy
    az = hx * hy / hz
    cur = 0.0
    for i in nb.prange(nx):
        for j in range(ny):
            for k in range(nz):
                if kind[i, j, k] != 0:
                    q[i, j, k] = 0.0
                    continue
                s = sig[i, j, k]
                p = phi[i, j, k]
                w = 0.0
                c = 0.0
                # ---- x
                if i == 0:
                    if dflag[0]:
                        dv = p - fxl[j, k]
                        w += 2.0 * s * ax * dv * dv
                elif kind[i - 1, j, k] != 0:
                    dv = p - fixv[i - 1, j, k]
                    g = 2.0 * s * ax * efac[kind[i - 1, j, k], 0]
                    w += keep[kind[i - 1, j, k]] * g * dv * dv
                    if kind[i - 1, j, k] == 1:
                        c -= g * dv
                else:
                    w += _face_heat(s, sig[i - 1, j, k], ax, p - phi[i - 1, j, k])
                if i == nx - 1:
                    if dflag[1]:
                        dv = p - fxh[j, k]
                        w += 2.0 * s * ax * dv * dv
                elif kind[i + 1, j, k] != 0:
                    dv = p - fixv[i + 1, j, k]
                    g = 2.0 * s * ax * efac[kind[i + 1, j, k], 0]
                    w += keep[kind[i + 1, j, k]] * g * dv * dv
                    if kind[i + 1, j, k] == 1:
                        c -= g * dv
                else:
                    w += _face_heat(s, sig[i + 1, j, k], ax, p - phi[i + 1, j, k])
                # ---- y
                if j == 0:
                    if dflag[2]:
                        dv = p - fyl[i, k]
                        w += 2.0 * s * ay * dv * dv
                elif kind[i, j - 1, k] != 0:
                    dv = p - fixv[i, j - 1, k]
                    g = 2.0 * s * ay * efac[kind[i, j - 1, k], 1]
                    w += keep[kind[i, j - 1, k]] * g * dv * dv
                    if kind[i, j - 1, k] == 1:
                        c -= g * dv
                else:
                    w += _face_heat(s, sig[i, j - 1, k], ay, p - phi[i, j - 1, k])
                if j == ny - 1:
                    if dflag[3]:
                        dv = p - fyh[i, k]
                        w += 2.0 * s * ay * dv * dv
                elif kind[i, j + 1, k] != 0:
                    dv = p - fixv[i, j + 1, k]
                    g = 2.0 * s * ay * efac[kind[i, j + 1, k], 1]
                    w += keep[kind[i, j + 1, k]] * g * dv * dv
                    if kind[i, j + 1, k] == 1:
                        c -= g * dv
                else:
                    w += _face_heat(s, sig[i, j + 1, k], ay, p - phi[i, j + 1, k])
                # ---- z
                if k == 0:
                    if dflag[4]:
                        dv = p - fzl[i, j]
                        w += 2.0 * s * az * dv * dv
                elif kind[i, j, k - 1] != 0:
                    dv = p - fixv[i, j, k - 1]
                    g = 2.0 * s * az * efac[kind[i, j, k - 1], 2]
                    w += keep[kind[i, j, k - 1]] * g * dv * dv
                    if kind[i, j, k - 1] == 1:
                        c -= g * dv
                else:
                    w += _face_heat(s, sig[i, j, k - 1], az, p - phi[i, j, k - 1])
                if k == nz - 1:
                    if dflag[5]:
                        dv = p - fzh[i, j]
                        w += 2.0 * s * az * dv * dv
                elif kind[i, j, k + 1] != 0:
                    dv = p - fixv[i, j, k + 1]
                    g = 2.0 * s * az * efac[kind[i, j, k + 1], 2]
                    w += keep[kind[i, j, k + 1]] * g * dv * dv
                    if kind[i, j, k + 1] == 1:
                        c -= g * dv
                else:
                    w += _face_heat(s, sig[i, j, k + 1], az, p - phi[i, j, k + 1])
                q[i, j, k] = w
                cur += c
    return cur


@nb.njit(parallel=True, cache=True)
def csr_row_counts(kind, counts):  # pragma: no cover - compiled
    nx, ny, nz = kind.shape
    for i in nb.prange(nx):
        for j in range(ny):
            for k in range(nz):
                if kind[i, j, k] != 0:
                    continue
                n = 1
                if i > 0 and kind[i - 1, j, k] == 0:
                    n += 1
                if i < nx - 1 and kind[i + 1, j, k] == 0:
                    n += 1
                if j > 0 and kind[i, j - 1, k] == 0:
                    n += 1
                if j < ny - 1 and kind[i, j + 1, k] == 0:
                    n += 1
                if k > 0 and kind[i, j, k - 1] == 0:
                    n += 1
                if k < nz - 1 and kind[i, j, k + 1] == 0:
                    n += 1
                counts[i, j, k] = n


@nb.njit(parallel=True, cache=True)
def csr_fill(gx, gy, gz, g0, kind, idx, indptr, indices, data):  # pragma: no cover
    """CSR rows over the unknown voxels in C order; columns sorted
    (x−, y−, z−, diag, z+, y+, x+)."""
    nx, ny, nz = kind.shape
    for i in nb.prange(nx):
        for j in range(ny):
            for k in range(nz):
                if kind[i, j, k] != 0:
                    continue
                row = idx[i, j, k]
                p = indptr[row]
                d = np.float64(g0[i, j, k])
                if i > 0 and kind[i - 1, j, k] == 0:
                    g = np.float64(gx[i - 1, j, k])
                    indices[p] = idx[i - 1, j, k]
                    data[p] = -g
                    d += g
                    p += 1
                if j > 0 and kind[i, j - 1, k] == 0:
                    g = np.float64(gy[i, j - 1, k])
                    indices[p] = idx[i, j - 1, k]
                    data[p] = -g
                    d += g
                    p += 1
                if k > 0 and kind[i, j, k - 1] == 0:
                    g = np.float64(gz[i, j, k - 1])
                    indices[p] = idx[i, j, k - 1]
                    data[p] = -g
                    d += g
                    p += 1
                pd = p
                p += 1
                if k < nz - 1 and kind[i, j, k + 1] == 0:
                    g = np.float64(gz[i, j, k])
                    indices[p] = idx[i, j, k + 1]
                    data[p] = -g
                    d += g
                    p += 1
                if j < ny - 1 and kind[i, j + 1, k] == 0:
                    g = np.float64(gy[i, j, k])
                    indices[p] = idx[i, j + 1, k]
                    data[p] = -g
                    d += g
                    p += 1
                if i < nx - 1 and kind[i + 1, j, k] == 0:
                    g = np.float64(gx[i, j, k])
                    indices[p] = idx[i + 1, j, k]
                    data[p] = -g
                    d += g
                    p += 1
                indices[pd] = row
                data[pd] = d


# --------------------------------------------------------------------------------------------
# helpers


def network_matvec(gx, gy, gz, g0, act, x, out=None) -> np.ndarray:
    """``A x`` of a conductance network (zero at inactive voxels)."""
    if out is None:
        out = np.empty_like(x)
    _matvec(gx, gy, gz, g0, act, x, out)
    return out


def network_to_csr(gx, gy, gz, g0, act) -> sp.csr_matrix:
    """The network as a CSR matrix over all voxels (inactive voxels: identity rows).

    Meant for small networks (the coarsest multigrid level, tests); vectorised NumPy.
    """
    shape = g0.shape
    n = g0.size
    idx = np.arange(n).reshape(shape)
    rows, cols, vals = [], [], []
    diag = g0.astype(np.float64).copy()
    for ax, g in enumerate((gx, gy, gz)):
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[ax] = slice(0, shape[ax] - 1)
        hi[ax] = slice(1, shape[ax])
        lo, hi = tuple(lo), tuple(hi)
        gg = g * ((act[lo] != 0) & (act[hi] != 0))
        diag[lo] += gg
        diag[hi] += gg
        a, c, v = idx[lo].ravel(), idx[hi].ravel(), -gg.ravel()
        rows += [a, c]
        cols += [c, a]
        vals += [v, v]
    inactive = act == 0
    diag[inactive] = 1.0
    rows.append(idx.ravel())
    cols.append(idx.ravel())
    vals.append(diag.ravel())
    m = sp.coo_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)
    ).tocsr()
    m.eliminate_zeros()
    return m


class _Level:
    __slots__ = ("gx", "gy", "gz", "g0", "act", "x", "b")

    def __init__(self, gx, gy, gz, g0, act, dtype):
        self.gx, self.gy, self.gz, self.g0, self.act = gx, gy, gz, g0, act
        self.x = np.zeros(g0.shape, dtype)
        self.b = np.zeros(g0.shape, dtype)


def _coarse_shape(shape):
    return tuple((n + 1) // 2 for n in shape)


class GeometricMultigrid:
    """Symmetric V-cycle preconditioner for a conductance network (see module notes).

    Parameters
    ----------
    gx, gy, gz : ndarray, shapes (nx-1, ny, nz), (nx, ny-1, nz), (nx, ny, nz-1)
        Face conductances [S]; zero across faces that touch an inactive voxel.
    g0 : ndarray, shape (nx, ny, nz)
        Conductance to fixed potentials [S].
    active : ndarray of uint8
        1 for unknowns, 0 for fixed voxels.
    smoothing_sweeps : int
        Red–black sweep pairs before and after the coarse correction (2: V(2,2), which halves
        the PCG iterations of V(1,1) at 64³–128³ for less than twice the work).
    coarsest_voxels : int
        Stop coarsening at or below this many voxels (or when a dimension drops below 4).
    dtype : {numpy.float32, numpy.float64}
        Precision of the hierarchy. float32 halves the memory traffic of the memory-bound
        cycle; the outer Krylov solver stays float64 and uses the flexible (Polak–Ribière)
        β, which tolerates the slightly non-symmetric rounding (see :func:`pcg`).

    Examples
    --------
    >>> import numpy as np
    >>> n = 8
    >>> gx = np.ones((n - 1, n, n)); gy = np.ones((n, n - 1, n)); gz = np.ones((n, n, n - 1))
    >>> g0 = np.zeros((n, n, n)); g0[0] = 2.0          # x = 0 face grounded
    >>> act = np.ones((n, n, n), np.uint8)
    >>> mg = GeometricMultigrid(gx, gy, gz, g0, act)
    >>> b = np.ones((n, n, n))
    >>> x, its = pcg(mg.matvec, b, np.zeros_like(b), mg.precondition, rtol=1e-8)
    >>> bool(np.abs(mg.matvec(x) - b).max() < 1e-6)
    True
    """

    def __init__(
        self,
        gx,
        gy,
        gz,
        g0,
        active,
        *,
        smoothing_sweeps: int = 2,
        coarsest_voxels: int = 512,
        dtype=np.float32,
    ):
        t0 = time.perf_counter()
        self.smoothing_sweeps = int(smoothing_sweeps)
        self.dtype = np.dtype(dtype)
        act = np.ascontiguousarray(active, dtype=np.uint8)
        self._fine = (gx, gy, gz, g0, act)
        dt = self.dtype
        # level 0 shares the caller's arrays when they already have the hierarchy's dtype
        # (then refresh() after changing them in place is all an update needs)
        lv0 = [
            a if (a.dtype == dt and a.flags.c_contiguous) else np.empty(a.shape, dt)
            for a in (gx, gy, gz, g0)
        ]
        self.levels = [_Level(*lv0, act, dt)]
        while True:
            f = self.levels[-1]
            shape = f.g0.shape
            if f.g0.size <= coarsest_voxels or min(shape) < 4:
                break
            cs = _coarse_shape(shape)
            self.levels.append(
                _Level(
                    np.zeros((cs[0] - 1, cs[1], cs[2]), dt),
                    np.zeros((cs[0], cs[1] - 1, cs[2]), dt),
                    np.zeros((cs[0], cs[1], cs[2] - 1), dt),
                    np.zeros(cs, dt),
                    np.zeros(cs, np.uint8),
                    dt,
                )
            )
        self._coarse_lu = None
        self.refresh()
        self.setup_s = time.perf_counter() - t0

    def refresh(self) -> None:
        """Rebuild the coarse levels after the fine conductances changed (same arrays, same
        active set)."""
        t0 = time.perf_counter()
        L0 = self.levels[0]
        for src, dst in zip(self._fine[:4], (L0.gx, L0.gy, L0.gz, L0.g0), strict=True):
            if dst is not src:
                np.copyto(dst, src, casting="unsafe")
        for f, c in zip(self.levels[:-1], self.levels[1:], strict=True):
            _coarsen(f.gx, f.gy, f.gz, f.g0, f.act, c.gx, c.gy, c.gz, c.g0, c.act, 0.5)
        last = self.levels[-1]
        self._coarse_lu = spla.splu(
            network_to_csr(last.gx, last.gy, last.gz, last.g0, last.act).tocsc()
        )
        self.setup_s = time.perf_counter() - t0

    @property
    def shapes(self) -> list[tuple[int, int, int]]:
        return [lv.g0.shape for lv in self.levels]

    def matvec(self, x: np.ndarray) -> np.ndarray:
        """``A x`` (float64 arithmetic) with the fine network the hierarchy was built from."""
        return network_matvec(*self._fine, x)

    def _cycle(self, lvl: int) -> None:
        L = self.levels[lvl]
        if lvl == len(self.levels) - 1:
            sol = self._coarse_lu.solve(L.b.ravel().astype(np.float64))
            L.x[...] = sol.reshape(L.x.shape) * (L.act != 0)
            return
        args = (L.gx, L.gy, L.gz, L.g0, L.act, L.x, L.b)
        for _ in range(self.smoothing_sweeps):
            _rb_sweep(*args, 0)
            _rb_sweep(*args, 1)
        C = self.levels[lvl + 1]
        _residual_restrict(*args, C.b)
        C.x[...] = 0.0
        self._cycle(lvl + 1)
        _prolong_add(L.act, L.x, C.x)
        for _ in range(self.smoothing_sweeps):
            _rb_sweep(*args, 1)
            _rb_sweep(*args, 0)

    def precondition(self, r: np.ndarray) -> np.ndarray:
        """One V-cycle from a zero guess for ``A z = r`` (``r`` shaped like the grid)."""
        L = self.levels[0]
        L.b[...] = r.reshape(L.b.shape)
        L.x[...] = 0.0
        self._cycle(0)
        return L.x.astype(np.float64).reshape(r.shape)


@nb.njit(parallel=True, cache=True)
def _dot(a, b):  # pragma: no cover - compiled
    s = 0.0
    for i in nb.prange(a.shape[0]):
        s += a[i] * b[i]
    return s


@nb.njit(parallel=True, cache=True)
def _update_xr(x, r, p, q, alpha):  # pragma: no cover - compiled
    """x += α p; r −= α q; returns ‖r‖²."""
    s = 0.0
    for i in nb.prange(x.shape[0]):
        x[i] += alpha * p[i]
        ri = r[i] - alpha * q[i]
        r[i] = ri
        s += ri * ri
    return s


@nb.njit(parallel=True, cache=True)
def _dot2(r, z, zold):  # pragma: no cover - compiled
    """(r·z, r·zold)."""
    s = 0.0
    t = 0.0
    for i in nb.prange(r.shape[0]):
        s += r[i] * z[i]
        t += r[i] * zold[i]
    return s, t


@nb.njit(parallel=True, cache=True)
def _update_p(p, z, beta):  # pragma: no cover - compiled
    for i in nb.prange(p.shape[0]):
        p[i] = z[i] + beta * p[i]


def pcg(
    matvec, b, x0, precond, *, rtol: float = 1e-6, maxiter: int = 500, raise_on_failure: bool = True
):
    r"""Preconditioned conjugate gradients stopping at ``‖b − A x‖₂ ≤ rtol·‖b‖₂``.

    The tolerance is relative to ``‖b‖``, not to the initial residual, so that a warm start
    from a nearby solution needs fewer iterations. β is the flexible (Polak–Ribière) choice
    ``β = rₖ₊₁·(zₖ₊₁ − zₖ) / rₖ·zₖ``, equal to Fletcher–Reeves for an exactly symmetric
    preconditioner and robust when the preconditioner is applied in float32. The vector
    updates are fused numba loops (no temporaries).

    Parameters
    ----------
    matvec, precond : callables ``v -> A v`` and ``r -> M⁻¹ r`` (``M`` symmetric positive
        definite), called with arrays shaped like ``b``.
    b, x0 : ndarray
        Right-hand side and initial guess (``x0`` is not modified).
    maxiter : int
    raise_on_failure : bool
        Raise :class:`~tissuefate.errors.NumericalError` when ``maxiter`` is reached; otherwise
        return the iterate with ``iterations = -maxiter``.

    Returns
    -------
    x : ndarray
    iterations : int
        Preconditioner applications after the initial residual (0 if ``x0`` already converged).
    """
    shape = b.shape
    b = np.ascontiguousarray(b, dtype=np.float64).ravel()
    x = np.array(x0, dtype=np.float64, copy=True).ravel()

    def A(v):
        return np.ascontiguousarray(matvec(v.reshape(shape)), dtype=np.float64).ravel()

    def M(v):
        return np.ascontiguousarray(precond(v.reshape(shape)), dtype=np.float64).ravel()

    bn = np.sqrt(_dot(b, b))
    tol2 = (rtol * (bn if bn > 0 else 1.0)) ** 2
    r = b - A(x)
    rr = _dot(r, r)
    if rr <= tol2:
        return x.reshape(shape), 0
    z = M(r)
    p = z.copy()
    rz = _dot(r, z)
    for it in range(1, maxiter + 1):
        q = A(p)
        pq = _dot(p, q)
        if not pq > 0:
            raise NumericalError(
                f"PCG broke down at iteration {it} (pᵀAp = {pq}): "
                "the operator or preconditioner is not positive definite"
            )
        rr = _update_xr(x, r, p, q, rz / pq)
        if rr <= tol2:
            return x.reshape(shape), it
        zold = z
        z = M(r)
        rz_new, rz_old = _dot2(r, z, zold)
        _update_p(p, z, (rz_new - rz_old) / rz)
        rz = rz_new
    if raise_on_failure:
        raise NumericalError(
            f"PCG did not reach rtol = {rtol:g} in {maxiter} iterations "
            f"(residual {np.sqrt(rr) / max(bn, 1e-300):.2e} of ‖b‖)"
        )
    return x.reshape(shape), -maxiter
