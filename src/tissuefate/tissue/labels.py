"""Voxel labels (uint8) of the anatomy."""

from __future__ import annotations

from enum import IntEnum

__all__ = ["Label", "N_LABELS"]


class Label(IntEnum):
    """What occupies a voxel.

    ``LARGE_VESSEL`` marks vessels of calibre >= 3 mm, which act as heat sinks (blood at arterial
    temperature); smaller rasterised branches are ``SMALL_VESSEL`` and behave as perfused
    parenchyma. ``APPLICATOR`` marks voxels occupied by an electrode, antenna or probe.
    """

    OUTSIDE = 0
    PARENCHYMA = 1
    TUMOUR = 2
    LARGE_VESSEL = 3
    SMALL_VESSEL = 4
    CAPSULE = 5
    TRACT = 6
    APPLICATOR = 7


N_LABELS = len(Label)
