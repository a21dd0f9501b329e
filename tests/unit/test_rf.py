"""Unit tests of tissuefate.physics.rf and tissuefate.physics.multigrid."""

from __future__ import annotations

import numpy as np
import pytest

from tissuefate.errors import ConfigError, GeometryError
from tissuefate.geometry import segment_mask, sphere_mask
from tissuefate.grid import Grid
from tissuefate.physics.multigrid import GeometricMultigrid, network_to_csr, pcg
from tissuefate.physics.rf import (
    PotentialSolver,
    needle_well_factor,
    needs_resolve,
    rf_conductivity,
    update_desiccated,
)
from tissuefate.tissue.properties import RF

T37 = 310.15


# ------------------------------------------------------------------ rf_conductivity


def test_conductivity_rises_about_1p5_percent_per_degree():
    T = T37 + np.arange(0.0, 60.0, 10.0)
    s = rf_conductivity(np.full(T.shape, 0.333), T, np.zeros(T.shape, bool))
    slope = np.diff(s) / 10.0 / 0.333
    assert np.allclose(slope, 0.015)
    assert RF["sigma_temp_coeff_per_K"].value == 0.015  # the value comes from the table


def test_conductivity_collapses_after_desiccation_and_stays_low():
    Td = RF["desiccation_temperature_K"].value
    T = np.array([Td - 1.0, Td, Td + 5.0])
    dry = update_desiccated(None, T)
    assert dry.tolist() == [False, True, True]
    s = rf_conductivity(np.full(3, 0.333), T, dry)
    assert s[1] / s[0] < 0.02
    # irreversible: cooling a desiccated voxel keeps it desiccated and its σ low
    dry2 = update_desiccated(dry, np.full(3, T37))
    assert dry2.tolist() == [False, True, True]
    s2 = rf_conductivity(np.full(3, 0.333), np.full(3, T37), dry2)
    assert s2[1] == pytest.approx(0.333 * RF["desiccation_factor"].value)
    # the linear rise stops at the desiccation temperature
    assert rf_conductivity(0.333, Td + 20.0) == pytest.approx(rf_conductivity(0.333, Td))


def test_conductivity_dtype_and_overrides():
    s = rf_conductivity(np.full(4, 0.333, np.float32), np.full(4, 320.15, np.float32))
    assert s.dtype == np.float32
    assert float(rf_conductivity(0.333, 320.15, coeff_per_K=0.02)) == pytest.approx(0.333 * 1.2)
    assert float(rf_conductivity(0.333, T37, True, desiccation_factor=1e-4)) == pytest.approx(
        0.333e-4
    )
    assert float(rf_conductivity(0.333, 200.0)) == 0.0  # clipped, never negative
    with pytest.raises(ConfigError):
        rf_conductivity(0.333, T37, desiccation_factor=2.0)


def test_needs_resolve():
    s = np.full((4, 4, 4), 0.333)
    assert not needs_resolve(s, s)
    assert not needs_resolve(s, s * 1.019)
    t = s.copy()
    t[1, 2, 3] *= 1.03
    assert needs_resolve(s, t)
    t = s.copy()
    t[0, 0, 0] *= RF["desiccation_factor"].value  # one newly desiccated voxel
    assert needs_resolve(s, t)
    assert needs_resolve(s, s * 1.019, rel_tol=0.01)
    with pytest.raises(ConfigError, match="shape"):
        needs_resolve(s, s[:2])


# ------------------------------------------------------------------ input validation


@pytest.fixture
def grid():
    return Grid.cube(12, 1e-3)


def _ball(grid):
    return sphere_mask(grid, (0, 0, 0), 1.6e-3)


def test_empty_mask_is_rejected(grid):
    with pytest.raises(GeometryError, match="no voxels"):
        PotentialSolver(grid, np.zeros(grid.shape, bool))


def test_mask_touching_box_face_is_rejected(grid):
    m = np.zeros(grid.shape, bool)
    m[5, 5, 0:4] = True
    with pytest.raises(GeometryError, match="z-low face"):
        PotentialSolver(grid, m)
    # with insulated z faces the same electrode is allowed
    PotentialSolver(grid, m, ground="side-faces")
    m2 = np.zeros(grid.shape, bool)
    m2[11, 5, 5] = True
    with pytest.raises(GeometryError, match="x-high face"):
        PotentialSolver(grid, m2, ground="side-faces")


def test_shape_mismatches_are_rejected(grid):
    with pytest.raises(GeometryError, match="shape"):
        PotentialSolver(grid, np.ones((3, 3, 3), bool))
    s = PotentialSolver(grid, _ball(grid))
    with pytest.raises(ConfigError, match="shape"):
        s.solve(np.full((4, 4, 4), 0.333))
    phi = s.solve(np.full(grid.shape, 0.333))
    with pytest.raises(ConfigError, match="shape"):
        s.joule_heating_W_per_m3(np.full(grid.shape, 0.333), phi[:-1])


def test_bad_options_and_sigma_are_rejected(grid):
    m = _ball(grid)
    with pytest.raises(ConfigError, match="method"):
        PotentialSolver(grid, m, method="cg")
    with pytest.raises(ConfigError, match="ground"):
        PotentialSolver(grid, m, ground="pads")
    with pytest.raises(ConfigError, match="ground_mask"):
        PotentialSolver(grid, m, ground="none")
    with pytest.raises(ConfigError, match="rtol"):
        PotentialSolver(grid, m, rtol=0.5)
    with pytest.raises(GeometryError, match="overlap"):
        PotentialSolver(grid, m, ground_mask=m)
    for bad_f in (0.0, (1.0, -2.0, 1.0), np.inf):
        with pytest.raises(ConfigError, match="electrode_face_factor"):
            PotentialSolver(grid, m, electrode_face_factor=bad_f)
    s = PotentialSolver(grid, m)
    bad = np.full(grid.shape, 0.333)
    bad[0, 0, 0] = -1.0
    with pytest.raises(ConfigError, match="negative"):
        s.solve(bad)
    bad[0, 0, 0] = np.nan
    with pytest.raises(ConfigError, match="NaN"):
        s.solve(bad)
    with pytest.raises(ConfigError, match="zero"):
        s.solve(np.zeros(grid.shape))


# ------------------------------------------------------------------ solver behaviour


@pytest.mark.parametrize("method", ["gmg", "pyamg"])
def test_warm_start_saves_iterations(method):
    g = Grid.cube(24, 1e-3)
    m = segment_mask(g, (0, 0, -5e-3), (0, 0, 5e-3), 0.75e-3)
    rng = np.random.default_rng(0)
    s0 = 0.333 * rng.uniform(0.8, 1.2, g.shape)
    solver = PotentialSolver(g, m, method=method)
    solver.solve(s0)
    cold = solver.last_iterations
    assert cold > 0 and solver.last_solve_s > 0
    solver.solve(s0)
    assert solver.last_iterations == 0  # same σ: the warm start already satisfies rtol
    solver.solve(s0 * (1 + 0.02 * rng.uniform(size=g.shape)))
    assert 0 < solver.last_iterations < cold
    if method == "pyamg":
        assert solver.n_setups == 1  # the hierarchy was reused for the changed σ


def test_scaling_sigma_leaves_phi_and_scales_power(grid):
    m = _ball(grid)
    s = PotentialSolver(grid, m)
    sig = np.full(grid.shape, 0.333)
    phi1 = s.solve(sig)
    p1 = s.power_W(sig, phi1)
    phi2 = s.solve(2 * sig)
    assert np.allclose(phi1, phi2, atol=1e-6)
    assert s.power_W(2 * sig, phi2) == pytest.approx(2 * p1, rel=1e-5)
    assert s.impedance_ohm(sig, phi1) == pytest.approx(1 / p1)


def test_float32_sigma_gives_float32_heating(grid):
    s = PotentialSolver(grid, _ball(grid))
    sig = np.full(grid.shape, 0.333, np.float32)
    phi = s.solve(sig)
    assert phi.dtype == np.float64
    q = s.joule_heating_W_per_m3(sig, phi)
    assert q.dtype == np.float32 and np.all(np.isfinite(q))


def test_solve_heating_matches_the_separate_calls(grid):
    for dt in (np.float32, np.float64):
        a, b = PotentialSolver(grid, _ball(grid)), PotentialSolver(grid, _ball(grid))
        sig = np.full(grid.shape, 0.333, dt)
        phi, q, p = a.solve_heating(sig)
        phi_b = b.solve(sig)
        assert np.array_equal(phi, phi_b)
        assert q.dtype == dt
        assert np.array_equal(q, b.joule_heating_W_per_m3(sig, phi_b))
        assert p == b.power_W(sig, phi_b)


def test_loose_resolve_gives_power_to_second_order(grid):
    """A loose re-solve (desiccation trigger) reuses the hierarchy and still gets the power right:
    the power is variational, its error of second order in the error of φ."""
    rng = np.random.default_rng(3)
    s0 = np.full(grid.shape, 0.333)
    tight, loose = PotentialSolver(grid, _ball(grid), rtol=1e-8), PotentialSolver(grid, _ball(grid), rtol=1e-8)
    tight.solve(s0)
    loose.solve(s0)
    s1 = s0 * (1 + 0.3 * rng.uniform(size=grid.shape))
    _, _, p_ref = tight.solve_heating(s1)
    setups = loose.n_setups
    _, _, p = loose.solve_heating(s1, rtol=1e-2)
    assert loose.n_setups == setups  # no new hierarchy for a loose solve
    assert p == pytest.approx(p_ref, rel=1e-3)
    with pytest.raises(ConfigError, match="rtol"):
        loose.solve(s1, rtol=0.5)


def test_insulating_voxels_carry_no_current():
    g = Grid.cube(20, 1e-3)
    tip = segment_mask(g, (0, 0, -4e-3), (0, 0, 2e-3), 0.75e-3)
    shaft = segment_mask(g, (0, 0, 2e-3), (0, 0, 9e-3), 0.75e-3) & ~tip
    sig = np.full(g.shape, 0.333)
    sig[shaft] = 0.0  # what tissue.rf_conductivity_map gives applicator voxels
    s = PotentialSolver(g, tip)
    phi = s.solve(sig)
    q = s.joule_heating_W_per_m3(sig, phi)
    assert np.all(np.isfinite(phi))
    assert q[shaft].max() < 1e-5 * q.max()


def test_bipolar_pair_is_antisymmetric():
    g = Grid((24, 16, 16), (1e-3,) * 3, origin_m=(-11.5e-3, -7.5e-3, -7.5e-3))
    a = segment_mask(g, (-5e-3, 0, -4e-3), (-5e-3, 0, 4e-3), 0.75e-3)
    b = segment_mask(g, (5e-3, 0, -4e-3), (5e-3, 0, 4e-3), 0.75e-3)
    s = PotentialSolver(g, a, ground="none", ground_mask=b)
    sig = np.full(g.shape, 0.333)
    phi = s.solve(sig)
    # mirror symmetry x → −x maps φ to 1 − φ
    assert np.allclose(phi + phi[::-1], 1.0, atol=1e-5)
    q = s.joule_heating_W_per_m3(sig, phi)
    assert q.sum() * g.voxel_volume_m3 == pytest.approx(s.power_W(sig, phi), rel=1e-4)


def test_assembled_matrix_is_symmetric_positive(grid):
    s = PotentialSolver(grid, _ball(grid))
    rng = np.random.default_rng(5)
    A, b = s.assemble(0.333 * rng.uniform(0.5, 1.5, grid.shape))
    assert A.shape == (s.n_unknowns, s.n_unknowns)
    assert abs(A - A.T).max() == 0
    assert np.all(A.diagonal() > 0) and np.all(b >= 0) and b.max() > 0
    # diagonally dominant M-matrix
    off = np.asarray(abs(A).sum(axis=1)).ravel() - A.diagonal()
    assert np.all(A.diagonal() >= off - 1e-15)


def test_multigrid_preconditioner_is_symmetric_and_solves():
    n = 20
    rng = np.random.default_rng(3)
    gx, gy, gz = (rng.uniform(0.1, 1.0, s) for s in ((n - 1, n, n), (n, n - 1, n), (n, n, n - 1)))
    g0 = np.zeros((n, n, n))
    g0[:, :, 0] = 1.0
    act = np.ones((n, n, n), np.uint8)
    mg = GeometricMultigrid(gx, gy, gz, g0, act)  # float32 hierarchy
    assert len(mg.levels) > 1
    u, v = rng.standard_normal((2, n, n, n))
    assert np.vdot(u, mg.precondition(v)) == pytest.approx(np.vdot(mg.precondition(u), v), rel=1e-5)
    A = network_to_csr(gx, gy, gz, g0, act)
    b = rng.standard_normal((n, n, n))
    x, its = pcg(mg.matvec, b, np.zeros_like(b), mg.precondition, rtol=1e-10)
    assert np.linalg.norm(A @ x.ravel() - b.ravel()) <= 1e-9 * np.linalg.norm(b)
    assert its < 20
    # reused buffers: the same V-cycle and the same PCG iterates (only the memory differs)
    z = np.empty((n, n, n))
    assert mg.precondition(v, out=z) is not None and np.array_equal(z, mg.precondition(v))
    out, work = np.empty_like(b), (np.empty_like(b), np.empty_like(b))
    x2, its2 = pcg(mg.matvec, b, np.zeros_like(b), mg.precondition, rtol=1e-10, out=out, work=work)
    assert its2 == its and np.shares_memory(x2, out)
    np.testing.assert_allclose(x2, x, rtol=0, atol=1e-12 * np.abs(x).max())
    with pytest.raises(ValueError, match="out"):
        pcg(mg.matvec, b, np.zeros_like(b), mg.precondition, out=np.empty(b.shape, np.float32))


def test_field_magnitude_of_uniform_slab():
    # a plate electrode across the box at x = 10 mm, grounded x faces 10 mm from its surfaces,
    # y and z faces insulated: φ is linear, |E| = 1 V / 10 mm everywhere in the tissue
    g = Grid((21, 6, 5), (1e-3,) * 3)
    m = np.zeros(g.shape, bool)
    m[10] = True
    s = PotentialSolver(g, m, ground=("x-low", "x-high"))
    sig = np.full(g.shape, 0.333)
    phi = s.solve(sig)
    e = s.field_magnitude_V_per_m(sig, phi)
    assert e[m].max() == 0
    assert np.allclose(e[~m], 100.0, rtol=1e-5)
    x = g.axis_m(0)
    exact = np.clip(1 - (np.abs(x - 10e-3) - 0.5e-3) / 10e-3, 0, 1)
    assert np.allclose(phi[:, 3, 2], exact, atol=1e-6)
    with pytest.raises(ConfigError, match="ground faces"):
        PotentialSolver(g, m, ground=("left",))


def test_extrapolated_guess_is_used_for_steady_changes():
    g = Grid.cube(24, 1e-3)
    m = segment_mask(g, (0, 0, -5e-3), (0, 0, 5e-3), 0.75e-3)
    x, y, z = g.coordinates_m()
    bump = np.exp(-(x**2 + y**2 + z**2) / (6e-3) ** 2)
    solver = PotentialSolver(g, m)
    guesses = []
    for k in range(4):
        solver.solve(0.333 * (1 + 0.03 * k * bump))
        guesses.append(solver.last_guess)
    assert guesses[:2] == ["zero", "previous"]
    assert guesses[2:] == ["extrapolated", "extrapolated"]
    assert solver.last_iterations <= 2


def test_pyamg_hierarchy_is_rebuilt_when_iterations_grow():
    from tissuefate.geometry import distance_to_segment_m

    g = Grid.cube(32, 1e-3)
    a, b = (0, 0, -8e-3), (0, 0, 8e-3)
    m = segment_mask(g, a, b, 0.75e-3)
    rng = np.random.default_rng(0)
    s1 = 0.333 * rng.uniform(0.2, 1.8, g.shape)
    s1[(distance_to_segment_m(g, a, b) < 4e-3) & ~m] *= 1e-3
    solver = PotentialSolver(g, m, method="pyamg", extrapolate=False)
    solver.solve(np.full(g.shape, 0.333))
    n0 = solver.last_iterations
    solver.solve(s1)  # the uniform-σ hierarchy preconditions the new σ poorly ...
    assert solver.n_setups == 1 and solver.last_iterations > 1.5 * n0
    solver.solve(s1 * rng.uniform(0.9, 1.1, g.shape))  # ... so it is rebuilt for the next solve
    assert solver.n_setups == 2 and solver.last_iterations <= n0


# ------------------------------------------------------------------ needle well model


def test_well_factor_of_single_voxel_needle_matches_peaceman():
    """Single voxel line: Peaceman's lattice radius 0.198 h puts the neighbours' potential at
    r = 0.198 h e^{π/2} ≈ 0.955 h, so the four electrode faces need a total of
    2πσ/ln(0.955 h/r_w) per unit length, i.e. α = (π/4)/ln(0.955 h/r_w) times their 2σ."""
    g = Grid.cube(17, 1e-3)  # odd: the axis x = y = 0 runs through voxel centres
    r = 0.7365e-3
    m = segment_mask(g, (0, 0, -4e-3), (0, 0, 4e-3), r)
    assert m[:, :, 8].sum() == 1
    f = needle_well_factor(g, m, (0, 0, -4e-3), (0, 0, 1), r)
    peaceman = (np.pi / 4) / np.log(0.1985 * np.exp(np.pi / 2) * 1e-3 / r)
    assert f[0] == f[1] == pytest.approx(peaceman, rel=0.01)
    assert f[2] == 1.0
    # along x: the factor goes to the y and z faces
    mx = segment_mask(g, (-4e-3, 0, 0), (4e-3, 0, 0), r)
    fx = needle_well_factor(g, mx, (-4e-3, 0, 0), (1, 0, 0), r)
    assert fx[0] == 1.0 and fx[1] == fx[2] == pytest.approx(f[0], rel=1e-6)


def test_well_factor_is_one_for_oblique_needles():
    g = Grid.cube(17, 1e-3)
    m = segment_mask(g, (-3e-3, -3e-3, -3e-3), (3e-3, 3e-3, 3e-3), 0.7e-3)
    assert needle_well_factor(g, m, (0, 0, 0), (1, 1, 1), 0.7e-3) == (1.0, 1.0, 1.0)


def test_well_factor_scales_electrode_faces_only():
    g = Grid.cube(17, 1e-3)
    m = segment_mask(g, (0, 0, -4e-3), (0, 0, 4e-3), 0.7e-3)
    sigma = np.full(g.shape, 0.333)
    z = []
    for f in (None, (2.0, 2.0, 1.0)):
        s = PotentialSolver(g, m, electrode_face_factor=f, rtol=1e-9)
        phi = s.solve(sigma)
        q = s.joule_heating_W_per_m3(sigma, phi)
        p = s.power_W(sigma, phi)
        assert q.sum() * g.voxel_volume_m3 == pytest.approx(p, rel=1e-6)  # still conservative
        z.append(1.0 / p)
    assert z[1] < z[0]  # a better-connected electrode has a lower impedance


def test_wall_heat_fraction_takes_share_of_electrode_face_heat():
    g = Grid.cube(17, 1e-3)
    m = segment_mask(g, (0, 0, -4e-3), (0, 0, 4e-3), 0.7e-3)
    sigma = np.full(g.shape, 0.333)
    with pytest.raises(ConfigError, match="electrode_wall_heat_fraction"):
        PotentialSolver(g, m, electrode_wall_heat_fraction=1.5)
    q = []
    for wf in (0.0, 0.5):
        s = PotentialSolver(g, m, electrode_wall_heat_fraction=wf, rtol=1e-9)
        phi = s.solve(sigma)
        q.append(s.joule_heating_W_per_m3(sigma, phi))
        p = s.power_W(sigma, phi)
    nb = ~m & (np.roll(m, 1, 0) | np.roll(m, -1, 0) | np.roll(m, 1, 1) | np.roll(m, -1, 1)
               | np.roll(m, 1, 2) | np.roll(m, -1, 2))
    assert np.allclose(q[0][~nb], q[1][~nb])  # only the electrode's neighbours lose heat
    assert np.all(q[1][nb] < q[0][nb])
    lost = (q[0].sum() - q[1].sum()) * g.voxel_volume_m3
    assert 0 < lost < 0.5 * p  # half of the electrode faces' share of the power


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_desiccating_conductivity_equals_the_reference(dtype):
    """The session's one-pass σ(T) equals rf_conductivity bit for bit, including the clip at
    σ = 0 (very cold tissue), the cap of the linear rise at 100 °C and the desiccation threshold."""
    from tissuefate.physics.rf import rf_conductivity_desiccating

    rng = np.random.default_rng(3)
    s37 = (0.2 + 0.3 * rng.random((17, 9, 23))).astype(dtype)
    T = (180.0 + 220.0 * rng.random(s37.shape)).astype(dtype)
    T.reshape(-1)[:5] = dtype(372.15)  # exactly at the threshold
    s37.reshape(-1)[5:9] = 0.0  # applicator voxels
    out = np.empty_like(s37)
    got = rf_conductivity_desiccating(s37, T, 372.15, out=out)
    assert got is out
    assert np.array_equal(got, rf_conductivity(s37, T, T >= dtype(372.15)))
    with pytest.raises(ConfigError):
        rf_conductivity_desiccating(s37, T.astype(np.float64 if dtype == np.float32 else np.float32), 372.15)
    # the "vaporised" law: desiccated only where the water has boiled off too
    dried = rng.choice(np.array([0.0, 0.5, 1.0], dtype), size=s37.shape)
    got = rf_conductivity_desiccating(s37, T, 372.15, dried=dried)
    assert np.array_equal(got, rf_conductivity(s37, T, (T >= dtype(372.15)) & (dried >= 1)))
    with pytest.raises(ConfigError, match="dried.shape"):
        rf_conductivity_desiccating(s37, T, 372.15, dried=dried[:, :, :2])
