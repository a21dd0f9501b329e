"""The numba kernels of tissuefate.physics.multigrid against plain NumPy references.

The kernels treat the interior of each row by a branch-free vector loop and the faces of the box
voxel by voxel; the references below are whole-array NumPy with zero ghost faces, evaluated in the
order of the voxel-by-voxel loops, so every float result must be *equal* (a ghost term adds ±0,
which changes no value). The two reductions (residual norms, electrode current) are summed in
another order: relative 1e-12. Shapes are odd and small, masks have holes, both colours and both
precisions are covered, and a whole PCG solve with the NumPy kernels (and the V-cycle as it was)
swapped into the module must take the same iterations to the same solution.
"""

from __future__ import annotations

import numba as nb
import numpy as np
import pytest

import tissuefate.physics.multigrid as mg

SHAPES = [(7, 9, 11), (33, 17, 20), (4, 3, 6), (3, 5, 2), (1, 4, 5)]


# --------------------------------------------------------------------------------------------
# random networks


def random_network(shape, dtype, seed):
    """Face conductances zero across any face that touches an inactive voxel, as assembled."""
    rng = np.random.default_rng(seed)
    act = (rng.random(shape) > 0.15).astype(np.uint8)
    nx, ny, nz = shape
    act[nx // 3 : nx // 3 + 2, ny // 2 : ny // 2 + 3, :] = 0  # a hole through the box
    a = act != 0
    gx = rng.uniform(0.2, 2.0, (nx - 1, ny, nz)) * (a[:-1] & a[1:])
    gy = rng.uniform(0.2, 2.0, (nx, ny - 1, nz)) * (a[:, :-1] & a[:, 1:])
    gz = rng.uniform(0.2, 2.0, (nx, ny, nz - 1)) * (a[:, :, :-1] & a[:, :, 1:])
    g0 = rng.uniform(0.0, 1.0, shape) * (rng.random(shape) < 0.2) * a
    x = rng.standard_normal(shape) * a
    b = rng.standard_normal(shape) * a
    return tuple(np.ascontiguousarray(v, dtype) for v in (gx, gy, gz, g0)) + (
        act,
        x.astype(dtype),
        b.astype(dtype),
    )


def faces(g, axis, n):
    """(face below, face above) of every voxel along ``axis``, 0 beyond the box."""
    pad = [(0, 0)] * 3
    pad[axis] = (1, 1)
    gp = np.pad(g, pad)
    lo = [slice(None)] * 3
    hi = [slice(None)] * 3
    lo[axis] = slice(0, n)
    hi[axis] = slice(1, n + 1)
    return gp[tuple(lo)], gp[tuple(hi)]


def nbr(x, axis):
    """(x at index − 1, x at index + 1) along ``axis``, 0 beyond the box."""
    pad = [(0, 0)] * 3
    pad[axis] = (1, 1)
    xp = np.pad(x, pad)
    n = x.shape[axis]
    lo = [slice(None)] * 3
    hi = [slice(None)] * 3
    lo[axis] = slice(0, n)
    hi[axis] = slice(2, n + 2)
    return xp[tuple(lo)], xp[tuple(hi)]


# --------------------------------------------------------------------------------------------
# NumPy references (order of the voxel-by-voxel loops)


def ref_apply(gx, gy, gz, g0, x):
    s = g0 * x
    for ax, g in enumerate((gx, gy, gz)):
        gm, gp = faces(g, ax, x.shape[ax])
        xm, xp = nbr(x, ax)
        s = s + gm * (x - xm)
        s = s + gp * (x - xp)
    return s


def ref_matvec(gx, gy, gz, g0, act, x, out):
    out[...] = np.where(act != 0, ref_apply(gx, gy, gz, g0, x), 0.0)


def ref_rb_sweep(gx, gy, gz, g0, act, x, b, colour):
    s = b.copy()
    d = g0.copy()
    for ax, g in enumerate((gx, gy, gz)):
        gm, gp = faces(g, ax, x.shape[ax])
        xm, xp = nbr(x, ax)
        s = s + gm * xm
        d = d + gm
        s = s + gp * xp
        d = d + gp
    i, j, k = np.indices(x.shape)
    upd = ((i + j + k) % 2 == colour) & (act != 0) & (d > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        x[upd] = (s / d)[upd]


def ref_diagonal(gx, gy, gz, g0, act):
    d = g0.copy()
    for ax, g in enumerate((gx, gy, gz)):
        gm, gp = faces(g, ax, g0.shape[ax])
        d = d + gm
        d = d + gp
    return np.where(act != 0, d, 0).astype(g0.dtype)


def ref_cycle(self, lvl):
    """GeometricMultigrid._cycle as it was, with the reference kernels."""
    L = self.levels[lvl]
    if lvl == len(self.levels) - 1:
        sol = self._coarse_lu.solve(L.b.ravel().astype(np.float64))
        L.x[...] = sol.reshape(L.x.shape) * (L.act != 0)
        return
    args = (L.gx, L.gy, L.gz, L.g0, L.act, L.x, L.b)
    for _ in range(self.smoothing_sweeps):
        ref_rb_sweep(*args, 0)
        ref_rb_sweep(*args, 1)
    C = self.levels[lvl + 1]
    ref_residual_restrict(*args, C.b)
    C.x[...] = 0.0
    self._cycle(lvl + 1)
    ref_prolong_add(L.act, L.x, C.x)
    for _ in range(self.smoothing_sweeps):
        ref_rb_sweep(*args, 1)
        ref_rb_sweep(*args, 0)


def even_pad(a, value=0):
    return np.pad(a, [(0, n % 2) for n in a.shape], constant_values=value)


def ref_residual_restrict(gx, gy, gz, g0, act, x, b, rc):
    r = np.where(act != 0, b - ref_apply(gx, gy, gz, g0, x), 0.0).astype(rc.dtype)
    rp = even_pad(r)
    acc = np.zeros(rc.shape, rc.dtype)
    for di in (0, 1):
        for dj in (0, 1):
            for dk in (0, 1):
                acc = acc + rp[di::2, dj::2, dk::2]
    rc[...] = acc


def ref_prolong_add(act, x, xc):
    up = xc.repeat(2, 0).repeat(2, 1).repeat(2, 2)[: x.shape[0], : x.shape[1], : x.shape[2]]
    x[act != 0] += up[act != 0]


def ref_coarsen(gx, gy, gz, g0, act, gxc, gyc, gzc, g0c, actc, scale):
    s0 = np.zeros(g0c.shape)
    a = np.zeros(g0c.shape, bool)
    g0p, ap = even_pad(g0), even_pad(act)
    for di in (0, 1):
        for dj in (0, 1):
            for dk in (0, 1):
                s0 = s0 + g0p[di::2, dj::2, dk::2].astype(np.float64)
                a |= ap[di::2, dj::2, dk::2] != 0
    g0c[...] = scale * s0
    actc[...] = a
    # faces across the upper x (y, z) face of each aggregate: the four fine faces of its
    # children at the odd index, in the order of the two remaining axes
    for ax, (g, gc) in enumerate(((gx, gxc), (gy, gyc), (gz, gzc))):
        if gc.shape[ax] == 0:
            continue
        sl = [slice(None)] * 3
        sl[ax] = slice(1, 2 * gc.shape[ax], 2)
        others = [d for d in range(3) if d != ax]
        pad = [(0, 0)] * 3
        for d in others:
            pad[d] = (0, g.shape[d] % 2)
        f = np.pad(g[tuple(sl)].astype(np.float64), pad)
        s = np.zeros(gc.shape)
        for d1 in (0, 1):
            for d2 in (0, 1):
                idx = [slice(None)] * 3
                idx[others[0]] = slice(d1, None, 2)
                idx[others[1]] = slice(d2, None, 2)
                s = s + f[tuple(idx)]
        gc[...] = scale * s


def ref_network(sig, kind, fixv, efac, h, dflag, fvals):
    """assemble_network: per voxel, the six faces in the order x−, x+, y−, y+, z−, z+."""
    n = sig.shape
    area = (h[1] * h[2] / h[0], h[0] * h[2] / h[1], h[0] * h[1] / h[2])
    unk = kind == 0
    d0 = np.zeros(n)
    r = np.zeros(n)
    gs = []
    with np.errstate(divide="ignore", invalid="ignore"):
        for ax in range(3):
            a = area[ax]
            km, kp = nbr(kind.astype(np.int64), ax)
            fm, fp = nbr(fixv, ax)
            idx = np.indices(n)[ax]
            for side, (kn, fn) in enumerate(((km, fm), (kp, fp))):
                edge = idx == (0 if side == 0 else n[ax] - 1)
                fv = np.expand_dims(fvals[2 * ax + side], ax)
                g_edge = 2.0 * sig * a
                g_fix = 2.0 * sig * a * efac[kn, ax]
                fixed = ~edge & (kn != 0)
                d0 = d0 + np.where(edge & dflag[2 * ax + side], g_edge, np.where(fixed, g_fix, 0.0))
                r = r + np.where(edge & dflag[2 * ax + side], g_edge * fv, np.where(fixed, g_fix * fn, 0.0))
            sl_lo = [slice(None)] * 3
            sl_hi = [slice(None)] * 3
            sl_lo[ax] = slice(0, n[ax] - 1)
            sl_hi[ax] = slice(1, n[ax])
            s, s2 = sig[tuple(sl_lo)], sig[tuple(sl_hi)]
            both = unk[tuple(sl_lo)] & unk[tuple(sl_hi)]
            gs.append(np.where(both, a * 2.0 * s * s2 / (s + s2), 0.0).astype(np.float32))
    g0 = np.where(unk, d0, 0.0).astype(np.float32)
    return gs[0], gs[1], gs[2], g0, np.where(unk, r, 0.0)


def face_heat(s, s2, a, dphi):
    t = s + s2
    return a * 2.0 * s * s2 * s2 / (t * t) * dphi * dphi


def ref_dissipation(sig, kind, fixv, efac, keep, phi, h, dflag, fvals):
    n = sig.shape
    area = (h[1] * h[2] / h[0], h[0] * h[2] / h[1], h[0] * h[1] / h[2])
    w = np.zeros(n)
    c = np.zeros(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        for ax in range(3):
            a = area[ax]
            sm, sp = nbr(sig, ax)
            pm, pp = nbr(phi, ax)
            km, kp = nbr(kind.astype(np.int64), ax)
            fm, fp = nbr(fixv, ax)
            idx = np.indices(n)[ax]
            for side, (sn, pn, kn, fn) in enumerate(((sm, pm, km, fm), (sp, pp, kp, fp))):
                edge = idx == (0 if side == 0 else n[ax] - 1)
                fv = np.expand_dims(fvals[2 * ax + side], ax)
                dv_e = phi - fv
                t_edge = 2.0 * sig * a * dv_e * dv_e
                dv = phi - fn
                g = 2.0 * sig * a * efac[kn, ax]
                t_fix = keep[kn] * g * dv * dv
                fixed = ~edge & (kn != 0)
                t_unk = face_heat(sig, sn, a, phi - pn)
                w = w + np.where(edge, np.where(dflag[2 * ax + side], t_edge, 0.0), np.where(fixed, t_fix, t_unk))
                c = c - np.where(fixed & (kn == 1), g * dv, 0.0)
    unk = kind == 0
    return np.where(unk, w, 0.0), float(np.sum(np.where(unk, c, 0.0)))


# --------------------------------------------------------------------------------------------
# kernel by kernel


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matvec_equals_reference(shape, dtype):
    gx, gy, gz, g0, act, x, _ = random_network(shape, np.float32, 1)
    x = x.astype(dtype)
    out, ref = np.full(shape, np.nan, dtype), np.empty(shape, dtype)
    mg._matvec(gx, gy, gz, g0, act, x, out)
    ref_matvec(gx, gy, gz, g0, act, x, ref)
    assert out.dtype == ref.dtype
    np.testing.assert_array_equal(out, ref)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("colour", [0, 1])
def test_rb_sweep_equals_reference(shape, dtype, colour):
    gx, gy, gz, g0, act, x, b = random_network(shape, dtype, 2)
    xn, xr = x.copy(), x.copy()
    diag = np.full(shape, np.nan, dtype)
    mg._diagonal(gx, gy, gz, g0, act, diag)
    np.testing.assert_array_equal(diag, ref_diagonal(gx, gy, gz, g0, act))
    mg._rb_sweep(gx, gy, gz, diag, xn, b, colour)
    ref_rb_sweep(gx, gy, gz, g0, act, xr, b, colour)
    np.testing.assert_array_equal(xn, xr)
    assert np.all(xn[act == 0] == 0)
    # the sweep changed the voxels of its colour only (and some of them)
    i, j, k = np.indices(shape)
    other = (i + j + k) % 2 != colour
    np.testing.assert_array_equal(xn[other], x[other])
    assert np.any(xn != x)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("colour", [0, 1])
@pytest.mark.parametrize("nblocks", [1, 2, 3, 7])
def test_rb_pair_is_two_sweeps(shape, dtype, colour, nblocks):
    gx, gy, gz, g0, act, x, b = random_network(shape, dtype, 3)
    xn, xr = x.copy(), x.copy()
    mg._rb_pair(gx, gy, gz, ref_diagonal(gx, gy, gz, g0, act), xn, b, colour, nblocks)
    ref_rb_sweep(gx, gy, gz, g0, act, xr, b, colour)
    ref_rb_sweep(gx, gy, gz, g0, act, xr, b, 1 - colour)
    np.testing.assert_array_equal(xn, xr)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_residual_restrict_equals_reference(shape, dtype):
    gx, gy, gz, g0, act, x, b = random_network(shape, dtype, 4)
    cs = tuple((n + 1) // 2 for n in shape)
    rc, ref = np.full(cs, np.nan, dtype), np.empty(cs, dtype)
    mg._residual_restrict(gx, gy, gz, g0, act, x, b, rc)
    ref_residual_restrict(gx, gy, gz, g0, act, x, b, ref)
    np.testing.assert_array_equal(rc, ref)


@pytest.mark.parametrize("shape", SHAPES)
def test_prolong_add_equals_reference(shape):
    _, _, _, _, act, x, _ = random_network(shape, np.float32, 5)
    xc = np.random.default_rng(6).standard_normal(tuple((n + 1) // 2 for n in shape)).astype(np.float32)
    xn, xr = x.copy(), x.copy()
    mg._prolong_add(act, xn, xc)
    ref_prolong_add(act, xr, xc)
    np.testing.assert_array_equal(xn, xr)


@pytest.mark.parametrize("shape", SHAPES + [(8, 6, 4), (9, 10, 7)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_coarsen_equals_reference(shape, dtype):
    gx, gy, gz, g0, act, _, _ = random_network(shape, dtype, 7)
    cs = tuple((n + 1) // 2 for n in shape)
    shapes = [(cs[0] - 1, cs[1], cs[2]), (cs[0], cs[1] - 1, cs[2]), (cs[0], cs[1], cs[2] - 1), cs]
    new = [np.full(s, np.nan, dtype) for s in shapes] + [np.full(cs, 7, np.uint8)]
    ref = [np.empty(s, dtype) for s in shapes] + [np.empty(cs, np.uint8)]
    mg._coarsen(gx, gy, gz, g0, act, *new, 0.5)
    ref_coarsen(gx, gy, gz, g0, act, *ref, 0.5)
    for a, r in zip(new, ref, strict=True):
        np.testing.assert_array_equal(a, r)


@pytest.mark.parametrize("shape", SHAPES + [(8, 6, 4)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_network_to_csc_equals_the_numpy_csr(shape, dtype):
    """The compiled CSC of the coarsest level (factorised at every multigrid refresh) holds the
    NumPy ``network_to_csr(...).tocsc()`` entries bit for bit: the same structure (zeros left out,
    among them the diagonal of an active voxel with no conductance at all), the same values and the
    same index dtype, so SuperLU factorises the same matrix."""
    import scipy.sparse.linalg as spla

    gx, gy, gz, g0, act, _, b = random_network(shape, dtype, 11)
    gx.reshape(-1)[::5] = 0  # active faces of zero conductance: left out as well
    lone = tuple(n // 2 for n in shape)  # an active voxel cut off from everything: diagonal 0
    act[lone] = 1
    g0[lone] = 0
    for g, ax in ((gx, 0), (gy, 1), (gz, 2)):
        for d in (-1, 0):
            idx = list(lone)
            idx[ax] += d
            if 0 <= idx[ax] < g.shape[ax]:
                g[tuple(idx)] = 0
    new = mg.network_to_csc(gx, gy, gz, g0, act)
    ref = mg.network_to_csr(gx, gy, gz, g0, act).tocsc()
    for name in ("indptr", "indices", "data"):
        a, r = getattr(new, name), getattr(ref, name)
        assert a.dtype == r.dtype, name
        np.testing.assert_array_equal(a, r)
    assert ref[np.ravel_multi_index(lone, shape), np.ravel_multi_index(lone, shape)] == 0
    g0 += 0.05 * (act != 0)  # grounded everywhere: non-singular; the same LU solves bit for bit
    new = mg.network_to_csc(gx, gy, gz, g0, act)
    ref = mg.network_to_csr(gx, gy, gz, g0, act).tocsc()
    rhs = b.ravel().astype(np.float64)
    np.testing.assert_array_equal(spla.splu(new).solve(rhs), spla.splu(ref).solve(rhs))


@pytest.mark.parametrize("shape", SHAPES)
def test_residual_norms_equal_reference(shape):
    gx, gy, gz, g0, act, x, b = random_network(shape, np.float32, 8)
    x = x.astype(np.float64)
    b = b.astype(np.float64)
    xprev = x + 0.1 * np.random.default_rng(9).standard_normal(shape) * act
    s1, s2 = mg._residual_norms2(gx, gy, gz, g0, act, b, x, xprev)
    ax, ap = ref_apply(gx, gy, gz, g0, x), ref_apply(gx, gy, gz, g0, xprev)
    r1 = np.where(act != 0, b - ax, 0.0)
    r2 = np.where(act != 0, b - (2.0 * ax - ap), 0.0)
    assert s1 == pytest.approx(np.sum(r1 * r1), rel=1e-12)
    assert s2 == pytest.approx(np.sum(r2 * r2), rel=1e-12)


def network_inputs(shape, seed, *, fixed_at_faces):
    rng = np.random.default_rng(seed)
    sig = rng.uniform(0.1, 1.0, shape)
    kind = np.zeros(shape, np.uint8)
    nx, ny, nz = shape
    kind[nx // 2, ny // 2, 1 : nz - 1] = 1  # an electrode along z
    kind[rng.random(shape) < 0.05] = 2  # scattered ground voxels
    if fixed_at_faces:
        kind[0, 0, :] = 1
        kind[:, -1, -1] = 2
    fixv = (kind == 1).astype(np.float64)
    efac = np.array([[1.0, 1.0, 1.0], [1.3, 0.7, 1.1], [0.9, 1.2, 1.0]])
    keep = np.array([1.0, 0.6, 1.0])
    h = (1e-3, 1.2e-3, 0.9e-3)
    dflag = np.array([True, False, True, True, False, True])
    fshape = [(ny, nz), (ny, nz), (nx, nz), (nx, nz), (nx, ny), (nx, ny)]
    fvals = tuple(rng.uniform(-0.5, 0.5, s) for s in fshape)
    return sig, kind, fixv, efac, keep, h, dflag, fvals


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("fixed_at_faces", [False, True])
def test_assemble_network_equals_reference(shape, fixed_at_faces):
    sig, kind, fixv, efac, _, h, dflag, fvals = network_inputs(shape, 10, fixed_at_faces=fixed_at_faces)
    nx, ny, nz = shape
    f4 = np.float32
    out = [np.full((nx - 1, ny, nz), np.nan, f4), np.full((nx, ny - 1, nz), np.nan, f4),
           np.full((nx, ny, nz - 1), np.nan, f4), np.full(shape, np.nan, f4), np.full(shape, np.nan)]
    mg.assemble_network(sig, kind, fixv, efac, *h, dflag, *fvals, *out)
    for a, r in zip(out, ref_network(sig, kind, fixv, efac, h, dflag, fvals), strict=True):
        np.testing.assert_array_equal(a, r)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("fixed_at_faces", [False, True])
def test_network_dissipation_equals_reference(shape, fixed_at_faces):
    sig, kind, fixv, efac, keep, h, dflag, fvals = network_inputs(shape, 11, fixed_at_faces=fixed_at_faces)
    phi = np.random.default_rng(12).uniform(0.0, 1.0, shape)
    q = np.full(shape, np.nan)
    cur = mg.network_dissipation(sig, kind, fixv, efac, keep, phi, *h, dflag, *fvals, q)
    qr, cr = ref_dissipation(sig, kind, fixv, efac, keep, phi, h, dflag, fvals)
    np.testing.assert_array_equal(q, qr)
    assert cur == pytest.approx(cr, rel=1e-12, abs=1e-300)


# --------------------------------------------------------------------------------------------
# a whole solve


def test_pcg_solve_equals_reference_kernels(monkeypatch):
    shape = (33, 17, 20)
    gx, gy, gz, g0, act, _, b = random_network(shape, np.float32, 13)
    g0 = g0 + np.float32(0.05) * act  # a definite system
    b = b.astype(np.float64)

    def solve():
        m = mg.GeometricMultigrid(gx, gy, gz, g0, act)
        assert len(m.levels) >= 3
        return mg.pcg(lambda v: mg.network_matvec(gx, gy, gz, g0, act, v), b, np.zeros_like(b),
                      m.precondition, rtol=1e-10)

    x, its = solve()
    with monkeypatch.context() as mp:
        for name, fn in [("_matvec", ref_matvec), ("_coarsen", ref_coarsen)]:
            mp.setattr(mg, name, fn)
        mp.setattr(mg.GeometricMultigrid, "_cycle", ref_cycle)
        xr, its_r = solve()
    assert its == its_r > 3
    assert np.abs(x - xr).max() <= 1e-10 * np.abs(xr).max()


def test_rb_pair_uses_the_thread_count():
    # the V-cycle passes numba's thread count as the block count; more blocks than planes is fine
    gx, gy, gz, g0, act, x, b = random_network((5, 6, 7), np.float32, 14)
    xn, xr = x.copy(), x.copy()
    mg._rb_pair(gx, gy, gz, ref_diagonal(gx, gy, gz, g0, act), xn, b, 1, nb.get_num_threads() + 9)
    ref_rb_sweep(gx, gy, gz, g0, act, xr, b, 1)
    ref_rb_sweep(gx, gy, gz, g0, act, xr, b, 0)
    np.testing.assert_array_equal(xn, xr)
