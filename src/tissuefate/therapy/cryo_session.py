"""Cryoablation sessions on a region of interest: probes, freeze–thaw protocol, kill, outcomes.

The physics is :class:`tissuefate.physics.cryo.CryoModel` (enthalpy method, probes as cold
boundaries, kill by minimum temperature); this module places it on a :class:`TissueState`
(perfusion from the state, large vessels as heat sinks at arterial temperature in vivo), runs
the protocol and returns a :class:`~tissuefate.therapy.result.SessionResult` with the zones of
the 0, −20, −30 and −40 °C isotherms of the minimum temperature and the lethal zone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError, GeometryError
from ..physics.cryo import CryoModel, Cryoprobe, CryoProtocol, CryoTissue
from ..tissue.labels import Label
from ..tissue.maps import perfusion_map
from ..tissue.properties import BLOOD, MaterialTable
from ..tissue.state import TissueState
from .result import ApplicatorPlacement, SessionResult, ZoneDef

__all__ = ["CryoSession", "run_cryo_session", "cryoprobes_around", "cryo_zone_defs", "CRYO_ISOTHERMS_DEGC",
           "LETHAL_SURVIVAL"]

_K0 = 273.15
#: Isotherms of the minimum temperature reported as zones [°C] (issue 3: 0, −20, −30, −40 °C).
CRYO_ISOTHERMS_DEGC = (0.0, -20.0, -30.0, -40.0)
#: Survival at or below which a voxel belongs to the lethal zone of a non-thermal modality (the
#: same 99 % kill as Ω ≥ 4.6 for heat).
LETHAL_SURVIVAL = 0.01

ProgressFn = Callable[[float, str], None]


@dataclass
class CryoSession:
    """Everything one cryoablation session needs, in SI units.

    Parameters
    ----------
    name : str
    state : TissueState
        Tissue before the session (not modified).
    table : MaterialTable
        Perfusion per label and in vivo / ex vivo.
    species : str
        Liver preset of the phase-change properties (:meth:`CryoTissue.liver`).
    probes : sequence of Cryoprobe
    protocol : CryoProtocol
    probe_temperature_K : float, optional
        Probe surface temperature while freezing [K]; default :data:`CRYO`.
    initial_temperature_K : float
    backend : str, optional
    settings : dict
    """

    name: str
    state: TissueState
    table: MaterialTable
    species: str
    probes: Sequence[Cryoprobe]
    protocol: CryoProtocol
    probe_temperature_K: float | None = None
    initial_temperature_K: float = BLOOD["arterial_temperature_K"].value
    backend: str | None = None
    settings: dict = field(default_factory=dict)

    modality = "cryo"

    def __post_init__(self):
        if not self.probes:
            raise ConfigError("applicator.n_probes = 0: a cryo session needs at least one probe")


def _placements(probes: Sequence[Cryoprobe]) -> list[ApplicatorPlacement]:
    return [ApplicatorPlacement("cryoprobe", tuple(float(v) for v in p.tip_m), tuple(float(v) for v in p.direction),
                                float(p.active_length_m), 0.5 * float(p.diameter_m), f"probe {i + 1}")
            for i, p in enumerate(probes)]


def cryo_zone_defs() -> list[ZoneDef]:
    """Zones of a cryo session: minimum temperature ≤ each isotherm, and the lethal zone."""
    defs = [ZoneDef(f"min_le_{x:g}degC", "min_temperature", "min_temperature_K", "le", x + _K0, x, "degC",
                    f"min T ≤ {x:g} °C") for x in CRYO_ISOTHERMS_DEGC]
    defs.append(ZoneDef("lethal", "survival", "survival", "le", LETHAL_SURVIVAL, LETHAL_SURVIVAL, "1",
                        "lethal (≥ 99 % kill)"))
    return defs


def run_cryo_session(session: CryoSession, progress: ProgressFn | None = None) -> SessionResult:
    """Simulate one cryoablation session.

    Notes
    -----
    Large vessels hold blood at arterial temperature in vivo (heat sinks; a probe must not cross
    one); perfusion is the state's (label value × microvascular integrity × scar factor) and stops
    in frozen tissue and, permanently, wherever the tissue fell below 0 °C (microvascular injury,
    :data:`CRYO` ``vascular_injury_K``). Kill: :func:`~tissuefate.physics.cryo.cryo_survival_fraction`
    of the minimum temperature (certain below −40 °C, none above −20 °C, linear between).
    """
    s = session
    state = s.state.copy()
    grid = state.grid
    in_vivo = s.table.in_vivo
    vessels = (state.label == Label.LARGE_VESSEL) if in_vivo else np.zeros(grid.shape, bool)
    w = perfusion_map(state, s.table).astype(np.float64)
    w[state.label == Label.LARGE_VESSEL] = 0.0  # vessels are held at arterial temperature instead
    tissue = CryoTissue.liver(s.species)
    kw = {} if s.probe_temperature_K is None else {"probe_temperature_K": s.probe_temperature_K}
    model = CryoModel(grid, tissue, list(s.probes), perfusion_per_s=w, arterial_K=BLOOD["arterial_temperature_K"].value,
                      initial_K=s.initial_temperature_K, fixed_mask=vessels, backend=s.backend,
                      dtype=state.dtype, **kw)
    outside = state.label[model.probe_mask] == Label.OUTSIDE
    if outside.any():
        raise GeometryError(f"{int(outside.sum())} voxels of the cryoprobes lie outside the organ: move the probes")
    res = model.run(s.protocol, progress, record_interval_s=10.0)
    state.label[res.probe_mask] = Label.APPLICATOR
    for name in ("tumour", "normal", "ecm", "vascular"):
        getattr(state, name)[res.probe_mask] = 0.0
    survival = np.where(res.probe_mask, 1.0, res.survival).astype(state.dtype)
    dV = grid.voxel_volume_m3
    tr = {k: np.asarray(v, float) for k, v in res.traces.items()}
    t = tr["time_s"]
    pw = tr["probe_power_W"]
    extracted = float(np.sum(0.5 * (pw[1:] + pw[:-1]) * np.diff(t))) if t.size > 1 else 0.0
    injured = (res.vascular_integrity < 0.5) & ~res.probe_mask & (state.label != Label.OUTSIDE)
    details = {
        "n_probes": len(s.probes),
        "protocol": repr(s.protocol),
        "probe_temperature_degC": round(model.probe_temperature_K - _K0, 2),
        "max_ice_volume_mL": round(float(tr["ice_volume_m3"].max()) * 1e6, 4),
        "heat_extracted_J": round(extracted, 1),
        "microvascular_injury_mL": round(float(injured.sum()) * dV * 1e6, 4),
        "min_temperature_degC": round(float(res.T_min_K[~res.probe_mask].min()) - _K0, 2),
        "time_step_s": res.dt_s,
        "kill_model": "survival 1 above -20 degC, 0 below -40 degC, linear between (Gage & Baust 1998 [R])",
    }
    details["report"] = [
        ["Probes", len(s.probes), "", True],
        ["Largest ice volume", details["max_ice_volume_mL"], "mL", True],
        ["Microvascular injury (T_min < 0 °C)", details["microvascular_injury_mL"], "mL", False],
        ["Heat extracted by the probes", round(extracted / 1e3, 2), "kJ", False],
    ]
    settings = dict(s.settings)
    settings["numerics"] = {"time_step_s": res.dt_s, "n_steps": res.n_steps, "backend": res.backend,
                            "dtype": str(np.dtype(state.dtype))}
    return SessionResult(
        name=s.name, modality="cryo", grid=grid, state=state, placements=_placements(s.probes),
        final_temperature_K=res.T_end_K, traces=tr, settings=settings, wall_time_s=res.wall_s,
        survival=survival, fields={"min_temperature_K": res.T_min_K, "frozen_fraction": res.frozen_fraction},
        zone_defs=cryo_zone_defs(), lethal_zone="lethal", details=details,
    )


def cryoprobes_around(centre_m, direction, n: int, spacing_m: float, diameter_m: float,
                      active_length_m: float) -> list[Cryoprobe]:
    """``n`` parallel probes whose active segments are centred on ``centre_m`` (in the plane
    perpendicular to ``direction``, :func:`~tissuefate.geometry.polygon_layout_m`).

    Examples
    --------
    >>> ps = cryoprobes_around((0, 0, 0), (0, 0, 1), 2, 0.015, 2.4e-3, 0.03)
    >>> [tuple(round(float(v), 4) for v in p.tip_m) for p in ps]
    [(0.0, -0.0075, -0.015), (0.0, 0.0075, -0.015)]
    """
    from ..geometry import parallel_tips_m, unit

    d = tuple(unit(direction))
    return [Cryoprobe(tuple(t), d, active_length_m, diameter_m)
            for t in parallel_tips_m(centre_m, d, n, spacing_m, 0.5 * active_length_m)]
