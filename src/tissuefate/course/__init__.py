"""Courses: what happens to a patient after and between sessions.

:func:`follow_up` is the one-session course (a session, then the tissue-fate model to a horizon);
:func:`run_course` runs a multi-session strategy with replanning on the carried tissue state.
"""

from .followup import MILESTONE_DAYS, FollowUp, default_doubling_time_days, follow_up
from .runner import COURSE_TRACE_META, STOP_REASONS, CourseResult, residual_target, run_course
from .strategies import PRESET_EXTRAS, STRATEGIES

__all__ = ["FollowUp", "follow_up", "default_doubling_time_days", "MILESTONE_DAYS", "CourseResult",
           "run_course", "residual_target", "COURSE_TRACE_META", "STOP_REASONS", "STRATEGIES", "PRESET_EXTRAS"]
