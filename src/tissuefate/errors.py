"""Exceptions of tissuefate.

One base class, :class:`TissuefateError`; user-facing subclasses also inherit the matching
builtin so that ``except ValueError`` keeps working. The CLI prints these as one or two lines
and exits with status 2; any other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

__all__ = [
    "TissuefateError",
    "ConfigError",
    "GeometryError",
    "ResourceError",
    "NumericalError",
    "MissingExtraError",
]


class TissuefateError(Exception):
    """Base class of every error tissuefate raises on purpose."""


class ConfigError(TissuefateError, ValueError):
    """A scenario, course or trial file (or an API argument) is invalid.

    The message names the field, the value with its unit, the allowed range and a likely fix.
    """


class GeometryError(TissuefateError, ValueError):
    """An applicator, tumour or region of interest does not fit the anatomy or the grid."""


class ResourceError(TissuefateError, MemoryError):
    """A requested grid or run would not fit the memory of this machine."""


class NumericalError(TissuefateError, ArithmeticError):
    """A simulation left the physical range (NaN, runaway temperature); nothing is written."""


class MissingExtraError(TissuefateError, ImportError):
    """An optional dependency is missing; the message gives the exact ``pip install`` command."""


def missing_extra(package: str, extra: str) -> MissingExtraError:
    """Build the error for a missing optional dependency ``package`` from extra ``extra``."""
    return MissingExtraError(
        f"{package} is needed for this feature but is not installed. "
        f'Install it with: pip install "tissuefate[{extra}]"'
    )
