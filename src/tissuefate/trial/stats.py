r"""Statistics of a virtual trial: rates, means, progression-free curves and paired differences.

Input is the runner's ``outcomes.parquet`` as a :class:`pandas.DataFrame` (one row per patient ×
tumour × strategy × preset; columns in docs/trials.md). Every strategy ran on the same virtual
patients, so strategies are compared **paired** (matched on patient × tumour, within a preset) against
one reference strategy declared before looking at the results (default: the first strategy).

Methods (named next to every number in ``summary.json`` and the report):

* **rates** (complete response, local progression by margin band): Wilson score 95 % interval;
* **means** (sessions, normal tissue destroyed, scar): percentile bootstrap 95 % interval with
  patients resampled (a cluster bootstrap: a patient's tumours stay together), fixed seed;
* **time to local progression**: Kaplan–Meier (lifelines) from the first session, with the
  exponential Greenwood ("log(−log)") 95 % interval;
* **paired differences** (strategy − reference): paired percentile bootstrap over patients; for
  complete response also McNemar's exact test (two-sided binomial test of the discordant pairs).

Cases with a non-empty ``error`` are excluded from every statistic and counted.

Notes
-----
Wilson interval for :math:`k` of :math:`n` with :math:`z = \Phi^{-1}(0.975)`:

.. math:: \frac{\hat p + z^2/2n \pm z\sqrt{\hat p(1-\hat p)/n + z^2/4n^2}}{1 + z^2/n},\quad \hat p = k/n

Local progression (LTP) is regrowth to a detectable size *after* a complete response, so its
curve is estimated over the cases with a complete response (time from the first session, event at
``ltp_day``, censored at ``horizon_days``); cases without a complete response are counted separately
("no complete response"). The **treatment failure** curve takes every case: the event is LTP (at
``ltp_day``) or no complete response (at the last response assessment, ``last_assessment_day`` when
the runner provides that column, otherwise day 30 — a horizon-free fallback stated in the summary).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

__all__ = [
    "CONFIDENCE",
    "SIZE_BANDS",
    "MARGIN_BANDS",
    "MEAN_OUTCOMES",
    "STATISTICS_METHODS",
    "wilson_interval",
    "bootstrap_mean",
    "size_band",
    "margin_band",
    "valid_cases",
    "strategy_is_hypothetical",
    "summarise",
    "paired_differences",
]

#: Two-sided confidence level of every interval.
CONFIDENCE = 0.95
_Z = 1.959963984540054  # Φ⁻¹(0.975)
#: Default number of bootstrap resamples (≥ 2000 so that the 2.5 / 97.5 percentiles are stable).
N_BOOT = 2000
#: Follow-up times at which progression is reported [day] (1, 2 and 3 years; later ones only when
#: the horizon reaches them).
LTP_DAYS = {"1 year": 365.0, "2 years": 730.0, "3 years": 1095.0}
#: Event day of a case without complete response on the treatment-failure curve when the runner
#: provides no ``last_assessment_day`` column (horizon-free fallback).
NO_CR_FALLBACK_DAY = 30.0

#: Tumour-size bands: (label, low inclusive, high exclusive) [mm].
SIZE_BANDS: tuple[tuple[str, float, float], ...] = (
    ("< 20 mm", -math.inf, 20.0),
    ("20–30 mm", 20.0, 30.0),
    ("30–40 mm", 30.0, 40.0),
    ("≥ 40 mm", 40.0, math.inf),
)
#: Minimal-ablative-margin bands: (label, low exclusive, high inclusive) [mm]; fractional margins
#: fall in ≤ 0, (0, 5], (5, 10], > 10 ("1–5 mm" means 0 < margin ≤ 5 mm).
MARGIN_BANDS: tuple[tuple[str, float, float], ...] = (
    ("≤ 0 mm", -math.inf, 0.0),
    ("1–5 mm (0 < m ≤ 5)", 0.0, 5.0),
    ("6–10 mm (5 < m ≤ 10)", 5.0, 10.0),
    ("> 10 mm", 10.0, math.inf),
)
_NO_MARGIN = "no margin (no zone around the tumour)"

#: Outcomes summarised as means with a bootstrap interval: column → (label, unit, restriction).
MEAN_OUTCOMES: dict[str, tuple[str, str, str]] = {
    "sessions_given": ("sessions given", "sessions", "all cases"),
    "sessions_to_cr": ("sessions to complete response", "sessions", "cases with a complete response"),
    "days_to_cr": ("days to complete response", "day", "cases with a complete response"),
    "normal_tissue_destroyed_mL": ("normal tissue destroyed", "mL", "all cases"),
    "scar_90_mL": ("scar at 3 months (day 90)", "mL", "cases followed to day 90"),
    "scar_365_mL": ("scar at 12 months (day 365)", "mL", "cases followed to day 365"),
    "needle_passes": ("needle / applicator passes", "passes", "all cases"),
    "tcp_horizon": ("tumour-control probability at the horizon", "1", "all cases"),
}
#: Outcomes compared pairwise (strategy − reference) as mean differences.
PAIRED_OUTCOMES = ("sessions_given", "sessions_to_cr", "normal_tissue_destroyed_mL", "scar_90_mL", "scar_365_mL")

#: How every number of the summary was computed (``summary["statistics"]``).
STATISTICS_METHODS: dict[str, str] = {
    "confidence_level": "0.95, two-sided, for every interval",
    "rate": "proportion with the Wilson score 95 % interval",
    "mean": ("mean with a percentile bootstrap 95 % interval; patients resampled with replacement (cluster "
             "bootstrap: all tumours of a patient together); fixed seed"),
    "kaplan_meier": ("Kaplan–Meier estimate (lifelines KaplanMeierFitter) with the exponential Greenwood "
                     "(log(−log)) 95 % interval; where no event has occurred by the day the Greenwood interval "
                     "is degenerate and the Wilson interval for 0 events of the number at risk is given instead"),
    "local_progression": ("time from the first session to local tumour progression (regrowth to the detection "
                          "volume after a complete response); event at ltp_day, censored at horizon_days; over the "
                          "cases with a complete response; cases without one are counted as 'no complete response'"),
    "treatment_failure": ("time from the first session to the first of: no complete response (event at the last "
                          "response assessment: column last_assessment_day if present, otherwise day 30 as a "
                          "horizon-free fallback) or local progression (ltp_day); censored at horizon_days; all "
                          "cases"),
    "paired_difference": ("strategy − reference on cases matched on patient × tumour within a preset; mean of the "
                          "per-pair differences with a paired percentile bootstrap 95 % interval (patients "
                          "resampled); only pairs where both values exist"),
    "mcnemar": ("McNemar's exact test for the complete-response difference: two-sided binomial test "
                "(scipy.stats.binomtest, p = 0.5) of the discordant pairs; one pre-declared reference, no "
                "correction for the number of comparisons, no other test"),
    "size_band": "complete-response rate per tumour-size band (< 20, [20, 30), [30, 40), ≥ 40 mm), Wilson interval",
    "margin_band": ("local-progression proportion within follow-up per minimal-ablative-margin band of session 1 "
                    "(≤ 0, (0, 5], (5, 10], > 10 mm), over the cases with a complete response; Wilson interval; "
                    "a crude proportion (not Kaplan–Meier)"),
    "excluded": "cases with a non-empty error column are excluded from every statistic and counted",
}

_HOW_TO_READ = (
    "Every strategy was simulated on the same virtual patients (a paired design), so differences between "
    "strategies are computed within each patient × tumour and only on matched cases; they are shown as "
    "strategy − reference against one reference strategy named before the analysis. Every number comes with a "
    "95 % interval and the method that produced it. The intervals describe the uncertainty from the finite "
    "number of virtual patients given the model; they say nothing about whether the model is right. A p-value is "
    "given for one pre-declared comparison per strategy (its complete-response difference to the reference) "
    "and is not corrected for multiplicity. Local progression is only defined after a complete response; the "
    "treatment-failure curve also counts cases that never reached one. These are simulations: no number here "
    "is evidence about patients, and none of it is treatment guidance."
)


# --------------------------------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------------------------------
def wilson_interval(k: int, n: int) -> tuple[float, float] | None:
    """Wilson score 95 % interval of a proportion ``k / n``; None when ``n == 0``.

    Examples
    --------
    >>> [round(x, 4) for x in wilson_interval(8, 10)]
    [0.4902, 0.9433]
    >>> [round(x, 4) for x in wilson_interval(0, 20)]
    [0.0, 0.1611]
    """
    if n <= 0:
        return None
    p = k / n
    z2 = _Z * _Z
    den = 1.0 + z2 / n
    centre = (p + z2 / (2 * n)) / den
    half = _Z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / den
    lo = 0.0 if k == 0 else max(0.0, centre - half)
    hi = 1.0 if k == n else min(1.0, centre + half)
    return lo, hi


def _rng(seed: int, key: str) -> np.random.Generator:
    # one stream per quantity: an interval does not change when other quantities are added
    return np.random.default_rng([int(seed), zlib.crc32(key.encode("utf-8"))])


def bootstrap_mean(values, clusters, *, n_boot: int = N_BOOT, seed: int = 0, key: str = "") -> dict | None:
    """Mean of ``values`` with a percentile bootstrap 95 % interval, resampling ``clusters``.

    Parameters
    ----------
    values : array-like of float
        NaN entries are dropped (with their cluster entry).
    clusters : array-like
        Cluster of each value (the patient): a resample draws clusters with replacement and keeps
        all values of a drawn cluster.
    n_boot : int
        Resamples.
    seed : int
    key : str
        Names the quantity; with ``seed`` it fixes the random stream.

    Returns
    -------
    dict or None
        ``mean``, ``ci`` ([low, high], None for fewer than 2 clusters), ``n`` (values), ``n_clusters``;
        None when no value is finite.

    Examples
    --------
    >>> r = bootstrap_mean([1.0, 2.0, 3.0, 4.0], [0, 1, 2, 3], seed=0, key="x")
    >>> r["mean"], r["n"], r["ci"][0] < 2.5 < r["ci"][1]
    (2.5, 4, True)
    """
    v = np.asarray(values, float)
    c = np.asarray(clusters)
    ok = np.isfinite(v)
    v, c = v[ok], c[ok]
    if v.size == 0:
        return None
    _, inv = np.unique(c, return_inverse=True)
    sums = np.bincount(inv, weights=v)
    counts = np.bincount(inv).astype(float)
    k = sums.size
    out = {"mean": float(v.mean()), "ci": None, "n": int(v.size), "n_clusters": int(k)}
    if k < 2:
        return out
    rng = _rng(seed, key)
    means = np.empty(n_boot)
    p = np.full(k, 1.0 / k)
    block = max(1, min(n_boot, 4_000_000 // k))  # bounded memory for large cohorts
    for s in range(0, n_boot, block):
        w = rng.multinomial(k, p, size=min(block, n_boot - s)).astype(float)
        means[s:s + w.shape[0]] = (w @ sums) / (w @ counts)
    lo, hi = np.percentile(means, [100 * (1 - CONFIDENCE) / 2, 100 * (1 + CONFIDENCE) / 2])
    return {**out, "ci": [float(lo), float(hi)]}


def size_band(diameter_mm: float) -> str:
    """Tumour-size band of ``diameter_mm`` (:data:`SIZE_BANDS`).

    Examples
    --------
    >>> size_band(19.9), size_band(20.0), size_band(45)
    ('< 20 mm', '20–30 mm', '≥ 40 mm')
    """
    d = float(diameter_mm)
    for label, lo, hi in SIZE_BANDS:
        if lo <= d < hi:
            return label
    return "unknown"


def margin_band(margin_mm) -> str:
    """Minimal-ablative-margin band of ``margin_mm`` (:data:`MARGIN_BANDS`; NaN: no margin).

    Fractional margins: ≤ 0 → "≤ 0 mm", (0, 5] → "1–5 mm", (5, 10] → "6–10 mm", > 10 → "> 10 mm".

    Examples
    --------
    >>> margin_band(0.0), margin_band(0.4), margin_band(5.0), margin_band(5.2)
    ('≤ 0 mm', '1–5 mm (0 < m ≤ 5)', '1–5 mm (0 < m ≤ 5)', '6–10 mm (5 < m ≤ 10)')
    >>> margin_band(10.01), margin_band(float("nan"))
    ('> 10 mm', 'no margin (no zone around the tumour)')
    """
    if margin_mm is None or not math.isfinite(float(margin_mm)):
        return _NO_MARGIN
    m = float(margin_mm)
    for label, lo, hi in MARGIN_BANDS:
        if lo < m <= hi:
            return label
    return _NO_MARGIN


def valid_cases(df):
    """(cases that ran, cases with an error) of ``df``: split on a non-empty ``error`` column."""
    if "error" not in df.columns:
        return df, df.iloc[0:0]
    err = df["error"].fillna("").astype(str).str.len() > 0
    return df[~err], df[err]


def strategy_is_hypothetical(rows) -> str:
    """``"oxidant"`` when the rows injected an oxidant, ``"hypotheses"`` when named hypotheses were active,
    else ``""`` (the label every report shows)."""
    if len(rows) == 0:
        return ""
    agent = rows["agent"].astype(str) if "agent" in rows.columns else None
    if (agent is not None and (agent == "oxidant").any()) or (rows["strategy"].astype(str) == "oxidant").any():
        return "oxidant"
    if "hypotheses" in rows.columns and any(_hyp_list(h) for h in rows["hypotheses"]):
        return "hypotheses"
    return ""


def _hyp_list(h) -> list[str]:
    if h is None or (isinstance(h, float) and math.isnan(h)):
        return []
    if isinstance(h, (list, tuple, np.ndarray)):
        return [str(x) for x in h]
    try:
        got = json.loads(str(h))
    except ValueError:
        return [str(h)] if str(h) else []
    return [str(x) for x in got] if isinstance(got, list) else []


def _col(df, name: str, default=np.nan) -> np.ndarray:
    if name in df.columns:
        return df[name].to_numpy()
    return np.full(len(df), default)


def _f(x) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _rate(k: int, n: int) -> dict:
    ci = wilson_interval(k, n)
    return {"k": int(k), "n": int(n), "rate": (k / n) if n else None, "ci": None if ci is None else list(ci),
            "method": "Wilson 95 %"}


def _mean(df, col: str, *, seed: int, n_boot: int, key: str) -> dict | None:
    if col not in df.columns:
        return None
    r = bootstrap_mean(df[col].astype(float).to_numpy(), df["patient"].to_numpy(), n_boot=n_boot, seed=seed,
                       key=key)
    if r is None:
        return None
    label, unit, restriction = MEAN_OUTCOMES.get(col, (col, "", "all cases"))
    return {**r, "unit": unit, "over": restriction, "method": f"cluster bootstrap percentile 95 %, B = {n_boot}"}


# --------------------------------------------------------------------------------------------------
# Kaplan–Meier
# --------------------------------------------------------------------------------------------------
def _step(index: np.ndarray, values: np.ndarray, t: float) -> float:
    i = int(np.searchsorted(index, t, side="right")) - 1
    return float(values[max(i, 0)])


def _km(time, event, *, label: str = "KM"):
    from lifelines import KaplanMeierFitter

    return KaplanMeierFitter(alpha=1 - CONFIDENCE).fit(np.asarray(time, float), np.asarray(event, bool),
                                                         label=label)


def _km_at(time, event, horizon: float) -> list[dict]:
    """Cumulative event probability 1 − S(t) with its interval at 1, 2, 3 years (those within the
    horizon) and at the horizon when it is none of those."""
    time = np.asarray(time, float)
    event = np.asarray(event, bool)
    days = dict(LTP_DAYS)
    if horizon > 0 and all(abs(horizon - d) > 1e-9 for d in days.values()):
        days[f"day {horizon:g} (horizon)"] = horizon
    out = []
    if time.size == 0:
        return [{"label": k, "day": d, "estimable": False, "reason": "no cases"} for k, d in days.items()]
    kmf = _km(time, event)
    tl = kmf.survival_function_.index.to_numpy(float)
    s = kmf.survival_function_.iloc[:, 0].to_numpy(float)
    ci = kmf.confidence_interval_survival_function_
    lo, hi = ci.iloc[:, 0].to_numpy(float), ci.iloc[:, 1].to_numpy(float)
    for lab, d in sorted(days.items(), key=lambda kv: kv[1]):
        if d > horizon + 1e-9:
            out.append({"label": lab, "day": d, "estimable": False,
                        "reason": f"beyond the follow-up horizon ({horizon:g} days)"})
            continue
        at_risk = int(np.sum(time >= d - 1e-9))
        n_events = int(np.sum(event & (time <= d + 1e-9)))
        sv = _step(tl, s, d)
        rec = {"label": lab, "day": d, "estimable": True, "rate": 1.0 - sv, "events": n_events,
               "n_at_risk": at_risk}
        if n_events == 0:
            w = wilson_interval(0, at_risk)
            rec["ci"] = None if w is None else list(w)
            rec["method"] = "Kaplan–Meier; no event yet: Wilson 95 % for 0 events of the number at risk"
        else:
            rec["ci"] = [1.0 - _step(tl, hi, d), 1.0 - _step(tl, lo, d)]
            rec["method"] = "Kaplan–Meier, exponential Greenwood 95 %"
        out.append(rec)
    return out


def _ltp_times(g):
    """(time, event) of local progression over the cases with a complete response."""
    cr = g[g["complete_response"].astype(bool)]
    ltp = cr["local_progression"].astype(bool).to_numpy() if "local_progression" in cr.columns else np.zeros(len(cr),
                                                                                                            bool)
    t = np.where(ltp, _col(cr, "ltp_day").astype(float), _col(cr, "horizon_days").astype(float))
    ok = np.isfinite(t)
    return t[ok], ltp[ok]


def _failure_times(g):
    """(time, event, number of no-CR cases placed at the day-30 fallback) of treatment failure, every case."""
    cr = g["complete_response"].astype(bool).to_numpy()
    ltp = _col(g, "local_progression", False).astype(bool) & cr
    horizon = _col(g, "horizon_days").astype(float)
    no_cr_day = _col(g, "last_assessment_day").astype(float)
    n_fallback = int(np.sum(~cr & ~np.isfinite(no_cr_day)))
    no_cr_day = np.where(np.isfinite(no_cr_day), no_cr_day, NO_CR_FALLBACK_DAY)
    t = np.where(~cr, np.minimum(no_cr_day, horizon), np.where(ltp, _col(g, "ltp_day").astype(float), horizon))
    ev = ~cr | ltp
    ok = np.isfinite(t)
    return t[ok], ev[ok], n_fallback


# --------------------------------------------------------------------------------------------------
# Summary
# --------------------------------------------------------------------------------------------------
def _order(values) -> list:
    return list(dict.fromkeys(values))


def _check(df) -> None:
    from ..errors import ConfigError

    need = ("patient", "tumour", "strategy", "preset", "complete_response")
    miss = [c for c in need if c not in df.columns]
    if miss:
        raise ConfigError(f"outcomes: missing column(s) {', '.join(miss)}; the trial runner writes them "
                          "(docs/trials.md)")


def _group_summary(g, gall, *, seed: int, n_boot: int, key: str) -> dict:
    n = len(g)
    k_cr = int(g["complete_response"].astype(bool).sum())
    first = gall.iloc[0]
    rec = {
        "strategy": str(first["strategy"]),
        "strategy_label": str(first.get("strategy_label", first["strategy"])),
        "preset": str(first["preset"]),
        "hypothetical": strategy_is_hypothetical(gall),
        "n_cases": int(len(gall)),
        "n_errors": int(len(gall) - n),
        "n_analysed": int(n),
        "n_patients": int(g["patient"].nunique()) if n else 0,
        "complete_response": _rate(k_cr, n),
        "no_complete_response": int(n - k_cr),
    }
    means = {}
    for col in MEAN_OUTCOMES:
        sub = g[g["complete_response"].astype(bool)] if col in ("sessions_to_cr", "days_to_cr") else g
        means[col] = _mean(sub, col, seed=seed, n_boot=n_boot, key=f"{key}/{col}")
    if "leaked_agent_mL" in g.columns and str(first.get("modality", "")) == "injection":
        means["leaked_agent_mL"] = _mean(g, "leaked_agent_mL", seed=seed, n_boot=n_boot, key=f"{key}/leak")
    rec["means"] = means
    horizon = float(np.nanmax(_col(g, "horizon_days").astype(float))) if n else 0.0
    t, e = _ltp_times(g)
    rec["local_progression"] = {
        "over": "cases with a complete response", "n": int(t.size), "events": int(e.sum()),
        "no_complete_response": int(n - k_cr), "horizon_days": horizon,
        "at": _km_at(t, e, horizon),
        "method": "Kaplan–Meier, exponential Greenwood 95 %",
    }
    t, e, fb = _failure_times(g)
    rec["treatment_failure"] = {
        "over": "all cases", "n": int(t.size), "events": int(e.sum()), "horizon_days": horizon,
        "no_cr_event_day": ("last_assessment_day" if not fb else
                            f"last_assessment_day; day 30 (horizon-free fallback) for {fb} case(s) without one"),
        "no_cr_event_day_fallbacks": int(fb),
        "at": _km_at(t, e, horizon),
        "method": "Kaplan–Meier, exponential Greenwood 95 %",
    }
    rec["stop_reasons"] = {str(k): int(v) for k, v in g["stop_reason"].value_counts().items()} \
        if "stop_reason" in g.columns else {}
    rec["sessions_given_distribution"] = _distribution(_col(g, "sessions_given"))
    stc = _col(g, "sessions_to_cr").astype(float)
    dist = _distribution(stc[np.isfinite(stc)])
    dist["no complete response"] = int(np.sum(~np.isfinite(stc)))
    rec["sessions_to_cr_distribution"] = dist
    return rec


def _distribution(values) -> dict[str, int]:
    v = np.asarray(values, float)
    v = v[np.isfinite(v)]
    u, c = np.unique(v, return_counts=True)
    return {f"{x:g}": int(k) for x, k in zip(u, c, strict=True)}


def _pair_frame(df, preset: str, strategy: str, reference: str):
    a = df[(df["preset"] == preset) & (df["strategy"] == reference)]
    b = df[(df["preset"] == preset) & (df["strategy"] == strategy)]
    for rows, s in ((a, reference), (b, strategy)):
        dup = rows.duplicated(["patient", "tumour"])
        if dup.any():
            from ..errors import ConfigError

            r = rows[dup].iloc[0]
            raise ConfigError(f"outcomes: strategy {s!r}, preset {preset!r} has patient {r['patient']} tumour "
                              f"{r['tumour']} more than once; a paired analysis needs one row per patient × tumour")
    return a.merge(b, on=["patient", "tumour"], suffixes=("_ref", "_alt"), how="inner")


def paired_differences(df, *, reference: str | None = None, seed: int = 0, n_boot: int = N_BOOT) -> list[dict]:
    """Paired differences strategy − ``reference`` within each preset (cases that ran only).

    Parameters
    ----------
    df : pandas.DataFrame
        Outcomes (one row per patient × tumour × strategy × preset).
    reference : str, optional
        Strategy key every other strategy is compared with (default: the first strategy in ``df``).
    seed, n_boot : int
        Bootstrap seed and resamples.

    Returns
    -------
    list of dict
        Per preset and strategy: ``n_pairs`` (matched on patient × tumour, both cases ran),
        ``complete_response`` (difference in rate, its paired bootstrap interval, the discordant pair
        counts and McNemar's exact p-value) and a mean difference with a paired bootstrap interval for
        each of :data:`PAIRED_OUTCOMES` (sessions to CR: pairs where both reached complete response).
    """
    from scipy.stats import binomtest

    _check(df)
    ok, _ = valid_cases(df)
    strategies = _order(df["strategy"])
    reference = strategies[0] if reference is None else reference
    _check_reference(reference, strategies)
    out = []
    for preset in _order(df["preset"]):
        for s in strategies:
            if s == reference:
                continue
            pf = _pair_frame(ok, preset, s, reference)
            n_ref = int(((df["preset"] == preset) & (df["strategy"] == reference)).sum())
            n_alt = int(((df["preset"] == preset) & (df["strategy"] == s)).sum())
            if n_alt == 0 or n_ref == 0:
                continue
            key = f"paired/{preset}/{s}/{reference}"
            a = pf["complete_response_ref"].astype(bool).to_numpy()
            b = pf["complete_response_alt"].astype(bool).to_numpy()
            ref_only, alt_only = int(np.sum(a & ~b)), int(np.sum(~a & b))
            p = float(binomtest(ref_only, ref_only + alt_only, 0.5).pvalue) if ref_only + alt_only else 1.0
            d = bootstrap_mean(b.astype(float) - a.astype(float), pf["patient"].to_numpy(), n_boot=n_boot, seed=seed,
                               key=key + "/cr")
            rec = {
                "preset": str(preset), "strategy": str(s), "reference": str(reference),
                "hypothetical": strategy_is_hypothetical(df[(df["preset"] == preset) & (df["strategy"].isin([s]))]),
                "n_pairs": int(len(pf)), "n_patients": int(pf["patient"].nunique()),
                "n_unmatched": int(max(n_ref, n_alt) - len(pf)),
                "complete_response": {
                    "rate_reference": float(a.mean()) if a.size else None,
                    "rate_strategy": float(b.mean()) if b.size else None,
                    "difference": None if d is None else d["mean"],
                    "ci": None if d is None else d["ci"],
                    "discordant": {"reference_only": ref_only, "strategy_only": alt_only},
                    "mcnemar_exact_p": p,
                    "method": f"paired cluster bootstrap percentile 95 %, B = {n_boot}; McNemar exact (binomial)",
                },
            }
            for col in PAIRED_OUTCOMES:
                if f"{col}_ref" not in pf.columns:
                    rec[col] = None
                    continue
                diff = pf[f"{col}_alt"].astype(float).to_numpy() - pf[f"{col}_ref"].astype(float).to_numpy()
                r = bootstrap_mean(diff, pf["patient"].to_numpy(), n_boot=n_boot, seed=seed, key=f"{key}/{col}")
                over = ("pairs where both reached complete response" if col == "sessions_to_cr"
                        else "pairs where both values exist")
                rec[col] = None if r is None else {
                    "difference": r["mean"], "ci": r["ci"], "n_pairs": r["n"], "over": over,
                    "unit": MEAN_OUTCOMES.get(col, (col, ""))[1],
                    "method": f"paired cluster bootstrap percentile 95 %, B = {n_boot}"}
            out.append(rec)
    return out


def _check_reference(reference: str, strategies: Sequence[str]) -> None:
    if reference not in strategies:
        from ..errors import ConfigError

        raise ConfigError(f"reference = {reference!r}: not a strategy of this trial; strategies: "
                          f"{', '.join(map(str, strategies))}")


def _size_bands(ok) -> list[dict]:
    out = []
    if "tumour_diameter_mm" not in ok.columns:
        return out
    bands = ok["tumour_diameter_mm"].astype(float).map(size_band)
    for (preset, s), g in ok.groupby(["preset", "strategy"], sort=False):
        for label, *_ in SIZE_BANDS:
            gb = g[bands.loc[g.index] == label]
            r = _rate(int(gb["complete_response"].astype(bool).sum()), len(gb))
            out.append({"preset": str(preset), "strategy": str(s), "band": label, **r})
    return out


def _margin_bands(ok) -> list[dict]:
    out = []
    if "min_margin_mm" not in ok.columns:
        return out
    bands = ok["min_margin_mm"].astype(float).map(margin_band)
    labels = [b[0] for b in MARGIN_BANDS] + [_NO_MARGIN]
    for (preset, s), g in ok.groupby(["preset", "strategy"], sort=False):
        for label in labels:
            gb = g[bands.loc[g.index] == label]
            cr = gb[gb["complete_response"].astype(bool)]
            k = int(_col(cr, "local_progression", False).astype(bool).sum())
            out.append({"preset": str(preset), "strategy": str(s), "band": label, "n_cases": int(len(gb)),
                        "no_complete_response": int(len(gb) - len(cr)), **_rate(k, len(cr)),
                        "over": "cases with a complete response; LTP within follow-up"})
    return out


def summarise(df, *, reference: str | None = None, seed: int = 0, n_boot: int = N_BOOT) -> dict:
    """Statistics of a trial's outcomes (JSON-serialisable).

    Parameters
    ----------
    df : pandas.DataFrame
        ``outcomes.parquet`` (one row per patient × tumour × strategy × preset).
    reference : str, optional
        The strategy every other one is compared with, declared before the analysis (default: the
        first strategy in ``df``).
    seed : int
        Seed of every bootstrap (one stream per quantity, so results are reproducible).
    n_boot : int
        Bootstrap resamples (≥ 2000 recommended; the default).

    Returns
    -------
    dict
        ``n_cases``, ``n_errors``, ``n_patients``, ``strategies``, ``presets``, ``reference``;
        ``groups`` (per strategy × preset: counts, complete-response rate with its Wilson interval,
        means with bootstrap intervals, local progression and treatment failure at 1, 2 (3) years from
        Kaplan–Meier, stop reasons, the distributions of sessions given and sessions to CR);
        ``paired`` (:func:`paired_differences`); ``by_size_band``; ``by_margin_band``;
        ``statistics`` (:data:`STATISTICS_METHODS`); ``how_to_read``. NaN is written as None.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"patient": [0, 1, 0, 1], "tumour": 0, "strategy": ["a", "a", "b", "b"],
    ...                    "preset": "literature", "complete_response": [True, False, True, True],
    ...                    "sessions_given": [1, 2, 1, 1], "horizon_days": 365.0, "error": ""})
    >>> s = summarise(df, n_boot=200)
    >>> s["groups"][0]["complete_response"]["rate"], s["paired"][0]["complete_response"]["discordant"]
    (0.5, {'reference_only': 0, 'strategy_only': 1})
    """
    if n_boot < 100:
        from ..errors import ConfigError

        raise ConfigError(f"n_boot = {n_boot}: must be >= 100 (2000 or more for stable 95 % intervals)")
    _check(df)
    ok, bad = valid_cases(df)
    strategies = _order(df["strategy"])
    presets = _order(df["preset"])
    reference = strategies[0] if reference is None else reference
    _check_reference(reference, strategies)
    groups = []
    for preset in presets:
        for s in strategies:
            gall = df[(df["preset"] == preset) & (df["strategy"] == s)]
            if len(gall) == 0:
                continue
            g = ok.loc[ok.index.intersection(gall.index)]
            groups.append(_group_summary(g, gall, seed=seed, n_boot=n_boot, key=f"group/{preset}/{s}"))
    out = {
        "n_cases": int(len(df)),
        "n_errors": int(len(bad)),
        "n_analysed": int(len(ok)),
        "n_patients": int(df["patient"].nunique()),
        "n_tumours": int(df[["patient", "tumour"]].drop_duplicates().shape[0]),
        "strategies": [str(s) for s in strategies],
        "presets": [str(p) for p in presets],
        "reference": str(reference),
        "confidence_level": CONFIDENCE,
        "bootstrap": {"resamples": int(n_boot), "seed": int(seed), "resampled_unit": "patient"},
        "groups": groups,
        "paired": paired_differences(df, reference=reference, seed=seed, n_boot=n_boot),
        "by_size_band": _size_bands(ok),
        "by_margin_band": _margin_bands(ok),
        "errors": [{"case_id": str(r.get("case_id", "")), "strategy": str(r["strategy"]), "preset": str(r["preset"]),
                    "error": str(r["error"])} for _, r in bad.head(50).iterrows()],
        "statistics": dict(STATISTICS_METHODS),
        "how_to_read": _HOW_TO_READ,
    }
    return _clean(out)


def _clean(obj):
    if isinstance(obj, Mapping):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return _f(obj)
    return obj


# --------------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------------
def _spec_attr(spec, name: str):
    if spec is None:
        return None
    if isinstance(spec, Mapping):
        return spec.get(name)
    return getattr(spec, name, None)


def _atomic_write(path: Path, write) -> Path:
    """Call ``write(tmp_path)`` on a temporary sibling, then rename it onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def hypotheses_per_preset(df) -> dict[str, list[str]]:
    """The hypotheses that acted in any case of each preset (from the ``hypotheses`` JSON column)."""
    out: dict[str, list[str]] = {}
    for preset in _order(df["preset"]):
        names: dict[str, None] = {}
        if "hypotheses" in df.columns:
            for h in df.loc[df["preset"] == preset, "hypotheses"]:
                names.update(dict.fromkeys(_hyp_list(h)))
        out[str(preset)] = list(names)
    return out
