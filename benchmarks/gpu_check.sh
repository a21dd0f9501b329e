#!/usr/bin/env bash
# GPU checks for a lent NVIDIA machine (not CI): the CuPy backend against the NumPy oracle and
# the Pennes kernel throughput as a fraction of the device's measured copy bandwidth.
# Usage (repository root): bash benchmarks/gpu_check.sh [OUT_DIR]
set -u
OUT=${1:-${OUT:-/tmp}}
export PYTHONPATH=src PYTHONUNBUFFERED=1
nvidia-smi -L
python3 -c "import cupy, numba, numpy; print('cupy', cupy.__version__, 'numba', numba.__version__, 'numpy', numpy.__version__)"
python3 -m pytest -q -p no:cacheprovider tests/backends -m "gpu or not gpu" 2>&1 | tail -5
python3 - <<'PY' | tee "$OUT/gpu_bench.txt"
import json
from tissuefate.bench import run_benchmarks
res = run_benchmarks(sizes=(128, 256, 384), backends=["cupy"], dtype="float32")
res64 = run_benchmarks(sizes=(256,), backends=["cupy"], dtype="float64")
for r in res["results"] + res64["results"]:
    print(r["kernel"], r["n"], r["backend"], r["dtype"], "Gvox/s %.1f" % r["gvox_per_s"],
          "GB/s %.0f" % r["GBps"], "copy GB/s %.0f" % r["copy_GBps"], "fraction %.2f" % r["fraction_of_copy"])
print(json.dumps(res["machine"]))
PY
