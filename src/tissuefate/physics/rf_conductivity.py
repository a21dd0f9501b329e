r"""Temperature dependence of the RF conductivity, and the tests that decide a re-solve.

σ(T) = σ₃₇ (1 + c (T − 37 °C)) up to the desiccation temperature; desiccated voxels (≥ 99 °C in
a session) drop by the desiccation factor (Berjano 2006). :func:`rf_conductivity` is the law and
its NumPy oracle; :func:`rf_conductivity_desiccating` the one-pass compiled form an RF session
evaluates before every solve. :func:`needs_resolve` and :func:`changed_box` say whether, and where,
σ changed enough since the last potential solve for a re-solve
(:class:`~tissuefate.physics.rf.PotentialSolver`). Re-exported by :mod:`tissuefate.physics.rf`.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from ..errors import ConfigError
from ..tissue.properties import RF

__all__ = [
    "BODY_TEMPERATURE_K",
    "rf_conductivity",
    "rf_conductivity_desiccating",
    "RF_DESICCATION_LAWS",
    "update_desiccated",
    "needs_resolve",
    "changed_box",
]

#: Reference temperature of σ37 [K] (37 °C).
BODY_TEMPERATURE_K = 310.15


# --------------------------------------------------------------------------------------------
# temperature dependence


def rf_conductivity(
    sigma37_S_per_m,
    T_K,
    desiccated=None,
    *,
    coeff_per_K: float | None = None,
    desiccation_factor: float | None = None,
    desiccation_temperature_K: float | None = None,
) -> np.ndarray:
    r"""RF electrical conductivity at temperature ``T_K`` [S/m].

    Parameters
    ----------
    sigma37_S_per_m : array_like
        Conductivity at 37 °C [S/m] (:func:`tissuefate.tissue.rf_conductivity_map`).
    T_K : array_like
        Temperature [K].
    desiccated : array_like of bool, optional
        Voxels that have reached the desiccation temperature at any time of the session (kept
        by the caller, see :func:`update_desiccated`; irreversible within a session).
    coeff_per_K, desiccation_factor, desiccation_temperature_K : float, optional
        Default to ``tissue.properties.RF`` (Berjano 2006, [R]): +1.5 %/K, ×1e-2, 100 °C.

    Returns
    -------
    ndarray
        float32 if both inputs are float32, else float64.

    Notes
    -----
    .. math:: \sigma = \sigma_{37}\,\max\bigl(0,\ 1 + c\,(\min(T, T_d) - 310.15\,\mathrm{K})\bigr)
              \times \begin{cases} f_d & \text{desiccated} \\ 1 & \text{otherwise}\end{cases}

    The linear rise stops at ``T_d`` (100 °C); below about −30 °C the law would turn negative and
    is clipped at 0 (the solver treats σ = 0 as an insulator).

    Examples
    --------
    >>> import numpy as np
    >>> s = rf_conductivity(np.array([0.333, 0.333]), np.array([310.15, 320.15]))
    >>> [round(float(v), 4) for v in s / 0.333]
    [1.0, 1.15]
    >>> float(rf_conductivity(0.333, 373.15, True) / rf_conductivity(0.333, 373.15, False))
    0.01
    """
    c = RF["sigma_temp_coeff_per_K"].value if coeff_per_K is None else float(coeff_per_K)
    f = RF["desiccation_factor"].value if desiccation_factor is None else float(desiccation_factor)
    Td = (
        RF["desiccation_temperature_K"].value
        if desiccation_temperature_K is None
        else float(desiccation_temperature_K)
    )
    if not (0.0 <= f <= 1.0):
        raise ConfigError(
            f"desiccation_factor = {f}: must be in [0, 1] (Berjano 2006: 1e-4 to 1e-2)"
        )
    s37 = np.asarray(sigma37_S_per_m)
    T = np.asarray(T_K)
    dtype = np.float32 if (s37.dtype == np.float32 and T.dtype == np.float32) else np.float64
    s37 = s37.astype(dtype, copy=False)
    T = T.astype(dtype, copy=False)
    factor = 1.0 + dtype(c) * (np.minimum(T, dtype(Td)) - dtype(BODY_TEMPERATURE_K))
    sigma = s37 * np.maximum(factor, dtype(0.0))
    if desiccated is not None:
        sigma = np.where(np.asarray(desiccated, dtype=bool), sigma * dtype(f), sigma)
    return np.asarray(sigma, dtype=dtype)


@nb.njit(parallel=True, cache=True)
def _sigma_of_T(s37, T, dried, dried_full, c, Td, body, f, t_desic, one, zero, out):  # pragma: no cover - compiled
    # rf_conductivity(s37, T, (T >= t_desic) & (dried >= dried_full)) in one pass, in the same
    # operation order (no fastmath); the temperature law passes dried = T, dried_full = 0
    n = s37.size
    a = s37.reshape(-1)
    t = T.reshape(-1)
    d = dried.reshape(-1)
    o = out.reshape(-1)
    for m in nb.prange(n):
        x = t[m]
        fac = one + c * (min(x, Td) - body)
        v = a[m] * max(fac, zero)
        o[m] = v * f if (x >= t_desic and d[m] >= dried_full) else v


#: RF desiccation laws (``tissue.rf_desiccation``): when σ of a voxel at the boiling cap collapses.
RF_DESICCATION_LAWS = ("temperature", "vaporised")


def rf_conductivity_desiccating(sigma37_S_per_m, T_K, desiccated_from_K: float, out=None, *, dried=None,
                                dried_full: float = 1.0) -> np.ndarray:
    r"""``rf_conductivity(σ37, T, T >= desiccated_from_K)`` with the default law, in one pass.

    The hot path of an RF session, where σ(T) is evaluated before every potential solve: one
    compiled loop instead of about eight NumPy passes, the same arithmetic in the same order (the
    result equals :func:`rf_conductivity`'s bit for bit). ``sigma37_S_per_m`` and ``T_K`` must be
    C-contiguous arrays of one float dtype and shape; ``out`` (optional) like them.

    With ``dried`` (the dried fraction of :class:`~tissuefate.physics.vaporisation.Vaporisation`,
    same dtype and shape) a voxel desiccates only once its water has boiled off as well,
    ``dried >= dried_full`` (the ``"vaporised"`` law of :data:`RF_DESICCATION_LAWS`).

    Examples
    --------
    >>> import numpy as np
    >>> s37 = np.full(3, 0.333, np.float32); T = np.array([310.15, 350.0, 373.0], np.float32)
    >>> a = rf_conductivity_desiccating(s37, T, 372.15)
    >>> bool(np.array_equal(a, rf_conductivity(s37, T, T >= np.float32(372.15))))
    True
    >>> wet = rf_conductivity_desiccating(s37, T, 372.15, dried=np.array([0, 0, 0.5], np.float32))
    >>> bool(wet[2] == rf_conductivity(s37, T, False)[2])  # at 100 °C, half its water left
    True
    """
    s37 = np.asarray(sigma37_S_per_m)
    T = np.asarray(T_K)
    if s37.dtype != T.dtype or s37.shape != T.shape or s37.dtype not in (np.float32, np.float64):
        raise ConfigError("sigma37_S_per_m and T_K must be float arrays of one dtype and shape")
    if not (s37.flags.c_contiguous and T.flags.c_contiguous):
        raise ConfigError("sigma37_S_per_m and T_K must be C-contiguous")
    dt = s37.dtype.type
    if dried is None:
        dried, dried_full = T, 0.0  # T >= 0 K: the temperature law
    else:
        dried = np.ascontiguousarray(dried, dtype=s37.dtype)
        if dried.shape != s37.shape:
            raise ConfigError(f"dried.shape = {dried.shape} differs from T_K.shape = {T.shape}")
    out = np.empty_like(s37) if out is None else out
    _sigma_of_T(s37, T, dried, dt(dried_full), dt(RF["sigma_temp_coeff_per_K"].value),
                dt(RF["desiccation_temperature_K"].value), dt(BODY_TEMPERATURE_K), dt(RF["desiccation_factor"].value),
                dt(desiccated_from_K), dt(1.0), dt(0.0), out)
    return out


def update_desiccated(desiccated, T_K, *, desiccation_temperature_K: float | None = None):
    """Desiccation state after a step: voxels already desiccated stay so; voxels at or above the
    desiccation temperature (default ``RF["desiccation_temperature_K"]``, 100 °C) join.

    Examples
    --------
    >>> import numpy as np
    >>> update_desiccated(np.array([True, False, False]), np.array([300.0, 373.2, 350.0]))
    array([ True,  True, False])
    """
    Td = (
        RF["desiccation_temperature_K"].value
        if desiccation_temperature_K is None
        else float(desiccation_temperature_K)
    )
    T = np.asarray(T_K)
    if desiccated is None:
        return T >= Td
    d = np.asarray(desiccated, dtype=bool)
    if d.shape != T.shape:
        raise ConfigError(f"desiccated.shape = {d.shape} differs from T_K.shape = {T.shape}")
    return d | (T >= Td)


def needs_resolve(sigma_old, sigma_new, rel_tol: float = 0.02) -> bool:
    """Whether the potential must be re-solved after σ changed from ``sigma_old`` to ``sigma_new``.

    Policy: re-solve when the conductivity of any voxel changed by more than ``rel_tol`` of its
    old value (2 % ≈ 1.3 K of heating at +1.5 %/K; any newly desiccated voxel triggers it).
    Power and heating depend on σ smoothly, so an error of order ``rel_tol`` in the σ used for
    the last solve bounds the relative error of ``Q`` in the voxels that changed.

    Examples
    --------
    >>> import numpy as np
    >>> s = np.full(4, 0.333)
    >>> needs_resolve(s, s * 1.01), needs_resolve(s, s * 1.03)
    (False, True)
    """
    a = np.asarray(sigma_old)
    b = np.asarray(sigma_new)
    if a.shape != b.shape:
        raise ConfigError(f"sigma_new.shape = {b.shape} differs from sigma_old.shape = {a.shape}")
    if not rel_tol >= 0:
        raise ConfigError(f"rel_tol = {rel_tol}: must be >= 0")
    return bool(np.any(np.abs(b - a) > rel_tol * np.abs(a)))


@nb.njit(parallel=True, cache=True)
def _changed_extent(a, b, rel_tol, ext):  # pragma: no cover - compiled
    # per x-plane: the y and z index ranges of voxels with |b - a| > rel_tol |a| (empty: lo > hi)
    nx, ny, nz = a.shape
    for i in nb.prange(nx):
        jl, jh, kl, kh = ny, -1, nz, -1
        for j in range(ny):
            for k in range(nz):
                x = a[i, j, k]
                if abs(b[i, j, k] - x) > rel_tol * abs(x):
                    jl = min(jl, j)
                    jh = max(jh, j)
                    kl = min(kl, k)
                    kh = max(kh, k)
        ext[i, 0], ext[i, 1], ext[i, 2], ext[i, 3] = jl, jh, kl, kh


def changed_box(sigma_old, sigma_new, rel_tol: float = 0.02) -> tuple[slice, slice, slice] | None:
    """Bounding box of the voxels whose conductivity changed by more than ``rel_tol`` of its old
    value (the test of :func:`needs_resolve`), or None when there is none.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.full((4, 5, 6), 0.333); b = a.copy(); b[1, 2, 3] *= 1.05; b[2, 4, 3] *= 0.5
    >>> changed_box(a, b)
    (slice(1, 3, None), slice(2, 5, None), slice(3, 4, None))
    >>> changed_box(a, a * 1.01) is None
    True
    """
    a = np.asarray(sigma_old)
    b = np.asarray(sigma_new)
    if a.shape != b.shape or a.ndim != 3:
        raise ConfigError(f"sigma_new.shape = {b.shape} must equal sigma_old.shape = {a.shape} (3-D)")
    if not rel_tol >= 0:
        raise ConfigError(f"rel_tol = {rel_tol}: must be >= 0")
    if a.dtype != b.dtype or not (a.flags.c_contiguous and b.flags.c_contiguous):
        a, b = np.ascontiguousarray(a, np.float64), np.ascontiguousarray(b, np.float64)
    ext = np.empty((a.shape[0], 4), np.int64)
    _changed_extent(a, b, a.dtype.type(rel_tol), ext)
    planes = np.nonzero(ext[:, 1] >= 0)[0]
    if planes.size == 0:
        return None
    e = ext[planes]
    return (slice(int(planes[0]), int(planes[-1]) + 1), slice(int(e[:, 0].min()), int(e[:, 1].max()) + 1),
            slice(int(e[:, 2].min()), int(e[:, 3].max()) + 1))
