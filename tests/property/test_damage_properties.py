"""Properties that must hold for any input: damage never decreases; the heat step obeys a
discrete maximum principle at the stable time step (grids ≤ 16³)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tissuefate.grid import Grid
from tissuefate.physics.bioheat import BioheatModel
from tissuefate.physics.damage import DamageAccumulator
from tissuefate.tissue.maps import ThermalMaps

shapes = st.tuples(*(st.integers(1, 16),) * 3)
seeds = st.integers(0, 2**32 - 1)


@settings(max_examples=30, deadline=None)
@given(shape=shapes, seed=seeds, n_steps=st.integers(1, 5),
       dtype=st.sampled_from([np.float32, np.float64]),
       dt=st.floats(1e-3, 5.0, allow_nan=False))
def test_damage_never_decreases(shape, seed, n_steps, dtype, dt):
    rng = np.random.default_rng(seed)
    acc = DamageAccumulator(shape, dtype)
    for _ in range(n_steps):
        # temperatures from hypothermic to vaporising, including the 37 and 43 °C switch points
        T = rng.choice(np.array([250.0, 310.15, 316.15, 330.0, 373.15]), size=shape)
        T = (T + rng.normal(0.0, 3.0, shape)).astype(dtype)
        before = (acc.omega.copy(), acc.cem43_min.copy(), acc.peak_K.copy())
        acc.update(T, dt)
        for new, old in zip((acc.omega, acc.cem43_min, acc.peak_K), before, strict=True):
            assert np.all(new >= old)
            assert np.all(np.isfinite(new))
        assert np.all(acc.peak_K >= T)


@settings(max_examples=30, deadline=None)
@given(shape=st.tuples(*(st.integers(3, 16),) * 3), seed=seeds,
       spacing=st.tuples(*(st.floats(0.3e-3, 3e-3),) * 3), checkerboard=st.booleans())
def test_no_new_extrema_without_sources_or_perfusion(shape, seed, spacing, checkerboard):
    """At dt = dt_max (the limit itself, not a fraction) every voxel's new value is a convex
    combination of its neighbourhood, so the step creates no new maximum or minimum.

    The checkerboard is the worst case: with uniform properties a step 5 % above the limit
    already overshoots by 5 % of the amplitude, so this test fails if dt_max is too large.
    """
    rng = np.random.default_rng(seed)
    grid = Grid(shape, spacing)
    maps = ThermalMaps(
        0.2 + 2.0 * rng.random(shape),  # 0.2-2.2 W/(m K): parenchyma to frozen tissue
        1.0 / (1.5e6 + 3e6 * rng.random(shape)),
        np.zeros(shape),
    )
    model = BioheatModel(grid, maps, arterial_K=310.15, dtype=np.float64)
    T0 = 250.0 + 150.0 * rng.random(shape)
    if checkerboard:
        T0 = 300.0 + 50.0 * (np.indices(shape).sum(axis=0) % 2) + 0.1 * T0
    T = model.initial(T0)
    lo, hi = float(T.min()), float(T.max())
    for _ in range(3):
        T = model.step(T, None, model.dt_max_s)
        tol = 1e-9 * (hi - lo)
        lo2, hi2 = float(T.min()), float(T.max())
        assert lo2 >= lo - tol and hi2 <= hi + tol
        lo, hi = lo2, hi2
