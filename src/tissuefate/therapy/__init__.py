"""Applicators, generator control, thermal sessions and their outcomes."""

from .applicators import MicrowaveAntenna, RFElectrode, place_through, rasterise_applicator
from .generator import RFGenerator
from .outcomes import session_metrics
from .result import ApplicatorPlacement, SessionResult
from .session import ThermalSession, run_session

__all__ = [
    "RFElectrode",
    "MicrowaveAntenna",
    "place_through",
    "rasterise_applicator",
    "RFGenerator",
    "ApplicatorPlacement",
    "SessionResult",
    "ThermalSession",
    "run_session",
    "session_metrics",
]
