"""Tissue fate between sessions and in follow-up (DESIGN.md §3.3): the state right after a session
(:func:`post_session_state`) and its evolution over days and months (:class:`FateModel`)."""

from .healing import TRACE_META, FateModel, occupancy
from .transition import acute_volume_change_m3, coagulation_mask, post_session_state

__all__ = ["post_session_state", "coagulation_mask", "acute_volume_change_m3", "FateModel", "TRACE_META",
           "occupancy"]
