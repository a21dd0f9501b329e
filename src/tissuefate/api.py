"""The Python API the command line mirrors: run a scenario, write its outputs."""

from __future__ import annotations

from pathlib import Path

from .config.build import build_session
from .config.scenario import Scenario, load_scenario
from .therapy.result import SessionResult
from .therapy.session import ProgressFn, run_session

__all__ = ["simulate", "run_scenario"]


def simulate(scenario: Scenario | str | Path, progress: ProgressFn | None = None) -> SessionResult:
    """Simulate a scenario (object or TOML path) and return its result with metrics filled in."""
    from .therapy.outcomes import session_metrics

    scn = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    session = build_session(scn)
    result = run_session(session, progress=progress)
    result.metrics = session_metrics(result, isotherms_degC=tuple(scn.output.isotherms_degC))
    return result


def run_scenario(scenario: Scenario | str | Path, out_dir: str | Path, *, overwrite: bool = False,
                 progress: ProgressFn | None = None) -> tuple[SessionResult, dict]:
    """Simulate a scenario and write metrics.json, fields.nc, figures and report.html to ``out_dir``.

    The folder appears only when everything is written (atomic rename).
    """
    from .io.output import write_session_outputs

    result = simulate(scenario, progress=progress)
    paths = write_session_outputs(out_dir, result, overwrite=overwrite)
    return result, paths
