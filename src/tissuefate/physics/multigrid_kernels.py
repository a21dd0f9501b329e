"""The numba-compiled kernels of the geometric multigrid and PCG of :mod:`tissuefate.physics.multigrid`,
which holds the drivers (:class:`~tissuefate.physics.multigrid.GeometricMultigrid`,
:func:`~tissuefate.physics.multigrid.pcg`, :func:`~tissuefate.physics.multigrid.network_matvec`,
:func:`~tissuefate.physics.multigrid.network_to_csr`) and re-exports the public kernels.

- the stencil kernels of a 7-point conductance network: ``A x`` (``_matvec``), its diagonal,
  red–black Gauss–Seidel smoothing (``_rb_sweep``, ``_rb_pair``), residual norms, residual and
  restriction, prolongation, and the Galerkin coarsening of a network;
- the fused vector operations of PCG (``_dot``, ``_update_xr``, ``_dot2``, ``_update_p``);
- the ``_borrow`` and ``_prefetch_row`` intrinsics and the inlined row helpers of the kernels.

The stencil kernels compute bitwise what the voxel-by-voxel loops did (notes below);
``tests/unit/test_multigrid_kernels.py`` compares them with NumPy references and
``benchmarks/bench_multigrid_kernels.py`` times them against those loops.
"""

from __future__ import annotations

import numba as nb
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from ..backends.numba_kernels import _PREFETCH_NAME

__all__: list[str] = []  # private kernels, imported by name by physics.multigrid and physics.network_kernels


# --------------------------------------------------------------------------------------------
# kernels
#
# Layout: C-contiguous [x, y, z]. Each kernel is a parallel loop over x-planes (or over one block
# of planes per thread) calling a compiled function for one plane, which splits the plane into
# the interior voxels of its interior rows, done by branch-free loops over 1-D row views offset
# by the stencil (every index is then the loop counter, so the loop vectorises), and the voxels
# on the faces of the box, done voxel by voxel with the boundary tests (few: about 4/n of a
# plane, plus two planes). The arithmetic and its order are those of the voxel-by-voxel form,
# so the results are bitwise the same; inactive voxels are computed as well and then discarded
# by a select. ``error_model="numpy"``: a division by zero (of a discarded inactive voxel) must
# not raise, and the check would stop the vectoriser. No ``fastmath``: it would let LLVM fuse
# and reorder, and change the bits.
#
# The plane functions are ordinary (not inlined) functions, called with the plane index as a
# signed integer (the prange index is unsigned: one compiled signature), so that numba types and
# lowers each body once (inlined into the parallel loops instead, the cold compilation of these
# kernels took 70–90 s instead of 22 s; the voxel-by-voxel kernels took 11 s). Their arrays are
# first ``_borrow``-ed: in a function of its own every row view and every array passed to an
# inlined helper is otherwise reference-counted, atomically, on the one counter of each array
# that both threads share, which made them 1.5–2× slower.
#
# While a row is computed, the rows ``_PF_ROWS`` ahead of the arrays that come from memory (the
# x+1 plane of the unknown, the face conductances and right-hand side of the plane) are
# software-prefetched: the hardware prefetchers do not keep up with a dozen streams, and the
# loop waited on memory instead of overlapping it (on 2 Zen-4 cores, a 128³ float32 half-sweep
# went from 0.67 to 0.40 ns per voxel; 1 row ahead gave 0.43, 4 rows 0.41).

#: Rows ahead of the one being computed that the stencil kernels prefetch.
_PF_ROWS = 2

_PLANE = {"cache": True, "boundscheck": False, "error_model": "numpy"}
_PARALLEL = {"parallel": True, "cache": True, "boundscheck": False, "error_model": "numpy"}


@intrinsic
def _prefetch_row(typingctx, arr, i, j):
    """Prefetch (for reading, into all cache levels) the cache lines of row ``arr[i, j, :]`` of
    a 3-D array, if (i, j) is inside it. A hint only, never a fault; no array view is made (a
    view would be reference-counted, and the counts of one array shared by both threads are
    atomic operations on one cache line)."""
    if not (isinstance(arr, types.Array) and arr.ndim == 3):
        return None
    sig = types.void(arr, i, j)

    def codegen(context, builder, signature, args):
        aryty, ity, jty = signature.args
        ary = context.make_array(aryty)(context, builder, args[0])
        intp = context.get_value_type(types.intp)
        iv = context.cast(builder, args[1], ity, types.intp)
        jv = context.cast(builder, args[2], jty, types.intp)
        shape = cgutils.unpack_tuple(builder, ary.shape, 3)
        strides = cgutils.unpack_tuple(builder, ary.strides, 3)
        inside = builder.and_(
            builder.icmp_unsigned("<", iv, shape[0]), builder.icmp_unsigned("<", jv, shape[1])
        )
        with builder.if_then(inside, likely=True):
            row = builder.add(builder.mul(iv, strides[0]), builder.mul(jv, strides[1]))
            base = builder.add(builder.ptrtoint(ary.data, intp), row)
            nbytes = builder.mul(shape[2], strides[2])
            i8p = ir.IntType(8).as_pointer()
            i32 = ir.IntType(32)
            fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
            fn = cgutils.get_or_insert_function(builder.module, fnty, _PREFETCH_NAME)
            with cgutils.for_range_slice(builder, intp(0), nbytes, intp(64), intp) as (u, _):
                ptr = builder.inttoptr(builder.add(base, u), i8p)
                builder.call(fn, [ptr, i32(0), i32(3), i32(1)])  # read, high locality, data
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def _borrow(typingctx, arr):
    """``arr`` without its reference count: a view of it, and an alias passed to an inlined
    helper, then cost no atomic increments and decrements (on one cache line shared by the
    threads) in the row loops. Valid while ``arr`` is alive, i.e. within the kernel call."""
    if not isinstance(arr, types.Array):
        return None
    sig = arr(arr)

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, value=args[0])
        ary.meminfo = cgutils.get_null_value(ary.meminfo.type)
        return ary._getvalue()

    return sig, codegen


@nb.njit(inline="always")
def _prefetch_stencil(gx, gy, gz, g0, act, x, i, j):  # pragma: no cover - compiled
    # the streams of a stencil row that come from memory: row j of plane i+1 of x, of plane i
    # of the rest (the planes i and i-1 of x and plane i-1 of gx were read one plane ago)
    _prefetch_row(x, i + 1, j)
    _prefetch_row(gx, i, j)
    _prefetch_row(gy, i, j)
    _prefetch_row(gz, i, j)
    _prefetch_row(g0, i, j)
    if j % 4 == 0:
        _prefetch_row(act, i, j)  # a uint8 row of 128 is two lines: every fourth row suffices


@nb.njit(inline="always")
def _interior_row(i, j, nx, ny, nz):  # pragma: no cover - compiled
    return 0 < i < nx - 1 and 0 < j < ny - 1 and nz > 2


@nb.njit(inline="always")
def _edge_step(interior, nz):  # pragma: no cover - compiled
    # the voxels of a row done one by one: k = 0 and nz-1 of an interior row, else all
    return nz - 1 if interior else 1


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


@nb.njit(inline="always", boundscheck=False, error_model="numpy")
def _apply_row(gx, gy, gz, g0, act, x, i, j, out):  # pragma: no cover - compiled
    """``out[k-1] = (A x)[i, j, k]`` (0 where inactive) for k = 1 … nz-2 of an interior row."""
    e = x.shape[2] - 1
    xc = x[i, j, 1:e]
    xxm = x[i - 1, j, 1:e]
    xxp = x[i + 1, j, 1:e]
    xym = x[i, j - 1, 1:e]
    xyp = x[i, j + 1, 1:e]
    xzm = x[i, j, 0 : e - 1]
    xzp = x[i, j, 2 : e + 1]
    gxm = gx[i - 1, j, 1:e]
    gxp = gx[i, j, 1:e]
    gym = gy[i, j - 1, 1:e]
    gyp = gy[i, j, 1:e]
    gzm = gz[i, j, 0 : e - 1]
    gzp = gz[i, j, 1:e]
    g0r = g0[i, j, 1:e]
    a = act[i, j, 1:e]
    for n in range(e - 1):
        xi = xc[n]
        s = g0r[n] * xi
        s += gxm[n] * (xi - xxm[n])
        s += gxp[n] * (xi - xxp[n])
        s += gym[n] * (xi - xym[n])
        s += gyp[n] * (xi - xyp[n])
        s += gzm[n] * (xi - xzm[n])
        s += gzp[n] * (xi - xzp[n])
        out[n] = s if a[n] != 0 else 0.0


@nb.njit(inline="always", boundscheck=False, error_model="numpy")
def _apply_full_row(gx, gy, gz, g0, act, x, i, j, t):  # pragma: no cover - compiled
    """``t[k] = (A x)[i, j, k]``, 0 where inactive, for the whole row."""
    nx, ny, nz = x.shape
    interior = _interior_row(i, j, nx, ny, nz)
    if interior:
        _apply_row(gx, gy, gz, g0, act, x, i, j, t[1 : nz - 1])
    for k in range(0, nz, _edge_step(interior, nz)):
        t[k] = _apply_at(gx, gy, gz, g0, x, i, j, k, nx, ny, nz) if act[i, j, k] != 0 else 0.0


@nb.njit(**_PLANE)
def _matvec_plane(gx, gy, gz, g0, act, x, out, i):  # pragma: no cover - compiled
    gx, gy, gz, g0, act = _borrow(gx), _borrow(gy), _borrow(gz), _borrow(g0), _borrow(act)
    x, out = _borrow(x), _borrow(out)
    ny = x.shape[1]
    for j in range(ny):
        _prefetch_stencil(gx, gy, gz, g0, act, x, i, j + _PF_ROWS)
        _prefetch_row(out, i, j + _PF_ROWS)
        _apply_full_row(gx, gy, gz, g0, act, x, i, j, out[i, j])


@nb.njit(**_PARALLEL)
def _matvec(gx, gy, gz, g0, act, x, out):  # pragma: no cover - compiled
    """out = A x (0 at inactive voxels)."""
    for i in nb.prange(x.shape[0]):
        _matvec_plane(gx, gy, gz, g0, act, x, out, np.intp(i))


# Red–black Gauss–Seidel. The update of voxel v is x_v = (b_v + Σ g x_nb) / d_v, with the
# diagonal d_v = g0_v + Σ g over the faces to its neighbours. d does not depend on x: it is
# computed by ``_diagonal`` at the start of the smoothing of each level in each V-cycle (0 at
# inactive voxels, which are then skipped like voxels with d ≤ 0), in the order the sweep did,
# which saves six additions and the reads of g0 and act in each of the half-sweeps.


@nb.njit(inline="always")
def _diagonal_at(gx, gy, gz, g0, act, i, j, k, nx, ny, nz):  # pragma: no cover - compiled
    if act[i, j, k] == 0:
        return 0.0
    d = g0[i, j, k]
    if i > 0:
        d += gx[i - 1, j, k]
    if i < nx - 1:
        d += gx[i, j, k]
    if j > 0:
        d += gy[i, j - 1, k]
    if j < ny - 1:
        d += gy[i, j, k]
    if k > 0:
        d += gz[i, j, k - 1]
    if k < nz - 1:
        d += gz[i, j, k]
    return d


@nb.njit(**_PLANE)
def _diagonal_plane(gx, gy, gz, g0, act, diag, i):  # pragma: no cover - compiled
    gx, gy, gz, g0, act = _borrow(gx), _borrow(gy), _borrow(gz), _borrow(g0), _borrow(act)
    diag = _borrow(diag)
    nx, ny, nz = g0.shape
    e = nz - 1
    for j in range(ny):
        _prefetch_stencil(gx, gy, gz, g0, act, g0, i, j + _PF_ROWS)
        _prefetch_row(diag, i, j + _PF_ROWS)
        interior = _interior_row(i, j, nx, ny, nz)
        if interior:
            gxm = gx[i - 1, j, 1:e]
            gxp = gx[i, j, 1:e]
            gym = gy[i, j - 1, 1:e]
            gyp = gy[i, j, 1:e]
            gzm = gz[i, j, 0 : e - 1]
            gzp = gz[i, j, 1:e]
            g0r = g0[i, j, 1:e]
            a = act[i, j, 1:e]
            dr = diag[i, j, 1:e]
            for n in range(e - 1):
                d = g0r[n]
                d += gxm[n]
                d += gxp[n]
                d += gym[n]
                d += gyp[n]
                d += gzm[n]
                d += gzp[n]
                dr[n] = d if a[n] != 0 else 0.0
        for k in range(0, nz, _edge_step(interior, nz)):
            diag[i, j, k] = _diagonal_at(gx, gy, gz, g0, act, i, j, k, nx, ny, nz)


@nb.njit(**_PARALLEL)
def _diagonal(gx, gy, gz, g0, act, diag):  # pragma: no cover - compiled
    """diag = g0 + Σ face conductances (the Gauss–Seidel divisor), 0 where inactive."""
    for i in nb.prange(g0.shape[0]):
        _diagonal_plane(gx, gy, gz, g0, act, diag, np.intp(i))


@nb.njit(inline="always")
def _rb_at(gx, gy, gz, diag, x, b, i, j, k, nx, ny, nz):  # pragma: no cover - compiled
    d = diag[i, j, k]
    if not d > 0.0:
        return
    s = b[i, j, k]
    if i > 0:
        s += gx[i - 1, j, k] * x[i - 1, j, k]
    if i < nx - 1:
        s += gx[i, j, k] * x[i + 1, j, k]
    if j > 0:
        s += gy[i, j - 1, k] * x[i, j - 1, k]
    if j < ny - 1:
        s += gy[i, j, k] * x[i, j + 1, k]
    if k > 0:
        s += gz[i, j, k - 1] * x[i, j, k - 1]
    if k < nz - 1:
        s += gz[i, j, k] * x[i, j, k + 1]
    x[i, j, k] = s / d


@nb.njit(inline="always", boundscheck=False, error_model="numpy")
def _rb_row(gx, gy, gz, diag, x, b, i, j, first, t):  # pragma: no cover - compiled
    """Gauss–Seidel update of the interior voxels k = 1 … nz-2 of an interior row whose k - 1
    is ``first`` plus a multiple of 2 (``t``: scratch of length ≥ nz-2).

    All voxels of the row are computed into ``t`` (unit stride: one vector loop, where the
    stride-2 loop of one colour did not vectorise and ran 3× slower), the other colour keeping
    its value, and ``t`` is copied back; the neighbours in the row of the updated voxels are of
    the other colour, so the order does not matter."""
    e = x.shape[2] - 1
    xc = x[i, j, 1:e]
    xxm = x[i - 1, j, 1:e]
    xxp = x[i + 1, j, 1:e]
    xym = x[i, j - 1, 1:e]
    xyp = x[i, j + 1, 1:e]
    xzm = x[i, j, 0 : e - 1]
    xzp = x[i, j, 2 : e + 1]
    gxm = gx[i - 1, j, 1:e]
    gxp = gx[i, j, 1:e]
    gym = gy[i, j - 1, 1:e]
    gyp = gy[i, j, 1:e]
    gzm = gz[i, j, 0 : e - 1]
    gzp = gz[i, j, 1:e]
    dr = diag[i, j, 1:e]
    br = b[i, j, 1:e]
    for n in range(e - 1):
        s = br[n]
        s += gxm[n] * xxm[n]
        s += gxp[n] * xxp[n]
        s += gym[n] * xym[n]
        s += gyp[n] * xyp[n]
        s += gzm[n] * xzm[n]
        s += gzp[n] * xzp[n]
        d = dr[n]
        t[n] = s / d if (d > 0.0) & ((n & 1) == first) else xc[n]
    for n in range(e - 1):
        xc[n] = t[n]


@nb.njit(**_PLANE)
def _rb_plane(gx, gy, gz, diag, x, b, i, colour, t, prefetch):  # pragma: no cover - compiled
    """Half-sweep of x-plane i: the voxels with (i + j + k) % 2 == colour."""
    gx, gy, gz, diag, x = _borrow(gx), _borrow(gy), _borrow(gz), _borrow(diag), _borrow(x)
    b, t = _borrow(b), _borrow(t)
    nx, ny, nz = x.shape
    for j in range(ny):
        if prefetch:
            jp = j + _PF_ROWS
            _prefetch_row(x, i + 1, jp)
            _prefetch_row(gx, i, jp)
            _prefetch_row(gy, i, jp)
            _prefetch_row(gz, i, jp)
            _prefetch_row(diag, i, jp)
            _prefetch_row(b, i, jp)
        k0 = (i + j + colour) % 2
        interior = _interior_row(i, j, nx, ny, nz)
        if interior:
            _rb_row(gx, gy, gz, diag, x, b, i, j, 1 - k0, t)
        for k in range(0, nz, _edge_step(interior, nz)):
            if k % 2 == k0:
                _rb_at(gx, gy, gz, diag, x, b, i, j, k, nx, ny, nz)


@nb.njit(**_PARALLEL)
def _rb_sweep(gx, gy, gz, diag, x, b, colour):  # pragma: no cover - compiled
    """Red–black Gauss–Seidel half-sweep: every voxel with (i + j + k) % 2 == colour
    (``diag`` from :func:`_diagonal`)."""
    nx, ny, nz = x.shape
    for i in nb.prange(nx):
        t = np.empty(nz, x.dtype)
        _rb_plane(gx, gy, gz, diag, x, b, np.intp(i), colour, t, True)


@nb.njit(**_PARALLEL)
def _rb_pair(gx, gy, gz, diag, x, b, colour, nblocks):  # pragma: no cover - compiled
    """``_rb_sweep(colour)`` then ``_rb_sweep(1 - colour)`` in one pass over the arrays.

    Each of ``nblocks`` threads takes a block of planes and runs a wavefront: the first colour
    in plane i, then the second colour in plane i-1, whose neighbours of the first colour
    (planes i-2 … i) are then final, while its planes are still in cache. The second colour of
    a block's first and last planes needs the first colour of the neighbouring blocks: it is
    left to a second parallel phase, so that no block reads a plane that another is writing
    (exactly the order of the two half-sweeps)."""
    nx, ny, nz = x.shape
    second = 1 - colour
    nbk = max(1, min(nblocks, nx // 2))
    for c in nb.prange(nbk):
        lo = np.intp(c) * nx // nbk
        hi = (np.intp(c) + 1) * nx // nbk
        t = np.empty(nz, x.dtype)
        for i in range(lo, hi):
            _rb_plane(gx, gy, gz, diag, x, b, i, colour, t, True)
            if i - 1 > lo:
                _rb_plane(gx, gy, gz, diag, x, b, i - 1, second, t, False)
    for c in nb.prange(nbk):
        lo = np.intp(c) * nx // nbk
        hi = (np.intp(c) + 1) * nx // nbk
        t = np.empty(nz, x.dtype)
        for i in range(lo, hi, max(1, hi - 1 - lo)):  # lo and hi - 1
            _rb_plane(gx, gy, gz, diag, x, b, i, second, t, False)


@nb.njit(cache=True, fastmath={"reassoc"}, boundscheck=False)
def _sum2(a, b):  # pragma: no cover - compiled
    """(Σ a, Σ b), reassociated (vectorised)."""
    s = 0.0
    t = 0.0
    for n in range(a.shape[0]):
        s += a[n]
        t += b[n]
    return s, t


@nb.njit(**_PLANE)
def _norms_plane(gx, gy, gz, g0, act, b, x, xprev, i, t1, t2, u1, u2):  # pragma: no cover
    gx, gy, gz, g0, act = _borrow(gx), _borrow(gy), _borrow(gz), _borrow(g0), _borrow(act)
    b, x, xprev, t1, t2 = _borrow(b), _borrow(x), _borrow(xprev), _borrow(t1), _borrow(t2)
    u1, u2 = _borrow(u1), _borrow(u2)
    ny, nz = x.shape[1], x.shape[2]
    p1 = 0.0
    p2 = 0.0
    for j in range(ny):
        jp = j + _PF_ROWS
        _prefetch_stencil(gx, gy, gz, g0, act, x, i, jp)
        _prefetch_row(xprev, i + 1, jp)
        _prefetch_row(b, i, jp)
        for v in range(2):
            _apply_full_row(gx, gy, gz, g0, act, x if v == 0 else xprev, i, j, t1 if v == 0 else t2)
        br = b[i, j]
        a = act[i, j]
        for k in range(nz):
            ax = t1[k]
            r1 = br[k] - ax
            r2 = br[k] - (2.0 * ax - t2[k])
            u1[k] = r1 * r1 if a[k] != 0 else 0.0
            u2[k] = r2 * r2 if a[k] != 0 else 0.0
        q1, q2 = _sum2(u1, u2)
        p1 += q1
        p2 += q2
    return p1, p2


@nb.njit(**_PARALLEL)
def _residual_norms2(gx, gy, gz, g0, act, b, x, xprev):  # pragma: no cover - compiled
    """(‖b − A x‖², ‖b − A y‖²) with y = 2x − xprev, in one pass.

    The sums are taken row by row and reassociated (vectorised), so they differ from a
    voxel-by-voxel sum in the last bits (relative 1e-14 at 128³)."""
    nx, ny, nz = x.shape
    s1 = 0.0
    s2 = 0.0
    for i in nb.prange(nx):
        t1 = np.empty(nz, x.dtype)
        t2 = np.empty(nz, x.dtype)
        u1 = np.empty(nz)
        u2 = np.empty(nz)
        p1, p2 = _norms_plane(gx, gy, gz, g0, act, b, x, xprev, np.intp(i), t1, t2, u1, u2)
        s1 += p1
        s2 += p2
    return s1, s2


@nb.njit(**_PLANE)
def _restrict_plane(gx, gy, gz, g0, act, x, b, rc, ci, t):  # pragma: no cover - compiled
    gx, gy, gz, g0, act = _borrow(gx), _borrow(gy), _borrow(gz), _borrow(g0), _borrow(act)
    x, b, rc, t = _borrow(x), _borrow(b), _borrow(rc), _borrow(t)
    nx, ny, nz = x.shape
    h = nz // 2
    rc[ci] = 0.0
    for i in range(2 * ci, min(2 * ci + 2, nx)):
        for j in range(ny):
            _prefetch_stencil(gx, gy, gz, g0, act, x, i, j + _PF_ROWS)
            _prefetch_row(b, i, j + _PF_ROWS)
            _apply_full_row(gx, gy, gz, g0, act, x, i, j, t)
            br = b[i, j]
            a = act[i, j]
            for k in range(nz):
                t[k] = br[k] - t[k] if a[k] != 0 else 0.0
            rr = rc[ci, j // 2]
            for ck in range(h):
                rr[ck] = (rr[ck] + t[2 * ck]) + t[2 * ck + 1]
            if nz > 2 * h:
                rr[h] += t[nz - 1]


@nb.njit(**_PARALLEL)
def _residual_restrict(gx, gy, gz, g0, act, x, b, rc):  # pragma: no cover - compiled
    """rc = Pᵀ (b − A x) for 2×2×2 aggregates (rc is overwritten; x, b, rc of one dtype).

    Each coarse sum is accumulated in the order of the fine voxels (x, then y, then z), as the
    voxel-by-voxel loop did; inactive voxels add +0.0, which changes no sum that starts at +0.0."""
    for ci in nb.prange(rc.shape[0]):
        t = np.empty(x.shape[2], x.dtype)
        _restrict_plane(gx, gy, gz, g0, act, x, b, rc, np.intp(ci), t)


@nb.njit(**_PARALLEL)
def _prolong_add(act, x, xc):  # pragma: no cover - compiled
    nx, ny, nz = x.shape
    h = nz // 2
    for i in nb.prange(nx):
        ci = i // 2
        for j in range(ny):
            xr = x[i, j]
            ar = act[i, j]
            cr = xc[ci, j // 2]
            for ck in range(h):
                v = cr[ck]
                k = 2 * ck
                xr[k] = xr[k] + v if ar[k] != 0 else xr[k]
                xr[k + 1] = xr[k + 1] + v if ar[k + 1] != 0 else xr[k + 1]
            if nz > 2 * h and ar[nz - 1] != 0:
                xr[nz - 1] += cr[h]


@nb.njit(inline="always")
def _coarsen_at(gx, gy, gz, g0, act, gxc, gyc, gzc, g0c, actc, scale, ci, cj, ck):  # pragma: no cover
    nx, ny, nz = g0.shape
    ncx, ncy, ncz = g0c.shape
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


@nb.njit(inline="always", boundscheck=False)
def _coarsen_row(gx, gy, gz, g0, act, gxc, gyc, gzc, g0c, actc, scale, ci, cj, m):  # pragma: no cover
    # coarse voxels ck < m of a row whose aggregates are full 2×2×2 and have all three upper
    # faces inside the grid; sums in the order of the voxel-by-voxel form
    i0 = 2 * ci
    i1 = i0 + 1
    j0 = 2 * cj
    j1 = j0 + 1
    a00 = g0[i0, j0]
    a01 = g0[i0, j1]
    a10 = g0[i1, j0]
    a11 = g0[i1, j1]
    b00 = act[i0, j0]
    b01 = act[i0, j1]
    b10 = act[i1, j0]
    b11 = act[i1, j1]
    x0 = gx[i1, j0]
    x1 = gx[i1, j1]
    y0 = gy[i0, j1]
    y1 = gy[i1, j1]
    z00 = gz[i0, j0]
    z01 = gz[i0, j1]
    z10 = gz[i1, j0]
    z11 = gz[i1, j1]
    g0r = g0c[ci, cj]
    ar = actc[ci, cj]
    gxr = gxc[ci, cj]
    gyr = gyc[ci, cj]
    gzr = gzc[ci, cj]
    for ck in range(m):
        k0 = 2 * ck
        k1 = k0 + 1
        s0 = 0.0
        s0 += a00[k0]
        s0 += a00[k1]
        s0 += a01[k0]
        s0 += a01[k1]
        s0 += a10[k0]
        s0 += a10[k1]
        s0 += a11[k0]
        s0 += a11[k1]
        a = (b00[k0] | b00[k1] | b01[k0] | b01[k1] | b10[k0] | b10[k1] | b11[k0] | b11[k1]) != 0
        sx = 0.0
        sx += x0[k0]
        sx += x0[k1]
        sx += x1[k0]
        sx += x1[k1]
        sy = 0.0
        sy += y0[k0]
        sy += y0[k1]
        sy += y1[k0]
        sy += y1[k1]
        sz = 0.0
        sz += z00[k1]
        sz += z01[k1]
        sz += z10[k1]
        sz += z11[k1]
        g0r[ck] = scale * s0
        ar[ck] = 1 if a else 0
        gxr[ck] = scale * sx
        gyr[ck] = scale * sy
        gzr[ck] = scale * sz


@nb.njit(**_PLANE)
def _coarsen_plane(gx, gy, gz, g0, act, gxc, gyc, gzc, g0c, actc, scale, ci):  # pragma: no cover
    gx, gy, gz, g0, act = _borrow(gx), _borrow(gy), _borrow(gz), _borrow(g0), _borrow(act)
    gxc, gyc, gzc, g0c, actc = _borrow(gxc), _borrow(gyc), _borrow(gzc), _borrow(g0c), _borrow(actc)
    nx, ny, nz = g0.shape
    ncx, ncy, ncz = g0c.shape
    m = (nz - 1) // 2  # coarse voxels with a full aggregate and an upper z face in the grid
    for cj in range(ncy):
        c0 = 0
        if ci < ncx - 1 and 2 * ci + 1 < nx - 1 and cj < ncy - 1 and 2 * cj + 1 < ny - 1:
            _coarsen_row(gx, gy, gz, g0, act, gxc, gyc, gzc, g0c, actc, scale, ci, cj, m)
            c0 = m
        for ck in range(c0, ncz):
            _coarsen_at(gx, gy, gz, g0, act, gxc, gyc, gzc, g0c, actc, scale, ci, cj, ck)


@nb.njit(**_PARALLEL)
def _coarsen(gx, gy, gz, g0, act, gxc, gyc, gzc, g0c, actc, scale):  # pragma: no cover
    """Coarse network = scale · PᵀAP for 2×2×2 aggregates (all coarse arrays overwritten)."""
    for ci in nb.prange(g0c.shape[0]):
        _coarsen_plane(gx, gy, gz, g0, act, gxc, gyc, gzc, g0c, actc, scale, np.intp(ci))


# --------------------------------------------------------------------------------------------
# vector operations of PCG (fused loops, no temporaries)


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


# --------------------------------------------------------------------------------------------
# the coarsest level as a sparse matrix


@nb.njit(cache=True)
def _network_csr(gx, gy, gz, g0, act, indptr, indices, data):  # pragma: no cover - compiled
    # network_to_csr in one serial pass: rows over every voxel in C order, columns sorted
    # (x−, y−, z−, diag, z+, y+, x+), zero entries left out (eliminate_zeros), inactive voxels an
    # identity row; the diagonal summed as the NumPy version sums it: g0, then per axis the face
    # to the + neighbour and the face to the − neighbour, faces counted only between two active
    # voxels. ``indices``/``data`` must hold 7 entries per voxel; returns the number used.
    # (network_kernels.csr_fill builds the reduced system over the unknowns only, with another
    # summation order; this one must equal network_to_csr bit for bit.)
    nx, ny, nz = act.shape
    P = ny * nz
    p = 0
    for i in range(nx):
        for j in range(ny):
            for k in range(nz):
                n = (i * ny + j) * nz + k
                indptr[n] = p
                if act[i, j, k] == 0:
                    indices[p] = n
                    data[p] = 1.0
                    p += 1
                    continue
                d = np.float64(g0[i, j, k])
                gxp = np.float64(gx[i, j, k]) if i < nx - 1 and act[i + 1, j, k] != 0 else 0.0
                gxm = np.float64(gx[i - 1, j, k]) if i > 0 and act[i - 1, j, k] != 0 else 0.0
                gyp = np.float64(gy[i, j, k]) if j < ny - 1 and act[i, j + 1, k] != 0 else 0.0
                gym = np.float64(gy[i, j - 1, k]) if j > 0 and act[i, j - 1, k] != 0 else 0.0
                gzp = np.float64(gz[i, j, k]) if k < nz - 1 and act[i, j, k + 1] != 0 else 0.0
                gzm = np.float64(gz[i, j, k - 1]) if k > 0 and act[i, j, k - 1] != 0 else 0.0
                d = d + gxp
                d = d + gxm
                d = d + gyp
                d = d + gym
                d = d + gzp
                d = d + gzm
                for col, v in ((n - P, -gxm), (n - nz, -gym), (n - 1, -gzm), (n, d),
                               (n + 1, -gzp), (n + nz, -gyp), (n + P, -gxp)):
                    if v != 0.0:
                        indices[p] = col
                        data[p] = v
                        p += 1
    indptr[nx * P] = p
    return p
