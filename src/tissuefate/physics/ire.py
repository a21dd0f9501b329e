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

Conductivity rises as membranes porate, from ``σ₀`` below the reversible threshold ``E_rev``
(362 V/cm) to ``3.6 σ₀`` above the irreversible one ``E_irr`` (637 V/cm), with a linear
temperature term (liver: Sel et al. 2005, Miklavčič 2000, Beitel-White et al. 2021; see
:mod:`tissuefate.physics.electroporation`). ``σ_0`` may vary in space (tumour, scar); the rise
is relative to it.

The module is split in three: :mod:`~tissuefate.physics.electroporation` holds the inputs
(:class:`IREElectrode`, :class:`IREProtocol`) and the conductivity law
(:class:`ElectroporationConductivity`); :mod:`~tissuefate.physics.ire_field` the Picard solver
of one pair (:class:`PairFieldSolver`); this module the treatment (:func:`solve_ire`), its
outcome and the reference case. Every public name of the three is importable from here.

Nonlinear solve
---------------
Picard iteration, under-relaxed and Anderson-accelerated, until the kill contour
``|E| = E_irr`` is converged; 10–12 iterations for the clinical pair (stopping rule and
timings: :mod:`tissuefate.physics.ire_field`).

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
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError
from ..geometry import unit
from ..grid import Grid
from ..tissue.labels import Label
from ..tissue.properties import BLOOD, IRE, SPECIES
from .electroporation import (
    _BODY_K,
    ElectroporationConductivity,
    IREElectrode,
    IREProtocol,
    _check_electrodes,
    _check_pairs,
    _sigma0_array,
)
from .ire_field import PairField, PairFieldSolver

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
_THERMAL_MODELS = ("adiabatic", "bioheat", "none")


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
