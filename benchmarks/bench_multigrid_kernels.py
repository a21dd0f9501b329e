"""Per-kernel benchmark of the conductance-network kernels of tissuefate.physics.multigrid,
against verbatim copies of the kernels before the branch-free rewrite (``_reference_*``).

Case: the RF potential case of ``bench_potential.py`` (cylindrical electrode along z through the
box centre, 30 mm active length, 1.5 mm diameter, 1 mm voxels, σ = 0.333 S/m × U(0.8, 1.2),
σ × 1e-2 within 3 mm of the axis, all six box faces grounded) on an n³ grid. For every kernel
it prints the best of ``--repeat`` timings of the reference and the current kernel, the bytes
each call moves (every array read once, every written array written once) over the time, and the
largest difference of their results over the largest reference value (0: equal). The current
Gauss–Seidel sweeps take their divisors from ``_diagonal`` (its own row: once per level and
V-cycle), which the reference sweeps recomputed in every half-sweep. The copy bandwidth
(single-threaded ``np.copyto`` of 256 MiB, read + write) is measured in the same run. ``--pcg``
also times whole solves (the default float32 V(2,2) hierarchy) with each set of kernels and
compares their iterations and solutions.

Run:  python benchmarks/bench_multigrid_kernels.py [--n 128] [--repeat 20] [--pcg]
No timed assertion anywhere.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import time

import numba as nb
import numpy as np

import tissuefate.physics.multigrid as mg

# --------------------------------------------------------------------------------------------
# the kernels before the rewrite (voxel by voxel, with the boundary tests in the inner loop)


@nb.njit(parallel=True, cache=True)
def _reference_rb_sweep(gx, gy, gz, g0, act, x, b, colour):  # pragma: no cover - compiled
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
def _reference_apply_at(gx, gy, gz, g0, x, i, j, k, nx, ny, nz):  # pragma: no cover - compiled
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
def _reference_matvec(gx, gy, gz, g0, act, x, out):  # pragma: no cover - compiled
    nx, ny, nz = x.shape
    for i in nb.prange(nx):
        for j in range(ny):
            for k in range(nz):
                if act[i, j, k] == 0:
                    out[i, j, k] = 0.0
                else:
                    out[i, j, k] = _reference_apply_at(gx, gy, gz, g0, x, i, j, k, nx, ny, nz)


@nb.njit(parallel=True, cache=True)
def _reference_residual_norms2(gx, gy, gz, g0, act, b, x, xprev):  # pragma: no cover - compiled
    """(‖b − A x‖², ‖b − A y‖²) with y = 2x − xprev, in one pass."""
    nx, ny, nz = x.shape
    s1 = 0.0
    s2 = 0.0
    for i in nb.prange(nx):
        for j in range(ny):
            for k in range(nz):
                if act[i, j, k] == 0:
                    continue
                ax = _reference_apply_at(gx, gy, gz, g0, x, i, j, k, nx, ny, nz)
                ap = _reference_apply_at(gx, gy, gz, g0, xprev, i, j, k, nx, ny, nz)
                r1 = b[i, j, k] - ax
                r2 = b[i, j, k] - (2.0 * ax - ap)
                s1 += r1 * r1
                s2 += r2 * r2
    return s1, s2



@nb.njit(parallel=True, cache=True)
def _reference_residual_restrict(gx, gy, gz, g0, act, x, b, rc):  # pragma: no cover - compiled
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
                        r = b[i, j, k] - _reference_apply_at(gx, gy, gz, g0, x, i, j, k, nx, ny, nz)
                        rc[ci, cj, k // 2] += r


@nb.njit(parallel=True, cache=True)
def _reference_prolong_add(act, x, xc):  # pragma: no cover - compiled
    nx, ny, nz = x.shape
    for i in nb.prange(nx):
        ci = i // 2
        for j in range(ny):
            cj = j // 2
            for k in range(nz):
                if act[i, j, k] != 0:
                    x[i, j, k] += xc[ci, cj, k // 2]


@nb.njit(parallel=True, cache=True)
def _reference_coarsen(gx, gy, gz, g0, act, gxc, gyc, gzc, g0c, actc, scale):  # pragma: no cover
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



@nb.njit(parallel=True, cache=True)
def _reference_assemble_network(
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
def _reference_face_heat(s, s2, area_over_h, dphi):  # pragma: no cover - compiled
    # power of the face G dphi^2, G = A/h 2 s s2/(s+s2); the share of the half-cell of
    # conductivity s is its resistance fraction s2/(s+s2).
    t = s + s2
    return area_over_h * 2.0 * s * s2 * s2 / (t * t) * dphi * dphi


@nb.njit(parallel=True, cache=True)
def _reference_network_dissipation(
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
                    w += _reference_face_heat(s, sig[i - 1, j, k], ax, p - phi[i - 1, j, k])
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
                    w += _reference_face_heat(s, sig[i + 1, j, k], ax, p - phi[i + 1, j, k])
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
                    w += _reference_face_heat(s, sig[i, j - 1, k], ay, p - phi[i, j - 1, k])
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
                    w += _reference_face_heat(s, sig[i, j + 1, k], ay, p - phi[i, j + 1, k])
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
                    w += _reference_face_heat(s, sig[i, j, k - 1], az, p - phi[i, j, k - 1])
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
                    w += _reference_face_heat(s, sig[i, j, k + 1], az, p - phi[i, j, k + 1])
                q[i, j, k] = w
                cur += c
    return cur



@nb.njit(parallel=True, cache=True)
def _reference_dot(a, b):  # pragma: no cover - compiled
    s = 0.0
    for i in nb.prange(a.shape[0]):
        s += a[i] * b[i]
    return s


@nb.njit(parallel=True, cache=True)
def _reference_update_xr(x, r, p, q, alpha):  # pragma: no cover - compiled
    """x += α p; r −= α q; returns ‖r‖²."""
    s = 0.0
    for i in nb.prange(x.shape[0]):
        x[i] += alpha * p[i]
        ri = r[i] - alpha * q[i]
        r[i] = ri
        s += ri * ri
    return s


@nb.njit(parallel=True, cache=True)
def _reference_dot2(r, z, zold):  # pragma: no cover - compiled
    """(r·z, r·zold)."""
    s = 0.0
    t = 0.0
    for i in nb.prange(r.shape[0]):
        s += r[i] * z[i]
        t += r[i] * zold[i]
    return s, t


@nb.njit(parallel=True, cache=True)
def _reference_update_p(p, z, beta):  # pragma: no cover - compiled
    for i in nb.prange(p.shape[0]):
        p[i] = z[i] + beta * p[i]



# --------------------------------------------------------------------------------------------
# case


def case(n: int, seed: int = 0):
    """Inputs of assemble_network / network_dissipation for the RF case on an n³ grid."""
    h = 1e-3
    c = (np.arange(n) - (n - 1) / 2) * h
    X, Y, Z = np.meshgrid(c, c, c, indexing="ij")
    r = np.hypot(X, Y)
    mask = (r <= 0.75e-3 + 1e-12) & (np.abs(Z) <= 15e-3)
    rng = np.random.default_rng(seed)
    sig = 0.333 * rng.uniform(0.8, 1.2, size=(n, n, n))
    sig[(np.hypot(r, np.maximum(np.abs(Z) - 15e-3, 0.0)) <= 3e-3) & ~mask] *= 1e-2
    kind = mask.astype(np.uint8)
    fixv = (kind == 1).astype(np.float64)
    efac = np.ones((3, 3))
    keep = np.array([1.0, 0.8, 1.0])
    dflag = np.ones(6, np.bool_)
    faces = tuple(np.zeros(s) for s in [(n, n)] * 6)
    return sig, kind, fixv, efac, keep, h, dflag, faces


def network(sig, kind, fixv, efac, h, dflag, faces, fn):
    n = sig.shape[0]
    f4 = np.float32
    gx, gy, gz = np.empty((n - 1, n, n), f4), np.empty((n, n - 1, n), f4), np.empty((n, n, n - 1), f4)
    g0, b = np.empty((n, n, n), f4), np.empty((n, n, n))
    fn(sig, kind, fixv, efac, h, h, h, dflag, *faces, gx, gy, gz, g0, b)
    return gx, gy, gz, g0, b


def best(fn, repeat, setup=None):
    ts = []
    for _ in range(repeat):
        if setup is not None:
            setup()
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return min(ts)


def copy_bandwidth_GBps(repeat=10):
    a = np.ones(32 * 2**20)
    b = np.empty_like(a)
    t = best(lambda: np.copyto(b, a), repeat)
    return 2 * a.nbytes / t / 1e9


def maxdiff(a, b):
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    d = np.abs(a - b)
    if not np.all(np.isfinite(d)):
        return float("inf")
    scale = max(float(np.abs(b).max()), 1e-300)
    return float(d.max()) / scale


def _reference_cycle(self, lvl):
    """GeometricMultigrid._cycle before the rewrite, with the reference kernels."""
    L = self.levels[lvl]
    if lvl == len(self.levels) - 1:
        sol = self._coarse_lu.solve(L.b.ravel().astype(np.float64))
        L.x[...] = sol.reshape(L.x.shape) * (L.act != 0)
        return
    args = (L.gx, L.gy, L.gz, L.g0, L.act, L.x, L.b)
    for _ in range(self.smoothing_sweeps):
        _reference_rb_sweep(*args, 0)
        _reference_rb_sweep(*args, 1)
    C = self.levels[lvl + 1]
    _reference_residual_restrict(*args, C.b)
    C.x[...] = 0.0
    self._cycle(lvl + 1)
    _reference_prolong_add(L.act, L.x, C.x)
    for _ in range(self.smoothing_sweeps):
        _reference_rb_sweep(*args, 1)
        _reference_rb_sweep(*args, 0)


@contextlib.contextmanager
def reference_kernels():
    """Swap the reference kernels into tissuefate.physics.multigrid (cycle, matvec and PCG)."""
    swap = dict(
        _matvec=_reference_matvec,
        _coarsen=_reference_coarsen,
        _residual_norms2=_reference_residual_norms2,
        _dot=_reference_dot,
        _update_xr=_reference_update_xr,
        _dot2=_reference_dot2,
        _update_p=_reference_update_p,
    )
    old = {k: getattr(mg, k) for k in swap}
    old_cycle = mg.GeometricMultigrid._cycle
    for k, v in swap.items():
        setattr(mg, k, v)
    mg.GeometricMultigrid._cycle = _reference_cycle
    try:
        yield
    finally:
        for k, v in old.items():
            setattr(mg, k, v)
        mg.GeometricMultigrid._cycle = old_cycle


# --------------------------------------------------------------------------------------------
# runs


def kernels(n: int, repeat: int, only=None):
    sig, kind, fixv, efac, keep, h, dflag, faces = case(n)
    act = (kind == 0).astype(np.uint8)
    rows = []

    def row(name, nbytes, ref, new, check, setup=None):
        if only and name not in only:
            return
        d = check()
        tn = best(new, repeat, setup)
        if ref is None:  # a kernel of the new code only
            rows.append((name, None, tn, nbytes, d))
            print(f"{name:22} {'-':>9} {tn * 1e3:9.3f} {'-':>6} {'-':>8} {nbytes / tn / 1e9:8.1f}", flush=True)
            return
        tr = best(ref, repeat, setup)
        rows.append((name, tr, tn, nbytes, d))
        print(f"{name:22} {tr * 1e3:9.3f} {tn * 1e3:9.3f} {tr / tn:6.2f} "
              f"{nbytes / tr / 1e9:8.1f} {nbytes / tn / 1e9:8.1f}   {d:.1e}", flush=True)

    print(f"{'kernel':22} {'ref ms':>9} {'new ms':>9} {'speed':>6} {'ref GB/s':>8} {'new GB/s':>8}   max rel diff")
    V = n**3
    # assembly
    ref_net = network(sig, kind, fixv, efac, h, dflag, faces, _reference_assemble_network)
    new_net = network(sig, kind, fixv, efac, h, dflag, faces, mg.assemble_network)
    bufs = network(sig, kind, fixv, efac, h, dflag, faces, mg.assemble_network)
    row("assemble_network", V * (8 + 1 + 4 * 4 + 8),
        lambda: _reference_assemble_network(sig, kind, fixv, efac, h, h, h, dflag, *faces, *bufs),
        lambda: mg.assemble_network(sig, kind, fixv, efac, h, h, h, dflag, *faces, *bufs),
        lambda: max(maxdiff(a, b) for a, b in zip(new_net, ref_net, strict=True)))
    gx, gy, gz, g0, b = ref_net
    rng = np.random.default_rng(1)
    phi = rng.uniform(0, 1, (n, n, n)) * act
    phi_prev = phi + 1e-3 * rng.standard_normal((n, n, n)) * act
    q_ref, q_new = np.empty((n, n, n)), np.empty((n, n, n))

    def diss_check():
        c_ref = _reference_network_dissipation(sig, kind, fixv, efac, keep, phi, h, h, h, dflag, *faces, q_ref)
        c_new = mg.network_dissipation(sig, kind, fixv, efac, keep, phi, h, h, h, dflag, *faces, q_new)
        return max(maxdiff(q_new, q_ref), abs(c_new - c_ref) / abs(c_ref))

    row("network_dissipation", V * (8 + 1 + 8 + 8),
        lambda: _reference_network_dissipation(sig, kind, fixv, efac, keep, phi, h, h, h, dflag, *faces, q_ref),
        lambda: mg.network_dissipation(sig, kind, fixv, efac, keep, phi, h, h, h, dflag, *faces, q_new),
        diss_check)
    out_ref, out_new = np.empty((n, n, n)), np.empty((n, n, n))

    def mv_check():
        _reference_matvec(gx, gy, gz, g0, act, phi, out_ref)
        mg._matvec(gx, gy, gz, g0, act, phi, out_new)
        return maxdiff(out_new, out_ref)

    row("_matvec f64", V * (4 * 4 + 1 + 8 + 8),
        lambda: _reference_matvec(gx, gy, gz, g0, act, phi, out_ref),
        lambda: mg._matvec(gx, gy, gz, g0, act, phi, out_new), mv_check)

    def rn_check():
        a = _reference_residual_norms2(gx, gy, gz, g0, act, b, phi, phi_prev)
        c = mg._residual_norms2(gx, gy, gz, g0, act, b, phi, phi_prev)
        return max(abs(a[0] - c[0]) / a[0], abs(a[1] - c[1]) / a[1])

    row("_residual_norms2", V * (4 * 4 + 1 + 8 * 3),
        lambda: _reference_residual_norms2(gx, gy, gz, g0, act, b, phi, phi_prev),
        lambda: mg._residual_norms2(gx, gy, gz, g0, act, b, phi, phi_prev), rn_check)
    # the float32 finest level of the hierarchy
    x0 = (phi * act).astype(np.float32)
    b32 = (b * 1e3).astype(np.float32)
    xr, xn = x0.copy(), x0.copy()
    diag = np.empty_like(x0)
    mg._diagonal(gx, gy, gz, g0, act, diag)
    # once per level and V-cycle: the divisors the reference sweeps recomputed in every half-sweep
    row("_diagonal", V * (4 * 5 + 1), None, lambda: mg._diagonal(gx, gy, gz, g0, act, diag), lambda: 0.0)

    def reset():
        np.copyto(xr, x0)
        np.copyto(xn, x0)

    for colour in (0, 1):
        def sw_check(colour=colour):
            reset()
            _reference_rb_sweep(gx, gy, gz, g0, act, xr, b32, colour)
            mg._rb_sweep(gx, gy, gz, diag, xn, b32, colour)
            return maxdiff(xn, xr)

        row(f"_rb_sweep c={colour}", V * (4 * 6 + 4),
            lambda colour=colour: _reference_rb_sweep(gx, gy, gz, g0, act, xr, b32, colour),
            lambda colour=colour: mg._rb_sweep(gx, gy, gz, diag, xn, b32, colour), sw_check, reset)

    for colour in (0, 1):
        def pr_check(colour=colour):
            reset()
            _reference_rb_sweep(gx, gy, gz, g0, act, xr, b32, colour)
            _reference_rb_sweep(gx, gy, gz, g0, act, xr, b32, 1 - colour)
            mg._rb_pair(gx, gy, gz, diag, xn, b32, colour, nb.get_num_threads())
            return maxdiff(xn, xr)

        def pr_ref(colour=colour):
            _reference_rb_sweep(gx, gy, gz, g0, act, xr, b32, colour)
            _reference_rb_sweep(gx, gy, gz, g0, act, xr, b32, 1 - colour)

        row(f"_rb_pair c={colour}", 2 * V * (4 * 6 + 4), pr_ref,
            lambda colour=colour: mg._rb_pair(gx, gy, gz, diag, xn, b32, colour, nb.get_num_threads()),
            pr_check, reset)
    nc = (n + 1) // 2
    rc_ref, rc_new = np.empty((nc, nc, nc), np.float32), np.empty((nc, nc, nc), np.float32)

    def rr_check():
        _reference_residual_restrict(gx, gy, gz, g0, act, x0, b32, rc_ref)
        mg._residual_restrict(gx, gy, gz, g0, act, x0, b32, rc_new)
        return maxdiff(rc_new, rc_ref)

    row("_residual_restrict", V * (4 * 6 + 1) + nc**3 * 4,
        lambda: _reference_residual_restrict(gx, gy, gz, g0, act, x0, b32, rc_ref),
        lambda: mg._residual_restrict(gx, gy, gz, g0, act, x0, b32, rc_new), rr_check)
    xc = rng.standard_normal((nc, nc, nc)).astype(np.float32)

    def pa_check():
        reset()
        _reference_prolong_add(act, xr, xc)
        mg._prolong_add(act, xn, xc)
        return maxdiff(xn, xr)

    row("_prolong_add", V * (1 + 8) + nc**3 * 4,
        lambda: _reference_prolong_add(act, xr, xc), lambda: mg._prolong_add(act, xn, xc), pa_check, reset)
    actc = np.empty((nc, nc, nc), np.uint8)
    cref = [np.empty((nc - 1, nc, nc), np.float32), np.empty((nc, nc - 1, nc), np.float32),
            np.empty((nc, nc, nc - 1), np.float32), np.empty((nc, nc, nc), np.float32), actc]
    cnew = [a.copy() for a in cref]

    def co_check():
        _reference_coarsen(gx, gy, gz, g0, act, *cref, 0.5)
        mg._coarsen(gx, gy, gz, g0, act, *cnew, 0.5)
        return max(maxdiff(a, c) for a, c in zip(cnew, cref, strict=True))

    row("_coarsen", V * (4 * 4 + 1) + nc**3 * 17,
        lambda: _reference_coarsen(gx, gy, gz, g0, act, *cref, 0.5),
        lambda: mg._coarsen(gx, gy, gz, g0, act, *cnew, 0.5), co_check)
    # PCG vector kernels (float64, flat)
    p, q = phi.ravel().copy(), phi_prev.ravel().copy()
    row("_dot", 16 * V, lambda: _reference_dot(p, q), lambda: mg._dot(p, q),
        lambda: abs(mg._dot(p, q) - _reference_dot(p, q)) / abs(_reference_dot(p, q)))
    xx, r0 = np.zeros(V), b.ravel().copy()
    rr1, rr2 = r0.copy(), r0.copy()

    def uxr_check():
        x1, x2 = np.zeros(V), np.zeros(V)
        a1, a2 = r0.copy(), r0.copy()
        s1 = _reference_update_xr(x1, a1, p, q, 0.3)
        s2 = mg._update_xr(x2, a2, p, q, 0.3)
        return max(maxdiff(x2, x1), maxdiff(a2, a1), abs(s1 - s2) / s1)

    row("_update_xr", 48 * V, lambda: _reference_update_xr(xx, rr1, p, q, 1e-9),
        lambda: mg._update_xr(xx, rr2, p, q, 1e-9), uxr_check)
    return rows


def solves(n: int, repeat: int):
    sig, kind, fixv, efac, keep, h, dflag, faces = case(n)
    act = (kind == 0).astype(np.uint8)
    gx, gy, gz, g0, b = network(sig, kind, fixv, efac, h, dflag, faces, mg.assemble_network)
    out = {}
    for label, ctx in (("reference", reference_kernels), ("current", contextlib.nullcontext)):
        with ctx():
            ts = []
            for _ in range(repeat):
                t = time.perf_counter()
                m = mg.GeometricMultigrid(gx, gy, gz, g0, act)
                x, its = mg.pcg(lambda v, m=m: mg.network_matvec(gx, gy, gz, g0, act, v), b, np.zeros_like(b),
                                m.precondition, rtol=1e-6)
                ts.append(time.perf_counter() - t)
            cyc = best(lambda m=m: m.precondition(b), repeat)
        out[label] = (min(ts), its, x, cyc)
        print(f"pcg {label:9}: best {min(ts):.3f} s, {its} iterations, one V-cycle {cyc * 1e3:.1f} ms", flush=True)
    xr, xn = out["reference"][2], out["current"][2]
    print(f"pcg: solutions differ by max |Δx| / max |x| = {maxdiff(xn, xr):.1e}; "
          f"speed-up {out['reference'][0] / out['current'][0]:.2f} (solve), "
          f"{out['reference'][3] / out['current'][3]:.2f} (V-cycle)")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=128)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--only", nargs="*", default=None, help="kernel names (as printed) to time")
    ap.add_argument("--pcg", action="store_true", help="also time whole PCG solves")
    args = ap.parse_args(argv)
    kernels(12, 1, args.only)  # compile outside the timings
    print(f"# machine: {platform.machine()} {platform.processor() or ''}, {os.cpu_count()} cpus, "
          f"numba threads {nb.get_num_threads()}, load average {os.getloadavg()[0]:.2f}; "
          f"grid {args.n}³; copy bandwidth {copy_bandwidth_GBps():.1f} GB/s")
    kernels(args.n, args.repeat, args.only)
    if args.pcg:
        solves(args.n, max(2, args.repeat // 5))
    print(f"# load average at the end {os.getloadavg()[0]:.2f}; copy bandwidth {copy_bandwidth_GBps():.1f} GB/s")


if __name__ == "__main__":
    main()
