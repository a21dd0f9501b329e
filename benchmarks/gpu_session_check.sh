#!/usr/bin/env bash
# Whole thermal sessions on a lent NVIDIA machine (not CI): the GPU tests of the sessions and the
# backends, then wall times of the standard RFA case (tissuefate.demo.standard_case_scenario: 12 min,
# 3-cm cooled electrode, 128³ at 1 mm) and of the MWA example (96×96×112, 5 min) with numba and
# cupy in the same run. About 3 minutes; numba compiles on first use (≈1 min, cached on disk for
# the timing step).
# Usage (repository root; wheels of the pure-Python dependencies the machine lacks in .whl/:
# pydantic, pydantic_core, annotated_types, typing_inspection, typing_extensions, h5netcdf —
# `bash benchmarks/fetch_gpu_wheels.sh` downloads them; carry .whl to the machine):
#   bash benchmarks/gpu_session_check.sh [OUT_DIR]
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:src
set -u
export PYTHONUNBUFFERED=1
OUT=${1:-${OUT:-/tmp/gpu_session_check}}
mkdir -p "$OUT"
t_start=$(date +%s)

{
  nvidia-smi -L
  python3 -c "import cupy, numba, numpy, pydantic, h5netcdf; print('cupy', cupy.__version__, 'numba', numba.__version__, \
'numpy', numpy.__version__, 'pydantic', pydantic.__version__, 'h5netcdf', h5netcdf.__version__)"
} 2>&1 | tee "$OUT/versions.txt"

echo "== GPU tests ($(date +%T))"
timeout 200 python3 -m pytest -q -p no:cacheprovider -m gpu -rs --durations=8 \
  tests/unit/test_gpu_sessions.py tests/backends 2>&1 | tee "$OUT/pytest_gpu.txt" | tail -40
echo "pytest exit ${PIPESTATUS[0]}" | tee -a "$OUT/pytest_gpu.txt"

echo "== session wall times ($(date +%T))"
timeout 180 python3 - <<'PY' 2>&1 | tee "$OUT/session_times.txt"
import os
import time

from tissuefate.api import simulate
from tissuefate.config.scenario import NumericsConfig, load_scenario, scenario_from_dict
from tissuefate.demo import standard_case_scenario


def with_backend(scn, backend, dtype="float32"):
    return scn.model_copy(update={"numerics": NumericsConfig(backend=backend, dtype=dtype)})


def timed(scn, backend, dtype="float32"):
    scn = with_backend(scn, backend, dtype)
    t0 = time.perf_counter()
    r = simulate(scn)
    wall = time.perf_counter() - t0
    z = r.metrics["zones"]["omega_ge_1"]
    n = r.settings["numerics"]
    e = r.traces["absorbed_energy_J" if scn.modality == "mwa" else "energy_J"][-1]
    print(f"{scn.name:28s} {backend:6s} {dtype}: wall {wall:6.1f} s (session loop {r.wall_time_s:6.1f} s), "
          f"{n['n_steps']} steps, {n['source_updates']} source updates, energy {e:8.1f} J, "
          f"omega>=1 {z['volume_mL']:.2f} mL ({z['long_axis_mm']:.1f} x {z['short_axis_mm']:.1f} mm), "
          f"peak {r.metrics['thermal']['peak_temperature_degC']:.2f} degC", flush=True)


# warm-up (numba from its disk cache, NVRTC compiles of the CuPy kernels), not timed
warm = scenario_from_dict({
    "name": "warm-up", "modality": "rfa", "anatomy": {"kind": "block", "tumour_diameter_mm": 0},
    "grid": {"spacing_mm": 1.5, "roi_shape": [32, 32, 40]},
    "applicator": {"type": "rf_electrode", "active_length_mm": 20, "cooled": True},
    "protocol": {"duration_min": 0.5}})
backends = os.environ.get("BACKENDS", "numba cupy").split()
for b in backends:
    simulate(with_backend(warm, b))

std = standard_case_scenario()
for b in backends:
    timed(std, b)
mwa = load_scenario("examples/mwa_80W_5min_porcine.toml")
for b in backends:
    timed(mwa, b)
PY
echo "timing exit ${PIPESTATUS[0]}" | tee -a "$OUT/session_times.txt"
echo "total $(( $(date +%s) - t_start )) s" | tee "$OUT/total.txt"

echo "== kernel throughput ($(date +%T))"
timeout 90 python3 - <<'PY' 2>&1 | tee "$OUT/gpu_bench.txt"
from tissuefate.bench import run_benchmarks
res = run_benchmarks(sizes=(128, 256), backends=["cupy"], dtype="float32", kernels=("pennes_step",))
for r in res["results"]:
    print(r["kernel"], r["n"], r["backend"], r["dtype"], "Gvox/s %.1f" % r["gvox_per_s"],
          "copy GB/s %.0f" % r["copy_GBps"], "fraction %.2f" % r["fraction_of_copy"])
PY
echo "total $(( $(date +%s) - t_start )) s" | tee "$OUT/total.txt"
