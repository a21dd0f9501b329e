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

Everything is numba-compiled, parallel over x-planes; the kernels are in
:mod:`tissuefate.physics.multigrid_kernels` (those that build and read a network from a voxel
conductivity in :mod:`tissuefate.physics.network_kernels`). The stencil kernels run the interior of each row as
one branch-free vector loop and compute bitwise what the voxel-by-voxel loops did (notes there;
``benchmarks/bench_multigrid_kernels.py`` times them against those loops). No state is global.
"""

from __future__ import annotations

import time

import numba as nb
import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from ..errors import NumericalError
from .multigrid_kernels import (
    _coarsen,
    _diagonal,
    _dot,
    _dot2,
    _matvec,
    _network_csr,
    _prolong_add,
    _rb_pair,
    _residual_norms2,
    _residual_restrict,
    _update_p,
    _update_xr,
)
from .multigrid_kernels import _rb_sweep as _rb_sweep  # re-exported: tests and benchmarks call mg._rb_sweep
from .network_kernels import assemble_network, csr_fill, csr_row_counts, network_dissipation

__all__ = [
    "assemble_network",
    "network_dissipation",
    "csr_row_counts",
    "csr_fill",
    "GeometricMultigrid",
    "network_matvec",
    "network_to_csr",
    "network_to_csc",
    "pcg",
    "residual_norms_of_guesses",
]


# --------------------------------------------------------------------------------------------
# helpers


def residual_norms_of_guesses(gx, gy, gz, g0, act, b, x, xprev) -> tuple[float, float]:
    """``(‖b − A x‖, ‖b − A(2x − xprev)‖)``: the last solution and its linear extrapolation."""
    s1, s2 = _residual_norms2(gx, gy, gz, g0, act, b, x, xprev)
    return float(np.sqrt(s1)), float(np.sqrt(s2))


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


def network_to_csc(gx, gy, gz, g0, act) -> sp.csc_matrix:
    """:func:`network_to_csr` as a CSC matrix, compiled: the same entries bit for bit (the matrix
    is symmetric, so its CSR arrays are its CSC arrays). For the coarsest multigrid level, which is
    factorised at every refresh; :func:`network_to_csr` stays the NumPy reference.

    >>> import numpy as np
    >>> gx, gy, gz = np.ones((2, 3, 3)), np.ones((3, 2, 3)), np.ones((3, 3, 2))
    >>> g0 = np.zeros((3, 3, 3)); act = np.ones((3, 3, 3), np.int8); act[0, 0, 0] = 0
    >>> a = network_to_csc(gx, gy, gz, g0, act); b = network_to_csr(gx, gy, gz, g0, act).tocsc()
    >>> bool((a != b).nnz == 0), a.nnz == b.nnz
    (True, True)
    """
    n = g0.size
    index = np.int32 if 7 * n < np.iinfo(np.int32).max else np.int64  # as SciPy picks it
    indptr = np.empty(n + 1, dtype=index)
    indices = np.empty(7 * n, dtype=index)
    data = np.empty(7 * n, dtype=np.float64)
    nnz = _network_csr(gx, gy, gz, g0, act, indptr, indices, data)
    return sp.csc_matrix((data[:nnz], indices[:nnz], indptr), shape=(n, n))


class _Level:
    __slots__ = ("gx", "gy", "gz", "g0", "act", "x", "b", "diag")

    def __init__(self, gx, gy, gz, g0, act, dtype):
        self.gx, self.gy, self.gz, self.g0, self.act = gx, gy, gz, g0, act
        self.x = np.zeros(g0.shape, dtype)
        self.b = np.zeros(g0.shape, dtype)
        self.diag = np.zeros(g0.shape, dtype)


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
        self._coarse_lu = spla.splu(network_to_csc(last.gx, last.gy, last.gz, last.g0, last.act))
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
        nt = nb.get_num_threads()
        # the divisors of the smoother, from the level's conductances as they are now (level 0
        # may share the caller's arrays, updated in place between refreshes)
        _diagonal(L.gx, L.gy, L.gz, L.g0, L.act, L.diag)
        sweep = (L.gx, L.gy, L.gz, L.diag, L.x, L.b)
        for _ in range(self.smoothing_sweeps):
            _rb_pair(*sweep, 0, nt)  # red, then black
        C = self.levels[lvl + 1]
        _residual_restrict(L.gx, L.gy, L.gz, L.g0, L.act, L.x, L.b, C.b)
        C.x[...] = 0.0
        self._cycle(lvl + 1)
        _prolong_add(L.act, L.x, C.x)
        for _ in range(self.smoothing_sweeps):
            _rb_pair(*sweep, 1, nt)  # black, then red

    def precondition(self, r: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """One V-cycle from a zero guess for ``A z = r`` (``r`` shaped like the grid).

        ``z`` is returned in float64, in ``out`` (C-contiguous float64, r's size) when given:
        a fresh 16 MB array per call at 128³ costs more in page faults than the copy.
        """
        L = self.levels[0]
        L.b[...] = r.reshape(L.b.shape)
        L.x[...] = 0.0
        self._cycle(0)
        if out is None:
            return L.x.astype(np.float64).reshape(r.shape)
        np.copyto(out.reshape(L.x.shape), L.x)
        return out.reshape(r.shape)


def pcg(
    matvec, b, x0, precond, *, rtol: float = 1e-6, maxiter: int = 500, raise_on_failure: bool = True,
    out: np.ndarray | None = None, work: tuple[np.ndarray, np.ndarray] | None = None,
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
    out : ndarray, optional
        C-contiguous float64 array of b's size for the iterate (``x0`` is copied into it; it may
        be ``x0`` itself); the returned ``x`` is a view of it.
    work : (ndarray, ndarray), optional
        Two C-contiguous float64 arrays of b's size for the residual and the search direction.
        Reused buffers spare a repeated solver the page faults of fresh arrays (3–15 ms per
        16 MB array at 128³); the arithmetic is the same.

    Returns
    -------
    x : ndarray
    iterations : int
        Preconditioner applications after the initial residual (0 if ``x0`` already converged).
    """
    shape = b.shape
    b = np.ascontiguousarray(b, dtype=np.float64).ravel()
    if out is None:
        x = np.array(x0, dtype=np.float64, copy=True).ravel()
    else:
        x = out.reshape(-1)
        if x.dtype != np.float64 or x.size != b.size or not out.flags.c_contiguous:
            raise ValueError("out must be a C-contiguous float64 array of b's size")
        if x0 is not out:
            np.copyto(x, np.asarray(x0, dtype=np.float64).reshape(-1))
    if work is not None:
        r_buf, p_buf = (w.reshape(-1) for w in work)
        if any(w.dtype != np.float64 or w.size != b.size for w in (r_buf, p_buf)):
            raise ValueError("work must be two float64 arrays of b's size")

    def A(v):
        return np.ascontiguousarray(matvec(v.reshape(shape)), dtype=np.float64).ravel()

    def M(v):
        return np.ascontiguousarray(precond(v.reshape(shape)), dtype=np.float64).ravel()

    bn = np.sqrt(_dot(b, b))
    tol2 = (rtol * (bn if bn > 0 else 1.0)) ** 2
    r = b - A(x) if work is None else np.subtract(b, A(x), out=r_buf)
    rr = _dot(r, r)
    if rr <= tol2:
        return x.reshape(shape), 0
    z = M(r)
    if work is None:
        p = z.copy()
    else:
        p = p_buf
        np.copyto(p, z)
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
        # drop q before the next A(p) allocates its successor, so that the allocator can hand
        # back the same memory instead of fresh pages (faulting in n × 8 bytes cost 2–15 ms
        # per call at 128³, more than the matvec itself)
        del q
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
