"""Trial statistics, figures and report on synthetic outcomes with known rates."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest

from tissuefate.errors import ConfigError
from tissuefate.io.trial_output import write_trial_summary
from tissuefate.trial.stats import (
    bootstrap_mean,
    margin_band,
    paired_differences,
    size_band,
    summarise,
    wilson_interval,
)

N_PAT = 40
HORIZON = 730.0


def _row(i, strategy, *, cr, ltp_day=None, margin=3.0, diameter=25.0, sessions=1, preset="literature",
         agent=None, error="", tumour=0):
    label = {"rfa": "RFA 12 min", "ethanol": "Ethanol twice weekly", "oxidant": "Oxidant weekly"}
    return {
        "case_id": f"p{i:03d}-t{tumour}-{strategy}-{preset}", "patient": i, "tumour": tumour,
        "strategy": strategy, "strategy_label": label[strategy], "preset": preset,
        "modality": "rfa" if strategy == "rfa" else "injection", "agent": agent,
        "tumour_type": "hcc", "tumour_diameter_mm": diameter, "tumour_location": "central",
        "vessel_distance_mm": np.nan, "doubling_time_days": 140.0, "phantom_seed": i,
        "param.fate.clearance_rate_per_day": 0.3,
        "sessions_given": sessions, "stop_reason": "complete_response" if cr else "session_cap",
        "complete_response": cr, "sessions_to_cr": float(sessions) if cr else np.nan,
        "days_to_cr": 28.0 * sessions if cr else np.nan, "tcp_after_sessions": 0.9 if cr else 0.0,
        "tcp_horizon": 0.8 if cr else 0.0, "local_progression": ltp_day is not None,
        "ltp_day": np.nan if ltp_day is None else float(ltp_day), "horizon_days": HORIZON,
        "min_margin_mm": margin, "normal_tissue_destroyed_mL": 10.0 + (i % 4) if strategy == "rfa" else 4.0,
        "scar_30_mL": 1.0, "scar_90_mL": 2.0 if strategy == "rfa" else 1.0, "scar_365_mL": 3.0, "involution_90": 0.5,
        "needle_passes": sessions, "leaked_agent_mL": 0.0 if strategy == "rfa" else 0.2,
        "peak_clearance_g_per_day": 1.0, "tumour_volume_before_mL": 8.0,
        "hypotheses": json.dumps(["oxidant_delivery_diffusion_limited"] if agent == "oxidant" else []),
        "wall_time_s": 1.0, "tissuefate_version": "0.1.0", "error": error,
    }


def synthetic(n=N_PAT, *, oxidant=False) -> pd.DataFrame:
    """rfa: CR unless i % 10 == 0 (36/40); ethanol: CR when i % 5 in (0, 1, 2) (24/40).
    LTP (rfa, CR cases): i % 6 == 1 at day 200 (6 of them) and i % 6 == 2 at day 500 (6).
    Margins of rfa: i % 4 → -1, 2.5, 5.0, 12 mm; diameters: 15, 25, 35, 45 mm by i % 4."""
    rows = []
    for i in range(n):
        m = (-1.0, 2.5, 5.0, 12.0)[i % 4]
        d = (15.0, 25.0, 35.0, 45.0)[i % 4]
        cr = i % 10 != 0
        ltp = (200 if i % 6 == 1 else 500 if i % 6 == 2 else None) if cr else None
        rows.append(_row(i, "rfa", cr=cr, ltp_day=ltp, margin=m, diameter=d, sessions=1 if i % 3 else 2))
        cr_e = i % 5 in (0, 1, 2)
        rows.append(_row(i, "ethanol", cr=cr_e, margin=np.nan, diameter=d, sessions=2 + i % 3, agent="ethanol"))
        if oxidant:
            rows.append(_row(i, "oxidant", cr=i % 2 == 0, margin=np.nan, diameter=d, sessions=4, agent="oxidant"))
    return pd.DataFrame(rows)


def _group(s, strategy, preset="literature"):
    return next(g for g in s["groups"] if g["strategy"] == strategy and g["preset"] == preset)


@pytest.fixture(scope="module")
def df():
    return synthetic()


@pytest.fixture(scope="module")
def summary(df):
    return summarise(df, seed=1)


def test_wilson_matches_published_values():
    # Newcombe (1998) Table I, method 3: 81/263 → 0.2553 – 0.3662; 15/148 → 0.0624 – 0.1605
    assert [round(x, 4) for x in wilson_interval(81, 263)] == [0.2553, 0.3662]
    assert [round(x, 4) for x in wilson_interval(15, 148)] == [0.0624, 0.1605]
    assert wilson_interval(0, 0) is None
    lo, hi = wilson_interval(10, 10)
    assert hi == 1.0 and 0.69 < lo < 0.73


def test_summary_rates_counts_and_json(summary):
    text = json.dumps(summary, allow_nan=False)  # NaN written as null: valid JSON
    assert "NaN" not in text
    assert summary["n_patients"] == N_PAT and summary["n_cases"] == 2 * N_PAT and summary["n_errors"] == 0
    assert summary["reference"] == "rfa"
    rfa, eth = _group(summary, "rfa"), _group(summary, "ethanol")
    assert rfa["complete_response"]["k"] == 36 and rfa["complete_response"]["rate"] == pytest.approx(0.9)
    assert eth["complete_response"]["rate"] == pytest.approx(0.6)
    assert rfa["complete_response"]["ci"] == pytest.approx(list(wilson_interval(36, 40)))
    sg = rfa["means"]["sessions_given"]
    expect = np.mean([1 if i % 3 else 2 for i in range(N_PAT)])
    assert sg["mean"] == pytest.approx(expect) and sg["ci"][0] < expect < sg["ci"][1]
    assert "bootstrap" in sg["method"] and "2000" in sg["method"]
    stc = rfa["means"]["sessions_to_cr"]
    assert stc["n"] == 36 and stc["over"] == "cases with a complete response"
    assert rfa["sessions_to_cr_distribution"]["no complete response"] == 4
    assert sum(rfa["sessions_to_cr_distribution"].values()) == N_PAT
    assert set(summary["statistics"]) >= {"rate", "mean", "kaplan_meier", "paired_difference", "mcnemar"}


def test_kaplan_meier_local_progression_and_failure(summary):
    rfa = _group(summary, "rfa")
    lp = rfa["local_progression"]
    cr = [i for i in range(N_PAT) if i % 10 != 0]
    by1 = sum(1 for i in cr if i % 6 == 1)
    by2 = by1 + sum(1 for i in cr if i % 6 == 2)
    at = {a["label"]: a for a in lp["at"]}
    # censoring only at the horizon: KM equals the crude proportion among the CR cases
    assert lp["n"] == 36 and lp["no_complete_response"] == 4 and lp["events"] == by2
    assert at["1 year"]["rate"] == pytest.approx(by1 / 36)
    assert at["2 years"]["rate"] == pytest.approx(by2 / 36)
    assert at["1 year"]["ci"][0] < by1 / 36 < at["1 year"]["ci"][1]
    assert at["3 years"]["estimable"] is False and "horizon" in at["3 years"]["reason"]
    tf = {a["label"]: a for a in rfa["treatment_failure"]["at"]}
    assert tf["1 year"]["rate"] == pytest.approx((4 + by1) / N_PAT)
    assert "day 30" in rfa["treatment_failure"]["no_cr_event_day"]  # the fallback is named
    assert rfa["treatment_failure"]["no_cr_event_day_fallbacks"] == 4
    # ethanol: no LTP at all: the degenerate Greenwood interval is replaced by Wilson for 0 events
    e1 = {a["label"]: a for a in _group(summary, "ethanol")["local_progression"]["at"]}["1 year"]
    assert e1["rate"] == 0.0 and e1["ci"][0] == 0.0 and 0.0 < e1["ci"][1] < 0.2 and "Wilson" in e1["method"]


def test_treatment_failure_uses_the_last_assessment_day():
    d = synthetic(20)
    d["last_assessment_day"] = np.where(d["complete_response"], 30.0, 400.0)  # no CR seen at day 400
    tf = _group(summarise(d, n_boot=200), "rfa")["treatment_failure"]
    at = {a["label"]: a for a in tf["at"]}
    by1 = sum(1 for i in range(20) if i % 10 and i % 6 == 1)
    assert tf["no_cr_event_day"] == "last_assessment_day" and tf["no_cr_event_day_fallbacks"] == 0
    assert at["1 year"]["rate"] == pytest.approx(by1 / 20)  # the 2 non-responders fail only on day 400
    assert at["2 years"]["events"] == sum(1 for i in range(20) if i % 10 and i % 6 in (1, 2)) + 2


def test_short_horizon_reports_at_horizon_only():
    d = synthetic(20)
    d["horizon_days"] = 120.0
    d.loc[d["ltp_day"] > 120, ["ltp_day", "local_progression"]] = [np.nan, False]
    g = _group(summarise(d, n_boot=200), "rfa")["local_progression"]
    est = [a for a in g["at"] if a["estimable"]]
    assert [a["day"] for a in est] == [120.0]
    assert all(not a["estimable"] for a in g["at"] if a["day"] > 120)


def test_paired_differences_match_hand_counts(summary):
    (p,) = summary["paired"]
    assert p["strategy"] == "ethanol" and p["reference"] == "rfa" and p["n_pairs"] == N_PAT
    cr = p["complete_response"]
    assert cr["difference"] == pytest.approx(0.6 - 0.9)
    ref_only = sum(1 for i in range(N_PAT) if i % 10 != 0 and i % 5 not in (0, 1, 2))
    alt_only = sum(1 for i in range(N_PAT) if i % 10 == 0 and i % 5 in (0, 1, 2))
    assert cr["discordant"] == {"reference_only": ref_only, "strategy_only": alt_only}
    assert cr["mcnemar_exact_p"] == pytest.approx(binomtest(ref_only, ref_only + alt_only, 0.5).pvalue)
    assert cr["ci"][0] < -0.3 < cr["ci"][1] < 0  # a 30-point difference on 40 pairs excludes 0
    sg = p["sessions_given"]
    diff = np.mean([(2 + i % 3) - (1 if i % 3 else 2) for i in range(N_PAT)])
    assert sg["difference"] == pytest.approx(diff)
    both = [i for i in range(N_PAT) if i % 10 != 0 and i % 5 in (0, 1, 2)]
    assert p["sessions_to_cr"]["n_pairs"] == len(both)
    assert p["normal_tissue_destroyed_mL"]["difference"] == pytest.approx(4.0 - np.mean([10 + i % 4
                                                                                          for i in range(N_PAT)]))


def test_paired_uses_matched_cases_only_and_errors_are_counted(df):
    d = df.copy()
    drop = d.index[(d["strategy"] == "ethanol") & (d["patient"] == 3)]
    d = d.drop(drop)
    d.loc[(d["strategy"] == "rfa") & (d["patient"] == 7), "error"] = "NumericalError: boom"
    s = summarise(d, n_boot=500)
    assert s["n_errors"] == 1 and s["errors"][0]["error"].startswith("NumericalError")
    rfa = _group(s, "rfa")
    assert rfa["n_cases"] == 40 and rfa["n_errors"] == 1 and rfa["complete_response"]["n"] == 39
    (p,) = s["paired"]
    assert p["n_pairs"] == 38 and p["n_unmatched"] == 2


def test_reference_and_bad_data_are_rejected(df):
    with pytest.raises(ConfigError, match="reference = 'mwa'"):
        summarise(df, reference="mwa")
    s = summarise(df, reference="ethanol", n_boot=200)
    assert s["paired"][0]["strategy"] == "rfa" and s["paired"][0]["complete_response"]["difference"] > 0
    dup = pd.concat([df, df.iloc[[0]]])
    with pytest.raises(ConfigError, match="more than once"):
        paired_differences(dup)
    with pytest.raises(ConfigError, match="missing column"):
        summarise(df.drop(columns=["complete_response"]))


def test_bootstrap_is_reproducible_and_resamples_patients():
    w = np.random.default_rng(0).normal(size=30)
    a = bootstrap_mean(w, np.arange(30), seed=3, key="k")
    assert a == bootstrap_mean(w, np.arange(30), seed=3, key="k")
    assert a["ci"] != bootstrap_mean(w, np.arange(30), seed=4, key="k")["ci"]
    assert a["ci"] != bootstrap_mean(w, np.arange(30), seed=3, key="other")["ci"]
    v = np.r_[np.zeros(10), np.ones(10)]
    a = bootstrap_mean(v, np.arange(20), seed=3, key="k")
    # two patients, ten tumours each: only 0, 0.5 and 1 can come out of a patient resample
    c = bootstrap_mean(v, np.r_[np.zeros(10), np.ones(10)], seed=3, key="k")
    assert c["n_clusters"] == 2 and c["ci"] == [0.0, 1.0]
    assert a["ci"][0] > 0.2 and a["ci"][1] < 0.8
    assert bootstrap_mean([np.nan], [0]) is None
    assert bootstrap_mean([2.0], [0])["ci"] is None


def test_size_and_margin_bands(summary):
    assert [size_band(x) for x in (5, 19.99, 20, 29.9, 30, 40, 80)] == [
        "< 20 mm", "< 20 mm", "20–30 mm", "20–30 mm", "30–40 mm", "≥ 40 mm", "≥ 40 mm"]
    assert [margin_band(x)[:6] for x in (-2, 0, 0.01, 5, 5.01, 10, 10.5)] == [
        "≤ 0 mm", "≤ 0 mm", "1–5 mm", "1–5 mm", "6–10 m", "6–10 m", "> 10 m"]
    sb = {r["band"]: r for r in summary["by_size_band"] if r["strategy"] == "rfa"}
    # diameters cycle 15, 25, 35, 45 (i % 4); the non-responders i = 0, 20 are < 20 mm, i = 10, 30 are 30–40 mm
    assert sb["< 20 mm"]["n"] == 10 and sb["< 20 mm"]["k"] == 8 and sb["30–40 mm"]["k"] == 8
    assert sb["20–30 mm"]["rate"] == 1.0 and sb["≥ 40 mm"]["rate"] == 1.0
    mb = {r["band"]: r for r in summary["by_margin_band"] if r["strategy"] == "rfa"}
    assert mb["≤ 0 mm"]["n_cases"] == 10 and mb["≤ 0 mm"]["no_complete_response"] == 2
    assert mb["1–5 mm (0 < m ≤ 5)"]["n_cases"] == 20  # 2.5 and exactly 5.0 mm
    k = sum(1 for i in range(N_PAT) if i % 4 == 3 and i % 10 and i % 6 in (1, 2))
    assert mb["> 10 mm"]["k"] == k
    eth = {r["band"]: r for r in summary["by_margin_band"] if r["strategy"] == "ethanol"}
    assert eth["no margin (no zone around the tumour)"]["n_cases"] == N_PAT


def test_write_trial_summary_files_and_report(tmp_path):
    d = synthetic(16, oxidant=True)
    spec = SimpleNamespace(name="tiny-synthetic", fingerprint="abc123", reference=None)
    paths = write_trial_summary(d, spec, tmp_path / "out", n_boot=300)
    assert {"summary", "report"} <= set(paths)
    for p in paths.values():
        assert p.exists() and p.stat().st_size > 0
    assert {p.name for p in (tmp_path / "out").iterdir()} == {p.name for p in paths.values()}  # no temp files
    s = json.loads(paths["summary"].read_text())
    assert s["trial"] == "tiny-synthetic" and s["fingerprint"] == "abc123" and s["n_patients"] == 16
    assert s["oxidant_warning"] and "not a medical device" in s["disclaimer"]
    assert s["hypotheses_per_preset"] == {"literature": ["oxidant_delivery_diffusion_limited"]}
    assert next(g for g in s["groups"] if g["strategy"] == "oxidant")["hypothetical"] == "oxidant"
    html = paths["report"].read_text()
    assert html.count("data:image/png;base64,") == 4 and "http://" not in html and "https://" not in html
    for text in ("HYPOTHETICAL — oxidant", "not an approved therapy", "How to read this", "Wilson",
                 "McNemar", "Kaplan", "Research software, not a medical device", "HYPOTHETICAL — Oxidant weekly"):
        assert text in html, text
    for word in ("recommend", "should be treated", "superior"):
        assert word not in html.lower()
    # a spec given as a dict, and again into the same folder (files replaced)
    paths2 = write_trial_summary(d[d["strategy"] != "oxidant"], {"name": "dict-spec"}, tmp_path / "out",
                                 n_boot=200, figures=False)
    s2 = json.loads(paths2["summary"].read_text())
    assert s2["trial"] == "dict-spec" and s2["oxidant_warning"] is None and s2["fingerprint"] is None
    assert "HYPOTHETICAL — oxidant" not in paths2["report"].read_text()


def test_single_strategy_and_all_no_cr():
    d = synthetic(12)
    d = d[d["strategy"] == "ethanol"].copy()
    d["complete_response"] = False
    d["sessions_to_cr"] = np.nan
    s = summarise(d, n_boot=200)
    g = s["groups"][0]
    assert s["paired"] == [] and g["complete_response"]["rate"] == 0.0
    assert g["means"]["sessions_to_cr"] is None and g["local_progression"]["n"] == 0
    assert all(not a["estimable"] for a in g["local_progression"]["at"])
    tf = {a["label"]: a for a in g["treatment_failure"]["at"]}
    assert tf["1 year"]["rate"] == 1.0
    assert math.isclose(s["groups"][0]["complete_response"]["ci"][1], wilson_interval(0, 12)[1])


def test_end_to_end_on_a_real_tiny_trial(tmp_path):
    """Real rows from the trial's task function (no Dask): 3 patients × ethanol and RFA on a 2-mm grid."""
    run = pytest.importorskip("tissuefate.trial.run")
    from tissuefate.trial import sample_patient, trial_from_dict
    from tissuefate.trial.cohort import plan_cases

    spec = trial_from_dict({
        "name": "e2e", "seed": 5, "n_patients": 3, "reference": "rfa",
        "strategies": [{"key": "ethanol", "base": "ethanol", "injection": {"spread_min": 5},
                        "course": {"schedule_days": [0, 7]}},
                       {"key": "rfa", "base": "rfa", "protocol": {"duration_min": 2}, "course": {"max_sessions": 1}}],
        "tumours": {"diameter_mm": {"dist": "uniform", "low": 8, "high": 12}, "location": {"central": 1.0}},
        "grid": {"spacing_mm": 2.0, "horizon_days": 60},
    })
    js = spec.model_dump_json()
    cases = [c for i in range(spec.n_patients) for c in plan_cases(spec, sample_patient(spec, i))]
    rows = [run.run_case(js, c.case_id) for c in cases]
    df = pd.DataFrame(rows)
    paths = write_trial_summary(df, spec, tmp_path, n_boot=500)
    s = json.loads(paths["summary"].read_text())
    assert s["fingerprint"] == spec.fingerprint() and s["reference"] == "rfa" and s["n_cases"] == 6
    assert s["n_errors"] == int((df["error"] != "").sum())
    for g in s["groups"]:
        ok = df[(df["strategy"] == g["strategy"]) & (df["error"] == "")]
        assert g["complete_response"]["k"] == int(ok["complete_response"].sum())
        assert g["treatment_failure"]["no_cr_event_day"] == "last_assessment_day"
        est = [a for a in g["local_progression"]["at"] if a["estimable"]]
        assert all(a["day"] <= 60 for a in est)
    (p,) = s["paired"]
    assert p["strategy"] == "ethanol" and p["n_pairs"] + p["n_unmatched"] == 3
    assert "data:image/png;base64," in paths["report"].read_text()
