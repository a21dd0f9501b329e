"""Array-module helpers shared by the physics and therapy layers: where an array lives (NumPy on
the host, CuPy on an NVIDIA GPU) and how to bring it to the host. CuPy is imported only when an
array or a backend asks for it.
"""

from __future__ import annotations

import numpy as np

__all__ = ["backend_module", "array_module", "to_host"]


def _is_cupy(a) -> bool:
    return type(a).__module__.startswith("cupy")


def backend_module(backend: str | None):
    """``cupy`` for the ``"cupy"`` backend, else ``numpy``.

    >>> backend_module("numba") is np
    True
    """
    if backend == "cupy":
        import cupy

        return cupy
    return np


def array_module(a):
    """``cupy`` for a CuPy array, else ``numpy``.

    >>> array_module(np.zeros(2)) is np
    True
    """
    if _is_cupy(a):
        import cupy

        return cupy
    return np


def to_host(a):
    """``a`` as a NumPy array: a CuPy array is copied to the host, anything else is returned as is.

    >>> a = np.zeros(2)
    >>> to_host(a) is a
    True
    """
    return a.get() if _is_cupy(a) else a
