"""Planning helpers: Shiina volumes, session split, needle / cryoprobe / IRE layouts and their coverage."""

import doctest
import math

import numpy as np
import pytest

import tissuefate.therapy.planning as planning
from tissuefate.errors import ConfigError
from tissuefate.therapy.planning import (
    cryo_lethal_reach_m,
    plan_cryoprobes,
    plan_ethanol_sessions,
    plan_injection_needles,
    plan_ire_pairs,
    shiina_total_ethanol_volume_m3,
)
from tissuefate.tissue.properties import PLANNING, all_params


def test_doctests():
    res = doctest.testmod(planning, optionflags=doctest.ELLIPSIS)
    assert res.attempted >= 10 and res.failed == 0


def test_planning_params_are_sourced():
    names = [n for n, _ in all_params() if n.startswith("planning.")]
    assert len(names) == len(PLANNING)
    for p in PLANNING.values():
        assert p.source and p.tag in {"V", "R", "C", "E"}


@pytest.mark.parametrize("diameter_cm, volume_mL", [(1, 4.2), (2, 14.1), (3, 33.5), (4, 65.4)])
def test_shiina_volumes(diameter_cm, volume_mL):
    assert shiina_total_ethanol_volume_m3(diameter_cm / 200) * 1e6 == pytest.approx(volume_mL, abs=0.05)


def test_ethanol_sessions_split_under_cap():
    for r in (0.004, 0.01, 0.015, 0.02, 0.03):
        total = shiina_total_ethanol_volume_m3(r)
        for cap in (2e-6, 5e-6, 10e-6, 20e-6):
            s = plan_ethanol_sessions(r, cap)
            assert sum(s) == pytest.approx(total, rel=1e-12)
            assert max(s) <= cap * (1 + 1e-12)
            assert len(s) == math.ceil(total / cap - 1e-12)
    # default cap 10 mL: a 4 cm tumour (65.4 mL) takes 7 sessions of 9.35 mL
    s = plan_ethanol_sessions(0.02)
    assert len(s) == 7 and s[0] * 1e6 == pytest.approx(9.35, abs=0.01)
    assert [len(plan_ethanol_sessions(r)) for r in (0.005, 0.01, 0.015, 0.02)] == [1, 2, 4, 7]


@pytest.mark.parametrize("call, match", [
    (lambda: shiina_total_ethanol_volume_m3(-0.01), "tumour_radius_m"),
    (lambda: shiina_total_ethanol_volume_m3(15.0), "did you pass mm"),
    (lambda: shiina_total_ethanol_volume_m3(float("nan")), "tumour_radius_m"),
    (lambda: plan_ethanol_sessions(0.01, 0.0), "per_session_cap_m3"),
    (lambda: plan_ethanol_sessions(0.01, 10.0), "did you pass mL"),
    (lambda: plan_injection_needles((0, 0), 0.01, 0.01), "target_centre_m"),
    (lambda: plan_injection_needles((0, 0, 0), 0.01, 0.0), "reach_radius_m"),
    (lambda: plan_injection_needles((0, 0, 0), 0.01, 0.01, max_needles=0), "max_needles"),
    (lambda: plan_injection_needles((0, 0, 0), 0.02, 0.01), "no layout"),
    (lambda: plan_injection_needles((0, 0, 0), 0.012, 0.01, max_needles=4), "no layout"),
    (lambda: plan_injection_needles((0, 0, 0), 0.01, 0.01, direction=(0, 0, 0)), "direction"),
    (lambda: plan_cryoprobes(0.01, -0.001), "margin_m"),
    (lambda: plan_cryoprobes(0.03), "exceeds"),
    (lambda: plan_cryoprobes(0.01, max_probes=9), "max_probes"),
    (lambda: plan_cryoprobes(0.01, min_spacing_m=0.03, max_spacing_m=0.02), "spacing"),
    (lambda: plan_ire_pairs(0.02), "exceeds"),
    (lambda: plan_ire_pairs(0.01, max_electrodes=1), "max_electrodes"),
    (lambda: plan_ire_pairs(0.01, max_voltage_V=0.0), "max_voltage_V"),
])
def test_bad_inputs(call, match):
    with pytest.raises(ConfigError, match=match):
        call()


def _brute_needle_coverage(plan, n=30_000, seed=7):
    g = np.random.default_rng(seed)
    u = g.standard_normal((n, 3))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    c = plan.tips_m.mean(axis=0) if plan.layout != "single" else plan.tips_m[0]
    pts = c + u * plan.target_radius_m * g.random((n, 1)) ** (1 / 3)
    d = np.sqrt(((pts[:, None] - plan.tips_m[None]) ** 2).sum(-1)).min(1)
    return float(np.mean(d <= plan.reach_radius_m * (1 + 1e-9))), float(d.max())


@pytest.mark.parametrize("ratio", [0.6, 1.0, 1.05, 1.2, 1.5, 1.64])
def test_needle_layouts_cover_target(ratio):
    reach = 0.008
    plan = plan_injection_needles((0.01, -0.02, 0.03), ratio * reach, reach, direction=(1, 1, 0))
    assert plan.covered_fraction >= 0.99
    frac, worst = _brute_needle_coverage(plan)
    assert frac >= 0.99 and worst <= plan.worst_distance_m * (1 + 1e-6) <= reach * (1 + 1e-6)
    # tips symmetric about the target centre
    assert np.allclose(plan.tips_m.mean(axis=0), (0.01, -0.02, 0.03), atol=1e-12)
    assert plan.direction == pytest.approx(tuple(np.array([1, 1, 0]) / math.sqrt(2)))


def test_needle_count_monotone_and_single_when_reach_suffices():
    reach = 0.01
    counts = [plan_injection_needles((0, 0, 0), x * reach, reach).n_needles for x in np.linspace(0.2, 1.64, 40)]
    assert counts == sorted(counts) and counts[0] == 1 and counts[-1] == 13
    assert plan_injection_needles((0, 0, 0), reach, reach).n_needles == 1
    # octahedron along the needle direction: the two axial tips share one tract
    p = plan_injection_needles((0, 0, 0), 1.1 * reach, reach)
    assert (p.layout, p.n_needles, p.n_tracts) == ("octahedron", 6, 5)


def test_covering_angles_match_dense_sampling():
    g = np.random.default_rng(1)
    u = g.standard_normal((200_000, 3))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    for name in ("tetrahedron", "octahedron", "icosahedron"):
        dirs, c = planning._shell(name)
        assert np.allclose(np.linalg.norm(dirs, axis=1), 1.0)
        worst_cos = float((u @ dirs.T).max(axis=1).min())
        assert worst_cos == pytest.approx(c, abs=2e-3) and worst_cos >= c - 1e-12


def test_cryo_reaches_from_littrup():
    assert cryo_lethal_reach_m(1) == pytest.approx(0.006)
    assert cryo_lethal_reach_m(2) == pytest.approx(0.0065)
    assert cryo_lethal_reach_m(3) == pytest.approx(0.0205 - 0.02 / math.sqrt(3))
    assert cryo_lethal_reach_m(4) == cryo_lethal_reach_m(8) == pytest.approx(0.0245 - 0.02 / math.sqrt(2))


@pytest.mark.parametrize("r_mm", [0.5, 3, 8, 12, 16, 20, 23])
def test_cryo_layouts_cover_and_respect_spacing(r_mm):
    p = plan_cryoprobes(r_mm * 1e-3)
    assert 1 <= p.n <= 8
    assert p.covered_fraction >= 0.99
    if p.n > 1:
        d = np.linalg.norm(p.offsets_m[:, None] - p.offsets_m[None], axis=-1)
        nn = np.where(np.eye(p.n, dtype=bool), np.inf, d).min(axis=1)
        assert nn.min() >= 0.015 - 1e-12 and nn.max() <= 0.020 + 1e-12
    assert np.allclose(p.offsets_m.mean(axis=0), 0.0, atol=1e-12)


def test_cryo_count_monotone_with_size():
    counts = [plan_cryoprobes(r).n for r in np.linspace(0.0005, 0.0233, 60)]
    assert counts == sorted(counts) and counts[0] == 1 and counts[-1] == 8


def test_coverage_measure_can_fail():
    # the sampled coverage is a real measurement: the same layout on a larger disc is not covered
    p = plan_cryoprobes(0.01)
    pts = planning._disc_samples(0.03, 5000, np.random.default_rng(0))
    hull = p.offsets_m
    assert np.mean(planning._dist_to_hull(pts, hull) <= p.reach_m) < 0.9
    assert planning._dist_to_hull(np.array([[0.0, 0.0]]), hull)[0] == 0.0


def test_cryo_tips_build_probes():
    from tissuefate.physics.cryo import Cryoprobe

    p = plan_cryoprobes(0.012)
    tips = p.tips_m((0.01, 0.0, 0.0), 0.04, direction=(1, 0, 0))
    probes = [Cryoprobe(tuple(t), (1, 0, 0), 0.04, 2.4e-3) for t in tips]
    mids = np.array([np.asarray(q.tip_m) + 0.02 * np.array([1, 0, 0]) for q in probes])
    assert np.allclose(mids[:, 0], 0.01)  # mid-plane through the target centre
    assert np.allclose(np.sort(np.linalg.norm(mids[:, 1:], axis=1)), np.sort(np.linalg.norm(p.offsets_m, axis=1)))


@pytest.mark.parametrize("r_mm", [1, 4, 7, 10])
def test_ire_pairs_and_voltages(r_mm):
    p = plan_ire_pairs(r_mm * 1e-3, 0.005)
    assert 2 <= p.n_electrodes <= 6
    assert p.cluster.covered_fraction >= 0.99
    xy = p.offsets_m
    for (i, j), d, v, c in zip(p.pairs, p.spacings_m, p.voltages_V, p.capped, strict=True):
        assert i < j and d == pytest.approx(np.linalg.norm(xy[i] - xy[j]))
        assert 0.015 - 1e-12 <= d <= 0.020 + 1e-12
        assert v == pytest.approx(min(1.5e5 * d, 3000.0)) and not c
    # every electrode is in at least one pulsed pair; unpulsed pairs are farther than the maximum
    assert {k for pr in p.pairs for k in pr} == set(range(p.n_electrodes))
    for i in range(p.n_electrodes):
        for j in range(i + 1, p.n_electrodes):
            if (i, j) not in p.pairs:
                assert np.linalg.norm(xy[i] - xy[j]) > 0.020


def test_ire_count_monotone_and_cap():
    counts = [plan_ire_pairs(r, 0.005).n_electrodes for r in np.linspace(0.0005, 0.0112, 40)]
    assert counts == sorted(counts) and counts[0] == 3 and counts[-1] == 6
    p = plan_ire_pairs(0.008, 0.005, max_voltage_V=2500.0)
    assert max(p.voltages_V) == 2500.0 and any(p.capped)


def test_ire_tips_build_electrodes():
    from tissuefate.physics.ire import IREElectrode

    p = plan_ire_pairs(0.005, 0.005)
    els = [IREElectrode(tuple(t), (0, 0, 1), 0.02) for t in p.cluster.tips_m((0, 0, 0), 0.02)]
    assert len(els) == p.n_electrodes and all(e.tip_m[2] == pytest.approx(-0.01) for e in els)


def test_seeded_coverage_reproducible():
    a = plan_injection_needles((0, 0, 0), 0.012, 0.01, rng=np.random.default_rng(3), n_samples=500)
    b = plan_injection_needles((0, 0, 0), 0.012, 0.01, rng=np.random.default_rng(3), n_samples=500)
    assert a.covered_fraction == b.covered_fraction and np.array_equal(a.tips_m, b.tips_m)


@pytest.mark.slow
def test_ire_plan_covered_by_field_solver():
    """The bracketing rule against tissuefate's own field solver (1 mm voxels, ~20 s)."""
    from tissuefate.grid import Grid
    from tissuefate.physics.ire import IREElectrode, IREProtocol, solve_ire
    from tissuefate.tissue.properties import IRE

    p = plan_ire_pairs(0.002, 0.005)  # triangle, disc of 7 mm
    assert p.cluster.layout == "triangle"
    h, shape = 1e-3, (48, 48, 44)
    g = Grid(shape, (h,) * 3, tuple(-0.5 * (n - 1) * h for n in shape))
    els = [IREElectrode(tuple(t), (0, 0, 1), 0.02) for t in p.cluster.tips_m((0, 0, 0), 0.02)]
    r = solve_ire(g, IRE["liver_sigma0_S_per_m"].value, els, IREProtocol(max(p.voltages_V)), pairs=p.pairs,
                  thermal_model="none")
    x, y, z = g.coordinates_m()
    disc = (np.hypot(x, y) <= 0.007) & (np.abs(z) <= h / 2 + 1e-9)
    assert r.killed[disc].mean() >= 0.99
