"""Homogeneous liver block for calibration and ex vivo cases."""

from __future__ import annotations

import numpy as np
import pytest

from tissuefate.anatomy import block_state, tumour_mask
from tissuefate.errors import ConfigError, GeometryError
from tissuefate.geometry import distance_to_segment_m
from tissuefate.grid import Grid
from tissuefate.tissue.labels import Label


@pytest.fixture
def grid():
    return Grid.cube(40, 1e-3)


def test_plain_block_is_parenchyma(grid):
    st = block_state(grid)
    assert np.all(st.label == Label.PARENCHYMA)
    assert np.all(st.normal == 1) and np.all(st.tumour == 0) and np.all(st.vascular == 1)
    assert st.meta["n_tumours"] == 0 and not st.meta["tumour_id"].any()
    st.check()


@pytest.mark.parametrize("kind", ["hcc", "metastasis"])
def test_spherical_tumour(grid, kind):
    st = block_state(grid, tumour_diameter_m=16e-3, tumour_type=kind)
    assert st.tumour_type == kind
    n = np.count_nonzero(st.label == Label.TUMOUR)
    assert n * 1e-9 == pytest.approx(np.pi / 6 * 0.016**3, rel=0.05)
    np.testing.assert_array_equal(tumour_mask(st, 0), st.label == Label.TUMOUR)
    np.testing.assert_array_equal(st.tumour, (st.label == Label.TUMOUR).astype(np.float32))
    assert not np.any(st.label == Label.CAPSULE)  # no capsule in the block


def test_vessel_through_block_is_a_heat_sink(grid):
    point, direction, d = (0.008, 0.0, 0.0), (0.0, 1.0, 1.0), 5e-3
    st = block_state(grid, tumour_diameter_m=12e-3, vessel=(point, direction, d))
    v = st.label == Label.LARGE_VESSEL
    u = np.array(direction) / np.sqrt(2)
    dist = distance_to_segment_m(grid, np.array(point) - u, np.array(point) + u)
    np.testing.assert_array_equal(v, dist <= d / 2 + 1e-12)
    # it crosses the whole block: present on the first and last y planes
    assert v[:, 0, :].any() and v[:, -1, :].any()
    # the tumour (centred, 12 mm) would reach the vessel wall at 8 - 2.5 = 5.5 mm: never over it
    assert st.tumour[v].max() == 0
    assert np.all(st.label[~v & (dist > d / 2)] != Label.LARGE_VESSEL)


def test_off_centre_tumour_and_dtype(grid):
    st = block_state(
        grid, tumour_diameter_m=6e-3, tumour_centre_m=(0.01, 0.0, -0.01), dtype=np.float64
    )
    assert st.dtype == np.float64
    assert st.label[grid.index_of((0.01, 0.0, -0.01))] == Label.TUMOUR
    assert st.label[grid.index_of((0.0, 0.0, 0.0))] == Label.PARENCHYMA


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(tumour_diameter_m=0.0), ConfigError, r"tumour_diameter_m = 0.0 m: must be > 0"),
        (dict(tumour_diameter_m=-1e-3), ConfigError, r"tumour_diameter_m"),
        (dict(tumour_diameter_m=0.1), ConfigError, r"smallest edge"),
        (dict(tumour_diameter_m=1e-3), ConfigError, r"two voxels"),
        (
            dict(tumour_diameter_m=10e-3, tumour_centre_m=(0.018, 0.0, 0.0)),
            GeometryError,
            r"leaves the block",
        ),
        (dict(tumour_type="cyst"), ConfigError, r"tumour_type = 'cyst'"),
        (dict(vessel=((0, 0, 0), (0, 0, 1))), ConfigError, r"\(point_m, direction, diameter_m\)"),
        (dict(vessel=((0, 0, 0), (0, 0, 0), 5e-3)), ConfigError, r"vessel"),
        (dict(vessel=((0, 0, 0), (0, 0, 1), 5.0)), ConfigError, r"metres, not millimetres"),
    ],
)
def test_bad_input(grid, kwargs, error, match):
    with pytest.raises(error, match=match):
        block_state(grid, **kwargs)
