"""Session outcomes on synthetic fields with known answers."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from tissuefate.geometry import ellipsoid_mask, segment_mask, sphere_mask
from tissuefate.grid import Grid
from tissuefate.therapy.outcomes import (
    ablative_margin,
    session_metrics,
    sphericity,
    zone_geometry,
)
from tissuefate.therapy.result import ApplicatorPlacement, SessionResult
from tissuefate.tissue.labels import Label
from tissuefate.tissue.properties import CELLS
from tissuefate.tissue.state import TissueState

H = 1e-3  # 1 mm voxels
GRID = Grid.cube(40, H)
K0 = 273.15


def _placement(direction=(0.0, 0.0, 1.0)) -> ApplicatorPlacement:
    d = np.asarray(direction, float) / np.linalg.norm(direction)
    tip = -10e-3 * d  # active part -10 → +10 mm: active centre at the origin
    return ApplicatorPlacement("rf_electrode", tuple(tip), tuple(d), 20e-3, 0.75e-3, "e1")


def _scaled_radius(grid, semi_axes_m):
    x, y, z = grid.coordinates_m()
    a, b, c = semi_axes_m
    return np.sqrt((x / a) ** 2 + (y / b) ** 2 + (z / c) ** 2)


def make_result(
    *,
    grid=GRID,
    semi_axes_m=(8e-3, 8e-3, 14e-3),
    tumour_radius_m=5e-3,
    tumour_centre_m=(0.0, 0.0, 0.0),
    vessel_x_m=None,
    applicator=True,
    traces=None,
) -> SessionResult:
    """Ω = 4.6·exp(6(1 − s)) with s the ellipsoidal radius: Ω ≥ 4.6 ⇔ s ≤ 1 (the given semi-axes).

    Peak temperature = 37 + 63·exp(−s²·ln(63/23)) °C: 60 °C exactly at s = 1.
    Ω and temperature are zeroed inside the applicator (a cooled electrode) and vessels.
    """
    label = np.full(grid.shape, Label.PARENCHYMA, dtype=np.uint8)
    if tumour_radius_m:
        label[sphere_mask(grid, tumour_centre_m, tumour_radius_m)] = Label.TUMOUR
    if vessel_x_m is not None:
        label[segment_mask(grid, (vessel_x_m, 0, -0.05), (vessel_x_m, 0, 0.05), 2.5e-3)] = (
            Label.LARGE_VESSEL
        )
    pl = _placement()
    if applicator:
        a = np.asarray(pl.tip_m)
        label[segment_mask(grid, a, a + 0.1 * np.asarray(pl.direction), pl.radius_m)] = (
            Label.APPLICATOR
        )
    state = TissueState.from_labels(grid, label)
    s = _scaled_radius(grid, semi_axes_m)
    omega = 4.6 * np.exp(6.0 * (1.0 - s))
    peak = K0 + 37.0 + 63.0 * np.exp(-(s**2) * math.log(63.0 / 23.0))
    cold = np.isin(label, (Label.APPLICATOR, Label.LARGE_VESSEL))
    omega[cold] = 0.0
    peak[cold] = K0 + 37.0
    return SessionResult(
        name="synthetic",
        modality="rfa",
        grid=grid,
        state=state,
        placements=[pl],
        omega=omega.astype(np.float32),
        cem43_min=np.zeros(grid.shape, np.float32),
        peak_temperature_K=peak.astype(np.float32),
        final_temperature_K=np.full(grid.shape, K0 + 37.0, np.float32),
        traces=traces or {},
        settings={"protocol": {"power_W": 50}},
    )


def test_ellipsoid_axes_volume_and_hole_filling():
    a, b, c = 8e-3, 6e-3, 14e-3
    r = make_result(semi_axes_m=(a, b, c))
    m = session_metrics(r)
    z = m["zones"]["omega_ge_4.6"]
    assert not z["empty"]
    # the cooled electrode (Ω = 0 in its voxels) is filled back in where the zone encloses it;
    # the shaft beyond the zone is not counted
    app = r.state.label == Label.APPLICATOR
    inside = _scaled_radius(GRID, (a, b, c)) <= 1.0
    assert (app & inside).sum() > 50
    assert z["n_voxels"] == int(((r.omega >= 4.6) | (app & inside)).sum())
    assert abs(z["long_axis_mm"] - 2 * c * 1e3) <= 1.0
    assert abs(z["short_axis_mm"] - 2 * a * 1e3) <= 1.0
    assert abs(z["short_axis_min_mm"] - 2 * b * 1e3) <= 1.0
    v_true_mL = 4 / 3 * math.pi * a * b * c * 1e6
    assert z["volume_mL"] == pytest.approx(v_true_mL, rel=0.03)
    assert z["aspect_ratio"] == pytest.approx(z["short_axis_mm"] / z["long_axis_mm"], rel=1e-3)
    assert z["n_components"] == 1
    assert z["touches_roi_boundary"] is False
    long = session_metrics(make_result(semi_axes_m=(a, b, 18e-3)), isotherms_degC=())
    assert long["zones"]["omega_ge_1"]["touches_roi_boundary"] is True  # reaches z = ±22 mm
    # the 60 °C isotherm is the same ellipsoid by construction; Ω ≥ 1 is larger
    iso = m["zones"]["peak_ge_60degC"]
    assert abs(iso["long_axis_mm"] - z["long_axis_mm"]) <= 1.0
    assert m["zones"]["omega_ge_1"]["volume_mL"] > z["volume_mL"]
    assert m["zones"]["peak_ge_50degC"]["volume_mL"] > iso["volume_mL"]


def test_long_axis_follows_applicator_direction():
    """The same ellipsoid measured with the applicator along x swaps long and short roles."""
    r = make_result(semi_axes_m=(8e-3, 8e-3, 14e-3))
    zone = r.omega >= 4.6
    along_z = zone_geometry(zone, GRID, (0, 0, -1))
    along_x = zone_geometry(zone, GRID, (1, 0, 0))
    assert along_z["long_axis_mm"] > along_z["short_axis_mm"]
    assert abs(along_x["long_axis_mm"] - 16.0) <= 1.0
    assert abs(along_x["short_axis_mm"] - 28.0) <= 1.0


def test_sphericity_ball_and_spheroid():
    g = Grid.cube(36, H)
    ball = sphere_mask(g, (0, 0, 0), 10e-3)
    assert sphericity(ball, g.spacing_m) == pytest.approx(1.0, abs=0.05)
    # prolate spheroid 10 × 10 × 16 mm: analytic Wadell sphericity
    a, c = 10e-3, 16e-3
    spheroid = ellipsoid_mask(g, (0, 0, 0), (a, a, c))
    e = math.sqrt(1 - a**2 / c**2)
    area = 2 * math.pi * a**2 * (1 + c / (a * e) * math.asin(e))
    vol = 4 / 3 * math.pi * a * a * c
    psi_true = math.pi ** (1 / 3) * (6 * vol) ** (2 / 3) / area
    psi = sphericity(spheroid, g.spacing_m)
    assert psi < 0.97
    assert psi == pytest.approx(psi_true, rel=0.03)


def test_stray_voxels_do_not_count():
    r = make_result()
    far = sphere_mask(GRID, (15e-3, 15e-3, -15e-3), 2e-3)
    r.omega[far] = 50.0
    m = session_metrics(r, isotherms_degC=())
    clean = session_metrics(make_result(), isotherms_degC=())
    z = m["zones"]["omega_ge_4.6"]
    assert z["n_components"] == 2
    assert z["volume_mL"] == clean["zones"]["omega_ge_4.6"]["volume_mL"]
    assert z["volume_outside_zone_mL"] == pytest.approx(far.sum() * 1e-3, rel=1e-6)
    assert set(m["zones"]) == {"omega_ge_1", "omega_ge_4.6"}


def test_zone_seed_outside_mask_takes_nearest_component():
    r = make_result()
    r.placements = [_placement()]
    r.omega[:] = 0.0
    blob = sphere_mask(GRID, (0, 0, 12e-3), 3e-3)  # beside, not on, the active centre
    r.omega[blob] = 10.0
    z = session_metrics(r)["zones"]["omega_ge_4.6"]
    assert z["n_voxels"] == int(blob.sum())


def test_empty_zone():
    r = make_result()
    r.omega[:] = 0.0
    r.peak_temperature_K[:] = K0 + 37.0
    m = session_metrics(r)
    for z in m["zones"].values():
        assert z["empty"] is True
        assert z["volume_mL"] == 0.0 and z["long_axis_mm"] == 0.0 and z["sphericity"] is None
    assert m["margin"]["minimal_ablative_margin_mm"] is None
    assert m["margin"]["tumour_volume_covered_fraction"] == 0.0
    assert m["normal_tissue"]["destroyed_mL"] == 0.0
    json.dumps(m, allow_nan=False)


@pytest.mark.parametrize("r_zone_mm, r_tum_mm", [(12, 5), (10, 6), (9.5, 3.2)])
def test_margin_concentric_spheres(r_zone_mm, r_tum_mm):
    g = Grid.cube(32, H, centre_m=(0.2e-3, -0.3e-3, 0.1e-3))
    zone = sphere_mask(g, (0, 0, 0), r_zone_mm * 1e-3)
    tumour = sphere_mask(g, (0, 0, 0), r_tum_mm * 1e-3)
    res = ablative_margin(zone, tumour, g)
    assert res["tumour_covered"] is True
    assert res["tumour_volume_covered_fraction"] == 1.0
    assert abs(res["minimal_ablative_margin_mm"] - (r_zone_mm - r_tum_mm)) <= 1.0


def test_margin_off_centre_is_negative():
    g = Grid.cube(40, H)
    zone = sphere_mask(g, (0, 0, 0), 12e-3)
    tumour = sphere_mask(g, (10e-3, 0, 0), 5e-3)  # reaches 15 mm: 3 mm outside
    res = ablative_margin(zone, tumour, g)
    assert res["tumour_covered"] is False
    assert 0 < res["tumour_volume_covered_fraction"] < 1
    assert res["uncovered_tumour_volume_mL"] > 0
    assert abs(res["minimal_ablative_margin_mm"] - (-3.0)) <= 1.0
    # the zone touching the grid edge: outside the grid is outside the zone
    res2 = ablative_margin(np.ones(g.shape, bool), sphere_mask(g, (0, 0, 0), 5e-3), g)
    assert abs(res2["minimal_ablative_margin_mm"] - 15.0) <= 1.0


def test_margin_in_session_metrics_and_normal_tissue():
    r = make_result(semi_axes_m=(12e-3, 12e-3, 12e-3), tumour_radius_m=5e-3)
    m = session_metrics(r)
    assert m["margin"]["zone"] == "omega_ge_4.6"
    assert abs(m["margin"]["minimal_ablative_margin_mm"] - 7.0) <= 1.0
    dv_mL = 1e-3
    expected = np.sum((r.omega >= 4.6) & (r.state.label == Label.PARENCHYMA)) * dv_mL
    assert m["normal_tissue"]["destroyed_mL"] == pytest.approx(expected, rel=1e-6)
    assert 0 < m["normal_tissue"]["killed_expected_mL"] <= m["normal_tissue"]["viable_before_mL"]


def test_clonogens_and_tcp():
    r = make_result(tumour_radius_m=4e-3)
    tum = r.state.tumour > 0
    n_vox = int(tum.sum())
    n0_per_voxel = CELLS["tumour_cells_per_m3"].value * CELLS["clonogenic_fraction"].value * 1e-9
    n0 = n_vox * n0_per_voxel
    # uniform Ω in the tumour such that exactly 2 clonogens are expected to survive
    r.omega = np.where(tum, math.log(n0 / 2.0), 50.0).astype(np.float64)
    t = session_metrics(r)["tumour"]
    assert t["initial_clonogens"] == pytest.approx(n0, rel=1e-5)
    assert t["surviving_clonogens"] == pytest.approx(2.0, rel=1e-4)
    assert t["tumour_control_probability"] == pytest.approx(math.exp(-2.0), rel=1e-4)
    assert t["viable_volume_mL"] == pytest.approx(n_vox * 1e-3 * 2.0 / n0, rel=1e-4)
    assert t["initial_volume_mL"] == pytest.approx(n_vox * 1e-3)
    # no survivors → TCP 1
    r.omega = np.full(GRID.shape, 1e3)
    assert session_metrics(r)["tumour"]["tumour_control_probability"] == 1.0


def test_heat_sink_report():
    # vessel 9 mm from the axis, tumour reaching it: vessel-side tissue cooled and spared
    r = make_result(
        semi_axes_m=(12e-3, 12e-3, 14e-3),
        tumour_radius_m=6e-3,
        tumour_centre_m=(4e-3, 0, 0),
        vessel_x_m=9e-3,
    )
    x, _, _ = GRID.coordinates_m()
    d = np.abs(x - 9e-3)
    cooling = np.exp(-d / 3e-3)  # heat sink: up to 100 % Ω loss at the vessel
    r.omega = (r.omega * (1 - cooling) ** 4).astype(np.float32)
    r.peak_temperature_K = (r.peak_temperature_K - 25.0 * cooling).astype(np.float32)
    m = session_metrics(r)
    hs = m["heat_sink"]
    assert hs["large_vessels_present"] is True
    assert hs["near_vessel"]["surviving_clonogens"] > hs["elsewhere"]["surviving_clonogens"]
    assert hs["surviving_clonogens_near_vessel_fraction"] > 0.5
    c = hs["peak_temperature_contrast"]
    assert c["n_voxels_near_vessel"] > 0 and c["n_voxels_elsewhere"] > 0
    assert c["difference_degC"] < -5.0
    assert c["near_vessel_mean_degC"] < c["elsewhere_mean_degC"]
    assert hs["zone_gap_to_large_vessel_mm"] >= 0.0
    assert m["zones"]["omega_ge_1"]["gap_to_large_vessel_mm"] <= hs["zone_gap_to_large_vessel_mm"]
    # no vessels: the report says so
    hs0 = session_metrics(make_result())["heat_sink"]
    assert hs0["large_vessels_present"] is False
    assert hs0["zone_gap_to_large_vessel_mm"] is None
    assert hs0["peak_temperature_contrast"]["difference_degC"] is None


def test_traces_energy_impedance_and_json():
    t = np.linspace(0, 720, 1001)
    power = np.full_like(t, 50.0)
    imp = 80 - 10 * t / 720
    roll = ((t > 300) & (t < 320)) | ((t > 500) & (t < 530))
    imp[roll] = 400.0
    traces = {
        "time_s": t,
        "power_W": power,
        "impedance_ohm": imp,
        "energy_J": np.cumsum(np.r_[0, np.diff(t)] * power),
        "max_temperature_K": K0 + 37 + 60 * (1 - np.exp(-t / 100)),
        "rolloff": roll.astype(np.uint8),
    }
    r = make_result(traces=traces)
    m = session_metrics(r)
    assert m["schema_version"] == 3
    assert m["delivery"]["energy_J"] == pytest.approx(36000.0)
    assert m["delivery"]["duration_s"] == pytest.approx(720.0)
    imp_m = m["impedance"]
    assert imp_m["n_rolloffs"] == 2
    # the RF generator records a running count instead of a flag: same answer
    traces_count = dict(traces, rolloff=np.cumsum(np.r_[0, np.diff(roll.astype(int)) > 0]))
    assert traces_count["rolloff"].max() == 2
    assert session_metrics(make_result(traces=traces_count))["impedance"]["n_rolloffs"] == 2
    assert imp_m["max_ohm"] == 400.0 and imp_m["initial_ohm"] == 80.0
    assert imp_m["final_ohm"] == pytest.approx(70.0)
    tr = m["traces"]
    assert set(tr) == {
        "time_s",
        "power_W",
        "impedance_ohm",
        "energy_J",
        "max_temperature_degC",
        "rolloff",
    }
    assert all(len(v) <= 200 for v in tr.values())
    assert tr["time_s"][0] == 0.0 and tr["time_s"][-1] == 720.0
    assert tr["max_temperature_degC"][0] == pytest.approx(37.0)
    tissue = r.state.label != Label.APPLICATOR
    assert m["thermal"]["peak_temperature_degC"] == pytest.approx(
        float(r.peak_temperature_K[tissue].max()) - K0, abs=1e-3
    )
    # energy integrated from power when no energy trace exists
    del traces["energy_J"]
    m2 = session_metrics(make_result(traces=traces))
    assert m2["delivery"]["energy_J"] == pytest.approx(36000.0)
    assert "integral" in m2["delivery"]["energy_source"]
    # JSON-serialisable as is, no NaN
    s = json.dumps(m, allow_nan=False)
    assert json.loads(s)["zones"]["omega_ge_4.6"]["volume_mL"] > 0


def test_every_numeric_key_has_a_unit_or_a_dimensionless_name():
    m = session_metrics(make_result(vessel_x_m=12e-3))
    units = ("_mm", "_mL", "_degC", "_J", "_W", "_ohm", "_s", "_mm2")
    dimensionless = (
        "fraction",
        "probability",
        "sphericity",
        "ratio",
        "clonogens",
        "n_",
        "version",
        "threshold",
        "_unit",
        "empty",
        "present",
        "covered",
        "rolloffs",
        "voxels",
    )

    def walk(d, path=""):
        for k, v in d.items():
            if isinstance(v, dict):
                if path.endswith("zones") or k in ("traces",):
                    for kk, vv in v.items():
                        if isinstance(vv, dict):
                            walk(vv, f"{path}.{k}.{kk}")
                    continue
                walk(v, f"{path}.{k}")
            elif isinstance(v, (int, float)) and not isinstance(v, bool) or isinstance(v, list):
                ok = (
                    k.endswith(units)
                    or any(w in k for w in dimensionless)
                    or k
                    in ("spacing_mm", "axis_direction_unit", "hypotheses_active", "cells_per_mL")
                )
                assert ok, f"{path}.{k} has no unit suffix"

    walk(m)


def test_rejects_bad_arguments():
    from tissuefate.errors import ConfigError

    r = make_result()
    with pytest.raises(ConfigError):
        session_metrics(r, vessel_distance_mm=0.0)
    r.placements = []
    with pytest.raises(ConfigError, match="no applicator"):
        session_metrics(r)


def test_margin_without_tumour_is_null():
    import numpy as np

    from tissuefate.grid import Grid
    from tissuefate.therapy.outcomes import ablative_margin

    g = Grid((8, 8, 8), (1e-3,) * 3)
    zone = np.zeros(g.shape, bool)
    zone[2:6, 2:6, 2:6] = True
    out = ablative_margin(zone, np.zeros(g.shape, bool), g)
    assert out["tumour_present"] is False and out["minimal_ablative_margin_mm"] is None
