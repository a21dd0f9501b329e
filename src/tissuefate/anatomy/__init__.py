"""Anatomy: the synthetic liver phantom (the embedded default) and a homogeneous block.

Both build a :class:`~tissuefate.tissue.state.TissueState`. Sessions simulate a region of
interest cropped around their target (:func:`crop_roi`), not the whole organ.
"""

from .block import block_state
from .phantom import (
    PHANTOM_PARAMS,
    TUMOUR_LOCATIONS,
    TUMOUR_TYPES,
    Phantom,
    PhantomSpec,
    TumourInfo,
    TumourSpec,
    build_phantom,
    crop_roi,
    tumour_mask,
)
from .vessels import LARGE_VESSEL_MIN_DIAMETER_M, VESSEL_PARAMS, VesselSegment

__all__ = [
    "PhantomSpec",
    "TumourSpec",
    "TumourInfo",
    "Phantom",
    "VesselSegment",
    "build_phantom",
    "crop_roi",
    "tumour_mask",
    "block_state",
    "TUMOUR_TYPES",
    "TUMOUR_LOCATIONS",
    "PHANTOM_PARAMS",
    "VESSEL_PARAMS",
    "LARGE_VESSEL_MIN_DIAMETER_M",
]
