"""Unit tests of tissuefate.physics.ire: input validation, kill map, vessels, pairs, heating."""

from __future__ import annotations

import numpy as np
import pytest

from tissuefate.errors import ConfigError, GeometryError
from tissuefate.grid import Grid
from tissuefate.physics.ire import (
    IRE,
    THERMAL_FLAG_FRACTION,
    ElectroporationConductivity,
    IREElectrode,
    IREProtocol,
    solve_ire,
    zone_extents_m,
)
from tissuefate.tissue.labels import Label

SIGMA0 = IRE["liver_sigma0_S_per_m"].value
PROTO = IREProtocol(1500.0, 90, 100e-6, 1.0)


def _pair(sep_m=10e-3, length_m=10e-3):
    return [IREElectrode((x, 0.0, -0.5 * length_m), (0, 0, 1), length_m) for x in (-sep_m / 2, sep_m / 2)]


@pytest.fixture(scope="module")
def grid():
    return Grid.cube(24, 1e-3)


# ------------------------------------------------------------------ inputs


@pytest.mark.parametrize("v", [0.0, -100.0, 5001.0, 2e4])
def test_voltage_out_of_range(v):
    with pytest.raises(ConfigError, match=r"voltage_V = .* V: must be > 0 and <= 5000 V"):
        IREProtocol(v)


@pytest.mark.parametrize("w", [0.5e-6, 2e-3, 100.0])
def test_pulse_width_out_of_range(w):
    with pytest.raises(ConfigError, match=r"pulse_width_s = .* s \(.* us\): must be in 1 us - 1000 us"):
        IREProtocol(1500.0, 90, w)


def test_other_protocol_fields():
    with pytest.raises(ConfigError, match="n_pulses = 0"):
        IREProtocol(1500.0, 0)
    with pytest.raises(ConfigError, match="n_pulses = 2.5"):
        IREProtocol(1500.0, 2.5)
    with pytest.raises(ConfigError, match="pulse_interval_s = 5e-05 s: must be >= pulse_width_s"):
        IREProtocol(1500.0, 90, 100e-6, 50e-6)
    p = IREProtocol(1500, 90.0, 100e-6, 1.0)
    assert p.n_pulses == 90 and p.on_time_s == pytest.approx(9e-3)


def test_electrode_fields():
    with pytest.raises(ConfigError, match=r"exposed_length_m = 20 m \(20000 mm\): must be in 1-50 mm"):
        IREElectrode((0, 0, 0), (0, 0, 1), 20.0)
    with pytest.raises(ConfigError, match=r"diameter_m = .* must be in 0.2-3 mm"):
        IREElectrode((0, 0, 0), (0, 0, 1), 0.02, 1.067)
    with pytest.raises(GeometryError, match="direction"):
        IREElectrode((0, 0, 0), (0, 0, 0), 0.02)
    with pytest.raises(GeometryError, match="tip_m"):
        IREElectrode((0, np.nan, 0), (0, 0, 1), 0.02)


def test_electrode_outside_grid(grid):
    el = _pair()
    el[1] = IREElectrode((5e-3, 0.0, 0.0), (0, 0, 1), 0.02)  # exposed end at z = 20 mm > 12 mm
    with pytest.raises(GeometryError, match=r"electrodes\[1\]\.exposed end = \[5\.0, 0\.0, 20\.0\] mm lies outside"):
        solve_ire(grid, SIGMA0, el, PROTO)
    el[0] = IREElectrode((-30e-3, 0.0, 0.0), (0, 0, 1), 0.005)
    with pytest.raises(GeometryError, match=r"electrodes\[0\]\.tip_m = \[-30\.0, 0\.0, 0\.0\] mm lies outside"):
        solve_ire(grid, SIGMA0, el, PROTO)


@pytest.mark.parametrize("sep_m", [0.5e-3, 1.0e-3, 2.0e-3])
def test_touching_or_overlapping_electrodes(grid, sep_m):
    with pytest.raises(GeometryError, match=r"electrodes\[0\] and electrodes\[1\] touch or overlap: axis distance"):
        solve_ire(grid, SIGMA0, _pair(sep_m), PROTO)


def test_crossing_electrodes_are_rejected(grid):
    a = IREElectrode((-5e-3, 0.0, 0.0), (1, 0, 0), 10e-3)
    b = IREElectrode((0.0, -5e-3, 0.0), (0, 1, 0), 10e-3)
    with pytest.raises(GeometryError, match="touch or overlap"):
        solve_ire(grid, SIGMA0, [a, b], PROTO)


def test_other_solve_arguments(grid):
    el = _pair()
    with pytest.raises(ConfigError, match="at least two needles"):
        solve_ire(grid, SIGMA0, el[:1], PROTO)
    with pytest.raises(ConfigError, match=r"pairs\[0\] = \(0, 0\)"):
        solve_ire(grid, SIGMA0, el, PROTO, pairs=[(0, 0)])
    with pytest.raises(ConfigError, match="thermal_model = 'hot'"):
        solve_ire(grid, SIGMA0, el, PROTO, thermal_model="hot")
    with pytest.raises(ConfigError, match=r"sigma0_S_per_m.shape = \(3,\)"):
        solve_ire(grid, np.ones(3), el, PROTO)
    with pytest.raises(ConfigError, match="sigma0_S_per_m: min -1"):
        solve_ire(grid, -1.0, el, PROTO)
    with pytest.raises(ConfigError, match="initial_K = 37 K"):
        solve_ire(grid, SIGMA0, el, PROTO, initial_K=37.0)
    with pytest.raises(ConfigError, match="kill_threshold_V_per_m = 637 V/m"):
        solve_ire(grid, SIGMA0, el, PROTO, kill_threshold_V_per_m=637.0)
    with pytest.raises(ConfigError, match="0 < reversible < irreversible"):
        ElectroporationConductivity(e_reversible_V_per_m=7e4)


# ------------------------------------------------------------------ conductivity law


def test_conductivity_law():
    m = ElectroporationConductivity()
    E = np.linspace(0.0, 1e5, 201)
    s = m(SIGMA0, E)
    assert np.all(np.diff(s) >= 0)
    assert np.allclose(s[E <= m.e_reversible_V_per_m], SIGMA0)
    assert np.allclose(s[E >= m.e_irreversible_V_per_m], IRE["liver_sigma_max_S_per_m"].value)
    assert float(m(SIGMA0, 0.0, m.reference_K + 10.0)) == pytest.approx(SIGMA0 * 1.12)
    assert np.allclose(ElectroporationConductivity(ratio=1.0)(SIGMA0, E), SIGMA0)


# ------------------------------------------------------------------ kill map


@pytest.fixture(scope="module")
def by_voltage(grid):
    return {V: solve_ire(grid, SIGMA0, _pair(), IREProtocol(V), thermal_model="none") for V in (700.0, 1000.0, 1500.0)}


def test_kill_map_is_monotone_in_voltage(by_voltage):
    k = [by_voltage[V].killed for V in (700.0, 1000.0, 1500.0)]
    assert k[0].sum() < k[1].sum() < k[2].sum()
    assert not np.any(k[0] & ~k[1]) and not np.any(k[1] & ~k[2])


def test_kill_reversible_survival_consistent(by_voltage):
    r = by_voltage[1000.0]
    E_irr = IRE["e_irreversible_V_per_m"].value
    E_rev = IRE["e_reversible_V_per_m"].value
    tissue = ~r.electrode_mask
    assert np.array_equal(r.killed, (r.field_V_per_m >= E_irr) & tissue)
    assert np.array_equal(r.reversible, (r.field_V_per_m >= E_rev) & (r.field_V_per_m < E_irr) & tissue)
    assert np.array_equal(r.survival == 0.0, r.killed) and set(np.unique(r.survival)) <= {0.0, 1.0}
    assert not np.any(r.killed & r.electrode_mask)
    # the zone spans the gap between the needles and is longer than wide across it
    w, d, L = zone_extents_m(r.killed, r.grid, [(1, 0, 0), (0, 1, 0), (0, 0, 1)])
    assert w > 10e-3 and d < w


def test_large_vessels_are_never_killed_and_keep_sigma(grid):
    label = np.full(grid.shape, Label.PARENCHYMA, np.uint8)
    label[10:14, 9:15, :] = Label.LARGE_VESSEL  # a 4 mm vessel between the needles, along z
    r = solve_ire(grid, SIGMA0, _pair(), IREProtocol(2500.0), label=label, thermal_model="none")
    vessel = label == Label.LARGE_VESSEL
    assert not r.killed[vessel].any()
    assert r.killed.any()
    blood = IRE["blood_sigma_S_per_m"].value
    assert np.all(r.sigma_S_per_m[0][vessel] == blood)
    # an array σ0 is used as given in the vessel
    s = np.full(grid.shape, SIGMA0)
    s[vessel] = 0.5
    r2 = solve_ire(grid, s, _pair(), IREProtocol(2500.0), label=label, thermal_model="none")
    assert np.all(r2.sigma_S_per_m[0][vessel] == 0.5) and not r2.killed[vessel].any()


def test_several_pairs_kill_the_union(grid):
    el = [IREElectrode((x, y, -5e-3), (0, 0, 1), 10e-3) for x, y in ((-5e-3, -3e-3), (5e-3, -3e-3), (0.0, 6e-3))]
    both = solve_ire(grid, SIGMA0, el, IREProtocol(1200.0), pairs=[(0, 1), (1, 2)], thermal_model="none")
    one = solve_ire(grid, SIGMA0, el, IREProtocol(1200.0), pairs=[(0, 1)], thermal_model="none")
    two = solve_ire(grid, SIGMA0, el, IREProtocol(1200.0), pairs=[(1, 2)], thermal_model="none")
    assert np.array_equal(both.killed, one.killed | two.killed)
    assert one.killed.sum() < both.killed.sum()
    assert both.phi_V.shape == (2, *grid.shape)
    default = solve_ire(grid, SIGMA0, el[:2], IREProtocol(1200.0), thermal_model="none")
    assert default.pairs == ((0, 1),)


# ------------------------------------------------------------------ heating


def test_adiabatic_heating_matches_joule_energy(grid):
    # α = 0 and one block: ΔT = n τ Q / (ρc) exactly
    m = ElectroporationConductivity(temp_coeff_per_K=0.0)
    p = IREProtocol(1500.0, 20, 100e-6, 1.0)
    r = solve_ire(grid, SIGMA0, _pair(), p, conductivity=m, thermal_blocks=1)
    from tissuefate.physics.ire import PairFieldSolver

    el = _pair()
    ps = PairFieldSolver(grid, el[0].masks(grid)[0], el[1].masks(grid)[0])
    f = ps.solve(np.where(r.electrode_mask, 0.0, SIGMA0), 1500.0, model=m, responsive=~r.electrode_mask)
    from tissuefate.tissue.properties import SPECIES

    rho_c = SPECIES["human"].density_kg_per_m3.value * SPECIES["human"].heat_capacity_J_per_kgK.value
    expected = f.joule_W_per_m3 * p.on_time_s / rho_c
    tissue = ~r.electrode_mask
    assert np.allclose(r.delta_T_K[tissue], expected[tissue], rtol=1e-6, atol=1e-9)
    # energy: heat deposited equals electrical energy (conservative Joule heating)
    heat = (r.delta_T_K * rho_c).sum() * grid.voxel_volume_m3
    assert heat == pytest.approx(r.energy_J, rel=1e-4)
    assert r.current_end_A[0] == pytest.approx(r.current_A[0])


def test_heating_raises_current_and_bioheat_stays_below_adiabatic(grid):
    p = IREProtocol(2000.0, 90, 100e-6, 1.0)
    ad = solve_ire(grid, SIGMA0, _pair(), p, thermal_model="adiabatic", thermal_blocks=3)
    bio = solve_ire(grid, SIGMA0, _pair(), p, thermal_model="bioheat", thermal_blocks=3, cooldown_s=30.0)
    assert ad.current_end_A[0] > ad.current_A[0]  # σ rises 1.2 %/K with the temperature
    assert 0.0 < bio.delta_T_max_K < ad.delta_T_max_K
    assert bio.thermal_volume_m3 <= ad.thermal_volume_m3
    assert np.array_equal(ad.killed, bio.killed)  # the kill field is the isothermal one


def test_thermal_flag_criterion(grid):
    cold = solve_ire(grid, SIGMA0, _pair(), IREProtocol(1000.0, 10, 100e-6, 1.0))
    assert not cold.thermal_flag and cold.thermal_volume_m3 == 0.0
    hot = solve_ire(grid, SIGMA0, _pair(), IREProtocol(3000.0, 200, 200e-6, 0.5), thermal_blocks=4)
    assert hot.thermal_flag
    assert hot.thermal_volume_m3 >= THERMAL_FLAG_FRACTION * hot.kill_volume_m3 > 0
    assert hot.delta_T_max_K > 30.0


def test_reference_case_runs_and_is_plausible():
    from tissuefate.physics.ire import ire_reference_case

    r = ire_reference_case(spacing_m=1e-3, box_m=(0.048, 0.04, 0.048), thermal_model="none")
    # the zone bridges the 15 mm gap and extends past the needles, but stays inside the box
    assert 15.0 < r["width_mm"] < 30.0 and 20.0 <= r["length_mm"] < 35.0 and 0 < r["depth_mm"] < r["width_mm"]
    assert 1.0 < r["volume_mL"] < 10.0 and not r["touches_box"]
    assert r["current_A"] > 0 and r["iterations"][0] < 30
