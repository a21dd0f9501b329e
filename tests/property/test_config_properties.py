"""Any numeric value outside a field's range is rejected with a ConfigError naming the field."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tissuefate.config.scenario import scenario_from_dict
from tissuefate.errors import ConfigError

FIELDS = [
    ("protocol", "power_W", 0.0, 400.0),
    ("protocol", "duration_min", 0.0, 60.0),
    ("grid", "spacing_mm", 0.25, 4.0),
    ("tissue", "initial_temperature_degC", -20.0, 45.0),
]


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from(FIELDS),
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6),
)
def test_out_of_range_rejected(field, value):
    section, key, lo, hi = field
    data = {"modality": "rfa", section: {key: value}}
    if lo < value < hi:
        scenario_from_dict(data)
    elif value < lo or value > hi:
        with pytest.raises(ConfigError) as exc:
            scenario_from_dict(data)
        assert f"{section}.{key}" in str(exc.value)
