"""Applicators, generator control, sessions of every modality, their outcomes, and planning."""

from .applicators import MicrowaveAntenna, RFElectrode, place_through, rasterise_applicator
from .cryo_session import CryoSession, cryoprobes_around, run_cryo_session
from .generator import RFGenerator
from .ire_session import IRESession, ire_electrodes_around, run_ire_session
from .outcomes import session_metrics
from .planning import (
    plan_cryoprobes,
    plan_ethanol_sessions,
    plan_injection_needles,
    plan_ire_pairs,
    shiina_total_ethanol_volume_m3,
)
from .result import ApplicatorPlacement, SessionResult, ZoneDef
from .session import ThermalSession, run_session

__all__ = [
    "RFElectrode",
    "MicrowaveAntenna",
    "place_through",
    "rasterise_applicator",
    "RFGenerator",
    "ApplicatorPlacement",
    "SessionResult",
    "ZoneDef",
    "ThermalSession",
    "CryoSession",
    "IRESession",
    "run_session",
    "run_cryo_session",
    "run_ire_session",
    "cryoprobes_around",
    "ire_electrodes_around",
    "session_metrics",
    "shiina_total_ethanol_volume_m3",
    "plan_ethanol_sessions",
    "plan_injection_needles",
    "plan_cryoprobes",
    "plan_ire_pairs",
]
