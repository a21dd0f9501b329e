"""Registry of hot kernels by (name, backend).

Backend modules register their kernels on import; ``numpy`` is always present, ``numba`` is the
CPU default, ``cupy`` is imported lazily and only when asked for.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from ..errors import ConfigError, MissingExtraError, missing_extra

__all__ = ["register_kernel", "get_kernel", "available_backends", "default_backend", "require_backend",
           "BACKENDS"]

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


def require_backend(backend: str | None, field: str = "backend") -> str:
    """The backend ``backend`` resolves to (None: :func:`default_backend`), checked to run here.

    Call it at a boundary (a scenario, a session) before any work: CuPy must import and see at
    least one NVIDIA GPU.

    Parameters
    ----------
    backend : str or None
    field : str
        Name of the setting in error messages, e.g. ``"numerics.backend"``.

    Raises
    ------
    MissingExtraError
        ``cupy`` asked for and CuPy does not import (the message gives the ``pip install``).
    ConfigError
        An unknown backend, or CuPy without a usable GPU.

    Examples
    --------
    >>> require_backend("numpy")
    'numpy'
    """
    b = backend or default_backend()
    if b not in BACKENDS:
        raise ConfigError(f"{field} = {b!r}: must be one of {list(BACKENDS)}")
    if b == "cupy":
        cpu = f'or set {field} = "numba" to run on the CPU'
        try:
            import cupy
        except Exception as exc:  # ImportError, or a broken CUDA installation
            raise MissingExtraError(
                f"{field} = 'cupy': the GPU backend needs CuPy and an NVIDIA GPU, and CuPy does not "
                f'import ({type(exc).__name__}: {exc}). Install it with: pip install "tissuefate[gpu]" '
                f"(a CuPy wheel matching the machine's CUDA, e.g. cupy-cuda12x or cupy-cuda13x), {cpu}."
            ) from None
        try:
            n, why = int(cupy.cuda.runtime.getDeviceCount()), "0 devices"
        except Exception as exc:  # CUDARuntimeError: no driver, no device
            n, why = 0, f"{type(exc).__name__}: {exc}"
        if n < 1:
            raise ConfigError(
                f"{field} = 'cupy': the GPU backend needs an NVIDIA GPU, and CuPy sees none ({why}). "
                f"Run on a machine with an NVIDIA GPU and its driver, {cpu}."
            )
    try:
        _load(b)
    except MissingExtraError:
        raise
    except ImportError as exc:  # pragma: no cover - numba missing although asked for
        raise ConfigError(f"{field} = {b!r}: the backend does not import here ({exc})") from None
    return b


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
