r"""Irreversible electroporation (IRE): the pulse field with field-dependent conductivity, the
cell-kill map, and a Joule-heating check (DESIGN.md §3.2).

Model
-----
During a pulse (tens of µs) the tissue is resistive and quasi-static, as for RF ablation
(:mod:`tissuefate.physics.rf`):

.. math:: \nabla\cdot\bigl(\sigma(|E|, T)\,\nabla\varphi\bigr) = 0, \qquad E = -\nabla\varphi

with one needle of a **bipolar pair** at ``φ = V`` (anode) and the other at ``φ = 0``
(cathode), and insulating (Neumann) box faces: the current leaves through the second needle
only. This is :class:`~tissuefate.physics.rf.PotentialSolver` with ``ground="none"`` and
``ground_mask`` = the cathode (harmonic face conductances, conservative Joule heating).

Conductivity rises as membranes porate (Sel et al. 2005, literature.md §9 [R]): a sigmoid between
the reversible and the irreversible threshold, times a linear temperature term (Beitel-White et
al. 2021 [V]),

.. math:: \sigma = \sigma_0\,\bigl[1 + (r - 1)\,s(\xi)\bigr]\,\bigl[1 + \alpha (T - T_0)\bigr],
          \quad \xi = \frac{|E| - E_{rev}}{E_{irr} - E_{rev}}\ \text{clipped to}\ [0, 1],
          \quad s(\xi) = \xi^2 (3 - 2\xi)

with ``r = σ_max/σ_0 = 0.241/0.067`` (Sel 2005), ``E_rev = 362 V/cm``, ``E_irr = 637 V/cm``
(Miklavčič 2000 [R]) and ``α = 1.2 %/K`` (liver). ``s`` is the C¹ smoothstep: exactly ``σ_0``
below ``E_rev`` and ``r σ_0`` above ``E_irr``, like the smoothed Heaviside of the IRE modelling
literature. ``σ_0`` may vary in space (tumour, scar); the rise is relative to it.

Nonlinear solve (Picard)
------------------------
``σ₀ → φ₀ → |E|₀ → σ(|E|₀) → …``, under-relaxed (ω = 0.5) and Anderson-accelerated (depth 5;
plain Picard needs ω ≲ 0.4, see :meth:`PairFieldSolver.solve`), each linear solve warm-started
from the previous potential. Stopping rule: the field changed by at most ``tol × E_irr`` in
every tissue voxel between two successive solves (tol = 1e-3, i.e. 0.64 V/cm), so that the kill
contour ``|E| = E_irr`` is converged, and the σ of the last solve matches σ(|E|) of its field to
``10 tol`` of σ₀. A ``NumericalError`` is raised if this is not reached in ``max_iterations``.
With constant σ the second solve reproduces the first exactly (zero change): the linear problem
is a special case. Measured: 10–12 iterations for the clinical pair at 1, 0.5 and 0.25 mm;
at 96³ × 1 mm one isothermal pair solve takes ≈ 2.4 s (10 iterations, 2-core VM under load).

Kill
----
``|E| ≥ E_kill`` (default ``E_irr``) kills the cells of a voxel (survival 0); between ``E_rev``
and ``E_irr`` membranes reseal (reversible electroporation): survival 1, reported as the
``reversible`` mask. The thresholds hold for the literature's pulse protocols — 8 × 100 µs in
Miklavčič 2000; 70–90 pulses of 70–100 µs in clinical models (≈ 500–700 V/cm) — and are **not**
scaled with pulse number or width: a Peleg–Fermi dependence on pulse number has no source in
``shared/data/literature.md``, so it is not implemented (pass ``kill_threshold_V_per_m`` to use
another threshold). The module returns a *cell*-kill map only: IRE spares the extracellular
matrix, bile ducts and large vessels (literature.md §9 [V]), so ECM and vascular state are left
to the caller untouched, and voxels labelled ``Label.LARGE_VESSEL`` are never killed (they hold
blood) and keep their conductivity (no field or temperature dependence).

Several needles
---------------
Clinical generators pulse one pair at a time. :func:`solve_ire` solves every pair of
``pairs`` (default: every pair ``i < j``) with its own anode/cathode; each pair receives the full
train. The kill map is the union over pairs, i.e. the voxel-wise **maximum field** over pairs
against the threshold — the rule of clinical IRE planning; sub-threshold exposures from several
pairs are not summed. Needles that are not pulsed are floating metal: their exposed voxels get
a conductivity ``1e3 × max σ₀`` (measured: potential uniform along the needle to 0.04 % of V)
and their insulated shafts σ = 0.

Joule heating check
-------------------
During the pulses ``Q = σ|E|²``. The **adiabatic** estimate (an upper bound on the temperature
during the train: no conduction, no perfusion)

.. math:: \Delta T = \sum_{\text{pairs}}\sum_{\text{pulses}} \frac{\sigma(|E|,T)\,|E|^2\,\tau}{\rho c}

is accumulated in ``thermal_blocks`` blocks of pulses per pair, re-solving σ(|E|, T) between
blocks (the temperature term raises the current during the train, as observed clinically,
Ruarus 2018 [V]). ``thermal_model="bioheat"`` instead runs the Pennes model
(:class:`~tissuefate.physics.bioheat.BioheatModel`) with the pulse-averaged source
``Q τ / t_interval`` over the train, then lets the tissue cool (up to ``cooldown_s``). Either
way the Arrhenius integral Ω (:class:`~tissuefate.physics.damage.DamageAccumulator`) follows
the temperatures: in adiabatic mode only over the train (its ramp, no cooling afterwards, which
that mode cannot describe), in bioheat mode over train and cooling. **"IRE became thermal"**
(``thermal_flag``) when the volume with Ω ≥ 1 (tissue voxels, needles excluded) is non-zero and
at least ``THERMAL_FLAG_FRACTION`` (5 %) of the field-kill volume.

Limitations
-----------
Quasi-static, resistive tissue (no capacitive/dispersive effects of µs pulses); no
electrode–tissue contact impedance or electrolysis; floating needles approximated by high σ;
thresholds are protocol-specific constants; needles rasterised at ≥ 0.75 voxel radius
(``geometry.segment_mask``), so at 1 mm voxels a 19 G needle (0.53 mm radius) is represented
thicker than it is: the zone volume and current are overestimated (≈ 30 % and 15 % for the
clinical pair, see :func:`ire_reference_case`) and the peak field at the needle surface
underestimated — use ≤ 0.5 mm voxels (converged to ≈ 2 %). The adiabatic bound is dominated
by single voxels at the needle ends, where the field is singular; the bioheat estimate is the
meaningful one there. No thermal conduction along the metal needle.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError, GeometryError, NumericalError
from ..geometry import segment_mask, unit
from ..grid import Grid
from ..tissue.labels import Label
from ..tissue.properties import BLOOD, IRE, SPECIES
from .rf import PotentialSolver

__all__ = [
    "IRE",
    "IREElectrode",
    "IREProtocol",
    "ElectroporationConductivity",
    "PairField",
    "PairFieldSolver",
    "IREResult",
    "solve_ire",
    "zone_extents_m",
    "ire_reference_case",
    "THERMAL_FLAG_FRACTION",
]

#: Fraction of the field-kill volume above which thermal damage flags the treatment as thermal.
THERMAL_FLAG_FRACTION = IRE["thermal_flag_fraction"].value
#: Conductivity of floating (not pulsed) needles relative to the largest tissue σ₀.
FLOATING_SIGMA_REL = 1e3
_BODY_K = BLOOD["arterial_temperature_K"].value

_MAX_VOLTAGE_V = 5000.0
_PULSE_WIDTH_RANGE_S = (1e-6, 1e-3)
_MAX_PULSES = 1000
_MAX_INTERVAL_S = 10.0
_LENGTH_RANGE_M = (1e-3, 50e-3)
_DIAMETER_RANGE_M = (0.2e-3, 3e-3)
_THERMAL_MODELS = ("adiabatic", "bioheat", "none")


# --------------------------------------------------------------------------------------------
# inputs


@dataclass(frozen=True)
class IREElectrode:
    """A straight needle electrode with an exposed (conducting) distal part.

    Parameters
    ----------
    tip_m : 3-tuple of float
        World position of the distal tip [m].
    direction : 3-tuple of float
        Direction from the tip back towards the handle (normalised here). The exposed part spans
        ``tip_m`` → ``tip_m + exposed_length_m · direction``; the insulated shaft continues
        beyond it to the edge of the grid.
    exposed_length_m : float
        Exposed length [m], 1–50 mm (clinical 15–25 mm).
    diameter_m : float
        Outer diameter [m], 0.2–3 mm (19 G: 1.067 mm, ``IRE["needle_19G_diameter_m"]``).
    name : str

    Examples
    --------
    >>> e = IREElectrode((0.0, 0.0, -0.01), (0, 0, 2), 0.02)
    >>> e.direction, [round(float(v), 3) for v in e.exposed_end_m]
    ((0.0, 0.0, 1.0), [0.0, 0.0, 0.01])
    """

    tip_m: tuple[float, float, float]
    direction: tuple[float, float, float] = (0.0, 0.0, 1.0)
    exposed_length_m: float = 0.02
    diameter_m: float = IRE["needle_19G_diameter_m"].value
    name: str = ""

    def __post_init__(self):
        tip = np.asarray(self.tip_m, dtype=float)
        if tip.shape != (3,) or not np.all(np.isfinite(tip)):
            raise GeometryError(f"IREElectrode.tip_m = {self.tip_m}: must be three finite numbers [m]")
        try:
            d = unit(self.direction)
        except ValueError:
            raise GeometryError(
                f"IREElectrode.direction = {self.direction}: must be a non-zero 3-vector "
                "(from the tip towards the handle)"
            ) from None
        lo, hi = _LENGTH_RANGE_M
        L = float(self.exposed_length_m)
        if not lo <= L <= hi:
            raise ConfigError(
                f"IREElectrode.exposed_length_m = {L:g} m ({L * 1e3:g} mm): must be in "
                f"{lo * 1e3:g}-{hi * 1e3:g} mm (clinical 15-25 mm). Did you give millimetres?"
            )
        lo, hi = _DIAMETER_RANGE_M
        D = float(self.diameter_m)
        if not lo <= D <= hi:
            raise ConfigError(
                f"IREElectrode.diameter_m = {D:g} m ({D * 1e3:g} mm): must be in "
                f"{lo * 1e3:g}-{hi * 1e3:g} mm (19 G = 1.067 mm). Did you give millimetres?"
            )
        object.__setattr__(self, "tip_m", tuple(float(v) for v in tip))
        object.__setattr__(self, "direction", tuple(float(v) for v in d))
        object.__setattr__(self, "exposed_length_m", L)
        object.__setattr__(self, "diameter_m", D)

    @property
    def radius_m(self) -> float:
        return 0.5 * self.diameter_m

    @property
    def exposed_end_m(self) -> np.ndarray:
        return np.asarray(self.tip_m) + self.exposed_length_m * np.asarray(self.direction)

    def masks(self, grid: Grid) -> tuple[np.ndarray, np.ndarray]:
        """(exposed, shaft) voxel masks on ``grid`` (``geometry.segment_mask``, radius raised to
        0.75 voxel); the shaft runs from the exposed end to beyond the grid."""
        end = self.exposed_end_m
        exposed = segment_mask(grid, self.tip_m, end, self.radius_m)
        far = end + 2.0 * float(np.linalg.norm(grid.extent_m)) * np.asarray(self.direction)
        shaft = segment_mask(grid, end, far, self.radius_m) & ~exposed
        return exposed, shaft


@dataclass(frozen=True)
class IREProtocol:
    """Pulse train delivered to every electrode pair.

    Parameters
    ----------
    voltage_V : float
        Pulse amplitude between the two needles of a pair [V], in (0, 5000] (clinical
        generators: ≤ 3000 V, commonly 1500 V/cm × spacing).
    n_pulses : int
        Pulses per pair, 1–1000 (clinical 70–90, literature.md §9).
    pulse_width_s : float
        Pulse duration τ [s], 1 µs – 1 ms (clinical 70–100 µs).
    pulse_interval_s : float
        Start-to-start time between pulses [s], from ``pulse_width_s`` to 10 s (ECG-synchronised
        clinical trains: ≈ 1 s).

    Examples
    --------
    >>> p = IREProtocol(1500.0, 90, 100e-6, 1.0)
    >>> p.on_time_s, p.train_duration_s
    (0.009, 90.0)
    """

    voltage_V: float
    n_pulses: int = 90
    pulse_width_s: float = 100e-6
    pulse_interval_s: float = 1.0

    def __post_init__(self):
        V = float(self.voltage_V)
        if not 0.0 < V <= _MAX_VOLTAGE_V:
            raise ConfigError(
                f"IREProtocol.voltage_V = {V:g} V: must be > 0 and <= {_MAX_VOLTAGE_V:g} V "
                "(clinical generators deliver <= 3000 V; e.g. 1500 V for a 15 mm spacing)"
            )
        n = self.n_pulses
        try:
            ok = not isinstance(n, bool) and float(n).is_integer() and 1 <= int(n) <= _MAX_PULSES
        except (TypeError, ValueError, OverflowError):
            ok = False
        if not ok:
            raise ConfigError(
                f"IREProtocol.n_pulses = {n}: must be an integer in 1-{_MAX_PULSES} (clinical 70-90)"
            )
        lo, hi = _PULSE_WIDTH_RANGE_S
        w = float(self.pulse_width_s)
        if not lo <= w <= hi:
            raise ConfigError(
                f"IREProtocol.pulse_width_s = {w:g} s ({w * 1e6:g} us): must be in "
                f"{lo * 1e6:g} us - {hi * 1e6:g} us (clinical 70-100 us). Did you give microseconds?"
            )
        t = float(self.pulse_interval_s)
        if not w <= t <= _MAX_INTERVAL_S:
            raise ConfigError(
                f"IREProtocol.pulse_interval_s = {t:g} s: must be >= pulse_width_s ({w:g} s) and "
                f"<= {_MAX_INTERVAL_S:g} s (ECG-synchronised trains: about 1 s)"
            )
        object.__setattr__(self, "voltage_V", V)
        object.__setattr__(self, "n_pulses", int(n))
        object.__setattr__(self, "pulse_width_s", w)
        object.__setattr__(self, "pulse_interval_s", t)

    @property
    def on_time_s(self) -> float:
        """Total pulse-on time per pair [s]."""
        return round(self.n_pulses * self.pulse_width_s, 12)

    @property
    def train_duration_s(self) -> float:
        """Duration of one pair's train [s] (``n_pulses × pulse_interval_s``)."""
        return round(self.n_pulses * self.pulse_interval_s, 12)


@dataclass(frozen=True)
class ElectroporationConductivity:
    r"""Field- and temperature-dependent conductivity σ(|E|, T) (module notes).

    Parameters
    ----------
    e_reversible_V_per_m, e_irreversible_V_per_m : float
        Thresholds where the rise starts and ends [V/m].
    ratio : float
        ``σ_max/σ_0`` [1] (≥ 1; 1 gives a field-independent σ).
    temp_coeff_per_K : float
        Linear temperature coefficient α [1/K].
    reference_K : float
        Temperature at which ``σ_0`` holds [K].

    Notes
    -----
    .. math:: \sigma = \sigma_0\,[1 + (r-1)\,\xi^2(3-2\xi)]\,\max(0, 1 + \alpha (T - T_0)),\quad
              \xi = \mathrm{clip}\!\left(\frac{|E|-E_{rev}}{E_{irr}-E_{rev}}, 0, 1\right)

    Examples
    --------
    >>> m = ElectroporationConductivity()
    >>> [round(float(v), 4) for v in m(0.067, np.array([0.0, 3.62e4, 4.995e4, 6.37e4, 1e5]))]
    [0.067, 0.067, 0.154, 0.241, 0.241]
    >>> round(float(m(0.067, 0.0, 320.15) / 0.067), 3)
    1.12
    """

    e_reversible_V_per_m: float = IRE["e_reversible_V_per_m"].value
    e_irreversible_V_per_m: float = IRE["e_irreversible_V_per_m"].value
    ratio: float = IRE["liver_sigma_max_S_per_m"].value / IRE["liver_sigma0_S_per_m"].value
    temp_coeff_per_K: float = IRE["liver_sigma_temp_coeff_per_K"].value
    reference_K: float = _BODY_K

    def __post_init__(self):
        a, b = float(self.e_reversible_V_per_m), float(self.e_irreversible_V_per_m)
        if not 0.0 < a < b:
            raise ConfigError(
                f"e_reversible_V_per_m = {a:g}, e_irreversible_V_per_m = {b:g} V/m: need "
                "0 < reversible < irreversible (liver: 3.62e4 < 6.37e4 V/m)"
            )
        if not 1.0 <= float(self.ratio) <= 100.0:
            raise ConfigError(f"conductivity ratio = {self.ratio:g}: must be in [1, 100] (liver: 3.6)")
        if not 0.0 <= float(self.temp_coeff_per_K) <= 0.1:
            raise ConfigError(
                f"temp_coeff_per_K = {self.temp_coeff_per_K:g} 1/K: must be in [0, 0.1] (liver: 0.012)"
            )

    def field_factor(self, E_V_per_m) -> np.ndarray:
        """``1 + (r − 1) s(ξ)`` [1]."""
        a, b = self.e_reversible_V_per_m, self.e_irreversible_V_per_m
        xi = np.clip((np.asarray(E_V_per_m, dtype=np.float64) - a) / (b - a), 0.0, 1.0)
        return 1.0 + (self.ratio - 1.0) * xi * xi * (3.0 - 2.0 * xi)

    def temperature_factor(self, T_K) -> np.ndarray:
        """``max(0, 1 + α (T − T_0))`` [1]."""
        return np.maximum(1.0 + self.temp_coeff_per_K * (np.asarray(T_K, np.float64) - self.reference_K), 0.0)

    def __call__(self, sigma0_S_per_m, E_V_per_m, T_K=None) -> np.ndarray:
        s = np.asarray(sigma0_S_per_m, np.float64) * self.field_factor(E_V_per_m)
        return s if T_K is None else s * self.temperature_factor(T_K)


# --------------------------------------------------------------------------------------------
# one pair: the nonlinear field


@dataclass
class PairField:
    """Converged field of one electrode pair at one voltage.

    Attributes
    ----------
    phi_V : ndarray
        Potential [V] (``voltage_V`` on the anode, 0 on the cathode).
    field_V_per_m : ndarray
        ``|E|`` [V/m] (0 in anode and cathode voxels).
    sigma_S_per_m : ndarray
        The conductivity of the last solve [S/m], consistent with ``field_V_per_m`` to ``tol``.
    joule_W_per_m3 : ndarray
        ``Q = σ|E|²`` during a pulse [W/m³] (conservative, from face currents).
    current_A : float
        Current through the pair during a pulse [A].
    iterations : int
        Picard iterations (linear solves).
    change_V_per_m : float
        Largest field change of the last iteration [V/m].
    linear_iterations : int
        PCG iterations summed over the Picard iterations.
    """

    phi_V: np.ndarray
    field_V_per_m: np.ndarray
    sigma_S_per_m: np.ndarray
    joule_W_per_m3: np.ndarray
    current_A: float
    iterations: int
    change_V_per_m: float
    linear_iterations: int


class PairFieldSolver:
    r"""Picard solver of ``∇·(σ(|E|)∇φ) = 0`` for one anode/cathode pair (module notes).

    Parameters
    ----------
    grid : Grid
    anode_mask, cathode_mask : ndarray of bool
        Voxels held at ``V`` and at 0 V (perfect conductors).
    face_potential : callable, optional
        ``f(x, y, z) -> φ/V`` on the ``dirichlet_faces`` of the box (verification against
        infinite-medium solutions); default: every face insulating.
    dirichlet_faces : str or tuple of str
        With ``face_potential``: the faces it holds (a ``PotentialSolver`` ``ground`` value,
        e.g. ``"side-faces"`` for needles through the z faces); the others stay insulating.
    rtol : float
        Relative residual of each linear solve (PCG, geometric multigrid).

    Examples
    --------
    >>> g = Grid((12, 4, 4), (1e-3,) * 3)
    >>> a = np.zeros(g.shape, bool); a[0] = True
    >>> c = np.zeros(g.shape, bool); c[-1] = True
    >>> f = PairFieldSolver(g, a, c).solve(np.full(g.shape, 0.067), 500.0)
    >>> round(float(f.field_V_per_m[5, 2, 2]), 1), f.iterations   # V/d = 500 V / 10 mm
    (50000.0, 3)
    """

    def __init__(self, grid: Grid, anode_mask, cathode_mask, *, face_potential: Callable | None = None,
                 dirichlet_faces="box-faces", rtol: float = 1e-6):
        ground = "none" if face_potential is None else dirichlet_faces
        self.grid = grid
        self.solver = PotentialSolver(grid, anode_mask, ground=ground, ground_mask=cathode_mask,
                                      face_potential=face_potential, rtol=rtol)
        self.fixed = np.asarray(anode_mask, bool) | np.asarray(cathode_mask, bool)
        self._sigma: np.ndarray | None = None
        self._prev_base: np.ndarray | None = None

    def solve(
        self,
        sigma_base_S_per_m,
        voltage_V: float,
        *,
        model: ElectroporationConductivity | None = None,
        responsive=None,
        tol: float = 1e-3,
        relaxation: float = 0.5,
        anderson_depth: int = 5,
        max_iterations: int = 60,
        warm: bool = True,
    ) -> PairField:
        r"""Field of the pair at ``voltage_V`` with σ = ``sigma_base`` × field factor.

        Parameters
        ----------
        sigma_base_S_per_m : ndarray
            σ without the field term [S/m] (σ₀ times any temperature factor).
        voltage_V : float
            Anode potential [V].
        model : ElectroporationConductivity, optional
            Default: liver (module notes).
        responsive : ndarray of bool, optional
            Voxels whose σ depends on the field (default: all); the others keep ``sigma_base``
            (blood, needles).
        tol : float
            Stop when ``max |E_k − E_{k−1}| ≤ tol × E_irr`` over the responsive voxels and the
            σ used is consistent with the field, ``max |σ_b f(|E_k|) − σ_k| ≤ 10 tol σ_b``
            (a uniform field, as between plates, does not change with σ).
        relaxation : float
            Under-relaxation ω in (0, 1].
        anderson_depth : int
            Anderson acceleration over the last ``m`` iterates (0: plain under-relaxed Picard).
        max_iterations : int
        warm : bool
            Start from the field factor of the previous call (same pair, e.g. the next block of
            pulses after heating).

        Notes
        -----
        Picard map :math:`G(\sigma) = \sigma_b f(|E(\sigma)|)`, residual
        :math:`F_k = G(\sigma_k) - \sigma_k`. Plain under-relaxed Picard is
        :math:`\sigma_{k+1} = \sigma_k + \omega F_k`; it needs ω ≲ 0.4 here, because a single
        voxel's field falls as its own σ rises (E ∝ 1/σ along a current tube) while σ(E) is
        steep (d ln σ/d ln E ≈ 3 between the thresholds), so the checkerboard mode has gain ≈ 3.
        Anderson acceleration (type II, depth m) takes
        :math:`\sigma_{k+1} = \sigma_k + \omega F_k - (\Delta X + \omega\,\Delta F)\gamma`,
        γ the least-squares solution of :math:`\Delta F\,\gamma \approx F_k` over the last m
        differences; measured on the clinical pair it halves the iterations of ω = 0.4 Picard (11
        against 17–19 at 1 and 0.5 mm). Iterates are clipped to ``[σ_b, r σ_b]``; the history
        is restarted when the residual grows tenfold over its best value.

        Returns
        -------
        PairField
        """
        model = model or ElectroporationConductivity()
        if not 0.0 < relaxation <= 1.0:
            raise ConfigError(f"relaxation = {relaxation:g}: must be in (0, 1] (0.5 is the default)")
        if not 0.0 < tol <= 0.1:
            raise ConfigError(f"tol = {tol:g}: must be in (0, 0.1] (fraction of E_irr; default 1e-3)")
        if not 0 <= int(anderson_depth) <= 20:
            raise ConfigError(f"anderson_depth = {anderson_depth}: must be in 0-20 (default 5)")
        base = np.asarray(sigma_base_S_per_m, dtype=np.float64)
        resp = np.ones(self.grid.shape, bool) if responsive is None else np.asarray(responsive, bool)
        resp = resp & ~self.fixed & (base > 0)
        V = float(voltage_V)
        # convergence is measured where σ depends on the field (E in near-insulating voxels, e.g.
        # needle shafts floored to 1e-6 σ, is ill-conditioned and irrelevant)
        watch = resp if resp.any() else ~self.fixed
        sigma = base.copy()
        b = base[resp]
        lo, hi = b, b * model.ratio
        if warm and self._sigma is not None:
            # previous field factor on the new base (same pair, e.g. after heating)
            prev_factor = self._sigma[resp] / np.maximum(self._prev_base[resp], 1e-300)
            sigma[resp] = np.clip(b * prev_factor, lo, hi)
        E_prev = None
        lin = 0
        change = np.inf
        E = None
        X: list[np.ndarray] = []
        F: list[np.ndarray] = []
        best = np.inf
        m = int(anderson_depth)
        it = 0
        while True:
            it += 1
            if it > int(max_iterations):
                raise NumericalError(
                    f"IRE Picard iteration did not converge in {max_iterations} iterations at "
                    f"{V:g} V: last field change {change:.3g} V/m (tol x E_irr = "
                    f"{tol * model.e_irreversible_V_per_m:.3g} V/m); lower the relaxation (now "
                    f"{relaxation:g}) or raise max_iterations"
                )
            phi1 = self.solver.solve(sigma)
            lin += self.solver.last_iterations
            E = V * self.solver.field_magnitude_V_per_m(sigma, phi1)
            x = sigma[resp]
            fx = b * model.field_factor(E[resp]) - x
            if E_prev is not None:
                change = float(np.max(np.abs(E - E_prev)[watch]))
                resid = float(np.max(np.abs(fx) / b)) if fx.size else 0.0
                if change <= tol * model.e_irreversible_V_per_m and resid <= 10.0 * tol:
                    break
            E_prev = E
            nf = float(np.linalg.norm(fx))
            if nf > 10.0 * best:
                X, F = [], []
            best = min(best, nf)
            xn = x + relaxation * fx
            if m > 0:
                X.append(x)
                F.append(fx)
                if len(X) > m + 1:
                    X.pop(0)
                    F.pop(0)
                if len(X) > 1:
                    dX = np.stack([X[i + 1] - X[i] for i in range(len(X) - 1)], axis=1)
                    dF = np.stack([F[i + 1] - F[i] for i in range(len(F) - 1)], axis=1)
                    gamma = np.linalg.lstsq(dF, fx, rcond=None)[0]
                    xn -= (dX + relaxation * dF) @ gamma
            sigma[resp] = np.clip(xn, lo, hi)
        self._sigma = sigma.copy()
        self._prev_base = base.copy()
        q = V * V * self.solver.joule_heating_W_per_m3(sigma, phi1)
        current = V * self.solver.electrode_current_A(sigma, phi1)
        return PairField(V * phi1, E, sigma, q, current, it, change, lin)


# --------------------------------------------------------------------------------------------
# the treatment


@dataclass
class IREResult:
    """Outcome of an IRE treatment (all pairs, full trains).

    Attributes
    ----------
    grid : Grid
    pairs : tuple of (int, int)
        (anode, cathode) electrode indices, in pulsing order.
    phi_V, sigma_S_per_m : ndarray, shape (n_pairs, *grid.shape)
        Potential [V] and conductivity [S/m] of each pair at the start of its train (T = T₀).
    field_V_per_m : ndarray
        Largest ``|E|`` over pairs at the start of the trains [V/m]: the kill field (0 in
        needle voxels).
    killed : ndarray of bool
        Cells killed by the field (``|E| ≥ kill_threshold_V_per_m``); never needle or
        large-vessel voxels.
    reversible : ndarray of bool
        Reversibly electroporated, not killed (``E_rev ≤ |E| < E_kill``).
    survival : ndarray of float32
        Surviving cell fraction from the field: 0 where killed, else 1.
    current_A, current_end_A : ndarray, shape (n_pairs,)
        Pulse current of each pair at the start and at the end of its train [A].
    energy_J : float
        Electrical energy delivered by all pulses [J].
    delta_T_K : ndarray
        Peak temperature rise [K] (see ``thermal_model``); zeros for ``"none"``.
    delta_T_max_K : float
    thermal_omega : ndarray
        Arrhenius Ω from those temperatures [1].
    kill_volume_m3, reversible_volume_m3, thermal_volume_m3 : float
        Volumes of ``killed``, ``reversible`` and of tissue with Ω ≥ 1 [m³].
    thermal_flag : bool
        "IRE became thermal": ``thermal_volume_m3 > 0`` and ≥ ``THERMAL_FLAG_FRACTION`` ×
        ``kill_volume_m3``.
    thermal_model : str
    iterations : tuple of int
        Picard iterations of each pair's isothermal solve.
    picard_solves : int
        Linear solves in total (heating blocks included).
    electrode_mask : ndarray of bool
        Exposed and shaft voxels of all needles.
    wall_s : float
        Wall time of :func:`solve_ire` [s].
    """

    grid: Grid
    pairs: tuple
    phi_V: np.ndarray
    sigma_S_per_m: np.ndarray
    field_V_per_m: np.ndarray
    killed: np.ndarray
    reversible: np.ndarray
    survival: np.ndarray
    current_A: np.ndarray
    current_end_A: np.ndarray
    energy_J: float
    delta_T_K: np.ndarray
    delta_T_max_K: float
    thermal_omega: np.ndarray
    kill_volume_m3: float
    reversible_volume_m3: float
    thermal_volume_m3: float
    thermal_flag: bool
    thermal_model: str
    iterations: tuple
    picard_solves: int
    electrode_mask: np.ndarray
    wall_s: float
    notes: dict = field(default_factory=dict)


def _segment_distance_m(p0, p1, q0, q1) -> float:
    """Smallest distance between segments p0→p1 and q0→q1 [m] (dense parameter sampling is
    avoided: closed form with clamping, Ericson, Real-Time Collision Detection §5.1.9)."""
    d1, d2, r = p1 - p0, q1 - q0, p0 - q0
    a, e, f = d1 @ d1, d2 @ d2, d2 @ r
    c, b = d1 @ r, d1 @ d2
    den = a * e - b * b
    s = np.clip((b * f - c * e) / den, 0.0, 1.0) if den > 1e-30 * a * e else 0.0
    t = (b * s + f) / e
    if t < 0.0:
        t, s = 0.0, np.clip(-c / a, 0.0, 1.0)
    elif t > 1.0:
        t, s = 1.0, np.clip((b - c) / a, 0.0, 1.0)
    return float(np.linalg.norm((p0 + s * d1) - (q0 + t * d2)))


def _dilate26(m: np.ndarray) -> np.ndarray:
    out = m.copy()
    for ax in range(3):
        o = out.copy()
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[ax], hi[ax] = slice(0, -1), slice(1, None)
        o[tuple(lo)] |= out[tuple(hi)]
        o[tuple(hi)] |= out[tuple(lo)]
        out = o
    return out


def _check_electrodes(grid: Grid, electrodes) -> list[tuple[np.ndarray, np.ndarray]]:
    if len(electrodes) < 2:
        raise ConfigError(f"electrodes: got {len(electrodes)}; IRE needs at least two needles (a pair)")
    masks = []
    for i, e in enumerate(electrodes):
        if not isinstance(e, IREElectrode):
            raise ConfigError(f"electrodes[{i}] = {type(e).__name__}: must be an IREElectrode")
        for what, p in (("tip_m", np.asarray(e.tip_m)), ("exposed end", e.exposed_end_m)):
            if not grid.contains(p):
                lo = np.asarray(grid.origin_m) - 0.5 * np.asarray(grid.spacing_m)
                hi = lo + np.asarray(grid.extent_m)
                raise GeometryError(
                    f"electrodes[{i}].{what} = {np.round(p * 1e3, 2).tolist()} mm lies outside the grid "
                    f"(x, y, z from {np.round(lo * 1e3, 2).tolist()} to {np.round(hi * 1e3, 2).tolist()} mm): "
                    "move the needle or enlarge the grid"
                )
        masks.append(e.masks(grid))
    h = min(grid.spacing_m)
    for i in range(len(electrodes)):
        for j in range(i + 1, len(electrodes)):
            ei, ej = electrodes[i], electrodes[j]
            d = _segment_distance_m(np.asarray(ei.tip_m), ei.exposed_end_m, np.asarray(ej.tip_m), ej.exposed_end_m)
            gap = d - ei.radius_m - ej.radius_m
            ai = masks[i][0] | masks[i][1]
            aj = masks[j][0] | masks[j][1]
            if gap <= 0.0 or np.any(_dilate26(ai) & aj):
                raise GeometryError(
                    f"electrodes[{i}] and electrodes[{j}] touch or overlap: axis distance {d * 1e3:.2f} mm, "
                    f"gap {gap * 1e3:.2f} mm (needle radii {ei.radius_m * 1e3:.2f} + {ej.radius_m * 1e3:.2f} mm); "
                    f"at {h * 1e3:g} mm voxels at least one tissue voxel must separate the rasterised needles. "
                    "Move them apart (clinical spacing 10-25 mm) or refine the grid"
                )
    return masks


def _check_pairs(pairs, n: int) -> tuple[tuple[int, int], ...]:
    if pairs is None:
        return tuple((i, j) for i in range(n) for j in range(i + 1, n))
    out = []
    for k, p in enumerate(pairs):
        try:
            a, c = (int(v) for v in p)
        except (TypeError, ValueError):
            raise ConfigError(f"pairs[{k}] = {p!r}: must be (anode index, cathode index)") from None
        if not (0 <= a < n and 0 <= c < n) or a == c:
            raise ConfigError(
                f"pairs[{k}] = {p!r}: indices must be two different electrodes in 0-{n - 1}"
            )
        out.append((a, c))
    if not out:
        raise ConfigError("pairs is empty: give at least one (anode, cathode) pair")
    return tuple(out)


def _sigma0_array(grid: Grid, sigma0, vessel) -> np.ndarray:
    s = np.asarray(sigma0, dtype=np.float64)
    if s.ndim == 0:
        v = float(s)
        s = np.full(grid.shape, v)
        if vessel is not None:
            s[vessel] = IRE["blood_sigma_S_per_m"].value
    elif s.shape != grid.shape:
        raise ConfigError(f"sigma0_S_per_m.shape = {s.shape}: must be a scalar or grid.shape {grid.shape}")
    else:
        s = s.copy()
    if not np.all(np.isfinite(s)) or s.min() < 0 or s.max() <= 0 or s.max() > 100:
        raise ConfigError(
            f"sigma0_S_per_m: min {np.nanmin(s):g}, max {np.nanmax(s):g} S/m: must be finite, >= 0, "
            "not all zero and <= 100 S/m (liver: 0.067-0.12 S/m)"
        )
    return s


def solve_ire(
    grid: Grid,
    sigma0_S_per_m,
    electrodes: Sequence[IREElectrode],
    protocol: IREProtocol,
    *,
    pairs=None,
    label=None,
    conductivity: ElectroporationConductivity | None = None,
    kill_threshold_V_per_m: float | None = None,
    tol: float = 1e-3,
    relaxation: float = 0.5,
    anderson_depth: int = 5,
    max_iterations: int = 60,
    thermal_model: str = "adiabatic",
    thermal_blocks: int = 10,
    thermal_maps=None,
    initial_K: float = _BODY_K,
    cooldown_s: float = 300.0,
) -> IREResult:
    r"""Field, cell kill and heating of an IRE treatment with needle pairs (module notes).

    Parameters
    ----------
    grid : Grid
    sigma0_S_per_m : float or ndarray
        Conductivity of non-electroporated tissue at ``initial_K`` [S/m] (liver
        ``IRE["liver_sigma0_S_per_m"]`` = 0.067). A scalar is used for all tissue; large
        vessels (``label``) then get blood, ``IRE["blood_sigma_S_per_m"]``.
    electrodes : sequence of IREElectrode
        Two or more needles inside the grid, not touching.
    protocol : IREProtocol
        The train each pair receives.
    pairs : sequence of (int, int), optional
        (anode, cathode) indices in pulsing order; default every pair ``i < j``.
    label : ndarray of uint8, optional
        Voxel labels; ``Label.LARGE_VESSEL`` voxels are never killed and keep σ₀.
    conductivity : ElectroporationConductivity, optional
        σ(|E|, T) law; default liver (Sel 2005, Miklavčič 2000, Beitel-White 2021).
    kill_threshold_V_per_m : float, optional
        Lethal field [V/m]; default the law's ``e_irreversible_V_per_m`` (637 V/cm).
    tol, relaxation, anderson_depth, max_iterations
        Picard control (see :meth:`PairFieldSolver.solve`).
    thermal_model : {"adiabatic", "bioheat", "none"}
        Heating check (module notes).
    thermal_blocks : int
        Pulse blocks per pair between σ(|E|, T) re-solves (≤ ``n_pulses``).
    thermal_maps : tissuefate.tissue.maps.ThermalMaps, optional
        k, 1/(ρc), perfusion; default uniform human liver (``SPECIES["human"]``), perfused.
    initial_K : float
        Tissue temperature before the train [K].
    cooldown_s : float
        Longest cooling period after the last train (bioheat) [s]; stops once the hottest
        voxel is below the Arrhenius threshold (43 °C).

    Returns
    -------
    IREResult

    Notes
    -----
    Per pair, solve :math:`\nabla\cdot(\sigma(|E|,T)\nabla\varphi) = 0` (Picard), then
    :math:`\text{killed} = \max_{\text{pairs}} |E| \ge E_{kill}`; heating
    :math:`\Delta T = \sum \sigma |E|^2 \tau / (\rho c)` per pulse block (adiabatic).

    Examples
    --------
    >>> g = Grid.cube(20, 1e-3)
    >>> el = [IREElectrode((x, 0.0, -5e-3), (0, 0, 1), 0.01) for x in (-4e-3, 4e-3)]
    >>> r = solve_ire(g, 0.067, el, IREProtocol(1000.0, 90, 100e-6, 1.0), thermal_model="none")
    >>> bool(r.killed[10, 10, 10]), bool(r.killed[10, 10, 0]), r.iterations[0] > 2
    (True, False, True)
    """
    t0 = time.perf_counter()
    if not isinstance(grid, Grid):
        raise ConfigError(f"grid = {type(grid).__name__}: must be a tissuefate.grid.Grid")
    if not isinstance(protocol, IREProtocol):
        raise ConfigError(f"protocol = {type(protocol).__name__}: must be an IREProtocol")
    if thermal_model not in _THERMAL_MODELS:
        raise ConfigError(f"thermal_model = {thermal_model!r}: must be one of {list(_THERMAL_MODELS)}")
    if not 250.0 <= float(initial_K) <= 330.0:
        raise ConfigError(f"initial_K = {initial_K:g} K: must be in 250-330 K (did you give degrees Celsius?)")
    model = conductivity or ElectroporationConductivity(reference_K=float(initial_K))
    E_kill = model.e_irreversible_V_per_m if kill_threshold_V_per_m is None else float(kill_threshold_V_per_m)
    if not 1e3 <= E_kill <= 1e7:
        raise ConfigError(
            f"kill_threshold_V_per_m = {E_kill:g} V/m: must be in 1e3-1e7 V/m (liver: 6.37e4 V/m = 637 V/cm)"
        )
    electrodes = list(electrodes)
    masks = _check_electrodes(grid, electrodes)
    pairs = _check_pairs(pairs, len(electrodes))

    vessel = None
    if label is not None:
        lab = np.asarray(label)
        if lab.shape != grid.shape:
            raise ConfigError(f"label.shape = {lab.shape} differs from grid.shape = {grid.shape}")
        vessel = lab == Label.LARGE_VESSEL
    sigma0 = _sigma0_array(grid, sigma0_S_per_m, vessel)
    needles = np.zeros(grid.shape, bool)
    for ex, sh in masks:
        needles |= ex | sh
    tissue = ~needles if vessel is None else ~needles & ~vessel
    s_float = FLOATING_SIGMA_REL * float(sigma0[tissue].max()) if tissue.any() else 1.0

    # σ without the field term, per pair: floating exposed needles, insulated shafts, tissue
    def base_for(a: int, c: int, T):
        b = sigma0.copy()
        if T is not None:
            b[tissue] *= model.temperature_factor(T[tissue])
        for k, (ex, sh) in enumerate(masks):
            b[sh] = 0.0
            if k not in (a, c):
                b[ex] = s_float
        return b

    V = protocol.voltage_V
    kw = dict(model=model, responsive=tissue, tol=tol, relaxation=relaxation, anderson_depth=anderson_depth,
              max_iterations=max_iterations)
    n_pairs = len(pairs)
    phi_out = np.empty((n_pairs, *grid.shape))
    sigma_out = np.empty((n_pairs, *grid.shape))
    E = np.zeros(grid.shape)
    current = np.zeros(n_pairs)
    current_end = np.zeros(n_pairs)
    iterations = []
    solves = 0
    energy = 0.0
    n_blocks = max(1, min(int(thermal_blocks), protocol.n_pulses))
    block_pulses = np.diff(np.linspace(0, protocol.n_pulses, n_blocks + 1).round().astype(int))
    heating = thermal_model != "none"
    acc = bio = T = inv_rho_c = None
    if heating:
        from .damage import DamageAccumulator

        if thermal_maps is None:
            thermal_maps = _liver_maps(grid)
        inv_rho_c = np.asarray(thermal_maps.inv_rho_c, np.float64)
        acc = DamageAccumulator(grid.shape, np.float64, initial_K=float(initial_K))
        T = np.full(grid.shape, float(initial_K))
        if thermal_model == "bioheat":
            from .bioheat import BioheatModel

            bio = BioheatModel(grid, thermal_maps, arterial_K=_BODY_K, dirichlet_mask=vessel,
                               backend="numba", dtype=np.float64)
            T = bio.initial(float(initial_K)).copy()

    # pairs one after the other, as the generator pulses them; one solver alive at a time
    for p, (a, c) in enumerate(pairs):
        ps = PairFieldSolver(grid, masks[a][0], masks[c][0])
        f = ps.solve(base_for(a, c, None), V, **kw)  # the kill field: tissue at initial_K
        solves += f.iterations
        iterations.append(f.iterations)
        phi_out[p] = f.phi_V
        sigma_out[p] = f.sigma_S_per_m
        np.maximum(E, np.where(tissue, f.field_V_per_m, 0.0), out=E)
        current[p] = current_end[p] = f.current_A
        if not heating:
            energy += V * f.current_A * protocol.on_time_s
            continue
        for blk, n in enumerate(block_pulses):
            if blk > 0 or p > 0:  # the tissue has been heated since the isothermal solve
                f = ps.solve(base_for(a, c, T), V, **kw)
                solves += f.iterations
            energy += V * f.current_A * n * protocol.pulse_width_s
            duration = n * protocol.pulse_interval_s
            if bio is None:
                rise = f.joule_W_per_m3 * (n * protocol.pulse_width_s) * inv_rho_c
                rise[needles] = 0.0
                _ramp_damage(acc, T, rise, duration)
                T = T + rise
            else:
                q = f.joule_W_per_m3 * (protocol.pulse_width_s / protocol.pulse_interval_s)
                T = _bioheat_run(bio, acc, T, q, duration)
        current_end[p] = f.current_A
        del ps, f

    killed = (E >= E_kill) & tissue
    reversible = (E >= model.e_reversible_V_per_m) & ~killed & tissue
    dV = grid.voxel_volume_m3
    dT = np.zeros(grid.shape)
    omega = np.zeros(grid.shape)
    if heating:
        if bio is not None:
            T = _bioheat_run(bio, acc, T, None, float(cooldown_s), stop_below_K=acc.threshold_K)
        dT = np.asarray(acc.peak_K, np.float64) - float(initial_K)
        dT[needles] = 0.0
        omega = np.asarray(acc.omega, np.float64).copy()
        omega[needles] = 0.0

    kill_vol = float(killed.sum()) * dV
    therm_vol = float(((omega >= 1.0) & tissue).sum()) * dV
    flag = bool(therm_vol > 0.0 and therm_vol >= THERMAL_FLAG_FRACTION * kill_vol)
    return IREResult(
        grid=grid,
        pairs=pairs,
        phi_V=phi_out,
        sigma_S_per_m=sigma_out,
        field_V_per_m=E,
        killed=killed,
        reversible=reversible,
        survival=np.where(killed, 0.0, 1.0).astype(np.float32),
        current_A=current,
        current_end_A=current_end,
        energy_J=float(energy),
        delta_T_K=dT,
        delta_T_max_K=float(dT.max()),
        thermal_omega=omega,
        kill_volume_m3=kill_vol,
        reversible_volume_m3=float(reversible.sum()) * dV,
        thermal_volume_m3=therm_vol,
        thermal_flag=flag,
        thermal_model=thermal_model,
        iterations=tuple(iterations),
        picard_solves=solves,
        electrode_mask=needles,
        wall_s=time.perf_counter() - t0,
        notes={"kill_threshold_V_per_m": E_kill, "tol": tol, "relaxation": relaxation},
    )


def _liver_maps(grid: Grid):
    from ..tissue.maps import ThermalMaps

    sp = SPECIES["human"]
    rho_c = sp.density_kg_per_m3.value * sp.heat_capacity_J_per_kgK.value
    blood = BLOOD["density_kg_per_m3"].value * BLOOD["heat_capacity_J_per_kgK"].value
    return ThermalMaps(
        np.full(grid.shape, sp.thermal_conductivity_W_per_mK.value),
        np.full(grid.shape, 1.0 / rho_c),
        np.full(grid.shape, sp.perfusion_per_s.value * blood / rho_c),
    )


def _ramp_damage(acc, T, rise, duration_s: float, substeps: int = 4) -> None:
    """Arrhenius over a linear temperature ramp T → T + rise lasting ``duration_s`` (midpoints)."""
    dt = duration_s / substeps
    for k in range(substeps):
        acc.update(np.ascontiguousarray(T + rise * ((k + 0.5) / substeps)), dt)
    acc.update(np.ascontiguousarray(T + rise), 0.0)  # peak at the end of the ramp


def _bioheat_run(bio, acc, T, q, duration_s: float, *, stop_below_K: float | None = None):
    dt_max = bio.stable_time_step_s()
    t = 0.0
    T = np.ascontiguousarray(T, np.float64)
    while t < duration_s - 1e-12:
        dt = min(dt_max, duration_s - t)
        T = bio.step(T, q, dt)
        acc.update(T, dt)
        t += dt
        if stop_below_K is not None and float(T.max()) < stop_below_K:
            break
    return np.array(T)


# --------------------------------------------------------------------------------------------
# outcomes and the reference case


def zone_extents_m(mask, grid: Grid, axes) -> tuple[float, ...]:
    """Extent of a voxel mask along each unit vector of ``axes`` [m] (projection of the voxel
    centres, plus one voxel's projected width). 0 for an empty mask.

    Examples
    --------
    >>> g = Grid((10, 10, 10), (1e-3,) * 3)
    >>> m = np.zeros(g.shape, bool); m[2:5, 3:5, 1:9] = True
    >>> [round(v * 1e3, 3) for v in zone_extents_m(m, g, [(1, 0, 0), (0, 1, 0), (0, 0, 1)])]
    [3.0, 2.0, 8.0]
    """
    idx = np.argwhere(np.asarray(mask, bool))
    out = []
    for ax in axes:
        u = unit(ax)
        if idx.size == 0:
            out.append(0.0)
            continue
        p = grid.world_of(idx) @ u
        out.append(float(p.max() - p.min() + np.abs(u) @ np.asarray(grid.spacing_m)))
    return tuple(out)


def ire_reference_case(*, spacing_m: float = 0.5e-3, box_m=(0.064, 0.048, 0.056), thermal_model: str = "bioheat",
                       sigma0_S_per_m: float | None = None) -> dict:
    """A typical clinical pair: two 19 G needles, 15 mm apart, 20 mm exposure, 1500 V,
    90 × 100 µs at 1 Hz, in liver (σ₀ = 0.067 S/m, Sel 2005; thresholds Miklavčič 2000).

    A **plausibility** check, not a calibration: literature.md gives thresholds and σ, not IRE
    zone sizes or currents. Needles parallel to z at x = ±7.5 mm, exposed from z = −10 to +10 mm.

    Measured (2-core VM): at 0.5 mm (the default, 128 × 96 × 112 voxels) the zone
    ``|E| ≥ 637 V/cm`` is 20.0 × 7.0 × 24.5 mm (width × depth × length), 2.14 mL, reversible
    zone 8.5 mL; 6.49 A at the start of the train, 6.71 A at its end; bioheat ΔT_max 5.3 K, no
    tissue at Ω ≥ 1 (the adiabatic bound reaches 161 K in single voxels at the needle ends and
    0.15 mL at Ω ≥ 1, so it flags "thermal"); 11 Picard iterations; 35–65 s. With
    σ₀ = 0.12 S/m (Beitel-White 2021) the zone is identical (φ depends on σ ratios only), the
    current 11.6 A and ΔT_max 9.7 K. Grid convergence (48 × 40 × 48 mm box, no heating):
    volume 2.90 / 2.18 / 2.22 mL and current 7.38 / 6.37 / 6.40 A at 1 / 0.5 / 0.25 mm — 1 mm
    voxels overestimate the zone by ≈ 30 % because the needle is rasterised too thick. Box
    size: 64 → 96 mm wide changes the volume by 1 % and the current by 3 % (at 1 mm).

    Parameters
    ----------
    spacing_m : float
        Voxel size [m].
    box_m : 3-tuple of float
        Box edge lengths [m] (insulating faces).
    thermal_model : {"adiabatic", "bioheat", "none"}
    sigma0_S_per_m : float, optional
        Default ``IRE["liver_sigma0_S_per_m"]``.

    Returns
    -------
    dict
        ``width_mm`` (along the pair axis x), ``depth_mm`` (y), ``length_mm`` (along the needles,
        z), ``volume_mL`` of the zone ``|E| ≥ 637 V/cm``; ``reversible_volume_mL``;
        ``current_A`` and ``current_end_A``; ``delta_T_max_K``; ``thermal_volume_mL``;
        ``thermal_flag``; ``iterations``; ``wall_s``; ``grid``; and the inputs.
    """
    shape = tuple(int(round(b / spacing_m)) for b in box_m)
    g = Grid(shape, (spacing_m,) * 3, tuple(-0.5 * (n - 1) * spacing_m for n in shape))
    d19 = IRE["needle_19G_diameter_m"].value
    el = [IREElectrode((x, 0.0, -0.01), (0.0, 0.0, 1.0), 0.02, d19) for x in (-7.5e-3, 7.5e-3)]
    proto = IREProtocol(1500.0, 90, 100e-6, 1.0)
    s0 = IRE["liver_sigma0_S_per_m"].value if sigma0_S_per_m is None else float(sigma0_S_per_m)
    r = solve_ire(g, s0, el, proto, thermal_model=thermal_model)
    w, d, L = zone_extents_m(r.killed, g, [(1, 0, 0), (0, 1, 0), (0, 0, 1)])
    return {
        "case": "IRE pair, 19 G, 15 mm spacing, 20 mm exposure, 1500 V, 90 x 100 us",
        "kind": "plausibility (literature.md gives thresholds, not zone sizes)",
        "width_mm": round(w * 1e3, 2),
        "depth_mm": round(d * 1e3, 2),
        "length_mm": round(L * 1e3, 2),
        "volume_mL": round(r.kill_volume_m3 * 1e6, 3),
        "reversible_volume_mL": round(r.reversible_volume_m3 * 1e6, 3),
        "current_A": round(float(r.current_A[0]), 3),
        "current_end_A": round(float(r.current_end_A[0]), 3),
        "energy_J": round(r.energy_J, 1),
        "delta_T_max_K": round(r.delta_T_max_K, 2),
        "thermal_volume_mL": round(r.thermal_volume_m3 * 1e6, 4),
        "thermal_flag": r.thermal_flag,
        "thermal_model": thermal_model,
        "iterations": list(r.iterations),
        "picard_solves": r.picard_solves,
        "sigma0_S_per_m": s0,
        "grid": {"shape": list(g.shape), "spacing_mm": spacing_m * 1e3},
        "wall_s": round(r.wall_s, 2),
        "touches_box": bool(r.killed[[0, -1]].any() or r.killed[:, [0, -1]].any() or r.killed[:, :, [0, -1]].any()),
    }
