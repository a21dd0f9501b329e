"""Session physics: pure models and their kernels, no I/O (DESIGN.md §3.2).

One module per model. ``bioheat`` (Pennes) and ``damage`` (Arrhenius, CEM43, survival, tumour
control) are re-exported here; the source models (``rf``, ``microwave``, later ``cryo``,
``ire``, ``injection``) are imported from their own modules, so that importing the package
stays light and a model's optional pieces load only when used.
"""

from .bioheat import BioheatModel, stable_time_step_s
from .damage import (
    OMEGA_COAGULATION,
    OMEGA_COMPLETE,
    DamageAccumulator,
    arrhenius_rate_per_s,
    perfusion_shutdown_factor,
    survival_fraction,
    surviving_clonogens,
    tumour_control_probability,
)

__all__ = [
    # bioheat
    "BioheatModel",
    "stable_time_step_s",
    # damage
    "DamageAccumulator",
    "OMEGA_COAGULATION",
    "OMEGA_COMPLETE",
    "arrhenius_rate_per_s",
    "survival_fraction",
    "perfusion_shutdown_factor",
    "surviving_clonogens",
    "tumour_control_probability",
    # rf, microwave: add their public names here when those modules land
]
