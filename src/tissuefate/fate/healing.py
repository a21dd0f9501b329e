r"""What treated tissue becomes over days and months (DESIGN.md §3.3).

:class:`FateModel` advances a :class:`~tissuefate.tissue.state.TissueState` with explicit steps of
``dt_days`` on the voxel grid: vessel regrowth from the zone's edge, phagocytic clearance of debris
through intact microvessels (heat-fixed debris slowly), inflammation, fibrosis, parenchymal
regeneration into cleared space with intact matrix, and regrowth and invasion of surviving tumour.

Occupancy
---------
Every voxel holds viable tumour :math:`T`, viable parenchyma :math:`N`, debris :math:`D` and scar
:math:`S`; the rest :math:`\Phi = 1 - T - N - D - S \ge 0` is free space (fluid, collapsed stroma —
on this fixed grid it stands for the volume that surrounding tissue fills by shifting, which is not
modelled). Each update takes from or gives to :math:`\Phi` or :math:`N` only as much as they hold,
so :math:`0 \le T, N, D, S` and :math:`T + N + D + S \le 1` hold exactly (to rounding) at every step.

Equations (per tissue voxel; :math:`h` grid spacing [mm], :math:`\nabla^2_h` the 7-point Laplacian
with no flux into outside / large-vessel voxels; one step of length :math:`\Delta t` [day])
----------------------------------------------------------------------------------------------------
Vessels (Fisher–KPP front, growth only; :math:`m = 1 - (1 - \mu) D F`, :math:`\mu = c_f / c_v`):

.. math:: \tilde V = V + \Delta t\,\max(0, D_v m \nabla_h^2 V),\quad
          V' = \mathcal{L}(\tilde V; r_v m \Delta t, 1),\quad D_v = c_v^2 / (4 r_v)

so the front moves at :math:`c_v` into non-fixed debris and :math:`c_f` into heat-fixed debris
(asymptotically: a pulled front from a step lags by :math:`\tfrac{3}{2t}\sqrt{D_v/r_v}`, Bramson; and
resorption behind the front raises :math:`m`, so with the defaults coagulum is organised at
≈ 0.04 mm/day rather than :math:`c_f` = 0.025 mm/day — tests/reference/test_fate_reference.py).
:math:`\mathcal{L}(u; x, K) = K u e^{x} / (K + u (e^{x} - 1))` is the exact logistic step.

Debris (non-fixed :math:`D_n = D(1-F)`, fixed :math:`D_f = D F`), cleared by phagocytes reaching it
through intact microvessels:

.. math:: D_n' = D_n e^{-k_n V' \Delta t},\qquad D_f' = D_f e^{-k_f V' \Delta t}

Inflammation, recruited through vessels to debris, decaying with half-life :math:`t_I`:

.. math:: \partial_t I = a (1 - I) - \lambda_I I,\quad a = f\,s_I V' D',\ \lambda_I = \ln 2 / t_I

(integrated exactly over the step). Fibrosis into free space, up to :math:`S_{max}`:

.. math:: S' = S + \min(\Phi, S_{max} - S)_+ (1 - e^{-f k_s I' D' \Delta t}) - S(1 - e^{-\lambda_S \Delta t})

Regeneration where the matrix is intact (:math:`E`), from neighbouring parenchyma:

.. math:: N' = N + \Phi' (1 - e^{-r_N E G_N \Delta t}),\quad G_N = (N + \ell_N^2 \nabla_h^2 N)_+

Tumour (:math:`\rho = \ln 2 / T_d`), logistic in the space not held by debris and scar (it displaces
parenchyma), with a growth-driven invasion term:

.. math:: G_T = (T + \ell_T^2 \nabla_h^2 T)_+,\quad K = 1 - D' - S',\quad
          T' = \min\bigl(T + \max(0, \mathcal{L}(G_T; \rho K \Delta t, K) - G_T),\ K\bigr),\quad
          N'' = \min(N', 1 - T' - D' - S')

Secondary ischaemic death (hypothesis ``secondary_ischaemic_death``; off by default, :math:`k_I = 0`):
viable cells in a voxel whose microvascular integrity is below :math:`V_{th}` die into non-fixed
debris, with exact exponential decay over the step at the **end-of-step** integrity :math:`V'` (the
same vessel value that drives clearance in that step), applied last in the step (operator split):

.. math:: \ell = 1 - e^{-k_I \max(0,\,1 - V'/V_{th}) \Delta t},\quad
          T^* = T'(1 - \ell),\ N^* = N''(1 - \ell),\ D_n^* = D_n' + \ell (T' + N'')

(cells die in place: the occupancy is unchanged; a tumour remainder below the clonogen floor dies
entirely; the new debris is cleared, and drives inflammation and fibrosis, from the next step on).

An isolated, unconstrained residual (:math:`T \ll K`, :math:`K = 1`, :math:`\ell_T^2 \le h^2/6`)
grows as :math:`\sum T \propto 2^{t / T_d}` exactly (the Laplacian conserves the sum). A voxel whose
expected clonogens (:math:`T` × cells × clonogenic fraction × voxel volume) fall below
``clonogen_floor`` loses its tumour (extinction; it stops the explicit stencil from spreading
1e-300 tails over the grid).

Backends: ``numpy`` (this module, the readable oracle) and ``numba`` (:mod:`tissuefate.fate._kernels`,
one fused parallel pass per step, default); the tests hold them equal to 1e-9.

Exactness of the active box: the explicit stencil moves information at most one voxel per step, and
a voxel at its fixed point (no debris, scar, inflammation or tumour, vessels intact, no free space
where parenchyma can regrow) with such neighbours does not change (a voxel with cells and
:math:`V < V_{th} \le 1` is never steady: :math:`V < 1` alone makes it active); so the update runs on the
bounding box of the non-steady voxels grown by one voxel per step until the next re-boxing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

from ..errors import ConfigError
from ..hypotheses import HypothesisSet
from ..tissue.labels import Label
from ..tissue.properties import CELLS, FATE, SPECIES
from ..tissue.state import TissueState
from .transition import fibrosis_factor

__all__ = ["FateModel", "FateTraces", "TRACE_META", "occupancy"]

#: Units and meanings of the traces returned by :meth:`FateModel.advance`.
TRACE_META: dict[str, tuple[str, str]] = {
    "time_days": ("day", "time since the start of this advance"),
    "zone_volume_m3": ("m3", "ablation-zone content: sum of (debris + scar) x voxel volume"),
    "zone_region_volume_m3": ("m3", "volume of the voxels with debris + scar >= 0.5"),
    "involution": ("1", "zone_volume_m3 relative to its first value (1 at t = 0)"),
    "scar_volume_m3": ("m3", "sum of scar x voxel volume"),
    "debris_volume_m3": ("m3", "sum of debris x voxel volume"),
    "fixed_debris_volume_m3": ("m3", "heat-fixed part of the debris"),
    "nonfixed_debris_volume_m3": ("m3", "non-fixed part of the debris"),
    "regenerated_volume_m3": ("m3", "parenchyma regenerated since t = 0 (cumulative)"),
    "tumour_volume_m3": ("m3", "viable tumour: sum of tumour x voxel volume"),
    "expected_clonogens": ("1", "expected surviving tumour clonogens (TCP = exp(-this))"),
    "cleared_m3_per_day": ("m3/day", "necrotic volume cleared per day over the last record interval"),
    "cleared_kg_per_day": ("kg/day", "necrotic mass cleared per day (tumour-lysis / resorption load)"),
    "inflammation_mean": ("1", "mean inflammation over the voxels with inflammation > 0.01"),
}

FateTraces = dict  # str -> ndarray, keys of TRACE_META


def occupancy(state: TissueState) -> np.ndarray:
    """Occupied fraction T + N + D + S of each voxel [1] (≤ 1 is the model's invariant)."""
    return (state.tumour.astype(np.float64) + state.normal + state.debris + state.scar)


def _logistic(u, x, K):
    """Exact logistic step: solution at time x/r of u' = r u (1 - u/K) from u; 0 where K ≤ 0."""
    e = np.exp(x)
    Ks = np.maximum(K, 1e-300)
    out = u * e / (1.0 + u * (e - 1.0) / Ks)
    return np.where(K > 0, out, 0.0)


class _Stencil:
    """Masked 7-point Laplacian with no flux across faces where either side is outside ``mask``."""

    def __init__(self, mask: np.ndarray, spacing_mm):
        self.faces = []
        for a in range(3):
            lo = [slice(None)] * 3
            hi = [slice(None)] * 3
            lo[a] = slice(None, -1)
            hi[a] = slice(1, None)
            lo, hi = tuple(lo), tuple(hi)
            both = mask[lo] & mask[hi]
            self.faces.append((lo, hi, both.astype(np.float64) / spacing_mm[a] ** 2))

    def lap(self, u: np.ndarray) -> np.ndarray:
        out = np.zeros_like(u)
        for lo, hi, w in self.faces:
            f = (u[hi] - u[lo]) * w
            out[lo] += f
            out[hi] -= f
        return out


@dataclass(frozen=True)
class FateModel:
    """Parameters of the fate model (days and millimetres are its units; see :data:`FATE`).

    Build with :meth:`from_properties`, which reads :data:`~tissuefate.tissue.properties.FATE`
    and applies the active fate hypotheses. Equations: module docstring.

    Attributes
    ----------
    vessel_front_speed_mm_per_day, vessel_growth_rate_per_day : float
        Vessel front speed into non-fixed debris :math:`c_v` and logistic rate :math:`r_v`.
    fixed_front_speed_mm_per_day : float
        Front speed into fully heat-fixed debris :math:`c_f` (``cal``).
    clearance_rate_per_day, fixed_clearance_rate_per_day : float
        :math:`k_n`, :math:`k_f`.
    inflammation_half_life_days, inflammation_recruitment_per_day : float
        :math:`t_I`, :math:`s_I`.
    fibrosis_rate_per_day, scar_max_fraction, scar_half_life_days : float
        :math:`k_s`, :math:`S_{max}`, scar half-life.
    regeneration_rate_per_day, regeneration_length_mm : float
        :math:`r_N`, :math:`\\ell_N`.
    tumour_invasion_length_mm : float
        :math:`\\ell_T`.
    clonogen_floor : float
        Expected clonogens per voxel below which a voxel's tumour is set to 0 (0: never).
    inflammation_factor : float
        :math:`f`: multiplier of recruitment and fibrosis (hypothesis ``suppressed_inflammation_fibrosis``).
    ischaemic_death_rate_per_day, ischaemic_integrity_threshold : float
        :math:`k_I` [1/day] and :math:`V_{th}` [1] of secondary ischaemic death (hypothesis
        ``secondary_ischaemic_death``); 0: off (the default).
    hypotheses : tuple of str
        Names of the active hypotheses that changed a parameter.
    """

    vessel_front_speed_mm_per_day: float
    vessel_growth_rate_per_day: float
    fixed_front_speed_mm_per_day: float
    clearance_rate_per_day: float
    fixed_clearance_rate_per_day: float
    inflammation_half_life_days: float
    inflammation_recruitment_per_day: float
    fibrosis_rate_per_day: float
    scar_max_fraction: float
    scar_half_life_days: float
    regeneration_rate_per_day: float
    regeneration_length_mm: float
    tumour_invasion_length_mm: float
    clonogen_floor: float = 1e-9
    inflammation_factor: float = 1.0
    ischaemic_death_rate_per_day: float = 0.0
    ischaemic_integrity_threshold: float = 0.0
    hypotheses: tuple[str, ...] = ()

    def __post_init__(self):
        for f in fields(self):
            if f.name == "hypotheses":
                continue
            v = getattr(self, f.name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise ConfigError(f"FateModel.{f.name} = {v!r}: must be a finite number >= 0")
        for name in ("vessel_front_speed_mm_per_day", "vessel_growth_rate_per_day", "inflammation_half_life_days",
                     "scar_half_life_days"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"FateModel.{name} = {getattr(self, name)!r}: must be > 0")
        if self.fixed_front_speed_mm_per_day > self.vessel_front_speed_mm_per_day:
            raise ConfigError(f"FateModel.fixed_front_speed_mm_per_day = {self.fixed_front_speed_mm_per_day}: must "
                              f"be <= vessel_front_speed_mm_per_day = {self.vessel_front_speed_mm_per_day}")
        for name in ("scar_max_fraction", "ischaemic_integrity_threshold"):
            if getattr(self, name) > 1:
                raise ConfigError(f"FateModel.{name} = {getattr(self, name)}: must be in [0, 1]")

    @classmethod
    def from_properties(cls, hypotheses: HypothesisSet | None = None, **overrides) -> FateModel:
        """The model with :data:`FATE` values, the active hypotheses applied, then ``overrides``.

        Parameters
        ----------
        hypotheses : HypothesisSet, optional
            Read: ``debridement_enhanced_clearance`` (``clearance_factor`` multiplies
            :math:`k_n`, :math:`k_f`, :math:`c_f`, the last capped at :math:`c_v`) and
            ``suppressed_inflammation_fibrosis`` (``fibrosis_factor`` → :attr:`inflammation_factor`)
            and ``secondary_ischaemic_death`` (``death_rate_per_day`` → :attr:`ischaemic_death_rate_per_day`,
            ``integrity_threshold`` → :attr:`ischaemic_integrity_threshold`).
            None or an empty set: literature defaults.
        **overrides
            Attribute values replacing the result (sensitivity runs), e.g.
            ``fixed_front_speed_mm_per_day=0.05``.

        Examples
        --------
        >>> FateModel.from_properties().clearance_rate_per_day
        0.3
        >>> hs = HypothesisSet.from_config(["debridement_enhanced_clearance"])
        >>> round(FateModel.from_properties(hs).clearance_rate_per_day, 12)
        0.9
        """
        P = {k: v.value for k, v in FATE.items()}
        kw = dict(
            vessel_front_speed_mm_per_day=P["vessel_front_speed_mm_per_day"],
            vessel_growth_rate_per_day=P["vessel_growth_rate_per_day"],
            fixed_front_speed_mm_per_day=P["fixed_front_speed_mm_per_day"],
            clearance_rate_per_day=P["clearance_rate_per_day"],
            fixed_clearance_rate_per_day=P["fixed_clearance_rate_per_day"],
            inflammation_half_life_days=P["inflammation_half_life_days"],
            inflammation_recruitment_per_day=P["inflammation_recruitment_per_day"],
            fibrosis_rate_per_day=P["fibrosis_rate_per_day"],
            scar_max_fraction=P["scar_max_fraction"],
            scar_half_life_days=P["scar_half_life_days"],
            regeneration_rate_per_day=P["regeneration_rate_per_day"],
            regeneration_length_mm=P["regeneration_length_m"] * 1e3,
            tumour_invasion_length_mm=P["tumour_invasion_length_m"] * 1e3,
            clonogen_floor=P["clonogen_floor"],
        )
        used = []
        name = "debridement_enhanced_clearance"
        if hypotheses is not None and hypotheses.is_active(name):
            c = float(hypotheses.param(name, "clearance_factor"))
            kw["clearance_rate_per_day"] *= c
            kw["fixed_clearance_rate_per_day"] *= c
            kw["fixed_front_speed_mm_per_day"] = min(kw["fixed_front_speed_mm_per_day"] * c,
                                                     kw["vessel_front_speed_mm_per_day"])
            used.append(name)
        f = fibrosis_factor(hypotheses)
        if hypotheses is not None and hypotheses.is_active("suppressed_inflammation_fibrosis"):
            used.append("suppressed_inflammation_fibrosis")
        kw["inflammation_factor"] = f
        name = "secondary_ischaemic_death"
        if hypotheses is not None and hypotheses.is_active(name):
            kw["ischaemic_death_rate_per_day"] = float(hypotheses.param(name, "death_rate_per_day"))
            kw["ischaemic_integrity_threshold"] = float(hypotheses.param(name, "integrity_threshold"))
            used.append(name)
        kw["hypotheses"] = tuple(used)
        kw.update(overrides)
        return cls(**kw)

    # ------------------------------------------------------------------------------------------
    def stable_dt_days(self, spacing_m) -> float:
        """Largest stable step [day]: the vessel diffusion needs :math:`D_v \\Delta t \\sum_a 2/h_a^2 \\le 1`
        (the logistic and decay steps are exact and need no limit)."""
        h = np.asarray(spacing_m, float) * 1e3
        Dv = self.vessel_front_speed_mm_per_day ** 2 / (4.0 * self.vessel_growth_rate_per_day)
        return float(1.0 / (Dv * np.sum(2.0 / h ** 2)))

    def advance(self, state: TissueState, duration_days: float, *, doubling_time_days: float = 150.0,
                dt_days: float = 0.5, record_every_days: float = 1.0, check: bool = False,
                backend: str | None = None) -> tuple[TissueState, FateTraces]:
        r"""Advance ``state`` by ``duration_days``.

        Parameters
        ----------
        state : TissueState
            Tissue after a session (:func:`~tissuefate.fate.transition.post_session_state`) or after
            an earlier :meth:`advance`; not modified.
        duration_days : float
            Follow-up time [day], ≥ 0.
        doubling_time_days : float
            Volume-doubling time of the surviving tumour :math:`T_d` [day] (literature.md §8; sample it
            per patient in the caller). ``inf`` stops tumour growth.
        dt_days : float
            Requested step [day]; reduced to :meth:`stable_dt_days` (×0.9) and to fit the duration
            in whole steps.
        record_every_days : float
            Trace sampling interval [day] (rounded to whole steps).
        check : bool
            Assert the invariants (fractions in [0, 1], occupancy ≤ 1) after every step (tests).
        backend : {"numba", "numpy"}, optional
            ``numpy`` is the readable reference (the test oracle); ``numba`` (default when numba
            imports) fuses the step into one parallel pass with the same equations.

        Returns
        -------
        state : TissueState
            The new state (same dtype); ``meta["fate_days"]`` accumulates the follow-up time.
        traces : dict of str → ndarray
            Series of :data:`TRACE_META`, sampled at ``time_days``.

        Examples
        --------
        >>> from tissuefate.grid import Grid
        >>> from tissuefate.anatomy.block import block_state
        >>> st = block_state(Grid.cube(8, 1e-3))
        >>> st.debris[3:5, 3:5, 3:5] = 1.0; st.normal[3:5, 3:5, 3:5] = 0.0; st.vascular[3:5, 3:5, 3:5] = 0.0
        >>> new, tr = FateModel.from_properties().advance(st, 30.0)
        >>> bool(new.debris.sum() < st.debris.sum()), round(float(tr["time_days"][-1]), 6)
        (True, 30.0)
        """
        if not isinstance(state, TissueState):
            raise ConfigError(f"FateModel.advance state = {type(state).__name__}: must be a TissueState")
        for nm, v in (("duration_days", duration_days), ("dt_days", dt_days),
                      ("record_every_days", record_every_days)):
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise ConfigError(f"FateModel.advance {nm} = {v!r}: must be a finite number >= 0 (days)")
        if dt_days <= 0:
            raise ConfigError(f"FateModel.advance dt_days = {dt_days!r}: must be > 0 (e.g. 0.5)")
        Td = float(doubling_time_days)
        if not (Td > 0):
            raise ConfigError(f"FateModel.advance doubling_time_days = {doubling_time_days!r}: must be > 0 "
                              "(literature.md §8: HCC median ≈ 170 d, colorectal metastases ≈ 70-155 d)")
        grid = state.grid
        h = np.asarray(grid.spacing_m, float) * 1e3
        dt_max = 0.9 * self.stable_dt_days(grid.spacing_m)
        n_steps = int(math.ceil(duration_days / min(dt_days, dt_max) - 1e-9)) if duration_days > 0 else 0
        dt = duration_days / n_steps if n_steps else 0.0
        rec = max(1, int(round(record_every_days / dt))) if n_steps else 1

        out_dtype = state.dtype
        lab = state.label
        tissue = ~np.isin(lab, np.array([Label.OUTSIDE, Label.LARGE_VESSEL, Label.APPLICATOR], np.uint8))
        regen = tissue & (lab != Label.CAPSULE)
        f64 = {n: getattr(state, n).astype(np.float64) for n in
               ("tumour", "normal", "debris", "fixed", "scar", "ecm", "vascular", "inflammation")}
        T, N, D, F, S = f64["tumour"], f64["normal"], f64["debris"], f64["fixed"], f64["scar"]
        E, V, I = f64["ecm"], f64["vascular"], f64["inflammation"]
        Dn = D * (1.0 - F)
        Df = D * F

        p = self
        cv, rv = p.vessel_front_speed_mm_per_day, p.vessel_growth_rate_per_day
        Dv = cv * cv / (4.0 * rv)
        mu = p.fixed_front_speed_mm_per_day / cv
        lamI = math.log(2.0) / p.inflammation_half_life_days
        lamS = math.log(2.0) / p.scar_half_life_days
        rho = math.log(2.0) / Td if math.isfinite(Td) else 0.0
        lN2, lT2 = p.regeneration_length_mm ** 2, p.tumour_invasion_length_mm ** 2
        fI = p.inflammation_factor
        # secondary ischaemic death: off unless both the rate and the threshold are > 0
        kI = p.ischaemic_death_rate_per_day if p.ischaemic_integrity_threshold > 0 else 0.0
        vth = p.ischaemic_integrity_threshold
        dV = grid.voxel_volume_m3
        density = SPECIES["human"].density_kg_per_m3.value
        cells = CELLS["tumour_cells_per_m3"].value * CELLS["clonogenic_fraction"].value * dV
        t_floor = p.clonogen_floor / cells  # tumour fraction of one voxel below which it is zeroed

        traces: dict[str, list] = {k: [] for k in TRACE_META}
        regen_total = 0.0
        cleared_since = 0.0

        use_numba = _resolve_backend(backend) == "numba"
        if use_numba:
            from . import _kernels
        full = tuple(slice(0, n) for n in grid.shape)
        rsl = full  # traces sum over the active box: outside it tissue holds no debris, scar, tumour, inflammation

        def record(t_days, dt_rec):
            nonlocal cleared_since
            if use_numba:
                b = [x for sl_ in rsl for x in (sl_.start, sl_.stop)]
                dns, dfs, ssum, ts, zc, isum, ic = _kernels.box_sums(Dn, Df, S, T, I, *b)
                imean = isum / ic if ic else 0.0
            else:
                dn, df, s_, i_ = Dn[rsl], Df[rsl], S[rsl], I[rsl]
                dns, dfs, ssum, ts = float(dn.sum()), float(df.sum()), float(s_.sum()), float(T[rsl].sum())
                zc = float(np.count_nonzero(dn + df + s_ >= 0.5))
                inf = i_ > 0.01
                imean = float(i_[inf].mean()) if inf.any() else 0.0
            dsum = dns + dfs
            traces["time_days"].append(t_days)
            traces["zone_volume_m3"].append((dsum + ssum) * dV)
            traces["zone_region_volume_m3"].append(zc * dV)
            traces["scar_volume_m3"].append(ssum * dV)
            traces["debris_volume_m3"].append(dsum * dV)
            traces["fixed_debris_volume_m3"].append(dfs * dV)
            traces["nonfixed_debris_volume_m3"].append(dns * dV)
            traces["regenerated_volume_m3"].append(regen_total * dV)
            traces["tumour_volume_m3"].append(ts * dV)
            traces["expected_clonogens"].append(ts * cells)
            rate = cleared_since * dV / dt_rec if dt_rec > 0 else 0.0
            traces["cleared_m3_per_day"].append(rate)
            traces["cleared_kg_per_day"].append(rate * density)
            traces["inflammation_mean"].append(imean)
            cleared_since = 0.0

        record(0.0, 0.0)
        n_rebox = 10
        box = None
        if use_numba:
            bufs = {"V": V.copy(), "N": N.copy(), "T": T.copy()}
            ih2 = tuple(float(1.0 / hh ** 2) for hh in h)
            kpar = (dt, Dv, rv, mu, p.clearance_rate_per_day, p.fixed_clearance_rate_per_day,
                    p.inflammation_recruitment_per_day, lamI, p.fibrosis_rate_per_day, p.scar_max_fraction,
                    -math.expm1(-lamS * dt), p.regeneration_rate_per_day, lN2, rho, lT2, fI, t_floor, kI, vth)
        for step in range(n_steps):
            if step % n_rebox == 0:
                if use_numba:
                    b = _kernels.active_box(T, N, Dn, Df, S, V, I, tissue, regen)
                    box = None if b[0] < 0 else _grow_box(b, tissue.shape, n_rebox + 1)
                    if box is not None:
                        rsl = tuple(slice(box[2 * a], box[2 * a + 1]) for a in range(3))
                    bufs["V"][...], bufs["N"][...], bufs["T"][...] = V, N, T
                else:
                    box = self._active_box(T, N, Dn, Df, S, V, I, tissue, regen, h, margin=n_rebox + 1)
                    if box is not None:
                        rsl = box[0]
            if box is not None:
                if use_numba:
                    cleared, gained = _kernels.fate_step(*box, tissue, regen, V, bufs["V"], N, bufs["N"], T,
                                                         bufs["T"], Dn, Df, S, E, I, *ih2, *kpar)
                    V, bufs["V"] = bufs["V"], V
                    N, bufs["N"] = bufs["N"], N
                    T, bufs["T"] = bufs["T"], T
                else:
                    sl, st_t, st_r = box
                    cleared, gained = self._step_numpy(
                        sl, st_t, st_r, T, N, Dn, Df, S, E, V, I, tissue[sl], regen[sl],
                        dt=dt, Dv=Dv, rv=rv, mu=mu, lamI=lamI, lamS=lamS, rho=rho, lN2=lN2, lT2=lT2, fI=fI,
                        t_floor=t_floor, kI=kI, vth=vth)
                cleared_since += cleared
                regen_total += gained
                if check:
                    _check_invariants(T, N, Dn, Df, S, E, V, I)
            if (step + 1) % rec == 0 or step == n_steps - 1:
                last = (step + 1) % rec
                record((step + 1) * dt, (last if last else rec) * dt)

        new = state.copy()
        Dsum = Dn + Df
        Fnew = np.divide(Df, Dsum, out=np.zeros_like(Dsum), where=Dsum > 0)
        for name, arr in (("tumour", T), ("normal", N), ("debris", Dsum), ("fixed", Fnew), ("scar", S),
                          ("ecm", E), ("vascular", V), ("inflammation", I)):
            getattr(new, name)[...] = arr.astype(out_dtype)
        new.meta = dict(new.meta)
        new.meta["fate_days"] = float(state.meta.get("fate_days", 0.0)) + float(duration_days)
        tr = {k: np.asarray(v, float) for k, v in traces.items()}
        z0 = tr["zone_volume_m3"][0]
        tr["involution"] = tr["zone_volume_m3"] / z0 if z0 > 0 else np.full_like(tr["zone_volume_m3"], np.nan)
        tr["dt_days"] = np.asarray(dt)
        return new, tr

    # ------------------------------------------------------------------------------------------
    @staticmethod
    def _active_box(T, N, Dn, Df, S, V, I, tissue, regen, h, *, margin: int):
        free = 1.0 - T - N - Dn - Df - S
        # V < 1 also covers the voxels where secondary ischaemic death acts (V < V_th <= 1)
        active = tissue & ((Dn > 0) | (Df > 0) | (S > 0) | (I > 0) | (T > 0) | (V < 1) | (regen & (free > 0)))
        if not active.any():
            return None
        idx = np.nonzero(active)
        sl = tuple(slice(max(int(i.min()) - margin, 0), min(int(i.max()) + margin + 1, n))
                   for i, n in zip(idx, active.shape, strict=True))
        return sl, _Stencil(tissue[sl], h), _Stencil(regen[sl], h)

    def _step_numpy(self, sl, st_t, st_r, T, N, Dn, Df, S, E, V, I, tis, reg, *, dt, Dv, rv, mu, lamI, lamS, rho,
                    lN2, lT2, fI, t_floor, kI=0.0, vth=0.0):
        p = self
        t, n, dn, df, s, e, v, i = (a[sl] for a in (T, N, Dn, Df, S, E, V, I))
        # vessels: growth-only Fisher-KPP front, slowed by fixed debris
        m = np.where(tis, 1.0 - (1.0 - mu) * df, 0.0)
        vt = v + dt * np.maximum(0.0, Dv * m * st_t.lap(v))
        v_new = np.where(tis, _logistic(vt, rv * m * dt, 1.0), v)
        # debris clearance through intact microvessels
        dn_new = np.where(tis, dn * np.exp(-p.clearance_rate_per_day * v_new * dt), dn)
        df_new = np.where(tis, df * np.exp(-p.fixed_clearance_rate_per_day * v_new * dt), df)
        cleared = float(np.sum(dn - dn_new) + np.sum(df - df_new))
        d_new = dn_new + df_new
        # inflammation: exact solution of I' = a (1 - I) - lam I over the step
        a = fI * p.inflammation_recruitment_per_day * v_new * d_new
        i_inf = a / (a + lamI)
        i_new = np.where(tis, i_inf + (i - i_inf) * np.exp(-(a + lamI) * dt), i)
        # fibrosis into free space, capped at scar_max_fraction; slow remodelling back to free space
        free = np.maximum(1.0 - t - n - d_new - s, 0.0)
        room = np.minimum(free, np.maximum(p.scar_max_fraction - s, 0.0))
        gain_s = np.where(tis, room * -np.expm1(-fI * p.fibrosis_rate_per_day * i_new * d_new * dt), 0.0)
        s_new = np.where(tis, s + gain_s - s * -math.expm1(-lamS * dt), s)
        free = np.maximum(1.0 - t - n - d_new - s_new, 0.0)
        # regeneration where the matrix is intact, from neighbouring parenchyma
        if p.regeneration_rate_per_day > 0:
            g = np.maximum(n + lN2 * st_r.lap(n), 0.0)
            gain_n = np.where(reg, free * -np.expm1(-p.regeneration_rate_per_day * e * g * dt), 0.0)
        else:
            gain_n = np.zeros_like(n)
        n_new = n + gain_n
        # tumour: logistic in the space not held by debris and scar, invading by growth
        if rho > 0:
            K = np.maximum(1.0 - d_new - s_new, 0.0)
            g = np.maximum(t + lT2 * st_t.lap(t), 0.0)
            grow = np.maximum(_logistic(g, rho * K * dt, K) - g, 0.0)
            t_new = np.where(tis, np.minimum(t + grow, np.maximum(K, 0.0)), t)
            t_new = np.where(t_new < t_floor, 0.0, t_new)
            n_new = np.where(tis, np.minimum(n_new, np.maximum(1.0 - t_new - d_new - s_new, 0.0)), n_new)
        else:
            t_new = t
        if kI > 0:
            # secondary ischaemic death at the end-of-step integrity v_new; cells die in place into non-fixed debris
            dying = tis & (v_new < vth)
            frac = np.where(dying, -np.expm1(-kI * np.maximum(1.0 - v_new / vth, 0.0) * dt), 0.0)
            lt = t_new * frac
            lt = np.where(dying & (t_new - lt < t_floor), t_new, lt)
            ln = n_new * frac
            t_new = t_new - lt
            n_new = n_new - ln
            dn_new = dn_new + (lt + ln)
        V[sl], Dn[sl], Df[sl], I[sl], S[sl], N[sl], T[sl] = v_new, dn_new, df_new, i_new, s_new, n_new, t_new
        return cleared, float(gain_n.sum())


def _resolve_backend(backend: str | None) -> str:
    if backend is None:
        try:
            import numba  # noqa: F401
        except ImportError:  # pragma: no cover - numba is a core dependency
            return "numpy"
        return "numba"
    if backend not in ("numba", "numpy"):
        raise ConfigError(f"FateModel.advance backend = {backend!r}: must be 'numba' or 'numpy'")
    return backend


def _grow_box(b, shape, margin: int) -> tuple[int, int, int, int, int, int]:
    i0, i1, j0, j1, k0, k1 = (int(v) for v in b)
    return (max(i0 - margin, 0), min(i1 + margin, shape[0]), max(j0 - margin, 0), min(j1 + margin, shape[1]),
            max(k0 - margin, 0), min(k1 + margin, shape[2]))


def _check_invariants(T, N, Dn, Df, S, E, V, I, tol=1e-9):
    for name, a in (("tumour", T), ("normal", N), ("debris_nonfixed", Dn), ("debris_fixed", Df), ("scar", S),
                    ("ecm", E), ("vascular", V), ("inflammation", I)):
        lo, hi = float(a.min()), float(a.max())
        if not (np.isfinite(lo) and np.isfinite(hi)) or lo < -tol or hi > 1 + tol:
            raise AssertionError(f"fate invariant: {name} leaves [0, 1]: min {lo}, max {hi}")
    occ = float((T + N + Dn + Df + S).max())
    if occ > 1 + tol:
        raise AssertionError(f"fate invariant: occupancy T + N + D + S = {occ} > 1")
