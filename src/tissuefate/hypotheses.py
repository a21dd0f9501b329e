"""Registry of named, evidence-tagged hypotheses (DESIGN.md §3.4).

A claim without measured evidence does not enter the model silently: it lives here as a
:class:`Hypothesis` with a one-line statement, its parameters (default and allowed range), an
evidence tag with a short source, and where it enters the model. A run switches hypotheses on by
name through a :class:`HypothesisSet`, which validates names, parameter values and mutually
exclusive groups, and records what was active next to every result.

Evidence tags follow ``shared/data/literature.md``: ``V`` checked, ``R`` standard, ``C`` computed,
``E`` estimate, ``ABSENT`` searched for and not found, ``claim`` asserted by proponents without
controlled data.

Chlorine dioxide is **not** an approved therapy (FDA warning 2019, literature.md §7). Every oxidant
hypothesis is hypothetical; a simulated oxidant volume, concentration or schedule is never dosing
advice. Neither oxidant-delivery hypothesis is the default truth: an oxidant run must name exactly
one of the group ``oxidant_delivery`` (:meth:`HypothesisSet.require_one_of`).

Layering: this module imports nothing from tissuefate except :mod:`tissuefate.errors`, so physics
and therapy may import it.

Examples
--------
>>> hs = HypothesisSet.from_config(["oxidant_delivery_convective_percolation"],
...                                {"oxidant_delivery_convective_percolation": {"transport_demand_fraction": 0.2}})
>>> hs.param("oxidant_delivery_convective_percolation", "transport_demand_fraction")
0.2
>>> hs.require_one_of("oxidant_delivery")
'oxidant_delivery_convective_percolation'
>>> hs.param("oxidant_tumour_selectivity", "normal_to_tumour_lethal_ratio")  # inactive: default
2.0
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from .errors import ConfigError

__all__ = [
    "HypothesisParameter",
    "Hypothesis",
    "HypothesisSet",
    "REGISTRY",
    "GROUPS",
    "OXIDANT_DELIVERY",
    "SCOPES",
    "MODALITIES",
    "PRESETS",
    "PRESET_DESCRIPTIONS",
    "get_hypothesis",
    "list_hypotheses",
    "hypothesis_rows",
    "registry_records",
    "require_oxidant_delivery",
    "hypotheses_reference_markdown",
]


@dataclass(frozen=True)
class HypothesisParameter:
    """A parameter of a hypothesis: default and allowed closed range ``[low, high]``.

    Parameters
    ----------
    name : str
        Identifier, with its unit as a suffix where it has one (``*_m``, ``*_s``); ``1`` for a ratio.
    default, low, high : float
        Default and closed range, in ``unit``.
    unit : str
    description : str
        What the number means, in one sentence.
    """

    name: str
    default: float
    low: float
    high: float
    unit: str
    description: str

    def __post_init__(self):
        if not (math.isfinite(self.low) and math.isfinite(self.high) and self.low <= self.default <= self.high):
            raise ConfigError(f"hypothesis parameter {self.name}: default {self.default:g} must lie in "
                              f"[{self.low:g}, {self.high:g}] {self.unit}")

    @property
    def range_str(self) -> str:
        return f"[{self.low:g}, {self.high:g}] {self.unit}"


@dataclass(frozen=True)
class Hypothesis:
    """A named claim that a run may switch on.

    Parameters
    ----------
    name : str
        Registry key (snake case).
    statement : str
        The claim in one line.
    parameters : tuple of HypothesisParameter
    tag : str
        Evidence tag (``V``, ``R``, ``C``, ``E``, ``ABSENT``, ``claim`` or a combination ``E/V``).
    evidence : str
        Short source text: who claims or measured what, and where it is recorded.
    enters : str
        Where it enters the model (module / function and the quantity it changes).
    group : str or None
        Mutually exclusive group: at most one hypothesis of a group is active.
    concerns : str
        Modality or agent it concerns.
    scope : {"oxidant", "injection", "any"}
        Strategies the claim is made for: ``"oxidant"`` — oxidant injection only (dropped from other
        strategies by :meth:`HypothesisSet.for_strategy`); ``"any"`` — every strategy.
    """

    name: str
    statement: str
    parameters: tuple[HypothesisParameter, ...]
    tag: str
    evidence: str
    enters: str
    group: str | None
    concerns: str
    scope: str

    def __post_init__(self):
        if self.scope not in SCOPES:
            raise ConfigError(f"hypothesis {self.name}: scope = {self.scope!r}; must be one of {', '.join(SCOPES)}")

    def parameter(self, name: str) -> HypothesisParameter:
        """The parameter called ``name`` (ConfigError with the known names otherwise)."""
        for p in self.parameters:
            if p.name == name:
                return p
        known = [p.name for p in self.parameters]
        raise ConfigError(f"hypothesis {self.name}: unknown parameter {name!r}; "
                          f"known: {', '.join(known) if known else '(none)'}{_suggest(name, known)}")

    @property
    def parameter_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parameters)


OXIDANT_DELIVERY = "oxidant_delivery"

#: Scopes of a hypothesis and which strategies they cover (:meth:`HypothesisSet.for_strategy`).
SCOPES: dict[str, str] = {
    "oxidant": "the claim is made for oxidant injection only (modality injection, agent oxidant)",
    "injection": "the claim concerns every injection (any agent); it does not enter the other modalities",
    "any": "the claim concerns every strategy",
}

#: Modalities :meth:`HypothesisSet.for_strategy` accepts (as in :mod:`tissuefate.fate.transition`).
MODALITIES = ("rfa", "mwa", "ire", "cryo", "injection")

#: Mutually exclusive groups and what they decide.
GROUPS: dict[str, str] = {
    OXIDANT_DELIVERY: "how an injected oxidant reaches tissue; an oxidant run names exactly one "
                      "(neither is the default truth)",
}

_CLO2 = "chlorine dioxide (oxidant injection)"
_NO_STUDY = "no controlled intratumoral study of chlorine dioxide exists (literature.md §7 [ABSENT])"
_TDF_DESC = ("fraction of the tissue oxidant demand that reacts while the fluid is moving (1: consumed at the "
             "wetted front; 0: carried unreacted through the volume the injected fluid fills)")

_HYPOTHESES: tuple[Hypothesis, ...] = (
    Hypothesis(
        name="oxidant_delivery_diffusion_limited",
        statement="The oxidant reaches tissue only where the injected fluid touches it and is consumed "
                  "stoichiometrically at a sharp front: treated volume ≈ delivered moles / tissue oxidant demand.",
        parameters=(HypothesisParameter("transport_demand_fraction", 1.0, 1.0, 1.0, "1",
                                        _TDF_DESC + "; fixed at 1 under this hypothesis"),),
        tag="E/V",
        evidence="reaction-diffusion length sub-micrometre (ClO2 rate constants with tyrosine, cysteine [V]; "
                 "tissue demand 0.2-0.5 mmol/g [E]); reasoning of Noszticzius et al., PLoS ONE 2013 "
                 "(literature.md §7)",
        enters="physics.injection: oxidant reaction during flow (transport_demand_fraction)",
        group=OXIDANT_DELIVERY,
        concerns=_CLO2,
        scope="oxidant",
    ),
    Hypothesis(
        name="oxidant_delivery_convective_percolation",
        statement="Injection-driven convective percolation carries the oxidant through a volume set by the "
                  "injected fluid volume before it is consumed ('volume-locked').",
        parameters=(HypothesisParameter("transport_demand_fraction", 0.1, 0.0, 1.0, "1", _TDF_DESC),),
        tag="claim",
        evidence="proponent preprints: treated domain set during injection by pressure-driven convection and "
                 "volume-defined percolation; preliminary ex vivo and single-case data (literature.md §7); "
                 "default 0.1 is an illustrative estimate [E]",
        enters="physics.injection: oxidant reaction during flow (transport_demand_fraction)",
        group=OXIDANT_DELIVERY,
        concerns=_CLO2,
        scope="oxidant",
    ),
    Hypothesis(
        name="oxidant_tumour_selectivity",
        statement="The oxidant kills tumour at a lower consumed-demand fraction than parenchyma.",
        parameters=(HypothesisParameter("normal_to_tumour_lethal_ratio", 2.0, 1.0, 10.0, "1",
                                        "lethal consumed-demand fraction of parenchyma divided by that of "
                                        "tumour (1: no selectivity)"),),
        tag="ABSENT/claim",
        evidence=f"proponent claim; {_NO_STUDY}; default 2 is an illustrative estimate [E]",
        enters="physics.injection: oxidant lethal threshold per label (tumour vs parenchyma)",
        group=None,
        concerns=_CLO2,
        scope="oxidant",
    ),
    Hypothesis(
        name="oxidant_tumour_microvessel_disruption",
        statement="The oxidant selectively disrupts tumour microvessels in the treated volume, removing tumour "
                  "perfusion (washout) there and recording vascular loss for later ischaemic death.",
        parameters=(HypothesisParameter("tumour_vascular_loss_fraction", 0.8, 0.0, 1.0, "1",
                                        "fraction of tumour microvascular integrity lost in the treated volume"),),
        tag="claim",
        evidence=f"proponent claim; {_NO_STUDY}; default 0.8 is an illustrative estimate [E]",
        enters="physics.injection: tumour perfusion / washout in the treated volume and the vascular-loss "
               "state read by the fate model (ischaemic death)",
        group=None,
        concerns=_CLO2,
        scope="oxidant",
    ),
    Hypothesis(
        name="oxidant_hemostasis_without_occlusion",
        statement="The oxidant reduces bleeding and leak into vessels during the session without permanent "
                  "vessel occlusion.",
        parameters=(HypothesisParameter("vessel_leak_factor", 0.3, 0.0, 1.0, "1",
                                        "multiplier of the leak of injected fluid into vessels during the "
                                        "session (1: no effect)"),),
        tag="claim",
        evidence=f"proponent claim; {_NO_STUDY}; default 0.3 is an illustrative estimate [E]",
        enters="physics.injection: leak into vessels during the session (no lasting change to perfusion)",
        group=None,
        concerns=_CLO2,
        scope="oxidant",
    ),
    Hypothesis(
        name="debridement_enhanced_clearance",
        statement="Necrosis is debrided (cleared by phagocytes) faster than the literature timeline: the "
                  "clearance of non-fixed and heat-fixed debris and the vessel front into fixed debris speed up.",
        parameters=(HypothesisParameter("clearance_factor", 3.0, 1.0, 20.0, "1",
                                        "multiplier of the debris clearance rates and of the vessel front speed "
                                        "into fixed debris (1: literature defaults)"),),
        tag="claim",
        evidence="proponent claim for oxidant injection (DESIGN.md §3.4); no measured clearance rate after any "
                 "chemical ablation in literature.md; default 3 is an illustrative estimate [E]",
        enters="fate.healing.FateModel: clearance_rate_per_day, fixed_clearance_rate_per_day and "
               "fixed_front_speed_mm_per_day (all debris of the run)",
        group=None,
        concerns="fate after any session (claimed for chlorine dioxide)",
        scope="oxidant",
    ),
    Hypothesis(
        name="suppressed_inflammation_fibrosis",
        statement="Inflammation after the session is weaker and leads to less fibrosis than after thermal "
                  "ablation.",
        parameters=(HypothesisParameter("fibrosis_factor", 0.2, 0.0, 1.0, "1",
                                        "multiplier of the inflammation seed, inflammatory recruitment and the "
                                        "fibrosis rate (1: literature defaults)"),),
        tag="claim",
        evidence="proponent claim for oxidant injection (DESIGN.md §3.4); literature.md §5 records fibrosis "
                 "after RFA only; default 0.2 is an illustrative estimate [E]",
        enters="fate.transition.post_session_state (inflammation seed) and fate.healing.FateModel "
               "(inflammation_recruitment_per_day, fibrosis_rate_per_day)",
        group=None,
        concerns="fate after any session (claimed for chlorine dioxide)",
        scope="oxidant",
    ),
    Hypothesis(
        name="dehydration_shrinkage",
        statement="The treated zone loses a fraction of its volume within an hour of the session (dehydration); "
                  "reported as an acute volume change, the grid is not deformed.",
        parameters=(HypothesisParameter("volume_fraction", 0.3, 0.0, 0.9, "1",
                                        "fraction of the lethal-zone volume lost within an hour"),),
        tag="claim",
        evidence="proponent claim for oxidant injection (DESIGN.md §3.4: dehydration shrinkage within an hour); "
                 f"no measured acute shrinkage after any chemical ablation in literature.md; {_NO_STUDY}; "
                 "default 0.3 is an illustrative estimate [E]",
        enters="fate.transition.acute_volume_change_m3: -volume_fraction x volume of the session's lethal zone "
               "(survival <= 0.01); reported only, no mesh deformation",
        group=None,
        concerns=_CLO2,
        scope="oxidant",
    ),
    Hypothesis(
        name="secondary_ischaemic_death",
        statement="Viable cells (tumour and parenchyma) in voxels whose microvascular integrity stays below a "
                  "threshold die over days (secondary ischaemic death) and become non-fixed debris.",
        parameters=(
            HypothesisParameter("integrity_threshold", 0.3, 0.0, 1.0, "1",
                                "microvascular integrity V below which viable cells die (0: never)"),
            HypothesisParameter("death_rate_per_day", 0.5, 0.01, 10.0, "1/day",
                                "death rate of viable cells at V = 0; it falls linearly to 0 at the threshold"),
        ),
        tag="claim",
        evidence="proponent claim for oxidant injection: selective disruption of tumour vasculature followed by "
                 "secondary ischaemic death (DESIGN.md §3.4); no measured threshold or rate in literature.md; "
                 "defaults 0.3 and 0.5/day are illustrative estimates [E]",
        enters="fate.healing.FateModel: ischaemic_integrity_threshold and ischaemic_death_rate_per_day (tumour "
               "and parenchyma become non-fixed debris where V is below the threshold; reads the vascular loss "
               "of oxidant_tumour_microvessel_disruption)",
        group=None,
        concerns="fate after an oxidant session (claimed for chlorine dioxide)",
        scope="oxidant",
    ),
    Hypothesis(
        name="scar_blocks_retreatment",
        statement="Dense scar blocks an injected agent: Darcy permeability and agent diffusivity in fully scarred "
                  "tissue are multiplied by a small factor, so a later injection cannot reach a recurrence "
                  "behind scar.",
        parameters=(HypothesisParameter("permeability_factor", 0.01, 1e-4, 1.0, "1",
                                        "multiplier of the Darcy conductivity and the agent diffusivity in fully "
                                        "scarred tissue, blended linearly with the scar fraction (replaces the "
                                        "default INJECTION scar_factor 0.1 [E]; diffusivity: default 1)"),),
        tag="claim",
        evidence="argument that the scar of thermal ablation blocks later retreatment (DESIGN.md §3.4, mission "
                 "statement); literature.md has no permeability or diffusivity of hepatic scar; default 0.01 is "
                 "an illustrative estimate [E]",
        enters="physics.injection.InjectionModel via therapy.injection_session.hypothesis_parameters: "
               "overrides scar_factor (Darcy conductivity) and scar_diffusivity_factor (agent diffusivity)",
        group=None,
        concerns="retreatment by injection after any earlier session (scar from any modality)",
        scope="injection",
    ),
)

#: Named sets of active hypotheses (:meth:`HypothesisSet.from_preset`). ``literature``: every
#: unproven claim off; ``seed_claims``: every hypothesis tagged ``claim`` except
#: ``oxidant_delivery_diffusion_limited`` (which is not a claim: it is the reaction-diffusion
#: estimate [E/V]; the group ``oxidant_delivery`` admits one member, here the convective one).
PRESETS: dict[str, tuple[str, ...]] = {
    "literature": (),
    "seed_claims": (
        "oxidant_delivery_convective_percolation",
        "oxidant_tumour_selectivity",
        "oxidant_tumour_microvessel_disruption",
        "oxidant_hemostasis_without_occlusion",
        "debridement_enhanced_clearance",
        "suppressed_inflammation_fibrosis",
        "dehydration_shrinkage",
        "secondary_ischaemic_death",
        "scar_blocks_retreatment",
    ),
}

#: One line per preset.
PRESET_DESCRIPTIONS: dict[str, str] = {
    "literature": "literature-calibrated defaults only: every unproven claim off",
    "seed_claims": "every proponent claim on (convective-percolation delivery, selectivity, microvessel "
                   "disruption, hemostasis, debridement, suppressed fibrosis, dehydration shrinkage, secondary "
                   "ischaemic death, scar blocking retreatment): what follows IF all of them held",
}

#: Every hypothesis by name, in display order.
REGISTRY: dict[str, Hypothesis] = {h.name: h for h in _HYPOTHESES}


def _suggest(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(str(name), list(known), n=1, cutoff=0.6)
    return f". Did you mean {close[0]!r}?" if close else ""


def get_hypothesis(name: str, *, field: str = "hypotheses.active") -> Hypothesis:
    """The registered hypothesis ``name``.

    Raises
    ------
    ConfigError
        Unknown name; the message lists the known names and suggests a close match.

    Examples
    --------
    >>> get_hypothesis("oxidant_tumour_selectivity").tag
    'ABSENT/claim'
    """
    try:
        return REGISTRY[name]
    except (KeyError, TypeError):
        raise ConfigError(f"{field}: unknown hypothesis {name!r}; known: {', '.join(REGISTRY)}"
                          f"{_suggest(name, REGISTRY)}") from None


def list_hypotheses(*, group: str | None = None) -> list[Hypothesis]:
    """Registered hypotheses in display order, optionally only those of ``group``.

    Examples
    --------
    >>> [h.name for h in list_hypotheses(group="oxidant_delivery")]
    ['oxidant_delivery_diffusion_limited', 'oxidant_delivery_convective_percolation']
    """
    return [h for h in REGISTRY.values() if group is None or h.group == group]


def _check_value(h: Hypothesis, p: HypothesisParameter, value, field: str) -> float:
    where = f"{field}.{h.name}.{p.name}"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{where} = {value!r}: must be a number in {p.range_str} (hypothesis {h.name})")
    v = float(value)
    if not (math.isfinite(v) and p.low <= v <= p.high):
        fixed = " (fixed under this hypothesis)" if p.low == p.high else ""
        raise ConfigError(f"{where} = {v:g} {p.unit}: must be in {p.range_str}{fixed} "
                          f"(hypothesis {h.name}, parameter {p.name}; default {p.default:g})")
    return v


@dataclass(frozen=True)
class HypothesisSet:
    """The hypotheses active in a run, with their parameter values (immutable, validated).

    Build it with :meth:`from_config`. ``active`` holds names in the order given; ``overrides``
    holds ``(hypothesis, parameter, value)`` triples that replace defaults (active hypotheses only).

    Examples
    --------
    >>> hs = HypothesisSet.from_config(["oxidant_tumour_selectivity"])
    >>> hs.is_active("oxidant_tumour_selectivity"), len(hs)
    (True, 1)
    >>> hs.labels()
    ['HYPOTHESIS: oxidant_tumour_selectivity (normal_to_tumour_lethal_ratio=2) [ABSENT/claim]']
    """

    active: tuple[str, ...] = ()
    overrides: tuple[tuple[str, str, float], ...] = ()

    def __post_init__(self):
        _validate(self.active, self.overrides, "hypotheses")

    @classmethod
    def from_config(cls, active: Iterable[str] = (), overrides: Mapping[str, Mapping[str, float]] | None = None,
                    *, field: str = "hypotheses") -> HypothesisSet:
        """Validate a configuration and build the set.

        Parameters
        ----------
        active : iterable of str
            Names of :data:`REGISTRY` to switch on (duplicates are dropped).
        overrides : mapping of hypothesis name to mapping of parameter name to float, optional
            Parameter values replacing the defaults, each within the parameter's range.
        field : str
            Prefix of the configuration field used in error messages (e.g. ``"sessions[2].hypotheses"``).

        Raises
        ------
        ConfigError
            Unknown hypothesis or parameter (with a close-match suggestion), a value outside its
            range (message names hypothesis, parameter, value, unit and range), an override of an
            inactive hypothesis, or two active hypotheses of one mutually exclusive group.
        """
        active = () if active is None else active
        if isinstance(active, str):
            raise ConfigError(f"{field}.active = {active!r}: must be a list of names, e.g. [{active!r}]")
        names: list[str] = []
        for n in active:
            get_hypothesis(n, field=f"{field}.active")
            if n not in names:
                names.append(n)
        triples: list[tuple[str, str, float]] = []
        if overrides is not None and not isinstance(overrides, Mapping):
            raise ConfigError(f"{field}.overrides: must be a table of hypothesis name → {{parameter: value}}")
        for hname, params in (overrides or {}).items():
            h = get_hypothesis(hname, field=f"{field}.overrides")
            if not isinstance(params, Mapping):
                raise ConfigError(f"{field}.overrides.{hname} = {params!r}: must be a table of parameter = value "
                                  f"(parameters: {', '.join(h.parameter_names) or '(none)'})")
            for pname, value in params.items():
                triples.append((hname, pname, value))
        _validate(tuple(names), tuple(triples), field)
        return cls(tuple(names), tuple((h, n, float(v)) for h, n, v in triples))

    @classmethod
    def from_preset(cls, preset: str, active: Iterable[str] = (),
                    overrides: Mapping[str, Mapping[str, float]] | None = None, *,
                    field: str = "hypotheses") -> HypothesisSet:
        """The hypotheses of :data:`PRESETS` ``[preset]`` plus ``active``, with ``overrides``.

        Parameters
        ----------
        preset : str
            A key of :data:`PRESETS` (``"literature"``: all claims off; ``"seed_claims"``: all on).
        active : iterable of str
            Further names to switch on (the union with the preset's, preset first).
        overrides : mapping, optional
            Parameter values, validated as by :meth:`from_config`.
        field : str
            Prefix of the configuration field used in error messages.

        Raises
        ------
        ConfigError
            Unknown preset (field ``hypotheses.preset``, known presets listed), or anything
            :meth:`from_config` rejects — e.g. ``seed_claims`` plus ``oxidant_delivery_diffusion_limited``
            puts two hypotheses of group ``oxidant_delivery`` on.

        Examples
        --------
        >>> HypothesisSet.from_preset("literature").active
        ()
        >>> hs = HypothesisSet.from_preset("seed_claims", overrides={"secondary_ischaemic_death": {
        ...     "integrity_threshold": 0.2}})
        >>> len(hs), hs.param("secondary_ischaemic_death", "integrity_threshold")
        (9, 0.2)
        >>> HypothesisSet.from_preset("seed")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        tissuefate.errors.ConfigError: hypotheses.preset = 'seed': unknown preset; known: literature, seed_claims...
        """
        if not isinstance(preset, str) or preset not in PRESETS:
            raise ConfigError(f"{field}.preset = {preset!r}: unknown preset; known: {', '.join(PRESETS)}"
                              f"{_suggest(preset, PRESETS)}")
        if isinstance(active, str):
            raise ConfigError(f"{field}.active = {active!r}: must be a list of names, e.g. [{active!r}]")
        return cls.from_config([*PRESETS[preset], *(() if active is None else active)], overrides, field=field)

    def for_strategy(self, modality: str, agent: str | None = None) -> tuple[HypothesisSet, tuple[str, ...]]:
        """The subset of this set that applies to a strategy, and the names dropped.

        A hypothesis of scope ``"any"`` always applies; one of scope ``"injection"`` to injections
        (any agent); one of scope ``"oxidant"`` only when ``modality == "injection"`` and
        ``agent == "oxidant"``. Parameter overrides of the kept
        hypotheses are kept.

        Parameters
        ----------
        modality : str
            One of :data:`MODALITIES`.
        agent : str or None
            The injected agent (``"ethanol"``, ``"acetic_acid"``, ``"oxidant"``); None for the
            other modalities.

        Returns
        -------
        (HypothesisSet, tuple of str)
            The applicable set and the names dropped as not applicable, in the order of ``active``.

        Examples
        --------
        >>> hs = HypothesisSet.from_preset("seed_claims")
        >>> kept, dropped = hs.for_strategy("rfa", None)
        >>> kept.active, len(dropped)
        ((), 9)
        >>> hs.for_strategy("injection", "ethanol")[0].active
        ('scar_blocks_retreatment',)
        >>> hs.for_strategy("injection", "oxidant")[0] == hs
        True
        """
        if modality not in MODALITIES:
            raise ConfigError(f"modality = {modality!r}: unknown; known: {', '.join(MODALITIES)}"
                              f"{_suggest(modality, MODALITIES)}")
        if agent is not None and not isinstance(agent, str):
            raise ConfigError(f"agent = {agent!r}: must be a string (e.g. 'oxidant') or None")
        oxidant = modality == "injection" and agent == "oxidant"
        applies = {"any": True, "injection": modality == "injection", "oxidant": oxidant}
        keep = tuple(n for n in self.active if applies[REGISTRY[n].scope])
        dropped = tuple(n for n in self.active if n not in keep)
        ov = tuple(t for t in self.overrides if t[0] in keep)
        return HypothesisSet(keep, ov), dropped

    # -- queries -----------------------------------------------------------------------------
    def __iter__(self) -> Iterator[str]:
        return iter(self.active)

    def __len__(self) -> int:
        return len(self.active)

    def __contains__(self, name: object) -> bool:
        return name in self.active

    def is_active(self, name: str) -> bool:
        """Whether ``name`` is active (ConfigError if it is not a registered name)."""
        get_hypothesis(name, field="hypothesis")
        return name in self.active

    def param(self, hypothesis: str, parameter: str) -> float:
        """Value of ``parameter`` of ``hypothesis``: the override if active and set, else the default."""
        p = get_hypothesis(hypothesis, field="hypothesis").parameter(parameter)
        for h, n, v in self.overrides:
            if h == hypothesis and n == parameter:
                return float(v)
        return float(p.default)

    def params(self, hypothesis: str) -> dict[str, float]:
        """All parameter values of ``hypothesis`` (overrides applied)."""
        return {p.name: self.param(hypothesis, p.name) for p in get_hypothesis(hypothesis).parameters}

    def require_one_of(self, group: str) -> str:
        """The single active hypothesis of ``group``.

        Raises
        ------
        ConfigError
            None or (impossible after validation) several of the group are active.

        Examples
        --------
        >>> HypothesisSet().require_one_of("oxidant_delivery")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        tissuefate.errors.ConfigError: hypotheses.active: ... exactly one hypothesis of group 'oxidant_delivery' ...
        """
        if group not in GROUPS:
            raise ConfigError(f"hypothesis group {group!r}: unknown; known: {', '.join(GROUPS)}"
                              f"{_suggest(group, GROUPS)}")
        members = [h.name for h in list_hypotheses(group=group)]
        on = [n for n in self.active if n in members]
        if len(on) != 1:
            raise ConfigError(
                f"hypotheses.active: this run needs exactly one hypothesis of group {group!r} "
                f"({GROUPS[group]}); active: {', '.join(on) if on else 'none'}. "
                f"Add one of {', '.join(members)} to hypotheses.active.")
        return on[0]

    # -- records -----------------------------------------------------------------------------
    def record(self) -> list[dict]:
        """JSON-serialisable record of the active hypotheses for results and reports."""
        out = []
        for name in self.active:
            h = REGISTRY[name]
            out.append({
                "name": h.name, "statement": h.statement, "tag": h.tag, "evidence": h.evidence,
                "enters": h.enters, "group": h.group, "concerns": h.concerns, "scope": h.scope,
                "parameters": {p.name: {"value": self.param(name, p.name), "default": p.default, "low": p.low,
                                        "high": p.high, "unit": p.unit} for p in h.parameters},
            })
        return out

    def labels(self) -> list[str]:
        """One short banner line per active hypothesis: ``HYPOTHESIS: name (p=v, …) [tag]``."""
        out = []
        for name in self.active:
            h = REGISTRY[name]
            ps = ", ".join(f"{p.name}={self.param(name, p.name):g}" for p in h.parameters)
            out.append(f"HYPOTHESIS: {name}{f' ({ps})' if ps else ''} [{h.tag}]")
        return out

    def to_config(self) -> dict:
        """The configuration that rebuilds this set with :meth:`from_config`."""
        ov: dict[str, dict[str, float]] = {}
        for h, n, v in self.overrides:
            ov.setdefault(h, {})[n] = float(v)
        return {"active": list(self.active), "overrides": ov}


def _validate(active, overrides, field: str) -> None:
    for n in active:
        get_hypothesis(n, field=f"{field}.active")
    if len(set(active)) != len(active):
        raise ConfigError(f"{field}.active = {list(active)}: names must be unique")
    seen: dict[str, str] = {}
    for n in active:
        g = REGISTRY[n].group
        if g is None:
            continue
        if g in seen:
            raise ConfigError(f"{field}.active: {seen[g]} and {n} are mutually exclusive (group {g!r}: {GROUPS[g]}); "
                              "keep one")
        seen[g] = n
    done = set()
    for hname, pname, value in overrides:
        h = get_hypothesis(hname, field=f"{field}.overrides")
        if hname not in active:
            raise ConfigError(f"{field}.overrides.{hname}: hypothesis is not active; add it to {field}.active "
                              "or remove the override")
        p = h.parameter(pname)
        if (hname, pname) in done:
            raise ConfigError(f"{field}.overrides.{hname}.{pname}: given twice")
        done.add((hname, pname))
        _check_value(h, p, value, f"{field}.overrides")


def require_oxidant_delivery(hset: HypothesisSet) -> str:
    """The active oxidant-delivery hypothesis of an oxidant run (ConfigError if not exactly one).

    Examples
    --------
    >>> require_oxidant_delivery(HypothesisSet.from_config(["oxidant_delivery_diffusion_limited"]))
    'oxidant_delivery_diffusion_limited'
    """
    return hset.require_one_of(OXIDANT_DELIVERY)


def _params_str(h: Hypothesis) -> str:
    return "; ".join(f"{p.name} = {p.default:g} in {p.range_str}" for p in h.parameters) or "—"


def hypothesis_rows() -> list[dict[str, str]]:
    """One row of strings per hypothesis (name, group, statement, parameters, tag, evidence, enters,
    concerns, scope), as printed by ``tissuefate hypotheses``."""
    return [{"name": h.name, "group": h.group or "—", "statement": h.statement, "parameters": _params_str(h),
             "tag": h.tag, "evidence": h.evidence, "enters": h.enters, "concerns": h.concerns, "scope": h.scope}
            for h in REGISTRY.values()]


def registry_records() -> list[dict]:
    """The whole registry as JSON-serialisable dicts (``tissuefate hypotheses --json``)."""
    return [{"name": h.name, "statement": h.statement, "group": h.group, "tag": h.tag, "evidence": h.evidence,
             "enters": h.enters, "concerns": h.concerns, "scope": h.scope,
             "parameters": [{"name": p.name, "default": p.default, "low": p.low, "high": p.high, "unit": p.unit,
                             "description": p.description} for p in h.parameters]}
            for h in REGISTRY.values()]


def _md(s: str) -> str:
    return s.replace("|", "/")


def hypotheses_reference_markdown() -> str:
    """docs/hypotheses.md, generated from :data:`REGISTRY` so that the two cannot drift."""
    out = [
        "# Hypotheses",
        "",
        "<!-- generated by tissuefate.hypotheses.hypotheses_reference_markdown(); do not edit by hand -->",
        "",
        "> **Chlorine dioxide is not an approved therapy.** The FDA warned in 2019 that \"MMS\" (sodium "
        "chlorite + acid → ClO₂) causes severe vomiting, diarrhoea, life-threatening hypotension and acute "
        "liver failure and is not approved for any disease (literature.md §7). No controlled intratumoral "
        "study of chlorine dioxide exists. Every oxidant result of tissuefate is **hypothetical**: it shows "
        "what would follow *if* the named hypotheses held. A simulated volume, concentration or schedule "
        "is never dosing advice and never a recommendation for treating people.",
        "",
        "A claim without measured evidence does not enter the model silently. It lives in the "
        "**hypothesis registry** (`tissuefate.hypotheses.REGISTRY`) as a name, a one-line statement, its "
        "parameters with defaults and ranges, an evidence tag with a short source, and where it enters the "
        "model. A run switches hypotheses on by name; every result records which were active and with "
        "which parameter values (`HypothesisSet.record()`), and reports print one `HYPOTHESIS: …` banner "
        "line per active hypothesis. Defaults are illustrative, never tuned to favour a strategy.",
        "",
        "`tissuefate hypotheses` prints the registry; `tissuefate hypotheses --json` prints it as JSON.",
        "",
        "Evidence tags (as in `shared/data/literature.md`): `V` checked, `R` standard, `C` computed, "
        "`E` estimate, `ABSENT` searched for and not found, `claim` asserted by proponents without "
        "controlled data.",
        "",
        "## Using hypotheses",
        "",
        "```python",
        "from tissuefate.hypotheses import HypothesisSet",
        "",
        'name = "oxidant_delivery_convective_percolation"',
        'hs = HypothesisSet.from_config([name], {name: {"transport_demand_fraction": 0.2}})',
        'hs.param(name, "transport_demand_fraction")  # 0.2',
        'hs.require_one_of("oxidant_delivery")  # the active delivery hypothesis',
        "```",
        "",
        "Unknown names (with a close-match suggestion), unknown parameters, values outside their range, "
        "overrides of inactive hypotheses and two hypotheses of one mutually exclusive group are rejected "
        "with a `ConfigError`.",
        "",
        "## Mutually exclusive groups",
        "",
        "| group | decides | members |",
        "|---|---|---|",
    ]
    for g, desc in GROUPS.items():
        out.append(f"| `{g}` | {_md(desc)} | {', '.join(f'`{h.name}`' for h in list_hypotheses(group=g))} |")
    out += ["", "## Scope", "",
            "A hypothesis's scope says which strategies the claim is made for; "
            "`HypothesisSet.for_strategy(modality, agent)` keeps those that apply and returns the names it "
            "dropped, so that e.g. a claim made for oxidant injection never changes an RFA arm of a comparison.",
            "", "| scope | applies to |", "|---|---|"]
    out += [f"| `{k}` | {_md(v)} |" for k, v in SCOPES.items()]
    out += ["", "## Presets", "",
            "`HypothesisSet.from_preset(preset, active=(), overrides=None)` switches on the preset's hypotheses "
            "plus `active` (the union), with `overrides` validated as by `from_config`; an unknown preset or a "
            "union with two members of one exclusive group is a `ConfigError`.", "",
            "```python",
            "from tissuefate.hypotheses import HypothesisSet",
            "",
            'hs = HypothesisSet.from_preset("seed_claims",',
            '                               overrides={"dehydration_shrinkage": {"volume_fraction": 0.1}})',
            'rfa_set, dropped = hs.for_strategy("rfa", None)  # keeps scar_blocks_retreatment only',
            'oxidant_set, _ = hs.for_strategy("injection", "oxidant")  # keeps all',
            "```", "", "| preset | hypotheses | meaning |", "|---|---|---|"]
    for k, names in PRESETS.items():
        out.append(f"| `{k}` | {', '.join(f'`{n}`' for n in names) or '(none)'} | {_md(PRESET_DESCRIPTIONS[k])} |")
    out += ["", "## Summary", "", "| name | group | scope | tag | concerns | enters |", "|---|---|---|---|---|---|"]
    for h in REGISTRY.values():
        out.append(f"| `{h.name}` | {f'`{h.group}`' if h.group else '—'} | {h.scope} | {h.tag} | "
                   f"{_md(h.concerns)} | {_md(h.enters)} |")
    for h in REGISTRY.values():
        out += ["", f"## `{h.name}`", "", f"**Statement.** {h.statement}", "",
                f"**Evidence** [{h.tag}]. {h.evidence}.", "", f"**Enters.** {h.enters}.", "",
                f"**Group.** {f'`{h.group}`' if h.group else 'none'}. **Scope.** `{h.scope}`. "
                f"**Concerns.** {h.concerns}.", ""]
        if h.parameters:
            out += ["| parameter | default | range | unit | meaning |", "|---|---|---|---|---|"]
            out += [f"| `{p.name}` | {p.default:g} | [{p.low:g}, {p.high:g}] | {p.unit} | {_md(p.description)} |"
                    for p in h.parameters]
        else:
            out.append("No parameters.")
    return "\n".join(out)
