"""Worker processes for figure and file writing (backends.threads.process_map)."""

from __future__ import annotations

import math

import pytest

from tissuefate.backends.threads import process_map, usable_cpus


def test_usable_cpus_is_positive():
    assert usable_cpus() >= 1


def test_process_map_keeps_the_order_of_its_arguments_in_worker_processes():
    seen = []
    args = [(float(x),) for x in range(7)]
    out = process_map(math.sqrt, args, workers=2, progress=lambda f, msg: seen.append(f))
    assert out == [math.sqrt(x) for x in range(7)]
    assert seen[-1] == pytest.approx(1.0) and len(seen) == 7


def test_process_map_raises_a_worker_exception_here():
    with pytest.raises(ValueError, match="math domain error"):
        process_map(math.sqrt, [(1.0,), (-1.0,)], workers=2)


def test_process_map_runs_in_this_process_with_one_worker():
    assert process_map(divmod, [(7, 2)], workers=4) == [(3, 1)]  # one item: no pool
    assert process_map(divmod, [], workers=2) == []


def test_workers_run_numba_on_one_thread_and_pool_size_counts_items():
    import numba

    from tissuefate.backends.threads import call_with_one_numba_thread, pool_size

    out = process_map(call_with_one_numba_thread, [(numba.get_num_threads,), (numba.get_num_threads,)], workers=2)
    assert out == [1, 1]
    assert pool_size(1) == 1 and pool_size(5, workers=3) == 3 and pool_size(0) == 0


def test_worker_warnings_are_one_line_without_the_source_line(capfd):
    import warnings

    process_map(warnings.warn, [("tissuefate test warning", RuntimeWarning)] * 2, workers=2)
    err = capfd.readouterr().err
    assert "warning: tissuefate test warning" in err
    assert "RuntimeWarning" not in err  # the default format names the category and file
