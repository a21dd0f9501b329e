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
"""

from __future__ import annotations

import functools

from threadpoolctl import threadpool_limits

__all__ = ["single_threaded_blas"]


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
