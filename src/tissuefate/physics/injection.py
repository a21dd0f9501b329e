r"""Chemical injection: Darcy spread of an injected agent, transport, washout and kill.

A fluid carrying an agent (ethanol, acetic acid, or — hypothesis only — an oxidant) is injected
at one or more needle tips at a volume rate q for ``volume / rate`` seconds, then left to spread
(diffusion, washout, reaction) for ``spread_s``.

1. **Pressure** (:mod:`tissuefate.physics.darcy`): quasi-steady :math:`-\nabla\cdot(K\nabla p) = q`
   with K per voxel from labels (capsule low; large vessels and the needle tract high), scar and
   heat-fixed tissue (hooks for the fate model), leaks at vessels, the organ surface, the box faces
   and along the tract, and cracking above a crack pressure (Morhard 2020 mechanism). Solved once
   when the injection starts; after it stops there is no Darcy flow.
2. **Transport** (:mod:`tissuefate.backends.transport_kernels`): the injected fluid volume fraction
   s and the agent c [mol/m³ of tissue] move with the pore fluid (flux ``Q X/φ``, φ the mobile
   fraction), implicitly upwind (unconditionally stable, conservative); then explicit diffusion
   with the agent's effective coefficient D and implicit washout at
   :math:`k_w = \omega_b/\lambda` (perfusion over the tissue–blood partition), shut off where the
   agent has killed the tissue (vascular stasis); where scar holds, D may be scaled per voxel
   (``scar_diffusivity_factor``, hypothesis ``scar_blocks_retreatment``; default 1, uniform D):

   .. math:: \partial_t X + \nabla\cdot(\mathbf u X/\varphi) = D\nabla^2 X - k_w X - R

   (R the oxidant's reaction, zero for the other agents).

   Stable step: :math:`\Delta t \le 1/(2D\sum_a h_a^{-2})` (diffusion; advection and washout are
   implicit), capped by ``max_dt_s`` and, while injecting, by ``volume/rate / injection_steps``.
3. **Kill** (agent-specific, :class:`Agent`):

   - *concentration–time* (ethanol, acetic acid): log-kill
     :math:`\Lambda = \int k\,\max(c/(\varphi c_{pure}) - \theta, 0)\,dt`, survival
     :math:`e^{-\Lambda}`; :math:`c/(\varphi c_{pure})` is the agent's volume fraction in the pore
     fluid.
   - *stoichiometric* (oxidant): the free oxidant reacts with the voxel's remaining demand
     D_ox [mol/m³], ``consumed = min(available, remaining)`` (the reaction–diffusion length is
     sub-micrometre, literature.md §7, so the reaction is instantaneous on the grid) — while the
     fluid moves, inside the advection sweep as the oxidant passes each voxel (so it leaves a voxel
     only once that voxel's demand is spent), and after every diffusion step; a voxel
     whose consumed moles reach ``lethal_fraction · D_ox`` dies (survival
     :math:`e^{-\Lambda_{ox}}`). The front volume is ≈ delivered moles / D_ox. Hypothesis hooks:
     ``transport_demand_fraction`` (share of the demand that reacts while the fluid still moves;
     1 = stoichiometric, diffusion-limited picture; < 1 lets the carrier percolate through a
     volume set by the injected volume, the proponents' claim) and
     ``lethal_demand_fraction_tumour`` / ``_normal`` (equal by default: no tumour selectivity).
4. **Balance**: delivered = retained (free + consumed) + leaked (vessel, tract, surface, box)
   + washed out + truncated (values below 1e-12 of the injected fluid fraction or concentration
   flushed to zero after a diffusion step, so that the active box follows the plume and not the
   Gaussian tails), for fluid volume and agent moles, to round-off.

Every number lives in :data:`~tissuefate.tissue.properties.INJECTION` and
:data:`~tissuefate.tissue.properties.AGENTS` with its source and tag; permeabilities, the crack
pressure and the kill rates are order-of-magnitude estimates [E]. Oxidant results are hypothetical.

Performance (2 shared cores, float64): 5 mL of ethanol at 0.1 mL/s with 1 h of spread in a 128³,
1 mm homogeneous region takes ≈ 12 s, of which ≈ 7–9 s are the two pressure solves (GMG-PCG);
the transport works only in a box around the plume.

Limitations (0.1): no tissue distension or fluid pocket at the tip (the fluid only fills the mobile
fraction φ); cracks open instantly at the quasi-steady pressure and never close during the run; one
mobile fraction for all tissue; fluid and agent share D; the ethanol/acetic-acid kill is a
concentration–time law without dehydration or protein fixation changing K during the run; the
injected fluid's viscosity equals that of tissue fluid.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..backends import get_kernel
from ..backends import transport_kernels as _tk  # registers advect_implicit, diffuse_washout
from ..backends.registry import default_backend
from ..errors import ConfigError, NumericalError
from ..geometry import unit
from ..grid import Grid
from ..tissue.labels import N_LABELS, Label
from ..tissue.properties import AGENTS, INJECTION, SPECIES
from .darcy import DarcyFlow, DarcySolver
from .transport import (
    LEAK_PATHS,
    ct_log_kill_rate_per_s,
    diffusion_time_step_s,
    grow_active_box,
    leak_balance,
    react_with_demand,
)

__all__ = [
    "Agent",
    "InjectionNeedle",
    "InjectionProtocol",
    "InjectionModel",
    "InjectionResult",
    "ct_log_kill_rate_per_s",
    "react_with_demand",
    "LEAK_PATHS",
]

ProgressFn = Callable[[float, str], None]
_P = {k: p.value for k, p in INJECTION.items()}
#: Relative amount (of a voxel filled with injected fluid) below which the advection sweep keeps
#: a voxel's content instead of passing it downstream (conservative; see advect_implicit).
PUSH_FLOOR = 1e-9


def _num(where: str, v, unit_: str, lo: float, hi: float, *, lo_open=True, hint: str = "") -> float:
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise ConfigError(f"{where} = {v!r}: must be a number [{unit_}]") from None
    ok = math.isfinite(x) and (x > lo if lo_open else x >= lo) and x <= hi
    if not ok:
        rng = f"{'>' if lo_open else '>='} {lo:g} and <= {hi:g} {unit_}"
        flip = f" Did you mean {-x:g}?" if x < 0 and lo_open and lo == 0 and -x <= hi else ""
        raise ConfigError(f"{where} = {x:g} {unit_}: must be {rng}.{flip}{(' ' + hint) if hint else ''}")
    return x


# ---------------------------------------------------------------------------------------------
# agents, needles, protocol
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Agent:
    r"""An injected agent and its kill law.

    Parameters
    ----------
    name : {"ethanol", "acetic_acid", "oxidant"}
    kill_law : {"concentration_time", "stoichiometric"}
    concentration_mol_per_m3 : float
        Agent concentration of the injected fluid [mol/m³].
    diffusion_m2_per_s : float
        Effective diffusion coefficient in tissue [m²/s].
    pure_concentration_mol_per_m3 : float
        Concentration of the pure agent, the reference of the concentration–time law [mol/m³].
    kill_rate_per_s, kill_threshold : float
        k [1/s] and θ [1] of the concentration–time law.
    demand_mol_per_kg : float
        Oxidant demand of tissue [mol/kg] (stoichiometric law).
    kill_log_reduction : float
        Λ of a voxel killed by the stoichiometric law [1].

    Notes
    -----
    Concentration–time: :math:`d\Lambda/dt = k\max(c_p/c_{pure} - \theta, 0)`, c_p the pore-fluid
    concentration. Stoichiometric: see :func:`react_with_demand`.

    Examples
    --------
    >>> Agent.ethanol().concentration_mol_per_m3 > 16000
    True
    >>> Agent.from_name("bleach")
    Traceback (most recent call last):
    ...
    tissuefate.errors.ConfigError: agent = 'bleach': must be one of ['acetic_acid', 'ethanol', 'oxidant']
    """

    name: str
    kill_law: str
    concentration_mol_per_m3: float
    diffusion_m2_per_s: float
    pure_concentration_mol_per_m3: float = 0.0
    kill_rate_per_s: float = 0.0
    kill_threshold: float = 0.0
    demand_mol_per_kg: float = 0.0
    kill_log_reduction: float = 0.0

    def __post_init__(self):
        if self.kill_law not in ("concentration_time", "stoichiometric"):
            raise ConfigError(f"agent.kill_law = {self.kill_law!r}: must be 'concentration_time' or "
                              "'stoichiometric'")
        _num("agent.diffusion_m2_per_s", self.diffusion_m2_per_s, "m^2/s", 0.0, 1e-8, lo_open=False,
             hint="(small molecules in tissue: ~1e-10 to 2e-9)")
        if self.kill_law == "concentration_time":
            _num("agent.concentration_mol_per_m3", self.concentration_mol_per_m3, "mol/m^3", 0.0,
                 self.pure_concentration_mol_per_m3, hint="(at most the pure agent)")
            _num("agent.kill_rate_per_s", self.kill_rate_per_s, "1/s", 0.0, 100.0, lo_open=False)
            _num("agent.kill_threshold", self.kill_threshold, "1", 0.0, 1.0, lo_open=False)
        else:
            _num("agent.concentration_mol_per_m3", self.concentration_mol_per_m3, "mol/m^3", 0.0,
                 AGENTS["oxidant"]["solubility_mol_per_m3"].value, hint="(solubility of ClO2 ~8 g/L)")
            _num("agent.demand_mol_per_kg", self.demand_mol_per_kg, "mol/kg", 0.0, 10.0,
                 hint="(estimate 0.2-0.5 mol/kg = mmol/g)")
            _num("agent.kill_log_reduction", self.kill_log_reduction, "1", 0.0, 100.0)

    @classmethod
    def ethanol(cls, concentration_fraction: float = AGENTS["ethanol"]["default_fraction"].value) -> Agent:
        """Ethanol at volume fraction ``concentration_fraction`` (default 95 %) in water."""
        f = _num("agent.concentration_fraction", concentration_fraction, "1", 0.0, 1.0,
                 hint="(a volume fraction: 0.95 for 95 % ethanol)")
        a = {k: p.value for k, p in AGENTS["ethanol"].items()}
        c = a["pure_concentration_mol_per_m3"]
        return cls("ethanol", "concentration_time", f * c, a["diffusion_m2_per_s"], c, a["kill_rate_per_s"],
                   a["kill_threshold"])

    @classmethod
    def acetic_acid(cls, fraction: float = AGENTS["acetic_acid"]["default_fraction"].value) -> Agent:
        """Acetic acid at volume fraction ``fraction`` (default 50 %, Ohnishi 1998)."""
        f = _num("agent.fraction", fraction, "1", 0.0, 1.0, hint="(a volume fraction: 0.5 for 50 %)")
        a = {k: p.value for k, p in AGENTS["acetic_acid"].items()}
        c = a["pure_concentration_mol_per_m3"]
        return cls("acetic_acid", "concentration_time", f * c, a["diffusion_m2_per_s"], c, a["kill_rate_per_s"],
                   a["kill_threshold"])

    @classmethod
    def oxidant(cls, concentration_mol_per_m3: float | None = None, *,
                demand_mol_per_kg: float | None = None) -> Agent:
        """Chlorine dioxide solution (hypothesis only; literature.md §7)."""
        a = {k: p.value for k, p in AGENTS["oxidant"].items()}
        c = a["default_concentration_mol_per_m3"] if concentration_mol_per_m3 is None else concentration_mol_per_m3
        d = a["demand_mol_per_kg"] if demand_mol_per_kg is None else demand_mol_per_kg
        return cls("oxidant", "stoichiometric", c, a["diffusion_m2_per_s"], demand_mol_per_kg=d,
                   kill_log_reduction=a["kill_log_reduction"])

    @classmethod
    def from_name(cls, name: str, **kw) -> Agent:
        """Preset by name (``"ethanol"``, ``"acetic_acid"``, ``"oxidant"``)."""
        makers = {"ethanol": cls.ethanol, "acetic_acid": cls.acetic_acid, "oxidant": cls.oxidant}
        if name not in makers:
            raise ConfigError(f"agent = {name!r}: must be one of {sorted(makers)}")
        return makers[name](**kw)


_GAUGES = {g: INJECTION[f"needle_{g}G_diameter_m"].value for g in (18, 20, 21, 22)}


@dataclass(frozen=True)
class InjectionNeedle:
    """A straight injection needle: the fluid leaves at the tip; the shaft leaves a tract.

    Parameters
    ----------
    tip_m : 3-vector
        World position of the tip [m].
    direction : 3-vector
        From the tip towards the hub (out of the organ); normalised here.
    gauge : {18, 20, 21, 22}
        Needle gauge (outer diameters in :data:`INJECTION`, Stubs table [R]). Recorded; the tract's
        backflow conductance is one parameter (``tract_conductance_m4_per_Pa_s``), not yet scaled
        with the gauge.

    Examples
    --------
    >>> InjectionNeedle((0, 0, 0), (0, 0, 2), 21).direction
    (0.0, 0.0, 1.0)
    """

    tip_m: tuple
    direction: tuple = (0.0, 0.0, 1.0)
    gauge: int = 21

    def __post_init__(self):
        try:
            tip = tuple(float(v) for v in self.tip_m)
        except (TypeError, ValueError):
            raise ConfigError(f"needle.tip_m = {self.tip_m!r}: must be three numbers [m]") from None
        if len(tip) != 3 or not all(math.isfinite(v) for v in tip):
            raise ConfigError(f"needle.tip_m = {self.tip_m}: must be three finite numbers [m]")
        try:
            d = unit(self.direction)
        except ValueError:
            raise ConfigError(f"needle.direction = {self.direction}: must be a non-zero 3-vector") from None
        if d.shape != (3,):
            raise ConfigError(f"needle.direction = {self.direction}: must be a non-zero 3-vector")
        if self.gauge not in _GAUGES:
            raise ConfigError(f"needle.gauge = {self.gauge!r}: must be one of {sorted(_GAUGES)}")
        object.__setattr__(self, "tip_m", tip)
        object.__setattr__(self, "direction", tuple(float(v) for v in d))

    @property
    def diameter_m(self) -> float:
        return _GAUGES[self.gauge]


@dataclass(frozen=True)
class InjectionProtocol:
    """Inject ``volume_m3`` at ``rate_m3_per_s`` (total over all needles), then wait ``spread_s``.

    Examples
    --------
    >>> p = InjectionProtocol.from_mL(5.0, 0.1, spread_min=60)
    >>> round(p.injection_s, 6), p.spread_s
    (50.0, 3600.0)
    >>> InjectionProtocol(-3e-6, 1e-7)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    tissuefate.errors.ConfigError: injection.volume_m3 = -3e-06 m^3: must be > 0 and <= 0.0001 m^3. Did you mean...
    """

    volume_m3: float
    rate_m3_per_s: float
    spread_s: float = 3600.0

    def __post_init__(self):
        _num("injection.volume_m3", self.volume_m3, "m^3", 0.0, 1e-4, hint="(100 mL at most)")
        _num("injection.rate_m3_per_s", self.rate_m3_per_s, "m^3/s", 0.0, 5e-6,
             hint="(5 mL/s at most; clinical 0.01-1 mL/s)")
        _num("injection.spread_s", self.spread_s, "s", 0.0, 86400.0, lo_open=False)

    @classmethod
    def from_mL(cls, volume_mL: float, rate_mL_per_s: float, *, spread_min: float = 60.0) -> InjectionProtocol:
        """From the config boundary's units (mL, mL/s, minutes)."""
        v = _num("injection.volume_mL", volume_mL, "mL", 0.0, 100.0)
        r = _num("injection.rate_mL_per_s", rate_mL_per_s, "mL/s", 0.0, 5.0)
        t = _num("injection.spread_min", spread_min, "min", 0.0, 1440.0, lo_open=False)
        return cls(v * 1e-6, r * 1e-6, 60.0 * t)

    @property
    def injection_s(self) -> float:
        return self.volume_m3 / self.rate_m3_per_s


# ---------------------------------------------------------------------------------------------
# result
# ---------------------------------------------------------------------------------------------


@dataclass
class InjectionResult:
    """Fields and balance of one injection (SI units, float64 arrays on the model's grid).

    Attributes
    ----------
    fluid_fraction : ndarray
        Injected fluid volume per tissue volume at the end [1].
    fluid_fraction_peak : ndarray
    concentration_mol_per_m3, concentration_peak_mol_per_m3 : ndarray
        Free agent at the end and its maximum over the run [mol/m³ of tissue].
    consumed_mol_per_m3 : ndarray
        Oxidant reacted with the tissue's demand [mol/m³] (zero for other agents).
    log_kill : ndarray
        Λ, survival = exp(−Λ) [1].
    survival : ndarray
        Cell survival fraction [1].
    cracked : ndarray of bool
    pressure_peak_Pa : ndarray
        Pressure during the injection (quasi-steady, so also its peak) [Pa].
    vascular_integrity : ndarray
        Factor this session applies to microvascular integrity [1] (0 where stasis).
    tract : ndarray of bool
        Needle-tract voxels.
    balance : dict
        ``fluid`` and ``agent`` dicts: delivered, retained (and consumed), ``leaked`` by path
        (:data:`LEAK_PATHS`), ``leaked_via_cracks`` (subset: sink outflow from cracked voxels),
        ``washed_out``, ``truncated``, ``relative_error`` — volumes in m³, amounts in mol.
    traces : dict of list
        Fluid time course, sampled every 10 steps and at the end: ``time_s``, ``delivered_m3``,
        ``retained_m3`` (free injected fluid in tissue), ``washed_out_m3`` and ``lost_m3`` (leaked
        plus truncated: delivered − retained − washed out, exact by the balance).
    """

    grid: Grid
    agent: Agent
    protocol: InjectionProtocol
    fluid_fraction: np.ndarray
    fluid_fraction_peak: np.ndarray
    concentration_mol_per_m3: np.ndarray
    concentration_peak_mol_per_m3: np.ndarray
    consumed_mol_per_m3: np.ndarray
    log_kill: np.ndarray
    survival: np.ndarray
    cracked: np.ndarray
    pressure_peak_Pa: np.ndarray
    vascular_integrity: np.ndarray
    tract: np.ndarray
    balance: dict
    mobile_fraction: float
    dt_injection_s: float
    dt_spread_s: float
    n_steps: int
    wall_s: float
    backend: str
    parameters: dict = field(default_factory=dict)
    traces: dict = field(default_factory=dict)

    def killed_mask(self, survival_below: float = 0.01) -> np.ndarray:
        """Voxels whose survival fell below ``survival_below``."""
        return self.survival < survival_below

    def killed_volume_m3(self, survival_below: float = 0.01) -> float:
        return float(self.killed_mask(survival_below).sum() * self.grid.voxel_volume_m3)

    def distribution_mask(self, threshold: float | None = None) -> np.ndarray:
        """Voxels where injected fluid filled >= ``threshold`` of the mobile volume (peak)."""
        t = _P["distribution_threshold"] if threshold is None else float(threshold)
        return self.fluid_fraction_peak >= t * self.mobile_fraction

    def distribution_volume_m3(self, threshold: float | None = None) -> float:
        return float(self.distribution_mask(threshold).sum() * self.grid.voxel_volume_m3)

    def shape_metrics(self, mask=None, centre_m=None) -> dict:
        """Sphericity and uncontrolled spread of a region (default: the distribution mask).

        ``sphericity`` = π^{1/3}(6V)^{2/3}/A with A the exposed voxel-face area (a voxelised ball
        scores ≈ 0.65–0.7, lower is less spherical); ``uncontrolled_m3`` = region volume outside
        the ball of equal volume centred at ``centre_m`` (default: the first needle tip);
        ``max_radius_m`` = largest distance from that centre.
        """
        m = self.distribution_mask() if mask is None else np.asarray(mask, bool)
        V = float(m.sum() * self.grid.voxel_volume_m3)
        if V == 0:
            return {"volume_m3": 0.0, "sphericity": 0.0, "uncontrolled_m3": 0.0, "max_radius_m": 0.0}
        hx, hy, hz = self.grid.spacing_m
        areas = (hy * hz, hx * hz, hx * hy)
        A = 0.0
        for ax in range(3):
            pad = np.pad(m, [(1, 1) if a == ax else (0, 0) for a in range(3)])
            A += float(np.count_nonzero(np.diff(pad.astype(np.int8), axis=ax))) * areas[ax]
        if centre_m is None:
            tips = self.parameters.get("tips_m")
            centre_m = tips[0] if tips else self.grid.world_of((np.asarray(self.grid.shape) - 1) / 2)
        c = np.asarray(centre_m, float)
        x, y, z = self.grid.coordinates_m()
        r = np.sqrt((x - c[0]) ** 2 + (y - c[1]) ** 2 + (z - c[2]) ** 2)
        R = (3.0 * V / (4.0 * np.pi)) ** (1.0 / 3.0)
        return {"volume_m3": V, "sphericity": float(np.pi ** (1 / 3) * (6 * V) ** (2 / 3) / A),
                "uncontrolled_m3": float((m & (r > R)).sum() * self.grid.voxel_volume_m3),
                "max_radius_m": float(r[m].max())}

    def summary(self) -> dict:
        """Scalar outcomes (SI units) for reports."""
        f, a = self.balance["fluid"], self.balance["agent"]
        return {
            "agent": self.agent.name,
            "delivered_volume_m3": f["delivered"],
            "retained_volume_m3": f["retained"],
            "leaked_volume_m3": sum(f["leaked"].values()),
            **{f"leaked_{k}_m3": v for k, v in f["leaked"].items()},
            "leaked_via_cracks_m3": f["leaked_via_cracks"],
            "washed_out_volume_m3": f["washed_out"],
            "distribution_volume_m3": self.distribution_volume_m3(),
            "killed_volume_m3": self.killed_volume_m3(),
            "cracked_volume_m3": float(self.cracked.sum() * self.grid.voxel_volume_m3),
            "peak_pressure_Pa": float(self.pressure_peak_Pa.max()),
            "delivered_agent_mol": a["delivered"],
            "consumed_agent_mol": a["consumed"],
            "leaked_agent_mol": sum(a["leaked"].values()),
            "balance_relative_error_fluid": f["relative_error"],
            "balance_relative_error_agent": a["relative_error"],
        }


# ---------------------------------------------------------------------------------------------
# model
# ---------------------------------------------------------------------------------------------


def _harmonic_face_weights(f: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-face weights 2 f_i f_j / (f_i + f_j) between neighbours along each axis (C-contiguous)."""
    out = []
    for ax in range(3):
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[ax] = slice(0, -1)
        hi[ax] = slice(1, None)
        a, b = f[tuple(lo)], f[tuple(hi)]
        out.append(np.ascontiguousarray(2.0 * a * b / np.maximum(a + b, 1e-300)))
    return tuple(out)


class InjectionModel:
    r"""Injection of an agent through needles into labelled tissue (module docstring).

    Parameters
    ----------
    grid : Grid
    label : ndarray of uint8
        :class:`~tissuefate.tissue.labels.Label` per voxel; ``OUTSIDE`` voxels are outside the organ
        (p = 0, no transport).
    agent : Agent
    needles : sequence of InjectionNeedle
        The protocol's volume and rate are split equally between them.
    perfusion_per_s : float or ndarray
        Blood perfusion ω_b [1/s] including microvascular integrity (e.g.
        :func:`~tissuefate.tissue.maps.perfusion_map`); 0 ex vivo.
    scar, fixed : ndarray, optional
        Scar fraction and heat-fixed (coagulated) volume fraction [1]; blend K towards
        ``scar_factor`` / ``fixed_factor`` × K.
    scar_diffusivity_factor : float
        Agent (and fluid) diffusivity in fully scarred tissue relative to tissue, in (0, 1]; the
        voxel factor blends linearly with ``scar`` as K does, :math:`f = 1 - S + S\,f_{scar}`,
        and a face takes the harmonic mean of its two voxels' factors (flux continuity). 1 (the
        default): uniform D, the scar-free kernel path (hypothesis ``scar_blocks_retreatment``
        sets it).
    conductivity_factor : ndarray, optional
        Extra multiplier of K per voxel [1] (heterogeneity, septa).
    vessel_leak_factor : float
        Scales the venous sink and the washout inside large vessels, in [0, 1] (hemostasis hook).
    transport_demand_fraction : float
        Oxidant only: share of the demand that reacts while the fluid moves, in [0, 1].
    lethal_demand_fraction_tumour, lethal_demand_fraction_normal : float
        Oxidant only: share of a voxel's demand that must be consumed to kill it, in (0, 1].
    density_kg_per_m3 : float
        Tissue density for the oxidant demand per volume [kg/m³].
    cracking : bool
        Iterate the pressure solve with cracks.
    overrides : dict, optional
        Replacement values for :data:`~tissuefate.tissue.properties.INJECTION` entries (same names,
        SI units), e.g. ``{"crack_pressure_Pa": 5e4}``.
    backend : {"numba", "numpy"}, optional
    max_dt_s : float
        Largest time step [s] (quadrature of the kill law, vascular stasis updates).
    injection_steps : int
        At least this many steps during the injection (front resolution of the implicit advection).
    safety : float
        Fraction of the diffusion stability limit used, in (0, 1].

    Examples
    --------
    >>> g = Grid.cube(16, 1e-3)
    >>> lab = np.full(g.shape, Label.PARENCHYMA, np.uint8)
    >>> m = InjectionModel(g, lab, agent=Agent.ethanol(), needles=[InjectionNeedle((0, 0, 0))], backend="numpy")
    >>> r = m.run(InjectionProtocol(0.1e-6, 0.01e-6, spread_s=60.0))
    >>> abs(r.balance["fluid"]["relative_error"]) < 1e-9, r.killed_volume_m3() > 0
    (True, True)
    """

    def __init__(self, grid: Grid, label, *, agent: Agent, needles: Sequence[InjectionNeedle],
                 perfusion_per_s=0.0, scar=None, fixed=None, conductivity_factor=None,
                 vessel_leak_factor: float = 1.0, transport_demand_fraction: float = 1.0,
                 scar_diffusivity_factor: float = 1.0,
                 lethal_demand_fraction_tumour: float = 1.0, lethal_demand_fraction_normal: float = 1.0,
                 density_kg_per_m3: float = SPECIES["human"].density_kg_per_m3.value, cracking: bool = True,
                 overrides: dict | None = None, backend: str | None = None, max_dt_s: float = 30.0,
                 injection_steps: int = 50, safety: float = 0.9):
        if not isinstance(grid, Grid):
            raise ConfigError(f"grid = {type(grid).__name__}: must be a tissuefate.grid.Grid")
        if not isinstance(agent, Agent):
            raise ConfigError(f"agent = {agent!r}: must be an Agent (e.g. Agent.ethanol())")
        self.grid, self.agent = grid, agent
        shape = grid.shape
        lab = np.asarray(label)
        if lab.shape != shape:
            raise ConfigError(f"label.shape = {lab.shape} differs from grid.shape = {shape}")
        if lab.size and (lab.min() < 0 or lab.max() >= N_LABELS):
            raise ConfigError(f"label values must be Label codes 0-{N_LABELS - 1}; got {lab.min()}-{lab.max()}")
        self.label = np.ascontiguousarray(lab, dtype=np.uint8)
        self.backend = backend or default_backend()
        if self.backend not in ("numpy", "numba"):
            raise ConfigError(f"backend = {self.backend!r}: the injection model runs on 'numpy' or 'numba'")
        p = dict(_P)
        for k, v in (overrides or {}).items():
            if k not in INJECTION:
                raise ConfigError(f"overrides[{k!r}]: unknown parameter; allowed: {sorted(INJECTION)}")
            p[k] = _num(f"overrides[{k!r}]", v, INJECTION[k].unit, 0.0, 1e12)
        self.params = p
        self.vessel_leak_factor = _num("vessel_leak_factor", vessel_leak_factor, "1", 0.0, 1.0, lo_open=False)
        self.scar_diffusivity_factor = _num("scar_diffusivity_factor", scar_diffusivity_factor, "1", 0.0, 1.0)
        self.transport_demand_fraction = _num("transport_demand_fraction", transport_demand_fraction, "1", 0.0,
                                              1.0, lo_open=False)
        self.lethal_tumour = _num("lethal_demand_fraction_tumour", lethal_demand_fraction_tumour, "1", 0.0, 1.0)
        self.lethal_normal = _num("lethal_demand_fraction_normal", lethal_demand_fraction_normal, "1", 0.0, 1.0)
        self.density = _num("density_kg_per_m3", density_kg_per_m3, "kg/m^3", 500.0, 2000.0)
        self.max_dt_s = _num("max_dt_s", max_dt_s, "s", 0.0, 600.0)
        self.safety = _num("safety", safety, "1", 0.0, 1.0)
        if int(injection_steps) < 1:
            raise ConfigError(f"injection_steps = {injection_steps}: must be >= 1")
        self.injection_steps = int(injection_steps)
        self.cracking = bool(cracking)
        #: relative floor of the numba advection sweep (:data:`PUSH_FLOOR`; 0 = exact reference)
        self.push_floor = PUSH_FLOOR
        self.phi = _num("overrides['mobile_fraction']", p["mobile_fraction"], "1", 0.0, 1.0)

        L = self.label
        self.transported = L != Label.OUTSIDE
        if not self.transported.any():
            raise ConfigError("label is OUTSIDE everywhere: there is no tissue to inject into")
        self.vessel = L == Label.LARGE_VESSEL
        # 0: no diffusion; 1: tissue; 2: large vessel (its washout is a vessel leak)
        self.diffusive = ((self.transported & (L != Label.APPLICATOR)) * (1 + self.vessel)).astype(np.uint8)

        # -- needles: source voxels and tracts ----------------------------------------------------
        needles = tuple(needles)
        if not needles:
            raise ConfigError("needles: need at least one InjectionNeedle")
        self.needles = needles
        self.source_mask = np.zeros(shape, bool)
        self.tract = L == Label.TRACT
        self._tips = []
        for n, nd in enumerate(needles):
            if not isinstance(nd, InjectionNeedle):
                raise ConfigError(f"needles[{n}] = {nd!r}: must be an InjectionNeedle")
            if not grid.contains(nd.tip_m):
                lo = grid.world_of((-0.5, -0.5, -0.5))
                hi = grid.world_of(np.array(shape) - 0.5)
                raise ConfigError(
                    f"needles[{n}].tip_mm = {tuple(round(1e3 * v, 2) for v in nd.tip_m)}: lies outside the grid "
                    f"({tuple(round(1e3 * v, 1) for v in lo)} to {tuple(round(1e3 * v, 1) for v in hi)} mm); "
                    "move the tip or enlarge the region")
            ijk = grid.index_of(nd.tip_m)
            if L[ijk] in (Label.OUTSIDE, Label.APPLICATOR, Label.LARGE_VESSEL):
                raise ConfigError(f"needles[{n}] tip lies in a {Label(L[ijk]).name} voxel {ijk}: it must lie in "
                                  "tissue (parenchyma, tumour, capsule)")
            if self.source_mask[ijk]:
                raise ConfigError(f"needles[{n}] tip shares voxel {ijk} with another needle: space the tips")
            self.source_mask[ijk] = True
            self._tips.append(nd.tip_m)
            self.tract |= self._tract_of(nd)
        self.tract &= self.transported & ~self.source_mask & ~self.vessel & (L != Label.APPLICATOR)

        # -- conductivity -------------------------------------------------------------------------
        K = np.full(shape, p["conductivity_parenchyma_m2_per_Pa_s"])
        for lbl, key in ((Label.TUMOUR, "tumour_factor"), (Label.CAPSULE, "capsule_factor"),
                         (Label.LARGE_VESSEL, "vessel_factor"), (Label.APPLICATOR, "applicator_factor")):
            K[L == lbl] *= p[key]
        # the tract is a one-voxel line: its channel conductance G_t (K·A of the gap) spread over the
        # voxel's cross-section h² keeps the leak independent of the grid spacing
        h2 = float(np.prod(grid.spacing_m)) ** (2.0 / 3.0)
        K[self.tract] += p["tract_conductance_m4_per_Pa_s"] / h2
        self._face_weights = None
        for name, arr, key in (("scar", scar, "scar_factor"), ("fixed", fixed, "fixed_factor")):
            if arr is not None:
                a = self._fraction_map(name, arr)
                K *= (1.0 - a) + a * p[key]
                if name == "scar" and self.scar_diffusivity_factor != 1.0 and a.any():
                    self._face_weights = _harmonic_face_weights((1.0 - a) + a * self.scar_diffusivity_factor)
        if conductivity_factor is not None:
            f = np.asarray(conductivity_factor, dtype=np.float64)
            if f.shape != shape or not np.all(np.isfinite(f)) or f.min() <= 0:
                raise ConfigError(f"conductivity_factor must be finite, > 0 and of the grid shape {shape}")
            K *= f
        self.conductivity_m2_per_Pa_s = K

        # -- washout, demand, lethal fractions ---------------------------------------------------------
        w = np.asarray(perfusion_per_s, dtype=np.float64)
        if w.ndim and w.shape != shape:
            raise ConfigError(f"perfusion_per_s.shape = {w.shape} differs from grid.shape = {shape}")
        if not (np.all(np.isfinite(w)) and w.min() >= 0 and w.max() <= 0.1):
            raise ConfigError("perfusion_per_s must be finite and in 0-0.1 1/s (liver about 3.6e-3)")
        kw = np.broadcast_to(w / p["washout_partition"], shape).copy()
        kw[self.vessel] = p["vessel_washout_per_s"] * self.vessel_leak_factor
        kw[~self.transported] = 0.0
        self._kw0 = kw
        self.demand_mol_per_m3 = np.where(self.transported, agent.demand_mol_per_kg * self.density, 0.0)
        self.lethal_fraction = np.where(L == Label.TUMOUR, self.lethal_tumour, self.lethal_normal)
        self._darcy = DarcySolver(grid, ~self.transported)
        D = agent.diffusion_m2_per_s
        inv_h2 = [1.0 / h**2 for h in grid.spacing_m]
        self.dt_diffusion_s = diffusion_time_step_s(D, grid.spacing_m, self.safety)
        self._inv_h2 = inv_h2
        self._advect = get_kernel("advect_implicit", self.backend)
        self._diffuse = get_kernel("diffuse_washout", self.backend)

    @classmethod
    def from_state(cls, state, *, agent: Agent, needles: Sequence[InjectionNeedle], species: str = "human",
                   in_vivo: bool = True, table=None, **kw) -> InjectionModel:
        """A model on a :class:`~tissuefate.tissue.state.TissueState`: labels, scar, heat-fixed
        necrosis (``debris × fixed``) and perfusion (:func:`~tissuefate.tissue.maps.perfusion_map`,
        which applies microvascular integrity) from ``table`` — the scenario's
        :class:`~tissuefate.tissue.properties.MaterialTable`, which carries a perfusion override —
        or, without one, from the species preset (``species``, ``in_vivo``; with a table its own)."""
        from ..tissue.maps import perfusion_map
        from ..tissue.properties import material_table

        if table is None:
            table = material_table(species, tumour_type=state.tumour_type, in_vivo=in_vivo)
        species = table.species
        kw.setdefault("perfusion_per_s", perfusion_map(state, table).astype(np.float64))
        kw.setdefault("scar", state.scar)
        kw.setdefault("fixed", np.asarray(state.debris, np.float64) * state.fixed)
        kw.setdefault("density_kg_per_m3", SPECIES[species].density_kg_per_m3.value)
        return cls(state.grid, state.label, agent=agent, needles=needles, **kw)

    # -- helpers ------------------------------------------------------------------------------------
    def _fraction_map(self, name, arr) -> np.ndarray:
        a = np.asarray(arr, dtype=np.float64)
        if a.shape != self.grid.shape:
            raise ConfigError(f"{name}.shape = {a.shape} differs from grid.shape = {self.grid.shape}")
        if not (np.all(np.isfinite(a)) and a.min() >= -1e-6 and a.max() <= 1 + 1e-6):
            raise ConfigError(f"{name} must be a fraction in [0, 1]")
        return np.clip(a, 0.0, 1.0)

    def _tract_of(self, nd: InjectionNeedle) -> np.ndarray:
        """A face-connected line of voxels along the shaft, from the tip to where the shaft leaves
        the organ or the grid (there the tract drains)."""
        g = self.grid
        out = np.zeros(g.shape, bool)
        step = 0.25 * min(g.spacing_m)
        tip = np.asarray(nd.tip_m)
        d = np.asarray(nd.direction)
        prev = np.array(g.index_of(tip))
        for n in range(1, 1_000_000):
            ijk = np.array(g.index_of(tip + n * step * d))
            if (ijk == prev).all():
                continue
            # step one axis at a time so that the line stays face-connected
            for ax in np.flatnonzero(ijk != prev):
                prev = prev.copy()
                prev[ax] = ijk[ax]
                t = tuple(int(v) for v in prev)
                if not all(0 <= v < m for v, m in zip(t, g.shape, strict=True)) or self.label[t] == Label.OUTSIDE:
                    return out
                out[t] = True
        return out

    def _vessel_sink(self, K):
        h = self.grid.voxel_volume_m3 ** (1.0 / 3.0)
        return self.vessel * (self.vessel_leak_factor * self.params["vessel_sink_factor"] * 2.0 * h) * K

    def solve_pressure(self, rate_m3_per_s: float) -> DarcyFlow:
        """Quasi-steady pressure and fluxes at total rate ``rate_m3_per_s`` (cracks included)."""
        q = np.zeros(self.grid.shape)
        q[self.source_mask] = rate_m3_per_s / self.source_mask.sum()
        crackable = self.transported & ~self.vessel & (self.label != Label.APPLICATOR)
        pc = np.full(self.grid.shape, self.params["crack_pressure_Pa"])
        pc[self.tract] *= self.params["tract_crack_pressure_factor"]
        return self._darcy.solve_cracking(
            self.conductivity_m2_per_Pa_s, q, crack_pressure_Pa=pc,
            crack_factor=self.params["crack_factor"] if self.cracking else 1.0, crackable=crackable,
            vessel_sink=self._vessel_sink, max_iterations=12 if self.cracking else 1)

    # -- run ----------------------------------------------------------------------------------------
    def run(self, protocol: InjectionProtocol, progress: ProgressFn | None = None) -> InjectionResult:
        """Inject, then let the agent spread; returns fields, kill and balance."""
        if not isinstance(protocol, InjectionProtocol):
            raise ConfigError(f"protocol = {protocol!r}: must be an InjectionProtocol")
        t_wall = time.perf_counter()
        g, a, phi = self.grid, self.agent, self.phi
        shape, V = g.shape, g.voxel_volume_m3
        inv_phi = 1.0 / phi
        T_inj, T_spr = protocol.injection_s, protocol.spread_s
        rate = protocol.rate_m3_per_s

        flow = self.solve_pressure(rate)
        source = np.zeros(shape)
        source[self.source_mask] = rate / self.source_mask.sum()
        p = flow.pressure_Pa
        flat_t = np.flatnonzero(self.transported)
        order = flat_t[np.argsort(-p.ravel()[flat_t], kind="stable")].astype(np.int64)
        plan = _tk.AdvectionPlan(order, flow.qx, flow.qy, flow.qz, np.ascontiguousarray(flow.sink_m3_per_s),
                                 np.ascontiguousarray(flow.outflow_m3_per_s()), source)
        rank = plan.rank

        s, c = np.zeros(shape), np.zeros(shape)
        s2, c2 = np.zeros(shape), np.zeros(shape)
        leak_s, leak_c = np.zeros(shape), np.zeros(shape)
        wash_s = wash_c = vwash_s = vwash_c = 0.0
        flush_s, flush_c = _tk.FLUSH_BELOW, _tk.FLUSH_BELOW * max(a.concentration_mol_per_m3, 1e-300)
        consumed = np.zeros(shape)
        lam = np.zeros(shape)
        s_peak, c_peak = np.zeros(shape), np.zeros(shape)
        kw = self._kw0.copy()
        dead_vasc = np.zeros(shape, bool)
        i0, j0, k0 = np.argwhere(self.source_mask).min(0)
        i1, j1, k1 = np.argwhere(self.source_mask).max(0) + 1
        box = np.array([i0, i1, j0, j1, k0, k1], np.int64)
        k_end = int(rank[self.source_mask].max())
        full = self.backend == "numpy"
        if full:
            box[:] = (0, shape[0], 0, shape[1], 0, shape[2])
        trunc_s = trunc_c = 0.0
        delivered_s = delivered_c = 0.0
        stasis_lam = -math.log(self.params["vascular_stasis_survival"])
        ct = a.kill_law == "concentration_time"
        inj_demand = self.transport_demand_fraction * self.demand_mol_per_m3

        dt_inj = min(self.dt_diffusion_s, self.max_dt_s, T_inj / self.injection_steps)
        n_inj = max(1, math.ceil(T_inj / dt_inj - 1e-9))
        dt_inj = T_inj / n_inj
        dt_spr = min(self.dt_diffusion_s, self.max_dt_s)
        n_spr = 0 if T_spr == 0 else max(1, math.ceil(T_spr / dt_spr - 1e-9))
        dt_spr = T_spr / n_spr if n_spr else 0.0
        n_total = n_inj + n_spr
        d_inj = tuple(a.diffusion_m2_per_s * dt_inj * ih for ih in self._inv_h2)
        d_spr = tuple(a.diffusion_m2_per_s * dt_spr * ih for ih in self._inv_h2)
        traces: dict[str, list] = {k: [] for k in ("time_s", "delivered_m3", "retained_m3", "washed_out_m3",
                                                   "lost_m3")}

        def record(t_now, bx):
            kept = float(s[bx].sum()) * V
            out = wash_s + vwash_s
            for k, v in (("time_s", t_now), ("delivered_m3", delivered_s), ("retained_m3", kept),
                         ("washed_out_m3", out), ("lost_m3", delivered_s - kept - out)):
                traces[k].append(v)

        for step in range(n_total):
            injecting = step < n_inj
            dt, d = (dt_inj, d_inj) if injecting else (dt_spr, d_spr)
            if not full:
                k_end = grow_active_box(s, c, box, rank, k_end if injecting else None)
            if injecting:
                k_end = self._advect(plan, inv_phi, V, dt, s, c, a.concentration_mol_per_m3, leak_s, leak_c, box,
                                     k_end, self.push_floor, self.push_floor * a.concentration_mol_per_m3,
                                     *((None, None) if ct else (inj_demand, consumed)))
                delivered_s += rate * dt
                delivered_c += rate * dt * a.concentration_mol_per_m3
            wst, wct, wsv, wcv, fs, fc = self._diffuse(s, c, s2, c2, self.diffusive, kw, dt, d, box, flush_s,
                                                       flush_c, self._face_weights)
            s, s2, c, c2 = s2, s, c2, c
            wash_s += wst * V
            wash_c += wct * V
            vwash_s += wsv * V
            vwash_c += wcv * V
            trunc_s += fs * V
            trunc_c += fc * V
            bx = (slice(box[0], box[1]), slice(box[2], box[3]), slice(box[4], box[5]))
            cb = c[bx]
            if ct:
                lam[bx] += dt * ct_log_kill_rate_per_s(cb, a, phi)
                newly = (lam[bx] > stasis_lam) & ~dead_vasc[bx]
            else:
                frac = self.transport_demand_fraction if injecting else 1.0
                react_with_demand(cb, consumed[bx], frac * self.demand_mol_per_m3[bx])
                c[bx] = cb
                newly = (consumed[bx] >= (1 - 1e-9) * self.lethal_fraction[bx] * self.demand_mol_per_m3[bx]) & (
                    self.demand_mol_per_m3[bx] > 0) & ~dead_vasc[bx]
            if newly.any():
                newly &= ~self.vessel[bx]
                dead_vasc[bx] |= newly
                kwb = kw[bx]
                kwb[newly] = 0.0
                kw[bx] = kwb
            np.maximum(s_peak[bx], s[bx], out=s_peak[bx])
            np.maximum(c_peak[bx], c[bx], out=c_peak[bx])
            if step % 10 == 0 or step == n_total - 1:
                record(step * dt_inj + dt_inj if injecting else T_inj + (step + 1 - n_inj) * dt_spr, bx)
            if progress is not None and (step % 20 == 0 or step == n_total - 1):
                t_now = (step + 1) * dt_inj if injecting else T_inj + (step + 1 - n_inj) * dt_spr
                progress((step + 1) / n_total, f"{'injecting' if injecting else 'spreading'} t = {t_now:.0f} s")
        if not (np.isfinite(s).all() and np.isfinite(c).all()):
            raise NumericalError("injection transport produced NaN or infinite values")

        if ct:
            survival = np.exp(-lam)
        else:
            killed = (consumed >= (1 - 1e-9) * self.lethal_fraction * self.demand_mol_per_m3) & (
                self.demand_mol_per_m3 > 0)
            lam = np.where(killed, a.kill_log_reduction, 0.0)
            survival = np.exp(-lam)
        survival[~self.transported] = 1.0
        balance = {
            "fluid": leak_balance(delivered_s, s, None, leak_s, wash_s, vwash_s, trunc_s, flow, self.tract, V),
            "agent": leak_balance(delivered_c, c, consumed, leak_c, wash_c, vwash_c, trunc_c, flow, self.tract, V),
        }
        vasc = np.where(dead_vasc, 0.0, 1.0)
        params = {k: float(v) for k, v in self.params.items()}
        params.update(vessel_leak_factor=self.vessel_leak_factor, scar_diffusivity_factor=self.scar_diffusivity_factor,
                      transport_demand_fraction=self.transport_demand_fraction,
                      lethal_demand_fraction_tumour=self.lethal_tumour,
                      lethal_demand_fraction_normal=self.lethal_normal, tips_m=[list(t) for t in self._tips],
                      pcg_iterations=flow.iterations, n_order=int(order.size))
        return InjectionResult(g, a, protocol, s, s_peak, c, c_peak, consumed, lam, survival, flow.cracked.copy(),
                               p.copy(), vasc, self.tract.copy(), balance, phi, dt_inj, dt_spr, n_total,
                               time.perf_counter() - t_wall, self.backend, params, traces)
