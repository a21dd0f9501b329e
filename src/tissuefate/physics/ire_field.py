r"""The electric field of one IRE needle pair, with field-dependent conductivity
(DESIGN.md §3.2); used by :func:`tissuefate.physics.ire.solve_ire`, which re-exports the
public names here.

Linear problem
--------------
During a pulse (tens of µs) the tissue is resistive and quasi-static, as for RF ablation
(:mod:`tissuefate.physics.rf`):

.. math:: \nabla\cdot\bigl(\sigma(|E|, T)\,\nabla\varphi\bigr) = 0, \qquad E = -\nabla\varphi

with one needle of a **bipolar pair** at ``φ = V`` (anode) and the other at ``φ = 0``
(cathode), and insulating (Neumann) box faces: the current leaves through the second needle
only. This is :class:`~tissuefate.physics.rf.PotentialSolver` with ``ground="none"`` and
``ground_mask`` = the cathode (harmonic face conductances, conservative Joule heating).
σ(|E|) is :class:`~tissuefate.physics.electroporation.ElectroporationConductivity`.

Nonlinear solve (Picard)
------------------------
``σ₀ → φ₀ → |E|₀ → σ(|E|₀) → …``, under-relaxed (ω = 0.5) and Anderson-accelerated (depth 5;
plain Picard needs ω ≲ 0.4, see :meth:`PairFieldSolver.solve`), each linear solve warm-started
from the previous potential. Stopping rule: the field changed by at most ``tol × E_irr`` in
every tissue voxel between two successive solves (tol = 1e-3, i.e. 0.64 V/cm), so that the kill
contour ``|E| = E_irr`` is converged, and the σ of the last solve matches σ(|E|) of its field to
``10 tol`` of σ₀. A ``NumericalError`` is raised if this is not reached in ``max_iterations``.
With constant σ the second solve reproduces the first exactly (zero change): the linear problem
is a special case. Measured: 10–12 iterations for the clinical pair at 1, 0.5 and 0.25 mm;
at 96³ × 1 mm one isothermal pair solve takes ≈ 2.4 s (10 iterations, 2-core VM under load).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError, NumericalError
from ..grid import Grid
from .electroporation import ElectroporationConductivity
from .rf import PotentialSolver

__all__ = [
    "PairField",
    "PairFieldSolver",
]


@dataclass
class PairField:
    """Converged field of one electrode pair at one voltage.

    Attributes
    ----------
    phi_V : ndarray
        Potential [V] (``voltage_V`` on the anode, 0 on the cathode).
    field_V_per_m : ndarray
        ``|E|`` [V/m] (0 in anode and cathode voxels).
    sigma_S_per_m : ndarray
        The conductivity of the last solve [S/m], consistent with ``field_V_per_m`` to ``tol``.
    joule_W_per_m3 : ndarray
        ``Q = σ|E|²`` during a pulse [W/m³] (conservative, from face currents).
    current_A : float
        Current through the pair during a pulse [A].
    iterations : int
        Picard iterations (linear solves).
    change_V_per_m : float
        Largest field change of the last iteration [V/m].
    linear_iterations : int
        PCG iterations summed over the Picard iterations.
    """

    phi_V: np.ndarray
    field_V_per_m: np.ndarray
    sigma_S_per_m: np.ndarray
    joule_W_per_m3: np.ndarray
    current_A: float
    iterations: int
    change_V_per_m: float
    linear_iterations: int


class PairFieldSolver:
    r"""Picard solver of ``∇·(σ(|E|)∇φ) = 0`` for one anode/cathode pair (module notes).

    Parameters
    ----------
    grid : Grid
    anode_mask, cathode_mask : ndarray of bool
        Voxels held at ``V`` and at 0 V (perfect conductors).
    face_potential : callable, optional
        ``f(x, y, z) -> φ/V`` on the ``dirichlet_faces`` of the box (verification against
        infinite-medium solutions); default: every face insulating.
    dirichlet_faces : str or tuple of str
        With ``face_potential``: the faces it holds (a ``PotentialSolver`` ``ground`` value,
        e.g. ``"side-faces"`` for needles through the z faces); the others stay insulating.
    rtol : float
        Relative residual of each linear solve (PCG, geometric multigrid).

    Examples
    --------
    >>> g = Grid((12, 4, 4), (1e-3,) * 3)
    >>> a = np.zeros(g.shape, bool); a[0] = True
    >>> c = np.zeros(g.shape, bool); c[-1] = True
    >>> f = PairFieldSolver(g, a, c).solve(np.full(g.shape, 0.067), 500.0)
    >>> round(float(f.field_V_per_m[5, 2, 2]), 1), f.iterations   # V/d = 500 V / 10 mm
    (50000.0, 3)
    """

    def __init__(self, grid: Grid, anode_mask, cathode_mask, *, face_potential: Callable | None = None,
                 dirichlet_faces="box-faces", rtol: float = 1e-6):
        ground = "none" if face_potential is None else dirichlet_faces
        self.grid = grid
        self.solver = PotentialSolver(grid, anode_mask, ground=ground, ground_mask=cathode_mask,
                                      face_potential=face_potential, rtol=rtol)
        self.fixed = np.asarray(anode_mask, bool) | np.asarray(cathode_mask, bool)
        self._sigma: np.ndarray | None = None
        self._prev_base: np.ndarray | None = None

    def solve(
        self,
        sigma_base_S_per_m,
        voltage_V: float,
        *,
        model: ElectroporationConductivity | None = None,
        responsive=None,
        tol: float = 1e-3,
        relaxation: float = 0.5,
        anderson_depth: int = 5,
        max_iterations: int = 60,
        warm: bool = True,
    ) -> PairField:
        r"""Field of the pair at ``voltage_V`` with σ = ``sigma_base`` × field factor.

        Parameters
        ----------
        sigma_base_S_per_m : ndarray
            σ without the field term [S/m] (σ₀ times any temperature factor).
        voltage_V : float
            Anode potential [V].
        model : ElectroporationConductivity, optional
            Default: liver (module notes).
        responsive : ndarray of bool, optional
            Voxels whose σ depends on the field (default: all); the others keep ``sigma_base``
            (blood, needles).
        tol : float
            Stop when ``max |E_k − E_{k−1}| ≤ tol × E_irr`` over the responsive voxels and the
            σ used is consistent with the field, ``max |σ_b f(|E_k|) − σ_k| ≤ 10 tol σ_b``
            (a uniform field, as between plates, does not change with σ).
        relaxation : float
            Under-relaxation ω in (0, 1].
        anderson_depth : int
            Anderson acceleration over the last ``m`` iterates (0: plain under-relaxed Picard).
        max_iterations : int
        warm : bool
            Start from the field factor of the previous call (same pair, e.g. the next block of
            pulses after heating).

        Notes
        -----
        Picard map :math:`G(\sigma) = \sigma_b f(|E(\sigma)|)`, residual
        :math:`F_k = G(\sigma_k) - \sigma_k`. Plain under-relaxed Picard is
        :math:`\sigma_{k+1} = \sigma_k + \omega F_k`; it needs ω ≲ 0.4 here, because a single
        voxel's field falls as its own σ rises (E ∝ 1/σ along a current tube) while σ(E) is
        steep (d ln σ/d ln E ≈ 3 between the thresholds), so the checkerboard mode has gain ≈ 3.
        Anderson acceleration (type II, depth m) takes
        :math:`\sigma_{k+1} = \sigma_k + \omega F_k - (\Delta X + \omega\,\Delta F)\gamma`,
        γ the least-squares solution of :math:`\Delta F\,\gamma \approx F_k` over the last m
        differences; measured on the clinical pair it halves the iterations of ω = 0.4 Picard (11
        against 17–19 at 1 and 0.5 mm). Iterates are clipped to ``[σ_b, r σ_b]``; the history
        is restarted when the residual grows tenfold over its best value.

        Returns
        -------
        PairField
        """
        model = model or ElectroporationConductivity()
        if not 0.0 < relaxation <= 1.0:
            raise ConfigError(f"relaxation = {relaxation:g}: must be in (0, 1] (0.5 is the default)")
        if not 0.0 < tol <= 0.1:
            raise ConfigError(f"tol = {tol:g}: must be in (0, 0.1] (fraction of E_irr; default 1e-3)")
        if not 0 <= int(anderson_depth) <= 20:
            raise ConfigError(f"anderson_depth = {anderson_depth}: must be in 0-20 (default 5)")
        base = np.asarray(sigma_base_S_per_m, dtype=np.float64)
        resp = np.ones(self.grid.shape, bool) if responsive is None else np.asarray(responsive, bool)
        resp = resp & ~self.fixed & (base > 0)
        V = float(voltage_V)
        # convergence is measured where σ depends on the field (E in near-insulating voxels, e.g.
        # needle shafts floored to 1e-6 σ, is ill-conditioned and irrelevant)
        watch = resp if resp.any() else ~self.fixed
        sigma = base.copy()
        b = base[resp]
        lo, hi = b, b * model.ratio
        if warm and self._sigma is not None:
            # previous field factor on the new base (same pair, e.g. after heating)
            prev_factor = self._sigma[resp] / np.maximum(self._prev_base[resp], 1e-300)
            sigma[resp] = np.clip(b * prev_factor, lo, hi)
        E_prev = None
        lin = 0
        change = np.inf
        E = None
        X: list[np.ndarray] = []
        F: list[np.ndarray] = []
        best = np.inf
        m = int(anderson_depth)
        it = 0
        while True:
            it += 1
            if it > int(max_iterations):
                raise NumericalError(
                    f"IRE Picard iteration did not converge in {max_iterations} iterations at "
                    f"{V:g} V: last field change {change:.3g} V/m (tol x E_irr = "
                    f"{tol * model.e_irreversible_V_per_m:.3g} V/m); lower the relaxation (now "
                    f"{relaxation:g}) or raise max_iterations"
                )
            phi1 = self.solver.solve(sigma)
            lin += self.solver.last_iterations
            E = V * self.solver.field_magnitude_V_per_m(sigma, phi1)
            x = sigma[resp]
            fx = b * model.field_factor(E[resp]) - x
            if E_prev is not None:
                change = float(np.max(np.abs(E - E_prev)[watch]))
                resid = float(np.max(np.abs(fx) / b)) if fx.size else 0.0
                if change <= tol * model.e_irreversible_V_per_m and resid <= 10.0 * tol:
                    break
            E_prev = E
            nf = float(np.linalg.norm(fx))
            if nf > 10.0 * best:
                X, F = [], []
            best = min(best, nf)
            xn = x + relaxation * fx
            if m > 0:
                X.append(x)
                F.append(fx)
                if len(X) > m + 1:
                    X.pop(0)
                    F.pop(0)
                if len(X) > 1:
                    dX = np.stack([X[i + 1] - X[i] for i in range(len(X) - 1)], axis=1)
                    dF = np.stack([F[i + 1] - F[i] for i in range(len(F) - 1)], axis=1)
                    gamma = np.linalg.lstsq(dF, fx, rcond=None)[0]
                    xn -= (dX + relaxation * dF) @ gamma
            sigma[resp] = np.clip(xn, lo, hi)
        self._sigma = sigma.copy()
        self._prev_base = base.copy()
        q = V * V * self.solver.joule_heating_W_per_m3(sigma, phi1)
        current = V * self.solver.electrode_current_A(sigma, phi1)
        return PairField(V * phi1, E, sigma, q, current, it, change, lin)
