"""Figures and HTML reports."""

from __future__ import annotations

import re
import sys

import numpy as np
import pytest

from tissuefate.geometry import segment_mask, sphere_mask
from tissuefate.grid import Grid
from tissuefate.therapy.result import ApplicatorPlacement, SessionResult
from tissuefate.tissue.labels import Label
from tissuefate.tissue.state import TissueState
from tissuefate.viz import (
    DISCLAIMER,
    comparison_report_html,
    key_metric_rows,
    plot_session_slices,
    plot_side_by_side,
    plot_traces,
    session_planes,
    session_report_html,
)

K0 = 273.15
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def result(modality="rfa", name="case", *, radius_mm=7.0, direction=(0, 0, 1), traces=True):
    g = Grid.cube(24, 1e-3)
    d = np.asarray(direction, float) / np.linalg.norm(direction)
    tip = -5e-3 * d
    label = np.full(g.shape, Label.PARENCHYMA, np.uint8)
    label[sphere_mask(g, (0, 0, 0), 4e-3)] = Label.TUMOUR
    label[segment_mask(g, tip, tip + 0.05 * d, 0.75e-3)] = Label.APPLICATOR
    label[segment_mask(g, (8e-3, -0.05, 0), (8e-3, 0.05, 0), 1.5e-3)] = Label.LARGE_VESSEL
    x, y, z = g.coordinates_m()
    r = np.sqrt(x**2 + y**2 + z**2)
    omega = 4.6 * np.exp(6 * (1 - r / (radius_mm * 1e-3)))
    peak = K0 + 37 + 60 * np.exp(-((r / ((radius_mm + 1) * 1e-3)) ** 2))
    t = np.linspace(0, 300, 151)
    tr = (
        {
            "time_s": t,
            "power_W": np.full_like(t, 40.0),
            "impedance_ohm": 85 - t / 30,
            "max_temperature_K": K0 + 37 + 50 * (1 - np.exp(-t / 40)),
            "rolloff": ((t > 100) & (t < 120)).astype(np.uint8),
        }
        if traces
        else {}
    )
    return SessionResult(
        name=name,
        modality=modality,
        grid=g,
        state=TissueState.from_labels(g, label),
        placements=[ApplicatorPlacement("rf_electrode", tuple(tip), tuple(d), 10e-3, 0.75e-3)],
        omega=omega.astype(np.float32),
        cem43_min=np.zeros(g.shape, np.float32),
        peak_temperature_K=peak.astype(np.float32),
        final_temperature_K=peak.astype(np.float32),
        traces=tr,
        settings={"protocol": {"power_W": 40.0}, "note": "<script>alert(1)</script>"},
    )


def _is_png(p):
    data = p.read_bytes()
    return len(data) > 5000 and data.startswith(PNG_MAGIC)


def test_planes_follow_the_applicator():
    pz = session_planes(result())
    assert (pz[0]["h"], pz[0]["v"], pz[0]["normal"]) == (0, 2, 1)  # x–z plane, z vertical
    assert pz[1]["normal"] == 2  # transverse x–y
    px = session_planes(result(direction=(1, 0.3, 0)))
    assert (px[0]["v"], px[0]["h"], px[0]["normal"]) == (0, 1, 2)  # x–y plane holds the axis
    assert px[1]["normal"] == 0


def test_figures_are_written(tmp_path):
    r = result()
    p1 = plot_session_slices(r, tmp_path / "slices.png")
    p2 = plot_traces(r, tmp_path / "traces.png")
    p3 = plot_side_by_side([r, result("mwa", "other", radius_mm=9.0)], tmp_path / "side.png")
    assert all(_is_png(p) for p in (p1, p2, p3))
    # roll-offs recorded as a running count (as the RF generator does)
    rc = result()
    rc.traces["rolloff"] = (rc.traces["time_s"] > 100).astype(int) + (rc.traces["time_s"] > 200)
    assert _is_png(plot_traces(rc, tmp_path / "count_traces.png"))
    # a session without traces still plots ("not recorded" panels)
    assert _is_png(plot_traces(result(traces=False), tmp_path / "empty_traces.png"))
    # an applicator along x works as well
    assert _is_png(plot_session_slices(result(direction=(1, 0, 0)), tmp_path / "x.png"))


def test_no_pyplot_and_no_global_backend_change(tmp_path):
    import matplotlib

    before = matplotlib.get_backend() if "matplotlib.pyplot" in sys.modules else None
    plot_session_slices(result(), tmp_path / "s.png")
    if before is None:
        assert "matplotlib.pyplot" not in sys.modules
    else:
        assert matplotlib.get_backend() == before


def test_key_metric_rows():
    from tissuefate.therapy.outcomes import session_metrics

    m = session_metrics(result())
    rows = dict(key_metric_rows(m))
    assert "Minimal ablative margin" in rows and rows["Minimal ablative margin"].endswith(
        "covered)"
    )
    assert rows["Impedance roll-offs"] == "1"
    brief = key_metric_rows(m, brief=True)
    assert len(brief) < len(rows)


@pytest.fixture()
def figs(tmp_path):
    r = result()
    return r, {
        "slices": plot_session_slices(r, tmp_path / "s.png"),
        "traces": plot_traces(r, tmp_path / "t.png"),
    }


def _external_refs(html: str) -> list[str]:
    refs = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)["']""", html, flags=re.I)
    bad = [u for u in refs if not (u.startswith("data:") or u.startswith("#"))]
    bad += re.findall(r"url\(\s*['\"]?(?!data:)([^)'\"]+)", html)
    bad += re.findall(r"@import", html)
    return bad


def test_session_report_is_self_contained(figs):
    r, figures = figs
    html = session_report_html(r, figures)
    assert html.startswith("<!DOCTYPE html>")
    assert DISCLAIMER in html and 'class="disclaimer"' in html
    assert html.count('src="data:image/png;base64,') == 2
    assert _external_refs(html) == []
    assert "http://" not in html and "https://" not in html
    assert "<script" not in html  # settings text is escaped
    assert "&lt;script&gt;" in html
    # provenance rows and version
    assert "damage.arrhenius_A_per_s" in html and "COMSOL MWA model liver material" in html
    from tissuefate import __version__

    assert f"tissuefate {__version__}" in html
    assert "Active hypotheses: none" in html


def test_comparison_report(figs, tmp_path):
    r, _ = figs
    r2 = result("mwa", "MWA case", radius_mm=9.0)
    side = plot_side_by_side([r, r2], tmp_path / "side.png")
    html = comparison_report_html([r, r2], {"side by side": side})
    assert DISCLAIMER in html
    assert "RFA — case" in html and "MWA — MWA case" in html
    assert html.count('src="data:image/png;base64,') == 1
    assert _external_refs(html) == []
    # one row per outcome, one column per session
    row = re.search(r"<tr><td>Ω ≥ 4\.6: volume</td>(.*?)</tr>", html)
    assert row and row.group(1).count("<td") == 2
