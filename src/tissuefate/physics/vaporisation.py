r"""Tissue water vaporisation at 100 °C: the temperature cap of the explicit bioheat scheme.

Energy deposited in a voxel already at the boiling temperature boils its water instead of heating
it. The dried fraction of a voxel is the vaporised energy over its latent-heat content,

.. math:: \partial_t d = \frac{\rho c\,(T^* - T_b)^+ / \Delta t}{w\,\rho\,L_v},
          \qquad T \leftarrow \min(T^*, T_b),

with water mass fraction ``w`` and latent heat ``L_v`` (``tissue.properties.WATER``). The
dried fraction is reported (an output for the fate model); it does not feed back into the RF
conductivity, which follows Berjano's temperature law (``physics.rf.rf_conductivity``). A
water-content feedback (σ × (1 − d(1 − f_d)) with rehydration) was tried and rejected in 0.1: at
1 mm voxels it made the delivered energy even more grid-dependent (docs/validation.md).

Simplifications: no vapour transport, no pressure, no tissue shrinkage; heat capacity is not
changed by the water lost (Haemmerich 2006 report ≈20 % water loss at 90 °C, not modelled).
"""

from __future__ import annotations

import numpy as np

from ..tissue.properties import WATER

__all__ = ["Vaporisation"]


class Vaporisation:
    """Boiling cap and dried fraction of a grid.

    Parameters
    ----------
    shape : tuple of int
    dtype : numpy dtype
    density_kg_per_m3 : float
        Tissue density used for the latent-heat content [kg/m³].

    Attributes
    ----------
    dried : ndarray
        Fraction of each voxel's water that has boiled off [1].
    vaporised_J_per_m3 : float
        Energy density sum that went into vaporisation (× voxel volume for joules).

    Examples
    --------
    >>> import numpy as np
    >>> v = Vaporisation((2, 2, 2), np.float64, 1060.0)
    >>> T = np.full((2, 2, 2), 380.0)
    >>> inv_rho_c = np.full((2, 2, 2), 1.0 / 3.8e6)
    >>> v.apply(T, inv_rho_c)
    >>> float(T.max()), 0 < float(v.dried.max()) < 0.02
    (373.15, True)
    """

    def __init__(self, shape, dtype, density_kg_per_m3: float):
        self.dried = np.zeros(shape, dtype=dtype)
        self.boil_K = WATER["boiling_temperature_K"].value
        self.latent_J_per_m3 = (WATER["mass_fraction"].value * density_kg_per_m3
                                * WATER["latent_heat_J_per_kg"].value)
        self.vaporised_J_per_m3 = 0.0

    def apply(self, T: np.ndarray, inv_rho_c: np.ndarray) -> None:
        """Cap ``T`` at the boiling point in place; the excess energy dries the voxels above it."""
        if float(T.max()) > self.boil_K:
            over = T > self.boil_K
            e = (T[over] - self.boil_K) / inv_rho_c[over]
            self.vaporised_J_per_m3 += float(e.sum(dtype=np.float64))
            self.dried[over] = np.minimum(self.dried[over] + e / self.latent_J_per_m3, 1.0)
            T[over] = self.boil_K
