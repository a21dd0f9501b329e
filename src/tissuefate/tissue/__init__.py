"""Tissue state, labels, property tables with sources, and property maps."""

from .labels import N_LABELS, Label
from .maps import ThermalMaps, perfusion_map, rf_conductivity_map, thermal_maps
from .properties import SPECIES, MaterialTable, Param, all_params, material_table
from .state import FRACTION_FIELDS, TissueState

__all__ = [
    "Label",
    "N_LABELS",
    "TissueState",
    "FRACTION_FIELDS",
    "Param",
    "SPECIES",
    "MaterialTable",
    "material_table",
    "all_params",
    "ThermalMaps",
    "thermal_maps",
    "perfusion_map",
    "rf_conductivity_map",
]
