"""The liver of the synthetic phantom: its implicit surface and its vessel trees.

:class:`OrganShape` is the organ surface drawn from a seed; :func:`_build_vessels` grows the
portal and hepatic venous trees inside it from fixed landmarks (hilum, IVC ostia) with
:func:`tissuefate.anatomy.vessels.grow_tree`. The model is described in
:mod:`tissuefate.anatomy.phantom`, which assembles the phantom.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..grid import Grid
from .vessels import VESSEL_PARAMS, VesselSegment, grow_tree

__all__ = ["OrganShape"]

_MM = 1e-3
_PAD_M = 10e-3  # outside voxels around the organ (room for regions of interest at the surface)


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
