"""The demo: whole treatment courses compared on lesions of the built-in phantom (the main job), and
the older one-session-per-modality comparison (``tissuefate demo --sessions``)."""

from __future__ import annotations

import math
import time
from pathlib import Path

from .config.scenario import Scenario, scenario_from_dict
from .course.strategies import PRESET_EXTRAS, STRATEGIES

__all__ = ["demo_scenarios", "run_demo", "DEMO_LESIONS", "DEMO_STRATEGIES", "demo_course_scenarios",
           "run_course_demo", "time_standard_case", "standard_case_scenario", "standard_cases",
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
    (no target in the issue); ``course``: 4 weekly ethanol sessions (2 mL each, no stop at complete
    response) and 12 months of follow-up on the phantom, 96³ (issue 4, ≤ 60 s); ``course_rfa``: the
    same with up to four 12-min RFA sessions 4 weeks apart on a 45-mm tumour (sessions stop early when
    nothing is left to aim at).
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
        "course": scenario_from_dict({
            "name": "standard-course-96", "modality": "injection",
            "anatomy": {"kind": "phantom", "seed": 0, "tumour_diameter_mm": 25},
            "grid": {"spacing_mm": 1.0, "roi_shape": [96, 96, 96]},
            "injection": {"agent": "ethanol", "volume_mL": 2, "rate_mL_per_s": 0.1, "spread_min": 30},
            "course": {"max_sessions": 4, "interval_days": 7, "stop_at_complete_response": False,
                       "horizon_days": 365}}),
        "course_rfa": scenario_from_dict({
            "name": "standard-course-rfa-96", "modality": "rfa",
            "anatomy": {"kind": "phantom", "seed": 0, "tumour_diameter_mm": 45},
            "grid": {"spacing_mm": 1.0, "roi_shape": [96, 96, 96]},
            "applicator": {"type": "rf_electrode", "active_length_mm": 30, "gauge": 17, "cooled": True},
            "protocol": {"duration_min": 12, "control": "impedance", "power_W": 200},
            "course": {"max_sessions": 4, "interval_days": 28, "stop_at_complete_response": False,
                       "horizon_days": 365}}),
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
        if scn.course is not None:
            fate_s = r.wall_time_s - sum(s.wall_time_s for s in r.sessions)
            out[name] = {"wall_s": round(time.perf_counter() - t0, 2), "course_s": round(r.wall_time_s, 2),
                         "sessions": r.metrics["sessions_given"],
                         "session_s": [round(float(s.wall_time_s), 2) for s in r.sessions],
                         "fate_and_metrics_s": round(fate_s, 2), "grid": list(scn.grid.roi_shape),
                         "horizon_days": scn.course.horizon_days}
            continue
        z = r.metrics["zones"][r.metrics["margin"]["zone"]]
        out[name] = {"wall_s": round(time.perf_counter() - t0, 2), "session_s": round(r.wall_time_s, 2),
                     "grid": list(scn.grid.roi_shape), "lethal_zone_mL": z["volume_mL"],
                     "numerics": r.settings.get("numerics", {})}
    return out


# --------------------------------------------------------------------------------------------------
# The strategy comparison (issue 4): courses on three lesions, two hypothesis presets
# --------------------------------------------------------------------------------------------------
#: Lesions of the default phantom (seed 0), each treated in its own region of interest.
DEMO_LESIONS = {
    "HCC 15 mm central": {"tumour_type": "hcc", "tumour_diameter_mm": 15, "tumour_location": "central"},
    "HCC 30 mm by a vessel": {"tumour_type": "hcc", "tumour_diameter_mm": 30, "tumour_location": "near_vessel",
                              "vessel_distance_mm": 3},
    "Metastasis 20 mm subcapsular": {"tumour_type": "metastasis", "tumour_diameter_mm": 20,
                                     "tumour_location": "subcapsular"},
}

#: The strategy library and the preset extras live in :mod:`tissuefate.course.strategies` (trials use
#: them too); re-exported here under the names the demo has always used.
DEMO_STRATEGIES = STRATEGIES
DEMO_PRESETS = PRESET_EXTRAS


def _quick_strategy(d: dict) -> dict:
    d = {k: (dict(v) if isinstance(v, dict) else v) for k, v in d.items()}
    if "protocol" in d:
        d["protocol"]["duration_min"] = min(d["protocol"]["duration_min"], 2)
    if "cryo" in d:
        d["cryo"] = {"phases": [{"kind": "freeze", "duration_min": 2}, {"kind": "passive_thaw", "duration_min": 1},
                                {"kind": "freeze", "duration_min": 2}]}
    if "injection" in d:
        d["injection"]["spread_min"] = 5
    d["course"] = dict(d["course"])
    if "schedule_days" in d["course"]:
        d["course"]["schedule_days"] = d["course"]["schedule_days"][:2]
    return d


def demo_course_scenarios(quick: bool = False, *, lesions=None, strategies=None, presets=None) -> list[dict]:
    """The courses of the strategy comparison, as ``{"lesion", "strategy_key", "preset", "scenario"}``.

    Every strategy runs on every lesion under each preset; a strategy on which no hypothesis of a
    preset acts (thermal and cryo courses: the presets' claims concern injections) runs once and is
    reported for both presets (``preset = "both"``).
    """
    out = []
    if lesions is None:
        lesions = list(DEMO_LESIONS)[:1] if quick else list(DEMO_LESIONS)
    for lesion in lesions:
        anat = {"kind": "phantom", "seed": 0, **DEMO_LESIONS[lesion]}
        d_mm = anat["tumour_diameter_mm"]
        h = 2.0 if quick else 1.5
        n = int(math.ceil((d_mm + (30 if quick else 52)) / h / 4.0)) * 4
        for key in strategies or DEMO_STRATEGIES:
            base = DEMO_STRATEGIES[key]
            base = _quick_strategy(base) if quick else base
            seen = {}
            for pname in presets or DEMO_PRESETS:
                p = DEMO_PRESETS[pname]
                hyp = {"preset": p["preset"]}
                if base.get("injection", {}).get("agent") == "oxidant" and p["oxidant_active"]:
                    hyp["active"] = list(p["oxidant_active"])
                data = {k: v for k, v in base.items() if k != "strategy"}
                data.update(name=f"{base['strategy']} — {lesion}", anatomy=anat, hypotheses=hyp,
                            grid={"spacing_mm": h, "roi_shape": [n, n, n]},
                            course={**base["course"], "strategy": base["strategy"],
                                    "horizon_days": 120 if quick else 365})
                scn = scenario_from_dict(data, f"demo {key} / {lesion} / {pname}")
                applied, _ = scn.run_hypotheses()
                sig = tuple(sorted(applied))
                if sig in seen:  # no hypothesis of this preset acts on the strategy: same course
                    seen[sig]["preset"] = "both"
                    continue
                entry = {"lesion": lesion, "strategy_key": key, "preset": pname, "scenario": scn}
                seen[sig] = entry
                out.append(entry)
    return out


#: Share of the demo's progress bar for the courses (simulated and written; the rest: the
#: comparison figures and the report).
_SIMULATED = 0.9

#: Modalities whose courses go to the second worker while the first compiles the RF kernels (cold
#: numba cache, :func:`course_order`): MWA first, then those that share no kernel with RFA sessions.
_BESIDE_FIRST_RFA = ("mwa", "cryo", "injection")


def _course_cost(s) -> tuple:
    """Sort key, costliest first: RFA before the rest, then the region's voxels times the number of
    overlapping ablations a course may plan (``course.max_overlapping_ablations``)."""
    n = math.prod(s.grid.roi_shape) * (getattr(s.course, "max_overlapping_ablations", None) or 1)
    return (s.modality != "rfa", -n)


def course_order(scenarios) -> list[int]:
    """The order in which the course demo hands ``scenarios`` to its worker processes.

    Costliest first (RFA, then larger regions and more planned ablations), so that no long course is
    left for the end, except that the MWA courses and the cryo and injection courses of the largest
    region come right after the first RFA course. On a fresh clone numba compiles each kernel on first
    use and then caches it on disk. The first RFA course compiles ≈ 24 s of potential-solver kernels,
    then the bioheat step (≈ 10 s) and the fate kernels (≈ 7 s); a second RFA course started beside
    it compiled them all again. An MWA course compiles the bioheat step and the fate kernels at once,
    so the RFA course finds them cached; cryo and injection courses share no kernel with an RFA
    session, and those of the largest region keep the second worker busy until the first RFA course
    is done (docs/performance.md, "Demo"). The rest follow costliest first, RFA and others mixed.

    Examples
    --------
    >>> from types import SimpleNamespace as NS
    >>> def scn(modality, n, ablations=None):
    ...     return NS(modality=modality, grid=NS(roi_shape=(n, n, n)), course=NS(max_overlapping_ablations=ablations))
    >>> course_order([scn("cryo", 56), scn("rfa", 48), scn("mwa", 48), scn("rfa", 56), scn("injection", 48),
    ...               scn("rfa", 48, 4), scn("injection", 56)])
    [5, 2, 0, 6, 3, 1, 4]
    """
    order = sorted(range(len(scenarios)), key=lambda k: _course_cost(scenarios[k]))
    if not order or scenarios[order[0]].modality != "rfa":
        return order
    first, rest = order[0], order[1:]
    largest = max((math.prod(scenarios[k].grid.roi_shape) for k in rest if scenarios[k].modality != "rfa"),
                  default=0)
    beside = [k for k in rest if scenarios[k].modality == "mwa"]
    beside += [k for k in rest if scenarios[k].modality in _BESIDE_FIRST_RFA[1:]
               and math.prod(scenarios[k].grid.roi_shape) == largest]
    return [first] + beside + [k for k in rest if k not in beside]


def _course_folder_name(j: int, entry: dict) -> str:
    scn = entry["scenario"]
    return f"{j + 1:02d}_{_slug(entry['lesion'])}_{_slug(scn.course.strategy or scn.name)}_{entry['preset']}"


def run_demo_course(scenario, lesion: str, preset_label: str, folder, *, one_thread: bool = True, progress=None):
    """Simulate one course of the demo and write its result folder (``io.write_course_outputs``).

    A job of :func:`run_course_demo`, run in a worker process: each worker writes the courses it
    simulated while the other simulates, instead of all figures and reports after all courses.

    Returns
    -------
    (CourseResult, dict of str → Path)
        The course (with ``lesion`` and ``preset_label`` set) and the written paths by name.
    """
    from .backends.threads import call_with_one_numba_thread
    from .course import run_course
    from .io.course_output import write_course_outputs

    course = (call_with_one_numba_thread(run_course, scenario, progress) if one_thread
              else run_course(scenario, progress))
    course.lesion = lesion
    course.preset_label = preset_label
    return course, write_course_outputs(folder, course, overwrite=True)


def run_course_demo(out_dir, *, overwrite: bool = True, quick: bool = False, progress=None, lesions=None,
                    strategies=None):
    """Run the strategy comparison and write one folder per course plus ``report.html``.

    With more than one usable core the courses run in single-threaded worker processes (one per
    core), each of which also writes the folders of its courses; the comparison figures and the
    report follow.

    Returns
    -------
    courses : list of CourseResult
        With attributes ``lesion`` and ``preset_label`` added.
    wall_s : float
    """
    from .backends.threads import pool_size, process_map
    from .io.output import atomic_output_dir
    from .viz.course import plot_course_comparison
    from .viz.course_report import course_comparison_report_html

    t0 = time.perf_counter()
    entries = demo_course_scenarios(quick, lesions=lesions, strategies=strategies)
    slugs = [_course_folder_name(j, e) for j, e in enumerate(entries)]
    out = Path(out_dir)
    with atomic_output_dir(out, overwrite=overwrite) as tmp:
        jobs = [(e["scenario"], e["lesion"], e["preset"], tmp / "courses" / slug)
                for e, slug in zip(entries, slugs, strict=True)]
        if pool_size(len(entries)) > 1:
            order = course_order([e["scenario"] for e in entries])

            def simulated(f, msg):
                if progress:
                    progress(_SIMULATED * f, f"courses simulated and written: {msg} (one process per core)")

            done = process_map(run_demo_course, [jobs[k] for k in order], progress=simulated)
            results = [None] * len(entries)
            for k, r in zip(order, done, strict=True):
                results[k] = r
        else:
            results = []
            for i, (e, job) in enumerate(zip(entries, jobs, strict=True)):

                def sub(f, msg, i=i, e=e):
                    if progress:
                        progress(_SIMULATED * (i + f) / len(entries),
                                 f"{e['lesion']}: {e['scenario'].course.strategy}: {msg}")

                results.append(run_demo_course(*job, one_thread=False, progress=sub))
        courses = [c for c, _ in results]
        lesions = list(dict.fromkeys(c.lesion for c in courses))
        figures = {}
        for j, lesion in enumerate(lesions):
            if progress:
                progress(_SIMULATED + (1 - _SIMULATED) * j / len(lesions), f"comparison figure: {lesion}")
            figures[lesion] = plot_course_comparison([c for c in courses if c.lesion == lesion],
                                                     tmp / f"comparison_{j + 1}.png",
                                                     title=f"{lesion}: strategies compared (simulated)")
        links, slices = [], []
        for slug, (_, paths) in zip(slugs, results, strict=True):
            links.append(f"courses/{slug}/report.html")
            slices.append(tmp / "courses" / slug / "course_slices.png" if "course_slices" in paths else None)
        (tmp / "report.html").write_text(course_comparison_report_html(
            courses, figures, title="tissuefate strategy comparison", links=links, slices=slices))
        if progress:
            progress(1.0, "report written")
    return courses, time.perf_counter() - t0


def _slug(s: str) -> str:
    import re

    return re.sub(r"[^a-z0-9]+", "-", s.lower()).strip("-")[:40]
