"""Figure of a fate follow-up: involution, scar, debris, regeneration and tumour over time.

Built on :class:`matplotlib.figure.Figure` with the Agg canvas (no pyplot, no global state), like
:mod:`tissuefate.viz.slices`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["plot_fate_traces"]

_ML = 1e6


def plot_fate_traces(traces: dict, path=None, *, title: str = "Tissue fate after the session",
                     reference: dict | None = None) -> Figure:
    """Four panels against time [day]: involution; scar, fixed and non-fixed debris and
    regenerated parenchyma [mL]; viable tumour [mL]; necrotic mass cleared per day [g/day].

    Parameters
    ----------
    traces : dict of str → ndarray
        As returned by :meth:`tissuefate.fate.FateModel.advance` (keys of
        :data:`tissuefate.fate.TRACE_META`).
    path : str or Path, optional
        Where to save a PNG; the figure is returned either way.
    title : str
    reference : dict, optional
        ``{"time_days": ..., "involution": ..., "label": ...}``: published points drawn on the
        involution panel (e.g. 70 d, 0.5 for the rabbit RFA zone).

    Returns
    -------
    matplotlib.figure.Figure
    """
    t = np.asarray(traces["time_days"], float)
    fig = Figure(figsize=(7.0, 8.0))
    FigureCanvasAgg(fig)
    ax = fig.subplots(4, 1, sharex=True)
    ax[0].plot(t, np.asarray(traces["involution"]), color="#444444", lw=1.4, label="debris + scar")
    if reference:
        ax[0].plot(np.atleast_1d(reference["time_days"]), np.atleast_1d(reference["involution"]), "o",
                   color="#c0392b", label=reference.get("label", "published"))
    ax[0].set_ylabel("zone / initial", fontsize=8)
    ax[0].set_ylim(bottom=0)
    ax[0].legend(fontsize=7, frameon=False)
    for key, lab, col in (("scar_volume_m3", "scar", "#8e6c3a"), ("fixed_debris_volume_m3", "fixed debris", "#7f8c8d"),
                          ("nonfixed_debris_volume_m3", "non-fixed debris", "#e67e22"),
                          ("regenerated_volume_m3", "regenerated parenchyma", "#27ae60")):
        ax[1].plot(t, np.asarray(traces[key]) * _ML, color=col, lw=1.2, label=lab)
    ax[1].set_ylabel("volume [mL]", fontsize=8)
    ax[1].legend(fontsize=7, frameon=False, ncol=2)
    ax[2].plot(t, np.asarray(traces["tumour_volume_m3"]) * _ML, color="#8e44ad", lw=1.2)
    ax[2].set_ylabel("viable tumour [mL]", fontsize=8)
    ax[3].plot(t, np.asarray(traces["cleared_kg_per_day"]) * 1e3, color="#2c3e50", lw=1.2)
    ax[3].set_ylabel("cleared [g/day]", fontsize=8)
    ax[3].set_xlabel("time after the session [day]", fontsize=8)
    for a in ax:
        a.tick_params(labelsize=7)
        a.grid(True, color="#dddddd", linewidth=0.5)
    fig.suptitle(title, fontsize=10, fontweight="bold")
    fig.tight_layout()
    if path is not None:
        fig.savefig(Path(path), dpi=110)
    return fig
