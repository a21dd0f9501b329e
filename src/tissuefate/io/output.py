"""Result folders: metrics.json, fields as NetCDF, figures and report.html.

A result folder appears whole or not at all: everything is written into a hidden sibling
``.NAME.partial-PID`` and renamed onto ``NAME`` only when every file is complete
(:func:`atomic_output_dir`), so a crash never leaves a folder that looks like a finished run.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np

from .. import __version__
from ..errors import TissuefateError
from ..jsonable import to_jsonable
from ..therapy.result import FIELD_META, SessionResult
from ..tissue.labels import Label

__all__ = [
    "OutputExistsError",
    "atomic_output_dir",
    "to_jsonable",
    "write_metrics_json",
    "fields_dataset",
    "write_fields_netcdf",
    "write_session_outputs",
]

_K0 = 273.15


class OutputExistsError(TissuefateError, FileExistsError):
    """The output folder exists and overwriting was not asked for."""


@contextlib.contextmanager
def atomic_output_dir(path, *, overwrite: bool = False) -> Iterator[Path]:
    """Write a folder atomically: yield a temporary sibling, rename it onto ``path`` on success.

    Parameters
    ----------
    path : path-like
        The folder to create.
    overwrite : bool
        Replace an existing ``path``. Otherwise an existing ``path`` raises
        :class:`OutputExistsError` before anything is written.

    Yields
    ------
    Path
        The temporary folder ``path.parent / f".{path.name}.partial-{pid}"`` to write into.

    Notes
    -----
    On an exception the temporary folder is removed and ``path`` is left as it was. With
    ``overwrite`` the old folder is first renamed aside (``.NAME.old-PID``), the new one renamed
    into place, and only then the old one deleted, so ``path`` never holds a mixture.

    Examples
    --------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> with atomic_output_dir(root / "run") as tmp:
    ...     _ = (tmp / "a.txt").write_text("done")
    >>> sorted(p.name for p in root.iterdir())
    ['run']
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(
            f"output folder {str(path)!r} already exists: choose another --out folder, "
            "or pass overwrite=True (--overwrite) to replace it"
        )
    if path.exists() and not path.is_dir():
        raise OutputExistsError(f"output path {str(path)!r} exists and is not a folder")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.partial-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)  # left over by a crashed run of this same process id
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    try:
        if path.exists():
            if not overwrite:  # appeared while we were writing
                raise OutputExistsError(
                    f"output folder {str(path)!r} appeared while writing; the results are kept "
                    f"in {str(tmp)!r}"
                )
            old = path.parent / f".{path.name}.old-{os.getpid()}"
            if old.exists():
                shutil.rmtree(old)
            os.replace(path, old)
            try:
                os.replace(tmp, path)
            except BaseException:
                os.replace(old, path)
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except OutputExistsError:
        raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_metrics_json(path, metrics: Mapping) -> Path:
    """Write ``metrics`` as JSON (sorted keys, indent 2, NaN → null) and return the path."""
    path = Path(path)
    text = json.dumps(to_jsonable(metrics), sort_keys=True, indent=2, allow_nan=False)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def _attrs(units: str, long_name: str, **kw) -> dict:
    return {"units": units, "long_name": long_name, **kw}


def fields_dataset(result: SessionResult):
    """The session's fields as an :class:`xarray.Dataset` on dims (x, y, z), coords in mm.

    Variables: ``label`` (uint8, CF ``flag_values``/``flag_meanings``), ``omega``,
    ``cem43_min``, ``peak_temperature_degC``, ``final_temperature_degC``, ``tumour``,
    ``normal``, ``vascular``; each with ``units`` and ``long_name``. Dataset attributes:
    ``modality``, ``name``, ``tissuefate_version``, ``affine_m`` (row-major 4×4 voxel index →
    world [m]), ``hypotheses`` (JSON list of active hypotheses; ``[]`` for thermal sessions),
    ``settings_json`` and ``disclaimer``.
    """
    import xarray as xr

    g = result.grid
    st = result.state
    coords = {
        ax: (ax, (g.axis_m(i) * 1e3).astype(np.float64), _attrs("mm", f"{ax} of voxel centre"))
        for i, ax in enumerate("xyz")
    }
    dims = ("x", "y", "z")
    labels = list(Label)

    def f32(a):
        return np.asarray(a, dtype=np.float32)

    data = {
        "label": (
            dims,
            np.asarray(st.label, dtype=np.uint8),
            _attrs(
                "1",
                "tissue label",
                flag_values=np.array([int(v) for v in labels], dtype=np.uint8),
                flag_meanings=" ".join(v.name.lower() for v in labels),
            ),
        ),
        "tumour": (dims, f32(st.tumour), _attrs("1", "viable tumour fraction before the session")),
        "normal": (
            dims,
            f32(st.normal),
            _attrs("1", "viable parenchyma fraction before the session"),
        ),
        "vascular": (
            dims,
            f32(st.vascular),
            _attrs("1", "microvascular integrity before the session"),
        ),
    }
    thermal = (
        ("omega", result.omega, 0.0, "1", "Arrhenius damage integral (survival exp(-omega))"),
        ("cem43_min", result.cem43_min, 0.0, "min", "cumulative equivalent minutes at 43 degC"),
        ("peak_temperature_degC", result.peak_temperature_K, _K0, "degC", "peak temperature"),
        ("final_temperature_degC", result.final_temperature_K, _K0, "degC",
         "temperature at the end of the session"),
    )
    for name, arr, shift, units, long in thermal:
        if arr is not None:
            data[name] = (dims, f32(np.asarray(arr) - shift), _attrs(units, long))
    data["survival"] = (dims, f32(result.survival_fraction()),
                        _attrs("1", "cell survival fraction of the session's kill law"))
    for name, arr in result.fields.items():
        units, long = FIELD_META.get(name, ("1", name))
        if name.endswith("_K"):  # temperatures are written in degC, as the thermal ones
            data[name[:-2] + "_degC"] = (dims, f32(np.asarray(arr) - _K0), _attrs("degC", long))
        else:
            data[name] = (dims, f32(arr), _attrs(units, long))
    settings = result.settings if isinstance(result.settings, dict) else {}
    hyps = settings.get("hypotheses", [])
    attrs = {
        "title": f"tissuefate session {result.name} ({result.modality})",
        "name": str(result.name),
        "modality": str(result.modality),
        "tissuefate_version": __version__,
        "affine_m": g.affine.ravel().astype(np.float64),
        "affine_m_layout": "row-major 4x4, voxel index (x, y, z, 1) -> world [m]",
        "hypotheses": json.dumps(to_jsonable(hyps, strict=False)),
        "settings_json": json.dumps(to_jsonable(settings, strict=False), sort_keys=True),
        "disclaimer": "Research software, not a medical device. No treatment guidance.",
        "Conventions": "CF-1.10",
    }
    return xr.Dataset(data, coords=coords, attrs=attrs)


def write_fields_netcdf(path, result: SessionResult, *, complevel: int = 4) -> Path:
    """Write :func:`fields_dataset` to NetCDF-4 (engine h5netcdf, zlib compression)."""
    path = Path(path)
    ds = fields_dataset(result)
    enc = {name: {"zlib": True, "complevel": int(complevel)} for name in ds.data_vars}
    try:
        ds.to_netcdf(path, engine="h5netcdf", encoding=enc)
    except ImportError as e:  # h5netcdf >= 1.4 needs h5py (or pyfive, read-only) installed
        from ..errors import MissingExtraError

        raise MissingExtraError(
            f"writing NetCDF needs h5netcdf with h5py ({e}). Install it with: pip install h5py"
        ) from e
    return path


def write_session_outputs(
    out_dir, result: SessionResult, *, overwrite: bool = False
) -> dict[str, Path]:
    """Write a session's result folder atomically and return the written paths by name.

    The folder holds ``metrics.json`` (``result.metrics``, computed by
    :func:`~tissuefate.therapy.outcomes.session_metrics` and stored on ``result`` if empty),
    ``fields.nc``, ``slices.png``, ``traces.png`` (when traces were recorded) and a
    self-contained ``report.html``.
    """
    from ..therapy.outcomes import session_metrics
    from ..viz.report import session_report_html
    from ..viz.slices import plot_session_slices, plot_traces

    out_dir = Path(out_dir)
    if not result.metrics:
        result.metrics = session_metrics(result)
    names: dict[str, str] = {}
    with atomic_output_dir(out_dir, overwrite=overwrite) as tmp:
        write_metrics_json(tmp / "metrics.json", result.metrics)
        names["metrics"] = "metrics.json"
        write_fields_netcdf(tmp / "fields.nc", result)
        names["fields"] = "fields.nc"
        figures: dict[str, Path] = {}  # caption -> file
        plot_session_slices(result, tmp / "slices.png")
        caption = ("Anatomy with ablation zones (Ω) and peak-temperature isotherms" if result.is_thermal
                   else "Anatomy with the session's zones (" + ", ".join(d.label for d in result.zone_defs) + ")")
        figures[caption] = tmp / "slices.png"
        names["slices"] = "slices.png"
        from ..viz.slices import TRACE_SERIES

        if result.traces and "time_s" in result.traces and result.modality in TRACE_SERIES:
            plot_traces(result, tmp / "traces.png")
            figures["Delivered power, impedance and maximum temperature" if result.is_thermal
                    else "Time course of the session"] = tmp / "traces.png"
            names["traces"] = "traces.png"
        if result.followup is not None:
            from ..viz.fate import plot_fate_traces

            fu = result.followup
            plot_fate_traces(fu.traces, tmp / "followup.png",
                             title=f"Follow-up {fu.days:g} days (doubling time {fu.doubling_time_days:g} d)")
            figures["Follow-up with the tissue-fate model: involution, scar and debris, viable tumour, "
                    "clearance load"] = tmp / "followup.png"
            names["followup"] = "followup.png"
        html = session_report_html(result, figures)
        (tmp / "report.html").write_text(html, encoding="utf-8")
        names["report"] = "report.html"
    return {k: out_dir / v for k, v in names.items()}
