"""Dirichlet voxels (vessels, cooled electrodes) do not limit the explicit step, and stepping at
the limit next to a highly conductive Dirichlet voxel keeps the maximum principle."""

import numpy as np

from tissuefate.grid import Grid
from tissuefate.physics.bioheat import BioheatModel
from tissuefate.tissue.maps import ThermalMaps


def test_dirichlet_voxel_conductivity_does_not_limit_dt():
    g = Grid.cube(12, 1e-3)
    k = np.full(g.shape, 0.5)
    maps = ThermalMaps(k.copy(), np.full(g.shape, 1 / 3.8e6), np.zeros(g.shape))
    free = BioheatModel(g, maps, arterial_K=310.15, dtype=np.float64)
    mask = np.zeros(g.shape, bool)
    mask[6, 6, 6] = True
    k2 = k.copy()
    k2[mask] = 1.5  # electrode voxel: cold surface on its faces
    maps2 = ThermalMaps(k2, maps.inv_rho_c, maps.perfusion_coeff_per_s)
    held = BioheatModel(g, maps2, arterial_K=310.15, dirichlet_mask=mask, dirichlet_K=283.15, dtype=np.float64)
    # only the neighbours' rates grow (one face of six doubles): dt shrinks by 1/7, not by half
    assert held.dt_max_s > 0.8 * free.dt_max_s
    rng = np.random.default_rng(0)
    T = held.initial(310.15)
    T += rng.uniform(0, 5, g.shape)
    T[mask] = 283.15
    lo, hi = T.min(), T.max()
    for _ in range(50):
        T = held.step(T, None, held.dt_max_s)
    assert T.min() >= lo - 1e-9 and T.max() <= hi + 1e-9


def _needle_model(n, seed):
    """A random n³ block at 1 mm with a cooled needle (a Dirichlet line at 10 °C) and a random T."""
    g = Grid.cube(n, 1e-3)
    rng = np.random.default_rng(seed)
    maps = ThermalMaps(rng.uniform(0.4, 0.6, g.shape), np.full(g.shape, 1 / 3.8e6), np.full(g.shape, 2e-3))
    mask = np.zeros(g.shape, bool)
    mask[n // 2, n // 2, 2:n - 3] = True
    model = BioheatModel(g, maps, arterial_K=310.15, dirichlet_mask=mask, dirichlet_K=283.15,
                         dtype=np.float64, backend="numpy")
    T0 = model.initial(310.15) + rng.uniform(0, 20, g.shape)
    T0[mask] = 283.15
    return g, rng, mask, model, T0


def test_remove_source_equals_a_step_with_the_source_cut_short():
    """An explicit step is linear in Q: taking back (1 − θ) dt of the source gives the step whose
    source was switched off after θ dt (the RF session's roll-off inside a step)."""
    g, rng, mask, model, T0 = _needle_model(10, 1)
    q = rng.uniform(0, 5e7, g.shape)
    dt, theta = model.dt_max_s, 0.3
    full = model.step(T0.copy(), q, dt).copy()
    model.remove_source(full, q, (1 - theta) * dt)
    cut = model.step(T0.copy(), theta * q, dt).copy()  # step returns a model buffer
    np.testing.assert_allclose(full, cut, rtol=0, atol=1e-10)
    assert np.all(full[mask] == 283.15)
    # the source really mattered: without the correction the step is far off
    assert np.abs(model.step(T0.copy(), q, dt) - cut).max() > 1.0


def test_remove_source_in_a_box_equals_remove_source_of_a_source_zero_outside_it():
    """The boxed form (the RF session switches its source next to the electrode at desiccation)
    changes T exactly as remove_source of the same source padded with zeros: not at Dirichlet
    nodes, not on the box faces, nowhere outside the box."""
    g, rng, mask, model, T0 = _needle_model(12, 2)
    box = (slice(0, 9), slice(3, 10), slice(2, 12))  # reaches two grid faces and holds the needle
    qb = rng.uniform(-2e7, 5e7, (9, 7, 10))
    padded = np.zeros(g.shape)
    padded[box] = qb
    a = model.remove_source(T0.copy(), padded, 0.4)
    b = model.remove_source_in(T0.copy(), qb, 0.4, box)
    np.testing.assert_allclose(b, a, rtol=0, atol=1e-12)
    assert np.all(b[mask] == 283.15) and np.array_equal(b[:, :, 0], T0[:, :, 0])
    assert np.abs(b - T0).max() > 1.0  # it did something
