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

__all__ = ["pennes_step", "arrhenius_step", "apply_dirichlet", "boiling_cap"]

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

# The boiling cap of physics.vaporisation.Vaporisation.apply in one pass and without a host
# sync: only voxels above the boiling point read 1/(rho c) and write; the vaporised energy is
# summed in float64 by atomicAdd (few voxels, so no contention; the order of the sum, and with it
# the last bits of the total, is not deterministic). Plain IEEE arithmetic (no --use_fast_math):
# e and e/latent round exactly as NumPy's do, so T and the dried fraction match the reference.
_BOILING_SRC = r"""
extern "C" __global__ void boiling_cap(REAL* __restrict__ T, REAL* __restrict__ dried,
        const REAL* __restrict__ irc, double* __restrict__ acc, const REAL boil, const REAL latent,
        const long long n)
{
    const long long stride = (long long)blockDim.x * gridDim.x;
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        const REAL t = T[i];
        if (t > boil) {
            const REAL e = (t - boil) / irc[i];
            atomicAdd(acc, (double)e);
            const REAL d = dried[i] + e / latent;
            dried[i] = d < (REAL)1 ? d : (REAL)1;
            T[i] = boil;
        }
    }
}
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


@register_kernel("boiling_cap", "cupy")
def boiling_cap(T, dried, inv_rho_c, vaporised_J_per_m3, boil_K, latent_J_per_m3):
    """Cap ``T`` at ``boil_K`` in place; the excess energy ρc·(T − T_b) dries the voxel
    (``dried += e / latent``, at most 1) and is added to ``vaporised_J_per_m3`` (a float64
    device array of one element). Reference: :meth:`tissuefate.physics.vaporisation.Vaporisation.apply`
    (NumPy). ``T``, ``dried`` and ``inv_rho_c``: C-contiguous CuPy arrays of one dtype."""
    key = ("boiling_cap", np.dtype(T.dtype).name)
    if key not in _CACHE:
        real = {"float32": "float", "float64": "double"}[key[1]]
        _CACHE[key] = _cp().RawKernel(_BOILING_SRC.replace("REAL", real), "boiling_cap")
    n = T.size
    if n == 0:
        return T
    f = T.dtype.type
    threads = 256
    blocks = min((n + threads - 1) // threads, 1 << 16)
    _CACHE[key]((blocks,), (threads,),
                (T, dried, inv_rho_c, vaporised_J_per_m3, f(boil_K), f(latent_J_per_m3), np.int64(n)))
    return T
