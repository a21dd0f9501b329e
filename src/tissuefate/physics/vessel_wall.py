r"""Large-vessel heat sink with a convective wall, for the Pennes solver.

Blood in a large vessel is taken as well mixed at arterial temperature :math:`T_a`; heat leaves
the tissue through the vessel wall with the convective coefficient of fully developed laminar
pipe flow,

.. math:: h_w = \mathrm{Nu}\,k_b / D ,

in series with conduction through the tissue half-cell between the tissue voxel's centre and
the wall (the voxel face between tissue and vessel). Per unit wall area the flux out of a
tissue voxel next to the vessel is therefore

.. math:: q = U\,(T_i - T_a),\qquad \frac{1}{U} = \frac{h_a}{2k_i} + \frac{1}{h_w},

with :math:`h_a` the spacing normal to the face and :math:`k_i` the tissue's conductivity.

Why not lower the vessel's conductivity? The solver's face conductivity is the arithmetic mean
of its two voxels, so a face to a vessel voxel conducts at least :math:`k_i/2` whatever the
vessel's k: the resistance :math:`h_a\cdot 2/(k_i + k_v)` between the tissue centre and a
Dirichlet vessel centre can be raised only up to :math:`2h_a/k_i`. Two discretisations are
used, chosen per rim voxel (a vessel voxel with a non-vessel face neighbour):

* **wall node** (:math:`1/U > 2h_a/k_i`: a thin-resolved wall, the usual case at ≤ 1 mm):
  the rim voxel is a free node with conductivity 0, so each tissue face conducts
  :math:`k_i/2` (resistance :math:`2h_a/k_i`), and it exchanges heat with blood at
  :math:`T_a` through a perfusion-like coefficient (the kernels' ``perf`` term) worth the
  remaining resistance, :math:`1/g = 1/U - 2h_a/k_i` per face. Interior vessel voxels are
  Dirichlet at :math:`T_a` with conductivity 0, so the rim faces to them carry nothing (the
  whole sink path is the exchange term) and neighbouring rim nodes do not short each other.
  The node's heat capacity is raised where needed so that its explicit rate
  :math:`\Sigma(\ldots)/(\rho c)` never exceeds the tissue's: the stable time step is
  unchanged, the node relaxes within about a time step and stores negligible heat.
* **Dirichlet rim** (:math:`1/U \le 2h_a/k_i`: coarse grid or a thin vessel): the rim voxel
  stays a Dirichlet voxel at :math:`T_a` with the conductivity that makes the arithmetic-mean
  face equal :math:`U h_a`, :math:`k_v = 2h_aU - k_i \in [0, 3k_i]`.

For a wall aligned with the grid both give the exact steady flux of the series resistance
(verified to rounding, tests/reference/test_vessel_wall.py). A staircase wall has more face
area than the true wall (4/π on a cylinder), so the film term of each face is weighted by
:math:`w = |n|_2/|n|_1` of the local wall normal; with it the sink power of an 8-mm cylinder
converges (−2.4 %, +1.0 %, +0.5 % at 1, 0.5, 0.25 mm; unweighted ≈ +7 % at 0.5 and 0.25 mm). A
rim node shared by several tissue faces couples them weakly, and its temperature is an
auxiliary quantity, colder than the real wall (the zone reports may count a rim voxel as
heated tissue only when the wall itself would be far hotter). The vessel diameter is the
local thickness of the vessel mask (largest inscribed ball containing the voxel; within about
a voxel of the true diameter), unless given.

Parameters: ``BLOOD["vessel_wall_nusselt"]`` (4.36, fully developed laminar flow, textbook
value [R]; 3.66 at uniform wall temperature; a thermally developing boundary layer has a
higher local Nu, so this is the weak end of the sink) and ``BLOOD["thermal_conductivity_W_per_mK"]``
(0.52 W/(m K) [R]); for an 8-mm vessel h_w ≈ 283 W/(m² K) [C].

Perfect sink (the previous model): every vessel voxel Dirichlet at :math:`T_a` with tissue
conductivity, i.e. :math:`1/U = h_a/k_i` (cold surface at the vessel voxel's centre), with no
wall resistance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..errors import ConfigError
from ..grid import Grid
from ..tissue.properties import BLOOD

__all__ = ["VesselWallSink", "vessel_wall_sink", "wall_heat_transfer_coefficient", "local_diameter_m"]


def wall_heat_transfer_coefficient(diameter_m, *, nusselt: float | None = None,
                                   blood_conductivity_W_per_mK: float | None = None):
    r"""Convective heat-transfer coefficient of a vessel wall, :math:`h_w = \mathrm{Nu}\,k_b/D`
    [W/(m² K)].

    Parameters
    ----------
    diameter_m : float or ndarray
        Vessel diameter [m], > 0.
    nusselt : float, optional
        Nusselt number [1]; default ``BLOOD["vessel_wall_nusselt"]`` (4.36, fully developed
        laminar flow, textbook value [R]).
    blood_conductivity_W_per_mK : float, optional
        Default ``BLOOD["thermal_conductivity_W_per_mK"]``.

    Examples
    --------
    >>> round(float(wall_heat_transfer_coefficient(8e-3)), 1)   # 4.36 * 0.52 / 8 mm
    283.4
    """
    nu = BLOOD["vessel_wall_nusselt"].value if nusselt is None else float(nusselt)
    kb = (BLOOD["thermal_conductivity_W_per_mK"].value if blood_conductivity_W_per_mK is None
          else float(blood_conductivity_W_per_mK))
    d = np.asarray(diameter_m, dtype=np.float64)
    if not (np.all(np.isfinite(d)) and np.all(d > 0)):
        raise ConfigError(f"vessel diameter_m = {diameter_m}: must be finite and > 0 m")
    if not (nu > 0 and kb > 0):
        raise ConfigError(f"nusselt = {nu:g}, blood conductivity = {kb:g} W/(m K): both must be > 0")
    return nu * kb / d


def local_diameter_m(vessel_mask, grid: Grid) -> np.ndarray:
    r"""Local vessel diameter [m] per vessel voxel (0 elsewhere): the diameter of the largest
    ball inscribed in the vessel that contains the voxel ("local thickness").

    The inscribed radius at a voxel is its distance to the nearest non-vessel voxel centre
    (rounded to half a voxel): the voxel centres of a rasterised cylinder of radius R lie
    within R and the nearest centre outside lies just beyond R, so a cylinder of diameter D
    comes out within about one voxel of D.

    Examples
    --------
    >>> from tissuefate.grid import Grid
    >>> g = Grid((25, 25, 6), (1e-3,) * 3)
    >>> x, y, _ = g.coordinates_m()
    >>> m = np.broadcast_to((x - 12e-3) ** 2 + (y - 12e-3) ** 2 <= (4e-3) ** 2, g.shape)
    >>> np.unique(local_diameter_m(m, g)[m]) * 1e3    # an 8-mm vessel on a 1-mm grid
    array([8.])
    """
    m = np.asarray(vessel_mask, dtype=bool)
    out = np.zeros(m.shape)
    if not m.any():
        return out
    sp = np.asarray(grid.spacing_m, dtype=np.float64)
    h = float(sp.min())
    # work on the vessel's bounding box plus one voxel; a vessel that reaches the box face
    # continues beyond it (edge padding), it does not end there
    idx = np.nonzero(m)
    lo = [max(int(i.min()) - 1, 0) for i in idx]
    hi = [min(int(i.max()) + 2, n) for i, n in zip(idx, m.shape, strict=True)]
    box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
    mb = np.pad(m[box], 1, mode="edge")
    edt = ndimage.distance_transform_edt(mb, sampling=sp)
    r = np.where(mb, np.round(edt / (0.5 * h)) * 0.5 * h, 0.0)
    d = np.zeros(mb.shape)
    # radii in half-voxel bins, largest first: a voxel within ρ of a centre whose inscribed
    # radius is ≥ ρ lies in a ball of diameter ≥ 2ρ
    for rho in np.unique(r[mb])[::-1]:
        centres = r >= rho
        near = ndimage.distance_transform_edt(~centres, sampling=sp) <= rho + 1e-9 * h
        d = np.where(mb & near & (d == 0), 2.0 * rho, d)
    out[box] = d[1:-1, 1:-1, 1:-1]
    return out


@dataclass
class VesselWallSink:
    """What :class:`~tissuefate.physics.bioheat.BioheatModel` needs for convective vessels.

    Attributes
    ----------
    dirichlet_mask : ndarray of bool
        Vessel voxels held at arterial temperature (interior, and Dirichlet rim voxels).
    conductivity_W_per_mK : ndarray
        The conductivity map with vessel voxels set as described in the module notes.
    inv_rho_c : ndarray
        1/(ρc) with wall-node capacities raised where needed [m³ K/J].
    exchange_per_s : ndarray
        Exchange coefficient of the wall nodes to arterial temperature [1/s] (0 elsewhere);
        pass as ``BioheatModel(..., exchange_per_s=...)``: unlike perfusion it is never shut
        down by damage.
    wall_nodes : ndarray of bool
        Rim voxels discretised as free wall nodes.
    h_wall_W_per_m2K : ndarray
        h_w per rim voxel [W/(m² K)] (0 elsewhere).
    diameter_m : ndarray
        Vessel diameter used per vessel voxel [m].
    """

    dirichlet_mask: np.ndarray
    conductivity_W_per_mK: np.ndarray
    inv_rho_c: np.ndarray
    exchange_per_s: np.ndarray
    wall_nodes: np.ndarray
    h_wall_W_per_m2K: np.ndarray
    diameter_m: np.ndarray

    def summary(self) -> dict:
        """Counts and the range of h_w (JSON-serialisable)."""
        rim = self.h_wall_W_per_m2K > 0
        hw = self.h_wall_W_per_m2K[rim]
        return {
            "wall_nodes": int(self.wall_nodes.sum()),
            "dirichlet_rim": int((rim & ~self.wall_nodes).sum()),
            "dirichlet_interior": int((self.dirichlet_mask & ~rim).sum()),
            "h_wall_W_per_m2K": [round(float(hw.min()), 1), round(float(hw.max()), 1)] if hw.size else None,
        }


def _shift(a, axis: int, step: int, fill):
    """``a`` shifted so that out[i] = a[i + step] along ``axis`` (``fill`` beyond the edge)."""
    out = np.full_like(a, fill)
    src = [slice(None)] * a.ndim
    dst = [slice(None)] * a.ndim
    if step > 0:
        src[axis], dst[axis] = slice(step, None), slice(None, -step)
    else:
        src[axis], dst[axis] = slice(None, step), slice(-step, None)
    out[tuple(dst)] = a[tuple(src)]
    return out


def vessel_wall_sink(grid: Grid, vessel_mask, conductivity_W_per_mK, inv_rho_c, *, diameter_m=None,
                     nusselt: float | None = None, blood_conductivity_W_per_mK: float | None = None,
                     fixed_mask=None) -> VesselWallSink:
    r"""Convective-wall discretisation of large vessels for the Pennes solver.

    Parameters
    ----------
    grid : Grid
    vessel_mask : ndarray of bool
        Large-vessel voxels (blood at arterial temperature).
    conductivity_W_per_mK, inv_rho_c : ndarray
        The thermal maps [W/(m K)], [m³ K/J]; not modified.
    diameter_m : float or ndarray, optional
        Vessel diameter [m] (scalar, or a grid array read at the vessel voxels); default
        :func:`local_diameter_m`.
    nusselt, blood_conductivity_W_per_mK : float, optional
        See :func:`wall_heat_transfer_coefficient`.
    fixed_mask : ndarray of bool, optional
        Other voxels the solver holds at a fixed temperature (a cooled electrode). They are left
        out of the tissue conduction rate that caps the wall nodes' rate: the solver's stable
        step ignores them, and a cooled electrode's raised conductivity (up to 3 k_tissue,
        therapy.session) would otherwise let the nodes run twice as fast as the tissue and halve
        the step.

    Returns
    -------
    VesselWallSink

    Notes
    -----
    For a rim voxel v and each of its faces f to a non-vessel voxel (conductivity
    :math:`k_f`, spacing :math:`h_f` normal to the face, area :math:`A_f = \Delta V/h_f`):

    .. math:: R_f = \frac{h_f}{2k_f} + \frac{1}{w\,h_w},\qquad
              \frac{1}{g_f} = R_f - \frac{2h_f}{k_f} .

    If every face of v has :math:`1/g_f > 0`, v is a wall node: k = 0, exchange
    :math:`p_v = (\rho c)_v^{-1}\sum_f g_f/h_f` [1/s] to :math:`T_a`. Otherwise v is Dirichlet
    with :math:`k_v = \mathrm{mean}_f(2h_f/R_f - k_f)`, clipped at 0. Interior vessel voxels:
    Dirichlet, k = 0. Faces of a wall node to a Dirichlet rim voxel (where calibre or wall
    orientation switches the discretisation) conduct :math:`k_v/2` and are subtracted from its
    exchange. A wall node's 1/(ρc) is lowered, if needed, so that
    :math:`(\rho c)_v^{-1}\sum_f (k_f/(2h_f^2) + g_f/h_f)` does not exceed the largest
    conduction rate of the non-vessel, non-fixed voxels (the explicit step is not shortened).

    The film weight :math:`w = |n|_2/|n|_1 \in [1/\sqrt 3, 1]` (n: local wall normal, the
    gradient of the vessel mask smoothed over one voxel) makes the faces of a staircase wall
    carry the film conductance of the true wall area (on a cylinder Σ faces = 4/π × area);
    w = 1 on a grid-aligned wall.

    Examples
    --------
    >>> g = Grid((12, 5, 5), (1e-3,) * 3)
    >>> v = np.zeros(g.shape, bool); v[:4] = True
    >>> w = vessel_wall_sink(g, v, np.full(g.shape, 0.5), np.full(g.shape, 2.6e-7), diameter_m=8e-3)
    >>> w.summary()["wall_nodes"], bool(w.dirichlet_mask[2, 2, 2]), bool(w.dirichlet_mask[3, 2, 2])
    (25, True, False)
    """
    from .bioheat import _max_conduction_rate_per_s

    vessel = np.asarray(vessel_mask, dtype=bool)
    if vessel.shape != grid.shape:
        raise ConfigError(f"vessel_mask has shape {vessel.shape}, grid is {grid.shape}")
    k_in = np.asarray(conductivity_W_per_mK)
    inv_in = np.asarray(inv_rho_c)
    k = np.array(k_in, copy=True)
    inv = np.array(inv_in, copy=True)
    exch = np.zeros(grid.shape, dtype=k.dtype)
    zeros_b = np.zeros(grid.shape, dtype=bool)
    if not vessel.any():
        return VesselWallSink(zeros_b, k, inv, exch, zeros_b.copy(), np.zeros(grid.shape), np.zeros(grid.shape))

    if diameter_m is None:
        diam = local_diameter_m(vessel, grid)
    else:
        d = np.asarray(diameter_m, dtype=np.float64)
        diam = np.where(vessel, d if d.ndim == 0 else d.reshape(grid.shape), 0.0)
    hw = np.zeros(grid.shape)
    hw[vessel] = wall_heat_transfer_coefficient(diam[vessel], nusselt=nusselt,
                                                blood_conductivity_W_per_mK=blood_conductivity_W_per_mK)

    # the film is a surface property: a staircase rim has Σ_a|n_a| ≥ 1 times the true area per
    # unit face area (4/π on a cylinder), so each face gets the film weight w = |n|₂/|n|₁ with n
    # the local wall normal (gradient of the smoothed vessel mask); w = 1 on a grid-aligned wall
    sp = np.asarray(grid.spacing_m, dtype=np.float64)
    smooth = ndimage.gaussian_filter(vessel.astype(np.float64), sigma=tuple(float(sp.min()) / sp))
    grad = np.gradient(smooth, *sp) if min(grid.shape) > 1 else [np.zeros(grid.shape)] * 3
    l1 = sum(np.abs(gc) for gc in grad)
    l2 = np.sqrt(sum(gc * gc for gc in grad))
    w_film = np.where(l1 > 0, l2 / np.where(l1 > 0, l1, 1.0), 1.0)

    k64 = k_in.astype(np.float64)
    n_faces = np.zeros(grid.shape, dtype=np.int64)
    sum_g_over_h = np.zeros(grid.shape)        # Σ g_f / h_f [W/(m³ K)]
    sum_cond = np.zeros(grid.shape)            # Σ k_f / (2 h_f²) [W/(m³ K)]
    sum_kv = np.zeros(grid.shape)              # Σ (2 h_f / R_f − k_f) [W/(m K)]
    node_ok = vessel.copy()
    for axis, h in enumerate(grid.spacing_m):
        for step in (-1, 1):
            nb_vessel = _shift(vessel, axis, step, True)   # beyond the box: no face
            nb_k = _shift(k64, axis, step, 0.0)
            face = vessel & ~nb_vessel
            if not face.any():
                continue
            kf = np.where(face, nb_k, 1.0)
            if np.any(kf[face] <= 0):
                raise ConfigError("a non-vessel voxel next to a large vessel has conductivity <= 0")
            R = np.where(face, h / (2.0 * kf) + 1.0 / np.where(face, w_film * hw, 1.0), np.inf)
            inv_g = R - 2.0 * h / kf
            n_faces += face
            node_ok &= ~face | (inv_g > 1e-9 * R)
            g = np.where(face & (inv_g > 0), 1.0 / np.where(inv_g > 0, inv_g, 1.0), 0.0)
            sum_g_over_h += g / h
            sum_cond += np.where(face, kf / (2.0 * h * h), 0.0)
            sum_kv += np.where(face, 2.0 * h / R - kf, 0.0)
    rim = vessel & (n_faces > 0)
    nodes = rim & node_ok
    dir_rim = rim & ~node_ok
    interior = vessel & ~rim

    k[interior] = 0.0
    k[nodes] = 0.0
    k[dir_rim] = np.maximum(sum_kv[dir_rim] / n_faces[dir_rim], 0.0)

    # cap the wall nodes' explicit rate at the tissue's largest conduction rate
    inv_h2 = tuple(1.0 / h**2 for h in grid.spacing_m)
    skip = vessel if fixed_mask is None else vessel | np.asarray(fixed_mask, dtype=bool)
    r_tissue = _max_conduction_rate_per_s(k, inv_in, inv_h2, exclude=skip)
    if not r_tissue > 0:
        r_tissue = float(np.max(k64[~vessel]) * 2.0 * sum(inv_h2) * np.max(inv_in[~vessel]))
    # where calibre or wall orientation changes the discretisation, a node touches Dirichlet rim
    # voxels (k_v > 0): those faces already sink k_v/2 each, so the exchange supplies the rest
    lateral = np.zeros(grid.shape)                                     # [W/(m³ K)]
    k_dir = np.where(dir_rim, k.astype(np.float64), 0.0)
    for axis, h in enumerate(grid.spacing_m):
        for step in (-1, 1):
            lateral += _shift(k_dir, axis, step, 0.0) / (2.0 * h * h)
    lateral = lateral[nodes]
    need = sum_cond[nodes] + np.maximum(sum_g_over_h[nodes], lateral)  # (ρc)·rate
    inv_nodes = np.minimum(inv_in[nodes].astype(np.float64), r_tissue / need)
    inv[nodes] = inv_nodes
    exch[nodes] = inv_nodes * np.maximum(sum_g_over_h[nodes] - lateral, 0.0)

    dir_mask = vessel & ~nodes
    hw_rim = np.where(rim, hw, 0.0)
    return VesselWallSink(dir_mask, k, inv, exch, nodes, hw_rim, diam)
