"""Multi-session courses: schedule validation, the course loop, stop reasons, outcomes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tissuefate.config.scenario import scenario_from_dict
from tissuefate.course import STOP_REASONS, residual_target, run_course
from tissuefate.errors import ConfigError


def _injection(course: dict, **kw) -> dict:
    d = {
        "name": "tiny course",
        "modality": "injection",
        "anatomy": {"kind": "block", "tumour_diameter_mm": 8},
        "grid": {"spacing_mm": 1.5, "roi_shape": [24, 24, 24]},
        "injection": {"agent": "ethanol", "volume_mL": 0.05, "rate_mL_per_s": 0.05, "spread_min": 5},
        "course": course,
    }
    d.update(kw)
    return d


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize("course, field, words", [
    ({"schedule_days": [0, 3, 3]}, "schedule_days", "overlap"),
    ({"schedule_days": [0, 5, 2]}, "schedule_days", "overlap"),
    ({"schedule_days": [0, 0.5]}, "schedule_days", "less than 1 day apart"),
    ({"schedule_days": [2, 5]}, "schedule_days", "first session is day 0"),
    ({"interval_days": -7, "max_sessions": 2}, "interval_days", "greater than or equal to 1"),
    ({"max_sessions": 3, "interval_days": 100, "horizon_days": 150}, "horizon_days", "last session"),
    ({"schedule_days": [0, 7], "max_sessions": 3}, "max_sessions", "contradicts"),
    ({"max_sessions": 0}, "max_sessions", "greater than or equal to 1"),
    ({"residual_threshold": 1.5}, "residual_threshold", "less than 1"),
])
def test_bad_schedules_name_the_field(course, field, words):
    with pytest.raises(ConfigError) as err:
        scenario_from_dict(_injection(course))
    msg = str(err.value)
    assert field in msg and words in msg, msg


def test_course_and_followup_together_refused():
    with pytest.raises(ConfigError, match=r"\[followup\] and \[course\]"):
        scenario_from_dict(_injection({"max_sessions": 1}, followup={"days": 30}))


def test_unknown_preset_and_hypothesis_refused():
    with pytest.raises(ConfigError, match="preset"):
        scenario_from_dict(_injection({"max_sessions": 1}, hypotheses={"preset": "wishful"}))
    with pytest.raises(ConfigError, match="unknown hypothesis|not_a_hypothesis"):
        scenario_from_dict(_injection({"max_sessions": 1}, hypotheses={"active": ["not_a_hypothesis"]}))


def test_session_days_from_interval_and_schedule():
    a = scenario_from_dict(_injection({"max_sessions": 3, "interval_days": 7}))
    assert a.course.session_days() == [0.0, 7.0, 14.0]
    b = scenario_from_dict(_injection({"schedule_days": [0, 3, 7]}))
    assert b.course.session_days() == [0.0, 3.0, 7.0]


def test_preset_scoping_keeps_oxidant_claims_off_other_strategies():
    scn = scenario_from_dict(_injection({"max_sessions": 1}, hypotheses={"preset": "seed_claims"}))
    applied, dropped = scn.run_hypotheses()
    assert "oxidant_tumour_selectivity" in dropped and "oxidant_tumour_selectivity" not in applied
    assert "debridement_enhanced_clearance" not in applied  # a claim made for the oxidant only


# ------------------------------------------------------------------ the planner's view
def test_residual_target_follows_the_tumour():
    from tissuefate.anatomy.block import block_state
    from tissuefate.grid import Grid

    st = block_state(Grid.cube(31, 1e-3), tumour_diameter_m=8e-3)
    st.tumour[:16] = 0.0  # only the half with x > 0 is left
    t = residual_target(st)
    assert t["centre_m"][0] > 1e-3 and abs(t["centre_m"][1]) < 1e-9
    x = st.grid.axis_m(0)[:, None, None]
    far = float(np.abs(x[st.tumour[:, 15:16, 15:16] > 0.01] - t["centre_m"][0]).max())
    assert t["radius_m"] >= far


# ------------------------------------------------------------------ courses that run
@pytest.fixture(scope="module")
def two_sessions():
    # too little ethanol to clear the tumour in one session: the second session aims at the residual
    scn = scenario_from_dict(_injection({"max_sessions": 2, "interval_days": 7, "horizon_days": 60,
                                         "doubling_time_days": 20}))
    return run_course(scn)


def test_course_runs_sessions_then_follow_up(two_sessions):
    c = two_sessions
    m = c.metrics
    assert m["stop_reason"] in STOP_REASONS
    assert 1 <= m["sessions_given"] <= 2 and m["sessions_given"] == len(c.sessions) == len(c.session_days)
    day = c.traces["day"]
    assert day[0] == 0.0 and day[-1] == pytest.approx(60.0)
    assert np.all(np.diff(day) > 0), "no duplicate or backward samples where advances join"
    for k, v in c.traces.items():
        assert v.shape == day.shape, k
    assert m["needle_passes"] == sum(len(s.placements) for s in c.sessions)
    assert m["normal_tissue_destroyed_mL"] >= 0 and m["leaked_agent_mL"] >= 0
    assert 0.0 <= m["tumour_control_probability_at_horizon"] <= 1.0
    assert m["plans"][0]["session"] == 1 and "residual_radius_mm" in m["plans"][0]
    assert len(c.snapshots) == m["sessions_given"] + 1


def test_tissue_is_carried_between_sessions(two_sessions):
    c = two_sessions
    if len(c.sessions) < 2:
        pytest.skip("the first session cleared the tumour")
    before2 = c.sessions[1].state
    assert float(before2.debris.sum()) > 0, "session 2 starts on the debris session 1 left"
    assert np.any(before2.label == 7) or float(before2.scar.sum()) >= 0  # tract labels kept (Label.TRACT)


def test_complete_response_is_below_the_detection_volume(two_sessions):
    m = two_sessions.metrics
    v_det_mL = math.pi * (m["detection_diameter_mm"] * 1e-1) ** 3 / 6.0
    for a in m["assessments"]:
        assert a["detectable"] == (a["viable_tumour_mL"] >= v_det_mL * (1 - 1e-3))
    if m["complete_response"]:
        assert m["days_to_complete_response"] in [a["day"] for a in m["assessments"]] + m["session_days"]


def test_unreachable_residual_ends_the_course_with_its_reason():
    # a 30-mm electrode does not fit into a 24 x 1.5 mm region: the planner refuses, the course records why
    d = {"name": "no room", "modality": "rfa", "anatomy": {"kind": "block", "tumour_diameter_mm": 8},
         "grid": {"spacing_mm": 1.5, "roi_shape": [16, 16, 16]},
         "applicator": {"type": "rf_electrode", "active_length_mm": 30},
         "protocol": {"duration_min": 1}, "course": {"max_sessions": 2, "horizon_days": 60}}
    c = run_course(scenario_from_dict(d))
    assert c.metrics["stop_reason"] == "unreachable"
    assert "session 1" in c.metrics["stop_detail"] and c.metrics["sessions_given"] == 0
    assert c.metrics["plans"][0]["refused"]
    assert c.traces["day"][-1] == pytest.approx(60.0)  # the untreated tumour is still followed up
    assert c.metrics["tumour_control_probability_at_horizon"] == 0.0


def test_numerical_failure_is_recorded_not_raised(monkeypatch):
    import tissuefate.therapy.session as ses

    def boom(session, progress=None):
        raise FloatingPointError("temperature became NaN")

    monkeypatch.setattr(ses, "run_session", boom)
    c = run_course(scenario_from_dict(_injection({"max_sessions": 2, "horizon_days": 60})))
    assert c.metrics["stop_reason"] == "numerical_failure" and "NaN" in c.metrics["stop_detail"]


def test_untreated_growth_matches_the_doubling_time():
    """With no session given, the viable tumour grows as 2^(t/Td) while it is far from confinement."""
    d = {"name": "no room", "modality": "rfa", "anatomy": {"kind": "block", "tumour_diameter_mm": 6},
         "grid": {"spacing_mm": 1.5, "roi_shape": [16, 16, 16]},
         "applicator": {"type": "rf_electrode", "active_length_mm": 30},
         "course": {"max_sessions": 1, "horizon_days": 40, "doubling_time_days": 1000}}
    c = run_course(scenario_from_dict(d))
    v = c.traces["tumour_volume_mL"]
    ratio = v[-1] / v[0]
    # the block tumour fills its voxels (T near carrying capacity), so growth is slower than free growth
    assert 1.0 <= ratio <= 2 ** (40 / 1000) * 1.0001


def test_overlapping_thermal_ablations_cover_the_margin():
    """A margin the published zone of one ablation cannot cover: the planner adds overlapping ablations in the
    same session (one needle pass each) and records its coverage."""
    d = {"name": "overlap", "modality": "mwa", "anatomy": {"kind": "block", "tumour_diameter_mm": 24},
         "grid": {"spacing_mm": 2.0, "roi_shape": [40, 40, 40]},
         "applicator": {"type": "mw_antenna", "frequency_MHz": 2450},
         "protocol": {"duration_min": 5, "power_W": 80},
         "course": {"max_sessions": 1, "horizon_days": 40, "margin_mm": 5, "max_overlapping_ablations": 4}}
    c = run_course(scenario_from_dict(d))
    m = c.metrics
    ov = m["plans"][0]["overlap"]
    assert ov["zone_diameter_mm"] == pytest.approx(31.2) and ov["n"] >= 2 and ov["covered_fraction"] >= 0.99
    assert m["sessions_given"] == 1 and m["ablations_given"] == ov["n"] == m["needle_passes"]
    assert [s["ablation"] for s in m["sessions"]] == list(range(1, ov["n"] + 1))
    # the default: one ablation, its (partial) coverage recorded
    d["course"]["max_overlapping_ablations"] = 1
    d["protocol"]["duration_min"] = 1  # not in the chart: one ablation at the centre, said so
    c1 = run_course(scenario_from_dict(d))
    assert c1.metrics["ablations_given"] == 1 and "no published zone size" in c1.metrics["plans"][0]["overlap"]["rule"]


def _rfa_then_ethanol(**hyp) -> dict:
    # a 1-min RFA leaves most of a 16-mm tumour: the retreatment injects ethanol into what is left
    return {"name": "mixed", "modality": "rfa", "anatomy": {"kind": "block", "tumour_diameter_mm": 16},
            "grid": {"spacing_mm": 2.0, "roi_shape": [32, 32, 32]},
            "applicator": {"type": "rf_electrode", "active_length_mm": 10},
            "protocol": {"duration_min": 1, "power_W": 20, "control": "power"},
            "hypotheses": hyp,
            "course": {"max_sessions": 2, "interval_days": 28, "horizon_days": 60,
                       "retreat": {"modality": "injection",
                                   "injection": {"agent": "ethanol", "volume_mL": 1.0, "spread_min": 5}}}}


def test_mixed_strategy_retreats_with_another_modality():
    c = run_course(scenario_from_dict(_rfa_then_ethanol()))
    m = c.metrics
    assert m["retreat_modality"] == "injection"
    if m["sessions_given"] < 2:
        pytest.skip(f"the first session already cleared the tumour ({m['stop_reason']})")
    assert [s["modality"] for s in m["sessions"]] == ["rfa", "injection"]
    assert m["plans"][1]["modality"] == "injection"
    # the injection starts on the tissue the RFA session and four weeks of healing left
    assert float(c.sessions[1].state.debris.sum()) > 0


def test_mixed_strategy_scar_hypothesis_acts_on_the_retreatment_only():
    c = run_course(scenario_from_dict(_rfa_then_ethanol(preset="seed_claims")))
    m = c.metrics
    assert "scar_blocks_retreatment" in m["hypotheses"]  # it acted in the injection session
    assert "oxidant_tumour_selectivity" in m["hypotheses_not_applicable"]


def test_bad_retreat_section_names_the_field():
    d = _rfa_then_ethanol()
    d["course"]["retreat"]["injection"]["volume_mL"] = -1
    with pytest.raises(ConfigError, match="retreat"):
        scenario_from_dict(d)
