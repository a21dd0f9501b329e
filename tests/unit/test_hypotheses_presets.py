"""Issue 4: the three new hypotheses, scope, presets (from_preset) and for_strategy."""

import json

import pytest

from tissuefate.errors import ConfigError
from tissuefate.hypotheses import (
    PRESET_DESCRIPTIONS,
    PRESETS,
    REGISTRY,
    Hypothesis,
    HypothesisSet,
    hypotheses_reference_markdown,
    hypothesis_rows,
    registry_records,
)

ISCH = "secondary_ischaemic_death"
SCAR = "scar_blocks_retreatment"
SHRINK = "dehydration_shrinkage"
DIFF = "oxidant_delivery_diffusion_limited"
CONV = "oxidant_delivery_convective_percolation"


@pytest.mark.parametrize("name, params", [
    (ISCH, {"integrity_threshold": (0.3, 0.0, 1.0, "1"), "death_rate_per_day": (0.5, 0.01, 10.0, "1/day")}),
    (SCAR, {"permeability_factor": (0.01, 1e-4, 1.0, "1")}),
    (SHRINK, {"volume_fraction": (0.3, 0.0, 0.9, "1")}),
])
def test_new_hypotheses_registered(name, params):
    h = REGISTRY[name]
    assert h.tag == "claim" and h.group is None
    assert h.statement and h.evidence and h.enters and h.concerns
    assert "DESIGN.md §3.4" in h.evidence
    assert {p.name: (p.default, p.low, p.high, p.unit) for p in h.parameters} == params


def test_scopes():
    oxidant = {n for n in REGISTRY if n.startswith("oxidant_")} | {
        "debridement_enhanced_clearance", "suppressed_inflammation_fibrosis", SHRINK, ISCH}
    assert {n for n, h in REGISTRY.items() if h.scope == "oxidant"} == oxidant
    assert {n for n, h in REGISTRY.items() if h.scope == "injection"} == {SCAR}


def test_bad_scope_rejected():
    h = REGISTRY[SCAR]
    with pytest.raises(ConfigError, match="scope = 'thermal'"):
        Hypothesis(h.name, h.statement, h.parameters, h.tag, h.evidence, h.enters, h.group, h.concerns, "thermal")


def test_scope_in_records_rows_and_docs():
    recs = json.loads(json.dumps(registry_records()))
    assert {r["name"]: r["scope"] for r in recs} == {n: h.scope for n, h in REGISTRY.items()}
    assert all(r["scope"] in ("oxidant", "injection", "any") for r in hypothesis_rows())
    assert HypothesisSet.from_config([SCAR]).record()[0]["scope"] == "injection"
    doc = hypotheses_reference_markdown()
    assert "## Presets" in doc and "## Scope" in doc and "**Scope.** `injection`" in doc
    for k in PRESETS:
        assert f"| `{k}` |" in doc


def test_presets():
    assert PRESETS["literature"] == ()
    claims = {n for n, h in REGISTRY.items() if "claim" in h.tag} - {DIFF}
    assert set(PRESETS["seed_claims"]) == claims and len(PRESETS["seed_claims"]) == len(claims) == 9
    assert set(PRESET_DESCRIPTIONS) == set(PRESETS)
    assert all(d and "\n" not in d for d in PRESET_DESCRIPTIONS.values())


def test_from_preset_literature_and_seed():
    assert HypothesisSet.from_preset("literature") == HypothesisSet()
    hs = HypothesisSet.from_preset("seed_claims")
    assert hs.active == PRESETS["seed_claims"]
    assert hs.require_one_of("oxidant_delivery") == CONV
    assert hs.param(ISCH, "death_rate_per_day") == 0.5


def test_from_preset_union_and_overrides():
    hs = HypothesisSet.from_preset("literature", [ISCH, SCAR, ISCH], {SCAR: {"permeability_factor": 0.1}})
    assert hs.active == (ISCH, SCAR)
    assert hs.param(SCAR, "permeability_factor") == 0.1
    hs = HypothesisSet.from_preset("seed_claims", [SCAR], {ISCH: {"integrity_threshold": 0.5}})
    assert hs.active == PRESETS["seed_claims"]  # SCAR already in the preset: no duplicate
    assert hs.param(ISCH, "integrity_threshold") == 0.5
    assert HypothesisSet.from_config(**hs.to_config()) == hs


@pytest.mark.parametrize("preset, active, overrides, needle", [
    ("seed", (), None, "hypotheses.preset = 'seed': unknown preset; known: literature, seed_claims"),
    ("literatur", (), None, "Did you mean 'literature'"),
    (None, (), None, "hypotheses.preset = None"),
    ("seed_claims", [DIFF], None, "mutually exclusive"),
    ("literature", [CONV, DIFF], None, "mutually exclusive"),
    ("literature", ISCH, None, "must be a list"),
    ("literature", [ISCH], {ISCH: {"death_rate_per_day": 0.0}}, "must be in [0.01, 10] 1/day"),
    ("literature", [ISCH], {ISCH: {"integrity_threshold": 1.5}}, "must be in [0, 1]"),
    ("literature", [SHRINK], {SHRINK: {"volume_fraction": 0.95}}, "must be in [0, 0.9]"),
    ("literature", [SCAR], {SCAR: {"permeability_factor": 0.0}}, "must be in [0.0001, 1]"),
    ("literature", [SCAR], {SCAR: {"permeability_facto": 0.1}}, "Did you mean 'permeability_factor'"),
    ("literature", [], {SCAR: {"permeability_factor": 0.1}}, "not active"),
    ("literature", ["scar_block_retreatment"], None, "Did you mean 'scar_blocks_retreatment'"),
])
def test_from_preset_rejects(preset, active, overrides, needle):
    with pytest.raises(ConfigError) as e:
        HypothesisSet.from_preset(preset, active, overrides)
    assert needle in str(e.value)


def test_for_strategy():
    ov = {ISCH: {"integrity_threshold": 0.2}, SCAR: {"permeability_factor": 0.05}}
    hs = HypothesisSet.from_preset("seed_claims", overrides=ov)
    for modality, agent in (("injection", "ethanol"), ("injection", "acetic_acid")):
        kept, dropped = hs.for_strategy(modality, agent)
        assert kept.active == (SCAR,)  # scope "injection": every agent
        assert kept.overrides == ((SCAR, "permeability_factor", 0.05),)
        assert dropped == tuple(n for n in PRESETS["seed_claims"] if n != SCAR)
    for modality, agent in (("rfa", None), ("mwa", None), ("cryo", None), ("ire", None), ("rfa", "oxidant")):
        kept, dropped = hs.for_strategy(modality, agent)
        assert kept.active == () and kept.overrides == ()
        assert dropped == PRESETS["seed_claims"]
    kept, dropped = hs.for_strategy("injection", "oxidant")
    assert kept == hs and dropped == ()
    kept, dropped = HypothesisSet().for_strategy("rfa", None)
    assert kept == HypothesisSet() and dropped == ()


@pytest.mark.parametrize("modality, agent, needle", [
    ("injecton", "oxidant", "Did you mean 'injection'"),
    ("laser", None, "modality = 'laser': unknown"),
    ("injection", 3, "agent = 3"),
])
def test_for_strategy_rejects(modality, agent, needle):
    with pytest.raises(ConfigError) as e:
        HypothesisSet.from_preset("seed_claims").for_strategy(modality, agent)
    assert needle in str(e.value)
