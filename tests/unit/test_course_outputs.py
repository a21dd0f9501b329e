"""Course result folders, figures and reports (io.course_output, viz.course, viz.course_report)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from tissuefate.config.scenario import scenario_from_dict
from tissuefate.course import COURSE_TRACE_META, run_course
from tissuefate.io import OutputExistsError
from tissuefate.io.course_output import course_states_dataset, write_course_outputs
from tissuefate.viz.course import plot_course_comparison, plot_course_curves, plot_course_slices
from tissuefate.viz.course_report import (
    OXIDANT_WARNING,
    course_comparison_report_html,
    course_report_html,
)
from tissuefate.viz.report import DISCLAIMER

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _scenario(**injection) -> dict:
    inj = {"agent": "ethanol", "volume_mL": 0.15, "rate_mL_per_s": 0.1, "spread_min": 5, **injection}
    return {
        "name": "tiny course",
        "modality": "injection",
        "anatomy": {"kind": "block", "tumour_diameter_mm": 8},
        "grid": {"spacing_mm": 1.5, "roi_shape": [24, 24, 24]},
        "applicator": {"type": "injection_needles"},
        "injection": inj,
        # no stop at complete response: the small volume leaves residual voxels, so both sessions run
        "course": {"strategy": "PEI weekly x2", "max_sessions": 2, "interval_days": 7, "horizon_days": 60,
                   "stop_at_complete_response": False},
    }


@pytest.fixture(scope="module")
def ethanol_course():
    return run_course(scenario_from_dict(_scenario()))


@pytest.fixture(scope="module")
def oxidant_course():
    d = _scenario(agent="oxidant", oxidant_concentration_g_per_L=3, volume_mL=0.3)
    d["hypotheses"] = {"preset": "seed_claims"}
    d["course"]["strategy"] = "oxidant weekly x2"
    return run_course(scenario_from_dict(d), keep_fields=False)


@pytest.fixture(scope="module")
def ethanol_folder(ethanol_course, tmp_path_factory):
    out = tmp_path_factory.mktemp("course") / "run"
    return out, write_course_outputs(out, ethanol_course)


def _is_png(path) -> bool:
    data = path.read_bytes()
    return len(data) > 1000 and data[:8] == PNG_MAGIC


def test_folder_holds_every_file(ethanol_course, ethanol_folder):
    out, paths = ethanol_folder
    assert len(ethanol_course.sessions) == 2
    expected = {"metrics", "traces", "states", "course_curves", "course_slices", "report",
                "session_01_metrics", "session_01_slices", "session_02_metrics", "session_02_slices"}
    assert expected <= set(paths)
    for p in paths.values():
        assert p.is_file() and p.stat().st_size > 0 and out in p.parents
    assert (out / "session_01" / "slices.png").is_file() and (out / "session_02" / "slices.png").is_file()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no partial folder left behind


def test_metrics_json(ethanol_course, ethanol_folder):
    _, paths = ethanol_folder
    m = json.loads(paths["metrics"].read_text())
    for key in ("schema_version", "session_metrics", "strategy", "stop_reason", "complete_response",
                "tumour_control_probability_at_horizon", "scar_volume_mL", "involution", "sessions", "plans",
                "hypotheses"):
        assert key in m, key
    assert isinstance(m["schema_version"], int)
    assert m["strategy"] == "PEI weekly x2"
    assert len(m["session_metrics"]) == len(ethanol_course.sessions) == len(m["sessions"])
    assert m["session_metrics"][1]["course_day"] == 7.0
    assert json.loads(paths["session_02_metrics"].read_text())["course_day"] == 7.0


def test_traces_csv(ethanol_course, ethanol_folder):
    _, paths = ethanol_folder
    with open(paths["traces"], newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0][0] == "day" and set(rows[0]) == set(COURSE_TRACE_META)
    assert len(rows) - 1 == ethanol_course.traces["day"].size
    col = rows[0].index("tumour_volume_mL")
    np.testing.assert_allclose([float(r[col]) for r in rows[1:]], ethanol_course.traces["tumour_volume_mL"],
                               rtol=1e-5)


def test_states_netcdf(ethanol_course, ethanol_folder):
    xr = pytest.importorskip("xarray")
    _, paths = ethanol_folder
    with xr.open_dataset(paths["states"], engine="h5netcdf") as ds:
        assert ds.sizes["day"] == len(ethanol_course.snapshots) == 3
        np.testing.assert_allclose(ds["day"].values, [d for d, _, _ in ethanol_course.snapshots])
        assert ds["day"].attrs["units"] == "day"
        for ax in "xyz":
            assert ds[ax].attrs["units"] == "mm"
        for name in ("tumour", "debris", "fixed", "scar", "vascular", "normal"):
            assert ds[name].dtype == np.float32
            assert ds[name].attrs["units"] == "1" and ds[name].attrs["long_name"]
        assert ds["label"].dtype == np.uint8
        assert ds.attrs["strategy"] == "PEI weekly x2"
        assert "not a medical device" in ds.attrs["disclaimer"]
        assert json.loads(ds.attrs["hypotheses"]) == []
        # the horizon snapshot is the course's final state
        np.testing.assert_allclose(ds["scar"].isel(day=-1).values, ethanol_course.state.scar, atol=1e-6)


def test_figures_are_pngs(ethanol_folder):
    _, paths = ethanol_folder
    for key in ("course_curves", "course_slices", "session_01_slices"):
        assert _is_png(paths[key]), key


def test_report(ethanol_course, ethanol_folder):
    _, paths = ethanol_folder
    html = paths["report"].read_text()
    assert DISCLAIMER in html
    assert "Key outcomes" in html and "<table>" in html and "PEI weekly x2" in html
    assert "How to read this" in html and "5 mm" in html
    assert html.count("data:image/png;base64,") == 4  # curves, slices, two sessions
    assert "http://" not in html and "https://" not in html
    assert OXIDANT_WARNING not in html and "Hypothetical results" not in html
    # the session table: a header row and one row per session
    bare = course_report_html(ethanol_course, {})
    sessions_table = bare.split("<h2>Sessions</h2>", 1)[1].split("</table>", 1)[0]
    assert sessions_table.count("<tr>") == 1 + len(ethanol_course.sessions)
    assert "data:image" not in bare


def test_existing_folder_refused(ethanol_course, ethanol_folder):
    out, paths = ethanol_folder
    before = paths["metrics"].stat().st_mtime_ns
    with pytest.raises(OutputExistsError, match="already exists"):
        write_course_outputs(out, ethanol_course)
    assert paths["metrics"].stat().st_mtime_ns == before


def test_oxidant_course_is_labelled_hypothetical(oxidant_course, tmp_path):
    paths = write_course_outputs(tmp_path / "ox", oxidant_course)
    html = paths["report"].read_text()
    assert "not an approved therapy" in html and "HYPOTHETICAL" in html
    assert "HYPOTHESIS: oxidant_delivery_convective_percolation" in html
    # keep_fields=False: per-session metrics but no session slices
    assert "session_01_metrics" in paths and "session_01_slices" not in paths
    ds = course_states_dataset(oxidant_course)
    assert "not an approved therapy" in ds.attrs["disclaimer"]
    assert "oxidant_tumour_selectivity" in ds.attrs["hypotheses"]


def test_overwrite_replaces(oxidant_course, tmp_path):
    out = tmp_path / "ox"
    out.mkdir()
    (out / "stale.txt").write_text("old")
    paths = write_course_outputs(out, oxidant_course, overwrite=True)
    assert paths["report"].is_file() and not (out / "stale.txt").exists()


def test_comparison(ethanol_course, oxidant_course, tmp_path):
    png = plot_course_comparison([ethanol_course, oxidant_course], tmp_path / "cmp.png")
    assert _is_png(png)
    html = course_comparison_report_html([ethanol_course, oxidant_course], {"comparison": png}, title="two courses")
    assert "<h1>two courses</h1>" in html and DISCLAIMER in html
    assert "PEI weekly x2" in html and "HYPOTHETICAL — oxidant weekly x2" in html
    assert "not an approved therapy" in html and "seed_claims" in html
    assert html.count("data:image/png;base64,") == 1
    one = plot_course_comparison([ethanol_course, oxidant_course], tmp_path / "one.png", quantity="scar_volume_mL")
    assert _is_png(one)
    assert _is_png(plot_course_comparison([ethanol_course, oxidant_course] * 6, tmp_path / "twelve.png"))
    with pytest.raises(ValueError, match="quantity"):
        plot_course_comparison([ethanol_course], tmp_path / "bad.png", quantity="nonsense")
    with pytest.raises(ValueError, match="1 to 12"):
        plot_course_comparison([ethanol_course] * 13, tmp_path / "many.png")


def test_plot_functions_return_paths(ethanol_course, tmp_path):
    assert _is_png(plot_course_curves(ethanol_course, tmp_path / "c.png", xscale="symlog"))
    assert _is_png(plot_course_slices(ethanol_course, tmp_path / "s.png"))
    with pytest.raises(ValueError, match="xscale"):
        plot_course_curves(ethanol_course, tmp_path / "x.png", xscale="log")
