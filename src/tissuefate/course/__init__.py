"""Courses: what happens to a patient after and between sessions. For now the one-session course,
a session followed by the tissue-fate model to a horizon (:func:`follow_up`); multi-session
strategies with replanning come next (issue 4)."""

from .followup import MILESTONE_DAYS, FollowUp, default_doubling_time_days, follow_up

__all__ = ["FollowUp", "follow_up", "default_doubling_time_days", "MILESTONE_DAYS"]
