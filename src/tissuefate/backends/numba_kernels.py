"""numba kernels (CPU default): the NumPy reference semantics in one fused, parallel pass.

Layout: C-contiguous ``[x, y, z]``; ``prange`` over x-planes, the innermost loop over the
contiguous z axis on 1-D row views so that LLVM vectorises it. Scalars are cast to the array
dtype before the call: a float64 scalar inside a float32 loop would promote the whole
expression and halve the vector width. The kernels are memory-bound (DESIGN.md §5): the
Pennes step moves 6 arrays × itemsize per voxel (T, k, 1/ρc, perfusion, Q read; out written).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from .numpy_kernels import (
    CEM43_CEILING_K,
    CEM43_FLOOR_K,
    CEM43_REFERENCE_K,
    GAS_CONSTANT_J_PER_MOL_K,
)
from .registry import register_kernel

__all__ = ["pennes_step", "arrhenius_step", "apply_dirichlet"]


@njit(inline="always", fastmath=True, boundscheck=False)
def _div_k_grad(T, k, i, j, l, t, cx, cy, cz):
    kk = k[i, j, l]
    return (
        cx * ((kk + k[i + 1, j, l]) * (T[i + 1, j, l] - t) - (kk + k[i - 1, j, l]) * (t - T[i - 1, j, l]))
        + cy * ((kk + k[i, j + 1, l]) * (T[i, j + 1, l] - t) - (kk + k[i, j - 1, l]) * (t - T[i, j - 1, l]))
        + cz * ((kk + k[i, j, l + 1]) * (T[i, j, l + 1] - t) - (kk + k[i, j, l - 1]) * (t - T[i, j, l - 1]))
    )


@njit(parallel=True, fastmath=True, cache=True, boundscheck=False)
def _pennes(T, out, k, irc, perf, q, has_q, t_art, dt, cx, cy, cz):  # pragma: no cover
    # Plain 3-D indexing: measured ~8 % faster than taking 1-D row views per (i, j) (the view
    # set-up costs ~14 views per row). ``has_q`` is a runtime flag (``q`` is then ``T``, never
    # read) so that each dtype compiles once; the branch sits outside the vectorised inner loop.
    nx, ny, nz = T.shape
    for i in prange(nx):
        if i == 0 or i == nx - 1:
            out[i] = T[i]
            continue
        out[i, 0] = T[i, 0]
        out[i, ny - 1] = T[i, ny - 1]
        for j in range(1, ny - 1):
            out[i, j, 0] = T[i, j, 0]
            out[i, j, nz - 1] = T[i, j, nz - 1]
            if has_q:
                for l in range(1, nz - 1):
                    t = T[i, j, l]
                    d = _div_k_grad(T, k, i, j, l, t, cx, cy, cz)
                    out[i, j, l] = t + dt * (irc[i, j, l] * (d + q[i, j, l]) - perf[i, j, l] * (t - t_art))
            else:
                for l in range(1, nz - 1):
                    t = T[i, j, l]
                    d = _div_k_grad(T, k, i, j, l, t, cx, cy, cz)
                    out[i, j, l] = t + dt * (irc[i, j, l] * d - perf[i, j, l] * (t - t_art))


@register_kernel("pennes_step", "numba")
def pennes_step(T, out, k, inv_rho_c, perf, q, T_art, dt, inv_h2):
    """numba version of :func:`tissuefate.backends.numpy_kernels.pennes_step` (same arguments)."""
    f = T.dtype.type
    if min(T.shape) < 3:
        np.copyto(out, T)
        return out
    _pennes(T, out, k, inv_rho_c, perf, T if q is None else q, q is not None, f(T_art), f(dt),
            f(0.5 * inv_h2[0]), f(0.5 * inv_h2[1]), f(0.5 * inv_h2[2]))
    return out


#: Voxels per parallel task of the damage update.
_CHUNK = 16384


@njit(fastmath=True, cache=True)
def _arrhenius_range(T, omega, cem, peak, lo, hi, dt, ln_a, ea_r, thr, floor, cem_dt, ref, ceil,
                     ln2):  # pragma: no cover - compiled
    for n in range(lo, hi):
        t = T[n]
        if t > peak[n]:
            peak[n] = t
        if t > floor:
            x = min(np.float64(t), ceil) - ref
            if x < 0.0:
                x = 2.0 * x
            cem[n] += cem_dt * math.exp(x * ln2)
        if t > thr:
            omega[n] += dt * math.exp(ln_a - ea_r / np.float64(t))


@njit(parallel=True, cache=True)
def _arrhenius(T, omega, cem, peak, dt, ln_a, ea_r, thr, floor, cem_dt, ref, ceil, ln2):
    # prange over chunks calling a serial loop: a flat prange over voxels with these
    # conditional updates ran 10x slower than the serial loop (numba 0.68 parfor lowering).
    size = T.size
    for c in prange((size + _CHUNK - 1) // _CHUNK):  # pragma: no cover - compiled
        lo = c * _CHUNK
        _arrhenius_range(T, omega, cem, peak, lo, min(lo + _CHUNK, size), dt, ln_a, ea_r, thr,
                         floor, cem_dt, ref, ceil, ln2)


@register_kernel("arrhenius_step", "numba")
def arrhenius_step(T, omega, cem43, peak, dt, A, Ea, T_threshold, cem43_floor_K=CEM43_FLOOR_K):
    """numba version of :func:`tissuefate.backends.numpy_kernels.arrhenius_step`.

    Exponents are evaluated in float64 (only for voxels above the floors), accumulated in the
    array dtype.
    """
    f = T.dtype.type
    _arrhenius(T.reshape(-1), omega.reshape(-1), cem43.reshape(-1), peak.reshape(-1),
               float(dt), math.log(A), Ea / GAS_CONSTANT_J_PER_MOL_K, f(T_threshold),
               f(cem43_floor_K), dt / 60.0, CEM43_REFERENCE_K, CEM43_CEILING_K, math.log(2.0))


@njit(cache=True)
def _dirichlet(T, idx, values):  # pragma: no cover - compiled
    # serial: Dirichlet voxels are few (vessels, a tip), and a parfor costs compile time
    for n in range(idx.size):
        T[idx[n]] = values[n]


@register_kernel("apply_dirichlet", "numba")
def apply_dirichlet(T, flat_index, values):
    """numba version of :func:`tissuefate.backends.numpy_kernels.apply_dirichlet`."""
    if np.ndim(values) == 0:
        values = np.full(len(flat_index), values, dtype=T.dtype)
    _dirichlet(T.reshape(-1), np.asarray(flat_index, dtype=np.int64),
               np.asarray(values, dtype=T.dtype))
    return T
