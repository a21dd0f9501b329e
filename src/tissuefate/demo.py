"""The demo: one session of each modality on the same tumour of the built-in phantom, side by side."""

from __future__ import annotations

import time
from pathlib import Path

from .config.scenario import Scenario, scenario_from_dict

__all__ = ["demo_scenarios", "run_demo", "time_standard_case", "standard_case_scenario", "standard_cases",
           "time_standard_cases"]


def demo_scenarios(quick: bool = False) -> list[Scenario]:
    """The sessions of the demo: RFA, MWA, cryo, IRE and ethanol injection on the same 25-mm HCC of
    the default phantom (human liver). Settings are typical of published protocols, not
    recommendations."""
    roi = [48, 48, 56] if quick else [88, 88, 96]
    anatomy = {
        "kind": "phantom",
        "seed": 0,
        "tumour_type": "hcc",
        "tumour_diameter_mm": 25,
        "tumour_location": "central",
    }
    common = {
        "tissue": {"species": "human"},
        "anatomy": anatomy,
        "grid": {"spacing_mm": 1.5 if quick else 1.0, "roi_shape": roi},
        # what each session leaves behind after six months (tissue-fate model; docs/model.md)
        "followup": {"days": 60 if quick else 180},
    }
    rfa = scenario_from_dict(
        {
            "name": "RFA 3-cm cooled, 12 min",
            "modality": "rfa",
            **common,
            "applicator": {"type": "rf_electrode", "active_length_mm": 30, "gauge": 17, "cooled": True},
            "protocol": {"duration_min": 2 if quick else 12, "control": "impedance", "power_W": 200},
        }
    )
    mwa = scenario_from_dict(
        {
            "name": "MWA 2.45 GHz 80 W, 5 min",
            "modality": "mwa",
            **common,
            "applicator": {"type": "mw_antenna", "frequency_MHz": 2450, "antenna": "monopole"},
            "protocol": {"duration_min": 1 if quick else 5, "power_W": 80},
        }
    )
    cryo = scenario_from_dict(
        {
            "name": "Cryo 3 probes, 10-5-10 min",
            "modality": "cryo",
            **common,
            "applicator": {"type": "cryoprobe", "n_probes": 3, "spacing_mm": 15, "diameter_mm": 2.4,
                           "active_length_mm": 30},
            "cryo": {"phases": [{"kind": "freeze", "duration_min": 2 if quick else 10},
                                {"kind": "passive_thaw", "duration_min": 1 if quick else 5},
                                {"kind": "freeze", "duration_min": 2 if quick else 10}]},
        }
    )
    ire = scenario_from_dict(
        {
            "name": "IRE 4 needles, 90 pulses",
            "modality": "ire",
            **common,
            "applicator": {"type": "ire_electrodes", "n_electrodes": 4, "spacing_mm": 15, "exposed_length_mm": 25},
            "ire": {"voltage_per_cm_V": 1500, "n_pulses": 20 if quick else 90, "pulse_width_us": 100},
        }
    )
    pei = scenario_from_dict(
        {
            "name": "Ethanol 8 mL at 0.1 mL/s",
            "modality": "injection",
            **common,
            "applicator": {"type": "injection_needles", "n_needles": 1, "gauge": 21},
            "injection": {"agent": "ethanol", "concentration_percent": 95, "volume_mL": 2 if quick else 8,
                          "rate_mL_per_s": 0.1, "spread_min": 10 if quick else 60},
        }
    )
    return [rfa, mwa, cryo, ire, pei]


def run_demo(out_dir, *, overwrite: bool = True, quick: bool = False, progress=None):
    """Run the demo sessions and write one folder per session plus a comparison report."""
    from .api import simulate
    from .io.output import atomic_output_dir, write_session_outputs
    from .viz.report import comparison_report_html
    from .viz.slices import plot_side_by_side

    scns = demo_scenarios(quick)
    results = []
    for i, scn in enumerate(scns):

        def sub(f, msg, i=i, name=scn.name):
            if progress:
                progress((i + f) / len(scns), f"{name}: {msg}")

        results.append(simulate(scn, progress=sub))
    out = Path(out_dir)
    with atomic_output_dir(out, overwrite=overwrite) as tmp:
        paths = {}
        for r, scn in zip(results, scns, strict=True):
            sub_dir = tmp / scn.modality
            paths[scn.modality] = write_session_outputs(sub_dir, r, overwrite=True)
        fig = tmp / "comparison.png"
        plot_side_by_side(results, fig)
        (tmp / "report.html").write_text(comparison_report_html(results, {"comparison": fig}))
    return results, paths


def standard_case_scenario() -> Scenario:
    """The issue's standard case: 12-min RFA, 3-cm cooled electrode, 1 mm voxels, 128³ region."""
    return scenario_from_dict(
        {
            "name": "standard-rfa-128",
            "modality": "rfa",
            "tissue": {"species": "porcine"},
            "anatomy": {"kind": "block", "tumour_diameter_mm": 20},
            "grid": {"spacing_mm": 1.0, "roi_shape": [128, 128, 128]},
            "applicator": {"type": "rf_electrode", "active_length_mm": 30, "gauge": 17, "cooled": True},
            "protocol": {"duration_min": 12, "control": "impedance", "power_W": 200},
        }
    )


def time_standard_case(progress=None) -> dict:
    """Wall time of the standard case (potential solves included) and its zone."""
    from .api import simulate

    t0 = time.perf_counter()
    r = simulate(standard_case_scenario(), progress=progress)
    wall = time.perf_counter() - t0
    z = r.metrics.get("zones", {}).get("omega_ge_1", {})
    return {
        "wall_s": wall,
        "session_loop_s": r.wall_time_s,
        "simulated_s": 720.0,
        "numerics": r.settings.get("numerics", {}),
        "long_axis_mm": z.get("long_axis_mm"),
        "short_axis_mm": z.get("short_axis_mm"),
    }


def standard_cases() -> dict[str, Scenario]:
    """The performance cases of the issues, one per modality, on homogeneous blocks at 1 mm.

    ``rfa``: 12-min RFA, 3-cm cooled electrode, 128³ (issue 2, ≤ 30 s on 2 cores);
    ``cryo``: 2 probes, 10–5–10 min, 128³ (issue 3, ≤ 60 s); ``injection``: 5 mL ethanol at
    0.1 mL/s and 1 h of spread, 128³ (issue 3, ≤ 30 s); ``ire``: one needle pair, 90 pulses, 96³
    (no target in the issue).
    """
    block = {"kind": "block", "tumour_diameter_mm": 20}
    grid = {"spacing_mm": 1.0, "roi_shape": [128, 128, 128]}
    return {
        "rfa": standard_case_scenario(),
        "cryo": scenario_from_dict({
            "name": "standard-cryo-128", "modality": "cryo", "anatomy": block, "grid": grid,
            "applicator": {"type": "cryoprobe", "n_probes": 2, "spacing_mm": 15, "active_length_mm": 30}}),
        "injection": scenario_from_dict({
            "name": "standard-injection-128", "modality": "injection", "anatomy": block, "grid": grid,
            "injection": {"agent": "ethanol", "volume_mL": 5, "rate_mL_per_s": 0.1, "spread_min": 60}}),
        "ire": scenario_from_dict({
            "name": "standard-ire-96", "modality": "ire", "anatomy": block,
            "grid": {"spacing_mm": 1.0, "roi_shape": [96, 96, 96]},
            "applicator": {"type": "ire_electrodes", "n_electrodes": 2, "spacing_mm": 15}}),
    }


def time_standard_cases(names=None, progress=None) -> dict:
    """Wall time (scenario build + session + metrics) of :func:`standard_cases`."""
    from .api import simulate

    out = {}
    cases = standard_cases()
    for name in names or list(cases):
        scn = cases[name]
        t0 = time.perf_counter()
        r = simulate(scn, progress=progress)
        z = r.metrics["zones"][r.metrics["margin"]["zone"]]
        out[name] = {"wall_s": round(time.perf_counter() - t0, 2), "session_s": round(r.wall_time_s, 2),
                     "grid": list(scn.grid.roi_shape), "lethal_zone_mL": z["volume_mL"],
                     "numerics": r.settings.get("numerics", {})}
    return out
