"""Sensitivity analysis: SALib designs and estimators against analytic indices, spec validation, cases,
files, and one real (tiny) Morris run of courses."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from SALib.test_functions import Ishigami

from tissuefate.api import run_sensitivity
from tissuefate.errors import ConfigError
from tissuefate.io.trial_output import write_sensitivity
from tissuefate.trial.sensitivity import (
    analyse,
    build_cases,
    evaluate,
    load_sensitivity,
    outcome_labels,
    sample,
    sensitivity_spec_from_dict,
)

ROOT = Path(__file__).resolve().parents[2]
# Three FateModel attributes stand in for Ishigami's x1, x2, x3 (each on [0, 2π], shifted by −π in the
# runner): Sobol indices do not change under a shift of the inputs.
P = ["fate.clearance_rate_per_day", "fate.fibrosis_rate_per_day", "fate.regeneration_rate_per_day"]
# Analytic indices of the Ishigami function (a = 7, b = 0.1; Saltelli et al. 2008; SALib docs)
S1 = (0.3139, 0.4424, 0.0)
ST = (0.5576, 0.4424, 0.2437)


def ishigami_runner(cases):
    X = np.array([[c["params"][p] - math.pi for p in P] for c in cases])
    return [{"case_id": c["case_id"], "scar_90_mL": float(y)} for c, y in zip(cases, Ishigami.evaluate(X),
                                                                            strict=True)]


def spec(**kw):
    data = {"method": "sobol", "N": 1024, "strategies": ["rfa"], "outcome": "scar_90_mL", "seed": 0,
            "parameters": {p: [0.0, 2 * math.pi] for p in P}}
    data.update(kw)
    return sensitivity_spec_from_dict(data)


def test_sobol_recovers_ishigami_indices_within_their_intervals():
    s = spec()
    X = sample(s)
    assert X.shape == (s.n_samples, 3) == (1024 * 5, 3)
    r = analyse(s, X, evaluate(s, X, ishigami_runner))
    (out,) = r["outcomes"].values()
    for p, s1, st in zip(P, S1, ST, strict=True):
        i = out["indices"][p]
        assert abs(i["S1"] - s1) <= i["S1_conf"], (p, i)
        assert abs(i["ST"] - st) <= i["ST_conf"], (p, i)
        assert 0 < i["S1_conf"] < 0.1 and 0 < i["ST_conf"] < 0.1
    assert "Sobol" in out["method"] and "95 %" in out["method"]
    json.dumps(r, allow_nan=False)


def test_morris_ranks_x1_and_x2_above_x3():
    s = spec(method="morris", N=50)
    X = sample(s)
    assert X.shape == (50 * 4, 3)
    (out,) = analyse(s, X, evaluate(s, X, ishigami_runner))["outcomes"].values()
    mu = {p: out["indices"][p]["mu_star"] for p in P}
    assert min(mu[P[0]], mu[P[1]]) > mu[P[2]] > 0
    assert all(out["indices"][p]["mu_star_conf"] >= 0 for p in P)


@pytest.mark.parametrize("change, field", [
    ({"parameters": {"fate.no_such_rate": [0.1, 0.2]}}, "parameters.fate.no_such_rate"),
    ({"parameters": {"fate.fibrosis_rate_per_day": [0.5, 0.5]}}, "parameters.fate.fibrosis_rate_per_day"),
    ({"parameters": {"fate.fibrosis_rate_per_day": [0.9, 0.1]}}, "low must be < high"),
    ({"parameters": {"fate.fibrosis_rate_per_day": [-1.0, 0.1]}}, "parameters.fate.fibrosis_rate_per_day"),
    ({"method": "latin"}, "method"),
    ({"N": 1000}, "power of 2"),
    ({"parameters": {"hypotheses.no_such_claim.x": [0.1, 0.2]}}, "unknown hypothesis 'no_such_claim'"),
    ({"parameters": {"hypotheses.secondary_ischaemic_death.integrity_threshold": [0.1, 0.3]}}, "not on under preset"),
    ({"preset": "seed_claims",
      "parameters": {"hypotheses.secondary_ischaemic_death.integrity_threshold": [-5.0, 0.3]}}, "within"),
    ({"parameters": {"tissue.no_such_field": [0.1, 0.2]}}, "tissue.no_such_field"),
    ({"parameters": {"anatomy.tumour_diameter_mm": [10, 20]}}, "patient template"),
    ({"parameters": {"tissue.perfusion_mL_per_min_per_100g": [50, 1e6]}}, "perfusion"),
    ({"outcome": "scar_91_mL"}, "outcome"),
    ({"outcome": "paired_difference:sessions_to_cr:ethanol-rfa"}, "'ethanol' is not in strategies"),
    ({"strategies": ["rfaa"]}, "unknown strategy 'rfaa'"),
    ({"preset": "claims"}, "preset"),
    ({"active": ["no_such_claim"]}, "active"),
    ({"patient": {"tumour_diameter_mm": 200}}, "patient.tumour_diameter_mm"),
    ({"unknown_key": 1}, "unknown_key"),
])
def test_bad_specs_name_the_field(change, field):
    with pytest.raises(ConfigError, match=field.replace("[", r"\[").replace(".", r"\.").replace("(", r"\(")):
        spec(**change)


def test_bad_patient_value_gives_the_unit_and_the_allowed_range():
    with pytest.raises(ConfigError, match=r"patient\.roi_margin_mm = 200 mm: .*\(allowed: ≥ 10 and ≤ 120 mm\)"):
        spec(patient={"roi_margin_mm": 200})


def test_hypothesis_and_scenario_parameters_enter_the_cases():
    s = spec(method="morris", N=2, strategies=["ethanol", "oxidant"], preset="seed_claims",
             outcome="paired_difference:sessions_given:oxidant-ethanol",
             parameters={"hypotheses.secondary_ischaemic_death.integrity_threshold": [0.1, 0.3],
                         "tissue.perfusion_mL_per_min_per_100g": [60.0, 120.0],
                         "course.max_volume_per_session_mL": [5.0, 10.0],
                         "fate.fibrosis_rate_per_day": [0.25, 1.0]},
             strategy_settings={"ethanol": {"injection": {"spread_min": 5}}})
    X = sample(s)
    cases = build_cases(s, X)
    assert len(cases) == len(X) * 2 and cases[0]["case_id"] == "s00000-ethanol"
    c = cases[1]
    x = dict(zip(s.parameter_names, X[0], strict=True))
    scn = c["scenario"]
    assert c["strategy"] == "oxidant" and scn["injection"]["agent"] == "oxidant"
    assert scn["hypotheses"]["preset"] == "seed_claims"
    assert scn["hypotheses"]["parameters"]["secondary_ischaemic_death"]["integrity_threshold"] == pytest.approx(
        x["hypotheses.secondary_ischaemic_death.integrity_threshold"])
    assert scn["tissue"] == {"perfusion": pytest.approx(x["tissue.perfusion_mL_per_min_per_100g"]),
                             "perfusion_unit": "mL_per_min_per_100g"}
    assert c["fate_overrides"] == {"fibrosis_rate_per_day": pytest.approx(x["fate.fibrosis_rate_per_day"])}
    assert scn["course"]["max_volume_per_session_mL"] == pytest.approx(x["course.max_volume_per_session_mL"])
    assert cases[0]["scenario"]["injection"]["spread_min"] == 5 and scn["injection"]["spread_min"] == 30
    from tissuefate.config.scenario import scenario_from_dict

    for case in cases[:4]:  # every case is a valid scenario (the oxidant names its delivery model)
        scenario_from_dict(case["scenario"])
    assert outcome_labels(s) == ["sessions_given: oxidant − ethanol (paired)"]

    def runner(cases):
        return [{"case_id": c["case_id"], "sessions_given": 4 if c["strategy"] == "oxidant" else 1 + c["sample"] % 3}
                for c in cases]

    Y = evaluate(s, X, runner)
    assert Y.shape == (len(X), 1)
    assert Y[:, 0].tolist() == [4 - (1 + i % 3) for i in range(len(X))]


def test_missing_outcomes_and_constant_outcomes_are_reported_not_analysed(tmp_path):
    s = spec(method="morris", N=4, outcome="sessions_to_cr")

    def runner(cases):
        rows = []
        for c in cases:
            v = c["params"][P[0]]
            rows.append({"case_id": c["case_id"], "sessions_to_cr": float("nan") if v > 5 else 1.0 + v,
                         "error": "NumericalError: x" if c["sample"] == 0 else ""})
        return rows

    X = sample(s)
    r = analyse(s, X, evaluate(s, X, runner))
    (out,) = r["outcomes"].values()
    assert out["indices"] is None and "fill_missing" in out["not_analysed"]
    s2 = spec(method="morris", N=4, outcome="sessions_to_cr", fill_missing=9.0)
    Y2 = evaluate(s2, X, runner)
    assert np.isnan(Y2[0, 0]) and np.isfinite(Y2[1:, 0]).all() and (Y2 == 9.0).any()
    r3 = analyse(s, X, np.ones((len(X), 1)))
    assert "constant" in next(iter(r3["outcomes"].values()))["not_analysed"]
    paths = write_sensitivity(r3, tmp_path / "c")  # an analysis without indices still writes its files
    assert paths["report"].exists() and json.loads(paths["json"].read_text())["outcomes"]


def test_run_sensitivity_with_an_injected_runner_writes_files(tmp_path):
    s = spec(method="morris", N=10, name="ishigami")
    r = run_sensitivity(s, tmp_path / "out", runner=ishigami_runner)
    files = {k: Path(v) for k, v in r["files"].items()}
    assert set(files) == {"figure", "samples", "json", "report"}
    assert {p.name for p in (tmp_path / "out").iterdir()} == {p.name for p in files.values()}
    doc = json.loads(files["json"].read_text())
    assert doc["method"] == "morris" and doc["n_evaluations"] == 40 and doc["n_failed"] == 0
    assert set(doc["parameters"]) == set(P) and "not a medical device" in doc["disclaimer"]
    lines = files["samples"].read_text().splitlines()
    assert lines[0].split(",")[:4] == ["sample", *P] and len(lines) == 41
    html = files["report"].read_text()
    assert "data:image/png;base64," in html and "μ*" in html and "How to read this" in html
    assert "recommend" not in html.lower()


def test_example_file_loads():
    s = load_sensitivity(ROOT / "examples" / "sensitivity_small.toml")
    assert s.method == "morris" and s.n_evaluations == 16 and s.patient.grid_spacing_mm == 2.0
    with pytest.raises(ConfigError, match="does not exist"):
        load_sensitivity(ROOT / "examples" / "no_such_file.toml")


def test_default_runner_runs_real_courses(tmp_path):
    """N = 2 Morris trajectories of one fate parameter: 4 one-session ethanol courses on a 2-mm grid
    (about 10 s on 2 cores)."""
    s = sensitivity_spec_from_dict({
        "name": "tiny", "method": "morris", "N": 2, "seed": 3, "strategies": ["ethanol"], "outcome": "scar_30_mL",
        "parameters": {"fate.fibrosis_rate_per_day": [0.25, 1.0]},
        "patient": {"tumour_diameter_mm": 10, "grid_spacing_mm": 2.0, "roi_margin_mm": 30, "horizon_days": 45},
        "strategy_settings": {"ethanol": {"strategy": "Ethanol, one session", "injection": {"spread_min": 5},
                                          "course": {"schedule_days": [0]}}},
    })
    msgs = []
    r = run_sensitivity(s, tmp_path / "o", progress=lambda f, m: msgs.append((f, m)))
    assert r["n_failed"] == 0 and r["n_evaluations"] == 4
    (out,) = r["outcomes"].values()
    i = out["indices"]["fate.fibrosis_rate_per_day"]
    assert i["mu_star"] > 0 and i["mu"] > 0  # faster fibrosis, more scar by day 30
    X = np.loadtxt(tmp_path / "o" / "samples.csv", delimiter=",", skiprows=1)
    assert X.shape == (4, 3) and np.all(X[:, 2] > 0)
    assert msgs and msgs[-1][0] == 1.0
