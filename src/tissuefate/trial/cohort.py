"""Virtual patients and the cases they receive (paired design).

Patient ``i`` of a trial draws every value from its own stream,
``np.random.default_rng(np.random.SeedSequence(spec.seed, spawn_key=(i,)))`` — the same stream as
``SeedSequence(spec.seed).spawn(n)[i]`` for any ``n > i`` — in this fixed order:

1. the phantom seed: ``integers(0, 2**31)`` (drawn even when ``grid.phantom_seed`` fixes it);
2. the tumour count: one uniform;
3. for each of :data:`~tissuefate.trial.spec.MAX_TUMOURS` tumour slots (whatever the count): type,
   diameter, location, vessel gap and doubling time, one uniform each (the doubling time through the
   distribution of the slot's type; the vessel gap is recorded only for ``near_vessel``);
4. the uncertain parameters in sorted name order, one uniform each.

Every draw maps one uniform number through the inverse CDF of its distribution, so a patient's
values depend only on the seed, its index and the trial's distributions — never on the number of
patients, their order, the worker count or other patients.

Every patient receives every strategy under every preset (paired design): one :class:`Case` per
tumour × strategy × preset, with a stable id ``p000007_t0_rfa_literature``. Where no hypothesis of
two presets acts on a strategy (thermal strategies under ``literature`` and ``seed_claims``), the
simulations are identical: the later preset's case records ``computed_as`` = the first one's id and
the trial runner simulates it once.
"""

from __future__ import annotations

import copy
import json
import math
import re
from dataclasses import dataclass, field

import numpy as np

from ..errors import ConfigError
from .spec import (
    DIAMETER_RANGE_MM,
    DOUBLING_TIME_RANGE_DAYS,
    MAX_TUMOURS,
    TUMOUR_LOCATIONS,
    TUMOUR_TYPES,
    VESSEL_DISTANCE_RANGE_MM,
    TrialSpec,
    _categorical_index,
    fate_attributes,
    parameter_kind,
    scenario_field_range,
    scenario_path_applies,
    set_scenario_path,
)

__all__ = ["Tumour", "Patient", "Arm", "Case", "sample_patient", "patient_stream", "trial_arms", "case_scenarios",
           "plan_cases", "build_case", "parse_case_id", "parameter_range", "check_spec", "phantom_seed_candidates",
           "OXIDANT_FALLBACK", "PHANTOM_ATTEMPTS"]

#: Phantoms a tumour is tried in: the patient's own (drawn first in its stream), then alternatives
#: from :func:`phantom_seed_candidates` when the phantom builder cannot place the tumour there (e.g. a
#: 30-mm tumour a few millimetres from a large vessel). Every strategy of the patient tries the same
#: seeds in the same order, so the pairing is kept; the seed used is recorded per case.
PHANTOM_ATTEMPTS = 5

#: Added to an oxidant strategy under a preset that names no oxidant-delivery hypothesis (as the
#: demo's literature preset does): the reaction-diffusion estimate [E/V], recorded with the case.
OXIDANT_FALLBACK = "oxidant_delivery_diffusion_limited"

_CASE_RE = re.compile(r"^p(\d{6})_t(\d+)_(.+)$")


@dataclass(frozen=True)
class Tumour:
    """One sampled tumour (``vessel_distance_mm`` is NaN unless the location is ``near_vessel``)."""

    index: int
    type: str
    diameter_mm: float
    location: str
    vessel_distance_mm: float
    doubling_time_days: float


@dataclass(frozen=True)
class Patient:
    """One virtual patient: phantom seed, tumours and uncertain-parameter values."""

    index: int
    phantom_seed: int
    tumours: tuple[Tumour, ...]
    parameters: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Arm:
    """A strategy under a preset: what every patient receives in one arm of the trial."""

    strategy: str
    label: str
    preset: str
    modality: str
    agent: str | None
    fragment: dict
    added: tuple[str, ...]
    active: tuple[str, ...]
    not_applicable: tuple[str, ...]
    computed_as: str  # the preset whose simulation this arm shares (itself if none)


@dataclass
class Case:
    """One simulation: a patient's tumour under one strategy and preset."""

    case_id: str
    patient: int
    tumour: int
    strategy: str
    strategy_label: str
    preset: str
    modality: str
    agent: str | None
    computed_as: str
    hypotheses: dict
    fate_overrides: dict
    scenario: object | None = None


def patient_stream(seed: int, index: int) -> np.random.Generator:
    """The random stream of patient ``index``: identical to ``SeedSequence(seed).spawn(n)[index]``.

    Examples
    --------
    >>> a = patient_stream(3, 7).random()
    >>> b = np.random.default_rng(np.random.SeedSequence(3).spawn(10)[7]).random()
    >>> a == b
    True
    """
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(index,)))


def parameter_range(name: str) -> tuple[float, float, str]:
    """Allowed range ``(low, high, unit)`` of an uncertain parameter (ConfigError if the name is unknown)."""
    kind = parameter_kind(name)
    if kind == "fate":
        attr = name.split(".", 1)[1]
        known = fate_attributes()
        if attr not in known:
            from ..hypotheses import _suggest

            raise ConfigError(f"uncertain.{name}: unknown FateModel attribute {attr!r}; known: {', '.join(known)}"
                              f"{_suggest(attr, known)}")
        hi = 1.0 if attr in ("scar_max_fraction", "ischaemic_integrity_threshold") else math.inf
        return 0.0, hi, ""
    if kind == "hypothesis":
        from ..hypotheses import get_hypothesis

        parts = name.split(".")
        if len(parts) != 3:
            raise ConfigError(f"uncertain.{name}: a hypothesis parameter is named hypotheses.<hypothesis>.<parameter>")
        h = get_hypothesis(parts[1], field=f"uncertain.{name}")
        p = h.parameter(parts[2])
        return p.low, p.high, p.unit
    lo, hi = scenario_field_range(name)
    return lo, hi, ""


def sample_patient(spec: TrialSpec, i: int) -> Patient:
    """Patient ``i`` of ``spec`` (0 ≤ i < n_patients), drawn from :func:`patient_stream`.

    Examples
    --------
    >>> from tissuefate.trial.spec import trial_from_dict
    >>> spec = trial_from_dict({"n_patients": 10, "strategies": ["rfa"], "seed": 1})
    >>> p = sample_patient(spec, 7)
    >>> p.index, len(p.tumours), p == sample_patient(spec.model_copy(update={"n_patients": 50}), 7)
    (7, 1, True)
    """
    if not 0 <= i < spec.n_patients:
        raise ConfigError(f"patient {i}: must be in 0-{spec.n_patients - 1} (n_patients = {spec.n_patients})")
    rng = patient_stream(spec.seed, i)
    seed = int(rng.integers(0, 2**31))
    if spec.grid.phantom_seed != "per_patient":
        seed = int(spec.grid.phantom_seed)
    ts = spec.tumours
    count = int(round(ts.count.sample(rng.random())))
    type_keys = [k for k in TUMOUR_TYPES if k in ts.type]
    loc_keys = [k for k in TUMOUR_LOCATIONS if k in ts.location]
    tumours = []
    for k in range(MAX_TUMOURS):
        u_type, u_d, u_loc, u_gap, u_td = rng.random(5)
        ttype = type_keys[_categorical_index(np.array([ts.type[t] for t in type_keys]), u_type)]
        loc = loc_keys[_categorical_index(np.array([ts.location[t] for t in loc_keys]), u_loc)]
        d = ts.diameter_mm.sample(u_d, *DIAMETER_RANGE_MM)
        gap = ts.vessel_distance_mm.sample(u_gap, *VESSEL_DISTANCE_RANGE_MM)
        td = getattr(ts.doubling_time_days, ttype).sample(u_td, *DOUBLING_TIME_RANGE_DAYS)
        if k < count:
            tumours.append(Tumour(k, ttype, d, loc, gap if loc == "near_vessel" else math.nan, td))
    params = {}
    for name in sorted(spec.uncertain):
        lo, hi, _ = parameter_range(name)
        params[name] = spec.uncertain[name].sample(rng.random(), lo, hi)
    return Patient(i, seed, tuple(tumours), params)


def trial_arms(spec: TrialSpec) -> list[Arm]:
    """Every strategy under every preset, in file order (strategy-major)."""
    from ..config.scenario import HypothesesConfig
    from ..hypotheses import OXIDANT_DELIVERY, PRESETS, list_hypotheses

    delivery = {h.name for h in list_hypotheses(group=OXIDANT_DELIVERY)}
    arms = []
    for s in spec.strategies:
        frag = s.fragment()
        sc = frag["scenario"]
        modality = sc["modality"]
        agent = None
        if modality == "injection":
            agent = (sc.get("injection") or {}).get("agent", "ethanol")
        first: dict[tuple, str] = {}
        for p in spec.presets:
            added = (OXIDANT_FALLBACK,) if agent == "oxidant" and not delivery & set(PRESETS[p]) else ()
            kept, dropped = HypothesesConfig(preset=p, active=list(added)).for_run(modality, agent)
            sig = tuple(kept.active)
            first.setdefault(sig, p)
            arms.append(Arm(s.key, frag["label"], p, modality, agent, sc, added, tuple(kept.active), tuple(dropped),
                            first[sig]))
    return arms


def phantom_seed_candidates(spec: TrialSpec, patient: Patient) -> list[int]:
    """Phantom seeds to try for the patient's tumours, in order (one if ``grid.phantom_seed`` is fixed).

    The first is ``patient.phantom_seed``; alternative ``k`` is the first draw of
    ``SeedSequence(spec.seed, spawn_key=(patient, 1, k))`` — independent of every patient's stream.

    Examples
    --------
    >>> from tissuefate.trial.spec import trial_from_dict
    >>> spec = trial_from_dict({"n_patients": 2, "strategies": ["rfa"]})
    >>> seeds = phantom_seed_candidates(spec, sample_patient(spec, 1))
    >>> len(seeds), seeds[0] == sample_patient(spec, 1).phantom_seed, len(set(seeds))
    (5, True, 5)
    """
    if spec.grid.phantom_seed != "per_patient":
        return [patient.phantom_seed]
    alt = [int(np.random.default_rng(np.random.SeedSequence(spec.seed, spawn_key=(patient.index, 1, k)))
               .integers(0, 2**31)) for k in range(1, PHANTOM_ATTEMPTS)]
    return [patient.phantom_seed, *alt]


def _case_id(patient: int, tumour: int, strategy: str, preset: str) -> str:
    return f"p{patient:06d}_t{tumour}_{strategy}_{preset}"


def parse_case_id(case_id: str) -> tuple[int, int]:
    """(patient, tumour) of a case id like ``p000007_t0_rfa_literature``."""
    m = _CASE_RE.match(case_id)
    if not m:
        raise ConfigError(f"case id {case_id!r}: expected p<6 digits>_t<tumour>_<strategy>_<preset>")
    return int(m.group(1)), int(m.group(2))


def _hypotheses_record(arm: Arm, patient: Patient) -> dict:
    from ..hypotheses import REGISTRY

    params = {}
    for h in arm.active:
        params[h] = {p.name: float(patient.parameters.get(f"hypotheses.{h}.{p.name}", p.default))
                     for p in REGISTRY[h].parameters}
    return {"active": list(arm.active), "parameters": params, "not_applicable": list(arm.not_applicable),
            "added": list(arm.added)}


def _scenario_dict(spec: TrialSpec, arm: Arm, patient: Patient, t: Tumour) -> dict:
    data = copy.deepcopy(arm.fragment)
    anat = {"kind": "phantom", "seed": patient.phantom_seed, "tumour_type": t.type,
            "tumour_diameter_mm": t.diameter_mm, "tumour_location": t.location}
    if t.location == "near_vessel":
        anat["vessel_distance_mm"] = t.vessel_distance_mm
    n = spec.grid.roi_voxels(t.diameter_mm)
    hyp: dict = {"preset": arm.preset}
    if arm.added:
        hyp["active"] = list(arm.added)
    overrides: dict = {}
    for name, v in patient.parameters.items():
        if parameter_kind(name) == "hypothesis":
            _, h, p = name.split(".")
            if h in arm.active:
                overrides.setdefault(h, {})[p] = v
    if overrides:
        hyp["parameters"] = overrides
    data.update(name=f"{arm.label} — patient {patient.index} tumour {t.index}"[:80], anatomy=anat, hypotheses=hyp,
                grid={"spacing_mm": spec.grid.spacing_mm, "roi_shape": [n, n, n]},
                course={**data.get("course", {}), "strategy": arm.label[:80], "horizon_days": spec.grid.horizon_days,
                        "doubling_time_days": t.doubling_time_days})
    for name, v in patient.parameters.items():
        if parameter_kind(name) == "scenario" and scenario_path_applies(name, arm.fragment):
            set_scenario_path(data, name, v)
    return data


def _fate_overrides(patient: Patient) -> dict:
    return {name.split(".", 1)[1]: v for name, v in patient.parameters.items() if parameter_kind(name) == "fate"}


def plan_cases(spec: TrialSpec, patient: Patient, arms: list[Arm] | None = None) -> list[Case]:
    """The cases of ``patient`` without building their scenarios (cheap; tumour-major, then arms)."""
    arms = trial_arms(spec) if arms is None else arms
    out = []
    for t in patient.tumours:
        for a in arms:
            out.append(Case(_case_id(patient.index, t.index, a.strategy, a.preset), patient.index, t.index,
                            a.strategy, a.label, a.preset, a.modality, a.agent,
                            _case_id(patient.index, t.index, a.strategy, a.computed_as),
                            _hypotheses_record(a, patient), _fate_overrides(patient)))
    return out


def build_case(spec: TrialSpec, patient: Patient, case: Case, arms: list[Arm] | None = None) -> Case:
    """``case`` with its validated Scenario (ConfigError naming the case if it does not validate)."""
    from ..config.scenario import scenario_from_dict

    arms = trial_arms(spec) if arms is None else arms
    arm = next(a for a in arms if a.strategy == case.strategy and a.preset == case.preset)
    t = patient.tumours[case.tumour]
    case.scenario = scenario_from_dict(_scenario_dict(spec, arm, patient, t), f"case {case.case_id}")
    return case


def case_scenarios(spec: TrialSpec, patient: Patient) -> list[Case]:
    """One :class:`Case` with its Scenario per tumour × strategy × preset of ``patient``.

    Examples
    --------
    >>> from tissuefate.trial.spec import trial_from_dict
    >>> spec = trial_from_dict({"n_patients": 8, "strategies": ["rfa", "oxidant"],
    ...                         "presets": ["literature", "seed_claims"], "grid": {"spacing_mm": 2}})
    >>> cases = case_scenarios(spec, sample_patient(spec, 7))
    >>> [c.case_id for c in cases][:2], cases[1].computed_as
    (['p000007_t0_rfa_literature', 'p000007_t0_rfa_seed_claims'], 'p000007_t0_rfa_literature')
    >>> cases[2].hypotheses["added"], cases[2].scenario.course.horizon_days
    (['oxidant_delivery_diffusion_limited'], 365.0)
    """
    arms = trial_arms(spec)
    return [build_case(spec, patient, c, arms) for c in plan_cases(spec, patient, arms)]


# --------------------------------------------------------------------------------------------------
# Cross-validation of a spec (called by TrialSpec's validator)
# --------------------------------------------------------------------------------------------------
def _nominal_patient(spec: TrialSpec, **param_values) -> Patient:
    ts = spec.tumours
    ttype = max(ts.type, key=ts.type.get)
    d = ts.diameter_mm.centre(*DIAMETER_RANGE_MM)
    td = getattr(ts.doubling_time_days, ttype).centre(*DOUBLING_TIME_RANGE_DAYS)
    params = {}
    for name, dist in spec.uncertain.items():
        lo, hi, _ = parameter_range(name)
        params[name] = dist.centre(lo, hi)
    params.update(param_values)
    seed = 0 if spec.grid.phantom_seed == "per_patient" else int(spec.grid.phantom_seed)
    return Patient(0, seed, (Tumour(0, ttype, d, "central", math.nan, td),), params)


def check_spec(spec: TrialSpec) -> None:
    """Cross-field checks: uncertain-parameter names and ranges, and every arm's scenario builds.

    Raises
    ------
    ConfigError
        Naming the field (``uncertain.<name>``, ``strategies[j]``) and what is allowed.
    """
    from ..config.scenario import scenario_from_dict
    from ..fate import FateModel

    arms = trial_arms(spec)
    endpoints: dict[str, list[float]] = {}
    for name, dist in spec.uncertain.items():
        kind = parameter_kind(name)
        lo, hi, unit = parameter_range(name)
        if kind == "scenario":
            sec = name.split(".", 1)[0]
            from .spec import _TRIAL_OWNED

            if "." not in name or sec in _TRIAL_OWNED or name in _TRIAL_OWNED:
                raise ConfigError(f"uncertain.{name}: not an uncertain parameter — the trial sets anatomy, grid, "
                                  "hypotheses (presets), the horizon and doubling times itself; use "
                                  "fate.<attribute>, hypotheses.<hypothesis>.<parameter> or a scenario path such "
                                  "as tissue.perfusion")
            if not any(scenario_path_applies(name, a.fragment) for a in arms):
                raise ConfigError(f"uncertain.{name}: concerns none of the strategies "
                                  f"({', '.join(s.key for s in spec.strategies)})")
        if kind == "hypothesis":
            h = name.split(".")[1]
            if not any(h in a.active for a in arms):
                raise ConfigError(f"uncertain.{name}: hypothesis {h!r} is active in no strategy under the presets "
                                  f"{', '.join(spec.presets)}; add a preset that switches it on (e.g. seed_claims) "
                                  "or remove the parameter")
        dist.check(f"uncertain.{name}", lo, hi, unit)
        a, b = dist.support(lo, hi)
        endpoints[name] = [v for v in dict.fromkeys((a, b)) if math.isfinite(v)] or [dist.centre(lo, hi)]
        if kind == "fate":
            attr = name.split(".", 1)[1]
            for v in endpoints[name]:
                try:
                    FateModel.from_properties(**{attr: v})
                except ConfigError as err:
                    raise ConfigError(f"uncertain.{name} = {v:g}: {err}") from None

    def build(arm, patient, what):
        try:
            scenario_from_dict(_scenario_dict(spec, arm, patient, patient.tumours[0]))
        except ConfigError as err:
            j = [s.key for s in spec.strategies].index(arm.strategy)
            raise ConfigError(f"strategies[{j}] ({arm.strategy!r}) under preset {arm.preset!r}{what}: "
                              f"{str(err).lstrip(': ')}") from None

    nominal = _nominal_patient(spec)
    for arm in arms:
        build(arm, nominal, "")
    for name, vals in endpoints.items():
        if parameter_kind(name) == "fate":
            continue
        for v in vals:
            p = _nominal_patient(spec, **{name: v})
            for arm in arms:
                if parameter_kind(name) == "scenario" and not scenario_path_applies(name, arm.fragment):
                    continue
                build(arm, p, f" with uncertain.{name} = {v:g}")


def hypotheses_json(case: Case) -> str:
    """The case's hypothesis record as compact, key-sorted JSON (the ``hypotheses`` column)."""
    return json.dumps(case.hypotheses, sort_keys=True, separators=(",", ":"))
