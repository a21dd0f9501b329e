r"""Microwave ablation (MWA): a calibrated, parametric heating pattern around the antenna.

**This is a parametric model, not a solution of Maxwell's equations.** The heating around an
interstitial antenna is written as power leaving the antenna axis with a prescribed axial profile
(where along the antenna the power leaves it), spreading cylindrically near the antenna and
spherically further out (a beam that widens axially with distance), and attenuated along radial
rays by the *local*, temperature-dependent dielectric properties of the tissue (literature.md
§1): Q = 2α·S, the plane-wave absorption of the local power flux S. The profile's parameters
(slot position, width, beam spread, shaft-current tail) and the power efficiency are
:class:`AntennaModel` parameters with physically motivated starting values, to be calibrated
against a published ablation zone (literature.md §3: in vivo porcine liver, 80 W for 5 min →
44.8 × 31.2 mm, Exp Ther Med 3:214, 2012) through the full bioheat pipeline.

What the model represents
    * frequency (915 MHz or 2.45 GHz) through the tissue's dielectric properties and hence the
      penetration depth;
    * generator power and a power efficiency (cable and reflection losses);
    * antenna style: a monopole / single-slot "tear-drop" pattern with a backward tail along the
      shaft, or a compact, more spherical dual-slot / choked pattern;
    * temperature feedback: heated, dehydrated tissue absorbs less at 2.45 GHz (Ji & Brace 2011),
      so the pattern reaches further; at 915 MHz the reversible conductivity rise (Chin & Sherar
      2001) does the opposite;
    * tissue heterogeneity in the *absorption* (tumour absorbs more, Stauffer et al. 2003; voxels
      outside the organ absorb nothing), and azimuthally averaged along the propagation path.

What it cannot represent
    * the reactive near field within about a wavelength of the antenna and any standing-wave
      structure along it (the exact antenna design enters only through the axial profile);
    * reflections and refraction at tissue interfaces (liver surface, vessels, a hot/cold front),
      and the detuning of the antenna as the tissue around it dries (folded into the efficiency);
    * azimuthal asymmetry of the propagation path: attenuation is averaged over rings around the
      antenna axis (the local absorption keeps its full 3-D resolution);
    * the extra path of slanted rays (the optical depth is taken perpendicular to the antenna;
      ``beam_spread`` absorbs the difference);
    * the irreversible change of the 915 MHz properties above 60 °C (held at their 60 °C value),
      hence no dehydration effect at 915 MHz; at 2.45 GHz the Ji & Brace sigmoids include it.
      Latent heat of vaporisation and shaft cooling belong to the bioheat model, not here.

MWA depends less on perfusion and large vessels than RFA because power is deposited directly in a
volume of tissue rather than conducted from a small electrode (literature.md §3, Primavesi 2018);
that follows from this source term combined with the bioheat model, nothing here encodes it.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, fields, replace

import numpy as np

from ..errors import ConfigError, GeometryError
from ..grid import Grid
from ..tissue.properties import DIELECTRIC, Param

__all__ = [
    "ANTENNA_TYPES",
    "FREQUENCIES_HZ",
    "AntennaModel",
    "MicrowaveSource",
    "attenuation_per_m",
    "dielectric_properties",
]

#: Allowed antenna styles.
ANTENNA_TYPES = ("monopole", "dual-slot")
#: Allowed frequencies [Hz] (the two ISM bands used clinically).
FREQUENCIES_HZ = (915e6, 2.45e9)

_EPS0 = 8.8541878128e-12  # vacuum permittivity [F/m] (CODATA 2018)
_C0 = 299792458.0  # speed of light in vacuum [m/s]
_KELVIN = 273.15
_BODY_DEGC = 37.0  # Gabriel 1996 values are taken as the 37 °C values

#: Chin & Sherar (2001) found the 915 MHz changes reversible only up to 60 °C; the linear law is
#: held at its 60 °C value above (the irreversible change is not modelled). Frozen tissue is out of
#: the model's scope: below 0 °C the law is held at its 0 °C value (σ stays positive).
#: TODO(lead): move these two entries into tissue.properties.DIELECTRIC.
DIELECTRIC_915_LIMITS = {
    "linear_law_max_K": Param(
        333.15,
        "K",
        "Chin & Sherar, Phys Med Biol 2001 (reversible below 60 degC)",
        "V",
        "properties held at their 60 degC value above; irreversible change not modelled",
    ),
    "linear_law_min_K": Param(273.15, "K", "model scope (no frozen tissue in MWA)", "E"),
}

_CAL_NOTE = (
    "starting value, to be calibrated through the bioheat pipeline to the in vivo porcine case "
    "80 W / 5 min -> 44.8 x 31.2 mm (literature.md §3; Exp Ther Med 3:214, 2012); "
    "re-tag 'cal' once fitted"
)


def _check_frequency(frequency_Hz, field: str = "frequency_Hz") -> float:
    try:
        f = float(frequency_Hz)
    except (TypeError, ValueError):
        f = float("nan")
    for allowed in FREQUENCIES_HZ:
        if math.isclose(f, allowed, rel_tol=1e-6):
            return allowed
    hint = ""
    for scale, unit in ((1e6, "MHz"), (1e9, "GHz")):
        for allowed in FREQUENCIES_HZ:
            if math.isfinite(f) and math.isclose(f * scale, allowed, rel_tol=1e-6):
                hint = f" Did you give {unit}? Use {allowed:g}."
    raise ConfigError(
        f"{field} = {frequency_Hz!r} Hz: must be one of 915e6 or 2.45e9 Hz "
        f"(the dielectric data cover only these two bands).{hint}"
    )


# ---------------------------------------------------------------------------------------------
# Dielectric properties
# ---------------------------------------------------------------------------------------------


def _ji_brace_fraction(T_degC, a2: float, a3: float):
    # 1 - 1/(1 + exp(a2 - a3 T)) = 1/(1 + exp(a3 T - a2)): no overflow for large T
    return 1.0 / (1.0 + np.exp(a3 * T_degC - a2))


def dielectric_properties(T_K, frequency_Hz, tumour_fraction=None, *, ji_brace_absolute=False):
    r"""Relative permittivity and electrical conductivity of liver at a microwave frequency.

    Parameters
    ----------
    T_K : array_like
        Tissue temperature [K].
    frequency_Hz : float
        915e6 or 2.45e9 [Hz]; anything else raises :class:`~tissuefate.errors.ConfigError`.
    tumour_fraction : array_like, optional
        Fraction of tumour tissue in each voxel [1], in [0, 1]; blends in the tumour/normal ratios
        of Stauffer et al. (2003). Default: all liver.
    ji_brace_absolute : bool
        At 2.45 GHz, use the Ji & Brace sigmoids with their published amplitudes (ex vivo bovine
        liver: ε_r 45.4, σ 2.11 S/m at 37 °C) instead of rescaling them to Gabriel's 37 °C values.

    Returns
    -------
    eps_r : ndarray
        Relative permittivity [1], dtype of ``T_K`` when floating (else float64).
    sigma_S_per_m : ndarray
        Electrical conductivity [S/m], same dtype.

    Notes
    -----
    All numbers come from :data:`tissuefate.tissue.properties.DIELECTRIC`.

    At 2.45 GHz the temperature dependence is the Ji & Brace (2011) sigmoid (T in °C)

    .. math:: \varepsilon_r(T) = a_1 s(T; a_2, a_3) + 1,\qquad
              \sigma(T) = b_1 s(T; b_2, b_3) + b_4,\qquad s = 1 - \frac{1}{1 + e^{a_2 - a_3 T}}.

    By default the amplitudes :math:`a_1, b_1` are rescaled so that the 37 °C values equal
    Gabriel et al. (1996), ε_r 43.03 and σ 1.69 S/m, the level used at 915 MHz too: the level
    comes from the [V] reference, the shape from the [R] fit (whose own 37 °C values are 5 % and
    25 % higher).

    At 915 MHz the reversible linear law of Chin & Sherar (2001) about Gabriel's values,

    .. math:: \sigma = \sigma_{37}[1 + 0.0182\,(T - 37)],\qquad
              \varepsilon_r = \varepsilon_{37}[1 - 0.0013\,(T - 37)],

    with T held in [0, 60] °C: the irreversible change above 60 °C is not modelled.

    Tumour: :math:`\varepsilon_r \leftarrow \varepsilon_r[1 + 0.12 f]`,
    :math:`\sigma \leftarrow \sigma[1 + 0.24 f]` for tumour fraction f (Stauffer 2003, 0.3–3 GHz,
    taken as temperature independent).

    Examples
    --------
    >>> eps, sig = dielectric_properties(310.15, 2.45e9)
    >>> round(float(eps), 2), round(float(sig), 3)
    (43.03, 1.69)
    >>> eps, sig = dielectric_properties(310.15, 915e6, tumour_fraction=1.0)
    >>> round(float(sig / 0.861), 2)
    1.24
    """
    f = _check_frequency(frequency_Hz)
    if tumour_fraction is not None:
        tf = np.asarray(tumour_fraction)
        if not np.all((tf >= 0) & (tf <= 1)):
            raise ConfigError(
                "tumour_fraction: every value must lie in [0, 1] (a fraction of the voxel); "
                f"got min {np.min(tf)!r}, max {np.max(tf)!r}"
            )
    return _dielectric(T_K, f, tumour_fraction, ji_brace_absolute)


def _dielectric(T_K, f, tumour_fraction, ji_brace_absolute=False):
    """:func:`dielectric_properties` without argument checks (hot path)."""
    T = np.asarray(T_K)
    dt = T.dtype if T.dtype in (np.float32, np.float64) else np.dtype(np.float64)
    Tc = T.astype(dt, copy=False) - dt.type(_KELVIN)
    D = DIELECTRIC
    if f == 2.45e9:
        a2, a3 = D["ji_brace_eps_a2"].value, D["ji_brace_eps_a3"].value
        b2, b3 = D["ji_brace_sigma_b2"].value, D["ji_brace_sigma_b3"].value
        b4 = D["ji_brace_sigma_b4"].value
        if ji_brace_absolute:
            a1, b1 = D["ji_brace_eps_a1"].value, D["ji_brace_sigma_b1"].value
        else:
            a1 = (D["eps_r_2450MHz"].value - 1.0) / _ji_brace_fraction(_BODY_DEGC, a2, a3)
            b1 = (D["sigma_2450MHz_S_per_m"].value - b4) / _ji_brace_fraction(_BODY_DEGC, b2, b3)
        eps = dt.type(a1) * _ji_brace_fraction(Tc, dt.type(a2), dt.type(a3)) + dt.type(1.0)
        sig = dt.type(b1) * _ji_brace_fraction(Tc, dt.type(b2), dt.type(b3)) + dt.type(b4)
    else:
        lo = DIELECTRIC_915_LIMITS["linear_law_min_K"].value - _KELVIN
        hi = DIELECTRIC_915_LIMITS["linear_law_max_K"].value - _KELVIN
        dT = np.clip(Tc, dt.type(lo), dt.type(hi)) - dt.type(_BODY_DEGC)
        sig = dt.type(D["sigma_915MHz_S_per_m"].value) * (
            dt.type(1.0) + dt.type(D["sigma_temp_coeff_915MHz_per_K"].value) * dT
        )
        eps = dt.type(D["eps_r_915MHz"].value) * (
            dt.type(1.0) + dt.type(D["eps_temp_coeff_915MHz_per_K"].value) * dT
        )
    if tumour_fraction is not None:
        tf = np.asarray(tumour_fraction, dtype=dt)
        eps = eps * (dt.type(1.0) + dt.type(D["tumour_eps_ratio"].value - 1.0) * tf)
        sig = sig * (dt.type(1.0) + dt.type(D["tumour_sigma_ratio"].value - 1.0) * tf)
    return np.asarray(eps, dtype=dt), np.asarray(sig, dtype=dt)


def attenuation_per_m(eps_r, sigma_S_per_m, frequency_Hz):
    r"""Attenuation constant α of the electric field of a plane wave [1/m].

    The power of the wave decays as :math:`e^{-2\alpha x}`; :math:`1/(2\alpha)` is the power
    penetration depth.

    Parameters
    ----------
    eps_r : array_like
        Relative permittivity [1].
    sigma_S_per_m : array_like
        Electrical conductivity [S/m].
    frequency_Hz : float
        Frequency [Hz] (any positive value; the allowed-band check lives in
        :func:`dielectric_properties` and :class:`AntennaModel`).

    Returns
    -------
    ndarray
        α [1/m], dtype of the inputs when floating.

    Notes
    -----
    .. math:: \alpha = \omega\sqrt{\frac{\mu_0\varepsilon}{2}}
              \left[\sqrt{1 + \left(\frac{\sigma}{\omega\varepsilon}\right)^2} - 1\right]^{1/2},
              \qquad \varepsilon = \varepsilon_0\varepsilon_r,

    evaluated as :math:`\sqrt{1+x^2}-1 = x^2/(\sqrt{1+x^2}+1)` to avoid cancellation in float32.

    Examples
    --------
    >>> a = attenuation_per_m(43.03, 1.69, 2.45e9)   # Gabriel 1996 liver
    >>> round(float(1e3 / (2 * a)), 1)                 # power penetration depth [mm]
    10.4
    """
    f = float(frequency_Hz)
    if not (f > 0 and math.isfinite(f)):
        raise ConfigError(f"frequency_Hz = {frequency_Hz!r}: must be a positive frequency in Hz")
    eps = np.asarray(eps_r)
    sig = np.asarray(sigma_S_per_m)
    dt = np.result_type(eps, sig)
    if not np.issubdtype(dt, np.floating):
        dt = np.dtype(np.float64)
    eps = eps.astype(dt, copy=False)
    sig = sig.astype(dt, copy=False)
    w = 2.0 * math.pi * f
    x = sig / (eps * dt.type(w * _EPS0))
    x2 = x * x
    root = np.sqrt(dt.type(1.0) + x2)
    return dt.type(w / _C0) * np.sqrt(dt.type(0.5) * eps * x2 / (root + dt.type(1.0)))


# ---------------------------------------------------------------------------------------------
# Antenna model
# ---------------------------------------------------------------------------------------------

_E_SLOT = (
    "monopole/slot designs radiate from a gap about half a wavelength in tissue behind the tip "
    "(lambda/2 ~ 9 mm at 2.45 GHz); 2.45 GHz zone centres lie 1-1.5 cm behind the tip; 915 MHz "
    "values are the 2.45 GHz ones x1.6 (lambda/2 ~ 24 mm there), uncalibrated"
)
_E_WIDTH = "axial spread of the power leaving the antenna, ~ a quarter to half wavelength in tissue"
_E_SPREAD = (
    "angular spread of the radiated power: axial sd = beam_spread x rho; 0.85 matches the "
    "half-power beamwidth of a short dipole (cos^2 of the angle from broadside, half power at "
    "45 deg)"
)
_E_TAIL = "backward shaft-current heating of unchoked antennas (tear-drop zones, aspect ~0.6-0.7)"
_E_CHOKE = "a choke or dual slot suppresses most of the shaft current (near-spherical zones)"
_E_EFF = (
    "power absorbed in tissue / generator power: cable losses in the shaft plus reflection; "
    "order of magnitude 0.6-0.85, not a published value for the calibration case"
)
_E_RHOMIN = "about the antenna's outer radius (~1 mm); the 1/rho singularity is cut there"

# Starting values per (antenna type, frequency): slot distance [m], axial width [m], beam spread
# [1], tail fraction [1], tail length [m], efficiency [1], rho_min [m]; all tagged E (_CAL_NOTE).
# Shapes were chosen with a crude Pennes + Arrhenius run (1 mm grid, porcine in vivo, 80 W, 5 min,
# no vaporisation, no shaft cooling): monopole W/L ~0.72 with the zone centre ~15 mm behind the
# tip, dual-slot W/L ~1.0. That run needed efficiency ~0.3 to reach 44.8 x 31.2 mm: the missing
# heat sinks (water vaporisation, coolant) are the bioheat model's business, so efficiency keeps
# its physical value here. 915 MHz: lengths x1.6 (longer wavelength in tissue), not calibrated.
#
# Calibration through the full session pipeline (porcine in vivo block, 1 mm, 80 x 80 x 96
# voxels, Omega >= 1 zone, docs/validation.md). With the COMSOL liver damage kinetics (tissuefate
# <= 0.1) the fit needed efficiency 0.30, far below the physical 0.6-0.85. With the default
# kinetics (jacques1991_coagulation, tissue.properties.DAMAGE_KINETICS) and the session's
# infinite-medium normalisation (renormalise=False; 94 % of the pattern falls inside that box),
# efficiency 0.80 / 0.85 / 0.90 at tail 0.60 gives 43.0 x 30.4 / 44.0 x 31.4 / 46.0 x 31.9 mm
# against 44.8 x 31.2 mm: 0.85, the top of the physical range. The same efficiency is carried
# over, uncalibrated, to the dual-slot and 915 MHz presets.
_CAL_EFFICIENCY = 0.85
_DEFAULTS = {
    ("monopole", 2.45e9): (9e-3, 5e-3, 0.85, 0.60, 12e-3, _CAL_EFFICIENCY, 1.0e-3),
    ("dual-slot", 2.45e9): (9e-3, 5e-3, 0.85, 0.05, 6e-3, _CAL_EFFICIENCY, 1.0e-3),
    ("monopole", 915e6): (14e-3, 8e-3, 0.85, 0.60, 19e-3, _CAL_EFFICIENCY, 1.0e-3),
    ("dual-slot", 915e6): (14e-3, 8e-3, 0.85, 0.05, 10e-3, _CAL_EFFICIENCY, 1.0e-3),
}
_CAL_DONE = (
    "calibrated by tissuefate to the in vivo porcine 80 W / 5 min zone 44.8 x 31.2 mm "
    "(Exp Ther Med 3:214, 2012): fit 44.0 x 31.4 mm (damage kinetics jacques1991_coagulation, "
    "infinite-medium normalisation)"
)


def _spread_profile(d, s, w: float, a: float, L: float):
    r"""Axial profile :math:`g` (offset ``d = u - u_s``) convolved with a Gaussian of sd ``s``.

    Closed forms: Gaussian ⊛ Gaussian; half-Gaussian ⊛ Gaussian (a product of Gaussians and a
    normal cdf); exponential tail ⊛ Gaussian (the exponentially modified Gaussian, written with
    ``erfcx`` so that it never overflows).
    """
    from scipy.special import erfcx, ndtr

    d = np.asarray(d, dtype=float)
    s = np.maximum(np.asarray(s, dtype=float), 1e-12)
    sig = np.sqrt(w * w + s * s)
    core = (w / sig) * np.exp(-0.5 * (d / sig) ** 2)
    if a == 0.0:
        return core
    half = core * ndtr(d * w / (s * sig))
    B = (d - s * s / L) / s
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        pos = np.exp(np.minimum(0.5 * (s / L) ** 2 - d / L, 0.0)) * ndtr(B)
        neg = 0.5 * erfcx(-B / math.sqrt(2.0)) * np.exp(-0.5 * (d / s) ** 2)
    tail = np.where(B >= 0, pos, neg)
    return core - a * half + a * tail


@dataclass(frozen=True)
class AntennaModel:
    r"""Parameters of the parametric heating pattern of one antenna.

    Each numeric parameter is a :class:`~tissuefate.tissue.properties.Param` with unit, source
    and tag. The defaults (:meth:`default`) are physically sensible starting values tagged
    ``E``; the calibration case is the in vivo porcine 80 W / 5 min → 44.8 × 31.2 mm zone
    (literature.md §3; Exp Ther Med 3:214, 2012). Change values with :meth:`with_values`.

    Attributes
    ----------
    antenna_type : {"monopole", "dual-slot"}
        ``"monopole"``: monopole / single-slot style, tear-drop pattern with a backward tail along
        the shaft. ``"dual-slot"``: dual-slot / choked style, compact and near spherical.
    frequency_Hz : float
        915e6 or 2.45e9 [Hz].
    slot_distance_m : Param
        Axial distance from the tip to the centre of the radiating gap/slot(s) [m].
    axial_width_m : Param
        Standard deviation of the Gaussian axial profile at the antenna [m].
    beam_spread : Param
        Growth of the axial spread with distance from the antenna [1]: the profile at radius ρ is
        blurred by a Gaussian of sd ``beam_spread`` × ρ. 0 gives pure cylindrical spreading from
        a line source; ~1 makes a compact source spread spherically far from the antenna.
    tail_fraction : Param
        Relative amplitude of the backward (towards the handle) exponential tail [1], in [0, 1).
    tail_length_m : Param
        Decay length of the backward tail [m].
    efficiency : Param
        Absorbed power / generator power [1], in (0, 1].
    rho_min_m : Param
        Radius below which the 1/ρ spreading is cut off [m] (antenna radius).

    Notes
    -----
    Axial profile at the antenna (power radiated per unit length, up to a constant), with u the
    distance from the tip towards the handle, :math:`u_s` the slot distance, w the width, a the
    tail fraction and L the tail length:

    .. math:: g(u) = e^{-(u-u_s)^2/2w^2} \quad (u \le u_s),\qquad
              g(u) = (1-a)\,e^{-(u-u_s)^2/2w^2} + a\,e^{-(u-u_s)/L} \quad (u > u_s).

    At distance ρ from the axis the power has spread to :math:`G(u;\rho) = (g * N_{\kappa\rho})(u)`
    (κ = ``beam_spread``, :math:`N_s` a unit Gaussian of sd s), which keeps
    :math:`\int G\,du = \int g\,du` at every ρ.

    Examples
    --------
    >>> m = AntennaModel.default("monopole", 2.45e9)
    >>> m.slot_distance_m.value, m.efficiency.tag
    (0.009, 'cal')
    >>> m.with_values(efficiency=0.8).efficiency.value
    0.8
    """

    antenna_type: str
    frequency_Hz: float
    slot_distance_m: Param
    axial_width_m: Param
    beam_spread: Param
    tail_fraction: Param
    tail_length_m: Param
    efficiency: Param
    rho_min_m: Param

    def __post_init__(self) -> None:
        if self.antenna_type not in ANTENNA_TYPES:
            raise ConfigError(
                f"antenna_type = {self.antenna_type!r}: must be one of {list(ANTENNA_TYPES)}"
            )
        object.__setattr__(self, "frequency_Hz", _check_frequency(self.frequency_Hz))
        checks = {  # name: (low, high, unit, low allowed)
            "slot_distance_m": (0.0, 0.1, "m", True),
            "axial_width_m": (1e-4, 0.1, "m", False),
            "beam_spread": (0.0, 5.0, "1", True),
            "tail_fraction": (0.0, 0.999, "1", True),
            "tail_length_m": (1e-4, 0.2, "m", False),
            "efficiency": (0.0, 1.0, "1", False),
            "rho_min_m": (1e-5, 0.01, "m", False),
        }
        for name, (lo, hi, unit, lo_ok) in checks.items():
            p = getattr(self, name)
            if not isinstance(p, Param):
                p = Param(float(p), unit, "set by caller", "user")
                object.__setattr__(self, name, p)
            v = float(p.value)
            ok = math.isfinite(v) and (v >= lo if lo_ok else v > lo) and v <= hi
            if not ok:
                mm = ""
                if unit == "m" and v > hi:
                    mm = " (did you give millimetres instead of metres?)"
                raise ConfigError(
                    f"AntennaModel.{name} = {v!r} {unit}: must be {'>=' if lo_ok else '>'} {lo:g} "
                    f"and <= {hi:g} {unit}{mm}"
                )

    @classmethod
    def default(cls, antenna_type: str = "monopole", frequency_Hz: float = 2.45e9) -> AntennaModel:
        """Starting parameters for ``antenna_type`` at ``frequency_Hz`` (see class notes)."""
        if antenna_type not in ANTENNA_TYPES:
            raise ConfigError(
                f"antenna_type = {antenna_type!r}: must be one of {list(ANTENNA_TYPES)}"
            )
        f = _check_frequency(frequency_Hz)
        slot, width, spread, tail, tail_len, eff, rmin = _DEFAULTS[(antenna_type, f)]
        tail_src = _E_TAIL if antenna_type == "monopole" else _E_CHOKE
        fitted = (antenna_type, f) == ("monopole", 2.45e9)
        tail_tag, tail_note = ("cal", _CAL_DONE) if fitted else ("E", _CAL_NOTE)
        eff_note = _CAL_DONE if fitted else _CAL_DONE + "; carried over uncalibrated to this preset"
        return cls(
            antenna_type=antenna_type,
            frequency_Hz=f,
            slot_distance_m=Param(slot, "m", _E_SLOT, "E", _CAL_NOTE),
            axial_width_m=Param(width, "m", _E_WIDTH, "E", _CAL_NOTE),
            beam_spread=Param(spread, "1", _E_SPREAD, "E", _CAL_NOTE),
            tail_fraction=Param(tail, "1", tail_src, tail_tag, tail_note),
            tail_length_m=Param(tail_len, "m", tail_src, "E", _CAL_NOTE),
            efficiency=Param(eff, "1", _E_EFF, "cal", eff_note),
            rho_min_m=Param(rmin, "m", _E_RHOMIN, "E"),
        )

    def with_values(self, **values) -> AntennaModel:
        """A copy with parameter values replaced (floats in SI units, or :class:`Param`).

        A bare float keeps the unit and records ``source="set by caller"``, ``tag="user"``.
        """
        names = {f.name for f in fields(self)}
        kw = {}
        for k, v in values.items():
            if k not in names:
                raise ConfigError(f"AntennaModel has no parameter {k!r}; have {sorted(names)}")
            old = getattr(self, k)
            if isinstance(old, Param) and not isinstance(v, Param):
                v = Param(float(v), old.unit, "set by caller", "user", f"default was {old.value:g}")
            kw[k] = v
        return replace(self, **kw)

    def params(self) -> list[tuple[str, Param]]:
        """(dotted name, Param) pairs, for printing sources."""
        prefix = f"mwa.{self.antenna_type}.{self.frequency_Hz / 1e6:g}MHz"
        return [
            (f"{prefix}.{f.name}", getattr(self, f.name))
            for f in fields(self)
            if isinstance(getattr(self, f.name), Param)
        ]

    def axial_profile(self, u_m, rho_m=0.0):
        """Axial profile G(u; ρ) [1] (peak 1 at the slot when ρ = 0).

        Parameters
        ----------
        u_m : array_like
            Distance from the tip towards the handle [m].
        rho_m : array_like
            Distance from the antenna axis [m] (broadcast against ``u_m``).
        """
        return _spread_profile(
            np.asarray(u_m, dtype=float) - self.slot_distance_m.value,
            self.beam_spread.value * np.asarray(rho_m, dtype=float),
            self.axial_width_m.value,
            self.tail_fraction.value,
            self.tail_length_m.value,
        )

    def axial_extent_m(self, rho_m: float = 0.0, rel: float = 1e-6) -> tuple[float, float]:
        """Range of u [m] outside which G(u; ρ) < ``rel`` (a bound, not tight)."""
        us, w = self.slot_distance_m.value, self.axial_width_m.value
        a, L = self.tail_fraction.value, self.tail_length_m.value
        sd = math.hypot(w, self.beam_spread.value * rho_m)
        k = math.sqrt(-2.0 * math.log(rel))
        back = us + k * sd
        if a > 0:
            back = max(back, us + L * math.log(a / rel) + k * sd)
        return us - k * sd, back


# ---------------------------------------------------------------------------------------------
# Source on a grid
# ---------------------------------------------------------------------------------------------


#: Share of the pattern beyond the region of interest from which the warning advises a larger region.
_ROI_CUT_ADVICE = 0.05


class MicrowaveSource:
    r"""Heating by one microwave antenna on a grid, updated with the tissue temperature.

    Parameters
    ----------
    grid : Grid
    tip_m : sequence of 3 float
        World position of the antenna tip [m]; must lie inside the grid box.
    direction : sequence of 3 float
        Vector from the tip towards the handle (normalised here); the antenna shaft runs from the
        tip along +direction.
    model : AntennaModel
    power_W : float
        Generator (forward) power [W], in [0, 500]; settable later (``source.power_W = 60``).
    tumour_fraction : ndarray, optional
        Tumour fraction per voxel [1] (grid shape), for the Stauffer dielectric ratios.
    outside_mask : ndarray of bool, optional
        Voxels outside the organ (air, peritoneum) or of the applicator: no absorption, no
        attenuation; the power is normalised over the remaining voxels.
    applicator_mask : ndarray of bool, optional
        Which of the ``outside_mask`` voxels are the applicator's own. The normalisation's infinite
        medium keeps them as they are and continues the organ through the other outside voxels, so
        that Q does not depend on where the organ ends or on how much of the body the grid holds.
        Without it every outside voxel is continued as tissue there.
    renormalise : bool
        ``True`` (default): Σ Q dV over the grid equals efficiency × power, i.e. the power the
        pattern would deposit beyond the box or in outside voxels is redistributed over the tissue
        in proportion to Q. ``False``: the infinite-medium normalisation is kept and that power is
        lost (see :attr:`captured_fraction`).

    Attributes
    ----------
    captured_fraction : float
        After an update: the fraction of the infinite-medium pattern that falls on tissue voxels
        of the grid (≈1 for a box several penetration depths larger than the zone; accurate to
        about a per cent, the voxel sampling of the 1/ρ singularity near the axis). A
        ``RuntimeWarning`` is issued once when it drops below 0.8, naming the two parts of the
        rest:
    beyond_roi_fraction : float
        The fraction that falls beyond the grid's box (the region of interest cuts the pattern: a
        numerical loss, fixed by a larger region). Evaluated when ``captured_fraction`` first drops
        below 0.8, with the box's outside voxels counted as tissue; NaN before.
    outside_organ_fraction : float
        The fraction that falls inside the box on outside voxels (a subcapsular lesion: the model
        does not simulate the tissue there), ``1 − captured − beyond``; NaN before.

    Notes
    -----
    With u the axial coordinate from the tip and ρ the distance from the antenna axis, the power
    leaving the antenna per unit length is :math:`\propto g(u)`; at radius ρ it has spread
    axially to :math:`G(u;\rho)` (:class:`AntennaModel`). It spreads around the axis and is
    attenuated along radial rays, so the power flux density is

    .. math:: S(\rho, u) = \frac{G(u;\rho)}{2\pi\max(\rho, \rho_{min})}
              \exp\!\Big(-\int_0^\rho 2\bar\alpha(\rho', u)\,d\rho'\Big),

    and the absorbed power density is :math:`Q = 2\alpha(\mathbf x)\,S`, with α the local
    attenuation constant (:func:`attenuation_per_m` of :func:`dielectric_properties` at the
    voxel's temperature and tumour fraction) and :math:`\bar\alpha` its average over the ring
    (ρ, u): ``np.bincount`` on a cylindrical (u, ρ) table with bins of one grid spacing, a
    cumulative sum along ρ, and bilinear interpolation back to the voxels (exactly piecewise
    linear in ρ). In homogeneous tissue :math:`2\alpha S = \sigma|E|^2` for a plane wave, the
    usual SAR·ρ; written as :math:`2\alpha S` the absorption conserves the power along each ray
    when the properties vary with temperature (a σ|E|² form with |E|² from the attenuated flux
    would not, because the wave impedance changes with ε_r). The optical depth is taken along
    the perpendicular to the antenna; the longer path of slanted rays is absorbed into the
    calibrated ``beam_spread``. Finally :math:`\sum Q\,\Delta V = \eta P` (efficiency η,
    generator power P).

    Examples
    --------
    >>> from tissuefate.grid import Grid
    >>> g = Grid.cube(32, 2e-3)
    >>> src = MicrowaveSource(g, (0, 0, -0.01), (0, 0, 1), AntennaModel.default(), 60.0)
    >>> q = src.heating_W_per_m3(np.full(g.shape, 310.15, dtype=np.float32))
    >>> q.dtype, round(float(q.sum()) * g.voxel_volume_m3, 3)
    (dtype('float32'), 51.0)
    """

    def __init__(
        self,
        grid: Grid,
        tip_m,
        direction,
        model: AntennaModel,
        power_W: float,
        *,
        tumour_fraction=None,
        outside_mask=None,
        applicator_mask=None,
        renormalise: bool = True,
    ):
        if not isinstance(model, AntennaModel):
            raise ConfigError(
                f"model = {model!r}: must be an AntennaModel, "
                "e.g. AntennaModel.default('monopole', 2.45e9)"
            )
        tip = np.asarray(tip_m, dtype=float).reshape(-1)
        if tip.shape != (3,) or not np.all(np.isfinite(tip)):
            raise ConfigError(f"tip_m = {tip_m!r}: must be three finite coordinates in metres")
        d = np.asarray(direction, dtype=float).reshape(-1)
        n = float(np.linalg.norm(d)) if d.shape == (3,) else float("nan")
        if not (math.isfinite(n) and n > 0):
            raise ConfigError(
                f"direction = {direction!r}: must be a non-zero vector of three finite values "
                "pointing from the tip towards the handle"
            )
        if not grid.contains(tip):
            raise GeometryError(
                f"tip_m = {tip.tolist()} m lies outside the grid box (origin {grid.origin_m}, "
                f"extent {grid.extent_m} m): move the antenna or enlarge the grid"
            )
        self.grid = grid
        self.tip_m = tip
        self.direction = d / n
        self.model = model
        self.power_W = power_W
        self.renormalise = bool(renormalise)
        self.captured_fraction = float("nan")
        self.beyond_roi_fraction = float("nan")
        self.outside_organ_fraction = float("nan")
        self._warned = False
        shape = grid.shape
        self._tf = None
        if tumour_fraction is not None:
            tf = np.asarray(tumour_fraction)
            if tf.shape not in ((), shape):
                raise ConfigError(f"tumour_fraction has shape {tf.shape}, grid is {shape}")
            dielectric_properties(310.15, model.frequency_Hz, tf)  # range check, once
            self._tf = tf
        self._tissue = None
        if outside_mask is not None:
            om = np.asarray(outside_mask, dtype=bool)
            if om.shape != shape:
                raise ConfigError(f"outside_mask has shape {om.shape}, grid is {shape}")
            if om.all():
                raise ConfigError("outside_mask covers the whole grid: no tissue to heat")
            self._tissue = ~om
        self._applicator = None
        if applicator_mask is not None:
            am = np.asarray(applicator_mask, dtype=bool)
            if am.shape != shape:
                raise ConfigError(f"applicator_mask has shape {am.shape}, grid is {shape}")
            if (am if self._tissue is None else am & self._tissue).any():
                raise ConfigError("applicator_mask marks tissue voxels: it must lie inside outside_mask")
            self._applicator = am
        self._build_geometry()

    # -- power ----------------------------------------------------------------------------------
    @property
    def power_W(self) -> float:
        """Generator power [W]."""
        return self._power_W

    @power_W.setter
    def power_W(self, value) -> None:
        try:
            p = float(value)
        except (TypeError, ValueError):
            p = float("nan")
        if not (math.isfinite(p) and 0.0 <= p <= 500.0):
            hint = f" Did you mean {abs(p):g}?" if math.isfinite(p) and -500 <= p < 0 else ""
            raise ConfigError(
                f"power_W = {value!r} W: must be >= 0 and <= 500 W (clinical generators give up "
                f"to ~150 W).{hint}"
            )
        self._power_W = p

    @property
    def absorbed_power_W(self) -> float:
        """Power deposited in tissue, efficiency × generator power [W]."""
        return self.model.efficiency.value * self._power_W

    # -- geometry (once) ------------------------------------------------------------------------
    def _build_geometry(self) -> None:
        g, m = self.grid, self.model
        h = float(min(g.spacing_m))
        x, y, z = g.coordinates_m(np.float64)
        t, d = self.tip_m, self.direction
        px, py, pz = x - t[0], y - t[1], z - t[2]
        u = px * d[0] + py * d[1] + pz * d[2]
        rho = np.sqrt(np.maximum(px * px + py * py + pz * pz - u * u, 0.0))
        rho_max = float(rho.max())

        # Table rows cover the grid and the whole spread profile out to the grid's largest radius
        # (rows without voxels hold the 37 °C liver value) so that the infinite-medium total
        # is known.
        a_lo, a_hi = m.axial_extent_m(rho_max)
        # Rows centred on the voxel layers along the axis (for an antenna along a grid axis), whatever
        # the profile's extent: the binning and the interpolation then do not depend on where the
        # grid's box starts.
        u_min = float(u.min())
        t_lo = u_min - (max(math.ceil((u_min - a_lo) / h), 0) + 1.5) * h
        t_hi = max(float(u.max()), a_hi) + h
        nu = int(math.ceil((t_hi - t_lo) / h)) + 1
        nr = int(math.floor(rho_max / h)) + 2
        self._h, self._nu, self._nr = h, nu, nr

        # Ring-average bins: nearest row in u; in ρ, each voxel is shared linearly between the two
        # rings whose mid-radii (j + 1/2) h enclose it, so that the table changes continuously with
        # the geometry (with whole-ring binning, voxels at ρ = j h exactly, j voxels from an antenna
        # along a grid axis, went to ring j - 1 or j by the rounding of their coordinates, and the
        # heating at 2 mm moved by ±10 % with the grid's origin).
        su = (u - t_lo) / h
        ku = np.clip(np.floor(su).astype(np.intp), 0, nu - 1)
        fr = rho / h - 0.5
        j0 = np.floor(fr)
        w1 = np.where(fr > 0.0, fr - j0, 0.0)
        j0 = np.clip(j0.astype(np.intp), 0, nr - 1)
        row = ku * nr
        self._bin0 = (row + j0).ravel()
        self._bin1 = (row + np.minimum(j0 + 1, nr - 1)).ravel()
        self._w1 = w1.astype(np.float32).ravel()
        self._w0 = (1.0 - w1).astype(np.float32).ravel()
        del fr, j0, w1, row
        self._count_all = self._ring_sum(None)
        self._count_tis = self._count_all if self._tissue is None else self._ring_sum(self._tissue.ravel())
        # bins the normalisation continues the organ through: no tissue, no applicator voxel
        self._norm_holes = self._count_tis <= 0
        if self._applicator is not None:
            self._norm_holes &= self._ring_sum(self._applicator.ravel()) <= 0
        jr = np.minimum(np.floor(rho / h).astype(np.intp), nr - 1)

        # Bilinear interpolation of the optical-depth table tau[row, node] (node j at rho = j h,
        # row k centred at u = t_lo + (k + 1/2) h).
        s = su - 0.5
        k0 = np.clip(np.floor(s).astype(np.intp), 0, nu - 2)
        wu = np.clip(s - k0, 0.0, 1.0)
        wr = np.clip(rho / h - jr, 0.0, 1.0)
        n1 = nr + 1
        self._n1 = n1
        self._idx = (k0 * n1 + jr).ravel()
        f32 = np.float32
        self._c00 = ((1 - wu) * (1 - wr)).astype(f32).ravel()
        self._c01 = ((1 - wu) * wr).astype(f32).ravel()
        self._c10 = (wu * (1 - wr)).astype(f32).ravel()
        self._c11 = (wu * wr).astype(f32).ravel()
        del s, k0, wu, wr, su, ku, jr

        # Static factor G(u; rho) / (2 pi max(rho, rho_min)).
        rmin = m.rho_min_m.value
        geom = m.axial_profile(u, rho) / (2.0 * math.pi * np.maximum(rho, rmin))
        self._geom = geom.astype(f32).ravel()
        del geom, u, rho, px, py, pz

        # Infinite-medium total: G at the ring mid-radii of every row, ring radii.
        row_u = t_lo + (np.arange(nu) + 0.5) * h
        nodes = np.arange(nr + 1) * h
        self._lo = nodes[:-1]
        mid = nodes[:-1] + 0.5 * h
        self._G_mid = m.axial_profile(row_u[:, None], mid[None, :])
        self._G_end = m.axial_profile(row_u, nodes[-1])
        eps0, sig0 = dielectric_properties(310.15, m.frequency_Hz)
        self._alpha_ref = float(attenuation_per_m(eps0, sig0, m.frequency_Hz))

    # -- update ---------------------------------------------------------------------------------
    def heating_W_per_m3(self, T_K) -> np.ndarray:
        """Volumetric heating Q [W/m³] on the grid for tissue temperature ``T_K`` [K].

        Parameters
        ----------
        T_K : ndarray
            Temperature [K], grid shape.

        Returns
        -------
        ndarray
            Q [W/m³], grid shape, dtype of ``T_K`` (float32 or float64; other dtypes give
            float64). Zero in outside voxels.
        """
        T = np.asarray(T_K)
        if T.shape != self.grid.shape:
            raise ConfigError(f"T_K has shape {T.shape}, grid is {self.grid.shape}")
        dt = T.dtype if T.dtype in (np.float32, np.float64) else np.dtype(np.float64)
        T = T.astype(dt, copy=False)
        if self._power_W == 0.0:
            return np.zeros(self.grid.shape, dtype=dt)
        f = self.model.frequency_Hz
        eps, sig = _dielectric(T, f, self._tf)
        alpha = attenuation_per_m(eps, sig, f).ravel()
        del eps, sig
        if self._tissue is not None:
            alpha *= self._tissue.ravel()

        tau_nodes = self._optical_depth_table(alpha)
        tn = tau_nodes.astype(dt).ravel()
        q = self._voxel_optical_depth(tn)
        np.negative(q, out=q)
        np.exp(q, out=q)
        q *= alpha
        q *= self._geom  # q = alpha G e^-tau / (2 pi rho) = Q_raw / 2
        raw = 2.0 * float(np.sum(q, dtype=np.float64)) * self.grid.voxel_volume_m3

        total = self._infinite_total()
        self.captured_fraction = raw / total if total > 0 else float("nan")
        if self.captured_fraction < 0.8 and not self._warned:
            self._warned = True
            self._split_lost_fraction(T, f, tn, total)
            rest = (
                "is redistributed over the tissue (renormalise=True)"
                if self.renormalise
                else "heats tissue that is not simulated (renormalise=False)"
            )
            advice = (" Enlarge the region of interest." if self.beyond_roi_fraction >= _ROI_CUT_ADVICE else "")
            warnings.warn(
                f"MicrowaveSource: {self.captured_fraction:.0%} of the heating pattern falls on tissue "
                f"inside the grid, {self.outside_organ_fraction:.0%} outside the organ and "
                f"{self.beyond_roi_fraction:.0%} beyond the region of interest; the rest {rest}.{advice}",
                RuntimeWarning,
                stacklevel=2,
            )
        norm = raw if self.renormalise else total
        if not norm > 0:
            return np.zeros(self.grid.shape, dtype=dt)
        q *= dt.type(2.0 * self.absorbed_power_W / norm)
        return q.reshape(self.grid.shape).astype(dt, copy=False)

    def _voxel_optical_depth(self, tn):
        """Optical depth at every voxel (flat, a new array): the table's node values ``tn``
        interpolated bilinearly in (u, ρ)."""
        i, n1 = self._idx, self._n1
        q = self._c00 * tn[i]
        q += self._c01 * tn[i + 1]
        q += self._c10 * tn[i + n1]
        q += self._c11 * tn[i + n1 + 1]
        return q

    def _split_lost_fraction(self, T, f, tn, total) -> None:
        """Set :attr:`beyond_roi_fraction` and :attr:`outside_organ_fraction`: the pattern summed over
        the whole box with every voxel absorbing as tissue at its temperature (same optical depths)."""
        eps, sig = _dielectric(T, f, self._tf)
        alpha = attenuation_per_m(eps, sig, f).ravel().astype(np.float64)
        tau = self._voxel_optical_depth(tn).astype(np.float64)
        in_box = 2.0 * float(np.sum(alpha * self._geom * np.exp(-tau))) * self.grid.voxel_volume_m3
        box = min(max(in_box / total, self.captured_fraction), 1.0) if total > 0 else float("nan")
        self.beyond_roi_fraction = 1.0 - box
        self.outside_organ_fraction = box - self.captured_fraction

    def _optical_depth_table(self, alpha_flat) -> np.ndarray:
        """Ring-averaged α per (u row, ρ bin) → optical depth 2∫ᾱ dρ at the ρ nodes.

        Also sets the table the normalisation integrates (:meth:`_infinite_total`): the same α with
        the organ continued through bins that hold no tissue, so that the pattern's total — and with
        it Q everywhere — does not depend on where the organ ends or on how much of the body
        outside it the region of interest holds.
        """
        nu, nr, h = self._nu, self._nr, self._h
        s = self._ring_sum(alpha_flat)
        ct = self._count_tis
        a = np.where(ct > 0, s / np.where(ct > 0, ct, 1.0), 0.0)
        # Bins holding no voxel at all (gaps near the axis, beyond the grid's edge, rows beyond
        # the grid): the value of the nearest inner bin of the row, else 37 °C liver. Bins of
        # outside voxels only keep α = 0 (no absorption, no attenuation).
        self._alpha_bins = a = self._fill_inward(a, self._count_all <= 0)
        # the normalisation's medium: bins of outside voxels take the nearest inner tissue bin's α
        self._alpha_norm = a if self._tissue is None else self._fill_inward(a, self._norm_holes, ct > 0)
        tau = np.zeros((nu, nr + 1))
        np.cumsum(2.0 * h * self._alpha_bins, axis=1, out=tau[:, 1:])
        return tau

    def _ring_sum(self, values) -> np.ndarray:
        """Σ over the voxels of each (u row, ρ ring) bin of ``values`` (flat; None: 1) times the
        voxel's share of the bin [float64, (rows, rings)]."""
        n = self._nu * self._nr
        if values is None:
            v0, v1 = self._w0, self._w1
        else:
            v0 = values * self._w0
            v1 = values * self._w1
        out = np.bincount(self._bin0, weights=v0, minlength=n)
        out += np.bincount(self._bin1, weights=v1, minlength=n)
        return out.reshape(self._nu, self._nr)

    def _fill_inward(self, a, holes, sources=None) -> np.ndarray:
        """``a`` with each ``holes`` bin set to the value of the nearest inner ``sources`` bin of its
        row (default: the bins that are not holes), 37 °C liver where the row has none."""
        if not holes.any():
            return a
        src = ~holes if sources is None else sources
        last = np.where(src, np.arange(a.shape[1])[None, :], -1)
        np.maximum.accumulate(last, axis=1, out=last)
        filled = np.take_along_axis(a, np.maximum(last, 0), axis=1)
        filled[last < 0] = self._alpha_ref
        return np.where(holes, filled, a)

    def _infinite_total(self) -> float:
        r"""∫ Q_raw dV in an infinite medium that continues the table's last ring outward and the
        organ through bins without tissue (the α of :meth:`_optical_depth_table`'s last call).

        Per ring: :math:`G\int 2\alpha e^{-\tau}\rho/\max(\rho,\rho_{min})\,d\rho` with α constant
        in the ring (exact beyond ρ_min, midpoint rule inside it), plus the flux that leaves the
        table's last node (absorbed further out).
        """
        h = self._h
        a = self._alpha_norm
        tau_nodes = np.zeros((a.shape[0], a.shape[1] + 1))
        np.cumsum(2.0 * h * a, axis=1, out=tau_nodes[:, 1:])
        rmin = self.model.rho_min_m.value
        e = np.exp(-tau_nodes)
        outer = e[:, :-1] - e[:, 1:]
        mid = self._lo + 0.5 * h
        inner = 2.0 * h * a * np.exp(-(tau_nodes[:, :-1] + a * h)) * np.minimum(mid / rmin, 1.0)
        per_ring = np.where(self._lo[None, :] + h <= rmin, inner, outer)
        total = np.sum(self._G_mid * per_ring) + np.sum(self._G_end * e[:, -1])
        return float(total * h)
