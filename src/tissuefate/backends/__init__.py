"""Kernel backends: NumPy reference (test oracle), numba (CPU default), CuPy (GPU, optional).

Physics modules ask :func:`get_kernel` for a kernel by name; they never branch on the backend.
"""

from .registry import available_backends, default_backend, get_kernel, register_kernel

__all__ = ["get_kernel", "register_kernel", "available_backends", "default_backend"]
