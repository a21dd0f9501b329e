"""Benchmark of the RF potential solvers (tissuefate.physics.rf), pyamg vs geometric multigrid.

Case (issue: RF potential solver): cylindrical electrode along z through the box centre, 3 cm
active length, 1.5 mm diameter, 1 mm voxels; σ = 0.333 S/m × U(0.8, 1.2) per voxel (20 %
heterogeneity, fixed seed); optionally a desiccated shell (σ × 1e-2 within 3 mm of the electrode
axis). For each method and size it reports

- setup_s: preconditioner setup of the cold solve,
- cold_s: first solve from φ = 0 (setup, assembly and PCG; numba already compiled),
- warm_s: re-solve after a heating-like 5 % change of σ (1 + 0.05 exp(−(d / 8 mm)²), d the
  distance to the electrode axis), warm-started from the cold φ,
- iterations of both, and the relative difference of the electrode power between the methods.

``--session N`` also times a heating session of N warm re-solves on the same electrode: the
temperature rises to 37 + 70 (k/N) exp(−(d / 6 mm)²) °C at step k, σ follows rf_conductivity,
voxels reaching 100 °C desiccate (σ × 1e-2); reported for rtol 1e-6 and 1e-4.

Run:  python benchmarks/bench_potential.py [--sizes 64 128] [--repeat 3] [--methods gmg pyamg]
                                           [--session 40]
Timings use the best of ``--repeat`` runs (fresh solver each time). No timed assertion anywhere.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

from tissuefate.geometry import distance_to_segment_m, segment_mask
from tissuefate.grid import Grid
from tissuefate.physics.rf import PotentialSolver, rf_conductivity, update_desiccated


def case(n: int, *, desiccated_shell: bool, seed: int = 0):
    g = Grid.cube(n, 1e-3)
    a = (0.0, 0.0, -15e-3)
    b = (0.0, 0.0, 15e-3)
    mask = segment_mask(g, a, b, 0.75e-3)
    rng = np.random.default_rng(seed)
    sigma = 0.333 * rng.uniform(0.8, 1.2, size=g.shape)
    d = distance_to_segment_m(g, a, b)
    if desiccated_shell:
        sigma[(d <= 3e-3) & ~mask] *= 1e-2
    heat = 1.0 + 0.05 * np.exp(-((d / 8e-3) ** 2))
    return g, mask, sigma, sigma * heat


def run(method: str, n: int, shell: bool, repeat: int) -> dict:
    g, mask, s0, s1 = case(n, desiccated_shell=shell)
    best = None
    for _ in range(repeat):
        solver = PotentialSolver(g, mask, method=method)
        t = time.perf_counter()
        phi = solver.solve(s0)
        cold = time.perf_counter() - t
        setup, it0 = solver.last_setup_s, solver.last_iterations
        t = time.perf_counter()
        phi1 = solver.solve(s1)
        warm = time.perf_counter() - t
        row = dict(
            method=method,
            n=n,
            shell=shell,
            setup_s=setup,
            cold_s=cold,
            cold_it=it0,
            warm_s=warm,
            warm_it=solver.last_iterations,
            warm_setup_s=solver.last_setup_s,
            power_W=solver.power_W(s1, phi1),
            n_unknowns=solver.n_unknowns,
        )
        del phi
        if best is None or row["cold_s"] + row["warm_s"] < best["cold_s"] + best["warm_s"]:
            best = row
    return best


def session(method: str, n: int, steps: int, rtol: float) -> dict:
    g, mask, s0, _ = case(n, desiccated_shell=False)
    d = distance_to_segment_m(g, (0.0, 0.0, -15e-3), (0.0, 0.0, 15e-3))
    profile = np.exp(-((d / 6e-3) ** 2))
    solver = PotentialSolver(g, mask, method=method, rtol=rtol)
    dry = np.zeros(g.shape, bool)
    times, its = [], []
    solver.solve(s0)
    for k in range(1, steps + 1):
        T = 310.15 + 70.0 * (k / steps) * profile
        dry = update_desiccated(dry, T)
        t = time.perf_counter()
        solver.solve(rf_conductivity(s0, T, dry))
        times.append(time.perf_counter() - t)
        its.append(solver.last_iterations)
    return dict(
        total=sum(times),
        mean=float(np.mean(times)),
        max=max(times),
        its=float(np.mean(its)),
        max_its=max(its),
        dry=int(dry.sum()),
    )


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    ap.add_argument("--methods", nargs="+", default=["gmg", "pyamg"])
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--session", type=int, default=0, help="steps of the heating session (0: skip)")
    args = ap.parse_args(argv)

    # compile the numba kernels outside the timings
    g, mask, s0, _ = case(40, desiccated_shell=False)
    for m in args.methods:
        PotentialSolver(g, mask, method=m).solve(s0)

    import numba

    print(
        f"# machine: {platform.machine()} {platform.processor() or ''}, "
        f"{os.cpu_count()} cpus, numba threads {numba.get_num_threads()}, float64"
    )
    hdr = (
        f"{'method':6} {'size':>5} {'shell':>5} {'unknowns':>9} {'setup s':>8} {'cold s':>7} "
        f"{'it':>3} {'warm s':>7} {'it':>3} {'warm setup s':>12} {'P(1V) W':>10}"
    )
    print(hdr)
    powers = {}
    for n in args.sizes:
        for shell in (False, True):
            for m in args.methods:
                r = run(m, n, shell, args.repeat)
                powers.setdefault((n, shell), []).append(r["power_W"])
                print(
                    f"{m:6} {n:>4}³ {str(shell):>5} {r['n_unknowns']:>9} {r['setup_s']:8.3f} "
                    f"{r['cold_s']:7.3f} {r['cold_it']:3d} {r['warm_s']:7.3f} {r['warm_it']:3d} "
                    f"{r['warm_setup_s']:12.3f} {r['power_W']:10.6f}",
                    flush=True,
                )
    for key, p in powers.items():
        if len(p) > 1:
            rel = np.ptp(p) / np.mean(p)
            print(f"# {key}: relative power difference between methods {rel:.1e}")
    if args.session:
        print(f"# heating session, {args.session} warm re-solves")
        print(
            f"{'method':6} {'size':>5} {'rtol':>6} {'total s':>8} {'mean s':>7} {'max s':>6} "
            f"{'mean it':>7} {'max it':>6} {'dry vox':>7}"
        )
        for n in args.sizes:
            for m in args.methods:
                for rtol in (1e-6, 1e-4):
                    r = session(m, n, args.session, rtol)
                    print(
                        f"{m:6} {n:>4}³ {rtol:6.0e} {r['total']:8.2f} {r['mean']:7.3f} "
                        f"{r['max']:6.3f} {r['its']:7.1f} {r['max_its']:6d} {r['dry']:7d}",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
