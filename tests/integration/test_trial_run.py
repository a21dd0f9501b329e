"""Virtual trials end to end: determinism across worker counts, resume after SIGKILL, a real Dask
scheduler and worker, refusals (another trial in the folder, an unreachable scheduler)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from tissuefate.api import run_trial
from tissuefate.cli import app
from tissuefate.trial.run import WALL_TIME_COLUMNS
from tissuefate.trial.spec import load_trial

ROOT = Path(__file__).resolve().parents[2]
SMALL = ROOT / "examples" / "trial_small.toml"
BIN = Path(sys.executable).parent


def _table(path_or_df) -> pd.DataFrame:
    df = pd.read_parquet(path_or_df) if isinstance(path_or_df, (str, Path)) else path_or_df
    return df.drop(columns=list(WALL_TIME_COLUMNS)).reset_index(drop=True)


def _snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _cli(*args) -> list[str]:
    exe = BIN / "tissuefate"
    if exe.exists():
        return [str(exe), *args]
    return [sys.executable, "-c", "from tissuefate.cli import app; app()", *args]  # pragma: no cover


@pytest.fixture(scope="module")
def small_runs(tmp_path_factory):
    """The small example trial with 1 and with 2 local workers."""
    spec = load_trial(SMALL)
    root = tmp_path_factory.mktemp("trial")
    one = run_trial(spec, root / "one", n_workers=1)
    two = run_trial(spec, root / "two", n_workers=2)
    return spec, one, two


def test_small_trial_is_identical_with_one_and_two_workers(small_runs):
    spec, one, two = small_runs
    assert one.complete and two.complete and one.n_cases == 8 and one.n_errors == 0
    pd.testing.assert_frame_equal(_table(one.outcomes), _table(two.outcomes))
    pd.testing.assert_frame_equal(_table(one.out_dir / "outcomes.parquet"), _table(one.outcomes))
    df = one.outcomes
    assert list(df["case_id"]) == [f"p{i:06d}_t0_{s}_literature" for i in range(4) for s in ("mwa", "ethanol")]
    assert df["case_id"].is_unique and (df["error"] == "").all()
    assert set(df["modality"]) == {"mwa", "injection"} and (df["horizon_days"] == 180).all()
    assert df["tumour_diameter_mm"].between(15, 20).all()
    # the efficiency figure: task time / (worker threads × elapsed); overhead keeps it below 1
    for r in (one, two):
        info = json.loads((r.out_dir / "run.json").read_text())
        assert info["n_simulated"] == 8 and info["worker_threads"] == r.worker_threads
        assert 0.0 < info["efficiency"] <= 1.05
        assert not list((r.out_dir / "parts").glob(".*"))
    meta = json.loads((one.out_dir / "trial.json").read_text())
    assert meta["fingerprint"] == spec.fingerprint() and meta["threads_per_task"] == 1


def test_resume_after_sigkill_gives_the_uninterrupted_table(small_runs, tmp_path):
    spec, one, _ = small_runs
    out = tmp_path / "killed"
    rng = random.Random(5)
    kills = 0
    for need in (1, 4):  # kill once at least `need` cases are finished, at a random moment after that
        proc = subprocess.Popen(_cli("trial", str(SMALL), "--out", str(out), "--workers", "2", "--quiet"),
                                start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t0 = time.time()
        while proc.poll() is None and time.time() - t0 < 120:
            if len(list((out / "parts").glob("*.parquet"))) >= need:
                time.sleep(rng.uniform(0.0, 1.0))
                break
            time.sleep(0.05)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait(timeout=30)
        n = len(list((out / "parts").glob("*.parquet")))
        assert n >= need
    assert kills >= 1 and not (out / "summary.json").exists()
    res = subprocess.run(_cli("trial", str(SMALL), "--out", str(out), "--workers", "2", "--quiet"),
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    final = pd.read_parquet(out / "outcomes.parquet")
    assert final["case_id"].is_unique and len(final) == 8
    pd.testing.assert_frame_equal(_table(final), _table(one.outcomes))
    assert not [p.name for p in (out / "parts").iterdir() if not p.name.endswith(".parquet")]
    assert not list(out.glob(".*.tmp"))
    info = json.loads((out / "run.json").read_text())
    assert info["n_resumed"] >= 4 and len(info["invocations"]) >= 1


def test_another_trial_in_the_same_folder_is_refused_unchanged(small_runs, tmp_path):
    _, one, _ = small_runs
    other = tmp_path / "other.toml"
    other.write_text(SMALL.read_text().replace("seed = 20240", "seed = 7"))
    before = _snapshot(one.out_dir)
    res = CliRunner().invoke(app, ["trial", str(other), "--out", str(one.out_dir), "--quiet"])
    assert res.exit_code == 2
    assert "holds a different trial" in res.output and "choose another --out" in res.output
    assert _snapshot(one.out_dir) == before
    # the same trial with another thread count is refused too (results can depend on it)
    res = CliRunner().invoke(app, ["trial", str(SMALL), "--out", str(one.out_dir), "--threads-per-task", "2"])
    assert res.exit_code == 2 and "--threads-per-task" in res.output
    assert _snapshot(one.out_dir) == before
    # a folder that is not a trial folder
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "notes.txt").write_text("mine")
    res = CliRunner().invoke(app, ["trial", str(SMALL), "--out", str(junk)])
    assert res.exit_code == 2 and "not a trial folder" in res.output
    assert sorted(p.name for p in junk.iterdir()) == ["notes.txt"]


def test_finished_trial_resumes_without_simulating(small_runs):
    spec, one, _ = small_runs
    res = CliRunner().invoke(app, ["trial", str(SMALL), "--out", str(one.out_dir), "--quiet"])
    assert res.exit_code == 0, res.output
    assert "8/8 cases done (0 simulated now, 8 found finished" in res.output
    assert "mwa" in res.output and "ethanol" in res.output


def test_unreachable_scheduler_exits_2_naming_the_address(tmp_path):
    with socket.socket() as s:  # a port on which nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    addr = f"tcp://127.0.0.1:{port}"
    res = CliRunner().invoke(app, ["trial", str(SMALL), "--out", str(tmp_path / "o"), "--scheduler", addr,
                                   "--connect-timeout", "1", "--quiet"])
    assert res.exit_code == 2
    assert addr in res.output and "dask scheduler" in res.output and "dask worker" in res.output
    assert not (tmp_path / "o").exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@contextlib.contextmanager
def _dask_cluster(tmp_path: Path, n_workers: int, **worker_flags):
    """A real `dask scheduler` and ``n_workers`` `dask worker` processes on 127.0.0.1; yields
    (address, worker processes) and stops everything afterwards."""
    dask = BIN / "dask" if (BIN / "dask").exists() else shutil.which("dask")
    if dask is None:
        pytest.skip("the `dask` executable is not installed")
    port = _free_port()
    addr = f"tcp://127.0.0.1:{port}"
    log = open(tmp_path / "dask.log", "w")  # noqa: SIM115 - closed below
    sched = subprocess.Popen([str(dask), "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                             start_new_session=True, stdout=log, stderr=log)
    workers: list[subprocess.Popen] = []
    try:
        extra = ["--no-nanny"] if worker_flags.get("no_nanny") else []
        for k in range(n_workers):
            workers.append(subprocess.Popen(
                [str(dask), "worker", addr, "--nworkers", "1", "--nthreads", "1", "--no-dashboard", *extra,
                 "--local-directory", str(tmp_path / f"worker{k}")], start_new_session=True, stdout=log, stderr=log))
        from distributed import Client

        with Client(addr, timeout="30s") as c:
            c.wait_for_workers(n_workers, timeout=60)
        yield addr, workers
    finally:
        for w in workers:
            _stop(w)
        _stop(sched)
        log.close()


@pytest.mark.distributed
def test_trial_on_a_real_dask_scheduler_and_worker(small_runs, tmp_path):
    _, one, _ = small_runs
    with _dask_cluster(tmp_path, 1) as (addr, _):
        trial = tmp_path / "two_cases.toml"  # patient 0 of the small trial: 2 cases
        trial.write_text(SMALL.read_text().replace("n_patients = 4", "n_patients = 1"))
        res = CliRunner().invoke(app, ["trial", str(trial), "--out", str(tmp_path / "out"), "--scheduler", addr,
                                       "--quiet"])
        assert res.exit_code == 0, res.output
    df = pd.read_parquet(tmp_path / "out" / "outcomes.parquet")
    assert list(df["case_id"]) == ["p000000_t0_mwa_literature", "p000000_t0_ethanol_literature"]
    # a patient's results do not depend on the cohort size nor on where they ran
    ref = one.outcomes[one.outcomes["patient"] == 0]
    pd.testing.assert_frame_equal(_table(df), _table(ref))
    info = json.loads((tmp_path / "out" / "run.json").read_text())
    assert info["scheduler"] == addr and info["worker_threads"] == 1 and info["n_simulated"] == 2


@pytest.mark.distributed
def test_a_worker_killed_mid_trial_does_not_fail_it(small_runs, tmp_path):
    """Two `dask worker` processes; one is SIGKILLed while cases run: its task is retried elsewhere and
    the trial ends with the table of an undisturbed run."""
    _, one, _ = small_runs
    trial = None
    with _dask_cluster(tmp_path, 2, no_nanny=True) as (addr, workers):
        out = tmp_path / "out"
        try:
            trial = subprocess.Popen(_cli("trial", str(SMALL), "--out", str(out), "--scheduler", addr, "--quiet"),
                                     start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            deadline = time.monotonic() + 300  # generous: the suite may share the cores
            while time.monotonic() < deadline and not any((out / "parts").glob("*.parquet")):
                time.sleep(0.05)
            assert any((out / "parts").glob("*.parquet")), "no case finished\n" + _log_tail(tmp_path)
            os.killpg(workers[0].pid, signal.SIGKILL)  # mid-trial: the other cases are queued or running
            workers[0].wait(timeout=10)
            output, _ = trial.communicate(timeout=600)
            assert trial.returncode == 0, output.decode(errors="replace") + "\n" + _log_tail(tmp_path)
        finally:
            if trial is not None and trial.poll() is None:
                os.killpg(trial.pid, signal.SIGKILL)
    df = pd.read_parquet(out / "outcomes.parquet")
    assert df["case_id"].is_unique and len(df) == 8
    try:
        pd.testing.assert_frame_equal(_table(df), _table(one.outcomes))
    except AssertionError as err:  # say which cases and columns differ, and by how much
        raise AssertionError(f"{err}\n{_differences(_table(df), _table(one.outcomes))}") from None


def _log_tail(tmp_path: Path, n: int = 40) -> str:
    """The last ``n`` lines the scheduler and workers logged (for a failure message)."""
    try:
        return "dask log:\n" + "\n".join((tmp_path / "dask.log").read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no dask log)"


def _differences(a: pd.DataFrame, b: pd.DataFrame) -> str:
    """Case, column and both values wherever two outcome tables differ."""
    lines = []
    for col in a.columns:
        x, y = a[col], b[col]
        same = (x == y) | (x.isna() & y.isna())
        for i in (~same).to_numpy().nonzero()[0]:
            lines.append(f"{a['case_id'].iloc[i]} {col}: {x.iloc[i]!r} vs {y.iloc[i]!r}")
    return "\n".join(lines) or "(no cell differs exactly)"


TINY = {"name": "tiny", "seed": 3, "n_patients": 2,
        "strategies": [{"key": "mwa1", "base": "mwa", "protocol": {"duration_min": 1}, "course": {"max_sessions": 1}}],
        "tumours": {"diameter_mm": 12, "location": {"central": 1}}, "grid": {"spacing_mm": 3.0, "horizon_days": 45}}


def test_full_disk_stops_with_one_message_and_resumes(tmp_path, monkeypatch):
    import errno

    import tissuefate.trial.run as tr
    from tissuefate.errors import ResourceError
    from tissuefate.trial.spec import trial_from_dict

    spec = trial_from_dict(TINY)
    real = tr._write_part
    written = []

    def full_after_one(parts, row, schema):
        if written:
            tmp = parts / f".{row['case_id']}.parquet.{os.getpid()}.tmp"
            tmp.write_bytes(b"partial")  # what a write cut short leaves behind
            raise tr._io_error(OSError(errno.ENOSPC, "No space left on device"), parts / "x.parquet")
        written.append(row["case_id"])
        return real(parts, row, schema)

    monkeypatch.setattr(tr, "_write_part", full_after_one)
    out = tmp_path / "out"
    with pytest.raises(ResourceError, match="disk full.*run the same command again"):
        run_trial(spec, out, n_workers=1)
    assert [p.name for p in (out / "parts").glob("*.parquet")] == [f"{written[0]}.parquet"]
    monkeypatch.setattr(tr, "_write_part", real)
    res = run_trial(spec, out, n_workers=1)
    assert res.complete and res.n_resumed == 1 and res.n_simulated == 1
    assert not [p for p in (out / "parts").iterdir() if p.name.startswith(".")]


def test_unwritable_out_exits_2(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    res = CliRunner().invoke(app, ["trial", str(SMALL), "--out", str(blocker / "out"), "--quiet"])
    assert res.exit_code == 2 and "not a writable folder" in res.output
    res = CliRunner().invoke(app, ["trial", str(SMALL), "--out", str(blocker), "--quiet"])
    assert res.exit_code == 2 and "not a folder" in res.output
