"""Scenario validation: every bad input is a ConfigError naming the field."""

from pathlib import Path

import pytest

from tissuefate.config.docs import scenario_reference_markdown
from tissuefate.config.scenario import estimate_memory_bytes, load_scenario, scenario_from_dict
from tissuefate.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_follow_modality():
    assert scenario_from_dict({"modality": "rfa"}).applicator.type == "rf_electrode"
    assert scenario_from_dict({"modality": "mwa"}).applicator.type == "mw_antenna"


@pytest.mark.parametrize(
    "data, field",
    [
        ({"modality": "laser"}, "modality"),
        ({"modality": "rfa", "colour": 1}, "colour"),
        ({"modality": "rfa", "tissue": {"species": "pig"}}, "tissue.species"),
        ({"modality": "rfa", "grid": {"spacing_mm": 0.001}}, "grid.spacing_mm"),
        ({"modality": "rfa", "grid": {"roi_shape": [8, 64, 64]}}, "roi_shape"),
        ({"modality": "rfa", "protocol": {"power_W": -3}}, "protocol.power_W"),
        ({"modality": "rfa", "protocol": {"duration_min": "long"}}, "protocol.duration_min"),
        ({"modality": "rfa", "tissue": {"perfusion": 80}}, "perfusion_unit"),
        ({"modality": "rfa", "tissue": {"damage_kinetics": "henriques"}}, "tissue.damage_kinetics"),
        ({"modality": "rfa", "applicator": {"type": "mw_antenna"}}, "applicator.type"),
        ({"modality": "rfa", "applicator": {"type": "rf_electrode", "gauge": 12}}, "gauge"),
        (
            {"modality": "mwa", "applicator": {"type": "mw_antenna", "frequency_MHz": 5800}},
            "frequency_MHz",
        ),
        ({"modality": "rfa", "anatomy": {"tumour_diameter_mm": 1.0}}, "tumour_diameter_mm"),
        (
            {"modality": "rfa", "anatomy": {"kind": "phantom", "tumour_diameter_mm": 0}},
            "tumour_diameter_mm",
        ),
    ],
)
def test_bad_input_names_the_field(data, field):
    with pytest.raises(ConfigError) as exc:
        scenario_from_dict(data)
    assert field in str(exc.value)


@pytest.mark.parametrize(
    "data, line",
    [
        ({"modality": "rfa", "protocol": {"power_W": 8000}},
         "protocol.power_W = 8000 W: Input should be less than or equal to 400 (allowed: > 0 and ≤ 400 W)"),
        # a value in another unit of the same quantity gets a hint
        ({"modality": "rfa", "grid": {"spacing_mm": 0.001}},
         "grid.spacing_mm = 0.001 mm: Input should be greater than or equal to 0.25 (allowed: ≥ 0.25 and ≤ 4 mm; "
         "did you mean 1 mm, a value given in metres?)"),
        ({"modality": "rfa", "protocol": {"duration_min": 720}},
         "protocol.duration_min = 720 min: Input should be less than or equal to 60 (allowed: > 0 and ≤ 60 min; "
         "did you mean 12 min, a value given in seconds?)"),
        ({"modality": "mwa", "applicator": {"type": "mw_antenna", "frequency_MHz": 2.45e9}},
         "applicator.mw_antenna.frequency_MHz = 2450000000.0 MHz: Input should be 915 or 2450 "
         "(did you mean 2450 MHz, a value given in Hz?)"),
        ({"modality": "rfa", "protocol": {"duration_min": "long"}},
         "protocol.duration_min = 'long': Input should be a valid number, unable to parse string as a number "
         "(allowed: > 0 and ≤ 60 min)"),
        # a discriminated union: the tag in the location picks the applicator's own bounds
        ({"modality": "rfa", "applicator": {"type": "rf_electrode", "active_length_mm": 500}},
         "applicator.rf_electrode.active_length_mm = 500 mm: Input should be less than or equal to 50 "
         "(allowed: ≥ 5 and ≤ 50 mm)"),
    ],
)
def test_bad_values_give_the_unit_and_the_allowed_range(data, line):
    with pytest.raises(ConfigError) as exc:
        scenario_from_dict(data, "s.toml")
    assert str(exc.value) == f"s.toml: {line}"


def test_perfusion_units_convert():
    s = scenario_from_dict(
        {"modality": "rfa", "tissue": {"perfusion": 100, "perfusion_unit": "mL_per_min_per_100g"}}
    )
    assert s.tissue.perfusion_per_s == pytest.approx(1.75e-2)


def test_ex_vivo_default_start_temperature():
    s = scenario_from_dict({"modality": "rfa", "tissue": {"condition": "ex_vivo"}})
    assert s.tissue.start_degC == 20.0 and not s.tissue.in_vivo


def test_bad_toml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_scenario(tmp_path / "nope.toml")
    p = tmp_path / "bad.toml"
    p.write_text("modality = rfa\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_scenario(p)


# scenario examples only: trial_*.toml and sensitivity_*.toml are other file kinds (their own tests load them)
@pytest.mark.parametrize("path", sorted(p for p in (ROOT / "examples").glob("*.toml")
                                        if not p.name.startswith(("trial_", "sensitivity_"))), ids=lambda p: p.name)
def test_examples_validate(path):
    load_scenario(path)


def test_memory_estimate_grows_with_grid():
    small = scenario_from_dict({"modality": "rfa", "grid": {"roi_shape": [32, 32, 32]}})
    big = scenario_from_dict({"modality": "rfa", "grid": {"roi_shape": [512, 512, 512]}})
    assert estimate_memory_bytes(big) > 20 * estimate_memory_bytes(small) > 0


def test_scenario_docs_up_to_date():
    doc = (ROOT / "docs" / "scenario.md").read_text()
    assert doc.strip() == scenario_reference_markdown().strip(), (
        "docs/scenario.md is stale: regenerate with "
        "python -c 'from tissuefate.config.docs import scenario_reference_markdown as f; "
        "open(\"docs/scenario.md\",\"w\").write(f()+\"\\n\")'"
    )


def test_zero_direction_rejected_and_direction_normalised():
    s = scenario_from_dict({"modality": "rfa", "applicator": {"type": "rf_electrode", "direction": [0, 3, 4]}})
    assert s.applicator.direction == pytest.approx((0.0, 0.6, 0.8))
    with pytest.raises(ConfigError, match="direction"):
        scenario_from_dict({"modality": "rfa", "applicator": {"type": "rf_electrode", "direction": [0, 0, 0]}})


@pytest.mark.parametrize("field, value", [("rf_conductivity_S_per_m", 0.5), ("rf_desiccation", "temperature"),
                                          ("rf_desiccation_boiled_fraction", 0.5)])
@pytest.mark.parametrize("modality", ["mwa", "cryo", "ire", "injection"])
def test_rf_only_tissue_fields_are_errors_elsewhere(modality, field, value):
    with pytest.raises(ConfigError, match=rf"tissue\.{field} = .* acts only in modality rfa .*{modality}.*remove it"):
        scenario_from_dict({"modality": modality, "tissue": {field: value}})


def test_rf_only_tissue_fields_follow_a_course_retreatment():
    """The retreatment inherits the tissue: an RFA course's RF conductivity is dropped from its ethanol
    retreatment, and an ethanol course may set it for its RFA retreatment."""
    from tissuefate.trial.spec import scenario_path_applies

    base = load_scenario(ROOT / "examples" / "course_rfa_then_ethanol.toml").model_dump(mode="json", exclude_none=True)
    base["tissue"]["rf_conductivity_S_per_m"] = 0.5
    scn = scenario_from_dict(base)
    assert scn.tissue.rf_conductivity_S_per_m == 0.5
    assert scn.retreat_scenario().tissue.rf_conductivity_S_per_m is None
    eth = {"modality": "injection", "tissue": {"rf_conductivity_S_per_m": 0.5},
           "course": {"strategy": "ethanol, then RFA", "retreat": {"modality": "rfa"}}}
    assert scenario_from_dict(eth).retreat_scenario().tissue.rf_conductivity_S_per_m == 0.5
    # trials set such a field only on the strategies it acts in
    path = "tissue.rf_conductivity_S_per_m"
    assert scenario_path_applies(path, {"modality": "rfa"})
    assert not scenario_path_applies(path, {"modality": "injection"})
    assert scenario_path_applies(path, {"modality": "injection", "course": {"retreat": {"modality": "rfa"}}})
    assert not scenario_path_applies(path, {"modality": "injection", "course": {"retreat": None}})
    assert scenario_path_applies("tissue.perfusion", {"modality": "cryo"})
