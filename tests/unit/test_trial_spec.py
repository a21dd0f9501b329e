"""Trial files: validation with field-naming errors, distributions, patient streams, cases, run_case rows."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tissuefate.cli import app
from tissuefate.errors import ConfigError, GeometryError
from tissuefate.trial.cohort import case_scenarios, parse_case_id, phantom_seed_candidates, sample_patient
from tissuefate.trial.spec import Choice, LogNormal, Normal, Uniform, load_trial, trial_from_dict

ROOT = Path(__file__).resolve().parents[2]
BASE = {"n_patients": 3, "strategies": ["rfa", "ethanol"], "grid": {"spacing_mm": 2.0}}


def _spec(**kw):
    return trial_from_dict({**BASE, **kw})


# ------------------------------------------------------------------ bad input names the field
@pytest.mark.parametrize("patch, words", [
    ({"n_patients": 0}, ["n_patients"]),
    ({"n_patients": 200_000}, ["n_patients"]),
    ({"seed": -1}, ["seed"]),
    ({"tumours": {"diameter_mm": -4}}, ["tumours.diameter_mm", "-4", "[3, 80] mm"]),
    ({"tumours": {"diameter_mm": {"dist": "uniform", "low": -5, "high": 20}}}, ["tumours.diameter_mm.low", "-5"]),
    ({"tumours": {"diameter_mm": {"dist": "uniform", "low": 25, "high": 20}}}, ["tumours.diameter_mm", "low"]),
    ({"tumours": {"diameter_mm": {"dist": "normal", "mean": 20, "sd": -1}}}, ["tumours.diameter_mm.sd"]),
    ({"tumours": {"diameter_mm": {"dist": "normal", "mean": 1, "sd": 3}}}, ["tumours.diameter_mm.mean"]),
    ({"tumours": {"diameter_mm": {"dist": "gamma", "k": 2}}}, ["tumours.diameter_mm", "uniform", "lognormal"]),
    ({"tumours": {"vessel_distance_mm": {"dist": "uniform", "low": -1, "high": 3}}},
     ["tumours.vessel_distance_mm.low"]),
    ({"tumours": {"type": {"hcc": 1.2, "metastasis": -0.2}}}, ["tumours.type.hcc", "[0, 1]"]),
    ({"tumours": {"type": {"hcc": 0.5, "metastasis": 0.2}}}, ["tumours.type", "sum to 1"]),
    ({"tumours": {"type": {"hcc": 0.5, "cholangio": 0.5}}}, ["tumours.type.cholangio", "hcc, metastasis"]),
    ({"tumours": {"location": {"central": 0.5, "hilar": 0.5}}}, ["tumours.location.hilar", "subcapsular"]),
    ({"tumours": {"count": 7}}, ["tumours.count", "1-5"]),
    ({"tumours": {"count": {"dist": "choice", "values": [1, 2], "probabilities": [0.5, 0.7]}}},
     ["tumours.count", "sum to 1"]),
    ({"tumours": {"count": {"dist": "choice", "values": [1, 2], "probabilities": [1.5, -0.5]}}},
     ["tumours.count", "probabilities[0]", "[0, 1]"]),
    ({"tumours": {"doubling_time_days": {"hcc": {"dist": "lognormal", "median": 3000, "sigma": 0.5}}}},
     ["tumours.doubling_time_days.hcc.median", "3000"]),
    ({"strategies": ["rfa", "laser"]}, ["strategies[1]", "laser", "rfa, rfa_margin, mwa, cryo, ethanol, oxidant"]),
    ({"strategies": [{"key": "x", "modality": "rfa", "protocol": {"power_W": -5}}]}, ["strategies[0]", "power_W"]),
    ({"strategies": [{"key": "x"}]}, ["strategies[0]", "modality"]),
    ({"strategies": ["rfa", {"key": "rfa", "base": "mwa"}]}, ["strategies", "'rfa'", "unique"]),
    ({"strategies": [{"key": "rfa short", "base": "rfa"}]}, ["strategies[0].key"]),
    ({"strategies": [{"key": "e", "base": "ethanol", "course": {"horizon_days": 30}}]}, ["course.horizon_days"]),
    ({"presets": ["seed"]}, ["presets[0]", "literature, seed_claims"]),
    ({"reference": "cryo"}, ["reference", "rfa, ethanol"]),
    ({"uncertain": {"fate.fibrosis_rate": 0.1}}, ["uncertain.fate.fibrosis_rate", "fibrosis_rate_per_day"]),
    ({"uncertain": {"fate.fibrosis_rate_per_day": {"dist": "uniform", "low": -0.1, "high": 0.2}}},
     ["uncertain.fate.fibrosis_rate_per_day.low", ">= 0"]),
    ({"uncertain": {"hypotheses.no_such.factor": 2}}, ["uncertain.hypotheses.no_such", "debridement_enhanced"]),
    ({"uncertain": {"hypotheses.debridement_enhanced_clearance.speed": 2}, "presets": ["seed_claims"],
      "strategies": ["oxidant"]}, ["debridement_enhanced_clearance", "speed", "clearance_factor"]),
    ({"uncertain": {"hypotheses.debridement_enhanced_clearance.clearance_factor":
                    {"dist": "uniform", "low": 1, "high": 50}}, "presets": ["seed_claims"], "strategies": ["oxidant"]},
     ["clearance_factor.high = 50", "[1, 20]"]),
    ({"uncertain": {"hypotheses.debridement_enhanced_clearance.clearance_factor": 2}},
     ["debridement_enhanced_clearance", "active in no strategy", "seed_claims"]),
    ({"uncertain": {"tissue.perfusion": {"dist": "uniform", "low": -1, "high": 0.02}}},
     ["uncertain.tissue.perfusion.low"]),
    ({"uncertain": {"tissue.foo": 3}}, ["tissue.foo", "unknown key"]),
    ({"uncertain": {"anatomy.seed": 3}}, ["uncertain.anatomy.seed", "not an uncertain parameter"]),
    ({"uncertain": {"cryo.probe_temperature_degC": -100}}, ["cryo.probe_temperature_degC", "none of the strategies"]),
    ({"grid": {"spacing_mm": 2.0, "horizon_days": 20}}, ["strategies[0]", "horizon_days = 20", "day 28"]),
    ({"grid": {"phantom_seed": "random"}}, ["grid.phantom_seed", "per_patient"]),
    ({"foo": 1}, ["foo", "unknown key"]),
    ({"grid": {"spacing_mm": 9}}, ["grid.spacing_mm = 9 mm", "(allowed: ≥ 0.25 and ≤ 4 mm)"]),
    ({"grid": {"roi_margin_mm": 5}}, ["grid.roi_margin_mm = 5 mm", "(allowed: ≥ 10 and ≤ 120 mm"]),
])
def test_bad_trial_is_rejected_naming_the_field(patch, words):
    with pytest.raises(ConfigError) as err:
        trial_from_dict({**BASE, **patch}, "t.toml")
    msg = str(err.value)
    assert msg.startswith("t.toml: ")
    for w in words:
        assert w in msg, (w, msg)


def test_bad_trial_file_exits_2_and_writes_nothing(tmp_path):
    p = tmp_path / "t.toml"
    p.write_text('n_patients = 2\nstrategies = ["rfa", "laser"]\n')
    res = CliRunner().invoke(app, ["trial", str(p), "--out", str(tmp_path / "out")])
    assert res.exit_code == 2
    assert "laser" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "out").exists()
    p.write_text("n_patients = [\n")
    res = CliRunner().invoke(app, ["trial", str(p), "--out", str(tmp_path / "out")])
    assert res.exit_code == 2 and "not valid TOML" in res.output


def test_schema_trial_is_json():
    res = CliRunner().invoke(app, ["schema", "trial"])
    assert res.exit_code == 0
    props = json.loads(res.stdout)["properties"]
    assert {"n_patients", "tumours", "strategies", "presets", "uncertain", "grid"} <= set(props)


@pytest.mark.parametrize("name", ["trial_small.toml", "trial_realistic.toml"])
def test_example_trials_validate(name):
    spec = load_trial(ROOT / "examples" / name)
    assert spec.n_patients >= 1 and len(spec.fingerprint()) == 64


# ------------------------------------------------------------------ distributions
def test_distributions_map_uniform_numbers_into_their_bounds():
    u = np.linspace(0.0, 1.0 - 1e-12, 2001)
    x = np.array([Uniform(low=10, high=20).sample(v) for v in u])
    assert x.min() == 10 and x.max() < 20 and abs(np.median(x) - 15) < 0.01
    n = Normal(mean=20, sd=10, low=15)
    x = np.array([n.sample(v, 3, 80) for v in u])
    assert x.min() >= 15 and x.max() <= 80
    ln = LogNormal(median=147.6, sigma=1.062, low=20, high=2000)
    x = np.array([ln.sample(v, 1, 2000) for v in u])
    assert x.min() >= 20 and x.max() <= 2000
    assert 140 < np.median(x) < 160  # truncation moves the median only a little
    c = Choice(values=[1, 2, 3], probabilities=[0.2, 0.5, 0.3])
    x = np.array([c.sample(v) for v in u])
    assert [round(float(np.mean(x == k)), 2) for k in (1, 2, 3)] == [0.2, 0.5, 0.3]


def test_bare_number_and_fixed_table_are_the_same_trial():
    a = _spec(tumours={"diameter_mm": 20})
    b = _spec(tumours={"diameter_mm": {"dist": "fixed", "value": 20.0}})
    assert a.fingerprint() == b.fingerprint()


def test_fingerprint_tracks_outcome_relevant_fields_only():
    a = _spec()
    assert a.fingerprint() == _spec().fingerprint()
    assert a.fingerprint() == _spec(threads_per_task=2, reference="ethanol", description="x").fingerprint()
    assert a.fingerprint() != _spec(seed=1).fingerprint()
    assert a.fingerprint() != _spec(presets=["literature", "seed_claims"]).fingerprint()


# ------------------------------------------------------------------ patient streams
def test_patient_values_do_not_depend_on_cohort_size_or_order():
    kw = {"uncertain": {"fate.fibrosis_rate_per_day": {"dist": "lognormal", "median": 0.05, "sigma": 0.3}},
          "tumours": {"count": {"dist": "choice", "values": [1, 2, 3]}}}
    small = _spec(n_patients=10, **kw)
    large = _spec(n_patients=50, **kw)
    assert sample_patient(small, 7) == sample_patient(large, 7)
    forward = [sample_patient(large, i) for i in range(50)]
    backward = [sample_patient(large, i) for i in reversed(range(50))][::-1]
    assert forward == backward
    assert len({p.phantom_seed for p in forward}) == 50  # every patient its own phantom
    # the stream is SeedSequence(seed).spawn(n)[i] (STYLE.md), whose first draw is the phantom seed
    rng = np.random.default_rng(np.random.SeedSequence(small.seed).spawn(10)[7])
    assert sample_patient(small, 7).phantom_seed == int(rng.integers(0, 2**31))
    # a tumour's values do not depend on how many tumours the patient has
    one = _spec(n_patients=50, seed=0)
    assert all(sample_patient(one, i).tumours[0] == forward[i].tumours[0] for i in range(50))


def test_fixed_phantom_seed_and_category_draws():
    spec = _spec(n_patients=400, grid={"spacing_mm": 2.0, "phantom_seed": 11},
                 tumours={"type": {"hcc": 1.0}, "location": {"near_vessel": 1.0}})
    ps = [sample_patient(spec, i) for i in range(400)]
    assert {p.phantom_seed for p in ps} == {11}
    assert {t.type for p in ps for t in p.tumours} == {"hcc"}
    gaps = np.array([p.tumours[0].vessel_distance_mm for p in ps])
    assert np.all((gaps >= 1) & (gaps <= 8))
    central = _spec(n_patients=5, tumours={"location": {"central": 1}})
    assert math.isnan(sample_patient(central, 0).tumours[0].vessel_distance_mm)
    with pytest.raises(ConfigError, match="patient 5"):
        sample_patient(central, 5)


# ------------------------------------------------------------------ cases
def test_cases_pair_strategies_presets_and_record_hypotheses():
    spec = _spec(n_patients=8, strategies=["rfa", "ethanol", "oxidant"], presets=["literature", "seed_claims"],
                 uncertain={"hypotheses.debridement_enhanced_clearance.clearance_factor":
                            {"dist": "uniform", "low": 2, "high": 4},
                            "tissue.perfusion_mL_per_min_per_100g": {"dist": "uniform", "low": 60, "high": 120},
                            "fate.fibrosis_rate_per_day": 0.04})
    p = sample_patient(spec, 7)
    cases = {c.case_id: c for c in case_scenarios(spec, p)}
    assert list(cases) == [f"p000007_t0_{s}_{q}" for s in ("rfa", "ethanol", "oxidant")
                           for q in ("literature", "seed_claims")]
    assert parse_case_id("p000007_t0_oxidant_seed_claims") == (7, 0)
    # no hypothesis of either preset acts on RFA: one simulation serves both presets
    assert cases["p000007_t0_rfa_seed_claims"].computed_as == "p000007_t0_rfa_literature"
    assert cases["p000007_t0_ethanol_seed_claims"].computed_as == "p000007_t0_ethanol_seed_claims"
    lit = cases["p000007_t0_oxidant_literature"]
    assert lit.hypotheses["added"] == ["oxidant_delivery_diffusion_limited"]
    assert lit.hypotheses["active"] == ["oxidant_delivery_diffusion_limited"]
    seed = cases["p000007_t0_oxidant_seed_claims"]
    cf = p.parameters["hypotheses.debridement_enhanced_clearance.clearance_factor"]
    assert seed.scenario.hypotheses.parameters == {"debridement_enhanced_clearance": {"clearance_factor": cf}}
    assert seed.hypotheses["parameters"]["debridement_enhanced_clearance"] == {"clearance_factor": cf}
    assert lit.scenario.hypotheses.parameters == {}  # not active under literature: not applied
    for c in cases.values():
        scn = c.scenario
        assert scn.tissue.perfusion == p.parameters["tissue.perfusion_mL_per_min_per_100g"]
        assert scn.tissue.perfusion_unit == "mL_per_min_per_100g"
        assert c.fate_overrides == {"fibrosis_rate_per_day": 0.04}
        assert scn.anatomy.seed == p.phantom_seed and scn.anatomy.tumour_diameter_mm == p.tumours[0].diameter_mm
        assert scn.course.doubling_time_days == p.tumours[0].doubling_time_days
        assert scn.course.horizon_days == 365 and scn.grid.spacing_mm == 2.0
        n = scn.grid.roi_shape[0]
        assert n % 4 == 0 and (n - 4) * 2.0 < p.tumours[0].diameter_mm + 44 <= n * 2.0


def test_inline_strategy_merges_into_its_base():
    spec = _spec(strategies=[{"key": "rfa6", "base": "rfa", "strategy": "RFA 6 min", "protocol": {"duration_min": 6},
                              "course": {"max_sessions": 1}}])
    c = case_scenarios(spec, sample_patient(spec, 0))[0]
    assert c.case_id == "p000000_t0_rfa6_literature" and c.strategy_label == "RFA 6 min"
    assert c.scenario.protocol.duration_min == 6 and c.scenario.protocol.power_W == 200
    assert c.scenario.course.max_sessions == 1 and c.scenario.applicator.cooled


# ------------------------------------------------------------------ run_case rows
def test_run_case_turns_user_errors_into_rows_and_lets_bugs_through(monkeypatch):
    import tissuefate.course
    from tissuefate.trial.run import OUTCOME_COLUMNS, outcome_columns, run_case

    spec = _spec(uncertain={"fate.fibrosis_rate_per_day": 0.04})
    sj = spec.model_dump_json()

    def unreachable(*a, **k):
        raise GeometryError("no axis avoids the vessels")

    monkeypatch.setattr(tissuefate.course, "run_course", unreachable)
    row = run_case(sj, "p000001_t0_rfa_literature")
    assert list(row) == outcome_columns(spec)
    assert row["error"].startswith("GeometryError: no axis avoids the vessels (tried 5 phantom seed(s)")
    assert row["sessions_given"] is None and row["complete_response"] is None and row["phantom_attempts"] == 5
    assert row["patient"] == 1 and row["param.fate.fibrosis_rate_per_day"] == 0.04
    assert set(OUTCOME_COLUMNS) <= set(row)

    # a tumour that does not fit the patient's phantom goes into the next candidate phantom
    calls = []

    def fits_second(scn, **k):
        calls.append(scn.anatomy.seed)
        if len(calls) == 1:
            raise GeometryError("could not place the tumour")
        m = {"sessions_given": 1, "stop_reason": "complete_response", "complete_response": True,
             "local_progression": False, "horizon_days": 365.0, "needle_passes": 1, "wall_time_s": 0.1}
        return type("R", (), {"metrics": m})()

    monkeypatch.setattr(tissuefate.course, "run_course", fits_second)
    row = run_case(sj, "p000001_t0_rfa_literature")
    seeds = phantom_seed_candidates(spec, sample_patient(spec, 1))
    assert calls == seeds[:2] and row["phantom_seed"] == seeds[1] and row["phantom_attempts"] == 2
    assert row["error"] == "" and row["complete_response"] is True

    def bug(*a, **k):
        raise RuntimeError("a bug")

    monkeypatch.setattr(tissuefate.course, "run_course", bug)
    with pytest.raises(RuntimeError):
        run_case(sj, "p000001_t0_rfa_literature")
    with pytest.raises(ConfigError, match="not a case"):
        run_case(sj, "p000001_t0_cryo_literature")


def test_run_case_restores_numba_threads_and_returns_outcomes():
    import numba

    from tissuefate.trial.run import run_case

    spec = trial_from_dict({
        "n_patients": 1, "seed": 3,
        "strategies": [{"key": "mwa1", "base": "mwa", "protocol": {"duration_min": 1}, "course": {"max_sessions": 1}}],
        "tumours": {"diameter_mm": 12, "location": {"central": 1}},
        "grid": {"spacing_mm": 3.0, "horizon_days": 45}})
    before = numba.get_num_threads()
    with pytest.warns(RuntimeWarning, match="heating pattern"):  # the tiny grid cuts the antenna's pattern
        row = run_case(spec.model_dump_json(), "p000000_t0_mwa1_literature")
    assert numba.get_num_threads() == before
    assert row["error"] == "" and row["sessions_given"] == 1 and row["horizon_days"] == 45
    assert row["needle_passes"] == 1 and row["tumour_volume_before_mL"] > 0
    assert json.loads(row["hypotheses"]) == []


def test_docs_list_every_outcome_column_and_importing_starts_no_dask():
    import subprocess
    import sys

    from tissuefate.trial.run import OUTCOME_COLUMNS

    text = (ROOT / "docs" / "trials.md").read_text()
    missing = [c for c in OUTCOME_COLUMNS if f"`{c}`" not in text]
    assert not missing
    code = ("import sys, tissuefate.trial; "
            "print(any(m.split('.')[0] in ('distributed', 'pyarrow') for m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


def test_roi_margin_sets_the_region_of_every_case():
    """(diameter + margin) / spacing, up to a multiple of 4; BASE has 2-mm voxels."""
    default = trial_from_dict(BASE)
    wide = trial_from_dict({**BASE, "grid": {**BASE["grid"], "roi_margin_mm": 68}})
    assert default.grid.roi_margin_mm == 44.0
    assert default.grid.roi_voxels(25.0) == 36  # 69 mm / 2 mm = 34.5 -> 36
    assert wide.grid.roi_voxels(25.0) == 48  # 93 mm / 2 mm = 46.5 -> 48
    assert wide.fingerprint() != default.fingerprint()
