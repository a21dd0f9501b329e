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
