"""Scenario files: pydantic models of the TOML a user writes, validated at the boundary.

Units in the file are the clinical ones (mm, min, °C, W, MHz, mL/min/100 g); they are converted
to SI exactly once, in :func:`build_session`.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Literal, get_args, get_origin

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..errors import ConfigError, ResourceError
from ..therapy.session import RF_CASCADE_STEP_FRACTION
from ..tissue.properties import DEFAULT_RF_BOILED_FRACTION, DEFAULT_RF_DESICCATION

__all__ = [
    "Scenario",
    "TISSUE_FIELD_MODALITIES",
    "load_scenario",
    "scenario_from_dict",
    "field_note",
    "show_value",
    "format_validation_error",
    "estimate_memory_bytes",
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


#: Tissue fields that act in some modalities only (a non-default value elsewhere is an error, not
#: silently ignored): field → modalities. Trials apply them only to those strategies.
TISSUE_FIELD_MODALITIES = {"rf_conductivity_S_per_m": ("rfa",), "rf_desiccation": ("rfa",),
                           "rf_desiccation_boiled_fraction": ("rfa",)}


class TissueConfig(_Model):
    """The tissue: species preset, in vivo or ex vivo, starting temperature, perfusion."""

    species: Literal["human", "porcine", "bovine"] = Field(
        "human", description="Property preset of liver parenchyma (tissuefate sources lists them)."
    )
    condition: Literal["in_vivo", "ex_vivo"] = Field(
        "in_vivo", description="ex_vivo switches blood perfusion and vessel heat sinks off."
    )
    initial_temperature_degC: float | None = Field(
        None, ge=-20.0, le=45.0, description="Tissue temperature at the start [degC]; default 37 in vivo, 20 ex vivo."
    )
    perfusion: float | None = Field(
        None, ge=0.0, description="Parenchymal blood perfusion; unit in perfusion_unit. Default: species preset."
    )
    perfusion_unit: Literal["per_s", "mL_per_min_per_100g"] = Field(
        "per_s", description="Unit of `perfusion`: 1/s, or mL/min/100 g (1 mL/min/100 g = 1.75e-4 1/s)."
    )
    rf_conductivity_S_per_m: float | None = Field(
        None, ge=0.05, le=1.0,
        description="RFA: parenchymal RF conductivity at 37 degC [S/m]; default: preset. No other modality "
                    "uses it (IRE has its own pulse-frequency conductivity)."
    )
    damage_kinetics: Literal["jacques1991_coagulation", "comsol_liver"] = Field(
        "jacques1991_coagulation",
        description=(
            "Arrhenius parameters of the thermal damage integral: jacques1991_coagulation (visible "
            "coagulation of pig liver, the default) or comsol_liver (COMSOL liver material)."
        ),
    )
    rf_desiccation: Literal["temperature", "vaporised"] = Field(
        DEFAULT_RF_DESICCATION,
        description=(
            "RFA: when the conductivity next to the electrode collapses: vaporised (the default: once "
            "rf_desiccation_boiled_fraction of the voxel's water has boiled off at 100 degC; calibrated on "
            "Lee 2009, converged in space) or temperature (at 99 degC, Berjano 2006; the default before "
            "2026-11-27, its zones shrink on finer grids; docs/validation.md, item 1, compares the two)."
        ),
    )
    rf_desiccation_boiled_fraction: float = Field(
        DEFAULT_RF_BOILED_FRACTION, gt=0.0, le=1.0,
        description=(
            "RFA, rf_desiccation = vaporised: the fraction of a voxel's water that must have boiled off "
            "before its conductivity collapses [1] (default 0.02, a fit to Lee 2009; 1: all of it; "
            "docs/validation.md, item 1)."
        ),
    )

    @model_validator(mode="after")
    def _perfusion_magnitude(self):
        if self.perfusion is None:
            return self
        w = self.perfusion_per_s
        if w > 0.1:
            raise ValueError(
                f"perfusion = {self.perfusion} {self.perfusion_unit} is {w:.3g} 1/s, above 0.1 1/s "
                "(liver is ~0.004-0.02 1/s): did you mean perfusion_unit = 'mL_per_min_per_100g'?"
            )
        return self

    @property
    def perfusion_per_s(self) -> float | None:
        from ..tissue.properties import PERFUSION_PER_S_PER_ML_MIN_100G

        if self.perfusion is None:
            return None
        f = PERFUSION_PER_S_PER_ML_MIN_100G if self.perfusion_unit == "mL_per_min_per_100g" else 1.0
        return self.perfusion * f

    @property
    def in_vivo(self) -> bool:
        return self.condition == "in_vivo"

    @property
    def start_degC(self) -> float:
        if self.initial_temperature_degC is not None:
            return self.initial_temperature_degC
        return 37.0 if self.in_vivo else 20.0


class VesselConfig(_Model):
    """A straight large vessel through a block (for heat-sink studies)."""

    diameter_mm: float = Field(6.0, ge=3.0, le=25.0, description="Vessel diameter [mm].")
    distance_mm: float = Field(
        10.0,
        ge=0.0,
        le=40.0,
        description=(
            "Distance from the applicator axis to the vessel wall [mm]; the vessel runs parallel to the applicator."
        ),
    )


class AnatomyConfig(_Model):
    """Where the session happens: the built-in liver phantom or a homogeneous block."""

    kind: Literal["phantom", "block"] = Field(
        "phantom", description="phantom: synthetic liver with vessels and a tumour; block: homogeneous liver."
    )
    seed: int = Field(0, ge=0, description="Random seed of the phantom (vessel tree, tumour shape).")
    tumour_type: Literal["hcc", "metastasis"] = Field("hcc", description="Histology: encapsulated HCC or metastasis.")
    tumour_diameter_mm: float = Field(
        20.0, ge=0.0, le=80.0, description="Tumour diameter [mm] (>= 3); 0 for a block without tumour."
    )
    tumour_location: Literal["central", "near_vessel", "subcapsular"] = Field(
        "central", description="Phantom only: where the tumour sits."
    )
    vessel_distance_mm: float = Field(
        3.0, ge=0.0, le=20.0, description="near_vessel only: gap between tumour edge and vessel wall [mm]."
    )
    block_vessel: VesselConfig | None = Field(None, description="Block only: add a straight large vessel.")


class GridConfig(_Model):
    """The simulated region of interest, cropped around the target."""

    spacing_mm: float = Field(1.0, ge=0.25, le=4.0, description="Voxel size [mm].")
    roi_shape: tuple[int, int, int] = Field(
        (96, 96, 96), description="Voxels of the region of interest along x, y, z (each 16-512)."
    )

    @model_validator(mode="after")
    def _shape(self):
        if any(not 16 <= n <= 512 for n in self.roi_shape):
            raise ValueError(f"roi_shape = {list(self.roi_shape)}: each entry must be in 16-512 voxels")
        return self


class _PlacementConfig(_Model):
    """Where an applicator goes, relative to the target (tumour centre, or the block centre)."""

    direction: tuple[float, float, float] = Field(
        (0.0, 0.0, 1.0),
        description=(
            "Insertion axis: vector from the tip towards the handle (normalised). If the active part "
            "would cross a large vessel, other axes are tried and the one used is recorded."
        ),
    )
    offset_mm: tuple[float, float, float] = Field(
        (0.0, 0.0, 0.0), description="Shift of the active centre from the target centre [mm]."
    )

    @model_validator(mode="after")
    def _direction_nonzero(self):
        n = float(np.linalg.norm(self.direction))
        if not np.isfinite(n) or n < 1e-9:
            raise ValueError(f"direction = {list(self.direction)}: must be a non-zero vector, e.g. [0, 0, 1]")
        self.direction = tuple(float(v) / n for v in self.direction)
        return self


class RFElectrodeConfig(_PlacementConfig):
    """A monopolar RF electrode."""

    type: Literal["rf_electrode"] = "rf_electrode"
    active_length_mm: float = Field(30.0, ge=5.0, le=50.0, description="Exposed tip length [mm].")
    gauge: Literal[13, 14, 15, 16, 17, 18] = Field(17, description="Needle gauge.")
    cooled: bool = Field(True, description="Internally cooled (chilled perfusate).")
    coolant_temperature_degC: float = Field(
        10.0, ge=0.0, le=37.0, description="Electrode wall temperature if cooled [degC]."
    )


class MWAntennaConfig(_PlacementConfig):
    """An interstitial microwave antenna."""

    type: Literal["mw_antenna"] = "mw_antenna"
    frequency_MHz: Literal[915, 2450] = Field(2450, description="Operating frequency [MHz].")
    antenna: Literal["monopole", "dual-slot"] = Field("monopole", description="Antenna style (SAR pattern shape).")
    gauge: Literal[13, 14, 15, 16, 17, 18] = Field(14, description="Needle gauge.")
    active_length_mm: float = Field(
        20.0, ge=5.0, le=50.0, description="Radiating section length used for placement [mm]."
    )


_PLAN_MARGIN = Field(5.0, ge=0.0, le=30.0, description="layout = 'planned': margin to cover beyond the tumour [mm].")


class CryoprobeConfig(_PlacementConfig):
    """Argon-type cryoprobes, parallel, laid out around the target (perpendicular to the axis)."""

    type: Literal["cryoprobe"] = "cryoprobe"
    n_probes: int = Field(2, ge=1, le=8, description="Number of probes (1 at the centre; n >= 2 on a regular polygon).")
    spacing_mm: float = Field(
        15.0, ge=5.0, le=30.0, description="Distance between neighbouring probes [mm] (clinical 15-20 mm)."
    )
    diameter_mm: float = Field(2.4, ge=1.0, le=5.0, description="Probe outer diameter [mm].")
    active_length_mm: float = Field(30.0, ge=10.0, le=60.0, description="Freezing length from the tip [mm].")
    layout: Literal["polygon", "planned"] = Field(
        "polygon",
        description=("polygon: n_probes at spacing_mm; planned: number and positions from "
                     "tissuefate.therapy.planning.plan_cryoprobes for the tumour plus plan_margin_mm."),
    )
    plan_margin_mm: float = _PLAN_MARGIN


class IREElectrodesConfig(_PlacementConfig):
    """Parallel IRE needle electrodes laid out around the target (perpendicular to the axis)."""

    type: Literal["ire_electrodes"] = "ire_electrodes"
    n_electrodes: int = Field(2, ge=2, le=6, description="Number of needles (2: a pair; n >= 3: a regular polygon).")
    spacing_mm: float = Field(
        15.0, ge=5.0, le=30.0, description="Distance between neighbouring needles [mm] (clinical 15-20 mm)."
    )
    exposed_length_mm: float = Field(20.0, ge=5.0, le=40.0, description="Exposed (conducting) length [mm].")
    diameter_mm: float = Field(1.067, ge=0.3, le=3.0, description="Needle outer diameter [mm] (19 G: 1.067).")
    layout: Literal["polygon", "planned"] = Field(
        "polygon",
        description=("polygon: n_electrodes at spacing_mm, neighbouring pairs pulsed; planned: electrodes and "
                     "pairs from tissuefate.therapy.planning.plan_ire_pairs for the tumour plus plan_margin_mm."),
    )
    plan_margin_mm: float = _PLAN_MARGIN


class InjectionNeedlesConfig(_PlacementConfig):
    """Injection needles; their tips sit around the target (perpendicular to the axis)."""

    type: Literal["injection_needles"] = "injection_needles"
    n_needles: int = Field(
        1, ge=1, le=8, description="Number of needles (1 at the centre; n >= 2 on a regular polygon)."
    )
    spacing_mm: float = Field(10.0, ge=3.0, le=30.0, description="Distance between neighbouring needle tips [mm].")
    gauge: Literal[18, 20, 21, 22] = Field(21, description="Needle gauge (Chiba needles for PEI: 21-22 G).")


class InjectionConfig(_Model):
    """Chemical injection (modality = 'injection')."""

    agent: Literal["ethanol", "acetic_acid", "oxidant"] = Field(
        "ethanol", description="Injected agent; 'oxidant' (chlorine dioxide) exists only under named hypotheses."
    )
    concentration_percent: float | None = Field(
        None, gt=0.0, le=100.0,
        description="Ethanol / acetic acid: volume percent of the agent (default 95 % ethanol, 50 % acetic acid).",
    )
    oxidant_concentration_g_per_L: float | None = Field(
        None, gt=0.0, le=8.0, description="Oxidant only: ClO2 concentration [g/L] (default 3; solubility ~8 g/L)."
    )
    volume_mL: float = Field(5.0, gt=0.0, le=100.0, description="Total injected volume, all needles [mL].")
    rate_mL_per_s: float = Field(0.1, gt=0.0, le=5.0, description="Total injection rate, all needles [mL/s].")
    spread_min: float = Field(60.0, ge=0.0, le=240.0, description="Time after the injection that is simulated [min].")

    @model_validator(mode="after")
    def _agent_fields(self):
        if self.agent == "oxidant" and self.concentration_percent is not None:
            raise ValueError("concentration_percent is for ethanol / acetic acid: use oxidant_concentration_g_per_L")
        if self.agent != "oxidant" and self.oxidant_concentration_g_per_L is not None:
            raise ValueError(f"oxidant_concentration_g_per_L is for agent 'oxidant' (agent is {self.agent!r})")
        return self


class HypothesesConfig(_Model):
    """Named hypotheses switched on for this run (`tissuefate hypotheses` lists them)."""

    preset: str | None = Field(
        None,
        description=("Named preset: 'literature' (every unproven claim off) or 'seed_claims' (the oxidant claims "
                     "on); hypotheses of a preset that do not concern the run's modality or agent stay inert and "
                     "are recorded as not applicable. `active` adds to it."),
    )
    active: list[str] = Field(default_factory=list, description="Names of the active hypotheses.")
    parameters: dict[str, dict[str, float]] = Field(
        default_factory=dict, description="Parameter overrides per active hypothesis: {name = {parameter = value}}."
    )

    @model_validator(mode="after")
    def _registry(self):
        self.full_set()
        return self

    def full_set(self):
        """Every hypothesis named by the preset and ``active``, validated (before scoping)."""
        from ..hypotheses import HypothesisSet

        if self.preset is None:
            return HypothesisSet.from_config(self.active, self.parameters, field="hypotheses")
        return HypothesisSet.from_preset(self.preset, self.active, self.parameters)

    def for_run(self, modality: str, agent: str | None):
        """(hypotheses that act in a run of ``modality`` / ``agent``, names of the preset's
        hypotheses that do not concern it). Explicitly ``active`` names are never dropped."""
        full = self.full_set()
        if self.preset is None:
            return full, ()
        kept, dropped = full.for_strategy(modality, agent)
        explicit = [n for n in dropped if n in self.active]
        if explicit:
            from ..hypotheses import HypothesisSet

            names = [n for n in full if n in kept or n in explicit]
            kept = HypothesisSet.from_config(names, {n: self.parameters[n] for n in names if n in self.parameters},
                                             field="hypotheses")
            dropped = tuple(n for n in dropped if n not in explicit)
        return kept, tuple(dropped)


class CryoPhaseConfig(_Model):
    """One phase of a freeze-thaw protocol."""

    kind: Literal["freeze", "passive_thaw", "active_thaw"] = Field(description="What the probes do.")
    duration_min: float = Field(gt=0.0, le=60.0, description="Phase duration [min].")


class CryoConfig(_Model):
    """Cryoablation protocol (modality = 'cryo')."""

    phases: list[CryoPhaseConfig] = Field(
        default_factory=lambda: [CryoPhaseConfig(kind="freeze", duration_min=10.0),
                                 CryoPhaseConfig(kind="passive_thaw", duration_min=5.0),
                                 CryoPhaseConfig(kind="freeze", duration_min=10.0)],
        min_length=1, max_length=10,
        description="Freeze-thaw phases in order; default 10 min freeze, 5 min passive thaw, 10 min freeze.",
    )
    probe_temperature_degC: float | None = Field(
        None, ge=-196.0, le=-20.0, description="Probe surface temperature while freezing [degC]; default -150."
    )

    @model_validator(mode="after")
    def _first_freeze(self):
        if self.phases[0].kind != "freeze":
            raise ValueError(f"phases[0].kind = {self.phases[0].kind!r}: a protocol starts with a freeze")
        total = sum(p.duration_min for p in self.phases)
        if total > 90.0:
            raise ValueError(f"phases: total {total:g} min is above 90 min")
        return self


class IREConfig(_Model):
    """Pulse protocol of irreversible electroporation (modality = 'ire')."""

    voltage_V: float | None = Field(
        None, gt=0.0, le=3000.0,
        description="Pulse amplitude per pair [V]; default voltage_per_cm_V x spacing, at most 3000 V.",
    )
    voltage_per_cm_V: float = Field(
        1500.0, ge=500.0, le=3000.0, description="Voltage-to-spacing ratio used when voltage_V is not given [V/cm]."
    )
    n_pulses: int = Field(90, ge=1, le=1000, description="Pulses per pair (clinical 70-90).")
    pulse_width_us: float = Field(100.0, ge=1.0, le=1000.0, description="Pulse width [us] (clinical 70-100).")
    pulse_interval_s: float = Field(1.0, ge=0.01, le=10.0, description="Start-to-start pulse interval [s].")
    kill_threshold_V_per_cm: float | None = Field(
        None, ge=100.0, le=5000.0, description="Lethal field [V/cm]; default 637 (Miklavcic 2000)."
    )
    thermal_check: Literal["bioheat", "adiabatic"] = Field(
        "bioheat", description="Joule-heating check: Pennes over the train and cooling, or the adiabatic bound."
    )
    heating_blocks: int = Field(
        4, ge=1, le=50,
        description="Pulse blocks per pair between re-solves of sigma(|E|, T) in the heating check (more: finer).",
    )


class ProtocolConfig(_Model):
    """Power delivery."""

    duration_min: float = Field(12.0, gt=0.0, le=60.0, description="Treatment time [min].")
    power_W: float = Field(
        200.0, gt=0.0, le=400.0, description="Set power (power control) or maximum power (impedance control) [W]."
    )
    control: Literal["power", "impedance"] = Field(
        "impedance",
        description=(
            "RFA only: constant power, or impedance control with roll-off pulsing. MWA is always constant power."
        ),
    )
    impedance_rise_ohm: float = Field(
        10.0, gt=0.0, le=200.0, description="Impedance control: rise above baseline that triggers a power cut [ohm]."
    )
    pulse_off_s: float = Field(15.0, ge=0.0, le=120.0, description="Impedance control: off time after a roll-off [s].")
    ramp_W_per_min: float = Field(120.0, gt=0.0, le=6000.0, description="Impedance control: power ramp [W/min].")
    restart_fraction: float = Field(
        0.9, gt=0.0, le=1.0,
        description="Impedance control: power after a roll-off, as a fraction of the power before it.",
    )


class NumericsConfig(_Model):
    """How the equations are solved."""

    backend: Literal["numba", "numpy", "cupy"] | None = Field(
        None,
        description=(
            "Kernel backend of the session; default numba (CPU). 'cupy' steps RFA and MWA sessions on an "
            "NVIDIA GPU (needs `pip install \"tissuefate[gpu]\"`; the RF potential is still solved on the CPU); "
            "cryo, IRE and injection sessions run on the CPU only."
        ),
    )
    dtype: Literal["float32", "float64"] = Field("float32", description="Floating-point precision of the fields.")
    time_step_s: float | None = Field(
        None, gt=0.0, le=10.0, description="Explicit time step [s]; default: automatic stable step (RFA: at most 1 s)."
    )
    rf_cascade_step_fraction: float = Field(
        RF_CASCADE_STEP_FRACTION, gt=0.0, le=1.0,
        description=("RFA: while the generator is on and the tissue next to the electrode is within 3 K of "
                     "desiccation, steps are cut into sub-steps of at most this fraction of the stable explicit "
                     "step (the desiccated shell grows faster than the stable step resolves; docs/model.md). "
                     "1 with the automatic step: no sub-steps."),
    )


class FollowupConfig(_Model):
    """Follow-up after the session: the tissue-fate model run to a horizon (one-session course)."""

    days: float = Field(0.0, ge=0.0, le=3650.0, description="Horizon [days]; 0 = no follow-up.")
    doubling_time_days: float | None = Field(
        None, gt=0.0, le=2000.0,
        description=("Volume-doubling time of surviving tumour [days]; default by tumour type "
                     "(HCC 140, metastasis 71.4; literature.md §8)."),
    )
    detection_diameter_mm: float = Field(
        5.0, gt=0.0, le=30.0, description="Regrowth counts as local progression at this sphere diameter [mm]."
    )


class RetreatConfig(_Model):
    """Sessions after the first with another modality (a mixed strategy, e.g. RFA, then ethanol for
    what is left). Sections not given take their defaults for that modality."""

    modality: Literal["rfa", "mwa", "cryo", "ire", "injection"] = Field(
        description="Modality of every session after the first.")
    applicator: Annotated[
        RFElectrodeConfig | MWAntennaConfig | CryoprobeConfig | IREElectrodesConfig | InjectionNeedlesConfig,
        Field(discriminator="type"),
    ] | None = None
    protocol: ProtocolConfig | None = Field(None, description="RFA / MWA power delivery of the later sessions.")
    cryo: CryoConfig | None = Field(None, description="Cryo protocol of the later sessions.")
    ire: IREConfig | None = Field(None, description="IRE pulses of the later sessions.")
    injection: InjectionConfig | None = Field(None, description="Agent, volume, rate of the later injections.")


class CourseConfig(_Model):
    """A multi-session course: sessions on a schedule, each replanned on what is left, then follow-up.

    Before each session the planner reads the tissue state (viable tumour left, scar, vessels) and
    aims the applicators at the residual; sessions stop at complete response (optional), at the
    session cap or when the residual is unreachable. Follow-up continues to ``horizon_days``.
    """

    strategy: str = Field("", max_length=80, description="Strategy label used in reports (default: the scenario name).")
    max_sessions: int = Field(1, ge=1, le=20, description="Session cap (with interval_days).")
    interval_days: float = Field(
        28.0, ge=1.0, le=365.0, description="Days between sessions (ignored when schedule_days is given)."
    )
    schedule_days: list[float] | None = Field(
        None, min_length=1, max_length=20,
        description=("Explicit session days from the first session (first 0, strictly increasing, at least 1 day "
                     "apart); replaces max_sessions and interval_days."),
    )
    stop_at_complete_response: bool = Field(
        True, description="Skip the remaining sessions once no detectable viable tumour is left."
    )
    assessment_days: float = Field(
        30.0, ge=1.0, le=365.0,
        description="Response is assessed this long after the last session (and before every later session) [days].",
    )
    horizon_days: float = Field(
        365.0, gt=0.0, le=3650.0, description="Follow-up horizon from the first session [days]."
    )
    margin_mm: float = Field(
        5.0, ge=0.0, le=30.0,
        description="Planning margin around the residual tumour [mm] (overlapping thermal ablations, planned layouts).",
    )
    max_overlapping_ablations: int = Field(
        1, ge=1, le=8,
        description=("RFA / MWA: most overlapping ablations per session to cover the residual plus margin_mm "
                     "(planned from the published size of one ablation; docs/courses.md); 1: one ablation at the "
                     "centre, its planned coverage recorded."),
    )
    residual_threshold: float = Field(
        0.01, gt=0.0, lt=1.0,
        description="Viable-tumour fraction of a voxel above which the planner counts it as residual [1].",
    )
    injection_volume: Literal["fixed", "shiina"] = Field(
        "fixed",
        description=("Injection courses: 'fixed' injects injection.volume_mL every session; 'shiina' injects "
                     "Shiina's volume for the residual's radius, up to max_volume_per_session_mL."),
    )
    max_volume_per_session_mL: float = Field(
        10.0, gt=0.0, le=100.0, description="Injection with injection_volume = 'shiina': cap per session [mL]."
    )
    doubling_time_days: float | None = Field(
        None, gt=0.0, le=2000.0,
        description=("Volume-doubling time of surviving tumour [days]; default by tumour type "
                     "(HCC 140, metastasis 71.4; literature.md §8)."),
    )
    detection_diameter_mm: float = Field(
        5.0, gt=0.0, le=30.0,
        description="Viable tumour counts as detectable (residual, progression) at this sphere diameter [mm].",
    )
    retreat: RetreatConfig | None = Field(
        None, description="Another modality for every session after the first (default: the scenario's)."
    )

    @model_validator(mode="after")
    def _schedule(self):
        if self.schedule_days is not None:
            d = [float(x) for x in self.schedule_days]
            if d[0] != 0.0:
                raise ValueError(f"schedule_days = {d}: the first session is day 0")
            for i in range(1, len(d)):
                if d[i] - d[i - 1] < 1.0:
                    what = "overlap" if d[i] <= d[i - 1] + 1e-9 else "are less than 1 day apart"
                    raise ValueError(f"schedule_days = {d}: sessions {i} (day {d[i - 1]:g}) and {i + 1} "
                                     f"(day {d[i]:g}) {what}; days must increase by at least 1")
            if "max_sessions" in self.model_fields_set and self.max_sessions != len(d):
                raise ValueError(f"max_sessions = {self.max_sessions} contradicts schedule_days ({len(d)} sessions): "
                                 "give one of them")
        last = self.session_days()[-1]
        if self.horizon_days < last + self.assessment_days:
            raise ValueError(f"horizon_days = {self.horizon_days:g}: must be >= the last session (day {last:g}) + "
                             f"assessment_days ({self.assessment_days:g}) = {last + self.assessment_days:g}")
        return self

    def session_days(self) -> list[float]:
        """Scheduled session days [day from the first session]."""
        if self.schedule_days is not None:
            return [float(x) for x in self.schedule_days]
        return [i * float(self.interval_days) for i in range(self.max_sessions)]


class OutputConfig(_Model):
    """What is written."""

    isotherms_degC: list[float] = Field(
        [50.0, 60.0], description="Peak-temperature isotherms reported and drawn [degC]."
    )
    fields: bool = Field(True, description="Write fields.nc (NetCDF).")


class Scenario(_Model):
    """One session: modality, tissue, anatomy, grid, applicator, protocol."""

    name: str = Field("session", min_length=1, max_length=80, description="Name used in reports.")
    description: str = Field("", description="Free text.")
    modality: Literal["rfa", "mwa", "cryo", "ire", "injection"] = Field(
        description=("rfa: radiofrequency; mwa: microwave; cryo: cryoablation; ire: irreversible electroporation; "
                     "injection: chemical injection (ethanol, acetic acid, oxidant hypothesis).")
    )
    tissue: TissueConfig = TissueConfig()
    anatomy: AnatomyConfig = AnatomyConfig()
    grid: GridConfig = GridConfig()
    applicator: Annotated[
        RFElectrodeConfig | MWAntennaConfig | CryoprobeConfig | IREElectrodesConfig | InjectionNeedlesConfig,
        Field(discriminator="type"),
    ] | None = None
    protocol: ProtocolConfig = Field(ProtocolConfig(), description="RFA / MWA power delivery.")
    cryo: CryoConfig | None = Field(None, description="Cryo protocol (modality = 'cryo'; default 10-5-10 min).")
    ire: IREConfig | None = Field(None, description="IRE pulses (modality = 'ire').")
    injection: InjectionConfig | None = Field(None, description="Agent, volume, rate (modality = 'injection').")
    hypotheses: HypothesesConfig = Field(HypothesesConfig(), description="Active hypotheses (default: none).")
    followup: FollowupConfig = Field(FollowupConfig(), description="Follow-up with the tissue-fate model.")
    course: CourseConfig | None = Field(
        None, description="Multi-session course with replanning and follow-up (default: one session)."
    )
    numerics: NumericsConfig = NumericsConfig()
    output: OutputConfig = OutputConfig()

    @property
    def agent(self) -> str | None:
        """The injected agent (None unless modality = 'injection')."""
        return self.injection.agent if self.modality == "injection" and self.injection is not None else None

    def retreat_scenario(self) -> Scenario | None:
        """The scenario of the sessions after the first when ``course.retreat`` names another
        modality: this scenario with the retreat's modality and sections (None without a retreat)."""
        if self.course is None or self.course.retreat is None:
            return None
        r = self.course.retreat
        data = self.model_dump(mode="json", exclude_none=True)
        for key in ("applicator", "protocol", "cryo", "ire", "injection", "course"):
            data.pop(key, None)
        data.update(r.model_dump(mode="json", exclude_none=True))
        data["name"] = self.name
        for field, modalities in TISSUE_FIELD_MODALITIES.items():
            if r.modality not in modalities:  # e.g. the RF conductivity of an RFA course's ethanol retreatment
                data.get("tissue", {}).pop(field, None)
        hyp = data.get("hypotheses", {})
        if r.modality != "injection" or (r.injection is not None and r.injection.agent != "oxidant"):
            # oxidant-only choices of the first sessions do not carry over to a non-oxidant retreatment
            hyp["active"] = [n for n in hyp.get("active", []) if not n.startswith("oxidant_")]
            hyp["parameters"] = {k: v for k, v in hyp.get("parameters", {}).items() if not k.startswith("oxidant_")}
        return Scenario.model_validate(data)

    def run_hypotheses(self):
        """(hypotheses that act in this run, preset hypotheses dropped as not applicable)."""
        return self.hypotheses.for_run(self.modality, self.agent)

    def _check_hypotheses(self) -> None:
        from ..hypotheses import OXIDANT_DELIVERY, get_hypothesis

        hs, _ = self.run_hypotheses()
        oxidant = self.modality == "injection" and self.injection.agent == "oxidant"
        if oxidant:
            hs.require_one_of(OXIDANT_DELIVERY)
        for name in hs:
            if get_hypothesis(name).enters.startswith("fate.") and self.followup.days == 0 and self.course is None:
                raise ValueError(f"hypotheses.active = {name!r} acts in the follow-up (tissue fate): set "
                                 "followup.days > 0 or add a [course]")
            if "oxidant" in get_hypothesis(name).concerns and not oxidant:
                raise ValueError(f"hypotheses.active = {name!r} concerns the oxidant; this run injects no oxidant "
                                 f"(modality {self.modality!r})")

    def _check_tissue_fields(self) -> None:
        """A tissue field that acts in other modalities only (:data:`TISSUE_FIELD_MODALITIES`) may not
        be given a non-default value: it would do nothing. A course's retreatment modality counts."""
        used = {self.modality}
        if self.course is not None and self.course.retreat is not None:
            used.add(self.course.retreat.modality)
        for field, modalities in TISSUE_FIELD_MODALITIES.items():
            value = getattr(self.tissue, field)
            if value != TissueConfig.model_fields[field].default and not used & set(modalities):
                raise ValueError(f"tissue.{field} = {value!r} acts only in modality {' or '.join(modalities)} "
                                 f"(this scenario: {' and '.join(sorted(used))}): remove it")

    @property
    def applicator_type(self) -> str:
        """The applicator ``type`` the modality needs."""
        return _APPLICATOR_TYPE[self.modality]

    @model_validator(mode="after")
    def _consistency(self):
        if self.applicator is None:
            self.applicator = _DEFAULT_APPLICATOR[self.modality]()
        want = self.applicator_type
        for section in ("cryo", "ire", "injection"):
            if getattr(self, section) is not None and self.modality != section:
                raise ValueError(f"[{section}] is only for modality = {section!r} (modality is {self.modality!r})")
        if self.modality in ("cryo", "ire", "injection") and "protocol" in self.model_fields_set:
            raise ValueError(f"[protocol] is the RFA/MWA power delivery: modality {self.modality!r} uses "
                             f"[{self.modality}]")
        if self.modality == "cryo" and self.cryo is None:
            self.cryo = CryoConfig()
        if self.modality == "ire" and self.ire is None:
            self.ire = IREConfig()
        if self.modality == "injection" and self.injection is None:
            self.injection = InjectionConfig()
        if getattr(self.applicator, "layout", "polygon") == "planned" and self.anatomy.tumour_diameter_mm == 0.0:
            raise ValueError("applicator.layout = 'planned' needs a tumour: set anatomy.tumour_diameter_mm")
        if self.numerics.backend == "cupy" and self.modality not in ("rfa", "mwa"):
            raise ValueError(
                f"numerics.backend = 'cupy': only RFA and MWA sessions run on the GPU; modality "
                f"{self.modality!r} runs on the CPU. Remove numerics.backend or set it to 'numba'."
            )
        self._check_tissue_fields()
        if self.course is not None and self.course.retreat is not None:
            try:
                self.retreat_scenario()
            except ValidationError as err:
                raise ValueError("course.retreat: " + format_validation_error(err).replace("\n", "; ")) from None
        if self.course is not None and self.followup.days > 0:
            raise ValueError("[followup] and [course] together: a course follows up to course.horizon_days; "
                             "remove [followup]")
        self._check_hypotheses()
        if self.applicator.type != want:
            raise ValueError(
                f"applicator.type = {self.applicator.type!r} does not fit modality "
                f"{self.modality!r}: use type = {want!r}"
            )
        d = self.anatomy.tumour_diameter_mm
        if 0.0 < d < 3.0:
            raise ValueError(f"anatomy.tumour_diameter_mm = {d}: must be 0 (no tumour) or >= 3 mm")
        if self.anatomy.kind == "phantom" and d == 0.0:
            raise ValueError("anatomy.tumour_diameter_mm = 0: the phantom needs a tumour (use kind = 'block')")
        return self


_DEFAULT_APPLICATOR = {"rfa": RFElectrodeConfig, "mwa": MWAntennaConfig, "cryo": CryoprobeConfig,
                       "ire": IREElectrodesConfig, "injection": InjectionNeedlesConfig}
_APPLICATOR_TYPE = {"rfa": "rf_electrode", "mwa": "mw_antenna", "cryo": "cryoprobe", "ire": "ire_electrodes",
                    "injection": "injection_needles"}


def _models_in(annotation) -> list[type]:
    """The pydantic models an annotation holds (a model, Optional/Union members, Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    out: list[type] = []
    for a in get_args(annotation):
        out.extend(_models_in(a))
    return out


def _field_at(model: type | None, loc: tuple):
    """The FieldInfo an error location points at in ``model`` (None where it cannot be followed).
    A discriminated union's tag in the location picks the member whose ``type`` has that default."""
    if model is None:
        return None
    cands, info = [model], None
    for part in loc:
        if isinstance(part, int):
            continue
        hit = next((c for c in cands if part in c.model_fields), None)
        if hit is None:
            tagged = [c for c in cands if "type" in c.model_fields and c.model_fields["type"].default == part]
            if tagged:
                cands = tagged
                continue
            return None
        info = hit.model_fields[part]
        cands = _models_in(info.annotation)
    return info


def _bounds(info) -> list[tuple[str, float]]:
    """The (operator, value) bounds of a field, e.g. [('>', 0.0), ('≤', 400.0)]."""
    out = []
    for m in info.metadata:
        for attr, sym in (("gt", ">"), ("ge", "≥"), ("lt", "<"), ("le", "≤")):
            v = getattr(m, attr, None)
            if isinstance(v, int | float) and not isinstance(v, bool):
                out.append((sym, float(v)))
    return out


def _allowed(info, x: float) -> bool:
    """Whether ``x`` satisfies the field's bounds, or is one of its numeric literal options."""
    opts = [a for a in get_args(info.annotation) if isinstance(a, int | float) and not isinstance(a, bool)]
    if get_origin(info.annotation) is Literal and opts:
        return any(abs(x - o) <= 1e-9 * abs(o) for o in opts)
    ops = {">": x.__gt__, "≥": x.__ge__, "<": x.__lt__, "≤": x.__le__}
    bounds = _bounds(info)
    return bool(bounds) and all(ops[sym](v) for sym, v in bounds)


#: Unit slips a hint looks for, per field unit: (what the value may have been given in, its
#: conversion to the field's unit).
_SLIPS = {
    "mm": (("metres", lambda v: v * 1e3), ("centimetres", lambda v: v * 10.0)),
    "min": (("seconds", lambda v: v / 60.0),),
    "s": (("minutes", lambda v: v * 60.0),),
    "MHz": (("Hz", lambda v: v * 1e-6), ("GHz", lambda v: v * 1e3)),
    "W": (("kW", lambda v: v * 1e3),),
    "degC": (("kelvin", lambda v: v - 273.15),),
}


def _unit_and_range(info, val=None) -> tuple[str, str]:
    """The unit (the last ``[unit]`` of a field's description; '' when dimensionless or unknown), its
    allowed range from the field's bounds ('' when it has none) and, for a numeric ``val`` that a
    usual unit slip (:data:`_SLIPS`: metres for mm, seconds for min, Hz for MHz, …) would bring into
    range, a hint at it."""
    if info is None:
        return "", ""
    units = [u for u in re.findall(r"\[([^\[\]]+)\]", info.description or "")
             if re.fullmatch(r"[A-Za-zµΩ°%]+(?:/[A-Za-z0-9]+)*", u)]
    unit = units[-1] if units else ""
    rng = " and ".join(f"{sym} {v:g}" for sym, v in _bounds(info))
    rng = f"{rng} {unit}".rstrip() if rng else ""
    if isinstance(val, int | float) and not isinstance(val, bool) and not _allowed(info, float(val)):
        for given, convert in _SLIPS.get(unit, ()):
            if _allowed(info, convert(float(val))):
                hint = f"did you mean {convert(float(val)):g} {unit}, a value given in {given}?"
                rng = f"{rng}; {hint}" if rng else hint
                break
    return unit, rng


def field_note(model: type | None, loc: tuple, val=None) -> tuple[str, str]:
    """For an error at location ``loc`` of pydantic ``model`` with input ``val``: the field's unit
    ('' where unknown) and what to append to the message — `` (allowed: RANGE UNIT)``, with a hint
    at a usual unit slip that would bring ``val`` into range, or ''."""
    unit, rng = _unit_and_range(_field_at(model, loc), val)
    if not rng:
        return unit, ""
    return unit, (f" ({rng})" if rng.startswith("did you mean") else f" (allowed: {rng})")


def show_value(val, unit: str) -> str:
    """``val`` as an error message shows it: with its unit when it is a number."""
    numeric = isinstance(val, int | float) and not isinstance(val, bool)
    return f"{val!r} {unit}" if unit and numeric else repr(val)


def format_validation_error(err: ValidationError, source: str = "", model: type | None = None) -> str:
    """One line per problem: ``field = value unit: what is wrong (allowed: range unit)``.

    ``model`` (default: :class:`Scenario` when the error is one of its own) gives each field's unit
    and bounds, from its description and constraints.
    """
    if model is None and err.title == "Scenario":
        model = Scenario
    lines = []
    for e in err.errors():
        parts = tuple(p for p in e["loc"] if not str(p).startswith(("function-", "tagged-union")))
        loc = ".".join(str(p) for p in parts)
        val = e.get("input")
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown key (check spelling; `tissuefate schema` lists the allowed keys)"
            lines.append(f"{loc} = {val!r}: {msg}" if loc else msg)
            continue
        unit, note = field_note(model, parts, val) if loc else ("", "")
        msg += note
        if isinstance(val, dict):
            lines.append(f"{loc}: {msg}" if loc else msg)
        else:
            lines.append(f"{loc} = {show_value(val, unit)}: {msg}" if loc else msg)
    prefix = f"{source}: " if source else ""
    return prefix + ("\n".join(lines))


def scenario_from_dict(data: dict, source: str = "") -> Scenario:
    """Validate a scenario dict; raise :class:`ConfigError` with a readable message."""
    try:
        return Scenario.model_validate(data)
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, source)) from None


def load_scenario(path) -> Scenario:
    """Read and validate a scenario TOML file."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"scenario file {str(p)!r} does not exist")
    try:
        data = tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{p}: not valid TOML: {err}") from None
    return scenario_from_dict(data, str(p))


#: Bytes per voxel of a thermal session: state (8 float fields + label), temperature buffers,
#: damage fields, property maps, source, and the sparse potential system with its multigrid
#: hierarchy (~7 nonzeros × 12 B × ~1.6).
BYTES_PER_VOXEL = 4 * 8 + 1 + 4 * 2 + 4 * 3 + 4 * 4 + 4 + 8 * 7 * 12 * 2 // 8 * 2


def estimate_memory_bytes(scn: Scenario) -> int:
    """A conservative estimate of the peak memory of one session [B]."""
    n = int(np.prod(scn.grid.roi_shape))
    item = 2 if scn.numerics.dtype == "float64" else 1
    return int(n * BYTES_PER_VOXEL * item + 600e6)  # + the whole-organ phantom at build time


def check_memory(scn: Scenario) -> None:
    """Raise :class:`ResourceError` if the session would not fit into available memory."""
    need = estimate_memory_bytes(scn)
    try:
        avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # pragma: no cover
        return
    if need > 0.8 * avail:
        raise ResourceError(
            f"grid.roi_shape = {list(scn.grid.roi_shape)} needs about {need / 1e9:.1f} GB, "
            f"more than 80 % of the {avail / 1e9:.1f} GB available: use a smaller roi_shape or a "
            "larger spacing_mm"
        )
