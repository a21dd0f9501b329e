"""Chemical-injection sessions on a region of interest: needles, agent, spread, kill, leakage.

The physics is :class:`tissuefate.physics.injection.InjectionModel` (Darcy flow with leak paths
and cracking, advection–diffusion–washout of the agent, agent-specific kill). This module places
it on a :class:`TissueState`, maps the active **hypotheses** (:mod:`tissuefate.hypotheses`) onto
the model's parameters, and returns a :class:`~tissuefate.therapy.result.SessionResult`.

Hypotheses and where they enter (every result records which were active). Any agent:

- ``scar_blocks_retreatment`` → ``overrides={"scar_factor": f}`` (Darcy conductivity of fully
  scarred tissue, instead of INJECTION ``scar_factor``) and ``scar_diffusivity_factor = f`` (agent
  diffusivity there, 1 otherwise), both blended linearly with the voxel's scar fraction.

Oxidant only:

- ``oxidant_delivery_diffusion_limited`` → ``transport_demand_fraction = 1`` (the oxidant reacts
  with the whole tissue demand it meets: a stoichiometric front);
- ``oxidant_delivery_convective_percolation`` → ``transport_demand_fraction`` = its parameter
  (only that share of the demand reacts while the fluid moves);
- ``oxidant_tumour_selectivity`` → tumour dies when 1/ratio of its demand is consumed,
  parenchyma when all of it is;
- ``oxidant_hemostasis_without_occlusion`` → ``vessel_leak_factor`` (leak into large vessels
  during the session; vessel labels unchanged afterwards);
- ``oxidant_tumour_microvessel_disruption`` → the tumour's microvascular integrity inside the
  distribution volume drops by its fraction *after* the session (field
  ``vascular_integrity_after`` for the fate model); it does not change this session's washout.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError, GeometryError
from ..hypotheses import HypothesisSet
from ..physics.injection import Agent, InjectionModel, InjectionNeedle, InjectionProtocol
from ..tissue.labels import Label
from ..tissue.properties import INJECTION, MaterialTable
from ..tissue.state import TissueState
from .cryo_session import LETHAL_SURVIVAL
from .result import ApplicatorPlacement, SessionResult, ZoneDef

__all__ = ["InjectionSession", "run_injection_session", "injection_needles_around", "hypothesis_parameters"]

ProgressFn = Callable[[float, str], None]
_ML = 1e6


@dataclass
class InjectionSession:
    """Everything one injection session needs, in SI units.

    Parameters
    ----------
    name : str
    state : TissueState
        Tissue before the session (not modified).
    table : MaterialTable
        In vivo / ex vivo (perfusion washout) and the species.
    agent : Agent
    needles : sequence of InjectionNeedle
    protocol : InjectionProtocol
    hypotheses : HypothesisSet
    backend : str, optional
    settings : dict
    """

    name: str
    state: TissueState
    table: MaterialTable
    agent: Agent
    needles: Sequence[InjectionNeedle]
    protocol: InjectionProtocol
    hypotheses: HypothesisSet = field(default_factory=HypothesisSet.from_config)
    backend: str | None = None
    settings: dict = field(default_factory=dict)

    modality = "injection"

    def __post_init__(self):
        if not self.needles:
            raise ConfigError("applicator.n_needles = 0: an injection needs at least one needle")
        if self.agent.name == "oxidant":
            self.hypotheses.require_one_of("oxidant_delivery")


def hypothesis_parameters(agent: Agent, hs: HypothesisSet) -> dict:
    """Keyword arguments of :class:`InjectionModel` that the active hypotheses set.

    Examples
    --------
    >>> hs = HypothesisSet.from_config(["oxidant_delivery_convective_percolation"])
    >>> hypothesis_parameters(Agent.oxidant(), hs)["transport_demand_fraction"]
    0.1
    >>> hypothesis_parameters(Agent.ethanol(), HypothesisSet.from_config([]))
    {}
    >>> hypothesis_parameters(Agent.ethanol(), HypothesisSet.from_config(["scar_blocks_retreatment"]))
    {'overrides': {'scar_factor': 0.01}, 'scar_diffusivity_factor': 0.01}
    """
    kw: dict = {}
    name = "scar_blocks_retreatment"
    if hs.is_active(name):
        f = hs.param(name, "permeability_factor")
        kw["overrides"] = {"scar_factor": f}
        kw["scar_diffusivity_factor"] = f
    if agent.name != "oxidant":
        return kw
    kw["transport_demand_fraction"] = 1.0
    if hs.is_active("oxidant_delivery_convective_percolation"):
        kw["transport_demand_fraction"] = hs.param("oxidant_delivery_convective_percolation",
                                                   "transport_demand_fraction")
    if hs.is_active("oxidant_tumour_selectivity"):
        ratio = hs.param("oxidant_tumour_selectivity", "normal_to_tumour_lethal_ratio")
        kw["lethal_demand_fraction_tumour"] = 1.0 / ratio
        kw["lethal_demand_fraction_normal"] = 1.0
    if hs.is_active("oxidant_hemostasis_without_occlusion"):
        kw["vessel_leak_factor"] = hs.param("oxidant_hemostasis_without_occlusion", "vessel_leak_factor")
    return kw


def injection_needles_around(centre_m, direction, n: int, spacing_m: float, gauge: int) -> list[InjectionNeedle]:
    """``n`` needles with tips around ``centre_m`` (:func:`~tissuefate.geometry.polygon_layout_m`
    in the plane perpendicular to ``direction``), all along ``direction``."""
    from ..geometry import parallel_tips_m, unit

    d = tuple(unit(direction))
    return [InjectionNeedle(tuple(t), d, gauge) for t in parallel_tips_m(centre_m, d, n, spacing_m)]


def run_injection_session(session: InjectionSession, progress: ProgressFn | None = None) -> SessionResult:
    """Simulate one injection session (injection, then spread for ``protocol.spread_s``).

    Notes
    -----
    Kill: ethanol and acetic acid by the concentration–time law, the oxidant by stoichiometric
    consumption of the tissue's oxidant demand (:mod:`tissuefate.physics.injection`). The result
    carries the fluid balance (delivered = retained + leaked + washed out, to ~1e-6) and the
    active hypotheses.
    """
    s = session
    state = s.state.copy()
    grid = state.grid
    for i, nd in enumerate(s.needles):
        if not grid.contains(nd.tip_m):
            raise GeometryError(f"needle {i + 1} tip lies outside the region of interest: move it or enlarge "
                                "grid.roi_shape")
        lab = state.label[grid.index_of(nd.tip_m)]
        if lab == Label.OUTSIDE:
            raise GeometryError(f"needle {i + 1} tip lies outside the organ: move the needle")
        if lab == Label.LARGE_VESSEL:
            raise GeometryError(f"needle {i + 1} tip lies in a large vessel: move the needle")
    kw = hypothesis_parameters(s.agent, s.hypotheses)
    model = InjectionModel.from_state(state, agent=s.agent, needles=list(s.needles), table=s.table,
                                      backend=s.backend, **kw)
    res = model.run(s.protocol, progress)
    phi = res.mobile_fraction
    dtype = state.dtype
    fill = (np.asarray(res.fluid_fraction_peak, np.float64) / phi).astype(dtype)
    survival = np.asarray(res.survival, np.float64).astype(dtype)
    fields = {
        "fluid_fraction": fill,
        "peak_concentration_mol_per_m3": np.asarray(res.concentration_peak_mol_per_m3, dtype=dtype),
        "pressure_Pa": np.asarray(res.pressure_peak_Pa, dtype=dtype),
        "cracked": np.asarray(res.cracked, dtype=dtype),
    }
    if s.agent.kill_law == "stoichiometric":
        demand = s.agent.demand_mol_per_kg * model.density
        fields["consumed_demand_fraction"] = (np.asarray(res.consumed_mol_per_m3, np.float64) / demand).astype(dtype)
    thr = float(INJECTION["distribution_threshold"].value)
    zone_defs = [
        ZoneDef("distribution", "fluid_fraction", "fluid_fraction", "ge", thr, thr, "1",
                f"distribution (fluid ≥ {thr:g} of pore volume)"),
        ZoneDef("lethal", "survival", "survival", "le", LETHAL_SURVIVAL, LETHAL_SURVIVAL, "1",
                "lethal (≥ 99 % kill)"),
    ]
    vasc_after = np.asarray(state.vascular, np.float64).copy()
    hs = s.hypotheses
    if s.agent.name == "oxidant" and hs.is_active("oxidant_tumour_microvessel_disruption"):
        loss = hs.param("oxidant_tumour_microvessel_disruption", "tumour_vascular_loss_fraction")
        reached = (fill >= thr) & (state.label == Label.TUMOUR)
        vasc_after[reached] *= 1.0 - loss
    vasc_after *= np.asarray(res.vascular_integrity, np.float64)
    fields["vascular_integrity_after"] = vasc_after.astype(dtype)

    sm = res.summary()
    f = res.balance["fluid"]
    leaked = {k: round(v * _ML, 5) for k, v in f["leaked"].items()}
    details = {
        "agent": s.agent.name,
        "kill_law": s.agent.kill_law,
        "agent_concentration_mol_per_m3": round(s.agent.concentration_mol_per_m3, 4),
        "n_needles": len(s.needles),
        "delivered_mL": round(sm["delivered_volume_m3"] * _ML, 5),
        "retained_mL": round(sm["retained_volume_m3"] * _ML, 5),
        "leaked_mL": round(sm["leaked_volume_m3"] * _ML, 5),
        "leaked_by_path_mL": leaked,
        "leaked_via_cracks_mL": round(sm["leaked_via_cracks_m3"] * _ML, 5),
        "washed_out_mL": round(sm["washed_out_volume_m3"] * _ML, 5),
        "distribution_volume_mL": round(sm["distribution_volume_m3"] * _ML, 4),
        "kill_volume_mL": round(sm["killed_volume_m3"] * _ML, 4),
        "cracked_volume_mL": round(sm["cracked_volume_m3"] * _ML, 4),
        "peak_pressure_kPa": round(sm["peak_pressure_Pa"] / 1e3, 3),
        "delivered_agent_mol": sm["delivered_agent_mol"],
        "consumed_agent_mol": sm["consumed_agent_mol"],
        "leaked_agent_mol": sm["leaked_agent_mol"],
        "balance_relative_error_fluid": sm["balance_relative_error_fluid"],
        "balance_relative_error_agent": sm["balance_relative_error_agent"],
        "hypothesis_parameters": kw,
        "hypothetical": s.agent.name == "oxidant",
    }
    details["report"] = [
        ["Agent", s.agent.name + (" (HYPOTHETICAL)" if s.agent.name == "oxidant" else ""), "", True],
        ["Delivered / retained", f"{details['delivered_mL']:.2f} / {details['retained_mL']:.2f}", "mL", False],
        ["Leaked (vessels, tract, surface, box)", details["leaked_mL"], "mL", True],
        ["Distribution volume", details["distribution_volume_mL"], "mL", True],
        ["Peak pressure", details["peak_pressure_kPa"], "kPa", False],
        ["Cracked tissue", details["cracked_volume_mL"], "mL", False],
    ]
    settings = dict(s.settings)
    settings["hypotheses"] = hs.record()
    settings["numerics"] = {"dt_injection_s": res.dt_injection_s, "dt_spread_s": res.dt_spread_s,
                            "n_steps": res.n_steps, "backend": res.backend, "dtype": str(np.dtype(dtype))}
    placements = [ApplicatorPlacement("injection_needle", tuple(nd.tip_m), tuple(nd.direction), 0.0,
                                      0.5 * nd.diameter_m, f"needle {i + 1}") for i, nd in enumerate(s.needles)]
    return SessionResult(
        name=s.name, modality="injection", grid=grid, state=state, placements=placements,
        traces={k: np.asarray(v, float) for k, v in res.traces.items()}, settings=settings, wall_time_s=res.wall_s,
        survival=survival, fields=fields, zone_defs=zone_defs, lethal_zone="lethal", details=details,
    )
