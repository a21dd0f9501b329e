"""Synthetic liver phantom: the embedded default anatomy of tissuefate.

The phantom is an adult liver built on a regular grid from a seed, so that any virtual patient
can be rebuilt exactly from ``(seed, spacing, tumour specs)``.

Model
-----
**Coordinates.** Phantom world coordinates are in metres in the patient LPS convention
(DICOM): +x towards the patient's left, +y posterior, +z superior. The right lobe therefore
lies at negative x.

**Organ.** An implicit surface: the smooth union (polynomial smooth-min, blend radius 20 mm) of
a large right-lobe ellipsoid (≈ 15 × 14 × 12 cm) and a flatter left-lobe ellipsoid
(≈ 10 × 9 × 5 cm), cut by a smooth, tilted plane that flattens the inferior (visceral)
surface, plus a seeded low-frequency deformation (four plane waves, wavelengths 70–140 mm,
total amplitude ≤ 3 mm). Axes and centres are jittered by a few per cent per seed. The
result spans ≈ 20 × 15 × 12 cm with a volume of ≈ 1.2–1.8 L at ``organ_scale = 1``.

**Vessels.** A portal venous tree (trunk 13 mm at the hilum, first split into right and left
portal veins) and three hepatic venous trees (right, middle, left: 11, 10 and 9 mm at the
inferior vena cava), grown by :func:`tissuefate.anatomy.vessels.grow_tree` with Murray's law
down to 1.3–2 mm, plus the intrahepatic part of the inferior vena cava (20 mm). Vessels of
calibre ≥ 3 mm are ``LARGE_VESSEL`` (heat sinks), thinner ones ``SMALL_VESSEL``. The segment
geometry does not depend on the voxel size (except through central tumours, below).

**Tumours.** A :class:`TumourSpec` gives the type (encapsulated ``"hcc"`` or ``"metastasis"``),
the diameter and the location:

- ``"central"``: deep in the right lobe (x < -10 mm, right of the portal fissure), edge > 15 mm
  below the surface and > 10 mm from every large vessel. A Murray tree is dense at the
  centimetre scale (≈ 300 segments ≥ 3 mm), so such a spot rarely exists by chance: central
  tumours are placed *before* the trees grow, and vessels ≥ 3 mm grow around them (the tumour
  displaced them — a mass effect);
- ``"near_vessel"``: edge at ``vessel_distance_mm`` (0 = abutting) from a large vessel of
  calibre ≥ ``vessel_min_diameter_mm``;
- ``"subcapsular"``: edge ``surface_distance_mm`` (≤ 5 mm) below the organ surface, fully inside;
- ``"explicit"``: centre at ``position_mm``.

The shape is a sphere with a seeded low-order (Legendre P2/P3) radial perturbation, scaled so
that its volume equals that of a sphere of the requested diameter. Tumour voxels overwrite
parenchyma and small vessels but never large vessels. HCC gets a fibrous capsule (a shell
``capsule_thickness_mm`` thick, at least one voxel) labelled ``CAPSULE``; metastases have none.

Distances are measured on the voxels: the edge of a tumour is the outer faces of its voxels,
the surface of the organ the faces of its boundary voxels, a vessel wall the analytic cylinder
of the segment. ``depth_below_capsule_m`` is ``min over tumour voxels of (distance to the
nearest outside voxel centre) - spacing``; ``nearest_large_vessel_m`` is ``min over tumour
voxels of (distance to the vessel axis - vessel radius) - spacing / 2``.

Randomness: ``SeedSequence(seed)`` is spawned into independent streams for the organ, the
portal tree, the hepatic trees and each tumour, so adding a near-vessel, subcapsular or
explicit tumour leaves the vessels unchanged (a central one reshapes them, see above).

Simplifications
---------------
No hepatic artery, bile ducts, gallbladder, ligaments or Couinaud segments; the organ is a
smooth blob, not a segmented liver; trees do not avoid each other; the IVC is a straight
cylinder kept only where it lies inside the organ; the capsule is a uniform shell (no
pseudocapsule gaps); tumour perfusion and
histology are carried by the material table, not by the phantom; the returned
:class:`~tissuefate.tissue.state.TissueState` carries a single ``tumour_type`` (that of the
first tumour) — per-tumour identity is in ``state.meta["tumour_id"]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage as ndi
from scipy.spatial import cKDTree

from ..errors import ConfigError, GeometryError
from ..grid import Grid
from ..tissue.labels import Label
from ..tissue.properties import Param
from ..tissue.state import TissueState
from .vessels import (
    VESSEL_PARAMS,
    VesselSegment,
    distance_to_vessel_walls_m,
    grow_tree,
    rasterise_vessels,
)

__all__ = [
    "PHANTOM_PARAMS",
    "TUMOUR_TYPES",
    "TUMOUR_LOCATIONS",
    "TumourSpec",
    "PhantomSpec",
    "TumourInfo",
    "Phantom",
    "OrganShape",
    "build_phantom",
    "crop_roi",
    "tumour_mask",
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
_PAD_M = 10e-3  # outside voxels around the organ (room for regions of interest at the surface)
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


def _default_tumours() -> list[TumourSpec]:
    return [TumourSpec()]


@dataclass
class PhantomSpec:
    """Everything that defines a phantom; the same spec always gives identical arrays.

    Parameters
    ----------
    seed : int
        Non-negative seed of the whole phantom (organ, vessels, tumours).
    spacing_mm : float
        Isotropic voxel size [mm], 0.5–4 mm (1 mm → ≈ 220 × 170 × 140 voxels).
    tumours : list of TumourSpec
        Default: one 20-mm encapsulated HCC, central. May be empty.
    organ_scale : float
        Linear scale of the organ (not of the vessel calibres), 0.7–1.3 (≈ 0.5–3.3 L).
    """

    seed: int = 0
    spacing_mm: float = 1.0
    tumours: list[TumourSpec] = field(default_factory=_default_tumours)
    organ_scale: float = 1.0

    def __post_init__(self) -> None:
        if (
            isinstance(self.seed, bool)
            or not isinstance(self.seed, (int, np.integer))
            or self.seed < 0
        ):
            raise ConfigError(f"PhantomSpec.seed = {self.seed!r}: must be an integer >= 0")
        _check_range("PhantomSpec.spacing_mm", self.spacing_mm, 0.5, 4.0, "mm")
        _check_range("PhantomSpec.organ_scale", self.organ_scale, 0.7, 1.3, "")
        tumours = []
        for i, t in enumerate(self.tumours):
            if isinstance(t, dict):
                try:
                    t = TumourSpec(**t)
                except TypeError as e:
                    raise ConfigError(f"PhantomSpec.tumours[{i}]: {e}") from None
            if not isinstance(t, TumourSpec):
                raise ConfigError(f"PhantomSpec.tumours[{i}] = {t!r}: must be a TumourSpec")
            t.validate(f"tumours[{i}]")
            tumours.append(t)
        if len(tumours) > 10:
            raise ConfigError(f"PhantomSpec.tumours has {len(tumours)} entries: at most 10")
        self.tumours = tumours


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


@dataclass(repr=False)
class Phantom:
    """A built phantom.

    Attributes
    ----------
    spec : PhantomSpec
    grid : Grid
        Grid of the whole organ (with ≥ 10 mm of outside voxels around it).
    state : TissueState
        Untreated tissue on ``grid``; ``state.meta`` holds ``tumour_id`` (uint8, 0 = none,
        i + 1 = tumour i), ``phantom_seed``, ``spacing_mm`` and ``source``.
    tumours : list of TumourInfo
    vessels : list of VesselSegment
    """

    spec: PhantomSpec
    grid: Grid
    state: TissueState
    tumours: list[TumourInfo]
    vessels: list[VesselSegment]

    def __repr__(self) -> str:
        tumours = ", ".join(
            f"{t.type} {t.diameter_m * 1e3:g} mm {t.location}" for t in self.tumours
        )
        return (
            f"Phantom(seed={self.spec.seed}, grid={self.grid.shape} at "
            f"{self.spec.spacing_mm:g} mm, {self.organ_volume_m3 * 1e3:.2f} L, "
            f"{len(self.vessels)} vessel segments, tumours=[{tumours}])"
        )

    @property
    def organ_volume_m3(self) -> float:
        """Volume of all non-outside voxels [m³]."""
        return (
            float(np.count_nonzero(self.state.label != Label.OUTSIDE)) * self.grid.voxel_volume_m3
        )


# --------------------------------------------------------------------------------------------
# Organ
# --------------------------------------------------------------------------------------------
def _ellipsoid_sdf(x, y, z, c, a):
    """Approximate signed distance to an ellipsoid [m] (exact on the surface, bounded inside).

    Constants are Python floats so that float32 coordinates stay float32 (NumPy 2 promotion).
    """
    c0, c1, c2 = (float(v) for v in c)
    a0, a1, a2 = (float(v) for v in a)
    u, v, w = (x - c0) / a0, (y - c1) / a1, (z - c2) / a2
    k0 = np.sqrt(u * u + v * v + w * w)
    k1 = np.sqrt((u / a0) ** 2 + (v / a1) ** 2 + (w / a2) ** 2)
    return k0 * (k0 - 1.0) / np.maximum(k1, 1e-12)


def _smin(a, b, k):
    """Polynomial smooth minimum with blend width ``k``."""
    k = float(k)
    h = np.clip(0.5 + 0.5 * (b - a) / k, 0.0, 1.0)
    return b + (a - b) * h - k * h * (1.0 - h)


class OrganShape:
    """Implicit liver surface drawn from a random generator.

    Parameters
    ----------
    rng : numpy.random.Generator
    scale : float
        Linear scale of the organ [1].

    Notes
    -----
    :meth:`sdf` is an approximate signed distance [m] (negative inside); it is exact on the
    surface and within a few per cent of the Euclidean distance in the outer centimetres,
    which is what vessel clearance needs. Exact depths are measured on voxels.
    """

    def __init__(self, rng: np.random.Generator, scale: float = 1.0) -> None:
        mm = _MM * scale
        self.scale = scale
        self.c_right = np.array([-30.0, 0.0, -5.0]) * mm + rng.uniform(-3, 3, 3) * mm
        self.a_right = np.array([74.0, 72.0, 60.0]) * mm * rng.uniform(0.96, 1.04, 3)
        self.c_left = np.array([48.0, -14.0, 12.0]) * mm + rng.uniform(-3, 3, 3) * mm
        self.a_left = np.array([52.0, 44.0, 26.0]) * mm * rng.uniform(0.95, 1.05, 3)
        self.k_blend = 20.0 * mm
        # Visceral surface: inside where n·p <= d, blended over 10 mm.
        self.cut_n = np.array([0.3, 0.25, -1.0]) / np.linalg.norm([0.3, 0.25, -1.0])
        self.cut_d = 44.0 * mm
        self.k_cut = 10.0 * mm
        n_waves = 4
        k = rng.normal(size=(n_waves, 3))
        k /= np.linalg.norm(k, axis=1, keepdims=True)
        self.wave_k = k * (2 * np.pi / (rng.uniform(70.0, 140.0, n_waves) * mm))[:, None]
        self.wave_phase = rng.uniform(0.0, 2 * np.pi, n_waves)
        amp = rng.uniform(0.5, 1.0, n_waves)
        self.wave_amp = amp / amp.sum() * 3.0 * mm  # total ≤ 3 mm

    def sdf(self, x, y, z):
        """Approximate signed distance to the surface [m], negative inside.

        ``x, y, z`` are broadcastable coordinate arrays [m]; float32 input stays float32.
        """
        f = _smin(
            _ellipsoid_sdf(x, y, z, self.c_right, self.a_right),
            _ellipsoid_sdf(x, y, z, self.c_left, self.a_left),
            self.k_blend,
        )
        n0, n1, n2 = (float(v) for v in self.cut_n)
        plane = x * n0 + y * n1 + (z * n2 - float(self.cut_d))
        f = -_smin(-f, -plane, self.k_cut)
        for kv, ph, am in zip(self.wave_k, self.wave_phase, self.wave_amp, strict=True):
            k0, k1, k2 = (float(v) for v in kv)
            f = f + float(am) * np.sin(x * k0 + y * k1 + (z * k2 + float(ph)))
        return f

    def depth(self, points_m) -> np.ndarray:
        """Approximate depth below the surface of points (n, 3) [m] (positive inside)."""
        p = np.asarray(points_m, float).reshape(-1, 3)
        return -self.sdf(p[:, 0], p[:, 1], p[:, 2])

    def inward_normal(self, point_m) -> np.ndarray:
        """Unit vector of steepest increase of depth at ``point_m``."""
        p = np.asarray(point_m, float)
        v = self.depth(p + np.concatenate([np.eye(3), -np.eye(3)]) * 0.5e-3)
        g = v[:3] - v[3:]
        return g / max(float(np.linalg.norm(g)), 1e-12)

    def bounds_m(self) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper corners of the organ's bounding box [m] (from a 3-mm lattice)."""
        s = self.scale
        h = 3e-3
        ax = [np.arange(-lim * s, lim * s + h, h) for lim in (0.16, 0.13, 0.11)]
        f = self.sdf(ax[0][:, None, None], ax[1][None, :, None], ax[2][None, None, :])
        inside = f <= 0
        lo, hi = [], []
        for i in range(3):
            other = tuple(j for j in range(3) if j != i)
            idx = np.nonzero(inside.any(axis=other))[0]
            lo.append(ax[i][idx[0]] - h)
            hi.append(ax[i][idx[-1]] + h)
        return np.array(lo), np.array(hi)

    def grid(self, spacing_m: float) -> Grid:
        """Grid covering the organ with :data:`_PAD_M` of outside voxels on every side."""
        lo, hi = self.bounds_m()
        lo = lo - _PAD_M
        hi = hi + _PAD_M
        shape = tuple(int(np.ceil((b - a) / spacing_m)) + 1 for a, b in zip(lo, hi, strict=True))
        return Grid(shape, (spacing_m,) * 3, tuple(lo))  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# Vessel trees
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Trunk:
    name: str
    start_m: np.ndarray
    direction: np.ndarray
    radius_m: float
    length_m: float


def _landmarks(organ: OrganShape) -> tuple[VesselSegment | None, list[_Trunk]]:
    """The intrahepatic IVC and the trunks of the portal and hepatic trees."""
    mm = _MM * organ.scale
    P = VESSEL_PARAMS
    # Intrahepatic inferior vena cava: the vertical run of its axis that lies inside the organ
    # and contains the hepatic-vein ostia.
    ivc_x, ivc_y, ostium_z = -12.0 * mm, 40.0 * mm, 30.0 * mm
    zs = np.arange(-120.0, 120.0, 1.0) * mm
    inside = organ.depth(np.stack([np.full_like(zs, ivc_x), np.full_like(zs, ivc_y), zs], 1)) >= 0
    k = int(np.argmin(np.abs(zs - ostium_z)))
    lo = hi = k
    while lo > 0 and inside[lo - 1]:
        lo -= 1
    while hi < len(zs) - 1 and inside[hi + 1]:
        hi += 1
    ivc = None
    if inside[k] and hi > lo:
        ivc = VesselSegment(
            (ivc_x, ivc_y, float(zs[lo])),
            (ivc_x, ivc_y, float(zs[hi])),
            0.5 * P["ivc_diameter_m"].value,
            "ivc",
            0,
            -1,
        )
    # Portal vein: enters at the hilum on the visceral surface and runs ~20 mm cranially.
    trunks = [
        _Trunk(
            "portal",
            np.array([-5.0, 15.0, -42.0]) * mm,
            np.array([-0.15, -0.1, 1.0]),
            0.5 * P["portal_vein_diameter_m"].value,
            20.0 * mm,
        )
    ]
    # Hepatic veins: from their ostia at the IVC towards the right, middle and left liver.
    ostium = np.array([ivc_x, ivc_y, ostium_z])
    for name, key, d, off in (
        ("hepatic_right", "right_hepatic_vein_diameter_m", (-1.0, -0.3, -0.25), (-4.0, 0.0, -2.0)),
        ("hepatic_middle", "middle_hepatic_vein_diameter_m", (0.15, -1.0, -0.3), (0.0, -4.0, 0.0)),
        ("hepatic_left", "left_hepatic_vein_diameter_m", (1.0, -0.6, -0.1), (4.0, 0.0, 2.0)),
    ):
        trunks.append(
            _Trunk(
                name, ostium + np.array(off) * mm, np.array(d, float), 0.5 * P[key].value, 25.0 * mm
            )
        )
    return ivc, trunks


def _trunk_segments(ivc, trunks) -> list[VesselSegment]:
    out = [] if ivc is None else [ivc]
    for t in trunks:
        d = t.direction / np.linalg.norm(t.direction)
        out.append(
            VesselSegment(
                tuple(t.start_m), tuple(t.start_m + t.length_m * d), t.radius_m, t.name, 0
            )
        )
    return out


def _build_vessels(
    organ: OrganShape,
    rng_portal: np.random.Generator,
    rng_hepatic: np.random.Generator,
    avoid: list[tuple[np.ndarray, float]],
) -> list[VesselSegment]:
    ivc, trunks = _landmarks(organ)
    segs: list[VesselSegment] = [] if ivc is None else [ivc]
    fr = VESSEL_PARAMS["portal_right_flow_fraction"].value
    streams = [rng_portal, *rng_hepatic.spawn(3)]
    for t, rng in zip(trunks, streams, strict=True):
        # the portal vein splits into the right (60 % of flow) and left portal veins
        split = (
            ((fr, (-1.0, 0.1, 0.25)), (1.0 - fr, (1.0, -0.4, 0.3))) if t.name == "portal" else None
        )
        segs += grow_tree(
            t.name,
            t.start_m,
            t.direction,
            t.radius_m,
            organ.depth,
            rng,
            trunk_length_m=t.length_m,
            first_index=len(segs),
            first_split=split,
            avoid=avoid,
        )
    return segs


# --------------------------------------------------------------------------------------------
# Tumours
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


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------
def build_phantom(spec: PhantomSpec | None = None) -> Phantom:
    """Build the synthetic liver phantom.

    Parameters
    ----------
    spec : PhantomSpec, optional
        Default: seed 0, 1-mm voxels, one 20-mm encapsulated HCC in the centre of the right
        lobe.

    Returns
    -------
    Phantom
        Grid, untreated :class:`~tissuefate.tissue.state.TissueState`, tumour measurements and
        the vessel segments. Identical for identical specs.

    Raises
    ------
    ConfigError
        Invalid spec values (range, type, missing ``position_mm``).
    GeometryError
        A tumour that cannot be placed as requested (too large, outside the organ, no vessel
        of the requested calibre, no position meeting the location rule).

    Examples
    --------
    >>> ph = build_phantom(PhantomSpec(seed=1, spacing_mm=3.0))
    >>> 1.2e-3 < ph.organ_volume_m3 < 1.8e-3
    True
    >>> ph.tumours[0].type, ph.state.tumour_type
    ('hcc', 'hcc')
    """
    spec = PhantomSpec() if spec is None else spec
    if not isinstance(spec, PhantomSpec):
        raise ConfigError(f"build_phantom(spec = {spec!r}): spec must be a PhantomSpec")
    h = spec.spacing_mm * _MM
    ss = np.random.SeedSequence(int(spec.seed))
    s_organ, s_portal, s_hepatic, s_tumours = ss.spawn(4)
    organ = OrganShape(np.random.default_rng(s_organ), spec.organ_scale)
    grid = organ.grid(h)
    x, y, z = grid.coordinates_m(np.float32)
    label = np.where(organ.sdf(x, y, z) <= 0, np.uint8(Label.PARENCHYMA), np.uint8(Label.OUTSIDE))
    label = np.ascontiguousarray(label, dtype=np.uint8)
    placer = _Placer(grid, label, organ, spec)
    pending = [
        placer.prepare(i, ts, np.random.default_rng(sq))
        for i, (ts, sq) in enumerate(
            zip(spec.tumours, s_tumours.spawn(len(spec.tumours)), strict=True)
        )
    ]
    # Central tumours are placed first and the large vessels grow around them (mass effect).
    trunks = _trunk_segments(*_landmarks(organ))
    avoid = [placer.reserve_central(p, trunks) for p in pending if p.spec.location == "central"]
    vessels = _build_vessels(
        organ, np.random.default_rng(s_portal), np.random.default_rng(s_hepatic), avoid
    )
    rasterise_vessels(grid, label, vessels)
    placer.set_vessels(vessels)
    infos = [placer.place(p) for p in pending]
    tumour_type = spec.tumours[0].type if spec.tumours else "hcc"
    state = TissueState.from_labels(grid, label, tumour_type=tumour_type)
    state.meta.update(
        source="tissuefate synthetic liver phantom",
        phantom_seed=int(spec.seed),
        spacing_mm=float(spec.spacing_mm),
        tumour_id=placer.tumour_id,
        n_tumours=len(infos),
    )
    return Phantom(spec=spec, grid=grid, state=state, tumours=infos, vessels=vessels)


def crop_roi(phantom: Phantom, centre_m=None, shape=(128, 128, 128)) -> TissueState:
    """The phantom's tissue inside a box of ``shape`` voxels centred on ``centre_m``.

    Parameters
    ----------
    phantom : Phantom
    centre_m : array_like of 3 float, optional
        Centre of the region [m] in phantom world coordinates; default the first tumour's
        centre (the organ's grid centre when there is none). The box is shifted as little as
        needed to lie inside the phantom grid (:meth:`Grid.crop_slices`).
    shape : tuple of 3 int
        Voxels along x, y, z; each at most the phantom grid's.

    Returns
    -------
    TissueState
        An independent copy on the sub-grid (world coordinates unchanged). ``meta`` arrays of the
        phantom grid's shape (``tumour_id``) are cropped too; ``meta["roi_slices"]`` holds the
        ``(start, stop)`` index pairs into the phantom grid, ``meta["roi_centre_m"]`` the
        requested centre, ``meta["phantom_seed"]`` the seed.

    Raises
    ------
    GeometryError
        ``shape`` larger than the phantom grid along an axis.

    Examples
    --------
    >>> ph = build_phantom(PhantomSpec(spacing_mm=3.0))
    >>> roi = crop_roi(ph, ph.tumours[0].centre_m, (32, 32, 32))
    >>> roi.label.shape, roi.meta["tumour_id"].shape, roi.meta["phantom_seed"]
    ((32, 32, 32), (32, 32, 32), 0)
    """
    grid = phantom.grid
    if centre_m is None:
        centre_m = (
            phantom.tumours[0].centre_m
            if phantom.tumours
            else tuple(grid.world_of(np.subtract(grid.shape, 1) / 2))
        )
    c = np.asarray(centre_m, dtype=float)
    if c.shape != (3,) or not np.all(np.isfinite(c)):
        raise ConfigError(f"crop_roi centre_m = {centre_m}: must be three finite numbers [m]")
    try:
        shp = tuple(int(s) for s in shape)
    except (TypeError, ValueError):
        raise ConfigError(f"crop_roi shape = {shape!r}: must be three positive integers") from None
    if len(shp) != 3 or min(shp) < 1:
        raise ConfigError(f"crop_roi shape = {shape!r}: must be three positive integers")
    slices = grid.crop_slices(c, shp)
    st = phantom.state.crop(slices)
    meta = {}
    for k, v in phantom.state.meta.items():
        if isinstance(v, np.ndarray) and v.shape == grid.shape:
            meta[k] = np.ascontiguousarray(v[slices])
        else:
            meta[k] = v
    meta["roi_slices"] = tuple((s.start, s.stop) for s in slices)
    meta["roi_centre_m"] = tuple(float(v) for v in c)
    meta["phantom_seed"] = int(phantom.spec.seed)
    st.meta = meta
    return st


def tumour_mask(state: TissueState, index: int | None = None) -> np.ndarray:
    """Boolean mask of tumour voxels.

    Parameters
    ----------
    state : TissueState
    index : int, optional
        Tumour number (0-based, as in ``PhantomSpec.tumours``): the voxels with
        ``state.meta["tumour_id"] == index + 1``. Default: every voxel labelled ``TUMOUR``.

    Raises
    ------
    ConfigError
        ``index`` given but the state has no ``tumour_id``, or no such tumour.
    """
    if index is None:
        return state.label == Label.TUMOUR
    tid = state.meta.get("tumour_id")
    if tid is None:
        raise ConfigError(
            "tumour_mask(index=...): this state has no meta['tumour_id'] "
            "(it was not built by the phantom); call it without index"
        )
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or index < 0:
        raise ConfigError(f"tumour_mask index = {index!r}: must be an integer >= 0")
    n = state.meta.get("n_tumours")
    if n is not None and index >= n:
        raise ConfigError(
            f"tumour_mask index = {index}: the phantom has {n} tumour(s), indices 0..{n - 1}"
        )
    mask = tid == index + 1
    return mask
