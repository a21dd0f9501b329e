"""Reference checks of the microwave source against hand-computed wave physics.

* attenuation of a plane wave from the complex wavenumber k = ω√(μ₀ε₀(ε_r − iσ/(ωε₀)));
* power penetration depths 1/(2α) of liver from Gabriel's values, computed by hand;
* the radial decay of the pattern in homogeneous tissue, exp(−2αρ)/ρ for a line source;
* the direction of the temperature feedback at both frequencies.
"""

from __future__ import annotations

import numpy as np
import pytest

from tissuefate.grid import Grid
from tissuefate.physics.microwave import (
    AntennaModel,
    MicrowaveSource,
    attenuation_per_m,
    dielectric_properties,
)

EPS0 = 8.8541878128e-12
MU0 = 4e-7 * np.pi
BODY_K = 310.15

pytestmark = pytest.mark.filterwarnings("ignore:MicrowaveSource:RuntimeWarning")


def alpha_complex(eps_r, sigma, f):
    w = 2 * np.pi * f
    k = w * np.sqrt(MU0 * (EPS0 * eps_r - 1j * sigma / w))
    return -k.imag


def test_attenuation_matches_complex_wavenumber():
    rng = np.random.default_rng(7)
    eps = rng.uniform(1.0, 80.0, 200)
    sig = rng.uniform(0.001, 5.0, 200)
    # rtol 1e-8: mu0 = 4 pi 1e-7 with CODATA eps0 leaves 1 - mu0 eps0 c^2 ~ 1e-10
    for f in (915e6, 2.45e9, 10e9):
        np.testing.assert_allclose(
            attenuation_per_m(eps, sig, f), alpha_complex(eps, sig, f), rtol=1e-8
        )
    a32 = attenuation_per_m(eps.astype(np.float32), sig.astype(np.float32), 2.45e9)
    np.testing.assert_allclose(a32, alpha_complex(eps, sig, 2.45e9), rtol=1e-5)


@pytest.mark.parametrize(
    "f, eps_r, sigma, depth_mm",
    # hand-computed: 915 MHz, x = σ/(ωε) = 0.3617, α = (ω/c)√(ε_r/2)√(√(1+x²)−1) = 23.35 1/m;
    # 2.45 GHz, x = 0.2882, α = 48.04 1/m.
    [(915e6, 46.76, 0.861, 21.41), (2.45e9, 43.03, 1.69, 10.41)],
)
def test_penetration_depth_of_liver(f, eps_r, sigma, depth_mm):
    e, s = dielectric_properties(BODY_K, f)
    assert float(e) == pytest.approx(eps_r) and float(s) == pytest.approx(sigma)
    depth = 1e3 / (2 * float(attenuation_per_m(e, s, f)))
    assert depth == pytest.approx(depth_mm, abs=0.01)


def test_2450MHz_attenuation_of_dehydrated_tissue():
    """Ji & Brace sigmoids rescaled to Gabriel at 37 °C, evaluated by hand at 100 °C."""

    def s(T, a2, a3):
        return 1 - 1 / (1 + np.exp(a2 - a3 * T))

    eps = 1 + (43.03 - 1) * s(100, 5.223, 0.0764) / s(37, 5.223, 0.0764)
    sig = 0.0114 + (1.69 - 0.0114) * s(100, 5.951, 0.0697) / s(37, 5.951, 0.0697)
    e, g = dielectric_properties(373.15, 2.45e9)
    assert float(e) == pytest.approx(eps, rel=1e-9) and float(g) == pytest.approx(sig, rel=1e-9)
    ratio = alpha_complex(eps, sig, 2.45e9) / alpha_complex(43.03, 1.69, 2.45e9)
    assert ratio == pytest.approx(0.802, abs=0.002)  # 38.5 vs 48.0 1/m: deeper penetration
    a = attenuation_per_m(*dielectric_properties(np.array([310.15, 373.15]), 2.45e9), 2.45e9)
    assert float(a[1] / a[0]) == pytest.approx(ratio, rel=1e-9)


def _slot_plane_profile(f, beam_spread=None, T=None):
    """Q along +x in the slot plane (antenna along z through voxel centres), 1 mm voxels."""
    g = Grid((81, 5, 41), (1e-3,) * 3, (-0.040, -0.002, -0.020))
    m = AntennaModel.default("dual-slot", f)
    if beam_spread is not None:
        m = m.with_values(beam_spread=beam_spread)
    us = m.slot_distance_m.value
    tip = (0.0, 0.0, -round(us * 1e3) * 1e-3)  # slot on the z = 0 voxel plane
    src = MicrowaveSource(g, tip, (0, 0, 1), m, 40.0)
    temp = np.full(g.shape, BODY_K) if T is None else T(g)
    q = src.heating_W_per_m3(temp)
    rho = g.axis_m(0)[40:]
    return rho, q[40:, 2, 20]


@pytest.mark.parametrize("f", [915e6, 2.45e9])
def test_line_source_decays_as_exp_over_rho(f):
    """beam_spread = 0: Q ∝ exp(−2αρ)/ρ beyond ρ_min in homogeneous tissue."""
    rho, q = _slot_plane_profile(f, beam_spread=0.0)
    e, s = dielectric_properties(BODY_K, f)
    alpha = float(attenuation_per_m(e, s, f))
    sel = (rho >= 2e-3) & (rho <= 35e-3)
    slope = np.polyfit(rho[sel], np.log(q[sel] * rho[sel]), 1)[0]
    assert slope == pytest.approx(-2 * alpha, rel=1e-3)


def test_915MHz_reaches_deeper_than_2450MHz():
    reach = {}
    for f in (915e6, 2.45e9):
        rho, q = _slot_plane_profile(f)
        # radius where the radial power flux density per unit length, Q ρ / α, falls to 5 %
        flux = q * np.maximum(rho, 1e-3)
        reach[f] = float(rho[np.argmax(flux < 0.05 * flux[1:].max())])
    assert reach[915e6] > 1.5 * reach[2.45e9]


def _fraction_beyond(f, hot_K, radius=0.012):
    """Fraction of the absorbed power deposited beyond ``radius`` of the axis when tissue within
    8 mm of the axis is at ``hot_K``."""
    g = Grid.cube(61, 1e-3)
    m = AntennaModel.default("dual-slot", f)
    src = MicrowaveSource(g, (0, 0, -m.slot_distance_m.value), (0, 0, 1), m, 60.0)
    x, y, _ = g.coordinates_m()
    rho = np.broadcast_to(np.sqrt(x**2 + y**2), g.shape)
    T = np.where(rho <= 0.008, hot_K, BODY_K)
    q = src.heating_W_per_m3(T)
    return float(q[rho > radius].sum() / q.sum())


def test_heating_extends_reach_at_2450MHz():
    """Ji & Brace: dehydrated tissue (~100 °C) absorbs less, so more power passes through."""
    cold, hot = _fraction_beyond(2.45e9, BODY_K), _fraction_beyond(2.45e9, 373.15)
    assert hot > 1.1 * cold  # 0.288 -> 0.336: through 8 mm at alpha 48 -> 38.5 1/m


def test_heating_shortens_reach_at_915MHz():
    """Chin & Sherar: σ rises 1.82 %/°C up to 60 °C, so the heated core absorbs more."""
    cold, hot = _fraction_beyond(915e6, BODY_K), _fraction_beyond(915e6, 333.15)
    assert hot < 0.9 * cold  # 0.446 -> 0.368
