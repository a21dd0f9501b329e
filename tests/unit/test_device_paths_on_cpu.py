"""The GPU branches of a thermal session, run on the CPU through a stand-in for CuPy.

CI has no GPU, so the real device tests (``tests/unit/test_gpu_sessions.py``, ``-m gpu``) never run
there, and the device branches of ``therapy.session.run_session`` — where arrays are placed, copied
to the host, compared on the device — would go untested between the sessions that draw a GPU. This
module runs those branches with ``numerics.backend = "cupy"`` against a *fake* ``cupy``: a module
whose arrays wrap NumPy arrays in a separate type that, like CuPy's, is no ``np.ndarray``, refuses
implicit conversion (``np.asarray`` raises), refuses host arrays in array operations and cannot be
handed to a numba (CPU) kernel; its kernels are the NumPy reference kernels. What it checks: the
session's device logic (the placement of every array, the host copies, the cascade sub-steps, the
local re-solves and ``Vaporisation.apply_in``'s whole-grid fallback) gives the NumPy backend's
result. What it cannot check: the CUDA kernels themselves and
CuPy's own semantics — those stay with the ``-m gpu`` tests on a real device.
"""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest
from numpy.lib.mixins import NDArrayOperatorsMixin
from test_gpu_sessions import MWA_VESSEL, RFA_BLOCK, RFA_VESSEL  # same folder: on sys.path under pytest

from tissuefate.backends import numpy_kernels, registry
from tissuefate.config.build import build_session
from tissuefate.config.scenario import scenario_from_dict
from tissuefate.therapy.session import run_session


class DeviceArray(NDArrayOperatorsMixin):
    """A stand-in for a CuPy array: a NumPy array behind a separate type (``backends.arrays``
    recognises it by its module) that, like CuPy's, is no ``np.ndarray``, refuses implicit
    conversion to one (``np.asarray`` raises), refuses host arrays in array operations and is an
    unknown type to numba. Operators, ufuncs and NumPy functions (``__array_function__``) run on
    the wrapped array and give device arrays."""

    __slots__ = ("_a",)

    def __init__(self, a: np.ndarray):
        self._a = a

    def __array__(self, dtype=None, copy=None):
        raise TypeError("Implicit conversion to a NumPy array is not allowed (a device array: use .get())")

    def get(self):
        """A host copy, as ``cupy.ndarray.get``."""
        return self._a.copy()

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        _refuse_host_arrays(inputs + (out or ()), ufunc.__name__)
        if out is not None:
            kwargs["out"] = tuple(_base(o) for o in out)
        result = getattr(ufunc, method)(*[_base(x) for x in inputs], **kwargs)
        if out is not None:
            return out[0] if len(out) == 1 else out
        return _wrap(result)

    def __array_function__(self, func, types_, args, kwargs):
        return _on_device(func, func.__name__)(*args, **kwargs)

    def __getitem__(self, key):
        _refuse_host_arrays((key,) if not isinstance(key, tuple) else key, "indexing")
        return _wrap(self._a[_base(key)])

    def __setitem__(self, key, value):  # CuPy copies a host value in; a host index array is refused
        _refuse_host_arrays((key,) if not isinstance(key, tuple) else key, "indexing")
        self._a[_base(key)] = _base(value)

    def __len__(self):
        return len(self._a)

    def __bool__(self):
        return bool(self._a)

    def __float__(self):
        return float(self._a)

    def __int__(self):
        return int(self._a)

    def __repr__(self):
        return f"DeviceArray({self._a!r})"

    def __getattr__(self, name):  # shape, dtype, flags, reshape, max, astype, ...
        if name.startswith("__"):  # no __array_interface__ & co.: NumPy must not see the memory
            raise AttributeError(name)
        attr = getattr(self._a, name)
        if not callable(attr):
            return _wrap(attr)

        return _on_device(attr, name)


DeviceArray.__module__ = "cupy._fake"  # what tissuefate.backends.arrays looks at


def _base(x):
    if isinstance(x, DeviceArray):
        return x._a
    if isinstance(x, (tuple, list)):
        return type(x)(_base(v) for v in x)
    return x


def _wrap(x):
    if isinstance(x, np.ndarray):
        return DeviceArray(x)
    if isinstance(x, np.generic):  # CuPy reductions give 0-d device arrays, not scalars
        return DeviceArray(np.asarray(x))
    if isinstance(x, tuple):
        return tuple(_wrap(v) for v in x)
    return x


def _on_device(fn, name):
    """``fn`` as a device operation: host arrays among the arguments are refused, device arrays
    unwrapped, array results wrapped."""

    def op(*args, **kwargs):
        _refuse_host_arrays(tuple(args) + tuple(kwargs.values()), name)
        return _wrap(fn(*_base(tuple(args)), **{k: _base(v) for k, v in kwargs.items()}))

    return op


def _refuse_host_arrays(values, what):
    for v in values:
        if isinstance(v, (tuple, list)):
            _refuse_host_arrays(tuple(v), what)
        elif isinstance(v, np.ndarray) and v.ndim > 0:
            raise TypeError(f"{what}: a host (NumPy) array mixed with a device array")


def _to_device(a, dtype=None, order="C"):
    if isinstance(a, DeviceArray) and (dtype is None or a.dtype == np.dtype(dtype)):
        return a
    # a copy, as a host-to-device transfer: later host writes must not show on the device
    return DeviceArray(np.array(_base(a), dtype=dtype, order=order, copy=True))


def _creator(fn):
    return lambda *a, **k: DeviceArray(fn(*_base(a), **{key: _base(v) for key, v in k.items()}))


def _fake_cupy() -> types.ModuleType:
    mod = types.ModuleType("cupy")
    mod.ndarray = DeviceArray
    mod.asarray = _to_device
    mod.array = _to_device
    mod.ascontiguousarray = _to_device
    mod.asnumpy = lambda a: a.get() if isinstance(a, DeviceArray) else np.asarray(a)
    for name in ("empty", "zeros", "ones", "full", "empty_like", "zeros_like", "ones_like", "full_like", "arange"):
        setattr(mod, name, _creator(getattr(np, name)))
    mod.cuda = types.SimpleNamespace(
        runtime=types.SimpleNamespace(getDeviceCount=lambda: 1),
        Device=lambda *a: types.SimpleNamespace(synchronize=lambda: None))

    def module_getattr(name):  # everything else: NumPy's, under the device rules
        obj = getattr(np, name)
        return obj if isinstance(obj, type) or not callable(obj) else _on_device(obj, name)

    mod.__getattr__ = module_getattr
    return mod


def _on_host(fn):
    """A NumPy reference kernel run on the device arrays' memory (in place, as the CUDA kernels)."""
    return lambda *a, **k: fn(*_base(a), **{key: _base(v) for key, v in k.items()})


def _boiling_cap_device(T, dried, inv_rho_c, vaporised_J_per_m3, boil_K, latent_J_per_m3):
    """The device signature of ``boiling_cap`` (the energy is added into a one-element array)."""
    for a in (T, dried, inv_rho_c, vaporised_J_per_m3):
        assert isinstance(a, DeviceArray), "boiling_cap on the device got a host array"
    e = numpy_kernels.boiling_cap(_base(T), _base(dried), _base(inv_rho_c), boil_K, latent_J_per_m3)
    _base(vaporised_J_per_m3)[0] += e
    return T


#: device kernel calls of the current test, by name (to show the device branches ran)
CALLS: dict[str, int] = {}


def _checked(fn, name):
    def kernel(*args, **kwargs):
        CALLS[name] = CALLS.get(name, 0) + 1
        for a in args:
            if isinstance(a, np.ndarray) and a.ndim > 0:
                assert isinstance(a, DeviceArray), f"{name} on the device got a host array"
        return fn(*args, **kwargs)

    return kernel


@pytest.fixture
def fake_cupy(monkeypatch):
    """``import cupy`` gives the stand-in; the "cupy" kernels are the NumPy references; numba
    refuses its arrays (a device array reaching a CPU kernel is an error, as with CuPy)."""
    from numba.core.typing.typeof import typeof_impl

    @typeof_impl.register(DeviceArray)
    def _refuse(val, c):
        raise TypeError("a device (CuPy) array was passed to a numba CPU kernel")

    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy())
    CALLS.clear()
    kernels = {
        "pennes_step": _checked(_on_host(numpy_kernels.pennes_step), "pennes_step"),
        "arrhenius_step": _checked(_on_host(numpy_kernels.arrhenius_step), "arrhenius_step"),
        "apply_dirichlet": _checked(_on_host(numpy_kernels.apply_dirichlet), "apply_dirichlet"),
        "boiling_cap": _checked(_boiling_cap_device, "boiling_cap"),
    }
    for name, fn in kernels.items():
        monkeypatch.setitem(registry._KERNELS, (name, "cupy"), fn)
    monkeypatch.setattr(registry, "_LOADED", registry._LOADED | {"cupy"})
    yield sys.modules["cupy"]


def test_numba_refuses_a_device_array(fake_cupy):
    from tissuefate.backends import get_kernel

    T = fake_cupy.zeros((4, 4, 4))
    with pytest.raises(TypeError, match="numba CPU kernel"):
        get_kernel("arrhenius_step", "numba")(T, T.copy(), T.copy(), T.copy(), 1.0, 1e40, 2.5e5, 316.0)


def test_the_stand_in_behaves_like_a_device():
    cp = _fake_cupy()
    a = cp.asarray(np.arange(6.0))
    assert type(a).__module__.startswith("cupy") and isinstance(a.get(), np.ndarray)
    assert not isinstance(a.get(), DeviceArray)
    with pytest.raises(TypeError, match="host"):
        a + np.ones(6)
    with pytest.raises(TypeError, match="host"):
        cp.any(np.ones(3))
    with pytest.raises(TypeError, match="Implicit conversion"):
        np.asarray(a)
    assert not isinstance(a, np.ndarray)
    m = a[a > 2].max()  # a 0-d device array, usable as a number
    assert isinstance(m, DeviceArray) and float(m) == 5.0 and bool(cp.any(a > 4))
    host = np.zeros(3)
    d = cp.asarray(host)
    host[0] = 1.0  # a transfer is a copy
    assert float(d[0]) == 0.0


#: The GPU tests' cases (a cooled 3-cm electrode at 1 mm that rolls off within 2.5 min: cascade
#: sub-steps, local re-solves, roll-offs inside the step, the dried fraction gating σ; RFA and MWA
#: next to a large vessel of the phantom: Dirichlet vessel voxels and wall-exchange nodes) on
#: smaller regions, for the NumPy kernels' speed.
CASES = {
    "rfa_block": {**RFA_BLOCK, "grid": {"spacing_mm": 1.0, "roi_shape": [40, 40, 56]}},
    "rfa_vessel": {**RFA_VESSEL, "grid": {"spacing_mm": 1.5, "roi_shape": [36, 36, 36]},
                   "protocol": {**RFA_VESSEL["protocol"], "duration_min": 1.5}},
    "mwa_vessel": {**MWA_VESSEL, "grid": {"spacing_mm": 1.5, "roi_shape": [36, 36, 36]},
                   "protocol": {**MWA_VESSEL["protocol"], "duration_min": 1.5}},
}


@pytest.mark.filterwarnings("ignore:MicrowaveSource")  # the small MWA region: part of the pattern falls outside
@pytest.mark.parametrize("case", list(CASES))
def test_device_branches_of_a_session_give_the_numpy_result(fake_cupy, case):
    data = CASES[case]

    def run(backend):
        return run_session(build_session(scenario_from_dict({**data, "numerics": {"backend": backend,
                                                                                   "dtype": "float64"}})))

    ref = run("numpy")
    CALLS.clear()
    dev = run("cupy")
    n_steps = dev.settings["numerics"].get("steps_taken", dev.settings["numerics"]["n_steps"])
    assert CALLS["pennes_step"] >= n_steps and CALLS["arrhenius_step"] >= n_steps  # on the device
    if data["modality"] == "rfa":
        assert CALLS["boiling_cap"] >= n_steps
    assert dev.settings["numerics"]["backend"] == "cupy"
    for name in ("omega", "cem43_min", "peak_temperature_K", "final_temperature_K"):
        assert type(getattr(dev, name)) is np.ndarray, name  # results come back to the host
    n_ref = int((ref.omega >= 1).sum())
    assert n_ref > 200
    if data["modality"] == "rfa":
        numerics = ref.settings["numerics"]
        if case == "rfa_block":  # the case reaches the branches it is here for
            assert numerics["cascade_steps"] > 0 and numerics["rolloffs_located_in_step"] > 0
            assert numerics["local_potential_solves"] > 0 and numerics["sources_switched_in_step"] > 0
        for key in ("steps_taken", "cascade_steps", "source_updates", "rolloffs_located_in_step"):
            assert dev.settings["numerics"][key] == numerics[key], key
        assert dev.traces["energy_J"][-1] == pytest.approx(ref.traces["energy_J"][-1], rel=1e-6)
        assert dev.settings["numerics"]["vaporised_J"] == pytest.approx(numerics["vaporised_J"], rel=1e-6, abs=1e-6)
    else:
        assert dev.traces["absorbed_energy_J"][-1] == pytest.approx(ref.traces["absorbed_energy_J"][-1], rel=1e-9)
    # the same kernels and decisions: only the order of float64 sums may differ
    assert int((dev.omega >= 1).sum()) == n_ref
    np.testing.assert_allclose(dev.peak_temperature_K, ref.peak_temperature_K, rtol=0, atol=1e-6)
