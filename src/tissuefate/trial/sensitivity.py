r"""Global sensitivity analysis of course outcomes to uncertain parameters (Sobol or Morris, via SALib).

A :class:`SensitivitySpec` (TOML, :func:`load_sensitivity`) names one patient template, the
strategies, the hypothesis preset, the uncertain parameters with their ranges and the outcome. The
analysis is four steps, each usable on its own:

1. :func:`sample` — the SALib design (Saltelli/Sobol' sequence, or Morris trajectories), one row per
   model evaluation, one column per parameter;
2. :func:`build_cases` / :func:`evaluate` — one case per sample and strategy, run by an injected
   ``runner(list of case dicts) -> list of rows`` (the default, :func:`run_cases_locally`, runs
   :func:`tissuefate.course.run_course` in a loop; tests pass an analytic function);
3. :func:`analyse` — SALib's estimators: Sobol first-order S1 and total ST indices, or Morris μ*
   (mean absolute elementary effect) and σ, with bootstrap 95 % confidence intervals;
4. :func:`write_sensitivity` — ``sensitivity.json``, ``samples.csv``, a bar chart and ``report.html``.

Parameter names follow the trial's uncertain parameters:

* ``fate.<attribute>`` — a :class:`~tissuefate.fate.FateModel` attribute (``run_course(...,
  fate_overrides=...)``);
* ``hypotheses.<hypothesis>.<parameter>`` — a parameter of a registered hypothesis, its range inside
  the registry's range; the hypothesis must be on (in the preset, or listed in ``active``: nothing is
  switched on silently);
* a scenario path such as ``tissue.perfusion_mL_per_min_per_100g`` (also ``tissue.perfusion_per_s``),
  ``protocol.power_W`` or ``course.margin_mm``: a numeric field of the scenario, checked by building the
  scenario at both ends of its range. As in a trial, the patient's own fields (anatomy, grid,
  hypotheses, horizon, doubling time) are not parameters: they are set in ``[patient]``.

The outcome is a column of the trial outcomes (``scar_365_mL``, ``sessions_given``, …; one analysis
per strategy) or ``paired_difference:<column>:<A>-<B>`` (the per-sample difference A − B on the same
virtual patient, e.g. ``paired_difference:sessions_to_cr:ethanol-rfa``).

Notes
-----
Sobol indices decompose the variance of the outcome :math:`Y = f(X_1, …, X_k)` with independent
uniform inputs: :math:`S_i = V[E(Y|X_i)] / V(Y)` (first order) and
:math:`S_{Ti} = E[V(Y|X_{\sim i})] / V(Y)` (total). The Saltelli design needs :math:`N(k + 2)`
evaluations (:math:`N(2k + 2)` with second order), N a power of 2. Morris screening needs
:math:`N(k + 1)` evaluations for N trajectories; μ* ranks parameters, σ flags interactions or
non-linearity. Estimates from small N are noisy (S1 can come out slightly negative): read them with
their intervals.
"""

from __future__ import annotations

import copy
import difflib
import json
import math
import time
import tomllib
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..errors import ConfigError, NumericalError, TissuefateError
from .spec import roi_voxels

__all__ = [
    "SensitivitySpec",
    "PatientTemplate",
    "SENSITIVITY_OUTCOMES",
    "load_sensitivity",
    "sensitivity_spec_from_dict",
    "sample",
    "build_cases",
    "course_outcome_row",
    "run_cases_locally",
    "outcome_labels",
    "evaluate",
    "analyse",
    "run_sensitivity",
]

#: Numeric outcome columns of the trial outcomes a sensitivity analysis can study.
SENSITIVITY_OUTCOMES: dict[str, str] = {
    "sessions_given": "sessions given",
    "complete_response": "complete response (1 = yes)",
    "sessions_to_cr": "sessions to complete response (undefined without one)",
    "days_to_cr": "days to complete response (undefined without one)",
    "tcp_after_sessions": "tumour-control probability right after the last session",
    "tcp_horizon": "tumour-control probability at the horizon",
    "local_progression": "local progression (1 = yes)",
    "ltp_day": "day of local progression (undefined without one)",
    "min_margin_mm": "minimal ablative margin of session 1 [mm]",
    "normal_tissue_destroyed_mL": "normal tissue destroyed [mL]",
    "scar_30_mL": "scar at day 30 [mL]",
    "scar_90_mL": "scar at day 90 [mL]",
    "scar_365_mL": "scar at day 365 [mL]",
    "involution_90": "ablation-zone content at day 90 / after session 1",
    "needle_passes": "needle / applicator passes",
    "leaked_agent_mL": "leaked agent [mL]",
    "peak_clearance_g_per_day": "peak necrotic clearance [g/day]",
}
#: Scenario-path aliases with the unit in the name: path → (scenario path, fixed companion fields).
_ALIASES: dict[str, tuple[str, dict]] = {
    "tissue.perfusion_mL_per_min_per_100g": ("tissue.perfusion", {"tissue.perfusion_unit": "mL_per_min_per_100g"}),
    "tissue.perfusion_per_s": ("tissue.perfusion", {"tissue.perfusion_unit": "per_s"}),
}
_PAIRED = "paired_difference"
#: Scenario paths the patient template sets (the trial's rule, tissuefate.trial.spec): not parameters.
_OWNED = ("anatomy", "grid", "hypotheses", "modality", "name", "description", "followup", "output",
          "course.horizon_days", "course.doubling_time_days", "course.strategy")
_HOW_TO_READ = (
    "Each uncertain parameter was varied over its range (uniformly, independently) while the patient template, "
    "the strategies and the hypothesis preset stayed fixed. Sobol indices give the share of the outcome's variance "
    "due to one parameter alone (S1) and including its interactions (ST); Morris μ* is the mean absolute change of "
    "the outcome per step across the range (in the outcome's unit; a ranking, not a share) and σ its spread "
    "(interactions or non-linearity). The ± values are bootstrap 95 % confidence intervals of the estimators; small "
    "designs give wide intervals and can give slightly negative S1. A sensitive parameter is one the model's answer "
    "depends on; it says nothing about which value is right, and none of this is treatment guidance."
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class PatientTemplate(_Model):
    """The one virtual patient every sample is run on (the phantom's tumour and the numerics)."""

    tumour_type: Literal["hcc", "metastasis"] = Field("hcc", description="Histology.")
    tumour_diameter_mm: float = Field(20.0, ge=3.0, le=80.0, description="Tumour diameter [mm].")
    tumour_location: Literal["central", "near_vessel", "subcapsular"] = Field("central", description="Where it sits.")
    vessel_distance_mm: float = Field(3.0, ge=0.0, le=20.0, description="near_vessel: tumour-to-vessel gap [mm].")
    phantom_seed: int = Field(0, ge=0, description="Seed of the phantom.")
    grid_spacing_mm: float = Field(1.5, ge=0.5, le=4.0, description="Voxel size [mm].")
    roi_margin_mm: float = Field(44.0, ge=10.0, le=120.0,
                                 description="Region of interest edge = tumour diameter + this [mm].")
    horizon_days: float = Field(365.0, gt=0.0, le=3650.0, description="Follow-up horizon [days].")
    doubling_time_days: float | None = Field(None, gt=0.0, le=2000.0,
                                             description="Tumour volume-doubling time [days]; default by type.")


class SensitivitySpec(_Model):
    """A sensitivity analysis: method, design size, template patient, parameters, outcome.

    Examples
    --------
    >>> s = sensitivity_spec_from_dict({"method": "morris", "N": 4, "strategies": ["rfa"],
    ...     "outcome": "scar_90_mL", "parameters": {"fate.fibrosis_rate_per_day": [0.25, 1.0]}})
    >>> s.method, s.n_evaluations
    ('morris', 8)
    """

    name: str = Field("sensitivity", min_length=1, max_length=80, description="Name used in reports.")
    method: Literal["sobol", "morris"] = Field(description="sobol (variance-based) or morris (screening).")
    N: int = Field(ge=2, le=65536, description="Base samples: Sobol N (a power of 2), Morris trajectories.")
    seed: int = Field(0, ge=0, description="Seed of the design and of the bootstrap intervals.")
    strategies: list[str] = Field(min_length=1, description="Strategy keys (tissuefate.course.strategies.STRATEGIES).")
    preset: str = Field("literature", description="Hypothesis preset (literature or seed_claims).")
    active: list[str] = Field(default_factory=list,
                              description="Hypotheses switched on in addition to the preset's (tissuefate hypotheses).")
    outcome: str = Field(description="An outcome column, or paired_difference:<column>:<A>-<B>.")
    parameters: dict[str, tuple[float, float]] = Field(min_length=1, description="name → [low, high].")
    patient: PatientTemplate = PatientTemplate()
    strategy_settings: dict[str, dict] = Field(
        default_factory=dict,
        description="Per strategy key, scenario tables merged over the built-in strategy (e.g. a shorter protocol).")
    num_levels: int = Field(4, ge=2, le=20, description="Morris grid levels.")
    calc_second_order: bool = Field(False, description="Sobol: also second-order indices (N(2k + 2) runs).")
    num_resamples: int = Field(1000, ge=100, le=100000, description="Bootstrap resamples of the intervals.")
    fill_missing: float | None = Field(
        None, description=("Value used where the outcome is undefined for a case that ran (e.g. sessions_to_cr "
                           "without complete response); without it such samples stop the analysis."))

    @model_validator(mode="after")
    def _semantics(self):
        _check_spec(self)
        return self

    @property
    def parameter_names(self) -> list[str]:
        return list(self.parameters)

    @property
    def n_samples(self) -> int:
        k = len(self.parameters)
        if self.method == "morris":
            return self.N * (k + 1)
        return self.N * ((2 * k + 2) if self.calc_second_order else (k + 2))

    @property
    def n_evaluations(self) -> int:
        return self.n_samples * len(self.strategies)

    def problem(self) -> dict:
        """The SALib problem dict (names, bounds)."""
        return {"num_vars": len(self.parameters), "names": list(self.parameters),
                "bounds": [[float(lo), float(hi)] for lo, hi in self.parameters.values()]}


# --------------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------------
def _suggest(name: str, known) -> str:
    close = difflib.get_close_matches(str(name), list(known), n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""


def _fate_names() -> list[str]:
    from dataclasses import fields

    from ..fate import FateModel

    return [f.name for f in fields(FateModel) if f.name != "hypotheses"]


def _parse_outcome(outcome: str) -> tuple[str, str | None, str | None]:
    """(column, strategy A, strategy B) of an outcome string (A, B None for a plain column)."""
    if outcome.startswith(_PAIRED + ":"):
        parts = outcome.split(":")
        if len(parts) != 3 or parts[2].count("-") != 1:
            raise ValueError(f"outcome = {outcome!r}: write paired_difference:<column>:<A>-<B>, e.g. "
                             "'paired_difference:sessions_to_cr:ethanol-rfa'")
        a, b = parts[2].split("-")
        return parts[1], a, b
    return outcome, None, None


def _scenario_field(path: str):
    """The annotation of a dotted scenario path, or raise ValueError naming the first unknown part."""
    from pydantic import BaseModel as _BM

    from ..config.scenario import Scenario

    model = Scenario
    parts = path.split(".")
    ann = None
    for i, p in enumerate(parts):
        if model is None:
            raise ValueError(f"{'.'.join(parts[:i])} is not a table")
        fields_ = model.model_fields
        if p not in fields_:
            raise ValueError(f"unknown scenario field {'.'.join(parts[:i + 1])!r} (known in "
                             f"{'.'.join(parts[:i]) or 'the scenario'}: {', '.join(fields_)})."
                             f"{_suggest(p, fields_)}")
        ann = fields_[p].annotation
        model = None
        for a in (ann, *typing.get_args(ann)):
            if isinstance(a, type) and issubclass(a, _BM):
                model = a
                break
    return ann


def _numeric(ann) -> type | None:
    for a in (ann, *typing.get_args(ann)):
        if a is int:
            return int
        if a is float:
            return float
    return None


def _check_spec(spec: SensitivitySpec) -> None:
    from ..course.strategies import STRATEGIES as DEMO_STRATEGIES
    from ..hypotheses import PRESETS, REGISTRY

    if spec.method == "sobol" and spec.N & (spec.N - 1):
        lo = 1 << (spec.N.bit_length() - 1)
        raise ValueError(f"N = {spec.N}: the Sobol design needs a power of 2 (e.g. {lo} or {lo * 2})")
    for s in spec.strategies:
        if s not in DEMO_STRATEGIES:
            raise ValueError(f"strategies: unknown strategy {s!r}; known: {', '.join(DEMO_STRATEGIES)}."
                             f"{_suggest(s, DEMO_STRATEGIES)}")
    if len(set(spec.strategies)) != len(spec.strategies):
        raise ValueError(f"strategies = {spec.strategies}: each strategy once")
    for s in spec.strategy_settings:
        if s not in spec.strategies:
            raise ValueError(f"strategy_settings.{s}: not one of strategies = {spec.strategies}")
    if spec.preset not in PRESETS:
        raise ValueError(f"preset = {spec.preset!r}: unknown; known: {', '.join(PRESETS)}."
                         f"{_suggest(spec.preset, PRESETS)}")
    for h in spec.active:
        if h not in REGISTRY:
            raise ValueError(f"active: unknown hypothesis {h!r}; known: {', '.join(REGISTRY)}.{_suggest(h, REGISTRY)}")
    col, a, b = _parse_outcome(spec.outcome)
    if col not in SENSITIVITY_OUTCOMES:
        raise ValueError(f"outcome = {spec.outcome!r}: unknown column {col!r}; known: "
                         f"{', '.join(SENSITIVITY_OUTCOMES)}.{_suggest(col, SENSITIVITY_OUTCOMES)}")
    if a is not None:
        for x in (a, b):
            if x not in spec.strategies:
                raise ValueError(f"outcome = {spec.outcome!r}: strategy {x!r} is not in strategies = {spec.strategies}")
        if a == b:
            raise ValueError(f"outcome = {spec.outcome!r}: compare two different strategies")
    fate = _fate_names()
    for name, (lo, hi) in spec.parameters.items():
        field = f"parameters.{name}"
        if not (math.isfinite(lo) and math.isfinite(hi)) or lo >= hi:
            raise ValueError(f"{field} = [{lo:g}, {hi:g}]: low must be < high (both finite)")
        kind, _, rest = name.partition(".")
        if kind == "fate":
            if rest not in fate:
                raise ValueError(f"{field}: unknown FateModel attribute {rest!r}; known: {', '.join(fate)}."
                                 f"{_suggest(rest, fate)}")
            _check_fate(field, rest, lo, hi)
        elif kind == "hypotheses":
            hname, _, pname = rest.partition(".")
            if hname not in REGISTRY:
                raise ValueError(f"{field}: unknown hypothesis {hname!r}; known: {', '.join(REGISTRY)}."
                                 f"{_suggest(hname, REGISTRY)}")
            h = REGISTRY[hname]
            if pname not in h.parameter_names:
                raise ValueError(f"{field}: hypothesis {hname} has no parameter {pname!r}; its parameters: "
                                 f"{', '.join(h.parameter_names) or '(none)'}.{_suggest(pname, h.parameter_names)}")
            if hname not in PRESETS[spec.preset] and hname not in spec.active:
                raise ValueError(f"{field}: hypothesis {hname} is not on under preset {spec.preset!r}; add it to "
                                 f"active = [{hname!r}] or choose a preset that holds it")
            p = h.parameter(pname)
            if lo < p.low or hi > p.high:
                raise ValueError(f"{field} = [{lo:g}, {hi:g}] {p.unit}: must lie within the hypothesis's range "
                                 f"{p.range_str}")
        else:
            path = _ALIASES.get(name, (name, {}))[0]
            if "." not in path or path.split(".")[0] in _OWNED or path in _OWNED:
                raise ValueError(f"{field}: the patient template sets {path.split('.')[0]!r} (use [patient]); "
                                 "parameters are fate.<attribute>, hypotheses.<hypothesis>.<parameter> or a "
                                 "scenario path such as tissue.perfusion_mL_per_min_per_100g")
            try:
                ann = _scenario_field(path)
            except ValueError as err:
                raise ValueError(f"{field}: not a fate.<attribute>, hypotheses.<name>.<parameter> or scenario "
                                 f"path: {err}") from None
            if _numeric(ann) is None:
                raise ValueError(f"{field}: scenario field {path!r} is not numeric")
    # every strategy's scenario builds at both ends of every scenario-path range
    for s in spec.strategies:
        for name in spec.parameters:
            if name.split(".")[0] in ("fate", "hypotheses"):
                continue
            for v in spec.parameters[name]:
                try:
                    _scenario(spec, s, {name: v})
                except ConfigError as err:
                    raise ValueError(f"parameters.{name} = {v:g} (strategy {s}): the scenario is invalid: {err}") \
                        from None
    for s in spec.strategies:
        try:
            _scenario(spec, s, {})
        except ConfigError as err:
            raise ValueError(f"patient / strategy_settings.{s}: the scenario is invalid: {err}") from None


def _check_fate(field: str, attr: str, lo: float, hi: float) -> None:
    from ..fate import FateModel

    for v in (lo, hi):
        try:
            FateModel.from_properties(**{attr: float(v)})
        except ConfigError as err:
            raise ValueError(f"{field} = [{lo:g}, {hi:g}]: {v:g} is not allowed: {err}") from None


def sensitivity_spec_from_dict(data: Mapping, source: str = "") -> SensitivitySpec:
    """Validate a sensitivity specification; raise :class:`~tissuefate.errors.ConfigError` naming the field."""
    from ..config.scenario import format_validation_error

    try:
        return SensitivitySpec.model_validate(dict(data))
    except ValidationError as err:
        raise ConfigError(format_validation_error(err, source, SensitivitySpec)) from None


def load_sensitivity(path) -> SensitivitySpec:
    """Read and validate a sensitivity TOML file (examples/sensitivity_small.toml)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"sensitivity file {str(p)!r} does not exist")
    try:
        data = tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{p}: not valid TOML: {err}") from None
    return sensitivity_spec_from_dict(data, str(p))


def _as_spec(spec) -> SensitivitySpec:
    if isinstance(spec, SensitivitySpec):
        return spec
    if isinstance(spec, Mapping):
        return sensitivity_spec_from_dict(spec)
    return load_sensitivity(spec)


# --------------------------------------------------------------------------------------------------
# Design and cases
# --------------------------------------------------------------------------------------------------
def sample(spec) -> np.ndarray:
    """The SALib design of ``spec``: shape (:attr:`SensitivitySpec.n_samples`, number of parameters).

    Sobol: ``SALib.sample.sobol.sample`` (scrambled Sobol' sequence, Saltelli's scheme); Morris:
    ``SALib.sample.morris.sample`` (``num_levels`` levels). Both are seeded with ``spec.seed``.
    Integer scenario fields are rounded when the cases are built, not here.
    """
    spec = _as_spec(spec)
    problem = spec.problem()
    if spec.method == "sobol":
        from SALib.sample import sobol

        return sobol.sample(problem, spec.N, calc_second_order=spec.calc_second_order, seed=spec.seed)
    from SALib.sample import morris

    return morris.sample(problem, spec.N, num_levels=spec.num_levels, seed=spec.seed)


def _deep_merge(a: dict, b: Mapping) -> dict:
    out = copy.deepcopy(a)
    for k, v in b.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def _set_path(d: dict, path: str, value) -> None:
    parts = path.split(".")
    for p in parts[:-1]:
        d = d.setdefault(p, {})
        if d is None:
            raise ConfigError(f"{path}: {p} is not a table")
    d[parts[-1]] = value


def _strategy_data(spec: SensitivitySpec, key: str) -> dict:
    from ..course.strategies import PRESET_EXTRAS as DEMO_PRESETS
    from ..course.strategies import STRATEGIES as DEMO_STRATEGIES

    base = _deep_merge(DEMO_STRATEGIES[key], spec.strategy_settings.get(key, {}))
    label = base.pop("strategy")
    pt = spec.patient
    n = roi_voxels(pt.tumour_diameter_mm, pt.roi_margin_mm, pt.grid_spacing_mm)
    anat = {"kind": "phantom", "seed": pt.phantom_seed, "tumour_type": pt.tumour_type,
            "tumour_diameter_mm": pt.tumour_diameter_mm, "tumour_location": pt.tumour_location}
    if pt.tumour_location == "near_vessel":
        anat["vessel_distance_mm"] = pt.vessel_distance_mm
    hyp: dict = {"preset": spec.preset}
    active = list(spec.active)
    if base.get("injection", {}).get("agent") == "oxidant":  # an oxidant run must name its delivery model
        active += [h for h in DEMO_PRESETS.get(spec.preset, {}).get("oxidant_active", []) if h not in active]
    if active:
        hyp["active"] = active
    course = {**base.get("course", {}), "strategy": label, "horizon_days": pt.horizon_days}
    if pt.doubling_time_days is not None:
        course["doubling_time_days"] = pt.doubling_time_days
    base.update(name=f"{spec.name}: {label}"[:80], anatomy=anat, hypotheses=hyp, course=course,
                grid={"spacing_mm": pt.grid_spacing_mm, "roi_shape": [n, n, n]})
    return base


def _apply(spec: SensitivitySpec, data: dict, params: Mapping[str, float]) -> tuple[dict, dict]:
    """Put ``params`` into the scenario ``data`` (in place); return (data, fate overrides)."""
    fate: dict[str, float] = {}
    for name, v in params.items():
        kind, _, rest = name.partition(".")
        if kind == "fate":
            fate[rest] = float(v)
        elif kind == "hypotheses":
            hname, _, pname = rest.partition(".")
            hyp = data.setdefault("hypotheses", {})
            hyp.setdefault("parameters", {}).setdefault(hname, {})[pname] = float(v)
        else:
            path, fixed = _ALIASES.get(name, (name, {}))
            for fp, fv in fixed.items():
                _set_path(data, fp, fv)
            ann = _numeric(_scenario_field(path))
            _set_path(data, path, int(round(v)) if ann is int else float(v))
    return data, fate


def _scenario(spec: SensitivitySpec, key: str, params: Mapping[str, float]):
    from ..config.scenario import scenario_from_dict

    data, _ = _apply(spec, _strategy_data(spec, key), params)
    return scenario_from_dict(data, f"sensitivity {key}")


def build_cases(spec, X: np.ndarray) -> list[dict]:
    """One case per row of ``X`` and strategy (plain, picklable data).

    Returns
    -------
    list of dict
        ``case_id`` (``s00012-rfa``), ``sample`` (row of ``X``), ``strategy``, ``preset``, ``params``
        (name → value), ``scenario`` (a scenario dict for :func:`tissuefate.config.scenario.scenario_from_dict`),
        ``fate_overrides`` (for :func:`tissuefate.course.run_course`).
    """
    spec = _as_spec(spec)
    X = np.atleast_2d(np.asarray(X, float))
    names = spec.parameter_names
    if X.shape[1] != len(names):
        raise ConfigError(f"X has {X.shape[1]} columns; the spec has {len(names)} parameters ({', '.join(names)})")
    templates = {s: _strategy_data(spec, s) for s in spec.strategies}
    cases = []
    width = max(5, len(str(len(X))))
    for i, x in enumerate(X):
        params = {n: float(v) for n, v in zip(names, x, strict=True)}
        for s in spec.strategies:
            data, fate = _apply(spec, copy.deepcopy(templates[s]), params)
            cases.append({"case_id": f"s{i:0{width}d}-{s}", "sample": i, "strategy": s, "preset": spec.preset,
                          "params": params, "scenario": data, "fate_overrides": fate})
    return cases


def course_outcome_row(metrics: Mapping) -> dict:
    """The outcome columns of a course's ``metrics``: the trial's (:func:`tissuefate.trial.run.outcome_row`)
    plus the active hypotheses, the agent and the simulation time."""
    from .run import outcome_row

    row = outcome_row(dict(metrics))
    wall = metrics.get("wall_time_s")
    row.update(hypotheses=json.dumps(list(metrics.get("hypotheses") or [])), agent=metrics.get("agent"),
               wall_time_s=float("nan") if wall is None else float(wall))
    return row


def run_cases_locally(cases: Sequence[Mapping], progress: Callable | None = None) -> list[dict]:
    """Run ``cases`` one after the other with :func:`tissuefate.course.run_course` (no Dask).

    A case whose scenario is invalid or whose course fails with a tissuefate error gets a row with
    ``error`` set and no outcomes; anything else is a bug and propagates.
    """
    from ..config.scenario import scenario_from_dict
    from ..course import run_course

    rows = []
    for i, c in enumerate(cases):
        if progress:
            progress(i / max(len(cases), 1), f"case {i + 1}/{len(cases)} ({c['case_id']})")
        row = {"case_id": c["case_id"], "strategy": c["strategy"], "error": ""}
        try:
            scn = scenario_from_dict(c["scenario"], c["case_id"])
            res = run_course(scn, keep_fields=False, fate_overrides=dict(c.get("fate_overrides") or {}) or None)
            row.update(course_outcome_row(res.metrics))
        except (TissuefateError, FloatingPointError, np.linalg.LinAlgError) as err:
            row["error"] = f"{type(err).__name__}: {err}"
        rows.append(row)
    if progress:
        progress(1.0, "cases done")
    return rows


# --------------------------------------------------------------------------------------------------
# Evaluation and analysis
# --------------------------------------------------------------------------------------------------
def outcome_labels(spec) -> list[str]:
    """Names of the analysed outcomes: one per strategy for a column, one for a paired difference."""
    spec = _as_spec(spec)
    col, a, b = _parse_outcome(spec.outcome)
    if a is not None:
        return [f"{col}: {a} − {b} (paired)"]
    return [f"{col} [{s}]" for s in spec.strategies]


def evaluate(spec, X: np.ndarray, runner: Callable | None = None, *, progress: Callable | None = None,
             return_rows: bool = False):
    """Run every case of ``X`` with ``runner`` and collect the outcome.

    Parameters
    ----------
    spec : SensitivitySpec, mapping or path
    X : ndarray
        :func:`sample` output.
    runner : callable(list of case dict) -> list of row dict, optional
        Each row holds ``case_id``, the outcome column and optionally ``error`` (non-empty: the case
        failed). Default: :func:`run_cases_locally`.
    progress : callable(fraction, message), optional
        Passed to the default runner.
    return_rows : bool
        Also return the rows.

    Returns
    -------
    Y : ndarray, shape (len(X), number of outcomes)
        NaN where a case failed or its outcome is undefined (``fill_missing`` replaces the latter).
    rows : list of dict
        Only with ``return_rows``.
    """
    spec = _as_spec(spec)
    cases = build_cases(spec, X)
    if runner is None:
        rows = run_cases_locally(cases, progress=progress)
    else:
        rows = list(runner(cases))
    by_id = {str(r.get("case_id")): r for r in rows}
    missing = [c["case_id"] for c in cases if c["case_id"] not in by_id]
    if missing:
        raise TissuefateError(f"the runner returned no row for {len(missing)} case(s), e.g. {missing[0]!r}")
    col, a, b = _parse_outcome(spec.outcome)
    n = len(np.atleast_2d(X))
    ids = {(c["sample"], c["strategy"]): c["case_id"] for c in cases}

    def value(i: int, s: str) -> float:
        r = by_id[ids[(i, s)]]
        if r.get("error"):
            return float("nan")
        v = r.get(col)
        v = float("nan") if v is None else float(v)
        if not math.isfinite(v) and spec.fill_missing is not None:
            v = float(spec.fill_missing)
        return v

    if a is not None:
        Y = np.array([[value(i, a) - value(i, b)] for i in range(n)], float)
    else:
        Y = np.array([[value(i, s) for s in spec.strategies] for i in range(n)], float)
    return (Y, rows) if return_rows else Y


def analyse(spec, X: np.ndarray, Y: np.ndarray) -> dict:
    """Sensitivity indices of each outcome column of ``Y`` (JSON-serialisable).

    Sobol: ``SALib.analyze.sobol.analyze`` — S1, ST (and S2) with bootstrap 95 % confidence half-widths
    (``*_conf``). Morris: ``SALib.analyze.morris.analyze`` — μ, μ*, σ and the bootstrap 95 %
    half-width of μ* (``mu_star_conf``). An outcome with any missing value or no variance is not
    analysed; its entry says why.
    """
    spec = _as_spec(spec)
    X = np.atleast_2d(np.asarray(X, float))
    Y = np.asarray(Y, float)
    if Y.ndim == 1:
        Y = Y[:, None]
    labels = outcome_labels(spec)
    if Y.shape != (X.shape[0], len(labels)):
        raise ConfigError(f"Y has shape {Y.shape}; expected ({X.shape[0]}, {len(labels)}) for outcomes {labels}")
    problem = spec.problem()
    names = problem["names"]
    out: dict = {}
    for j, label in enumerate(labels):
        y = Y[:, j]
        rec: dict = {"n": int(y.size), "n_valid": int(np.isfinite(y).sum()), "indices": None, "not_analysed": None}
        if rec["n_valid"] < y.size:
            rec["not_analysed"] = (f"{y.size - rec['n_valid']} of {y.size} evaluations have no value (a failed case, "
                                   "or the outcome is undefined there: set fill_missing or choose another outcome)")
        elif float(np.ptp(y)) == 0.0:
            rec["not_analysed"] = f"the outcome is constant ({y[0]:g}) over every sample: no sensitivity to estimate"
        if rec["not_analysed"]:
            rec["method"] = "not analysed"
            out[label] = rec
            continue
        rec["mean"] = float(np.mean(y))
        rec["std"] = float(np.std(y, ddof=1))
        if spec.method == "sobol":
            from SALib.analyze import sobol

            r = sobol.analyze(problem, y, calc_second_order=spec.calc_second_order,
                              num_resamples=spec.num_resamples, conf_level=0.95, seed=spec.seed)
            ind = {n: {"S1": r["S1"][i], "S1_conf": r["S1_conf"][i], "ST": r["ST"][i], "ST_conf": r["ST_conf"][i]}
                   for i, n in enumerate(names)}
            if spec.calc_second_order:
                for i, n in enumerate(names):
                    ind[n]["S2"] = {m: r["S2"][i][k] for k, m in enumerate(names) if k != i}
                    ind[n]["S2_conf"] = {m: r["S2_conf"][i][k] for k, m in enumerate(names) if k != i}
            rec["method"] = (f"Sobol indices (SALib.analyze.sobol, Saltelli design, N = {spec.N}); ± bootstrap 95 % "
                             f"confidence ({spec.num_resamples} resamples)")
        else:
            from SALib.analyze import morris

            r = morris.analyze(problem, X, y, num_resamples=spec.num_resamples, conf_level=0.95,
                               num_levels=spec.num_levels, seed=spec.seed)
            ind = {n: {"mu": r["mu"][i], "mu_star": r["mu_star"][i], "sigma": r["sigma"][i],
                       "mu_star_conf": r["mu_star_conf"][i]} for i, n in enumerate(names)}
            rec["method"] = (f"Morris elementary effects (SALib.analyze.morris, {spec.N} trajectories, "
                             f"{spec.num_levels} levels); μ* ± bootstrap 95 % confidence ({spec.num_resamples} "
                             "resamples)")
        rec["indices"] = ind
        out[label] = rec
    from ..course.strategies import STRATEGIES as DEMO_STRATEGIES

    hypothetical = any(DEMO_STRATEGIES[s].get("injection", {}).get("agent") == "oxidant" for s in spec.strategies)
    hyp_params = [n for n in names if n.startswith("hypotheses.")]
    result = {
        "name": spec.name, "method": spec.method, "N": spec.N, "seed": spec.seed,
        "n_samples": int(X.shape[0]), "n_evaluations": int(X.shape[0] * len(spec.strategies)),
        "parameters": {n: [float(lo), float(hi)] for n, (lo, hi) in spec.parameters.items()},
        "outcome": spec.outcome, "outcome_meaning": SENSITIVITY_OUTCOMES[_parse_outcome(spec.outcome)[0]],
        "strategies": list(spec.strategies), "preset": spec.preset,
        "patient": spec.patient.model_dump(), "strategy_settings": spec.strategy_settings,
        "hypothetical": "oxidant" if hypothetical else ("hypotheses" if hyp_params else ""),
        "hypotheses_varied": hyp_params,
        "confidence_level": 0.95, "outcomes": out, "how_to_read": _HOW_TO_READ,
        "disclaimer": "Research software, not a medical device. No treatment guidance.",
    }
    from .stats import _clean

    return _clean(result)


# --------------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------------
def run_sensitivity(spec, out_dir, *, runner: Callable | None = None, progress: Callable | None = None,
                    writer: Callable | None = None) -> dict:
    """Sample, run, analyse and write a sensitivity analysis.

    Parameters
    ----------
    spec : SensitivitySpec, mapping or path of a TOML file
    out_dir : path-like
        Folder for ``writer``'s files.
    runner : callable(list of case dict) -> list of row dict, optional
        None: :func:`run_cases_locally` (one course after the other on this machine).
    progress : callable(fraction, message), optional
    writer : callable(result, out_dir, *, X, Y, spec) -> dict of name → Path, optional
        Writes the files (:func:`tissuefate.io.trial_output.write_sensitivity`, which
        :func:`tissuefate.api.run_sensitivity` and the CLI pass); None writes nothing (the layers
        above ``trial`` — io, viz — are not imported from here).

    Returns
    -------
    dict
        :func:`analyse` output plus ``wall_time_s``, ``n_failed`` (cases with an error) and ``files``
        (name → path as str).
    """
    spec = _as_spec(spec)
    t0 = time.perf_counter()
    X = sample(spec)
    if progress:
        progress(0.0, f"{spec.method}: {len(X)} samples × {len(spec.strategies)} strategies")
    Y, rows = evaluate(spec, X, runner, progress=progress, return_rows=True)
    result = analyse(spec, X, Y)
    result["n_failed"] = int(sum(1 for r in rows if r.get("error")))
    result["failures"] = [{"case_id": r["case_id"], "error": str(r["error"])} for r in rows if r.get("error")][:20]
    result["wall_time_s"] = round(time.perf_counter() - t0, 2)
    def write() -> dict:
        return {} if writer is None else dict(writer(result, out_dir, X=X, Y=Y, spec=spec) or {})

    if result["n_failed"] and all(o.get("indices") is None for o in result["outcomes"].values()):
        first = result["failures"][0]
        paths = write()
        where = f" (files written to {paths['json'].parent})" if "json" in paths else ""
        raise NumericalError(f"sensitivity {spec.name!r}: {result['n_failed']} case(s) failed, e.g. "
                             f"{first['case_id']}: {first['error']}; no outcome could be analysed{where}")
    result["files"] = {k: str(v) for k, v in write().items()}
    return result
