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

Code: the organ surface and its vessel trees are in :mod:`tissuefate.anatomy.organ`, tumour
specification, placement and capsule in :mod:`tissuefate.anatomy.tumours`; this module holds
the phantom spec and result and assembles them (:func:`build_phantom`, :func:`crop_roi`).

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

from ..errors import ConfigError
from ..grid import Grid
from ..tissue.labels import Label
from ..tissue.state import TissueState
from .organ import OrganShape, _build_vessels, _landmarks, _trunk_segments
from .tumours import (
    PHANTOM_PARAMS,
    TUMOUR_LOCATIONS,
    TUMOUR_TYPES,
    TumourInfo,
    TumourSpec,
    _check_range,
    _Placer,
)
from .vessels import VesselSegment, rasterise_vessels

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

_MM = 1e-3


# --------------------------------------------------------------------------------------------
# Specification and result
# --------------------------------------------------------------------------------------------
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
