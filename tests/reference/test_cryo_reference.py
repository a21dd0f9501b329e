"""Verification of the enthalpy-method cryo solver (DESIGN.md §6, first tier).

Each test states its tolerance and why it is that size: the two-phase Stefan (Neumann) solution
and its convergence, energy conservation to round-off, the pure-conduction limit against the
Pennes solver and the heat kernel, and the kernel backends against the NumPy reference.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from tissuefate.backends import get_kernel
from tissuefate.backends.cryo_kernels import phase_constants
from tissuefate.grid import Grid
from tissuefate.physics.bioheat import BioheatModel
from tissuefate.physics.cryo import CryoModel, Cryoprobe, CryoProtocol, CryoTissue
from tissuefate.tissue.maps import ThermalMaps
from tissuefate.tissue.properties import BLOOD
from tissuefate.validation_cryo import stefan_front_errors

K0 = 273.15
RHO_C_BLOOD = BLOOD["density_kg_per_m3"].value * BLOOD["heat_capacity_J_per_kgK"].value

# the Stefan material, the Neumann root and the front errors live in tissuefate.validation_cryo
# (also the `stefan` rows of `tissuefate validate`)


def test_stefan_neumann_front_and_convergence():
    """Front X(t) = 2λ√(α_s t) of the two-phase Stefan problem (k jumps 4×, cold face −100 °C).

    At h = 0.5 mm (X ≈ 20 mm = 40 cells at 300 s) the error is within 4 % at 75, 150 and 300 s
    (measured ≤ 3.2 %: the enthalpy method's front moves cell by cell, and the 1 K freezing range
    holds some sensible heat the sharp-front solution lacks). The error falls under refinement with
    order ≈ 1 (measured max errors 6.0, 3.1, 1.6 % at h = 1, 0.5, 0.25 mm; slope 0.95): asserted
    slope > 0.7, and each refinement must lower the error.
    """
    times = (75.0, 150.0, 300.0)
    hs = (1e-3, 0.5e-3, 0.25e-3)
    errs = [np.abs(stefan_front_errors(h, times)).max() for h in hs]
    assert errs[1] < 0.04
    assert errs[0] > errs[1] > errs[2]
    slope = np.polyfit(np.log(hs), np.log(errs), 1)[0]
    assert slope > 0.7


def _mixed_state_model(boundary, *, perfusion=True, source=True, probe=True, vessel=True, max_probe_power_W=None):
    """20³ liver with a random temperature field straddling the freezing range, optional
    perfusion, source, held probe and a held vessel line."""
    grid = Grid.cube(20, 1e-3)
    rng = np.random.default_rng(7)
    T0 = K0 + rng.uniform(-60.0, 40.0, grid.shape)
    fixed = np.zeros(grid.shape, bool)
    fixed[3:17, 4, 4] = vessel
    probes = [Cryoprobe((0.002, 0.002, -0.004), (0, 0, 1), 0.008, 2.4e-3)] if probe else []
    model = CryoModel(
        grid, CryoTissue.liver(), probes, boundary=boundary, initial_K=T0,
        perfusion_per_s=rng.uniform(0, 6e-3, grid.shape) if perfusion else 0.0,
        source_W_per_m3=rng.uniform(0, 2e6, grid.shape) if source else None,
        fixed_mask=fixed, dtype=np.float64, max_probe_power_W=max_probe_power_W)
    if probe:
        model.set_probes("cold")
    return model


@pytest.mark.parametrize("limit_W", [None, 0.5])
@pytest.mark.parametrize("boundary", ["fixed", "insulated"])
def test_energy_conservation_to_round_off(boundary, limit_W):
    """Δ Σ H dV over the free voxels = Σ Δt · (source − perfusion + box + held-voxel fluxes).

    Explicit Euler in conservative flux form makes this exact per step (internal face fluxes
    cancel pairwise): measured 2e-16 of the summed |terms| (float64 rounding); asserted 1e-9.
    With an insulated box the box flux is exactly 0. A power-limited probe (``limit_W``) changes its
    held temperature every step; the balance still closes, and the probe draws its limit.
    """
    model = _mixed_state_model(boundary, max_probe_power_W=limit_W)
    H, T = model.initial()
    dt = model.stable_time_step_s()
    E0 = model.enthalpy_J(H)
    integral, scale = 0.0, 0.0
    for _ in range(40):
        terms = model.energy_terms(T)
        integral += terms["net_W"] * dt
        scale += sum(abs(v) for k, v in terms.items() if k != "net_W") * dt
        if boundary == "insulated":
            assert terms["boundary_W"] == 0.0
        H, T = model.step(H, T, dt)
    dE = model.enthalpy_J(H) - E0
    assert abs(dE - integral) <= 1e-9 * scale
    if limit_W is None:
        assert terms["held_W"] < 0  # the probe draws heat (more than the vessel gives)
    else:
        assert model.probe_powers_W(T)[0] == pytest.approx(limit_W, rel=1e-9)
        assert model.tissue.solidus_K > model.probe_held_K[0] > model.probe_temperature_K


def test_insulated_box_conserves_enthalpy_through_phase_change():
    """Insulated box, no probes, perfusion or source: a frozen/unfrozen mosaic melts and freezes
    internally while Σ H dV stays constant to round-off (1e-12 relative to Σ|H| dV)."""
    model = _mixed_state_model("insulated", perfusion=False, source=False, probe=False, vessel=False)
    H, T = model.initial()
    E0 = model.enthalpy_J(H)
    scale = float(np.abs(H[model.free_mask()]).sum() * model.grid.voxel_volume_m3)
    phi0 = float(model.tissue.ice_fraction(T).mean())
    for _ in range(200):
        H, T = model.step(H, T, model.stable_time_step_s())
    assert abs(model.enthalpy_J(H) - E0) <= 1e-12 * scale
    assert float(model.tissue.ice_fraction(T).mean()) != pytest.approx(phi0, abs=1e-3)  # phases changed


def test_pure_conduction_limit_matches_pennes_and_heat_kernel():
    """L = 0, equal frozen/unfrozen k and c: the enthalpy scheme is the Pennes scheme.

    (a) Warm random field with perfusion and a source (never frozen): equal to BioheatModel
    (float64) within 1e-9 K after 30 steps — the two differ only in rounding (T is rebuilt from H).
    (b) A cold Gaussian spot to −50 °C crossing the "freezing range", no perfusion: equal to
    BioheatModel within 1e-9 K, and its per-axis variance grows by 2αt (1e-5 relative, the
    discrete identity of the 7-point operator; see tests/reference/test_bioheat.py).
    """
    k, c, rho = 0.52, 3540.0, 1079.0
    tissue = CryoTissue(rho, c, c, k, k, 0.0, K0 - 8.0, K0 - 1.0, "conduction")
    grid = Grid.cube(24, 1e-3)
    rng = np.random.default_rng(1)
    w = rng.uniform(0, 6e-3, grid.shape)
    q = rng.uniform(0, 1e6, grid.shape)
    T0 = K0 + rng.uniform(20.0, 45.0, grid.shape)
    cryo = CryoModel(grid, tissue, [], perfusion_per_s=w, initial_K=T0, source_W_per_m3=q, dtype=np.float64)
    maps = ThermalMaps(np.full(grid.shape, k), np.full(grid.shape, 1 / (rho * c)), w * RHO_C_BLOOD / (rho * c))
    pennes = BioheatModel(grid, maps, arterial_K=cryo.arterial_K, dtype=np.float64)
    dt = min(cryo.stable_time_step_s(), pennes.stable_time_step_s())
    H, T = cryo.initial()
    Tp = pennes.initial(T0)
    for _ in range(30):
        H, T = cryo.step(H, T, dt)
        Tp = pennes.step(Tp, q, dt)
    np.testing.assert_allclose(T, Tp, rtol=0, atol=1e-9)

    grid = Grid.cube(32, 1e-3)  # faces ≥ 7σ away: the heat they exchange is below 1e-8 of the spot's
    x, y, z = grid.coordinates_m()
    sigma0, T_b = 1.5e-3, K0 + 37.0
    T0 = T_b - 87.0 * np.exp(-(x**2 + y**2 + z**2) / (2 * sigma0**2))
    cryo = CryoModel(grid, tissue, [], initial_K=T0, arterial_K=T_b, dtype=np.float64)
    maps = ThermalMaps(np.full(grid.shape, k), np.full(grid.shape, 1 / (rho * c)), np.zeros(grid.shape))
    pennes = BioheatModel(grid, maps, arterial_K=T_b, dtype=np.float64)
    H, T = cryo.initial()
    Tp = pennes.initial(T0)

    def variances(T):
        u = T - T_b
        return np.array([float((u * a**2).sum() / u.sum()) for a in (x, y, z)])

    v0 = variances(T)
    t_end = 10.0
    n = int(math.ceil(t_end / cryo.stable_time_step_s()))
    for _ in range(n):
        H, T = cryo.step(H, T, t_end / n)
        Tp = pennes.step(Tp, None, t_end / n)
    np.testing.assert_allclose(T, Tp, rtol=0, atol=1e-9)
    np.testing.assert_allclose(variances(T) - v0, 2 * k / (rho * c) * t_end, rtol=1e-5)
    assert T0.min() < K0 - 30.0 and T.min() > K0  # the spot started frozen-cold and warmed through


#: numba against the NumPy reference. float32: fastmath reassociation / FMA change the last bits;
#: H ≈ 5e8 J/m³ has an ulp of 32–64, T ≈ 300 K an ulp of 3e-5 K (a few ulp allowed). float64:
#: the same at 1e-13 relative.
TOL = {np.float32: {"H": 4e-7, "T": 2e-4}, np.float64: {"H": 1e-13, "T": 1e-10}}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("with_q", [True, False])
def test_kernel_backends_agree(dtype, with_q):
    """enthalpy_step, cryo_monitor and cryo_volumes of numba equal the NumPy reference on a random
    field spanning frozen, mushy and unfrozen voxels with anisotropic spacing."""
    shape = (9, 12, 17)
    rng = np.random.default_rng(3)
    tissue = CryoTissue.liver()
    T = (K0 + rng.uniform(-150, 45, shape)).astype(dtype)
    T[2:5, 2:6, 3:9] = K0 - 4.0 + rng.uniform(-3, 3, (3, 4, 6))  # mushy block
    H = tissue.enthalpy_J_per_m3(T).astype(dtype)
    T = tissue.temperature_K(H).astype(dtype)
    perf = rng.uniform(0, 2.5e4, shape).astype(dtype)
    q = rng.uniform(0, 1e6, shape).astype(dtype) if with_q else None
    ph = phase_constants(solidus_K=tissue.solidus_K, liquidus_K=tissue.liquidus_K, C_frozen=tissue.C_frozen,
                         C_unfrozen=tissue.C_unfrozen, latent_J_per_m3=tissue.latent_J_per_m3,
                         k_frozen=2.0, k_unfrozen=0.52, dtype=dtype)
    inv_h2 = (1 / 0.8e-3**2, 1 / 1e-3**2, 1 / 1.3e-3**2)
    out = {}
    for b in ("numpy", "numba"):
        Ho, To = np.full(shape, np.nan, dtype), np.full(shape, np.nan, dtype)
        get_kernel("enthalpy_step", b)(H, T, Ho, To, perf, q, 310.15, 0.11, inv_h2, ph)
        assert Ho.dtype == dtype and np.isfinite(Ho).all() and np.isfinite(To).all()
        out[b] = (Ho, To)
    scale = float(np.abs(out["numpy"][0]).max())
    np.testing.assert_allclose(out["numba"][0], out["numpy"][0], rtol=0, atol=TOL[dtype]["H"] * scale)
    np.testing.assert_allclose(out["numba"][1], out["numpy"][1], rtol=0, atol=TOL[dtype]["T"])
    np.testing.assert_array_equal(out["numba"][0][0], H[0])  # box faces copied exactly
    assert not np.array_equal(out["numpy"][1][1:-1, 1:-1, 1:-1], T[1:-1, 1:-1, 1:-1])

    rec = {}
    for b in ("numpy", "numba"):
        Tmin = (T + dtype(5.0)).astype(dtype)
        Tmin[0, 0, :4] = K0 - 30.0
        a, c, p = np.zeros(shape, dtype), np.ones(shape, dtype), perf.copy()
        get_kernel("cryo_monitor", b)(T, Tmin, a, c, p, K0 - 20, K0 - 40, K0, 1.5)
        vols = get_kernel("cryo_volumes", b)(T, tissue.liquidus_K, 1 / 7.0, (K0, K0 - 20, K0 - 40))
        rec[b] = (Tmin, a, c, p, np.array(vols))
    for u, v in zip(rec["numpy"], rec["numba"], strict=True):
        np.testing.assert_allclose(u, v, rtol=1e-6, atol=0)
    assert rec["numpy"][3][0, 0, 0] == 0.0  # vascular injury where T_min < 0 °C


def test_model_runs_agree_across_backends_and_dtypes():
    """A 2-probe freeze – passive thaw – active thaw on 20³: numba float32/float64 and NumPy
    float64 give the same minimum-temperature map (0.05 K: float32 rounding accumulates over
    ≈ 500 steps of a field spanning 200 K) and ice volumes (1 %)."""
    grid = Grid.cube(20, 1e-3)
    probes = [Cryoprobe((x, 0.0, -0.004), (0, 0, 1), 0.008, 1.5e-3) for x in (-0.003, 0.003)]
    protocol = CryoProtocol([("freeze", 40.0), ("passive_thaw", 20.0), ("active_thaw", 10.0)])
    runs = {}
    for backend, dtype in (("numpy", np.float64), ("numba", np.float64), ("numba", np.float32)):
        m = CryoModel(grid, CryoTissue.liver(), probes, perfusion_per_s=3.6e-3, backend=backend, dtype=dtype)
        runs[(backend, dtype)] = m.run(protocol)
    ref = runs[("numpy", np.float64)]
    for key, r in runs.items():
        atol = 1e-8 if key[1] is np.float64 else 0.05
        np.testing.assert_allclose(r.T_min_K, ref.T_min_K, rtol=0, atol=atol)
        np.testing.assert_allclose(r.traces["ice_volume_m3"], ref.traces["ice_volume_m3"], rtol=1e-2)
    power = ref.traces["probe_power_W"]
    assert power[0] == 0 and power[1] > 0 and power[-1] < 0  # t = 0: probes not yet on; active thaw warms
