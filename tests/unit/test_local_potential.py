"""Local re-solves of the RF potential (PotentialSolver.heating_near, physics.local_potential)
against global ones, and the session that uses them."""

from __future__ import annotations

import numpy as np
import pytest

from tissuefate.errors import ConfigError
from tissuefate.geometry import segment_mask
from tissuefate.grid import Grid
from tissuefate.physics.local_potential import grow_box, local_resolve, union_box
from tissuefate.physics.rf import PotentialSolver, changed_box, needs_resolve

N = 64


@pytest.fixture(scope="module")
def setup():
    g = Grid.cube(N, 1e-3)
    c = [float(g.axis_m(a).mean()) for a in range(3)]
    el = segment_mask(g, (c[0], c[1], c[2] - 0.008), (c[0], c[1], c[2] + 0.008), 0.6e-3)
    rng = np.random.default_rng(0)
    sig = (0.333 * (1 + 0.2 * rng.random(g.shape))).astype(np.float32)
    idx = np.nonzero(el)
    box = tuple(slice(int(i.min()) - 4, int(i.max()) + 5) for i in idx)
    return g, el, sig, box


def _changes(sig, el, box):
    drift = sig.copy()
    drift[box] *= np.float32(1.05)  # heating by ≈ 3 K
    desic = sig.copy()
    d = np.zeros(sig.shape, bool)
    c = N // 2
    d[c - 2:c + 3, c - 2:c + 3, c - 4:c + 4] = True  # a desiccated block around the needle
    desic[d & ~el] *= np.float32(0.01)
    return {"drift": drift, "desiccation": desic}


def _local_vs_global(setup, margin, rescale=True):
    g, el, sig, box = setup
    out = {}
    for name, new in _changes(sig, el, box).items():
        ref = PotentialSolver(g, el, rtol=1e-6)
        ref.heating(sig)
        q_ref, p_ref = ref.heating(new)
        loc = PotentialSolver(g, el, rtol=1e-6)
        q0, p0 = loc.heating(sig)
        loc._zero_faces = rescale  # rescale=False: the potential outside the box held (α = 1)
        assert loc.fits_locally(box, margin)
        region, qr, p, outer = loc.heating_near(new[box], box, margin=margin)
        q = q0 * np.float32(outer)
        q[region] = qr
        out[name] = (abs(p - p_ref) / abs(p_ref - p0), float(np.abs(q - q_ref).sum() / q_ref.sum()), p, p_ref)
    return out


def test_local_re_solve_matches_a_global_one(setup):
    """With the outer potential free in amplitude (α), the power and the heating of a local
    re-solve match a global re-solve: a 5 % drift in a box and a block desiccated to 1 %."""
    err = _local_vs_global(setup, margin=6)
    assert err["drift"][0] < 0.01 and err["drift"][1] < 0.002
    assert err["desiccation"][0] < 0.02 and err["desiccation"][1] < 0.02
    # and the energy is an upper bound of the conductance (Dirichlet's principle)
    for _, _, p, p_ref in err.values():
        assert p >= p_ref * (1 - 1e-6)


def test_holding_the_outer_potential_is_first_order_wrong(setup):
    """Why α exists: with φ held outside the box the error of the heating is many times larger."""
    free = _local_vs_global(setup, margin=6)
    held = _local_vs_global(setup, margin=6, rescale=False)
    for name in ("drift", "desiccation"):
        assert held[name][1] > 5 * free[name][1]


def test_local_box_reaching_the_grid_face(setup):
    """A box next to a grounded face: R is clipped there and the face stays a Dirichlet face."""
    g, el, sig, _ = setup
    box = (slice(20, 44), slice(20, 44), slice(2, 40))  # within 12 voxels of the z-low face
    assert grow_box(box, 6, g.shape)[2].start == 0
    new = sig.copy()
    new[box] *= np.float32(1.1)
    ref = PotentialSolver(g, el, rtol=1e-6)
    ref.heating(sig)
    q_ref, p_ref = ref.heating(new)
    loc = PotentialSolver(g, el, rtol=1e-6)
    q0, p0 = loc.heating(sig)
    region, qr, p, outer = loc.heating_near(new[box], box, margin=6)
    q = q0 * np.float32(outer)
    q[region] = qr
    assert abs(p - p_ref) < 0.01 * abs(p_ref - p0)
    assert np.abs(q - q_ref).sum() < 5e-3 * q_ref.sum()  # 3e-3 measured: a 10 % change over a quarter of the grid


def test_consecutive_local_re_solves_then_a_global_one(setup):
    """Local re-solves chain (the stored potential carries their scale) and a global re-solve
    afterwards starts from their potential."""
    g, el, sig, box = setup
    loc = PotentialSolver(g, el, rtol=1e-6)
    ref = PotentialSolver(g, el, rtol=1e-6)
    q, _ = loc.heating(sig)
    ref.heating(sig)
    cur = sig.copy()
    for k in range(4):
        cur[box] *= np.float32(1.02 + 0.01 * k)
        region, qr, p, outer = loc.heating_near(cur[box], box, margin=6)
        q = q * np.float32(outer)
        q[region] = qr
        q_ref, p_ref = ref.heating(cur)
        assert p == pytest.approx(p_ref, rel=2e-3)
        assert np.abs(q - q_ref).sum() < 5e-3 * q_ref.sum()
    q2, p2 = loc.heating(cur)
    assert p2 == pytest.approx(p_ref, rel=1e-4)
    assert loc.n_local_solves == 4


def test_heating_near_does_not_change_the_callers_sigma(setup):
    g, el, sig, box = setup
    s64 = sig.astype(np.float64)
    keep = s64.copy()
    loc = PotentialSolver(g, el)
    loc.heating(s64)
    loc.heating_near(s64[box] * 1.1, box)
    assert np.array_equal(s64, keep)


def test_heating_near_of_a_large_box_is_a_global_re_solve(setup):
    g, el, sig, box = setup
    big = (slice(2, N - 2),) * 3
    new = sig.copy()
    new[big] *= np.float32(1.05)
    loc = PotentialSolver(g, el)
    loc.heating(sig)
    assert not loc.fits_locally(big)
    region, q, p, outer = loc.heating_near(new[big], big)
    assert region == (slice(0, N),) * 3 and outer == 1.0 and q.dtype == np.float32
    q_ref, p_ref = PotentialSolver(g, el).heating(new)
    assert p == pytest.approx(p_ref, rel=1e-4)
    assert np.abs(q - q_ref).sum() < 1e-3 * q_ref.sum()


@pytest.mark.parametrize("bad, match", [
    ((slice(0, 4), slice(0, 4)), "three slices"),
    ((slice(0, 4), slice(0, 4), slice(0, N + 1)), "three slices"),
    ((slice(0, 4), slice(0, 4), slice(0, 4, 2)), "three slices"),
])
def test_heating_near_rejects_bad_boxes(setup, bad, match):
    g, el, sig, _ = setup
    loc = PotentialSolver(g, el)
    loc.heating(sig)
    with pytest.raises(ConfigError, match=match):
        loc.heating_near(np.ones((4, 4, 4)), bad)


def test_heating_near_rejects_bad_sigma_and_needs_a_first_solve(setup):
    g, el, sig, box = setup
    loc = PotentialSolver(g, el)
    with pytest.raises(ConfigError, match="call heating"):
        loc.heating_near(sig[box], box)
    loc.heating(sig)
    with pytest.raises(ConfigError, match="shape"):
        loc.heating_near(sig[box][1:], box)
    bad = sig[box].copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ConfigError, match="NaN"):
        loc.heating_near(bad, box)
    with pytest.raises(ConfigError, match="margin"):
        loc.heating_near(sig[box], box, margin=0)


def _local(solver, box, new, include):
    last = solver._last
    sig64 = last["sigma"].copy()
    return local_resolve(
        sigma=sig64, kind=solver._kind, fixv=solver._fixv, efac=solver._efac, keep=solver._keep,
        phi=solver._phi.copy(), spacing=solver.grid.spacing_m, dflag=solver._dflag, faces=solver._faces, box=box,
        sigma_box=new[box].astype(np.float64), margin=4, rtol=1e-6, energy_W=last["power"], include=include)


def test_the_amplitude_needs_the_electrode_inside_the_local_box(setup):
    """Outside R the potential is scaled by α, which is right only where no voxel is fixed at a
    nonzero potential: with the needle partly outside R the power is off; the solver therefore
    always adds the needle's box (``include``)."""
    g, el, sig, _ = setup
    zs = np.nonzero(el)[2]
    c = N // 2
    side = (slice(c - 3, c + 4), slice(c - 3, c + 4), slice(int(zs.min()) - 2, int(zs.min()) + 4))
    new = sig.copy()
    new[side] *= np.float32(0.5)
    _, p_ref = PotentialSolver(g, el, rtol=1e-6).heating(new)
    solver = PotentialSolver(g, el, rtol=1e-6)
    _, p0 = solver.heating(sig)
    err = {}
    for name, inc in (("without", None), ("with", solver._electrode_box)):
        R = grow_box(side if inc is None else union_box(side, inc), 4, g.shape)
        assert (R[2].stop < zs.max()) == (inc is None)  # without it the needle's far end is outside R
        energy = _local(solver, side, new, inc)[2]
        err[name] = abs(energy - p_ref) / abs(p_ref - p0)
    assert err["with"] < 0.02
    assert err["without"] > 5 * err["with"]


def test_changed_box_agrees_with_needs_resolve():
    rng = np.random.default_rng(3)
    for _ in range(50):
        a = (rng.random((9, 10, 11)) * 0.5 + 0.01).astype(np.float32)
        b = a * (1 + rng.normal(0, 0.008, a.shape)).astype(np.float32)
        box = changed_box(a, b)
        assert needs_resolve(a, b) == (box is not None)
        if box is not None:
            m = np.abs(b - a) > np.float32(0.02) * np.abs(a)
            assert m[box].sum() == m.sum()
    with pytest.raises(ConfigError):
        changed_box(np.ones((2, 2, 2)), np.ones((2, 2, 3)))
