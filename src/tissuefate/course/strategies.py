"""The built-in strategy library: courses typical of published protocols (not recommendations).

Each entry is a scenario fragment — modality, applicator, protocol / cryo / injection settings and a
``course`` section — that the demo (:mod:`tissuefate.demo`) and virtual trials
(:mod:`tissuefate.trial`) complete with a patient's anatomy, grid and hypotheses. See
docs/courses.md for the table of strategies and why they are set as they are.
"""

from __future__ import annotations

__all__ = ["STRATEGIES", "PRESET_EXTRAS"]

#: The strategies: settings typical of published protocols (docs/courses.md), not recommendations.
#: Both injection strategies use the same volume rule (Shiina's volume for the residual, ≤ 10 mL per
#: session), so that they differ only in agent and schedule.
STRATEGIES = {
    "rfa": {
        "strategy": "RFA 3-cm cooled 12 min, retreat at 4 wk",
        "modality": "rfa",
        "applicator": {"type": "rf_electrode", "active_length_mm": 30, "gauge": 17, "cooled": True},
        "protocol": {"duration_min": 12, "control": "impedance", "power_W": 200},
        "course": {"max_sessions": 2, "interval_days": 28},
    },
    "rfa_margin": {
        "strategy": "RFA overlapping ablations for a 5-mm margin",
        "modality": "rfa",
        "applicator": {"type": "rf_electrode", "active_length_mm": 30, "gauge": 17, "cooled": True},
        "protocol": {"duration_min": 12, "control": "impedance", "power_W": 200},
        "course": {"max_sessions": 2, "interval_days": 28, "margin_mm": 5, "max_overlapping_ablations": 4},
    },
    "mwa": {
        "strategy": "MWA 2.45 GHz 80 W 5 min, retreat at 4 wk",
        "modality": "mwa",
        "applicator": {"type": "mw_antenna", "frequency_MHz": 2450, "antenna": "monopole"},
        "protocol": {"duration_min": 5, "power_W": 80},
        "course": {"max_sessions": 2, "interval_days": 28},
    },
    "cryo": {
        "strategy": "Cryo 10-5-10 planned probes, retreat at 4 wk",
        "modality": "cryo",
        "applicator": {"type": "cryoprobe", "layout": "planned", "diameter_mm": 2.4, "active_length_mm": 30},
        "cryo": {"phases": [{"kind": "freeze", "duration_min": 10}, {"kind": "passive_thaw", "duration_min": 5},
                            {"kind": "freeze", "duration_min": 10}]},
        "course": {"max_sessions": 2, "interval_days": 28},
    },
    "ethanol": {
        "strategy": "Ethanol twice weekly until CR (max 8)",
        "modality": "injection",
        "applicator": {"type": "injection_needles", "n_needles": 1, "gauge": 21},
        "injection": {"agent": "ethanol", "concentration_percent": 95, "rate_mL_per_s": 0.1, "spread_min": 30},
        "course": {"schedule_days": [0, 3, 7, 10, 14, 17, 21, 24], "injection_volume": "shiina"},
    },
    "oxidant": {
        "strategy": "Oxidant weekly over a month (HYPOTHETICAL)",
        "modality": "injection",
        "applicator": {"type": "injection_needles", "n_needles": 1, "gauge": 21},
        "injection": {"agent": "oxidant", "rate_mL_per_s": 0.1, "spread_min": 30},
        "course": {"schedule_days": [0, 7, 14, 21], "injection_volume": "shiina"},
    },
}

#: Hypotheses each preset runs with. The literature preset has every claim off; an oxidant run must
#: still name its delivery model, and under the literature preset it takes the estimate-based
#: diffusion-limited one (hypotheses.py), labelled in every result.
PRESET_EXTRAS = {
    "literature": {"preset": "literature", "oxidant_active": ["oxidant_delivery_diffusion_limited"]},
    "seed_claims": {"preset": "seed_claims", "oxidant_active": []},
}
