"""The numba-compiled kernels that build and read a conductance network from a voxel conductivity.

:func:`assemble_network` turns σ (and the fixed-potential voxels: electrode, ground faces) into the
7-point face conductances and right-hand side that :mod:`tissuefate.physics.multigrid` solves;
:func:`network_dissipation` gives the per-voxel Joule dissipation and the electrode current of a
solution; :func:`csr_row_counts` and :func:`csr_fill` give the network as a CSR matrix (pyamg,
tests). Callers validate the inputs. They share the row layout, the ``_borrow`` and prefetch
intrinsics and the compile options of :mod:`tissuefate.physics.multigrid_kernels` (notes there).
"""

from __future__ import annotations

import numba as nb
import numpy as np

from .multigrid_kernels import (
    _PARALLEL,
    _PF_ROWS,
    _PLANE,
    _borrow,
    _edge_step,
    _interior_row,
    _prefetch_row,
)

__all__ = ["assemble_network", "network_dissipation", "csr_row_counts", "csr_fill"]


@nb.njit(inline="always")
def _assemble_at(
    sig, kind, fixv, efac, ax, ay, az, dflag, fxl, fxh, fyl, fyh, fzl, fzh, gx, gy, gz, g0, b, i, j, k
):  # pragma: no cover - compiled
    nx, ny, nz = sig.shape
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
        return
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


@nb.njit(inline="always", boundscheck=False)
def _clean_row(kind, i, j):  # pragma: no cover - compiled
    """Whether row (i, j) and its four neighbouring rows hold only unknowns (kind 0)."""
    e = kind.shape[2]
    kc = kind[i, j]
    km = kind[i - 1, j]
    kp = kind[i + 1, j]
    ym = kind[i, j - 1]
    yp = kind[i, j + 1]
    m = 0
    for n in range(e):
        m |= kc[n] | km[n] | kp[n] | ym[n] | yp[n]
    return m == 0


@nb.njit(inline="always", boundscheck=False, error_model="numpy")
def _assemble_row(sig, ax, ay, az, gx, gy, gz, g0, b, i, j):  # pragma: no cover - compiled
    # interior voxels of a clean interior row: faces to unknowns only, no g0, no current
    e = sig.shape[2] - 1
    sc = sig[i, j, 1:e]
    sxp = sig[i + 1, j, 1:e]
    syp = sig[i, j + 1, 1:e]
    szp = sig[i, j, 2 : e + 1]
    gxr = gx[i, j, 1:e]
    gyr = gy[i, j, 1:e]
    gzr = gz[i, j, 1:e]
    g0r = g0[i, j, 1:e]
    br = b[i, j, 1:e]
    for n in range(e - 1):
        s = sc[n]
        s2 = sxp[n]
        gxr[n] = ax * 2.0 * s * s2 / (s + s2)
        s2 = syp[n]
        gyr[n] = ay * 2.0 * s * s2 / (s + s2)
        s2 = szp[n]
        gzr[n] = az * 2.0 * s * s2 / (s + s2)
        g0r[n] = 0.0
        br[n] = 0.0


@nb.njit(**_PLANE)
def _assemble_plane(
    sig, kind, fixv, efac, ax, ay, az, dflag, fxl, fxh, fyl, fyh, fzl, fzh, gx, gy, gz, g0, b, i
):  # pragma: no cover - compiled
    sig, kind, fixv, efac = _borrow(sig), _borrow(kind), _borrow(fixv), _borrow(efac)
    dflag, fxl, fxh, fyl = _borrow(dflag), _borrow(fxl), _borrow(fxh), _borrow(fyl)
    fyh, fzl, fzh, gx, gy = _borrow(fyh), _borrow(fzl), _borrow(fzh), _borrow(gx), _borrow(gy)
    gz, g0, b = _borrow(gz), _borrow(g0), _borrow(b)
    nx, ny, nz = sig.shape
    for j in range(ny):
        jp = j + _PF_ROWS
        _prefetch_row(sig, i + 1, jp)
        _prefetch_row(kind, i + 1, jp)
        _prefetch_row(gx, i, jp)
        _prefetch_row(gy, i, jp)
        _prefetch_row(gz, i, jp)
        _prefetch_row(g0, i, jp)
        _prefetch_row(b, i, jp)
        clean = _interior_row(i, j, nx, ny, nz) and _clean_row(kind, i, j)
        if clean:
            _assemble_row(sig, ax, ay, az, gx, gy, gz, g0, b, i, j)
        for k in range(0, nz, _edge_step(clean, nz)):
            _assemble_at(sig, kind, fixv, efac, ax, ay, az, dflag, fxl, fxh, fyl, fyh, fzl, fzh,
                         gx, gy, gz, g0, b, i, j, k)


@nb.njit(**_PARALLEL)
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
    ax = hy * hz / hx
    ay = hx * hz / hy
    az = hx * hy / hz
    for i in nb.prange(sig.shape[0]):
        _assemble_plane(sig, kind, fixv, efac, ax, ay, az, dflag, fxl, fxh, fyl, fyh, fzl, fzh,
                        gx, gy, gz, g0, b, np.intp(i))


@nb.njit(inline="always")
def _face_heat(s, s2, area_over_h, dphi):  # pragma: no cover - compiled
    # power of the face G dphi^2, G = A/h 2 s s2/(s+s2); the share of the half-cell of
    # conductivity s is its resistance fraction s2/(s+s2).
    t = s + s2
    return area_over_h * 2.0 * s * s2 * s2 / (t * t) * dphi * dphi


@nb.njit(inline="always")
def _dissipation_at(
    sig, kind, fixv, efac, keep, phi, ax, ay, az, dflag, fxl, fxh, fyl, fyh, fzl, fzh, q, i, j, k
):  # pragma: no cover - compiled
    """q[i, j, k] of :func:`network_dissipation`; returns the voxel's current to kind-1 voxels."""
    nx, ny, nz = sig.shape
    if kind[i, j, k] != 0:
        q[i, j, k] = 0.0
        return 0.0
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
    return c


@nb.njit(inline="always", boundscheck=False, error_model="numpy")
def _dissipation_row(sig, phi, ax, ay, az, q, i, j):  # pragma: no cover - compiled
    # interior voxels of a clean interior row: six faces to unknowns, no current to electrodes
    e = sig.shape[2] - 1
    sc = sig[i, j, 1:e]
    sxm = sig[i - 1, j, 1:e]
    sxp = sig[i + 1, j, 1:e]
    sym = sig[i, j - 1, 1:e]
    syp = sig[i, j + 1, 1:e]
    szm = sig[i, j, 0 : e - 1]
    szp = sig[i, j, 2 : e + 1]
    pc = phi[i, j, 1:e]
    pxm = phi[i - 1, j, 1:e]
    pxp = phi[i + 1, j, 1:e]
    pym = phi[i, j - 1, 1:e]
    pyp = phi[i, j + 1, 1:e]
    pzm = phi[i, j, 0 : e - 1]
    pzp = phi[i, j, 2 : e + 1]
    qr = q[i, j, 1:e]
    for n in range(e - 1):
        s = sc[n]
        p = pc[n]
        w = 0.0
        w += _face_heat(s, sxm[n], ax, p - pxm[n])
        w += _face_heat(s, sxp[n], ax, p - pxp[n])
        w += _face_heat(s, sym[n], ay, p - pym[n])
        w += _face_heat(s, syp[n], ay, p - pyp[n])
        w += _face_heat(s, szm[n], az, p - pzm[n])
        w += _face_heat(s, szp[n], az, p - pzp[n])
        qr[n] = w


@nb.njit(**_PLANE)
def _dissipation_plane(
    sig, kind, fixv, efac, keep, phi, ax, ay, az, dflag, fxl, fxh, fyl, fyh, fzl, fzh, q, i
):  # pragma: no cover - compiled
    """Plane i of :func:`network_dissipation`; returns the plane's current to kind-1 voxels."""
    sig, kind, fixv, efac = _borrow(sig), _borrow(kind), _borrow(fixv), _borrow(efac)
    keep, phi, dflag, fxl = _borrow(keep), _borrow(phi), _borrow(dflag), _borrow(fxl)
    fxh, fyl, fyh, fzl, fzh = _borrow(fxh), _borrow(fyl), _borrow(fyh), _borrow(fzl), _borrow(fzh)
    q = _borrow(q)
    nx, ny, nz = sig.shape
    cur = 0.0
    for j in range(ny):
        jp = j + _PF_ROWS
        _prefetch_row(sig, i + 1, jp)
        _prefetch_row(phi, i + 1, jp)
        _prefetch_row(kind, i + 1, jp)
        _prefetch_row(q, i, jp)
        # a clean row has no current to the electrodes: only its edge voxels can add one
        clean = _interior_row(i, j, nx, ny, nz) and _clean_row(kind, i, j)
        if clean:
            _dissipation_row(sig, phi, ax, ay, az, q, i, j)
        for k in range(0, nz, _edge_step(clean, nz)):
            cur += _dissipation_at(sig, kind, fixv, efac, keep, phi, ax, ay, az, dflag,
                                   fxl, fxh, fyl, fyh, fzl, fzh, q, i, j, k)
    return cur


@nb.njit(**_PARALLEL)
def network_dissipation(
    sig, kind, fixv, efac, keep, phi, hx, hy, hz, dflag, fxl, fxh, fyl, fyh, fzl, fzh, q
):  # pragma: no cover - compiled
    """Power dissipated per voxel [W] into ``q`` for the potential ``phi`` of the network of
    :func:`assemble_network`; returns the current leaving the voxels of kind 1 [A].

    Each face's ``G Δφ²`` is split between its two half-cells in proportion to their
    resistances; faces to fixed potentials give the fraction ``keep[kind]`` of it to the unknown
    voxel (1: all of it; the rest is taken up by the fixed voxel, e.g. a cooled electrode's
    coolant). The current is summed plane by plane (relative differences of 1e-16 from a sum
    voxel by voxel).
    """
    ax = hy * hz / hx
    ay = hx * hz / hy
    az = hx * hy / hz
    cur = 0.0
    for i in nb.prange(sig.shape[0]):
        cur += _dissipation_plane(sig, kind, fixv, efac, keep, phi, ax, ay, az, dflag,
                                  fxl, fxh, fyl, fyh, fzl, fzh, q, np.intp(i))
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
