"""Properties of the fate model for any state (grids ≤ 8³): fractions stay in [0, 1], the occupancy
T + N + D + S ≤ 1 holds after every step, vessels never decline, debris never grows (unless
secondary ischaemic death turns cells into debris), and the numba kernel equals the NumPy reference,
with and without the hypothesis secondary_ischaemic_death."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tissuefate.fate import FateModel, occupancy
from tissuefate.grid import Grid
from tissuefate.hypotheses import HypothesisSet
from tissuefate.tissue.labels import N_LABELS
from tissuefate.tissue.state import TissueState

shapes = st.tuples(*(st.integers(1, 8),) * 3)
seeds = st.integers(0, 2**32 - 1)
# secondary ischaemic death: off, the defaults, and the strongest allowed (threshold 1, 10/day)
ischaemia = st.sampled_from([None, {}, {"integrity_threshold": 1.0, "death_rate_per_day": 10.0}])


def model(isch) -> FateModel:
    if isch is None:
        return FateModel.from_properties()
    name = "secondary_ischaemic_death"
    return FateModel.from_properties(HypothesisSet.from_config([name], {name: isch}))


def random_state(shape, seed, dtype=np.float64) -> TissueState:
    rng = np.random.default_rng(seed)
    g = Grid(shape, (1e-3, 0.7e-3, 1.3e-3), (0.0, 0.0, 0.0))
    label = rng.integers(0, N_LABELS, size=shape).astype(np.uint8)
    # occupancy: T, N, D, S and free space from a Dirichlet draw, some exact zeros and ones
    parts = rng.dirichlet(np.full(5, 0.4), size=shape)
    parts[rng.random(shape) < 0.2] = [0, 1, 0, 0, 0]
    frac = {n: parts[..., i].astype(dtype) for i, n in enumerate(("tumour", "normal", "debris", "scar"))}
    u = {}
    for n in ("fixed", "ecm", "vascular", "inflammation"):  # uniform, with exact 0s and 1s
        edge = rng.random(shape)
        u[n] = np.where(edge < 0.2, 0.0, np.where(edge > 0.8, 1.0, rng.random(shape))).astype(dtype)
    return TissueState(grid=g, label=label, **frac, **u)


@settings(max_examples=25, deadline=None)
@given(shape=shapes, seed=seeds, days=st.floats(0.5, 40.0), td=st.sampled_from([20.0, 150.0, np.inf]),
       isch=ischaemia)
def test_invariants_hold_at_every_step(shape, seed, days, td, isch):
    s0 = random_state(shape, seed)
    m = model(isch)
    new, tr = m.advance(s0, days, doubling_time_days=td, check=True, backend="numpy")
    new.check()
    assert occupancy(new).max() <= 1 + 1e-12
    assert np.all(new.vascular >= s0.vascular - 1e-12)
    if isch is None:
        assert np.all(new.debris <= s0.debris + 1e-12)
    assert np.all(new.ecm == s0.ecm)
    assert np.all(np.isfinite(np.concatenate([np.atleast_1d(v) for k, v in tr.items() if k != "involution"])))


@settings(max_examples=15, deadline=None)
@given(shape=shapes, seed=seeds, days=st.floats(0.5, 15.0), isch=ischaemia)
def test_numba_equals_numpy(shape, seed, days, isch):
    s0 = random_state(shape, seed)
    m = model(isch)
    a, ta = m.advance(s0, days, doubling_time_days=30.0, backend="numpy")
    b, tb = m.advance(s0, days, doubling_time_days=30.0, backend="numba", check=True)
    for f in ("tumour", "normal", "debris", "fixed", "scar", "vascular", "inflammation"):
        np.testing.assert_allclose(getattr(a, f), getattr(b, f), rtol=1e-9, atol=1e-12, err_msg=f)
    np.testing.assert_allclose(ta["scar_volume_m3"], tb["scar_volume_m3"], rtol=1e-9, atol=1e-20)
