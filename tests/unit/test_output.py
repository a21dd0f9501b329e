"""Result folders: atomic writes, metrics.json, NetCDF fields."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from tissuefate.geometry import segment_mask, sphere_mask
from tissuefate.grid import Grid
from tissuefate.io import (
    OutputExistsError,
    atomic_output_dir,
    fields_dataset,
    write_fields_netcdf,
    write_metrics_json,
    write_session_outputs,
)
from tissuefate.therapy.result import ApplicatorPlacement, SessionResult
from tissuefate.tissue.labels import Label
from tissuefate.tissue.state import TissueState

K0 = 273.15


def small_result(n: int = 24) -> SessionResult:
    """A 24³ session with a spherical Ω and temperature field around a z-axis electrode."""
    g = Grid.cube(n, 1e-3)
    label = np.full(g.shape, Label.PARENCHYMA, np.uint8)
    label[sphere_mask(g, (0, 0, 0), 4e-3)] = Label.TUMOUR
    label[segment_mask(g, (6e-3, -0.05, 0), (6e-3, 0.05, 0), 1.5e-3)] = Label.LARGE_VESSEL
    pl = ApplicatorPlacement("rf_electrode", (0, 0, -5e-3), (0, 0, 1), 10e-3, 0.75e-3)
    label[segment_mask(g, (0, 0, -5e-3), (0, 0, 0.05), 0.75e-3)] = Label.APPLICATOR
    x, y, z = g.coordinates_m()
    r = np.sqrt(x**2 + y**2 + (z / 1.3) ** 2)
    omega = 4.6 * np.exp(8 * (1 - r / 7e-3))
    peak = K0 + 37 + 60 * np.exp(-((r / 8e-3) ** 2))
    t = np.linspace(0, 600, 301)
    return SessionResult(
        name="small",
        modality="rfa",
        grid=g,
        state=TissueState.from_labels(g, label),
        placements=[pl],
        omega=omega.astype(np.float32),
        cem43_min=(omega * 10).astype(np.float32),
        peak_temperature_K=peak.astype(np.float32),
        final_temperature_K=(peak - 10).astype(np.float32),
        traces={
            "time_s": t,
            "power_W": np.full_like(t, 30.0),
            "impedance_ohm": 90 - t / 60,
            "max_temperature_K": K0 + 37 + 55 * (1 - np.exp(-t / 60)),
        },
        settings={"modality": "rfa", "protocol": {"power_W": 30.0, "duration_s": 600.0}},
    )


# ---------------------------------------------------------------- atomic folder


def test_atomic_dir_success(tmp_path):
    out = tmp_path / "run"
    with atomic_output_dir(out) as tmp:
        assert tmp != out and tmp.parent == out.parent and tmp.name.startswith(".run.partial-")
        (tmp / "a.txt").write_text("x")
        assert not out.exists()
    assert (out / "a.txt").read_text() == "x"
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


def test_atomic_dir_leaves_nothing_on_exception(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_output_dir(out) as tmp:
            (tmp / "half.txt").write_text("partial")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_atomic_dir_refuses_to_clobber_and_overwrites_on_request(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "old.txt").write_text("old")
    with pytest.raises(OutputExistsError, match="already exists"):
        with atomic_output_dir(out):
            pytest.fail("body must not run")  # pragma: no cover
    assert isinstance(OutputExistsError("x"), FileExistsError)
    assert (out / "old.txt").exists()
    # a failing overwrite keeps the old folder intact
    with pytest.raises(ValueError):
        with atomic_output_dir(out, overwrite=True) as tmp:
            (tmp / "new.txt").write_text("new")
            raise ValueError
    assert sorted(p.name for p in out.iterdir()) == ["old.txt"]
    with atomic_output_dir(out, overwrite=True) as tmp:
        (tmp / "new.txt").write_text("new")
    assert sorted(p.name for p in out.iterdir()) == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


# ---------------------------------------------------------------- metrics.json


def test_write_metrics_json_types_and_nan(tmp_path):
    p = write_metrics_json(
        tmp_path / "m.json",
        {
            "b": np.float32(1.5),
            "a": {
                "n": np.int64(3),
                "nan": float("nan"),
                "inf": np.inf,
                "arr": np.arange(3),
                "flag": np.bool_(True),
                "t": (1, 2),
            },
        },
    )
    text = p.read_text()
    assert "NaN" not in text and "Infinity" not in text
    d = json.loads(text)
    assert d == {
        "a": {"arr": [0, 1, 2], "flag": True, "inf": None, "n": 3, "nan": None, "t": [1, 2]},
        "b": 1.5,
    }
    assert text.index('"a"') < text.index('"b"')  # sorted keys
    assert text.startswith('{\n  "a"')  # indent 2
    with pytest.raises(TypeError):
        write_metrics_json(tmp_path / "bad.json", {"x": object()})


# ---------------------------------------------------------------- NetCDF


def test_fields_dataset_layout():
    r = small_result()
    r.settings["opaque"] = object()  # not JSON: written as its str() in the attribute
    ds = fields_dataset(r)
    assert set(ds.data_vars) == {
        "label",
        "omega",
        "survival",
        "cem43_min",
        "peak_temperature_degC",
        "final_temperature_degC",
        "tumour",
        "normal",
        "vascular",
    }
    for v in ds.data_vars.values():
        assert v.dims == ("x", "y", "z")
        assert v.attrs["units"] and v.attrs["long_name"]
    assert ds["label"].dtype == np.uint8
    assert ds["x"].attrs["units"] == "mm"
    np.testing.assert_allclose(ds["x"].values, r.grid.axis_m(0) * 1e3)
    assert ds.attrs["modality"] == "rfa" and ds.attrs["name"] == "small"
    assert json.loads(ds.attrs["hypotheses"]) == []
    assert json.loads(ds.attrs["settings_json"])["opaque"].startswith("<object")
    np.testing.assert_allclose(np.reshape(ds.attrs["affine_m"], (4, 4)), r.grid.affine)
    meanings = ds["label"].attrs["flag_meanings"].split()
    assert meanings[int(Label.TUMOUR)] == "tumour"
    assert list(ds["label"].attrs["flag_values"]) == list(range(len(Label)))


def test_netcdf_round_trip(tmp_path):
    import xarray as xr

    r = small_result()
    p = write_fields_netcdf(tmp_path / "fields.nc", r)
    with xr.open_dataset(p, engine="h5netcdf") as ds:
        ds.load()
        assert ds["peak_temperature_degC"].attrs["units"] == "degC"
        assert ds["omega"].attrs["units"] == "1"
        assert ds["cem43_min"].attrs["units"] == "min"
        assert ds["x"].attrs["units"] == "mm"
        assert ds["omega"].encoding.get("compression") == "gzip" or ds["omega"].encoding.get("zlib")
        np.testing.assert_array_equal(ds["label"].values, r.state.label)
        np.testing.assert_allclose(
            ds["peak_temperature_degC"].values, r.peak_temperature_K - np.float32(K0), atol=1e-4
        )
        assert ds.attrs["tissuefate_version"]
        assert json.loads(ds.attrs["settings_json"])["protocol"]["power_W"] == 30.0


# ---------------------------------------------------------------- the whole folder


def test_write_session_outputs(tmp_path):
    r = small_result()
    out = tmp_path / "session"
    paths = write_session_outputs(out, r)
    assert set(paths) == {"metrics", "fields", "slices", "traces", "report"}
    for p in paths.values():
        assert p.parent == out and p.stat().st_size > 0
    m = json.loads(paths["metrics"].read_text())
    assert m["schema_version"] == 3
    assert r.metrics and m["zones"]["omega_ge_4.6"]["volume_mL"] > 0
    assert math.isclose(
        m["zones"]["omega_ge_4.6"]["volume_mL"], r.metrics["zones"]["omega_ge_4.6"]["volume_mL"]
    )
    assert "not a medical device" in paths["report"].read_text()
    with pytest.raises(OutputExistsError):
        write_session_outputs(out, r)
    assert write_session_outputs(out, r, overwrite=True)["report"].exists()
    assert [p.name for p in tmp_path.iterdir()] == ["session"]


def test_write_session_outputs_failure_leaves_no_folder(tmp_path, monkeypatch):
    import tissuefate.viz.slices as slices

    def broken(*a, **k):
        raise RuntimeError("plot failed")

    monkeypatch.setattr(slices, "plot_session_slices", broken)
    with pytest.raises(RuntimeError, match="plot failed"):
        write_session_outputs(tmp_path / "session", small_result())
    assert list(tmp_path.iterdir()) == []
