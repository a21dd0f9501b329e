r"""Pennes bioheat equation, explicit in time, on a voxel grid.

.. math:: \rho c\,\partial_t T = \nabla\cdot(k\nabla T) - \omega_b\rho_b c_b\,(T - T_a) + Q

Box-face voxels are Dirichlet (they keep their value: the grid is a region of interest cut from
a larger body at baseline temperature), and so are the voxels of ``dirichlet_mask``: large
vessels held at arterial temperature (heat sinks) and internally cooled electrodes held at the
coolant temperature. Large vessels with a convective wall
(:mod:`tissuefate.physics.vessel_wall`) add free wall nodes whose exchange with arterial blood
(``exchange_per_s``) rides on the kernels' perfusion term. The hot loop is the backend kernel ``pennes_step``
(:mod:`tissuefate.backends`); this module sets it up, chooses the stable time step, double
buffers the temperature and watches for runaway values.
"""

from __future__ import annotations

import numpy as np

from ..backends import get_kernel
from ..backends.arrays import backend_module as _array_module
from ..backends.arrays import to_host as _to_host
from ..backends.registry import default_backend
from ..errors import ConfigError, NumericalError
from ..grid import Grid

__all__ = ["BioheatModel", "stable_time_step_s", "T_MIN_K", "T_MAX_K"]

#: Physical range of temperatures [K]; outside it the run is stopped (NumericalError).
T_MIN_K = 150.0
T_MAX_K = 700.0


def _inv_h2(grid: Grid) -> tuple[float, float, float]:
    return tuple(1.0 / h**2 for h in grid.spacing_m)  # type: ignore[return-value]


def _max_conduction_rate_per_s(k, inv_rho_c, inv_h2, chunk: int = 16, exclude=None) -> float:
    """max over interior voxels of (1/ρc)·Σ_a h_a⁻²(k_{i−½} + k_{i+½}) [1/s] (x-slabs, float64).

    Voxels in ``exclude`` (Dirichlet voxels, reset after every step) do not limit the step."""
    nx, ny, nz = k.shape
    if min(nx, ny, nz) < 3:
        return 0.0
    best = 0.0
    for x0 in range(1, nx - 1, chunk):
        x1 = min(x0 + chunk, nx - 1)
        kk = np.asarray(k[x0 - 1 : x1 + 1], dtype=np.float64)
        kc = kk[1:-1, 1:-1, 1:-1]
        s = 0.5 * inv_h2[0] * (2 * kc + kk[:-2, 1:-1, 1:-1] + kk[2:, 1:-1, 1:-1])
        s += 0.5 * inv_h2[1] * (2 * kc + kk[1:-1, :-2, 1:-1] + kk[1:-1, 2:, 1:-1])
        s += 0.5 * inv_h2[2] * (2 * kc + kk[1:-1, 1:-1, :-2] + kk[1:-1, 1:-1, 2:])
        s *= np.asarray(inv_rho_c[x0:x1, 1:-1, 1:-1], dtype=np.float64)
        if exclude is not None:
            s[exclude[x0:x1, 1:-1, 1:-1]] = 0.0
        best = max(best, float(s.max()))
    return best


def _max_exchange_node_rate_per_s(k, inv_rho_c, exch, inv_h2, dirichlet) -> float:
    """max over free voxels with exchange > 0 of (1/ρc)·Σ_a h_a⁻²(k_{i−½} + k_{i+½}) + exchange
    [1/s] (float64; the few vessel-wall nodes, so a gather rather than a pass over the grid)."""
    nx, ny, nz = k.shape
    if min(nx, ny, nz) < 3:
        return 0.0
    sel = np.asarray(exch) > 0
    sel[[0, -1], :, :] = False
    sel[:, [0, -1], :] = False
    sel[:, :, [0, -1]] = False
    sel &= ~np.asarray(dirichlet, dtype=bool)
    if not sel.any():
        return 0.0
    i, j, l = np.nonzero(sel)
    kk = np.asarray(k, dtype=np.float64)
    kc = kk[i, j, l]
    s = 0.5 * inv_h2[0] * (2 * kc + kk[i - 1, j, l] + kk[i + 1, j, l])
    s += 0.5 * inv_h2[1] * (2 * kc + kk[i, j - 1, l] + kk[i, j + 1, l])
    s += 0.5 * inv_h2[2] * (2 * kc + kk[i, j, l - 1] + kk[i, j, l + 1])
    s *= np.asarray(inv_rho_c, dtype=np.float64)[i, j, l]
    s += np.asarray(exch, dtype=np.float64)[i, j, l]
    return float(s.max())


def stable_time_step_s(grid: Grid, maps, safety: float = 0.9) -> float:
    r"""Largest stable explicit time step of the Pennes scheme, times ``safety`` [s].

    Parameters
    ----------
    grid : Grid
    maps : tissuefate.tissue.maps.ThermalMaps
        Conductivity [W/(m K)], 1/(ρc) [m³ K/J] and perfusion coefficient [1/s] per voxel.
    safety : float
        Fraction of the limit, in (0, 1].

    Notes
    -----
    The explicit step writes :math:`T_i^{n+1} = (1 - \Delta t\,r_i)\,T_i^n + \Delta t\,(\ldots)`
    with non-negative neighbour weights and

    .. math:: r_i = \frac{1}{(\rho c)_i}\sum_a \frac{k_{i-1/2,a} + k_{i+1/2,a}}{h_a^2} + p_i .

    For :math:`\Delta t \le 1/\max_i r_i` every weight is non-negative, so the step is a convex
    combination of neighbours and T_a (plus the source): a discrete maximum principle, which
    implies stability in the max norm. The bound used is
    :math:`1/(\max_i r^{cond}_i + \max_i p_i)`, no larger than the exact limit. For uniform
    tissue it is :math:`h^2/(6\alpha)` for small perfusion, ≈ 1.2 s at 1 mm in liver.

    Examples
    --------
    >>> from tissuefate.tissue.maps import ThermalMaps
    >>> g = Grid((8, 8, 8), (1e-3,) * 3)
    >>> m = ThermalMaps(np.full(g.shape, 0.5), np.full(g.shape, 2.5e-7), np.zeros(g.shape))
    >>> round(stable_time_step_s(g, m, safety=1.0), 4)  # h²/(6α), α = 1.25e-7 m²/s
    1.3333
    """
    if not 0.0 < safety <= 1.0:
        raise ConfigError(f"safety = {safety:g}: must be in (0, 1]")
    inv_h2 = _inv_h2(grid)
    cond = _max_conduction_rate_per_s(_to_host(maps.conductivity_W_per_mK),
                                      _to_host(maps.inv_rho_c), inv_h2)
    perf = float(np.max(_to_host(maps.perfusion_coeff_per_s)))
    rate = cond + max(perf, 0.0)
    return safety / rate if rate > 0 else np.inf


class BioheatModel:
    r"""Explicit Pennes bioheat solver on a grid.

    Parameters
    ----------
    grid : Grid
    maps : tissuefate.tissue.maps.ThermalMaps
        ``conductivity_W_per_mK`` [W/(m K)], ``inv_rho_c`` [m³ K/J], ``perfusion_coeff_per_s``
        (ω_b ρ_b c_b/(ρc)) [1/s] on ``grid``.
    arterial_K : float
        Arterial blood temperature T_a [K].
    dirichlet_mask : ndarray of bool, optional
        Voxels held at fixed temperature (large vessels, cooled electrode).
    dirichlet_K : float or ndarray, optional
        Their temperature [K]: a scalar, an array over the masked voxels (in C order), or a
        full-grid array. Default: ``arterial_K``.
    exchange_per_s : ndarray, optional
        Heat-exchange coefficient to ``arterial_K`` [1/s] of vessel-wall nodes
        (:func:`tissuefate.physics.vessel_wall.vessel_wall_sink`). The kernels add it to the
        perfusion coefficient; unlike perfusion it is not scaled by
        :meth:`set_perfusion_factor` (blood keeps flowing in a large vessel next to coagulated
        tissue). Heat deposited in these nodes leaves with the blood: :meth:`step` sets the
        source to 0 there.
    backend : str, optional
        Kernel backend; default the registry's default (numba). ``cupy`` keeps every array on
        the GPU (``initial`` and ``step`` then take and return CuPy arrays).
    dtype : float32 or float64
    check_every : int
        Every this many steps the temperature is checked for NaN and for leaving
        [150 K, 700 K] (two reductions over the grid, ≈ the cost of one step; every 25 steps
        keeps it under 5 % while a runaway is still caught within seconds of simulated time).

    Attributes
    ----------
    dt_max_s : float
        Largest stable time step [s] (see :func:`stable_time_step_s`; ``safety = 1``).
        :meth:`step` refuses larger steps.

    Notes
    -----
    .. math:: \rho c\,\partial_t T = \nabla\cdot(k\nabla T) - \omega_b\rho_b c_b\,(T - T_a) + Q

    Explicit Euler, 7-point flux-form operator with arithmetic-mean face conductivity
    (second order in space, first in time; :func:`tissuefate.backends.numpy_kernels.pennes_step`).
    :meth:`step` is double-buffered: it returns one of two arrays the model owns and allocates
    nothing per step, so the array returned by one step is overwritten by the step after next.

    Examples
    --------
    >>> from tissuefate.tissue.maps import ThermalMaps
    >>> g = Grid((16, 16, 16), (1e-3,) * 3)
    >>> m = ThermalMaps(np.full(g.shape, 0.5, np.float32), np.full(g.shape, 2.5e-7, np.float32),
    ...                 np.full(g.shape, 3e-3, np.float32))
    >>> model = BioheatModel(g, m, arterial_K=310.15, backend="numpy")
    >>> T = model.initial(310.15)
    >>> q = np.zeros(g.shape, np.float32); q[8, 8, 8] = 1e8    # 0.1 W into one 1 mm³ voxel
    >>> for _ in range(10):
    ...     T = model.step(T, q, model.stable_time_step_s())
    >>> round(float(T[8, 8, 8]) - 273.15, 1), round(float(T[0, 0, 0]), 2)  # degC, box face K
    (79.9, 310.15)
    """

    def __init__(self, grid: Grid, maps, *, arterial_K: float, dirichlet_mask=None,
                 dirichlet_K=None, exchange_per_s=None, backend: str | None = None,
                 dtype=np.float32, check_every: int = 25):
        self.grid = grid
        self.backend = backend or default_backend()
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise ConfigError(f"dtype = {self.dtype}: must be float32 or float64")
        if not T_MIN_K <= arterial_K <= T_MAX_K:
            raise ConfigError(f"arterial_K = {arterial_K:g} K: must be in [{T_MIN_K}, {T_MAX_K}] K "
                              "(did you give degrees Celsius?)")
        self.arterial_K = float(arterial_K)
        self.check_every = max(int(check_every), 0)  # 0: the caller checks (physics after a cap)
        xp = self._xp = _array_module(self.backend)

        host = {}
        for name in ("conductivity_W_per_mK", "inv_rho_c", "perfusion_coeff_per_s"):
            a = np.asarray(_to_host(getattr(maps, name)))
            if a.shape != grid.shape:
                raise ConfigError(f"maps.{name} has shape {a.shape}, grid is {grid.shape}")
            if not np.all(np.isfinite(a)) or a.min() < 0:
                raise ConfigError(f"maps.{name} must be finite and >= 0 (min {a.min():g})")
            host[name] = np.ascontiguousarray(a, dtype=self.dtype)
        if host["inv_rho_c"].min() <= 0:
            raise ConfigError("maps.inv_rho_c must be > 0 everywhere (1/(rho c) of tissue)")
        self._host_k = host["conductivity_W_per_mK"]
        self._host_inv_rho_c = host["inv_rho_c"]
        self._host_perf0 = host["perfusion_coeff_per_s"]
        self._inv_h2 = _inv_h2(grid)
        self._cond_rate = _max_conduction_rate_per_s(self._host_k, self._host_inv_rho_c,
                                                     self._inv_h2)
        self._perf_max0 = float(self._host_perf0.max())
        self._host_exch = None
        self._exch_rate = 0.0
        if exchange_per_s is not None:
            e = np.asarray(_to_host(exchange_per_s))
            if e.shape != grid.shape:
                raise ConfigError(f"exchange_per_s has shape {e.shape}, grid is {grid.shape}")
            if not np.all(np.isfinite(e)) or e.min() < 0:
                raise ConfigError(f"exchange_per_s must be finite and >= 0 (min {e.min():g})")
            if e.max() > 0:
                self._host_exch = np.ascontiguousarray(e, dtype=self.dtype)
        self.dt_max_s = self._dt_limit(self._perf_max0)

        self.k = xp.asarray(self._host_k)
        self.inv_rho_c = xp.asarray(self._host_inv_rho_c)
        self._node_idx = None
        if self._host_exch is None:
            self.exchange = None
            self.perf0 = xp.asarray(self._host_perf0)
        else:
            self._node_idx = xp.asarray(np.flatnonzero(self._host_exch > 0).astype(np.int64))
            self.exchange = xp.asarray(self._host_exch)
            self.perf0 = xp.asarray(self._host_perf0 + self._host_exch)
            self._perf_base = xp.asarray(self._host_perf0)
        self.perf = self.perf0
        self._perf_buf = None

        # Dirichlet voxels: flat indices and values
        if dirichlet_mask is None:
            mask = np.zeros(grid.shape, dtype=bool)
        else:
            mask = np.asarray(_to_host(dirichlet_mask), dtype=bool)
            if mask.shape != grid.shape:
                raise ConfigError(f"dirichlet_mask has shape {mask.shape}, grid is {grid.shape}")
        self.dirichlet_mask = mask
        if mask.any():
            self._cond_rate = _max_conduction_rate_per_s(self._host_k, self._host_inv_rho_c,
                                                         self._inv_h2, exclude=mask)
        if self._host_exch is not None:
            self._exch_rate = _max_exchange_node_rate_per_s(self._host_k, self._host_inv_rho_c,
                                                            self._host_exch, self._inv_h2, mask)
        self.dt_max_s = self._dt_limit(self._perf_max0)
        idx = np.flatnonzero(mask)
        if dirichlet_K is None:
            vals = np.full(idx.size, self.arterial_K)
        else:
            v = np.asarray(_to_host(dirichlet_K), dtype=np.float64)
            if v.ndim == 0:
                vals = np.full(idx.size, float(v))
            elif v.shape == grid.shape:
                vals = v.reshape(-1)[idx]
            elif v.shape == (idx.size,):
                vals = v
            else:
                raise ConfigError(
                    f"dirichlet_K has shape {v.shape}: must be a scalar, ({idx.size},) values over "
                    f"the mask or the grid shape {grid.shape}"
                )
        if vals.size and (not np.all(np.isfinite(vals)) or vals.min() < T_MIN_K
                          or vals.max() > T_MAX_K):
            raise ConfigError(f"dirichlet_K must lie in [{T_MIN_K}, {T_MAX_K}] K "
                              "(did you give degrees Celsius?)")
        self._dir_idx = xp.asarray(idx.astype(np.int64))
        self._dir_vals = xp.asarray(vals.astype(self.dtype))

        self._step_kernel = get_kernel("pennes_step", self.backend)
        self._dirichlet_kernel = get_kernel("apply_dirichlet", self.backend)
        self._buf = (xp.empty(grid.shape, self.dtype), xp.empty(grid.shape, self.dtype))
        self.n_steps = 0
        self.time_s = 0.0

    # -- time step --------------------------------------------------------------------------
    def _dt_limit(self, perf_max: float) -> float:
        # exchange nodes: their own conduction + exchange rate (perfusion bounded by perf_max)
        rate = max(self._cond_rate, self._exch_rate) + max(perf_max, 0.0)
        return 1.0 / rate if rate > 0 else np.inf

    def stable_time_step_s(self, safety: float = 0.9) -> float:
        """``safety`` × :attr:`dt_max_s` [s] (see :func:`stable_time_step_s`)."""
        if not 0.0 < safety <= 1.0:
            raise ConfigError(f"safety = {safety:g}: must be in (0, 1]")
        return safety * self.dt_max_s

    # -- state ------------------------------------------------------------------------------
    def initial(self, T0_K) -> np.ndarray:
        """Temperature array filled with ``T0_K`` [K] (scalar or grid array), Dirichlet applied.

        The array is one of the model's two buffers (see :meth:`step`).
        """
        T = self._buf[0]
        if np.ndim(T0_K) == 0:
            T0 = float(T0_K)
            if not T_MIN_K <= T0 <= T_MAX_K:
                raise ConfigError(f"T0_K = {T0:g} K: must be in [{T_MIN_K}, {T_MAX_K}] K "
                                  "(did you give degrees Celsius?)")
            T.fill(T0)
        else:
            if tuple(T0_K.shape) != self.grid.shape:
                raise ConfigError(f"T0_K has shape {T0_K.shape}, grid is {self.grid.shape}")
            T[...] = self._xp.asarray(T0_K)
        self._dirichlet_kernel(T, self._dir_idx, self._dir_vals)
        self.n_steps = 0
        self.time_s = 0.0
        return T

    def set_perfusion_factor(self, factor) -> None:
        """Scale the baseline perfusion by ``factor`` [1] (scalar or grid array, e.g. the
        shutdown factor exp(−Ω)); ``None`` restores the baseline.

        A factor above 1 somewhere lowers :attr:`dt_max_s` accordingly.
        """
        if factor is None:
            self.perf = self.perf0
            self.dt_max_s = self._dt_limit(self._perf_max0)
            return
        xp = self._xp
        if self._perf_buf is None:
            self._perf_buf = xp.empty_like(self.perf0)
        base = self.perf0 if self.exchange is None else self._perf_base
        if np.ndim(factor) == 0:
            fmax = float(factor)
            xp.multiply(base, self.dtype.type(factor), out=self._perf_buf)
        else:
            if tuple(factor.shape) != self.grid.shape:
                raise ConfigError(f"perfusion factor has shape {factor.shape}, grid is "
                                  f"{self.grid.shape}")
            fmax = float(factor.max())
            xp.multiply(base, xp.asarray(factor), out=self._perf_buf)
        if not fmax >= 0.0:  # also catches NaN
            raise ConfigError(f"perfusion factor max = {fmax:g}: must be finite and >= 0")
        if self.exchange is not None:
            xp.add(self._perf_buf, self.exchange, out=self._perf_buf)
        self.perf = self._perf_buf
        self.dt_max_s = self._dt_limit(self._perf_max0 * max(fmax, 1.0))

    # -- stepping ---------------------------------------------------------------------------
    def zero_source_at_wall_nodes(self, q_W_per_m3):
        """Set the heat source [W/m³] to 0 at the vessel-wall nodes, in place, and return it.

        Heat deposited in flowing blood leaves with it; :meth:`step` does the same to every source
        it gets. Callers that report the absorbed power (Σ Q dV) call this first, so that the
        report and the step see the same source.
        """
        if self._node_idx is not None and q_W_per_m3 is not None:
            q_W_per_m3.reshape(-1)[self._node_idx] = 0
        return q_W_per_m3

    def remove_source(self, T, q_W_per_m3, duration_s: float):
        """Take back ``duration_s`` [s] of the source ``q_W_per_m3`` [W/m³] from ``T`` [K], in place.

        An explicit step is linear in Q: ``step(T, q, dt)`` followed by
        ``remove_source(out, q, (1 − θ) dt)`` equals ``step(T, θ q, dt)``, the step during which the
        source was switched off after θ dt (an RF roll-off located inside a step). Vessel-wall
        nodes get no source, and Dirichlet nodes and the box faces keep their values, as in
        :meth:`step`. Returns ``T``.
        """
        if not 0.0 <= duration_s:
            raise ConfigError(f"duration_s = {duration_s:g} s: must be >= 0")
        if q_W_per_m3 is None or duration_s == 0.0:
            return T
        q = self.zero_source_at_wall_nodes(self._xp.asarray(q_W_per_m3, dtype=self.dtype))
        c = (slice(1, -1),) * 3  # box-face voxels are Dirichlet in the step kernels
        T[c] -= (q[c] * self.dtype.type(duration_s)) * self.inv_rho_c[c]
        self._dirichlet_kernel(T, self._dir_idx, self._dir_vals)
        return T

    def source_mask(self):
        """1 where a heat source acts in :meth:`step`, 0 at vessel-wall nodes, Dirichlet nodes and
        the box faces (the model's dtype, where T lives; computed once)."""
        if getattr(self, "_src_mask", None) is None:
            m = self._xp.ones(self.grid.shape, self.dtype)
            self.zero_source_at_wall_nodes(m)
            m.reshape(-1)[self._dir_idx] = 0
            for ax in range(3):
                sl = [slice(None)] * 3
                sl[ax] = [0, -1]
                m[tuple(sl)] = 0
            self._src_mask = m
        return self._src_mask

    def remove_source_in(self, T, q_W_per_m3, duration_s: float, box):
        """:meth:`remove_source` of the source ``q_W_per_m3`` given over ``box`` only (three
        slices; ``q`` has the box's shape, T is changed in the box). For corrections that are
        local, without a pass over the whole grid. Returns ``T``.
        """
        if not 0.0 <= duration_s:
            raise ConfigError(f"duration_s = {duration_s:g} s: must be >= 0")
        if duration_s == 0.0:
            return T
        m = self.source_mask()[box]
        q = self._xp.asarray(q_W_per_m3, dtype=self.dtype) * self.dtype.type(duration_s)
        T[box] -= q * (m * self.inv_rho_c[box])
        return T

    def step(self, T, q_W_per_m3, dt_s: float, q_scale: float = 1.0):
        """Advance ``T`` [K] by ``dt_s`` [s] with heat source ``q_scale`` × ``q_W_per_m3`` [W/m³]
        (or None). On the CPU the kernel scales the source as it reads it (an RF session's source
        at 1 V times V², without a pass over the grid); on the GPU the source is scaled first.

        Returns the new temperature, written into the model's other buffer (no allocation when
        ``T`` is a model buffer and ``q`` has the model dtype). With vessel-wall nodes
        (``exchange_per_s``) ``q`` is set to 0 at those nodes, in place when it already has the
        model dtype and layout (heat deposited in flowing blood leaves with it). Raises
        :class:`~tissuefate.errors.NumericalError` when, at a check (every ``check_every``
        steps), the temperature is NaN or outside [150 K, 700 K].
        """
        if not 0.0 < dt_s <= self.dt_max_s * (1.0 + 1e-9):
            raise ConfigError(f"dt_s = {dt_s:g} s: must be > 0 and <= the stable limit "
                              f"{self.dt_max_s:.4g} s (use stable_time_step_s())")
        b0, b1 = self._buf
        if T is b0:
            out = b1
        elif T is b1:
            out = b0
        else:
            if tuple(T.shape) != self.grid.shape:
                raise ConfigError(f"T has shape {T.shape}, grid is {self.grid.shape}")
            if T.dtype != self.dtype or not T.flags.c_contiguous or not isinstance(T, type(b0)):
                b0[...] = self._xp.asarray(T)
                T, out = b0, b1
            else:
                out = b0
        q = q_W_per_m3
        if q is not None:
            if tuple(q.shape) != self.grid.shape:
                raise ConfigError(f"q_W_per_m3 has shape {q.shape}, grid is {self.grid.shape}")
            if q.dtype != self.dtype or not q.flags.c_contiguous or not isinstance(q, type(b0)):
                q = self._xp.ascontiguousarray(self._xp.asarray(q), dtype=self.dtype)
            self.zero_source_at_wall_nodes(q)
        scaled = {}
        if q is not None and q_scale != 1.0:
            if self.backend == "cupy":  # the CUDA kernel takes no scale
                q = q * self.dtype.type(q_scale)
            else:
                scaled["q_scale"] = float(q_scale)
        self._step_kernel(T, out, self.k, self.inv_rho_c, self.perf, q, self.arterial_K,
                          float(dt_s), self._inv_h2, **scaled)
        self._dirichlet_kernel(out, self._dir_idx, self._dir_vals)
        self.n_steps += 1
        self.time_s += float(dt_s)
        if self.check_every and self.n_steps % self.check_every == 0:
            self.check(out)
        return out

    def check(self, T) -> None:
        """Raise :class:`~tissuefate.errors.NumericalError` if ``T`` holds NaN or leaves
        [150 K, 700 K]; the message gives the extreme value, its voxel and the step."""
        lo, hi = float(T.min()), float(T.max())
        if T_MIN_K <= lo and hi <= T_MAX_K:  # False for NaN
            return
        Th = _to_host(T)
        bad = ~np.isfinite(Th)
        if bad.any():
            where = np.unravel_index(int(np.argmax(bad)), Th.shape)
            what = "NaN/inf"
        elif hi > T_MAX_K:
            where = np.unravel_index(int(np.argmax(Th)), Th.shape)
            what = f"max T = {hi:.1f} K ({hi - 273.15:.1f} degC)"
        else:
            where = np.unravel_index(int(np.argmin(Th)), Th.shape)
            what = f"min T = {lo:.1f} K ({lo - 273.15:.1f} degC)"
        xyz_mm = tuple(round(1e3 * v, 2) for v in self.grid.world_of(where))
        raise NumericalError(
            f"temperature left [{T_MIN_K:g}, {T_MAX_K:g}] K: {what} at voxel "
            f"{tuple(int(i) for i in where)} ({xyz_mm} mm) at step {self.n_steps} "
            f"(t = {self.time_s:.2f} s). The source is too strong for this grid, or the time step "
            "is unstable: reduce power or time_step_s."
        )

    # -- diagnostics ------------------------------------------------------------------------
    def free_mask(self) -> np.ndarray:
        """Voxels whose temperature evolves (not box faces, not Dirichlet) [bool, host]."""
        free = np.zeros(self.grid.shape, dtype=bool)
        free[1:-1, 1:-1, 1:-1] = True
        free &= ~self.dirichlet_mask
        return free

    def thermal_energy_J(self, T) -> float:
        """∑ ρc·T·ΔV over the free voxels [J] (relative to 0 K; differences are meaningful)."""
        Th = np.asarray(_to_host(T), dtype=np.float64)
        free = self.free_mask()
        return float((Th[free] / self._host_inv_rho_c[free].astype(np.float64)).sum()
                     * self.grid.voxel_volume_m3)

    def energy_terms(self, T, q_W_per_m3=None) -> dict:
        r"""Instantaneous power balance of the free voxels [W] at temperature ``T``.

        Returns
        -------
        dict
            ``source_W`` (∑Q dV), ``perfusion_W`` (heat carried away by blood, ∑ρc·p·(T−T_a)dV,
            positive when losing heat), ``boundary_W`` (conduction in from box-face voxels),
            ``dirichlet_W`` (conduction in from Dirichlet voxels: vessels, cooled tips; negative
            when they sink heat), ``vessel_wall_W`` (heat carried off by the exchange term of
            vessel-wall nodes, positive when losing heat), ``net_W`` = source − perfusion −
            vessel_wall + boundary + dirichlet.

        Notes
        -----
        With explicit Euler the discrete balance is exact:
        :math:`\sum_{free}\rho c\,(T^{n+1}-T^n)\,dV = \Delta t\cdot\mathrm{net\_W}(T^n)`,
        because internal face fluxes cancel pairwise; :meth:`thermal_energy_J` gives the left
        side.
        """
        dV = self.grid.voxel_volume_m3
        Th = np.asarray(_to_host(T), dtype=np.float64)
        k = self._host_k.astype(np.float64)
        inv = self._host_inv_rho_c.astype(np.float64)
        perf = np.asarray(_to_host(self.perf), dtype=np.float64)
        exch = (np.zeros(self.grid.shape) if self._host_exch is None
                else self._host_exch.astype(np.float64))
        perf = perf - exch
        free = self.free_mask()
        box = np.ones(self.grid.shape, dtype=bool)
        box[1:-1, 1:-1, 1:-1] = False
        dirv = self.dirichlet_mask & ~box
        src = 0.0
        if q_W_per_m3 is not None:
            src_free = free if self._host_exch is None else free & ~(self._host_exch > 0)
            src = float(np.asarray(_to_host(q_W_per_m3), dtype=np.float64)[src_free].sum() * dV)
        perf_W = float((perf[free] / inv[free] * (Th[free] - self.arterial_K)).sum() * dV)
        wall_W = float((exch[free] / inv[free] * (Th[free] - self.arterial_K)).sum() * dV)
        terms = {"boundary_W": 0.0, "dirichlet_W": 0.0}
        for axis in range(3):
            lo = [slice(None)] * 3
            hi = [slice(None)] * 3
            lo[axis] = slice(0, -1)
            hi[axis] = slice(1, None)
            lo, hi = tuple(lo), tuple(hi)
            # power from the hi voxel into the lo voxel through their shared face
            F = 0.5 * (k[lo] + k[hi]) * (Th[hi] - Th[lo]) * self._inv_h2[axis] * dV
            for name, other in (("boundary_W", box), ("dirichlet_W", dirv)):
                terms[name] += float(F[free[lo] & other[hi]].sum() - F[free[hi] & other[lo]].sum())
        net = src - perf_W - wall_W + terms["boundary_W"] + terms["dirichlet_W"]
        return {"source_W": src, "perfusion_W": perf_W, **terms, "vessel_wall_W": wall_W, "net_W": net}
