"""Issue 4: secondary ischaemic death in the fate model, the acute volume change (dehydration
shrinkage), scar blocking an injected agent, and the fate verification / sensitivity rows."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from tissuefate.anatomy.block import block_state
from tissuefate.backends.registry import get_kernel
from tissuefate.errors import ConfigError
from tissuefate.fate import FateModel, occupancy, post_session_state
from tissuefate.fate.calibration import (
    EXPECTED_DIRECTIONS,
    _direction,
    fate_sensitivity,
    fate_sensitivity_markdown,
    synthetic_thermal_lesion,
)
from tissuefate.fate.transition import acute_volume_change_m3
from tissuefate.grid import Grid
from tissuefate.hypotheses import HypothesisSet
from tissuefate.physics.injection import Agent, InjectionModel, InjectionNeedle, InjectionProtocol
from tissuefate.therapy.injection_session import hypothesis_parameters
from tissuefate.therapy.result import SessionResult
from tissuefate.tissue.labels import Label

ROOT = Path(__file__).resolve().parents[2]
ISCH = "secondary_ischaemic_death"
FIELDS = ("tumour", "normal", "debris", "fixed", "scar", "vascular", "inflammation", "ecm")


def _isch(threshold=0.3, rate=0.5):
    return HypothesisSet.from_config([ISCH], {ISCH: {"integrity_threshold": threshold, "death_rate_per_day": rate}})


# ---------------------------------------------------------------- secondary ischaemic death


def test_model_reads_the_hypothesis():
    base = FateModel.from_properties()
    assert base.ischaemic_death_rate_per_day == 0.0 and base.ischaemic_integrity_threshold == 0.0
    m = FateModel.from_properties(_isch(0.2, 2.0))
    assert (m.ischaemic_integrity_threshold, m.ischaemic_death_rate_per_day) == (0.2, 2.0)
    assert m.hypotheses == (ISCH,)
    # nothing else changes
    for f in ("clearance_rate_per_day", "fibrosis_rate_per_day", "inflammation_factor"):
        assert getattr(m, f) == getattr(base, f)
    with pytest.raises(ConfigError, match="ischaemic_integrity_threshold"):
        FateModel.from_properties(ischaemic_integrity_threshold=1.5)
    with pytest.raises(ConfigError, match="ischaemic_death_rate_per_day"):
        FateModel.from_properties(ischaemic_death_rate_per_day=-1.0)


def _ischaemic_block(v=0.1, n=8):
    """Tumour and parenchyma with uniform low microvessels; vessel regrowth made negligible."""
    st = block_state(Grid.cube(n, 1e-3), dtype=np.float64)
    st.tumour[...] = 0.4
    st.normal[...] = 0.6
    st.vascular[...] = v
    return st


# D_v = c^2 / (4 r) = 2.5e-6 mm²/day: vessels neither regrow nor spread in the few days tested
_SLOW_VESSELS = dict(vessel_growth_rate_per_day=1e-9, vessel_front_speed_mm_per_day=1e-7,
                     fixed_front_speed_mm_per_day=1e-8, regeneration_rate_per_day=0.0)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_ischaemic_death_is_exact_exponential_decay(backend):
    k, vth, v = 0.8, 0.3, 0.1
    m = FateModel.from_properties(_isch(vth, k), **_SLOW_VESSELS)
    st = _ischaemic_block(v)
    new, tr = m.advance(st, 5.0, doubling_time_days=np.inf, check=True, backend=backend)
    decay = math.exp(-k * (1 - v / vth) * 5.0)
    np.testing.assert_allclose(new.tumour, 0.4 * decay, rtol=1e-7)
    np.testing.assert_allclose(new.normal, 0.6 * decay, rtol=1e-7)
    assert np.all(new.fixed == 0.0)  # the dead are non-fixed debris
    assert new.debris.min() > 0
    assert occupancy(new).max() <= 1 + 1e-12
    # debris = the dead minus what was cleared (clearance at k_n V): never more than the dead
    assert tr["debris_volume_m3"][0] == 0.0
    assert 0 < float(new.debris.sum()) <= (1 - decay) * st.grid.n_voxels * (1 + 1e-9)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_no_death_at_or_above_threshold(backend):
    """Hypothesis on but no voxel below the threshold: bit-identical to the hypothesis off."""
    res = synthetic_thermal_lesion(8e-3, spacing_m=1e-3, margin_m=3e-3)
    res.state = block_state(res.grid, tumour_diameter_m=9e-3)
    st = post_session_state(res)
    vmin = float(st.vascular.min())
    off = FateModel.from_properties()
    on = FateModel.from_properties(_isch(threshold=min(vmin, 1.0) * 0.999 if vmin > 0 else 0.0))
    zero = FateModel.from_properties(ischaemic_death_rate_per_day=5.0, ischaemic_integrity_threshold=0.0)
    a, ta = off.advance(st, 20.0, doubling_time_days=60.0, backend=backend)
    for m in (on, zero):
        b, tb = m.advance(st, 20.0, doubling_time_days=60.0, backend=backend)
        for f in FIELDS:
            assert np.array_equal(getattr(a, f), getattr(b, f)), f
        for key in ta:
            assert np.array_equal(ta[key], tb[key]), key


def test_ischaemic_death_kills_more_in_the_rim_and_keeps_invariants():
    res = synthetic_thermal_lesion(8e-3, spacing_m=1e-3, margin_m=3e-3)
    res.state = block_state(res.grid, tumour_diameter_m=10e-3)
    hs = _isch()
    st = post_session_state(res, hypotheses=hs)
    off, t_off = FateModel.from_properties().advance(st, 20.0, doubling_time_days=100.0, check=True)
    on, t_on = FateModel.from_properties(hs).advance(st, 20.0, doubling_time_days=100.0, check=True)
    assert t_on["tumour_volume_m3"][-1] < t_off["tumour_volume_m3"][-1]
    low = (st.vascular < 0.3) & (st.tumour > 0)
    assert low.any()
    # vessels regrow (logistic, 0.5/day) past the threshold within days, so the extra kill is modest
    assert on.tumour[low].sum() < 0.98 * off.tumour[low].sum()
    assert occupancy(on).max() <= 1 + 1e-6


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_active_box_covers_isolated_ischaemic_voxels(backend):
    """Only a 2x2x2 patch with low vessels and cells is out of steady state: it still evolves,
    and the rest of the block stays at its fixed point."""
    st = block_state(Grid.cube(12, 1e-3), dtype=np.float64)
    patch = (slice(2, 4),) * 3
    st.vascular[patch] = 0.05
    m = FateModel.from_properties(_isch(0.3, 1.0), **_SLOW_VESSELS)
    new, _ = m.advance(st, 3.0, doubling_time_days=np.inf, backend=backend, check=True)
    # rtol: the neighbours' intact vessels still diffuse in (D_v 2.5e-6 mm²/day)
    np.testing.assert_allclose(new.normal[patch], math.exp(-(1 - 0.05 / 0.3) * 3.0), rtol=1e-3)
    far = np.ones(st.grid.shape, bool)
    far[:7, :7, :7] = False
    assert np.all(new.normal[far] == 1.0) and np.all(new.debris[far] == 0.0)


# ---------------------------------------------------------------- dehydration shrinkage


def test_acute_volume_change():
    g = Grid.cube(6, 1e-3)
    surv = np.ones(g.shape)
    surv[:2] = 0.0
    surv[2, 0, 0] = 0.01  # at the threshold: lethal
    surv[2, 0, 1] = 0.011  # above: not lethal
    res = SessionResult("x", "injection", g, block_state(g), [], survival=surv, details={"agent": "oxidant"})
    n = 2 * 36 + 1
    assert acute_volume_change_m3(res) == 0.0
    assert acute_volume_change_m3(res, HypothesisSet.from_config([ISCH])) == 0.0
    hs = HypothesisSet.from_config(["dehydration_shrinkage"])
    assert acute_volume_change_m3(res, hs) == pytest.approx(-0.3 * n * 1e-9, rel=1e-12)
    hs = HypothesisSet.from_config(["dehydration_shrinkage"], {"dehydration_shrinkage": {"volume_fraction": 0.9}})
    assert acute_volume_change_m3(res, hs) == pytest.approx(-0.9 * n * 1e-9, rel=1e-12)
    # a thermal session: lethal zone from exp(-omega)
    om = np.zeros(g.shape, np.float32)
    om[:3] = 10.0
    thermal = SessionResult("t", "rfa", g, block_state(g), [], omega=om)
    assert acute_volume_change_m3(thermal, hs) == pytest.approx(-0.9 * 108 * 1e-9, rel=1e-12)
    with pytest.raises(ConfigError, match="SessionResult"):
        acute_volume_change_m3(block_state(g), hs)


# ---------------------------------------------------------------- scar blocks retreatment


def test_hypothesis_parameters_scar():
    name = "scar_blocks_retreatment"
    hs = HypothesisSet.from_config([name], {name: {"permeability_factor": 0.05}})
    for agent in (Agent.ethanol(), Agent.acetic_acid()):
        assert hypothesis_parameters(agent, hs) == {"overrides": {"scar_factor": 0.05}, "scar_diffusivity_factor": 0.05}
    hs = HypothesisSet.from_config(["scar_blocks_retreatment", "oxidant_delivery_diffusion_limited"])
    kw = hypothesis_parameters(Agent.oxidant(), hs)
    assert kw["overrides"] == {"scar_factor": 0.01} and kw["scar_diffusivity_factor"] == 0.01
    assert kw["transport_demand_fraction"] == 1.0
    assert hypothesis_parameters(Agent.ethanol(), HypothesisSet()) == {}


def _scar_model(scar, **kw):
    g = Grid.cube(16, 1e-3)
    lab = np.full(g.shape, Label.PARENCHYMA, np.uint8)
    return InjectionModel(g, lab, agent=Agent.ethanol(), needles=[InjectionNeedle((0, 0, 0))], scar=scar,
                          backend=kw.pop("backend", "numpy"), **kw)


def test_scar_scales_conductivity_and_diffusivity():
    g = Grid.cube(16, 1e-3)
    scar = np.zeros(g.shape)
    scar[:8] = 1.0
    scar[8] = 0.5
    plain = _scar_model(scar)
    hyp = _scar_model(scar, overrides={"scar_factor": 0.01}, scar_diffusivity_factor=0.01)
    K0 = plain.conductivity_m2_per_Pa_s
    K1 = hyp.conductivity_m2_per_Pa_s
    np.testing.assert_allclose(K1[:8], K0[:8] * 0.1, rtol=1e-12)  # 0.01 instead of the default 0.1
    np.testing.assert_allclose(K1[8], K0[8] * (0.5 + 0.5 * 0.01) / (0.5 + 0.5 * 0.1), rtol=1e-12)
    assert plain._face_weights is None  # default: uniform D, the scar-free kernel path
    assert _scar_model(np.zeros(g.shape), scar_diffusivity_factor=0.01)._face_weights is None
    wx, wy, wz = hyp._face_weights
    assert wx.shape == (15, 16, 16) and wy.shape == (16, 15, 16) and wz.shape == (16, 16, 15)
    np.testing.assert_allclose(wy[:8], 0.01, rtol=1e-12)  # fully scarred: the factor
    np.testing.assert_allclose(wy[9:], 1.0)
    f8 = 0.5 + 0.5 * 0.01
    np.testing.assert_allclose(wx[7], 2 * 0.01 * f8 / (0.01 + f8), rtol=1e-12)  # harmonic mean across the face
    with pytest.raises(ConfigError, match="scar_diffusivity_factor"):
        _scar_model(scar, scar_diffusivity_factor=0.0)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_uniform_face_weight_equals_scaled_diffusivity(backend):
    rng = np.random.default_rng(3)
    n = 10
    s = rng.random((n, n, n)) * 0.3
    c = s * 500.0
    act = np.ones((n, n, n), np.uint8)
    kw = rng.random((n, n, n)) * 0.01
    w = 0.05
    face = (np.full((n - 1, n, n), w), np.full((n, n - 1, n), w), np.full((n, n, n - 1), w))
    kern = get_kernel("diffuse_washout", backend)
    out = []
    for d, fc in (((0.1 * w, 0.08 * w, 0.12 * w), None), ((0.1, 0.08, 0.12), face)):
        so, co = np.zeros_like(s), np.zeros_like(c)
        box = np.array([0, n, 0, n, 0, n], np.int64)
        sums = kern(s, c, so, co, act, kw, 10.0, d, box, 0.0, 0.0, fc)
        out.append((so, co, np.array(sums)))
    for a, b in zip(*out, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


def test_face_weighted_diffusion_numba_matches_numpy():
    rng = np.random.default_rng(4)
    n = 12
    s = rng.random((n, n, n)) * 0.3
    c = s * 800.0
    act = (rng.random((n, n, n)) < 0.9).astype(np.uint8) * rng.integers(1, 3, (n, n, n)).astype(np.uint8)
    kw = rng.random((n, n, n)) * 0.01
    face = tuple(rng.random(sh) for sh in ((n - 1, n, n), (n, n - 1, n), (n, n, n - 1)))
    res = {}
    for backend in ("numpy", "numba"):
        so, co = np.zeros_like(s), np.zeros_like(c)
        box = np.array([0, n, 0, n, 0, n], np.int64)
        sums = get_kernel("diffuse_washout", backend)(s, c, so, co, act, kw, 20.0, (0.05, 0.07, 0.03), box,
                                                       1e-3, 1e-1, face)
        res[backend] = (so, co, np.array(sums))
    for a, b in zip(res["numpy"], res["numba"], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-14)


def test_scar_blocks_agent_spread():
    """Scar everywhere, same Darcy conductivity: a lower scar diffusivity keeps the agent closer to
    the tip after the injection stops (and the balance still closes)."""
    g = Grid.cube(16, 1e-3)
    scar = np.ones(g.shape)
    x, y, z = g.coordinates_m()
    r2 = x * x + y * y + z * z
    out = {}
    for f in (1.0, 0.01):
        m = _scar_model(scar, overrides={"scar_factor": 0.01}, scar_diffusivity_factor=f, backend="numba")
        r = m.run(InjectionProtocol(0.05e-6, 0.01e-6, spread_s=600.0))
        assert abs(r.balance["agent"]["relative_error"]) < 1e-9
        c = np.asarray(r.concentration_mol_per_m3)
        out[f] = float((c * r2).sum() / c.sum())
    assert out[0.01] < 0.9 * out[1.0]


# ---------------------------------------------------------------- verification and sensitivity rows


@pytest.mark.parametrize("base, lo, hi, expected", [
    (1.0, 1.0, 1.0, "none"), (1.0, 1.0 - 1e-6, 1.0 + 1e-6, "none"), (1.0, 0.9, 1.1, "+"), (1.0, 1.0, 1.1, "+"),
    (1.0, 1.1, 0.9, "-"), (1.0, 0.9, 1.0, "+"), (1.0, 0.9, 0.95, "mixed"), (1.0, 1.1, 1.2, "mixed"),
])
def test_direction_rule(base, lo, hi, expected):
    assert _direction(base, lo, hi) == expected


def test_expected_directions_cover_the_parameters():
    must = {"clearance_rate_per_day", "fixed_clearance_rate_per_day", "fixed_front_speed_mm_per_day",
            "vessel_front_speed_mm_per_day", "fibrosis_rate_per_day", "scar_max_fraction",
            "inflammation_half_life_days", "inflammation_recruitment_per_day", "regeneration_rate_per_day"}
    assert must <= set(EXPECTED_DIRECTIONS)
    for p, d in EXPECTED_DIRECTIONS.items():
        assert hasattr(FateModel.from_properties(), p)
        assert set(d) == {"involution", "scar"}
        assert all(v[0] in ("+", "-", "none", "mixed") and v[1] for v in d.values())


def test_sensitivity_directions_match_and_doc_in_sync():
    rows = fate_sensitivity()
    assert len(rows) == 2 * len(EXPECTED_DIRECTIONS)
    bad = [(r["parameter"], r["outcome"], r["expected"], r["simulated"]) for r in rows if not r["passed"]]
    assert not bad, bad
    doc = (ROOT / "docs" / "fate_sensitivity.md").read_text()
    assert doc.strip() == fate_sensitivity_markdown().strip(), (
        "docs/fate_sensitivity.md is stale: regenerate with python -c 'from tissuefate.fate.calibration import "
        "fate_sensitivity_markdown as f; open(\"docs/fate_sensitivity.md\", \"w\").write(f() + \"\\n\")'")


def test_fate_verification_rows_pass():
    from tissuefate.validation import CASES, run_validation

    names = ["fate_conservation", "fate_doubling", "fate_sensitivity"]
    assert all(CASES[n][0] for n in names)  # fast
    rows = run_validation(only=names)
    assert len(rows) == 2 + 1 + 2 * len(EXPECTED_DIRECTIONS)
    assert all(r.kind == "verification" for r in rows)
    failed = [f"{r.case}: {r.quantity} = {r.simulated} vs {r.reference}" for r in rows if not r.passed]
    assert not failed, failed
    doubling = next(r for r in rows if "doubling" in r.case)
    assert abs(doubling.simulated - 4.0) < 0.01 * 4.0
