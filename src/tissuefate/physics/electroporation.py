r"""Inputs and tissue response of irreversible electroporation (IRE): the needle electrodes, the
pulse protocol, their validation, and the field- and temperature-dependent conductivity
σ(|E|, T) (DESIGN.md §3.2).

The field of one needle pair is solved in :mod:`tissuefate.physics.ire_field`, the treatment
(kill map, heating) in :mod:`tissuefate.physics.ire`, which re-exports the public names here.

Conductivity
------------
Conductivity rises as membranes porate (Sel et al. 2005, literature.md §9 [R]): a sigmoid between
the reversible and the irreversible threshold, times a linear temperature term (Beitel-White et
al. 2021 [V]),

.. math:: \sigma = \sigma_0\,\bigl[1 + (r - 1)\,s(\xi)\bigr]\,\bigl[1 + \alpha (T - T_0)\bigr],
          \quad \xi = \frac{|E| - E_{rev}}{E_{irr} - E_{rev}}\ \text{clipped to}\ [0, 1],
          \quad s(\xi) = \xi^2 (3 - 2\xi)

with ``r = σ_max/σ_0 = 0.241/0.067`` (Sel 2005), ``E_rev = 362 V/cm``, ``E_irr = 637 V/cm``
(Miklavčič 2000 [R]) and ``α = 1.2 %/K`` (liver). ``s`` is the C¹ smoothstep: exactly ``σ_0``
below ``E_rev`` and ``r σ_0`` above ``E_irr``, like the smoothed Heaviside of the IRE modelling
literature. ``σ_0`` may vary in space (tumour, scar); the rise is relative to it.

Inputs
------
:class:`IREElectrode` is a straight needle with an exposed (conducting) distal part and an
insulated shaft that runs on to the edge of the grid; :class:`IREProtocol` is the pulse train
that every pair receives. Both check their ranges when built. The private ``_check_*`` and
``_sigma0_array`` helpers validate what :func:`~tissuefate.physics.ire.solve_ire` receives:
needles inside the grid and separated by at least one tissue voxel, the pair indices, the σ₀
map.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError, GeometryError
from ..geometry import segment_mask, unit
from ..grid import Grid
from ..tissue.properties import BLOOD, IRE

__all__ = [
    "IREElectrode",
    "IREProtocol",
    "ElectroporationConductivity",
]

_BODY_K = BLOOD["arterial_temperature_K"].value

_MAX_VOLTAGE_V = 5000.0
_PULSE_WIDTH_RANGE_S = (1e-6, 1e-3)
_MAX_PULSES = 1000
_MAX_INTERVAL_S = 10.0
_LENGTH_RANGE_M = (1e-3, 50e-3)
_DIAMETER_RANGE_M = (0.2e-3, 3e-3)


# --------------------------------------------------------------------------------------------
# inputs


@dataclass(frozen=True)
class IREElectrode:
    """A straight needle electrode with an exposed (conducting) distal part.

    Parameters
    ----------
    tip_m : 3-tuple of float
        World position of the distal tip [m].
    direction : 3-tuple of float
        Direction from the tip back towards the handle (normalised here). The exposed part spans
        ``tip_m`` → ``tip_m + exposed_length_m · direction``; the insulated shaft continues
        beyond it to the edge of the grid.
    exposed_length_m : float
        Exposed length [m], 1–50 mm (clinical 15–25 mm).
    diameter_m : float
        Outer diameter [m], 0.2–3 mm (19 G: 1.067 mm, ``IRE["needle_19G_diameter_m"]``).
    name : str

    Examples
    --------
    >>> e = IREElectrode((0.0, 0.0, -0.01), (0, 0, 2), 0.02)
    >>> e.direction, [round(float(v), 3) for v in e.exposed_end_m]
    ((0.0, 0.0, 1.0), [0.0, 0.0, 0.01])
    """

    tip_m: tuple[float, float, float]
    direction: tuple[float, float, float] = (0.0, 0.0, 1.0)
    exposed_length_m: float = 0.02
    diameter_m: float = IRE["needle_19G_diameter_m"].value
    name: str = ""

    def __post_init__(self):
        tip = np.asarray(self.tip_m, dtype=float)
        if tip.shape != (3,) or not np.all(np.isfinite(tip)):
            raise GeometryError(f"IREElectrode.tip_m = {self.tip_m}: must be three finite numbers [m]")
        try:
            d = unit(self.direction)
        except ValueError:
            raise GeometryError(
                f"IREElectrode.direction = {self.direction}: must be a non-zero 3-vector "
                "(from the tip towards the handle)"
            ) from None
        lo, hi = _LENGTH_RANGE_M
        L = float(self.exposed_length_m)
        if not lo <= L <= hi:
            raise ConfigError(
                f"IREElectrode.exposed_length_m = {L:g} m ({L * 1e3:g} mm): must be in "
                f"{lo * 1e3:g}-{hi * 1e3:g} mm (clinical 15-25 mm). Did you give millimetres?"
            )
        lo, hi = _DIAMETER_RANGE_M
        D = float(self.diameter_m)
        if not lo <= D <= hi:
            raise ConfigError(
                f"IREElectrode.diameter_m = {D:g} m ({D * 1e3:g} mm): must be in "
                f"{lo * 1e3:g}-{hi * 1e3:g} mm (19 G = 1.067 mm). Did you give millimetres?"
            )
        object.__setattr__(self, "tip_m", tuple(float(v) for v in tip))
        object.__setattr__(self, "direction", tuple(float(v) for v in d))
        object.__setattr__(self, "exposed_length_m", L)
        object.__setattr__(self, "diameter_m", D)

    @property
    def radius_m(self) -> float:
        return 0.5 * self.diameter_m

    @property
    def exposed_end_m(self) -> np.ndarray:
        return np.asarray(self.tip_m) + self.exposed_length_m * np.asarray(self.direction)

    def masks(self, grid: Grid) -> tuple[np.ndarray, np.ndarray]:
        """(exposed, shaft) voxel masks on ``grid`` (``geometry.segment_mask``, radius raised to
        0.75 voxel); the shaft runs from the exposed end to beyond the grid."""
        end = self.exposed_end_m
        exposed = segment_mask(grid, self.tip_m, end, self.radius_m)
        far = end + 2.0 * float(np.linalg.norm(grid.extent_m)) * np.asarray(self.direction)
        shaft = segment_mask(grid, end, far, self.radius_m) & ~exposed
        return exposed, shaft


@dataclass(frozen=True)
class IREProtocol:
    """Pulse train delivered to every electrode pair.

    Parameters
    ----------
    voltage_V : float
        Pulse amplitude between the two needles of a pair [V], in (0, 5000] (clinical
        generators: ≤ 3000 V, commonly 1500 V/cm × spacing).
    n_pulses : int
        Pulses per pair, 1–1000 (clinical 70–90, literature.md §9).
    pulse_width_s : float
        Pulse duration τ [s], 1 µs – 1 ms (clinical 70–100 µs).
    pulse_interval_s : float
        Start-to-start time between pulses [s], from ``pulse_width_s`` to 10 s (ECG-synchronised
        clinical trains: ≈ 1 s).

    Examples
    --------
    >>> p = IREProtocol(1500.0, 90, 100e-6, 1.0)
    >>> p.on_time_s, p.train_duration_s
    (0.009, 90.0)
    """

    voltage_V: float
    n_pulses: int = 90
    pulse_width_s: float = 100e-6
    pulse_interval_s: float = 1.0

    def __post_init__(self):
        V = float(self.voltage_V)
        if not 0.0 < V <= _MAX_VOLTAGE_V:
            raise ConfigError(
                f"IREProtocol.voltage_V = {V:g} V: must be > 0 and <= {_MAX_VOLTAGE_V:g} V "
                "(clinical generators deliver <= 3000 V; e.g. 1500 V for a 15 mm spacing)"
            )
        n = self.n_pulses
        try:
            ok = not isinstance(n, bool) and float(n).is_integer() and 1 <= int(n) <= _MAX_PULSES
        except (TypeError, ValueError, OverflowError):
            ok = False
        if not ok:
            raise ConfigError(
                f"IREProtocol.n_pulses = {n}: must be an integer in 1-{_MAX_PULSES} (clinical 70-90)"
            )
        lo, hi = _PULSE_WIDTH_RANGE_S
        w = float(self.pulse_width_s)
        if not lo <= w <= hi:
            raise ConfigError(
                f"IREProtocol.pulse_width_s = {w:g} s ({w * 1e6:g} us): must be in "
                f"{lo * 1e6:g} us - {hi * 1e6:g} us (clinical 70-100 us). Did you give microseconds?"
            )
        t = float(self.pulse_interval_s)
        if not w <= t <= _MAX_INTERVAL_S:
            raise ConfigError(
                f"IREProtocol.pulse_interval_s = {t:g} s: must be >= pulse_width_s ({w:g} s) and "
                f"<= {_MAX_INTERVAL_S:g} s (ECG-synchronised trains: about 1 s)"
            )
        object.__setattr__(self, "voltage_V", V)
        object.__setattr__(self, "n_pulses", int(n))
        object.__setattr__(self, "pulse_width_s", w)
        object.__setattr__(self, "pulse_interval_s", t)

    @property
    def on_time_s(self) -> float:
        """Total pulse-on time per pair [s]."""
        return round(self.n_pulses * self.pulse_width_s, 12)

    @property
    def train_duration_s(self) -> float:
        """Duration of one pair's train [s] (``n_pulses × pulse_interval_s``)."""
        return round(self.n_pulses * self.pulse_interval_s, 12)


@dataclass(frozen=True)
class ElectroporationConductivity:
    r"""Field- and temperature-dependent conductivity σ(|E|, T) (module notes).

    Parameters
    ----------
    e_reversible_V_per_m, e_irreversible_V_per_m : float
        Thresholds where the rise starts and ends [V/m].
    ratio : float
        ``σ_max/σ_0`` [1] (≥ 1; 1 gives a field-independent σ).
    temp_coeff_per_K : float
        Linear temperature coefficient α [1/K].
    reference_K : float
        Temperature at which ``σ_0`` holds [K].

    Notes
    -----
    .. math:: \sigma = \sigma_0\,[1 + (r-1)\,\xi^2(3-2\xi)]\,\max(0, 1 + \alpha (T - T_0)),\quad
              \xi = \mathrm{clip}\!\left(\frac{|E|-E_{rev}}{E_{irr}-E_{rev}}, 0, 1\right)

    Examples
    --------
    >>> m = ElectroporationConductivity()
    >>> [round(float(v), 4) for v in m(0.067, np.array([0.0, 3.62e4, 4.995e4, 6.37e4, 1e5]))]
    [0.067, 0.067, 0.154, 0.241, 0.241]
    >>> round(float(m(0.067, 0.0, 320.15) / 0.067), 3)
    1.12
    """

    e_reversible_V_per_m: float = IRE["e_reversible_V_per_m"].value
    e_irreversible_V_per_m: float = IRE["e_irreversible_V_per_m"].value
    ratio: float = IRE["liver_sigma_max_S_per_m"].value / IRE["liver_sigma0_S_per_m"].value
    temp_coeff_per_K: float = IRE["liver_sigma_temp_coeff_per_K"].value
    reference_K: float = _BODY_K

    def __post_init__(self):
        a, b = float(self.e_reversible_V_per_m), float(self.e_irreversible_V_per_m)
        if not 0.0 < a < b:
            raise ConfigError(
                f"e_reversible_V_per_m = {a:g}, e_irreversible_V_per_m = {b:g} V/m: need "
                "0 < reversible < irreversible (liver: 3.62e4 < 6.37e4 V/m)"
            )
        if not 1.0 <= float(self.ratio) <= 100.0:
            raise ConfigError(f"conductivity ratio = {self.ratio:g}: must be in [1, 100] (liver: 3.6)")
        if not 0.0 <= float(self.temp_coeff_per_K) <= 0.1:
            raise ConfigError(
                f"temp_coeff_per_K = {self.temp_coeff_per_K:g} 1/K: must be in [0, 0.1] (liver: 0.012)"
            )

    def field_factor(self, E_V_per_m) -> np.ndarray:
        """``1 + (r − 1) s(ξ)`` [1]."""
        a, b = self.e_reversible_V_per_m, self.e_irreversible_V_per_m
        xi = np.clip((np.asarray(E_V_per_m, dtype=np.float64) - a) / (b - a), 0.0, 1.0)
        return 1.0 + (self.ratio - 1.0) * xi * xi * (3.0 - 2.0 * xi)

    def temperature_factor(self, T_K) -> np.ndarray:
        """``max(0, 1 + α (T − T_0))`` [1]."""
        return np.maximum(1.0 + self.temp_coeff_per_K * (np.asarray(T_K, np.float64) - self.reference_K), 0.0)

    def __call__(self, sigma0_S_per_m, E_V_per_m, T_K=None) -> np.ndarray:
        s = np.asarray(sigma0_S_per_m, np.float64) * self.field_factor(E_V_per_m)
        return s if T_K is None else s * self.temperature_factor(T_K)


# --------------------------------------------------------------------------------------------
# validation of solve_ire's inputs


def _segment_distance_m(p0, p1, q0, q1) -> float:
    """Smallest distance between segments p0→p1 and q0→q1 [m] (dense parameter sampling is
    avoided: closed form with clamping, Ericson, Real-Time Collision Detection §5.1.9)."""
    d1, d2, r = p1 - p0, q1 - q0, p0 - q0
    a, e, f = d1 @ d1, d2 @ d2, d2 @ r
    c, b = d1 @ r, d1 @ d2
    den = a * e - b * b
    s = np.clip((b * f - c * e) / den, 0.0, 1.0) if den > 1e-30 * a * e else 0.0
    t = (b * s + f) / e
    if t < 0.0:
        t, s = 0.0, np.clip(-c / a, 0.0, 1.0)
    elif t > 1.0:
        t, s = 1.0, np.clip((b - c) / a, 0.0, 1.0)
    return float(np.linalg.norm((p0 + s * d1) - (q0 + t * d2)))


def _dilate26(m: np.ndarray) -> np.ndarray:
    out = m.copy()
    for ax in range(3):
        o = out.copy()
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[ax], hi[ax] = slice(0, -1), slice(1, None)
        o[tuple(lo)] |= out[tuple(hi)]
        o[tuple(hi)] |= out[tuple(lo)]
        out = o
    return out


def _check_electrodes(grid: Grid, electrodes) -> list[tuple[np.ndarray, np.ndarray]]:
    if len(electrodes) < 2:
        raise ConfigError(f"electrodes: got {len(electrodes)}; IRE needs at least two needles (a pair)")
    masks = []
    for i, e in enumerate(electrodes):
        if not isinstance(e, IREElectrode):
            raise ConfigError(f"electrodes[{i}] = {type(e).__name__}: must be an IREElectrode")
        for what, p in (("tip_m", np.asarray(e.tip_m)), ("exposed end", e.exposed_end_m)):
            if not grid.contains(p):
                lo = np.asarray(grid.origin_m) - 0.5 * np.asarray(grid.spacing_m)
                hi = lo + np.asarray(grid.extent_m)
                raise GeometryError(
                    f"electrodes[{i}].{what} = {np.round(p * 1e3, 2).tolist()} mm lies outside the grid "
                    f"(x, y, z from {np.round(lo * 1e3, 2).tolist()} to {np.round(hi * 1e3, 2).tolist()} mm): "
                    "move the needle or enlarge the grid"
                )
        masks.append(e.masks(grid))
    h = min(grid.spacing_m)
    for i in range(len(electrodes)):
        for j in range(i + 1, len(electrodes)):
            ei, ej = electrodes[i], electrodes[j]
            d = _segment_distance_m(np.asarray(ei.tip_m), ei.exposed_end_m, np.asarray(ej.tip_m), ej.exposed_end_m)
            gap = d - ei.radius_m - ej.radius_m
            ai = masks[i][0] | masks[i][1]
            aj = masks[j][0] | masks[j][1]
            if gap <= 0.0 or np.any(_dilate26(ai) & aj):
                raise GeometryError(
                    f"electrodes[{i}] and electrodes[{j}] touch or overlap: axis distance {d * 1e3:.2f} mm, "
                    f"gap {gap * 1e3:.2f} mm (needle radii {ei.radius_m * 1e3:.2f} + {ej.radius_m * 1e3:.2f} mm); "
                    f"at {h * 1e3:g} mm voxels at least one tissue voxel must separate the rasterised needles. "
                    "Move them apart (clinical spacing 10-25 mm) or refine the grid"
                )
    return masks


def _check_pairs(pairs, n: int) -> tuple[tuple[int, int], ...]:
    if pairs is None:
        return tuple((i, j) for i in range(n) for j in range(i + 1, n))
    out = []
    for k, p in enumerate(pairs):
        try:
            a, c = (int(v) for v in p)
        except (TypeError, ValueError):
            raise ConfigError(f"pairs[{k}] = {p!r}: must be (anode index, cathode index)") from None
        if not (0 <= a < n and 0 <= c < n) or a == c:
            raise ConfigError(
                f"pairs[{k}] = {p!r}: indices must be two different electrodes in 0-{n - 1}"
            )
        out.append((a, c))
    if not out:
        raise ConfigError("pairs is empty: give at least one (anode, cathode) pair")
    return tuple(out)


def _sigma0_array(grid: Grid, sigma0, vessel) -> np.ndarray:
    s = np.asarray(sigma0, dtype=np.float64)
    if s.ndim == 0:
        v = float(s)
        s = np.full(grid.shape, v)
        if vessel is not None:
            s[vessel] = IRE["blood_sigma_S_per_m"].value
    elif s.shape != grid.shape:
        raise ConfigError(f"sigma0_S_per_m.shape = {s.shape}: must be a scalar or grid.shape {grid.shape}")
    else:
        s = s.copy()
    if not np.all(np.isfinite(s)) or s.min() < 0 or s.max() <= 0 or s.max() > 100:
        raise ConfigError(
            f"sigma0_S_per_m: min {np.nanmin(s):g}, max {np.nanmax(s):g} S/m: must be finite, >= 0, "
            "not all zero and <= 100 S/m (liver: 0.067-0.12 S/m)"
        )
    return s
