"""Thermal sessions (RFA, MWA) on a region of interest: physics loop and bookkeeping."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..backends.arrays import array_module as _array_module
from ..backends.arrays import to_host as _to_host
from ..backends.threads import single_threaded_blas
from ..errors import ConfigError
from ..physics.local_potential import _within, union_box
from ..physics.local_potential import box_around as _box_around  # tests call it by this name
from ..physics.rf_conductivity import RF_DESICCATION_LAWS
from ..tissue.labels import Label
from ..tissue.maps import rf_conductivity_map, thermal_maps
from ..tissue.properties import (
    BLOOD,
    DAMAGE,
    DEFAULT_DAMAGE_KINETICS,
    DEFAULT_RF_BOILED_FRACTION,
    DEFAULT_RF_DESICCATION,
    RF,
    MaterialTable,
    damage_kinetics,
)
from ..tissue.state import TissueState
from .applicators import MicrowaveAntenna, RFElectrode, rasterise_applicator
from .generator import RFGenerator
from .result import ApplicatorPlacement, SessionResult

__all__ = ["ThermalSession", "run_session"]

ProgressFn = Callable[[float, str], None]

#: RF: the longest step inside a desiccation cascade, as a fraction of the stable explicit step.
#: While the generator is on and the tissue next to the electrode is near desiccation, the
#: desiccated shell grows voxel by voxel (each next voxel heats to 100 °C and boils 2 % of its
#: water in ≈ 0.3–0.5 s at 1 mm), faster than the stable step (≈ 0.94 s at 1 mm) resolves: on the
#: 12-min 3-cm ex vivo case the Ω ≥ 1 volume was 23.00 mL at the stable step and 20.5–20.9 mL from
#: a quarter of it down to a sixteenth. Cutting only the coarse steps of a cascade into sub-steps
#: gives the whole-session results of the smaller step (a quarter: 20.38 against 20.47 mL; a half:
#: 21.55 against 21.66 mL) with 43 % of its steps (benchmarks/rfa_cascade_study.py). A fraction of
#: the stable step, not a time: the cascade's voxel time scales with h² like the stable step
#: (1.5 mm with 1-s steps: −5 %, with 0.5-s sub-steps −1.8 % against 0.125-s sub-steps). Measured
#: 2026-11-27 (docs/model.md).
RF_CASCADE_STEP_FRACTION = 0.25
#: RF: a coarse step is in a desiccation cascade when, at its start, the generator is on (during
#: the step) and a voxel next to the electrode is within this of the desiccation temperature
#: (99 °C) [K]. 0, 1 and 3 K gave the same zone (20.44, 20.46, 20.52 mL, 10-mm local margin) and
#: nearly the same number of sub-stepped coarse steps on the 3-cm ex vivo case.
RF_CASCADE_MARGIN_K = 3.0


@dataclass
class ThermalSession:
    """Everything one RFA or MWA session needs, resolved to SI units.

    Parameters
    ----------
    name : str
    modality : {"rfa", "mwa"}
    state : TissueState
        Tissue of the region of interest before the session (not modified).
    table : MaterialTable
    applicator : RFElectrode or MicrowaveAntenna
    placement : ApplicatorPlacement
    duration_s : float
    power_W : float
        Set/maximum power of the generator.
    generator : RFGenerator, optional
        RF control (default: impedance control at ``power_W``).
    initial_temperature_K, arterial_temperature_K : float
    backend : str, optional
    time_step_s : float, optional
        Default: the automatic stable explicit step.
    record_interval_s : float
    source_update_s : float
        MW: interval between recomputations of the SAR pattern [s].
    rf_check_s : float
        RF: interval between checks of σ(T) against the σ of the last potential solve [s]
        (a re-solve follows when any voxel changed by more than 2 %; next to the electrode σ is
        compared every powered step).
    rf_local_resolves : bool
        RF: re-solve the potential locally where σ changed when that box is small enough
        (:meth:`~tissuefate.physics.rf.PotentialSolver.heating_near`); False: always globally
        (the reference the local re-solves are verified against).
    damage_kinetics : str
        Name of the Arrhenius parameter set of Ω (:data:`~tissuefate.tissue.properties.DAMAGE_KINETICS`).
    rf_desiccation : {"vaporised", "temperature"}
        RF: when σ collapses next to the electrode. ``"vaporised"`` (default): once the share
        ``rf_boiled_fraction`` of the voxel's water has boiled off at the 100 °C cap (its latent
        heat absorbed; the dried fraction resets where the tissue cools below 99 °C).
        ``"temperature"`` (Berjano 2006; the default before 2026-11-27): at 99 °C.
        docs/validation.md (item 1) compares the two.
    rf_boiled_fraction : float
        RF, ``"vaporised"`` law: the dried fraction at which σ collapses, in (0, 1] (1: all the
        water; default 0.02, ``RF["desiccation_boiled_fraction"]``, a fit to Lee 2009).
    rf_cascade_step_fraction : float
        RF: inside a desiccation cascade (the generator on, tissue next to the electrode within
        ``RF_CASCADE_MARGIN_K`` of desiccation) each step is cut into sub-steps of at most this
        fraction of the stable explicit step, in (0, 1] (default ``RF_CASCADE_STEP_FRACTION``,
        0.25; 1 with the stable step: no sub-steps).
    settings : dict
        The scenario as given (recorded in the result).
    """

    name: str
    modality: str
    state: TissueState
    table: MaterialTable
    applicator: RFElectrode | MicrowaveAntenna
    placement: ApplicatorPlacement
    duration_s: float
    power_W: float
    generator: RFGenerator | None = None
    initial_temperature_K: float = 310.15
    arterial_temperature_K: float = BLOOD["arterial_temperature_K"].value
    backend: str | None = None
    time_step_s: float | None = None
    record_interval_s: float = 5.0
    source_update_s: float = 5.0
    rf_check_s: float = 5.0
    rf_local_resolves: bool = True
    damage_kinetics: str = DEFAULT_DAMAGE_KINETICS
    rf_desiccation: str = DEFAULT_RF_DESICCATION
    rf_boiled_fraction: float = DEFAULT_RF_BOILED_FRACTION
    rf_cascade_step_fraction: float = RF_CASCADE_STEP_FRACTION
    settings: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.modality not in ("rfa", "mwa"):
            raise ConfigError(f"modality = {self.modality!r}: must be 'rfa' or 'mwa'")
        damage_kinetics(self.damage_kinetics)  # an unknown name fails here, before any work
        if self.rf_desiccation not in RF_DESICCATION_LAWS:
            raise ConfigError(f"tissue.rf_desiccation = {self.rf_desiccation!r}: must be one of "
                              f"{list(RF_DESICCATION_LAWS)}")
        if not 0.0 < self.rf_boiled_fraction <= 1.0:
            raise ConfigError(f"tissue.rf_desiccation_boiled_fraction = {self.rf_boiled_fraction!r}: must be in (0, 1]")
        if not 0.0 < self.rf_cascade_step_fraction <= 1.0:
            raise ConfigError(f"numerics.rf_cascade_step_fraction = {self.rf_cascade_step_fraction!r}: "
                              "must be in (0, 1]")
        if not 1.0 <= self.duration_s <= 3600.0:
            raise ConfigError(f"protocol.duration_min = {self.duration_s / 60:g}: must be in 1/60-60 min")
        if not 200.0 <= self.initial_temperature_K <= 320.0:
            raise ConfigError(
                f"tissue.initial_temperature_degC = {self.initial_temperature_K - 273.15:g}: must be in "
                "-73-47 degC"
            )


@dataclass
class _ColdWall:
    """Extra conductance between the voxels next to a cooled electrode and its coolant, applied
    point-implicitly (backward Euler on that link alone, unconditionally stable):
    T ← (T + a T_c) / (1 + a), a = Δt G / (ρc), G = Σ_faces g / h² [W/(m³ K)].

    First-order operator splitting; it lets the sub-grid wall (the needle's true radius,
    physics.needle_well.needle_well_factor) sit closer than the voxel face without shortening the
    explicit step.
    """

    index: np.ndarray  # flat indices of the neighbour voxels
    conductance_W_per_m3K: np.ndarray
    coolant_K: float
    _device: tuple | None = field(default=None, init=False, repr=False, compare=False)  # CuPy copies

    @classmethod
    def build(cls, electrode: np.ndarray, grid, g_face_W_per_mK: float, coolant_K: float) -> _ColdWall:
        G = np.zeros(grid.shape)
        for ax, h in enumerate(grid.spacing_m):
            e = np.moveaxis(electrode, ax, 0)
            g = np.moveaxis(G, ax, 0)
            g[1:] += e[:-1] * (g_face_W_per_mK / h**2)
            g[:-1] += e[1:] * (g_face_W_per_mK / h**2)
        G[electrode] = 0.0
        idx = np.flatnonzero(G > 0)
        return cls(idx, G.reshape(-1)[idx], float(coolant_K))

    def apply(self, T, inv_rho_c, dt: float) -> None:
        """Relax the wall voxels of ``T`` [K] towards the coolant over ``dt`` [s] (in place).

        ``T`` (C-contiguous) and ``inv_rho_c`` [m³ K/J] are NumPy arrays, or both CuPy arrays
        (the indices and conductances are then copied to the device once)."""
        xp = _array_module(T)
        index, conductance = self._arrays(xp)
        flat = T.reshape(-1)
        a = dt * xp.asarray(inv_rho_c).reshape(-1)[index] * conductance
        flat[index] = ((flat[index] + a * self.coolant_K) / (1.0 + a)).astype(T.dtype)

    def _arrays(self, xp):
        if xp is np:
            return self.index, self.conductance_W_per_m3K
        if self._device is None:
            self._device = (xp.asarray(self.index), xp.asarray(self.conductance_W_per_m3K))
        return self._device


#: An RF potential is re-solved where σ(T) changed by more than this fraction of the σ of the last
#: solve (≈ 1.3 K at +1.5 %/K), checked every step next to the electrode and every ``rf_check_s``
#: elsewhere. Checked next to the electrode only every 5 s, the lag of σ (and so of the power the
#: generator delivers between roll-offs) cost 9 % of the Lee 2009 ex vivo Ω ≥ 1 volume (8.42 vs
#: 9.22 mL); checked every step, a tolerance of 2 %, 1 % or 0.5 % gives the same zone (docs/model.md,
#: "Potential re-solves").
RF_SIGMA_REL_TOL = 0.02

#: Longest automatic time step of an RF session [s]. The explicit step resolves the heat equation
#: at any stable size, but the generator's on-phases between roll-offs last a few seconds: on the
#: Lee 2009 12-min case at 1.5 mm the stable step (≈ 2.1 s) gives Ω ≥ 1 volumes 17 % (in vivo) and
#: 4 % (ex vivo) below those of an eighth of it, a step of ≈ 1.0 s 6 % below and 2 % above; at 1 mm
#: the stable step is ≈ 0.94 s (+2 %, +5 % against a sixteenth). Measured 2026-11-27 (model.md).
RF_MAX_AUTO_STEP_S = 1.0


def _union(a, b):
    """Union of two stale regions: None (nothing), a box (three slices) or "full"."""
    if a is None or b == "full":
        return b
    if b is None or a == "full":
        return a
    return union_box(a, b)


def _record(traces: dict, **kw) -> None:
    for k, v in kw.items():
        traces.setdefault(k, []).append(float(v))


@single_threaded_blas
def run_session(session, progress: ProgressFn | None = None) -> SessionResult:
    """Simulate one session and return fields, traces and provenance.

    A :class:`ThermalSession` (RFA, MWA) runs here; a
    :class:`~tissuefate.therapy.cryo_session.CryoSession` or
    :class:`~tissuefate.therapy.ire_session.IRESession` is passed on to its own runner.

    Notes
    -----
    Per explicit step: the source is updated (RF, while the generator is on: the potential is
    re-solved where σ(T) changed by more than ``RF_SIGMA_REL_TOL`` (2 %) since the last solve —
    compared every step next to the electrode and every ``rf_check_s`` elsewhere — locally when
    that box is small (:meth:`~tissuefate.physics.rf.PotentialSolver.heating_near`); otherwise the
    last solution is rescaled to the generator voltage; MW: the SAR pattern is recomputed from
    the current temperature every ``source_update_s``),
    the Pennes step is taken (RF: when desiccation next to the electrode changed during a powered
    step, the potential is re-solved at once and a roll-off of the generator is placed inside the
    step, the rest of the step's Joule heat taken back: :meth:`RFGenerator.roll_off_within`,
    :meth:`BioheatModel.remove_source`), temperature is capped at 100 °C and the excess energy dries
    the tissue (:mod:`tissuefate.physics.vaporisation`; where RF σ collapses is the desiccation law,
    ``rf_desiccation``), damage (Ω, CEM43) accumulates, and every 10 s perfusion is shut down by exp(−Ω).

    RF: a step that starts with the generator on and tissue next to the electrode within
    ``RF_CASCADE_MARGIN_K`` of desiccation is cut into sub-steps of at most
    ``rf_cascade_step_fraction`` of the stable step (the desiccated shell grows voxel by voxel
    faster than the stable step resolves); when a roll-off leaves the generator off for the rest
    of that step, the rest is one step. Changes of σ confined to the voxels within 3 of the
    electrode are re-solved in that box (half the voxels of the box of ± 6).

    With ``backend="cupy"`` the stepping runs on the GPU: temperature, property maps, damage,
    dried fraction and the heat source live on the device. The RF potential is still solved on the
    host (numba multigrid): at a re-solve T is copied to the host for σ(T) and the heating pattern
    of V = 1 is uploaded once; each step rescales it on the device. The per-step desiccation test
    compares the small box around the electrode on the device (one boolean comes back); the σ
    check next to the electrode copies that box of T to the host each powered step, the periodic
    check all of T; a local re-solve uploads its region of the heating. MW: T is copied to the
    host at each SAR update and the pattern uploaded. The result holds NumPy arrays whatever the backend.
    """
    if getattr(session, "modality", None) == "cryo":
        from .cryo_session import run_cryo_session

        return run_cryo_session(session, progress)
    if getattr(session, "modality", None) == "ire":
        from .ire_session import run_ire_session

        return run_ire_session(session, progress)
    if getattr(session, "modality", None) == "injection":
        from .injection_session import run_injection_session

        return run_injection_session(session, progress)
    from ..physics.bioheat import BioheatModel
    from ..physics.damage import DamageAccumulator, perfusion_shutdown_factor

    t_wall = time.perf_counter()
    s = session
    on_device = s.backend == "cupy"
    if on_device:  # before any work: CuPy and a GPU, or one clear error
        from ..backends.registry import require_backend

        require_backend("cupy", "backend")
        import cupy as xp
    else:
        xp = np
    state0 = s.state
    state = state0.copy()
    grid = state.grid
    active, shaft = rasterise_applicator(state, s.placement)
    appl = active | shaft
    dtype = state.dtype

    maps = thermal_maps(state, s.table)
    cold_wall = None
    well = (1.0, 1.0, 1.0)
    if isinstance(s.applicator, RFElectrode):
        # sub-grid well model of the needle (physics.needle_well.needle_well_factor): the factor α on the
        # electrode's face conductances that gives the rasterised needle its true radius
        from ..physics.needle_well import needle_well_factor

        well = needle_well_factor(grid, active, s.placement.tip_m, s.placement.direction, s.applicator.radius_m)
    if isinstance(s.applicator, RFElectrode) and s.applicator.cooled:
        # The cooled electrode is a metal surface at coolant temperature. Electrically its voxels
        # are perfect conductors (physics.rf: face conductance 2σA/h × α); give the heat flux the
        # same geometry: with k = (4α − 1) k_tissue in the electrode voxels the arithmetic-mean
        # face conductivity is 2α k_tissue, the cold wall at the needle's true radius (α = 1:
        # k = 3 k_tissue, the wall on the voxel face). α is that of the faces across the needle
        # (the tip's end face gets it too). It is clipped to [0.25, 8]: k ≥ 0 below; above, the
        # clip dates from before the point-implicit wall (_ColdWall: no step limit) and binds only
        # for a needle that nearly reaches the neighbours' centres (15 G at 1 mm: α = 18, also its
        # electrical α; 17 G at 1 mm 3.0, 13-17 G at 0.5-1.5 mm 0.7-4.6). It is kept because the
        # finer grids side with it: 15 G, 2-cm tip, in vivo, 0.093 s, 1 mm 7.47 mL, 18.25 kJ
        # clipped and 7.84 mL, 19.92 kJ unclipped, against 7.46 / 7.55 mL and 17.8 / 17.9 kJ at
        # 0.5 / 0.33 mm (docs/validation.md, gauge).
        alpha_t = min(max(float(np.median(well)), 0.25), 8.0)
        k_tissue = s.table.thermal_conductivity_W_per_mK[Label.PARENCHYMA]
        # α > 1 would stiffen the explicit step (2.6× shorter at 1 mm for 17 G): keep the wall
        # on the voxel face (k = 3 k_tissue) in the explicit operator and add the rest of the wall
        # conductance, (2α − 2) k_tissue per face, point-implicitly after each step (_ColdWall)
        maps.conductivity_W_per_mK[appl] = (4.0 * min(alpha_t, 1.0) - 1.0) * k_tissue
        cold_wall = _ColdWall.build(appl, grid, (2.0 * alpha_t - 2.0) * k_tissue,
                                    s.applicator.coolant_temperature_K) if alpha_t > 1.0 else None
    vessels = state.label == Label.LARGE_VESSEL
    # blood at arterial temperature behind a convective wall, h_w = Nu k_b / D (physics.vessel_wall)
    from ..physics.vessel_wall import vessel_wall_sink
    cooled = isinstance(s.applicator, RFElectrode) and s.applicator.cooled
    wall = vessel_wall_sink(grid, vessels & s.table.in_vivo, maps.conductivity_W_per_mK, maps.inv_rho_c,
                            fixed_mask=appl if cooled else None)
    maps.conductivity_W_per_mK, maps.inv_rho_c = wall.conductivity_W_per_mK, wall.inv_rho_c
    dir_mask = wall.dirichlet_mask.copy()
    dir_vals = np.full(grid.shape, s.arterial_temperature_K if s.table.in_vivo else s.initial_temperature_K,
                       dtype=np.float64)
    if not s.table.in_vivo:
        # ex vivo: no blood flow, vessels are just (fluid-filled) tissue at the bath temperature
        dir_mask[:] = False
    if isinstance(s.applicator, RFElectrode) and s.applicator.cooled:
        dir_mask |= appl
        dir_vals[appl] = s.applicator.coolant_temperature_K
    model = BioheatModel(grid, maps, arterial_K=s.arterial_temperature_K, dirichlet_mask=dir_mask,
                         dirichlet_K=dir_vals[dir_mask], exchange_per_s=wall.exchange_per_s, backend=s.backend,
                         dtype=dtype, check_every=0)
    dt = float(s.time_step_s or model.stable_time_step_s())
    if s.modality == "rfa" and not s.time_step_s:
        dt = min(dt, RF_MAX_AUTO_STEP_S)  # the generator's on-phases, not stability, set it
    if dt > model.stable_time_step_s(safety=1.0):
        raise ConfigError(
            f"numerics.time_step_s = {dt:g}: above the stable limit {model.stable_time_step_s(1.0):.3g} s"
        )
    n_steps = int(np.ceil(s.duration_s / dt - 1e-9))
    dt = s.duration_s / n_steps
    T = model.initial(s.initial_temperature_K)
    A_per_s, Ea_J_per_mol = damage_kinetics(s.damage_kinetics)
    dmg = DamageAccumulator(grid.shape, dtype, s.backend, A_per_s=A_per_s, Ea_J_per_mol=Ea_J_per_mol)
    dmg.peak_K[...] = T
    from ..physics.vaporisation import Vaporisation

    vap = Vaporisation(grid.shape, dtype, float(s.table.density_kg_per_m3[Label.PARENCHYMA]),
                       backend=s.backend)
    # 1/(ρc) for the cold wall and the boiling cap, where T lives
    inv_rho_c = xp.asarray(maps.inv_rho_c, dtype=dtype) if on_device else maps.inv_rho_c
    dV = grid.voxel_volume_m3
    tissue_mask = (state.label != Label.OUTSIDE) & ~appl

    traces: dict[str, list] = {}
    # RF, "vaporised": σ collapses only where (a fraction of) the water has boiled off too
    vaporised = s.modality == "rfa" and s.rf_desiccation == "vaporised"
    energy = 0.0
    absorbed = 0.0
    if s.modality == "rfa":
        from ..physics.rf import PotentialSolver, changed_box, rf_conductivity_desiccating

        gen = s.generator or RFGenerator("impedance", s.power_W)
        sigma37 = rf_conductivity_map(state, s.table)
        sigma37[appl] = 0.0
        # rtol 1e-4: the heating is conservative to ~1e-4 then, far below other errors (physics.rf)
        # cooled needle: half the Joule heat of the sub-grid annulus goes to the coolant (physics.rf)
        solver = PotentialSolver(grid, active, rtol=1e-4, electrode_face_factor=well,
                                 electrode_wall_heat_fraction=0.5 if s.applicator.cooled else 0.0)
        qbuf = xp.empty(grid.shape, dtype=dtype)

        T_desic = dtype.type(RF["desiccation_temperature_K"].value - 1.0)
        boiled = dtype.type(s.rf_boiled_fraction)  # Vaporisation.dried at the collapse

        def dried_in(box=None):
            """The dried fraction (in ``box``) on the host, for the σ law; None under the temperature law."""
            if not vaporised:
                return None
            return _to_host(vap.dried if box is None else vap.dried[box])

        sigma37 = np.ascontiguousarray(sigma37, dtype=dtype)
        sig_buf = [np.empty(grid.shape, dtype), np.empty(grid.shape, dtype)]

        def sigma_now(T, keep=None):
            # rf_conductivity(σ37, T, T >= T_desic), 0 in the applicator (σ37 is 0 there), written
            # into whichever of two buffers does not hold ``keep`` (the σ of the last solve)
            buf = sig_buf[1] if keep is sig_buf[0] else sig_buf[0]
            return rf_conductivity_desiccating(sigma37, np.ascontiguousarray(T), float(T_desic), out=buf,
                                               dried=dried_in(), dried_full=float(boiled))

        # Desiccation collapses σ by 1e2 next to the electrode and is what raises the impedance
        # into a roll-off: it is looked for after every powered step in a box around the active
        # electrodes, and a roll-off is placed inside the step where it appeared (with checks
        # every few seconds only, the energy delivered depended on the check phase by up to 50 %).
        near = _box_around(active, 6)
        switch_box = _box_around(active, 12)  # where the source is switched at desiccation
        # changes confined to the voxels within 3 of the electrode (desiccation, the fastest σ
        # rise) are re-solved in that box, whose local problem has half the voxels of ``near``'s
        inner = _box_around(active, 3)
        inner_rel = _within(inner, near)

        def stale_near(box_rel):
            """The box to re-solve for a change in ``box_rel`` (coordinates of ``near``): ``inner``
            when it holds it, else ``near``; None for None."""
            if box_rel is None:
                return None
            return inner if union_box(box_rel, inner_rel) == inner_rel else near

        def desiccation_box(now):
            """The box to re-solve for the desiccated voxels ``now`` against those of the last solve."""
            diff = _to_host(now != desic_solved)
            return stale_near(_box_around(diff, 0)) if diff.any() else None

        def desiccated(T):
            """The desiccated voxels of the box next to the electrode (on the device with CuPy)."""
            if vaporised:
                return (T[near] >= T_desic) & (vap.dried[near] >= boiled)
            return T[near] >= T_desic

        desic_solved = desiccated(T)  # those of the last potential solve

        def changed(now):
            """Whether the desiccated box ``now`` differs from that of the last solve."""
            if on_device:  # one boolean to the host, not the box
                return bool(xp.any(now != desic_solved))
            return not np.array_equal(now, desic_solved)

        def desiccation_crossings(T0, T1, now):
            """When, within the step T0 → T1 (desiccated box ``now`` at its end), voxels next to the
            electrode desiccated, and how much.

            Returns the fractions of the step at which the newly desiccated voxels (those not in
            the last solve) crossed the desiccation temperature (T linear over an explicit step),
            ascending and ending with 1, and the share of the step's impedance change reached at
            each: the voxels' shares of the Joule heat of the last solve (first-order sensitivity
            of the conductance to their σ), scaled so that the last is 1.
            """
            new = now & ~desic_solved
            # what crossed its threshold, linear over the step: T, or the dried fraction (vaporised)
            a0, a1, level = ((dried_prev, vap.dried[near], boiled) if vaporised
                             else (T0[near], T1[near], T_desic))
            t0, t1, w = (_to_host(a[new]).astype(np.float64) for a in (a0, a1, q_unit[near]))
            frac = np.clip((float(level) - t0) / np.maximum(t1 - t0, 1e-12), 0.0, 1.0)
            order = np.argsort(frac, kind="stable")
            frac, w = np.append(frac[order], 1.0), np.append(w[order], 0.0)
            cum = np.cumsum(w)
            return frac, (cum / cum[-1] if cum[-1] > 0 else np.ones_like(cum))

        def rf_source(sig):
            """Heating [W/m³] and power [W] at 1 V for σ ``sig`` from a global re-solve, where T
            lives (one upload)."""
            q1, p1 = solver.heating(sig)
            return (xp.asarray(q1, dtype=dtype) if on_device else q1), p1

        sigma37_near = np.ascontiguousarray(sigma37[near])

        def sigma_in(box, T):
            """σ(T) in ``box`` only, on the host."""
            s37 = sigma37_near if box == near else np.ascontiguousarray(sigma37[box])
            return rf_conductivity_desiccating(s37, np.ascontiguousarray(_to_host(T[box])), float(T_desic),
                                               dried=dried_in(box), dried_full=float(boiled))

        def near_drifted(T):
            """The box to re-solve (``inner`` or ``near``) when σ in the box next to the electrode
            changed by more than RF_SIGMA_REL_TOL since the last solve (it changes fastest there
            while the generator is on), else None."""
            old = np.ascontiguousarray(sig_solved[near])
            return stale_near(changed_box(old, sigma_in(near, T), RF_SIGMA_REL_TOL))

        def rf_update(T, box):
            """Bring the potential up to date after σ went stale in ``box`` (or everywhere: "full").

            A box whose local re-solve fits (:meth:`PotentialSolver.heating_near`) gets σ
            re-evaluated in it only and a local re-solve (``sig_solved`` and ``q_unit`` updated
            there in place; the heating elsewhere changes by a factor kept in ``q_scale``).
            Otherwise σ is re-evaluated everywhere and the potential re-solved globally.
            Returns the power [W] at 1 V.
            """
            nonlocal sig_solved, q_unit, q_scale, n_local, q_replaced
            if box == "full" or not s.rf_local_resolves or not solver.fits_locally(box):
                sig_solved = sigma_now(_to_host(T), keep=sig_solved)
                q_unit, p1 = rf_source(sig_solved)  # a new array: the old one stays as it was
                q_scale = 1.0
                q_replaced = None
                return p1
            sb = sigma_in(box, T)
            sig_solved[box] = sb
            region, qr, p1, outer = solver.heating_near(sb, box)
            n_local += 1
            q_replaced = (region, q_unit[region].copy())  # what the old array held there
            q_scale *= outer
            if not 1e-3 < q_scale < 1e3:  # fold a drifting factor back into q_unit (rare; a new array)
                q_unit = q_unit * dtype.type(q_scale)
                q_scale = 1.0
            qr = (qr / q_scale).astype(dtype)
            q_unit[region] = xp.asarray(qr) if on_device else qr
            return p1

        def source_before(q_old_unit, scale):
            """The whole-grid source of a step whose ``q_old_unit`` (the array, before rf_update)
            was scaled by ``scale`` in the kernel: restored where the re-solve replaced it (for
            taking back part of the step at a roll-off; rare)."""
            q = xp.multiply(q_old_unit, dtype.type(scale), out=qbuf)
            if q_replaced is not None and q_old_unit is q_unit:
                region, old = q_replaced
                q[region] = old * dtype.type(scale)
            return q

        sig_solved = sigma_now(_to_host(T))
        q_unit, p_unit = rf_source(sig_solved)
        q_scale = 1.0  # the heating at 1 V is q_scale × q_unit (local re-solves rescale the rest)
        q_replaced = None  # (region, values) of q_unit before the last local re-solve wrote there
        n_solves = 1
        n_local = 0  # of which local re-solves
        rolloffs_located = 0  # roll-offs placed inside a step (RFGenerator.roll_off_within)
        sources_blended = 0  # steps whose source was switched to the new solve's at desiccation
        pending = None  # where the potential is stale: None, a box (σ changed or desiccated there) or "full"
    else:
        from ..physics.microwave import AntennaModel, MicrowaveSource

        ant: MicrowaveAntenna = s.applicator  # type: ignore[assignment]
        # renormalise=False: the pattern keeps its infinite-medium normalisation, so the power it
        # would deposit outside the organ (a subcapsular lesion) or beyond the region of interest
        # is not pushed back into the simulated tissue, and Q does not depend on the ROI's size
        mw = MicrowaveSource(grid, s.placement.tip_m, s.placement.direction,
                             AntennaModel.default(ant.antenna_type, ant.frequency_Hz), s.power_W,
                             tumour_fraction=state.tumour, outside_mask=~tissue_mask,
                             applicator_mask=appl, renormalise=False)
        captured = []

        def mw_source(T):
            """SAR pattern at temperature ``T`` [W/m³], where T lives, and its absorbed power [W]."""
            q1 = mw.heating_W_per_m3(_to_host(T))
            captured.append(mw.captured_fraction)
            q1[~tissue_mask] = 0.0
            if on_device:
                q1 = xp.asarray(q1, dtype=dtype)
            # heat deposited in the blood of large vessels leaves with it (BioheatModel.step does
            # the same): zeroed before the absorbed power is summed, once per pattern update
            q1 = model.zero_source_at_wall_nodes(q1)
            return q1, float(q1.sum(dtype=np.float64) * dV)

        q_mw, p_abs = mw_source(T)
        n_solves = 1
        last_src = 0.0

    # RF: the sub-steps of a coarse step in a desiccation cascade (RF_CASCADE_STEP_FRACTION)
    cascade_m = 1
    if s.modality == "rfa":
        cascade_m = max(int(np.ceil(dt / (s.rf_cascade_step_fraction * model.stable_time_step_s()) - 1e-9)), 1)
        cascade_K = float(T_desic) - RF_CASCADE_MARGIN_K
    n_cascade = 0  # coarse steps cut into sub-steps
    last_rec = -np.inf
    last_check = -np.inf
    last_perf = 0.0
    next_check = 0
    i = 0  # steps taken
    for k in range(n_steps):
        # RF: a coarse step taken while the generator is on and the tissue next to the electrode is
        # within RF_CASCADE_MARGIN_K of desiccation is cut into cascade_m sub-steps; once the
        # generator is off for the rest of it (a roll-off), the rest is one step
        m = 1
        if cascade_m > 1 and gen.is_on_during(k * dt, dt) and bool(T[near].max() >= cascade_K):
            m = cascade_m
            n_cascade += 1
        j = 0
        while j < m:
            t = (k + j / m) * dt
            h = dt / m
            if m > 1 and j > 0 and not gen.is_on_during(t, (m - j) * h):
                h, j = (m - j) * h, m - 1  # the generator is off until the coarse step's end
            j += 1
            i += 1
            if s.modality == "rfa":
                # The potential only matters while the generator is on: it is re-solved lazily where
                # σ went stale. σ(T) is compared with the σ of the last solve every step next to the
                # electrode (while powered) and every rf_check_s everywhere; a change of more than
                # RF_SIGMA_REL_TOL in any voxel, or new desiccation, marks its box stale.
                if t - last_check >= s.rf_check_s - 1e-9 and pending != "full":
                    sig_now = sigma_now(_to_host(T), keep=sig_solved)
                    pending = _union(pending, changed_box(sig_solved, sig_now, RF_SIGMA_REL_TOL))
                    last_check = t
                now = desiccated(T)
                on = gen.is_on_during(t, h)
                if pending != "full":
                    stale = desiccation_box(now) if changed(now) else None
                    if on:
                        stale = _union(stale, near_drifted(T))
                    pending = _union(pending, stale)
                if pending is not None and on:
                    desic_solved = now
                    p_unit = rf_update(T, pending)
                    n_solves += 1
                    pending = None
                z = 1.0 / p_unit if p_unit > 0 else np.inf
                v = gen.voltage_V(t, h, z)
                p = v * v * p_unit
                # the source is q_mul × q_unit: on the CPU the Pennes kernel scales it as it reads it
                # (a pass over the grid less per step), on the GPU it is scaled into qbuf first. On the
                # CPU the step then zeroes q_unit itself at vessel-wall nodes (before: its scaled copy),
                # so those blood voxels get no weight in desiccation_crossings; they do not boil.
                q_mul = v * v * q_scale
                if v <= 0:
                    q = None
                elif on_device:
                    q, q_mul = xp.multiply(q_unit, dtype.type(q_mul), out=qbuf), 1.0
                else:
                    q = q_unit
                if t - last_rec >= s.record_interval_s - 1e-9:
                    _record(traces, time_s=t, power_W=p, voltage_V=v, impedance_ohm=z, energy_J=energy,
                            max_temperature_K=float(T.max()), rolloff=gen.rolloffs,
                            desiccated_mL=float(now.sum()) * dV * 1e6)
                    last_rec = t
            else:
                if t - last_src >= s.source_update_s - 1e-9:
                    q_mw, p_abs = mw_source(T)
                    last_src = t
                    n_solves += 1
                q, q_mul = q_mw, 1.0
                p = s.power_W  # generator output; p_abs is what the tissue absorbs (efficiency)
                if t - last_rec >= s.record_interval_s - 1e-9:
                    _record(traces, time_s=t, power_W=p, absorbed_power_W=p_abs, energy_J=energy,
                            absorbed_energy_J=absorbed, max_temperature_K=float(T.max()))
                    last_rec = t
                absorbed += p_abs * h
            T_prev = T
            if vaporised and q is not None:
                dried_prev = vap.dried[near].copy()
            T = model.step(T, q, h, q_scale=q_mul)  # into the model's other buffer: T_prev is kept
            if cold_wall is not None:
                cold_wall.apply(T, inv_rho_c, h)
            if vaporised:  # the dried fraction decides desiccation: the cap comes first
                vap.apply(T, inv_rho_c, rehydrate_below_K=T_desic)  # cap, dry and rehydrate in one pass
            powered = 1.0  # the fraction of the step the generator delivered power
            switched = False  # whether the source was switched inside the step (RF, desiccation)
            now = desiccated(T) if s.modality == "rfa" and q is not None else None
            if now is not None and changed(now):
                # Desiccation changed during this powered step: re-solve now, and when the impedance
                # crossed the roll-off threshold, switch the power off where it crossed and take back
                # the rest of the step's Joule heat. Seen only at the next step, each on-phase ran up
                # to a step too long: +27 % in the Lee 2009 in vivo volume at the automatic step
                # (docs/model.md, "Time step and the generator").
                fractions, weights = desiccation_crossings(T_prev, T, now)
                box = desiccation_box(now)
                desic_solved = now
                q_sb = q[switch_box] * dtype.type(q_mul)  # this step's source where it may be switched
                p_unit = rf_update(T, box)  # (re-solves into q_unit, which may be q)
                n_solves += 1
                z_end = 1.0 / p_unit if p_unit > 0 else np.inf
                powered = gen.roll_off_within(t, h, fractions, z + (z_end - z) * weights)
                if powered < 1.0:
                    q_step = q if on_device else source_before(q, q_mul)
                    model.remove_source(T, q_step, (1.0 - powered) * h)
                    rolloffs_located += 1
                # From the desiccation on, the current no longer flows as the old solve says: replace
                # the old source by the new one for that part of the step (an explicit step is linear
                # in Q), from the crossing time weighted like the impedance path. Without it a voxel
                # that dried early in the step kept its Joule heat and boiled it off instead of passing
                # the current to its neighbours, and the desiccated shell grew the more slowly the
                # longer the step (Lee 2009 ex vivo at Δt: +12 % against Δt/16, now +6.5 %; docs/model.md)
                # (next to the electrode, where the sources differ; elsewhere they differ by the few %
                # of the outer amplitude of a local re-solve for a fraction of a step)
                theta = float(np.sum(np.diff(weights, prepend=0.0) * fractions))
                if powered > theta:
                    dq = q_sb - q_unit[switch_box] * dtype.type(v * v * q_scale)
                    model.remove_source_in(T, dq, (powered - theta) * h, switch_box)
                    energy += (v * v * p_unit - p) * (powered - theta) * h
                    sources_blended += 1
                    switched = True
            energy += p * h * powered
            # the boiling cap (under the vaporised law it came before the desiccation test; here it
            # caps only what the source switch added, in its box; heat taken back at a roll-off comes
            # off T even where the cap had put it into the dried fraction — a within-step approximation)
            if not vaporised:
                vap.apply(T, inv_rho_c)
            elif switched:
                vap.apply_in(T, inv_rho_c, switch_box)
            dmg.update(T, h)
            if t - last_perf >= 10.0 and s.table.in_vivo:
                model.set_perfusion_factor(perfusion_shutdown_factor(dmg.omega))
                last_perf = t
            if i >= next_check:
                next_check = i + 26
                model.check(T)  # after the boiling cap: NaN or runaway temperatures stop the run
                if progress:
                    progress((k + j / m) / n_steps, f"t = {t:5.0f} s, T_max = {float(T.max()) - 273.15:5.1f} °C")
    if progress:
        progress(1.0, "done")
    if s.modality == "rfa":
        _record(traces, time_s=s.duration_s, power_W=0.0, voltage_V=0.0,
                impedance_ohm=1.0 / p_unit if p_unit > 0 else np.inf, energy_J=energy,
                max_temperature_K=float(T.max()), rolloff=gen.rolloffs,
                desiccated_mL=float(desiccated(T).sum()) * dV * 1e6)
    else:
        _record(traces, time_s=s.duration_s, power_W=0.0, absorbed_power_W=0.0, energy_J=energy,
                absorbed_energy_J=absorbed, max_temperature_K=float(T.max()))
    wall = time.perf_counter() - t_wall
    settings = dict(s.settings)
    settings["numerics"] = {
        "time_step_s": dt, "n_steps": n_steps, "steps_taken": i, "backend": s.backend or "default",
        "dtype": str(np.dtype(dtype)), "source_updates": n_solves, "vaporised_J": vap.vaporised_J_per_m3 * dV,
        "damage_threshold_K": DAMAGE["arrhenius_threshold_K"].value,
    }
    if s.modality == "rfa":
        settings["numerics"]["rolloffs_located_in_step"] = rolloffs_located
        settings["numerics"]["cascade_substeps"] = cascade_m
        settings["numerics"]["cascade_steps"] = n_cascade
        settings["numerics"]["local_potential_solves"] = n_local
        settings["numerics"]["sources_switched_in_step"] = sources_blended
        settings["numerics"]["rf_desiccation"] = s.rf_desiccation
        if vaporised:
            settings["numerics"]["rf_desiccation_boiled_fraction"] = float(s.rf_boiled_fraction)
    if s.modality == "mwa":
        # share of the antenna's pattern that fell on simulated tissue (the rest heats tissue
        # outside the organ or beyond the region of interest)
        settings["numerics"]["mw_captured_fraction_min"] = round(float(min(captured)), 4)
        if np.isfinite(mw.beyond_roi_fraction):  # evaluated once the captured share fell below 0.8
            settings["numerics"]["mw_beyond_roi_fraction"] = round(float(mw.beyond_roi_fraction), 4)
            settings["numerics"]["mw_outside_organ_fraction"] = round(float(mw.outside_organ_fraction), 4)
    return SessionResult(
        name=s.name, modality=s.modality, grid=grid, state=state, placements=[s.placement],
        omega=_to_host(dmg.omega), cem43_min=_to_host(dmg.cem43_min), peak_temperature_K=_to_host(dmg.peak_K),
        final_temperature_K=_to_host(T), traces={k: np.asarray(v) for k, v in traces.items()},
        settings=settings, wall_time_s=wall,
    )
