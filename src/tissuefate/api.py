"""The Python API the command line mirrors: run a scenario, write its outputs."""

from __future__ import annotations

from pathlib import Path

from .config.build import build_session
from .config.scenario import Scenario, load_scenario
from .therapy.result import SessionResult
from .therapy.session import ProgressFn, run_session

__all__ = ["simulate", "run_scenario"]


def simulate(scenario: Scenario | str | Path, progress: ProgressFn | None = None):
    """Simulate a scenario (object or TOML path) and return its result with metrics filled in.

    One session: a :class:`SessionResult` (and, when ``[followup] days > 0``, the follow-up with the
    tissue-fate model: ``result.followup``, ``metrics["followup"]``). A scenario with a ``[course]``
    section: a :class:`~tissuefate.course.CourseResult` (:func:`tissuefate.course.run_course`).
    """
    from .therapy.outcomes import session_metrics

    scn = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    if scn.course is not None:
        from .course import run_course

        return run_course(scn, progress=progress)
    session = build_session(scn)
    result = run_session(session, progress=progress)
    result.metrics = session_metrics(result, isotherms_degC=tuple(scn.output.isotherms_degC))
    if scn.followup.days > 0:
        from .course import default_doubling_time_days, follow_up

        f = scn.followup
        td = f.doubling_time_days or default_doubling_time_days(scn.anatomy.tumour_type)
        if progress:
            progress(1.0, f"follow-up to {f.days:g} days")
        hs, _ = scn.run_hypotheses()
        result.followup = follow_up(result, f.days, doubling_time_days=td, hypotheses=hs,
                                    detection_diameter_m=f.detection_diameter_mm * 1e-3)
        result.metrics["followup"] = result.followup.metrics
    return result


def run_scenario(scenario: Scenario | str | Path, out_dir: str | Path, *, overwrite: bool = False,
                 progress: ProgressFn | None = None) -> tuple:
    """Simulate a scenario and write its outputs to ``out_dir``: for one session metrics.json,
    fields.nc, figures and report.html; for a course metrics.json, traces.csv, states.nc, figures,
    one folder per session and report.html.

    The folder appears only when everything is written (atomic rename).
    """
    result = simulate(scenario, progress=progress)
    if isinstance(result, SessionResult):
        from .io.output import write_session_outputs

        paths = write_session_outputs(out_dir, result, overwrite=overwrite)
    else:
        from .io.course_output import write_course_outputs

        paths = write_course_outputs(out_dir, result, overwrite=overwrite)
    return result, paths
