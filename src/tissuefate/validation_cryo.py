"""Verification rows of cryoablation (issue 3): the two-phase Stefan (Neumann) freezing front.

Registered in :data:`tissuefate.validation.CASES` as ``stefan`` (fast).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import optimize

from .grid import Grid
from .physics.cryo import CryoModel, CryoTissue
from .validation import ValidationRow, _abs

__all__ = ["STEFAN", "neumann_lambda", "stefan_front_errors", "case_stefan"]

_K0 = 273.15

#: Tissue-like two-phase material with a narrow (1 K) freezing range for the Stefan problem.
STEFAN = CryoTissue(1000.0, 3600.0, 1800.0, 0.5, 2.0, 250e3, _K0 - 1.0, _K0, "stefan")


def neumann_lambda(tissue: CryoTissue, T_wall_K: float, T_init_K: float) -> float:
    r"""Root λ of the two-phase Neumann problem, front X(t) = 2λ√(α_s t).

    .. math::
        \frac{k_s (T_f - T_w) e^{-\lambda^2}}{\sqrt{\pi\alpha_s}\,\mathrm{erf}\lambda}
        - \frac{k_l (T_i - T_f) e^{-\lambda^2\nu^2}}{\sqrt{\pi\alpha_l}\,\mathrm{erfc}(\lambda\nu)}
        = \rho L \lambda \sqrt{\alpha_s},\qquad \nu = \sqrt{\alpha_s/\alpha_l},

    with T_f the middle of the freezing range.

    Examples
    --------
    >>> round(neumann_lambda(STEFAN, _K0 - 100.0, _K0 + 37.0), 4) > 0
    True
    """
    ks, kl = tissue.conductivity_frozen_W_per_mK, tissue.conductivity_unfrozen_W_per_mK
    a_s, a_l = ks / tissue.C_frozen, kl / tissue.C_unfrozen
    Tf = 0.5 * (tissue.solidus_K + tissue.liquidus_K)
    nu = math.sqrt(a_s / a_l)

    def f(lam):
        return (ks * (Tf - T_wall_K) * math.exp(-lam**2) / (math.sqrt(math.pi * a_s) * math.erf(lam))
                - kl * (T_init_K - Tf) * math.exp(-(lam * nu) ** 2) / (math.sqrt(math.pi * a_l) * math.erfc(lam * nu))
                - tissue.latent_J_per_m3 * lam * math.sqrt(a_s))

    return optimize.brentq(f, 1e-4, 5.0)


def stefan_front_errors(h: float, times_s, T_wall_K=_K0 - 100.0, T_init_K=_K0 + 37.0) -> np.ndarray:
    """Relative front-position errors of the enthalpy scheme at ``times_s`` on a 1-D grid of step h.

    The slab is (nx, 3, 3) voxels with insulated (mirror) boxes, so y and z carry no heat; the
    first interior x-layer is held at T_wall (the cooled face, x = 0) and the far end is 80 mm away
    (≈ 12 liquid diffusion lengths at 300 s: semi-infinite to ≪ 1e-6). The simulated front is
    X = h/2 + h Σ φ_i, the ice content (the held layer's half cell lies at x ∈ [0, h/2]).
    """
    nx = int(round(0.08 / h)) + 3
    grid = Grid((nx, 3, 3), (h, 0.1, 0.1))  # 0.1 m in y, z: their terms do not shorten Δt
    face = np.zeros(grid.shape, bool)
    face[1] = True
    model = CryoModel(grid, STEFAN, [], initial_K=T_init_K, fixed_mask=face, fixed_K=T_wall_K,
                      boundary="insulated", dtype=np.float64)
    lam = neumann_lambda(STEFAN, T_wall_K, T_init_K)
    a_s = STEFAN.conductivity_frozen_W_per_mK / STEFAN.C_frozen
    H, T = model.initial()
    dt_max = model.stable_time_step_s()
    t, errs = 0.0, []
    for te in times_s:
        n = int(math.ceil((te - t) / dt_max))
        for _ in range(n):
            H, T = model.step(H, T, (te - t) / n)
        t = te
        X = 0.5 * h + h * float(STEFAN.ice_fraction(T[2:-1, 1, 1]).sum())
        X_exact = 2 * lam * math.sqrt(a_s * te)
        errs.append((X - X_exact) / X_exact)
    return np.array(errs)


def case_stefan() -> list[ValidationRow]:
    """Freezing front of the two-phase Stefan problem at 1, 0.5, 0.25 mm and its convergence order."""
    times = (75.0, 150.0, 300.0)
    hs = (1e-3, 0.5e-3, 0.25e-3)
    errs = [float(np.abs(stefan_front_errors(h, times)).max()) for h in hs]
    slope = float(np.polyfit(np.log(hs), np.log(errs), 1)[0])
    case = "cryo: two-phase Stefan front (cold face −100 °C, k jumps 4×)"
    src = "analytic: Neumann solution X = 2λ√(α_s t)"
    return [
        ValidationRow(case, "max relative front error at 0.5 mm, 75-300 s", **_abs(errs[1], 0.0, 0.04), source=src),
        ValidationRow(case, "convergence order of the front error (1, 0.5, 0.25 mm)",
                      simulated=slope, reference=1.0, tolerance="> 0.7", passed=bool(slope > 0.7), source=src),
    ]
