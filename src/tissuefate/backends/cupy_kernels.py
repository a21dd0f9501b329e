"""CuPy kernels (NVIDIA GPU, optional extra ``[gpu]``): NumPy-reference semantics on the device.

Importing this module does not import CuPy (it only checks that it is installed, so that the
registry can name the missing extra); the CUDA source is compiled on first use per dtype.
Pennes: 2-D thread blocks over (z, y) with one grid layer per x-plane, so that no thread does a
division or modulo to find its voxel, z (contiguous) on threadIdx.x for coalesced loads, and
read-only ``__ldg`` loads (DESIGN.md §5: ≈80 % of copy bandwidth on an H200, against ≈60 % with a
flat index and div/mod).
"""

from __future__ import annotations

import importlib.util
import math

import numpy as np

from .numpy_kernels import (
    CEM43_CEILING_K,
    CEM43_FLOOR_K,
    CEM43_REFERENCE_K,
    GAS_CONSTANT_J_PER_MOL_K,
)
from .registry import register_kernel

if importlib.util.find_spec("cupy") is None:  # the registry turns this into MissingExtraError
    raise ImportError("cupy is not installed")

__all__ = ["pennes_step", "arrhenius_step", "apply_dirichlet"]

_PENNES_SRC = r"""
extern "C" __global__ void pennes(const REAL* __restrict__ T, REAL* __restrict__ out,
        const REAL* __restrict__ k, const REAL* __restrict__ irc, const REAL* __restrict__ perf,
        const REAL* __restrict__ q, const int has_q, const REAL t_art, const REAL dt,
        const REAL cx, const REAL cy, const REAL cz, const int nx, const int ny, const int nz)
{
    const int l = blockIdx.x * blockDim.x + threadIdx.x;  // z, contiguous
    const int j = blockIdx.y * blockDim.y + threadIdx.y;  // y
    const int i = blockIdx.z;                             // x-plane
    if (l >= nz || j >= ny) return;
    const long long sy = nz, sx = (long long)ny * nz;
    const long long n = i * sx + j * sy + l;
    const REAL t = __ldg(T + n);
    if (i == 0 || i == nx - 1 || j == 0 || j == ny - 1 || l == 0 || l == nz - 1) {
        out[n] = t;  // box faces are Dirichlet
        return;
    }
    const REAL kc = __ldg(k + n);
    REAL d = cx * ((kc + __ldg(k + n + sx)) * (__ldg(T + n + sx) - t)
                 - (kc + __ldg(k + n - sx)) * (t - __ldg(T + n - sx)))
           + cy * ((kc + __ldg(k + n + sy)) * (__ldg(T + n + sy) - t)
                 - (kc + __ldg(k + n - sy)) * (t - __ldg(T + n - sy)))
           + cz * ((kc + __ldg(k + n + 1)) * (__ldg(T + n + 1) - t)
                 - (kc + __ldg(k + n - 1)) * (t - __ldg(T + n - 1)));
    if (has_q) d += __ldg(q + n);
    out[n] = t + dt * (__ldg(irc + n) * d - __ldg(perf + n) * (t - t_art));
}
"""

_ARRHENIUS_OP = """
if (t > peak) peak = t;
if (t > floor_k) {
    double x = fmin((double)t, ceil_k) - ref_k;
    if (x < 0.0) x = 2.0 * x;
    cem += (T)(cem_dt * exp(x * ln2));
}
if (t > thr) omega += (T)(dt * exp(ln_a - ea_r / (double)t));
"""

_CACHE: dict = {}
_BLOCK = (32, 8, 1)


def _cp():
    import cupy

    return cupy


def _pennes_kernel(dtype):
    key = ("pennes", np.dtype(dtype).name)
    if key not in _CACHE:
        real = {"float32": "float", "float64": "double"}[key[1]]
        _CACHE[key] = _cp().RawKernel(_PENNES_SRC.replace("REAL", real), "pennes",
                                      options=("--use_fast_math",))
    return _CACHE[key]


@register_kernel("pennes_step", "cupy")
def pennes_step(T, out, k, inv_rho_c, perf, q, T_art, dt, inv_h2):
    """CuPy version of :func:`tissuefate.backends.numpy_kernels.pennes_step` (same arguments,
    CuPy C-contiguous arrays of one dtype)."""
    f = T.dtype.type
    nx, ny, nz = T.shape
    if min(T.shape) < 3:
        out[...] = T
        return out
    grid = ((nz + _BLOCK[0] - 1) // _BLOCK[0], (ny + _BLOCK[1] - 1) // _BLOCK[1], nx)
    _pennes_kernel(T.dtype)(
        grid, _BLOCK,
        (T, out, k, inv_rho_c, perf, T if q is None else q, np.int32(q is not None), f(T_art),
         f(dt), f(0.5 * inv_h2[0]), f(0.5 * inv_h2[1]), f(0.5 * inv_h2[2]),
         np.int32(nx), np.int32(ny), np.int32(nz)),
    )
    return out


@register_kernel("arrhenius_step", "cupy")
def arrhenius_step(T, omega, cem43, peak, dt, A, Ea, T_threshold, cem43_floor_K=CEM43_FLOOR_K):
    """CuPy version of :func:`tissuefate.backends.numpy_kernels.arrhenius_step` (in place)."""
    if "arrhenius" not in _CACHE:
        _CACHE["arrhenius"] = _cp().ElementwiseKernel(
            "T t, float64 dt, float64 ln_a, float64 ea_r, T thr, T floor_k, float64 cem_dt, "
            "float64 ref_k, float64 ceil_k, float64 ln2",
            "T omega, T cem, T peak", _ARRHENIUS_OP, "tissuefate_arrhenius")
    f = T.dtype.type
    _CACHE["arrhenius"](T, float(dt), math.log(A), Ea / GAS_CONSTANT_J_PER_MOL_K, f(T_threshold),
                        f(cem43_floor_K), dt / 60.0, CEM43_REFERENCE_K, CEM43_CEILING_K,
                        math.log(2.0), omega, cem43, peak)


@register_kernel("apply_dirichlet", "cupy")
def apply_dirichlet(T, flat_index, values):
    """CuPy version of :func:`tissuefate.backends.numpy_kernels.apply_dirichlet`."""
    T.reshape(-1)[flat_index] = values
    return T
