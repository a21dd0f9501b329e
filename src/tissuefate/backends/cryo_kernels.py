r"""Cryoablation kernels: the explicit enthalpy step, the freeze monitor and the ice volumes.

Both implementations live here and register themselves on import: the NumPy reference (readable,
vectorised by slicing, the test oracle) and the numba kernel (CPU default, one fused parallel
pass). :mod:`tissuefate.physics.cryo` imports this module, so the kernels are registered whenever
the cryo model is used; ``get_kernel("enthalpy_step", backend)`` then works as for every other
kernel. There is no CuPy version yet (``get_kernel`` says so).

The phase-change material is one material per grid, given to the kernels as a tuple of scalars
(:func:`phase_constants`); this keeps the step at 6 arrays per voxel (H, T, perfusion read;
H, T written; plus an optional source), as many as the Pennes step.

Layout and conventions as in :mod:`tissuefate.backends.numba_kernels`: C-contiguous
``[x, y, z]``, ``prange`` over x-planes, box-face voxels copied unchanged, scalars cast to the
array dtype before the call. Kernels do no argument checking.
"""

from __future__ import annotations

import numpy as np

from .registry import register_kernel

__all__ = [
    "PHASE_CONSTANT_NAMES",
    "phase_constants",
    "enthalpy_step",
    "cryo_monitor",
    "cryo_volumes",
]

#: Order of the scalars of :func:`phase_constants` (the kernels unpack them in this order).
PHASE_CONSTANT_NAMES = ("T_s", "T_l", "inv_dT", "k_f", "dk", "inv_C_f", "inv_C_m", "inv_C_u", "H_l")


def phase_constants(*, solidus_K, liquidus_K, C_frozen, C_unfrozen, latent_J_per_m3, k_frozen,
                    k_unfrozen, dtype=np.float64) -> tuple:
    r"""Scalars of the piecewise-linear enthalpy model, in kernel order, cast to ``dtype``.

    Parameters
    ----------
    solidus_K, liquidus_K : float
        Ends of the freezing range T_s < T_l [K].
    C_frozen, C_unfrozen : float
        Volumetric heat capacities ρc of frozen and unfrozen material [J/(m³ K)].
    latent_J_per_m3 : float
        Volumetric latent heat ρL [J/m³], released linearly over [T_s, T_l].
    k_frozen, k_unfrozen : float
        Thermal conductivities [W/(m K)].

    Returns
    -------
    tuple
        ``(T_s, T_l, 1/ΔT, k_f, k_u − k_f, 1/C_f, 1/C_m, 1/C_u, H_l)`` with ΔT = T_l − T_s,
        C_m = (C_f + C_u)/2 + ρL/ΔT the apparent capacity of the mushy range and H_l = C_m ΔT
        the enthalpy at the liquidus (H = 0 at the solidus).
    """
    f = np.dtype(dtype).type
    dT = float(liquidus_K) - float(solidus_K)
    C_m = 0.5 * (float(C_frozen) + float(C_unfrozen)) + float(latent_J_per_m3) / dT
    return (f(solidus_K), f(liquidus_K), f(1.0 / dT), f(k_frozen), f(float(k_unfrozen) - float(k_frozen)),
            f(1.0 / C_frozen), f(1.0 / C_m), f(1.0 / C_unfrozen), f(C_m * dT))


# ---------------------------------------------------------------------------------------------
# NumPy reference
# ---------------------------------------------------------------------------------------------


def _np_frozen(T, T_l, inv_dT):
    """Ice fraction φ(T) = clip((T_l − T)/ΔT, 0, 1)."""
    return np.clip((T_l - T) * inv_dT, 0.0, 1.0)


def _np_temperature(H, T_s, inv_C_f, inv_C_m, inv_C_u, H_l):
    """T(H), the closed-form inverse of the piecewise-linear enthalpy."""
    zero = H.dtype.type(0)
    return (T_s + np.minimum(H, zero) * inv_C_f + np.clip(H, zero, H_l) * inv_C_m
            + np.maximum(H - H_l, zero) * inv_C_u)


@register_kernel("enthalpy_step", "numpy")
def enthalpy_step(H, T, H_out, T_out, perf, q, T_art, dt, inv_h2, phase):
    r"""One explicit step of the enthalpy form of the bioheat equation (reference).

    Parameters
    ----------
    H : ndarray, shape (nx, ny, nz), float32 or float64, C-contiguous
        Volumetric enthalpy now [J/m³] (0 at the solidus).
    T : ndarray like ``H``
        Temperature now [K]; must equal T(H) (the model keeps both).
    H_out, T_out : ndarray like ``H``
        Enthalpy [J/m³] and temperature [K] after the step (written; must not alias the inputs).
    perf : ndarray like ``H``
        Perfusion coefficient ω_b ρ_b c_b × vascular integrity [W/(m³ K)].
    q : ndarray like ``H`` or None
        Volumetric heat source [W/m³].
    T_art : float
        Arterial temperature [K].
    dt : float
        Time step [s].
    inv_h2 : tuple of 3 float
        (1/hx², 1/hy², 1/hz²) [1/m²]; an entry 0 switches conduction along that axis off.
    phase : tuple
        :func:`phase_constants` in the array dtype.

    Notes
    -----
    .. math::
        H^{n+1}_i = H^n_i + \Delta t\Big[\sum_a h_a^{-2}\big(k_{i+1/2}(T_{i+1}-T_i)
        - k_{i-1/2}(T_i - T_{i-1})\big) - (1-\phi_i)\,p_i\,(T_i - T_a) + Q_i\Big],
        \qquad T^{n+1}_i = T(H^{n+1}_i)

    with k(T) = k_f + (k_u − k_f)(1 − φ(T)), φ(T) = clip((T_l − T)/ΔT, 0, 1) the ice fraction,
    the harmonic face conductivity :math:`k_{i+1/2} = 2k_ik_{i+1}/(k_i + k_{i+1})` (k jumps 4×
    across the ice front; the harmonic mean is the series conductance of two half cells) and the
    closed-form inverse

    .. math:: T(H) = T_s + \frac{\min(H,0)}{C_f} + \frac{\mathrm{clip}(H,0,H_l)}{C_m}
              + \frac{\max(H-H_l,0)}{C_u}.

    Perfusion acts on unfrozen tissue only (factor 1 − φ). Box-face voxels are copied.
    """
    T_s, T_l, inv_dT, k_f, dk, inv_C_f, inv_C_m, inv_C_u, H_l = phase
    f = H.dtype.type
    dt = f(dt)
    T_art = f(T_art)
    np.copyto(H_out, H)
    np.copyto(T_out, T)
    if min(H.shape) < 3:
        return H_out, T_out
    k = k_f + dk * (f(1) - _np_frozen(T, T_l, inv_dT))
    c = (slice(1, -1),) * 3
    Tc = T[c]
    kc = k[c]
    div = np.zeros_like(Tc)
    for axis in range(3):
        ih2 = f(inv_h2[axis])
        plus = list(c)
        minus = list(c)
        plus[axis] = slice(2, None)
        minus[axis] = slice(0, -2)
        plus, minus = tuple(plus), tuple(minus)
        kp = f(2) * kc * k[plus] / (kc + k[plus])
        km = f(2) * kc * k[minus] / (kc + k[minus])
        div += ih2 * (kp * (T[plus] - Tc) - km * (Tc - T[minus]))
    if q is not None:
        div += q[c]
    unfrozen = f(1) - _np_frozen(Tc, T_l, inv_dT)
    Hn = H[c] + dt * (div - unfrozen * perf[c] * (Tc - T_art))
    H_out[c] = Hn
    T_out[c] = _np_temperature(Hn, T_s, inv_C_f, inv_C_m, inv_C_u, H_l)
    return H_out, T_out


@register_kernel("cryo_monitor", "numpy")
def cryo_monitor(T, T_min, below_a, below_b, perf, thr_a, thr_b, thr_vascular, interval):
    r"""Update the freeze record in place after ``interval`` seconds at temperature ``T``.

    Parameters
    ----------
    T : ndarray
        Temperature now [K].
    T_min : ndarray like ``T``
        Minimum temperature so far [K]: ``min(T_min, T)``.
    below_a, below_b : ndarray like ``T``
        Time spent below ``thr_a`` and ``thr_b`` [s]: ``+= interval`` where ``T < thr``.
    perf : ndarray like ``T``
        Perfusion coefficient [W/(m³ K)]: set to 0 where ``T_min < thr_vascular``
        (microvascular injury inside the ice; it does not recover within a session).
    thr_a, thr_b, thr_vascular : float
        Thresholds [K].
    interval : float
        Time since the last call [s] (rectangle rule on the end value).
    """
    np.minimum(T_min, T, out=T_min)
    below_a[T < thr_a] += below_a.dtype.type(interval)
    below_b[T < thr_b] += below_b.dtype.type(interval)
    perf[T_min < thr_vascular] = 0


@register_kernel("cryo_volumes", "numpy")
def cryo_volumes(T, T_l, inv_dT, thresholds):
    r"""Ice and isotherm voxel counts over the interior voxels (box faces excluded).

    Parameters
    ----------
    T : ndarray
        Temperature [K].
    T_l, inv_dT : float
        Liquidus [K] and 1/(T_l − T_s) [1/K] (ice fraction φ as in :func:`enthalpy_step`).
    thresholds : tuple of 3 float
        Temperatures [K].

    Returns
    -------
    tuple of 4 float
        (Σφ, #T < thresholds[0], #T < thresholds[1], #T < thresholds[2]) in voxels.
    """
    Ti = T[1:-1, 1:-1, 1:-1].astype(np.float64)
    ice = float(_np_frozen(Ti, float(T_l), float(inv_dT)).sum())
    return (ice,) + tuple(float(np.count_nonzero(Ti < float(t))) for t in thresholds)


# ---------------------------------------------------------------------------------------------
# numba
# ---------------------------------------------------------------------------------------------

try:
    from numba import njit, prange
except ImportError:  # pragma: no cover - numba is a dependency; the numpy reference still works
    njit = None

if njit is not None:

    @njit(inline="always", fastmath=True)
    def _k(t, T_l, inv_dT, k_f, dk, zero, one):  # pragma: no cover - compiled
        # zero/one arrive in the array dtype: a float64 literal would promote a float32 loop
        return k_f + dk * (one - min(max((T_l - t) * inv_dT, zero), one))

    @njit(inline="always", fastmath=True)
    def _hm(a, b):  # pragma: no cover - compiled
        return (a + a) * b / (a + b)

    @njit(parallel=True, fastmath=True, cache=True, boundscheck=False)
    def _enthalpy(H, T, Ho, To, perf, q, has_q, t_art, dt, cx, cy, cz, T_s, T_l, inv_dT, k_f, dk,
                  iCf, iCm, iCu, H_l):  # pragma: no cover - compiled
        nx, ny, nz = H.shape
        zero = H_l - H_l
        one = inv_dT / inv_dT
        for i in prange(nx):
            if i == 0 or i == nx - 1:
                Ho[i] = H[i]
                To[i] = T[i]
                continue
            Ho[i, 0] = H[i, 0]
            Ho[i, ny - 1] = H[i, ny - 1]
            To[i, 0] = T[i, 0]
            To[i, ny - 1] = T[i, ny - 1]
            for j in range(1, ny - 1):
                Ho[i, j, 0] = H[i, j, 0]
                Ho[i, j, nz - 1] = H[i, j, nz - 1]
                To[i, j, 0] = T[i, j, 0]
                To[i, j, nz - 1] = T[i, j, nz - 1]
                for l in range(1, nz - 1):
                    t = T[i, j, l]
                    phi = min(max((T_l - t) * inv_dT, zero), one)
                    kc = k_f + dk * (one - phi)
                    t1 = T[i + 1, j, l]
                    t0 = T[i - 1, j, l]
                    d = cx * (_hm(kc, _k(t1, T_l, inv_dT, k_f, dk, zero, one)) * (t1 - t)
                              - _hm(kc, _k(t0, T_l, inv_dT, k_f, dk, zero, one)) * (t - t0))
                    t1 = T[i, j + 1, l]
                    t0 = T[i, j - 1, l]
                    d += cy * (_hm(kc, _k(t1, T_l, inv_dT, k_f, dk, zero, one)) * (t1 - t)
                               - _hm(kc, _k(t0, T_l, inv_dT, k_f, dk, zero, one)) * (t - t0))
                    t1 = T[i, j, l + 1]
                    t0 = T[i, j, l - 1]
                    d += cz * (_hm(kc, _k(t1, T_l, inv_dT, k_f, dk, zero, one)) * (t1 - t)
                               - _hm(kc, _k(t0, T_l, inv_dT, k_f, dk, zero, one)) * (t - t0))
                    if has_q:
                        d += q[i, j, l]
                    h = H[i, j, l] + dt * (d - (one - phi) * perf[i, j, l] * (t - t_art))
                    Ho[i, j, l] = h
                    To[i, j, l] = (T_s + min(h, zero) * iCf + min(max(h, zero), H_l) * iCm
                                   + max(h - H_l, zero) * iCu)

    @register_kernel("enthalpy_step", "numba")
    def enthalpy_step_numba(H, T, H_out, T_out, perf, q, T_art, dt, inv_h2, phase):
        """numba version of :func:`enthalpy_step` (same arguments)."""
        if min(H.shape) < 3:
            np.copyto(H_out, H)
            np.copyto(T_out, T)
            return H_out, T_out
        f = H.dtype.type
        _enthalpy(H, T, H_out, T_out, perf, T if q is None else q, q is not None, f(T_art), f(dt),
                  f(inv_h2[0]), f(inv_h2[1]), f(inv_h2[2]), *(f(p) for p in phase))
        return H_out, T_out

    #: Voxels per parallel task of the monitor (as the damage update in numba_kernels).
    _CHUNK = 16384

    @njit(fastmath=True, cache=True)
    def _monitor_range(T, tmin, ba, bb, perf, lo, hi, thr_a, thr_b, thr_v, dt):  # pragma: no cover
        for n in range(lo, hi):
            t = T[n]
            if t < tmin[n]:
                tmin[n] = t
            if t < thr_a:
                ba[n] += dt
            if t < thr_b:
                bb[n] += dt
            if tmin[n] < thr_v:
                perf[n] = 0.0

    @njit(parallel=True, cache=True)
    def _monitor(T, tmin, ba, bb, perf, thr_a, thr_b, thr_v, dt):  # pragma: no cover - compiled
        size = T.size
        for c in prange((size + _CHUNK - 1) // _CHUNK):
            lo = c * _CHUNK
            _monitor_range(T, tmin, ba, bb, perf, lo, min(lo + _CHUNK, size), thr_a, thr_b, thr_v, dt)

    @register_kernel("cryo_monitor", "numba")
    def cryo_monitor_numba(T, T_min, below_a, below_b, perf, thr_a, thr_b, thr_vascular, interval):
        """numba version of :func:`cryo_monitor` (same arguments)."""
        f = T.dtype.type
        _monitor(T.reshape(-1), T_min.reshape(-1), below_a.reshape(-1), below_b.reshape(-1),
                 perf.reshape(-1), f(thr_a), f(thr_b), f(thr_vascular), f(interval))

    @njit(parallel=True, fastmath=True, cache=True)
    def _volumes(T, T_l, inv_dT, a, b, c):  # pragma: no cover - compiled
        nx, ny, nz = T.shape
        ice = 0.0
        na = 0
        nb = 0
        nc = 0
        for i in prange(1, nx - 1):
            for j in range(1, ny - 1):
                for l in range(1, nz - 1):
                    t = T[i, j, l]
                    ice += min(max((T_l - t) * inv_dT, 0.0), 1.0)
                    na += t < a
                    nb += t < b
                    nc += t < c
        return ice, na, nb, nc

    @register_kernel("cryo_volumes", "numba")
    def cryo_volumes_numba(T, T_l, inv_dT, thresholds):
        """numba version of :func:`cryo_volumes` (same arguments)."""
        if min(T.shape) < 3:
            return (0.0, 0.0, 0.0, 0.0)
        r = _volumes(T, float(T_l), float(inv_dT), *(float(t) for t in thresholds))
        return tuple(float(v) for v in r)
