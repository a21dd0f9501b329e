"""Self-contained HTML reports (inline CSS, figures as base64 data URIs, no external links)."""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from .. import __version__
from ..therapy.result import SessionResult
from ..tissue.properties import all_params

__all__ = ["DISCLAIMER", "key_metric_rows", "session_report_html", "comparison_report_html"]

DISCLAIMER = (
    "Research software, not a medical device. No treatment guidance. "
    "Simulated results depend on model assumptions listed below."
)

#: The assumptions every thermal session rests on (shown in each report).
ASSUMPTIONS = (
    "Tissue heating follows the Pennes bioheat equation; perfusion shuts down as damage rises.",
    "Large vessels (calibre ≥ 3 mm) hold blood at arterial temperature (heat sinks).",
    "Cell death follows a single-term Arrhenius integral Ω (survival exp(−Ω)), integrated above "
    "43 °C only; it overstates death at 43–55 °C (Pearce 2015).",
    "Ω ≥ 1 (63 % kill) and Ω ≥ 4.6 (99 % kill) are conventions for the coagulation and "
    "irreversible zones; visible zone edges in the literature lie at 33–95 °C depending on "
    "modality (Mertyna 2009).",
    "Tumour control: clonogens per voxel = tumour fraction × cell density × clonogenic fraction × "
    "voxel volume, Poisson survival; the clonogenic fraction is an order-of-magnitude estimate.",
    "Property values are literature values for liver tagged by evidence (table below); tumour "
    "perfusion has no verified value and uses stand-ins.",
)

#: Further assumptions per non-thermal modality.
MODALITY_ASSUMPTIONS = {
    "cryo": (
        "Freezing follows an enthalpy method with latent heat released between −8 and −1 °C; probes are "
        "held at a prescribed surface temperature while freezing.",
        "Cells die by the minimum temperature reached: all below −40 °C, none above −20 °C, linear between "
        "(Gage & Baust 1998); no extra kill for a second freeze.",
        "Microvessels are destroyed wherever tissue fell below 0 °C (perfusion off for good).",
    ),
    "ire": (
        "Pulses are quasi-static: ∇·(σ(|E|, T)∇φ) = 0 with a sigmoid rise of σ between 362 and 637 V/cm.",
        "Cells die where |E| ≥ the kill threshold in any pulsed pair (thresholds not scaled with pulse "
        "number); ECM and large vessels are spared; Joule heating is checked with the Pennes model.",
        "At 1 mm voxels thin needles are drawn too thick: zone volumes are overestimated (≈ 30 %).",
    ),
    "injection": (
        "Fluid spreads by quasi-steady Darcy flow with leak paths (vessels, needle tract, surface) and "
        "cracking above a crack pressure; permeabilities, the crack pressure and kill rates are "
        "order-of-magnitude estimates [E]: trust trends, not volumes.",
        "Ethanol and acetic acid kill by a concentration–time law; an oxidant by stoichiometric "
        "consumption of the tissue's oxidant demand — every oxidant result is hypothetical.",
    ),
}

_CSS = """
body{font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;color:#222;max-width:1150px;
margin:1.5em auto;padding:0 1em;line-height:1.4}
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.15em;border-bottom:1px solid #ddd;
padding-bottom:.2em;margin-top:1.6em}
.disclaimer{border:2px solid #b2182b;background:#fdf1f1;padding:.7em 1em;border-radius:4px;
font-weight:600;margin:1em 0}
table{border-collapse:collapse;font-size:.88em;margin:.5em 0}
th,td{border:1px solid #d6d6d6;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:1em 0}figure img{max-width:100%;border:1px solid #e3e3e3}
figcaption{font-size:.85em;color:#555}
pre{background:#f7f7f7;padding:.7em;font-size:.8em;overflow-x:auto;border:1px solid #e3e3e3}
.meta{color:#666;font-size:.85em}.tag{font-family:monospace}
"""


def _e(x) -> str:
    return html.escape(str(x), quote=True)


def _num(x, nd=1) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "—"
    return f"{x:.{nd}f}"


def _sci(x) -> str:
    if x is None:
        return "—"
    if x == 0:
        return "0"
    return f"{x:.3g}"


def _prob(x) -> str:
    if x is None:
        return "—"
    if 0 < x < 5e-4 or x == 0:
        return "< 0.001"
    return f"{x:.3f}"


def _zone_axes(z: Mapping) -> str:
    if z.get("empty"):
        return "empty"
    clipped = " (cut by ROI edge)" if z.get("touches_roi_boundary") else ""
    return f"{_num(z['long_axis_mm'])} × {_num(z['short_axis_mm'])} mm{clipped}"


def _zone_name(z: Mapping) -> str:
    if z.get("label"):
        return str(z["label"])
    if z["criterion"] == "omega":
        return f"Ω ≥ {z['threshold']:g}"
    return f"peak T ≥ {z['threshold']:g} °C"


def detail_rows(metrics: Mapping, *, brief: bool = False) -> list[tuple[str, str]]:
    """Rows of the modality-specific outcomes (``metrics["details"]``): each entry of its
    ``report`` list is ``[label, value, unit, brief]``."""
    rows = []
    for item in metrics.get("details", {}).get("report", []):
        label, value, unit, in_brief = item
        if brief and not in_brief:
            continue
        if isinstance(value, bool):
            txt = "yes" if value else "no"
        elif isinstance(value, (int, float)):
            txt = _num(value, 2) if abs(value) < 1e4 else _sci(value)
        else:
            txt = "—" if value is None else str(value)
        rows.append((str(label), f"{txt} {unit}".strip()))
    return rows


def time_step_check_text(check: Mapping) -> str:
    """One line on a session's time-step check (``metrics["numerics_check"]``, docs/metrics.md).

    >>> time_step_check_text({"divisor": 4, "time_step_s": [0.94, 0.235],
    ...     "omega_ge_1_volume_relative_change": 0.052, "energy_relative_change": 0.08,
    ...     "tolerance_fraction": 0.1, "within_tolerance": True})
    'Ω ≥ 1 volume +5.2 %, energy +8.0 % against Δt = 0.235 s (within ±10 %)'
    """
    def pct(x):
        return "—" if x is None else f"{x * 100:+.1f} %"

    verdict = {True: "within", False: "OUTSIDE", None: "not judged:"}[check.get("within_tolerance")]
    return (f"Ω ≥ 1 volume {pct(check.get('omega_ge_1_volume_relative_change'))}, energy "
            f"{pct(check.get('energy_relative_change'))} against Δt = {check['time_step_s'][1]:.3g} s "
            f"({verdict} ±{check['tolerance_fraction'] * 100:.0f} %)")


def key_metric_rows(metrics: Mapping, *, brief: bool = False) -> list[tuple[str, str]]:
    """Human-readable (label, value) rows of the key outcomes in ``metrics``.

    ``brief`` keeps the rows that fit under a figure (the irreversible zone, margin, tumour
    control, normal tissue, peak temperature and energy).
    """
    rows: list[tuple[str, str]] = []
    zones = metrics.get("zones", {})
    lethal = metrics.get("margin", {}).get("zone", "omega_ge_4.6")
    order = [lethal] if brief else list(zones)
    for key in order:
        z = zones.get(key)
        if z is None:
            continue
        name = _zone_name(z)
        rows.append((f"{name}: long × short axis", _zone_axes(z)))
        rows.append((f"{name}: volume", f"{_num(z['volume_mL'], 2)} mL"))
        if not brief or key == lethal:
            rows.append((f"{name}: sphericity", _num(z.get("sphericity"), 2)))
    mg = metrics.get("margin", {})
    if not mg.get("tumour_present"):
        rows.append(("Minimal ablative margin", "no tumour"))
    elif mg.get("minimal_ablative_margin_mm") is None:
        rows.append(("Minimal ablative margin", "no ablation zone"))
    else:
        cov = mg.get("tumour_volume_covered_fraction", 0.0) * 100
        if mg.get("tumour_covered"):
            note = "covered" if brief else "tumour covered"
        else:
            note = f"{cov:.0f} % covered" if brief else f"{cov:.0f} % of tumour covered"
        rows.append(
            ("Minimal ablative margin", f"{mg['minimal_ablative_margin_mm']:+.1f} mm ({note})")
        )
    t = metrics.get("tumour", {})
    if t:
        rows.append(("Viable tumour left", f"{_sci(t.get('viable_volume_mL'))} mL"))
        if not brief:
            rows.append(("Surviving clonogens (expected)", _sci(t.get("surviving_clonogens"))))
        rows.append(("Tumour-control probability", _prob(t.get("tumour_control_probability"))))
    nt = metrics.get("normal_tissue", {})
    if nt:
        lz = zones.get(lethal)
        what = _zone_name(lz) if lz else "lethal zone"
        rows.append((f"Normal tissue destroyed ({what})", f"{_num(nt.get('destroyed_mL'), 2)} mL"))
    th = metrics.get("thermal", {})
    if th and th.get("peak_temperature_degC") is not None:
        rows.append(("Peak tissue temperature", f"{_num(th.get('peak_temperature_degC'))} °C"))
    rows += detail_rows(metrics, brief=brief)
    fu = metrics.get("followup")
    if fu:
        h = fu["horizon_days"]
        rows.append((f"Zone content after {h:g} d (involution)", f"{fu['involution_at_horizon'] * 100:.0f} %"))
        rows.append((f"Scar after {h:g} d", f"{_num(fu['scar_volume_at_horizon_mL'], 2)} mL"))
        lp = ("residual tumour detectable after the session" if fu["residual_detectable_after_session"]
              else (f"day {fu['local_progression_day']:g}" if fu["local_progression"] else f"none by day {h:g}"))
        rows.append(("Local tumour progression", lp))
        if not brief:
            rows.append((f"Tumour-control probability at {h:g} d",
                         _prob(fu["tumour_control_probability_at_horizon"])))
            rows.append(("Peak necrotic clearance", f"{_num(fu['peak_necrotic_clearance_g_per_day'], 2)} g/day "
                                                    f"(day {_num(fu['peak_necrotic_clearance_day'], 0)})"))
    dl = metrics.get("delivery", {})
    e = dl.get("energy_J")
    if e is not None or metrics.get("modality") in ("rfa", "mwa"):
        rows.append(("Delivered energy", "not recorded" if e is None else f"{e / 1e3:.1f} kJ"))
    chk = metrics.get("numerics_check")
    if chk and not brief:
        rows.append((f"Time-step check (Δt/{chk['divisor']})", time_step_check_text(chk)))
    if not brief:
        imp = metrics.get("impedance", {})
        if imp.get("present"):
            rows.append(
                (
                    "Impedance initial → final",
                    f"{_num(imp['initial_ohm'])} → {_num(imp['final_ohm'])} Ω",
                )
            )
            rows.append(
                ("Impedance min – max", f"{_num(imp['min_ohm'])} – {_num(imp['max_ohm'])} Ω")
            )
            if imp.get("n_rolloffs") is not None:
                rows.append(("Impedance roll-offs", str(imp["n_rolloffs"])))
        hs = metrics.get("heat_sink", {})
        if hs.get("large_vessels_present"):
            frac = hs.get("surviving_clonogens_near_vessel_fraction")
            rows.append(
                (
                    f"Surviving clonogens within {hs['vessel_distance_mm']:g} mm of large vessels",
                    "—" if frac is None else f"{frac * 100:.0f} %",
                )
            )
            rows.append(
                (
                    "Lethal zone gap to large vessel",
                    f"{_num(hs.get('zone_gap_to_large_vessel_mm'))} mm",
                )
            )
            c = hs.get("peak_temperature_contrast", {})
            if c.get("difference_degC") is not None:
                rows.append(
                    (
                        "Peak T next to vessels vs. elsewhere",
                        f"{_num(c['near_vessel_mean_degC'])} vs "
                        f"{_num(c['elsewhere_mean_degC'])} °C",
                    )
                )
    return rows


def _img(path: Path, caption: str) -> str:
    path = Path(path)
    mime = {
        ".png": "image/png",
        ".jpg": "image/jpeg",
        ".jpeg": "image/jpeg",
        ".svg": "image/svg+xml",
    }.get(path.suffix.lower(), "application/octet-stream")
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (
        f'<figure><img alt="{_e(caption)}" src="data:{mime};base64,{data}">'
        f"<figcaption>{_e(caption)}</figcaption></figure>"
    )


def _table(header: Sequence[str], rows: Sequence[Sequence], num_cols: Sequence[int] = ()) -> str:
    out = ["<table><thead><tr>", *(f"<th>{_e(h)}</th>" for h in header), "</tr></thead><tbody>"]
    for r in rows:
        out.append("<tr>")
        for i, c in enumerate(r):
            cls = ' class="num"' if i in num_cols else ""
            out.append(f"<td{cls}>{_e(c)}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _zones_table(metrics: Mapping) -> str:
    rows = []
    for key, z in metrics.get("zones", {}).items():
        rows.append(
            [
                key,
                "empty"
                if z.get("empty")
                else ("cut by ROI edge" if z.get("touches_roi_boundary") else ""),
                _num(z.get("long_axis_mm")),
                _num(z.get("short_axis_mm")),
                _num(z.get("short_axis_min_mm")),
                _num(z.get("volume_mL"), 2),
                _num(z.get("sphericity"), 3),
                _num(z.get("aspect_ratio"), 3),
            ]
        )
    return _table(
        [
            "zone",
            "",
            "long axis [mm]",
            "short axis [mm]",
            "min. short axis [mm]",
            "volume [mL]",
            "sphericity",
            "short/long",
        ],
        rows,
        num_cols=range(2, 8),
    )


def _provenance() -> str:
    rows = []
    for name, p in all_params():
        rows.append([name, f"{p.value:g}", p.unit, p.source, p.tag, p.note])
    return _table(
        ["parameter", "value", "unit", "source", "evidence tag", "note"], rows, num_cols=(1,)
    )


def _page(title: str, body: list[str]) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title>"
        f"<style>{_CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


def _common_tail(hypotheses: Sequence[str], modalities: Sequence[str] = ("rfa",)) -> list[str]:
    items = list(ASSUMPTIONS)
    for m in dict.fromkeys(modalities):
        items += list(MODALITY_ASSUMPTIONS.get(m, ()))
    body = ["<h2>Model assumptions</h2><ul>", *(f"<li>{_e(a)}</li>" for a in items), "</ul>"]
    if hypotheses:
        body.append(
            "<p><strong>Active hypotheses (claims without measured evidence):</strong> "
            + _e(", ".join(hypotheses))
            + ". Results that depend on them are hypothetical.</p>"
        )
    else:
        body.append("<p>Active hypotheses: none (no unproven claim enters these results).</p>")
    body += [
        "<h2>Provenance of parameters</h2>",
        '<p class="meta">Evidence tags: V checked against abstract, full text or model file; '
        "R standard value not re-checked; C computed from published parameters; "
        "E order-of-magnitude estimate; cal calibrated by tissuefate; "
        "ABSENT no published value (stand-in used).</p>",
        _provenance(),
        f'<p class="meta">tissuefate {_e(__version__)} · metrics schema version '
        f"{_e(_schema_version())}</p>",
    ]
    return body


def hypothesis_banner(results: Sequence[SessionResult]) -> str:
    """One ``HYPOTHESIS: name (parameters) [tag] — statement`` line per active hypothesis of any of
    ``results`` (from ``settings["hypotheses"]``), in a warning box; "" when none is active."""
    lines: list[str] = []
    for r in results:
        recs = r.settings.get("hypotheses", []) if isinstance(r.settings, dict) else []
        for h in recs:
            if not isinstance(h, dict):
                line = f"HYPOTHESIS: {h}"
            else:
                ps = ", ".join(f"{k}={v['value']:g}" for k, v in h.get("parameters", {}).items())
                line = (f"HYPOTHESIS: {h['name']}{f' ({ps})' if ps else ''} [{h.get('tag', '?')}] — "
                        f"{h.get('statement', '')}")
            if line not in lines:
                lines.append(line)
    if not lines:
        return ""
    items = "".join(f"<li>{_e(x)}</li>" for x in lines)
    return ('<div class="disclaimer"><strong>Hypothetical results.</strong> These claims have no measured '
            f"evidence; the results show what would follow if they held:<ul>{items}</ul></div>")


def _schema_version() -> int:
    from ..therapy.outcomes import SCHEMA_VERSION

    return SCHEMA_VERSION


def _metrics_of(result: SessionResult) -> Mapping:
    if result.metrics:
        return result.metrics
    from ..therapy.outcomes import session_metrics

    return session_metrics(result)


def _settings_json(result: SessionResult) -> str:
    def default(o):
        return o.tolist() if hasattr(o, "tolist") else str(o)

    return json.dumps(result.settings, indent=2, sort_keys=True, default=default)


def session_report_html(result: SessionResult, figures: Mapping[str, Path]) -> str:
    """A self-contained HTML report of one session.

    Parameters
    ----------
    result : SessionResult
        Its ``metrics`` are used (computed if empty).
    figures : mapping of caption → path
        Image files to embed (as base64 data URIs), in order.

    Returns
    -------
    str
        The HTML document: title, disclaimer, key metrics, figures, zones, settings, model
        assumptions, active hypotheses, parameter provenance and the tissuefate version.
    """
    m = _metrics_of(result)
    title = f"tissuefate — {result.modality.upper()} session “{result.name}”"
    body = [
        f"<h1>{_e(title)}</h1>",
        f'<p class="meta">Simulated single session · tissuefate {_e(__version__)}</p>',
        f'<div class="disclaimer">{_e(DISCLAIMER)}</div>',
        hypothesis_banner([result]),
        "<h2>Key outcomes</h2>",
        _table(["outcome", "value"], key_metric_rows(m), num_cols=(1,)),
    ]
    if figures:
        body.append("<h2>Figures</h2>")
        body += [_img(p, name) for name, p in figures.items()]
    body += [
        "<h2>Ablation zones</h2>",
        _zones_table(m),
        "<h2>Settings</h2>",
        f"<pre>{_e(_settings_json(result))}</pre>",
    ]
    body += _common_tail(m.get("hypotheses_active", []), [result.modality])
    return _page(title, body)


def comparison_report_html(results: Sequence[SessionResult], figures: Mapping[str, Path]) -> str:
    """A self-contained HTML report comparing sessions side by side (the demo).

    Parameters
    ----------
    results : sequence of SessionResult
    figures : mapping of caption → path
        Image files to embed, in order.
    """
    results = list(results)
    ms = [_metrics_of(r) for r in results]
    title = "tissuefate — session comparison: " + " vs ".join(
        f"{r.modality.upper()} “{r.name}”" for r in results
    )
    labels: list[str] = []
    values: list[dict[str, str]] = []
    for m in ms:
        rows = key_metric_rows(m)
        values.append(dict(rows))
        labels += [k for k, _ in rows if k not in labels]
    header = ["outcome", *(f"{r.modality.upper()} — {r.name}" for r in results)]
    table_rows = [[lab, *(v.get(lab, "—") for v in values)] for lab in labels]
    body = [
        f"<h1>{_e(title)}</h1>",
        '<p class="meta">Simulated sessions on the same anatomy · '
        f"tissuefate {_e(__version__)}</p>",
        f'<div class="disclaimer">{_e(DISCLAIMER)}</div>',
        hypothesis_banner(results),
        "<h2>Key outcomes side by side</h2>",
        _table(header, table_rows, num_cols=range(1, len(header))),
    ]
    if figures:
        body.append("<h2>Figures</h2>")
        body += [_img(p, name) for name, p in figures.items()]
    for r, m in zip(results, ms, strict=True):
        body += [
            f"<h2>{_e(r.modality.upper())} — {_e(r.name)}: zones and settings</h2>",
            _zones_table(m),
            f"<details><summary>settings</summary><pre>{_e(_settings_json(r))}</pre></details>",
        ]
    hyps = sorted({h for m in ms for h in m.get("hypotheses_active", [])})
    body += _common_tail(hyps, [r.modality for r in results])
    return _page(title, body)
