r"""Planning helpers: ethanol volumes, injection-needle, cryoprobe and IRE-electrode layouts.

Pure geometry and arithmetic rules, SI units at the API (reports convert to mm and mL). Every rule
number lives in :data:`tissuefate.tissue.properties.PLANNING` (or :data:`LITTRUP_2009`) with its
source and evidence tag. The functions place applicators to cover a target sphere (or, for
parallel probes, the target's section in the probes' mid-plane) with a margin; they know nothing of
the physics, so a plan is a starting point that a simulation then checks.

**Research planning arithmetic, not treatment guidance.** No volume, layout or voltage here is a
recommendation for treating people.

Coverage rules
--------------
- *Injection needles*: the fluid from a tip is assumed to reach a sphere of ``reach_radius_m``;
  the target ball is covered when every point lies within that distance of some tip.
- *Cryoprobes*: in the mid-plane of the active segments, the lethal zone of a cluster of probes is
  every point within a **lethal reach** of the convex hull of the probe positions (inter-probe ice
  merges and is lethal, as in Littrup's 3- and 4-probe arrays at 2 cm [V]). The reach is computed
  from Littrup et al. 2009 (gel at 39 °C, 15 min, lethal ice < −30 °C) [C]: 1 probe d₁/2 = 6.0 mm;
  2 probes (d₂ − s)/2 = 6.5 mm; 3 probes d₃/2 − s/√3 = 8.95 mm; 4 or more d₄/2 − s/√2 = 10.4 mm (no
  further gain assumed beyond 4 [E]). The rule itself is an estimate [E]; clinical double
  freeze–thaw cycles and perfused liver change the reach.
- *IRE electrodes*: the same hull rule with a reach of 3.0 mm beyond the electrodes
  (``PLANNING["ire_reach_beyond_electrode_m"]``, computed with tissuefate's own field solver for a
  15 mm pair at 1500 V/cm [C]): the clinical "bracketing" premise that tissue between pulsed needles
  ≤ 2 cm apart is ablated. Checked with :func:`tissuefate.physics.ire.solve_ire` (0.5 mm voxels,
  no heating): a 15 mm triangle at 2250 V per pair kills the whole planned mid-plane disc of
  5.5 mm radius, centroid included. The reach is not rescaled if the voltage rule is changed.

Probe and electrode layouts are compact clusters whose neighbours (ring sides, and spokes to a
centre member) lie in the allowed spacing range: one probe; a pair; an equilateral triangle; a
square (Littrup's 4-probe array); or a centre member with a regular ring of 5–7 (a larger ring
without a centre would leave its centre farther than the spacing from every member). The smallest
cluster that covers the target plus margin is chosen, and within it the smallest ring, so that the
lethal zone exceeds the target as little as the spacing allows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError
from ..tissue.properties import LITTRUP_2009, PLANNING

__all__ = [
    "shiina_total_ethanol_volume_m3",
    "plan_ethanol_sessions",
    "NeedlePlan",
    "plan_injection_needles",
    "ClusterPlan",
    "plan_cryoprobes",
    "IREPlan",
    "plan_ire_pairs",
    "cryo_lethal_reach_m",
    "plan_summary",
    "THERMAL_ZONE_CHART",
    "expected_thermal_zone_diameter_m",
    "OverlapPlan",
    "plan_overlapping_ablations",
]

_MAX_RADIUS_M = 0.1


def _positive(name: str, value, hi: float, unit_scale: float = 1e3, unit: str = "mm", *, zero_ok=False) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} = {value!r}: must be a number [SI]") from None
    lo_ok = v >= 0 if zero_ok else v > 0
    if not (math.isfinite(v) and lo_ok and v <= hi):
        rel = "≥ 0" if zero_ok else "> 0"
        hint = (f" The API takes SI units: did you pass {unit} instead of {'m³' if unit == 'mL' else 'm'}?"
                if math.isfinite(v) and v > hi and unit in ("mm", "mL") else "")
        raise ConfigError(f"{name} = {v:g} ({v * unit_scale:g} {unit}): must be {rel} and ≤ {hi * unit_scale:g} "
                          f"{unit}.{hint}")
    return v


# --------------------------------------------------------------------------------------------------
# Ethanol (Shiina rule)
# --------------------------------------------------------------------------------------------------
def shiina_total_ethanol_volume_m3(tumour_radius_m: float) -> float:
    r"""Total ethanol volume of a percutaneous ethanol course by Shiina's rule [m³].

    Parameters
    ----------
    tumour_radius_m : float
        Tumour radius [m], in (0, 100 mm].

    Returns
    -------
    float
        Total volume over all sessions [m³] (× 1e6 for mL).

    Notes
    -----
    .. math:: V = \tfrac{4}{3}\pi\,(r + 0.5\ \mathrm{cm})^3

    (Shiina et al., AJR 1990/1993 [R]/[C]; the 0.5 cm is ``PLANNING["ethanol_margin_m"]``): a sphere
    0.5 cm beyond the tumour, filled completely. Research planning arithmetic, not dosing advice.

    Examples
    --------
    >>> [round(shiina_total_ethanol_volume_m3(d / 2) * 1e6, 1) for d in (0.01, 0.02, 0.03, 0.04)]
    [4.2, 14.1, 33.5, 65.4]
    """
    r = _positive("tumour_radius_m", tumour_radius_m, _MAX_RADIUS_M)
    return 4.0 / 3.0 * math.pi * (r + PLANNING["ethanol_margin_m"].value) ** 3


def plan_ethanol_sessions(tumour_radius_m: float,
                          per_session_cap_m3: float = PLANNING["ethanol_session_cap_m3"].value) -> list[float]:
    r"""Split Shiina's total ethanol volume into sessions under a per-session cap [m³ each].

    Parameters
    ----------
    tumour_radius_m : float
        Tumour radius [m], in (0, 100 mm].
    per_session_cap_m3 : float
        Largest volume per session [m³], in (0, 100 mL]; default 10 mL (upper end of Lencioni 2003's
        2–10 mL [V], ``PLANNING["ethanol_session_cap_m3"]``).

    Returns
    -------
    list of float
        ``n = ceil(V / cap)`` equal session volumes [m³] summing to
        :func:`shiina_total_ethanol_volume_m3` (equal shares avoid a last session of a few drops).

    Notes
    -----
    Research planning arithmetic, **not dosing advice**: the clinical number of sessions also
    depends on tolerance, distribution seen on imaging and response, none of which this rule knows.

    Examples
    --------
    >>> [round(v * 1e6, 2) for v in plan_ethanol_sessions(0.015)]  # 3 cm tumour: 33.5 mL
    [8.38, 8.38, 8.38, 8.38]
    >>> len(plan_ethanol_sessions(0.005))  # 1 cm tumour: 4.2 mL in one session
    1
    """
    total = shiina_total_ethanol_volume_m3(tumour_radius_m)
    cap = _positive("per_session_cap_m3", per_session_cap_m3, 100e-6, 1e6, "mL")
    n = max(1, math.ceil(total / cap - 1e-12))
    return [total / n] * n


# --------------------------------------------------------------------------------------------------
# Shared geometry
# --------------------------------------------------------------------------------------------------
def _vec3(name: str, v) -> np.ndarray:
    a = np.asarray(v, dtype=float)
    if a.shape != (3,) or not np.all(np.isfinite(a)):
        raise ConfigError(f"{name} = {v!r}: must be three finite numbers [m]")
    return a


def _frame(direction) -> np.ndarray:
    """Rotation whose columns are (e1, e2, d): d the unit direction, e1, e2 perpendicular to it."""
    d = _vec3("direction", direction)
    n = np.linalg.norm(d)
    if n == 0:
        raise ConfigError(f"direction = {list(direction)}: must be a non-zero 3-vector")
    d = d / n
    helper = np.array([1.0, 0.0, 0.0]) if abs(d[0]) < 0.9 else np.array([0.0, 1.0, 0.0])
    e1 = helper - (helper @ d) * d
    e1 /= np.linalg.norm(e1)
    return np.stack([e1, np.cross(d, e1), d], axis=1)


def _rng(rng) -> np.random.Generator:
    if rng is None:
        return np.random.default_rng(0)
    if isinstance(rng, np.random.Generator):
        return rng
    raise ConfigError(f"rng = {rng!r}: must be a numpy.random.Generator or None (seed 0)")


def _disc_samples(radius_m: float, n: int, rng: np.random.Generator) -> np.ndarray:
    r = radius_m * np.sqrt(rng.random(n))
    a = 2 * np.pi * rng.random(n)
    return np.stack([r * np.cos(a), r * np.sin(a)], axis=1)


# --------------------------------------------------------------------------------------------------
# Injection needles
# --------------------------------------------------------------------------------------------------
_GOLD = (1 + math.sqrt(5)) / 2


def _shell(name: str) -> tuple[np.ndarray, float]:
    """Unit directions of a regular shell (one vertex on +z where possible) and the cosine of its
    covering angle (the largest angle from any direction to the nearest vertex: a face centre)."""
    if name == "tetrahedron":
        v = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]], float)
        return v / np.linalg.norm(v, axis=1, keepdims=True), 1.0 / 3.0
    if name == "octahedron":
        return np.vstack([np.eye(3), -np.eye(3)]), 1.0 / math.sqrt(3.0)
    if name == "icosahedron":
        g = _GOLD
        v = np.array([[0, s1, s2 * g] for s1 in (-1, 1) for s2 in (-1, 1)]
                     + [[s1, s2 * g, 0] for s1 in (-1, 1) for s2 in (-1, 1)]
                     + [[s2 * g, 0, s1] for s1 in (-1, 1) for s2 in (-1, 1)], float)
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        # rotate about x so that vertex (0, 1, g)/|.| lies on +z: fewer needle tracts
        a = math.atan2(1.0, g)
        rot = np.array([[1, 0, 0], [0, math.cos(a), -math.sin(a)], [0, math.sin(a), math.cos(a)]])
        return v @ rot.T, math.sqrt((5 + 2 * math.sqrt(5)) / 15)
    raise ValueError(name)


#: Candidate needle layouts, by number of tips: (name, shell or None, centre tip).
_NEEDLE_LAYOUTS = (("single", None, True), ("tetrahedron", "tetrahedron", False),
                   ("octahedron", "octahedron", False), ("icosahedron", "icosahedron", False),
                   ("centre+icosahedron", "icosahedron", True))


def _shell_worst_m(R: float, rho: np.ndarray, c: float, centre: bool) -> np.ndarray:
    """Largest distance from a point of the ball of radius R to the nearest tip (exact).

    On the ray at the covering angle θ (cos θ = c) the distance to the nearest shell tip is
    g(t) = √(t² + ρ² − 2tρc), convex in t, so its maximum over [0, R] is at an end. With a centre tip
    the nearest is min(t, g(t)); the two cross at t* = ρ/(2c)."""
    g_R = np.sqrt(R * R + rho * rho - 2 * R * rho * c)
    if not centre:
        return np.maximum(rho, g_R)
    t_star = rho / (2 * c)
    return np.where(R <= t_star, R, np.maximum(t_star, g_R))


@dataclass(frozen=True)
class NeedlePlan:
    """Injection-needle tips covering a target ball.

    Attributes
    ----------
    tips_m : ndarray, shape (n, 3)
        Tip positions [m].
    direction : tuple of float
        Shared insertion direction (unit vector, from the tip towards the skin).
    layout : str
        ``single``, ``tetrahedron``, ``octahedron``, ``icosahedron`` or ``centre+icosahedron``.
    shell_radius_m : float
        Distance of the shell tips from the target centre [m] (0 for a single tip).
    reach_radius_m, target_radius_m : float
        Inputs [m].
    worst_distance_m : float
        Largest distance from a target point to its nearest tip [m] (exact); ≤ reach.
    covered_fraction : float
        Fraction of sampled target points within ``reach_radius_m`` of a tip.
    n_tracts : int
        Distinct needle tracts (tips on one line along ``direction`` share a tract).
    """

    tips_m: np.ndarray
    direction: tuple[float, float, float]
    layout: str
    shell_radius_m: float
    reach_radius_m: float
    target_radius_m: float
    worst_distance_m: float
    covered_fraction: float
    n_tracts: int

    @property
    def n_needles(self) -> int:
        return int(self.tips_m.shape[0])


def plan_injection_needles(target_centre_m: Sequence[float], target_radius_m: float, reach_radius_m: float,
                           max_needles: int = 13, *, direction: Sequence[float] = (0.0, 0.0, 1.0),
                           rng: np.random.Generator | None = None, n_samples: int = 20_000) -> NeedlePlan:
    r"""Needle tips whose reach spheres cover a target ball.

    Parameters
    ----------
    target_centre_m : 3-vector
        Centre of the target ball [m] (tumour plus margin).
    target_radius_m : float
        Radius of the target ball [m], in (0, 100 mm].
    reach_radius_m : float
        Radius of the ball one injection point is assumed to fill [m], in (0, 100 mm].
    max_needles : int
        Largest number of tips allowed (1–13).
    direction : 3-vector
        Shared insertion direction (tip → skin); needles are parallel.
    rng : numpy.random.Generator, optional
        Generator of the coverage samples (default ``default_rng(0)``).
    n_samples : int
        Number of coverage samples.

    Returns
    -------
    NeedlePlan

    Raises
    ------
    ConfigError
        Bad input, or no layout with at most ``max_needles`` tips covers the target.

    Notes
    -----
    Candidates, by number of tips: 1 centre; 4 tetrahedral; 6 octahedral; 12 icosahedral; 12 + a
    centre tip, on a shell of radius ρ. For a shell whose covering angle is θ (largest angle from any
    direction to the nearest tip, cos θ = 1/3, 1/√3, 0.795) the worst-covered point is on the ray at
    angle θ, at the centre or on the surface, so the largest distance to a tip is exactly

    .. math:: \max\bigl(\rho,\ \sqrt{R^2 + \rho^2 - 2R\rho\cos\theta}\bigr),

    minimised over ρ (with a centre tip the centre term becomes ρ/(2 cos θ)). The target is
    covered when that distance is ≤ the reach; ratios R/reach up to 1.061, 1.225, 1.590 and 1.647 need
    4, 6, 12 and 13 tips. Two tips on an axis never beat one for a ball (the equator stays at ≥ R),
    so that layout is not offered. Coverage is also reported by sampling.

    Examples
    --------
    >>> p = plan_injection_needles((0, 0, 0), 0.01, 0.012)
    >>> p.layout, p.n_needles, p.covered_fraction
    ('single', 1, 1.0)
    >>> p = plan_injection_needles((0, 0, 0), 0.015, 0.01)
    >>> p.layout, p.n_needles, p.n_tracts, p.covered_fraction >= 0.99
    ('icosahedron', 12, 11, True)
    """
    c0 = _vec3("target_centre_m", target_centre_m)
    R = _positive("target_radius_m", target_radius_m, _MAX_RADIUS_M)
    reach = _positive("reach_radius_m", reach_radius_m, _MAX_RADIUS_M)
    if isinstance(max_needles, bool) or int(max_needles) != max_needles or not 1 <= max_needles <= 13:
        raise ConfigError(f"max_needles = {max_needles!r}: must be an integer in 1-13")
    if int(n_samples) < 100:
        raise ConfigError(f"n_samples = {n_samples!r}: must be ≥ 100")
    frame = _frame(direction)
    chosen = None
    for name, shell, centre in _NEEDLE_LAYOUTS:
        dirs, c = (None, 1.0) if shell is None else _shell(shell)
        n = (0 if dirs is None else len(dirs)) + int(centre)
        if n > max_needles:
            break
        if dirs is None:
            worst, rho = R, 0.0
        else:
            rhos = np.linspace(0.0, R, 2001)[1:]
            w = _shell_worst_m(R, rhos, c, centre)
            k = int(np.argmin(w))
            worst, rho = float(w[k]), float(rhos[k])
        if worst <= reach * (1 + 1e-9):
            chosen = (name, dirs, centre, rho, worst)
            break
    if chosen is None:
        raise ConfigError(
            f"target_radius_m = {R * 1e3:g} mm with reach_radius_m = {reach * 1e3:g} mm: no layout of at most "
            f"{int(max_needles)} needles covers the target (ratio {R / reach:.3f}; 13 tips cover up to 1.647). "
            "Raise max_needles or the reach per injection, or split the target over sessions.")
    name, dirs, centre, rho, worst = chosen
    local = [np.zeros((1, 3))] if centre else []
    if dirs is not None:
        local.append(rho * dirs)
    tips = c0 + np.vstack(local) @ frame.T
    # coverage by sampling the ball uniformly
    g = _rng(rng)
    u = g.standard_normal((int(n_samples), 3))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    pts = c0 + u * (R * g.random((int(n_samples), 1)) ** (1 / 3))
    d2 = ((pts[:, None, :] - tips[None, :, :]) ** 2).sum(-1).min(1)
    covered = float(np.mean(d2 <= reach * reach * (1 + 1e-9)))
    perp = np.round((tips - c0) @ frame[:, :2] / max(R, 1e-12), 9)
    n_tracts = len({tuple(p) for p in perp.tolist()})
    return NeedlePlan(tips, tuple(float(v) for v in frame[:, 2]), name, rho, reach, R, worst, covered, n_tracts)


# --------------------------------------------------------------------------------------------------
# Parallel-probe clusters (cryo, IRE)
# --------------------------------------------------------------------------------------------------
def cryo_lethal_reach_m(n_probes: int) -> float:
    """Lethal reach beyond the convex hull of ``n_probes`` cryoprobes [m] (module notes; [C] from
    Littrup et al. 2009, gel at 39 °C, 15-min freeze, lethal ice < −30 °C).

    Examples
    --------
    >>> [round(cryo_lethal_reach_m(n) * 1e3, 2) for n in (1, 2, 3, 4, 8)]
    [6.0, 6.5, 8.95, 10.36, 10.36]
    """
    n = int(n_probes)
    if n < 1:
        raise ConfigError(f"n_probes = {n_probes!r}: must be ≥ 1")
    L = LITTRUP_2009
    s = L["probe_spacing_m"].value
    if n == 1:
        return L["lethal_diameter_1_m"].value / 2
    if n == 2:
        return (L["lethal_diameter_2_m"].value - s) / 2
    if n == 3:
        return L["lethal_diameter_3_m"].value / 2 - s / math.sqrt(3.0)
    return L["lethal_diameter_4_m"].value / 2 - s / math.sqrt(2.0)


def _ring(m: int, rho: float, centre: bool) -> np.ndarray:
    a = 2 * np.pi * np.arange(m) / m + (np.pi / 2 if m == 3 else np.pi / m if m == 4 else 0.0)
    ring = np.stack([rho * np.cos(a), rho * np.sin(a)], axis=1)
    return np.vstack([np.zeros((1, 2)), ring]) if centre else ring


def _cluster_candidates(smin: float, smax: float):
    """Yield (name, n, builder(rho), rho_lo, rho_hi, hull(rho) → (circumradius, apothem) or None).

    ``rho`` is the ring radius; every edge of the triangulation (ring sides, spokes) lies in
    [smin, smax]."""
    yield "single", 1, lambda rho: np.zeros((1, 2)), 0.0, 0.0, None
    yield "pair", 2, lambda rho: np.array([[-rho, 0.0], [rho, 0.0]]), smin / 2, smax / 2, "segment"
    for name, m in (("triangle", 3), ("square", 4)):
        k = 2 * math.sin(math.pi / m)  # side / circumradius
        yield name, m, (lambda rho, m=m: _ring(m, rho, False)), smin / k, smax / k, m
    for m in (5, 6, 7):
        k = 2 * math.sin(math.pi / m)
        lo, hi = max(smin, smin / k), min(smax, smax / k)
        yield f"centre+{m}", m + 1, (lambda rho, m=m: _ring(m, rho, True)), lo, hi, m


def _dist_to_hull(pts: np.ndarray, verts: np.ndarray) -> np.ndarray:
    """Distance of 2-D points to the convex hull of ``verts`` (a point, a segment, or a convex polygon
    listed counter-clockwise)."""
    if len(verts) == 1:
        return np.linalg.norm(pts - verts[0], axis=1)
    segs = [(verts[i], verts[(i + 1) % len(verts)]) for i in range(len(verts) if len(verts) > 2 else 1)]
    d = np.full(len(pts), np.inf)
    inside = np.ones(len(pts), bool)
    for a, b in segs:
        ab = b - a
        t = np.clip(((pts - a) @ ab) / (ab @ ab), 0.0, 1.0)
        d = np.minimum(d, np.linalg.norm(pts - (a + t[:, None] * ab), axis=1))
        inside &= (ab[0] * (pts[:, 1] - a[1]) - ab[1] * (pts[:, 0] - a[0])) >= 0
    if len(verts) > 2:
        d[inside] = 0.0
    return d


@dataclass(frozen=True)
class ClusterPlan:
    """Parallel probes (cryo) or electrodes (IRE) in the plane perpendicular to them.

    Attributes
    ----------
    offsets_m : ndarray, shape (n, 2)
        Positions in the mid-plane relative to the target axis [m].
    layout : str
        ``single``, ``pair``, ``triangle``, ``square`` or ``centre+m``.
    ring_radius_m : float
        Distance of the ring (or pair) members from the axis [m].
    min_spacing_m : float
        Smallest distance between two members [m] (0 for one).
    reach_m : float
        Lethal reach beyond the convex hull used by the coverage rule [m].
    target_radius_m, margin_m : float
        Inputs [m]; the planned disc has radius ``target_radius_m + margin_m``.
    covered_fraction : float
        Fraction of sampled points of the planned disc inside the estimated lethal zone.
    rule : str
        The coverage rule in words.
    """

    offsets_m: np.ndarray
    layout: str
    ring_radius_m: float
    min_spacing_m: float
    reach_m: float
    target_radius_m: float
    margin_m: float
    covered_fraction: float
    rule: str

    @property
    def n(self) -> int:
        return int(self.offsets_m.shape[0])

    def tips_m(self, centre_m: Sequence[float], active_length_m: float,
               direction: Sequence[float] = (0.0, 0.0, 1.0)) -> np.ndarray:
        """Tip positions [m] that put the middle of each active segment (length ``active_length_m``,
        running from the tip along ``direction``, tip → handle) in the target's mid-plane.

        Examples
        --------
        >>> p = plan_cryoprobes(0.004, margin_m=0.0)
        >>> p.tips_m((0.0, 0.0, 0.0), 0.04).tolist()
        [[0.0, 0.0, -0.02]]
        """
        c = _vec3("centre_m", centre_m)
        L = _positive("active_length_m", active_length_m, 0.2)
        f = _frame(direction)
        return c + self.offsets_m @ f[:, :2].T - 0.5 * L * f[:, 2]


def _plan_cluster(Rt: float, smin: float, smax: float, max_n: int, reach_of, allow_single: bool,
                  what: str) -> tuple[str, np.ndarray, float, float]:
    if not 0 < smin <= smax <= 0.05:
        raise ConfigError(f"{what} spacing range = [{smin * 1e3:g}, {smax * 1e3:g}] mm: need 0 < min ≤ max ≤ 50 mm")
    best_cover = 0.0
    for name, n, build, lo, hi, hull in _cluster_candidates(smin, smax):
        if n > max_n:
            break
        if name == "single" and not allow_single:
            continue
        if lo > hi * (1 + 1e-12):
            continue
        reach = reach_of(n)
        if hull is None:
            cover, rho = reach, 0.0
        elif hull == "segment":
            cover, rho = reach, lo
        else:
            cosm = math.cos(math.pi / hull)
            cover = hi * cosm + reach
            rho = min(max(lo, (Rt - reach) / cosm), hi)
        best_cover = max(best_cover, cover)
        if Rt <= cover * (1 + 1e-12):
            return name, build(rho), rho, reach
    raise ConfigError(
        f"{what}: target radius + margin = {Rt * 1e3:g} mm exceeds what at most {max_n} members at "
        f"{smin * 1e3:g}-{smax * 1e3:g} mm spacing cover ({best_cover * 1e3:.1f} mm by the rule in "
        "tissuefate.therapy.planning); use more members, a smaller margin, or several sessions.")


def _cluster_plan(layout: str, xy: np.ndarray, rho: float, reach: float, R: float, margin: float,
                  rule: str, rng, n_samples: int) -> ClusterPlan:
    if len(xy) > 1:
        dd = np.linalg.norm(xy[:, None] - xy[None], axis=-1)
        smin = float(dd[~np.eye(len(xy), dtype=bool)].min())
    else:
        smin = 0.0
    hull = xy[1:] if layout.startswith("centre+") else xy
    if int(n_samples) < 100:
        raise ConfigError(f"n_samples = {n_samples!r}: must be ≥ 100")
    pts = _disc_samples(R + margin, int(n_samples), _rng(rng))
    covered = float(np.mean(_dist_to_hull(pts, hull) <= reach * (1 + 1e-9)))
    return ClusterPlan(xy, layout, rho, smin, reach, R, margin, covered, rule)


def plan_cryoprobes(target_radius_m: float, margin_m: float = PLANNING["ablative_margin_m"].value, *,
                    min_spacing_m: float = PLANNING["cryo_min_spacing_m"].value,
                    max_spacing_m: float = PLANNING["cryo_max_spacing_m"].value, max_probes: int = 8,
                    rng: np.random.Generator | None = None, n_samples: int = 20_000) -> ClusterPlan:
    r"""Parallel cryoprobe positions whose estimated lethal zone covers target + margin.

    Parameters
    ----------
    target_radius_m : float
        Tumour radius [m], in (0, 100 mm].
    margin_m : float
        Margin beyond the tumour [m], in [0, 30 mm]; default 5 mm (``PLANNING["ablative_margin_m"]``, [E]).
    min_spacing_m, max_spacing_m : float
        Allowed distance between neighbouring probes [m]; default 15–20 mm (PMC4850244 [V]).
    max_probes : int
        1–8.
    rng : numpy.random.Generator, optional
        Generator of the coverage samples (default ``default_rng(0)``).
    n_samples : int

    Returns
    -------
    ClusterPlan
        Offsets in the plane perpendicular to the probes; :meth:`ClusterPlan.tips_m` places them.

    Notes
    -----
    Lethal zone in the probes' mid-plane = points within :func:`cryo_lethal_reach_m` of the convex
    hull of the probes (module notes, [E] rule with [C] reaches from Littrup 2009). For a regular
    ring of m probes at radius ρ the farthest point of the disc of radius R = r + margin from the
    hull lies on an edge normal, so the disc is covered when

    .. math:: R \le \rho\cos(\pi/m) + \text{reach}_n,

    and ρ is the smallest ring radius that satisfies it within the spacing range. A pair covers a
    disc only up to its reach (the point on the perpendicular bisector at distance R). Along the
    probes the zone spans about the active length: choose it ≥ 2R. Research planning geometry, not
    treatment guidance.

    Examples
    --------
    >>> [plan_cryoprobes(r).n for r in (0.0005, 0.005, 0.01, 0.015, 0.02)]
    [1, 3, 4, 4, 7]
    >>> p = plan_cryoprobes(0.01)
    >>> p.layout, round(p.min_spacing_m * 1e3, 1), p.covered_fraction
    ('square', 15.0, 1.0)
    """
    R = _positive("target_radius_m", target_radius_m, _MAX_RADIUS_M)
    m = _positive("margin_m", margin_m, 0.03, zero_ok=True)
    if isinstance(max_probes, bool) or int(max_probes) != max_probes or not 1 <= max_probes <= 8:
        raise ConfigError(f"max_probes = {max_probes!r}: must be an integer in 1-8")
    smin = _positive("min_spacing_m", min_spacing_m, 0.05)
    smax = _positive("max_spacing_m", max_spacing_m, 0.05)
    layout, xy, rho, reach = _plan_cluster(R + m, smin, smax, int(max_probes), cryo_lethal_reach_m, True, "cryo")
    rule = (f"lethal zone = points within {reach * 1e3:.2f} mm of the convex hull of the probes in their "
            "mid-plane (reach from Littrup 2009 [C]; hull rule [E])")
    return _cluster_plan(layout, xy, rho, reach, R, m, rule, rng, n_samples)


@dataclass(frozen=True)
class IREPlan:
    """IRE electrodes, the pairs to pulse and the voltage of each pair.

    Attributes
    ----------
    cluster : ClusterPlan
        Electrode offsets and coverage (``cluster.offsets_m``, ``cluster.tips_m(...)``).
    pairs : tuple of (int, int)
        (anode, cathode) indices into the electrodes, every pair with spacing ≤ ``max_spacing_m``.
    spacings_m : tuple of float
        Distance of each pair [m].
    voltages_V : tuple of float
        Voltage of each pair [V]: ratio × spacing, capped.
    capped : tuple of bool
        Whether the cap lowered a pair's voltage below the ratio rule.
    """

    cluster: ClusterPlan
    pairs: tuple[tuple[int, int], ...]
    spacings_m: tuple[float, ...]
    voltages_V: tuple[float, ...]
    capped: tuple[bool, ...]

    @property
    def offsets_m(self) -> np.ndarray:
        return self.cluster.offsets_m

    @property
    def n_electrodes(self) -> int:
        return self.cluster.n


def plan_ire_pairs(target_radius_m: float, margin_m: float = PLANNING["ablative_margin_m"].value, *,
                   min_spacing_m: float = PLANNING["ire_min_spacing_m"].value,
                   max_spacing_m: float = PLANNING["ire_max_spacing_m"].value,
                   max_electrodes: int = int(PLANNING["ire_max_electrodes"].value),
                   voltage_per_spacing_V_per_m: float = PLANNING["ire_voltage_per_spacing_V_per_m"].value,
                   max_voltage_V: float = PLANNING["ire_max_voltage_V"].value,
                   rng: np.random.Generator | None = None, n_samples: int = 20_000) -> IREPlan:
    r"""Parallel IRE electrodes bracketing target + margin, the pairs to pulse and their voltages.

    Parameters
    ----------
    target_radius_m : float
        Tumour radius [m], in (0, 100 mm].
    margin_m : float
        Margin [m], in [0, 30 mm]; default 5 mm ([E]).
    min_spacing_m, max_spacing_m : float
        Allowed distance between neighbouring electrodes [m]; default 15–20 mm (typical practice, [E]).
        Every pair closer than ``max_spacing_m`` is pulsed.
    max_electrodes : int
        2–6 (typical generator channels, [E]).
    voltage_per_spacing_V_per_m : float
        Ratio rule [V/m]; default 1.5e5 (1500 V/cm, typical device rule, [E]).
    max_voltage_V : float
        Cap [V]; default 3000 (typical generator limit, [E]).
    rng : numpy.random.Generator, optional
    n_samples : int

    Returns
    -------
    IREPlan

    Notes
    -----
    Layouts and coverage as :func:`plan_cryoprobes`, with a reach of
    ``PLANNING["ire_reach_beyond_electrode_m"]`` = 3.0 mm beyond the hull ([C], module notes) and
    at least two electrodes. Voltage per pair

    .. math:: V_{ij} = \min(r\,d_{ij},\ V_\max).

    The hull rule is the clinical bracketing premise (module notes give the solver check); check
    other layouts with :func:`tissuefate.physics.ire.solve_ire`. Typical device numbers, not
    treatment guidance.

    Examples
    --------
    >>> p = plan_ire_pairs(0.005, 0.005)
    >>> p.cluster.layout, p.pairs, [round(v) for v in p.voltages_V]
    ('square', ((0, 1), (0, 3), (1, 2), (2, 3)), [2250, 2250, 2250, 2250])
    """
    R = _positive("target_radius_m", target_radius_m, _MAX_RADIUS_M)
    m = _positive("margin_m", margin_m, 0.03, zero_ok=True)
    if isinstance(max_electrodes, bool) or int(max_electrodes) != max_electrodes or not 2 <= max_electrodes <= 6:
        raise ConfigError(f"max_electrodes = {max_electrodes!r}: must be an integer in 2-6")
    smin = _positive("min_spacing_m", min_spacing_m, 0.05)
    smax = _positive("max_spacing_m", max_spacing_m, 0.05)
    ratio = _positive("voltage_per_spacing_V_per_m", voltage_per_spacing_V_per_m, 1e6, 1e-2, "V/cm")
    vmax = _positive("max_voltage_V", max_voltage_V, 5000.0, 1.0, "V")
    reach = PLANNING["ire_reach_beyond_electrode_m"].value
    layout, xy, rho, reach = _plan_cluster(R + m, smin, smax, int(max_electrodes), lambda n: reach, False, "IRE")
    rule = (f"ablated = points within {reach * 1e3:.2f} mm of the convex hull of the electrodes (bracketing "
            "premise [E]; reach from tissuefate's clinical-pair case [C])")
    cluster = _cluster_plan(layout, xy, rho, reach, R, m, rule, rng, n_samples)
    pairs, dists, volts, capped = [], [], [], []
    for i in range(len(xy)):
        for j in range(i + 1, len(xy)):
            d = float(np.linalg.norm(xy[i] - xy[j]))
            if d <= smax * (1 + 1e-9):
                pairs.append((i, j))
                dists.append(d)
                volts.append(min(ratio * d, vmax))
                capped.append(ratio * d > vmax * (1 + 1e-12))
    return IREPlan(cluster, tuple(pairs), tuple(dists), tuple(volts), tuple(capped))


# --------------------------------------------------------------------------------------------------
# One summary of every plan for a tumour (``tissuefate plan``)
# --------------------------------------------------------------------------------------------------
def plan_summary(tumour_radius_m: float, margin_m: float = PLANNING["ablative_margin_m"].value, *,
                 injection_reach_m: float = 0.01) -> dict:
    """Every planning rule for one tumour, as a JSON-serialisable dict (mm and mL at this boundary).

    Parameters
    ----------
    tumour_radius_m : float
        Tumour radius [m].
    margin_m : float
        Margin the cryo, IRE and needle plans cover beyond the tumour [m].
    injection_reach_m : float
        Radius one injection point is assumed to fill [m] (an input: the injection model's
        distribution volume is about the injected volume / mobile fraction).

    Returns
    -------
    dict
        ``ethanol`` (Shiina total and sessions under the cap), ``injection_needles``,
        ``cryoprobes`` and ``ire`` layouts with their coverage. Research arithmetic, not dosing or
        treatment advice.

    Examples
    --------
    >>> s = plan_summary(0.01)
    >>> s["ethanol"]["total_mL"], s["ethanol"]["n_sessions"]
    (14.1, 2)
    """
    r, m = float(tumour_radius_m), float(margin_m)
    total = shiina_total_ethanol_volume_m3(r)
    sessions = plan_ethanol_sessions(r)
    mm = 1e3
    out: dict = {}
    for key, make, fmt in (
        ("injection_needles", lambda: plan_injection_needles((0.0, 0.0, 0.0), r + m, injection_reach_m), _needles_dict),
        ("cryoprobes", lambda: plan_cryoprobes(r, m), _cluster_dict),
        ("ire", lambda: plan_ire_pairs(r, m), _ire_dict),
    ):
        try:
            out[key] = fmt(make())
        except ConfigError as err:  # a rule that cannot cover this target says so, the others still run
            out[key] = {"error": str(err)}
    if "error" not in out["injection_needles"]:
        out["injection_needles"]["reach_mm"] = round(injection_reach_m * mm, 2)
    return {
        "tumour_diameter_mm": round(2 * r * mm, 3),
        "margin_mm": round(m * mm, 3),
        "ethanol": {"total_mL": round(total * 1e6, 1), "n_sessions": len(sessions),
                    "per_session_mL": round(sessions[0] * 1e6, 2),
                    "per_session_cap_mL": round(PLANNING["ethanol_session_cap_m3"].value * 1e6, 2),
                    "rule": "Shiina: V = 4/3 pi (r + 0.5 cm)^3, split equally under the per-session cap"},
        **out,
        "disclaimer": "Research planning arithmetic on simple geometric rules; not treatment or dosing advice.",
    }


def _needles_dict(p: NeedlePlan) -> dict:
    return {"n": p.n_needles, "layout": p.layout, "tips_mm": np.round(p.tips_m * 1e3, 2).tolist(),
            "covered_fraction": round(p.covered_fraction, 4)}


def _cluster_dict(p: ClusterPlan) -> dict:
    return {"n": p.n, "layout": p.layout, "min_spacing_mm": round(p.min_spacing_m * 1e3, 2),
            "offsets_mm": np.round(p.offsets_m * 1e3, 2).tolist(), "covered_fraction": round(p.covered_fraction, 4),
            "rule": p.rule}


def _ire_dict(p: IREPlan) -> dict:
    return {"n": p.n_electrodes, "layout": p.cluster.layout, "offsets_mm": np.round(p.offsets_m * 1e3, 2).tolist(),
            "pairs": [list(q) for q in p.pairs], "voltages_V": [round(v, 1) for v in p.voltages_V],
            "covered_fraction": round(p.cluster.covered_fraction, 4)}


# --------------------------------------------------------------------------------------------------
# Overlapping thermal ablations
# --------------------------------------------------------------------------------------------------
#: Published in vivo short-axis diameters of one ablation [m] that the thermal planner assumes
#: (literature.md §3), keyed by (modality, active length [mm] or frequency [MHz], duration [min],
#: power [W] or None). The planner uses published sizes, not the model's own zones, so that a
#: miscalibrated model cannot flatter its own plan.
THERMAL_ZONE_CHART: dict[tuple, tuple[float, str]] = {
    ("rfa", 30, 12, None): (30.2e-3, "Cool-tip 3 cm, 12 min, in vivo porcine: 46.0 x 30.2 mm, Exp Ther Med 3:214, "
                                     "2012 [V]"),
    ("rfa", 20, 12, None): (20.0e-3, "2-cm cooled electrode, 12 min, in vivo porcine: 26.2 x 20.0 mm, Lee et al., "
                                     "CVIR 32:1235, 2009 [V]"),
    ("mwa", 2450, 5, 80): (31.2e-3, "2.45 GHz, 80 W, 5 min, in vivo porcine: 44.8 x 31.2 mm, Exp Ther Med 2012 [V]"),
}


def expected_thermal_zone_diameter_m(modality: str, *, active_length_mm: float | None = None,
                                     frequency_MHz: float | None = None, duration_min: float,
                                     power_W: float | None = None) -> tuple[float, str] | None:
    """The published short-axis diameter of one ablation with these settings, or None.

    Examples
    --------
    >>> d, src = expected_thermal_zone_diameter_m("rfa", active_length_mm=30, duration_min=12)
    >>> round(d * 1e3, 1)
    30.2
    >>> expected_thermal_zone_diameter_m("mwa", frequency_MHz=2450, duration_min=10, power_W=60) is None
    True
    """
    if modality == "rfa":
        key = ("rfa", int(round(active_length_mm or 0)), int(round(duration_min)), None)
    elif modality == "mwa":
        key = ("mwa", int(round(frequency_MHz or 0)), int(round(duration_min)), int(round(power_W or 0)))
    else:
        return None
    return THERMAL_ZONE_CHART.get(key)


@dataclass(frozen=True)
class OverlapPlan:
    """Positions of overlapping thermal ablations in the plane across the applicator axis.

    Attributes
    ----------
    offsets_m : ndarray (n, 2)
        Applicator positions relative to the target centre in the plane perpendicular to the axis [m].
    covered_fraction : float
        Share of the target disc (radius ``target_radius_m + margin_m``) within ``zone_radius_m`` of a
        position.
    zone_radius_m, need_radius_m : float
    rule : str
    """

    offsets_m: np.ndarray
    covered_fraction: float
    zone_radius_m: float
    need_radius_m: float
    rule: str

    @property
    def n(self) -> int:
        return int(len(self.offsets_m))


def plan_overlapping_ablations(target_radius_m: float, margin_m: float, zone_radius_m: float, *,
                               max_positions: int = 4, coverage: float = 0.99) -> OverlapPlan:
    r"""How many overlapping ablations, and where, to cover a target plus a margin.

    The target disc of radius :math:`R = r + m` across the applicator axis is covered by discs of
    the ablation's radius :math:`a` centred on a ring of radius :math:`\rho` (one position at the
    centre when :math:`R \le a`): the smallest number of positions :math:`n \le` ``max_positions``
    whose best ring covers ``coverage`` of the target disc (sampled on a 61 × 61 lattice); if none
    does, the layout of ``max_positions`` with the largest coverage (``covered_fraction`` < coverage
    then). The axial extent is not planned (the long axis of these zones, 45–46 mm, exceeds the
    targets a few positions can cover across). Geometry only, [E]: real overlapping ablations
    interact thermally.

    Examples
    --------
    >>> plan_overlapping_ablations(0.01, 0.005, 0.0151).n
    1
    >>> p = plan_overlapping_ablations(0.015, 0.005, 0.0151)
    >>> p.n, p.covered_fraction >= 0.99
    (4, True)
    """
    r = _positive("target_radius_m", target_radius_m, _MAX_RADIUS_M)
    m = _positive("margin_m", margin_m, 0.03, zero_ok=True)
    a = _positive("zone_radius_m", zone_radius_m, _MAX_RADIUS_M)
    if not (isinstance(max_positions, int) and 1 <= max_positions <= 8):
        raise ConfigError(f"max_positions = {max_positions!r}: must be an integer in [1, 8]")
    R = r + m
    u = np.linspace(-R, R, 61)
    X, Y = np.meshgrid(u, u)
    inside = X ** 2 + Y ** 2 <= R ** 2
    pts = np.column_stack([X[inside], Y[inside]])

    def cover(offs):
        d2 = ((pts[:, None, :] - offs[None, :, :]) ** 2).sum(axis=2)
        return float(np.mean(d2.min(axis=1) <= a * a))

    rule = (f"target disc {R * 1e3:.1f} mm (residual {r * 1e3:.1f} + margin {m * 1e3:.1f}) covered by ablation "
            f"discs of {a * 1e3:.1f} mm radius (published zone size)")
    centre = np.zeros((1, 2))
    if R <= a:
        return OverlapPlan(centre, 1.0, a, R, rule)
    best = (centre, cover(centre))
    for n in range(2, max_positions + 1):
        ang = 2 * np.pi * np.arange(n) / n
        for rho in np.linspace(0.2 * a, min(R, a), 25):
            offs = rho * np.column_stack([np.cos(ang), np.sin(ang)])
            f = cover(offs)
            if f > best[1] + 1e-12:
                best = (offs, f)
        if best[1] >= coverage:
            break
    return OverlapPlan(best[0], best[1], a, R, rule)
