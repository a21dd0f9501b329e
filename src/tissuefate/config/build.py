"""Turn a validated :class:`Scenario` into the SI-unit objects the simulation runs on."""

from __future__ import annotations

import copy
import threading

import numpy as np

from ..errors import GeometryError
from ..geometry import unit
from ..grid import Grid
from ..therapy.applicators import MicrowaveAntenna, RFElectrode, place_through
from ..therapy.generator import RFGenerator
from ..therapy.session import ThermalSession
from ..tissue.labels import Label
from ..tissue.properties import material_table
from .scenario import Scenario, check_memory

__all__ = ["build_session", "build_anatomy", "scenario_state", "scenario_table"]

#: Candidate insertion directions tried when the given one crosses a large vessel.
_DIRECTIONS = [(0, 0, 1), (0, 1, 0), (1, 0, 0), (0, 1, 1), (1, 0, 1), (1, 1, 0), (0, 1, -1),
               (1, 0, -1), (1, -1, 0), (1, 1, 1)]


def _perpendicular(d: np.ndarray) -> np.ndarray:
    e = np.array([1.0, 0.0, 0.0]) if abs(d[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    return unit(np.cross(d, e))


def build_anatomy(scn: Scenario):
    """The region-of-interest tissue state and the target centre [m] of a scenario."""
    a = scn.anatomy
    h = scn.grid.spacing_mm * 1e-3
    shape = scn.grid.roi_shape
    if a.kind == "block":
        from ..anatomy.block import block_state

        grid = Grid(shape, (h, h, h), tuple(-(n // 2) * h for n in shape))  # a voxel centre at 0
        vessel = None
        if a.block_vessel is not None:
            d = unit(scn.applicator.direction)
            perp = _perpendicular(d)
            r = 0.5 * a.block_vessel.diameter_mm * 1e-3
            centre = perp * (a.block_vessel.distance_mm * 1e-3 + r)
            vessel = (tuple(centre), tuple(d), 2 * r)
        tum = None if a.tumour_diameter_mm == 0 else a.tumour_diameter_mm * 1e-3
        state = block_state(grid, tumour_diameter_m=tum, tumour_type=a.tumour_type, vessel=vessel)
        return state, np.zeros(3)
    from ..anatomy.phantom import PhantomSpec, TumourSpec

    spec = PhantomSpec(
        seed=a.seed, spacing_mm=scn.grid.spacing_mm,
        tumours=[TumourSpec(type=a.tumour_type, diameter_mm=a.tumour_diameter_mm,
                            location=a.tumour_location, vessel_distance_mm=a.vessel_distance_mm)],
    )
    state, centre = _phantom_roi(spec, tuple(shape))
    # the cache holds one copy; every caller gets its own (courses change the state they carry)
    return copy.deepcopy(state), centre.copy()


_ROI_CACHE: dict = {}
_ROI_CACHE_SIZE = 8
_ROI_LOCK = threading.Lock()


def _phantom_roi(spec, shape: tuple):
    """The cropped region of a phantom, built once per spec and shape. The spec is deterministic
    and seeded, so equal ``repr(spec)`` give identical arrays. A demo or a sensitivity run builds
    the same phantom for every strategy; this saves ≈ 0.5–1 s per course."""
    from ..anatomy.phantom import build_phantom, crop_roi

    key = (repr(spec), shape)
    with _ROI_LOCK:  # a threaded Dask worker may build scenarios side by side
        hit = _ROI_CACHE.get(key)
    if hit is None:
        ph = build_phantom(spec)
        centre = np.asarray(ph.tumours[0].centre_m)
        hit = (crop_roi(ph, centre, shape), centre)
        with _ROI_LOCK:
            while len(_ROI_CACHE) >= _ROI_CACHE_SIZE:
                _ROI_CACHE.pop(next(iter(_ROI_CACHE)))
            _ROI_CACHE[key] = hit
    return hit


def scenario_table(scn: Scenario):
    """The material table of a scenario (species, tumour type, in vivo or ex vivo, overrides)."""
    return material_table(
        scn.tissue.species, tumour_type=scn.anatomy.tumour_type, in_vivo=scn.tissue.in_vivo,
        perfusion_per_s=scn.tissue.perfusion_per_s,
        rf_conductivity_S_per_m=scn.tissue.rf_conductivity_S_per_m,
    )


def scenario_state(scn: Scenario):
    """The scenario's region-of-interest tissue in its precision, and the target centre [m]."""
    state, target = build_anatomy(scn)
    if scn.numerics.dtype == "float64":
        for name in ("tumour", "normal", "debris", "fixed", "scar", "ecm", "vascular", "inflammation"):
            setattr(state, name, getattr(state, name).astype(np.float64))
    return state, target


def build_session(scn: Scenario, *, settings: dict | None = None, state=None, target_m=None,
                  target_radius_m: float | None = None, table=None, hypotheses=None):
    """Build the session of a scenario (anatomy, tables, applicator, protocol): a
    :class:`ThermalSession` (RFA, MWA), :class:`CryoSession`, :class:`IRESession` or
    :class:`InjectionSession`.

    A course (:mod:`tissuefate.course`) passes the tissue it carries over (``state``), the residual
    it aims at (``target_m``, ``target_radius_m`` for planned layouts), the ``table`` and the
    hypotheses that apply; by default they come from the scenario.
    """
    check_memory(scn)
    if state is None:
        state, target = scenario_state(scn)
    else:
        target = np.zeros(3)
    if target_m is not None:
        target = np.asarray(target_m, float)
    table = scenario_table(scn) if table is None else table
    ap = scn.applicator
    settings = dict(settings if settings is not None else scn.model_dump(mode="json"))
    if hypotheses is None:
        hypotheses = scn.run_hypotheses()[0]
    # what acts in this session (records), next to the configuration that asked for it
    settings["hypothesis_config"] = scn.hypotheses.model_dump(mode="json")
    settings["hypotheses"] = hypotheses.record()
    if scn.modality in ("cryo", "ire", "injection"):
        return _build_multi(scn, state, target, table, settings, target_radius_m=target_radius_m,
                            hypotheses=hypotheses)
    if scn.modality == "rfa":
        applicator = RFElectrode(ap.active_length_mm * 1e-3, ap.gauge, ap.cooled,
                                 ap.coolant_temperature_degC + 273.15)
        p = scn.protocol
        generator = RFGenerator(p.control, p.power_W, ramp_W_per_s=p.ramp_W_per_min / 60.0,
                                impedance_rise_ohm=p.impedance_rise_ohm, pulse_off_s=p.pulse_off_s,
                                restart_fraction=p.restart_fraction)
    else:
        applicator = MicrowaveAntenna(ap.frequency_MHz * 1e6, ap.antenna, ap.gauge,
                                      ap.active_length_mm * 1e-3)
        generator = None
    centre = target + np.asarray(ap.offset_mm) * 1e-3
    placement = _choose_placement(state, centre, ap.direction, applicator)
    settings["placement"] = {
        "direction_requested": list(ap.direction),
        "direction_used": [round(float(v), 6) for v in placement.direction],
        "tip_mm": [round(float(v) * 1e3, 3) for v in placement.tip_m],
        "target_mm": [round(float(v) * 1e3, 3) for v in target],
    }
    return ThermalSession(
        name=scn.name, modality=scn.modality, state=state, table=table, applicator=applicator,
        placement=placement, duration_s=scn.protocol.duration_min * 60.0, power_W=scn.protocol.power_W,
        generator=generator, initial_temperature_K=scn.tissue.start_degC + 273.15,
        backend=scn.numerics.backend, time_step_s=scn.numerics.time_step_s,
        damage_kinetics=scn.tissue.damage_kinetics, rf_desiccation=scn.tissue.rf_desiccation,
        rf_boiled_fraction=scn.tissue.rf_desiccation_boiled_fraction,
        rf_cascade_step_fraction=scn.numerics.rf_cascade_step_fraction, settings=settings,
    )


def _choose_placement(state, centre, direction, applicator):
    """The requested direction, or the first candidate whose active part avoids large vessels
    (:func:`_choose_layout` with a single applicator)."""

    def ends(pl):
        tip = np.asarray(pl.tip_m)
        return tip, tip + pl.active_length_m * np.asarray(pl.direction), pl.radius_m

    placements, _ = _choose_layout(state, direction, lambda d: [place_through(centre, d, applicator)], ends)
    return placements[0]


def _build_multi(scn: Scenario, state, target, table, settings, *, target_radius_m=None, hypotheses=None):
    """Cryo, IRE and injection: several parallel applicators around the target."""
    ap = scn.applicator
    centre = target + np.asarray(ap.offset_mm) * 1e-3
    plan = None
    if getattr(ap, "layout", "polygon") == "planned":
        from ..therapy import planning

        r_t = 0.5e-3 * scn.anatomy.tumour_diameter_mm if target_radius_m is None else float(target_radius_m)
        plan = (planning.plan_cryoprobes if scn.modality == "cryo" else planning.plan_ire_pairs)(
            r_t, ap.plan_margin_mm * 1e-3)
        cluster = plan if scn.modality == "cryo" else plan.cluster
    if scn.modality == "cryo":
        from ..physics.cryo import Cryoprobe, CryoProtocol
        from ..therapy.cryo_session import CryoSession, cryoprobes_around

        def make(d):
            L = ap.active_length_mm * 1e-3
            if plan is not None:
                return [Cryoprobe(tuple(t), tuple(unit(d)), L, ap.diameter_mm * 1e-3)
                        for t in cluster.tips_m(centre, L, unit(d))]
            return cryoprobes_around(centre, d, ap.n_probes, ap.spacing_mm * 1e-3, ap.diameter_mm * 1e-3, L)

        def ends(p):
            return np.asarray(p.tip_m), np.asarray(p.end_m), 0.5 * p.diameter_m
    elif scn.modality == "ire":
        from ..physics.ire import IREElectrode, IREProtocol
        from ..therapy.ire_session import IRESession, ire_electrodes_around

        def make(d):
            L = ap.exposed_length_mm * 1e-3
            if plan is not None:
                return [IREElectrode(tuple(t), tuple(unit(d)), L, ap.diameter_mm * 1e-3, name=f"needle {i + 1}")
                        for i, t in enumerate(cluster.tips_m(centre, L, unit(d)))]
            return ire_electrodes_around(centre, d, ap.n_electrodes, ap.spacing_mm * 1e-3, L, ap.diameter_mm * 1e-3)

        def ends(p):
            return np.asarray(p.tip_m), np.asarray(p.exposed_end_m), 0.5 * p.diameter_m
    else:
        from ..therapy.injection_session import injection_needles_around

        def make(d):
            return injection_needles_around(centre, d, ap.n_needles, ap.spacing_mm * 1e-3, ap.gauge)

        def ends(p):  # the tip and the first 10 mm of the shaft must avoid large vessels
            tip = np.asarray(p.tip_m)
            return tip, tip + _NEEDLE_CHECK_M * np.asarray(p.direction), 0.5 * p.diameter_m

    devices, direction = _choose_layout(state, ap.direction, make, ends)
    settings["placement"] = {
        "direction_requested": list(ap.direction),
        "direction_used": [round(float(v), 6) for v in direction],
        "tips_mm": [[round(float(v) * 1e3, 3) for v in ends(p)[0]] for p in devices],
        "target_mm": [round(float(v) * 1e3, 3) for v in target],
    }
    start_K = scn.tissue.start_degC + 273.15
    if scn.modality == "injection":
        return _build_injection(scn, state, table, devices, settings, hypotheses)
    if scn.modality == "cryo":
        c = scn.cryo
        if plan is not None:
            settings["plan"] = {"layout": plan.layout, "n": plan.n, "min_spacing_mm": plan.min_spacing_m * 1e3,
                                "covered_fraction": plan.covered_fraction, "rule": plan.rule}
        protocol = CryoProtocol.from_minutes([(ph.kind, ph.duration_min) for ph in c.phases])
        tp = None if c.probe_temperature_degC is None else c.probe_temperature_degC + 273.15
        return CryoSession(name=scn.name, state=state, table=table, species=scn.tissue.species, probes=devices,
                           protocol=protocol, probe_temperature_K=tp, initial_temperature_K=start_K,
                           backend=scn.numerics.backend, settings=settings)
    c = scn.ire
    if plan is not None:
        settings["plan"] = {"layout": plan.cluster.layout, "n": plan.n_electrodes,
                            "pairs": [list(q) for q in plan.pairs], "voltages_V": list(plan.voltages_V),
                            "covered_fraction": plan.cluster.covered_fraction}
        spacing_mm = max(plan.spacings_m) * 1e3
        pairs = [tuple(q) for q in plan.pairs]
    else:
        spacing_mm, pairs = ap.spacing_mm, None
    # one voltage for every pair (solve_ire): the rule at the largest pulsed spacing, capped
    voltage = c.voltage_V if c.voltage_V is not None else min(c.voltage_per_cm_V * spacing_mm / 10.0, 3000.0)
    settings["ire_voltage_V"] = voltage
    protocol = IREProtocol(voltage, c.n_pulses, c.pulse_width_us * 1e-6, c.pulse_interval_s)
    kill = None if c.kill_threshold_V_per_cm is None else c.kill_threshold_V_per_cm * 100.0
    return IRESession(name=scn.name, state=state, table=table, electrodes=devices, protocol=protocol, pairs=pairs,
                      kill_threshold_V_per_m=kill, thermal_model=c.thermal_check, heating_blocks=c.heating_blocks,
                      initial_temperature_K=start_K,
                      settings=settings)


#: Length of needle shaft behind the tip checked for large vessels [m].
_NEEDLE_CHECK_M = 10e-3


def _build_injection(scn: Scenario, state, table, needles, settings, hypotheses=None):
    from ..physics.injection import Agent, InjectionProtocol
    from ..therapy.injection_session import InjectionSession

    c = scn.injection
    if c.agent == "oxidant":
        conc = None if c.oxidant_concentration_g_per_L is None else c.oxidant_concentration_g_per_L / 67.45 * 1e3
        agent = Agent.oxidant(conc)
    elif c.agent == "ethanol":
        agent = Agent.ethanol() if c.concentration_percent is None else Agent.ethanol(c.concentration_percent / 100)
    else:
        agent = (Agent.acetic_acid() if c.concentration_percent is None
                 else Agent.acetic_acid(c.concentration_percent / 100))
    protocol = InjectionProtocol(c.volume_mL * 1e-6, c.rate_mL_per_s * 1e-6, c.spread_min * 60.0)
    return InjectionSession(name=scn.name, state=state, table=table, agent=agent, needles=needles,
                            protocol=protocol, hypotheses=hypotheses,
                            backend=scn.numerics.backend, settings=settings)


def _choose_layout(state, direction, make, ends):
    """The requested direction, or the first candidate of :data:`_DIRECTIONS` for which the active
    part of every applicator ``make(direction)`` returns lies inside the region and the organ and
    crosses no large vessel (``ends(applicator)`` gives its segment and radius); returns
    (applicators, direction)."""
    from ..geometry import segment_mask

    errors = []
    for d in [direction, *[c for c in _DIRECTIONS if not np.allclose(unit(c), unit(direction))]]:
        devices = make(d)
        problem = None
        for i, dev in enumerate(devices):
            a, b, r = ends(dev)
            if not (state.grid.contains(a) and state.grid.contains(b)):
                problem = f"applicator {i + 1} leaves the region of interest"
                break
            if state.label[state.grid.index_of(a)] == Label.OUTSIDE:
                problem = f"applicator {i + 1} tip outside the organ"
                break
            m = segment_mask(state.grid, a, b, r)
            if np.any(state.label[m] == Label.LARGE_VESSEL):
                problem = f"applicator {i + 1} crosses a large vessel"
                break
            if np.any(state.label[m] == Label.OUTSIDE):
                problem = f"applicator {i + 1}'s active part leaves the organ"
                break
        if problem is None:
            return devices, unit(d)
        errors.append(f"direction {tuple(round(float(v), 3) for v in unit(d))}: {problem}")
    raise GeometryError("no insertion direction places every applicator inside the organ and away from large "
                        "vessels (reduce applicator.spacing_mm or n, move offset_mm, or enlarge grid.roi_shape): "
                        + "; ".join(errors[:3]))
