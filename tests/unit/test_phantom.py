"""Synthetic liver phantom: organ, vessel trees, tumour placement, cropping, errors."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from tissuefate.anatomy import (
    LARGE_VESSEL_MIN_DIAMETER_M,
    PhantomSpec,
    TumourSpec,
    build_phantom,
    crop_roi,
    tumour_mask,
)
from tissuefate.anatomy.vessels import distance_to_vessel_walls_m
from tissuefate.errors import ConfigError, GeometryError
from tissuefate.tissue.labels import Label

MM = 1e-3

MULTI = [
    TumourSpec("hcc", 20.0, "near_vessel", vessel_distance_mm=3.0, vessel_min_diameter_mm=5.0),
    TumourSpec("metastasis", 15.0, "near_vessel", vessel_distance_mm=0.0),
    TumourSpec("hcc", 20.0, "subcapsular", surface_distance_mm=2.0),
    TumourSpec("metastasis", 15.0, "central"),
]


@pytest.fixture(scope="module")
def default():
    return build_phantom()


@pytest.fixture(scope="module")
def multi():
    return build_phantom(PhantomSpec(seed=3, spacing_mm=1.0, tumours=MULTI))


def _edt_in_roi(phantom, centre_m, background_labels, n=96):
    """Voxel-based distance [m] (to the nearest voxel centre with one of ``background_labels``)
    inside a ROI around ``centre_m``: an independent check of the phantom's own measurements.
    Exact for distances below the ROI margin."""
    roi = crop_roi(phantom, centre_m, (n, n, n))
    h = phantom.grid.spacing_m[0]
    bg = np.isin(roi.label, np.asarray(background_labels, dtype=np.uint8))
    return roi, ndi.distance_transform_edt(~bg, sampling=h)


# --- reproducibility ------------------------------------------------------------------------
def test_same_seed_gives_identical_arrays():
    spec = dict(
        seed=5,
        spacing_mm=2.0,
        tumours=[TumourSpec("hcc", 20.0, "near_vessel"), TumourSpec("metastasis", 12.0)],
    )
    a = build_phantom(PhantomSpec(**spec))
    b = build_phantom(PhantomSpec(**spec))
    assert a.grid == b.grid
    np.testing.assert_array_equal(a.state.label, b.state.label)
    np.testing.assert_array_equal(a.state.meta["tumour_id"], b.state.meta["tumour_id"])
    assert a.vessels == b.vessels
    assert a.tumours == b.tumours


def test_different_seeds_give_different_trees():
    a = build_phantom(PhantomSpec(seed=5, spacing_mm=2.0, tumours=[]))
    b = build_phantom(PhantomSpec(seed=6, spacing_mm=2.0, tumours=[]))
    assert a.vessels != b.vessels
    ends_a = {s.end_m for s in a.vessels if s.generation > 0}
    ends_b = {s.end_m for s in b.vessels if s.generation > 0}
    assert not ends_a & ends_b
    assert a.state.label.shape != b.state.label.shape or np.any(a.state.label != b.state.label)


def test_non_central_tumours_leave_the_vessels_unchanged():
    bare = build_phantom(PhantomSpec(seed=7, spacing_mm=2.0, tumours=[]))
    ph = build_phantom(
        PhantomSpec(
            seed=7,
            spacing_mm=2.0,
            tumours=[TumourSpec("hcc", 25.0, "near_vessel", vessel_distance_mm=0.0)],
        )
    )
    assert ph.vessels == bare.vessels
    # tumour voxels never overwrite large vessels
    np.testing.assert_array_equal(
        ph.state.label == Label.LARGE_VESSEL, bare.state.label == Label.LARGE_VESSEL
    )


# --- organ --------------------------------------------------------------------------------------
def test_default_organ_size_and_volume(default):
    assert 1.2e-3 <= default.organ_volume_m3 <= 1.8e-3
    organ = default.state.label != Label.OUTSIDE
    ext = []
    for ax in range(3):
        idx = np.nonzero(organ.any(axis=tuple(j for j in range(3) if j != ax)))[0]
        ext.append((idx[-1] - idx[0] + 1) * default.grid.spacing_m[ax])
    assert 0.17 <= ext[0] <= 0.23  # ~20 cm transverse
    assert 0.12 <= ext[1] <= 0.18  # ~15 cm antero-posterior
    assert 0.09 <= ext[2] <= 0.14  # ~12 cm cranio-caudal
    assert all(190 <= n <= 250 for n in default.grid.shape[:1])
    # outside voxels all round (room for regions of interest at the surface)
    for ax in range(3):
        assert not organ.take([0, -1], axis=ax).any()


def test_right_lobe_is_larger_than_left(default):
    organ = default.state.label != Label.OUTSIDE
    right = organ[default.grid.axis_m(0) < -10 * MM].sum()
    left = organ[default.grid.axis_m(0) >= -10 * MM].sum()
    assert right > 1.3 * left  # right lobe (right of the portal fissure) >= 57 %


@pytest.mark.parametrize("seed", [1, 2, 11])
def test_organ_volume_range_over_seeds(seed):
    ph = build_phantom(PhantomSpec(seed=seed, spacing_mm=3.0, tumours=[]))
    assert 1.2e-3 <= ph.organ_volume_m3 <= 1.8e-3


# --- vessels ------------------------------------------------------------------------------------
def test_murray_law_at_every_bifurcation(default):
    segs = default.vessels
    children: dict[int, list[int]] = {}
    for i, s in enumerate(segs):
        if s.parent >= 0:
            assert s.parent < i  # parents precede children
            children.setdefault(s.parent, []).append(i)
    n_bif = 0
    for p, kids in children.items():
        rp = segs[p].radius_m
        rk = [segs[k].radius_m for k in kids]
        assert len(kids) in (1, 2)
        if len(kids) == 2:
            n_bif += 1
            assert rp**3 == pytest.approx(sum(r**3 for r in rk), rel=1e-9)
            assert np.allclose(segs[kids[0]].start_m, segs[p].end_m)
        else:  # continuation without branching keeps the calibre
            assert rk[0] == rp
    assert n_bif > 300


def test_trunk_and_terminal_calibres(default):
    trunks = {s.tree: s.diameter_m for s in default.vessels if s.parent < 0}
    assert set(trunks) == {"portal", "hepatic_right", "hepatic_middle", "hepatic_left", "ivc"}
    assert 12 * MM <= trunks["portal"] <= 14 * MM
    for k in ("hepatic_right", "hepatic_middle", "hepatic_left"):
        assert 8 * MM <= trunks[k] <= 12 * MM
    d = np.array([s.diameter_m for s in default.vessels])
    assert 1.0 * MM <= d.min() <= 2.0 * MM  # trees branch down to 1-2 mm
    assert np.sum(d >= LARGE_VESSEL_MIN_DIAMETER_M) > 100


def test_segments_stay_inside_the_organ(default):
    lab = default.state.label
    for s in default.vessels:
        if s.tree == "ivc":
            continue
        assert lab[default.grid.index_of(s.end_m)] != Label.OUTSIDE


def test_large_and_small_labels_follow_calibre(default):
    g = default.grid
    lab = default.state.label
    large = [s for s in default.vessels if s.is_large]
    small = [s for s in default.vessels if not s.is_large]
    rng = np.random.default_rng(0)

    def sample(label, n=1500):
        idx = np.argwhere(lab == label)
        idx = idx[rng.choice(len(idx), min(n, len(idx)), replace=False)]
        return g.world_of(idx)

    # every LARGE_VESSEL voxel lies inside a vessel of calibre >= 3 mm ...
    d_large, _ = distance_to_vessel_walls_m(sample(Label.LARGE_VESSEL), large)
    assert d_large.max() <= 1e-9
    # ... and no SMALL_VESSEL voxel does; each lies within half a voxel of a thin branch
    p_small = sample(Label.SMALL_VESSEL)
    assert distance_to_vessel_walls_m(p_small, large)[0].min() > 0
    d_small, _ = distance_to_vessel_walls_m(p_small, small)
    assert d_small.max() <= 0.5 * g.spacing_m[0] + 1e-9
    # the axis midpoint of every large segment is a heat sink
    mids = [g.index_of(0.5 * (np.array(s.start_m) + s.end_m)) for s in large if s.tree != "ivc"]
    assert all(lab[m] == Label.LARGE_VESSEL for m in mids)


# --- tumours ------------------------------------------------------------------------------------
def test_default_tumour_is_a_central_hcc(default):
    (t,) = default.tumours
    assert (t.type, t.location, t.index) == ("hcc", "central", 0)
    assert t.diameter_m == pytest.approx(20 * MM)
    assert t.depth_below_capsule_m > 15 * MM
    assert t.nearest_large_vessel_m > 10 * MM
    assert t.centre_m[0] < -10 * MM  # right lobe
    st = default.state
    assert st.tumour_type == "hcc"
    assert st.meta["n_tumours"] == 1 and st.meta["phantom_seed"] == 0
    st.check()
    # independent voxel measurements in a ROI around the tumour (margin 38 mm)
    roi, d_vessel = _edt_in_roi(default, t.centre_m, [Label.LARGE_VESSEL])
    _, d_out = _edt_in_roi(default, t.centre_m, [Label.OUTSIDE])
    m = tumour_mask(roi, 0)
    h = default.grid.spacing_m[0]
    assert d_vessel[m].min() - h > 10 * MM - h
    assert d_out[m].min() - h == pytest.approx(t.depth_below_capsule_m, abs=1e-9)


def test_equivalent_diameter_within_ten_percent(default, multi):
    for ph in (default, multi):
        for t in ph.tumours:
            n = np.count_nonzero(tumour_mask(ph.state, t.index))
            d_eq = (6 * n * ph.grid.voxel_volume_m3 / np.pi) ** (1 / 3)
            assert d_eq == pytest.approx(t.equivalent_diameter_m)
            assert abs(d_eq - t.diameter_m) <= 0.10 * t.diameter_m


def test_near_vessel_distance_within_one_voxel(multi):
    h = multi.grid.spacing_m[0]
    for spec, t in zip(MULTI, multi.tumours, strict=True):
        if spec.location != "near_vessel":
            continue
        want = spec.vessel_distance_mm * MM
        assert abs(t.nearest_large_vessel_m - want) <= h
        # independent: voxel centre distance to the nearest large-vessel voxel, minus a voxel
        roi, d_vessel = _edt_in_roi(multi, t.centre_m, [Label.LARGE_VESSEL])
        assert abs(d_vessel[tumour_mask(roi, t.index)].min() - h - want) <= h + 1e-9
        # and the neighbouring vessel has the requested calibre
        pts = multi.grid.world_of(np.argwhere(tumour_mask(multi.state, t.index)))
        big = [s for s in multi.vessels if s.diameter_m >= spec.vessel_min_diameter_mm * MM]
        gap = distance_to_vessel_walls_m(pts, big)[0].min() - 0.5 * h
        assert abs(gap - want) <= h


def test_subcapsular_depth(multi):
    h = multi.grid.spacing_m[0]
    (t,) = [t for t in multi.tumours if t.location == "subcapsular"]
    assert 0 <= t.depth_below_capsule_m <= 5 * MM
    assert abs(t.depth_below_capsule_m - 2 * MM) <= h
    roi, d_out = _edt_in_roi(multi, t.centre_m, [Label.OUTSIDE])
    m = tumour_mask(roi, t.index)
    assert d_out[m].min() - h == pytest.approx(t.depth_below_capsule_m, abs=1e-9)
    assert d_out[m].min() >= h  # fully inside: no tumour voxel is outside


def test_central_metastasis_among_others(multi):
    (t,) = [t for t in multi.tumours if t.location == "central"]
    assert t.depth_below_capsule_m > 15 * MM and t.nearest_large_vessel_m > 10 * MM
    assert multi.state.tumour_type == "hcc"  # the first tumour's type (one type per state)
    ids = multi.state.meta["tumour_id"]
    assert sorted(np.unique(ids).tolist()) == [0, 1, 2, 3, 4]
    np.testing.assert_array_equal(ids > 0, multi.state.label == Label.TUMOUR)


def _face_neighbours(mask):
    return ndi.binary_dilation(mask, structure=ndi.generate_binary_structure(3, 1)) & ~mask


def test_capsule_encloses_hcc_and_metastases_have_none(multi):
    lab = multi.state.label
    for spec, t in zip(MULTI, multi.tumours, strict=True):
        ring = lab[_face_neighbours(tumour_mask(multi.state, t.index))]
        if spec.type == "hcc":
            assert np.all(np.isin(ring, [Label.CAPSULE, Label.LARGE_VESSEL]))
            assert np.count_nonzero(ring == Label.CAPSULE) > 0.8 * ring.size
            assert t.capsule_thickness_m == pytest.approx(1 * MM)
        else:
            assert not np.any(ring == Label.CAPSULE)
            assert t.capsule_thickness_m == 0.0


def test_capsule_thickness_is_at_least_one_voxel_and_zero_means_none():
    ph = build_phantom(
        PhantomSpec(
            seed=1,
            spacing_mm=2.0,
            tumours=[
                TumourSpec("hcc", 20.0, "subcapsular", capsule_thickness_mm=0.4),
                TumourSpec("hcc", 20.0, "near_vessel", capsule_thickness_mm=0.0),
            ],
        )
    )
    lab = ph.state.label
    ring0 = lab[_face_neighbours(tumour_mask(ph.state, 0))]
    ring1 = lab[_face_neighbours(tumour_mask(ph.state, 1))]
    assert np.all(np.isin(ring0, [Label.CAPSULE, Label.LARGE_VESSEL]))
    assert ph.tumours[0].capsule_thickness_m == pytest.approx(2 * MM)
    assert not np.any(ring1 == Label.CAPSULE)


def test_explicit_position():
    ph = build_phantom(
        PhantomSpec(
            seed=2,
            spacing_mm=2.0,
            tumours=[TumourSpec("metastasis", 16.0, "explicit", position_mm=(-40.0, -20.0, 0.0))],
        )
    )
    (t,) = ph.tumours
    assert np.allclose(t.centre_m, (-0.04, -0.02, 0.0))
    assert ph.state.tumour_type == "metastasis"
    assert tumour_mask(ph.state)[ph.grid.index_of(t.centre_m)]


# --- region of interest -------------------------------------------------------------------------
def test_crop_roi_shape_meta_and_independence(default):
    t = default.tumours[0]
    roi = crop_roi(default, t.centre_m, (64, 48, 40))
    assert roi.label.shape == roi.grid.shape == (64, 48, 40)
    assert roi.tumour.shape == roi.meta["tumour_id"].shape == (64, 48, 40)
    sl = tuple(slice(a, b) for a, b in roi.meta["roi_slices"])
    np.testing.assert_array_equal(roi.label, default.state.label[sl])
    np.testing.assert_array_equal(roi.meta["tumour_id"], default.state.meta["tumour_id"][sl])
    assert roi.meta["phantom_seed"] == 0
    assert np.allclose(roi.grid.world_of((0, 0, 0)), default.grid.world_of([s.start for s in sl]))
    # the whole tumour is inside the ROI and the ROI is centred on it
    assert tumour_mask(roi, 0).sum() == tumour_mask(default.state, 0).sum()
    assert np.allclose(roi.grid.world_of(np.array(roi.grid.shape) // 2), t.centre_m, atol=1e-3)
    # an independent copy
    roi.label[:] = Label.OUTSIDE
    roi.meta["tumour_id"][:] = 0
    assert tumour_mask(default.state, 0).any()
    # default centre: the first tumour
    assert (
        crop_roi(default, shape=(32, 32, 32)).meta["roi_slices"]
        == crop_roi(default, t.centre_m, (32, 32, 32)).meta["roi_slices"]
    )


def test_crop_roi_rejects_bad_shapes(default):
    with pytest.raises(GeometryError, match="region of interest"):
        crop_roi(default, default.tumours[0].centre_m, (512, 64, 64))
    with pytest.raises(ConfigError, match="shape"):
        crop_roi(default, default.tumours[0].centre_m, (0, 64, 64))
    with pytest.raises(ConfigError, match="centre_m"):
        crop_roi(default, (0.0, np.nan, 0.0))


def test_tumour_mask_index_errors(default):
    assert tumour_mask(default.state).sum() == tumour_mask(default.state, 0).sum()
    with pytest.raises(ConfigError, match="index = 1"):
        tumour_mask(default.state, 1)
    with pytest.raises(ConfigError, match="index"):
        tumour_mask(default.state, -1)


# --- bad input ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(diameter_mm=-3.0), r"diameter_mm = -3.0 mm: must be > 0"),
        (dict(diameter_mm=0.0), r"diameter_mm"),
        (dict(diameter_mm=150.0), r"<= 100 mm"),
        (dict(type="cyst"), r"type = 'cyst'"),
        (dict(location="hilar"), r"location = 'hilar'"),
        (dict(location="explicit"), r"position_mm is required"),
        (dict(position_mm=(1.0, 2.0, 3.0)), r"only used with location = 'explicit'"),
        (dict(location="explicit", position_mm=(1.0, 2.0)), r"three finite numbers"),
        (dict(vessel_distance_mm=-1.0), r"vessel_distance_mm = -1.0 mm"),
        (dict(surface_distance_mm=8.0), r"surface_distance_mm = 8.0 mm: must be >= 0 and <= 5 mm"),
        (dict(type="metastasis", capsule_thickness_mm=1.0), r"metastasis has no capsule"),
    ],
)
def test_bad_tumour_spec(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        TumourSpec(**kwargs)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(seed=-1), r"seed = -1"),
        (dict(seed=1.5), r"seed = 1.5"),
        (dict(spacing_mm=0.1), r"spacing_mm = 0.1 mm: must be >= 0.5 and <= 4 mm"),
        (dict(organ_scale=3.0), r"organ_scale = 3.0"),
        (dict(tumours=[dict(diameter_mm=-1.0)]), r"diameter_mm = -1.0 mm"),
        (dict(tumours=["big"]), r"tumours\[0\]"),
    ],
)
def test_bad_phantom_spec(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        PhantomSpec(**kwargs)


@pytest.mark.parametrize(
    "tumour, error, match",
    [
        (
            TumourSpec(diameter_mm=4.0),
            ConfigError,
            r"tumours\[0\]\.diameter_mm = 4.0 mm.*two voxels",
        ),
        (
            TumourSpec(location="explicit", position_mm=(300.0, 0.0, 0.0)),
            GeometryError,
            r"tumours\[0\]\.position_mm = \(300.0, 0.0, 0.0\) mm lies outside the organ",
        ),
        (
            TumourSpec(location="explicit", position_mm=(-92.0, 0.0, 0.0)),
            GeometryError,
            r"reaches outside the organ",
        ),
        (
            TumourSpec(location="near_vessel", vessel_min_diameter_mm=25.0),
            GeometryError,
            r"vessel_min_diameter_mm = 25.0 mm: no vessel of that calibre",
        ),
        (
            TumourSpec(diameter_mm=70.0),
            GeometryError,
            r"tumours\[0\]: no position in the right lobe",
        ),
        (TumourSpec(diameter_mm=70.0, location="subcapsular"), GeometryError, r"could not place"),
    ],
)
def test_unsatisfiable_requests(tumour, error, match):
    with pytest.raises(error, match=match):
        build_phantom(PhantomSpec(seed=0, spacing_mm=3.0, tumours=[tumour]))


def test_too_large_for_a_small_organ():
    with pytest.raises(GeometryError, match="larger than the organ can hold"):
        build_phantom(
            PhantomSpec(spacing_mm=3.0, organ_scale=0.7, tumours=[TumourSpec(diameter_mm=95.0)])
        )


def test_build_phantom_rejects_non_spec():
    with pytest.raises(ConfigError, match="PhantomSpec"):
        build_phantom({"seed": 1})  # type: ignore[arg-type]


def test_scenario_anatomy_is_cached_but_every_caller_gets_its_own_copy():
    """build_anatomy builds a phantom once per spec and shape; the copies it hands out are equal
    to a fresh build and independent of each other (a course changes the state it carries)."""
    from tissuefate.anatomy import PhantomSpec, TumourSpec, build_phantom, crop_roi
    from tissuefate.config import build as build_mod
    from tissuefate.config.scenario import scenario_from_dict

    scn = scenario_from_dict({
        "modality": "mwa", "applicator": {"type": "mw_antenna"}, "protocol": {"power_W": 60},
        "anatomy": {"kind": "phantom", "seed": 3, "tumour_diameter_mm": 15},
        "grid": {"spacing_mm": 3.0, "roi_shape": [20, 20, 20]},
    })
    build_mod._ROI_CACHE.clear()
    a, ca = build_mod.build_anatomy(scn)
    assert len(build_mod._ROI_CACHE) == 1
    b, cb = build_mod.build_anatomy(scn)
    assert len(build_mod._ROI_CACHE) == 1
    ph = build_phantom(PhantomSpec(seed=3, spacing_mm=3.0, tumours=[TumourSpec(diameter_mm=15)]))
    fresh = crop_roi(ph, ph.tumours[0].centre_m, (20, 20, 20))
    np.testing.assert_array_equal(a.label, fresh.label)
    np.testing.assert_array_equal(a.tumour, fresh.tumour)
    np.testing.assert_array_equal(ca, cb)
    a.tumour[...] = 0.0
    a.meta["roi_centre_m"] = None
    ca[0] = 1.0
    c, cc = build_mod.build_anatomy(scn)
    np.testing.assert_array_equal(c.tumour, fresh.tumour)
    np.testing.assert_array_equal(b.tumour, fresh.tumour)
    assert c.meta["roi_centre_m"] is not None and cc[0] != 1.0
