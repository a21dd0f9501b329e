"""Verification of the IRE field solver (tissuefate.physics.ire) against analytic solutions.

- parallel plates (voxel slabs, insulating side faces): uniform field V/d and current σAV/d,
  also with the nonlinear σ(E) (a uniform field stays uniform);
- two long parallel cylinders of radius a at centre distance D (2-D, needles through the z
  faces, analytic φ on the side faces): resistance per unit length R' = arccosh(D/2a)/(πσ) and
  φ(x, y) of two line charges at ±b, b = √((D/2)² − a²); with the nominal radius the error
  shrinks with refinement;
- nonlinear σ(E): Picard converges, reduces to the linear solve exactly for constant σ, the
  current rises with the conductivity rise;
- conservation: Σ Q dV = V·I for the converged nonlinear field.
"""

from __future__ import annotations

import numpy as np
import pytest

from tissuefate.geometry import segment_mask
from tissuefate.grid import Grid
from tissuefate.physics.ire import (
    ElectroporationConductivity,
    IREElectrode,
    PairFieldSolver,
    solve_ire,
)
from tissuefate.physics.rf import PotentialSolver

SIGMA0 = 0.067  # S/m, liver before electroporation (IRE table, Sel 2005)
LINEAR = ElectroporationConductivity(ratio=1.0)


def _plates(n=22, m=6, h=1e-3, thick=2):
    g = Grid((n, m, m), (h,) * 3)
    a = np.zeros(g.shape, bool)
    c = np.zeros(g.shape, bool)
    a[:thick] = True
    c[-thick:] = True
    d = (n - 2 * thick) * h  # electrode surfaces: the faces of the slab voxels
    area = (m * h) ** 2
    return g, a, c, d, area


@pytest.mark.parametrize("model", [LINEAR, ElectroporationConductivity()], ids=["linear", "sigma(E)"])
def test_parallel_plates_uniform_field_and_current(model):
    g, a, c, d, area = _plates()
    V = 5e4 * d  # 500 V/cm: inside the σ(E) transition
    f = PairFieldSolver(g, a, c).solve(np.full(g.shape, SIGMA0), V, model=model)
    E = f.field_V_per_m[~(a | c)]
    assert np.max(np.abs(E / (V / d) - 1.0)) < 0.01
    sigma = SIGMA0 * float(model.field_factor(V / d))
    assert f.current_A == pytest.approx(sigma * area * V / d, rel=0.01)
    # potential linear between the plates
    x = g.axis_m(0)
    inner = slice(2, -2)
    phi_exact = V * (1.0 - (x[inner] - x[1] - 0.5e-3) / d)
    assert np.allclose(f.phi_V[inner, 3, 3], phi_exact, rtol=0, atol=1e-4 * V)


def _two_cylinders(h, a=1.5e-3, D=10e-3, use_effective=True, model=LINEAR, V=1000.0):
    Lx, Ly = 40e-3, 30e-3
    nx, ny, nz = int(round(Lx / h)), int(round(Ly / h)), 4
    g = Grid((nx, ny, nz), (h,) * 3, (-(nx - 1) * h / 2, -(ny - 1) * h / 2, 0.0))
    an = segment_mask(g, (-D / 2, 0, -1.0), (-D / 2, 0, 1.0), a)
    ca = segment_mask(g, (D / 2, 0, -1.0), (D / 2, 0, 1.0), a)
    a_eff = np.sqrt(an[:, :, 0].sum() * h * h / np.pi)
    ae = a_eff if use_effective else a
    acosh = np.arccosh(D / (2 * ae))
    b = np.sqrt((D / 2) ** 2 - ae**2)

    def phi_exact(x, y, z=0.0):
        r1 = np.hypot(x + b, y)
        r2 = np.hypot(x - b, y)
        return 0.5 + np.log(r2 / r1) / (2 * acosh)

    ps = PairFieldSolver(g, an, ca, face_potential=phi_exact, dirichlet_faces="side-faces")
    f = ps.solve(np.full(g.shape, SIGMA0), V, model=model)
    I_per_m = f.current_A / g.extent_m[2]
    I_exact = V * np.pi * SIGMA0 / acosh
    x, y, _ = g.coordinates_m()
    X, Y = np.broadcast_arrays(x[:, :, 0], y[:, :, 0])
    r_min = np.minimum(np.hypot(X + D / 2, Y), np.hypot(X - D / 2, Y))
    sel = r_min >= 2 * a
    phi_err = np.max(np.abs(f.phi_V[:, :, 1][sel] / V - phi_exact(X[sel], Y[sel])))
    return (I_per_m - I_exact) / I_exact, phi_err, f


@pytest.mark.parametrize("h", [0.5e-3, 0.25e-3])
def test_two_cylinders_resistance_per_length_and_potential(h):
    rel, phi_err, _ = _two_cylinders(h)
    # measured: −0.02 % / +0.35 % (current), 0.05 % / 0.11 % of V (φ) at 0.5 / 0.25 mm, with the
    # radius of equal cross-section
    assert abs(rel) < 0.02, f"current per length off by {rel:+.2%} at h = {h * 1e3} mm"
    assert phi_err < 0.01, f"φ off by {phi_err:.2%} of V at h = {h * 1e3} mm"


def test_two_cylinders_error_against_nominal_radius_shrinks_with_refinement():
    errs = [abs(_two_cylinders(h, use_effective=False)[0]) for h in (0.5e-3, 0.25e-3)]
    # measured: 3.8 % at 0.5 mm, 0.06 % at 0.25 mm (and 0.06 % at 0.125 mm)
    assert errs[1] < 0.6 * errs[0], errs
    assert errs[1] < 0.05, errs


def test_picard_converges_and_is_a_fixed_point():
    _, _, f = _two_cylinders(0.5e-3, model=ElectroporationConductivity(), V=700.0)
    model = ElectroporationConductivity()
    assert 2 < f.iterations < 30
    assert f.change_V_per_m <= 1e-3 * model.e_irreversible_V_per_m
    # σ consistent with σ(E) of the converged field to well within the rise (r − 1 = 2.6)
    tissue = f.field_V_per_m > 0
    resid = f.sigma_S_per_m[tissue] / (SIGMA0 * model.field_factor(f.field_V_per_m[tissue])) - 1.0
    assert np.max(np.abs(resid)) < 0.02
    # the field spans the transition, so the test exercises the nonlinearity
    E = f.field_V_per_m[tissue]
    assert E.max() > model.e_irreversible_V_per_m and E.min() < model.e_reversible_V_per_m


def _needle_pair(n=28, h=1e-3):
    g = Grid.cube(n, h)
    el = [IREElectrode((x, 0.0, -6e-3), (0, 0, 1), 12e-3) for x in (-5e-3, 5e-3)]
    masks = [e.masks(g) for e in el]
    return g, el, masks


def test_constant_sigma_reduces_to_the_linear_solve_exactly():
    g, _, masks = _needle_pair(24)
    V = 1200.0
    sigma = np.full(g.shape, SIGMA0)
    f = PairFieldSolver(g, masks[0][0], masks[1][0]).solve(sigma, V, model=LINEAR)
    assert f.iterations == 2 and f.change_V_per_m == 0.0
    lin = PotentialSolver(g, masks[0][0], ground="none", ground_mask=masks[1][0])
    phi = V * lin.solve(sigma)
    assert np.array_equal(f.phi_V, phi)
    assert f.current_A == pytest.approx(V * lin.electrode_current_A(sigma, phi / V), rel=1e-12)


def test_current_rises_monotonically_with_the_conductivity_rise():
    g, _, masks = _needle_pair(24)
    currents = []
    for ratio in (1.0, 2.0, 3.6):
        f = PairFieldSolver(g, masks[0][0], masks[1][0]).solve(
            np.full(g.shape, SIGMA0), 1500.0, model=ElectroporationConductivity(ratio=ratio)
        )
        currents.append(f.current_A)
    assert currents[0] < currents[1] < currents[2], currents


def test_joule_heating_balances_electrical_power():
    g, el, _ = _needle_pair()
    from tissuefate.physics.ire import IREProtocol

    r = solve_ire(g, SIGMA0, el, IREProtocol(1500.0, 10, 100e-6, 1.0), thermal_model="none")
    ps = PairFieldSolver(g, *[e.masks(g)[0] for e in el])
    f = ps.solve(np.where(r.electrode_mask, 0.0, SIGMA0), 1500.0, responsive=~r.electrode_mask)
    P = f.joule_W_per_m3.sum() * g.voxel_volume_m3
    assert P == pytest.approx(1500.0 * f.current_A, rel=1e-4)
    assert f.current_A == pytest.approx(r.current_A[0], rel=1e-6)
    assert r.energy_J == pytest.approx(1500.0 * r.current_A[0] * 10 * 100e-6, rel=1e-9)
