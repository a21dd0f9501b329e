"""Figures of the anatomy (phantom) and of the validation table."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..tissue.labels import Label
from .slices import LABEL_COLOURS, _figure, _lut

__all__ = ["plot_phantom", "plot_validation"]


def plot_phantom(phantom, path) -> Path:
    """Three orthogonal slices through the first tumour and three vessel projections.

    Parameters
    ----------
    phantom : tissuefate.anatomy.Phantom
    path : path of the PNG to write
    """
    from matplotlib.patches import Patch

    lab = phantom.state.label
    g = phantom.grid
    lut = _lut()
    c = g.index_of(phantom.tumours[0].centre_m) if phantom.tumours else tuple(s // 2 for s in lab.shape)

    def extent(a, b):
        return [g.axis_m(a)[0] * 1e3, g.axis_m(a)[-1] * 1e3, g.axis_m(b)[0] * 1e3, g.axis_m(b)[-1] * 1e3]

    fig = _figure((15, 9))
    axes = fig.subplots(2, 3)
    cuts = [
        (lab[:, :, c[2]], (0, 1), f"axial slice z = {g.axis_m(2)[c[2]] * 1e3:.0f} mm"),
        (lab[:, c[1], :], (0, 2), f"coronal slice y = {g.axis_m(1)[c[1]] * 1e3:.0f} mm"),
        (lab[c[0], :, :], (1, 2), f"sagittal slice x = {g.axis_m(0)[c[0]] * 1e3:.0f} mm"),
    ]
    names = "xyz"
    for ax, (img, (a, b), title) in zip(axes[0], cuts, strict=True):
        ax.imshow(lut[img.T], origin="lower", extent=extent(a, b), interpolation="nearest")
        ax.set(title=title, xlabel=f"{names[a]} [mm]", ylabel=f"{names[b]} [mm]")
    organ = lab != Label.OUTSIDE
    lv = lab == Label.LARGE_VESSEL
    sv = lab == Label.SMALL_VESSEL
    for k, (axis, a, b) in enumerate(((2, 0, 1), (1, 0, 2), (0, 1, 2))):
        img = np.where(lv.any(axis), Label.LARGE_VESSEL,
                       np.where(sv.any(axis), Label.SMALL_VESSEL, np.where(organ.any(axis), Label.PARENCHYMA, 0)))
        ax = axes[1, k]
        ax.imshow(lut[img.T.astype(np.uint8)], origin="lower", extent=extent(a, b), interpolation="nearest")
        ax.set(title=f"vessel projection along {names[axis]}", xlabel=f"{names[a]} [mm]", ylabel=f"{names[b]} [mm]")
    shown = [Label.PARENCHYMA, Label.TUMOUR, Label.CAPSULE, Label.LARGE_VESSEL, Label.SMALL_VESSEL]
    fig.legend(handles=[Patch(color=LABEL_COLOURS[lab_], label=lab_.name.lower().replace("_", " ")) for lab_ in shown],
               loc="lower center", ncol=len(shown), frameon=False)
    t = phantom.tumours[0] if phantom.tumours else None
    fig.suptitle(
        f"tissuefate liver phantom, seed {phantom.spec.seed}: {phantom.organ_volume_m3 * 1e6:.0f} mL, "
        f"{len(phantom.vessels)} vessel segments ({sum(s.is_large for s in phantom.vessels)} ≥ 3 mm)"
        + (f"; {t.type.upper()} {t.diameter_m * 1e3:.0f} mm, {t.location}" if t else "")
    )
    fig.tight_layout(rect=(0, 0.04, 1, 0.96))
    out = Path(path)
    fig.savefig(out)
    return out


def plot_validation(rows, path) -> Path:
    """Simulated / reference for every calibration and prediction row, with its tolerance band."""
    sel = [r for r in rows if r.kind in ("calibration", "prediction") and r.reference]
    fig = _figure((9, 0.42 * max(len(sel), 3) + 1.6))
    ax = fig.subplots()
    y = np.arange(len(sel))[::-1]
    for yi, r in zip(y, sel, strict=True):
        ratio = r.simulated / r.reference
        tol = r.tolerance.strip()
        band = None
        if tol.startswith("±") and tol.endswith("%"):
            band = float(tol[1:-1]) / 100.0
        elif tol.startswith("±"):
            band = float(tol[1:].split()[0]) / abs(r.reference)
        if band is not None:
            ax.plot([1 - band, 1 + band], [yi, yi], color="#bbbbbb", lw=6, solid_capstyle="butt", zorder=1)
        ax.plot(ratio, yi, "o", color="#1a9850" if r.passed else "#d73027", ms=7, zorder=2)
    ax.axvline(1.0, color="k", lw=0.8)
    ax.set_yticks(y, [f"{r.case[:48]} — {r.quantity[:32]}" for r in sel], fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("simulated / published (grey: tolerance; green pass, red fail)")
    ax.set_title("tissuefate validate: calibration and prediction rows")
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out)
    return out
