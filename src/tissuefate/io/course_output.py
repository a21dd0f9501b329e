"""Course result folders: metrics.json, traces.csv, tissue snapshots as NetCDF, figures, report.

A course folder is written atomically like a session folder
(:func:`~tissuefate.io.output.atomic_output_dir`)::

    OUT/
      metrics.json        course outcomes + schema_version + every session's metrics
      traces.csv          the course traces (COURSE_TRACE_META), one row per day sample
      states.nc           the tissue after each session and at the horizon, along ``day``
      course_curves.png   viable tumour, zone and involution, scar and debris, clearance load
      course_slices.png   tissue composition and viable tumour through the first target
      session_01/         per session: metrics.json and slices.png (when its fields were kept)
      report.html         self-contained report
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np

from .. import __version__
from ..tissue.labels import Label
from .output import atomic_output_dir, to_jsonable, write_metrics_json

__all__ = ["course_states_dataset", "write_course_states_netcdf", "write_traces_csv", "course_metrics_document",
           "write_course_outputs"]

#: Tissue-state variables of :func:`course_states_dataset`: (name, long_name), all fractions [1].
STATE_VARIABLES = (
    ("tumour", "viable tumour fraction"),
    ("normal", "viable parenchyma fraction"),
    ("debris", "necrotic debris not yet cleared (fraction of voxel)"),
    ("fixed", "fraction of the debris that is heat-fixed (coagulated)"),
    ("scar", "collagen / fibrosis fraction"),
    ("vascular", "microvascular integrity (scales perfusion)"),
    ("ecm", "extracellular-matrix integrity"),
    ("inflammation", "inflammatory activity"),
)

_DISCLAIMER = "Research software, not a medical device. No treatment guidance."
_OXIDANT_NOTE = ("HYPOTHETICAL: chlorine dioxide (oxidant) is not an approved therapy; every oxidant result is "
                 "hypothetical and never dosing advice.")


def _hypothesis_records(course) -> list:
    """The records of the hypotheses active in the course (``HypothesisSet.record()``)."""
    from ..viz.course_report import course_hypothesis_records

    return course_hypothesis_records(course)


def _schema_version() -> int:
    from ..therapy.outcomes import SCHEMA_VERSION

    return SCHEMA_VERSION


def course_states_dataset(course):
    """The course's tissue snapshots as an :class:`xarray.Dataset` on dims (day, x, y, z).

    Parameters
    ----------
    course : CourseResult

    Returns
    -------
    xarray.Dataset
        ``label`` (uint8 with CF ``flag_values`` / ``flag_meanings``) and the state fractions
        (:data:`STATE_VARIABLES`, float32, ``units = "1"``); coordinates ``day`` [day] and
        ``snapshot`` (what the day is: "after session k" or the horizon) along ``day``, ``x``,
        ``y``, ``z`` in mm. Attributes: ``strategy``, ``name``, ``modality``, ``agent``,
        ``hypotheses`` (JSON records), ``hypothesis_preset``, ``session_days``, ``affine_m``,
        ``tissuefate_version`` and ``disclaimer``.
    """
    import xarray as xr

    snaps = list(course.snapshots)
    if not snaps:
        raise ValueError(f"course {course.name!r} has no snapshots to write")
    g = snaps[0][2].grid
    coords = {
        ax: (ax, (g.axis_m(i) * 1e3).astype(np.float64), {"units": "mm", "long_name": f"{ax} of voxel centre"})
        for i, ax in enumerate("xyz")
    }
    coords["day"] = ("day", np.array([float(d) for d, _, _ in snaps]),
                     {"units": "day", "long_name": "days since the first session"})
    coords["snapshot"] = ("day", np.array([str(lab) for _, lab, _ in snaps], dtype=object),
                          {"long_name": "what the snapshot shows"})
    dims = ("day", "x", "y", "z")
    labels = list(Label)
    data = {
        "label": (dims, np.stack([np.asarray(s.label, np.uint8) for _, _, s in snaps]),
                  {"units": "1", "long_name": "tissue label",
                   "flag_values": np.array([int(v) for v in labels], dtype=np.uint8),
                   "flag_meanings": " ".join(v.name.lower() for v in labels)}),
    }
    for name, long in STATE_VARIABLES:
        data[name] = (dims, np.stack([np.asarray(getattr(s, name), np.float32) for _, _, s in snaps]),
                      {"units": "1", "long_name": long})
    m = course.metrics if isinstance(course.metrics, dict) else {}
    agent = m.get("agent", getattr(course.scenario, "agent", None))
    disclaimer = _DISCLAIMER + (" " + _OXIDANT_NOTE if agent == "oxidant" else "")
    attrs = {
        "title": f"tissuefate course {course.strategy}: tissue after each session and at the horizon",
        "name": str(course.name),
        "strategy": str(course.strategy),
        "modality": str(m.get("modality", getattr(course.scenario, "modality", ""))),
        "agent": "" if agent is None else str(agent),
        "hypotheses": json.dumps(to_jsonable(_hypothesis_records(course), strict=False)),
        "hypothesis_preset": str(m.get("hypothesis_preset") or ""),
        "session_days": np.asarray(course.session_days, np.float64),
        "tissuefate_version": __version__,
        "affine_m": g.affine.ravel().astype(np.float64),
        "affine_m_layout": "row-major 4x4, voxel index (x, y, z, 1) -> world [m]",
        "disclaimer": disclaimer,
        "Conventions": "CF-1.10",
    }
    return xr.Dataset(data, coords=coords, attrs=attrs)


def write_course_states_netcdf(path, course, *, complevel: int = 4) -> Path:
    """Write :func:`course_states_dataset` to NetCDF-4 (engine h5netcdf, zlib compression)."""
    path = Path(path)
    ds = course_states_dataset(course)
    enc = {name: {"zlib": True, "complevel": int(complevel)} for name in ds.data_vars}
    try:
        ds.to_netcdf(path, engine="h5netcdf", encoding=enc)
    except ImportError as e:
        from ..errors import MissingExtraError

        raise MissingExtraError(
            f"writing NetCDF needs h5netcdf with h5py ({e}). Install it with: pip install h5py"
        ) from e
    return path


def write_traces_csv(path, traces: dict) -> Path:
    """Write the course traces as CSV: ``day`` first, then the other keys of
    :data:`~tissuefate.course.COURSE_TRACE_META` present (units in the column names), 6
    significant digits, empty cells for NaN.

    Examples
    --------
    >>> import tempfile
    >>> p = write_traces_csv(Path(tempfile.mkdtemp()) / "traces.csv",
    ...                      {"scar_volume_mL": np.array([0.0, 0.5]), "day": np.array([0.0, 1.0])})
    >>> p.read_text().splitlines()
    ['day,scar_volume_mL', '0,0', '1,0.5']
    """
    from ..course import COURSE_TRACE_META

    path = Path(path)
    keys = [k for k in COURSE_TRACE_META if k in traces]
    keys += [k for k in traces if k not in keys]
    cols = [np.asarray(traces[k], float).ravel() for k in keys]
    n = {c.size for c in cols}
    if len(n) > 1:
        raise ValueError(f"traces have different lengths: {dict(zip(keys, (c.size for c in cols), strict=True))}")
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(keys)
        for row in zip(*cols, strict=True):
            w.writerow(["" if not np.isfinite(v) else f"{v:.6g}" for v in row])
    os.replace(tmp, path)
    return path


def course_metrics_document(course) -> dict:
    """What ``metrics.json`` of a course holds: ``course.metrics`` plus ``schema_version``, ``kind``
    ("course") and ``session_metrics`` (every session's metrics, in order)."""
    doc = dict(course.metrics)
    doc["schema_version"] = _schema_version()
    doc["kind"] = "course"
    doc["name"] = course.name
    doc["session_metrics"] = [s.metrics for s in course.sessions]
    return doc


def _has_fields(session) -> bool:
    if session.is_thermal:
        return session.omega is not None and session.peak_temperature_K is not None
    return bool(session.fields) and bool(session.zone_defs)


def write_course_outputs(out_dir, course, *, overwrite: bool = False) -> dict[str, Path]:
    """Write a course's result folder atomically and return the written paths by name.

    Parameters
    ----------
    out_dir : path-like
        The folder to create (see the module docstring for its contents).
    course : CourseResult
    overwrite : bool
        Replace an existing folder; otherwise an existing one raises
        :class:`~tissuefate.io.OutputExistsError` before anything is computed.

    Returns
    -------
    dict of str → Path
        ``metrics``, ``traces``, ``states``, ``course_curves``, ``course_slices``, ``report`` and,
        per session k, ``session_0k_metrics`` and (when its fields were kept) ``session_0k_slices``.
    """
    from ..viz.course import plot_course_curves, plot_course_slices
    from ..viz.course_report import course_report_html
    from ..viz.slices import plot_session_slices

    out_dir = Path(out_dir)
    names: dict[str, str] = {}
    with atomic_output_dir(out_dir, overwrite=overwrite) as tmp:
        write_metrics_json(tmp / "metrics.json", course_metrics_document(course))
        names["metrics"] = "metrics.json"
        write_traces_csv(tmp / "traces.csv", course.traces)
        names["traces"] = "traces.csv"
        write_course_states_netcdf(tmp / "states.nc", course)
        names["states"] = "states.nc"
        figures: dict[str, Path] = {}
        plot_course_curves(course, tmp / "course_curves.png")
        figures["Course over time: viable tumour against the detection volume, ablation zone and involution, "
                "scar and debris, necrotic clearance load (dashed lines: sessions)"] = tmp / "course_curves.png"
        names["course_curves"] = "course_curves.png"
        plot_course_slices(course, tmp / "course_slices.png")
        figures["Tissue composition and viable tumour (log scale) through the first target, right after each "
                "session and at the horizon"] = tmp / "course_slices.png"
        names["course_slices"] = "course_slices.png"
        for k, (s, day) in enumerate(zip(course.sessions, course.session_days, strict=True), start=1):
            sub = f"session_{k:02d}"
            (tmp / sub).mkdir()
            write_metrics_json(tmp / sub / "metrics.json", s.metrics)
            names[f"{sub}_metrics"] = f"{sub}/metrics.json"
            if _has_fields(s):
                plot_session_slices(s, tmp / sub / "slices.png")
                what = ("ablation zones (Ω) and peak-temperature isotherms" if s.is_thermal
                        else "the session's zones (" + ", ".join(d.label for d in s.zone_defs) + ")")
                figures[f"Session {k} (day {day:g}): the tissue before it with {what}"] = tmp / sub / "slices.png"
                names[f"{sub}_slices"] = f"{sub}/slices.png"
        html = course_report_html(course, figures)
        (tmp / "report.html").write_text(html, encoding="utf-8")
        names["report"] = "report.html"
    return {k: out_dir / v for k, v in names.items()}
