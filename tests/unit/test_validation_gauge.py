"""The Song 2015 gauge rows: published ratio and tolerance, and which session is the numerator.

The sessions themselves run in the slow tier (tests/integration/test_validate.py); here a stand-in
``simulate`` returns chosen volumes and energies, so that a swapped gauge or tissue would show.
"""

from types import SimpleNamespace

import pytest

import tissuefate.api
from tissuefate.validation import SONG2015, case_song2015_gauge, ratio_interval


def test_ratio_interval_is_two_standard_errors():
    r, half = ratio_interval((10.26, 2.28, 10), (7.79, 1.68, 10))
    assert r == pytest.approx(1.317, abs=1e-3)
    # relative SEs 0.0703 and 0.0682 add in quadrature: 0.0979; two of them on r = 1.317
    assert half == pytest.approx(2 * 1.317 * 0.0979, rel=1e-2)
    assert ratio_interval((1.0, 0.0, 5), (2.0, 0.0, 5)) == (0.5, 0.0)


def test_song_rows_put_15_gauge_over_17(monkeypatch):
    # fake sessions: 15 G twice the 17 G volume and 1.3x its energy in vivo; ex vivo 1.2x and 1.1x
    table = {("porcine", 15): (10.0, 1.3e4), ("porcine", 17): (5.0, 1.0e4),
             ("bovine", 15): (12.0, 1.1e4), ("bovine", 17): (10.0, 1.0e4)}

    def fake_simulate(scn, progress=None):
        vol, energy = table[scn.tissue.species, scn.applicator.gauge]
        return SimpleNamespace(metrics={"zones": {"omega_ge_1": {"volume_mL": vol}},
                                        "delivery": {"energy_J": energy}})

    monkeypatch.setattr(tissuefate.api, "simulate", fake_simulate)
    rows = {r.quantity: r for r in case_song2015_gauge()}
    assert len(rows) == 4 and {r.kind for r in rows.values()} == {"prediction"}
    sim = {q: r.simulated for q, r in rows.items()}
    assert sim == pytest.approx({"ex vivo volume (Ω ≥ 1) 15 G/17 G": 1.2, "ex vivo energy 15 G/17 G": 1.1,
                                 "in vivo volume (Ω ≥ 1) 15 G/17 G": 2.0, "in vivo energy 15 G/17 G": 1.3})
    ref, half = ratio_interval(*SONG2015["in_vivo"]["energy"])
    row = rows["in vivo energy 15 G/17 G"]
    assert row.reference == pytest.approx(ref) and row.tolerance == f"±{round(half, 2):g}"
    assert row.passed  # 1.3 lies within 1.319 ± 0.09
    assert not rows["in vivo volume (Ω ≥ 1) 15 G/17 G"].passed  # 2.0 is outside 1.317 ± 0.26
