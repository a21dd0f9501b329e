r"""Cryoablation: enthalpy-method freezing around cryoprobes, kill by minimum temperature.

The tissue's volumetric enthalpy H [J/m³] is advanced explicitly,

.. math::
    \partial_t H = \nabla\cdot\big(k(T)\nabla T\big) - (1-\phi)\,\omega_b\rho_b c_b\,(T - T_a) + Q,
    \qquad T = T(H),

with sensible heat of unfrozen tissue above the liquidus T_l, of frozen tissue below the
solidus T_s, and the latent heat ρL released linearly over [T_s, T_l]:

.. math::
    H(T) = \begin{cases}
      C_f\,(T - T_s) & T \le T_s \\
      C_m\,(T - T_s),\ C_m = \tfrac{1}{2}(C_f + C_u) + \rho L/(T_l - T_s) & T_s < T < T_l \\
      C_m\,(T_l - T_s) + C_u\,(T - T_l) & T \ge T_l
    \end{cases}

(C = ρc volumetric heat capacities; ice fraction φ = clip((T_l − T)/(T_l − T_s), 0, 1);
k = k_f φ + k_u (1 − φ); harmonic face conductivities). Perfusion stops in frozen tissue (factor
1 − φ) and, because the microvessels inside the ice are destroyed, stays off wherever the minimum
temperature has fallen below :data:`CRYO` ``vascular_injury_K`` (0 °C), also after thawing.

Cryoprobes are cold boundaries: during a freeze phase the voxels of each probe's active segment are
held at the probe surface temperature (Dirichlet); in a passive thaw they are released and behave
like tissue; in an active thaw they are held at a warm temperature. The kill model is the minimum
temperature reached (Gage & Baust 1998): certain below −40 °C, none above −20 °C, linear between
(:func:`cryo_survival_fraction`).

Every number lives in the tables :data:`CRYO`, :data:`GEL` and :data:`LITTRUP_2009` with its source
and evidence tag. The hot loop is the backend kernel ``enthalpy_step``
(:mod:`tissuefate.backends.cryo_kernels`).

Limitations (0.1): one phase-change material per grid (plus per-voxel perfusion, fixed-temperature
voxels and an optional source); constant frozen properties (ice conductivity really rises to
≈ 3 W/(m K) at −100 °C); probe surface temperature prescribed, not a Joule–Thomson heat-exchange
model; no extra kill for a second freeze–thaw cycle (none is quantified in literature.md; the
double freeze acts here only through the thermal history and the perfusion lost in the first freeze);
no supercooling or ice nucleation delay; the vascular model is binary (intact / destroyed at 0 °C).
A prescribed surface temperature ignores the probe's finite cooling power: a lone probe under a
high heat load is predicted too cold and its lethal zone too large (:func:`littrup_gel_case`). An
optional per-probe cooling-power limit (``max_probe_power_W``) holds each probe at the coldest
temperature whose heat draw does not exceed the limit; it is a lumped device limit, not a
Joule–Thomson model (no gas flow, pressure or probe-internal heat exchanger).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..backends import get_kernel
from ..backends.registry import default_backend
from ..errors import ConfigError, GeometryError, NumericalError
from ..grid import Grid
from ..tissue.properties import BLOOD, CRYO, GEL
from .cryo_inputs import PHASE_KINDS, T_MAX_K, T_MIN_K, CryoPhase, Cryoprobe, CryoProtocol, CryoTissue
from .isotherms import isotherm_dimensions

__all__ = [
    "CRYO",
    "GEL",
    "PHASE_KINDS",
    "CryoTissue",
    "Cryoprobe",
    "CryoPhase",
    "CryoProtocol",
    "CryoModel",
    "CryoResult",
    "cryo_survival_fraction",
    "isotherm_dimensions",
]

_K0 = 273.15


ProgressFn = Callable[[float, str], None]


# ---------------------------------------------------------------------------------------------
# kill model and geometry
# ---------------------------------------------------------------------------------------------


def cryo_survival_fraction(T_min_K, *, onset_K: float | None = None, certain_K: float | None = None):
    r"""Surviving cell fraction after freezing to minimum temperature ``T_min_K`` [1].

    Parameters
    ----------
    T_min_K : float or ndarray
        Lowest temperature the voxel reached [K].
    onset_K, certain_K : float, optional
        Survival is 1 at and above ``onset_K`` (default −20 °C) and 0 at and below ``certain_K``
        (default −40 °C), :data:`CRYO` (Gage & Baust 1998 [R]).

    Notes
    -----
    .. math:: S(T_{min}) = \mathrm{clip}\!\left(\frac{T_{min} - T_{40}}{T_{20} - T_{40}}, 0, 1\right)

    Linear, not log-linear, between the two anchors: the literature gives only the two
    thresholds, no dose–response shape; a log-linear law would need a third number (the survival
    at −40 °C) that no source gives, and would reach zero only asymptotically. The linear law is
    the least-assumption interpolation; S is monotone and bounded in [0, 1]. No extra kill is
    applied for a second freeze–thaw cycle (not quantified in literature.md).

    Examples
    --------
    >>> [float(s) for s in cryo_survival_fraction(np.array([263.15, 243.15, 233.15, 200.0]))]
    [1.0, 0.5, 0.0, 0.0]
    """
    on = CRYO["lethal_onset_K"].value if onset_K is None else float(onset_K)
    ce = CRYO["lethal_certain_K"].value if certain_K is None else float(certain_K)
    if not ce < on:
        raise ConfigError(f"certain_K = {ce:g} K must be below onset_K = {on:g} K")
    T = np.asarray(T_min_K)
    dt = T.dtype if T.dtype.kind == "f" else np.float64
    return np.clip((T - ce) / (on - ce), 0.0, 1.0).astype(dt)


# ---------------------------------------------------------------------------------------------
# result and model
# ---------------------------------------------------------------------------------------------


@dataclass
class CryoResult:
    """Fields and traces of one cryo session (SI units; arrays on the model's grid and dtype).

    Attributes
    ----------
    T_min_K : ndarray
        Minimum temperature reached [K].
    T_end_K : ndarray
        Temperature at the end of the protocol [K].
    frozen_fraction : ndarray
        Ice fraction φ at the end [1].
    survival : ndarray
        Cell survival fraction :func:`cryo_survival_fraction` of ``T_min_K`` [1].
    time_below_m20C_s, time_below_m40C_s : ndarray
        Time spent below −20 °C and −40 °C [s] (sampled every ``monitor_interval_s``).
    vascular_integrity : ndarray
        Factor this session applies to microvascular integrity [1]: 0 where T_min < 0 °C, else 1.
    probe_mask : ndarray of bool
        Voxels of the probes' active segments.
    traces : dict of list
        At t = 0, every ``record_interval_s`` and at each phase end: ``time_s``, ``phase`` (index),
        ``ice_volume_m3`` (Σφ dV), ``volume_below_0C_m3``, ``volume_below_m20C_m3``,
        ``volume_below_m40C_m3`` (current temperature), ``probe_power_W`` (heat drawn by the probes,
        positive while freezing), ``T_min_K`` (grid minimum now).
    """

    grid: Grid
    T_min_K: np.ndarray
    T_end_K: np.ndarray
    frozen_fraction: np.ndarray
    survival: np.ndarray
    time_below_m20C_s: np.ndarray
    time_below_m40C_s: np.ndarray
    vascular_integrity: np.ndarray
    probe_mask: np.ndarray
    traces: dict
    dt_s: float
    n_steps: int
    wall_s: float
    backend: str
    protocol: CryoProtocol
    parameters: dict = field(default_factory=dict)

    def isotherm_dimensions(self, axis, levels_K=None) -> dict:
        """:func:`isotherm_dimensions` of :attr:`T_min_K`."""
        return isotherm_dimensions(self.T_min_K, self.grid, axis, levels_K)


class CryoModel:
    r"""Explicit enthalpy-method cryoablation on a grid.

    Parameters
    ----------
    grid : Grid
    tissue : CryoTissue
        Phase-change material (default: human liver).
    probes : sequence of Cryoprobe
        Any number (0 allowed: then only ``fixed_mask`` cools or warms).
    perfusion_per_s : float or ndarray
        Blood perfusion ω_b [1/s] (scalar or grid array, e.g. :func:`tissuefate.tissue.maps.perfusion_map`);
        0 for ex vivo tissue or gel. Multiplied by ρ_b c_b of :data:`~tissuefate.tissue.properties.BLOOD`.
    arterial_K : float
        Arterial blood temperature T_a [K].
    initial_K : float or ndarray, optional
        Initial temperature [K]; default ``arterial_K``.
    probe_temperature_K : float
        Probe surface temperature during a freeze [K] (:data:`CRYO`, [E]).
    thaw_temperature_K : float
        Probe temperature during an active thaw [K].
    fixed_mask : ndarray of bool, optional
        Voxels always held at ``fixed_K`` (large vessels as heat sinks).
    fixed_K : float or ndarray, optional
        Their temperature [K] (scalar or grid array); default ``arterial_K``.
    source_W_per_m3 : ndarray, optional
        Constant volumetric heat source Q [W/m³].
    boundary : {"fixed", "insulated"}
        Box faces keep their initial temperature (a region cut from a larger body), or carry no
        heat (mirror ghost layer: the box is insulated).
    backend : {"numba", "numpy"}, optional
    dtype : float32 or float64
    safety : float
        Fraction of the stable time step used, in (0, 1].
    monitor_interval_s : float
        Interval of the freeze record (T_min, time below −20/−40 °C, vascular injury) [s];
        0 records every step. It is also taken at every phase end.
    max_probe_power_W : float or sequence of float, optional
        Cooling-power limit of each probe [W] (one value for all, or one per probe); None (default):
        no limit, the probes are held at ``probe_temperature_K``. With a limit, during a freeze each
        probe is held, step by step, at the coldest temperature in [``probe_temperature_K``, 0 °C]
        whose heat draw does not exceed its limit (:meth:`_limit_probe_temperatures`): a probe
        under a load above its limit warms.

    Notes
    -----
    Stable step (module docstring for the equation): the update of H_i is a non-negative
    combination when

    .. math:: \Delta t \le \Big(\frac{k_{max}}{C_{min}}\sum_a \frac{2}{h_a^2}
              + \frac{\max p}{C_{min}}\Big)^{-1},

    with C_min the smallest of C_f, C_u and the mushy apparent capacity: frozen tissue
    (k_f/C_f ≈ 1e-6 m²/s) sets it, ≈ 0.16 s at 1 mm, 8× shorter than unfrozen liver.
    Explicit Euler in time, 7-point flux form with harmonic face conductivities in space.

    Power-limited probes: after every step the held temperature T_p of each limited probe is
    set from its neighbours' new temperatures T_f so that the heat it draws during the next step,

    .. math:: P(T_p) = \sum_{f} \frac{A_f}{h_f}\,\frac{2k(T_f)\,k(T_p)}{k(T_f) + k(T_p)}\,(T_f - T_p),

    equals the limit (clipped to [probe minimum, 0 °C]); for a frozen probe voxel, k(T_p) = k_f and
    :math:`T_p = (\sum_f g_f T_f - P_{max})/\sum_f g_f` exactly. The kernel is unchanged (the probe
    voxels stay Dirichlet voxels with a per-probe value), so the energy balance closes as before
    and the draw equals the limit to rounding.

    Examples
    --------
    >>> g = Grid.cube(24, 1e-3)
    >>> probe = Cryoprobe((0, 0, -0.006), (0, 0, 1), 0.012, 2.4e-3)
    >>> m = CryoModel(g, CryoTissue.liver(), [probe], perfusion_per_s=3.6e-3, backend="numpy")
    >>> r = m.run(CryoProtocol([("freeze", 60.0)]))
    >>> bool(r.survival.min() == 0.0), bool(r.frozen_fraction.max() == 1.0), r.traces["probe_power_W"][-1] > 0
    (True, True, True)
    """

    def __init__(self, grid: Grid, tissue: CryoTissue | None = None, probes: Sequence[Cryoprobe] = (), *,
                 perfusion_per_s=0.0, arterial_K: float = BLOOD["arterial_temperature_K"].value,
                 initial_K=None, probe_temperature_K: float = CRYO["probe_surface_temperature_K"].value,
                 thaw_temperature_K: float = CRYO["active_thaw_temperature_K"].value, fixed_mask=None,
                 fixed_K=None, source_W_per_m3=None, boundary: str = "fixed", backend: str | None = None,
                 dtype=np.float32, safety: float = 0.9, monitor_interval_s: float = 1.0,
                 max_probe_power_W=None):
        self.grid = grid
        self.tissue = tissue or CryoTissue.liver()
        self.backend = backend or default_backend()
        if self.backend not in ("numpy", "numba"):
            raise ConfigError(f"backend = {self.backend!r}: the cryo model runs on 'numpy' or 'numba'")
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise ConfigError(f"dtype = {self.dtype}: must be float32 or float64")
        if boundary not in ("fixed", "insulated"):
            raise ConfigError(f"boundary = {boundary!r}: must be 'fixed' or 'insulated'")
        self.boundary = boundary
        if not 0.0 < safety <= 1.0:
            raise ConfigError(f"safety = {safety:g}: must be in (0, 1]")
        if not (math.isfinite(monitor_interval_s) and monitor_interval_s >= 0):
            raise ConfigError(f"monitor_interval_s = {monitor_interval_s:g}: must be >= 0 s")
        self.safety = float(safety)
        self.monitor_interval_s = float(monitor_interval_s)
        self.arterial_K = _check_K("arterial_K", arterial_K, 290.0, 320.0)
        self.probe_temperature_K = _check_K("probe_temperature_K", probe_temperature_K, T_MIN_K, 270.0)
        self.thaw_temperature_K = _check_K("thaw_temperature_K", thaw_temperature_K, 275.0, 330.0)
        shape = grid.shape

        init = self.arterial_K if initial_K is None else initial_K
        init = np.asarray(init, dtype=np.float64)
        if init.ndim and init.shape != shape:
            raise ConfigError(f"initial_K has shape {init.shape}, grid is {shape}")
        if not (np.all(np.isfinite(init)) and init.min() >= T_MIN_K and init.max() <= T_MAX_K):
            raise ConfigError(f"initial_K must lie in [{T_MIN_K:g}, {T_MAX_K:g}] K (did you give degrees Celsius?)")
        self.initial_K = init

        w = np.asarray(perfusion_per_s, dtype=np.float64)
        if w.ndim and w.shape != shape:
            raise ConfigError(f"perfusion_per_s has shape {w.shape}, grid is {shape}")
        if not (np.all(np.isfinite(w)) and w.min() >= 0 and w.max() <= 0.1):
            raise ConfigError("perfusion_per_s must be finite and in 0-0.1 1/s (liver about 3.6e-3)")
        rho_c_b = BLOOD["density_kg_per_m3"].value * BLOOD["heat_capacity_J_per_kgK"].value
        self._perf0 = np.ascontiguousarray(np.broadcast_to(w * rho_c_b, shape), dtype=self.dtype)
        self.perf = self._perf0.copy()

        self.q = None
        if source_W_per_m3 is not None:
            q = np.asarray(source_W_per_m3, dtype=np.float64)
            if q.shape != shape or not np.all(np.isfinite(q)):
                raise ConfigError(f"source_W_per_m3 must be finite with the grid shape {shape}")
            self.q = np.ascontiguousarray(q, dtype=self.dtype)

        # -- fixed voxels and probes ------------------------------------------------------------
        box = np.ones(shape, dtype=bool)
        box[1:-1, 1:-1, 1:-1] = False
        self._box = box
        fixed = np.zeros(shape, bool) if fixed_mask is None else np.asarray(fixed_mask, dtype=bool)
        if fixed.shape != shape:
            raise ConfigError(f"fixed_mask has shape {fixed.shape}, grid is {shape}")
        self.fixed_mask = fixed & ~box
        fK = self.arterial_K if fixed_K is None else fixed_K
        fK = np.broadcast_to(np.asarray(fK, dtype=np.float64), shape) if np.ndim(fK) == 0 else np.asarray(fK, float)
        if fK.shape != shape:
            raise ConfigError(f"fixed_K has shape {fK.shape}: must be a scalar or the grid shape {shape}")
        self._fixed_idx = np.flatnonzero(self.fixed_mask)
        self._fixed_T = fK.reshape(-1)[self._fixed_idx].astype(np.float64)
        if self._fixed_T.size and not (self._fixed_T.min() >= T_MIN_K and self._fixed_T.max() <= T_MAX_K):
            raise ConfigError(f"fixed_K must lie in [{T_MIN_K:g}, {T_MAX_K:g}] K")

        self.probes = tuple(probes)
        self.probe_mask = np.zeros(shape, dtype=bool)
        masks = []
        for i, p in enumerate(self.probes):
            if not isinstance(p, Cryoprobe):
                raise ConfigError(f"probes[{i}] = {p!r}: must be a Cryoprobe")
            for name, pt in (("tip_m", p.tip_m), ("end of the active segment", p.end_m)):
                if not grid.contains(pt):
                    raise GeometryError(
                        f"probes[{i}] {name} at {tuple(round(1e3 * v, 2) for v in pt)} mm lies outside the grid "
                        f"(extent {tuple(round(1e3 * v, 1) for v in grid.extent_m)} mm from origin "
                        f"{tuple(round(1e3 * v, 1) for v in grid.origin_m)} mm): move the probe or enlarge the grid")
            m = p.mask(grid)
            if (m & box).any():
                raise GeometryError(f"probes[{i}] touches the box faces of the grid: keep at least one voxel "
                                    "between the probe and the grid boundary (enlarge the grid)")
            for j, mj in enumerate(masks):
                q = self.probes[j]
                gap = _segment_distance_m(p.tip_m, p.end_m, q.tip_m, q.end_m) - 0.5 * (p.diameter_m + q.diameter_m)
                if gap < 0 or (m & mj).any():
                    raise GeometryError(
                        f"probes[{j}] and probes[{i}] overlap (surface gap {gap * 1e3:.2f} mm; at this grid "
                        f"spacing their voxels {'intersect' if (m & mj).any() else 'do not intersect'}): space "
                        "the probes at least one diameter plus one voxel apart")
            masks.append(m)
            self.probe_mask |= m
        if (self.probe_mask & self.fixed_mask).any():
            raise GeometryError("a probe overlaps the fixed_mask voxels (large vessels): move the probe")
        self.max_probe_power_W = _check_power_limits(max_probe_power_W, len(self.probes))
        self._probe_label = np.full(shape, -1, dtype=np.int16)  # probe index of each probe voxel, else -1
        for i, m in enumerate(masks):
            self._probe_label[m] = i
        self._faces = self._probe_faces()
        #: Held temperature of each probe now [K] (NaN while released).
        self.probe_held_K = np.full(len(self.probes), np.nan)
        self._probe_idx = np.flatnonzero(self.probe_mask)
        if self._probe_idx.size:  # probes and their face neighbours (probe_power_W)
            idx = np.argwhere(self.probe_mask)
            self._probe_box = tuple(slice(max(a - 1, 0), b + 2) for a, b in zip(idx.min(0), idx.max(0), strict=True))

        # -- kernels and step -------------------------------------------------------------------
        self._phase = self.tissue.phase_constants(self.dtype)
        self._phase64 = self.tissue.phase_constants(np.float64)
        self._inv_h2 = tuple(1.0 / h**2 for h in grid.spacing_m)
        C_min = 1.0 / max(float(self._phase64[5]), float(self._phase64[6]), float(self._phase64[7]))
        k_max = max(self.tissue.conductivity_frozen_W_per_mK, self.tissue.conductivity_unfrozen_W_per_mK)
        rate = k_max / C_min * 2.0 * sum(self._inv_h2) + float(self._perf0.max()) / C_min
        self.dt_max_s = 1.0 / rate
        self._step_kernel = get_kernel("enthalpy_step", self.backend)
        self._monitor_kernel = get_kernel("cryo_monitor", self.backend)
        self._volume_kernel = get_kernel("cryo_volumes", self.backend)
        self._dirichlet_kernel = get_kernel("apply_dirichlet", self.backend)
        self._bufH = (np.empty(shape, self.dtype), np.empty(shape, self.dtype))
        self._bufT = (np.empty(shape, self.dtype), np.empty(shape, self.dtype))
        self.set_probes("off")
        self.n_steps = 0
        self.time_s = 0.0

    # -- boundary conditions -------------------------------------------------------------------
    def set_probes(self, state: str, temperature_K: float | None = None) -> None:
        """Probe boundary condition: ``"off"`` (released, tissue-like), ``"cold"`` (held at
        ``temperature_K`` or the probe temperature) or ``"warm"`` (held at the thaw temperature)."""
        if state == "off":
            idx = self._fixed_idx
            vals = self._fixed_T
        elif state in ("cold", "warm"):
            Tp = temperature_K
            if Tp is None:
                Tp = self.probe_temperature_K if state == "cold" else self.thaw_temperature_K
            idx = np.concatenate([self._fixed_idx, self._probe_idx])
            vals = np.concatenate([self._fixed_T, np.full(self._probe_idx.size, float(Tp))])
        else:
            raise ConfigError(f"probe state = {state!r}: must be 'off', 'cold' or 'warm'")
        order = np.argsort(idx)
        self._held_idx = idx[order].astype(np.int64)
        self._held_T = vals[order].astype(self.dtype)
        self._held_H = self.tissue.enthalpy_J_per_m3(vals[order]).astype(self.dtype)
        self.held_mask = np.zeros(self.grid.shape, dtype=bool)
        self.held_mask.reshape(-1)[self._held_idx] = True
        self.probe_state = state
        # positions of probe voxels in the held arrays and their probe index (per-probe temperatures)
        lab = self._probe_label.reshape(-1)[self._held_idx]
        self._held_probe_pos = np.flatnonzero(lab >= 0)
        self._held_probe_lab = lab[self._held_probe_pos]
        n = len(self.probes)
        self.probe_held_K = np.full(n, np.nan) if state == "off" else np.full(n, float(Tp))
        #: minimum (coldest) probe temperature of this freeze [K]
        self._probe_floor_K = float(Tp) if state == "cold" else math.nan
        self._limited = state == "cold" and self.max_probe_power_W is not None and n > 0

    def _probe_faces(self) -> tuple:
        """Faces between each probe's voxels and the voxels around it (not of the same probe).

        Returns (probe label, probe-voxel flat index, neighbour flat index, A/h [m]) per face, sorted by
        probe; A/h = dV/h² of the face (harmonic conductivity × A/h × ΔT is the face's heat flow).
        """
        shape = self.grid.shape
        lab = self._probe_label
        dV = self.grid.voxel_volume_m3
        out = [[], [], [], []]
        for axis in range(3):
            for step in (1, -1):
                # probe voxel p and its neighbour p + step along axis (probes never touch the box faces)
                a = slice(0, -1) if step == 1 else slice(1, None)
                b = slice(1, None) if step == 1 else slice(0, -1)
                sa = tuple(a if i == axis else slice(None) for i in range(3))
                sb = tuple(b if i == axis else slice(None) for i in range(3))
                la, lb = lab[sa], lab[sb]
                idx = np.nonzero((la >= 0) & (lb != la))
                p = list(idx)
                if step == -1:
                    p[axis] = p[axis] + 1
                nb = list(p)
                nb[axis] = nb[axis] + step
                out[0].append(la[idx].astype(np.int64))
                out[1].append(np.ravel_multi_index(tuple(p), shape).astype(np.int64))
                out[2].append(np.ravel_multi_index(tuple(nb), shape).astype(np.int64))
                out[3].append(np.full(idx[0].size, self._inv_h2_axis(axis) * dV))
        lab_f, pi, ni, w = (np.concatenate(v) if v else np.zeros(0) for v in out)
        order = np.argsort(lab_f, kind="stable")
        return lab_f[order].astype(np.int64), pi[order].astype(np.int64), ni[order].astype(np.int64), w[order]

    def _inv_h2_axis(self, axis: int) -> float:
        return 1.0 / self.grid.spacing_m[axis] ** 2  # as self._inv_h2, which is set after the probes

    def _probe_draw(self, T_nb, k_nb, T_p) -> np.ndarray:
        """Heat each probe would draw held at ``T_p`` (one value per probe) [W], neighbours fixed."""
        lab, _, _, w = self._faces
        k_p = self.tissue.conductivity_W_per_mK(T_p)[lab]
        g = w * 2.0 * k_nb * k_p / (k_nb + k_p)
        return np.bincount(lab, g * (T_nb - T_p[lab]), minlength=len(self.probes))

    def _limit_probe_temperatures(self, T) -> None:
        r"""Hold each probe at the coldest temperature whose heat draw does not exceed its limit.

        The draw :math:`P(T_p) = \sum_f g_f(T_p)\,(T_f - T_p)` over the probe's faces f (neighbour
        temperature T_f, conductance g_f = A_f/h_f · harmonic mean of k(T_f) and k(T_p)) falls strictly
        as T_p rises. For a frozen probe voxel (T_p ≤ T_s, k = k_f) it is linear and
        :math:`P = P_{max}` is solved in closed form; above T_s (only while the ice has not yet formed
        around a weak probe) by bisection up to 0 °C. The result is clipped to [minimum probe
        temperature, 0 °C]: at 0 °C a probe draws more than its limit only if the load exceeds it even
        there.
        """
        lab, _, ni, w = self._faces
        n = len(self.probes)
        T_nb = np.asarray(T).reshape(-1)[ni].astype(np.float64)
        k_nb = self.tissue.conductivity_W_per_mK(T_nb)
        k_f = self.tissue.conductivity_frozen_W_per_mK
        g = w * 2.0 * k_nb * k_f / (k_nb + k_f)
        B = np.bincount(lab, g, minlength=n)
        A = np.bincount(lab, g * T_nb, minlength=n)
        P = self.max_probe_power_W
        lo = self._probe_floor_K
        Ts = self.tissue.solidus_K
        hi = max(lo, _K0)
        with np.errstate(divide="ignore", invalid="ignore"):
            Tp = np.where(B > 0, (A - P) / B, lo)
        Tp = np.clip(Tp, lo, hi)
        warm = Tp > Ts
        if warm.any() and hi > Ts:  # mushy or unfrozen probe voxel: k_p varies, bisect on [T_s, 0 °C]
            a = np.full(n, max(lo, Ts))
            b = np.full(n, hi)
            for _ in range(40):  # (0 °C − T_s)/2^40: far below float32 resolution
                mid = 0.5 * (a + b)
                over = self._probe_draw(T_nb, k_nb, mid) > P
                a = np.where(over, mid, a)
                b = np.where(over, b, mid)
            Tp = np.where(warm, b, Tp)
        self.probe_held_K = Tp
        self._held_T[self._held_probe_pos] = Tp[self._held_probe_lab]
        self._held_H[self._held_probe_pos] = self.tissue.enthalpy_J_per_m3(Tp)[self._held_probe_lab]

    def probe_powers_W(self, T) -> np.ndarray:
        """Heat conducted into each probe from the voxels around it [W] (positive while freezing).

        Unlike :meth:`probe_power_W` (free voxels only, all probes together) this counts every face
        of the probe, also those shared with vessels or another probe, as the power limit does.
        """
        if not self.probes:
            return np.zeros(0)
        lab, pi, ni, w = self._faces
        Tf = np.asarray(T).reshape(-1)
        T_nb = Tf[ni].astype(np.float64)
        T_p = Tf[pi].astype(np.float64)
        k_nb = self.tissue.conductivity_W_per_mK(T_nb)
        k_p = self.tissue.conductivity_W_per_mK(T_p)
        g = w * 2.0 * k_nb * k_p / (k_nb + k_p)
        return np.bincount(lab, g * (T_nb - T_p), minlength=len(self.probes))

    def stable_time_step_s(self, safety: float | None = None) -> float:
        """``safety`` (default the model's) × :attr:`dt_max_s` [s]."""
        s = self.safety if safety is None else float(safety)
        if not 0.0 < s <= 1.0:
            raise ConfigError(f"safety = {s:g}: must be in (0, 1]")
        return s * self.dt_max_s

    # -- state ---------------------------------------------------------------------------------
    def initial(self) -> tuple[np.ndarray, np.ndarray]:
        """(H, T) filled from ``initial_K``, held voxels applied (the model's first buffers)."""
        H, T = self._bufH[0], self._bufT[0]
        T[...] = self.initial_K
        H[...] = self.tissue.enthalpy_J_per_m3(self.initial_K)
        # T from H, so that T = T(H) holds bit-for-bit in the kernel's arithmetic
        T[...] = self.tissue.temperature_K(H.astype(np.float64))
        self._apply_held(H, T)
        self.n_steps = 0
        self.time_s = 0.0
        return H, T

    def _apply_held(self, H, T) -> None:
        if self._limited:
            self._limit_probe_temperatures(T)
        if self._held_idx.size:
            self._dirichlet_kernel(H, self._held_idx, self._held_H)
            self._dirichlet_kernel(T, self._held_idx, self._held_T)
        if self.boundary == "insulated":
            for a in (H, T):
                a[0], a[-1] = a[1], a[-2]
                a[:, 0], a[:, -1] = a[:, 1], a[:, -2]
                a[:, :, 0], a[:, :, -1] = a[:, :, 1], a[:, :, -2]

    def step(self, H, T, dt_s: float) -> tuple[np.ndarray, np.ndarray]:
        """Advance (H [J/m³], T [K]) by ``dt_s`` [s]; returns the model's other buffers.

        ``T`` must be T(H) (as returned by :meth:`initial` and :meth:`step`).
        """
        if not 0.0 < dt_s <= self.dt_max_s * (1.0 + 1e-9):
            raise ConfigError(f"dt_s = {dt_s:g} s: must be > 0 and <= the stable limit {self.dt_max_s:.4g} s "
                              "(use stable_time_step_s())")
        i = 1 if H is self._bufH[0] else 0
        Ho, To = self._bufH[i], self._bufT[i]
        if H is not self._bufH[1 - i]:
            self._bufH[1 - i][...] = H
            self._bufT[1 - i][...] = T
            H, T = self._bufH[1 - i], self._bufT[1 - i]
        self._step_kernel(H, T, Ho, To, self.perf, self.q, self.arterial_K, float(dt_s), self._inv_h2, self._phase)
        self._apply_held(Ho, To)
        self.n_steps += 1
        self.time_s += float(dt_s)
        return Ho, To

    def check(self, T) -> None:
        """Raise :class:`~tissuefate.errors.NumericalError` if ``T`` is NaN or leaves [50, 400] K."""
        lo, hi = float(T.min()), float(T.max())
        if T_MIN_K <= lo and hi <= T_MAX_K:
            return
        bad = ~np.isfinite(T) | (T < T_MIN_K) | (T > T_MAX_K)
        where = np.unravel_index(int(np.argmax(bad)), T.shape)
        raise NumericalError(
            f"cryo temperature left [{T_MIN_K:g}, {T_MAX_K:g}] K: T = {float(T[where]):.4g} K at voxel "
            f"{tuple(int(v) for v in where)} at step {self.n_steps} (t = {self.time_s:.1f} s); the time step "
            "is unstable or a held temperature is out of range")

    # -- diagnostics ---------------------------------------------------------------------------
    def free_mask(self) -> np.ndarray:
        """Voxels whose enthalpy evolves now (interior, not held)."""
        return ~self._box & ~self.held_mask

    def enthalpy_J(self, H) -> float:
        """Σ H dV over :meth:`free_mask` [J] (relative to the solidus; differences are meaningful)."""
        free = self.free_mask()
        return float(np.asarray(H, np.float64)[free].sum() * self.grid.voxel_volume_m3)

    def _flux_W(self, T, into, from_, sl=None) -> float:
        """Power conducted from voxels ``from_`` into voxels ``into`` across shared faces [W]."""
        sl = sl or (slice(None),) * 3
        Th = np.asarray(T[sl], np.float64)
        a, b = into[sl], from_[sl]
        k = self.tissue.conductivity_W_per_mK(Th)
        dV = self.grid.voxel_volume_m3
        total = 0.0
        for axis in range(3):
            if self._inv_h2[axis] == 0:
                continue
            lo = tuple(slice(0, -1) if i == axis else slice(None) for i in range(3))
            hi = tuple(slice(1, None) if i == axis else slice(None) for i in range(3))
            kf = 2 * k[lo] * k[hi] / (k[lo] + k[hi])
            F = kf * (Th[hi] - Th[lo]) * self._inv_h2[axis] * dV  # from hi into lo
            total += float(F[a[lo] & b[hi]].sum() - F[a[hi] & b[lo]].sum())
        return total

    def energy_terms(self, T) -> dict:
        r"""Power balance of the free voxels at temperature ``T`` [W].

        Returns
        -------
        dict
            ``source_W``, ``perfusion_W`` (heat carried away by blood), ``boundary_W`` (conducted in
            from box faces), ``held_W`` (conducted in from held voxels: probes, vessels; negative
            while probes freeze) and ``net_W`` = source − perfusion + boundary + held.

        Notes
        -----
        Explicit Euler makes :math:`\sum_{free}(H^{n+1} - H^n)\,dV = \Delta t\cdot\mathrm{net\_W}(T^n)`
        exact up to rounding (internal face fluxes cancel pairwise).
        """
        dV = self.grid.voxel_volume_m3
        free = self.free_mask()
        Th = np.asarray(T, np.float64)
        src = 0.0 if self.q is None else float(self.q[free].astype(np.float64).sum() * dV)
        unfrozen = 1.0 - self.tissue.ice_fraction(Th[free])
        perf = float((unfrozen * self.perf[free] * (Th[free] - self.arterial_K)).sum() * dV)
        boundary = self._flux_W(T, free, self._box)
        held = self._flux_W(T, free, self.held_mask & ~self._box)
        return {"source_W": src, "perfusion_W": perf, "boundary_W": boundary, "held_W": held,
                "net_W": src - perf + boundary + held}

    def probe_power_W(self, T) -> float:
        """Heat flowing from the tissue into the held probes [W] (positive while freezing)."""
        if self.probe_state == "off" or not self._probe_idx.size:
            return 0.0
        sl = self._probe_box
        free = ~self._box[sl] & ~self.held_mask[sl]
        return -self._flux_W(T[sl], free, self.probe_mask[sl])

    # -- protocol ------------------------------------------------------------------------------
    def run(self, protocol: CryoProtocol, progress: ProgressFn | None = None, *,
            record_interval_s: float = 10.0) -> CryoResult:
        """Run ``protocol`` from the initial state and return the freeze record.

        Parameters
        ----------
        protocol : CryoProtocol
        progress : callable(fraction, message), optional
        record_interval_s : float
            Interval of the traces [s].

        Returns
        -------
        CryoResult

        Notes
        -----
        Per phase the probe boundary is set (freeze: held at the probe temperature; passive thaw:
        released; active thaw: held warm), the phase is cut into equal steps no longer than the
        stable step, and every ``monitor_interval_s`` the freeze record (T_min, time below −20 and
        −40 °C, microvascular injury → perfusion 0) is updated. Perfusion is restored to its
        baseline at the start of every run.
        """
        if not isinstance(protocol, CryoProtocol):
            protocol = CryoProtocol(protocol)
        t_wall = time.perf_counter()
        f = self.dtype.type
        H, T = self.initial()
        self.perf[...] = self._perf0
        T_min = T.copy()
        below20 = np.zeros_like(T)
        below40 = np.zeros_like(T)
        thr20 = CRYO["lethal_onset_K"].value
        thr40 = CRYO["lethal_certain_K"].value
        thr_v = CRYO["vascular_injury_K"].value
        dt_max = self.stable_time_step_s()
        traces: dict[str, list] = {k: [] for k in ("time_s", "phase", "ice_volume_m3", "volume_below_0C_m3",
                                                   "volume_below_m20C_m3", "volume_below_m40C_m3",
                                                   "probe_power_W", "probe_temperature_K", "T_min_K")}
        dV = self.grid.voxel_volume_m3
        Ts, Tl, inv_dT = self._phase64[:3]

        def record(ip):
            ice, n0, n20, n40 = self._volume_kernel(T, Tl, inv_dT, (_K0, thr20, thr40))
            for k, v in (("time_s", t), ("phase", ip), ("ice_volume_m3", ice * dV), ("volume_below_0C_m3", n0 * dV),
                         ("volume_below_m20C_m3", n20 * dV), ("volume_below_m40C_m3", n40 * dV),
                         ("probe_power_W", self.probe_power_W(T)),
                         ("probe_temperature_K", float(T[self.probe_mask].mean()) if self.probes else math.nan),
                         ("T_min_K", float(T.min()))):
                traces[k].append(float(v))

        t = 0.0
        total = protocol.duration_s
        record(0)
        next_rec = record_interval_s
        dt_used = dt_max
        for ip, ph in enumerate(protocol.phases):
            state = {"freeze": "cold", "passive_thaw": "off", "active_thaw": "warm"}[ph.kind]
            self.set_probes(state, ph.probe_temperature_K)
            self._apply_held(H, T)
            n = max(1, int(math.ceil(ph.duration_s / dt_max - 1e-9)))
            dt = ph.duration_s / n
            dt_used = min(dt_used, dt)
            every = max(1, int(round(self.monitor_interval_s / dt)))
            since = 0
            for s in range(n):
                H, T = self.step(H, T, dt)
                t += dt
                since += 1
                last = s == n - 1
                if since >= every or last:
                    self._monitor_kernel(T, T_min, below20, below40, self.perf, f(thr20), f(thr40), f(thr_v),
                                         since * dt)
                    since = 0
                if t >= next_rec - 1e-9 or last:
                    self.check(T)
                    record(ip)
                    next_rec = t + record_interval_s
                    if progress is not None:
                        ice_mL = traces["ice_volume_m3"][-1] * 1e6
                        progress(t / total, f"{ph.kind} t = {t:6.0f} s, ice {ice_mL:6.2f} mL")
        self.set_probes("off")
        frozen = self.tissue.ice_fraction(T).astype(self.dtype)
        result = CryoResult(
            grid=self.grid, T_min_K=T_min, T_end_K=T.copy(), frozen_fraction=frozen,
            survival=cryo_survival_fraction(T_min), time_below_m20C_s=below20, time_below_m40C_s=below40,
            vascular_integrity=(T_min >= f(thr_v)).astype(self.dtype), probe_mask=self.probe_mask.copy(),
            traces=traces, dt_s=dt_used, n_steps=self.n_steps, wall_s=time.perf_counter() - t_wall,
            backend=self.backend, protocol=protocol,
            parameters={"tissue": self.tissue.name, "probe_temperature_K": self.probe_temperature_K,
                        "max_probe_power_W": (None if self.max_probe_power_W is None
                                              else [float(v) for v in self.max_probe_power_W]),
                        "thaw_temperature_K": self.thaw_temperature_K, "boundary": self.boundary,
                        "n_probes": len(self.probes), "dtype": str(self.dtype)})
        if progress is not None:
            progress(1.0, "done")
        return result


def _segment_distance_m(a0, a1, b0, b1, n: int = 257) -> float:
    """Smallest distance between segments a0–a1 and b0–b1 [m] (a sampled to n points; exact on b)."""
    a0, a1, b0, b1 = (np.asarray(v, float) for v in (a0, a1, b0, b1))
    p = a0 + np.linspace(0.0, 1.0, n)[:, None] * (a1 - a0)
    d = b1 - b0
    t = np.clip((p - b0) @ d / float(d @ d), 0.0, 1.0)
    return float(np.sqrt((((b0 + t[:, None] * d) - p) ** 2).sum(axis=1)).min())


def _check_power_limits(v, n: int) -> np.ndarray | None:
    """None, or per-probe cooling-power limits [W] (a scalar applies to every probe)."""
    if v is None:
        return None
    try:
        a = np.array(np.broadcast_to(np.asarray(v, dtype=np.float64), (n,)))
    except (TypeError, ValueError):
        raise ConfigError(f"max_probe_power_W = {v!r}: must be None, a number of watts or one per probe "
                          f"({n} probes)") from None
    if not (np.all(np.isfinite(a)) and np.all(a > 0) and np.all(a <= 1000.0)):
        raise ConfigError(f"max_probe_power_W = {v!r}: must be > 0 and <= 1000 W per probe (argon probes: "
                          "tens of watts); None for no limit")
    return a


def _check_K(name: str, v, lo: float, hi: float) -> float:
    v = float(v)
    if not (math.isfinite(v) and lo <= v <= hi):
        raise ConfigError(f"{name} = {v:g} K: must be in {lo:g}-{hi:g} K (did you give degrees Celsius?)")
    return v
