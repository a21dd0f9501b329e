"""Named damage kinetics: the Eyring conversion, the lookup, and the choice reaching the session."""

import math

import numpy as np
import pytest

from tissuefate.errors import ConfigError
from tissuefate.physics.damage import DamageAccumulator, arrhenius_rate_per_s
from tissuefate.tissue.properties import (
    DAMAGE,
    DAMAGE_KINETICS,
    DEFAULT_DAMAGE_KINETICS,
    arrhenius_from_eyring,
    damage_kinetics,
)

R = 8.314462618


def _eyring(T, dH, dS):
    return 1.380649e-23 * T / 6.62607015e-34 * np.exp(dS / R - dH / (R * T))


def test_eyring_conversion_exact_at_reference_and_close_elsewhere():
    dH, dS = 2.768e5, 553.5
    A, Ea = arrhenius_from_eyring(dH, dS, T_ref_K=333.15)
    assert A * math.exp(-Ea / (R * 333.15)) == pytest.approx(_eyring(333.15, dH, dS), rel=1e-12)
    T = np.linspace(316.15, 373.15, 200)
    err = np.abs(A * np.exp(-Ea / (R * T)) / _eyring(T, dH, dS) - 1.0)
    assert err.max() < 0.01
    # ln(k_Arrhenius / k_Eyring) = -(ln x - 1 + 1/x), second order in x - 1 (x = T / T_ref)
    x = 373.15 / 333.15
    assert err[-1] == pytest.approx(1.0 - math.exp(-(math.log(x) - 1 + 1 / x)), rel=1e-9)


def test_eyring_rejects_nonsense():
    with pytest.raises(ConfigError, match="dH"):
        arrhenius_from_eyring(-1.0, 500.0)


def test_default_kinetics_is_the_damage_table():
    A, Ea = damage_kinetics()
    assert (A, Ea) == (DAMAGE["arrhenius_A_per_s"].value, DAMAGE["arrhenius_Ea_J_per_mol"].value)
    assert DEFAULT_DAMAGE_KINETICS in DAMAGE_KINETICS
    for name, d in DAMAGE_KINETICS.items():
        for p in d.values():
            assert p.source and p.tag, name
    with pytest.raises(ConfigError, match="damage_kinetics"):
        damage_kinetics("henriques")


def test_visible_coagulation_needs_a_hotter_boundary():
    """The 12-min Ω = 1 temperature: ~42 °C for comsol_liver, ~51 °C for the default."""
    def t_omega1_degC(name):
        A, Ea = damage_kinetics(name)
        return Ea / (R * math.log(A * 720.0)) - 273.15

    assert t_omega1_degC("comsol_liver") == pytest.approx(41.9, abs=0.3)
    assert t_omega1_degC("jacques1991_coagulation") == pytest.approx(51.1, abs=0.5)
    # literature.md §2: > 60 °C is near-instant coagulation; the default reaches Ω = 1 in < 1 min
    assert 1.0 / float(arrhenius_rate_per_s(273.15 + 60.0)) < 60.0


def test_accumulator_uses_the_given_kinetics():
    T = np.full((2, 2, 2), 273.15 + 55.0)
    out = {}
    for name in DAMAGE_KINETICS:
        A, Ea = damage_kinetics(name)
        acc = DamageAccumulator(T.shape, np.float64, "numpy", A_per_s=A, Ea_J_per_mol=Ea)
        for _ in range(60):
            acc.update(T, 1.0)
        out[name] = float(acc.omega.max())
        assert out[name] == pytest.approx(A * math.exp(-Ea / (R * T.flat[0])) * 60.0, rel=1e-9)
    assert out["comsol_liver"] > 10 * out["jacques1991_coagulation"]


def test_session_records_and_uses_the_chosen_kinetics():
    from tissuefate.api import simulate
    from tissuefate.config.scenario import scenario_from_dict

    zones = {}
    for name in ("comsol_liver", "jacques1991_coagulation"):
        scn = scenario_from_dict({
            "name": f"kin-{name}", "modality": "mwa",
            "tissue": {"species": "porcine", "damage_kinetics": name},
            "anatomy": {"kind": "block", "tumour_diameter_mm": 0},
            "grid": {"spacing_mm": 2.0, "roi_shape": [24, 24, 32]},
            "applicator": {"type": "mw_antenna", "frequency_MHz": 2450},
            "protocol": {"duration_min": 1, "power_W": 60},
        })
        r = simulate(scn)
        assert r.metrics is not None
        zones[name] = r.metrics["zones"]["omega_ge_1"]["volume_mL"]
    assert zones["comsol_liver"] > zones["jacques1991_coagulation"] > 0
