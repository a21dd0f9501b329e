"""Registry of hot kernels by (name, backend).

Backend modules register their kernels on import; ``numpy`` is always present, ``numba`` is the
CPU default, ``cupy`` is imported lazily and only when asked for.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from ..errors import ConfigError, missing_extra

__all__ = ["register_kernel", "get_kernel", "available_backends", "default_backend", "BACKENDS"]

BACKENDS = ("numpy", "numba", "cupy")
_KERNELS: dict[tuple[str, str], Callable] = {}
_LOADED: set[str] = set()


def register_kernel(name: str, backend: str):
    """Decorator registering ``fn`` as kernel ``name`` of ``backend``."""

    def deco(fn):
        _KERNELS[(name, backend)] = fn
        return fn

    return deco


def _load(backend: str) -> None:
    if backend in _LOADED:
        return
    if backend not in BACKENDS:
        raise ConfigError(f"backend = {backend!r}: must be one of {list(BACKENDS)}")
    try:
        importlib.import_module(f"{__package__}.{backend}_kernels")
    except ImportError as exc:  # pragma: no cover - depends on the machine
        if backend == "cupy":
            raise missing_extra("cupy", "gpu") from exc
        raise
    _LOADED.add(backend)


def available_backends() -> list[str]:
    """Backends that import on this machine (CuPy only with a working GPU)."""
    out = []
    for b in BACKENDS:
        try:
            _load(b)
            if b == "cupy":
                import cupy  # noqa: F401

                if cupy.cuda.runtime.getDeviceCount() < 1:
                    continue
            out.append(b)
        except Exception:
            continue
    return out


def default_backend() -> str:
    """``numba`` when it imports, else ``numpy``."""
    try:
        _load("numba")
        return "numba"
    except ImportError:  # pragma: no cover
        return "numpy"


def get_kernel(name: str, backend: str | None = None) -> Callable:
    """The kernel ``name`` of ``backend`` (default: :func:`default_backend`)."""
    backend = backend or default_backend()
    _load(backend)
    try:
        return _KERNELS[(name, backend)]
    except KeyError:
        have = sorted(n for n, b in _KERNELS if b == backend)
        raise ConfigError(
            f"kernel {name!r} has no {backend!r} implementation; have {have}"
        ) from None
