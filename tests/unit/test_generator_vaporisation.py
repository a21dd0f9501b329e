"""RF generator control and the boiling cap."""

import numpy as np
import pytest

from tissuefate.errors import ConfigError
from tissuefate.physics.vaporisation import Vaporisation
from tissuefate.therapy.generator import RFGenerator
from tissuefate.tissue.properties import WATER


def test_power_mode_delivers_set_power_within_current_limit():
    g = RFGenerator("power", 50.0, max_current_A=2.0)
    v = g.voltage_V(0.0, 1.0, 80.0)
    assert v * v / 80.0 == pytest.approx(50.0)
    # at 5 ohm the 2 A limit binds: P = I^2 Z = 20 W
    v = g.voltage_V(1.0, 1.0, 5.0)
    assert v / 5.0 == pytest.approx(2.0)


def test_impedance_mode_ramps_then_rolls_off_and_pauses():
    g = RFGenerator("impedance", 200.0, ramp_W_per_s=10.0, impedance_rise_ohm=10.0, pulse_off_s=15.0,
                    start_power_W=20.0)
    p = [g.voltage_V(t, 1.0, 60.0) ** 2 / 60.0 for t in range(5)]
    assert p == sorted(p) and p[-1] > p[0]
    assert g.voltage_V(5.0, 1.0, 75.0) == 0.0 and g.rolloffs == 1
    assert not g.is_on(10.0) and g.voltage_V(10.0, 1.0, 60.0) == 0.0
    assert g.is_on(20.5) and g.voltage_V(20.5, 1.0, 60.0) > 0.0


@pytest.mark.parametrize("mode, power", [("voltage", 10.0), ("power", -1.0), ("power", 1000.0)])
def test_bad_generator_settings(mode, power):
    with pytest.raises(ConfigError):
        RFGenerator(mode, power)


def test_boiling_cap_conserves_energy():
    rho_c = 3.8e6
    v = Vaporisation((3, 3, 3), np.float64, 1060.0)
    T = np.full((3, 3, 3), 370.0)
    T[1, 1, 1] = 400.0
    inv = np.full(T.shape, 1.0 / rho_c)
    v.apply(T, inv)
    assert T.max() == pytest.approx(373.15)
    excess = (400.0 - 373.15) * rho_c
    assert v.vaporised_J_per_m3 == pytest.approx(excess)
    latent = WATER["mass_fraction"].value * 1060.0 * WATER["latent_heat_J_per_kg"].value
    assert v.dried[1, 1, 1] == pytest.approx(excess / latent)
    assert v.dried.sum() == pytest.approx(v.dried[1, 1, 1])


@pytest.mark.parametrize("backend", [None, "numpy"])
def test_boiling_cap_in_a_box_caps_only_there(backend):
    """Vaporisation.apply_in (the cap after a source switch next to an RF electrode) equals the
    whole-grid cap inside its box and leaves the rest of the grid alone."""
    rng = np.random.default_rng(3)
    T0 = (365.0 + 20.0 * rng.random((8, 9, 10))).astype(np.float32)
    inv = np.full(T0.shape, 1.0 / 3.8e6, np.float32)
    box = (slice(2, 6), slice(1, 8), slice(3, 9))
    whole, part = (Vaporisation(T0.shape, np.float32, 1060.0, backend=backend) for _ in range(2))
    Tw, Tp = T0.copy(), T0.copy()
    whole.apply(Tw, inv)
    part.apply_in(Tp, inv, box)
    np.testing.assert_array_equal(Tp[box], Tw[box])
    np.testing.assert_array_equal(part.dried[box], whole.dried[box])
    outside = np.ones(T0.shape, bool)
    outside[box] = False
    np.testing.assert_array_equal(Tp[outside], T0[outside])
    assert not part.dried[outside].any() and (T0[outside] > 373.15).any()
    inside = (T0[box] - 373.15).clip(min=0).astype(np.float64).sum() * 3.8e6
    assert part.vaporised_J_per_m3 == pytest.approx(inside, rel=1e-5)



def test_dried_voxels_rehydrate_wherever_they_were_dried():
    """The numba cap tests for rehydration only where something is dried (the flat range that
    apply and apply_in keep). A sequence that dries voxels at both ends of a 64³ region — one by
    the whole-grid cap, one in a box after it — then cools everything gives the NumPy reference's
    dried fraction at every stage, and the cooled voxels are all wet again. (Without apply_in
    widening the range, the second voxel stays dried.)"""
    shape = (64, 64, 64)
    inv = np.full(shape, 1.0 / 3.8e6, np.float32)
    hot_a, hot_b = (3, 5, 7), (60, 58, 61)
    box = (slice(56, 64), slice(54, 62), slice(57, 64))
    runs = {}
    for backend in (None, "numpy"):
        v = Vaporisation(shape, np.float32, 1060.0, backend=backend)
        T = np.full(shape, 310.0, np.float32)
        T[hot_a] = 390.0
        v.apply(T, inv, rehydrate_below_K=372.15)
        T[hot_b] = 385.0
        v.apply_in(T, inv, box)
        stages = [v.dried.copy()]
        T[hot_a] = T[hot_b] = 360.0
        v.apply(T, inv, rehydrate_below_K=372.15)
        stages.append(v.dried.copy())
        runs[backend] = stages
    for got, ref in zip(runs[None], runs["numpy"], strict=True):
        np.testing.assert_array_equal(got, ref)
    assert runs[None][0][hot_a] > 0 and runs[None][0][hot_b] > 0
    assert not runs[None][1].any()

def _ramped(**kw):
    g = RFGenerator("impedance", 200.0, impedance_rise_ohm=10.0, pulse_off_s=15.0, **kw)
    g.voltage_V(0.0, 1.0, 60.0)  # first power: baseline 60 ohm, threshold 70 ohm
    return g


def test_roll_off_located_inside_a_step_at_the_first_crossing_above_threshold():
    g = _ramped()
    assert g.rolloff_threshold_ohm == pytest.approx(70.0)
    level = g._level_W
    # during the step [10, 11] s the impedance rises 65 -> 68 at 0.2, -> 75 at 0.6, -> 85 at 1
    theta = g.roll_off_within(10.0, 1.0, [0.2, 0.6, 1.0], [68.0, 75.0, 85.0])
    assert theta == pytest.approx(0.6)
    assert g.rolloffs == 1 and g._level_W == pytest.approx(max(0.9 * level, 20.0))
    # the pause runs from the crossing, 10.6 s, for 15 s
    assert not g.is_on(25.55) and g.is_on(25.6)
    # the next step sees the pause and does not roll off a second time
    assert g.voltage_V(11.0, 1.0, 85.0) == 0.0 and g.rolloffs == 1


@pytest.mark.parametrize("fr, z", [([1.0], [69.0]), ([0.5, 1.0], [65.0, 60.0]), ([], [])])
def test_no_roll_off_when_the_threshold_is_not_crossed(fr, z):
    g = _ramped()
    assert g.roll_off_within(10.0, 1.0, fr, z) == 1.0
    assert g.rolloffs == 0 and g.is_on(11.0)


def test_roll_off_within_is_inert_in_power_mode_and_before_first_power():
    g = RFGenerator("power", 50.0)
    g.voltage_V(0.0, 1.0, 60.0)
    assert g.roll_off_within(1.0, 1.0, [1.0], [500.0]) == 1.0 and g.rolloffs == 0
    g = RFGenerator("impedance", 200.0)  # no baseline yet: nothing to compare with
    assert g.roll_off_within(0.0, 1.0, [1.0], [500.0]) == 1.0 and g.rolloffs == 0
    g = _ramped()  # an open circuit at the start of the step rolls off there
    assert g.roll_off_within(3.0, 1.0, [0.0, 1.0], [np.inf, np.inf]) == 0.0 and g.rolloffs == 1


@pytest.mark.parametrize("fr, z", [([0.5, 0.2], [60.0, 80.0]), ([1.5], [80.0]), ([0.5], [60.0, 80.0])])
def test_roll_off_within_rejects_a_malformed_path(fr, z):
    with pytest.raises(ValueError):
        _ramped().roll_off_within(1.0, 1.0, fr, z)


def test_pause_ending_inside_a_step_gives_the_mean_power():
    g = _ramped(ramp_W_per_s=0.0)
    level = g._level_W
    g.voltage_V(1.0, 1.0, 75.0)  # roll-off at 1 s: paused until 16 s
    level = g._level_W
    assert g.voltage_V(14.5, 1.0, 60.0) == 0.0  # the step [14.5, 15.5] lies inside the pause
    assert not g.is_on_during(14.5, 1.0) and g.is_on_during(15.5, 1.0)
    # the step [15.5, 16.5] is powered for its second half only
    v = g.voltage_V(15.5, 1.0, 60.0)
    assert v * v / 60.0 == pytest.approx(0.5 * level)
    v = g.voltage_V(16.5, 1.0, 60.0)
    assert v * v / 60.0 == pytest.approx(level)


def test_restart_fraction_sets_the_level_after_a_roll_off():
    for frac in (0.5, 1.0):
        g = _ramped(restart_fraction=frac, ramp_W_per_s=0.0, start_power_W=10.0)
        g._level_W = 100.0
        g.voltage_V(1.0, 1.0, 75.0)  # roll-off
        assert g._level_W == pytest.approx(100.0 * frac)
    with pytest.raises(ConfigError):
        RFGenerator("impedance", 200.0, restart_fraction=0.0)


@pytest.mark.parametrize("dt", [1.0, 0.25, 0.05])
def test_ramp_energy_does_not_depend_on_the_step(dt):
    """Each step delivers the mean of the ramp over it: the energy of 20 s of a 20 W + 2 W/s ramp
    at a constant 60 Ω is the exact 800 J at any step (at the step's end power, 1-s steps gave
    820 J: a first-order error the RFA time-step study saw)."""
    g = RFGenerator("impedance", 200.0, ramp_W_per_s=2.0, start_power_W=20.0)
    n = round(20.0 / dt)
    e = sum(g.voltage_V(i * dt, dt, 60.0) ** 2 / 60.0 * dt for i in range(n))
    assert e == pytest.approx(20.0 * 20.0 + 0.5 * 2.0 * 20.0**2, rel=1e-9)


def test_ramp_mean_stops_at_the_maximum_power():
    g = RFGenerator("impedance", 30.0, ramp_W_per_s=2.0, start_power_W=20.0)
    # 20 → 30 W takes 5 s: over a 10-s step the mean is (5 × 25 + 5 × 30) / 10 = 27.5 W
    v = g.voltage_V(0.0, 10.0, 50.0)
    assert v * v / 50.0 == pytest.approx(27.5)
    assert g.voltage_V(10.0, 1.0, 50.0) ** 2 / 50.0 == pytest.approx(30.0)


def test_roll_off_inside_a_step_restarts_from_the_level_reached_there():
    def ramped():
        g = RFGenerator("impedance", 200.0, ramp_W_per_s=2.0, start_power_W=20.0, restart_fraction=0.9)
        for i in range(20):                 # baseline 60 Ω; the level ramps 20 → 60 W
            g.voltage_V(float(i), 1.0, 60.0)
        g.voltage_V(20.0, 1.0, 60.0)        # 60 → 62 W in this step
        return g

    g = ramped()
    assert g.roll_off_within(20.0, 1.0, [0.5, 1.0], [60.0, 80.0]) == 1.0  # above only at the end
    g = ramped()
    assert g.roll_off_within(20.0, 1.0, [0.5, 1.0], [80.0, 80.0]) == 0.5
    # the level at the roll-off was 61 W (not the step's end, 62 W): it resumes at 0.9 × 61 W
    assert g.voltage_V(40.0, 1.0, 60.0) ** 2 / 60.0 == pytest.approx(0.9 * 61.0 + 1.0, rel=1e-9)
