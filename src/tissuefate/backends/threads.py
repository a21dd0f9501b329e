"""Thread pools that share the cores: numba's kernels and the BLAS library NumPy and SciPy link.

numba runs its parallel kernels on its own OpenMP (or TBB/workqueue) threads; OpenBLAS, which
NumPy and SciPy call for ``np.dot``, dense factorisations and SuperLU's dense updates, runs on a
second pool of threads. After each call both pools keep their threads spinning for a while, so
when a simulation alternates numba kernels with small BLAS calls, each pool waits for the other's
spinning threads to give up the cores. Measured on the 2-core CI machine (2026-11-27): a numba dot
product of 159 000 values followed by ``np.dot`` of the same took 8.1 ms per pair with OpenBLAS's
default two threads and 0.07 ms with one; the standard 12-min RFA case took 16.2 s and 14.4 s.
Sessions and courses therefore run with BLAS limited to one thread (numba keeps all of its own):
the BLAS calls here are small and numba carries the heavy loops.

Work that numba does not parallelise — drawing figures and writing files after a demo or trial —
runs in worker processes instead (:func:`process_map`), after the simulations: started beside
them it would compete with numba's spinning threads for the same cores.
"""

from __future__ import annotations

import contextlib
import functools
import multiprocessing
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed

from threadpoolctl import threadpool_limits

__all__ = ["single_threaded_blas", "usable_cpus", "pool_size", "process_map", "numba_threads",
           "call_with_one_numba_thread", "one_line_warnings"]


def single_threaded_blas(fn):
    """Decorator: run ``fn`` with the BLAS thread pools limited to one thread (restored after).

    Examples
    --------
    >>> import numpy as np
    >>> @single_threaded_blas
    ... def f(a):
    ...     return float(np.dot(a, a))
    >>> f(np.ones(3))
    3.0
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with threadpool_limits(limits=1, user_api="blas"):
            return fn(*args, **kwargs)

    return wrapper


def usable_cpus() -> int:
    """The cores this process may run on (its CPU affinity; ``os.cpu_count()`` where unknown)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def pool_size(n_items: int, workers: int | None = None) -> int:
    """The number of processes :func:`process_map` uses for ``n_items`` (≤ 1: none, it runs the
    items in this process): the usable cores or ``workers``, at most one per item, and none inside
    a daemonic process."""
    if multiprocessing.current_process().daemon:
        return 1
    return min(n_items, usable_cpus() if workers is None else max(1, int(workers)))


@contextlib.contextmanager
def numba_threads(n: int):
    """Run the block with numba's parallel kernels on ``n`` threads (at most
    ``NUMBA_NUM_THREADS``); the previous count is restored after."""
    import numba

    old = numba.get_num_threads()
    numba.set_num_threads(n)
    try:
        yield
    finally:
        numba.set_num_threads(old)


def call_with_one_numba_thread(fn: Callable, *args):
    """``fn(*args)`` with numba's parallel kernels on one thread: for :func:`process_map` workers
    that share the cores (two single-threaded processes use 2 cores better than one process with
    two threads; docs/performance.md, virtual trials)."""
    with numba_threads(1):
        return fn(*args)


def _show_warning_line(message, category, filename, lineno, file=None, line=None):
    print(f"warning: {message}", file=sys.stderr if file is None else file)


def one_line_warnings() -> None:
    """Print warnings as one line, ``warning: <message>``, without the source line (the worker
    initializer of :func:`process_map`: the command line prints its own warnings this way)."""
    warnings.showwarning = _show_warning_line


def process_map(fn: Callable, args: Sequence[tuple], *, workers: int | None = None, progress=None) -> list:
    """``[fn(*a) for a in args]``, in up to ``workers`` fresh processes (default: the usable cores).

    For CPU-bound Python work that holds the GIL (matplotlib, file writers). Processes are
    *spawned*, not forked: a forked child inherits numba's OpenMP runtime, which is not fork-safe.
    Falls back to a plain loop with one worker, one item, or inside a daemonic process (a Dask or
    multiprocessing worker may not start children). ``fn`` must be importable at module level and
    ``args`` picklable; an exception in a worker is raised here.

    Parameters
    ----------
    fn : callable
    args : sequence of tuple
    workers : int, optional
    progress : callable(fraction, message), optional
        Called as items finish.

    Returns
    -------
    list
        The results, in the order of ``args``.

    Examples
    --------
    >>> process_map(divmod, [(7, 2), (9, 4)], workers=1)
    [(3, 1), (2, 1)]
    """
    n = len(args)
    workers = pool_size(n, workers)
    if workers <= 1:
        out = []
        for i, a in enumerate(args):
            out.append(fn(*a))
            if progress:
                progress((i + 1) / n, f"{i + 1}/{n}")
        return out
    results: list = [None] * n
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                             initializer=one_line_warnings) as pool:
        futures = {pool.submit(fn, *a): i for i, a in enumerate(args)}
        done = 0
        for fut in as_completed(futures):
            results[futures[fut]] = fut.result()
            done += 1
            if progress:
                progress(done / n, f"{done}/{n}")
    return results

