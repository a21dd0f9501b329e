"""Property tables with their sources.

Every literature number tissuefate uses lives here, once, as a :class:`Param` that carries its
value, SI unit, source and evidence tag (``shared/data/literature.md`` tags):

- ``V`` checked against abstract, full text or a public model file;
- ``R`` standard literature value not re-checked;
- ``C`` computed from published parameters;
- ``E`` order-of-magnitude estimate, not a published value;
- ``cal`` calibrated by tissuefate against a published case (the case is named);
- ``ABSENT`` searched for, not found (a stand-in value is used and says so).

``tissuefate sources`` prints every entry.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np

from ..backends.numpy_kernels import GAS_CONSTANT_J_PER_MOL_K
from ..errors import ConfigError
from .labels import N_LABELS, Label

__all__ = [
    "Param",
    "Species",
    "SPECIES",
    "BLOOD",
    "DAMAGE",
    "DAMAGE_KINETICS",
    "DEFAULT_DAMAGE_KINETICS",
    "damage_kinetics",
    "arrhenius_from_eyring",
    "CELLS",
    "RF",
    "DEFAULT_RF_DESICCATION",
    "DEFAULT_RF_BOILED_FRACTION",
    "DIELECTRIC",
    "WATER",
    "IRE",
    "CRYO",
    "GEL",
    "LITTRUP_2009",
    "TUMOUR_FACTORS",
    "INJECTION",
    "AGENTS",
    "PLANNING",
    "FATE",
    "TUMOUR_GROWTH",
    "MaterialTable",
    "material_table",
    "all_params",
    "PERFUSION_PER_S_PER_ML_MIN_100G",
]


@dataclass(frozen=True)
class Param:
    """A number with its unit, source and evidence tag."""

    value: float
    unit: str
    source: str
    tag: str
    note: str = ""

    def __float__(self) -> float:
        return float(self.value)


#: 1 mL/min/100 g of tissue expressed as a volumetric perfusion rate [1/s] (literature.md §1, [E]):
#: 1 mL/(min·100 g) × ρ≈1.05 g/mL / 60 s ≈ 1.75e-4 1/s.
PERFUSION_PER_S_PER_ML_MIN_100G = 1.75e-4


@dataclass(frozen=True)
class Species:
    """Thermal and electrical properties of liver parenchyma for one species preset."""

    name: str
    density_kg_per_m3: Param
    heat_capacity_J_per_kgK: Param
    thermal_conductivity_W_per_mK: Param
    perfusion_per_s: Param
    rf_conductivity_S_per_m: Param


_TUNG = "Tungjitkusolmun et al., IEEE TBME 49(1):3-9, 2002 (COMSOL RF ablation model)"
_COMSOL_MW = "COMSOL 'Microwave Cancer Therapy' model (IT'IS-attributed liver values)"

SPECIES: dict[str, Species] = {
    "human": Species(
        "human",
        Param(1079.0, "kg/m^3", _COMSOL_MW, "V"),
        Param(3540.0, "J/(kg K)", _COMSOL_MW, "V"),
        Param(0.52, "W/(m K)", _COMSOL_MW, "V"),
        Param(3.6e-3, "1/s", _COMSOL_MW, "V", "kept at the COMSOL value although the porcine preset now uses the "
              "physiological order 1.75e-2 1/s (validation.md): at that perfusion the injection model's washout "
              "stops a 1 mL ethanol injection from killing anything, which needs checking before the human preset "
              "(the demo's) moves"),
        Param(
            0.333, "S/m", _TUNG, "V", "calibration parameter within 0.15-0.35 S/m (Gabriel 1996)"
        ),
    ),
    "porcine": Species(
        "porcine",
        Param(1060.0, "kg/m^3", _TUNG, "R"),
        Param(3600.0, "J/(kg K)", _TUNG, "R"),
        Param(0.512, "W/(m K)", _TUNG, "R"),
        Param(1.75e-2, "1/s", "physiological order: ~100 mL/min/100 g total hepatic flow (literature.md §1)",
              "E/cal", "chosen over the COMSOL RF model's 6.4e-3 1/s [V] (Tungjitkusolmun 2002), first by the "
              "Cool-tip 3 cm case under the comsol_liver damage kinetics, and kept with the default kinetics "
              "because the Lee 2009 in vivo zone and in vivo / ex vivo ratio then pass (28.0 x 19.9 mm, 0.58; "
              "6.4e-3 gave about 29 x 24 mm and 0.79 in a trial run, validation.md)"),
        Param(
            0.333, "S/m", _TUNG, "V", "calibration parameter within 0.15-0.35 S/m (Gabriel 1996)"
        ),
    ),
    "bovine": Species(
        "bovine",
        Param(
            1060.0,
            "kg/m^3",
            _TUNG,
            "R",
            "generic liver value; no bovine-specific value in literature.md",
        ),
        Param(3600.0, "J/(kg K)", _TUNG, "R", "generic liver value"),
        Param(0.512, "W/(m K)", _TUNG, "R", "generic liver value"),
        Param(
            6.4e-3, "1/s", _TUNG, "V", "only used in vivo; bovine liver is normally studied ex vivo"
        ),
        Param(0.333, "S/m", _TUNG, "V", "generic liver value"),
    ),
}

BLOOD = {
    "density_kg_per_m3": Param(1000.0, "kg/m^3", _COMSOL_MW, "V"),
    "heat_capacity_J_per_kgK": Param(3639.0, "J/(kg K)", _COMSOL_MW, "V"),
    "arterial_temperature_K": Param(310.15, "K", "physiological core temperature 37 degC", "R"),
    "thermal_conductivity_W_per_mK": Param(
        0.52, "W/(m K)", "IT'IS Foundation tissue-properties database, blood (not in literature.md)", "R",
        "standard value, not re-checked; sets the vessel-wall coefficient h_w = Nu k_b / D",
    ),
    "vessel_wall_nusselt": Param(
        4.36, "1", "fully developed laminar pipe flow, uniform wall heat flux (heat-transfer textbook value)", "R",
        "3.66 at uniform wall temperature; a lower bound for a thermally developing boundary layer "
        "(higher local Nu near a short heated wall segment)",
    ),
}

_BOLTZMANN_J_PER_K = 1.380649e-23  # exact (SI 2019)
_PLANCK_J_S = 6.62607015e-34  # exact (SI 2019)


def arrhenius_from_eyring(dH_J_per_mol: float, dS_J_per_mol_K: float,
                          T_ref_K: float = 333.15) -> tuple[float, float]:
    r"""Arrhenius (A, Ea) matching an Eyring (transition-state) rate and its slope at ``T_ref_K``.

    The Eyring rate :math:`k = \frac{k_B T}{h} e^{\Delta S/R} e^{-\Delta H/(RT)}` has the
    Arrhenius form :math:`A e^{-E_a/(RT)}` with

    .. math:: E_a = \Delta H + R T_{ref},\qquad A = \frac{e\,k_B T_{ref}}{h} e^{\Delta S/R},

    exact at :math:`T_{ref}`; elsewhere the log-ratio of the two rates is
    :math:`-(\ln x - 1 + 1/x) \approx -(x-1)^2/2` with :math:`x = T/T_{ref}`, below 1 % between
    43 and 100 °C for :math:`T_{ref}` = 60 °C (``tissuefate validate`` checks it).

    Examples
    --------
    >>> A, Ea = arrhenius_from_eyring(2.768e5, 553.5)
    >>> f"{A:.3g}", f"{Ea:.5g}"
    ('1.54e+42', '2.7957e+05')
    """
    if dH_J_per_mol <= 0 or T_ref_K <= 0:
        raise ConfigError(f"dH = {dH_J_per_mol:g} J/mol, T_ref = {T_ref_K:g} K: both must be > 0")
    Ea = dH_J_per_mol + GAS_CONSTANT_J_PER_MOL_K * T_ref_K
    A = np.e * _BOLTZMANN_J_PER_K * T_ref_K / _PLANCK_J_S * np.exp(dS_J_per_mol_K / GAS_CONSTANT_J_PER_MOL_K)
    return float(A), float(Ea)


_JACQUES = (
    "Jacques, Newman & He, ASME Winter Annual Meeting 1991 (pig liver slices in a water bath, "
    "coagulation seen as the rise of optical scattering), as summarised by S. L. Jacques, "
    "omlc.org/news/may06/livercoag (2006); not in literature.md"
)
_JACQUES_NOTE = (
    "50 % coagulation time vs temperature; the paper is lost and the summary gives the values "
    "from memory; the author notes that coagulation began ~10x faster and completed ~10x slower "
    "than this single rate predicts"
)
_COMSOL_DMG = "COMSOL MWA model liver material"
_A_J, _EA_J = arrhenius_from_eyring(2.768e5, 553.5)

#: Named Arrhenius parameter sets for the damage integral Ω (``tissue.damage_kinetics``).
#: The default, ``jacques1991_coagulation``, describes the *visible* coagulation that gross
#: pathology measures; it was chosen over ``comsol_liver`` by the RFA/MWA calibration cases
#: (docs/validation.md, "What was calibrated"). ``comsol_liver`` reaches Ω = 1 in 12 min at
#: 42 °C, well inside the 43–55 °C range where the single-term model overestimates death
#: (Pearce 2015, literature.md §2).
DAMAGE_KINETICS = {
    "jacques1991_coagulation": {
        "delta_H_J_per_mol": Param(2.768e5, "J/mol", _JACQUES, "R", _JACQUES_NOTE),
        "delta_S_J_per_mol_K": Param(553.5, "J/(mol K)", _JACQUES, "R", _JACQUES_NOTE),
        "arrhenius_A_per_s": Param(_A_J, "1/s", _JACQUES, "C",
                                   "Eyring -> Arrhenius at T_ref = 60 degC (arrhenius_from_eyring)"),
        "arrhenius_Ea_J_per_mol": Param(_EA_J, "J/mol", _JACQUES, "C",
                                        "Eyring -> Arrhenius at T_ref = 60 degC (arrhenius_from_eyring)"),
    },
    "comsol_liver": {
        "arrhenius_A_per_s": Param(7.39e39, "1/s", _COMSOL_DMG, "V"),
        "arrhenius_Ea_J_per_mol": Param(2.577e5, "J/mol", _COMSOL_DMG, "V"),
    },
}
#: The kinetics every session uses unless ``tissue.damage_kinetics`` names another.
DEFAULT_DAMAGE_KINETICS = "jacques1991_coagulation"


def damage_kinetics(name: str | None = None) -> tuple[float, float]:
    """(A [1/s], Ea [J/mol]) of the named :data:`DAMAGE_KINETICS` set (default: the default set).

    Examples
    --------
    >>> damage_kinetics("comsol_liver")
    (7.39e+39, 257700.0)
    """
    key = DEFAULT_DAMAGE_KINETICS if name is None else name
    if key not in DAMAGE_KINETICS:
        raise ConfigError(f"tissue.damage_kinetics = {name!r}: must be one of {sorted(DAMAGE_KINETICS)}")
    d = DAMAGE_KINETICS[key]
    return float(d["arrhenius_A_per_s"].value), float(d["arrhenius_Ea_J_per_mol"].value)


DAMAGE = {
    "arrhenius_A_per_s": DAMAGE_KINETICS[DEFAULT_DAMAGE_KINETICS]["arrhenius_A_per_s"],
    "arrhenius_Ea_J_per_mol": DAMAGE_KINETICS[DEFAULT_DAMAGE_KINETICS]["arrhenius_Ea_J_per_mol"],
    "arrhenius_threshold_K": Param(
        316.15,
        "K",
        "Pearce, J Biomech Eng 137:121006, 2015 (single-term model invalid at 43-55 degC)",
        "E",
        "damage is integrated only above 43 degC: below it the single-term model would kill "
        "normothermic tissue within hours",
    ),
    "cem43_R_above": Param(0.5, "1", "Sapareto & Dewey 1984", "R"),
    "cem43_R_below": Param(0.25, "1", "Sapareto & Dewey 1984", "R"),
    "cem43_necrosis_min": Param(240.0, "min", "Yarmolenko et al. 2011", "V"),
    "omega_coagulation": Param(1.0, "1", "63 % cell death; convention", "R"),
    "omega_complete": Param(4.6, "1", "99 % cell death (exp(-4.6) = 0.01); convention", "R"),
}

CELLS = {
    "tumour_cells_per_m3": Param(1e15, "1/m^3", "radiobiology convention, 1e8-1e9 cells/cm^3", "R"),
    "clonogenic_fraction": Param(1e-2, "1", "uncertain; parameter (literature.md §10)", "E"),
}

RF = {
    "sigma_temp_coeff_per_K": Param(0.015, "1/K", "Berjano, BioMed Eng OnLine 5:24, 2006", "R"),
    "desiccation_temperature_K": Param(373.15, "K", "Berjano 2006 (water vaporisation)", "R"),
    "desiccation_factor": Param(
        1e-2, "1", "Berjano 2006: drop by 1e2-1e4 at 100 degC", "R", "smallest drop of the range"
    ),
    "desiccation_boiled_fraction": Param(
        0.02, "1", "tissuefate fit to Lee et al., CVIR 32:1235, 2009 (2-cm cooled electrode ex vivo and in vivo)",
        "cal", "share of a voxel's water boiled off at 100 degC before its sigma collapses; 2 % picked from "
        "2/10/30 % by the five Lee rows at 1 mm, then confirmed at 1/3 mm (docs/validation.md, item 1)",
    ),
    "metastasis_sigma_ratio": Param(
        0.57 / 0.35, "1", "Zurbuchen et al., Acta Radiol 2016 (470 kHz)", "V"
    ),
}

#: The default RF desiccation law (``tissue.rf_desiccation``, ``physics.rf_conductivity``) and boiled
#: fraction since 2026-11-27 (docs/validation.md, item 1): σ collapses once 2 % of a voxel's water has
#: boiled off (a fit to Lee 2009). Unlike the temperature law ("temperature": at 99 °C, the default
#: before), its zones converge in space next to a 17 G needle.
DEFAULT_RF_DESICCATION = "vaporised"
DEFAULT_RF_BOILED_FRACTION = RF["desiccation_boiled_fraction"].value

#: Tissue water and its vaporisation (the 100 °C cap of the explicit scheme).
WATER = {
    "mass_fraction": Param(0.78, "1", "liver water content, standard physiology value (~75-80 %)", "R"),
    "latent_heat_J_per_kg": Param(2.257e6, "J/kg", "latent heat of vaporisation of water at 100 degC", "R"),
    "boiling_temperature_K": Param(373.15, "K", "water at 1 atm", "R"),
}

DIELECTRIC = {
    "eps_r_915MHz": Param(46.76, "1", "Gabriel et al., Phys Med Biol 41:2271, 1996", "C"),
    "sigma_915MHz_S_per_m": Param(0.861, "S/m", "Gabriel 1996", "C"),
    "eps_r_2450MHz": Param(43.03, "1", "Gabriel 1996; COMSOL MWA model", "V"),
    "sigma_2450MHz_S_per_m": Param(1.69, "S/m", "Gabriel 1996; COMSOL MWA model", "V"),
    "sigma_temp_coeff_915MHz_per_K": Param(0.0182, "1/K", "Chin & Sherar, Phys Med Biol 2001", "V"),
    "eps_temp_coeff_915MHz_per_K": Param(-0.0013, "1/K", "Chin & Sherar 2001", "V"),
    "tumour_eps_ratio": Param(1.12, "1", "Stauffer et al., Int J Hyperthermia 19:89, 2003", "V"),
    "tumour_sigma_ratio": Param(1.24, "1", "Stauffer et al. 2003", "V"),
    # Ji & Brace, Phys Med Biol 56:5249, 2011 [R]: eps_r(T) = a1 [1 - 1/(1+exp(a2 - a3 T))] + 1,
    # sigma(T) = b1 [1 - 1/(1+exp(b2 - b3 T))] + b4, T in degC.
    "ji_brace_eps_a1": Param(48.391, "1", "Ji & Brace, Phys Med Biol 56:5249, 2011", "R"),
    "ji_brace_eps_a2": Param(5.223, "1", "Ji & Brace 2011", "R"),
    "ji_brace_eps_a3": Param(0.0764, "1/degC", "Ji & Brace 2011", "R"),
    "ji_brace_sigma_b1": Param(2.173, "S/m", "Ji & Brace 2011", "R"),
    "ji_brace_sigma_b2": Param(5.951, "1", "Ji & Brace 2011", "R"),
    "ji_brace_sigma_b3": Param(0.0697, "1/degC", "Ji & Brace 2011", "R"),
    "ji_brace_sigma_b4": Param(0.0114, "S/m", "Ji & Brace 2011", "R"),
}

_SEL = "Sel et al., IEEE TBME 2005 (sequential model of tissue electropermeabilisation; literature.md §9)"
_MIKL = "Miklavčič et al., 2000 (rabbit liver, 8 x 100 us pulses; literature.md §9)"
_BW = "Beitel-White et al., IEEE TBME 68:771, 2021 (PMC8048145)"

#: Irreversible electroporation (physics.ire), literature.md §9.
IRE: dict[str, Param] = {
    "liver_sigma0_S_per_m": Param(0.067, "S/m", _SEL, "R", "non-electroporated liver"),
    "liver_sigma_max_S_per_m": Param(0.241, "S/m", _SEL, "R", "fully electroporated liver"),
    "liver_sigma0_beitel_white_S_per_m": Param(
        0.12, "S/m", _BW, "V", "baseline under IRE pulses; alternative to Sel's 0.067 S/m"
    ),
    "e_reversible_V_per_m": Param(3.62e4, "V/m", _MIKL, "R", "362 V/cm"),
    "e_irreversible_V_per_m": Param(
        6.37e4, "V/m", _MIKL, "R",
        "637 V/cm; clinical models use 500-700 V/cm for 70-90 pulses of 70-100 us (literature.md §9 [R])",
    ),
    "liver_sigma_temp_coeff_per_K": Param(0.012, "1/K", _BW, "V", "1.2 %/degC (liver)"),
    "blood_sigma_S_per_m": Param(
        0.667, "S/m", "Tungjitkusolmun et al., IEEE TBME 49(1):3-9, 2002 (COMSOL RF model)", "V",
        "RF value; used for blood at IRE frequencies as well (no IRE-specific value in literature.md)",
    ),
    "needle_19G_diameter_m": Param(1.067e-3, "m", "Stubs needle-gauge table (19 G)", "R",
                                   "clinical IRE electrodes are 19 G"),
    "thermal_flag_fraction": Param(
        0.05, "1", "tissuefate convention", "E",
        "IRE 'became thermal' when the Arrhenius Omega >= 1 volume reaches 5 % of the field-kill volume",
    ),
}

_K0 = 273.15


def _degC(v: float) -> float:
    """°C → K, rounded so that e.g. −40 °C is 233.15 exactly as typed."""
    return round(_K0 + v, 10)


_RABIN = "Rabin & Shitzer; Deng & Liu cryosurgery models (literature.md §1)"
_GAGE = "Gage & Baust, Cryobiology 1998 (literature.md §2)"

#: Cryo properties and thresholds for tissue. The unfrozen ρ, c, k come from the species preset
#: (:data:`tissuefate.tissue.properties.SPECIES`; k ≈ 0.52 W/(m K) agrees with the cryo models'
#: unfrozen k ≈ 0.5).
CRYO: dict[str, Param] = {
    "latent_heat_J_per_kg": Param(
        250e3, "J/kg", _RABIN, "R",
        "low end of 250-300 kJ/kg; bovine liver DSC gives 139.8-159.0 J/g [V] (Sci Rep 2021, "
        "doi:10.1038/s41598-021-95204-2): see latent_heat_dsc_bovine_J_per_kg for a sensitivity run"),
    "latent_heat_dsc_bovine_J_per_kg": Param(
        149.4e3, "J/kg", "Sci Rep 2021, doi:10.1038/s41598-021-95204-2 (DSC, bovine liver)", "V",
        "mid-range of 139.8-159.0 J/g; not the default"),
    "solidus_K": Param(_degC(-8.0), "K", _RABIN, "R", "phase change over about -1 to -8 degC"),
    "liquidus_K": Param(_degC(-1.0), "K", _RABIN, "R", "phase change over about -1 to -8 degC"),
    "conductivity_frozen_W_per_mK": Param(2.0, "W/(m K)", _RABIN, "R", "constant (no T dependence)"),
    "heat_capacity_frozen_J_per_kgK": Param(1800.0, "J/(kg K)", _RABIN, "R", "constant"),
    "probe_surface_temperature_K": Param(
        _degC(-150.0), "K", "argon Joule-Thomson probes reach about -140 to -185 degC at the surface",
        "E", "held at the probe's active-segment voxels during a freeze; chosen before, not tuned to, the "
        "Littrup 2009 check (littrup_gel_case: 2-4 probes within 0.6 mm, 1 probe 7 mm too large)"),
    "probe_max_cooling_power_W": Param(
        30.0, "W", "fitted to Littrup 2009 lethal-ice diameters, 1-4 probes (littrup_gel_case, 4 cm active)",
        "cal", "per probe; minimax grid search 15-30 W: 1/2/3/4 probes 15.7/29.5/39.5/47.7 mm vs 12/33/41/49, "
        "1 and 2 probes miss +-3 mm, so NOT the default (CryoModel max_probe_power_W=None); argon probe "
        "capacities of tens of W are plausible but no source is in literature.md"),
    "active_thaw_temperature_K": Param(_degC(20.0), "K", "helium / electrical active thaw", "E"),
    "lethal_onset_K": Param(_degC(-20.0), "K", _GAGE, "R",
                            "parenchyma: partial kill begins; survival 1 above"),
    "lethal_certain_K": Param(_degC(-40.0), "K", _GAGE, "R", "reliable tumour kill; survival 0 below"),
    "vascular_injury_K": Param(
        _degC(0.0), "K", "microcirculation stops inside the iceball (DESIGN.md 3.2)", "E",
        "binary: integrity 0 where T_min < 0 degC; a partial model (no delayed stasis, no recovery "
        "at the rim)"),
}

_WATER = "water / ice handbook values"
#: Water-based agar gel phantom, modelled as water and ice (the gel's few % agar ignored).
GEL: dict[str, Param] = {
    "density_kg_per_m3": Param(1000.0, "kg/m^3", _WATER, "R", "ice expansion ignored (fixed grid)"),
    "heat_capacity_water_J_per_kgK": Param(4180.0, "J/(kg K)", _WATER, "R"),
    "heat_capacity_ice_J_per_kgK": Param(2100.0, "J/(kg K)", _WATER, "R", "near 0 degC; lower when colder"),
    "conductivity_water_W_per_mK": Param(0.6, "W/(m K)", _WATER, "R"),
    "conductivity_ice_W_per_mK": Param(2.2, "W/(m K)", _WATER, "R", "near 0 degC; about 3 at -100 degC"),
    "latent_heat_J_per_kg": Param(334e3, "J/kg", _WATER, "R"),
    "solidus_K": Param(_degC(-1.0), "K", "numerical freezing range of a water gel", "E",
                       "water freezes at 0 degC; a 1 K range keeps the enthalpy scheme smooth"),
    "liquidus_K": Param(_K0, "K", _WATER, "R"),
}

_LITTRUP = "Littrup et al., JVIR 20:1343, 2009 (PMC2762356)"
#: The Littrup 2009 agar phantom: inputs and published 15-min results (literature.md §3).
LITTRUP_2009: dict[str, Param] = {
    "probe_diameter_m": Param(2.4e-3, "m", _LITTRUP, "V"),
    "freeze_duration_s": Param(900.0, "s", _LITTRUP, "V"),
    "gel_temperature_K": Param(_degC(39.0), "K", _LITTRUP, "V", "high heat-load phantom"),
    "probe_spacing_m": Param(0.02, "m", _LITTRUP, "V",
                             "'at 2 cm spacing'; PMC4850244 finds 1.5-2 cm optimal"),
    "active_length_m": Param(0.04, "m", "not given in the abstract", "E", "assumed 4 cm freeze zone"),
    "lethal_isotherm_K": Param(_degC(-30.0), "K", _LITTRUP, "V", "'lethal ice (< -30 degC)'"),
    "lethal_diameter_1_m": Param(0.012, "m", _LITTRUP, "V"),
    "lethal_diameter_2_m": Param(0.033, "m", _LITTRUP, "V"),
    "lethal_diameter_3_m": Param(0.041, "m", _LITTRUP, "V"),
    "lethal_diameter_4_m": Param(0.049, "m", _LITTRUP, "V"),
    "lethal_area_percent_1": Param(13.0, "%", _LITTRUP, "V", "lethal share of the iceball section"),
    "lethal_area_percent_2": Param(46.0, "%", _LITTRUP, "V"),
    "lethal_area_percent_3": Param(51.0, "%", _LITTRUP, "V"),
    "lethal_area_percent_4": Param(56.0, "%", _LITTRUP, "V"),
    "rim_m40_to_0C_m": Param(0.01, "m", "PMC4850244 (gel at body temperature)", "V",
                             "-40 degC isotherm about 1 cm inside the 0 degC edge"),
}

#: Tumour relative to parenchyma (multiplies the species value). Tumour perfusion: no verified
#: value exists (literature.md §1, ABSENT); HCC is hypervascular, metastases hypovascular.
TUMOUR_FACTORS = {
    "hcc": {
        "perfusion": Param(1.0, "1", "no verified tumour perfusion (literature.md §1)", "ABSENT",
                           "stand-in: liver value"),
        "rf_conductivity": Param(1.0, "1", "no HCC-specific RF conductivity", "ABSENT",
                                 "stand-in: liver value"),
    },
    "metastasis": {
        "perfusion": Param(0.5, "1", "CRC metastases usually hypovascular (literature.md §1)", "E"),
        "rf_conductivity": RF["metastasis_sigma_ratio"],
    },
}

#: Voxels outside the organ inside a cropped region (peritoneum, diaphragm, fat): no source in
#: literature.md, modelled as unperfused tissue with liver thermal properties and a lower RF
#: conductivity (fat-like), so current stays in the organ.
OUTSIDE_FACTORS = {
    "perfusion": Param(0.0, "1", "stand-in for extra-hepatic tissue", "E"),
    "rf_conductivity": Param(0.1, "1", "stand-in for extra-hepatic tissue (fat-like)", "E"),
}

#: Fibrous capsule and scar relative to parenchyma (hooks for the fate model).
SCAR_FACTORS = {
    "perfusion": Param(0.2, "1", "fibrous tissue is poorly perfused; no measured value", "E"),
    "rf_conductivity": Param(1.0, "1", "no measured value", "ABSENT", "stand-in: liver value"),
}

_STUBS = "Stubs needle-gauge table"
_NO_K = ("literature.md has no tissue permeability, crack pressure or ethanol kill rate; order-of-magnitude "
         "estimate")

#: Chemical injection (physics.darcy, physics.injection): Darcy flow, cracking, leak paths, transport.
#: Hydraulic conductivities K = k/mu are given directly [m^2/(Pa s)]; factors multiply the parenchymal K.
INJECTION: dict[str, Param] = {
    "conductivity_parenchyma_m2_per_Pa_s": Param(
        5e-11, "m^2/(Pa s)", _NO_K, "E",
        "bulk conductivity of liver to an injected fluid (sinusoids + interstitium); chosen so that the "
        "quasi-steady pressure q/(4 pi K r) exceeds the crack pressure within ~5 mm of the tip at 0.1 mL/s "
        "and within a few cm at 0.4-0.9 mL/s (Tapani 1996 [V]: spread uncontrolled above 0.3-0.4 mL/s); "
        "interstitial K of tumours is orders lower, so the bolus is assumed to travel through sinusoids"),
    "tumour_factor": Param(1.0, "1", "no measured tumour/liver ratio", "E", "stand-in: liver value"),
    "capsule_factor": Param(0.1, "1", _NO_K, "E", "fibrous capsule confines the bolus (why PEI suits "
                            "encapsulated HCC); magnitude only"),
    "vessel_factor": Param(100.0, "1", _NO_K, "E", "large-vessel voxels: lumen/wall as a fast leak path"),
    "tract_conductance_m4_per_Pa_s": Param(
        5e-16, "m^4/(Pa s)", _NO_K, "E",
        "conductance x length of the gap along the needle shaft (backflow channel): a 1 mm^2 strand of tissue "
        "10x more permeable than parenchyma; rasterised as a one-voxel line whose K is raised by this / h^2"),
    "scar_factor": Param(0.1, "1", _NO_K, "E", "dense collagen; hook for the fate model"),
    "fixed_factor": Param(0.3, "1", _NO_K, "E", "heat-fixed (coagulated, dehydrated) necrosis; hook for "
                          "the fate model"),
    "applicator_factor": Param(1e-6, "1", "metal is impermeable", "E", "floor that keeps the system regular"),
    "crack_pressure_Pa": Param(
        3e4, "Pa", _NO_K, "E",
        "order of the tensile failure stress of soft liver tissue (tens of kPa); the mechanism (a critical "
        "infusion pressure opens cracks that carry leakage) is Morhard et al., IEEE TBME 2020 [V]"),
    "crack_factor": Param(100.0, "1", _NO_K, "E", "a fissure conducts far better than the tissue matrix"),
    "tract_crack_pressure_factor": Param(
        1.0, "1", _NO_K, "E",
        "hook: < 1 is the assumption that tissue torn by the shaft opens first (a common explanation of reflux "
        "along the needle rising with rate); 1 assumes no extra weakness. At 0.3 the tract cracks to the "
        "surface at ~0.1 mL/s in the tests' phantom and the leak stops being monotone in the rate"),
    "vessel_sink_factor": Param(
        6.0, "1", _NO_K, "E",
        "sink conductance of a large-vessel voxel = factor x 2 K_vessel h (its six half-cells drained to "
        "venous pressure 0); scaled by vessel_leak_factor in [0, 1] (hemostasis hypothesis)"),
    "vessel_washout_per_s": Param(1.0, "1/s", "blood flow in a >= 3 mm vessel renews its volume within "
                                  "about a second", "E", "agent diffusing into a vessel voxel is carried away"),
    "mobile_fraction": Param(
        0.3, "1", _NO_K, "E",
        "volume fraction of tissue the injected fluid can occupy (sinusoids + interstitium, order 0.2-0.3); "
        "Shiina's rule V = 4/3 pi (r + 0.5 cm)^3 [R] implies an effective value nearer 1 after leakage: "
        "a calibration parameter"),
    "washout_partition": Param(1.0, "1", "small water-soluble solutes equilibrate with blood water", "E",
                               "washout rate = perfusion_per_s / partition"),
    "distribution_threshold": Param(0.5, "1", "tissuefate convention", "E",
                                    "a voxel is 'distributed' when injected fluid fills >= half its mobile "
                                    "volume"),
    "vascular_stasis_survival": Param(
        0.01, "1", "PEI causes vascular thrombosis inside the necrosis (qualitative)", "E",
        "washout stops where survival < this value (binary microvascular shutdown)"),
    "needle_18G_diameter_m": Param(1.27e-3, "m", _STUBS, "R"),
    "needle_20G_diameter_m": Param(0.908e-3, "m", _STUBS, "R"),
    "needle_21G_diameter_m": Param(0.819e-3, "m", _STUBS, "R", "Chiba needles used for PEI are 21-22 G"),
    "needle_22G_diameter_m": Param(0.718e-3, "m", _STUBS, "R"),
}

_HB = "chemistry handbook value"
_KILL = ("literature.md has no ethanol/acetic-acid kill rate; order-of-magnitude estimate (coagulation "
         "within minutes at high concentration)")
_RAMAN = ("Raman two-compartment fits in public analysis code (not peer reviewed), literature.md §4; "
          "4.1-8.1e-10 m^2/s")

#: Agents of chemical ablation. Kill laws in :mod:`tissuefate.physics.injection`.
AGENTS: dict[str, dict[str, Param]] = {
    "ethanol": {
        "pure_concentration_mol_per_m3": Param(789.0 / 0.04607, "mol/m^3", _HB + " (789 kg/m^3, 46.07 g/mol)",
                                               "R"),
        "diffusion_m2_per_s": Param(5.9e-10, "m^2/s", _RAMAN, "V", "mean; free ethanol-water 1.2e-9 [R]"),
        "default_fraction": Param(0.95, "1", "Lencioni 2003 (Cochrane CD011650): 95 % ethanol", "V"),
        "kill_rate_per_s": Param(0.1, "1/s", _KILL, "E"),
        "kill_threshold": Param(0.2, "1", _KILL, "E", "pore-fluid volume fraction below which ethanol "
                                "does not kill"),
    },
    "acetic_acid": {
        "pure_concentration_mol_per_m3": Param(1049.0 / 0.06005, "mol/m^3", _HB + " (1049 kg/m^3, 60.05 g/mol)",
                                               "R"),
        "diffusion_m2_per_s": Param(5.9e-10, "m^2/s", "no tissue value in literature.md", "E",
                                    "ethanol's value (small molecule of similar free diffusivity)"),
        "default_fraction": Param(0.5, "1", "Ohnishi et al., Hepatology 27:67, 1998 (50 % RCT)", "V",
                                  "15-50 % used (Ohnishi 1996)"),
        "kill_rate_per_s": Param(0.1, "1/s", _KILL, "E"),
        "kill_threshold": Param(0.05, "1", _KILL, "E", "lower than ethanol: acetic acid is the more potent "
                                "agent per volume (qualitative)"),
    },
    "oxidant": {
        "molar_mass_kg_per_mol": Param(0.06745, "kg/mol", _HB + " (ClO2)", "R"),
        "solubility_mol_per_m3": Param(8.0 / 0.06745, "mol/m^3", "handbooks: ~8 g/L at 20 degC (literature.md "
                                       "§7)", "R"),
        "max_handled_w_per_v": Param(0.01, "1", "WHO CICAD 37, 2002: solutions up to ~1 % w/v", "V"),
        "diffusion_m2_per_s": Param(1.5e-9, "m^2/s", "analogy with small dissolved gases (literature.md §7)",
                                    "E"),
        "demand_mol_per_kg": Param(0.35, "mol/kg", "literature.md §7: 0.2-0.5 mmol ClO2 per g tissue from "
                                   "residue content", "E", "mid-range; not measured"),
        "default_concentration_mol_per_m3": Param(3.0 / 0.06745, "mol/m^3", "no clinical concentration exists",
                                                  "E", "illustrative 3 g/L, below the 8 g/L solubility"),
        "kill_log_reduction": Param(20.0, "1", "tissuefate convention", "E",
                                    "survival exp(-20) where the lethal demand fraction is consumed: no "
                                    "clonogen survives at ~1e4 clonogens per mm^3"),
    },
}


@dataclass(frozen=True)
class MaterialTable:
    """Per-label properties (arrays indexed by :class:`Label`), SI units.

    ``perfusion_per_s`` is the volumetric blood perfusion ω_b before microvascular integrity
    and damage are applied; large vessels hold blood at arterial temperature (heat sinks).
    """

    density_kg_per_m3: np.ndarray
    heat_capacity_J_per_kgK: np.ndarray
    thermal_conductivity_W_per_mK: np.ndarray
    perfusion_per_s: np.ndarray
    rf_conductivity_S_per_m: np.ndarray
    species: str
    in_vivo: bool

    def describe(self) -> dict:
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            out[f.name] = v.tolist() if isinstance(v, np.ndarray) else v
        return out


def material_table(
    species: str = "human",
    *,
    tumour_type: str = "hcc",
    in_vivo: bool = True,
    perfusion_per_s: float | None = None,
    rf_conductivity_S_per_m: float | None = None,
) -> MaterialTable:
    """Per-label property table for a species preset.

    Parameters
    ----------
    species : {"human", "porcine", "bovine"}
    tumour_type : {"hcc", "metastasis"}
    in_vivo : bool
        ``False`` switches perfusion off everywhere (ex vivo tissue).
    perfusion_per_s : float, optional
        Override of parenchymal perfusion [1/s].
    rf_conductivity_S_per_m : float, optional
        Override of parenchymal RF conductivity at 37 °C [S/m].

    Examples
    --------
    >>> t = material_table("porcine", in_vivo=False)
    >>> float(t.perfusion_per_s.max())
    0.0
    """
    if species not in SPECIES:
        raise ConfigError(f"tissue.species = {species!r}: must be one of {sorted(SPECIES)}")
    if tumour_type not in TUMOUR_FACTORS:
        raise ConfigError(f"tumour type = {tumour_type!r}: must be one of {sorted(TUMOUR_FACTORS)}")
    sp = SPECIES[species]
    rho = np.full(N_LABELS, sp.density_kg_per_m3.value)
    c = np.full(N_LABELS, sp.heat_capacity_J_per_kgK.value)
    k = np.full(N_LABELS, sp.thermal_conductivity_W_per_mK.value)
    w0 = sp.perfusion_per_s.value if perfusion_per_s is None else float(perfusion_per_s)
    s0 = (
        sp.rf_conductivity_S_per_m.value
        if rf_conductivity_S_per_m is None
        else float(rf_conductivity_S_per_m)
    )
    w = np.full(N_LABELS, w0)
    sig = np.full(N_LABELS, s0)
    tf = TUMOUR_FACTORS[tumour_type]
    w[Label.TUMOUR] *= tf["perfusion"].value
    sig[Label.TUMOUR] *= tf["rf_conductivity"].value
    w[Label.CAPSULE] *= SCAR_FACTORS["perfusion"].value
    w[Label.OUTSIDE] *= OUTSIDE_FACTORS["perfusion"].value
    sig[Label.OUTSIDE] *= OUTSIDE_FACTORS["rf_conductivity"].value
    # Blood in large vessels: its heat-sink effect is a Dirichlet condition at arterial
    # temperature (physics.bioheat); RF conductivity of blood 0.667 S/m [V] (Tungjitkusolmun 2002).
    w[Label.LARGE_VESSEL] = 0.0
    sig[Label.LARGE_VESSEL] = 0.667 if rf_conductivity_S_per_m is None else 2.0 * s0
    rho[Label.LARGE_VESSEL] = BLOOD["density_kg_per_m3"].value
    c[Label.LARGE_VESSEL] = BLOOD["heat_capacity_J_per_kgK"].value
    # The applicator's own voxels: treated as tissue-like for heat (its metal is thin), and as a
    # boundary for the RF potential (physics.rf), so its conductivity here is irrelevant.
    w[Label.APPLICATOR] = 0.0
    if not in_vivo:
        w[:] = 0.0
    return MaterialTable(rho, c, k, w, sig, species, in_vivo)


def with_overrides(table: MaterialTable, **kw) -> MaterialTable:
    """A copy of ``table`` with fields replaced."""
    return replace(table, **kw)


def all_params() -> list[tuple[str, Param]]:
    """Every sourced number of this module as (dotted name, Param) pairs."""
    out: list[tuple[str, Param]] = []
    for name, sp in SPECIES.items():
        for f in fields(sp):
            v = getattr(sp, f.name)
            if isinstance(v, Param):
                out.append((f"species.{name}.{f.name}", v))
    for group_name, group in (("blood", BLOOD), ("damage", DAMAGE), ("cells", CELLS), ("rf", RF),
                              ("water", WATER), ("ire", IRE),
                              ("cryo", CRYO), ("gel", GEL), ("littrup2009", LITTRUP_2009),
                              ("dielectric", DIELECTRIC), ("outside", OUTSIDE_FACTORS),
                              ("scar", SCAR_FACTORS), ("injection", INJECTION)):
        out.extend((f"{group_name}.{k}", v) for k, v in group.items())
    for kin, d in DAMAGE_KINETICS.items():
        out.extend((f"damage_kinetics.{kin}.{k}", v) for k, v in d.items())
    for t, d in TUMOUR_FACTORS.items():
        out.extend((f"tumour.{t}.{k}", v) for k, v in d.items())
    for a, d in AGENTS.items():
        out.extend((f"agent.{a}.{k}", v) for k, v in d.items())
    out.extend((f"planning.{k}", v) for k, v in PLANNING.items())
    out.extend((f"fate.{k}", v) for k, v in FATE.items())
    out.extend((f"tumour_growth.{k}", v) for k, v in TUMOUR_GROWTH.items())
    return out


_SHIINA = "Shiina et al., AJR 1990/1993 (literature.md §4)"
_NOT_IN_LIT = "typical device practice; not in literature.md"

#: Planning rules (:mod:`tissuefate.therapy.planning`): research planning arithmetic and geometry, not
#: treatment guidance. Cryo lethal reaches are computed there from :data:`LITTRUP_2009`.
PLANNING: dict[str, Param] = {
    "ethanol_margin_m": Param(0.005, "m", _SHIINA, "R",
                              "total ethanol volume V = 4/3 pi (r + 0.5 cm)^3, r the tumour radius"),
    "ethanol_session_cap_m3": Param(
        10e-6, "m^3", "Lencioni 2003, Cochrane CD011650 tables (literature.md §4)", "V",
        "upper end of 2-10 mL per session; Brunello 2008 2-20 mL, Giorgio 2011 4-20 mL"),
    "ablative_margin_m": Param(0.005, "m", "planning convention; no source in literature.md", "E",
                               "5 mm, the same 0.5 cm margin as Shiina's ethanol rule"),
    "cryo_min_spacing_m": Param(0.015, "m", "PMC4850244 (literature.md §3)", "V", "probe spacing 1.5-2 cm"),
    "cryo_max_spacing_m": Param(0.020, "m", "PMC4850244; Littrup et al., JVIR 2009 (literature.md §3)", "V",
                                "probe spacing 1.5-2 cm; Littrup's arrays at 2 cm"),
    "ire_min_spacing_m": Param(0.015, "m", _NOT_IN_LIT, "E", "needle spacing 1.5-2.0 cm; ire_reference_case "
                               "uses 15 mm"),
    "ire_max_spacing_m": Param(0.020, "m", _NOT_IN_LIT, "E", "needle spacing 1.5-2.0 cm"),
    "ire_voltage_per_spacing_V_per_m": Param(1.5e5, "V/m", _NOT_IN_LIT, "E",
                                             "1500 V/cm x needle spacing (IREProtocol docstring)"),
    "ire_max_voltage_V": Param(3000.0, "V", _NOT_IN_LIT, "E", "generator limit (IREProtocol docstring)"),
    "ire_max_electrodes": Param(6.0, "1", _NOT_IN_LIT, "E", "generator channels"),
    "ire_reach_beyond_electrode_m": Param(
        3.0e-3, "m", "tissuefate physics.ire.solve_ire, ire_reference_case geometry (19 G pair 15 mm apart, "
        "20 mm exposed, liver, 0.5 mm voxels, no heating) at 2250 V = 1500 V/cm", "C",
        "(21.0 mm zone width - 15 mm spacing) / 2 (zone 21.0 x 13.0 x 26.5 mm, 4.8 mL); at 1500 V (1000 V/cm) "
        "the width is 20.0 mm. Not rescaled when the voltage rule changes"),
}


_DU = "Du 2007 (rabbit RFA) and Tsuda (rabbit), literature.md §5"
_NO_RATE = "literature.md §5 gives a histology timeline, no rates; order-of-magnitude estimate"
_INVOL = "J Surg Res 150:60, 2008 (rabbit): RFA zone ≈ 50 % of initial volume at 10 weeks (literature.md §5)"

#: Tissue fate after a session (:mod:`tissuefate.fate`): clearance, inflammation, fibrosis, regeneration,
#: vessel regrowth and tumour invasion. Rates in 1/day and speeds in mm/day: days are the fate model's
#: natural unit. literature.md §5 is a qualitative timeline; every rate below is an estimate chosen so
#: that the timeline holds, except the one parameter tagged ``cal`` (named case).
FATE: dict[str, Param] = {
    "coagulation_omega": Param(4.6, "1", "DAMAGE omega_complete (99 % kill)", "R",
                               "debris is heat-fixed (coagulated) where Omega >= this"),
    "coagulation_temperature_K": Param(_degC(60.0), "K", "Brace 2009; Goldberg 2000: > 60 degC near-instant "
                                       "coagulation (literature.md §2)", "V",
                                       "debris is heat-fixed where the peak temperature reached this"),
    "vessel_front_speed_mm_per_day": Param(
        0.5, "mm/day", _NO_RATE, "E",
        "speed of the fibrovascular (granulation) front into non-fixed necrosis, Fisher-KPP speed "
        "2 sqrt(D r); a 1-2 mm granulation rim at 1-2 weeks (Du 2007 [V]) needs ~0.1-0.5 mm/day"),
    "vessel_growth_rate_per_day": Param(
        0.5, "1/day", _NO_RATE, "E", "logistic rate of microvessel regrowth behind the front; sets the front "
        "width c/(2r) = 0.5 mm"),
    "fixed_front_speed_mm_per_day": Param(
        0.025, "mm/day", "coagulum is organised edge-inward over months (Tsuda [V], literature.md §5); "
        + _NO_RATE, "E",
        "speed of the vessel front into fully heat-fixed debris; 20x slower than into non-fixed necrosis"),
    "clearance_rate_per_day": Param(
        0.3, "1/day", _NO_RATE, "E",
        "phagocytic clearance of non-fixed debris where microvessels are intact (rate x vascular integrity): "
        "neutrophils then macrophages within 1-2 weeks (Du 2007 [V])"),
    "fixed_clearance_rate_per_day": Param(
        0.06, "1/day", _INVOL, "cal",
        "resorption of heat-fixed debris behind the vessel front (rate x vascular integrity), 5x slower than "
        "non-fixed. Calibrated with fibrosis_rate_per_day on fate.calibration (synthetic 12 mm RFA sphere): "
        "chosen from the scan {0.03, 0.06} x fixed_front_speed {0.025, 0.04} so that the zone is 50 +- 10 % "
        "at 70 days"),
    "inflammation_seed": Param(1.0, "1", "tissuefate convention", "E",
                               "inflammation right after a session = seed x killed fraction"),
    "inflammation_half_life_days": Param(
        7.0, "day", "Du 2007: inflammation and congestion in week 0-1, then macrophages (literature.md §5)",
        "E", "decay of inflammatory activity without a source"),
    "inflammation_recruitment_per_day": Param(
        0.3, "1/day", _NO_RATE, "E",
        "recruitment of inflammatory cells through intact microvessels to persisting debris "
        "(rate x vascular integrity x debris)"),
    "fibrosis_rate_per_day": Param(
        0.5, "1/day", _DU + ": fibrous rim 1-2 weeks, capsule 4-8 weeks", "cal",
        "collagen deposition into free space, rate x inflammation x debris. Calibrated on "
        "fate.calibration.case_fibrous_rim (synthetic 12 mm RFA sphere): chosen from the scan {0.15, 0.5}; "
        "0.15 gave a rim only after 4-8 weeks"),
    "scar_max_fraction": Param(
        0.35, "1", "no measured value; mature scar occupies much less volume than the necrosis it replaces "
        "(wound contraction), so the zone involutes (J Surg Res 150:60, 2008 [V]: ≈ 50 % at 10 weeks)", "E",
        "largest scar fraction of a voxel; the rest of the cleared space is free (filled by the surrounding "
        "tissue shifting in, not modelled on the fixed grid)"),
    "scar_half_life_days": Param(1825.0, "day", "scar is nearly permanent (DESIGN.md §3.3)", "E",
                                 "5 years: slow remodelling; the scar of the follow-up period stays"),
    "regeneration_rate_per_day": Param(
        0.15, "1/day", "J Surg Res 150:60, 2008: high mitotic activity 1-10 weeks, liver volume restored at "
        "10 weeks (literature.md §5 [V]); rate " + _NO_RATE, "E",
        "logistic growth of parenchyma into free space where the ECM is intact"),
    "regeneration_length_m": Param(0.3e-3, "m", _NO_RATE, "E",
                                   "hepatocyte migration length: parenchyma regrows into cleared space from "
                                   "neighbouring viable parenchyma (front speed ~ 2 x rate x length)"),
    "tumour_invasion_length_m": Param(0.3e-3, "m", _NO_RATE, "E",
                                      "tumour invasion length: front speed 2 x growth rate x length in free or "
                                      "parenchymal space (a 150-day doubling: ~1.5 mm/year)"),
    "clonogen_floor": Param(
        1e-9, "1", "tissuefate numerical convention", "E",
        "expected surviving clonogens per voxel below which a voxel's tumour is set to 0 (Poisson probability "
        "of a clonogen there < 1e-9): stops the explicit invasion stencil from spreading 1e-300 tails over the "
        "whole grid"),
    "ecm_kept_thermal": Param(0.0, "1", "DESIGN.md §3.2: thermal coagulation destroys ECM and microvessels",
                              "R", "ECM integrity kept where debris is heat-fixed by heat"),
    "ecm_kept_ire": Param(1.0, "1", "IRE preserves ECM, bile ducts, nerves and large vessels (literature.md §9)",
                          "V", "outside its Joule-heating coagulation"),
    "ecm_kept_cryo": Param(1.0, "1", "literature.md has no cryo matrix data; cryo kills by ice and ischaemia, "
                           "not protein denaturation", "E", "sensitivity parameter"),
    "ecm_kept_chemical": Param(1.0, "1", "literature.md has no matrix data for ethanol, acetic acid or oxidant",
                               "E", "sensitivity parameter"),
    "fixed_fraction_ethanol": Param(
        1.0, "1", "ethanol is a protein-denaturing histological fixative; PEI gives coagulative necrosis "
        "(standard histology); no clearance data in literature.md", "E",
        "fraction of the necrosis made by ethanol that is fixed (cleared slowly)"),
    "fixed_fraction_acetic_acid": Param(1.0, "1", "coagulative necrosis, as ethanol; no clearance data in "
                                        "literature.md", "E", "as ethanol"),
    "fixed_fraction_oxidant": Param(
        1.0, "1", "no data (literature.md §7 [ABSENT]); set equal to the other chemical agents so that no "
        "strategy is favoured by default", "E",
        "the claim of faster clearance is the hypothesis debridement_enhanced_clearance"),
    "fixed_fraction_cryo": Param(0.0, "1", "freezing does not denature proteins; no clearance data in "
                                 "literature.md", "E", "cryo necrosis is cleared as non-fixed debris"),
}



#: Tumour regrowth after a session (literature.md §8) and imaging detection (§10).
TUMOUR_GROWTH: dict[str, Param] = {
    "hcc_doubling_time_days": Param(
        140.0, "day", "Nathani et al., Gut 70:401, 2021: pooled HCC volume-doubling time 4.6 months (95 % CI "
        "3.9-5.3; literature.md §8)", "V", "4.6 months x 30.4 days; individual values 27-606 d (Barbara 1992)"),
    "metastasis_doubling_time_days": Param(
        71.4, "day", "PMID 30957066, 2019: colorectal liver metastases without chemotherapy, mean 71.4 d "
        "(literature.md §8)", "V", "overt metastases 155 +- 34 d (Finlay 1988)"),
    "detection_diameter_m": Param(
        5e-3, "m", "literature.md §10: imaging detects a few mm of enhancing tissue; threshold chosen and "
        "documented here", "E", "local progression = viable tumour regrowing to a sphere of this diameter"),
}
