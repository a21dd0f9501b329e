"""Running a trial: one Dask task per case, every finished case persisted atomically, resumable.

:func:`run_case` is the task — a pure function of the trial's JSON and a case id (one patient ×
tumour × strategy × preset; seconds to minutes, DESIGN.md §5). :func:`run_trial` is the client: it
starts a :class:`distributed.LocalCluster` or connects to an existing scheduler, submits the cases
that are not yet done, and writes each result as it arrives to ``parts/<case_id>.parquet`` (temporary
file in the same folder, fsync, rename), so a trial killed at any point resumes with identical
results. At the end the parts are concatenated into ``outcomes.parquet`` (columns:
:data:`OUTCOME_COLUMNS`), and :func:`tissuefate.io.trial_output.write_trial_summary` writes
``summary.json`` and ``report.html``.

Output folder::

    trial.json         spec, fingerprint, tissuefate version, threads per task (written first)
    parts/*.parquet    one row per finished case
    outcomes.parquet   every finished case, sorted by (patient, tumour, strategy, preset)
    run.json           what each invocation did: cases run, elapsed time, workers, efficiency
    summary.json, report.html, *.png   (trial.stats, when the trial is complete)
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import math
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from ..backends.threads import numba_threads, usable_cpus
from ..errors import ConfigError, GeometryError, ResourceError, TissuefateError
from .cohort import (
    Case,
    Patient,
    build_case,
    parse_case_id,
    phantom_seed_candidates,
    plan_cases,
    sample_patient,
    trial_arms,
)
from .spec import TrialSpec

__all__ = ["OUTCOME_COLUMNS", "PARAM_PREFIX", "WALL_TIME_COLUMNS", "TrialRun", "run_case", "run_trial",
           "outcome_columns", "outcome_row", "read_outcomes", "run_cases_on_dask"]

#: Prefix of the uncertain-parameter columns: ``param.<name>`` (e.g. ``param.fate.fibrosis_rate_per_day``),
#: float64, in the parameter's unit; they follow ``phantom_seed``, in sorted name order.
PARAM_PREFIX = "param."

#: Columns of ``outcomes.parquet`` in file order: name → (dtype, unit, meaning). NaN / null marks
#: "does not apply" (no session given, no complete response, horizon shorter than the day asked,
#: or an error row).
OUTCOME_COLUMNS: dict[str, tuple[str, str, str]] = {
    # --- which case
    "case_id": ("string", "", "p<patient:06d>_t<tumour>_<strategy>_<preset>"),
    "patient": ("int64", "", "patient index (0-based)"),
    "tumour": ("int64", "", "tumour index within the patient (0-based)"),
    "strategy": ("string", "", "strategy key"),
    "strategy_label": ("string", "", "strategy label used in reports"),
    "preset": ("string", "", "hypothesis preset"),
    "modality": ("string", "", "rfa, mwa, cryo, ire or injection"),
    "agent": ("string", "", "injected agent (ethanol, acetic_acid, oxidant); null for other modalities"),
    "computed_as": ("string", "", "case whose simulation gave this row (itself, or the same strategy under an "
                                  "earlier preset when no hypothesis of either preset acts on it)"),
    # --- the patient's sampled values
    "tumour_type": ("string", "", "hcc or metastasis"),
    "tumour_diameter_mm": ("float64", "mm", "tumour diameter"),
    "tumour_location": ("string", "", "central, near_vessel or subcapsular"),
    "vessel_distance_mm": ("float64", "mm", "gap between tumour edge and large vessel (near_vessel only)"),
    "doubling_time_days": ("float64", "day", "volume-doubling time of surviving tumour"),
    "phantom_seed": ("int64", "", "seed of the phantom the tumour was placed in (vessel tree, tumour shape)"),
    "phantom_attempts": ("int64", "", "phantoms tried: 1 = the patient's own; more when the tumour did not fit "
                                      "(cohort.PHANTOM_ATTEMPTS)"),
    # (param.<name> columns go here)
    # --- outcomes (docs/metrics.md "Course")
    "sessions_given": ("int64", "", "sessions given"),
    "stop_reason": ("string", "", "complete_response, session_cap, unreachable or numerical_failure"),
    "complete_response": ("bool", "", "no detectable viable tumour at an assessment"),
    "sessions_to_cr": ("float64", "", "sessions given before complete response (NaN: none)"),
    "days_to_cr": ("float64", "day", "day of complete response from the first session (NaN: none)"),
    "last_assessment_day": ("float64", "day", "day of the last response assessment (NaN: none)"),
    "tcp_after_sessions": ("float64", "1", "tumour-control probability right after the last session"),
    "tcp_horizon": ("float64", "1", "tumour-control probability at the horizon"),
    "local_progression": ("bool", "", "regrowth to a detectable size after a complete response"),
    "ltp_day": ("float64", "day", "day of local tumour progression (NaN: none)"),
    "horizon_days": ("float64", "day", "follow-up horizon"),
    "min_margin_mm": ("float64", "mm", "minimal ablative margin of session 1 (NaN: no session)"),
    "normal_tissue_destroyed_mL": ("float64", "mL", "normal parenchyma destroyed, all sessions"),
    "scar_30_mL": ("float64", "mL", "scar volume on day 30"),
    "scar_90_mL": ("float64", "mL", "scar volume on day 90"),
    "scar_365_mL": ("float64", "mL", "scar volume on day 365 (NaN: horizon shorter)"),
    "involution_90": ("float64", "1", "ablation-zone volume on day 90 relative to right after session 1"),
    "needle_passes": ("int64", "", "applicator insertions, all sessions (tract-seeding exposure)"),
    "leaked_agent_mL": ("float64", "mL", "injected agent leaked out of the liver, all sessions"),
    "peak_clearance_g_per_day": ("float64", "g/day", "peak necrotic mass cleared per day (tumour-lysis load)"),
    "tumour_volume_before_mL": ("float64", "mL", "viable tumour volume before the first session"),
    # --- bookkeeping
    "hypotheses": ("string", "", "JSON list of the hypotheses that acted in the case"),
    "hypothesis_details": ("string", "", "JSON: parameters of the active hypotheses, the preset's hypotheses "
                                         "not applicable to the strategy, hypotheses added for an oxidant"),
    "wall_time_s": ("float64", "s", "wall time of the simulated course"),
    "task_wall_s": ("float64", "s", "wall time of the whole task (spec parsing, scenario build, course)"),
    "tissuefate_version": ("string", "", "version that computed the row"),
    "error": ("string", "", "empty, or the message of a user-level error that stopped the case"),
}

#: Columns that hold wall times: they differ between runs; everything else is reproducible.
WALL_TIME_COLUMNS = ("wall_time_s", "task_wall_s")

_OUTCOMES = list(OUTCOME_COLUMNS)[list(OUTCOME_COLUMNS).index("sessions_given"):list(OUTCOME_COLUMNS).index(
    "hypotheses")]


def outcome_columns(spec: TrialSpec) -> list[str]:
    """Column order of a trial's outcomes: :data:`OUTCOME_COLUMNS` with ``param.*`` after ``phantom_seed``."""
    cols = list(OUTCOME_COLUMNS)
    k = cols.index("phantom_seed") + 1
    return cols[:k] + [PARAM_PREFIX + n for n in sorted(spec.uncertain)] + cols[k:]


def _arrow_schema(spec: TrialSpec):
    import pyarrow as pa

    types = {"string": pa.string(), "int64": pa.int64(), "float64": pa.float64(), "bool": pa.bool_()}
    return pa.schema([(c, types[OUTCOME_COLUMNS[c][0]] if c in OUTCOME_COLUMNS else pa.float64())
                      for c in outcome_columns(spec)])


# --------------------------------------------------------------------------------------------------
# The task
# --------------------------------------------------------------------------------------------------
@lru_cache(maxsize=4)
def _spec_from_json(spec_json: str) -> TrialSpec:
    return TrialSpec.model_validate_json(spec_json)


@contextlib.contextmanager
def _numba_threads(n: int):
    import numba

    avail = int(numba.config.NUMBA_NUM_THREADS)
    if n > avail:
        raise ConfigError(f"threads_per_task = {n}: this worker has only {avail} numba threads; use "
                          f"--threads-per-task <= {avail} (results may depend on the thread count)")
    with numba_threads(n):
        yield


def _nan(v) -> float:
    return math.nan if v is None else float(v)


def _identity_row(spec: TrialSpec, patient: Patient, case: Case) -> dict:
    t = patient.tumours[case.tumour]
    row = {
        "case_id": case.case_id, "patient": patient.index, "tumour": t.index, "strategy": case.strategy,
        "strategy_label": case.strategy_label, "preset": case.preset, "modality": case.modality,
        "agent": case.agent, "computed_as": case.computed_as, "tumour_type": t.type,
        "tumour_diameter_mm": float(t.diameter_mm), "tumour_location": t.location,
        "vessel_distance_mm": float(t.vessel_distance_mm), "doubling_time_days": float(t.doubling_time_days),
    }
    for name in sorted(spec.uncertain):
        row[PARAM_PREFIX + name] = float(patient.parameters[name])
    h = case.hypotheses
    row["hypotheses"] = json.dumps(list(h["active"]))
    row["hypothesis_details"] = json.dumps({k: v for k, v in h.items() if k != "active"}, sort_keys=True,
                                           separators=(",", ":"))
    return row


def outcome_row(m: dict | None) -> dict:
    """The outcome columns of :data:`OUTCOME_COLUMNS` from a course's ``metrics`` (all None for None)."""
    if m is None:
        return {c: None for c in _OUTCOMES}
    sess = m.get("sessions") or []
    scar = m.get("scar_volume_mL") or {}
    ass = m.get("assessments") or []
    return {
        "sessions_given": int(m["sessions_given"]),
        "stop_reason": str(m["stop_reason"]),
        "complete_response": bool(m["complete_response"]),
        "sessions_to_cr": _nan(m.get("sessions_to_complete_response")),
        "days_to_cr": _nan(m.get("days_to_complete_response")),
        "last_assessment_day": _nan(ass[-1]["day"]) if ass else math.nan,
        "tcp_after_sessions": _nan(m.get("tumour_control_probability_after_sessions")),
        "tcp_horizon": _nan(m.get("tumour_control_probability_at_horizon")),
        "local_progression": bool(m["local_progression"]),
        "ltp_day": _nan(m.get("local_progression_day")),
        "horizon_days": float(m["horizon_days"]),
        "min_margin_mm": _nan(sess[0].get("minimal_ablative_margin_mm")) if sess else math.nan,
        "normal_tissue_destroyed_mL": _nan(m.get("normal_tissue_destroyed_mL")),
        "scar_30_mL": _nan(scar.get("day_30")),
        "scar_90_mL": _nan(scar.get("day_90")),
        "scar_365_mL": _nan(scar.get("day_365")),
        "involution_90": _nan((m.get("involution") or {}).get("day_90")),
        "needle_passes": int(m["needle_passes"]),
        "leaked_agent_mL": _nan(m.get("leaked_agent_mL")),
        "peak_clearance_g_per_day": _nan(m.get("peak_necrotic_clearance_g_per_day")),
        "tumour_volume_before_mL": _nan(m.get("tumour_volume_before_mL")),
    }


def _find_case(spec: TrialSpec, case_id: str) -> tuple[Patient, Case]:
    i, _ = parse_case_id(case_id)
    if i >= spec.n_patients:
        raise ConfigError(f"case {case_id!r}: patient {i} is not in a trial of {spec.n_patients} patients")
    patient = sample_patient(spec, i)
    for c in plan_cases(spec, patient):
        if c.case_id == case_id:
            return patient, c
    raise ConfigError(f"case {case_id!r} is not a case of trial {spec.name!r}")


def _in_dask_worker() -> bool:
    """Whether this call runs inside a Dask worker (not in the caller's own process)."""
    try:
        from distributed import get_worker

        get_worker()
    except (ImportError, ValueError):
        return False
    return True


def run_case(spec_json: str, case_id: str) -> dict:
    """Simulate one case of a trial and return its outcome row (:data:`OUTCOME_COLUMNS`).

    A pure function of its arguments (what a Dask task runs): the spec and the case are rebuilt
    from them, and the numba thread count is set to ``threads_per_task`` for the call (restored
    afterwards), so the result does not depend on the worker or the number of workers.

    Parameters
    ----------
    spec_json : str
        ``TrialSpec.model_dump_json()`` of the trial (``threads_per_task`` as it should run).
    case_id : str
        ``p<patient>_t<tumour>_<strategy>_<preset>`` (:func:`tissuefate.trial.cohort.plan_cases`).

    Returns
    -------
    dict
        One flat row. A user-level error (:class:`~tissuefate.errors.TissuefateError`) while
        building or running the case gives a row with ``error`` set and null outcomes; any other
        exception propagates (a bug, or a lost worker: Dask retries the task).
    """
    from .. import __version__
    from ..backends.threads import one_line_warnings
    from ..course import run_course

    if _in_dask_worker():
        one_line_warnings()  # a worker's warnings reach the terminal as one line, as the CLI's own
    t0 = time.perf_counter()
    spec = _spec_from_json(spec_json)
    patient, case = _find_case(spec, case_id)
    row = _identity_row(spec, patient, case)
    err, metrics = "", None
    seeds = phantom_seed_candidates(spec, patient)
    row["phantom_seed"], row["phantom_attempts"] = seeds[0], 0
    try:
        with _numba_threads(spec.threads_per_task):
            for k, seed in enumerate(seeds):
                row["phantom_seed"], row["phantom_attempts"] = seed, k + 1
                build_case(spec, dataclasses.replace(patient, phantom_seed=seed), case)
                try:
                    res = run_course(case.scenario, keep_fields=False, fate_overrides=case.fate_overrides or None)
                except GeometryError as e:  # run_course raises it only when the anatomy cannot be built
                    if k + 1 == len(seeds):
                        raise GeometryError(f"{e} (tried {len(seeds)} phantom seed(s): "
                                            f"{', '.join(map(str, seeds))})") from None
                    continue
                metrics = res.metrics
                break
    except TissuefateError as e:
        err = f"{type(e).__name__}: {e}"
    row.update(outcome_row(metrics))
    row["wall_time_s"] = _nan(metrics.get("wall_time_s")) if metrics else math.nan
    row["task_wall_s"] = time.perf_counter() - t0
    row["tissuefate_version"] = __version__
    row["error"] = err
    return {c: row[c] for c in outcome_columns(spec)}


# --------------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------------
def _io_error(err: OSError, path: Path) -> TissuefateError:
    if err.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
        return ResourceError(f"disk full while writing {path}: free some space and run the same command again — "
                             "finished cases are kept and the trial resumes where it stopped")
    if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.EISDIR, errno.ENAMETOOLONG):
        return ConfigError(f"cannot write {path}: {err.strerror}; choose another --out folder")
    return ResourceError(f"could not write {path}: {err.strerror or err}; finished cases are kept, run the same "
                         "command again to resume")


def _fsync_dir(d: Path) -> None:
    try:
        fd = os.open(d, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def _atomic_write(path: Path, write: Callable[[object], None]) -> Path:
    """Write ``path`` through ``write(file)`` into a temporary sibling, fsync, rename."""
    tmp = path.parent / f".{path.name}.{os.getpid()}.tmp"
    try:
        with open(tmp, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except OSError as err:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise _io_error(err, path) from None
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return path


def _write_json(path: Path, obj) -> Path:
    from ..jsonable import to_jsonable

    text = json.dumps(to_jsonable(obj, strict=False), indent=2, ensure_ascii=False) + "\n"
    return _atomic_write(path, lambda fh: fh.write(text.encode()))


def _write_part(parts: Path, row: dict, schema) -> bool:
    """Write one row as ``parts/<case_id>.parquet``; False (nothing written) if it exists."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    final = parts / f"{row['case_id']}.parquet"
    if final.exists():
        return False
    table = pa.Table.from_pylist([row], schema=schema)
    _atomic_write(final, lambda fh: pq.write_table(table, fh))
    return True


def read_outcomes(out_dir, spec: TrialSpec | None = None):
    """The finished cases of a trial folder as a DataFrame (from ``parts/``), sorted and in column order."""
    out = Path(out_dir)
    if spec is None:
        spec = _read_trial_json(out)[1]
    return _parts_table(out, spec).to_pandas()


def _parts_table(out: Path, spec: TrialSpec):
    """Every part as one Arrow table sorted by (patient, tumour, strategy, preset) in the spec's order."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = _arrow_schema(spec)
    files = sorted((out / "parts").glob("*.parquet"))
    tables = [pq.read_table(f, schema=schema) for f in files]
    table = pa.concat_tables(tables) if tables else schema.empty_table()
    s_order = {s.key: i for i, s in enumerate(spec.strategies)}
    p_order = {p: i for i, p in enumerate(spec.presets)}
    keys = (np.array([p_order.get(v, len(p_order)) for v in table.column("preset").to_pylist()], np.int64),
            np.array([s_order.get(v, len(s_order)) for v in table.column("strategy").to_pylist()], np.int64),
            table.column("tumour").to_numpy(zero_copy_only=False),
            table.column("patient").to_numpy(zero_copy_only=False))
    return table.take(pa.array(np.lexsort(keys) if len(table) else np.zeros(0, np.int64)))


def _read_trial_json(out: Path) -> tuple[dict, TrialSpec]:
    p = out / "trial.json"
    try:
        meta = json.loads(p.read_text())
        spec = TrialSpec.model_validate(meta["spec"])
    except (OSError, ValueError, KeyError) as err:
        raise ConfigError(f"{p}: not a readable trial record ({err}); choose another --out or delete the folder") \
            from None
    return meta, spec


def _check_folder(out: Path, spec: TrialSpec, fingerprint: str) -> bool:
    """Read-only: may ``out`` hold this trial? True if it already does (resume)."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: exists and is not a folder; choose another --out")
    if (out / "trial.json").exists():
        try:
            meta = json.loads((out / "trial.json").read_text())
        except (OSError, ValueError) as err:
            raise ConfigError(f"{out / 'trial.json'}: unreadable ({err}); choose another --out or delete it") from None
        if meta.get("fingerprint") != fingerprint:
            raise ConfigError(
                f"--out {out} holds a different trial: {meta.get('name')!r} (fingerprint "
                f"{str(meta.get('fingerprint'))[:12]}, tissuefate {meta.get('tissuefate_version')}); this is "
                f"{spec.name!r} (fingerprint {fingerprint[:12]}); choose another --out or delete it")
        if int(meta.get("threads_per_task", 1)) != spec.threads_per_task:
            raise ConfigError(
                f"--out {out} was started with --threads-per-task {meta.get('threads_per_task')}; resume it with the "
                f"same value (results can depend on the thread count), or choose another --out")
        return True
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"--out {out}: folder exists and is not a trial folder (no trial.json); choose another "
                          "--out or delete it")
    base = out if out.exists() else next((p for p in out.absolute().parents if p.exists()), None)
    if base is not None and (not base.is_dir() or not os.access(base, os.W_OK | os.X_OK)):
        raise ConfigError(f"--out {out}: cannot create or write it ({base} is not a writable folder); choose "
                          "another --out")
    return False


@contextlib.contextmanager
def _folder_lock(out: Path):
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no lock
        yield
        return
    try:
        fh = open(out / ".lock", "a")  # noqa: SIM115 - held for the whole run
    except OSError as err:
        raise _io_error(err, out / ".lock") from None
    try:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(f"--out {out} is in use by another running trial; wait for it to finish or choose "
                              "another --out") from None
        yield
    finally:
        fh.close()


# --------------------------------------------------------------------------------------------------
# The client
# --------------------------------------------------------------------------------------------------
@dataclass
class TrialRun:
    """What :func:`run_trial` did.

    Attributes
    ----------
    out_dir : Path
    outcomes : pandas.DataFrame
        Every finished case (also ``outcomes.parquet``).
    n_cases, n_done : int
        Cases of the trial, and finished ones (all runs together).
    n_simulated : int
        Cases simulated by this call (tasks); ``n_copied`` rows shared a simulation (``computed_as``).
    n_resumed : int
        Cases found finished when this call started.
    n_errors : int
        Finished cases with an error message.
    complete : bool
    elapsed_s : float
        Wall time of the task phase of this call, from a connected cluster to the last result [s]
        (cluster start-up is in ``run.json`` as ``startup_s``).
    task_s : float
        Sum of the tasks' own wall times (measured inside :func:`run_case`) [s].
    worker_threads : int
        Task slots of the cluster (workers × threads).
    efficiency : float or None
        ``task_s / (worker_threads × elapsed_s)``: the fraction of the cluster's wall time spent inside
        tasks (the rest is scheduling, transfer, start-up of imports, idle tail); None if nothing ran.
    scheduler : str
        ``"local"`` or the scheduler address.
    paths : dict of str → Path
    """

    out_dir: Path
    outcomes: object
    n_cases: int
    n_done: int
    n_simulated: int
    n_copied: int
    n_resumed: int
    n_errors: int
    complete: bool
    elapsed_s: float
    task_s: float
    worker_threads: int
    efficiency: float | None
    scheduler: str
    paths: dict = field(default_factory=dict)


def _connect(scheduler: str | None, n_workers: int | None, threads_per_task: int, timeout_s: float):
    from distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout=f"{timeout_s}s", set_as_default=False)
        except (OSError, TimeoutError, ValueError, TypeError) as err:
            raise ConfigError(
                f"--scheduler {scheduler}: cannot reach a Dask scheduler there ({type(err).__name__}: {err}). "
                "Start one with `dask scheduler` (it prints its address, e.g. tcp://HOST:8786) and workers with "
                "`dask worker tcp://HOST:8786` in an environment where tissuefate is installed") from None
        _check_worker_versions(client, scheduler)
        return client, None
    cores = usable_cpus()
    if threads_per_task > cores:
        raise ConfigError(f"--threads-per-task {threads_per_task}: this machine has {cores} cores")
    if n_workers is not None and n_workers < 1:
        raise ConfigError(f"--workers {n_workers}: must be >= 1")
    nw = n_workers or max(1, cores // threads_per_task)
    cluster = LocalCluster(n_workers=nw, threads_per_worker=1, processes=True, dashboard_address=None)
    return Client(cluster, set_as_default=False), cluster


def _sensitivity_case(case: dict, threads_per_task: int) -> dict:
    """One sensitivity case on a worker (:func:`tissuefate.trial.sensitivity.run_cases_locally`)."""
    from .sensitivity import run_cases_locally

    with _numba_threads(threads_per_task):
        return run_cases_locally([case])[0]


def run_cases_on_dask(cases, *, scheduler: str | None = None, n_workers: int | None = None,
                      threads_per_task: int = 1, progress=None, connect_timeout_s: float = 10.0) -> list[dict]:
    """Run sensitivity-analysis cases (dicts of :func:`tissuefate.trial.sensitivity.build_cases`) on
    the trial runner's Dask cluster: a LocalCluster sized to the machine, or ``scheduler``; one task per
    case, retried twice if its worker dies. Returns the rows in the order of ``cases``.

    Unlike :func:`run_trial` nothing is persisted: an analysis is re-run as a whole.
    """
    from distributed import as_completed

    cases = list(cases)
    client, cluster = _connect(scheduler, n_workers, threads_per_task, connect_timeout_s)
    token = uuid.uuid4().hex[:8]
    try:
        futures = {client.submit(_sensitivity_case, dict(c), threads_per_task, key=f"sens-{token}-{i}",
                                 retries=2, pure=False): i for i, c in enumerate(cases)}
        rows: list = [None] * len(cases)
        ac = as_completed(loop=client.loop)  # this client, not a process-wide default one
        for fut in futures:
            ac.add(fut)
        for n, fut in enumerate(ac, start=1):
            rows[futures[fut]] = fut.result()
            if progress:
                progress(n / max(len(cases), 1), f"case {n}/{len(cases)} done")
        return rows
    finally:
        with contextlib.suppress(Exception):
            client.close()
        if cluster is not None:
            with contextlib.suppress(Exception):
                cluster.close()


def _worker_version() -> str:
    from .. import __version__

    return __version__


def _check_worker_versions(client, scheduler: str) -> None:
    from .. import __version__

    try:
        got = client.run(_worker_version)
    except Exception as err:  # a worker cannot import tissuefate: its own exception type
        raise ConfigError(f"--scheduler {scheduler}: a worker cannot run tissuefate ({type(err).__name__}: {err}); "
                          f"install tissuefate {__version__} in the workers' environment") from None
    bad = {w: v for w, v in got.items() if v != __version__}
    if bad:
        w, v = next(iter(bad.items()))
        raise ConfigError(f"--scheduler {scheduler}: worker {w} runs tissuefate {v}, this client {__version__}; "
                          "install the same version everywhere")


def _threads(client) -> int:
    try:
        return sum(int(w.get("nthreads", 1)) for w in client.scheduler_info()["workers"].values())
    except Exception:  # pragma: no cover - scheduler gone
        return 0


def _fmt_duration(s: float) -> str:
    if not math.isfinite(s):
        return "?"
    if s < 90:
        return f"{s:.0f} s"
    if s < 5400:
        return f"{s / 60:.0f} min"
    return f"{s / 3600:.1f} h"


def run_trial(spec: TrialSpec, out_dir, *, scheduler: str | None = None, n_workers: int | None = None,
              threads_per_task: int | None = None, progress=None, max_cases: int | None = None,
              connect_timeout_s: float = 10.0, summary_writer=None) -> TrialRun:
    """Run (or resume) a trial into ``out_dir``.

    Parameters
    ----------
    spec : TrialSpec
    out_dir : path-like
        New or empty folder, or the folder of an interrupted run of the same trial (same
        fingerprint, same ``threads_per_task``): finished cases are kept and skipped.
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://HOST:PORT``); default: a LocalCluster.
    n_workers : int, optional
        LocalCluster worker processes (one thread each); default ``cores // threads_per_task``.
    threads_per_task : int, optional
        Numba threads per case (default: ``spec.threads_per_task``, itself 1 by default).
    progress : callable(fraction, message), optional
    max_cases : int, optional
        Simulate at most this many cases in this call (the trial stays resumable).
    connect_timeout_s : float
        How long to try to reach ``scheduler`` [s].
    summary_writer : callable(df, spec, out_dir) -> dict of name → Path, optional
        Called once every case is done to write ``summary.json``, the figures and ``report.html``
        (:func:`tissuefate.io.trial_output.write_trial_summary`, which :func:`tissuefate.api.run_trial`
        and the CLI pass); None writes only the outcomes (io and viz sit above this layer).

    Returns
    -------
    TrialRun

    Raises
    ------
    ConfigError
        ``out_dir`` holds another trial or is not writable, or the scheduler is unreachable.
    ResourceError
        The disk is full (finished cases stay intact; run again to resume).
    """
    import pyarrow.parquet as pq

    from .. import __version__

    tpt = int(spec.threads_per_task if threads_per_task is None else threads_per_task)
    if tpt < 1:
        raise ConfigError(f"--threads-per-task {tpt}: must be >= 1")
    if max_cases is not None and max_cases < 0:
        raise ConfigError(f"--max-cases {max_cases}: must be >= 0")
    spec = spec.model_copy(update={"threads_per_task": tpt})
    spec_json = spec.model_dump_json()
    fp = spec.fingerprint()
    out = Path(out_dir)
    _check_folder(out, spec, fp)  # read-only: refuses another trial before anything is written
    started = datetime.now(UTC).isoformat(timespec="seconds")

    # the plan: every case, grouped by the simulation that gives it
    arms = trial_arms(spec)
    groups: dict[str, list[Case]] = {}
    patient_of: dict[str, int] = {}
    patients = []
    for i in range(spec.n_patients):
        p = sample_patient(spec, i)
        patients.append(p)
        for c in plan_cases(spec, p, arms):
            groups.setdefault(c.computed_as, []).append(c)
            patient_of[c.case_id] = i
    n_cases = len(patient_of)
    parts = out / "parts"
    schema = _arrow_schema(spec)

    def finished() -> set[str]:
        return {f.name[:-len(".parquet")] for f in parts.glob("*.parquet")} if parts.is_dir() else set()

    def to_simulate(done: set[str]) -> list[str]:
        todo = [canon for canon, members in groups.items()
                if canon not in done and not all(c.case_id in done for c in members)]
        todo = todo if max_cases is None else todo[:max_cases]
        # largest tumours first (they need the most sessions and the largest regions): the
        # long cases then do not end the run with idle workers; results do not depend on order
        return sorted(todo, key=lambda cid: -_case_size_mm(groups[cid][0], patients))

    client = cluster = None
    n_sim = n_copied = threads = 0
    task_s = elapsed = startup = 0.0
    try:
        if to_simulate(finished()):  # start (or reach) the cluster before the folder is created
            if progress:
                progress(0.0, f"starting {scheduler or 'local Dask workers'}")
            t0 = time.perf_counter()
            client, cluster = _connect(scheduler, n_workers, tpt, connect_timeout_s)
            threads = _threads(client)
            startup = time.perf_counter() - t0
        try:
            out.mkdir(parents=True, exist_ok=True)
            parts.mkdir(exist_ok=True)
        except OSError as err:
            raise _io_error(err, out) from None
        with _folder_lock(out):
            if (out / "trial.json").exists():  # again, under the lock
                _check_folder(out, spec, fp)
            else:
                _write_json(out / "trial.json", {"name": spec.name, "fingerprint": fp,
                                                 "tissuefate_version": __version__, "threads_per_task": tpt,
                                                 "created": started, "spec": spec.model_dump(mode="json")})
            for stale in [*parts.glob(".*.tmp"), *out.glob(".*.tmp")]:  # left by a killed run (locked: not in use)
                with contextlib.suppress(OSError):
                    stale.unlink()
            done = finished() & set(patient_of)
            n_resumed = len(done)
            left = {i: 0 for i in range(spec.n_patients)}
            for cid, i in patient_of.items():
                if cid not in done:
                    left[i] += 1

            def record(row: dict, members: list[Case]) -> int:
                n = 0
                for c in members:
                    if c.case_id in done:
                        continue
                    r = dict(row)
                    if c.case_id != row["case_id"]:
                        r.update(_identity_row(spec, patients[c.patient], c))
                    n += _write_part(parts, r, schema)
                    done.add(c.case_id)
                    left[c.patient] -= 1
                return n

            # rows that share a finished simulation but were not written before an interruption
            for canon, members in groups.items():
                if canon in done and not all(c.case_id in done for c in members):
                    row = pq.read_table(parts / f"{canon}.parquet", schema=schema).to_pylist()[0]
                    n_copied += record(row, members)
            todo = to_simulate(done)
            if todo:
                if client is None:  # pragma: no cover - parts vanished since the first look
                    client, cluster = _connect(scheduler, n_workers, tpt, connect_timeout_s)
                    threads = _threads(client)
                t1 = time.perf_counter()
                n_sim, n_cp, task_s = _execute(client, spec, spec_json, fp, todo, groups, record, progress,
                                               done, left, n_cases, threads)
                n_copied += n_cp
                threads = max(threads, _threads(client))
                elapsed = time.perf_counter() - t1
            if progress:
                progress(len(done) / max(n_cases, 1), "writing outcomes" if todo else "nothing left to simulate")
            table = _parts_table(out, spec)
            df = table.to_pandas()
            paths = {"trial": out / "trial.json", "parts": parts,
                     "outcomes": _atomic_write(out / "outcomes.parquet", lambda fh: pq.write_table(table, fh))}
            complete = len(df) == n_cases
            eff = task_s / (threads * elapsed) if n_sim and threads and elapsed > 0 else None
            run = TrialRun(out, df, n_cases, len(df), n_sim, n_copied, n_resumed,
                           int((df["error"].fillna("") != "").sum()), complete, elapsed, task_s, threads, eff,
                           scheduler or "local", paths)
            info = {
                "tissuefate_version": __version__, "fingerprint": fp, "threads_per_task": tpt,
                "started": started, "finished": datetime.now(UTC).isoformat(timespec="seconds"),
                "scheduler": run.scheduler, "worker_threads": threads, "n_cases": n_cases, "n_done": run.n_done,
                "n_simulated": n_sim, "n_copied": n_copied, "n_resumed": n_resumed, "n_errors": run.n_errors,
                "complete": complete, "startup_s": round(startup, 3), "elapsed_s": round(elapsed, 3),
                "task_s": round(task_s, 3), "efficiency": None if eff is None else round(eff, 4),
                "efficiency_meaning": "sum of the tasks' own wall times / (worker threads x elapsed wall time of the "
                                      "task phase); 1 = every worker busy inside run_case all the time",
            }
            history = []
            with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
                history = list(json.loads((out / "run.json").read_text())["invocations"])
            paths["run"] = _write_json(out / "run.json", {**info, "invocations": [*history, info]})
            if complete:
                if summary_writer is not None:
                    paths.update(dict(summary_writer(df, spec, out) or {}))
    finally:
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()
        if cluster is not None:
            with contextlib.suppress(Exception):
                cluster.close()
    return run


def _case_size_mm(case: Case, patients) -> float:
    """Diameter of the tumour a case treats [mm] (the scheduling order's cost proxy)."""
    return float(patients[case.patient].tumours[case.tumour].diameter_mm)


def _execute(client, spec, spec_json, fp, todo, groups, record, progress, done, left, n_cases, threads):
    from distributed import as_completed

    from .. import __version__

    pending = iter(todo)
    ac = as_completed(loop=client.loop)
    window = max(8, 4 * max(threads, 1))
    n_sim = n_written = 0
    task_s = 0.0
    n_done0 = len(done)
    t0 = time.perf_counter()
    per_patient = n_cases / spec.n_patients

    def submit_next() -> None:
        cid = next(pending, None)
        if cid is not None:
            ac.add(client.submit(run_case, spec_json, cid, key=f"tissuefate-case-{fp[:12]}-{cid}", pure=False,
                                 retries=2))

    for _ in range(window):
        submit_next()
    for fut in ac:
        row = fut.result()  # anything but a user-level error is a bug: it propagates
        fut.release()
        if row.get("tissuefate_version") != __version__:
            raise ConfigError(f"case {row.get('case_id')} was computed by tissuefate {row.get('tissuefate_version')}, "
                              f"this client runs {__version__}: install the same version on every worker")
        n_sim += 1
        task_s += float(row["task_wall_s"])
        n_written += record(row, groups[row["case_id"]])
        submit_next()
        if progress:
            el = time.perf_counter() - t0
            rate = (len(done) - n_done0) / el if el > 0 else 0.0  # cases per second
            n_pat = sum(1 for v in left.values() if v == 0)
            eta = (n_cases - len(done)) / rate if rate > 0 else math.inf
            progress(len(done) / n_cases, f"{n_pat}/{spec.n_patients} patients, {len(done)}/{n_cases} cases, "
                                          f"{rate * 3600 / per_patient:.0f} patients/h, ~{_fmt_duration(eta)} left")
    return n_sim, n_written - n_sim, task_s
