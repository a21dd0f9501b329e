"""The one-session course: a session followed by the tissue-fate model (tissuefate.course)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tissuefate.api import run_scenario, simulate
from tissuefate.config.scenario import scenario_from_dict
from tissuefate.course import default_doubling_time_days, follow_up
from tissuefate.errors import ConfigError

BASE = {"modality": "rfa", "anatomy": {"kind": "block", "tumour_diameter_mm": 24},
        "grid": {"spacing_mm": 2.0, "roi_shape": [32, 32, 36]}, "protocol": {"duration_min": 3}}


@pytest.fixture(scope="module")
def result():
    return simulate(scenario_from_dict({**BASE, "followup": {"days": 200}}))


def test_followup_metrics(result):
    fu = result.metrics["followup"]
    assert fu["horizon_days"] == 200 and fu["doubling_time_days"] == default_doubling_time_days("hcc")
    assert set(fu["milestones"]) == {"day_30", "day_90"}  # 365 lies beyond the horizon
    assert 0 < fu["involution_at_horizon"] <= 1.0
    assert fu["milestones"]["day_90"]["scar_volume_mL"] >= fu["milestones"]["day_30"]["scar_volume_mL"] > 0
    t = result.followup.traces["time_days"]
    assert t[0] == 0 and t[-1] == pytest.approx(200)
    # a 3-min ablation of a 24 mm tumour leaves tumour: it is residual disease, not progression,
    # and it regrows (logistic growth with the HCC doubling time)
    tum = np.asarray(result.followup.traces["tumour_volume_m3"])
    if fu["residual_detectable_after_session"]:
        assert not fu["local_progression"] and fu["local_progression_day"] is None
    assert tum[-1] >= tum[0]


def test_progression_is_regrowth_to_the_detectable_size(result):
    """Same session, a tiny detection size: any regrowth from below it counts, and the day is
    where the tumour trace crosses it."""
    v0 = float(result.followup.traces["tumour_volume_m3"][0])
    d = 0.5 * (6 * v0 / np.pi) ** (1 / 3) * 2 * 1.05 if v0 > 0 else 1e-4  # just above the starting size
    fu = follow_up(result, 200, doubling_time_days=60.0, detection_diameter_m=d)
    m = fu.metrics
    if v0 > 0:
        assert not m["residual_detectable_after_session"]
        assert m["local_progression"] and 0 < m["local_progression_day"] <= 200
        k = int(np.searchsorted(fu.traces["time_days"], m["local_progression_day"]))
        assert fu.traces["tumour_volume_m3"][k] >= np.pi * d**3 / 6


def test_followup_outputs(tmp_path):
    scn = scenario_from_dict({**BASE, "followup": {"days": 60}})
    _, paths = run_scenario(scn, tmp_path / "o")
    assert paths["followup"].stat().st_size > 10_000
    m = json.loads(paths["metrics"].read_text())
    assert m["followup"]["horizon_days"] == 60
    assert "Local tumour progression" in paths["report"].read_text()


def test_followup_bad_input():
    with pytest.raises(ConfigError, match="followup.days"):
        scenario_from_dict({**BASE, "followup": {"days": -1}})
    with pytest.raises(ConfigError, match="follow-up"):
        scenario_from_dict({**BASE, "hypotheses": {"active": ["debridement_enhanced_clearance"]}})
    scenario_from_dict({**BASE, "followup": {"days": 30}, "hypotheses": {"active": ["debridement_enhanced_clearance"]}})
    with pytest.raises(ConfigError, match="tumour_type"):
        default_doubling_time_days("sarcoma")
