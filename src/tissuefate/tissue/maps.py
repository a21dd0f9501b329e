"""Per-voxel property maps derived from the tissue state.

Damage, scar and microvascular integrity feed back into the physics here, so that a second
session in treated tissue behaves differently from the first.
"""

from __future__ import annotations

import numpy as np

from .labels import Label
from .properties import BLOOD, SCAR_FACTORS, MaterialTable
from .state import TissueState

__all__ = ["ThermalMaps", "thermal_maps", "rf_conductivity_map", "perfusion_map"]


class ThermalMaps:
    """Arrays the bioheat kernels read, all on the state's grid (dtype of the state).

    Attributes
    ----------
    conductivity_W_per_mK : ndarray
    inv_rho_c : ndarray
        1 / (ρ c) [m³·K/J].
    perfusion_coeff_per_s : ndarray
        ω_b ρ_b c_b / (ρ c) [1/s] with microvascular integrity and scar applied; multiply by the
        damage-dependent shutdown factor during a session.
    """

    def __init__(self, conductivity_W_per_mK, inv_rho_c, perfusion_coeff_per_s):
        self.conductivity_W_per_mK = conductivity_W_per_mK
        self.inv_rho_c = inv_rho_c
        self.perfusion_coeff_per_s = perfusion_coeff_per_s


def perfusion_map(state: TissueState, table: MaterialTable) -> np.ndarray:
    """Volumetric perfusion ω_b [1/s] per voxel: label value × microvascular integrity,
    scar blended in with its (low) perfusion."""
    w = table.perfusion_per_s[state.label].astype(state.dtype)
    w *= state.vascular
    scar_w = SCAR_FACTORS["perfusion"].value
    w *= (1.0 - state.scar) + state.scar * scar_w
    return w


def thermal_maps(state: TissueState, table: MaterialTable) -> ThermalMaps:
    """Property maps for the Pennes equation on ``state``."""
    dt = state.dtype
    lab = state.label
    k = table.thermal_conductivity_W_per_mK[lab].astype(dt)
    rho_c = (table.density_kg_per_m3 * table.heat_capacity_J_per_kgK)[lab].astype(dt)
    inv = (1.0 / rho_c).astype(dt)
    blood = BLOOD["density_kg_per_m3"].value * BLOOD["heat_capacity_J_per_kgK"].value
    perf = (perfusion_map(state, table) * blood * inv).astype(dt)
    return ThermalMaps(k, inv, perf)


def rf_conductivity_map(state: TissueState, table: MaterialTable) -> np.ndarray:
    """RF electrical conductivity at 37 °C [S/m] per voxel (before temperature dependence)."""
    sig = table.rf_conductivity_S_per_m[state.label].astype(state.dtype)
    f = SCAR_FACTORS["rf_conductivity"].value
    sig *= (1.0 - state.scar) + state.scar * f
    sig[state.label == Label.APPLICATOR] = 0.0
    return sig
