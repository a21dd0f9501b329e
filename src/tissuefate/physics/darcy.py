r"""Quasi-steady Darcy pressure of an injection, its face fluxes, leak paths and cracking.

The injected fluid moves through tissue by Darcy's law, :math:`\mathbf u = -K\nabla p` with the
hydraulic conductivity :math:`K = k/\mu` [m²/(Pa s)] per voxel. Tissue is incompressible on the
time scale of an injection, so the pressure is quasi-steady:

.. math:: -\nabla\cdot(K\nabla p) + g_v\,p\,/\,V = q\,\delta_{tip} / V

discretised as the 7-point conductance network of :mod:`tissuefate.physics.multigrid` (face
conductance :math:`A/h \cdot 2K_1K_2/(K_1+K_2)`, the series value of two half cells) and solved by
PCG with the geometric-multigrid preconditioner. Where the fluid leaves the tissue (p = 0):

- **box faces** of the grid (an open region cut from a larger organ), half-cell conductance
  :math:`2KA/h`;
- **organ surface**: voxels labelled ``OUTSIDE`` are fixed at p = 0 (peritoneal cavity);
- **large vessels**: every ``LARGE_VESSEL`` voxel drains to venous pressure 0 through a sink
  conductance :math:`g_v = f_{leak}\,s\,2K_vh` (``vessel_sink_factor`` s, ``vessel_leak_factor``
  :math:`f_{leak}\in[0,1]`, a hook for a hemostasis hypothesis);
- the **needle tract** is a high-conductance channel that reaches the organ surface or the box,
  where it drains like any voxel.

**Cracking** (Morhard et al. 2020 [V], mechanism only): where p exceeds the crack pressure the
tissue fissures and its conductance rises by ``crack_factor``; the solve is repeated with the
cracked voxels until no new voxel cracks (a fissure raises the pressure ahead of its tip, so cracks
can grow along weak paths). Cracks persist for the rest of the injection.

Face fluxes [m³/s] are :math:`Q_{i\to j} = G_{ij}(p_i - p_j)` and the sink outflow of a voxel is
:math:`g_{0,i}p_i`; with the face conductances the transport uses them exactly as given, so the
transport is conservative whatever the linear-solver residual.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse.linalg as spla

from ..errors import ConfigError
from ..grid import Grid
from .multigrid import GeometricMultigrid, network_matvec, network_to_csr, pcg

__all__ = ["DarcyFlow", "DarcySolver", "DIRECT_MAX_VOXELS"]

#: Grids up to this many voxels are solved by sparse LU, larger ones by multigrid-preconditioned CG.
DIRECT_MAX_VOXELS = 10_000


class DarcyFlow:
    """A solved pressure field and the fluxes the transport needs (SI units, float64).

    Attributes
    ----------
    pressure_Pa : ndarray
        Gauge pressure p (0 at the sinks) [Pa].
    qx, qy, qz : ndarray, shapes (nx-1, ny, nz), (nx, ny-1, nz), (nx, ny, nz-1)
        Volumetric flux through the face between voxel i and i+1 along each axis, positive in the
        +axis direction [m³/s].
    sink_box_m3_per_s, sink_surface_m3_per_s, sink_vessel_m3_per_s : ndarray
        Outflow of each voxel to the box faces, to ``OUTSIDE`` neighbours and into the venous
        sink [m³/s] (all >= 0).
    cracked : ndarray of bool
        Voxels cracked by the pressure.
    conductivity_m2_per_Pa_s : ndarray
        K used, cracks applied.
    iterations : list of int
        PCG iterations of each solve of the crack loop (0: sparse LU on a small grid).
    """

    def __init__(self, pressure_Pa, qx, qy, qz, sink_box, sink_surface, sink_vessel, cracked, K, iterations):
        self.pressure_Pa = pressure_Pa
        self.qx, self.qy, self.qz = qx, qy, qz
        self.sink_box_m3_per_s = sink_box
        self.sink_surface_m3_per_s = sink_surface
        self.sink_vessel_m3_per_s = sink_vessel
        self.cracked = cracked
        self.conductivity_m2_per_Pa_s = K
        self.iterations = iterations

    @property
    def sink_m3_per_s(self) -> np.ndarray:
        """Total outflow of each voxel to p = 0 [m³/s]."""
        return self.sink_box_m3_per_s + self.sink_surface_m3_per_s + self.sink_vessel_m3_per_s

    def outflow_m3_per_s(self) -> np.ndarray:
        """Sum of each voxel's outgoing face fluxes and sink outflow [m³/s]."""
        out = self.sink_m3_per_s.copy()
        for ax, q in enumerate((self.qx, self.qy, self.qz)):
            lo = [slice(None)] * 3
            hi = [slice(None)] * 3
            lo[ax] = slice(0, -1)
            hi[ax] = slice(1, None)
            out[tuple(lo)] += np.maximum(q, 0.0)
            out[tuple(hi)] += np.maximum(-q, 0.0)
        return out

    def divergence_m3_per_s(self, source_m3_per_s) -> np.ndarray:
        """Net inflow minus outflow of every voxel [m³/s] (the linear-solver residual)."""
        d = np.asarray(source_m3_per_s, dtype=np.float64) - self.sink_m3_per_s
        for ax, q in enumerate((self.qx, self.qy, self.qz)):
            lo = [slice(None)] * 3
            hi = [slice(None)] * 3
            lo[ax] = slice(0, -1)
            hi[ax] = slice(1, None)
            d[tuple(lo)] -= q
            d[tuple(hi)] += q
        return d

    def velocity_magnitude_m_per_s(self, grid: Grid) -> np.ndarray:
        """|u| at voxel centres from the averaged face fluxes [m/s]."""
        hx, hy, hz = grid.spacing_m
        comps = []
        for ax, (q, area) in enumerate(((self.qx, hy * hz), (self.qy, hx * hz), (self.qz, hx * hy))):
            u = np.zeros(self.pressure_Pa.shape)
            lo = [slice(None)] * 3
            hi = [slice(None)] * 3
            lo[ax] = slice(0, -1)
            hi[ax] = slice(1, None)
            u[tuple(lo)] += 0.5 * q / area
            u[tuple(hi)] += 0.5 * q / area
            comps.append(u)
        return np.sqrt(sum(c * c for c in comps))


class DarcySolver:
    r"""Quasi-steady Darcy pressure on a grid with fixed sinks.

    Parameters
    ----------
    grid : Grid
    fixed_mask : ndarray of bool
        Voxels held at p = 0 (outside the organ). Box faces are always p = 0 (open).
    rtol : float
        PCG stopping rule ``‖b − Ap‖ ≤ rtol ‖b‖``.

    Notes
    -----
    .. math:: \sum_{j\sim i} G_{ij}(p_i - p_j) + g_{0,i}\,p_i = q_i

    with :math:`G_{ij}` the harmonic face conductances and :math:`g_{0,i}` the conductance to
    p = 0 (box faces, fixed neighbours, venous sink).

    Examples
    --------
    >>> g = Grid.cube(16, 1e-3)
    >>> s = DarcySolver(g, np.zeros(g.shape, bool))
    >>> q = np.zeros(g.shape); q[8, 8, 8] = 1e-9
    >>> flow = s.solve(np.full(g.shape, 5e-11), q)
    >>> bool(abs(flow.sink_m3_per_s.sum() - 1e-9) < 1e-6 * 1e-9)  # to the solver tolerance
    True
    """

    def __init__(self, grid: Grid, fixed_mask, *, rtol: float = 1e-8, maxiter: int = 500):
        if not isinstance(grid, Grid):
            raise ConfigError(f"grid = {type(grid).__name__}: must be a tissuefate.grid.Grid")
        fixed = np.asarray(fixed_mask, dtype=bool)
        if fixed.shape != grid.shape:
            raise ConfigError(f"fixed_mask.shape = {fixed.shape} differs from grid.shape = {grid.shape}")
        if fixed.all():
            raise ConfigError("fixed_mask covers the whole grid: there is no tissue to inject into")
        if not 0.0 < rtol <= 1e-3:
            raise ConfigError(f"rtol = {rtol:g}: must be in (0, 1e-3]")
        self.grid = grid
        self.rtol = float(rtol)
        self.maxiter = int(maxiter)
        self.fixed = fixed
        self._active = (~fixed).astype(np.uint8)
        self._p: np.ndarray | None = None

    def _network(self, K):
        """Face conductances between unknown voxels (harmonic mean of the half cells) [m³/(Pa s)].

        Assembled here in NumPy (cheap next to the solve) rather than with the numba assembly of
        :mod:`~tissuefate.physics.multigrid`, so that the leak path of every sink conductance is
        known by construction.
        """
        hx, hy, hz = self.grid.spacing_m
        areas = (hy * hz / hx, hx * hz / hy, hx * hy / hz)
        act = ~self.fixed
        out = []
        for ax in range(3):
            lo = [slice(None)] * 3
            hi = [slice(None)] * 3
            lo[ax] = slice(0, -1)
            hi[ax] = slice(1, None)
            k1, k2 = K[tuple(lo)], K[tuple(hi)]
            with np.errstate(invalid="ignore", divide="ignore"):
                g = np.where(k1 + k2 > 0, 2.0 * k1 * k2 / (k1 + k2), 0.0) * areas[ax]
            out.append(g * (act[tuple(lo)] & act[tuple(hi)]))
        return out

    def _sinks(self, K):
        """Conductances of each unknown voxel to the box faces and to fixed (OUTSIDE) voxels."""
        g_box = np.zeros(self.grid.shape)
        g_surf = np.zeros(self.grid.shape)
        hx, hy, hz = self.grid.spacing_m
        areas = (hy * hz / hx, hx * hz / hy, hx * hy / hz)
        act = ~self.fixed
        for ax in range(3):
            half = 2.0 * K * areas[ax]
            for side in (0, 1):
                edge = [slice(None)] * 3
                edge[ax] = -1 if side else 0
                g_box[tuple(edge)] += half[tuple(edge)]
                me = [slice(None)] * 3
                nb = [slice(None)] * 3
                if side:
                    me[ax], nb[ax] = slice(0, -1), slice(1, None)
                else:
                    me[ax], nb[ax] = slice(1, None), slice(0, -1)
                g_surf[tuple(me)] += half[tuple(me)] * self.fixed[tuple(nb)]
        g_box *= act
        g_surf *= act
        return g_box, g_surf

    def solve(self, K_m2_per_Pa_s, source_m3_per_s, *, vessel_sink_m3_per_Pa_s=None,
              cracked=None) -> DarcyFlow:
        """Pressure and fluxes for conductivity ``K`` and volumetric source ``q`` (one pass).

        Parameters
        ----------
        K_m2_per_Pa_s : ndarray
            Hydraulic conductivity k/μ per voxel [m²/(Pa s)], > 0 in unknown voxels.
        source_m3_per_s : ndarray
            Injected volume rate per voxel [m³/s].
        vessel_sink_m3_per_Pa_s : ndarray, optional
            Conductance of each voxel to venous pressure 0 [m³/(Pa s)].
        cracked : ndarray of bool, optional
            Recorded in the returned flow (K must already include it).
        """
        K = np.ascontiguousarray(K_m2_per_Pa_s, dtype=np.float64)
        q = np.ascontiguousarray(source_m3_per_s, dtype=np.float64)
        gx, gy, gz = self._network(K)
        gv = np.zeros(self.grid.shape) if vessel_sink_m3_per_Pa_s is None else (
            np.asarray(vessel_sink_m3_per_Pa_s, dtype=np.float64) * self._active)
        g_box, g_surf = self._sinks(K)
        g0 = g_box + g_surf + gv
        b = q * self._active
        act = self._active
        # scale to O(1) conductances: the float32 multigrid hierarchy and SuperLU prefer it
        scale = 1.0 / max(float(np.max(g0)), float(gx.max(initial=0.0)), 1e-300)
        net = (gx * scale, gy * scale, gz * scale, g0 * scale)
        # (A·scale)(p/scale) = b: solve for p_s = p/scale
        if self.grid.n_voxels <= DIRECT_MAX_VOXELS:
            # small grids: a sparse LU is exact and avoids the parallel launches of the multigrid
            p_s = spla.spsolve(network_to_csr(*net, act).tocsc(), b.ravel()).reshape(b.shape) * act
            its = 0
        else:
            mg = GeometricMultigrid(*net, act)
            x0 = np.zeros(self.grid.shape) if self._p is None else self._p * act / scale  # warm start
            p_s, its = pcg(lambda v: network_matvec(*net, act, v), b, x0, mg.precondition, rtol=self.rtol,
                           maxiter=self.maxiter)
        p = p_s * scale
        p[self.fixed] = 0.0
        self._p = p
        qx = gx * (p[:-1] - p[1:])
        qy = gy * (p[:, :-1] - p[:, 1:])
        qz = gz * (p[:, :, :-1] - p[:, :, 1:])
        cr = np.zeros(self.grid.shape, bool) if cracked is None else cracked
        return DarcyFlow(p, qx, qy, qz, g_box * p, g_surf * p, gv * p, cr, K, [its])

    def solve_cracking(self, K_m2_per_Pa_s, source_m3_per_s, *, crack_pressure_Pa, crack_factor: float,
                       crackable, vessel_sink=None, max_iterations: int = 12) -> DarcyFlow:
        """:meth:`solve` repeated while new voxels exceed the crack pressure.

        Parameters
        ----------
        crack_pressure_Pa : float or ndarray
            A crackable voxel whose pressure exceeds it cracks [Pa] (scalar or per voxel).
        crack_factor : float
            Multiplier of K in cracked voxels [1] (>= 1).
        crackable : ndarray of bool
            Voxels that may crack (tissue; not vessels, not outside).
        vessel_sink : callable, optional
            ``K -> vessel sink conductance`` [m³/(Pa s)] (recomputed when K changes).
        max_iterations : int
            Solves at most; the last flow is returned either way.
        """
        K0 = np.asarray(K_m2_per_Pa_s, dtype=np.float64)
        cracked = np.zeros(self.grid.shape, bool)
        its: list[int] = []
        K = K0
        flow = None
        for _ in range(max(1, int(max_iterations))):
            K = np.where(cracked, K0 * crack_factor, K0)
            gv = vessel_sink(K) if vessel_sink is not None else None
            flow = self.solve(K, source_m3_per_s, vessel_sink_m3_per_Pa_s=gv, cracked=cracked.copy())
            its += flow.iterations
            new = (flow.pressure_Pa > crack_pressure_Pa) & crackable & ~cracked
            if not new.any() or crack_factor == 1.0:
                break
            cracked |= new
        flow.iterations = its
        return flow
