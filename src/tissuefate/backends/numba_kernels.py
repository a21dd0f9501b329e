"""numba kernels (CPU default): the NumPy reference semantics in one fused, parallel pass.

Layout: C-contiguous ``[x, y, z]``; ``prange`` over x-planes. Scalars are cast to the array
dtype before the call: a float64 scalar inside a float32 loop would promote the whole
expression and halve the vector width. The kernels are memory-bound (DESIGN.md §5): the
Pennes step moves 6 arrays × itemsize per voxel (T, k, 1/ρc, perfusion, Q read; out written).

The Pennes step treats each x-plane's interior rows as one flat run of voxels (1-D views offset
by ±1, ±nz, ±ny·nz), so the vector loop runs the whole plane with one remainder and no per-row
set-up; the two z-face voxels of each row are computed from wrapped neighbours and then
overwritten with their Dirichlet copy. The run starts at a 64-byte boundary of ``out`` and
software-prefetches its six DRAM streams. Measured on 2 Zen-4 cores, float32, ``bench_pennes``
while the copy ran at 69–82 GB/s: 256³ 1.46–1.62 Gvox/s (50–54 % of copy) for per-row 3-D
indexing, 1.76–2.12 (61–73 %) flat + aligned + prefetch; 128³ 1.68–1.87 (54–60 %) → 2.13–2.26
(67–72 %). While the copy ran at 40–60 GB/s both are at 66–88 %, and flat + aligned without the
prefetch would be ~10 % faster at 256³: the prefetch pays only when bandwidth is plentiful.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from llvmlite.binding import llvm_version_info
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

from .numpy_kernels import (
    CEM43_CEILING_K,
    CEM43_FLOOR_K,
    CEM43_REFERENCE_K,
    GAS_CONSTANT_J_PER_MOL_K,
    widen_range,
)
from .registry import register_kernel

__all__ = ["pennes_step", "arrhenius_step", "apply_dirichlet", "boiling_cap"]


#: ``llvm.prefetch`` is mangled by pointer type: ``p0`` since LLVM 15's opaque pointers.
_PREFETCH_NAME = "llvm.prefetch.p0" if llvm_version_info[0] >= 15 else "llvm.prefetch.p0i8"


@intrinsic
def _prefetch(typingctx, arr, idx):
    """Prefetch the cache line holding ``arr[idx]`` for reading (``llvm.prefetch``, all levels).

    A hint only: it never faults, so an address past the end is harmless (the callers stay inside).
    """
    sig = types.void(arr, idx)

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        i8p = ir.IntType(8).as_pointer()
        ptr = builder.bitcast(builder.gep(ary.data, [args[1]]), i8p)
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, _PREFETCH_NAME)
        builder.call(fn, [ptr, i32(0), i32(3), i32(1)])  # read, high locality, data cache
        return context.get_dummy_value()

    return sig, codegen


@njit(inline="always", fastmath=True, boundscheck=False)
def _div_k_grad(T, k, i, j, l, t, cx, cy, cz):
    kk = k[i, j, l]
    return (
        cx * ((kk + k[i + 1, j, l]) * (T[i + 1, j, l] - t) - (kk + k[i - 1, j, l]) * (t - T[i - 1, j, l]))
        + cy * ((kk + k[i, j + 1, l]) * (T[i, j + 1, l] - t) - (kk + k[i, j - 1, l]) * (t - T[i, j - 1, l]))
        + cz * ((kk + k[i, j, l + 1]) * (T[i, j, l + 1] - t) - (kk + k[i, j, l - 1]) * (t - T[i, j, l - 1]))
    )


@njit(parallel=True, fastmath=True, cache=True, boundscheck=False)
def _pennes_strided(T, out, k, irc, perf, q, has_q, qs, t_art, dt, cx, cy, cz):  # pragma: no cover
    # Any layout (the flat kernel below needs C-contiguous arrays); plain 3-D indexing per row.
    # ``has_q`` is a runtime flag (``q`` is then ``T``, never read) so that each dtype compiles
    # once; the branch sits outside the vectorised inner loop.
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
                    out[i, j, l] = t + dt * (irc[i, j, l] * (d + qs * q[i, j, l]) - perf[i, j, l] * (t - t_art))
            else:
                for l in range(1, nz - 1):
                    t = T[i, j, l]
                    d = _div_k_grad(T, k, i, j, l, t, cx, cy, cz)
                    out[i, j, l] = t + dt * (irc[i, j, l] * d - perf[i, j, l] * (t - t_art))


#: Voxels per prefetch block of the flat Pennes run, and how far ahead it prefetches [B]. Ahead
#: 1 KiB was as good as 2 KiB and better than 0.5–0.75 KiB on 2 Zen-4 cores; blocks of 32 voxels
#: were no better, of 128 slower; prefetching the x and x-1 planes as well cost ~10 % at 256³.
_PF_BLOCK = 64
_PF_AHEAD_B = 1024


@njit(inline="always", fastmath=True, boundscheck=False)
def _pennes_run(Tc, kc, Txp, Txm, kxp, kxm, Typ, Tym, kyp, kym, Tzp, Tzm, kzp, kzm, o, r, p, qq,
                has_q, qs, t_art, dt, cx, cy, cz, a, b):  # pragma: no cover - compiled
    # 1-D views whose indices are all the loop counter: no wraparound selects, one vector loop
    if has_q:
        for n in range(a, b):
            t = Tc[n]
            kk = kc[n]
            d = (cx * ((kk + kxp[n]) * (Txp[n] - t) - (kk + kxm[n]) * (t - Txm[n]))
                 + cy * ((kk + kyp[n]) * (Typ[n] - t) - (kk + kym[n]) * (t - Tym[n]))
                 + cz * ((kk + kzp[n]) * (Tzp[n] - t) - (kk + kzm[n]) * (t - Tzm[n])))
            o[n] = t + dt * (r[n] * (d + qs * qq[n]) - p[n] * (t - t_art))
    else:
        for n in range(a, b):
            t = Tc[n]
            kk = kc[n]
            d = (cx * ((kk + kxp[n]) * (Txp[n] - t) - (kk + kxm[n]) * (t - Txm[n]))
                 + cy * ((kk + kyp[n]) * (Typ[n] - t) - (kk + kym[n]) * (t - Tym[n]))
                 + cz * ((kk + kzp[n]) * (Tzp[n] - t) - (kk + kzm[n]) * (t - Tzm[n])))
            o[n] = t + dt * (r[n] * d - p[n] * (t - t_art))


@njit(inline="always", fastmath=True, boundscheck=False)
def _pennes_span(T, out, k, irc, perf, q, has_q, qs, t_art, dt, cx, cy, cz, lo, hi, P, nz,
                 prefetch):  # pragma: no cover - compiled
    # Flat voxels [lo, hi) through 1-D views offset by the stencil's strides. Every loop below
    # starts at 0 so that its indices are provably non-negative: a run starting at a computed
    # offset kept numba's negative-index selects and ran 4x slower.
    Tc = T[lo:hi]
    kc = k[lo:hi]
    Txp = T[lo + P:hi + P]
    Txm = T[lo - P:hi - P]
    kxp = k[lo + P:hi + P]
    kxm = k[lo - P:hi - P]
    Typ = T[lo + nz:hi + nz]
    Tym = T[lo - nz:hi - nz]
    kyp = k[lo + nz:hi + nz]
    kym = k[lo - nz:hi - nz]
    Tzp = T[lo + 1:hi + 1]
    Tzm = T[lo - 1:hi - 1]
    kzp = k[lo + 1:hi + 1]
    kzm = k[lo - 1:hi - 1]
    o = out[lo:hi]
    r = irc[lo:hi]
    p = perf[lo:hi]
    qq = q[lo:hi]
    m = hi - lo
    full = 0
    if prefetch:
        # blocks with a software prefetch, ``ahead`` voxels on, of the six streams that come
        # from DRAM (the x+1 plane of T and k, 1/ρc, perfusion, Q, out); the x and x-1 planes
        # were read one and two planes ago and sit in L2/L3
        line = 64 // T.itemsize
        ahead = _PF_AHEAD_B // T.itemsize
        full = (m // _PF_BLOCK) * _PF_BLOCK
        for c in range(0, full, _PF_BLOCK):
            e = c + ahead
            if e + _PF_BLOCK <= m:
                for u in range(e, e + _PF_BLOCK, line):
                    _prefetch(Txp, u)
                    _prefetch(kxp, u)
                    _prefetch(r, u)
                    _prefetch(p, u)
                    _prefetch(qq, u)
                    _prefetch(o, u)
            _pennes_run(Tc, kc, Txp, Txm, kxp, kxm, Typ, Tym, kyp, kym, Tzp, Tzm, kzp, kzm, o, r, p,
                        qq, has_q, qs, t_art, dt, cx, cy, cz, c, c + _PF_BLOCK)
    _pennes_run(Tc, kc, Txp, Txm, kxp, kxm, Typ, Tym, kyp, kym, Tzp, Tzm, kzp, kzm, o, r, p, qq,
                has_q, qs, t_art, dt, cx, cy, cz, full, m)


@njit(parallel=True, fastmath=True, cache=True, boundscheck=False)
def _pennes(T3, out3, k3, irc3, perf3, q3, has_q, qs, t_art, dt, cx, cy, cz):  # pragma: no cover
    # C-contiguous arrays only. Per x-plane, rows 1..ny-2 as one flat run [lo, hi).
    nx, ny, nz = T3.shape
    P = ny * nz
    T = T3.reshape(-1)
    out = out3.reshape(-1)
    k = k3.reshape(-1)
    irc = irc3.reshape(-1)
    perf = perf3.reshape(-1)
    q = q3.reshape(-1)
    isz = T.itemsize
    addr = out.ctypes.data
    for i in prange(nx):
        if i == 0 or i == nx - 1:
            out3[i] = T3[i]
            continue
        lo = i * P + nz
        hi = (i + 1) * P - nz
        # peel to a 64-byte boundary of ``out`` (numpy's large arrays sit 16 B past one): the
        # arrays share that offset, so 10 of the 14 loads and the store are then line-aligned
        s = lo
        if addr % isz == 0:
            s = min(lo + ((-(addr + lo * isz)) % 64) // isz, hi)
        _pennes_span(T, out, k, irc, perf, q, has_q, qs, t_art, dt, cx, cy, cz, lo, s, P, nz, False)
        _pennes_span(T, out, k, irc, perf, q, has_q, qs, t_art, dt, cx, cy, cz, s, hi, P, nz, True)
        # Dirichlet faces of this plane, after the run wrote wrapped values into its z faces
        out3[i, 0] = T3[i, 0]
        out3[i, ny - 1] = T3[i, ny - 1]
        for j in range(1, ny - 1):
            out3[i, j, 0] = T3[i, j, 0]
            out3[i, j, nz - 1] = T3[i, j, nz - 1]


@register_kernel("pennes_step", "numba")
def pennes_step(T, out, k, inv_rho_c, perf, q, T_art, dt, inv_h2, q_scale=1.0):
    """numba version of :func:`tissuefate.backends.numpy_kernels.pennes_step` (same arguments).

    The scaled source enters as ``q_scale · q`` inside the loop (fast-math may fuse it with the
    sum, one rounding less than the reference's scaled array; bit for bit equal when
    ``q_scale`` is 1)."""
    f = T.dtype.type
    if min(T.shape) < 3:
        np.copyto(out, T)
        return out
    qq = T if q is None else q
    flat = all(a.flags.c_contiguous for a in (T, out, k, inv_rho_c, perf, qq))
    (_pennes if flat else _pennes_strided)(
        T, out, k, inv_rho_c, perf, qq, q is not None, f(q_scale), f(T_art), f(dt),
        f(0.5 * inv_h2[0]), f(0.5 * inv_h2[1]), f(0.5 * inv_h2[2]))
    return out


#: Voxels per parallel task of the damage update and the boiling cap.
_CHUNK = 16384
#: Voxels per screening block inside a task: a vectorised pass over the block counts the voxels
#: above its floor (and, for the damage update, raises the peak); the branchy per-voxel work runs
#: only on blocks with a count above 0. In a session the region is cool almost everywhere.
_SCREEN = 512


# The two screening loops run over 1-D views from index 0 (as the Pennes run) and count the voxels
# above a level rather than take a maximum: LLVM vectorises a counting sum under numba's fast-math
# flags but not a max reduction (the max form ran at 2.2 ms for 128³ on one core, the count at 0.31).
@njit(fastmath=True, cache=True, boundscheck=False)
def _count_above(T, lo, hi, level):  # pragma: no cover - compiled
    # how many of T[lo:hi] exceed ``level``, in one vector loop
    Tv = T[lo:hi]
    c = 0.0
    for n in range(hi - lo):
        c += 1.0 if Tv[n] > level else 0.0
    return c


@njit(fastmath=True, cache=True, boundscheck=False)
def _peak_count_above(T, peak, lo, hi, level):  # pragma: no cover - compiled
    # peak = max(peak, T) over [lo, hi), and how many T exceed ``level``, in one vector loop
    Tv = T[lo:hi]
    pv = peak[lo:hi]
    c = 0.0
    for n in range(hi - lo):
        t = Tv[n]
        p = pv[n]
        pv[n] = t if t > p else p
        c += 1.0 if t > level else 0.0
    return c


@njit(fastmath=True, cache=True)
def _damage_range(T, omega, cem, lo, hi, dt, ln_a, ea_r, thr, floor, cem_dt, ref, ceil,
                  ln2):  # pragma: no cover - compiled
    for n in range(lo, hi):
        t = T[n]
        if t > floor:
            x = min(np.float64(t), ceil) - ref
            if x < 0.0:
                x = 2.0 * x
            cem[n] += cem_dt * math.exp(x * ln2)
        if t > thr:
            omega[n] += dt * math.exp(ln_a - ea_r / np.float64(t))


@njit(parallel=True, cache=True)
def _arrhenius(T, omega, cem, peak, dt, ln_a, ea_r, thr, floor, cem_dt, ref, ceil, ln2):
    # prange over chunks calling serial loops: a flat prange over voxels with these
    # conditional updates ran 10x slower than the serial loop (numba 0.68 parfor lowering).
    size = T.size
    lim = min(thr, floor)
    for c in prange((size + _CHUNK - 1) // _CHUNK):  # pragma: no cover - compiled
        end = min(c * _CHUNK + _CHUNK, size)
        for lo in range(c * _CHUNK, end, _SCREEN):
            hi = min(lo + _SCREEN, end)
            if _peak_count_above(T, peak, lo, hi, lim) > 0.0:
                _damage_range(T, omega, cem, lo, hi, dt, ln_a, ea_r, thr, floor, cem_dt, ref, ceil, ln2)


@register_kernel("arrhenius_step", "numba")
def arrhenius_step(T, omega, cem43, peak, dt, A, Ea, T_threshold, cem43_floor_K=CEM43_FLOOR_K):
    """numba version of :func:`tissuefate.backends.numpy_kernels.arrhenius_step`.

    Exponents are evaluated in float64 (only for voxels above the floors), accumulated in the
    array dtype. Blocks of 512 voxels with none above the lower of the two floors only have their
    peak raised, in a vector loop.
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


@njit(cache=True)
def _cap_range(T, dried, irc, boil, latent, below, lo, hi):  # pragma: no cover - compiled
    # the reference's cap and rehydration over [lo, hi); returns the vaporised energy density
    # and the first and last voxel dried (-1 if none)
    total = 0.0
    first = -1
    last = -1
    for i in range(lo, hi):
        t = T[i]
        if t > boil:
            e = (t - boil) / irc[i]
            total += e
            d = dried[i] + e / latent
            dried[i] = d if d < 1.0 else 1.0
            T[i] = boil
            if first < 0:
                first = i
            last = i
        elif t < below and dried[i] != 0.0:
            dried[i] = 0.0
    return total, first, last


@njit(parallel=True, cache=True)
def _boiling_cap(T, dried, irc, boil, latent, below, dlo, dhi, totals, firsts, lasts):
    # Per chunk: blocks that hold a dried voxel ([dlo, dhi) bounds them) or a voxel above the
    # boiling point get the reference's loop; the rest are only read, in a vector loop.
    size = T.size
    for c in prange((size + _CHUNK - 1) // _CHUNK):  # pragma: no cover - compiled
        end = min(c * _CHUNK + _CHUNK, size)
        total = 0.0
        first = -1
        last = -1
        for lo in range(c * _CHUNK, end, _SCREEN):
            hi = min(lo + _SCREEN, end)
            if (hi > dlo and lo < dhi) or _count_above(T, lo, hi, boil) > 0.0:
                e, f, l = _cap_range(T, dried, irc, boil, latent, below, lo, hi)
                total += e
                if f >= 0:
                    if first < 0:
                        first = f
                    last = l
        totals[c] = total
        firsts[c] = first
        lasts[c] = last


@register_kernel("boiling_cap", "numba")
def boiling_cap(T, dried, inv_rho_c, boil_K, latent_J_per_m3, rehydrate_below_K=-np.inf,
                dried_range=None) -> float:
    """The boiling cap and rehydration of :func:`~tissuefate.backends.numpy_kernels.boiling_cap` in
    one parallel pass (T, the dried fraction, ``dried_range`` and the result match the reference;
    the float64 sum of the vaporised energy is taken in another order).

    Blocks of 512 voxels with no voxel above the boiling point and none inside ``dried_range``
    (``dried`` is zero there, so nothing rehydrates) are only read, in a vector loop; the others
    get the reference's per-voxel loop, in which only voxels above the boiling point read 1/(ρc)
    and only voxels that change are written. Non-contiguous arrays go to the reference.
    """
    if not (T.flags.c_contiguous and dried.flags.c_contiguous and inv_rho_c.flags.c_contiguous):
        from .numpy_kernels import boiling_cap as reference

        return reference(T, dried, inv_rho_c, boil_K, latent_J_per_m3, rehydrate_below_K, dried_range)
    dt = T.dtype.type
    n_chunks = (T.size + _CHUNK - 1) // _CHUNK
    totals = np.empty(n_chunks)
    firsts = np.empty(n_chunks, dtype=np.int64)
    lasts = np.empty(n_chunks, dtype=np.int64)
    lo, hi = (0, T.size) if dried_range is None else (int(dried_range[0]), int(dried_range[1]))
    _boiling_cap(T.reshape(-1), dried.reshape(-1), inv_rho_c.reshape(-1), dt(boil_K),
                 dt(latent_J_per_m3), dt(rehydrate_below_K), lo, hi, totals, firsts, lasts)
    if dried_range is not None:
        hit = firsts >= 0
        if hit.any():
            widen_range(dried_range, int(firsts[hit].min()), int(lasts[hit].max()) + 1)
    return float(totals.sum())


@register_kernel("apply_dirichlet", "numba")
def apply_dirichlet(T, flat_index, values):
    """numba version of :func:`tissuefate.backends.numpy_kernels.apply_dirichlet`."""
    if np.ndim(values) == 0:
        values = np.full(len(flat_index), values, dtype=T.dtype)
    _dirichlet(T.reshape(-1), np.asarray(flat_index, dtype=np.int64),
               np.asarray(values, dtype=T.dtype))
    return T
