"""NumPy reference kernels: readable, vectorised by slicing, and the test oracle.

Every other backend (numba, CuPy) must reproduce these results within the dtype tolerance of
``tests/backends/test_kernels.py``. Kernels do no argument checking (STYLE.md: validate at the
boundary); :mod:`tissuefate.physics.bioheat` and :mod:`tissuefate.physics.damage` do.

Constants shared by all backends live here, so that each number exists once.
"""

from __future__ import annotations

import math

import numpy as np

from .registry import register_kernel

__all__ = [
    "GAS_CONSTANT_J_PER_MOL_K",
    "CEM43_REFERENCE_K",
    "CEM43_FLOOR_K",
    "CEM43_CEILING_K",
    "pennes_step",
    "arrhenius_step",
    "apply_dirichlet",
    "boiling_cap",
    "widen_range",
]

#: Molar gas constant R = N_A k_B [J/(mol K)] (exact in the 2019 SI).
GAS_CONSTANT_J_PER_MOL_K = 8.314462618

#: 43 °C, the reference temperature of CEM43 [K] (Sapareto & Dewey 1984).
CEM43_REFERENCE_K = 316.15

#: CEM43 is not accumulated at or below 39 °C [K]: there the increment is at most
#: 0.25^4 · dt/60 ≈ 3.9e-3 min per minute of exposure (< 0.25 min over an hour, against a 240 min
#: necrosis threshold). Skipping it keeps the exponential out of most of the loop: RF current
#: warms the whole region of interest by tenths of a kelvin (at 37.01 °C the exponential ran in
#: ~90 % of the voxels of an RFA session and cost 5x the rest of the damage update).
CEM43_FLOOR_K = 312.15

#: The CEM43 exponent is evaluated at min(T, 143 °C) [K]: 2^100 ≈ 1e30 min per minute is beyond
#: any meaning, and without the cap float32 would overflow to inf above ≈ 170 °C.
CEM43_CEILING_K = CEM43_REFERENCE_K + 100.0


@register_kernel("pennes_step", "numpy")
def pennes_step(T, out, k, inv_rho_c, perf, q, T_art, dt, inv_h2, q_scale=1.0):
    r"""One explicit Euler step of the Pennes bioheat equation (reference implementation).

    Parameters
    ----------
    T : ndarray, shape (nx, ny, nz), float32 or float64, C-contiguous
        Temperature now [K].
    out : ndarray like ``T``
        Temperature after the step [K] (written; must not alias ``T``).
    k : ndarray like ``T``
        Thermal conductivity [W/(m K)].
    inv_rho_c : ndarray like ``T``
        1 / (ρ c) [m³ K/J].
    perf : ndarray like ``T``
        Perfusion coefficient ω_b ρ_b c_b / (ρ c) [1/s].
    q : ndarray like ``T`` or None
        Volumetric heat source Q [W/m³] (``None``: no source). The kernel multiplies it by
        ``inv_rho_c`` itself, so that callers never spend a separate pass converting W/m³ to K/s.
    T_art : float
        Arterial blood temperature [K].
    dt : float
        Time step [s].
    inv_h2 : tuple of 3 float
        (1/hx², 1/hy², 1/hz²) [1/m²]; an entry 0 switches conduction along that axis off.
    q_scale : float
        Factor [1] the source is multiplied by (in the array dtype): an RF session passes its
        source at 1 V and V² here instead of scaling the whole array every step.

    Notes
    -----
    .. math::
        T^{n+1}_i = T^n_i + \Delta t\left[\frac{(\nabla_h\cdot k\nabla_h T^n)_i + Q_i}{(\rho c)_i}
                    - p_i\,(T^n_i - T_a)\right],\quad p = \frac{\omega_b\rho_b c_b}{\rho c}

    with the 7-point flux-form operator

    .. math:: (\nabla_h\cdot k\nabla_h T)_i = \sum_a h_a^{-2}
              [k_{i+1/2}(T_{i+1}-T_i) - k_{i-1/2}(T_i-T_{i-1})].

    The face conductivity is the arithmetic mean :math:`k_{i+1/2} = (k_i + k_{i+1})/2`: it costs
    no division, is second-order accurate where k is smooth, and tissue conductivities differ
    by well under a factor of 2 (liver, tumour, blood, scar). The harmonic mean would be the
    better choice at large jumps (frozen tissue k ≈ 2 vs 0.5 W/(m K)), at one division per face.
    Box-face voxels are Dirichlet: they are copied unchanged into ``out``.
    """
    dtype = T.dtype.type
    dt = dtype(dt)
    T_art = dtype(T_art)
    np.copyto(out, T)
    if min(T.shape) < 3:
        return out
    c = (slice(1, -1),) * 3
    Tc = T[c]
    kc = k[c]
    div = np.zeros_like(Tc)
    for axis in range(3):
        ih2 = dtype(0.5 * inv_h2[axis])
        plus = list(c)
        minus = list(c)
        plus[axis] = slice(2, None)
        minus[axis] = slice(0, -2)
        plus, minus = tuple(plus), tuple(minus)
        div += ih2 * ((kc + k[plus]) * (T[plus] - Tc) - (kc + k[minus]) * (Tc - T[minus]))
    if q is not None:
        div += q[c] if q_scale == 1.0 else q[c] * dtype(q_scale)
    out[c] = Tc + dt * (inv_rho_c[c] * div - perf[c] * (Tc - T_art))
    return out


def widen_range(rng, lo: int, hi: int) -> None:
    """Widen the flat index range ``rng`` = [start, stop) in place to cover [lo, hi) (an empty
    range, start >= stop, becomes [lo, hi)).

    >>> r = np.array([0, 0]); widen_range(r, 5, 9); widen_range(r, 2, 6); r.tolist()
    [2, 9]
    """
    if rng[0] >= rng[1]:
        rng[0], rng[1] = lo, hi
    else:
        rng[0], rng[1] = min(int(rng[0]), lo), max(int(rng[1]), hi)


@register_kernel("boiling_cap", "numpy")
def boiling_cap(T, dried, inv_rho_c, boil_K, latent_J_per_m3, rehydrate_below_K=-np.inf,
                dried_range=None) -> float:
    r"""Cap ``T`` at the boiling point in place and dry the voxels above it (reference).

    The excess energy of a voxel above ``boil_K`` [K], ρc (T − T_b) = (T − T_b) / ``inv_rho_c``,
    boils its water: the dried fraction ``dried`` grows by it over ``latent_J_per_m3`` (capped at
    1) and T is set to T_b. Then, where T (after the cap) is below ``rehydrate_below_K``, the dried
    fraction is reset to 0 (tissue that cooled off the boiling point counts as wet again; the
    default −∞ rehydrates nothing). ``T``, ``dried`` and ``inv_rho_c`` share one shape and dtype;
    the arithmetic is in that dtype.

    ``dried_range``, an optional int64 array [start, stop) of flat (C-order) indices outside which
    ``dried`` is zero, is widened in place to cover the voxels dried by this call: it lets the
    numba kernel skip the rehydration test where nothing is dried (the reference only keeps it up
    to date).

    Returns
    -------
    float
        The vaporised energy density summed over the voxels [J/m³], in float64.

    Examples
    --------
    >>> T = np.array([372.0, 374.15, 380.0]); d = np.array([0.3, 0.0, 0.0])
    >>> e = boiling_cap(T, d, np.full(3, 1 / 3.8e6), 373.15, 1.9e9, rehydrate_below_K=372.15)
    >>> T.tolist(), [round(float(x), 6) for x in d], round(e / 3.8e6, 6)
    ([372.0, 373.15, 373.15], [0.0, 0.002, 0.0137], 7.85)
    """
    vaporised = 0.0
    if float(T.max()) > boil_K:
        over = T > boil_K
        e = (T[over] - boil_K) / inv_rho_c[over]
        vaporised = float(e.sum(dtype=np.float64))
        dried[over] = np.minimum(dried[over] + e / latent_J_per_m3, 1.0)
        T[over] = boil_K
        if dried_range is not None:
            at = np.flatnonzero(over)
            widen_range(dried_range, int(at[0]), int(at[-1]) + 1)
    if rehydrate_below_K > -np.inf:
        dried[T < rehydrate_below_K] = 0
    return vaporised


@register_kernel("arrhenius_step", "numpy")
def arrhenius_step(T, omega, cem43, peak, dt, A, Ea, T_threshold, cem43_floor_K=CEM43_FLOOR_K):
    r"""Accumulate thermal damage in place over one step of length ``dt`` (reference).

    Parameters
    ----------
    T : ndarray
        Temperature during the step [K].
    omega : ndarray like ``T``
        Arrhenius damage integral Ω [1]; increased where ``T > T_threshold``.
    cem43 : ndarray like ``T``
        Cumulative equivalent minutes at 43 °C [min]; increased where ``T > cem43_floor_K``.
    peak : ndarray like ``T``
        Peak temperature [K]; ``max(peak, T)``.
    dt : float
        Time step [s].
    A : float
        Frequency factor [1/s].
    Ea : float
        Activation energy [J/mol].
    T_threshold : float
        Temperature below which Ω is not integrated [K].
    cem43_floor_K : float
        Temperature at or below which CEM43 is not accumulated [K] (see :data:`CEM43_FLOOR_K`).

    Notes
    -----
    .. math::
        \Omega \mathrel{+}= \Delta t\,A\,e^{-E_a/(R T)}\ (T > T_{thr}),\qquad
        \mathrm{CEM43} \mathrel{+}= \frac{\Delta t}{60}\,R_{43}^{\,43 - T[°C]},\
        R_{43} = 0.5\ (T \ge 43 °C),\ 0.25\ (T < 43 °C)

    The rate is evaluated as exp(ln A − E_a/(RT)) in float64 (A = 7.39e39 s⁻¹ overflows float32);
    the CEM43 exponent uses min(T, :data:`CEM43_CEILING_K`).
    """
    hot = T > T_threshold
    if hot.any():
        Th = T[hot].astype(np.float64)
        omega[hot] += (dt * np.exp(math.log(A) - Ea / (GAS_CONSTANT_J_PER_MOL_K * Th))).astype(
            omega.dtype
        )
    warm = T > cem43_floor_K
    if warm.any():
        Tw = np.minimum(T[warm].astype(np.float64), CEM43_CEILING_K) - CEM43_REFERENCE_K
        # R^(43 - T) = 2^(T - 43) with R = 0.5, 4^(T - 43) with R = 0.25
        expo = np.where(Tw >= 0.0, Tw, 2.0 * Tw) * math.log(2.0)
        cem43[warm] += (dt / 60.0 * np.exp(expo)).astype(cem43.dtype)
    np.maximum(peak, T, out=peak)


@register_kernel("apply_dirichlet", "numpy")
def apply_dirichlet(T, flat_index, values):
    """Set ``T.flat[flat_index] = values`` in place (Dirichlet voxels: vessels, cooled tips).

    Parameters
    ----------
    T : ndarray, C-contiguous
        Temperature [K].
    flat_index : ndarray of int
        Flat (C-order) indices of the Dirichlet voxels.
    values : float or ndarray of len(flat_index)
        Their fixed temperatures [K].
    """
    T.reshape(-1)[flat_index] = values
    return T
