"""Repository-level pytest configuration (doctests of src/ are collected too)."""

import importlib.util

collect_ignore = []
if importlib.util.find_spec("cupy") is None:  # the GPU backend module refuses to import without CuPy
    collect_ignore.append("src/tissuefate/backends/cupy_kernels.py")
