"""Verification of the damage integrals at constant temperature, and of survival and TCP."""

from __future__ import annotations

import numpy as np
import pytest

from tissuefate.backends.numpy_kernels import GAS_CONSTANT_J_PER_MOL_K as R
from tissuefate.physics.damage import (
    OMEGA_COAGULATION,
    OMEGA_COMPLETE,
    DamageAccumulator,
    perfusion_shutdown_factor,
    survival_fraction,
    surviving_clonogens,
    tumour_control_probability,
)
from tissuefate.tissue.properties import CELLS, DAMAGE

A = DAMAGE["arrhenius_A_per_s"].value
EA = DAMAGE["arrhenius_Ea_J_per_mol"].value


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_arrhenius_and_cem43_at_constant_temperature(backend):
    """Ω = A e^{−Ea/RT} t and CEM43 = t/60 · R^{43−T}, float64, to rounding of the sum.

    Voxels at 37, 40, 43, 50, 60 °C: Ω only above the 43 °C threshold; CEM43 with R = 0.25
    below 43 °C, 0.5 at and above it; nothing at or below 37 °C (the documented floor).
    """
    T_C = np.array([37.0, 40.0, 43.0, 50.0, 60.0])
    T = np.broadcast_to((T_C + 273.15)[:, None, None], (5, 2, 2)).copy()
    acc = DamageAccumulator(T.shape, np.float64, backend)
    dt, n = 0.5, 240
    for _ in range(n):
        acc.update(T, dt)
    t = dt * n
    omega = np.where(T_C > 43.0, A * np.exp(-EA / (R * (T_C + 273.15))) * t, 0.0)
    base = np.where(T_C >= 43.0, 0.5, 0.25)
    cem = np.where(T_C > 37.0, t / 60.0 * base ** (43.0 - T_C), 0.0)
    np.testing.assert_allclose(acc.omega[:, 0, 0], omega, rtol=1e-12, atol=0)
    np.testing.assert_allclose(acc.cem43_min[:, 0, 0], cem, rtol=1e-12, atol=0)
    np.testing.assert_array_equal(acc.peak_K[:, 0, 0], T_C + 273.15)
    # 2 minutes at 43 °C is 2 CEM43 minutes; at 50 °C, 2 × 2^7
    assert acc.cem43_min[2, 0, 0] == pytest.approx(2.0, rel=1e-12)
    assert acc.cem43_min[3, 0, 0] == pytest.approx(256.0, rel=1e-12)


def test_float32_accumulation_close_to_exact():
    """float32 fields accumulate the same integrals to ≈ 1e-5 (exponent from float32 T in K)."""
    T = np.full((4, 4, 4), np.float32(273.15 + 55.0))
    acc = DamageAccumulator(T.shape, np.float32)
    for _ in range(100):
        acc.update(T, 0.1)
    exact = A * np.exp(-EA / (R * float(T[0, 0, 0]))) * 10.0
    assert float(acc.omega[0, 0, 0]) == pytest.approx(exact, rel=1e-5)


def test_thresholds_and_survival():
    assert OMEGA_COAGULATION == 1.0 and OMEGA_COMPLETE == 4.6
    s = survival_fraction(np.array([0.0, OMEGA_COAGULATION, OMEGA_COMPLETE]))
    np.testing.assert_allclose(s, [1.0, np.exp(-1.0), 0.01], rtol=1e-2)  # e^-4.6 = 0.01005
    assert perfusion_shutdown_factor(0.0) == 1.0
    np.testing.assert_allclose(perfusion_shutdown_factor(np.array([1.0, 10.0])),
                               np.exp([-1.0, -10.0]))


def test_clonogens_and_tumour_control_probability():
    """N = f · n_cells · V · φ · e^{−Ω}; TCP = exp(−ΣN), with CELLS defaults."""
    V = 1e-9  # 1 mm³
    per_voxel = CELLS["tumour_cells_per_m3"].value * V * CELLS["clonogenic_fraction"].value
    f = np.array([1.0, 0.5, 0.0])
    omega = np.array([20.0, 25.0, 0.0])
    n = surviving_clonogens(f, omega, V)
    np.testing.assert_allclose(n, f * per_voxel * np.exp(-omega), rtol=1e-12)
    tcp = tumour_control_probability(n)
    assert tcp == pytest.approx(np.exp(-n.sum()), rel=1e-12)
    # an untreated voxel of tumour is never controlled; a heavily ablated one almost surely
    assert tumour_control_probability(surviving_clonogens(np.ones(1), np.zeros(1), V)) == 0.0
    assert tumour_control_probability(surviving_clonogens(np.ones(1), np.full(1, 30.0), V)) > 0.99
