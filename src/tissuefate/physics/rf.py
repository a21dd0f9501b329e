r"""Quasi-static electric potential of radiofrequency ablation (and, later, IRE).

At 460–500 kHz the tissue is resistive and the potential obeys

.. math:: \nabla\cdot(\sigma\nabla\varphi) = 0, \qquad
          Q = \sigma\,|\nabla\varphi|^2\ [\mathrm{W/m^3}]

with the electrode's active voxels held at ``φ = V``. The equation is linear in ``V``, so it is
solved once for ``V = 1`` and scaled: ``φ ∝ V``, ``Q ∝ V²``, the power ``P = V²/Z`` with the
impedance ``Z = 1/P(V=1)``.

Discretisation (cell-centred finite volumes on the voxel grid)
-------------------------------------------------------------
- Unknowns are the voxel-centre potentials of every voxel that is not a fixed-potential voxel.
- Two neighbouring voxels are joined by the face conductance
  ``G = A/h · 2σ₁σ₂/(σ₁+σ₂)`` (harmonic mean: two half-cells in series), so conductivity jumps
  (desiccated shell, vessels, tumour) are handled without smearing.
- Electrode voxels are perfect conductors at ``φ = 1``: the face between a tissue voxel and an
  electrode voxel has conductance ``2σA/h`` (the harmonic mean with σ → ∞), times an optional
  per-axis *well factor* (``electrode_face_factor``). A needle one to three voxels across is
  otherwise as thick as its raster (a 17 G needle at 1 mm: a single voxel line, effective radius
  ≈ 0.44 mm instead of 0.74 mm; at 0.5 mm a 3×3 block, ≈ 0.9 mm), which set the impedance and
  the near field and made RFA sessions grid-dependent; :func:`needle_well_factor` computes the
  factor (a Peaceman well index, matched on the raster's own cross-section) that gives the
  needle its true radius.
- Return electrode: the dispersive ground pads of a clinical RFA are far away; here the return is
  modelled as ``φ = 0`` on the faces of the region-of-interest box (``ground="box-faces"``), again
  through a half-cell ``2σA/h``. This approximation drops the resistance of the tissue beyond
  the box, ≈ 1/(4πσ r) for a box of half-width r. Measured for the 3 cm electrode at
  σ = 0.333 S/m: 39.8 Ω in a 64 mm box, 43.3 Ω in a 128 mm box, ≈ 46.7 Ω extrapolated to an
  infinite medium (R = R∞ − c/r), so a 128 mm box underestimates the impedance by ≈ 7 %; the
  shape of Q near the electrode changes much less. The series resistance of the body and pads
  is not modelled (an impedance-controlled protocol adds it as a constant).
  ``ground="side-faces"`` grounds the x and y faces only (the z faces are insulated, e.g. for a
  long electrode through the box); ``ground="none"`` needs a ``ground_mask`` (a second
  electrode at 0 V, as in bipolar RFA or IRE). ``face_potential`` replaces the zero face value
  by any function (used by the analytic verification tests).
- Non-conducting voxels (the insulated shaft, ``σ = 0`` in
  :func:`tissuefate.tissue.rf_conductivity_map`, frozen tissue) are not eliminated: σ is raised
  to ``SIGMA_FLOOR_REL × max σ`` (1e-6), so such a voxel carries at most a millionth of the
  current of tissue — an insulator to solver precision — and the sparsity pattern never
  depends on σ.
- Joule heating is conservative: the power dissipated in every face, ``G (φ_i − φ_j)²``, is split
  between the two half-cells in proportion to their resistances (``σ_j/(σ_i+σ_j)`` to voxel i),
  and faces to an electrode or to a Dirichlet box face deposit all of it in the tissue voxel.
  Hence ``Σ Q dV`` equals the power delivered through the electrode ``Σ G (1 − φ_i)`` up to the
  solver residual.
- The face conductances of the linear system are stored in float32 (σ is known to two or three
  digits; it halves the memory traffic of the memory-bound solver); vectors, the Krylov method,
  Q and the power are float64.

Solvers
-------
``method="gmg"`` (the default, ``"auto"``): PCG preconditioned by the geometric multigrid V(2,2)
cycle of :mod:`tissuefate.physics.multigrid` (numba, red–black Gauss–Seidel, float32). Its setup
is a few coarsening passes, so it is refreshed for every new σ (only when PCG needs it).
Measured with ``benchmarks/bench_potential.py`` (3 cm electrode, 1 mm voxels, 20 %
heterogeneity, with and without a desiccated shell; 2-core x86 VM, numba 2 threads): at 128³
setup ≈ 0.01 s, cold solve 0.22 s (5–6 iterations), warm re-solve after a 5 % change 0.15–0.18
s (4 iterations); a 40-step heating session costs 5.0 s at rtol 1e-6 and 2.5 s at rtol 1e-4.
pyamg (single-threaded sparse kernels) needs 4.5–5.3 s of setup, 8.4–8.8 s cold and 2.3–2.7 s
warm at 128³, so it is kept as the alternative.

``method="pyamg"``: PCG preconditioned by a pyamg smoothed-aggregation V-cycle on the CSR matrix
over the unknown voxels. Setup is expensive, so the hierarchy is kept across σ changes: for a new
σ only the finest-level matrix is replaced (the coarse levels stay those of the old σ, which
keeps the preconditioner symmetric positive definite), and the hierarchy is rebuilt at the next
solve once the iteration count exceeds ``max(1.5 × n₀, n₀ + 3)``, ``n₀`` being the count of the
first solve after the last rebuild, or immediately if PCG fails to converge.

Both are warm-started from the last potential, or from its linear extrapolation from the last
two solves when that has the smaller residual; the stopping rule is ``‖b − Aφ‖ ≤ rtol ‖b‖``
(relative to the right-hand side, so warm starts save iterations).
When to re-solve at all is the caller's decision; :func:`needs_resolve` is the suggested policy.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numba as nb
import numpy as np
import scipy.sparse as sp

from ..errors import ConfigError, GeometryError, NumericalError
from ..grid import Grid
from .local_potential import box_around, box_size, grow_box, local_resolve, union_box
from .multigrid import (
    GeometricMultigrid,
    assemble_network,
    csr_fill,
    csr_row_counts,
    network_dissipation,
    network_matvec,
    pcg,
    residual_norms_of_guesses,
)
from .needle_well import needle_well_factor  # re-exported: part of the RF electrode model
from .rf_conductivity import (  # re-exported: the RF conductivity law and the re-solve tests
    BODY_TEMPERATURE_K,
    changed_box,
    needs_resolve,
    rf_conductivity,
    rf_conductivity_desiccating,
    update_desiccated,
)

__all__ = [
    "PotentialSolver",
    "rf_conductivity",
    "rf_conductivity_desiccating",
    "update_desiccated",
    "needs_resolve",
    "changed_box",
    "needle_well_factor",
    "BODY_TEMPERATURE_K",
    "SIGMA_FLOOR_REL",
]

#: Conductivities below this fraction of the largest σ are raised to it (insulators).
SIGMA_FLOOR_REL = 1e-6

_METHODS = ("auto", "pyamg", "gmg")
_GROUNDS = ("box-faces", "side-faces", "none")
_DEFAULT_METHOD = "gmg"
_FACE_NAMES = ("x-low", "x-high", "y-low", "y-high", "z-low", "z-high")

# voxel kinds
_UNKNOWN, _ELECTRODE, _GROUND = 0, 1, 2


@nb.njit(parallel=True, cache=True)
def _tissue_sigma_stats(s, kind):  # pragma: no cover - compiled
    # over the unknown voxels (kind 0): count of non-finite values, min and max; per x-plane
    # partials so that the parallel loop has no shared reduction
    nx = s.shape[0]
    bad = np.zeros(nx, np.int64)
    lo = np.full(nx, np.inf)
    hi = np.full(nx, -np.inf)
    for i in nb.prange(nx):
        b = 0
        mn = np.inf
        mx = -np.inf
        for j in range(s.shape[1]):
            for k in range(s.shape[2]):
                if kind[i, j, k] != 0:
                    continue
                v = s[i, j, k]
                if not np.isfinite(v):
                    b += 1
                    continue
                mn = min(mn, v)
                mx = max(mx, v)
        bad[i] = b
        lo[i] = mn
        hi[i] = mx
    return bad.sum(), lo.min(), hi.max()


# --------------------------------------------------------------------------------------------
# pyamg V-cycle (public hierarchy attributes only; pyamg's own aspreconditioner() computes two
# extra residual norms per application)


def _amg_cycle(ml, lvl, x, b):
    lev = ml.levels[lvl]
    A = lev.A
    lev.presmoother(A, x, b)
    cb = lev.R @ (b - A @ x)
    if lvl == len(ml.levels) - 2:
        cx = np.asarray(ml.coarse_solver(ml.levels[-1].A, cb)).reshape(cb.shape)
    else:
        cx = np.zeros_like(cb)
        _amg_cycle(ml, lvl + 1, cx, cb)
    x += lev.P @ cx
    lev.postsmoother(A, x, b)


def _amg_hierarchy(A):
    import pyamg

    return pyamg.smoothed_aggregation_solver(
        A,
        symmetry="hermitian",
        strength=("symmetric", {"theta": 0.0}),
        smooth=("jacobi", {"omega": 4.0 / 3.0}),
        presmoother=("gauss_seidel", {"sweep": "symmetric"}),
        postsmoother=("gauss_seidel", {"sweep": "symmetric"}),
        improve_candidates=None,
        max_coarse=500,
        keep=False,
    )


# --------------------------------------------------------------------------------------------
# solver


class PotentialSolver:
    r"""Solver of ``∇·(σ∇φ) = 0`` with the electrode at 1 V on a fixed grid and electrode.

    Parameters
    ----------
    grid : Grid
        The region-of-interest grid.
    electrode_mask : ndarray of bool, shape ``grid.shape``
        Active (uninsulated) electrode voxels, held at φ = 1 V. It must not touch a grounded
        box face.
    method : {"auto", "gmg", "pyamg"}
        Preconditioner of the CG solver (see module notes); ``"auto"`` picks ``"gmg"``.
    rtol : float
        Stopping rule ``‖b − Aφ‖₂ ≤ rtol ‖b‖₂``.
    ground : {"box-faces", "side-faces", "none"} or tuple of face names
        Where φ = 0 (or ``face_potential``) holds: all six box faces, the four x/y faces (z faces
        insulated), nowhere (then ``ground_mask`` is required), or the named faces among
        ``"x-low", "x-high", "y-low", "y-high", "z-low", "z-high"`` (the others insulated).
    face_potential : callable, optional
        ``f(x_m, y_m, z_m) -> φ`` at the centres of the Dirichlet box faces, for V = 1 (it scales
        with V like everything else). Default 0.
    ground_mask : ndarray of bool, optional
        Voxels of a second electrode held at φ = 0 (bipolar RFA, IRE).
    maxiter : int
        PCG iteration limit (a :class:`~tissuefate.errors.NumericalError` beyond it).
    extrapolate : bool
        Start from ``2φₖ − φₖ₋₁`` instead of ``φₖ`` when its residual is smaller (see
        ``_x0``); in the 40-step heating session of ``benchmarks/bench_potential.py`` this cut
        the mean PCG iterations from 3.8 to 2.3 (rtol 1e-6) and from 2.1 to 0.7 (rtol 1e-4).
    electrode_face_factor, ground_face_factor : float or sequence of 3 float, optional
        Factor on the conductance ``2σA/h`` of the faces between tissue and an electrode (ground
        electrode) voxel, per axis of the face normal (x, y, z): the sub-grid well model of a
        thin needle (:func:`needle_well_factor`). Default 1. Joule heating stays conservative
        (the face's power goes to the tissue voxel).
    electrode_wall_heat_fraction : float
        Fraction of the Joule heat of the faces between tissue and the (active) electrode that
        the electrode takes up instead of the tissue voxel (default 0: Σ Q dV = P). For an
        internally cooled needle 0.5: in the sub-grid annulus between the needle wall and the
        neighbour's equivalent radius the source is ``∝ 1/r²``, uniform in ``ln r``, so with
        both ends at fixed temperature half of it is conducted to the cold wall (the analytic
        radial profile, ``T = T_w + B ln(r/r_w) − A ln²(r/r_w)/(2k)``); the lumped voxel would
        otherwise have to carry it all and would run hotter the coarser the grid. Then
        ``Σ Q dV = P − (wall share)``; :meth:`power_W` is still the generator's power (and
        :meth:`field_magnitude_V_per_m`, derived from Q, is lowered in the electrode's
        neighbours by the same share).

    Attributes
    ----------
    last_iterations : int
        PCG iterations of the last :meth:`solve`.
    last_solve_s, last_setup_s : float
        Wall time of the last solve (setup included) and of its preconditioner setup [s].
    n_setups, n_solves : int
        Preconditioner (re)builds and solves so far.
    last_guess : str
        Initial guess of the last solve: "zero", "previous" or "extrapolated".

    Examples
    --------
    >>> import numpy as np
    >>> from tissuefate.grid import Grid
    >>> from tissuefate.geometry import sphere_mask
    >>> g = Grid.cube(16, 1e-3)
    >>> solver = PotentialSolver(g, sphere_mask(g, (0, 0, 0), 2e-3))
    >>> sigma = np.full(g.shape, 0.333)
    >>> phi = solver.solve(sigma)
    >>> bool(phi.max() == 1.0 and phi.min() > 0.0)
    True
    >>> q = solver.joule_heating_W_per_m3(sigma, phi)
    >>> P = solver.power_W(sigma, phi)
    >>> bool(abs(q.sum() * g.voxel_volume_m3 - P) < 1e-4 * P)
    True
    """

    #: Rebuild the pyamg hierarchy once iterations exceed max(factor × n₀, n₀ + slack).
    AMG_REBUILD_FACTOR = 1.5
    AMG_REBUILD_SLACK = 3

    def __init__(
        self,
        grid: Grid,
        electrode_mask,
        *,
        method: str = "auto",
        rtol: float = 1e-6,
        ground: str = "box-faces",
        face_potential: Callable | None = None,
        ground_mask=None,
        maxiter: int = 500,
        extrapolate: bool = True,
        electrode_face_factor=None,
        ground_face_factor=None,
        electrode_wall_heat_fraction: float = 0.0,
    ):
        if not isinstance(grid, Grid):
            raise ConfigError(f"grid = {type(grid).__name__}: must be a tissuefate.grid.Grid")
        if method not in _METHODS:
            raise ConfigError(f"method = {method!r}: must be one of {list(_METHODS)}")
        if isinstance(ground, str):
            if ground not in _GROUNDS:
                raise ConfigError(
                    f"ground = {ground!r}: must be one of {list(_GROUNDS)} or a tuple of face "
                    f"names from {list(_FACE_NAMES)}"
                )
            faces = {"box-faces": _FACE_NAMES, "side-faces": _FACE_NAMES[:4], "none": ()}[ground]
        else:
            faces = tuple(ground)
            bad = [f for f in faces if f not in _FACE_NAMES]
            if bad:
                raise ConfigError(f"ground faces {bad}: must be names from {list(_FACE_NAMES)}")
        if not (0.0 < float(rtol) <= 1e-2):
            raise ConfigError(f"rtol = {rtol}: must be in (0, 1e-2]; 1e-6 is the default")
        self.grid = grid
        self.method = _DEFAULT_METHOD if method == "auto" else method
        self.rtol = float(rtol)
        self.ground = ground
        self.maxiter = int(maxiter)
        mask = self._check_mask(electrode_mask, "electrode_mask")
        kind = np.zeros(grid.shape, np.uint8)
        kind[mask] = _ELECTRODE
        if ground_mask is not None:
            gm = self._check_mask(ground_mask, "ground_mask")
            if np.any(gm & mask):
                raise GeometryError(
                    f"ground_mask and electrode_mask share {int(np.sum(gm & mask))} voxels: "
                    "the two electrodes must not overlap"
                )
            kind[gm] = _GROUND
        elif not faces:
            raise ConfigError(
                f"ground = {ground!r} grounds no box face and there is no ground_mask: the "
                'current has no return path; use "box-faces" or pass a ground_mask'
            )
        self._dflag = np.array([f in faces for f in _FACE_NAMES], dtype=np.bool_)
        for f in range(6):
            ax, side = divmod(f, 2)
            sl = [slice(None)] * 3
            sl[ax] = -1 if side else 0
            if self._dflag[f] and np.any(kind[tuple(sl)] != 0):
                raise GeometryError(
                    f"electrode voxels touch the grounded {_FACE_NAMES[f]} face of the "
                    f"{grid.shape} box (axis {'xyz'[ax]}, "
                    f"index {grid.shape[ax] - 1 if side else 0}): "
                    "enlarge the region of interest or move the applicator away from the edge"
                )
        self._kind = kind
        self._fixv = (kind == _ELECTRODE).astype(np.float64)
        self._efac = np.ones((3, 3))
        for row, fac, name in ((_ELECTRODE, electrode_face_factor, "electrode_face_factor"),
                               (_GROUND, ground_face_factor, "ground_face_factor")):
            if fac is not None:
                f = np.broadcast_to(np.asarray(fac, dtype=np.float64), (3,))
                if not np.all(np.isfinite(f) & (f > 0)):
                    raise ConfigError(f"{name} = {fac}: must be positive and finite (per axis x, y, z)")
                self._efac[row] = f
        wf = float(electrode_wall_heat_fraction)
        if not 0.0 <= wf <= 1.0:
            raise ConfigError(f"electrode_wall_heat_fraction = {wf}: must be in [0, 1]")
        self._keep = np.array([1.0, 1.0 - wf, 1.0])
        self._faces = self._face_values(face_potential)
        self._zero_faces = not any(np.any(f) for f in self._faces)
        # the electrode and its neighbours: always inside the box of a local re-solve
        self._electrode_box = box_around(kind == _ELECTRODE, 1)
        self._active = (kind == _UNKNOWN).astype(np.uint8)
        self.n_unknowns = int(self._active.sum())
        if self.n_unknowns == 0:
            raise GeometryError("the electrodes fill the whole grid: nothing to solve for")
        self.extrapolate = bool(extrapolate)
        self.last_guess = "zero"
        self._phi: np.ndarray | None = None
        self._pcg_bufs: list[np.ndarray] | None = None
        self._phi_prev: np.ndarray | None = None
        self._net = None
        self._mv_buf: np.ndarray | None = None  # output of the PCG matvec, reused
        self._rhs = None
        self._mg: GeometricMultigrid | None = None
        self._ml = None
        self._ml_ref_iters: int | None = None
        self._ml_rebuild = False
        self._csr_struct = None
        self.last_iterations = 0
        self.last_solve_s = 0.0
        self.last_setup_s = 0.0
        self.n_setups = 0
        self.n_solves = 0
        self.n_local_solves = 0
        self._phi_scale = 1.0  # φ of the unknowns = _phi_scale × _phi (heating_near)
        self._local_cache: dict = {}
        self._last: dict | None = None
        self._sigma_max = 0.0

    # ---------------------------------------------------------------- validation

    def _check_mask(self, m, name) -> np.ndarray:
        if m is None:
            raise GeometryError(f"{name} is None: pass a boolean array of shape {self.grid.shape}")
        m = np.asarray(m)
        if m.shape != self.grid.shape:
            raise GeometryError(
                f"{name}.shape = {m.shape} differs from grid.shape = {self.grid.shape}: "
                "rasterise the electrode on the solver's grid"
            )
        if m.dtype != np.bool_:
            if not np.all((m == 0) | (m == 1)):
                raise ConfigError(f"{name} must be boolean (or 0/1); got dtype {m.dtype}")
            m = m.astype(bool)
        if not m.any():
            raise GeometryError(
                f"{name} has no voxels: the electrode lies outside the grid or is thinner than "
                "a voxel (segment_mask raises thin needles to half a voxel)"
            )
        return m

    def _face_values(self, fn):
        g = self.grid
        nx, ny, nz = g.shape
        shapes = [(ny, nz), (ny, nz), (nx, nz), (nx, nz), (nx, ny), (nx, ny)]
        if fn is None:
            return tuple(np.zeros(s) for s in shapes)
        out = []
        x, y, z = (g.axis_m(a) for a in range(3))
        for f in range(6):
            ax, side = divmod(f, 2)
            edge = (
                g.origin_m[ax] - 0.5 * g.spacing_m[ax]
                if side == 0
                else g.origin_m[ax] + (g.shape[ax] - 0.5) * g.spacing_m[ax]
            )
            c = [x, y, z]
            c[ax] = np.array([edge])
            X, Y, Z = np.meshgrid(*c, indexing="ij")
            v = np.asarray(fn(X, Y, Z), dtype=np.float64)
            v = np.broadcast_to(v, X.shape).squeeze(axis=ax)
            if not np.all(np.isfinite(v)):
                raise ConfigError(f"face_potential is not finite on the {_FACE_NAMES[f]} face")
            out.append(np.ascontiguousarray(v.reshape(shapes[f])))
        return tuple(out)

    def _sigma(self, sigma) -> tuple[np.ndarray, bool]:
        s = np.asarray(sigma)
        if s.shape != self.grid.shape:
            raise ConfigError(
                f"sigma_S_per_m.shape = {s.shape} differs from grid.shape = {self.grid.shape}"
            )
        is32 = s.dtype == np.float32
        s = np.ascontiguousarray(s, dtype=np.float64)
        n_bad, lo, hi = _tissue_sigma_stats(s, self._kind)
        if n_bad:
            raise ConfigError("sigma_S_per_m has NaN or infinite values in tissue voxels")
        lo, hi = float(lo), float(hi)
        self._sigma_max = hi
        if lo < 0:
            raise ConfigError(f"sigma_S_per_m has a negative value ({lo:g} S/m): must be >= 0")
        if hi <= 0:
            raise ConfigError("sigma_S_per_m is zero in every tissue voxel: no current can flow")
        floor = SIGMA_FLOOR_REL * hi
        if lo < floor:
            s = np.maximum(s, floor)
        return s, is32

    def _network(self, sigma):
        """Conductance network of σ (float32 conductances, float64 right-hand side), written
        into buffers that are reused from solve to solve."""
        s, is32 = self._sigma(sigma)
        nx, ny, nz = s.shape
        if self._net is None:
            f4 = np.float32
            self._net = (
                np.empty((nx - 1, ny, nz), f4),
                np.empty((nx, ny - 1, nz), f4),
                np.empty((nx, ny, nz - 1), f4),
                np.empty(s.shape, f4),
            )
            self._rhs = np.empty(s.shape)
        gx, gy, gz, g0 = self._net
        hx, hy, hz = self.grid.spacing_m
        assemble_network(
            s,
            self._kind,
            self._fixv,
            self._efac,
            hx,
            hy,
            hz,
            self._dflag,
            *self._faces,
            gx,
            gy,
            gz,
            g0,
            self._rhs,
        )
        return s, is32, self._net, self._rhs

    # ---------------------------------------------------------------- matrix

    def _csr(self, net) -> sp.csr_matrix:
        if self._csr_struct is None:
            counts = np.zeros(self.grid.shape, np.int64)
            csr_row_counts(self._kind, counts)
            rows = counts[self._active != 0]
            indptr = np.zeros(self.n_unknowns + 1, np.int64)
            np.cumsum(rows, out=indptr[1:])
            idx = np.full(self.grid.shape, -1, np.int64)
            idx[self._active != 0] = np.arange(self.n_unknowns)
            dt = np.int32 if indptr[-1] < 2**31 - 1 else np.int64
            self._csr_struct = (idx, indptr.astype(dt), np.empty(int(indptr[-1]), dt))
        idx, indptr, indices = self._csr_struct
        data = np.empty(indices.shape[0])
        gx, gy, gz, g0 = net
        csr_fill(gx, gy, gz, g0, self._kind, idx, indptr, indices, data)
        n = self.n_unknowns
        A = sp.csr_matrix((data, indices, indptr), shape=(n, n))
        A.has_sorted_indices = True
        return A

    def assemble(self, sigma_S_per_m) -> tuple[sp.csr_matrix, np.ndarray]:
        """The system ``A φ_u = b`` over the unknown voxels (C order of the grid) for V = 1.

        ``A`` is symmetric positive definite [S]; ``b`` [A] holds the currents injected by the
        fixed potentials.
        """
        _, _, net, b = self._network(sigma_S_per_m)
        return self._csr(net), b[self._active != 0]

    # ---------------------------------------------------------------- solve

    def solve(self, sigma_S_per_m, rtol: float | None = None) -> np.ndarray:
        """Potential φ [V] for 1 V on the electrode, warm-started from the previous solve.

        Parameters
        ----------
        sigma_S_per_m : ndarray, shape ``grid.shape``
            Electrical conductivity [S/m] (float32 or float64; the value in electrode voxels is
            ignored).
        rtol : float, optional
            Tolerance of this solve only (default: the solver's ``rtol``). A loose solve still
            gives an accurate power and impedance: the power is the minimum of the Dirichlet
            energy, so its error is of second order in the error of φ.

        Returns
        -------
        ndarray of float64, shape ``grid.shape``
            1 in electrode voxels, 0 in ground-electrode voxels.
        """
        return self._solve(sigma_S_per_m, rtol)[0].copy()

    def solve_heating(self, sigma_S_per_m, rtol: float | None = None) -> tuple[np.ndarray, np.ndarray, float]:
        """:meth:`solve`, then :meth:`joule_heating_W_per_m3` and :meth:`power_W` of the new φ,
        validating and converting σ once. Returns ``(phi, Q, P)``."""
        phi, q, p = self._solve_heating(sigma_S_per_m, rtol)
        return phi.copy(), q, p

    def heating(self, sigma_S_per_m, rtol: float | None = None) -> tuple[np.ndarray, float]:
        """:meth:`solve_heating` without the copy of φ: ``(Q, P)`` (an RF session's hot path)."""
        return self._solve_heating(sigma_S_per_m, rtol)[1:]

    def _solve_heating(self, sigma_S_per_m, rtol):
        phi, s, is32 = self._solve(sigma_S_per_m, rtol)
        q, cur = self._dissipation_of(s, phi)
        # what heating_near continues from: σ of this solve (a copy is made there if it is the
        # caller's array), its precision and the power
        self._last = {"sigma": s, "owned": not np.may_share_memory(s, sigma_S_per_m), "is32": is32,
                      "power": float(cur)}
        return phi, self._heating(q, is32), float(cur)

    #: Margin [m] of :meth:`heating_near`'s local box around the changed box (rounded up to whole
    #: voxels of the finest spacing: 4 voxels at 1 mm, 3 at 1.5 mm). 12-min RFA sessions with
    #: every re-solve global as the reference (2026-11-27 evening, with the cascade sub-steps of
    #: therapy.session): Ω ≥ 1 volumes within −0.1 … +0.6 % of it at 4 mm and −0.1 … +0.8 % at
    #: 10 mm (the default until then) on six cases (Lee 2009 in vivo and ex vivo, 3-cm ex vivo at 1
    #: and 1.5 mm, 3-cm in vivo at 1.5 mm, the phantom HCC by a vessel), each session 1.6–1.9×
    #: faster at 4 mm. Earlier, on the standard case, 8–16 mm gave volumes within 0.25 %. The
    #: amplitude α of the outer potential (physics.local_potential) is what lets the box be small.
    LOCAL_MARGIN_M = 4e-3
    #: :meth:`heating_near` re-solves globally when its local box would hold more than this
    #: fraction of the grid. Measured on 12-min 3-cm RFA sessions (CPU-2, 2026-11-27): with the
    #: local box at 27 % of a 64³ grid 3.0 s local vs 3.8–4.1 s global, at ≈ 40 % of 56 × 56 × 60
    #: 2.8 vs 3.0–3.3 s (two PCG solves and five dissipation passes over the box against one global
    #: solve): the break-even is near one half.
    LOCAL_MAX_FRACTION = 0.4

    def _margin_vox(self) -> int:
        return max(int(np.ceil(self.LOCAL_MARGIN_M / min(self.grid.spacing_m) - 1e-9)), 1)

    def fits_locally(self, box, margin: int | None = None) -> bool:
        """Whether :meth:`heating_near` would re-solve ``box`` locally (not globally)."""
        m = self._margin_vox() if margin is None else int(margin)
        R = grow_box(union_box(box, self._electrode_box), m, self.grid.shape)
        return box_size(R) <= self.LOCAL_MAX_FRACTION * np.prod(self.grid.shape)

    def heating_near(self, sigma_box, box, *, margin: int | None = None):
        """Heating and power after σ changed only inside ``box``, from a local re-solve.

        Continues from the last :meth:`heating` (or :meth:`solve_heating`): σ is that solve's
        with ``sigma_box`` in ``box``; φ is re-solved in ``box`` grown by ``margin`` voxels
        (default :attr:`LOCAL_MARGIN_M` in voxels) with φ held outside, and the power is the old one plus
        the change of the Dirichlet energy (second-order accurate;
        :mod:`tissuefate.physics.local_potential`). When that local box would hold more than
        :attr:`LOCAL_MAX_FRACTION` of the grid, the whole network is re-solved instead.

        Parameters
        ----------
        sigma_box : ndarray, shape of ``box``
            The new conductivity [S/m] in ``box``.
        box : tuple of three slices
            With explicit, in-grid bounds and unit step.

        Returns
        -------
        region : tuple of slices
            Where the heating changed (the whole grid after a global re-solve).
        q : ndarray, shape of ``region``
            New heating [W/m³] at V = 1 there (float32 if the last solve's σ was).
        power : float
            Power at V = 1 [W] (= 1/impedance).
        outer_factor : float
            Factor on the heating outside ``region`` (the potential there changes in amplitude
            only; 1 after a global re-solve).
        """
        last = self._last
        if last is None:
            raise ConfigError("heating_near continues from a previous heating(): call heating() first")
        shape = self.grid.shape
        if (not isinstance(box, tuple) or len(box) != 3
                or any(not isinstance(b, slice) or b.step not in (None, 1) or b.start is None
                       or b.stop is None or not 0 <= b.start < b.stop <= n for b, n in zip(box, shape, strict=True))):
            raise ConfigError(f"box = {box}: must be three slices with bounds inside the grid {shape}")
        sb = np.asarray(sigma_box, dtype=np.float64)
        want = tuple(b.stop - b.start for b in box)
        if sb.shape != want:
            raise ConfigError(f"sigma_box.shape = {sb.shape} differs from the box's shape {want}")
        if not np.all(np.isfinite(sb)) or np.any(sb < 0):
            raise ConfigError("sigma_box has NaN, infinite or negative values: σ must be finite and >= 0")
        m = self._margin_vox() if margin is None else int(margin)
        if m < 1:
            raise ConfigError(f"margin = {m} voxels: must be >= 1")
        if not last["owned"]:
            last["sigma"], last["owned"] = last["sigma"].copy(), True
        s = last["sigma"]
        sb = np.maximum(sb, SIGMA_FLOOR_REL * self._sigma_max)  # the floor of the last solve
        if not self.fits_locally(box, m):
            s[box] = sb
            _, q, p = self._solve_heating(s, None)
            self._last["is32"] = last["is32"]
            q = q.astype(np.float32) if last["is32"] else q
            return tuple(slice(0, n) for n in shape), q, p, 1.0
        t0 = time.perf_counter()
        region, q, energy, alpha, its = local_resolve(
            sigma=s, kind=self._kind, fixv=self._fixv, efac=self._efac, keep=self._keep, phi=self._phi,
            spacing=self.grid.spacing_m, dflag=self._dflag, faces=self._faces, box=box, sigma_box=sb,
            margin=m, rtol=self.rtol, energy_W=last["power"], phi_scale=self._phi_scale,
            rescale=self._zero_faces, cache=self._local_cache, include=self._electrode_box)
        last["power"] = energy
        self._phi_scale *= alpha
        self.last_iterations = its
        self.n_local_solves += 1
        self.last_solve_s = time.perf_counter() - t0
        return region, self._heating(q, last["is32"]), energy, alpha * alpha

    def _solve(self, sigma_S_per_m, rtol):
        t0 = time.perf_counter()
        if rtol is not None and not 0.0 < float(rtol) <= 1e-1:
            raise ConfigError(f"rtol = {rtol}: must be in (0, 0.1]")
        s, is32, net, b = self._network(sigma_S_per_m)
        self.last_setup_s = 0.0
        if self._phi_scale != 1.0:  # local re-solves left φ outside their box scaled (heating_near)
            self._phi *= self._phi_scale
            self._phi_scale = 1.0
        # a looser solve than the solver's own reuses the multigrid hierarchy of the last
        # solve (a preconditioner need not be current) and starts from the last φ
        loose = rtol is not None and float(rtol) > self.rtol and self._phi is not None
        keep, self.rtol = self.rtol, (self.rtol if rtol is None else float(rtol))
        try:
            if self.method == "gmg":
                phi = self._solve_gmg(net, b, loose)
            else:
                phi = self._solve_amg(net, b)
        finally:
            self.rtol = keep
        phi[self._kind == _ELECTRODE] = 1.0
        phi[self._kind == _GROUND] = 0.0
        self._phi_prev, self._phi = self._phi, phi
        self.n_solves += 1
        self.last_solve_s = time.perf_counter() - t0
        return phi, s, is32

    def _x0(self, net, b):
        """Initial guess: the last potential, or its linear extrapolation ``2φₖ − φₖ₋₁`` from the
        last two solves when that has the smaller residual. While tissue heats, σ changes by
        similar steps between re-solves (``needs_resolve`` fires every ~2 %), so the
        extrapolation usually halves the remaining error; after an abrupt change (desiccation)
        the residual test falls back to ``φₖ``."""
        self.last_guess = "zero"
        if self._phi is None:
            return np.zeros(self.grid.shape)
        self.last_guess = "previous"
        if self._phi_prev is None or not self.extrapolate:
            return self._phi * self._active
        rx, ry = residual_norms_of_guesses(*net, self._active, b, self._phi, self._phi_prev)
        if ry < rx:
            self.last_guess = "extrapolated"
            return (2.0 * self._phi - self._phi_prev) * self._active
        return self._phi * self._active

    def _solve_gmg(self, net, b, loose: bool = False):
        gx, gy, gz, g0 = net
        act = self._active
        self.last_setup_s = 0.0
        stale = self._mg is not None and not loose  # its coarse levels belong to the previous σ

        if self._pcg_bufs is None:
            # reused float64 buffers: PCG's residual and direction, and two for the
            # preconditioned residual (PCG holds z and its predecessor)
            self._pcg_bufs = [np.empty(self.grid.shape) for _ in range(4)]
        work, zbufs = self._pcg_bufs[:2], self._pcg_bufs[2:]
        turn = [0]

        def precondition(r):
            # the hierarchy is built or refreshed only when PCG needs it: a warm start that
            # already meets rtol costs no setup
            nonlocal stale
            if self._mg is None or stale:
                ts = time.perf_counter()
                if self._mg is None:
                    self._mg = GeometricMultigrid(*net, act)
                else:
                    self._mg.refresh()  # the network buffers were updated in place
                stale = False
                self.last_setup_s = time.perf_counter() - ts
                self.n_setups += 1
            turn[0] ^= 1
            return self._mg.precondition(r, out=zbufs[turn[0]])

        if self._mv_buf is None:
            self._mv_buf = np.empty(self.grid.shape)
        mv_buf = self._mv_buf

        def matvec(v):
            # one reused output: pcg is done with each product before it asks for the next, and
            # a fresh 16 MB array per call at 128³ cost more in page faults than the product
            return network_matvec(gx, gy, gz, g0, act, v, out=mv_buf)

        # the iterate goes into the buffer of φ before last (no longer needed once x0 exists;
        # public methods return copies of φ)
        out = self._phi_prev  # None until the second solve: pcg then allocates
        x0 = np.multiply(self._phi, self._active, out=out) if loose else self._x0(net, b)
        x, its = pcg(matvec, b, x0, precondition, rtol=self.rtol, maxiter=self.maxiter, out=out, work=work)
        self.last_iterations = its
        return x

    def _solve_amg(self, net, b_full):
        A = self._csr(net)
        u = self._active != 0
        b = b_full[u]
        x0 = self._x0(net, b_full)[u]
        fresh = self._ml is None or self._ml_rebuild
        if fresh:
            self._build_amg(A)
        else:
            self._ml.levels[0].A = A
        x, its = self._amg_pcg(A, b, x0)
        if its < 0 and not fresh:
            # the old hierarchy no longer preconditions well enough: rebuild, continue from x
            self._build_amg(A)
            fresh = True
            x, its = self._amg_pcg(A, b, x)
        if its < 0:
            raise NumericalError(
                f"RF potential: PCG (pyamg) did not reach rtol = {self.rtol:g} in "
                f"{self.maxiter} iterations"
            )
        if fresh or self._ml_ref_iters is None:
            self._ml_ref_iters = its
            self._ml_rebuild = False
        elif its > max(
            self.AMG_REBUILD_FACTOR * self._ml_ref_iters,
            self._ml_ref_iters + self.AMG_REBUILD_SLACK,
        ):
            self._ml_rebuild = True
        self.last_iterations = its
        phi = np.zeros(self.grid.shape)
        phi[u] = x
        return phi

    def _build_amg(self, A):
        ts = time.perf_counter()
        self._ml = _amg_hierarchy(A)
        self.last_setup_s += time.perf_counter() - ts
        self.n_setups += 1
        self._ml_ref_iters = None
        self._ml_rebuild = False

    def _amg_pcg(self, A, b, x0):
        ml = self._ml

        def precond(r):
            z = np.zeros_like(r)
            _amg_cycle(ml, 0, z, r)
            return z

        return pcg(
            lambda v: A @ v,
            b,
            x0,
            precond,
            rtol=self.rtol,
            maxiter=self.maxiter,
            raise_on_failure=False,
        )

    # ---------------------------------------------------------------- outputs

    def _dissipation(self, sigma, phi):
        s, is32 = self._sigma(sigma)
        q, cur = self._dissipation_of(s, phi)
        return q, cur, is32

    def _dissipation_of(self, s, phi):
        """Per-voxel dissipation [W] and electrode current [A] at V = 1 for a validated float64 σ."""
        phi = np.ascontiguousarray(phi, dtype=np.float64)
        if phi.shape != self.grid.shape:
            raise ConfigError(
                f"phi.shape = {phi.shape} differs from grid.shape = {self.grid.shape}"
            )
        q = np.empty(s.shape)
        hx, hy, hz = self.grid.spacing_m
        cur = network_dissipation(
            s, self._kind, self._fixv, self._efac, self._keep, phi, hx, hy, hz, self._dflag, *self._faces, q
        )
        return q, float(cur)

    def joule_heating_W_per_m3(self, sigma_S_per_m, phi) -> np.ndarray:
        r"""Joule heating ``Q = σ|∇φ|²`` [W/m³] for V = 1 (multiply by V² for another voltage).

        Computed from face currents, so that ``Σ Q dV`` equals :meth:`power_W` (with grounded
        faces) to solver tolerance. Zero in electrode voxels. float32 if σ was float32.
        """
        q, _, is32 = self._dissipation(sigma_S_per_m, phi)
        return self._heating(q, is32)

    def _heating(self, q, is32: bool) -> np.ndarray:
        """Per-voxel dissipation [W] → heating [W/m³], in σ's precision (in place)."""
        q /= self.grid.voxel_volume_m3
        return q.astype(np.float32) if is32 else q

    def field_magnitude_V_per_m(self, sigma_S_per_m, phi) -> np.ndarray:
        """Electric-field magnitude ``|E| = √(Q/σ)`` [V/m] for V = 1 (×V for another voltage).

        Consistent with :meth:`joule_heating_W_per_m3` (in uniform σ it is the root of the mean
        of the squared face gradients on either side of the voxel, per axis). Zero in electrode
        voxels; float32 if σ was float32.
        """
        q, _, is32 = self._dissipation(sigma_S_per_m, phi)
        s, _ = self._sigma(sigma_S_per_m)
        e = np.sqrt(q / (s * self.grid.voxel_volume_m3))
        e[self._kind != _UNKNOWN] = 0.0
        return e.astype(np.float32) if is32 else e

    def electrode_current_A(self, sigma_S_per_m, phi) -> float:
        """Current leaving the 1 V electrode [A] (= power [W] and 1/impedance [S] at V = 1)."""
        return self._dissipation(sigma_S_per_m, phi)[1]

    def power_W(self, sigma_S_per_m, phi) -> float:
        """Power delivered through the electrode at V = 1 [W] (= 1/impedance; ×V² for V)."""
        return self.electrode_current_A(sigma_S_per_m, phi)

    def impedance_ohm(self, sigma_S_per_m, phi) -> float:
        """Electrode-to-ground impedance ``Z = V²/P`` [Ω]."""
        p = self.power_W(sigma_S_per_m, phi)
        if not p > 0:
            raise NumericalError(
                f"electrode power {p:g} W at 1 V: the electrode carries no current"
            )
        return 1.0 / p
