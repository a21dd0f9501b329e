"""Per-voxel tissue state carried from session to session (DESIGN.md §3.1)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

import numpy as np

from ..errors import ConfigError
from ..grid import Grid
from .labels import Label

__all__ = ["TissueState", "FRACTION_FIELDS"]

#: Float fields of the state; all are fractions in [0, 1].
FRACTION_FIELDS = (
    "tumour",
    "normal",
    "debris",
    "fixed",
    "scar",
    "ecm",
    "vascular",
    "inflammation",
)


@dataclass
class TissueState:
    """Tissue on a :class:`~tissuefate.grid.Grid`.

    Attributes
    ----------
    grid : Grid
    label : ndarray of uint8
        :class:`~tissuefate.tissue.labels.Label` per voxel.
    tumour, normal : ndarray
        Viable tumour cells and viable parenchyma as fractions of carrying capacity [1].
    debris : ndarray
        Necrotic mass not yet cleared [fraction of voxel].
    fixed : ndarray
        Fraction of the debris that is heat-fixed (coagulated) [1].
    scar : ndarray
        Collagen / fibrosis fraction [1].
    ecm : ndarray
        Extracellular-matrix integrity [1].
    vascular : ndarray
        Microvascular integrity, scales perfusion [1].
    inflammation : ndarray
        Inflammatory activity [1].
    tumour_type : str
        Tumour histology of the ``TUMOUR`` voxels ("hcc" or "metastasis").
    """

    grid: Grid
    label: np.ndarray
    tumour: np.ndarray
    normal: np.ndarray
    debris: np.ndarray
    fixed: np.ndarray
    scar: np.ndarray
    ecm: np.ndarray
    vascular: np.ndarray
    inflammation: np.ndarray
    tumour_type: str = "hcc"
    meta: dict = field(default_factory=dict)

    @classmethod
    def from_labels(
        cls, grid: Grid, label: np.ndarray, *, dtype=np.float32, tumour_type: str = "hcc"
    ) -> TissueState:
        """Healthy, untreated tissue from a label volume.

        Tumour voxels hold viable tumour (``tumour = 1``), parenchyma and small vessels viable
        parenchyma; all tissue starts with intact ECM and microvessels.
        """
        label = np.ascontiguousarray(label, dtype=np.uint8)
        if label.shape != grid.shape:
            raise ConfigError(f"label shape {label.shape} does not match grid shape {grid.shape}")
        z = np.zeros(grid.shape, dtype=dtype)
        tissue = (label != Label.OUTSIDE) & (label != Label.APPLICATOR)
        tum = (label == Label.TUMOUR).astype(dtype)
        normal = np.isin(label, (Label.PARENCHYMA, Label.SMALL_VESSEL)).astype(dtype)
        intact = tissue.astype(dtype)
        return cls(
            grid=grid,
            label=label,
            tumour=tum,
            normal=normal,
            debris=z.copy(),
            fixed=z.copy(),
            scar=z.copy(),
            ecm=intact.copy(),
            vascular=intact.copy(),
            inflammation=z,
            tumour_type=tumour_type,
        )

    @property
    def dtype(self) -> np.dtype:
        return self.tumour.dtype

    def copy(self) -> TissueState:
        kw = {f.name: getattr(self, f.name) for f in fields(self)}
        for name in ("label", *FRACTION_FIELDS):
            kw[name] = kw[name].copy()
        kw["meta"] = {
            k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in self.meta.items()
        }
        return TissueState(**kw)

    def crop(self, slices) -> TissueState:
        """The state inside index ``slices`` as a new, independent state on the sub-grid."""
        kw = {
            name: np.ascontiguousarray(getattr(self, name)[slices])
            for name in ("label", *FRACTION_FIELDS)
        }
        meta = {}
        for k, v in self.meta.items():
            if isinstance(v, np.ndarray):
                # arrays on the grid are cropped with it, other arrays copied
                on_grid = v.shape == self.grid.shape
                meta[k] = np.ascontiguousarray(v[slices]) if on_grid else v.copy()
            else:
                meta[k] = v
        return replace(self, grid=self.grid.subgrid(slices), meta=meta, **kw)

    def paste(self, other: TissueState, slices) -> None:
        """Write ``other`` (a crop of this state) back into ``slices`` in place."""
        for name in ("label", *FRACTION_FIELDS):
            getattr(self, name)[slices] = getattr(other, name)

    def mask(self, *labels: Label) -> np.ndarray:
        """Boolean mask of the voxels carrying any of ``labels``."""
        return np.isin(self.label, np.asarray(labels, dtype=np.uint8))

    def check(self) -> None:
        """Raise if any fraction field leaves [0, 1] or holds NaN (a conservation guard)."""
        for name in FRACTION_FIELDS:
            a = getattr(self, name)
            if a.shape != self.grid.shape:
                raise ConfigError(
                    f"TissueState.{name} has shape {a.shape}, grid is {self.grid.shape}"
                )
            lo, hi = float(np.min(a)), float(np.max(a))
            if not (np.isfinite(lo) and np.isfinite(hi)) or lo < -1e-6 or hi > 1 + 1e-6:
                raise ConfigError(f"TissueState.{name} leaves [0, 1]: min {lo}, max {hi}")
