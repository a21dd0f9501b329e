"""The Python API the command line mirrors: run a scenario, write its outputs."""

from __future__ import annotations

from pathlib import Path

from .config.build import build_session
from .config.scenario import Scenario, load_scenario
from .therapy.result import SessionResult
from .therapy.session import ProgressFn, run_session

__all__ = ["simulate", "run_scenario", "run_trial", "run_sensitivity"]


def simulate(scenario: Scenario | str | Path, progress: ProgressFn | None = None):
    """Simulate a scenario (object or TOML path) and return its result with metrics filled in.

    One session: a :class:`SessionResult` (and, when ``[followup] days > 0``, the follow-up with the
    tissue-fate model: ``result.followup``, ``metrics["followup"]``). A scenario with a ``[course]``
    section: a :class:`~tissuefate.course.CourseResult` (:func:`tissuefate.course.run_course`).
    """
    from .therapy.outcomes import session_metrics

    scn = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    if scn.numerics.backend is not None:  # CuPy and a GPU are there, before any work
        from .backends.registry import require_backend

        require_backend(scn.numerics.backend, "numerics.backend")
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


def run_trial(spec, out_dir, **kwargs):
    """Run (or resume) a virtual trial and write its outcomes, ``summary.json``, figures and
    ``report.html`` (:func:`tissuefate.trial.run.run_trial` with the io writer); ``spec`` is a
    :class:`~tissuefate.trial.spec.TrialSpec` or the path of a trial TOML file."""
    from .io.trial_output import write_trial_summary
    from .trial.run import run_trial as _run
    from .trial.spec import TrialSpec, load_trial

    spec = spec if isinstance(spec, TrialSpec) else load_trial(spec)
    return _run(spec, out_dir, summary_writer=write_trial_summary, **kwargs)


def run_sensitivity(spec, out_dir, *, local: bool = False, scheduler: str | None = None,
                    n_workers: int | None = None, threads_per_task: int = 1, **kwargs) -> dict:
    """Run a sensitivity analysis and write ``sensitivity.json``, ``samples.csv``, the figure and
    ``report.html`` (:func:`tissuefate.trial.sensitivity.run_sensitivity` with the io writer).

    The cases run on the trial runner's Dask cluster (:func:`tissuefate.trial.run.run_cases_on_dask`:
    a LocalCluster, or ``scheduler``); ``local=True`` runs them one after the other in this process,
    and a ``runner`` keyword replaces both."""
    from .io.trial_output import write_sensitivity
    from .trial.sensitivity import run_sensitivity as _run

    if "runner" not in kwargs and not local:
        from functools import partial

        from .trial.run import run_cases_on_dask

        kwargs["runner"] = partial(run_cases_on_dask, scheduler=scheduler, n_workers=n_workers,
                                   threads_per_task=threads_per_task, progress=kwargs.get("progress"))
    return _run(spec, out_dir, writer=write_sensitivity, **kwargs)
