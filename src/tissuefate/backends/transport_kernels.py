r"""Transport kernels of chemical injection: implicit upwind advection along a Darcy field and an
explicit diffusion–washout step.

Both implementations register themselves on import: the NumPy reference (the test oracle) and
the numba kernel (CPU default). :mod:`tissuefate.physics.injection` imports this module.

Two species are carried together: the injected fluid as a volume fraction ``s`` [1] and the agent
as moles per tissue volume ``c`` [mol/m³]. Both move with the pore fluid: the flux of ``s``
through a face carrying the volumetric flux Q [m³/s] is ``Q s_up/φ`` (φ the mobile volume
fraction, ``s_up`` the upwind value), that of ``c`` is ``Q c_up/φ``.

**Advection** is implicit (backward Euler) first-order upwind:

.. math:: \frac{V}{\Delta t}(X_i^{n+1} - X_i^n) = \frac{1}{\varphi}\Big(\sum_{j\to i} Q_{ji}X_j^{n+1}
          - O_i X_i^{n+1}\Big) + S_i,

with O_i the voxel's total outflow (faces and sinks) and S_i the injected inflow. Darcy flow runs
from high to low pressure, so in the order of decreasing pressure every voxel's upwind neighbours
come first and the implicit system is solved *exactly by one sweep* (the matrix is triangular in
that order). The step is unconditionally stable — the tip voxel, whose explicit CFL limit is
milliseconds, costs nothing extra — and conservative by construction: what leaves one voxel enters
its neighbour or a sink. The NumPy oracle assembles the same system as a sparse matrix and solves
it with SuperLU; the numba kernel sweeps and pushes the outflow downstream, visiting only voxels
that hold or receive something (the plume, not the grid).

**Diffusion and washout** are explicit in flux form (conservative), followed by an implicit
washout :math:`X \leftarrow X/(1 + k\Delta t)` (unconditionally stable, no exponential in the
loop); the amount washed out of each voxel is accumulated. Diffusion runs only between voxels
with ``act`` = 1 (zero flux elsewhere and at the box faces). An optional per-face weight in
[0, 1] (``face``, e.g. the harmonic mean of a diffusivity factor of the two voxels: scar)
multiplies each face's flux; without it the uniform-D path runs unchanged.

Layout: C-contiguous float64 ``[x, y, z]``; ``box`` = (i0, i1, j0, j1, k0, k1) half-open index
bounds outside which every field is exactly zero. Kernels do no argument checking.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from .registry import register_kernel

__all__ = ["AdvectionPlan", "advect_implicit", "diffuse_washout", "FLUSH_BELOW"]

#: Default relative magnitude (of the injected fluid fraction 1, or the injected concentration)
#: below which values are flushed to zero after a diffusion step and booked as ``truncated``:
#: keeps the active box near the plume instead of following the Gaussian tails across the grid.
FLUSH_BELOW = 1e-12


# ---------------------------------------------------------------------------------------------
# NumPy reference
# ---------------------------------------------------------------------------------------------


def _face_slices(ax):
    lo = [slice(None)] * 3
    hi = [slice(None)] * 3
    lo[ax] = slice(0, -1)
    hi[ax] = slice(1, None)
    return tuple(lo), tuple(hi)


class AdvectionPlan:
    """Everything the advection step needs from one Darcy field, in grid and in sweep layout.

    Parameters
    ----------
    order : ndarray of int64
        Flat indices of the transported voxels sorted by decreasing pressure.
    qx, qy, qz : ndarray
        Face fluxes [m³/s], positive along +axis (:class:`~tissuefate.physics.darcy.DarcyFlow`).
    sink, outflow : ndarray
        Each voxel's outflow to p = 0 and its total outflow (faces + sink) [m³/s].
    source : ndarray
        Injected inflow per voxel [m³/s].

    Notes
    -----
    The sweep layout stores the per-voxel arrays in ``order`` and the downstream neighbours of
    each position as CSR rows (``indptr``, ``down``, ``down_q``), so that the sequential sweep
    streams through memory instead of chasing grid neighbours; ``ijk`` holds the grid index of
    each position (to widen the active box).
    """

    def __init__(self, order, qx, qy, qz, sink, outflow, source):
        shape = sink.shape
        self.shape = shape
        self.order = np.ascontiguousarray(order, dtype=np.int64)
        n = self.order.size
        self.n = n
        rank = np.full(int(np.prod(shape)), -1, np.int64)
        rank[self.order] = np.arange(n)
        self.rank = rank.reshape(shape)
        self.qx, self.qy, self.qz = qx, qy, qz
        self.sink, self.outflow, self.source = sink, outflow, source
        self.sink_sorted = np.ascontiguousarray(sink.ravel()[self.order])
        self.out_sorted = np.ascontiguousarray(outflow.ravel()[self.order])
        self.source_sorted = np.ascontiguousarray(source.ravel()[self.order])
        src, dst, qs = [], [], []
        flat = np.arange(rank.size).reshape(shape)
        for ax, q in enumerate((qx, qy, qz)):
            lo, hi = _face_slices(ax)
            ra, rb = rank[flat[lo].ravel()], rank[flat[hi].ravel()]
            qq = q.ravel()
            ok = (ra >= 0) & (rb >= 0)
            pos, neg = ok & (qq > 0), ok & (qq < 0)
            src += [ra[pos], rb[neg]]
            dst += [rb[pos], ra[neg]]
            qs += [qq[pos], -qq[neg]]
        src_a = np.concatenate(src)
        perm = np.argsort(src_a, kind="stable")
        self.down = np.ascontiguousarray(np.concatenate(dst)[perm])
        self.down_q = np.ascontiguousarray(np.concatenate(qs)[perm])
        self.indptr = np.zeros(n + 1, np.int64)
        np.cumsum(np.bincount(src_a, minlength=n), out=self.indptr[1:])
        self.ijk = np.ascontiguousarray(np.stack(np.unravel_index(self.order, shape), axis=1).astype(np.int64))
        self.buffers = None  # sweep-layout work arrays, allocated by the numba kernel


@register_kernel("advect_implicit", "numpy")
def advect_implicit(plan, inv_phi, vol, dt, s, c, c_in, leak_s, leak_c, box, k_end, floor_s, floor_c,
                    demand=None, consumed=None):
    r"""One implicit upwind advection step of ``s`` and ``c`` (reference: sparse LU; with a
    reaction, a plain Python sweep).

    Parameters
    ----------
    plan : AdvectionPlan
    inv_phi : float
        1/φ, inverse mobile volume fraction [1].
    vol : float
        Voxel volume [m³].
    dt : float
        Time step [s].
    s, c : ndarray
        Fluid fraction [1] and agent [mol/m³], updated in place.
    c_in : float
        Agent concentration of the injected fluid [mol/m³].
    leak_s, leak_c : ndarray
        Fluid volume [m³] and agent [mol] that left each voxel through its sink (accumulated).
    box : ndarray of int64, shape (6,)
        Active box, widened in place to one voxel beyond every voxel the step reached.
    k_end : int
        Highest sweep position that holds anything; returned updated.
    floor_s, floor_c : float
        numba only: a voxel whose new value is <= the floor keeps it instead of passing it on (no
        amount is lost; this stops the implicit scheme from spreading vanishing amounts over the
        whole downstream grid). 0 reproduces the reference exactly.
    demand, consumed : ndarray, optional
        Reactive demand available during this step and demand already consumed [mol/m³]. Given,
        the agent reacts *while it passes* each voxel: of the agent that is in or enters voxel i
        during the step, :math:`r_i = \min(cV + A_i,\ \max(D_i - D^{used}_i, 0)V)` reacts
        (``consumed`` += r/V) before the rest stays or moves on, so the agent leaves a voxel only
        once its demand is exhausted (a sharp stoichiometric front; reacting after the step instead
        would let the implicit scheme smear the agent over voxels it never reached unreacted).

    Returns
    -------
    int
        New ``k_end``.

    Notes
    -----
    Module docstring: :math:`(V/\Delta t + O_i/\varphi)X_i - \sum_{j\to i}Q_{ji}X_j/\varphi
    = X_i^n V/\Delta t + S_i`.
    """
    order, n, shape = plan.order, plan.n, s.shape
    box[:] = (0, shape[0], 0, shape[1], 0, shape[2])
    if demand is not None:
        _python_sweep(plan, inv_phi, vol, dt, s, c, c_in, leak_s, leak_c, demand, consumed)
        return n - 1
    rows = np.concatenate([plan.down, np.arange(n)])
    cols = np.concatenate([np.repeat(np.arange(n), np.diff(plan.indptr)), np.arange(n)])
    vals = np.concatenate([-plan.down_q * inv_phi, vol / dt + plan.out_sorted * inv_phi])
    lu = spla.splu(sp.csc_matrix((vals, (rows, cols)), shape=(n, n)))
    src = plan.source_sorted
    xs = lu.solve(s.ravel()[order] * (vol / dt) + src)
    xc = lu.solve(c.ravel()[order] * (vol / dt) + src * c_in)
    sk = plan.sink_sorted * (dt * inv_phi)
    s.ravel()[order] = xs
    c.ravel()[order] = xc
    leak_s.ravel()[order] += sk * xs
    leak_c.ravel()[order] += sk * xc
    return n - 1


def _python_sweep(plan, inv_phi, vol, dt, s, c, c_in, leak_s, leak_c, demand, consumed):
    """The reactive sweep written out in Python (reference for the numba kernel; slow)."""
    sf, cf, lsf, lcf = s.reshape(-1), c.reshape(-1), leak_s.reshape(-1), leak_c.reshape(-1)
    df, uf = demand.reshape(-1), consumed.reshape(-1)
    acc_s = np.zeros(plan.n)
    acc_c = np.zeros(plan.n)
    for k in range(plan.n):
        f = plan.order[k]
        src = plan.source_sorted[k] * dt
        ts = sf[f] * vol + acc_s[k] + src
        tc = cf[f] * vol + acc_c[k] + src * c_in
        r = min(tc, max(df[f] - uf[f], 0.0) * vol)
        tc -= r
        uf[f] += r / vol
        den = vol + dt * plan.out_sorted[k] * inv_phi
        sf[f], cf[f] = ts / den, tc / den
        ps, pc = sf[f] * inv_phi * dt, cf[f] * inv_phi * dt
        lsf[f] += plan.sink_sorted[k] * ps
        lcf[f] += plan.sink_sorted[k] * pc
        for e in range(plan.indptr[k], plan.indptr[k + 1]):
            acc_s[plan.down[e]] += plan.down_q[e] * ps
            acc_c[plan.down[e]] += plan.down_q[e] * pc


def _diffuse_np(X, act, d, face=None):
    out = X.copy()
    for ax in range(3):
        if d[ax] == 0:
            continue
        lo, hi = _face_slices(ax)
        f = d[ax] * (X[hi] - X[lo]) * (act[lo] & act[hi])
        if face is not None:
            f = f * face[ax]
        out[lo] += f
        out[hi] -= f
    return out


@register_kernel("diffuse_washout", "numpy")
def diffuse_washout(s, c, s_out, c_out, act, kw, dt, d, box, flush_s, flush_c, face=None):
    r"""One explicit diffusion step followed by implicit washout (reference).

    Parameters
    ----------
    s, c : ndarray
        Fluid fraction [1] and agent [mol/m³] now.
    s_out, c_out : ndarray
        After the step (written inside ``box``; must not alias the inputs).
    act : ndarray of uint8
        0: no diffusion (zero-flux faces); 1: tissue; 2: large vessel (diffuses like tissue, its
        washout is booked separately as a vessel leak).
    kw : ndarray
        Washout rate per voxel [1/s].
    dt : float
        Time step [s].
    d : tuple of 3 float
        D Δt / h² per axis [1].
    box : ndarray of int64, shape (6,)
        Active box (the reference updates the whole grid).
    flush_s, flush_c : float
        Values whose magnitude falls below these are set to zero and booked as truncated.
    face : tuple of 3 ndarray, optional
        Weights in [0, 1] of the faces between ``[i]`` and ``[i + 1]`` along each axis (shapes
        ``(nx - 1, ny, nz)``, ``(nx, ny - 1, nz)``, ``(nx, ny, nz - 1)``) multiplying ``d``; None: 1.

    Returns
    -------
    tuple of 6 float
        Sums over voxels (per-tissue-volume units; × V for amounts) of: s and c washed out of
        tissue (act 1), s and c washed out of vessels (act 2), s and c flushed to zero.

    Notes
    -----
    .. math:: X^* = X^n + \sum_a \frac{D\Delta t}{h_a^2}\sum_{\pm}w_{i,i\pm1}(X_{i\pm1} - X_i),
              \qquad X^{n+1} = \frac{X^*}{1 + k\Delta t}

    stable for :math:`2D\Delta t\sum_a h_a^{-2} \le 1` (weights :math:`w \le 1`).
    """
    a = act != 0
    ves = act == 2
    out = []
    flushed = []
    for X, Xo, fl in ((s, s_out, flush_s), (c, c_out, flush_c)):
        Y = _diffuse_np(X, a, d, face)
        Z = Y / (1.0 + kw * dt)
        W = Y - Z
        out.append((float(W[~ves].sum()), float(W[ves].sum())))
        small = np.abs(Z) < fl
        flushed.append(float(Z[small].sum()))
        Z[small] = 0.0
        Xo[...] = Z
    box[:] = (0, s.shape[0], 0, s.shape[1], 0, s.shape[2])
    return out[0][0], out[1][0], out[0][1], out[1][1], flushed[0], flushed[1]


# ---------------------------------------------------------------------------------------------
# numba
# ---------------------------------------------------------------------------------------------

try:
    from numba import njit, prange
except ImportError:  # pragma: no cover - numba is a dependency; the numpy reference still works
    njit = None

if njit is not None:

    #: Below this many voxels the kernels run serially: a parallel launch costs ~10 µs on an idle
    #: machine but milliseconds when the cores are oversubscribed.
    PARALLEL_MIN_VOXELS = 1 << 16

    def _both(fn, **kw):
        """(serial, parallel) compiled variants of one kernel body. Only the parallel one is cached:
        numba's cache index does not tell the two apart (same function, same signature), so caching
        both would let one load the other's machine code."""
        return njit(**kw)(fn), njit(parallel=True, cache=True, **kw)(fn)

    def _gather_py(order, k_end, s, c, S, C):  # pragma: no cover - compiled
        sf = s.reshape(-1)
        cf = c.reshape(-1)
        for k in prange(k_end + 1):
            f = order[k]
            S[k] = sf[f]
            C[k] = cf[f]

    _gather = _both(_gather_py)

    def _scatter_py(order, k_end, S, C, LS, LC, s, c, leak_s, leak_c, react, RC, consumed):  # pragma: no cover
        sf = s.reshape(-1)
        cf = c.reshape(-1)
        lsf = leak_s.reshape(-1)
        lcf = leak_c.reshape(-1)
        uf = consumed.reshape(-1)
        for k in prange(k_end + 1):
            f = order[k]
            sf[f] = S[k]
            cf[f] = C[k]
            lsf[f] += LS[k]
            lcf[f] += LC[k]
            if react:
                uf[f] += RC[k]

    _scatter = _both(_scatter_py)

    @njit(cache=True)
    def _sweep(S, C, AS, AC, LS, LC, out, sink, src, indptr, down, down_q, ijk, box, inv_phi, vol, dt, c_in, k_end,
               floor_s, floor_c, react, order, demand, consumed, RC):  # pragma: no cover - compiled
        df = demand.reshape(-1)
        uf = consumed.reshape(-1)
        # amounts per step: A holds dt·Q·X/φ [m³ or mol]; (V + dt O/φ) X = V X⁰ + A + dt S
        k = 0
        while k <= k_end:
            sdt = src[k] * dt
            a_s = AS[k] + sdt
            a_c = AC[k] + sdt * c_in
            AS[k] = 0.0
            AC[k] = 0.0
            LS[k] = 0.0
            LC[k] = 0.0
            if react:
                RC[k] = 0.0
            s0 = S[k]
            c0 = C[k]
            if s0 == 0.0 and c0 == 0.0 and a_s == 0.0 and a_c == 0.0:
                k += 1
                continue
            if react:  # the agent in or entering the voxel reacts before it stays or moves on
                f = order[k]
                r = min(c0 * vol + a_c, max(df[f] - uf[f], 0.0) * vol)
                if r > 0.0:
                    RC[k] = r / vol
                    a_c -= r
            den = vol + dt * out[k] * inv_phi
            sn = (s0 * vol + a_s) / den
            cn = (c0 * vol + a_c) / den
            push_s = sn > floor_s
            push_c = cn > floor_c
            if not push_s:
                sn = s0 + a_s / vol
            if not push_c:
                cn = c0 + a_c / vol
            S[k] = sn
            C[k] = cn
            if push_s or push_c:
                ps = sn * inv_phi * dt if push_s else 0.0
                pc = cn * inv_phi * dt if push_c else 0.0
                LS[k] = sink[k] * ps
                LC[k] = sink[k] * pc
                for e in range(indptr[k], indptr[k + 1]):
                    j = down[e]
                    q = down_q[e]
                    AS[j] += q * ps
                    AC[j] += q * pc
                    if j > k_end:
                        k_end = j
                    for ax in range(3):
                        v = ijk[j, ax]
                        if v < box[2 * ax]:
                            box[2 * ax] = v
                        if v >= box[2 * ax + 1]:
                            box[2 * ax + 1] = v + 1
            k += 1
        return k_end

    @register_kernel("advect_implicit", "numba")
    def advect_implicit_numba(plan, inv_phi, vol, dt, s, c, c_in, leak_s, leak_c, box, k_end, floor_s, floor_c,
                              demand=None, consumed=None):
        """numba version of :func:`advect_implicit` (same arguments): gather the positions
        0…``k_end`` into the sweep layout, one sequential push sweep (``k_end`` grows as the
        outflow reaches positions further down), scatter back."""
        if plan.buffers is None:
            plan.buffers = tuple(np.zeros(plan.n) for _ in range(7))
        S, C, AS, AC, LS, LC, RC = plan.buffers
        react = demand is not None
        if not react:
            demand = consumed = s  # unused placeholders of the right type
        k0 = int(k_end)
        _gather[int(k0 >= PARALLEL_MIN_VOXELS)](plan.order, k0, s, c, S, C)
        reached = box.copy()
        k1 = int(_sweep(S, C, AS, AC, LS, LC, plan.out_sorted, plan.sink_sorted, plan.source_sorted, plan.indptr,
                        plan.down, plan.down_q, plan.ijk, reached, float(inv_phi), float(vol), float(dt),
                        float(c_in), k0, float(floor_s), float(floor_c), react, plan.order, demand, consumed, RC))
        scatter = _scatter[int(k1 >= PARALLEL_MIN_VOXELS)]
        scatter(plan.order, k1, S, C, LS, LC, s, c, leak_s, leak_c, react, RC, consumed)
        for ax in range(3):  # one voxel beyond every voxel reached: the diffusion margin
            if reached[2 * ax] < box[2 * ax]:
                box[2 * ax] = max(reached[2 * ax] - 1, 0)
            if reached[2 * ax + 1] > box[2 * ax + 1]:
                box[2 * ax + 1] = min(reached[2 * ax + 1] + 1, s.shape[ax])
        return k1

    def _diffuse_py(s, c, so, co, act, kw, dt, dx, dy, dz, i0, i1, j0, j1, k0, k1, fls,
                 flc):  # pragma: no cover - compiled
        nx, ny, nz = s.shape
        wst = 0.0
        wct = 0.0
        wsv = 0.0
        wcv = 0.0
        fs = 0.0
        fc = 0.0
        for i in prange(i0, i1):
            for j in range(j0, j1):
                for k in range(k0, k1):
                    xs = s[i, j, k]
                    xc = c[i, j, k]
                    ys = xs
                    yc = xc
                    a = act[i, j, k]
                    if a != 0:
                        if i > 0 and act[i - 1, j, k] != 0:
                            ys += dx * (s[i - 1, j, k] - xs)
                            yc += dx * (c[i - 1, j, k] - xc)
                        if i < nx - 1 and act[i + 1, j, k] != 0:
                            ys += dx * (s[i + 1, j, k] - xs)
                            yc += dx * (c[i + 1, j, k] - xc)
                        if j > 0 and act[i, j - 1, k] != 0:
                            ys += dy * (s[i, j - 1, k] - xs)
                            yc += dy * (c[i, j - 1, k] - xc)
                        if j < ny - 1 and act[i, j + 1, k] != 0:
                            ys += dy * (s[i, j + 1, k] - xs)
                            yc += dy * (c[i, j + 1, k] - xc)
                        if k > 0 and act[i, j, k - 1] != 0:
                            ys += dz * (s[i, j, k - 1] - xs)
                            yc += dz * (c[i, j, k - 1] - xc)
                        if k < nz - 1 and act[i, j, k + 1] != 0:
                            ys += dz * (s[i, j, k + 1] - xs)
                            yc += dz * (c[i, j, k + 1] - xc)
                    kdt = kw[i, j, k] * dt
                    zs = ys
                    zc = yc
                    if kdt > 0.0:
                        inv = 1.0 / (1.0 + kdt)
                        zs = ys * inv
                        zc = yc * inv
                        if a == 2:
                            wsv += ys - zs
                            wcv += yc - zc
                        else:
                            wst += ys - zs
                            wct += yc - zc
                    if zs != 0.0 and abs(zs) < fls:
                        fs += zs
                        zs = 0.0
                    if zc != 0.0 and abs(zc) < flc:
                        fc += zc
                        zc = 0.0
                    so[i, j, k] = zs
                    co[i, j, k] = zc
        return wst, wct, wsv, wcv, fs, fc

    _diffuse = _both(_diffuse_py, fastmath=True)

    def _diffuse_face_py(s, c, so, co, act, kw, dt, dx, dy, dz, wx, wy, wz, i0, i1, j0, j1, k0, k1, fls,
                         flc):  # pragma: no cover - compiled
        # _diffuse_py with per-face weights (a separate kernel keeps the uniform-D path untouched)
        nx, ny, nz = s.shape
        wst = 0.0
        wct = 0.0
        wsv = 0.0
        wcv = 0.0
        fs = 0.0
        fc = 0.0
        for i in prange(i0, i1):
            for j in range(j0, j1):
                for k in range(k0, k1):
                    xs = s[i, j, k]
                    xc = c[i, j, k]
                    ys = xs
                    yc = xc
                    a = act[i, j, k]
                    if a != 0:
                        if i > 0 and act[i - 1, j, k] != 0:
                            f = dx * wx[i - 1, j, k]
                            ys += f * (s[i - 1, j, k] - xs)
                            yc += f * (c[i - 1, j, k] - xc)
                        if i < nx - 1 and act[i + 1, j, k] != 0:
                            f = dx * wx[i, j, k]
                            ys += f * (s[i + 1, j, k] - xs)
                            yc += f * (c[i + 1, j, k] - xc)
                        if j > 0 and act[i, j - 1, k] != 0:
                            f = dy * wy[i, j - 1, k]
                            ys += f * (s[i, j - 1, k] - xs)
                            yc += f * (c[i, j - 1, k] - xc)
                        if j < ny - 1 and act[i, j + 1, k] != 0:
                            f = dy * wy[i, j, k]
                            ys += f * (s[i, j + 1, k] - xs)
                            yc += f * (c[i, j + 1, k] - xc)
                        if k > 0 and act[i, j, k - 1] != 0:
                            f = dz * wz[i, j, k - 1]
                            ys += f * (s[i, j, k - 1] - xs)
                            yc += f * (c[i, j, k - 1] - xc)
                        if k < nz - 1 and act[i, j, k + 1] != 0:
                            f = dz * wz[i, j, k]
                            ys += f * (s[i, j, k + 1] - xs)
                            yc += f * (c[i, j, k + 1] - xc)
                    kdt = kw[i, j, k] * dt
                    zs = ys
                    zc = yc
                    if kdt > 0.0:
                        inv = 1.0 / (1.0 + kdt)
                        zs = ys * inv
                        zc = yc * inv
                        if a == 2:
                            wsv += ys - zs
                            wcv += yc - zc
                        else:
                            wst += ys - zs
                            wct += yc - zc
                    if zs != 0.0 and abs(zs) < fls:
                        fs += zs
                        zs = 0.0
                    if zc != 0.0 and abs(zc) < flc:
                        fc += zc
                        zc = 0.0
                    so[i, j, k] = zs
                    co[i, j, k] = zc
        return wst, wct, wsv, wcv, fs, fc

    _diffuse_face = _both(_diffuse_face_py, fastmath=True)

    @register_kernel("diffuse_washout", "numba")
    def diffuse_washout_numba(s, c, s_out, c_out, act, kw, dt, d, box, flush_s, flush_c, face=None):
        """numba version of :func:`diffuse_washout` (same arguments); updates the voxels inside
        ``box`` only. The caller keeps ``box`` one voxel wider than the non-zero region (diffusion
        spreads one voxel a step) and never shrinks it, so both buffers stay zero outside it."""
        big = int((box[1] - box[0]) * (box[3] - box[2]) * (box[5] - box[4]) >= PARALLEL_MIN_VOXELS)
        b = (int(box[0]), int(box[1]), int(box[2]), int(box[3]), int(box[4]), int(box[5]))
        if face is None:
            r = _diffuse[big](s, c, s_out, c_out, act, kw, float(dt), float(d[0]), float(d[1]), float(d[2]), *b,
                              float(flush_s), float(flush_c))
        else:
            r = _diffuse_face[big](s, c, s_out, c_out, act, kw, float(dt), float(d[0]), float(d[1]), float(d[2]),
                                   face[0], face[1], face[2], *b, float(flush_s), float(flush_c))
        return tuple(float(v) for v in r)
