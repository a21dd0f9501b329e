"""The hypothesis registry, HypothesisSet validation, the CLI listing and docs/hypotheses.md."""

import ast
import doctest
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import tissuefate.hypotheses as hyp
from tissuefate.cli import app
from tissuefate.errors import ConfigError
from tissuefate.hypotheses import REGISTRY, HypothesisSet, hypotheses_reference_markdown, require_oxidant_delivery

ROOT = Path(__file__).resolve().parents[2]
DIFF = "oxidant_delivery_diffusion_limited"
CONV = "oxidant_delivery_convective_percolation"
SEL = "oxidant_tumour_selectivity"
VASC = "oxidant_tumour_microvessel_disruption"
HEMO = "oxidant_hemostasis_without_occlusion"


def test_required_names_and_parameters():
    assert {DIFF, CONV, SEL, VASC, HEMO} <= set(REGISTRY)
    assert REGISTRY[DIFF].group == REGISTRY[CONV].group == "oxidant_delivery"
    assert REGISTRY[CONV].parameter("transport_demand_fraction").default == 0.1
    p = REGISTRY[DIFF].parameter("transport_demand_fraction")
    assert (p.default, p.low, p.high) == (1.0, 1.0, 1.0)
    assert REGISTRY[SEL].parameter("normal_to_tumour_lethal_ratio").default == 2.0
    assert REGISTRY[VASC].parameter("tumour_vascular_loss_fraction").default == 0.8
    assert REGISTRY[HEMO].parameter("vessel_leak_factor").default == 0.3
    for h in REGISTRY.values():
        assert h.statement and "\n" not in h.statement
        assert h.tag and h.evidence and h.enters and h.concerns
        for q in h.parameters:
            assert q.low <= q.default <= q.high


def test_layering_imports_only_errors():
    tree = ast.parse(Path(hyp.__file__).read_text())
    relative = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level > 0]
    absolute = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    absolute += [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level == 0]
    assert relative == ["errors"]
    assert not any(m.startswith("tissuefate") for m in absolute)


def test_doctests():
    res = doctest.testmod(hyp, optionflags=doctest.ELLIPSIS)
    assert res.attempted > 5 and res.failed == 0


def test_from_config_values_and_defaults():
    hs = HypothesisSet.from_config([CONV, SEL, CONV], {CONV: {"transport_demand_fraction": 0.25}})
    assert hs.active == (CONV, SEL)
    assert hs.param(CONV, "transport_demand_fraction") == 0.25
    assert hs.param(SEL, "normal_to_tumour_lethal_ratio") == 2.0
    assert hs.param(HEMO, "vessel_leak_factor") == 0.3  # inactive → default
    assert hs.is_active(CONV) and not hs.is_active(HEMO)
    assert CONV in hs and len(hs) == 2
    assert HypothesisSet.from_config(**hs.to_config()) == hs


def test_unknown_name_suggests_close_match():
    with pytest.raises(ConfigError) as e:
        HypothesisSet.from_config(["oxidant_tumour_selectivty"])
    msg = str(e.value)
    assert "Did you mean 'oxidant_tumour_selectivity'" in msg
    assert DIFF in msg and "hypotheses.active" in msg


def test_out_of_range_message_names_everything():
    with pytest.raises(ConfigError) as e:
        HypothesisSet.from_config([SEL], {SEL: {"normal_to_tumour_lethal_ratio": 12.0}})
    msg = str(e.value)
    for part in (SEL, "normal_to_tumour_lethal_ratio", "12", "[1, 10]", " 1"):
        assert part in msg


@pytest.mark.parametrize("active, overrides, needle", [
    ([DIFF], {DIFF: {"transport_demand_fraction": 0.5}}, "fixed under this hypothesis"),
    ([CONV], {CONV: {"transport_demand_fractio": 0.5}}, "Did you mean 'transport_demand_fraction'"),
    ([CONV], {CONV: {"transport_demand_fraction": "a lot"}}, "must be a number"),
    ([CONV], {CONV: {"transport_demand_fraction": float("nan")}}, "must be in [0, 1]"),
    ([CONV], {CONV: {"transport_demand_fraction": True}}, "must be a number"),
    ([CONV], {SEL: {"normal_to_tumour_lethal_ratio": 3.0}}, "not active"),
    ([DIFF, CONV], None, "mutually exclusive"),
    (CONV, None, "must be a list"),
])
def test_invalid_configs_rejected(active, overrides, needle):
    with pytest.raises(ConfigError) as e:
        HypothesisSet.from_config(active, overrides)
    assert needle in str(e.value)


def test_field_prefix_in_messages():
    with pytest.raises(ConfigError, match=r"sessions\[1\]\.hypotheses\.overrides"):
        HypothesisSet.from_config([CONV], {CONV: {"transport_demand_fraction": 2.0}}, field="sessions[1].hypotheses")


def test_require_one_of_delivery():
    with pytest.raises(ConfigError, match="exactly one hypothesis of group 'oxidant_delivery'"):
        HypothesisSet.from_config([SEL]).require_one_of("oxidant_delivery")
    assert require_oxidant_delivery(HypothesisSet.from_config([SEL, DIFF])) == DIFF
    with pytest.raises(ConfigError, match="unknown"):
        HypothesisSet().require_one_of("oxidant_delivry")


def test_direct_construction_is_validated_and_immutable():
    with pytest.raises(ConfigError):
        HypothesisSet((DIFF, CONV))
    hs = HypothesisSet((SEL,))
    with pytest.raises(AttributeError):
        hs.active = ()  # type: ignore[misc]


def test_record_is_json_and_labels():
    hs = HypothesisSet.from_config([CONV, VASC], {VASC: {"tumour_vascular_loss_fraction": 0.5}})
    rec = json.loads(json.dumps(hs.record()))
    assert [r["name"] for r in rec] == [CONV, VASC]
    assert rec[1]["parameters"]["tumour_vascular_loss_fraction"]["value"] == 0.5
    assert rec[0]["parameters"]["transport_demand_fraction"]["value"] == 0.1
    assert rec[0]["statement"] and rec[0]["evidence"]
    labels = hs.labels()
    assert all(lab.startswith("HYPOTHESIS: ") for lab in labels)
    assert "tumour_vascular_loss_fraction=0.5" in labels[1] and "[claim]" in labels[1]
    assert HypothesisSet().record() == [] and HypothesisSet().labels() == []


runner = CliRunner()


def test_cli_table_lists_every_hypothesis():
    res = runner.invoke(app, ["hypotheses"])
    assert res.exit_code == 0, res.output
    for name in REGISTRY:
        assert name in res.stdout
    assert "hypothetical" in res.stdout


def test_cli_json():
    res = runner.invoke(app, ["hypotheses", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert [d["name"] for d in data] == list(REGISTRY)
    conv = next(d for d in data if d["name"] == CONV)
    assert conv["parameters"][0] == {**conv["parameters"][0], "name": "transport_demand_fraction",
                                     "default": 0.1, "low": 0.0, "high": 1.0}


def test_docs_up_to_date():
    doc = (ROOT / "docs" / "hypotheses.md").read_text()
    assert doc.strip() == hypotheses_reference_markdown().strip(), (
        "docs/hypotheses.md is stale: regenerate with "
        "python -c 'from tissuefate.hypotheses import hypotheses_reference_markdown as f; "
        "open(\"docs/hypotheses.md\",\"w\").write(f()+\"\\n\")'"
    )
    assert "not an approved therapy" in doc and "never dosing advice" in doc
