"""Self-contained HTML reports of courses: one course, and several side by side.

The pages reuse the session reports' parts (:mod:`tissuefate.viz.report`): the same disclaimer,
hypothesis banner, model assumptions, parameter provenance and inline CSS, with figures embedded
as base64 data URIs and no external links.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import SimpleNamespace

from .. import __version__
from .course import course_is_hypothetical, course_label
from .report import DISCLAIMER, _common_tail, _e, _img, _num, _page, _prob, _sci, _table, hypothesis_banner

__all__ = ["OXIDANT_WARNING", "course_hypothesis_records", "course_banner", "course_outcome_rows",
           "course_session_rows", "course_comparison_rows", "course_report_html", "course_comparison_report_html"]

#: Shown on every page that holds an oxidant course.
OXIDANT_WARNING = (
    "Chlorine dioxide (the oxidant) is not an approved therapy: the FDA warned in 2019 that “MMS” "
    "(sodium chlorite + acid → ClO₂) causes severe vomiting, diarrhoea, life-threatening hypotension and "
    "acute liver failure and is not approved for any disease. No controlled intratumoral study exists. "
    "Every oxidant result here is HYPOTHETICAL: it shows what would follow if the named hypotheses held. "
    "A simulated volume, concentration or schedule is never dosing advice."
)

_HOW_TO_READ = (
    "Each session was planned on the tissue the model carried over from the previous one: the applicators "
    "were aimed at the viable tumour left (above the course's residual threshold) and, for planned layouts "
    "and Shiina volumes, sized for it plus the planning margin. Between sessions and after the last one the "
    "tissue-fate model clears debris, lays down scar, regenerates parenchyma and lets surviving tumour regrow. "
    "The response assessment is idealised: the model's total viable tumour volume is compared with the volume "
    "of a sphere of {d} mm diameter; complete response is the first assessment below it and local "
    "progression is regrowth to it after a complete response. Real imaging sees less than this model does, "
    "and a detectable volume may be scattered rather than one nodule. The tumour-control probability is "
    "exp(−expected surviving clonogens). Involution is the ablation-zone content (debris + scar) relative to "
    "its value right after the first session."
)

_HYP_ROW_STYLE = "background:#fdf1f1"


def course_hypothesis_records(course) -> list:
    """The active hypotheses of ``course`` as records (``HypothesisSet.record()``: name, tag,
    statement, parameters), for :func:`tissuefate.viz.report.hypothesis_banner`.

    Taken from the scenario's run hypotheses (the set the course ran with) and from the records its
    sessions carry; names without a record fall back to ``course.metrics["hypotheses"]``.
    """
    recs: list = []
    names: set[str] = set()

    def add(r):
        key = r.get("name") if isinstance(r, dict) else str(r)
        if key not in names:
            names.add(key)
            recs.append(r)

    try:
        hs, _ = course.scenario.run_hypotheses()
        for r in hs.record():
            add(r)
    except (AttributeError, TypeError, ValueError):  # no run_hypotheses (stand-ins): use what was stored
        pass
    for s in course.sessions:
        got = s.settings.get("hypotheses") if isinstance(s.settings, dict) else None
        if isinstance(got, list):  # thermal sessions store the scenario's [hypotheses] table here, not records
            for r in got:
                if isinstance(r, dict) and "name" in r:
                    add(r)
    m = course.metrics if isinstance(course.metrics, dict) else {}
    for n in m.get("hypotheses", []) or []:
        if n not in names:
            add({"name": n, "tag": "?", "statement": "", "parameters": {}})
    return recs


def course_banner(courses: Sequence) -> str:
    """The hypothesis banner of ``courses`` (:func:`~tissuefate.viz.report.hypothesis_banner` over
    their hypothesis records) and, when any injected an oxidant, :data:`OXIDANT_WARNING`."""
    proxies = [SimpleNamespace(settings={"hypotheses": course_hypothesis_records(c)}) for c in courses]
    out = hypothesis_banner(proxies)
    if any(course_is_hypothetical(c) == "oxidant" for c in courses):
        out = (f'<div class="disclaimer"><strong>HYPOTHETICAL — oxidant.</strong> {_e(OXIDANT_WARNING)}</div>'
               + out)
    return out


def _m(course) -> Mapping:
    return course.metrics if isinstance(course.metrics, dict) else {}


def _day(x) -> str:
    return "—" if x is None else f"day {float(x):g}"


def _mL(x, nd=2) -> str:
    return "—" if x is None else f"{_num(x, nd)} mL"


def _tiny_mL(x) -> str:
    if x is None:
        return "—"
    return f"{_sci(x)} mL" if 0 < abs(x) < 0.01 else f"{_num(x, 3)} mL"


def _scar_at(m: Mapping, key: str) -> str:
    v = (m.get("scar_volume_mL") or {}).get(key)
    return "beyond the horizon" if v is None else _mL(v)


def _involution_text(m: Mapping) -> str:
    parts = [f"{k.removeprefix('day_')} d: {v * 100:.0f} %" for k, v in (m.get("involution") or {}).items()
             if v is not None and math.isfinite(v)]
    return ", ".join(parts) if parts else "—"


def _cr_text(m: Mapping) -> str:
    if not m.get("complete_response"):
        return "no"
    k = m.get("sessions_to_complete_response")
    return f"yes, after {k} session{'s' if k != 1 else ''} ({_day(m.get('days_to_complete_response'))})"


def _ltp_text(m: Mapping) -> str:
    if not m.get("complete_response"):
        return "not assessed (no complete response)"
    if m.get("local_progression"):
        return _day(m.get("local_progression_day"))
    return f"none by day {float(m.get('horizon_days', 0)):g}"


def course_outcome_rows(course) -> list[tuple[str, str]]:
    """(label, value) rows of the key course outcomes of ``course.metrics``."""
    m = _m(course)
    agent = m.get("agent")
    modality = str(m.get("modality", "")).upper() + (f" ({agent})" if m.get("modality") == "injection" else "")
    sched = m.get("schedule_days") or []
    rows = [
        ("Strategy", str(course.strategy)),
        ("Modality", modality),
        ("Hypothesis preset", m.get("hypothesis_preset") or "none"),
        ("Sessions given", f"{m.get('sessions_given', len(course.sessions))} of {len(sched)} scheduled (days "
                           + ", ".join(f"{float(d):g}" for d in m.get("session_days", [])) + ")"),
        ("Stop reason", f"{m.get('stop_reason', '?')}: {m.get('stop_reason_meaning', '')}"
                        + (f" — {m['stop_detail']}" if m.get("stop_detail") else "")),
        ("Complete response", _cr_text(m)),
        ("Viable tumour before → at horizon", f"{_tiny_mL(m.get('tumour_volume_before_mL'))} → "
                                              f"{_tiny_mL(m.get('viable_tumour_at_horizon_mL'))}"),
        ("Tumour-control probability after the sessions", _prob(m.get("tumour_control_probability_after_sessions"))),
        (f"Tumour-control probability at day {float(m.get('horizon_days', 0)):g}",
         _prob(m.get("tumour_control_probability_at_horizon"))),
        ("Local tumour progression", _ltp_text(m)),
        ("Normal tissue destroyed (all sessions)", _mL(m.get("normal_tissue_destroyed_mL"))),
        ("Scar at 1 month (day 30)", _scar_at(m, "day_30")),
        ("Scar at 3 months (day 90)", _scar_at(m, "day_90")),
        ("Scar at 12 months (day 365)", _scar_at(m, "day_365")),
        ("Involution (zone content / after session 1)", _involution_text(m)),
        ("Needle / applicator passes", str(m.get("needle_passes", "—"))),
    ]
    if m.get("modality") == "injection":
        rows.append(("Leaked agent (vessels, tract, surface)", _mL(m.get("leaked_agent_mL"), 3)))
    rows += [
        ("Peak necrotic clearance load", f"{_num(m.get('peak_necrotic_clearance_g_per_day'), 3)} g/day "
                                         f"({_day(m.get('peak_necrotic_clearance_day'))})"),
        ("Acute volume change (dehydration)", _mL(m.get("acute_volume_change_mL"), 3)),
        ("Active hypotheses", ", ".join(m.get("hypotheses") or []) or "none"),
        ("Hypotheses not applicable to this strategy", ", ".join(m.get("hypotheses_not_applicable") or []) or "none"),
        ("Doubling time of surviving tumour", f"{_num(m.get('doubling_time_days'), 0)} days"),
        ("Wall time", f"{_num(m.get('wall_time_s', course.wall_time_s), 1)} s"),
    ]
    return rows


def _plan_text(plan: Mapping) -> str:
    parts = []
    lay = plan.get("layout")
    if isinstance(lay, Mapping):
        s = f"{lay.get('layout', '?')}, {lay.get('n', '?')} applicator(s)"
        if lay.get("covered_fraction") is not None:
            s += f", covers {float(lay['covered_fraction']) * 100:.0f} %"
        parts.append(s)
    if plan.get("volume_mL") is not None:
        parts.append(f"{plan['volume_mL']:g} mL" + (f" ({plan['volume_rule']})" if plan.get("volume_rule") else ""))
    return "; ".join(parts) or "as configured"


def course_session_rows(course) -> list[list[str]]:
    """One row per session (``metrics["sessions"]`` joined with ``plans``), and a row for a session
    the planner refused: session, day, target, residual radius, plan, passes, lethal zone, margin,
    normal tissue destroyed, TCP after it, injected / leaked or energy."""
    m = _m(course)
    plans = {int(p.get("session", i + 1)): p for i, p in enumerate(course.plans)}
    rows = []
    for s in m.get("sessions", []) or []:
        p = plans.get(int(s["session"]), {})
        tgt = p.get("target_mm")
        if s.get("injected_mL") is not None:
            deliv = f"{_num(s.get('injected_mL'), 2)} / {_num(s.get('leaked_mL'), 3)} mL"
        elif s.get("energy_J") is not None:
            deliv = f"{s['energy_J'] / 1e3:.1f} kJ"
        else:
            deliv = "—"
        rows.append([
            str(s["session"]), f"{float(s['day']):g}",
            "—" if tgt is None else "(" + ", ".join(f"{float(v):.1f}" for v in tgt) + ")",
            _num(p.get("residual_radius_mm"), 1), _tiny_mL(p.get("residual_viable_mL")), _plan_text(p),
            str(s.get("needle_passes", "—")), _num(s.get("lethal_zone_volume_mL"), 2),
            "—" if s.get("minimal_ablative_margin_mm") is None else f"{s['minimal_ablative_margin_mm']:+.1f}",
            _num(s.get("normal_tissue_destroyed_mL"), 2), _prob(s.get("tumour_control_probability")), deliv,
        ])
    for k, p in sorted(plans.items()):
        if "refused" in p:
            rows.append([str(k), f"{float(p.get('day', 0)):g}", "—", _num(p.get("residual_radius_mm"), 1),
                         _tiny_mL(p.get("residual_viable_mL")), f"not given: {p['refused']}",
                         "", "", "", "", "", ""])
    return rows


_SESSION_HEADER = ["session", "day", "target (x, y, z) [mm]", "residual radius [mm]", "residual viable",
                   "plan (layout / volume)", "passes", "lethal zone [mL]", "min. margin [mm]",
                   "normal tissue destroyed [mL]", "TCP after", "injected / leaked, or energy"]


def _assessment_rows(m: Mapping) -> list[list[str]]:
    return [[f"{float(a['day']):g}", _tiny_mL(a.get("viable_tumour_mL")), "yes" if a.get("detectable") else "no"]
            for a in m.get("assessments", []) or []]


def _modalities(courses) -> list[str]:
    return [str(_m(c).get("modality", getattr(c.scenario, "modality", "rfa"))) for c in courses]


def course_report_html(course, figures: Mapping[str, Path]) -> str:
    """A self-contained HTML report of one course.

    Parameters
    ----------
    course : CourseResult
    figures : mapping of caption → path
        Image files to embed (as base64 data URIs), in order.

    Returns
    -------
    str
        Title, disclaimer, hypothesis banner (and the oxidant warning), key outcomes, the
        per-session table, assessments, how to read the page, figures, the plans, model
        assumptions, active hypotheses, parameter provenance and the tissuefate version.
    """
    m = _m(course)
    title = f"tissuefate — course “{course.strategy}”"
    d = m.get("detection_diameter_mm")
    horizon = f"{float(m.get('horizon_days', 0)):g}"
    body = [
        f"<h1>{_e(title)}</h1>",
        f'<p class="meta">Simulated course · {_e(str(m.get("modality", "")).upper())} · scenario '
        f"“{_e(course.name)}” · {_e(m.get('sessions_given', len(course.sessions)))} session(s) · follow-up to day "
        f"{_e(horizon)} · tissuefate {_e(__version__)}</p>",
        f'<div class="disclaimer">{_e(DISCLAIMER)}</div>',
        course_banner([course]),
        "<h2>Key outcomes</h2>",
        _table(["outcome", "value"], course_outcome_rows(course), num_cols=(1,)),
        "<h2>Sessions</h2>",
        _table(_SESSION_HEADER, course_session_rows(course), num_cols=(1, 3, 6, 7, 8, 9, 10)),
    ]
    ar = _assessment_rows(m)
    if ar:
        body += ["<h2>Response assessments</h2>",
                 _table(["day", "viable tumour (model)", f"detectable (≥ {d:g} mm sphere)" if d else "detectable"],
                        ar, num_cols=(0, 1))]
    body += ["<h2>How to read this</h2>",
             f"<p>{_e(_HOW_TO_READ.format(d='?' if d is None else f'{float(d):g}'))}</p>"]
    if figures:
        body.append("<h2>Figures</h2>")
        body += [_img(p, name) for name, p in figures.items()]
    body.append("<h2>Plans</h2><details><summary>what the planner saw and decided before each session</summary>"
                f"<pre>{_e(_json(course.plans))}</pre></details>")
    body += _common_tail(list(m.get("hypotheses") or []), _modalities([course]))
    return _page(title, body)


def _json(obj) -> str:
    from ..io.output import to_jsonable

    return json.dumps(to_jsonable(obj, strict=False), indent=2, sort_keys=True)


def course_comparison_rows(courses: Sequence) -> tuple[list[str], list[list[str]], list[str]]:
    """(header, rows, hypothetical flag per row) of the course comparison table."""
    with_lesion = any(getattr(c, "lesion", None) for c in courses)
    header = ["strategy", "evidence", "preset", "sessions", "stop", "complete response", "TCP at horizon",
              "local progression", "normal tissue destroyed [mL]", "scar 3 mo [mL]", "scar 12 mo [mL]",
              "involution 3 mo", "needle passes", "leaked agent [mL]", "wall time [s]"]
    if with_lesion:
        header = ["lesion", *header]
    rows, flags = [], []
    for c in courses:
        m = _m(c)
        preset = getattr(c, "preset_label", None) or m.get("hypothesis_preset") or "none"
        if preset == "both":
            preset = "either (none applies)"
        why = course_is_hypothetical(c)
        evidence = {"oxidant": "HYPOTHETICAL (oxidant; not an approved therapy)",
                    "hypotheses": "hypothetical (active hypotheses)"}.get(why, "literature defaults")
        cr = ("no" if not m.get("complete_response")
              else f"yes, {_day(m.get('days_to_complete_response'))}")
        ltp = ("—" if not m.get("complete_response")
               else (_day(m.get("local_progression_day")) if m.get("local_progression") else "none"))
        inv = (m.get("involution") or {}).get("day_90")
        scar = m.get("scar_volume_mL") or {}
        rows.append([
            ("HYPOTHETICAL — " if why == "oxidant" else "") + str(c.strategy), evidence,
            preset, str(m.get("sessions_given", len(c.sessions))), str(m.get("stop_reason", "—")), cr,
            _prob(m.get("tumour_control_probability_at_horizon")), ltp,
            _num(m.get("normal_tissue_destroyed_mL"), 2), _num(scar.get("day_90"), 2), _num(scar.get("day_365"), 2),
            "—" if inv is None else f"{inv * 100:.0f} %", str(m.get("needle_passes", "—")),
            _num(m.get("leaked_agent_mL"), 3) if m.get("modality") == "injection" else "—",
            _num(m.get("wall_time_s", c.wall_time_s), 1),
        ])
        if with_lesion:
            rows[-1].insert(0, str(getattr(c, "lesion", "") or ""))
        flags.append(why)
    return header, rows, flags


def _flagged_table(header, rows, flags, num_cols=()) -> str:
    """:func:`~tissuefate.viz.report._table` with hypothetical rows shaded."""
    out = ["<table><thead><tr>", *(f"<th>{_e(h)}</th>" for h in header), "</tr></thead><tbody>"]
    for r, f in zip(rows, flags, strict=True):
        out.append(f'<tr style="{_HYP_ROW_STYLE}">' if f else "<tr>")
        for i, c in enumerate(r):
            cls = ' class="num"' if i in num_cols else ""
            txt = f"<strong>{_e(c)}</strong>" if (f == "oxidant" and i in (0, 1)) else _e(c)
            out.append(f"<td{cls}>{txt}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def course_comparison_report_html(courses: Sequence, figures: Mapping[str, Path], *,
                                  title: str = "tissuefate — course comparison",
                                  links: Sequence[str | None] | None = None,
                                  slices: Sequence[Path | None] | None = None) -> str:
    """A self-contained HTML report comparing courses (strategies and / or hypothesis presets).

    Parameters
    ----------
    courses : sequence of CourseResult
    figures : mapping of caption → path
        Image files to embed, in order.
    title : str
    links : sequence of str, optional
        Per course, a relative link to its own report (shown under its heading).
    slices : sequence of Path, optional
        Per course, a slices-over-sessions figure embedded (collapsed) under its heading.

    Returns
    -------
    str
        Title, disclaimer, hypothesis banner (and the oxidant warning), the comparison table (one
        row per course; hypothetical rows shaded and labelled), how to read it, figures, each
        course's key outcomes, model assumptions and provenance.
    """
    courses = list(courses)
    header, rows, flags = course_comparison_rows(courses)
    dets = sorted({float(_m(c)["detection_diameter_mm"]) for c in courses if _m(c).get("detection_diameter_mm")})
    body = [
        f"<h1>{_e(title)}</h1>",
        f'<p class="meta">{len(courses)} simulated courses · tissuefate {_e(__version__)}</p>',
        f'<div class="disclaimer">{_e(DISCLAIMER)}</div>',
        course_banner(courses),
        "<h2>Courses side by side</h2>",
        _flagged_table(header, rows, flags, num_cols=tuple(i for i, h in enumerate(header)
                                                          if "[" in h or h in ("sessions", "involution 3 mo",
                                                                               "needle passes", "TCP at horizon"))),
        '<p class="meta">Shaded rows rest on hypotheses without measured evidence; rows marked HYPOTHETICAL '
        "injected an oxidant (chlorine dioxide), which is not an approved therapy.</p>",
        "<h2>How to read this</h2>",
        f"<p>{_e(_HOW_TO_READ.format(d=', '.join(f'{x:g}' for x in dets) or '?'))}</p>",
    ]
    if figures:
        body.append("<h2>Figures</h2>")
        body += [_img(p, name) for name, p in figures.items()]
    for i, c in enumerate(courses):
        lesion = getattr(c, "lesion", None)
        body.append(f"<h2>{_e((lesion + ': ') if lesion else '')}{_e(course_label(c))}</h2>")
        if links is not None and links[i]:
            body.append(f'<p><a href="{_e(links[i])}">this course\'s own report</a> (figures, sessions, '
                        "states.nc, metrics.json)</p>")
        if slices is not None and slices[i] is not None:
            body += ["<details><summary>tissue after each session and at the horizon</summary>",
                     _img(slices[i], "composition and viable tumour through the first target"), "</details>"]
        body += ["<details><summary>key outcomes and sessions</summary>",
                 _table(["outcome", "value"], course_outcome_rows(c), num_cols=(1,)),
                 _table(_SESSION_HEADER, course_session_rows(c), num_cols=(1, 3, 6, 7, 8, 9, 10)),
                 "</details>"]
    hyps = sorted({h for c in courses for h in (_m(c).get("hypotheses") or [])})
    body += _common_tail(hyps, _modalities(courses))
    return _page(title, body)

