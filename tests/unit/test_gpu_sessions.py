"""Whole thermal sessions with ``numerics.backend = "cupy"``.

CPU tests (always run): the scenario accepts "cupy" for RFA and MWA only; without CuPy or without
a GPU, a run ends with one clear error (API and CLI, exit 2, no traceback, before any work); the
NumPy path of the boiling cap is the previous algorithm. GPU tests (``-m gpu``, skipped where
CuPy does not import or sees no device): the boiling-cap and cold-wall device code against NumPy,
small RFA and MWA sessions on the GPU against numba in float32 and float64, and ``tissuefate run``
of an example scenario on the GPU.
"""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tissuefate.backends.registry import require_backend
from tissuefate.cli import app
from tissuefate.config.build import build_session
from tissuefate.config.scenario import scenario_from_dict
from tissuefate.errors import ConfigError, MissingExtraError
from tissuefate.grid import Grid
from tissuefate.physics.vaporisation import Vaporisation
from tissuefate.therapy.session import _ColdWall, run_session

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()

#: Small sessions: a cooled 3-cm electrode in a perfused block at 1 mm that rolls off (cold wall,
#: desiccation re-solves, perfusion shutdown), and RFA and MWA next to a large vessel in the
#: phantom at 1.5 mm (Dirichlet vessel voxels and vessel-wall exchange nodes).
RFA_BLOCK = {
    "name": "gpu-rfa-block", "modality": "rfa", "tissue": {"species": "porcine"},
    "anatomy": {"kind": "block", "tumour_diameter_mm": 12},
    "grid": {"spacing_mm": 1.0, "roi_shape": [48, 48, 64]},
    "applicator": {"type": "rf_electrode", "active_length_mm": 30, "gauge": 17, "cooled": True},
    "protocol": {"duration_min": 2.5, "control": "impedance", "power_W": 200},
}
_NEAR_VESSEL = {
    "tissue": {"species": "human"},
    "anatomy": {"kind": "phantom", "seed": 1, "tumour_type": "hcc", "tumour_diameter_mm": 20,
                "tumour_location": "near_vessel", "vessel_distance_mm": 2},
    "grid": {"spacing_mm": 1.5, "roi_shape": [44, 44, 44]},
}
RFA_VESSEL = {
    "name": "gpu-rfa-vessel", "modality": "rfa", **_NEAR_VESSEL,
    "applicator": {"type": "rf_electrode", "active_length_mm": 30, "cooled": True},
    "protocol": {"duration_min": 2, "control": "impedance", "power_W": 200},
}
MWA_VESSEL = {
    "name": "gpu-mwa-vessel", "modality": "mwa", **_NEAR_VESSEL,
    "applicator": {"type": "mw_antenna", "frequency_MHz": 2450, "antenna": "monopole"},
    "protocol": {"duration_min": 2, "power_W": 80},
}
#: the "vaporised" desiccation law: the dried fraction lives on the device and gates σ
RFA_VAPORISED = {**RFA_BLOCK, "name": "gpu-rfa-vaporised",
                 "tissue": {"species": "porcine", "rf_desiccation": "vaporised"}}
CASES = {"rfa_block": RFA_BLOCK, "rfa_vessel": RFA_VESSEL, "mwa_vessel": MWA_VESSEL,
         "rfa_vaporised": RFA_VAPORISED}

TINY_RFA_TOML = """
name = "tiny-rfa-gpu"
modality = "rfa"
[tissue]
species = "porcine"
[anatomy]
kind = "block"
tumour_diameter_mm = 12
[grid]
spacing_mm = 1.5
roi_shape = [40, 40, 48]
[applicator]
type = "rf_electrode"
active_length_mm = 20
[protocol]
duration_min = 1.5
power_W = 150
[numerics]
backend = "cupy"
"""


def _scenario(data: dict, **numerics):
    return scenario_from_dict({**data, "numerics": numerics})


@pytest.fixture
def no_cupy(monkeypatch):
    """``import cupy`` fails (whether or not CuPy is installed here)."""
    monkeypatch.setitem(sys.modules, "cupy", None)


@pytest.fixture
def cupy_without_gpu(monkeypatch):
    """A CuPy whose CUDA runtime finds no device."""

    def no_device():
        raise RuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")

    fake = types.ModuleType("cupy")
    fake.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=no_device))
    monkeypatch.setitem(sys.modules, "cupy", fake)


# ------------------------------------------------------------------------------------------------
# CPU: configuration and errors


@pytest.mark.parametrize("data", [RFA_BLOCK, MWA_VESSEL], ids=["rfa", "mwa"])
def test_scenario_accepts_cupy_for_thermal_sessions(data):
    assert _scenario(data, backend="cupy").numerics.backend == "cupy"


@pytest.mark.parametrize("modality", ["cryo", "ire", "injection"])
def test_cupy_is_refused_for_cpu_only_modalities(modality):
    with pytest.raises(ConfigError) as err:
        scenario_from_dict({"modality": modality, "numerics": {"backend": "cupy"}})
    msg = str(err.value)
    assert "numerics.backend = 'cupy'" in msg and repr(modality) in msg and "'numba'" in msg


def test_cupy_is_refused_for_a_cpu_only_retreatment():
    data = {"modality": "rfa", "numerics": {"backend": "cupy"},
            "course": {"max_sessions": 2, "retreat": {"modality": "injection"}}}
    with pytest.raises(ConfigError, match=r"course\.retreat: numerics\.backend = 'cupy'.*'injection'"):
        scenario_from_dict(data)


def test_unknown_backend_is_refused():
    with pytest.raises(ConfigError, match="numerics.backend"):
        scenario_from_dict({"modality": "rfa", "numerics": {"backend": "jax"}})


def test_missing_cupy_names_field_value_and_install(no_cupy):
    with pytest.raises(MissingExtraError) as err:
        require_backend("cupy", "numerics.backend")
    msg = str(err.value)
    assert "numerics.backend = 'cupy'" in msg
    assert 'pip install "tissuefate[gpu]"' in msg and "NVIDIA GPU" in msg and '"numba"' in msg


def test_cupy_without_gpu_is_a_config_error(cupy_without_gpu):
    with pytest.raises(ConfigError) as err:
        require_backend("cupy", "numerics.backend")
    msg = str(err.value)
    assert "numerics.backend = 'cupy'" in msg and "NVIDIA GPU" in msg and "cudaErrorNoDevice" in msg


def test_cpu_backends_pass_the_check():
    assert require_backend(None) in ("numba", "numpy")
    assert require_backend("numpy", "numerics.backend") == "numpy"


def test_session_api_refuses_cupy_before_any_work(no_cupy):
    s = build_session(_scenario(RFA_BLOCK, backend="cupy"))
    with pytest.raises(MissingExtraError, match=r"backend = 'cupy'"):
        run_session(s)


def test_course_refuses_cupy_instead_of_ending_as_numerical_failure(no_cupy):
    """The course runner turns a session's TissuefateError into a stop reason; the backend check
    comes first and raises."""
    from tissuefate.api import simulate
    from tissuefate.course import run_course

    scn = _scenario({**RFA_VESSEL, "course": {"max_sessions": 2}}, backend="cupy")
    for run in (run_course, simulate):
        with pytest.raises(MissingExtraError, match=r"numerics\.backend = 'cupy'"):
            run(scn)


def test_cli_without_cupy_exits_2_with_one_clear_error(no_cupy, tmp_path):
    p = tmp_path / "s.toml"
    p.write_text(TINY_RFA_TOML)
    out = tmp_path / "out"
    res = runner.invoke(app, ["run", str(p), "--out", str(out), "--quiet"])
    assert res.exit_code == 2, res.output
    assert "numerics.backend = 'cupy'" in res.output and "tissuefate[gpu]" in res.output
    assert "Traceback" not in res.output
    assert not out.exists()


def test_cli_cupy_with_cryo_exits_2(tmp_path):
    p = tmp_path / "s.toml"
    p.write_text("modality = 'cryo'\n[numerics]\nbackend = 'cupy'\n")
    res = runner.invoke(app, ["run", str(p), "--out", str(tmp_path / "o"), "--quiet"])
    assert res.exit_code == 2 and "numerics.backend = 'cupy'" in res.output and "'cryo'" in res.output
    assert "Traceback" not in res.output


# ------------------------------------------------------------------------------------------------
# CPU: the NumPy path of the boiling cap is the previous algorithm


def _boiling_cap_reference(T, dried, inv_rho_c, boil_K, latent):
    """Vaporisation.apply before the CuPy path was added (returns the vaporised energy sum)."""
    if float(T.max()) > boil_K:
        over = T > boil_K
        e = (T[over] - boil_K) / inv_rho_c[over]
        dried[over] = np.minimum(dried[over] + e / latent, 1.0)
        T[over] = boil_K
        return float(e.sum(dtype=np.float64))
    return 0.0


def _hot_fields(dtype, shape=(9, 10, 11), seed=3):
    rng = np.random.default_rng(seed)
    T = (340.0 + 60.0 * rng.random(shape)).astype(dtype)  # about half above 100 °C
    inv = (1.0 / (3.0e6 + 1.5e6 * rng.random(shape))).astype(dtype)
    return T, inv


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("backend", [None, "numba", "numpy"])
def test_boiling_cap_numpy_path_is_unchanged(dtype, backend):
    T, inv = _hot_fields(dtype)
    v = Vaporisation(T.shape, dtype, 1060.0, backend=backend)
    assert isinstance(v.dried, np.ndarray) and v.dried.dtype == dtype
    T_ref, dried_ref, total = T.copy(), np.zeros(T.shape, dtype), 0.0
    for _ in range(3):
        T += dtype(40.0)
        T_ref += dtype(40.0)
        v.apply(T, inv)
        total += _boiling_cap_reference(T_ref, dried_ref, inv, v.boil_K, v.latent_J_per_m3)
    np.testing.assert_array_equal(T, T_ref)
    np.testing.assert_array_equal(v.dried, dried_ref)
    if backend == "numpy":
        assert v.vaporised_J_per_m3 == total > 0
    else:  # numba sums the float64 energies per block of voxels: the same terms in another order
        assert v.vaporised_J_per_m3 == pytest.approx(total, rel=1e-12) and total > 0


# ------------------------------------------------------------------------------------------------
# GPU


@pytest.fixture(scope="module")
def cp():
    cupy = pytest.importorskip("cupy")
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            pytest.skip("CuPy is installed but sees no GPU")
    except Exception as exc:  # CUDARuntimeError without a driver or device
        pytest.skip(f"CuPy is installed but sees no GPU ({exc})")
    return cupy


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_boiling_cap_on_the_device_matches_numpy(cp, dtype):
    T, inv = _hot_fields(dtype, shape=(33, 34, 35))
    ref = Vaporisation(T.shape, dtype, 1060.0)
    dev = Vaporisation(T.shape, dtype, 1060.0, backend="cupy")
    assert isinstance(dev.dried, cp.ndarray)
    Td, invd = cp.asarray(T), cp.asarray(inv)
    for _ in range(3):
        T += dtype(40.0)
        Td += dtype(40.0)
        ref.apply(T, inv)
        dev.apply(Td, invd)
    # plain IEEE arithmetic in the kernel: the same roundings as NumPy
    np.testing.assert_array_equal(cp.asnumpy(Td), T)
    np.testing.assert_array_equal(cp.asnumpy(dev.dried), ref.dried)
    assert dev.vaporised_J_per_m3 == pytest.approx(ref.vaporised_J_per_m3, rel=1e-12)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cold_wall_on_the_device_matches_numpy(cp, dtype):
    g = Grid((12, 12, 20), (1e-3, 1e-3, 1e-3))
    e = np.zeros(g.shape, bool)
    e[6, 6, 4:15] = True
    w = _ColdWall.build(e, g, 0.7, 283.15)
    rng = np.random.default_rng(1)
    T = (310.0 + 40.0 * rng.random(g.shape)).astype(dtype)
    inv = np.full(g.shape, 2.6e-7, dtype)
    Td, invd = cp.asarray(T), cp.asarray(inv)
    for _ in range(5):
        w.apply(T, inv, 0.9)
        w.apply(Td, invd, 0.9)
    tol = dict(rtol=0, atol=1e-10) if dtype == np.float64 else dict(rtol=0, atol=1e-4)
    np.testing.assert_allclose(cp.asnumpy(Td), T, **tol)


#: GPU against numba: the same equations and decisions; float32 roundings differ (fastmath, FMA)
#: and can move a desiccation or roll-off by a step. On the CPU numba and the NumPy reference
#: agree on these cases to 2e-10 in energy, to the voxel in Ω ≥ 1 and to 4e-6 K (float64) /
#: 3e-5 K (float32) in peak temperature.
SESSION_TOL = {
    "float64": {"energy_rel": 1e-3, "omega_rel": 0.01, "peak_K": 0.05},
    "float32": {"energy_rel": 3e-3, "omega_rel": 0.02, "peak_K": 0.5},
}


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", list(CASES))
def test_session_on_gpu_matches_numba(cp, case, dtype):
    data = CASES[case]
    cpu = run_session(build_session(_scenario(data, backend="numba", dtype=dtype)))
    gpu = run_session(build_session(_scenario(data, backend="cupy", dtype=dtype)))
    tol = SESSION_TOL[dtype]

    for name in ("omega", "cem43_min", "peak_temperature_K", "final_temperature_K"):
        a = getattr(gpu, name)
        assert type(a) is np.ndarray and a.dtype == np.dtype(dtype), name
    assert gpu.settings["numerics"]["backend"] == "cupy"
    assert gpu.settings["numerics"]["n_steps"] == cpu.settings["numerics"]["n_steps"]

    key = "energy_J" if data["modality"] == "rfa" else "absorbed_energy_J"
    assert gpu.traces[key][-1] == pytest.approx(cpu.traces[key][-1], rel=tol["energy_rel"])
    if data["modality"] == "rfa" and dtype == "float64":
        assert gpu.traces["rolloff"][-1] == cpu.traces["rolloff"][-1]
    n_cpu, n_gpu = int((cpu.omega >= 1).sum()), int((gpu.omega >= 1).sum())
    assert n_cpu > 500
    assert abs(n_gpu - n_cpu) <= max(2, tol["omega_rel"] * n_cpu), (n_gpu, n_cpu)
    dpeak = np.abs(gpu.peak_temperature_K.astype(np.float64) - cpu.peak_temperature_K)
    assert dpeak.max() <= tol["peak_K"], float(dpeak.max())
    assert gpu.settings["numerics"]["vaporised_J"] == pytest.approx(cpu.settings["numerics"]["vaporised_J"],
                                                                    rel=0.02, abs=1.0)


@pytest.mark.gpu
def test_cli_runs_an_example_on_the_gpu(cp, tmp_path):
    text = (ROOT / "examples" / "rfa_cooltip_3cm_porcine.toml").read_text()
    assert "roi_shape = [96, 96, 112]" in text and "duration_min = 12" in text
    text = text.replace("roi_shape = [96, 96, 112]", "roi_shape = [56, 56, 72]")
    text = text.replace("duration_min = 12", "duration_min = 2")
    p = tmp_path / "gpu.toml"
    p.write_text(text + '\n[numerics]\nbackend = "cupy"\n')
    out = tmp_path / "out"
    res = runner.invoke(app, ["run", str(p), "--out", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    m = json.loads((out / "metrics.json").read_text())
    assert m["zones"]["omega_ge_1"]["volume_mL"] > 0.5
    assert (out / "fields.nc").exists() and (out / "report.html").exists()
