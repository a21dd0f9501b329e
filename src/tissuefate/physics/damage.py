r"""Thermal damage: Arrhenius integral, CEM43, peak temperature, cell survival and tumour control.

Every number comes from :data:`tissuefate.tissue.properties.DAMAGE` and
:data:`~tissuefate.tissue.properties.CELLS` (with its source and evidence tag); this module holds
only equations. The hot per-step update is the fused ``arrhenius_step`` kernel of the backend
registry.

Ω thresholds (DAMAGE): Ω = 1 marks coagulation (63 % cell death), Ω = 4.6 complete kill (99 %).
"""

from __future__ import annotations

import numpy as np

from ..backends import get_kernel
from ..backends.arrays import array_module as _array_module
from ..backends.arrays import backend_module as _xp
from ..backends.numpy_kernels import CEM43_FLOOR_K, GAS_CONSTANT_J_PER_MOL_K
from ..backends.registry import default_backend
from ..errors import ConfigError
from ..tissue.properties import CELLS, DAMAGE

__all__ = [
    "GAS_CONSTANT_J_PER_MOL_K",
    "OMEGA_COAGULATION",
    "OMEGA_COMPLETE",
    "DamageAccumulator",
    "arrhenius_rate_per_s",
    "survival_fraction",
    "perfusion_shutdown_factor",
    "surviving_clonogens",
    "tumour_control_probability",
]

#: Ω at which 63 % of cells are dead (coagulation isodamage contour) [1].
OMEGA_COAGULATION = DAMAGE["omega_coagulation"].value
#: Ω at which 99 % of cells are dead [1].
OMEGA_COMPLETE = DAMAGE["omega_complete"].value


def arrhenius_rate_per_s(T_K, A_per_s=None, Ea_J_per_mol=None):
    r"""Arrhenius damage rate dΩ/dt [1/s] at temperature ``T_K`` (no threshold applied).

    Parameters
    ----------
    T_K : float or ndarray
        Temperature [K].
    A_per_s, Ea_J_per_mol : float, optional
        Frequency factor [1/s] and activation energy [J/mol]; default the values of ``DAMAGE``
        (the default set of :data:`~tissuefate.tissue.properties.DAMAGE_KINETICS`).

    Notes
    -----
    .. math:: \dot\Omega = A\,\exp\!\left(-\frac{E_a}{R\,T}\right)

    evaluated as exp(ln A − E_a/(RT)) in float64.

    Examples
    --------
    >>> round(float(arrhenius_rate_per_s(273.15 + 60.0)), 4)  # Ω = 1 in ≈ 44 s at 60 °C
    0.0226
    >>> round(float(arrhenius_rate_per_s(273.15 + 60.0, 7.39e39, 2.577e5)), 4)  # comsol_liver: ≈ 3.4 s
    0.2915
    """
    A = DAMAGE["arrhenius_A_per_s"].value if A_per_s is None else float(A_per_s)
    Ea = DAMAGE["arrhenius_Ea_J_per_mol"].value if Ea_J_per_mol is None else float(Ea_J_per_mol)
    T = np.asarray(T_K, dtype=np.float64)
    return np.exp(np.log(A) - Ea / (GAS_CONSTANT_J_PER_MOL_K * T))


class DamageAccumulator:
    r"""Per-voxel damage integrals over a session, updated once per time step.

    Parameters
    ----------
    shape : tuple of int
        Grid shape (x, y, z).
    dtype : dtype
        Array dtype (float32 default).
    backend : str, optional
        Kernel backend (default: the registry's default); ``cupy`` keeps the arrays on the GPU.
    A_per_s, Ea_J_per_mol, threshold_K : float, optional
        Overrides of the Arrhenius frequency factor [1/s], activation energy [J/mol] and the
        temperature below which Ω is not integrated [K]; defaults from ``DAMAGE``.
    initial_K : float, optional
        Starting value of ``peak_K`` [K] (default 0 K: set by the first update).

    Attributes
    ----------
    omega : ndarray
        Arrhenius damage integral Ω [1].
    cem43_min : ndarray
        Cumulative equivalent minutes at 43 °C [min].
    peak_K : ndarray
        Peak temperature [K].

    Notes
    -----
    .. math::
        \Omega = \int_{T > T_{thr}} A\,e^{-E_a/(RT)}\,dt,\qquad
        \mathrm{CEM43} = \int R_{43}^{\,43 - T[°C]}\,\frac{dt}{60},\quad
        R_{43} = 0.5\ (T \ge 43 °C),\ 0.25\ (T < 43 °C)

    Ω is integrated only above ``threshold_K`` (43 °C, ``DAMAGE["arrhenius_threshold_K"]``):
    below it the single-term Arrhenius model is invalid and would kill normothermic tissue
    within hours (Pearce 2015). CEM43 is accumulated everywhere above 39 °C; at or below 39 °C
    the increment is at most 0.25⁴·dt/60 min and is skipped (see
    :data:`tissuefate.backends.numpy_kernels.CEM43_FLOOR_K`). All three fields are
    non-decreasing in time.

    Examples
    --------
    >>> acc = DamageAccumulator((2, 2, 2), np.float64, "numpy")
    >>> T = np.full((2, 2, 2), 273.15 + 55.0)
    >>> for _ in range(60):                      # one minute at 55 °C
    ...     acc.update(T, 1.0)
    >>> round(float(acc.omega.max()), 2), round(float(acc.cem43_min.max()), 1)  # CEM43 = 2^12
    (0.29, 4096.0)
    """

    def __init__(self, shape, dtype=np.float32, backend=None, *, A_per_s=None, Ea_J_per_mol=None,
                 threshold_K=None, initial_K=None):
        self.backend = backend or default_backend()
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise ConfigError(f"dtype = {self.dtype}: must be float32 or float64")
        xp = _xp(self.backend)
        self.shape = tuple(int(s) for s in shape)
        self.A_per_s = DAMAGE["arrhenius_A_per_s"].value if A_per_s is None else float(A_per_s)
        self.Ea_J_per_mol = (DAMAGE["arrhenius_Ea_J_per_mol"].value if Ea_J_per_mol is None
                             else float(Ea_J_per_mol))
        self.threshold_K = (DAMAGE["arrhenius_threshold_K"].value if threshold_K is None
                            else float(threshold_K))
        if self.A_per_s <= 0 or self.Ea_J_per_mol <= 0:
            raise ConfigError(
                f"Arrhenius A = {self.A_per_s:g} 1/s, Ea = {self.Ea_J_per_mol:g} J/mol: "
                "both must be > 0"
            )
        self.omega = xp.zeros(self.shape, dtype=self.dtype)
        self.cem43_min = xp.zeros(self.shape, dtype=self.dtype)
        self.peak_K = xp.full(self.shape, 0.0 if initial_K is None else float(initial_K),
                              dtype=self.dtype)
        self._kernel = get_kernel("arrhenius_step", self.backend)

    def update(self, T_K, dt_s: float) -> None:
        """Accumulate one step of length ``dt_s`` [s] at temperature ``T_K`` [K] (in place).

        ``T_K`` must have this accumulator's shape, dtype and backend (C-contiguous).
        """
        if dt_s < 0:
            raise ConfigError(f"dt_s = {dt_s:g} s: must be >= 0")
        if T_K.shape != self.shape or T_K.dtype != self.dtype:
            raise ConfigError(
                f"temperature array {T_K.shape} {T_K.dtype}: must be {self.shape} {self.dtype}"
            )
        self._kernel(T_K, self.omega, self.cem43_min, self.peak_K, float(dt_s), self.A_per_s,
                     self.Ea_J_per_mol, self.threshold_K, CEM43_FLOOR_K)

    def coagulated(self, threshold: float = OMEGA_COAGULATION):
        """Boolean mask Ω ≥ ``threshold`` (default 1: 63 % cell death)."""
        return self.omega >= threshold

    def survival(self):
        """Surviving cell fraction exp(−Ω) [1] (see :func:`survival_fraction`)."""
        return survival_fraction(self.omega)


def survival_fraction(omega):
    r"""Surviving cell fraction after a damage integral Ω [1].

    Notes
    -----
    .. math:: S = e^{-\Omega}

    Examples
    --------
    >>> import numpy as np
    >>> np.round(survival_fraction(np.array([0.0, 1.0, 4.6])), 3)
    array([1.   , 0.368, 0.01 ])
    """
    xp = _array_module(omega)
    return xp.exp(-omega)


def perfusion_shutdown_factor(omega):
    r"""Fraction of baseline perfusion left in tissue with damage integral Ω [1]. [R]

    Microvascular blood flow stops as tissue coagulates; the damage-dependent perfusion models
    of thermal ablation (e.g. Chang & Nguyen, BioMed Eng OnLine 3:27, 2004: perfusion scaled by
    the undamaged fraction) use the same Arrhenius integral for vessel stasis as for cell death.
    Tag [R]: a standard modelling choice, not re-checked against measured flow; vessel stasis
    may in reality follow its own kinetics.

    Notes
    -----
    .. math:: \omega_b(\Omega) = \omega_{b,0}\,e^{-\Omega}

    Examples
    --------
    >>> float(perfusion_shutdown_factor(0.0))
    1.0
    """
    if np.isscalar(omega):
        return float(np.exp(-max(float(omega), 0.0)))
    xp = _array_module(omega)
    return xp.exp(-xp.maximum(omega, 0.0))


def surviving_clonogens(tumour_fraction, omega, voxel_volume_m3, cells_per_m3=None,
                        clonogenic_fraction=None):
    r"""Expected surviving tumour clonogens per voxel [cells].

    Parameters
    ----------
    tumour_fraction : ndarray
        Viable tumour cell density as a fraction of carrying capacity [1].
    omega : ndarray or float
        Damage integral Ω [1].
    voxel_volume_m3 : float
        Voxel volume [m³].
    cells_per_m3 : float, optional
        Tumour cells per m³ at carrying capacity; default ``CELLS["tumour_cells_per_m3"]``.
    clonogenic_fraction : float, optional
        Fraction of tumour cells that are clonogenic; default ``CELLS["clonogenic_fraction"]``.

    Notes
    -----
    .. math:: N_s = f_{tum}\,n_{cells}\,V\,\phi_{clon}\,e^{-\Omega}

    Examples
    --------
    >>> import numpy as np
    >>> n = surviving_clonogens(np.ones(1), np.zeros(1), 1e-9)  # 1 mm³ of viable tumour
    >>> round(float(n[0]))
    10000
    """
    n = CELLS["tumour_cells_per_m3"].value if cells_per_m3 is None else float(cells_per_m3)
    f = (CELLS["clonogenic_fraction"].value if clonogenic_fraction is None
         else float(clonogenic_fraction))
    if voxel_volume_m3 <= 0 or n < 0 or not 0.0 <= f <= 1.0:
        raise ConfigError(
            f"voxel_volume_m3 = {voxel_volume_m3:g} (> 0), cells_per_m3 = {n:g} (>= 0), "
            f"clonogenic_fraction = {f:g} (in [0, 1]): out of range"
        )
    return tumour_fraction * (n * float(voxel_volume_m3) * f) * survival_fraction(omega)


def tumour_control_probability(surviving) -> float:
    r"""Poisson tumour-control probability from surviving clonogens per voxel [1].

    Notes
    -----
    .. math:: \mathrm{TCP} = \exp\!\left(-\sum_v N_{s,v}\right)

    (the probability that no clonogen survives anywhere; radiobiology convention, [R]).

    Examples
    --------
    >>> import numpy as np
    >>> round(tumour_control_probability(np.array([0.5, 0.5])), 4)
    0.3679
    """
    if hasattr(surviving, "sum"):
        total = float(surviving.sum(dtype=np.float64))
    else:
        total = float(surviving)
    return float(np.exp(-total))
