"""Figures and self-contained HTML reports (matplotlib Agg canvas; no pyplot, no global state)."""

from .course import plot_course_comparison, plot_course_curves, plot_course_slices
from .course_report import course_comparison_report_html, course_report_html
from .report import DISCLAIMER, comparison_report_html, key_metric_rows, session_report_html
from .slices import (
    LABEL_COLOURS,
    plot_session_slices,
    plot_side_by_side,
    plot_traces,
    session_planes,
)

__all__ = [
    "DISCLAIMER",
    "LABEL_COLOURS",
    "plot_session_slices",
    "plot_traces",
    "plot_side_by_side",
    "session_planes",
    "key_metric_rows",
    "session_report_html",
    "comparison_report_html",
    "plot_course_curves",
    "plot_course_slices",
    "plot_course_comparison",
    "course_report_html",
    "course_comparison_report_html",
]
