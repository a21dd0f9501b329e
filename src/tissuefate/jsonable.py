"""JSON-safe conversion shared by every layer that writes JSON (metrics, trial runs)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np

__all__ = ["to_jsonable"]


def to_jsonable(obj, *, strict: bool = True):
    """``obj`` with NumPy scalars and arrays, tuples and paths made JSON types; NaN/±inf → None.

    Any other object raises :class:`TypeError`, or with ``strict=False`` becomes ``str(obj)``.

    Examples
    --------
    >>> to_jsonable({"a": np.float32(1.5), "b": [np.nan, np.int64(2)], "c": (1, 2)})
    {'a': 1.5, 'b': [None, 2], 'c': [1, 2]}
    """
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v, strict=strict) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v, strict=strict) for v in obj]
    if isinstance(obj, np.ndarray):
        return [to_jsonable(v, strict=strict) for v in obj.tolist()]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        x = float(obj)
        return x if math.isfinite(x) else None
    if isinstance(obj, Path):
        return str(obj)
    if obj is None or isinstance(obj, str):
        return obj
    if not strict:
        return str(obj)
    raise TypeError(f"cannot write {type(obj).__name__} to JSON: {obj!r}")
