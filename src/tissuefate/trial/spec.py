"""Trial files: a cohort of virtual patients, the strategies and presets every patient receives.

A trial file (TOML, docs/trials.md "Trial files") is validated here, at the boundary, into a
:class:`TrialSpec`. Every sampled quantity is a :data:`Distribution` — a tagged union of
:class:`Fixed`, :class:`Uniform`, :class:`Normal`, :class:`LogNormal` and :class:`Choice` — and every
draw consumes exactly one uniform number of the patient's stream (inverse-CDF sampling), so that a
patient's values never depend on which distribution another quantity uses.

Defaults with sources (``shared/data/literature.md`` §8; tags as there):

- HCC volume-doubling time: lognormal fitted to the quartiles of Tu et al. 2024 (median 163.4 d,
  IQR 72.1–302.3 d [V]): median √(72.1·302.3) = 147.6 d, σ = ln(302.3/72.1)/(2·0.6745) = 1.062 [C];
  it puts 32 % of tumours below 3 months and 28 % above 9 months (Nathani 2021, pooled 4.6 months:
  35 % and 37.6 % [V]) and Barbara 1992's median 171.6 d [V] at the 56th percentile.
- Colorectal-metastasis doubling time: lognormal, median 71.4 d (PMID 30957066, mean without
  chemotherapy [V], used as the median) with σ = 0.5 [E] (IQR 51–100 d; Finlay 1988's occult
  86 ± 12 d and overt 155 ± 34 d [V] lie inside its central 90 %).
- Both truncated to 20–2000 d: 2000 d is the model's upper limit
  (``course.doubling_time_days``); 20 d is below the fastest HCC of Barbara 1992 (27 d) [E].
- Tumour mix, diameters, locations and vessel distances: illustrative [E], not epidemiology — set
  them for the population you study.

Examples
--------
>>> spec = trial_from_dict({"n_patients": 3, "strategies": ["rfa"], "grid": {"spacing_mm": 2.0}})
>>> spec.presets, spec.strategies[0].key, len(spec.fingerprint())
(['literature'], 'rfa', 64)
>>> trial_from_dict({"n_patients": 3, "strategies": ["laser"]})  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
tissuefate.errors.ConfigError: strategies[0] = 'laser': unknown strategy; known: rfa, rfa_margin, mwa, ...
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import math
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator
from scipy.special import ndtr, ndtri

from ..errors import ConfigError

__all__ = [
    "TrialSpec",
    "roi_voxels",
    "TumourSpec",
    "GridSpec",
    "StrategySpec",
    "DoublingTimes",
    "Fixed",
    "Uniform",
    "Normal",
    "LogNormal",
    "Choice",
    "Distribution",
    "load_trial",
    "trial_from_dict",
    "TUMOUR_TYPES",
    "TUMOUR_LOCATIONS",
    "MAX_TUMOURS",
    "ROI_MARGIN_MM",
    "DOUBLING_TIME_DEFAULTS",
]

#: Tumour types and locations in the fixed order in which categorical draws map a uniform number.
TUMOUR_TYPES = ("hcc", "metastasis")
TUMOUR_LOCATIONS = ("central", "near_vessel", "subcapsular")
#: Most tumours per patient; every patient's stream draws values for this many tumour slots, so that
#: tumour k's values do not depend on the count distribution.
MAX_TUMOURS = 5
#: The region of interest spans the tumour diameter plus this [mm] (as the demo's full-size grids).
ROI_MARGIN_MM = 44.0
#: Allowed ranges [low, high] of the sampled tumour quantities (those of the scenario file).
DIAMETER_RANGE_MM = (3.0, 80.0)
VESSEL_DISTANCE_RANGE_MM = (0.0, 20.0)
DOUBLING_TIME_RANGE_DAYS = (1.0, 2000.0)

#: Default volume-doubling-time distributions per tumour type (module docstring for the sources).
DOUBLING_TIME_DEFAULTS = {
    # Tu et al., World J Hepatol 2024 quartiles 72.1 / 302.3 d [V] → lognormal [C]
    "hcc": {"dist": "lognormal", "median": 147.6, "sigma": 1.062, "low": 20.0, "high": 2000.0},
    # PMID 30957066: 71.4 d [V]; spread σ = 0.5 [E]
    "metastasis": {"dist": "lognormal", "median": 71.4, "sigma": 0.5, "low": 20.0, "high": 2000.0},
}

_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


# --------------------------------------------------------------------------------------------------
# Distributions
# --------------------------------------------------------------------------------------------------
class _Dist(_Model):
    def support(self, lo: float = -math.inf, hi: float = math.inf) -> tuple[float, float]:
        """Smallest and largest value a draw can take, given the field's range ``[lo, hi]``."""
        raise NotImplementedError

    def sample(self, u: float, lo: float = -math.inf, hi: float = math.inf) -> float:
        """The value at quantile ``u`` ∈ [0, 1) (inverse CDF; truncated to ``[lo, hi]``)."""
        raise NotImplementedError

    def check(self, field: str, lo: float, hi: float, unit: str) -> None:
        """Raise ConfigError unless every draw lies in the field's range ``[lo, hi]``."""
        raise NotImplementedError

    def centre(self, lo: float = -math.inf, hi: float = math.inf) -> float:
        """A typical value (median of the distribution, inside the range)."""
        return float(self.sample(0.5, lo, hi))


def _rng(lo: float, hi: float, unit: str) -> str:
    u = f" {unit}" if unit and unit != "1" else ""
    if math.isinf(hi):
        return f">= {lo:g}{u}"
    if math.isinf(lo):
        return f"<= {hi:g}{u}"
    return f"in [{lo:g}, {hi:g}]{u}"


def _need_in(field: str, name: str, v: float, lo: float, hi: float, unit: str) -> None:
    if not (lo <= v <= hi):
        u = f" {unit}" if unit and unit != "1" else ""
        raise ConfigError(f"{field}.{name} = {v:g}{u}: must be {_rng(lo, hi, unit)}")


class Fixed(_Dist):
    """Every patient gets ``value``. A bare number in the file means the same."""

    dist: Literal["fixed"] = "fixed"
    value: float = Field(description="The value.")

    def support(self, lo=-math.inf, hi=math.inf):
        return (self.value, self.value)

    def sample(self, u, lo=-math.inf, hi=math.inf):
        return float(self.value)

    def check(self, field, lo, hi, unit):
        if not (lo <= self.value <= hi):
            u = f" {unit}" if unit and unit != "1" else ""
            raise ConfigError(f"{field} = {self.value:g}{u}: must be {_rng(lo, hi, unit)}")


class Uniform(_Dist):
    """Uniform on ``[low, high]``."""

    dist: Literal["uniform"] = "uniform"
    low: float = Field(description="Lower end.")
    high: float = Field(description="Upper end (>= low).")

    @model_validator(mode="after")
    def _order(self):
        if self.low > self.high:
            raise ValueError(f"low = {self.low:g} > high = {self.high:g}: low must be <= high")
        return self

    def support(self, lo=-math.inf, hi=math.inf):
        return (self.low, self.high)

    def sample(self, u, lo=-math.inf, hi=math.inf):
        return float(self.low + u * (self.high - self.low))

    def check(self, field, lo, hi, unit):
        _need_in(field, "low", self.low, lo, hi, unit)
        _need_in(field, "high", self.high, lo, hi, unit)


class _Truncated(_Dist):
    low: float | None = Field(None, description="Truncation below (default: the field's lower limit).")
    high: float | None = Field(None, description="Truncation above (default: the field's upper limit).")

    def _bounds(self, lo, hi) -> tuple[float, float]:
        a = lo if self.low is None else self.low
        b = hi if self.high is None else self.high
        return a, b

    def _z(self, x: float) -> float:  # standardised variable of x
        raise NotImplementedError

    def _x(self, z: float) -> float:
        raise NotImplementedError

    def support(self, lo=-math.inf, hi=math.inf):
        return self._bounds(lo, hi)

    def sample(self, u, lo=-math.inf, hi=math.inf):
        a, b = self._bounds(lo, hi)
        fa, fb = float(ndtr(self._z(a))), float(ndtr(self._z(b)))
        x = self._x(float(ndtri(min(max(fa + u * (fb - fa), 1e-300), 1.0 - 1e-16))))
        return float(min(max(x, a), b))

    def check(self, field, lo, hi, unit):
        if self.low is not None:
            _need_in(field, "low", self.low, lo, hi, unit)
        if self.high is not None:
            _need_in(field, "high", self.high, lo, hi, unit)
        a, b = self._bounds(lo, hi)
        if a >= b:
            raise ConfigError(f"{field}: low = {a:g} must be < high = {b:g}")
        c = self._centre_param()
        if not (a <= c <= b):
            raise ConfigError(f"{field}.{self._centre_name} = {c:g}: must lie within the bounds [{a:g}, {b:g}] "
                              f"(the field must be {_rng(lo, hi, unit)})")


class Normal(_Truncated):
    """Normal with ``mean`` and ``sd``, truncated at ``low`` / ``high`` (default: the field's range)."""

    dist: Literal["normal"] = "normal"
    mean: float = Field(description="Mean (before truncation).")
    sd: float = Field(gt=0.0, description="Standard deviation (> 0).")
    _centre_name: ClassVar[str] = "mean"

    def _centre_param(self):
        return self.mean

    def _z(self, x):
        return -math.inf if x == -math.inf else (math.inf if x == math.inf else (x - self.mean) / self.sd)

    def _x(self, z):
        return self.mean + self.sd * z


class LogNormal(_Truncated):
    """Lognormal with ``median`` and log-space ``sigma``, truncated at ``low`` / ``high``."""

    dist: Literal["lognormal"] = "lognormal"
    median: float = Field(gt=0.0, description="Median (> 0).")
    sigma: float = Field(gt=0.0, description="Standard deviation of the logarithm (> 0).")
    _centre_name: ClassVar[str] = "median"

    def _centre_param(self):
        return self.median

    def _bounds(self, lo, hi):
        a, b = super()._bounds(lo, hi)
        return max(a, 0.0), b

    def _z(self, x):
        if x <= 0.0:
            return -math.inf
        return math.inf if x == math.inf else math.log(x / self.median) / self.sigma

    def _x(self, z):
        return self.median * math.exp(self.sigma * z)


class Choice(_Dist):
    """One of ``values`` with ``probabilities`` (default: equal)."""

    dist: Literal["choice"] = "choice"
    values: list[float] = Field(min_length=1, max_length=100, description="The possible values.")
    probabilities: list[float] | None = Field(None, description="Probability of each value (sum 1).")

    @model_validator(mode="after")
    def _probs(self):
        p = self.probabilities
        if p is None:
            return self
        if len(p) != len(self.values):
            raise ValueError(f"probabilities has {len(p)} entries, values has {len(self.values)}: give one "
                             "probability per value")
        _check_probabilities(dict(enumerate(p)), "probabilities")
        return self

    def _p(self) -> np.ndarray:
        n = len(self.values)
        return np.full(n, 1.0 / n) if self.probabilities is None else np.asarray(self.probabilities, float)

    def support(self, lo=-math.inf, hi=math.inf):
        v = [x for x, p in zip(self.values, self._p(), strict=True) if p > 0]
        return (min(v), max(v))

    def sample(self, u, lo=-math.inf, hi=math.inf):
        return float(self.values[_categorical_index(self._p(), u)])

    def check(self, field, lo, hi, unit):
        for i, v in enumerate(self.values):
            _need_in(field, f"values[{i}]", v, lo, hi, unit)


def _number_to_fixed(v):
    if isinstance(v, bool):
        raise ValueError(f"{v!r} is not a number or a distribution table")
    if isinstance(v, (int, float)):
        return {"dist": "fixed", "value": v}
    return v


#: A distribution in a trial file: a number (fixed) or a table with ``dist`` = fixed | uniform |
#: normal | lognormal | choice.
Distribution = Annotated[
    Fixed | Uniform | Normal | LogNormal | Choice,
    Field(discriminator="dist"),
    BeforeValidator(_number_to_fixed),
]


def _categorical_index(p: np.ndarray, u: float) -> int:
    cum = np.cumsum(p)
    cum[-1] = 1.0  # the draw u < 1 always lands in a category despite round-off
    return int(min(np.searchsorted(cum, u, side="right"), len(p) - 1))


def _check_probabilities(probs: dict, field: str) -> None:
    for k, v in probs.items():
        if not (0.0 <= v <= 1.0) or not math.isfinite(v):
            raise ValueError(f"{field}{f'[{k}]' if isinstance(k, int) else f'.{k}'} = {v:g}: a probability must be "
                             "in [0, 1]")
    s = sum(probs.values())
    if abs(s - 1.0) > 1e-6:
        raise ValueError(f"{field}: probabilities sum to {s:g}; they must sum to 1")


def _probability_table(allowed: tuple[str, ...], what: str, field: str):
    def check(v: dict) -> dict:
        unknown = [k for k in v if k not in allowed]
        if unknown:
            raise ValueError(f"{field}.{unknown[0]}: unknown {what}; allowed: {', '.join(allowed)}")
        for k, p in v.items():
            if isinstance(p, bool) or not isinstance(p, (int, float)):
                raise ValueError(f"{field}.{k} = {p!r}: a probability must be a number in [0, 1]")
        _check_probabilities({k: float(p) for k, p in v.items()}, field)
        return {k: float(v.get(k, 0.0)) for k in allowed if v.get(k, 0.0) > 0}

    return check


# --------------------------------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------------------------------
class DoublingTimes(_Model):
    """Volume-doubling time of surviving tumour per type [days] (defaults: literature §8)."""

    hcc: Distribution = Field(default_factory=lambda: LogNormal(**{k: v for k, v in DOUBLING_TIME_DEFAULTS[
        "hcc"].items() if k != "dist"}), description="HCC; default lognormal median 147.6 d, sigma 1.062 "
                                                      "(Tu 2024 quartiles [V]), truncated to 20-2000 d.")
    metastasis: Distribution = Field(default_factory=lambda: LogNormal(**{k: v for k, v in DOUBLING_TIME_DEFAULTS[
        "metastasis"].items() if k != "dist"}), description="Colorectal metastasis; default lognormal median "
                                                             "71.4 d (PMID 30957066 [V]), sigma 0.5 [E], 20-2000 d.")

    @field_validator("hcc", "metastasis")
    @classmethod
    def _range(cls, v, info):
        v.check(info.field_name, *DOUBLING_TIME_RANGE_DAYS, "days")
        return v


class TumourSpec(_Model):
    """The tumours of each patient: count, type, diameter, location, vessel gap, growth."""

    count: Distribution = Field(Fixed(value=1), description=f"Tumours per patient: fixed or choice of integers "
                                                            f"1-{MAX_TUMOURS}; each is treated on its own.")
    type: dict[str, float] = Field(
        {"hcc": 0.6, "metastasis": 0.4},
        description="Probability of each tumour type (hcc, metastasis); sum 1. Default illustrative [E].")
    diameter_mm: Distribution = Field(
        Uniform(low=10.0, high=30.0), description="Tumour diameter [mm], within 3-80 mm. Default uniform 10-30 [E].")
    location: dict[str, float] = Field(
        {"central": 0.5, "near_vessel": 0.3, "subcapsular": 0.2},
        description="Probability of each location (central, near_vessel, subcapsular); sum 1. Default [E].")
    vessel_distance_mm: Distribution = Field(
        Uniform(low=1.0, high=8.0),
        description="near_vessel only: gap between tumour edge and vessel wall [mm], within 0-20. Default [E].")
    doubling_time_days: DoublingTimes = Field(default_factory=DoublingTimes,
                                              description="Volume-doubling time per type [days].")

    @field_validator("type", mode="before")
    @classmethod
    def _types(cls, v):
        return _probability_table(TUMOUR_TYPES, "tumour type", "type")(v) if isinstance(v, dict) else v

    @field_validator("location", mode="before")
    @classmethod
    def _locations(cls, v):
        return _probability_table(TUMOUR_LOCATIONS, "tumour location", "location")(v) if isinstance(v, dict) else v

    @field_validator("count")
    @classmethod
    def _count(cls, v):
        if not isinstance(v, (Fixed, Choice)):
            raise ValueError(f"dist = {v.dist!r}: the tumour count is a fixed integer or a choice of integers "
                             f"1-{MAX_TUMOURS}")
        vals = [v.value] if isinstance(v, Fixed) else v.values
        for x in vals:
            if x != int(x) or not 1 <= x <= MAX_TUMOURS:
                raise ValueError(f"a tumour count must be an integer in 1-{MAX_TUMOURS} (got {x:g})")
        return v

    @field_validator("diameter_mm")
    @classmethod
    def _diameter(cls, v):
        v.check("diameter_mm", *DIAMETER_RANGE_MM, "mm")
        return v

    @field_validator("vessel_distance_mm")
    @classmethod
    def _gap(cls, v):
        v.check("vessel_distance_mm", *VESSEL_DISTANCE_RANGE_MM, "mm")
        return v


class GridSpec(_Model):
    """Voxel size, follow-up horizon and phantom seeds."""

    spacing_mm: float = Field(1.0, ge=0.25, le=4.0, description="Voxel size [mm].")
    horizon_days: float = Field(365.0, gt=0.0, le=3650.0, description="Follow-up horizon of every course [days].")
    roi_margin_mm: float = Field(ROI_MARGIN_MM, ge=10.0, le=120.0,
                                 description="Region of interest edge = tumour diameter + this [mm].")
    phantom_seed: str | int = Field(
        "per_patient",
        description=("'per_patient': every patient's phantom (vessel tree, tumour shape) has its own seed drawn "
                     "from the patient's stream; an integer: the same phantom seed for every patient."),
    )

    @field_validator("phantom_seed")
    @classmethod
    def _seed(cls, v):
        if v == "per_patient" or (isinstance(v, int) and not isinstance(v, bool) and v >= 0):
            return v
        raise ValueError("must be 'per_patient' or an integer >= 0 (the same phantom for every patient)")

    def roi_voxels(self, diameter_mm: float) -> int:
        """Edge of the cubic region of interest [voxels] (:func:`roi_voxels` with this margin and spacing)."""
        return roi_voxels(diameter_mm, self.roi_margin_mm, self.spacing_mm)


def roi_voxels(diameter_mm: float, margin_mm: float, spacing_mm: float) -> int:
    """Edge of a case's cubic region of interest [voxels]: (diameter + margin) / spacing, up to a
    multiple of 4, at least 16 (trials and sensitivity runs).

    >>> roi_voxels(25.0, 44.0, 1.0)
    72
    """
    return max(16, int(math.ceil((diameter_mm + margin_mm) / spacing_mm / 4.0)) * 4)


_STRATEGY_SECTIONS = ("applicator", "protocol", "cryo", "ire", "injection", "course")


class StrategySpec(_Model):
    """A strategy: a key of the built-in library (``base``) and/or scenario fragments."""

    key: str = Field(description="Short name used in case ids and tables (letters, digits, _ and -).")
    base: str | None = Field(None, description="A built-in strategy (tissuefate.course.STRATEGIES) to start from.")
    strategy: str = Field("", max_length=80, description="Label in reports (default: the base's label or the key).")
    modality: Literal["rfa", "mwa", "cryo", "ire", "injection"] | None = Field(
        None, description="Modality (required without base).")
    applicator: dict[str, Any] | None = Field(None, description="Scenario [applicator] (merged into the base's).")
    protocol: dict[str, Any] | None = Field(None, description="Scenario [protocol] (RFA / MWA).")
    cryo: dict[str, Any] | None = Field(None, description="Scenario [cryo].")
    ire: dict[str, Any] | None = Field(None, description="Scenario [ire].")
    injection: dict[str, Any] | None = Field(None, description="Scenario [injection].")
    course: dict[str, Any] | None = Field(None, description="Scenario [course] (schedule, stop rule, volumes); "
                                                            "horizon and doubling time come from the trial.")

    @field_validator("key")
    @classmethod
    def _key(cls, v):
        if not _KEY_RE.match(v):
            raise ValueError("must be 1-40 letters, digits, '_' or '-', starting with a letter or digit")
        return v

    @field_validator("base")
    @classmethod
    def _base(cls, v):
        from ..course.strategies import STRATEGIES as DEMO_STRATEGIES

        if v is not None and v not in DEMO_STRATEGIES:
            raise ValueError(f"unknown strategy; known: {', '.join(DEMO_STRATEGIES)}")
        return v

    @model_validator(mode="after")
    def _modality(self):
        from ..course.strategies import STRATEGIES as DEMO_STRATEGIES

        if self.base is None and self.modality is None:
            raise ValueError(f"strategy {self.key!r}: give modality (or base = one of {', '.join(DEMO_STRATEGIES)})")
        if self.base is not None and self.modality is not None and self.modality != DEMO_STRATEGIES[self.base][
                "modality"]:
            raise ValueError(f"strategy {self.key!r}: modality {self.modality!r} differs from base {self.base!r} "
                             f"({DEMO_STRATEGIES[self.base]['modality']}); drop base or modality")
        owned = {"horizon_days": "grid.horizon_days", "doubling_time_days": "tumours.doubling_time_days",
                 "strategy": "the strategy's own 'strategy' label"}
        for k, where in owned.items():
            if k in (self.course or {}):
                raise ValueError(f"strategy {self.key!r}: course.{k} is set by the trial ({where}); remove it")
        return self

    def fragment(self) -> dict:
        """The scenario fragment: modality and sections, the base's merged with this one's."""
        from ..course.strategies import STRATEGIES as DEMO_STRATEGIES

        d = copy.deepcopy(DEMO_STRATEGIES[self.base]) if self.base else {}
        label = self.strategy or d.pop("strategy", "") or self.key
        d.pop("strategy", None)
        if self.modality is not None:
            d["modality"] = self.modality
        for sec in _STRATEGY_SECTIONS:
            v = getattr(self, sec)
            if v is not None:
                d[sec] = {**d.get(sec, {}), **copy.deepcopy(v)}
        d.setdefault("course", {})
        return {"label": label, "scenario": d}

    @property
    def label(self) -> str:
        return self.fragment()["label"]


def _strategy_entry(v, i: int):
    from ..course.strategies import STRATEGIES as DEMO_STRATEGIES

    if isinstance(v, str):
        if v not in DEMO_STRATEGIES:
            from ..hypotheses import _suggest

            raise ConfigError(f"strategies[{i}] = {v!r}: unknown strategy; known: {', '.join(DEMO_STRATEGIES)}"
                              f"{_suggest(v, DEMO_STRATEGIES)}; or give a table with key, modality and sections")
        return {"key": v, "base": v}
    return v


# --------------------------------------------------------------------------------------------------
# The trial
# --------------------------------------------------------------------------------------------------
#: Fields that do not change any simulated outcome: the execution option (checked separately on
#: resume) and the reference of the analysis.
_NOT_FINGERPRINTED = {"threads_per_task", "reference", "description"}


class TrialSpec(_Model):
    """A virtual trial: patients, the strategies each receives (paired), presets, uncertain parameters."""

    name: str = Field("trial", min_length=1, max_length=80, description="Name used in reports.")
    description: str = Field("", description="Free text.")
    seed: int = Field(0, ge=0, description="Seed of the cohort: patient i draws from "
                                           "SeedSequence(seed, spawn_key=(i,)).")
    n_patients: int = Field(ge=1, le=100_000, description="Number of virtual patients.")
    tumours: TumourSpec = Field(default_factory=TumourSpec, description="Per-patient tumour distributions.")
    strategies: list[StrategySpec] = Field(
        min_length=1, max_length=50,
        description="Keys of the built-in strategies (rfa, rfa_margin, mwa, cryo, ethanol, oxidant) and/or tables "
                    "with key, base or modality, and scenario sections.")
    presets: list[str] = Field(["literature"], min_length=1, description="Hypothesis presets (tissuefate hypotheses).")
    uncertain: dict[str, Distribution] = Field(
        default_factory=dict,
        description=("Uncertain parameters drawn per patient: 'fate.<FateModel attribute>', "
                     "'hypotheses.<hypothesis>.<parameter>' (applied where the hypothesis is active), or a scenario "
                     "path such as 'tissue.perfusion' or 'tissue.perfusion_mL_per_min_per_100g'."),
    )
    grid: GridSpec = Field(default_factory=GridSpec, description="Voxel size, horizon, phantom seeds.")
    reference: str | None = Field(
        None, description="Strategy key every other strategy is compared with (paired; default: the first). "
                          "Declare it before looking at the results.")
    threads_per_task: int = Field(
        1, ge=1, le=256,
        description="Numba threads of each case; results can depend on it, so a trial resumes only with the same "
                    "value (--threads-per-task overrides it).")

    @field_validator("strategies", mode="before")
    @classmethod
    def _strategies(cls, v):
        if isinstance(v, list):
            return [_strategy_entry(x, i) for i, x in enumerate(v)]
        return v

    @field_validator("strategies")
    @classmethod
    def _unique_keys(cls, v):
        keys = [s.key for s in v]
        dup = sorted({k for k in keys if keys.count(k) > 1})
        if dup:
            raise ValueError(f"key {dup[0]!r} appears twice: strategy keys must be unique")
        return v

    @field_validator("presets")
    @classmethod
    def _presets(cls, v):
        from ..hypotheses import PRESETS, _suggest

        for i, p in enumerate(v):
            if p not in PRESETS:
                raise ValueError(f"presets[{i}] = {p!r}: unknown preset; known: {', '.join(PRESETS)}"
                                 f"{_suggest(p, PRESETS)}")
        if len(set(v)) != len(v):
            raise ValueError(f"{v}: presets must be unique")
        return v

    @model_validator(mode="after")
    def _reference(self):
        keys = [s.key for s in self.strategies]
        if self.reference is not None and self.reference not in keys:
            raise ValueError(f"reference = {self.reference!r}: must be one of the strategy keys ({', '.join(keys)})")
        return self

    @model_validator(mode="after")
    def _cross_check(self):
        from .cohort import check_spec

        check_spec(self)
        return self

    # ----------------------------------------------------------------------------------------
    def canonical_json(self) -> str:
        """The validated spec as canonical JSON (sorted keys, no whitespace; without ``threads_per_task``,
        ``reference`` and ``description``, which change no simulated outcome)."""
        return json.dumps(self.model_dump(mode="json", exclude=_NOT_FINGERPRINTED), sort_keys=True,
                          separators=(",", ":"), ensure_ascii=True)

    def fingerprint(self) -> str:
        """sha256 of the canonical JSON and the tissuefate version: what identifies an output folder."""
        from .. import __version__

        text = json.dumps({"spec": json.loads(self.canonical_json()), "tissuefate_version": __version__},
                          sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def strategy(self, key: str) -> StrategySpec:
        for s in self.strategies:
            if s.key == key:
                return s
        raise ConfigError(f"strategy {key!r} is not in this trial; known: {', '.join(s.key for s in self.strategies)}")


# --------------------------------------------------------------------------------------------------
# Uncertain-parameter names
# --------------------------------------------------------------------------------------------------
#: Scenario paths a trial sets itself (tumours, grid, presets): not uncertain parameters.
_TRIAL_OWNED = ("anatomy", "grid", "hypotheses", "modality", "name", "description", "followup", "output",
                "course.horizon_days", "course.doubling_time_days", "course.strategy")
#: Scenario sections and the modalities they belong to (others: every modality).
_SECTION_MODALITIES = {"protocol": ("rfa", "mwa"), "cryo": ("cryo",), "ire": ("ire",), "injection": ("injection",)}
#: Trial-level aliases of scenario paths: alias → (path, {other path: value}).
SCENARIO_ALIASES = {
    "tissue.perfusion_mL_per_min_per_100g": ("tissue.perfusion", {"tissue.perfusion_unit": "mL_per_min_per_100g"}),
    "tissue.perfusion_per_s": ("tissue.perfusion", {"tissue.perfusion_unit": "per_s"}),
}


def parameter_kind(name: str) -> str:
    """``"fate"``, ``"hypothesis"`` or ``"scenario"`` for an uncertain-parameter name."""
    if name.startswith("fate."):
        return "fate"
    if name.startswith("hypotheses."):
        return "hypothesis"
    return "scenario"


def fate_attributes() -> tuple[str, ...]:
    """Attributes of :class:`~tissuefate.fate.FateModel` a trial may vary."""
    from ..fate import FateModel

    return tuple(f.name for f in dataclasses.fields(FateModel) if f.name != "hypotheses")


def scenario_path_applies(path: str, fragment: dict) -> bool:
    """Whether scenario path ``path`` (after aliases) concerns a strategy's scenario fragment."""
    from ..config.scenario import TISSUE_FIELD_MODALITIES

    path = SCENARIO_ALIASES.get(path, (path, {}))[0]
    sec = path.split(".", 1)[0]
    if sec in _SECTION_MODALITIES:
        return fragment["modality"] in _SECTION_MODALITIES[sec]
    field = path.split(".")[-1]
    if sec == "tissue" and field in TISSUE_FIELD_MODALITIES:
        used = {fragment["modality"], ((fragment.get("course") or {}).get("retreat") or {}).get("modality")}
        return bool(used & set(TISSUE_FIELD_MODALITIES[field]))
    if sec == "applicator":
        from ..config.scenario import _DEFAULT_APPLICATOR

        cls = _DEFAULT_APPLICATOR[fragment["modality"]]
        return path.split(".")[1] in cls.model_fields
    return True


def set_scenario_path(data: dict, path: str, value) -> None:
    """Set ``data[a][b]… = value`` for ``path = "a.b…"`` (aliases resolved), creating tables."""
    real, extra = SCENARIO_ALIASES.get(path, (path, {}))
    for p, v in [(real, value), *extra.items()]:
        parts = p.split(".")
        d = data
        for k in parts[:-1]:
            d = d.setdefault(k, {})
        d[parts[-1]] = v


def scenario_field_range(path: str) -> tuple[float, float]:
    """Bounds of a scenario field from its pydantic constraints (``(-inf, inf)`` where unknown)."""
    import types
    import typing

    from ..config.scenario import Scenario

    path = SCENARIO_ALIASES.get(path, (path, {}))[0]
    model: Any = Scenario
    info = None
    for part in path.split("."):
        if model is None or not hasattr(model, "model_fields") or part not in model.model_fields:
            return (-math.inf, math.inf)
        info = model.model_fields[part]
        ann = info.annotation
        model = None
        cands = typing.get_args(ann) if isinstance(ann, types.UnionType) or typing.get_origin(ann) is typing.Union \
            else (ann,)
        for c in cands:
            if isinstance(c, type) and issubclass(c, BaseModel):
                model = c
    lo, hi = -math.inf, math.inf
    for m in getattr(info, "metadata", []):
        if getattr(m, "ge", None) is not None:
            lo = max(lo, float(m.ge))
        if getattr(m, "gt", None) is not None:  # exclusive: the smallest float above it
            lo = max(lo, math.nextafter(float(m.gt), math.inf))
        if getattr(m, "le", None) is not None:
            hi = min(hi, float(m.le))
        if getattr(m, "lt", None) is not None:
            hi = min(hi, math.nextafter(float(m.lt), -math.inf))
    return lo, hi


# --------------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------------
_DIST_TAGS = {"fixed", "uniform", "normal", "lognormal", "choice"}


def _format(err: ValidationError, source: str) -> str:
    from ..config.scenario import field_note, show_value

    lines = []
    for e in err.errors():
        parts = [str(p) for p in e["loc"] if not str(p).startswith(("function-", "tagged-union"))]
        # drop the discriminator tag pydantic puts into the location of a union member
        parts = [p for j, p in enumerate(parts) if not (p in _DIST_TAGS and j > 0)]
        loc = ""
        for p in parts:
            loc += f"[{p}]" if p.isdigit() else (f".{p}" if loc else p)
        val = e.get("input")
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = "unknown key (check spelling; `tissuefate schema trial` lists the allowed keys)"
        if e["type"] == "union_tag_invalid":
            msg = "unknown distribution: dist must be one of fixed, uniform, normal, lognormal, choice"
        if parts and loc and not msg.startswith(loc) and re.match(re.escape(parts[-1]) + r"[.\[ :=]", msg):
            msg = loc[: len(loc) - len(parts[-1])] + msg  # a message naming the field relative to its parent
        if not loc or msg.startswith(loc):
            lines.append(msg)
        elif isinstance(val, (dict, list)) or val is None and e["type"] != "missing":
            lines.append(f"{loc}: {msg}")
        elif e["type"] == "missing":
            lines.append(f"{loc}: required field is missing")
        else:
            unit, note = field_note(TrialSpec, tuple(parts), val)
            lines.append(f"{loc} = {show_value(val, unit)}: {msg}{note}")
    return (f"{source}: " if source else "") + "\n".join(lines)


def trial_from_dict(data: dict, source: str = "") -> TrialSpec:
    """Validate a trial dict; raise :class:`ConfigError` naming the field, value and allowed values."""
    try:
        return TrialSpec.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_format(err, source)) from None
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}" if source else str(err)) from None


def load_trial(path) -> TrialSpec:
    """Read and validate a trial TOML file (docs/trials.md)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"trial file {str(p)!r} does not exist")
    try:
        data = tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{p}: not valid TOML: {err}") from None
    return trial_from_dict(data, str(p))
