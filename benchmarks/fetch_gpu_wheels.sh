#!/usr/bin/env bash
# Download, on this (networked) machine, the wheels of the pure-Python dependencies that the lent
# GPU machine lacks (it has no network; it has Python 3.12, numpy, numba, scipy, h5py, CuPy), into
# .whl/ (git-ignored). Then run benchmarks/gpu_session_check.sh there with .whl carried along:
#   bash benchmarks/fetch_gpu_wheels.sh     # here, ≈ 10 s, ≈ 3 MB
#   (device run, carry [".whl"])  bash benchmarks/gpu_session_check.sh "$OUT"
# pydantic with its own dependencies (pydantic_core must be the version it pins); h5netcdf without
# (a numpy or h5py wheel from here would shadow the machine's, which its numba and CuPy expect).
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf .whl && mkdir -p .whl
target=(--only-binary=:all: --python-version 3.12 --implementation cp --platform manylinux2014_x86_64
        --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 --dest .whl)
python3 -m pip download -q "${target[@]}" pydantic
python3 -m pip download -q --no-deps "${target[@]}" h5netcdf
ls -1 .whl
