"""Synthetic hepatic vessel trees: recursive bifurcating segments obeying Murray's law.

Model
-----
Each tree starts from a trunk of realistic calibre (portal vein at the hilum; right, middle and
left hepatic veins at the inferior vena cava) and grows by recursive bifurcation:

* **Calibres** follow Murray's law, :math:`r_p^3 = r_1^3 + r_2^3`: a parent of radius
  :math:`r_p` splits its flow into fractions :math:`\\alpha` and :math:`1-\\alpha`
  (:math:`\\alpha` drawn in 0.25–0.75), giving :math:`r_1 = r_p\\,\\alpha^{1/3}` and
  :math:`r_2 = r_p\\,(1-\\alpha)^{1/3}`.
* **Branching angles** follow Murray's minimum-work angles,
  :math:`\\cos\\theta_1 = (r_p^4 + r_1^4 - r_2^4) / (2 r_p^2 r_1^2)` (and symmetrically for
  :math:`\\theta_2`), plus a small random jitter; successive bifurcation planes are rotated by
  about 90° so that the tree fills three dimensions.
* **Lengths** are proportional to the radius (``length_to_radius`` ± 30 %).
* Every segment must stay inside the organ with a clearance of one radius plus 1 mm; a branch
  that cannot bifurcate inside the organ continues as a single segment of the same radius
  (still obeying Murray's law), and ends when even that is impossible. Branches end below the
  terminal calibre (2 mm; the last children are 1.3–2 mm); smaller vessels are part of the
  perfused parenchyma.

Vessels of calibre ≥ 3 mm are heat sinks (``Label.LARGE_VESSEL``); thinner rasterised branches
are ``Label.SMALL_VESSEL`` and behave as perfused parenchyma.

Simplifications: no hepatic artery or bile ducts; trees are grown independently, so a portal
branch may cross a hepatic vein; no territory optimisation (unlike constrained constructive
optimisation), so perfusion territories are only roughly space filling; calibres do not taper
along a segment; the tree is a geometric heat-sink map, not a flow model.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..geometry import bbox_slices, distance_to_segment_m
from ..grid import Grid
from ..tissue.labels import Label
from ..tissue.properties import Param

__all__ = [
    "VESSEL_PARAMS",
    "LARGE_VESSEL_MIN_DIAMETER_M",
    "VesselSegment",
    "grow_tree",
    "rasterise_vessels",
    "distance_to_vessel_walls_m",
]

_MURRAY = "Murray, PNAS 12:207-214, 1926 (minimum work: r_p^3 = sum r_child^3)"

#: Sourced numbers of the vessel model (tags as in ``shared/data/literature.md``).
VESSEL_PARAMS: dict[str, Param] = {
    "large_vessel_min_diameter_m": Param(
        3e-3,
        "m",
        "Lu et al., J Vasc Interv Radiol 2003: contiguous vessels >= 3 mm predict incomplete RFA "
        "(48 % vs 7 %)",
        "V",
        "heat-sink threshold; abstract checked",
    ),
    "portal_vein_diameter_m": Param(
        13e-3, "m", "adult main portal vein 12-14 mm (radiology reference range)", "R"
    ),
    "portal_right_flow_fraction": Param(
        0.6, "1", "right lobe ~60 % of liver volume, flow taken proportional", "E"
    ),
    "right_hepatic_vein_diameter_m": Param(
        11e-3, "m", "hepatic veins 8-12 mm near the IVC (anatomy texts)", "R"
    ),
    "middle_hepatic_vein_diameter_m": Param(
        10e-3, "m", "hepatic veins 8-12 mm near the IVC (anatomy texts)", "R"
    ),
    "left_hepatic_vein_diameter_m": Param(
        9e-3, "m", "hepatic veins 8-12 mm near the IVC (anatomy texts)", "R"
    ),
    "ivc_diameter_m": Param(
        20e-3, "m", "retrohepatic inferior vena cava ~20 mm (15-25 mm) (radiology reference)", "R"
    ),
    "murray_exponent": Param(3.0, "1", _MURRAY, "R"),
    "murray_angles": Param(
        1.0,
        "1",
        "Murray, J Gen Physiol 9:835-841, 1926 (branching angles of minimum work)",
        "R",
        "flag: 1 = use Murray's angle law, jitter added",
    ),
    "terminal_diameter_m": Param(
        2e-3, "m", "trees stop at 1-2 mm; smaller vessels are perfused parenchyma", "E"
    ),
    "length_to_radius": Param(
        6.0, "1", "segment length ~ 5-10 radii between branchings", "E", "drawn within +-30 %"
    ),
    "flow_split_min": Param(
        0.25,
        "1",
        "asymmetry of bifurcations; estimate",
        "E",
        "flow fraction of one child drawn in [min, 1 - min]",
    ),
    "angle_jitter_rad": Param(np.deg2rad(10.0), "rad", "estimate", "E"),
}

#: Calibre from which a vessel is a heat sink (``Label.LARGE_VESSEL``) [m].
LARGE_VESSEL_MIN_DIAMETER_M = VESSEL_PARAMS["large_vessel_min_diameter_m"].value

_CLEARANCE_M = 1e-3  # wall-to-surface clearance kept by every segment
_MIN_LENGTH_M = 3e-3
_MAX_LENGTH_M = 40e-3
_MAX_SEGMENTS = 6000  # per tree: a guard, far above what the organ holds at 1.5 mm terminals


@dataclass(frozen=True)
class VesselSegment:
    """One straight vessel segment (a capsule: cylinder with round ends).

    Attributes
    ----------
    start_m, end_m : tuple of float
        Axis end points in phantom world coordinates [m].
    radius_m : float
        Lumen radius [m] (constant along the segment).
    tree : str
        ``"portal"``, ``"hepatic_right"``, ``"hepatic_middle"``, ``"hepatic_left"`` or ``"ivc"``.
    generation : int
        Number of bifurcations between the trunk (0) and this segment.
    parent : int
        Index of the parent segment in the phantom's segment list (-1 for a trunk).
    """

    start_m: tuple[float, float, float]
    end_m: tuple[float, float, float]
    radius_m: float
    tree: str
    generation: int
    parent: int = -1

    @property
    def diameter_m(self) -> float:
        """Lumen diameter [m]."""
        return 2.0 * self.radius_m

    @property
    def length_m(self) -> float:
        """Axis length [m]."""
        return float(np.linalg.norm(np.subtract(self.end_m, self.start_m)))

    @property
    def is_large(self) -> bool:
        """Whether the calibre is ≥ 3 mm (a heat sink, ``Label.LARGE_VESSEL``)."""
        return self.diameter_m >= LARGE_VESSEL_MIN_DIAMETER_M - 1e-12


def _tup(p) -> tuple[float, float, float]:
    return tuple(float(v) for v in p)  # type: ignore[return-value]


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def _perpendicular(d: np.ndarray, hint: np.ndarray | None = None) -> np.ndarray:
    """A unit vector perpendicular to unit ``d`` (closest to ``hint`` if given)."""
    if hint is not None:
        p = hint - (hint @ d) * d
        if np.linalg.norm(p) > 1e-6:
            return _unit(p)
    a = np.eye(3)[int(np.argmin(np.abs(d)))]
    return _unit(np.cross(d, a))


def _rotate(v: np.ndarray, axis: np.ndarray, angle: float) -> np.ndarray:
    """Rodrigues rotation of ``v`` about unit ``axis`` by ``angle`` [rad]."""
    c, s = np.cos(angle), np.sin(angle)
    return v * c + np.cross(axis, v) * s + axis * (axis @ v) * (1.0 - c)


def murray_angles(r_parent: float, r1: float, r2: float) -> tuple[float, float]:
    """Branching angles [rad] of two children from the parent axis (Murray 1926).

    Notes
    -----
    .. math:: \\cos\\theta_1 = \\frac{r_p^4 + r_1^4 - r_2^4}{2 r_p^2 r_1^2}

    Examples
    --------
    >>> t1, t2 = murray_angles(1.0, 2 ** (-1 / 3), 2 ** (-1 / 3))
    >>> round(float(np.degrees(t1)), 1), round(float(np.degrees(t2)), 1)
    (37.5, 37.5)
    """
    p4, a4, b4 = r_parent**4, r1**4, r2**4
    c1 = np.clip((p4 + a4 - b4) / (2 * r_parent**2 * r1**2), -1.0, 1.0)
    c2 = np.clip((p4 + b4 - a4) / (2 * r_parent**2 * r2**2), -1.0, 1.0)
    return float(np.arccos(c1)), float(np.arccos(c2))


def grow_tree(
    name: str,
    start_m,
    direction,
    radius_m: float,
    depth_m: Callable[[np.ndarray], np.ndarray],
    rng: np.random.Generator,
    *,
    trunk_length_m: float | None = None,
    first_index: int = 0,
    first_split: tuple[tuple, tuple] | None = None,
    avoid: list[tuple[np.ndarray, float]] | None = None,
) -> list[VesselSegment]:
    """Grow one vessel tree from a trunk by recursive Murray bifurcation.

    Parameters
    ----------
    name : str
        Tree name stored on every segment.
    start_m : array_like, shape (3,)
        Start of the trunk [m] (may lie close to the organ surface).
    direction : array_like, shape (3,)
        Initial direction of the trunk (need not be unit).
    radius_m : float
        Trunk radius [m].
    depth_m : callable
        ``depth_m(points (n, 3) [m]) -> (n,)`` depth below the organ surface [m] (positive
        inside); an approximate signed distance is sufficient.
    rng : numpy.random.Generator
        Source of all randomness of this tree.
    trunk_length_m : float, optional
        Length of the trunk [m]; default drawn like any other segment.
    first_index : int
        Index the trunk will have in the caller's combined segment list (for ``parent``).
    first_split : ((flow_fraction, direction), (flow_fraction, direction)), optional
        Prescribed first bifurcation (e.g. right and left portal vein); later ones are random.
    avoid : list of (centre_m, radius_m), optional
        Balls that segments of calibre ≥ 3 mm must not enter (their wall stays outside): room
        kept free for a tumour that displaced the vessels. The trunk itself is not checked.

    Returns
    -------
    list of VesselSegment
        Parents always precede their children.

    Notes
    -----
    Children radii :math:`r_{1,2} = r_p\\,\\alpha^{1/3}, r_p(1-\\alpha)^{1/3}` satisfy Murray's
    law :math:`r_p^3 = r_1^3 + r_2^3` exactly.
    """
    lam = VESSEL_PARAMS["length_to_radius"].value
    r_term = 0.5 * VESSEL_PARAMS["terminal_diameter_m"].value
    a_min = VESSEL_PARAMS["flow_split_min"].value
    jitter = VESSEL_PARAMS["angle_jitter_rad"].value
    samples = np.array([0.25, 0.5, 0.75, 1.0])[:, None]

    zones = [(np.asarray(c, float), float(rz)) for c, rz in (avoid or [])]
    r_large = 0.5 * LARGE_VESSEL_MIN_DIAMETER_M - 1e-12

    def fits(a: np.ndarray, b: np.ndarray, r: float) -> bool:
        pts = a + samples * (b - a)
        if not np.all(depth_m(pts) >= r + _CLEARANCE_M):
            return False
        if r >= r_large:
            for c, rz in zones:
                if _point_segment_distance(c, a, b) < rz + r:
                    return False
        return True

    six = np.concatenate([np.eye(3), -np.eye(3)]) * 1e-3

    def inward(p: np.ndarray) -> np.ndarray:
        v = depth_m(p + six)
        g = v[:3] - v[3:]
        n = np.linalg.norm(g)
        return g / n if n > 0 else np.zeros(3)

    def place(a: np.ndarray, d: np.ndarray, r: float, tries: int = 4):
        """End point and direction of a segment of radius r from a, or None."""
        for k in range(tries):
            dd = d
            if k > 0:  # bend towards the interior, more with every try
                dd = _unit(d + 0.4 * k * inward(a) + 0.15 * k * rng.normal(size=3))
            length = float(np.clip(lam * r * rng.uniform(0.7, 1.3), _MIN_LENGTH_M, _MAX_LENGTH_M))
            for frac in (1.0, 0.6):
                b = a + dd * length * frac
                if fits(a, b, r):
                    return b, dd
        return None

    start = np.asarray(start_m, float)
    d0 = _unit(np.asarray(direction, float))
    if trunk_length_m is None:
        trunk_length_m = float(np.clip(lam * radius_m, _MIN_LENGTH_M, _MAX_LENGTH_M))
    segs: list[VesselSegment] = [
        VesselSegment(_tup(start), _tup(start + d0 * trunk_length_m), float(radius_m), name, 0, -1)
    ]
    # queue items: (local index, direction, plane normal)
    normal0 = _perpendicular(d0, rng.normal(size=3))
    queue = deque([(0, d0, normal0)])
    while queue and len(segs) < _MAX_SEGMENTS:
        i, d, n_prev = queue.popleft()
        seg = segs[i]
        r = seg.radius_m
        end = np.asarray(seg.end_m)
        if r < r_term:
            continue
        children = None
        for attempt in range(3):
            if i == 0 and first_split is not None and attempt == 0:
                (a1, v1), (a2, v2) = first_split
                alpha = a1 / (a1 + a2)
                r1, r2 = r * alpha ** (1 / 3), r * (1 - alpha) ** (1 / 3)
                d1, d2 = _unit(np.asarray(v1, float)), _unit(np.asarray(v2, float))
                n_new = _perpendicular(d, np.cross(d1, d2))
            else:
                alpha = rng.uniform(a_min, 1.0 - a_min)
                r1, r2 = r * alpha ** (1 / 3), r * (1 - alpha) ** (1 / 3)
                t1, t2 = murray_angles(r, r1, r2)
                t1 += rng.normal(0.0, jitter)
                t2 += rng.normal(0.0, jitter)
                phi = rng.choice([-1.0, 1.0]) * rng.uniform(np.pi / 3, 2 * np.pi / 3)
                n_new = _rotate(_perpendicular(d, n_prev), d, phi)
                e = np.cross(n_new, d)
                d1 = _unit(np.cos(t1) * d + np.sin(t1) * e)
                d2 = _unit(np.cos(t2) * d - np.sin(t2) * e)
            p1 = place(end, d1, r1)
            p2 = place(end, d2, r2) if p1 is not None else None
            if p1 is not None and p2 is not None:
                children = ((p1, r1), (p2, r2))
                break
        if children is not None:
            for (b, dd), rc in children:
                segs.append(
                    VesselSegment(
                        _tup(end), _tup(b), float(rc), name, seg.generation + 1, first_index + i
                    )
                )
                queue.append((len(segs) - 1, dd, n_new))
            continue
        # No room to bifurcate: continue as one segment of the same calibre if possible.
        p = place(end, d, r, tries=3)
        if p is not None:
            b, dd = p
            segs.append(
                VesselSegment(_tup(end), _tup(b), float(r), name, seg.generation, first_index + i)
            )
            queue.append((len(segs) - 1, dd, n_prev))
    return segs


def _point_segment_distance(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    d = b - a
    L2 = float(d @ d)
    t = 0.0 if L2 == 0 else float(np.clip((p - a) @ d / L2, 0.0, 1.0))
    return float(np.linalg.norm(p - a - t * d))


def rasterise_vessels(grid: Grid, label: np.ndarray, segments: list[VesselSegment]) -> None:
    """Write vessel labels into ``label`` in place, inside the organ only.

    Segments of calibre ≥ 3 mm become ``LARGE_VESSEL`` (voxel centres within the radius of the
    axis); thinner ones ``SMALL_VESSEL`` with the radius raised to half a voxel so that a branch
    stays a connected line. Branches thinner than one voxel are not rasterised. Large vessels
    win over small ones. Voxels labelled ``OUTSIDE`` are left untouched.

    Parameters
    ----------
    grid : Grid
    label : ndarray of uint8, shape ``grid.shape``
        Label volume, modified in place.
    segments : list of VesselSegment
    """
    h = min(grid.spacing_m)
    organ = label != Label.OUTSIDE
    small = [s for s in segments if not s.is_large and s.diameter_m >= h - 1e-12]
    large = [s for s in segments if s.is_large]
    for group, lab in ((small, Label.SMALL_VESSEL), (large, Label.LARGE_VESSEL)):
        for s in group:
            r = s.radius_m if lab == Label.LARGE_VESSEL else max(s.radius_m, 0.5 * h)
            a = np.asarray(s.start_m)
            b = np.asarray(s.end_m)
            sl = bbox_slices(grid, np.minimum(a, b) - r, np.maximum(a, b) + r)
            if any(q.stop <= q.start for q in sl):
                continue
            hit = (distance_to_segment_m(grid, a, b, sl) <= r + 1e-12) & organ[sl]
            label[sl][hit] = lab


def distance_to_vessel_walls_m(
    points_m, segments: list[VesselSegment], *, chunk: int = 4096
) -> tuple[np.ndarray, np.ndarray]:
    """Distance of points to the nearest vessel wall, negative inside a lumen [m].

    Parameters
    ----------
    points_m : array_like, shape (n, 3)
        Points in world coordinates [m].
    segments : list of VesselSegment
        Candidate vessels (e.g. only the large ones).

    Returns
    -------
    distance_m : ndarray, shape (n,)
        ``min_s (|p - axis_s| - r_s)`` [m]; ``inf`` when ``segments`` is empty.
    nearest : ndarray of int, shape (n,)
        Index into ``segments`` of the nearest wall (-1 when empty).

    Examples
    --------
    >>> s = VesselSegment((0, 0, 0), (0, 0, 0.01), 0.002, "test", 0)
    >>> d, i = distance_to_vessel_walls_m([[0.005, 0, 0.005]], [s])
    >>> round(float(d[0]), 6), int(i[0])
    (0.003, 0)
    """
    p = np.asarray(points_m, float).reshape(-1, 3)
    n = len(p)
    if not segments:
        return np.full(n, np.inf), np.full(n, -1)
    A = np.array([s.start_m for s in segments])
    B = np.array([s.end_m for s in segments])
    R = np.array([s.radius_m for s in segments])
    D = B - A
    L2 = np.maximum(np.einsum("ij,ij->i", D, D), 1e-30)
    out = np.empty(n)
    idx = np.empty(n, dtype=int)
    for lo in range(0, n, chunk):
        q = p[lo : lo + chunk, None, :] - A[None]  # (m, s, 3)
        t = np.clip(np.einsum("msk,sk->ms", q, D) / L2, 0.0, 1.0)
        dist = np.linalg.norm(q - t[..., None] * D[None], axis=-1) - R[None]
        k = np.argmin(dist, axis=1)
        idx[lo : lo + chunk] = k
        out[lo : lo + chunk] = dist[np.arange(len(k)), k]
    return out, idx
