r"""Tissue water vaporisation at 100 °C: the temperature cap of the explicit bioheat scheme.

Energy deposited in a voxel already at the boiling temperature boils its water instead of heating
it. The dried fraction of a voxel is the vaporised energy over its latent-heat content,

.. math:: \partial_t d = \frac{\rho c\,(T^* - T_b)^+ / \Delta t}{w\,\rho\,L_v},
          \qquad T \leftarrow \min(T^*, T_b),

with water mass fraction ``w`` and latent heat ``L_v`` (``tissue.properties.WATER``). By default
the dried fraction does not feed back into the RF conductivity, which follows Berjano's temperature
law (σ collapses at 99 °C, ``physics.rf_conductivity``). Under the ``"vaporised"`` desiccation law
(``tissue.rf_desiccation``) σ collapses only where the water has boiled off (d = 1, or the
fraction ``tissue.rf_desiccation_boiled_fraction``), and
:meth:`Vaporisation.rehydrate` resets d where the tissue has cooled below 99 °C: the latent heat
then delays the collapse, as in the enthalpy formulation of finite-element RF models, which also
let tissue rehydrate on cooling. A linear water-content feedback (σ × (1 − d(1 − f_d)) with
rehydration) was tried and rejected in 0.1: at 1 mm voxels it made the delivered energy even more
grid-dependent (docs/validation.md).

Simplifications: no vapour transport, no pressure, no tissue shrinkage; heat capacity is not
changed by the water lost (Haemmerich 2006 report ≈20 % water loss at 90 °C, not modelled).
"""

from __future__ import annotations

import numpy as np

from ..backends.numpy_kernels import widen_range
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
    backend : str, optional
        ``"cupy"`` keeps :attr:`dried` on the GPU and caps CuPy temperature arrays with the
        backend kernel ``boiling_cap`` (one pass, no host synchronisation); any other value works
        on NumPy arrays, with the numba kernel ``boiling_cap`` (the default) or, for ``"numpy"``,
        its NumPy reference.

    Attributes
    ----------
    dried : ndarray
        Fraction of each voxel's water that has boiled off [1] (a CuPy array with ``backend="cupy"``).
        Read it freely; write it only through the methods, which keep track of where it is non-zero.
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

    def __init__(self, shape, dtype, density_kg_per_m3: float, backend: str | None = None):
        self.boil_K = WATER["boiling_temperature_K"].value
        self.latent_J_per_m3 = (WATER["mass_fraction"].value * density_kg_per_m3
                                * WATER["latent_heat_J_per_kg"].value)
        self._vaporised = 0.0  # host sum; on the device the kernel adds into _device_sum
        self._device_sum = None
        if backend == "cupy":
            import cupy

            from ..backends import get_kernel

            self._cap = get_kernel("boiling_cap", "cupy")
            self.dried = cupy.zeros(shape, dtype=dtype)
            self._device_sum = cupy.zeros(1, dtype=np.float64)
        else:
            from ..backends import get_kernel

            # numba by default; the NumPy reference with backend="numpy" (the sessions' test oracle)
            self._cpu_cap = get_kernel("boiling_cap", "numpy" if backend == "numpy" else "numba")
            self.dried = np.zeros(shape, dtype=dtype)
        # flat (C-order) indices [start, stop) outside which ``dried`` is zero: the caps widen it,
        # and the numba cap skips the rehydration test outside it (empty at the start)
        self._dried_range = np.zeros(2, dtype=np.int64)

    @property
    def vaporised_J_per_m3(self) -> float:
        """Energy density summed over the voxels that went into vaporisation [J/m³]."""
        if self._device_sum is not None:
            return float(self._device_sum[0])  # one device-to-host copy
        return self._vaporised

    def apply(self, T, inv_rho_c, rehydrate_below_K: float | None = None) -> None:
        """Cap ``T`` at the boiling point in place; the excess energy dries the voxels above it.

        With ``rehydrate_below_K`` the dried fraction is then reset to 0 where ``T`` is below it
        (:meth:`rehydrate`; on the CPU in the same pass, ``backends.*.boiling_cap``). ``T`` and
        ``inv_rho_c`` [m³ K/J] are NumPy arrays, or with ``backend="cupy"`` C-contiguous CuPy
        arrays of the dtype of :attr:`dried`.
        """
        if self._device_sum is not None:
            self._cap(T, self.dried, inv_rho_c, self._device_sum, self.boil_K, self.latent_J_per_m3)
            if rehydrate_below_K is not None:
                self.rehydrate(T, rehydrate_below_K)
            return
        below = -np.inf if rehydrate_below_K is None else rehydrate_below_K
        self._vaporised += self._cpu_cap(T, self.dried, inv_rho_c, self.boil_K, self.latent_J_per_m3, below,
                                         self._dried_range)

    def apply_in(self, T, inv_rho_c, box) -> None:
        """:meth:`apply` (without rehydration) in ``box`` (three slices) only: where heat was added
        after a whole-grid cap. On the GPU the whole grid is capped (one kernel launch)."""
        if self._device_sum is not None:
            self.apply(T, inv_rho_c)
            return
        Tb = np.ascontiguousarray(T[box])
        db = np.ascontiguousarray(self.dried[box])
        self._vaporised += self._cpu_cap(Tb, db, np.ascontiguousarray(inv_rho_c[box]), self.boil_K,
                                         self.latent_J_per_m3, -np.inf)
        T[box] = Tb
        self.dried[box] = db
        if db.any():  # the box's first and last voxel bound its flat indices
            shape = self.dried.shape
            first = np.ravel_multi_index(tuple(sl.indices(n)[0] for sl, n in zip(box, shape, strict=True)), shape)
            last = np.ravel_multi_index(tuple(sl.indices(n)[1] - 1 for sl, n in zip(box, shape, strict=True)), shape)
            widen_range(self._dried_range, int(first), int(last) + 1)

    def rehydrate(self, T, below_K: float) -> None:
        """Reset the dried fraction to 0 where ``T`` is below ``below_K`` (NumPy or CuPy, like
        :attr:`dried`): tissue that cooled off the boiling point counts as wet again."""
        self.dried[T < below_K] = 0
