"""The Python API the command line mirrors: run a scenario, write its outputs."""

from __future__ import annotations

from pathlib import Path

from .config.build import build_session
from .config.scenario import Scenario, load_scenario
from .therapy.result import SessionResult
from .therapy.session import ProgressFn, run_session

__all__ = ["simulate", "run_scenario", "time_step_check", "run_trial", "run_sensitivity",
           "TIME_STEP_CHECK_TOLERANCE"]

#: Relative change of the Ω ≥ 1 volume between a session and its re-run at a finer step above which
#: :func:`time_step_check` flags the result (docs/model.md: before the cascade sub-steps the automatic
#: RF step was 4–14 % off on the calibration cases; with them, within ≈ 4 %).
TIME_STEP_CHECK_TOLERANCE = 0.10
#: Modalities :func:`time_step_check` applies to: the thermal sessions with an explicit step
TIME_STEP_CHECK_MODALITIES = ("rfa", "mwa")


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


def _check_time_step_applies(scn: Scenario, divisor: int) -> None:
    """Refuse a time-step check that cannot run, before any work (CLI exit code 2)."""
    from .errors import ConfigError

    if not isinstance(divisor, int) or isinstance(divisor, bool) or not 2 <= divisor <= 64:
        raise ConfigError(f"time-step check divisor = {divisor!r}: must be an integer in 2-64")
    if scn.course is not None:
        raise ConfigError("--check-step: applies to one session, not to a course (remove [course], or check "
                          "the session of the course's first plan on its own)")
    if scn.modality not in TIME_STEP_CHECK_MODALITIES:
        raise ConfigError(f"--check-step: modality = {scn.modality!r}; the check applies to "
                          f"{' and '.join(m.upper() for m in TIME_STEP_CHECK_MODALITIES)} sessions only")


def time_step_check(scenario: Scenario | str | Path, result: SessionResult, *, divisor: int = 4,
                    progress: ProgressFn | None = None) -> dict:
    """Re-run an RFA or MWA session at ``1/divisor`` of its time step and compare the zones.

    RFA zones carry a time-step error that depends on the case (within ≈ 4 % in volume at the
    automatic step with its cascade sub-steps on the calibration cases, ≈ 14 % before them;
    docs/model.md, "Time step and the generator"); this measures it for the scenario at hand. The
    re-run has no follow-up and writes nothing.

    Returns
    -------
    dict
        The ``numerics_check`` entry of metrics.json (docs/metrics.md): the two steps, the Ω ≥ 1
        and Ω ≥ 4.6 volumes and axes, the delivered energy, the relative changes (session − finer)
        / finer, the tolerance (:data:`TIME_STEP_CHECK_TOLERANCE`) and whether the Ω ≥ 1 volume
        changed by less than it.
    """
    scn = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    _check_time_step_applies(scn, divisor)
    dt = float(result.settings["numerics"]["time_step_s"])
    fine_scn = scn.model_copy(update={
        "numerics": scn.numerics.model_copy(update={"time_step_s": dt / divisor}),
        "followup": scn.followup.model_copy(update={"days": 0.0}),
    })
    if progress:
        progress(0.0, f"time-step check at Δt/{divisor}")
    fine = simulate(fine_scn, progress=progress)

    def zone(r, key):
        z = r.metrics["zones"].get(key) or {}
        return {k: z.get(k) for k in ("volume_mL", "long_axis_mm", "short_axis_mm")}

    def energy(r):
        return r.metrics.get("delivery", {}).get("energy_J")

    def rel(a, b):
        return None if a is None or b is None or b == 0 else (a - b) / b

    zones = {key: [zone(result, key), zone(fine, key)] for key in ("omega_ge_1", "omega_ge_4.6")}
    v0, v1 = (z["volume_mL"] for z in zones["omega_ge_1"])
    dv = rel(v0, v1)
    return {
        "kind": "time_step",
        "divisor": divisor,
        "time_step_s": [dt, float(fine.settings["numerics"]["time_step_s"])],
        "zones": zones,
        "energy_J": [energy(result), energy(fine)],
        "omega_ge_1_volume_relative_change": dv,
        "energy_relative_change": rel(energy(result), energy(fine)),
        "tolerance_fraction": TIME_STEP_CHECK_TOLERANCE,
        "within_tolerance": None if dv is None else bool(abs(dv) <= TIME_STEP_CHECK_TOLERANCE),
        "wall_time_s": fine.wall_time_s,
    }


def run_scenario(scenario: Scenario | str | Path, out_dir: str | Path, *, overwrite: bool = False,
                 progress: ProgressFn | None = None, check_time_step: int | None = None) -> tuple:
    """Simulate a scenario and write its outputs to ``out_dir``: for one session metrics.json,
    fields.nc, figures and report.html; for a course metrics.json, traces.csv, states.nc, figures,
    one folder per session and report.html.

    ``check_time_step`` (an integer divisor, e.g. 4; RFA and MWA sessions) re-runs the session at
    that fraction of its time step first and records the comparison as ``metrics["numerics_check"]``
    (:func:`time_step_check`). The folder appears only when everything is written (atomic rename).
    """
    scn = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    if check_time_step is not None:
        _check_time_step_applies(scn, check_time_step)
    result = simulate(scn, progress=progress)
    if check_time_step is not None:
        result.metrics["numerics_check"] = time_step_check(scn, result, divisor=check_time_step,
                                                           progress=progress)
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
