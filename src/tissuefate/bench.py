"""Kernel benchmarks: voxel updates per second and the fraction of this machine's copy bandwidth.

The explicit steps are memory-bound (DESIGN.md §5), so a kernel is judged against the copy
bandwidth measured in the same run, on the same threads and the same memory footprint. The
Pennes step moves 6 arrays per voxel (T, k, 1/ρc, perfusion, Q read; out written): 24 B/voxel in
float32, 48 B/voxel in float64. Results go to ``tissuefate bench`` and ``docs/performance.md``;
nothing here is a timed assertion in the test suite.
"""

from __future__ import annotations

import os
import platform
import statistics
import time

import numpy as np

from .backends import available_backends, get_kernel
from .errors import ConfigError

__all__ = ["measure_copy_bandwidth_GBps", "bench_pennes", "bench_enthalpy", "bench_transport", "run_benchmarks",
           "machine_info"]

#: Arrays the Pennes step moves per voxel (5 read, 1 written).
PENNES_ARRAYS_PER_VOXEL = 6


#: GPU launches per timed batch: a 128³ step takes ≈15 µs on an H200, so one launch per timing
#: would measure the launch and the synchronisation, not the kernel.
GPU_BATCH = 20

_COPY = None


def _numba_copy():
    """The numba parallel copy kernel (numba imported on first use)."""
    global _COPY
    if _COPY is None:
        from numba import njit, prange

        @njit(parallel=True, fastmath=True)
        def copy(src, dst):  # pragma: no cover - compiled
            for i in prange(src.size):
                dst[i] = src[i]

        _COPY = copy
    return _COPY


def _time(fn, repeats: int, sync=None, batch: int = 1) -> list[float]:
    """Seconds per call of ``fn``: ``repeats`` timings of ``batch`` calls each."""
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(batch):
            fn()
        if sync is not None:
            sync()
        out.append((time.perf_counter() - t0) / batch)
    return out


def _copy_cases(nbytes: int, backend: str) -> tuple[dict, int, object]:
    """Copy callables on ``nbytes`` of float32 (warmed up), the bytes each moves, and a sync."""
    n = max(int(nbytes) // 4, 1)
    if backend == "cupy":
        import cupy as cp

        src = cp.ones(n, dtype=cp.float32)
        dst = cp.empty_like(src)
        cases = {"copy": lambda: cp.copyto(dst, src)}
        sync = cp.cuda.Device().synchronize
    else:
        copy = _numba_copy()
        src = np.ones(n, dtype=np.float32)
        dst = np.empty_like(src)
        cases = {"copy": lambda: copy(src, dst), "numpy_copyto": lambda: np.copyto(dst, src)}
        sync = None
    for fn in cases.values():  # JIT compile and first touch
        fn()
    if sync is not None:
        sync()
    return cases, 2 * 4 * n, sync


def measure_copy_bandwidth_GBps(nbytes: int, repeats: int = 10, *, backend: str = "numba") -> dict:
    """Copy bandwidth of this machine [GB/s], counting read + write (2 × ``nbytes`` per copy).

    Parameters
    ----------
    nbytes : int
        Size of the source array [B] (float32 elements). Use a footprint comparable to the
        kernel you compare against, so that both see the same cache level.
    repeats : int
        Timed copies; the best is reported (bandwidth is an upper bound) with the median.
    backend : {"numba", "numpy", "cupy"}
        ``numba`` (and ``numpy``) report both a numba parallel copy on numba's thread count and
        NumPy's single-threaded ``np.copyto``; ``cupy`` times a device-to-device copy.

    Returns
    -------
    dict
        ``GBps`` (the reference figure: numba parallel copy, or the CuPy copy),
        ``median_GBps``, ``numpy_copyto_GBps`` (CPU only) and ``nbytes``.
    """
    cases, moved, sync = _copy_cases(nbytes, backend)
    batch = GPU_BATCH if backend == "cupy" else 1
    res: dict = {"nbytes": moved // 2}
    ts = _time(cases["copy"], repeats, sync, batch)
    res["GBps"] = moved / min(ts) / 1e9
    res["median_GBps"] = moved / statistics.median(ts) / 1e9
    if "numpy_copyto" in cases:
        res["numpy_copyto_GBps"] = moved / min(_time(cases["numpy_copyto"], repeats)) / 1e9
    return res


def bench_pennes(n: int, backend: str | None = None, dtype="float32", repeats: int = 10) -> dict:
    """Time one Pennes step on an ``n``³ grid with a source term, against the copy bandwidth.

    Kernel and copy timings alternate within one loop, so that both see the same machine load
    (on a shared machine the load changes within seconds); the copy works on the kernel's
    footprint (source + destination = 6 arrays of n³ × itemsize), so both see the same cache
    level. GPU timings batch 20 launches per timing.

    Parameters
    ----------
    n : int
        Voxels per edge.
    backend : str, optional
        Kernel backend (default: the registry's default).
    dtype : str or dtype
        ``float32`` or ``float64``.
    repeats : int
        Timed steps after a warm-up (JIT compile, first touch); best and median reported.

    Returns
    -------
    dict
        ``gvox_per_s`` (best), ``gvox_per_s_median``, ``GBps`` at 6 arrays × itemsize per voxel,
        ``copy_GBps`` (numba parallel copy on numba's threads, or the CuPy copy),
        ``numpy_copyto_GBps`` (CPU), ``fraction_of_copy`` and ``fraction_of_best_copy``
        (against the faster of the two copies).

    Examples
    --------
    >>> r = bench_pennes(16, "numpy", repeats=2)
    >>> r["bytes_per_voxel"], r["fraction_of_copy"] > 0
    (24, True)
    """
    from .backends.registry import default_backend

    backend = backend or default_backend()
    dt = _check_dtype(dtype)
    if n < 3:
        raise ConfigError(f"n = {n}: the benchmark grid needs at least 3 voxels per edge")
    rng = np.random.default_rng(0)
    shape = (n, n, n)
    host = {
        "T": (310.0 + rng.random(shape)).astype(dt),
        "k": (0.5 + 0.05 * rng.random(shape)).astype(dt),
        "irc": np.full(shape, 2.6e-7, dt),
        "perf": np.full(shape, 3.4e-3, dt),
        "q": (1e5 * rng.random(shape)).astype(dt),
    }
    if backend == "cupy":
        import cupy as cp

        arrs = {key: cp.asarray(v) for key, v in host.items()}
        out = cp.empty_like(arrs["T"])
    else:
        arrs = host
        out = np.empty_like(arrs["T"])
    step = get_kernel("pennes_step", backend)
    ih2 = (1e6, 1e6, 1e6)  # 1 mm spacing

    def run():
        step(arrs["T"], out, arrs["k"], arrs["irc"], arrs["perf"], arrs["q"], 310.15, 0.5, ih2)

    return _time_against_copy("pennes_step", run, n, backend, dt, PENNES_ARRAYS_PER_VOXEL, repeats)


def _time_against_copy(kernel: str, run, n: int, backend: str, dt: np.dtype, arrays_per_voxel: int,
                       repeats: int, extra_bytes_per_voxel: int = 0) -> dict:
    """Time ``run`` (one kernel step) and a copy of the same footprint alternately (same load)."""
    run()  # JIT compile and first touch
    footprint = max(1, arrays_per_voxel // 2) * n**3 * dt.itemsize
    cases, moved, sync = _copy_cases(footprint, "cupy" if backend == "cupy" else "numba")
    batch = GPU_BATCH if backend == "cupy" else 1
    times: dict[str, list[float]] = {"kernel": [], **{k: [] for k in cases}}
    for _ in range(repeats):
        times["kernel"] += _time(run, 1, sync, batch)
        for name, fn in cases.items():
            times[name] += _time(fn, 1, sync, batch)
    best, med = min(times["kernel"]), statistics.median(times["kernel"])
    bpv = arrays_per_voxel * dt.itemsize + extra_bytes_per_voxel
    gbps = bpv * n**3 / best / 1e9
    copy = moved / min(times["copy"]) / 1e9
    np_copy = moved / min(times["numpy_copyto"]) / 1e9 if "numpy_copyto" in times else None
    return {
        "kernel": kernel,
        "n": n,
        "backend": backend,
        "dtype": dt.name,
        "bytes_per_voxel": bpv,
        "repeats": repeats,
        "best_s": best,
        "median_s": med,
        "gvox_per_s": n**3 / best / 1e9,
        "gvox_per_s_median": n**3 / med / 1e9,
        "GBps": gbps,
        "copy_GBps": copy,
        "numpy_copyto_GBps": np_copy,
        "fraction_of_copy": gbps / copy,
        "fraction_of_best_copy": gbps / max(copy, np_copy or 0.0),
    }


def _check_dtype(dtype) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ConfigError(f"dtype = {dtype!r}: must be 'float32' or 'float64'")
    return dt


#: Arrays the enthalpy (cryo) step moves per voxel: H, T, perfusion read; H, T written.
ENTHALPY_ARRAYS_PER_VOXEL = 5


def bench_enthalpy(n: int, backend: str | None = None, dtype="float32", repeats: int = 10) -> dict:
    """Time one cryo enthalpy step (:mod:`tissuefate.backends.cryo_kernels`) on an ``n``³ grid
    half frozen, half unfrozen, against the copy bandwidth (as :func:`bench_pennes`).

    Examples
    --------
    >>> r = bench_enthalpy(16, "numpy", repeats=2)
    >>> r["kernel"], r["bytes_per_voxel"], r["fraction_of_copy"] > 0
    ('enthalpy_step', 20, True)
    """
    from .backends.registry import default_backend
    from .physics.cryo import CryoTissue

    backend = backend or default_backend()
    if backend not in ("numpy", "numba"):
        raise ConfigError(f"backend = {backend!r}: the enthalpy kernel runs on 'numpy' or 'numba'")
    dt = _check_dtype(dtype)
    if n < 3:
        raise ConfigError(f"n = {n}: the benchmark grid needs at least 3 voxels per edge")
    tissue = CryoTissue.liver()
    shape = (n, n, n)
    T0 = np.linspace(200.0, 310.0, n)[:, None, None] * np.ones(shape)
    H = tissue.enthalpy_J_per_m3(T0).astype(dt)
    T = T0.astype(dt)
    Ho, To = np.empty_like(H), np.empty_like(T)
    perf = np.full(shape, 3.6e-3 * 3.6e6, dt)
    step = get_kernel("enthalpy_step", backend)
    phase = tissue.phase_constants(dt)
    ih2 = (1e6, 1e6, 1e6)

    def run():
        step(H, T, Ho, To, perf, None, 310.15, 0.1, ih2, phase)

    return _time_against_copy("enthalpy_step", run, n, backend, dt, ENTHALPY_ARRAYS_PER_VOXEL, repeats)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict:
    """CPU model, core count, numba threads and library versions (and the GPU, if any)."""
    info = {
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "affinity_cores": (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                           else None),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "platform": platform.platform(),
    }
    try:
        import numba

        info["numba"] = numba.__version__
        info["numba_threads"] = numba.get_num_threads()
        try:
            info["numba_threading_layer"] = numba.threading_layer()
        except ValueError:  # no parallel kernel has run yet
            info["numba_threading_layer"] = numba.config.THREADING_LAYER
    except ImportError:  # pragma: no cover
        pass
    try:
        import cupy as cp

        if cp.cuda.runtime.getDeviceCount() > 0:
            props = cp.cuda.runtime.getDeviceProperties(0)
            name = props["name"]
            info["gpu"] = name.decode() if isinstance(name, bytes) else name
            info["cupy"] = cp.__version__
    except Exception:  # noqa: BLE001 - no GPU is the normal case
        pass
    return info


#: Arrays the diffusion–washout (injection) step moves per voxel: s, c, washout rate read; s, c
#: written (float64), plus the uint8 activity flag.
TRANSPORT_ARRAYS_PER_VOXEL = 5


def bench_transport(n: int, backend: str | None = None, repeats: int = 10) -> dict:
    """Time one diffusion–washout step of the injection model
    (:mod:`tissuefate.backends.transport_kernels`, float64, whole-grid box) against the copy
    bandwidth (as :func:`bench_pennes`).

    Examples
    --------
    >>> r = bench_transport(16, "numpy", repeats=2)
    >>> r["kernel"], r["bytes_per_voxel"], r["fraction_of_copy"] > 0
    ('diffuse_washout', 41, True)
    """
    from .backends import transport_kernels as _tk  # noqa: F401 - registers the kernels
    from .backends.registry import default_backend

    backend = backend or default_backend()
    if backend not in ("numpy", "numba"):
        raise ConfigError(f"backend = {backend!r}: the transport kernel runs on 'numpy' or 'numba'")
    if n < 3:
        raise ConfigError(f"n = {n}: the benchmark grid needs at least 3 voxels per edge")
    rng = np.random.default_rng(0)
    shape = (n, n, n)
    s = rng.random(shape)
    c = 100.0 * rng.random(shape)
    so, co = np.empty_like(s), np.empty_like(c)
    act = np.ones(shape, np.uint8)
    kw = np.full(shape, 3.6e-3)
    box = np.array([0, n, 0, n, 0, n], dtype=np.int64)
    step = get_kernel("diffuse_washout", backend)

    def run():
        step(s, c, so, co, act, kw, 10.0, (0.05, 0.05, 0.05), box, 0.0, 0.0)

    return _time_against_copy("diffuse_washout", run, n, backend, np.dtype(np.float64), TRANSPORT_ARRAYS_PER_VOXEL,
                              repeats, extra_bytes_per_voxel=1)


def run_benchmarks(sizes=(64, 128, 256), backends=None, dtype="float32", repeats: int = 10,
                   kernels=("pennes_step", "enthalpy_step", "diffuse_washout")) -> dict:
    """Benchmark the explicit kernels for each size and backend.

    Parameters
    ----------
    sizes : sequence of int
        Grid edges (n³ voxels).
    backends : sequence of str, optional
        Default: every backend that imports here (:func:`available_backends`).
    dtype : str
        ``float32`` or ``float64``.
    repeats : int
        Timed steps per case.

    Returns
    -------
    dict
        ``machine`` (:func:`machine_info`) and ``results``, one :func:`bench_pennes` dict per
        (backend, size).
    """
    backends = list(backends) if backends is not None else available_backends()
    results = [bench_pennes(n, b, dtype, repeats) for b in backends for n in sizes if "pennes_step" in kernels]
    results += [bench_enthalpy(n, b, dtype, repeats) for b in backends for n in sizes
                if "enthalpy_step" in kernels and b in ("numpy", "numba")]
    results += [bench_transport(n, b, repeats) for b in backends for n in sizes
                if "diffuse_washout" in kernels and b in ("numpy", "numba")]
    return {"machine": machine_info(), "dtype": np.dtype(dtype).name, "results": results}
