"""Every registered backend against the NumPy reference, with a dtype tolerance table.

CuPy runs only where it imports and sees a GPU; elsewhere its cases are skipped (not hidden).
"""

from __future__ import annotations

import numpy as np
import pytest

from tissuefate.backends import get_kernel
from tissuefate.grid import Grid
from tissuefate.physics.bioheat import BioheatModel
from tissuefate.physics.damage import DamageAccumulator
from tissuefate.tissue.maps import ThermalMaps
from tissuefate.tissue.properties import DAMAGE

#: Agreement with the reference. float32 Pennes: fastmath reassociation and FMA change the last
#: bits of T ≈ 310 K, whose ulp is 3e-5 K, so ≈ 4 ulp absolute. Damage exponents are evaluated
#: in float64 by every backend and rounded once into the field: a few float32 ulp relative.
TOL = {
    np.float32: {"T": dict(rtol=0, atol=1.2e-4), "damage": dict(rtol=4e-7, atol=0)},
    np.float64: {"T": dict(rtol=0, atol=1e-10), "damage": dict(rtol=1e-12, atol=0)},
}
DTYPES = [np.float32, np.float64]


@pytest.fixture(params=["numba", pytest.param("cupy", marks=pytest.mark.gpu)])
def backend(request):
    """A non-reference backend and (to_device, to_host) converters; skips absent ones."""
    name = request.param
    if name == "cupy":
        cp = pytest.importorskip("cupy")
        try:
            if cp.cuda.runtime.getDeviceCount() < 1:
                pytest.skip("CuPy is installed but sees no GPU")
        except cp.cuda.runtime.CUDARuntimeError:
            pytest.skip("CuPy is installed but sees no GPU")
        return name, cp.asarray, cp.asnumpy
    return name, np.asarray, np.asarray


def _fields(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "T": (300.0 + 80.0 * rng.random(shape)).astype(dtype),
        "k": (0.4 + 0.3 * rng.random(shape)).astype(dtype),
        "irc": (2.2e-7 + 8e-8 * rng.random(shape)).astype(dtype),
        "perf": (6e-3 * rng.random(shape)).astype(dtype),
        "q": (1e7 * rng.random(shape)).astype(dtype),
    }


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("with_q", [True, False])
@pytest.mark.parametrize("shape", [(9, 12, 17), (3, 3, 3), (2, 5, 5)])
def test_pennes_step_matches_reference(backend, dtype, with_q, shape):
    name, dev, host = backend
    f = _fields(shape, dtype)
    q = f["q"] if with_q else None
    args = (310.15, 0.37, (1 / 0.8e-3**2, 1 / 1e-3**2, 1 / 1.3e-3**2))
    ref = np.full(shape, np.nan, dtype)
    get_kernel("pennes_step", "numpy")(f["T"], ref, f["k"], f["irc"], f["perf"], q, *args)
    out = dev(np.full(shape, np.nan, dtype))
    get_kernel("pennes_step", name)(dev(f["T"]), out, dev(f["k"]), dev(f["irc"]), dev(f["perf"]),
                                    None if q is None else dev(q), *args)
    out = host(out)
    assert out.dtype == dtype
    np.testing.assert_allclose(out, ref, **TOL[dtype]["T"])
    # box faces copied exactly
    for face in (out[0], out[-1], out[:, 0], out[:, -1], out[:, :, 0], out[:, :, -1]):
        assert np.isfinite(face).all()
    np.testing.assert_array_equal(out[0], f["T"][0])
    np.testing.assert_array_equal(out[:, :, -1], f["T"][:, :, -1])

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", ["C", "F"])
def test_pennes_step_scales_the_source_as_it_reads_it(dtype, layout):
    """``q_scale`` (an RF session's V² times its source at 1 V): the reference equals a step with
    the source scaled beforehand, bit for bit; numba (flat and strided kernels) agrees with it to
    rounding, and with ``q_scale`` = 1 equals its own step without the argument bit for bit. The
    planes are long enough (38 × 67) for the flat kernel's prefetched blocks."""
    shape = (5, 38, 67)
    f = _fields(shape, dtype, seed=4)
    if layout == "F":
        f = {k: np.asfortranarray(v) for k, v in f.items()}
    args = (310.15, 0.37, (1 / 0.8e-3**2, 1 / 1e-3**2, 1 / 1.3e-3**2))
    s = 3.7e-3  # below 1: the scaled source must heat less than the unscaled one (checked below)
    run = {}
    for name, q, kw in (("ref_prescaled", f["q"] * dtype(s), {}), ("ref", f["q"], {"q_scale": s}),
                        ("numba", f["q"], {"q_scale": s}), ("numba_1", f["q"], {"q_scale": 1.0}),
                        ("numba_plain", f["q"], {})):
        out = np.full(shape, np.nan, dtype)
        backend = "numpy" if name.startswith("ref") else "numba"
        get_kernel("pennes_step", backend)(f["T"], out, f["k"], f["irc"], f["perf"], q, *args, **kw)
        run[name] = out
    np.testing.assert_array_equal(run["ref"], run["ref_prescaled"])
    np.testing.assert_allclose(run["numba"], run["ref"], **TOL[dtype]["T"])
    np.testing.assert_array_equal(run["numba_1"], run["numba_plain"])
    heated = run["ref"] - run["numba_plain"]  # the scaled source heats less than the unscaled one
    assert (heated[1:-1, 1:-1, 1:-1] < 0).all()



@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("layout", ["C", "out_offset", "out_unaligned", "F"])
def test_numba_pennes_step_layouts(dtype, layout):
    """The numba Pennes step on planes long enough for its prefetched blocks (38 × 67 voxels),
    with ``out`` one element or one byte off its allocation (another 64-byte peel than the
    inputs; no peel) and with Fortran-ordered arrays (the strided fallback)."""
    shape = (5, 40, 67)
    f = _fields(shape, dtype, seed=2)
    args = (310.15, 0.37, (1 / 0.8e-3**2, 1 / 1e-3**2, 1 / 1.3e-3**2))
    ref = get_kernel("pennes_step", "numpy")(f["T"], np.empty(shape, dtype), f["k"], f["irc"],
                                            f["perf"], f["q"], *args)
    if layout == "F":
        f = {key: np.asfortranarray(v) for key, v in f.items()}
        out = np.full(shape, np.nan, dtype, order="F")
    elif layout == "out_offset":
        out = np.full(np.prod(shape) + 1, np.nan, dtype)[1:].reshape(shape)
    elif layout == "out_unaligned":
        raw = np.zeros(np.prod(shape) * np.dtype(dtype).itemsize + 1, np.uint8)
        out = raw[1:].view(dtype).reshape(shape)
        assert not out.flags.aligned
    else:
        out = np.full(shape, np.nan, dtype)
    get_kernel("pennes_step", "numba")(f["T"], out, f["k"], f["irc"], f["perf"], f["q"], *args)
    np.testing.assert_allclose(out, ref, **TOL[dtype]["T"])
    np.testing.assert_array_equal(out[:, :, 0], f["T"][:, :, 0])
    np.testing.assert_array_equal(out[:, :, -1], f["T"][:, :, -1])


@pytest.mark.parametrize("dtype", DTYPES)
def test_arrhenius_step_matches_reference(backend, dtype):
    name, dev, host = backend
    shape = (6, 7, 8)
    rng = np.random.default_rng(1)
    T = (300.0 + 80.0 * rng.random(shape)).astype(dtype)
    T[0, 0, :3] = [310.15, 316.15, 320.0]  # the floor, 43 °C exactly, just above
    start = [(rng.random(shape) * s).astype(dtype) for s in (2.0, 50.0, 330.0)]
    args = (0.4, DAMAGE["arrhenius_A_per_s"].value, DAMAGE["arrhenius_Ea_J_per_mol"].value,
            DAMAGE["arrhenius_threshold_K"].value)
    ref = [a.copy() for a in start]
    get_kernel("arrhenius_step", "numpy")(T, *ref, *args)
    got = [dev(a.copy()) for a in start]
    get_kernel("arrhenius_step", name)(dev(T), *got, *args)
    got = [host(a) for a in got]
    for g, r in zip(got[:2], ref[:2], strict=True):
        np.testing.assert_allclose(g, r, **TOL[dtype]["damage"])
    np.testing.assert_array_equal(got[2], ref[2])
    assert (ref[0] > start[0]).any() and (ref[1] > start[1]).any()  # the test exercises updates


@pytest.mark.parametrize("dtype", DTYPES)
def test_apply_dirichlet_matches_reference(backend, dtype):
    name, dev, host = backend
    T = np.zeros((5, 6, 7), dtype)
    idx = np.array([0, 17, 100, 209], dtype=np.int64)
    vals = np.array([1.0, 2.0, 3.0, 4.0], dtype)
    ref = get_kernel("apply_dirichlet", "numpy")(T.copy(), idx, vals)
    got = host(get_kernel("apply_dirichlet", name)(dev(T.copy()), dev(idx), dev(vals)))
    np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("dtype", DTYPES)
def test_model_matches_reference_over_steps(backend, dtype):
    """BioheatModel + DamageAccumulator, 20 steps with a vessel, source and perfusion shutdown."""
    name, dev, host = backend
    grid = Grid.cube(14, 1e-3)
    f = _fields(grid.shape, dtype, seed=4)
    maps = ThermalMaps(f["k"], f["irc"], f["perf"])
    vessel = np.zeros(grid.shape, bool)
    vessel[7, :, 3] = True
    q = np.zeros(grid.shape, dtype)
    q[5:9, 5:9, 5:9] = 3e7
    results = {}
    for b in ("numpy", name):
        model = BioheatModel(grid, maps, arterial_K=310.15, dirichlet_mask=vessel, backend=b,
                             dtype=dtype)
        dmg = DamageAccumulator(grid.shape, dtype, b)
        T = model.initial(310.15)
        qb = q if b == "numpy" else dev(q)
        for i in range(20):
            T = model.step(T, qb, model.stable_time_step_s())
            dmg.update(T, model.stable_time_step_s())
            if i == 10:
                model.set_perfusion_factor(np.exp(-dmg.omega) if b == "numpy"
                                           else dev(np.exp(-host(dmg.omega))))
        results[b] = (host(T), host(dmg.omega), host(dmg.cem43_min))
    ref, got = results["numpy"], results[name]
    assert ref[0].max() > 330.0  # heated well above the damage threshold
    np.testing.assert_allclose(got[0], ref[0], rtol=0, atol=20 * TOL[dtype]["T"]["atol"])
    for g, r in zip(got[1:], ref[1:], strict=True):
        np.testing.assert_allclose(g, r, rtol=1e3 * TOL[dtype]["damage"]["rtol"],
                                   atol=1e-30)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("below", [None, 372.15])
def test_boiling_cap_numba_matches_numpy(dtype, below):
    """The fused numba boiling cap (and rehydration) gives the reference's T and dried fraction bit
    for bit; the float64 sum of the vaporised energy agrees to rounding."""
    from tissuefate.backends import get_kernel

    rng = np.random.default_rng(3)
    shape = (17, 19, 23)
    T0 = (360.0 + 25.0 * rng.random(shape)).astype(dtype)
    d0 = np.where(rng.random(shape) < 0.5, rng.random(shape), 0.0).astype(dtype)
    irc = (1.0 / (3.0e6 + 1.0e6 * rng.random(shape))).astype(dtype)
    args = (373.15, 0.78 * 1060.0 * 2.257e6) + (() if below is None else (below,))
    out = {}
    for backend in ("numpy", "numba"):
        T, d = T0.copy(), d0.copy()
        e = get_kernel("boiling_cap", backend)(T, d, irc, *args)
        out[backend] = (T, d, e)
    (Tr, dr, er), (Tn, dn, en) = out["numpy"], out["numba"]
    assert np.array_equal(Tr, Tn) and np.array_equal(dr, dn)
    assert en == pytest.approx(er, rel=1e-9) and er > 0
    assert float(Tn.max()) == pytest.approx(373.15, rel=1e-7)
    if below is not None:  # rehydrated below 99 °C, untouched between 99 and 100 °C
        cold = T0 < dtype(below)
        assert not dn[cold].any()
        mid = (T0 >= dtype(below)) & (T0 <= dtype(373.15))
        assert np.array_equal(dn[mid], d0[mid])
    # a non-contiguous view goes to the reference and still writes in place
    T, d = T0.copy(), d0.copy()
    Tv, dv, iv = T[:, ::2], d[:, ::2], irc[:, ::2]
    get_kernel("boiling_cap", "numba")(Tv, dv, iv, *args)
    Tw, dw = T0.copy(), d0.copy()
    get_kernel("boiling_cap", "numpy")(Tw[:, ::2], dw[:, ::2], iv, *args)
    assert np.array_equal(T, Tw) and np.array_equal(d, dw)


@pytest.mark.parametrize("dtype", DTYPES)
def test_damage_and_boiling_match_reference_on_a_mostly_cool_region(dtype):
    """The numba damage and boiling passes on a region that is cool except for a few scattered
    voxels (the case of a session; the random fields above are hot almost everywhere): every field
    matches the NumPy reference — the peak rises everywhere, damage and CEM43 grow only where T is
    above their floors (one voxel between the CEM43 floor and the damage threshold), a lone boiling
    voxel is capped and lone dried voxels that cooled are rehydrated. Kept as the oracle for any
    pass that skips the cool parts of the region."""
    rng = np.random.default_rng(7)
    shape = (24, 30, 40)
    T0 = (309.0 + 2.0 * rng.random(shape)).astype(dtype)  # below the CEM43 floor everywhere
    flat = T0.reshape(-1)
    spots = rng.choice(flat.size, 12, replace=False)
    flat[spots[:4]] = [313.0, 317.5, 340.0, 360.0]  # above the floors, not boiling
    flat[spots[4:7]] = [374.0, 380.0, 400.0]        # boiling
    d0 = np.zeros(shape, dtype)
    d0.reshape(-1)[spots[7:10]] = 0.3               # dried, cool: rehydrated
    d0.reshape(-1)[spots[4]] = 0.1                  # dried and boiling: dries further
    args = (0.9, DAMAGE["arrhenius_A_per_s"].value, DAMAGE["arrhenius_Ea_J_per_mol"].value,
            DAMAGE["arrhenius_threshold_K"].value)
    start = [np.zeros(shape, dtype), np.zeros(shape, dtype), (T0 - dtype(0.25)).astype(dtype)]
    ref = [a.copy() for a in start]
    got = [a.copy() for a in start]
    get_kernel("arrhenius_step", "numpy")(T0, *ref, *args)
    get_kernel("arrhenius_step", "numba")(T0, *got, *args)
    np.testing.assert_array_equal(got[2], ref[2])    # the peak, in every run
    assert np.array_equal(got[2], T0)
    for g, r in zip(got[:2], ref[:2], strict=True):
        np.testing.assert_allclose(g, r, **TOL[dtype]["damage"])
        assert np.count_nonzero(g) == np.count_nonzero(r) > 0
    irc = np.full(shape, 1.0 / 3.8e6, dtype)
    cap = (373.15, 0.78 * 1060.0 * 2.257e6, 368.15)
    dried_at = np.flatnonzero(d0)
    for ranged in (False, True):  # the flat range outside which nothing is dried, kept up to date
        out = {}
        for name in ("numpy", "numba"):
            T, d = T0.copy(), d0.copy()
            rng_ = np.array([dried_at.min(), dried_at.max() + 1]) if ranged else None
            out[name] = (T, d, get_kernel("boiling_cap", name)(T, d, irc, *cap, rng_), rng_)
        (Tr, dr, er, rr), (Tn, dn, en, rn) = out["numpy"], out["numba"]
        assert np.array_equal(Tr, Tn) and np.array_equal(dr, dn)
        assert en == pytest.approx(er, rel=1e-12) and er > 0
        assert np.count_nonzero(dn) == 3 and float(Tn.max()) == pytest.approx(373.15, rel=1e-7)
        if ranged:  # widened to the boiling voxels as well
            now = np.flatnonzero(dn)
            assert rn.tolist() == rr.tolist()
            assert rn[0] <= min(now.min(), spots[4:7].min()) and rn[1] > max(now.max(), spots[4:7].max())
