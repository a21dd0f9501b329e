"""Unit tests of the parametric microwave-ablation source (physics.microwave)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tissuefate.errors import ConfigError, GeometryError
from tissuefate.grid import Grid
from tissuefate.physics.microwave import (
    AntennaModel,
    MicrowaveSource,
    attenuation_per_m,
    dielectric_properties,
)
from tissuefate.tissue.properties import DIELECTRIC

BODY_K = 310.15

# Small test boxes cut off part of the pattern; the warning about it is tested once, explicitly.
pytestmark = pytest.mark.filterwarnings("ignore:MicrowaveSource:RuntimeWarning")


def body(grid, dtype=np.float32):
    return np.full(grid.shape, BODY_K, dtype=dtype)


def moments(grid, q, centre, mask=None):
    """Q-weighted second central moment tensor about ``centre`` [m²]."""
    x, y, z = grid.coordinates_m()
    r = [x - centre[0], y - centre[1], z - centre[2]]
    w = q if mask is None else q * mask
    w = w / w.sum()
    return np.array([[float(np.sum(w * r[i] * r[j])) for j in range(3)] for i in range(3)])


# --- dielectric properties --------------------------------------------------------------------


@pytest.mark.parametrize(
    "f, eps_key, sig_key",
    [
        (915e6, "eps_r_915MHz", "sigma_915MHz_S_per_m"),
        (2.45e9, "eps_r_2450MHz", "sigma_2450MHz_S_per_m"),
    ],
)
def test_dielectric_at_37C_is_gabriel(f, eps_key, sig_key):
    eps, sig = dielectric_properties(BODY_K, f)
    assert float(eps) == pytest.approx(DIELECTRIC[eps_key].value, rel=1e-9)
    assert float(sig) == pytest.approx(DIELECTRIC[sig_key].value, rel=1e-9)


@pytest.mark.parametrize("f", [915e6, 2.45e9])
def test_tumour_fraction_applies_stauffer_ratios(f):
    e0, s0 = dielectric_properties(330.0, f)
    e1, s1 = dielectric_properties(330.0, f, tumour_fraction=1.0)
    eh, sh = dielectric_properties(330.0, f, tumour_fraction=0.5)
    assert float(e1 / e0) == pytest.approx(1.12)
    assert float(s1 / s0) == pytest.approx(1.24)
    assert float(sh / s0) == pytest.approx(1.12)
    with pytest.raises(ConfigError, match="tumour_fraction"):
        dielectric_properties(330.0, f, tumour_fraction=1.5)


def test_ji_brace_absolute_is_the_published_sigmoid():
    T = 60.0
    eps_pub = 48.391 * (1 - 1 / (1 + math.exp(5.223 - 0.0764 * T))) + 1
    sig_pub = 2.173 * (1 - 1 / (1 + math.exp(5.951 - 0.0697 * T))) + 0.0114
    eps, sig = dielectric_properties(T + 273.15, 2.45e9, ji_brace_absolute=True)
    assert float(eps) == pytest.approx(eps_pub, rel=1e-9)
    assert float(sig) == pytest.approx(sig_pub, rel=1e-9)


def test_2450_properties_fall_with_temperature():
    T = np.linspace(310.15, 400.0, 50)
    eps, sig = dielectric_properties(T, 2.45e9)
    assert np.all(np.diff(eps) < 0) and np.all(np.diff(sig) < 0)
    assert eps[-1] > 1.0 and sig[-1] > 0.0
    # dehydrated tissue at 100 °C keeps ~1/3 of its conductivity, ~1/9 of its permittivity
    e100, s100 = dielectric_properties(373.15, 2.45e9)
    assert 0.2 < float(s100) / 1.69 < 0.4 and 0.05 < float(e100) / 43.03 < 0.15


def test_915_linear_law_and_clamp_above_60C():
    e0, s0 = dielectric_properties(BODY_K, 915e6)
    e50, s50 = dielectric_properties(BODY_K + 13.0, 915e6)
    assert float(s50 / s0) == pytest.approx(1 + 0.0182 * 13.0)
    assert float(e50 / e0) == pytest.approx(1 - 0.0013 * 13.0)
    e60, s60 = dielectric_properties(333.15, 915e6)
    e90, s90 = dielectric_properties(363.15, 915e6)
    assert float(s90) == float(s60) and float(e90) == float(e60)


def test_dtype_follows_temperature():
    T = np.full(5, 320.0, dtype=np.float32)
    eps, sig = dielectric_properties(T, 2.45e9)
    assert eps.dtype == np.float32 and sig.dtype == np.float32
    assert attenuation_per_m(eps, sig, 2.45e9).dtype == np.float32


@pytest.mark.parametrize("bad", [2.45e9 * 1.01, 433e6, 0.0, float("nan"), "x"])
def test_bad_frequency_names_field_and_options(bad):
    with pytest.raises(ConfigError, match=r"frequency_Hz.*915e6.*2\.45e9"):
        dielectric_properties(BODY_K, bad)


def test_frequency_in_MHz_gets_a_hint():
    with pytest.raises(ConfigError, match="MHz"):
        AntennaModel.default("monopole", 2450.0)


# --- antenna model ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["monopole", "dual-slot"])
@pytest.mark.parametrize("f", [915e6, 2.45e9])
def test_defaults_exist_with_sources(kind, f):
    m = AntennaModel.default(kind, f)
    names = [n for n, _ in m.params()]
    assert len(names) == 7
    for _, p in m.params():
        assert p.tag in ("E", "cal") and p.source
    # calibrated effective absorbed fraction (docs/validation.md); physical range would be 0.6-0.85
    assert 0.2 <= m.efficiency.value <= 0.85 and m.efficiency.tag == "cal"
    assert "44.8 x 31.2" in m.efficiency.note


def test_model_validation_and_with_values():
    with pytest.raises(ConfigError, match="antenna_type"):
        AntennaModel.default("helix", 2.45e9)
    m = AntennaModel.default()
    with pytest.raises(ConfigError, match="millimetres"):
        m.with_values(slot_distance_m=9.0)
    with pytest.raises(ConfigError, match="efficiency"):
        m.with_values(efficiency=1.2)
    with pytest.raises(ConfigError, match="no parameter"):
        m.with_values(gain=2.0)
    m2 = m.with_values(axial_width_m=6e-3)
    assert m2.axial_width_m.value == 6e-3 and m2.axial_width_m.tag == "user"
    assert m2.axial_width_m.unit == "m" and m.axial_width_m.value == 5e-3


def test_axial_profile_spreads_without_losing_power():
    m = AntennaModel.default("monopole", 2.45e9)
    u = np.linspace(-0.2, 0.3, 20001)
    du = u[1] - u[0]
    w, a, L = m.axial_width_m.value, m.tail_fraction.value, m.tail_length_m.value
    exact = w * math.sqrt(math.pi / 2) * (2 - a) + a * L
    g0 = m.axial_profile(u)
    assert float(g0.max()) == pytest.approx(1.0, abs=1e-6)
    assert u[np.argmax(g0)] == pytest.approx(m.slot_distance_m.value, abs=2 * du)
    for rho in (0.0, 0.01, 0.03):
        assert float(np.sum(m.axial_profile(u, rho)) * du) == pytest.approx(exact, rel=1e-4)
    # the backward tail: more power behind the slot than in front of it
    us = m.slot_distance_m.value
    assert np.sum(g0[u > us]) > 1.3 * np.sum(g0[u < us])


# --- source: validation -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def small():
    return Grid.cube(25, 1.5e-3)


def test_source_rejects_bad_arguments(small):
    m = AntennaModel.default()
    with pytest.raises(ConfigError, match="power_W.*Did you mean 30"):
        MicrowaveSource(small, (0, 0, 0), (0, 0, 1), m, -30.0)
    with pytest.raises(ConfigError, match="power_W"):
        MicrowaveSource(small, (0, 0, 0), (0, 0, 1), m, 8e4)
    for d in [(0, 0, 0), (0, float("nan"), 1), (1, 0)]:
        with pytest.raises(ConfigError, match="direction"):
            MicrowaveSource(small, (0, 0, 0), d, m, 30.0)
    with pytest.raises(GeometryError, match="tip_m"):
        MicrowaveSource(small, (0.5, 0, 0), (0, 0, 1), m, 30.0)
    with pytest.raises(ConfigError, match="AntennaModel"):
        MicrowaveSource(small, (0, 0, 0), (0, 0, 1), "monopole", 30.0)
    src = MicrowaveSource(small, (0, 0, 0), (0, 0, 1), m, 30.0)
    with pytest.raises(ConfigError, match="shape"):
        src.heating_W_per_m3(np.full((3, 3, 3), BODY_K))
    with pytest.raises(ConfigError, match="power_W"):
        src.power_W = -1.0


# --- source: normalisation, symmetry, shape ---------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_power_normalisation(dtype):
    g = Grid.cube(41, 1e-3)
    m = AntennaModel.default("monopole", 2.45e9)
    src = MicrowaveSource(g, (0, 0, -0.012), (0, 0, 1), m, 80.0)
    q = src.heating_W_per_m3(body(g, dtype))
    assert q.dtype == dtype and q.shape == g.shape
    assert np.all(q >= 0) and np.all(np.isfinite(q))
    total = float(np.sum(q, dtype=np.float64)) * g.voxel_volume_m3
    assert total == pytest.approx(m.efficiency.value * 80.0, rel=1e-3)
    src.power_W = 40.0
    q2 = src.heating_W_per_m3(body(g, dtype))
    np.testing.assert_allclose(q2, 0.5 * q, rtol=1e-5)
    src.power_W = 0.0
    assert not np.any(src.heating_W_per_m3(body(g, dtype)))


def test_outside_voxels_get_no_heat():
    g = Grid.cube(33, 1e-3)
    x, _, _ = g.coordinates_m()
    outside = np.broadcast_to(x > 0.004, g.shape)  # liver surface 4 mm from the antenna
    m = AntennaModel.default("dual-slot", 2.45e9)
    src = MicrowaveSource(g, (0, 0, -0.01), (0, 0, 1), m, 60.0, outside_mask=outside)
    q = src.heating_W_per_m3(body(g))
    assert not np.any(q[outside])
    assert float(q.sum()) * g.voxel_volume_m3 == pytest.approx(AntennaModel.default().efficiency.value * 60.0, rel=1e-3)
    assert src.captured_fraction < 0.8


def test_tumour_absorbs_more_than_liver():
    g = Grid.cube(33, 1e-3)
    x, _, _ = g.coordinates_m()
    tf = np.broadcast_to(x > 0, g.shape).astype(np.float32)
    m = AntennaModel.default("monopole", 2.45e9)
    src = MicrowaveSource(g, (0, 0, -0.01), (0, 0, 1), m, 60.0, tumour_fraction=tf)
    q = src.heating_W_per_m3(body(g))
    c = 16
    ratio = q[c + 4, c, c] / q[c - 4, c, c]
    assert 1.1 < ratio < 1.3


@pytest.mark.parametrize("axis", [0, 2])
def test_pattern_is_axisymmetric(axis):
    g = Grid.cube(33, 1e-3)
    d = np.zeros(3)
    d[axis] = 1.0
    src = MicrowaveSource(g, -0.01 * d, d, AntennaModel.default("monopole", 915e6), 60.0)
    T = body(g)
    q = src.heating_W_per_m3(T)
    qa = np.moveaxis(q, axis, 2)  # antenna along the last axis
    peak = float(q.max())
    np.testing.assert_allclose(qa, qa[::-1, ::-1, :], rtol=1e-4, atol=1e-6 * peak)
    np.testing.assert_allclose(qa, np.rot90(qa, 1, axes=(0, 1)), rtol=1e-4, atol=1e-6 * peak)
    # a temperature field with the same symmetry keeps it
    xc, yc, zc = g.coordinates_m()
    r2 = xc**2 + yc**2 + zc**2
    q_hot = src.heating_W_per_m3((BODY_K + 60.0 * np.exp(-r2 / 1e-4)).astype(np.float32))
    qh = np.moveaxis(q_hot, axis, 2)
    np.testing.assert_allclose(qh, qh[::-1, ::-1, :], rtol=1e-4, atol=1e-6 * peak)


def _axial_radial_ratio(kind):
    g = Grid((41, 41, 57), (1e-3,) * 3, (-0.02, -0.02, -0.028))
    m = AntennaModel.default(kind, 2.45e9)
    src = MicrowaveSource(g, (0, 0, -0.015), (0, 0, 1), m, 60.0)
    q = src.heating_W_per_m3(body(g, np.float64))
    x, y, z = g.coordinates_m()
    zc = float(np.sum(q * z) / q.sum())
    var_u = float(np.sum(q * (z - zc) ** 2) / q.sum())
    var_r = float(np.sum(q * (x**2 + y**2)) / q.sum()) / 2.0  # per transverse axis
    return var_u / var_r


def test_dual_slot_is_more_spherical_than_monopole():
    mono, dual = _axial_radial_ratio("monopole"), _axial_radial_ratio("dual-slot")
    assert mono > 1.3 * dual


def test_oblique_antenna_rotates_the_pattern():
    g = Grid.cube(49, 1e-3)
    m = AntennaModel.default("monopole", 2.45e9)
    us = m.slot_distance_m.value
    out = {}
    for name, d in (
        ("z", np.array([0.0, 0.0, 1.0])),
        ("oblique", np.array([1.0, -2.0, 2.0]) / 3.0),
    ):
        c = np.zeros(3)  # the slot sits at the grid centre
        src = MicrowaveSource(g, c - us * d, d, m, 60.0)
        q = src.heating_W_per_m3(body(g, np.float64))
        inside = sum(a**2 for a in g.coordinates_m()) <= 0.018**2
        out[name] = (moments(g, q, c, inside), d)
    M_z, _ = out["z"]
    M_o, d = out["oblique"]
    # rotation taking z onto d
    z = np.array([0.0, 0.0, 1.0])
    v, cth = np.cross(z, d), float(z @ d)
    vx = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    R = np.eye(3) + vx + vx @ vx / (1 + cth)
    expected = R @ M_z @ R.T
    assert np.linalg.norm(M_o - expected) / np.linalg.norm(expected) < 0.03
    w, V = np.linalg.eigh(M_o)
    assert abs(float(V[:, -1] @ d)) > 0.99  # longest axis along the antenna


def test_captured_fraction_and_renormalise_false():
    m = AntennaModel.default("monopole", 2.45e9)
    big = Grid.cube(101, 1e-3)
    src = MicrowaveSource(big, (0, 0, -0.01), (0, 0, 1), m, 50.0)
    src.heating_W_per_m3(body(big))
    assert 0.97 < src.captured_fraction < 1.02  # 1.000 ± 0.003 for boxes >= 141 mm
    small = Grid.cube(15, 1e-3)
    lost = MicrowaveSource(small, (0, 0, -0.006), (0, 0, 1), m, 50.0, renormalise=False)
    with pytest.warns(RuntimeWarning, match="beyond the region of interest.*Enlarge the region of interest"):
        q = lost.heating_W_per_m3(body(small))
    assert lost.captured_fraction < 0.8
    assert lost.outside_organ_fraction == pytest.approx(0.0, abs=1e-6)  # no outside voxels: all lost beyond
    assert lost.beyond_roi_fraction == pytest.approx(1.0 - lost.captured_fraction, abs=1e-6)
    total = float(q.sum()) * small.voxel_volume_m3
    assert total == pytest.approx(AntennaModel.default().efficiency.value * 50.0 * lost.captured_fraction, rel=1e-3)


def test_session_heating_does_not_depend_on_the_roi_size():
    """Sessions keep the infinite-medium normalisation: a box that cuts the pattern loses the cut
    power instead of pushing it into the simulated tissue (which would heat more in smaller boxes)."""
    import warnings

    from tissuefate.api import simulate
    from tissuefate.config.scenario import scenario_from_dict

    out = {}
    for n in (20, 32):
        scn = scenario_from_dict({
            "name": f"roi-{n}", "modality": "mwa", "tissue": {"species": "porcine"},
            "anatomy": {"kind": "block", "tumour_diameter_mm": 0},
            "grid": {"spacing_mm": 2.0, "roi_shape": [n, n, n + 8]},
            "applicator": {"type": "mw_antenna", "frequency_MHz": 2450},
            "protocol": {"duration_min": 1, "power_W": 60},
        })
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            r = simulate(scn)
        frac = r.settings["numerics"]["mw_captured_fraction_min"]
        absorbed = r.traces["absorbed_power_W"][0]
        out[n] = (frac, absorbed, float(r.peak_temperature_K.max()))
    (f_small, p_small, t_small), (f_big, p_big, t_big) = out[20], out[32]
    assert 0 < f_small < f_big <= 1.01
    assert p_small == pytest.approx(p_big * f_small / f_big, rel=0.02)  # the cut power is lost
    assert t_small == pytest.approx(t_big, abs=0.5)  # the same heating next to the antenna


def _two_boxes(h, n_small, n_big, centre, tip):
    """Two grids of spacing ``h`` centred (to a voxel) on ``centre``, the small one a sub-box of the
    big one, and the index slices of the small box inside the big one."""
    grids = []
    for n in (n_small, n_big):
        origin = tuple(round(c - (n // 2) * h, 6) for c in centre)  # as a crop of a phantom: rounded mm
        grids.append(Grid((n, n, n), (h, h, h), origin))
    off = [round((a - b) / h) for a, b in zip(grids[0].origin_m, grids[1].origin_m, strict=True)]
    return grids[0], grids[1], tuple(slice(o, o + n_small) for o in off)


def _axis_voxels(g, tip, d):
    """The voxels on the antenna's axis from the tip towards the handle (a 1-voxel applicator)."""
    x, y, z = g.coordinates_m()
    p = [x - tip[0], y - tip[1], z - tip[2]]
    u = p[0] * d[0] + p[1] * d[1] + p[2] * d[2]
    rho2 = p[0] ** 2 + p[1] ** 2 + p[2] ** 2 - u * u
    return np.asarray((rho2 < (0.25 * g.spacing_m[0]) ** 2) & (u > -0.5 * g.spacing_m[0]))


def test_heating_does_not_depend_on_where_the_box_puts_the_voxels():
    """An antenna along a grid axis has voxels at exactly j spacings from it; the two boxes below
    hold the same voxels at coordinates that round differently. Whole-ring binning put those
    voxels into one ring or the next by that rounding, and Q next to the antenna moved by up to
    20 % between the boxes (a 2-mm trial case); shared between rings, it is the same."""
    m = AntennaModel.default("monopole", 2.45e9)
    tip, centre = (-0.042, -0.003, -0.019), (-0.042, -0.003, -0.009)
    small, big, sl = _two_boxes(2e-3, 32, 56, centre, tip)
    qs = []
    for g in (small, big):
        app = _axis_voxels(g, tip, (0, 0, 1))
        tf = np.zeros(g.shape, np.float32)
        x, y, z = g.coordinates_m()
        tf[np.broadcast_to((x - centre[0]) ** 2 + (y - centre[1]) ** 2 + (z - centre[2]) ** 2 < 0.0085**2, g.shape)] = 1
        src = MicrowaveSource(g, tip, (0, 0, 1), m, 80.0, tumour_fraction=tf, outside_mask=app,
                              applicator_mask=app, renormalise=False)
        qs.append(src.heating_W_per_m3(body(g)))
    a, b = qs[0], qs[1][sl]
    assert np.abs(a - b).max() <= 1e-3 * a.max()


def test_heating_does_not_depend_on_how_much_of_the_body_outside_the_box_holds():
    """The organ ends 24 mm along the shaft. A box that stops before that and one that holds the
    body beyond it must heat their common voxels alike: the normalisation continues the organ
    through outside voxels (before, the rows beyond the organ absorbed nothing in the
    normalisation, which scaled Q down by 7 % in the bigger box)."""
    m = AntennaModel.default("monopole", 2.45e9)
    tip = (0.0, 0.0, -0.010)
    small, big, sl = _two_boxes(2e-3, 24, 48, (0.0, 0.0, 0.0), tip)
    qs, caps = [], []
    for g in (small, big):
        _, _, z = g.coordinates_m()
        outside = np.broadcast_to(z > 0.024, g.shape)
        app = _axis_voxels(g, tip, (0, 0, 1)) & ~outside
        src = MicrowaveSource(g, tip, (0, 0, 1), m, 80.0, outside_mask=outside | app, applicator_mask=app,
                              renormalise=False)
        qs.append(src.heating_W_per_m3(body(g)))
        caps.append(src.captured_fraction)
    a, b = qs[0], qs[1][sl]
    assert np.abs(a - b).max() <= 1e-3 * a.max()
    assert caps[0] < caps[1] < 1.0  # the bigger box holds more of the pattern; none is created


def test_applicator_mask_must_lie_in_the_outside_mask(small):
    m = AntennaModel.default("monopole", 2.45e9)
    app = np.zeros(small.shape, bool)
    app[4, 4, 4] = True
    with pytest.raises(ConfigError, match="applicator_mask marks tissue voxels"):
        MicrowaveSource(small, (0, 0, 0), (0, 0, 1), m, 30.0, applicator_mask=app)
    with pytest.raises(ConfigError, match="applicator_mask has shape"):
        MicrowaveSource(small, (0, 0, 0), (0, 0, 1), m, 30.0, outside_mask=app, applicator_mask=app[:2])


def test_lost_pattern_split_into_outside_organ_and_beyond_roi():
    """A subcapsular antenna in a box that holds its pattern: what is lost falls outside the organ
    (no advice to enlarge the region); the same antenna without the surface loses only the box's
    cut, which equals the share called 'beyond the region of interest' with the surface."""
    m = AntennaModel.default("monopole", 2.45e9)
    g = Grid.cube(101, 1e-3)
    x, _, _ = g.coordinates_m()
    out = np.broadcast_to(x > 0.004, g.shape)  # liver surface 4 mm from the antenna
    src = MicrowaveSource(g, (0, 0, -0.01), (0, 0, 1), m, 50.0, outside_mask=out, renormalise=False)
    with pytest.warns(RuntimeWarning, match="outside the organ") as rec:
        src.heating_W_per_m3(body(g))
    assert "Enlarge" not in str(rec[0].message)
    assert src.outside_organ_fraction > 0.1
    assert src.captured_fraction + src.outside_organ_fraction + src.beyond_roi_fraction == pytest.approx(1.0)
    whole = MicrowaveSource(g, (0, 0, -0.01), (0, 0, 1), m, 50.0, renormalise=False)
    whole.heating_W_per_m3(body(g))
    assert src.beyond_roi_fraction == pytest.approx(1.0 - whole.captured_fraction, abs=0.01)
    assert np.isnan(whole.beyond_roi_fraction)  # evaluated only when the captured share is below 0.8
