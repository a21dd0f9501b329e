"""The command line end to end (small grids)."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tissuefate.cli import app

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()

TINY_RFA = """
name = "tiny-rfa"
modality = "rfa"
[tissue]
species = "porcine"
[anatomy]
kind = "block"
tumour_diameter_mm = 12
[grid]
spacing_mm = 1.5
roi_shape = [40, 40, 48]
[applicator]
type = "rf_electrode"
active_length_mm = 20
[protocol]
duration_min = 1.5
control = "impedance"
power_W = 150
"""


def test_schema_is_json():
    res = runner.invoke(app, ["schema"])
    assert res.exit_code == 0
    assert "modality" in json.loads(res.stdout)["properties"]


def test_sources_lists_tags():
    res = runner.invoke(app, ["sources"])
    assert res.exit_code == 0 and "Tungjitkusolmun" in res.stdout


@pytest.mark.parametrize("text, needle", [
    ("modality = 'rfa'\n[protocol]\npower_W = -3\n", "protocol.power_W"),
    ("modality = 'rfa'\nfoo = 1\n", "foo"),
    ("modality = rfa\n", "not valid TOML"),
    ("modality = 'injection'\n[injection]\nagent = 'oxidant'\n", "oxidant_delivery"),
    ("modality = 'injection'\n[injection]\nvolume_mL = -3\n", "injection.volume_mL"),
    ("modality = 'injection'\n[injection]\nagent = 'bleach'\n", "injection.agent"),
    ("modality = 'cryo'\n[applicator]\ntype = 'cryoprobe'\nn_probes = 2\nspacing_mm = 5\ndiameter_mm = 5\n"
     "[anatomy]\nkind = 'block'\n[grid]\nspacing_mm = 2\nroi_shape = [32, 32, 32]\n", "overlap"),
    ("modality = 'ire'\n[applicator]\ntype = 'ire_electrodes'\nspacing_mm = 30\nexposed_length_mm = 40\n"
     "[anatomy]\nkind = 'block'\n[grid]\nspacing_mm = 2\nroi_shape = [16, 16, 16]\n", "region of interest"),
])
def test_bad_scenario_exits_2_without_output(tmp_path, text, needle):
    p = tmp_path / "s.toml"
    p.write_text(text)
    out = tmp_path / "out"
    res = runner.invoke(app, ["run", str(p), "--out", str(out), "--quiet"])
    assert res.exit_code == 2
    assert needle in res.output
    assert "Traceback" not in res.output
    assert not out.exists()
    assert not list(tmp_path.glob(".out*"))


def test_electrode_outside_grid_is_a_clean_error(tmp_path):
    p = tmp_path / "s.toml"
    p.write_text(
        TINY_RFA.replace("active_length_mm = 20", "active_length_mm = 20\noffset_mm = [0, 0, 60]")
    )
    res = runner.invoke(app, ["run", str(p), "--out", str(tmp_path / "o"), "--quiet"])
    assert res.exit_code == 2, res.output
    assert "region of interest" in res.output or "direction" in res.output


def test_run_tiny_rfa_writes_everything(tmp_path):
    p = tmp_path / "s.toml"
    p.write_text(TINY_RFA)
    out = tmp_path / "o"
    res = runner.invoke(app, ["run", str(p), "--out", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    names = {f.name for f in out.iterdir()}
    assert {"metrics.json", "fields.nc", "report.html"} <= names
    assert any(n.endswith(".png") for n in names)
    m = json.loads((out / "metrics.json").read_text())
    assert m["zones"]["omega_ge_1"]["volume_mL"] > 0.5
    assert m["thermal"]["peak_temperature_degC"] > 60
    # refuses to overwrite
    res2 = runner.invoke(app, ["run", str(p), "--out", str(out), "--quiet"])
    assert res2.exit_code == 2 and "exists" in res2.output


def test_demo_sessions_quick(tmp_path):
    out = tmp_path / "demo"
    res = runner.invoke(app, ["demo", "--out", str(out), "--quick", "--sessions"])
    assert res.exit_code == 0, res.output
    html = (out / "report.html").read_text()
    assert "not a medical device" in html
    assert (out / "rfa" / "metrics.json").exists() and (out / "mwa" / "metrics.json").exists()


def test_demo_strategy_comparison_quick(tmp_path):
    out = tmp_path / "demo"
    res = runner.invoke(app, ["demo", "--out", str(out), "--quick"])
    assert res.exit_code == 0, res.output
    assert "Strategy comparison" in res.output and "HYPOTHETICAL" in res.output
    html = (out / "report.html").read_text()
    assert "not a medical device" in html and "not an approved therapy" in html
    folders = sorted(p.name for p in (out / "courses").iterdir())
    # six strategies; the two injection strategies under both presets
    assert len(folders) == 8, folders
    for f in folders:
        m = json.loads((out / "courses" / f / "metrics.json").read_text())
        assert m["stop_reason"] in ("complete_response", "session_cap", "unreachable", "numerical_failure")
    presets = {json.loads((out / "courses" / f / "metrics.json").read_text())["hypothesis_preset"] for f in folders}
    assert presets == {"literature", "seed_claims"}


def test_validate_unknown_case(tmp_path):
    res = runner.invoke(app, ["validate", "--out", str(tmp_path), "--only", "nonsense"])
    assert res.exit_code == 2 and "unknown case" in res.output


def test_grid_too_large_is_refused_before_allocating(tmp_path):
    p = tmp_path / "s.toml"
    p.write_text(TINY_RFA.replace("roi_shape = [40, 40, 48]", "roi_shape = [512, 512, 512]"))
    res = runner.invoke(app, ["run", str(p), "--out", str(tmp_path / "o"), "--quiet"])
    assert res.exit_code == 2, res.output
    assert "roi_shape" in res.output and "GB" in res.output


# scenario examples only: trial_*.toml and sensitivity_*.toml are other file kinds (their own tests load them)
@pytest.mark.parametrize("path", sorted(p for p in (ROOT / "examples").glob("*.toml")
                                        if not p.name.startswith(("trial_", "sensitivity_"))), ids=lambda p: p.name)
def test_every_example_runs_on_a_small_grid(path):
    """Each example end to end, shrunk (coarser, smaller, shorter) so CI stays fast."""
    import tomllib

    from tissuefate.api import simulate
    from tissuefate.config.scenario import scenario_from_dict

    data = tomllib.loads(path.read_text())
    data["grid"] = {"spacing_mm": 2.0, "roi_shape": [40, 40, 44]}
    if data["modality"] in ("rfa", "mwa"):
        data["protocol"]["duration_min"] = min(1.0, data["protocol"].get("duration_min", 1.0))
    elif data["modality"] == "cryo":
        data["cryo"]["phases"] = [{"kind": "freeze", "duration_min": 2.0}]
    elif data["modality"] == "ire":
        data["ire"]["n_pulses"] = 10
    elif data["modality"] == "injection":
        data["injection"].update(volume_mL=1.0, spread_min=5.0)
    if "course" in data:  # two sessions at most, a short follow-up
        data["course"].update(horizon_days=70)
        if "schedule_days" in data["course"]:
            data["course"]["schedule_days"] = data["course"]["schedule_days"][:2]
        else:
            data["course"]["max_sessions"] = min(2, data["course"].get("max_sessions", 1))
    r = simulate(scenario_from_dict(data))
    if "course" in data:
        assert r.metrics["sessions_given"] >= 1 and r.metrics["stop_reason"] != "numerical_failure"
        assert r.traces["day"][-1] == pytest.approx(70.0)
        r = r.sessions[0]
    if data["modality"] in ("rfa", "mwa"):
        assert r.metrics["zones"]["omega_ge_1"]["volume_mL"] > 0
        assert r.metrics["thermal"]["peak_temperature_degC"] > 50
    else:
        assert r.metrics["margin"]["zone"] == "lethal"
        z = r.metrics["zones"]
        assert z["lethal"]["volume_mL"] > 0 or z["distribution"]["volume_mL"] > 0
        assert r.metrics["tumour"]["viable_volume_mL"] <= r.metrics["tumour"]["initial_volume_mL"]
        if data.get("hypotheses", {}).get("active"):
            assert r.metrics["hypotheses_active"] == data["hypotheses"]["active"]


def test_phantom_figure_and_bad_location(tmp_path):
    out = tmp_path / "ph.png"
    res = runner.invoke(app, ["phantom", "--out", str(out), "--spacing-mm", "2", "--seed", "1"])
    assert res.exit_code == 0, res.output
    assert out.stat().st_size > 10_000
    res = runner.invoke(app, ["phantom", "--out", str(out), "--location", "nowhere", "--spacing-mm", "2"])
    assert res.exit_code == 2 and "location" in res.output


def test_validation_figure_written(tmp_path):
    from tissuefate.validation import ValidationRow, write_validation

    rows = [ValidationRow("case", "q [mm]", 10.0, 11.0, "±15 %", "src", True, kind="calibration"),
            ValidationRow("case", "r", 3.0, 1.0, "±0.15", "src", False, kind="prediction")]
    write_validation(rows, tmp_path)
    assert (tmp_path / "validation.png").stat().st_size > 5_000


@pytest.mark.parametrize("course, needle", [
    ("schedule_days = [0, 7, 7]", "overlap"),
    ("interval_days = -3\nmax_sessions = 2", "course.interval_days"),
    ("max_sessions = 3\ninterval_days = 200\nhorizon_days = 300", "horizon_days = 300"),
])
def test_run_course_bad_schedule_exits_2_and_writes_nothing(tmp_path, course, needle):
    p = tmp_path / "c.toml"
    p.write_text('modality = "injection"\n[anatomy]\nkind = "block"\ntumour_diameter_mm = 8\n'
                 f"[course]\n{course}\n")
    out = tmp_path / "out"
    res = runner.invoke(app, ["run", str(p), "--out", str(out), "--quiet"])
    assert res.exit_code == 2, res.output
    assert needle in res.output
    assert not out.exists() and not any(q.name.startswith(".") for q in tmp_path.iterdir())


def test_run_course_writes_its_folder(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('name = "tiny"\nmodality = "injection"\n[anatomy]\nkind = "block"\ntumour_diameter_mm = 8\n'
                 '[grid]\nspacing_mm = 1.5\nroi_shape = [24, 24, 24]\n'
                 '[injection]\nvolume_mL = 0.05\nrate_mL_per_s = 0.05\nspread_min = 5\n'
                 '[hypotheses]\npreset = "seed_claims"\n'
                 '[course]\nmax_sessions = 2\ninterval_days = 7\nhorizon_days = 40\n')
    out = tmp_path / "out"
    res = runner.invoke(app, ["run", str(p), "--out", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    m = json.loads((out / "metrics.json").read_text())
    assert m["hypothesis_preset"] == "seed_claims" and m["hypotheses"] == ["scar_blocks_retreatment"]
    assert "oxidant_tumour_selectivity" in m["hypotheses_not_applicable"]
    assert (out / "report.html").exists() and (out / "states.nc").exists() and (out / "traces.csv").exists()
    assert "CR (day)" in res.output


def test_sensitivity_cli_runs_the_example_and_refuses_bad_specs(tmp_path):
    out = tmp_path / "sens"
    example = ROOT / "examples" / "sensitivity_small.toml"
    res = runner.invoke(app, ["sensitivity", str(example), "--out", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    assert "mu_star" in res.output and (out / "sensitivity.json").exists() and (out / "report.html").exists()
    # on the trial runner's Dask cluster (default) and in-process (--local): the same indices
    res = runner.invoke(app, ["sensitivity", str(example), "--out", str(tmp_path / "local"), "--local", "--quiet"])
    assert res.exit_code == 0, res.output
    a, b = (json.loads((d / "sensitivity.json").read_text())["outcomes"] for d in (out, tmp_path / "local"))
    assert {k: v["indices"] for k, v in a.items()} == {k: v["indices"] for k, v in b.items()}
    bad = tmp_path / "bad.toml"
    bad.write_text(example.read_text().replace('method = "morris"', 'method = "fast"'))
    res = runner.invoke(app, ["sensitivity", str(bad), "--out", str(tmp_path / "b"), "--quiet"])
    assert res.exit_code == 2 and "method" in res.output and not (tmp_path / "b").exists()


def test_warnings_keep_their_brackets(monkeypatch):
    """A model warning is printed as text: brackets such as "tissuefate[gpu]" are not rich markup."""
    from rich.console import Console

    import tissuefate.cli as cli

    rec = Console(record=True, width=200)
    monkeypatch.setattr(cli, "console", rec)
    cli._show_warning(RuntimeWarning('install "tissuefate[gpu]" for [bold]this[/bold]'), RuntimeWarning, "f", 1)
    assert 'install "tissuefate[gpu]" for [bold]this[/bold]' in rec.export_text()


def test_run_check_step_records_the_finer_step(tmp_path):
    """``--check-step`` re-runs an RFA session at Δt/4 and records both in metrics.json, the report and
    the terminal; the recorded change is the zones' own (session − finer) / finer."""
    p = tmp_path / "s.toml"
    p.write_text(TINY_RFA.replace("duration_min = 1.5", "duration_min = 1"))
    out = tmp_path / "o"
    res = runner.invoke(app, ["run", str(p), "--out", str(out), "--quiet", "--check-step"])
    assert res.exit_code == 0, res.output
    assert "time-step check (Δt/4)" in res.output
    m = json.loads((out / "metrics.json").read_text())
    chk = m["numerics_check"]
    assert chk["kind"] == "time_step" and chk["divisor"] == 4
    dt, fine = chk["time_step_s"]
    assert fine == pytest.approx(dt / 4, rel=1e-6)
    v, vf = (z["volume_mL"] for z in chk["zones"]["omega_ge_1"])
    assert v == m["zones"]["omega_ge_1"]["volume_mL"] and vf > 0
    assert chk["omega_ge_1_volume_relative_change"] == pytest.approx((v - vf) / vf)
    assert chk["within_tolerance"] == (abs((v - vf) / vf) <= chk["tolerance_fraction"])
    assert chk["energy_J"][0] == m["delivery"]["energy_J"]
    assert "Time-step check" in (out / "report.html").read_text()


@pytest.mark.parametrize("text, needle", [
    ("modality = 'cryo'\n", "RFA and MWA sessions only"),
    ("modality = 'rfa'\n[course]\nmax_sessions = 2\n", "not to a course"),
])
def test_check_step_refused_where_it_does_not_apply(tmp_path, text, needle):
    p = tmp_path / "s.toml"
    p.write_text(text)
    out = tmp_path / "out"
    res = runner.invoke(app, ["run", str(p), "--out", str(out), "--quiet", "--check-step"])
    assert res.exit_code == 2, res.output
    assert needle in res.output and "Traceback" not in res.output
    assert not out.exists()


def test_time_step_check_divisor_is_checked():
    from tissuefate.api import time_step_check
    from tissuefate.config.scenario import scenario_from_dict
    from tissuefate.errors import ConfigError

    scn = scenario_from_dict({"modality": "mwa"})
    for bad in (1, 2.5, 100, True):
        with pytest.raises(ConfigError, match="divisor"):
            time_step_check(scn, None, divisor=bad)
