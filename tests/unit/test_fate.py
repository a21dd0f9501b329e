"""Fate model: the post-session transition per modality, parameters and hypotheses, invariants,
the numba kernel against the NumPy reference, and the figure."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tissuefate.anatomy.block import block_state
from tissuefate.errors import ConfigError
from tissuefate.fate import FateModel, occupancy, post_session_state
from tissuefate.fate.calibration import synthetic_thermal_lesion
from tissuefate.grid import Grid
from tissuefate.hypotheses import HypothesisSet
from tissuefate.therapy.result import SessionResult
from tissuefate.tissue.labels import Label
from tissuefate.tissue.properties import FATE, all_params


def _session(modality, n=12, **kw):
    g = Grid.cube(n, 1e-3)
    st = block_state(g, tumour_diameter_m=6e-3)
    return SessionResult("t", modality, g, st, [], **kw)


def _lesion(n=16, kill=0.999):
    st = block_state(Grid.cube(n, 1e-3), tumour_diameter_m=6e-3)
    c = slice(n // 2 - 3, n // 2 + 3)
    box = (c, c, c)
    surv = np.ones(st.grid.shape)
    surv[box] = 1 - kill
    return SessionResult("t", "rfa", st.grid, st, [], omega=(-np.log(surv)).astype(np.float32)), box


# ---------------------------------------------------------------- transition


def test_thermal_transition_kills_into_fixed_debris_and_conserves_occupancy():
    res, box = _lesion()
    before = occupancy(res.state)
    after = post_session_state(res)
    assert np.allclose(occupancy(after), before, atol=1e-6)  # cells die in place
    om = res.omega.astype(float)
    killed = (res.state.tumour + res.state.normal) * (1 - np.exp(-om))
    assert np.allclose(after.debris, killed, atol=1e-6)
    coag = om >= FATE["coagulation_omega"].value
    assert coag.any()
    assert np.all(after.fixed[coag] == 1.0) and np.all(after.fixed[~coag] == 0.0)
    assert np.all(after.ecm[coag] == 0.0) and np.all(after.ecm[~coag] == 1.0)
    assert np.allclose(after.vascular, np.exp(-om), rtol=1e-5)
    assert np.allclose(after.inflammation, killed, atol=1e-6)
    assert res.state.debris.max() == 0.0  # input untouched


def test_peak_temperature_alone_marks_coagulation():
    g = Grid.cube(8, 1e-3)
    peak = np.full(g.shape, 310.0, np.float32)
    peak[2:4] = 340.0  # > 60 degC
    om = np.full(g.shape, 5.0, np.float32)  # lethal everywhere, coagulation threshold 4.6 crossed too
    om[4:] = 1.0
    res = SessionResult("t", "mwa", g, block_state(g), [], omega=om, peak_temperature_K=peak)
    after = post_session_state(res)
    assert np.all(after.fixed[2:4] == 1.0)
    assert np.all(after.fixed[4:] == 0.0)
    assert np.all(after.ecm[4:] == 1.0)


def test_ire_spares_matrix_and_vessels_outside_joule_coagulation():
    g = Grid.cube(10, 1e-3)
    surv = np.full(g.shape, 1.0)
    surv[3:7] = 1e-4
    om = np.zeros(g.shape, np.float32)
    om[3] = 6.0  # one Joule-heated plane
    res = SessionResult("t", "ire", g, block_state(g), [], omega=om, survival=surv)
    after = post_session_state(res)
    assert np.all(after.ecm[4:7] == 1.0) and np.all(after.fixed[4:7] == 0.0)
    assert np.all(after.vascular[4:7] == 1.0)
    assert np.all(after.ecm[3] == 0.0) and np.all(after.fixed[3] == 1.0)
    assert after.debris[4:7].min() > 0.999


def test_cryo_injures_microvessels_below_zero_and_leaves_nonfixed_debris():
    g = Grid.cube(10, 1e-3)
    tmin = np.full(g.shape, 300.0, np.float32)
    tmin[2:8] = 268.0  # frozen, not lethal
    tmin[4:6] = 220.0  # lethal
    surv = np.where(tmin < 233.15, 0.0, 1.0)
    res = SessionResult("t", "cryo", g, block_state(g), [], survival=surv, fields={"min_temperature_K": tmin})
    after = post_session_state(res)
    assert np.all(after.vascular[2:8] == 0.0) and np.all(after.vascular[:2] == 1.0)
    assert np.all(after.fixed == 0.0)
    assert np.all(after.ecm == 1.0)
    assert np.all(after.debris[4:6] == 1.0) and np.all(after.debris[2:4] == 0.0)


@pytest.mark.parametrize("agent", ["ethanol", "acetic_acid", "oxidant"])
def test_injection_uses_agent_fixed_fraction_and_vascular_field(agent):
    g = Grid.cube(8, 1e-3)
    surv = np.ones(g.shape)
    surv[2:6] = 0.0
    vafter = np.full(g.shape, 0.3, np.float32)
    res = SessionResult("t", "injection", g, block_state(g), [], survival=surv,
                        fields={"vascular_integrity_after": vafter}, details={"agent": agent})
    after = post_session_state(res)
    assert np.all(after.fixed[2:6] == FATE[f"fixed_fraction_{agent}"].value)
    assert np.allclose(after.vascular, 0.3)


def test_unknown_agent_and_modality_are_rejected():
    g = Grid.cube(4, 1e-3)
    res = SessionResult("t", "injection", g, block_state(g), [], survival=np.zeros(g.shape), details={"agent": "x"})
    with pytest.raises(ConfigError, match="agent"):
        post_session_state(res)
    res = SessionResult("t", "laser", g, block_state(g), [], survival=np.zeros(g.shape))
    with pytest.raises(ConfigError, match="modality"):
        post_session_state(res)


def test_applicator_becomes_tract_of_debris():
    res, _ = _lesion(n=12)
    res.state.label[6, 6, 2:10] = Label.APPLICATOR
    for f in ("tumour", "normal", "ecm", "vascular"):
        getattr(res.state, f)[6, 6, 2:10] = 0.0
    after = post_session_state(res)
    tract = after.label == Label.TRACT
    assert tract.sum() == 8 and not (after.label == Label.APPLICATOR).any()
    assert np.all(after.debris[tract] == 1.0) and np.all(after.ecm[tract] == 0.0)
    assert np.all(after.vascular[tract] == 0.0) and np.all(after.inflammation[tract] == 1.0)
    assert occupancy(after).max() <= 1 + 1e-6


def test_suppressed_inflammation_scales_seed():
    res, box = _lesion()
    hs = HypothesisSet.from_config(["suppressed_inflammation_fibrosis"],
                                   {"suppressed_inflammation_fibrosis": {"fibrosis_factor": 0.25}})
    a = post_session_state(res)
    b = post_session_state(res, hypotheses=hs)
    assert np.allclose(b.inflammation, 0.25 * a.inflammation, atol=1e-6)


# ---------------------------------------------------------------- parameters and hypotheses


def test_fate_params_are_sourced_and_listed():
    names = {n for n, _ in all_params()}
    for k, p in FATE.items():
        assert f"fate.{k}" in names
        assert p.source and p.tag in {"V", "R", "C", "E", "cal", "ABSENT"}
    cal = [k for k, p in FATE.items() if p.tag == "cal"]
    assert sorted(cal) == ["fibrosis_rate_per_day", "fixed_clearance_rate_per_day"]


def test_hypotheses_change_only_their_parameters():
    base = FateModel.from_properties()
    assert base == FateModel.from_properties(HypothesisSet())
    hs = HypothesisSet.from_config(["debridement_enhanced_clearance"])
    m = FateModel.from_properties(hs)
    assert m.clearance_rate_per_day == pytest.approx(3 * base.clearance_rate_per_day)
    assert m.fixed_clearance_rate_per_day == pytest.approx(3 * base.fixed_clearance_rate_per_day)
    assert m.fixed_front_speed_mm_per_day == pytest.approx(3 * base.fixed_front_speed_mm_per_day)
    assert m.fibrosis_rate_per_day == base.fibrosis_rate_per_day
    assert m.hypotheses == ("debridement_enhanced_clearance",)
    hs = HypothesisSet.from_config(["suppressed_inflammation_fibrosis"])
    assert FateModel.from_properties(hs).inflammation_factor == 0.2
    # inactive hypotheses never leak their (non-literature) defaults
    assert base.inflammation_factor == 1.0 and base.hypotheses == ()


def test_hypotheses_act_in_the_expected_direction():
    res, box = _lesion(n=14)
    st = post_session_state(res)
    base_state, base = FateModel.from_properties().advance(st, 40.0, doubling_time_days=np.inf)
    hs = HypothesisSet.from_config(["debridement_enhanced_clearance"])
    _, fast = FateModel.from_properties(hs).advance(st, 40.0, doubling_time_days=np.inf)
    assert fast["debris_volume_m3"][-1] < base["debris_volume_m3"][-1]
    hs = HypothesisSet.from_config(["suppressed_inflammation_fibrosis"])
    st2 = post_session_state(res, hypotheses=hs)
    _, low = FateModel.from_properties(hs).advance(st2, 40.0, doubling_time_days=np.inf)
    assert low["scar_volume_m3"][-1] < 0.5 * base["scar_volume_m3"][-1]


@pytest.mark.parametrize("kw, match", [
    ({"duration_days": -1.0}, "duration_days"),
    ({"dt_days": 0.0}, "dt_days"),
    ({"doubling_time_days": 0.0}, "doubling_time_days"),
    ({"backend": "cuda"}, "backend"),
])
def test_advance_rejects_bad_arguments(kw, match):
    st = block_state(Grid.cube(4, 1e-3))
    args = {"duration_days": 1.0, **kw}
    with pytest.raises(ConfigError, match=match):
        FateModel.from_properties().advance(st, args.pop("duration_days"), **args)


def test_model_rejects_bad_parameters():
    with pytest.raises(ConfigError, match="fixed_front_speed"):
        FateModel.from_properties(fixed_front_speed_mm_per_day=10.0)
    with pytest.raises(ConfigError, match="clearance_rate_per_day"):
        FateModel.from_properties(clearance_rate_per_day=-1.0)


# ---------------------------------------------------------------- dynamics


def test_untreated_tissue_is_a_fixed_point():
    st = block_state(Grid.cube(10, 1e-3), vessel=((0.0, 0.0, 0.0), (0, 0, 1), 3e-3))
    st.label[0] = Label.OUTSIDE
    st.normal[0] = 0.0
    new, tr = FateModel.from_properties().advance(st, 100.0)
    for f in ("tumour", "normal", "debris", "scar", "vascular", "inflammation"):
        assert np.array_equal(getattr(new, f), getattr(st, f)), f
    assert tr["zone_volume_m3"].max() == 0.0 and np.isnan(tr["involution"]).all()


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_debris_is_cleared_and_scar_forms_with_invariants(backend):
    res, box = _lesion(n=14)
    st = post_session_state(res)
    new, tr = FateModel.from_properties().advance(st, 60.0, doubling_time_days=100.0, check=True, backend=backend)
    assert new.debris.sum() < 0.8 * st.debris.sum()
    assert new.scar.sum() > 0
    assert occupancy(new).max() <= 1 + 1e-6
    assert new.vascular.min() >= st.vascular.min()  # vessels only regrow
    assert np.all(np.diff(tr["fixed_debris_volume_m3"]) <= 1e-18)  # debris never grows in follow-up
    assert new.meta["fate_days"] == 60.0
    assert tr["time_days"][-1] == pytest.approx(60.0) and tr["time_days"].size == 61


@pytest.mark.parametrize("active", [(), ("secondary_ischaemic_death",),
                                    ("secondary_ischaemic_death", "debridement_enhanced_clearance")])
def test_numba_matches_numpy_reference(active):
    res = synthetic_thermal_lesion(8e-3, spacing_m=1e-3, margin_m=3e-3)
    res.state = block_state(res.grid, tumour_diameter_m=9e-3)
    hs = HypothesisSet.from_config(active)
    st = post_session_state(res, hypotheses=hs)
    m = FateModel.from_properties(hs)
    a, ta = m.advance(st, 30.0, doubling_time_days=60.0, backend="numpy", check=True)
    b, tb = m.advance(st, 30.0, doubling_time_days=60.0, backend="numba", check=True)
    for f in ("tumour", "normal", "debris", "fixed", "scar", "vascular", "inflammation"):
        np.testing.assert_allclose(getattr(a, f), getattr(b, f), rtol=1e-6, atol=1e-7, err_msg=f)
    for k in ta:
        np.testing.assert_allclose(ta[k], tb[k], rtol=1e-9, atol=1e-15, err_msg=k)


def test_regeneration_needs_intact_matrix():
    """Same cleared cavity, ECM intact vs destroyed: parenchyma returns only with matrix."""
    g = Grid.cube(12, 1e-3)
    st = block_state(g)
    c = (slice(4, 8),) * 3
    st.normal[c] = 0.0
    st.debris[c] = 1.0
    st.vascular[c] = 0.0
    lost = st.copy()
    lost.ecm[c] = 0.0
    m = FateModel.from_properties()
    a, _ = m.advance(st, 60.0, doubling_time_days=np.inf)
    b, _ = m.advance(lost, 60.0, doubling_time_days=np.inf)
    assert a.normal[c].mean() > 0.3
    assert b.normal[c].max() == 0.0
    assert b.scar[c].mean() > a.scar[c].mean()


def test_fixed_debris_is_cleared_much_more_slowly():
    g = Grid.cube(14, 1e-3)
    st = block_state(g)
    c = (slice(3, 11),) * 3
    st.normal[c] = 0.0
    st.debris[c] = 1.0
    st.vascular[c] = 0.0
    fixed = st.copy()
    fixed.fixed[c] = 1.0
    m = FateModel.from_properties()
    a, ta = m.advance(st, 28.0, doubling_time_days=np.inf)
    b, tb = m.advance(fixed, 28.0, doubling_time_days=np.inf)
    assert ta["debris_volume_m3"][-1] < 0.3 * ta["debris_volume_m3"][0]
    assert tb["debris_volume_m3"][-1] > 0.8 * tb["debris_volume_m3"][0]


def test_stable_dt_shrinks_with_the_grid():
    m = FateModel.from_properties()
    assert m.stable_dt_days((1e-3,) * 3) == pytest.approx(4 * m.stable_dt_days((0.5e-3,) * 3))
    st = block_state(Grid.cube(4, 0.25e-3))
    _, tr = m.advance(st, 1.0)
    assert float(tr["dt_days"]) <= 0.9 * m.stable_dt_days((0.25e-3,) * 3) + 1e-12


def test_plot_fate_traces(tmp_path):
    from tissuefate.viz.fate import plot_fate_traces

    res, _ = _lesion(n=10)
    _, tr = FateModel.from_properties().advance(post_session_state(res), 10.0)
    fig = plot_fate_traces(tr, tmp_path / "f.png", reference={"time_days": 70, "involution": 0.5})
    assert (tmp_path / "f.png").stat().st_size > 1000
    assert len(fig.axes) == 4
    assert math.isclose(float(tr["involution"][0]), 1.0)


@pytest.mark.slow
def test_real_cryo_session_through_fate():
    """A simulated cryo session (scenario pipeline) → post-session state → 60 days of follow-up."""
    from tissuefate.api import simulate
    from tissuefate.config.scenario import scenario_from_dict

    scn = scenario_from_dict({"modality": "cryo", "name": "cryo-fate",
                              "anatomy": {"kind": "block", "tumour_diameter_mm": 14},
                              "grid": {"spacing_mm": 1.5, "roi_shape": [40, 40, 40]},
                              "applicator": {"type": "cryoprobe", "n_probes": 2, "spacing_mm": 10},
                              "cryo": {"phases": [{"kind": "freeze", "duration_min": 3}]}})
    res = simulate(scn)
    st = post_session_state(res)
    assert (st.label == Label.TRACT).sum() > 0 and not (st.label == Label.APPLICATOR).any()
    assert st.fixed.max() == 0.0  # cryo necrosis is not heat-fixed [E]
    new, tr = FateModel.from_properties().advance(st, 60.0, doubling_time_days=150.0, check=True)
    assert tr["involution"][-1] < 0.6  # non-fixed, matrix kept: cleared and regenerated
    assert tr["regenerated_volume_m3"][-1] > 0
