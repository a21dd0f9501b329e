"""Files of a virtual trial and of a sensitivity analysis: ``summary.json``, figures, ``report.html``,
``sensitivity.json``, ``samples.csv`` (each written to a temporary name and renamed into place).

The statistics are computed in :mod:`tissuefate.trial.stats` and the analyses in
:mod:`tissuefate.trial.sensitivity`; this module sits above them and above :mod:`tissuefate.viz`
(imports run one way: trial → io / viz).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..trial.sensitivity import _as_spec, outcome_labels
from ..trial.stats import N_BOOT, _atomic_write, _spec_attr, hypotheses_per_preset, summarise
from ..viz.course_report import OXIDANT_WARNING
from ..viz.report import DISCLAIMER
from ..viz.trial import plot_sensitivity, sensitivity_report_html, trial_figures, trial_report_html

__all__ = ["write_trial_summary", "write_sensitivity"]


def write_trial_summary(df, spec, out_dir, *, reference: str | None = None, seed: int = 0,
                        n_boot: int = N_BOOT, figures: bool = True) -> dict[str, Path]:
    """Write ``summary.json``, the trial figures and a self-contained ``report.html`` into ``out_dir``.

    Parameters
    ----------
    df : pandas.DataFrame
        The outcomes.
    spec : object or mapping or None
        The trial specification; ``name``, ``fingerprint`` (attribute, key or method) and
        ``reference`` are read when present.
    out_dir : path-like
        Existing or new folder; each file is written to a temporary name and renamed into place.
    reference : str, optional
        Overrides ``spec.reference``; default: the first strategy.
    seed, n_boot : int
        Bootstrap seed and resamples.
    figures : bool
        Draw and embed the figures (:mod:`tissuefate.viz.trial`).

    Returns
    -------
    dict of str → Path
        ``summary``, ``report`` and one entry per figure.
    """
    from .. import __version__

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    reference = reference or _spec_attr(spec, "reference")
    summary = summarise(df, reference=reference, seed=seed, n_boot=n_boot)
    fp = _spec_attr(spec, "fingerprint")
    if callable(fp):
        fp = fp()
    any_oxidant = any(g["hypothetical"] == "oxidant" for g in summary["groups"])
    header = {
        "trial": str(_spec_attr(spec, "name") or out.name),
        "fingerprint": None if fp is None else str(fp),
        "tissuefate_version": __version__,
        "disclaimer": DISCLAIMER,
        "oxidant_warning": OXIDANT_WARNING if any_oxidant else None,
        "hypotheses_per_preset": hypotheses_per_preset(df),
    }
    summary = {**header, **summary}
    paths: dict[str, Path] = {}
    figs: dict[str, Path] = {}
    if figures:
        figs = trial_figures(df, summary, out, write=_atomic_write)
        paths.update({f"figure:{k}": v for k, v in figs.items()})
    paths["summary"] = _atomic_write(out / "summary.json", lambda p: p.write_text(
        json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"))
    captions = {
        "progression_free": "Local-progression-free (cases with a complete response) and treatment-failure-free "
                            "Kaplan–Meier curves with 95 % bands",
        "sessions": "Sessions given and sessions to complete response per strategy",
        "margin_vs_progression": "Minimal ablative margin of session 1 and local progression",
        "paired_differences": "Paired differences to the reference strategy with 95 % intervals",
    }
    html = trial_report_html(df, summary, {captions.get(k, k): p for k, p in figs.items()})
    paths["report"] = _atomic_write(out / "report.html", lambda p: p.write_text(html, encoding="utf-8"))
    return paths


def _samples_csv(spec: object, X, Y) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    labels = outcome_labels(spec)
    w.writerow(["sample", *spec.parameter_names, *labels])
    for i, (x, y) in enumerate(zip(np.atleast_2d(X), np.atleast_2d(Y), strict=True)):
        w.writerow([i, *(f"{v:.10g}" for v in x), *("" if not math.isfinite(v) else f"{v:.10g}" for v in y)])
    return buf.getvalue()


def write_sensitivity(result: Mapping, out_dir, *, X: np.ndarray | None = None, Y: np.ndarray | None = None,
                      spec=None) -> dict[str, Path]:
    """Write ``sensitivity.json``, ``sensitivity.png`` (bars with 95 % error bars), ``report.html`` and,
    with ``X``, ``Y`` and ``spec``, ``samples.csv`` into ``out_dir`` (each file written to a temporary
    name and renamed into place). Returns name → path."""

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    paths["figure"] = _atomic_write(out / "sensitivity.png", lambda p: plot_sensitivity(result, p))
    if X is not None and Y is not None and spec is not None:
        text = _samples_csv(_as_spec(spec), X, Y)
        paths["samples"] = _atomic_write(out / "samples.csv", lambda p: p.write_text(text, encoding="utf-8"))
    doc = json.dumps(result, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    paths["json"] = _atomic_write(out / "sensitivity.json", lambda p: p.write_text(doc, encoding="utf-8"))
    html = sensitivity_report_html(result, {"Sensitivity indices with 95 % confidence intervals": paths["figure"]})
    paths["report"] = _atomic_write(out / "report.html", lambda p: p.write_text(html, encoding="utf-8"))
    return paths
