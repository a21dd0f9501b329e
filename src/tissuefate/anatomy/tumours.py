"""Tumours of the synthetic phantom: specification, shape, placement and capsule.

:class:`TumourSpec` says what tumour to put where; ``_Placer`` draws its shape, finds a centre
that meets the location rule (central, near a vessel, subcapsular or explicit), rasterises it
with its capsule and measures it (:class:`TumourInfo`). The rules are described in
:mod:`tissuefate.anatomy.phantom`, which assembles the phantom.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy import ndimage as ndi
from scipy.spatial import cKDTree

from ..errors import ConfigError, GeometryError
from ..grid import Grid
from ..tissue.labels import Label
from ..tissue.properties import Param
from .organ import OrganShape
from .vessels import VesselSegment, distance_to_vessel_walls_m

if TYPE_CHECKING:
    from .phantom import PhantomSpec

__all__ = [
    "PHANTOM_PARAMS",
    "TUMOUR_TYPES",
    "TUMOUR_LOCATIONS",
    "TumourSpec",
    "TumourInfo",
]

TUMOUR_TYPES = ("hcc", "metastasis")
TUMOUR_LOCATIONS = ("central", "near_vessel", "subcapsular", "explicit")

#: Sourced numbers of the phantom (tags as in ``shared/data/literature.md``).
PHANTOM_PARAMS: dict[str, Param] = {
    "liver_volume_m3": Param(
        1.5e-3,
        "m^3",
        "adult liver 1.2-1.8 L, ~20 x 15 x 12 cm (anatomy texts)",
        "R",
        "target of the organ shape at organ_scale = 1",
    ),
    "hcc_capsule_thickness_m": Param(
        1e-3,
        "m",
        "fibrous capsule of encapsulated HCC, order 1 mm",
        "E",
        "default of TumourSpec.capsule_thickness_mm",
    ),
    "central_min_depth_m": Param(15e-3, "m", "tissuefate definition of a central tumour", "E"),
    "central_min_vessel_gap_m": Param(10e-3, "m", "tissuefate definition of a central tumour", "E"),
    "subcapsular_max_depth_m": Param(
        5e-3, "m", "tissuefate definition of a subcapsular tumour", "E"
    ),
    "tumour_irregularity": Param(
        0.08,
        "1",
        "low-order shape perturbation; estimate",
        "E",
        "amplitude of each Legendre mode relative to the radius",
    ),
}

_MM = 1e-3
_RIGHT_LOBE_MAX_X_M = -10e-3  # "right lobe" for central tumours: right of the portal fissure
_SUBCAPSULAR_MIN_VESSEL_GAP_M = 1e-3


# --------------------------------------------------------------------------------------------
# Specifications and results
# --------------------------------------------------------------------------------------------
@dataclass
class TumourSpec:
    """What tumour to put where.

    Parameters
    ----------
    type : {"hcc", "metastasis"}
        Encapsulated hepatocellular carcinoma (gets a capsule) or a metastasis (none).
    diameter_mm : float
        Equivalent-sphere diameter [mm], > 0 and ≤ 100 mm (and what the organ can hold).
    location : {"central", "near_vessel", "subcapsular", "explicit"}
        Placement rule (see the module docstring).
    position_mm : tuple of 3 float, optional
        Centre in phantom world coordinates [mm]; required for and only for ``"explicit"``.
    vessel_distance_mm : float
        ``"near_vessel"`` only: tumour edge to vessel wall [mm], 0 (abutting) to 20 mm.
    vessel_min_diameter_mm : float
        ``"near_vessel"`` only: minimum calibre of the neighbouring vessel [mm], 3–25 mm.
    surface_distance_mm : float
        ``"subcapsular"`` only: depth of the tumour edge below the organ surface [mm], 0–5 mm.
    capsule_thickness_mm : float, optional
        HCC capsule thickness [mm], 0 (none) to 5 mm; rounded to whole voxels, at least one
        when > 0. Default 1 mm for HCC; a metastasis must have none.
    irregularity : float
        Amplitude of the low-order shape perturbation relative to the radius [1], 0–0.2.
    """

    type: str = "hcc"
    diameter_mm: float = 20.0
    location: str = "central"
    position_mm: tuple[float, float, float] | None = None
    vessel_distance_mm: float = 3.0
    vessel_min_diameter_mm: float = 5.0
    surface_distance_mm: float = 2.0
    capsule_thickness_mm: float | None = None
    irregularity: float = PHANTOM_PARAMS["tumour_irregularity"].value

    def __post_init__(self) -> None:
        self.validate("TumourSpec")

    def validate(self, where: str = "TumourSpec") -> None:
        """Raise :class:`~tissuefate.errors.ConfigError` naming ``where.field`` if invalid."""
        if self.type not in TUMOUR_TYPES:
            raise ConfigError(f"{where}.type = {self.type!r}: must be one of {TUMOUR_TYPES}")
        if self.location not in TUMOUR_LOCATIONS:
            raise ConfigError(
                f"{where}.location = {self.location!r}: must be one of {TUMOUR_LOCATIONS}"
            )
        _check_range(f"{where}.diameter_mm", self.diameter_mm, 0.0, 100.0, "mm", lo_open=True)
        _check_range(f"{where}.vessel_distance_mm", self.vessel_distance_mm, 0.0, 20.0, "mm")
        _check_range(
            f"{where}.vessel_min_diameter_mm", self.vessel_min_diameter_mm, 3.0, 25.0, "mm"
        )
        _check_range(
            f"{where}.surface_distance_mm",
            self.surface_distance_mm,
            0.0,
            PHANTOM_PARAMS["subcapsular_max_depth_m"].value / _MM,
            "mm",
        )
        _check_range(f"{where}.irregularity", self.irregularity, 0.0, 0.2, "(fraction of radius)")
        if self.capsule_thickness_mm is not None:
            _check_range(f"{where}.capsule_thickness_mm", self.capsule_thickness_mm, 0.0, 5.0, "mm")
            if self.type == "metastasis" and self.capsule_thickness_mm > 0:
                raise ConfigError(
                    f"{where}.capsule_thickness_mm = {self.capsule_thickness_mm} mm: a metastasis "
                    "has no capsule; use 0 or type='hcc'"
                )
        if self.location == "explicit":
            if self.position_mm is None:
                raise ConfigError(
                    f"{where}.position_mm is required when location = 'explicit' "
                    "(centre in phantom world coordinates, mm)"
                )
            p = np.asarray(self.position_mm, dtype=float)
            if p.shape != (3,) or not np.all(np.isfinite(p)):
                raise ConfigError(
                    f"{where}.position_mm = {self.position_mm}: must be three "
                    "finite numbers (x, y, z) in mm"
                )
        elif self.position_mm is not None:
            raise ConfigError(
                f"{where}.position_mm = {self.position_mm} mm is only used with "
                f"location = 'explicit', not {self.location!r}"
            )

    @property
    def capsule_m(self) -> float:
        """Capsule thickness actually used [m] (default 1 mm for HCC, 0 for a metastasis)."""
        if self.type != "hcc":
            return 0.0
        if self.capsule_thickness_mm is None:
            return PHANTOM_PARAMS["hcc_capsule_thickness_m"].value
        return float(self.capsule_thickness_mm) * _MM


@dataclass(frozen=True)
class TumourInfo:
    """A placed tumour, as measured on the voxels.

    Attributes
    ----------
    index : int
        Position in ``PhantomSpec.tumours``; its voxels carry ``tumour_id == index + 1``.
    type : str
        ``"hcc"`` or ``"metastasis"``.
    centre_m : tuple of float
        Centre of the shape in phantom world coordinates [m].
    diameter_m : float
        Requested diameter [m].
    equivalent_diameter_m : float
        Diameter of the sphere with the volume of the tumour voxels [m].
    nearest_large_vessel_m : float
        Tumour edge to the nearest wall of a vessel ≥ 3 mm [m] (0 when touching).
    depth_below_capsule_m : float
        Tumour edge below the organ surface (Glisson's capsule) [m].
    location : str
        Placement rule used.
    volume_m3 : float
        Volume of the tumour voxels [m³].
    capsule_thickness_m : float
        Capsule thickness used [m] (0 for none).
    """

    index: int
    type: str
    centre_m: tuple[float, float, float]
    diameter_m: float
    equivalent_diameter_m: float
    nearest_large_vessel_m: float
    depth_below_capsule_m: float
    location: str
    volume_m3: float = 0.0
    capsule_thickness_m: float = 0.0


# --------------------------------------------------------------------------------------------
# Shape, placement and capsule
# --------------------------------------------------------------------------------------------
def _fibonacci_sphere(n: int) -> np.ndarray:
    i = np.arange(n) + 0.5
    phi = np.arccos(1 - 2 * i / n)
    theta = np.pi * (1 + 5**0.5) * i
    return np.stack([np.cos(theta) * np.sin(phi), np.sin(theta) * np.sin(phi), np.cos(phi)], 1)


class _TumourShape:
    """Sphere with a low-order Legendre radial perturbation, volume-matched to ``diameter_m``."""

    def __init__(self, diameter_m: float, irregularity: float, rng: np.random.Generator):
        self.orders = np.array([2, 2, 3, 3])
        ax = rng.normal(size=(4, 3))
        self.axes = ax / np.linalg.norm(ax, axis=1, keepdims=True)
        self.amps = rng.uniform(-irregularity, irregularity, 4)
        u = _fibonacci_sphere(2000)
        rel = self._rel(u)
        self.R = 0.5 * diameter_m / float(np.mean(rel**3)) ** (1 / 3)
        self.r_max = self.R * float(rel.max()) * 1.02
        self.r_min = self.R * float(rel.min()) * 0.98

    def _rel(self, u: np.ndarray) -> np.ndarray:
        out = np.ones(u.shape[:-1])
        for l, n, a in zip(self.orders, self.axes, self.amps, strict=True):
            c = u @ n
            out += a * (0.5 * (3 * c * c - 1) if l == 2 else 0.5 * (5 * c**3 - 3 * c))
        return out

    def radial(self, u) -> np.ndarray:
        """Radius [m] in unit direction(s) ``u``."""
        return self.R * self._rel(np.asarray(u, float))

    def local_mask(self, grid: Grid, centre, pad_vox: int = 0):
        """(slices, bool mask) of voxels inside the shape centred at ``centre`` [m]."""
        c = np.asarray(centre, float)
        h = min(grid.spacing_m)
        r = self.r_max + pad_vox * h
        org = np.asarray(grid.origin_m)
        lo = np.floor((c - r - org) / h).astype(int)
        hi = np.ceil((c + r - org) / h).astype(int) + 1
        lo_c = np.clip(lo, 0, grid.shape)
        hi_c = np.clip(hi, 0, grid.shape)
        sl = tuple(slice(int(a), int(b)) for a, b in zip(lo_c, hi_c, strict=True))
        xs, ys, zs = (grid.axis_m(i)[sl[i]] - c[i] for i in range(3))
        p = np.stack(
            np.broadcast_arrays(xs[:, None, None], ys[None, :, None], zs[None, None, :]), -1
        )
        d = np.linalg.norm(p, axis=-1)
        u = p / np.maximum(d, 1e-12)[..., None]
        inside = d <= self.radial(u)
        clipped = bool(np.any(lo_c != lo) or np.any(hi_c != hi))
        return sl, inside, clipped


@dataclass
class _Pending:
    index: int
    where: str
    spec: TumourSpec
    shape: _TumourShape
    cap_vox: int
    r_bound: float
    rng: np.random.Generator


class _Placer:
    """Places and rasterises tumours into a label volume."""

    def __init__(self, grid: Grid, label: np.ndarray, organ_shape: OrganShape, spec: PhantomSpec):
        self.grid = grid
        self.label = label
        self.shape = organ_shape
        self.h = min(grid.spacing_m)
        self.organ = label != Label.OUTSIDE
        self.large: list[VesselSegment] = []
        self.large_mask = np.zeros(grid.shape, dtype=bool)
        self.tumour_id = np.zeros(grid.shape, dtype=np.uint8)
        self.spec = spec
        self.occupied: list[tuple[np.ndarray, float]] = []
        # Coarse (≈ 2 mm) depth map for candidate search; exact depths are measured locally.
        self.c = max(1, int(round(2e-3 / self.h)))
        organ_c = self.organ[:: self.c, :: self.c, :: self.c]
        self.depth_c = ndi.distance_transform_edt(organ_c, sampling=self.c * self.h)
        self.axes_c = [grid.axis_m(i)[:: self.c] for i in range(3)]
        self.max_depth = float(self.depth_c.max())
        self.reserved: dict[int, np.ndarray] = {}
        self._shell: np.ndarray | None = None

    def set_vessels(self, vessels: list[VesselSegment]) -> None:
        """Use the rasterised vessel trees for the placement of the remaining tumours."""
        self.large = [s for s in vessels if s.is_large]
        self.large_mask = self.label == Label.LARGE_VESSEL

    # -- measurements -------------------------------------------------------------------------
    def edge_depth(self, sl, mask) -> float:
        """Exact ``min over mask voxels of (distance to the nearest outside voxel) - h`` [m].

        The nearest outside voxel of an inside point always touches the organ, so the search
        runs over those "shell" voxels only, inside a box that grows until it holds the answer
        (exact, like a Euclidean distance transform, without transforming the whole grid).
        """
        if self._shell is None:
            organ = self.organ
            shell = np.zeros_like(organ)
            for ax in range(3):
                for step in (1, -1):
                    shell |= np.roll(organ, step, axis=ax)
            shell &= ~organ
            self._shell = np.stack(np.nonzero(shell), 1)
        boundary = mask & ~ndi.binary_erosion(mask)
        idx = np.nonzero(boundary)
        P = np.stack([i + s.start for i, s in zip(idx, sl, strict=True)], 1)
        tree = cKDTree(P.astype(np.float64))
        lo0, hi0 = P.min(0), P.max(0)
        reach = 16
        while True:
            sel = np.all((self._shell >= lo0 - reach) & (self._shell <= hi0 + reach), axis=1)
            if sel.any():
                d, _ = tree.query(self._shell[sel].astype(np.float64), distance_upper_bound=reach)
                m = float(d.min())
                if np.isfinite(m):
                    return (m - 1.0) * self.h
            if reach > max(self.grid.shape):
                return float("inf")
            reach *= 2

    def vessel_gap(self, sl, mask, segments=None) -> float:
        """``min over boundary voxels of (|p - axis| - r) - h/2`` [m] (negative: overlap)."""
        segs = self.large if segments is None else segments
        if not segs or not mask.any():
            return float("inf")
        boundary = mask & ~ndi.binary_erosion(mask)
        idx = np.nonzero(boundary)
        pts = np.stack([self.grid.axis_m(i)[sl[i]][idx[i]] for i in range(3)], 1)
        d, _ = distance_to_vessel_walls_m(pts, segs)
        return float(d.min()) - 0.5 * self.h

    def free(self, centre, r_bound) -> bool:
        """Whether a ball ``r_bound`` at ``centre`` keeps clear of the placed tumours."""
        return all(np.linalg.norm(centre - c) >= r_bound + r + 1e-3 for c, r in self.occupied)

    # -- placement ------------------------------------------------------------------------------
    def coarse_candidates(self, min_depth, max_depth=np.inf, max_x=np.inf):
        sel = (self.depth_c >= min_depth) & (self.depth_c <= max_depth)
        if np.isfinite(max_x):
            sel &= (self.axes_c[0] <= max_x)[:, None, None]
        idx = np.nonzero(sel)
        return np.stack([self.axes_c[i][idx[i]] for i in range(3)], 1)

    def prepare(self, i: int, ts: TumourSpec, rng: np.random.Generator) -> _Pending:
        """Check the size and draw the shape of tumour ``i``."""
        where = f"tumours[{i}]"
        D = ts.diameter_mm * _MM
        h = self.h
        if D < 2 * h:
            raise ConfigError(
                f"{where}.diameter_mm = {ts.diameter_mm} mm: must be at least two voxels "
                f"({2 * h / _MM:g} mm at spacing_mm = {h / _MM:g}); use a finer spacing_mm"
            )
        if 0.5 * D >= self.max_depth:
            raise GeometryError(
                f"{where}.diameter_mm = {ts.diameter_mm} mm: larger than the organ can hold "
                f"(largest inscribed sphere ≈ {2 * self.max_depth / _MM:.0f} mm at organ_scale "
                f"{self.spec.organ_scale}); use a smaller diameter_mm"
            )
        shape = _TumourShape(D, ts.irregularity, rng)
        cap_vox = 0 if ts.capsule_m <= 0 else max(1, int(round(ts.capsule_m / h)))
        return _Pending(i, where, ts, shape, cap_vox, shape.r_max + cap_vox * h, rng)

    def reserve_central(self, p: _Pending, trunks: list[VesselSegment]) -> tuple[np.ndarray, float]:
        """Choose the centre of a central tumour before the vessels grow.

        Returns the ball ``(centre_m, radius_m)`` that large vessels must keep out of: the
        tumour displaced them (mass effect), which is what makes a 10-mm clearance possible in
        a Murray tree that is otherwise dense at the centimetre scale.
        """
        P = PHANTOM_PARAMS
        min_depth = P["central_min_depth_m"].value
        min_gap = P["central_min_vessel_gap_m"].value
        shape, rng = p.shape, p.rng
        slack = self.c * self.h + self.h
        zone = shape.r_max + min_gap + self.h + 1e-3
        cands = self.coarse_candidates(
            min_depth + shape.r_max + slack, max_x=_RIGHT_LOBE_MAX_X_M * self.spec.organ_scale
        )
        if len(cands) > 4000:
            cands = cands[rng.choice(len(cands), 4000, replace=False)]
        if len(cands) and trunks:
            d, _ = distance_to_vessel_walls_m(cands, trunks)
            cands = cands[d >= zone + 5e-3]
        cands = [c for c in cands if self.free(c, p.r_bound)]
        for k in rng.permutation(len(cands))[:20]:
            c = cands[k]
            sl, mask, clipped = shape.local_mask(self.grid, c)
            if self._shape_ok(sl, mask, clipped) and self.edge_depth(sl, mask) > min_depth:
                self.reserved[p.index] = c
                self.occupied.append((c, p.r_bound))
                return c, zone
        raise GeometryError(
            f"{p.where}: no position in the right lobe puts a {p.spec.diameter_mm} mm tumour > "
            f"{min_depth / _MM:g} mm below the surface and > {min_gap / _MM:g} mm from the vessel "
            f"trunks (seed {self.spec.seed}); use a smaller diameter_mm, another seed or "
            "location = 'explicit'"
        )

    def place(self, p: _Pending) -> TumourInfo:
        """Place (unless reserved) and rasterise a prepared tumour."""
        if p.index in self.reserved:
            centre = self.reserved[p.index]
            self._check_central(p, centre)
        else:
            placer = {
                "near_vessel": self._near_vessel,
                "subcapsular": self._subcapsular,
                "explicit": self._explicit,
            }[p.spec.location]
            centre = placer(p.where, p.spec, p.shape, p.rng, p.r_bound)
            self.occupied.append((np.asarray(centre, float), p.r_bound))
        return self._rasterise(p.index, p.spec, p.shape, centre, p.cap_vox)

    def _check_central(self, p: _Pending, c: np.ndarray) -> None:
        min_depth = PHANTOM_PARAMS["central_min_depth_m"].value
        min_gap = PHANTOM_PARAMS["central_min_vessel_gap_m"].value
        sl, mask, clipped = p.shape.local_mask(self.grid, c)
        body = mask & ~self.large_mask[sl]
        gap = self.vessel_gap(sl, body)
        depth = self.edge_depth(sl, body)
        if not (gap > min_gap and depth > min_depth):  # a bug, not a user error
            raise RuntimeError(
                f"{p.where}: central tumour at {c} has vessel gap {gap} m and "
                f"depth {depth} m despite its reserved zone"
            )

    def _shape_ok(self, sl, mask, clipped) -> bool:
        """Fully inside the organ and not on any placed tumour or capsule."""
        if clipped or not np.all(self.organ[sl][mask]):
            return False
        lab = self.label[sl][mask]
        return not np.any((lab == Label.TUMOUR) | (lab == Label.CAPSULE))

    def _subcapsular(self, where, ts, shape, rng, r_bound):
        target = ts.surface_distance_mm * _MM
        h = self.h
        band = 1.5 * self.c * h
        mid = target + shape.R + 0.5 * h
        cands = self.coarse_candidates(mid - band, mid + band)
        if len(cands) > 4000:
            cands = cands[rng.choice(len(cands), 4000, replace=False)]
        if len(cands) and self.large:
            d, _ = distance_to_vessel_walls_m(cands, self.large)
            cands = cands[d >= _SUBCAPSULAR_MIN_VESSEL_GAP_M + shape.r_max + h]
        cands = [c for c in cands if self.free(c, r_bound)]
        for k in rng.permutation(len(cands))[:30]:
            c = np.array(cands[k])
            n_in = self.shape.inward_normal(c)
            for _ in range(6):
                sl, mask, clipped = shape.local_mask(self.grid, c)
                if clipped or not mask.any():
                    break
                e = self.edge_depth(sl, mask)
                if abs(e - target) <= 0.6 * h:
                    if (
                        self._shape_ok(sl, mask, clipped)
                        and self.free(c, r_bound)
                        and self.vessel_gap(sl, mask) >= _SUBCAPSULAR_MIN_VESSEL_GAP_M
                    ):
                        return c
                    break
                c = c + n_in * (target - e)
        raise GeometryError(
            f"{where}: could not place a {ts.diameter_mm} mm tumour with its edge "
            f"{ts.surface_distance_mm} mm below the surface, fully inside the organ and clear of "
            f"large vessels (seed {self.spec.seed}); use a smaller diameter_mm or another seed"
        )

    def _near_vessel(self, where, ts, shape, rng, r_bound):
        dmin = ts.vessel_min_diameter_mm * _MM
        gap = ts.vessel_distance_mm * _MM
        h = self.h
        cands = [s for s in self.large if s.diameter_m >= dmin - 1e-12]
        if not cands:
            biggest = max((s.diameter_m for s in self.large), default=0.0) / _MM
            raise GeometryError(
                f"{where}.vessel_min_diameter_mm = {ts.vessel_min_diameter_mm} mm: no vessel of "
                f"that calibre in this phantom (largest {biggest:.1f} mm); use a value <= "
                f"{biggest:.1f} mm"
            )
        w = np.array([s.length_m for s in cands])
        w = w / w.sum()
        for _ in range(80):
            s = cands[int(rng.choice(len(cands), p=w))]
            a, b = np.asarray(s.start_m), np.asarray(s.end_m)
            axis = (b - a) / max(np.linalg.norm(b - a), 1e-12)
            q = a + rng.uniform(0.2, 0.8) * (b - a)
            u = rng.normal(size=3)
            u -= (u @ axis) * axis
            u /= np.linalg.norm(u)
            c = q + u * (s.radius_m + gap + float(shape.radial(-u)) + 0.5 * h)
            if self.shape.depth(c)[0] < shape.r_min or not self.free(c, r_bound):
                continue
            for _ in range(6):
                sl, mask, clipped = shape.local_mask(self.grid, c)
                if clipped:
                    break
                body = mask & ~self.large_mask[sl]
                g_this = self.vessel_gap(sl, body, [s])
                err = gap - g_this
                if abs(err) <= 0.4 * h:
                    if (
                        self._shape_ok(sl, body, clipped)
                        and self.free(c, r_bound)
                        and self.vessel_gap(sl, body) >= gap - 0.4 * h
                    ):
                        return c
                    break
                # move along the line from the nearest axis point through the centre
                t = np.clip((c - a) @ axis, 0.0, np.linalg.norm(b - a))
                away = c - (a + t * axis)
                c = c + away / max(np.linalg.norm(away), 1e-12) * err
        raise GeometryError(
            f"{where}: could not place a {ts.diameter_mm} mm tumour "
            f"{ts.vessel_distance_mm} mm from a vessel >= {ts.vessel_min_diameter_mm} mm inside "
            f"the organ (seed {self.spec.seed}); use a smaller diameter_mm or "
            "vessel_min_diameter_mm, or another seed"
        )

    def _explicit(self, where, ts, shape, rng, r_bound):
        c = np.asarray(ts.position_mm, float) * _MM
        inside = self.grid.contains(c) and self.organ[self.grid.index_of(c)]
        if not inside:
            out = max(float(self.shape.sdf(*c)), 0.0) / _MM
            raise GeometryError(
                f"{where}.position_mm = {tuple(ts.position_mm)} mm lies outside the organ "
                f"(≈ {out:.1f} mm beyond its surface); the organ spans "
                f"{_box_mm(self.grid, self.organ)} mm"
            )
        sl, mask, clipped = shape.local_mask(self.grid, c)
        if clipped or not np.all(self.organ[sl][mask]):
            depth = float(self.shape.depth(c)[0]) / _MM
            raise GeometryError(
                f"{where}.position_mm = {tuple(ts.position_mm)} mm: a {ts.diameter_mm} mm tumour "
                f"there reaches outside the organ (its centre is only ≈ {depth:.1f} mm below the "
                "surface); move it deeper or use a smaller diameter_mm"
            )
        lab = self.label[sl][mask]
        if np.any((lab == Label.TUMOUR) | (lab == Label.CAPSULE)):
            raise GeometryError(
                f"{where}.position_mm = {tuple(ts.position_mm)} mm: the tumour overlaps an earlier "
                "tumour or its capsule; move it"
            )
        return c

    def _rasterise(self, i, ts, shape, centre, cap_vox) -> TumourInfo:
        sl, mask, _ = shape.local_mask(self.grid, centre, pad_vox=cap_vox + 1)
        lab = self.label[sl]
        writable = (lab == Label.PARENCHYMA) | (lab == Label.SMALL_VESSEL)
        body = mask & writable
        lab[body] = Label.TUMOUR
        self.tumour_id[sl][body] = i + 1
        if cap_vox:
            rr = np.arange(-cap_vox, cap_vox + 1)
            ball = (
                rr[:, None, None] ** 2 + rr[None, :, None] ** 2 + rr[None, None, :] ** 2
                <= cap_vox**2 + 1e-9
            )
            shell = ndi.binary_dilation(body, structure=ball) & ~body
            lab[shell & ((lab == Label.PARENCHYMA) | (lab == Label.SMALL_VESSEL))] = Label.CAPSULE
        h = self.h
        n = int(np.count_nonzero(body))
        vol = n * self.grid.voxel_volume_m3
        depth = self.edge_depth(sl, body) if n else 0.0
        gap = self.vessel_gap(sl, body) if n else float("inf")
        return TumourInfo(
            index=i,
            type=ts.type,
            centre_m=tuple(float(v) for v in centre),  # type: ignore[arg-type]
            diameter_m=ts.diameter_mm * _MM,
            equivalent_diameter_m=float((6.0 * vol / np.pi) ** (1 / 3)),
            nearest_large_vessel_m=max(gap, 0.0),
            depth_below_capsule_m=max(depth, 0.0),
            location=ts.location,
            volume_m3=vol,
            capsule_thickness_m=cap_vox * h,
        )


def _box_mm(grid: Grid, mask: np.ndarray) -> str:
    parts = []
    for ax in range(3):
        other = tuple(j for j in range(3) if j != ax)
        idx = np.nonzero(mask.any(axis=other))[0]
        a = grid.axis_m(ax)
        parts.append(f"{'xyz'[ax]} {a[idx[0]] / _MM:.0f}..{a[idx[-1]] / _MM:.0f}")
    return ", ".join(parts)


def _check_range(name, value, lo, hi, unit, *, lo_open=False) -> None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} = {value!r}: must be a number") from None
    bad = (not np.isfinite(v)) or v > hi or (v <= lo if lo_open else v < lo)
    if bad:
        op = ">" if lo_open else ">="
        u = f" {unit}" if unit else ""
        raise ConfigError(f"{name} = {value}{u}: must be {op} {lo:g} and <= {hi:g}{u}")
