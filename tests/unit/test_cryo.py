"""Unit tests of the cryo model: kill model, material, protocol and probe validation, boundary
conditions of the protocol phases, and the isotherm geometry helper."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tissuefate.errors import ConfigError, GeometryError
from tissuefate.grid import Grid
from tissuefate.physics.cryo import (
    CRYO,
    CryoModel,
    CryoPhase,
    Cryoprobe,
    CryoProtocol,
    CryoTissue,
    cryo_survival_fraction,
    isotherm_dimensions,
)

K0 = 273.15


# -- kill model -------------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.floats(40.0, 400.0), st.floats(40.0, 400.0))
def test_survival_monotone_and_bounded(a, b):
    """S(T_min) ∈ [0, 1] and never decreases with T_min."""
    lo, hi = sorted((a, b))
    s_lo, s_hi = cryo_survival_fraction(np.array([lo, hi]))
    assert 0.0 <= s_lo <= s_hi <= 1.0


def test_survival_anchors():
    """1 at and above −20 °C, 0 at and below −40 °C (Gage & Baust 1998), linear between."""
    T = K0 + np.array([37.0, -20.0, -25.0, -30.0, -40.0, -120.0])
    np.testing.assert_allclose(cryo_survival_fraction(T), [1, 1, 0.75, 0.5, 0, 0], atol=1e-12)
    assert CRYO["lethal_certain_K"].tag == "R" and "Gage" in CRYO["lethal_certain_K"].source
    assert cryo_survival_fraction(np.float32(250.0)).dtype == np.float32
    with pytest.raises(ConfigError, match="certain_K"):
        cryo_survival_fraction(250.0, onset_K=230.0, certain_K=240.0)


# -- material ---------------------------------------------------------------------------------


def test_enthalpy_is_continuous_monotone_and_inverted_exactly():
    """H(T) is continuous and strictly increasing; T(H(T)) = T; the jump across the freezing
    range is C_m ΔT = ρL + mean sensible heat; k(T) goes from k_f to k_u."""
    t = CryoTissue.liver("porcine")
    T = np.linspace(80.0, 330.0, 20001)
    H = t.enthalpy_J_per_m3(T)
    assert np.all(np.diff(H) > 0)
    np.testing.assert_allclose(t.temperature_K(H), T, rtol=0, atol=1e-9)
    jump = t.enthalpy_J_per_m3(t.liquidus_K) - t.enthalpy_J_per_m3(t.solidus_K)
    sensible = 0.5 * (t.C_frozen + t.C_unfrozen) * (t.liquidus_K - t.solidus_K)
    assert jump == pytest.approx(t.latent_J_per_m3 + sensible, rel=1e-12)
    assert t.conductivity_W_per_mK(K0 - 50) == pytest.approx(2.0)
    assert t.conductivity_W_per_mK(K0 + 10) == pytest.approx(0.512)
    # frozen tissue diffuses ≈ 4× faster than unfrozen: it sets the time step
    assert t.max_diffusivity_m2_per_s == pytest.approx(2.0 / t.C_frozen)


@pytest.mark.parametrize("kw, match", [
    (dict(solidus_K=275.0), "freezing range"),
    (dict(liquidus_K=-1.0), "freezing range"),
    (dict(latent_heat_J_per_kg=-5.0), "latent_heat"),
    (dict(conductivity_frozen_W_per_mK=0.0), "conductivity_frozen"),
])
def test_tissue_validation(kw, match):
    base = dict(density_kg_per_m3=1000.0, heat_capacity_unfrozen_J_per_kgK=3600.0,
                heat_capacity_frozen_J_per_kgK=1800.0, conductivity_unfrozen_W_per_mK=0.5,
                conductivity_frozen_W_per_mK=2.0, latent_heat_J_per_kg=250e3, solidus_K=265.15, liquidus_K=272.15)
    base.update(kw)
    with pytest.raises(ConfigError, match=match):
        CryoTissue(**base)


# -- protocol ---------------------------------------------------------------------------------


def test_protocol_validation_names_the_field():
    with pytest.raises(ConfigError, match=r"protocol\[1\]\.duration_s = -300 s: must be > 0.*Did you mean 300"):
        CryoProtocol([("freeze", 600.0), ("passive_thaw", -300.0)])
    with pytest.raises(ConfigError, match=r"protocol\[2\]\.kind = 'thaw': must be one of"):
        CryoProtocol([("freeze", 600.0), ("passive_thaw", 300.0), ("thaw", 60.0)])
    with pytest.raises(ConfigError, match=r"protocol\[0\]\.duration_min = -10"):
        CryoProtocol.from_minutes([("freeze", -10)])
    with pytest.raises(ConfigError, match=r"protocol\[0\]\.probe_temperature_K = -150 K"):
        CryoProtocol([("freeze", 600.0, -150.0)])
    with pytest.raises(ConfigError, match=r"protocol\[0\]\.probe_temperature_K.*passive thaw releases"):
        CryoProtocol([{"kind": "passive_thaw", "duration_s": 60.0, "probe_temperature_K": 300.0}])
    with pytest.raises(ConfigError, match=r"protocol\[0\]: unknown field"):
        CryoProtocol([{"kind": "freeze", "duration": 60.0}])
    with pytest.raises(ConfigError, match="at least one phase"):
        CryoProtocol([])
    with pytest.raises(ConfigError, match=r"phase\.duration_s = 0 s"):
        CryoPhase("freeze", 0.0)
    p = CryoProtocol.double_freeze()
    assert [ph.kind for ph in p.phases] == ["freeze", "passive_thaw", "freeze"] and p.duration_s == 1500.0


# -- probes and geometry ----------------------------------------------------------------------


def test_probe_validation():
    with pytest.raises(ConfigError, match="probe.direction"):
        Cryoprobe((0, 0, 0), (0, 0, 0), 0.02, 2.4e-3)
    with pytest.raises(ConfigError, match="probe.diameter_mm = 2400"):
        Cryoprobe((0, 0, 0), (0, 0, 1), 0.02, 2.4)


def test_probes_outside_grid_or_overlapping_raise_geometry_error():
    g = Grid.cube(20, 1e-3)
    inside = Cryoprobe((0, 0, -0.004), (0, 0, 1), 0.008, 2.4e-3)
    too_long = Cryoprobe((0, 0, -0.004), (0, 0, 1), 0.03, 2.4e-3)
    with pytest.raises(GeometryError, match=r"probes\[1\] end of the active segment .* lies outside the grid"):
        CryoModel(g, probes=[inside, too_long])
    edge = Cryoprobe((0.0094, 0, -0.004), (0, 0, 1), 0.008, 2.4e-3)
    with pytest.raises(GeometryError, match=r"probes\[0\] touches the box faces"):
        CryoModel(g, probes=[edge])
    near = Cryoprobe((0.002, 0, -0.004), (0, 0, 1), 0.008, 2.4e-3)
    with pytest.raises(GeometryError, match=r"probes\[0\] and probes\[1\] overlap \(surface gap -0.40 mm"):
        CryoModel(g, probes=[inside, near])  # 2 mm apart, 2.4 mm thick: voxels disjoint, probes not
    crossing = Cryoprobe((-0.004, 0.0, 0.0), (1, 0, 0), 0.008, 1e-3)
    with pytest.raises(GeometryError, match=r"probes\[0\] and probes\[1\] overlap.*intersect"):
        CryoModel(g, probes=[inside, crossing])
    CryoModel(g, probes=[inside, Cryoprobe((0.005, 0, -0.004), (0, 0, 1), 0.008, 2.4e-3)])  # 5 mm apart: fine
    vessel = np.zeros(g.shape, bool)
    vessel[10, 10, :] = True
    with pytest.raises(GeometryError, match="fixed_mask"):
        CryoModel(g, probes=[inside], fixed_mask=vessel)
    with pytest.raises(ConfigError, match="backend"):
        CryoModel(g, probes=[inside], backend="cupy")


def test_phases_set_probe_boundary_and_vascular_injury_persists():
    """Freeze holds the probes cold; a passive thaw releases them (they warm like tissue); an
    active thaw holds them at the thaw temperature. Perfusion is gone where T_min < 0 °C and
    stays gone after the thaw; time below −20 °C ≥ time below −40 °C; records are consistent."""
    g = Grid.cube(20, 1e-3)
    probe = Cryoprobe((0, 0, -0.004), (0, 0, 1), 0.008, 2.4e-3)
    m = CryoModel(g, CryoTissue.liver(), [probe], perfusion_per_s=3.6e-3, backend="numpy", dtype=np.float64)
    r = m.run(CryoProtocol([("freeze", 60.0), ("passive_thaw", 30.0)]))
    pm = r.probe_mask
    assert np.all(r.T_min_K[pm] == pytest.approx(m.probe_temperature_K))
    assert np.all(r.T_end_K[pm] > m.probe_temperature_K + 20.0)  # released: warmed by the tissue
    injured = r.T_min_K < K0
    assert injured.sum() > pm.sum()
    assert np.all(r.vascular_integrity[injured] == 0) and np.all(r.vascular_integrity[~injured] == 1)
    assert np.all(m.perf[injured] == 0) and np.all(m.perf[~injured & ~m._box] > 0)
    assert np.all(r.time_below_m20C_s >= r.time_below_m40C_s)
    assert 60.0 <= r.time_below_m40C_s[pm].min() <= 90.0  # the whole freeze, and some of the thaw
    assert np.array_equal(r.survival == 0, r.T_min_K <= CRYO["lethal_certain_K"].value)
    assert r.traces["phase"][-1] == 1 and r.traces["probe_power_W"][-1] == 0.0
    assert r.traces["time_s"][-1] == pytest.approx(90.0)

    r2 = m.run(CryoProtocol([("freeze", 30.0), ("active_thaw", 30.0, 300.0)]))
    assert np.all(r2.T_end_K[pm] == pytest.approx(300.0))
    assert r2.traces["probe_power_W"][-1] < 0  # the probe now heats


def test_stable_step_keeps_a_maximum_principle():
    """At the full stable step (safety 1) with a −185 °C probe, temperatures stay within
    [probe temperature, initial temperature] through freeze and passive thaw (no overshoot)."""
    g = Grid.cube(16, 1e-3)
    probe = Cryoprobe((0, 0, -0.003), (0, 0, 1), 0.006, 2.4e-3)
    for tissue in (CryoTissue.liver(), CryoTissue.gel()):
        m = CryoModel(g, tissue, [probe], probe_temperature_K=K0 - 185.0, safety=1.0, dtype=np.float64)
        H, T = m.initial()
        m.set_probes("cold")
        lo, hi = np.inf, -np.inf
        for i in range(300):
            if i == 150:
                m.set_probes("off")
            H, T = m.step(H, T, m.dt_max_s)
            lo, hi = min(lo, T.min()), max(hi, T.max())
        assert lo >= K0 - 185.0 - 1e-9 and hi <= m.arterial_K + 1e-9
    with pytest.raises(ConfigError, match="stable limit"):
        m.step(H, T, 1.01 * m.dt_max_s)


def test_isotherm_dimensions_agree_with_zone_geometry():
    """The physics-side helper measures what therapy.outcomes.zone_geometry measures (imported
    here only: physics must not import therapy)."""
    from tissuefate.therapy.outcomes import zone_geometry

    g = Grid.cube(40, 1e-3)
    x, y, z = g.coordinates_m()
    T = K0 + 37.0 - 80.0 * np.exp(-(x**2 / 8e-3**2 + y**2 / 6e-3**2 + z**2 / 12e-3**2))
    d = isotherm_dimensions(T, g, (0, 0, 1))
    for key, lev in (("0", K0), ("-20", K0 - 20), ("-30", K0 - 30)):
        ref = zone_geometry(T < lev, g, (0, 0, 1))
        assert d[key]["volume_m3"] * 1e6 == pytest.approx(ref["volume_mL"], abs=1e-6)
        assert d[key]["long_axis_m"] * 1e3 == pytest.approx(ref["long_axis_mm"], abs=2e-3)
        assert d[key]["short_axis_m"] * 1e3 == pytest.approx(ref["short_axis_mm"], abs=2e-3)
        assert d[key]["short_axis_min_m"] * 1e3 == pytest.approx(ref["short_axis_min_mm"], abs=2e-3)
    assert d["0"]["long_axis_m"] > d["-20"]["long_axis_m"] > d["-40"]["long_axis_m"] > 0
    assert d["0"]["equivalent_diameter_m"] > d["0"]["short_axis_min_m"] * 0.9


# -- cooling-power-limited probes -------------------------------------------------------------


def _gel_probe_model(limit, start_degC=39.0, **kw):
    g = Grid.cube(24, 1e-3)
    probe = Cryoprobe((0, 0, -0.006), (0, 0, 1), 0.012, 2.4e-3)
    return CryoModel(g, CryoTissue.gel(), [probe], arterial_K=K0 + start_degC, initial_K=K0 + start_degC,
                     dtype=np.float64, backend="numpy", max_probe_power_W=limit, **kw)


def test_power_limited_probe_draws_its_limit_and_warms_under_load():
    """Each step the probe draws exactly its limit (it is held at the coldest temperature that
    does, above the minimum): the same freeze without a limit draws over 3× more at −150 °C, so the
    limited probe warms to 50-150 K above its minimum; relative to a 5 W probe under the same load,
    a 3 W probe is held warmer (on average over the freeze)."""
    held, drawn = {}, {}
    for limit in (3.0, 5.0):
        m = _gel_probe_model(limit)
        H, T = m.initial()
        m.set_probes("cold")
        m._apply_held(H, T)
        P, Tp = [], []
        for _ in range(300):  # 45 s
            P.append(m.probe_powers_W(T)[0])
            assert P[-1] == pytest.approx(m.probe_power_W(T), rel=1e-9)  # no vessel: the same faces
            Tp.append(m.probe_held_K[0])
            H, T = m.step(H, T, m.stable_time_step_s())
        held[limit], drawn[limit] = np.array(Tp), np.array(P)
        assert np.all(T[m.probe_mask] == pytest.approx(m.probe_held_K[0]))
        # the first steps, before any ice forms, need more than the limit even at 0 °C: held there
        warm_end = held[limit] >= K0 - 1e-9
        assert np.all(held[limit] <= K0 + 1e-9) and warm_end.sum() < 30
        assert np.all(drawn[limit][warm_end] > limit)
        assert np.all(held[limit] > K0 - 150.0 + 50.0)  # far above the minimum: the limit acts
        np.testing.assert_allclose(drawn[limit][~warm_end], limit, rtol=1e-6)
        assert np.all(drawn[limit][~warm_end] <= limit * (1 + 1e-12))
        assert (held[limit] < CryoTissue.gel().solidus_K).sum() > 250  # frozen probe: closed-form solve
    assert held[3.0].mean() > held[5.0].mean() + 5.0
    free = _gel_probe_model(None)
    r = free.run(CryoProtocol([("freeze", 45.0)]), record_interval_s=5.0)
    assert min(r.traces["probe_power_W"][1:]) > 3 * 3.0
    assert np.all(np.array(r.traces["probe_temperature_K"][1:]) == pytest.approx(K0 - 150.0))


def test_power_limit_never_reached_changes_nothing_and_low_limit_shrinks_the_ice():
    """A limit above every load reproduces the prescribed-temperature model bit for bit; a low
    limit gives less ice; the record carries the held temperature and the limit."""
    proto = CryoProtocol([("freeze", 40.0), ("passive_thaw", 10.0)])
    ref = _gel_probe_model(None).run(proto)
    same = _gel_probe_model(1000.0).run(proto)
    np.testing.assert_array_equal(same.T_min_K, ref.T_min_K)
    low = _gel_probe_model(4.0).run(proto)
    assert low.traces["ice_volume_m3"][-1] < 0.8 * ref.traces["ice_volume_m3"][-1]
    assert low.parameters["max_probe_power_W"] == [4.0] and ref.parameters["max_probe_power_W"] is None
    assert min(low.traces["probe_temperature_K"]) > K0 - 100.0


@pytest.mark.parametrize("limit, match", [(-1.0, "must be > 0"), ([3.0, 4.0], "one per probe"),
                                          (float("nan"), "must be > 0")])
def test_power_limit_validation(limit, match):
    with pytest.raises(ConfigError, match=match):
        _gel_probe_model(limit)
