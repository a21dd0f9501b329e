"""Inputs of the cryo model: the phase-change material (:class:`CryoTissue`), the probes
(:class:`Cryoprobe`) and freeze–thaw protocols (:class:`CryoPhase`, :class:`CryoProtocol`).

:mod:`tissuefate.physics.cryo` re-exports every name; the equations are documented there.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..backends import cryo_kernels as _kernels
from ..errors import ConfigError
from ..geometry import segment_mask, unit
from ..grid import Grid
from ..tissue.properties import CRYO, GEL, SPECIES

__all__ = ["PHASE_KINDS", "T_MIN_K", "T_MAX_K", "CryoTissue", "Cryoprobe", "CryoPhase", "CryoProtocol"]

#: Temperature range of the explicit scheme [K]; outside it the run stops (NumericalError).
T_MIN_K = 50.0
T_MAX_K = 400.0

PHASE_KINDS = ("freeze", "passive_thaw", "active_thaw")


# ---------------------------------------------------------------------------------------------
# material
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CryoTissue:
    r"""Phase-change properties of one material (SI units).

    Parameters
    ----------
    density_kg_per_m3 : float
        ρ, the same frozen and unfrozen (mass stays in its voxel) [kg/m³].
    heat_capacity_unfrozen_J_per_kgK, heat_capacity_frozen_J_per_kgK : float
        c_u, c_f [J/(kg K)].
    conductivity_unfrozen_W_per_mK, conductivity_frozen_W_per_mK : float
        k_u, k_f [W/(m K)].
    latent_heat_J_per_kg : float
        L [J/kg] (0 allowed: pure conduction).
    solidus_K, liquidus_K : float
        Freezing range T_s < T_l [K].
    name : str

    Notes
    -----
    Enthalpy (H = 0 at the solidus), ice fraction and conductivity as in the module docstring;
    :meth:`temperature_K` is the closed-form inverse of :meth:`enthalpy_J_per_m3`.

    Examples
    --------
    >>> t = CryoTissue.liver("human")
    >>> float(t.temperature_K(t.enthalpy_J_per_m3(250.0)))
    250.0
    >>> float(t.ice_fraction(t.solidus_K)), float(t.ice_fraction(t.liquidus_K))
    (1.0, 0.0)
    """

    density_kg_per_m3: float
    heat_capacity_unfrozen_J_per_kgK: float
    heat_capacity_frozen_J_per_kgK: float
    conductivity_unfrozen_W_per_mK: float
    conductivity_frozen_W_per_mK: float
    latent_heat_J_per_kg: float
    solidus_K: float
    liquidus_K: float
    name: str = "custom"

    def __post_init__(self):
        for f in ("density_kg_per_m3", "heat_capacity_unfrozen_J_per_kgK", "heat_capacity_frozen_J_per_kgK",
                  "conductivity_unfrozen_W_per_mK", "conductivity_frozen_W_per_mK"):
            v = float(getattr(self, f))
            if not (math.isfinite(v) and v > 0):
                raise ConfigError(f"tissue.{f} = {v:g}: must be finite and > 0")
        if not (math.isfinite(self.latent_heat_J_per_kg) and 0 <= self.latent_heat_J_per_kg <= 1e6):
            raise ConfigError(f"tissue.latent_heat_J_per_kg = {self.latent_heat_J_per_kg:g}: must be in "
                              "0-1e6 J/kg (tissue about 2.5e5)")
        if not 200.0 <= self.solidus_K < self.liquidus_K <= 280.0:
            raise ConfigError(
                f"tissue freezing range [{self.solidus_K:g}, {self.liquidus_K:g}] K: need "
                "200 K <= solidus_K < liquidus_K <= 280 K (did you give degrees Celsius?)")

    # -- presets ------------------------------------------------------------------------------
    @classmethod
    def liver(cls, species: str = "human", *, latent_heat_J_per_kg: float | None = None) -> CryoTissue:
        """Liver: unfrozen ρ, c, k from the species preset, frozen values and L from :data:`CRYO`."""
        if species not in SPECIES:
            raise ConfigError(f"tissue.species = {species!r}: must be one of {sorted(SPECIES)}")
        sp = SPECIES[species]
        L = CRYO["latent_heat_J_per_kg"].value if latent_heat_J_per_kg is None else float(latent_heat_J_per_kg)
        return cls(sp.density_kg_per_m3.value, sp.heat_capacity_J_per_kgK.value,
                   CRYO["heat_capacity_frozen_J_per_kgK"].value, sp.thermal_conductivity_W_per_mK.value,
                   CRYO["conductivity_frozen_W_per_mK"].value, L, CRYO["solidus_K"].value,
                   CRYO["liquidus_K"].value, f"liver ({species})")

    @classmethod
    def gel(cls) -> CryoTissue:
        """Water-based gel phantom as water / ice (:data:`GEL`)."""
        g = {k: p.value for k, p in GEL.items()}
        return cls(g["density_kg_per_m3"], g["heat_capacity_water_J_per_kgK"], g["heat_capacity_ice_J_per_kgK"],
                   g["conductivity_water_W_per_mK"], g["conductivity_ice_W_per_mK"], g["latent_heat_J_per_kg"],
                   g["solidus_K"], g["liquidus_K"], "gel (water/ice)")

    # -- derived ------------------------------------------------------------------------------
    @property
    def C_frozen(self) -> float:
        """ρ c_f [J/(m³ K)]."""
        return self.density_kg_per_m3 * self.heat_capacity_frozen_J_per_kgK

    @property
    def C_unfrozen(self) -> float:
        """ρ c_u [J/(m³ K)]."""
        return self.density_kg_per_m3 * self.heat_capacity_unfrozen_J_per_kgK

    @property
    def latent_J_per_m3(self) -> float:
        """ρ L [J/m³]."""
        return self.density_kg_per_m3 * self.latent_heat_J_per_kg

    def phase_constants(self, dtype=np.float64) -> tuple:
        """Kernel scalars (:func:`tissuefate.backends.cryo_kernels.phase_constants`)."""
        return _kernels.phase_constants(
            solidus_K=self.solidus_K, liquidus_K=self.liquidus_K, C_frozen=self.C_frozen,
            C_unfrozen=self.C_unfrozen, latent_J_per_m3=self.latent_J_per_m3,
            k_frozen=self.conductivity_frozen_W_per_mK, k_unfrozen=self.conductivity_unfrozen_W_per_mK,
            dtype=dtype)

    def enthalpy_J_per_m3(self, T_K):
        """H(T) [J/m³], 0 at the solidus."""
        T = np.asarray(T_K, dtype=np.float64)
        Ts, Tl, _, _, _, iCf, iCm, iCu, Hl = (float(v) for v in self.phase_constants())
        return np.where(T <= Ts, (T - Ts) / iCf, np.where(T < Tl, (T - Ts) / iCm, Hl + (T - Tl) / iCu))

    def temperature_K(self, H_J_per_m3):
        """T(H) [K], the closed-form inverse of :meth:`enthalpy_J_per_m3`."""
        H = np.asarray(H_J_per_m3, dtype=np.float64)
        Ts, _, _, _, _, iCf, iCm, iCu, Hl = (float(v) for v in self.phase_constants())
        return _kernels._np_temperature(H, Ts, iCf, iCm, iCu, Hl)

    def ice_fraction(self, T_K):
        """φ(T) = clip((T_l − T)/(T_l − T_s), 0, 1) [1]."""
        return np.clip((self.liquidus_K - np.asarray(T_K, np.float64)) / (self.liquidus_K - self.solidus_K), 0, 1)

    def conductivity_W_per_mK(self, T_K):
        """k(T) = k_f φ + k_u (1 − φ) [W/(m K)]."""
        phi = self.ice_fraction(T_K)
        return self.conductivity_frozen_W_per_mK * phi + self.conductivity_unfrozen_W_per_mK * (1 - phi)

    @property
    def max_diffusivity_m2_per_s(self) -> float:
        """max k / min C over the phases [m²/s] (frozen tissue: ≈ 1e-6, 8× unfrozen)."""
        C_m = 0.5 * (self.C_frozen + self.C_unfrozen) + self.latent_J_per_m3 / (self.liquidus_K - self.solidus_K)
        return (max(self.conductivity_frozen_W_per_mK, self.conductivity_unfrozen_W_per_mK)
                / min(self.C_frozen, self.C_unfrozen, C_m))


# ---------------------------------------------------------------------------------------------
# probes and protocol
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cryoprobe:
    """A straight cryoprobe whose active (freezing) segment starts at the tip.

    Parameters
    ----------
    tip_m : 3-vector
        World position of the distal tip [m].
    direction : 3-vector
        From the tip towards the handle (any length, normalised here).
    active_length_m : float
        Length of the freezing segment from the tip [m]; the shaft behind it is insulated (not
        modelled: its voxels are tissue).
    diameter_m : float
        Outer diameter [m] (e.g. 2.4e-3 for a 2.4 mm argon probe).

    Examples
    --------
    >>> p = Cryoprobe((0, 0, -0.02), (0, 0, 1), 0.04, 2.4e-3)
    >>> [round(float(v), 3) for v in p.end_m]
    [0.0, 0.0, 0.02]
    """

    tip_m: tuple
    direction: tuple
    active_length_m: float
    diameter_m: float

    def __post_init__(self):
        tip = tuple(float(v) for v in self.tip_m)
        if len(tip) != 3 or not all(math.isfinite(v) for v in tip):
            raise ConfigError(f"probe.tip_m = {self.tip_m}: must be three finite numbers [m]")
        try:
            d = unit(self.direction)
        except ValueError:
            raise ConfigError(f"probe.direction = {self.direction}: must be a non-zero 3-vector") from None
        if d.shape != (3,):
            raise ConfigError(f"probe.direction = {self.direction}: must be a non-zero 3-vector")
        if not 1e-3 <= self.active_length_m <= 0.1:
            raise ConfigError(f"probe.active_length_mm = {self.active_length_m * 1e3:g}: must be in 1-100 mm")
        if not 0.5e-3 <= self.diameter_m <= 10e-3:
            raise ConfigError(f"probe.diameter_mm = {self.diameter_m * 1e3:g}: must be in 0.5-10 mm "
                              "(did you give millimetres instead of metres?)")
        object.__setattr__(self, "tip_m", tip)
        object.__setattr__(self, "direction", tuple(float(v) for v in d))

    @property
    def end_m(self) -> np.ndarray:
        """World position of the proximal end of the active segment [m]."""
        return np.asarray(self.tip_m) + self.active_length_m * np.asarray(self.direction)

    @property
    def centre_m(self) -> np.ndarray:
        """Middle of the active segment [m]."""
        return np.asarray(self.tip_m) + 0.5 * self.active_length_m * np.asarray(self.direction)

    def mask(self, grid: Grid) -> np.ndarray:
        """Voxels of the active segment (a capsule of the probe radius; at least 0.75 voxel)."""
        return segment_mask(grid, self.tip_m, self.end_m, 0.5 * self.diameter_m)


def _check_phase(where: str, kind, duration_s, probe_temperature_K) -> None:
    if kind not in PHASE_KINDS:
        raise ConfigError(f"{where}.kind = {kind!r}: must be one of {list(PHASE_KINDS)}")
    try:
        d = float(duration_s)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}.duration_s = {duration_s!r}: must be a number of seconds") from None
    if not (math.isfinite(d) and 0 < d <= 3600.0):
        hint = f" Did you mean {-d:g}?" if -3600.0 <= d < 0 else ""
        raise ConfigError(f"{where}.duration_s = {d:g} s: must be > 0 and <= 3600 s.{hint}")
    if probe_temperature_K is not None:
        T = float(probe_temperature_K)
        lo, hi = ((T_MIN_K, 270.0) if kind == "freeze" else (275.0, 330.0))
        if kind == "passive_thaw":
            raise ConfigError(f"{where}.probe_temperature_K = {T:g} K: a passive thaw releases the probes "
                              "(no temperature); use kind 'active_thaw' to hold them warm")
        if not lo <= T <= hi:
            raise ConfigError(f"{where}.probe_temperature_K = {T:g} K: must be in {lo:g}-{hi:g} K for "
                              f"{kind!r} (did you give degrees Celsius?)")


@dataclass(frozen=True)
class CryoPhase:
    """One phase of a cryo protocol.

    Parameters
    ----------
    kind : {"freeze", "passive_thaw", "active_thaw"}
        Freeze: probes held at the probe surface temperature. Passive thaw: probes released
        (their voxels become tissue-like, no boundary condition). Active thaw: probes held warm.
    duration_s : float
        (0, 3600] s.
    probe_temperature_K : float, optional
        Overrides the model's probe (freeze) or thaw (active thaw) temperature [K].
    """

    kind: str
    duration_s: float
    probe_temperature_K: float | None = None

    def __post_init__(self):
        _check_phase("phase", self.kind, self.duration_s, self.probe_temperature_K)


class CryoProtocol:
    """A sequence of :class:`CryoPhase`, run in order by :meth:`CryoModel.run`.

    Examples
    --------
    >>> p = CryoProtocol.from_minutes([("freeze", 10), ("passive_thaw", 5), ("freeze", 10)])
    >>> p.duration_s, [ph.kind for ph in p.phases]
    (1500.0, ['freeze', 'passive_thaw', 'freeze'])
    >>> CryoProtocol.from_minutes([("freeze", 10), ("thaw", 5)])
    Traceback (most recent call last):
    ...
    tissuefate.errors.ConfigError: protocol[1].kind = 'thaw': must be one of ['freeze', 'passive_thaw', 'active_thaw']
    """

    def __init__(self, phases: Sequence):
        out = []
        for i, ph in enumerate(phases):
            where = f"protocol[{i}]"
            if isinstance(ph, CryoPhase):
                out.append(ph)
                continue
            if isinstance(ph, dict):
                unknown = set(ph) - {"kind", "duration_s", "probe_temperature_K"}
                if unknown:
                    raise ConfigError(f"{where}: unknown field(s) {sorted(unknown)}; allowed: kind, duration_s, "
                                      "probe_temperature_K")
                kind, dur, temp = ph.get("kind"), ph.get("duration_s"), ph.get("probe_temperature_K")
            else:
                try:
                    kind, dur, *rest = ph
                except (TypeError, ValueError):
                    raise ConfigError(f"{where} = {ph!r}: must be a CryoPhase, a dict or (kind, duration_s)") from None
                temp = rest[0] if rest else None
            _check_phase(where, kind, dur, temp)
            out.append(CryoPhase(kind, float(dur), None if temp is None else float(temp)))
        if not out:
            raise ConfigError("protocol: needs at least one phase (e.g. [('freeze', 600)])")
        if sum(p.duration_s for p in out) > 4 * 3600.0:
            raise ConfigError("protocol: total duration must be <= 4 h")
        self.phases: tuple[CryoPhase, ...] = tuple(out)

    @classmethod
    def from_minutes(cls, phases: Sequence) -> CryoProtocol:
        """Build from ``(kind, duration_min)`` pairs (the config boundary's unit)."""
        conv = []
        for i, ph in enumerate(phases):
            try:
                kind, minutes, *rest = ph
                minutes = float(minutes)
            except (TypeError, ValueError):
                raise ConfigError(f"protocol[{i}] = {ph!r}: must be (kind, duration_min)") from None
            if not (math.isfinite(minutes) and 0 < minutes <= 60):
                hint = f" Did you mean {-minutes:g}?" if -60 <= minutes < 0 else ""
                raise ConfigError(f"protocol[{i}].duration_min = {minutes:g}: must be > 0 and <= 60 min.{hint}")
            conv.append((kind, 60.0 * minutes, *rest))
        return cls(conv)

    @classmethod
    def double_freeze(cls, freeze_s: float = 600.0, thaw_s: float = 300.0) -> CryoProtocol:
        """Freeze – passive thaw – freeze (clinical standard 10–5–10 min, literature.md §2 [R])."""
        return cls([("freeze", freeze_s), ("passive_thaw", thaw_s), ("freeze", freeze_s)])

    @property
    def duration_s(self) -> float:
        return float(sum(p.duration_s for p in self.phases))

    def __repr__(self) -> str:
        return "CryoProtocol(" + ", ".join(f"{p.kind} {p.duration_s:g} s" for p in self.phases) + ")"
