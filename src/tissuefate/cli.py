"""Command line: ``tissuefate run | demo | trial | validate | bench | schema | sources | hypotheses | plan``.

A thin layer over the Python API. User errors print one or two lines and exit with status 2;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from .errors import TissuefateError

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="tissuefate: local tumour therapies across repeated sessions. "
                       "Research software, not a medical device; no treatment guidance.")
console = Console(stderr=True)
out_console = Console()


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """Model warnings (``RuntimeWarning`` from tissuefate) as one plain line on stderr."""
    console.print(f"[yellow]warning:[/] {escape(str(message))}", highlight=False, markup=True, soft_wrap=True)


@app.callback()
def _main() -> None:
    """Route Python warnings through the console (no source-line dumps)."""
    import warnings

    warnings.showwarning = _show_warning


@contextmanager
def _user_errors():
    try:
        yield
    except TissuefateError as err:
        # escaped: a message may hold brackets that are not markup (pip install "tissuefate[gpu]")
        console.print(f"[bold red]error:[/] {escape(str(err))}", highlight=False, markup=True, soft_wrap=True)
        raise typer.Exit(2) from None


@contextmanager
def progress_bar(description: str, enabled: bool = True):
    """A rich progress bar; yields a ``progress(fraction, message)`` callback."""
    if not enabled:
        yield None
        return
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.percentage:>5.1f}%"),
                  TimeElapsedColumn(), TimeRemainingColumn(), TextColumn("{task.fields[msg]}"),
                  console=console, transient=False) as prog:
        task = prog.add_task(description, total=1.0, msg="")

        def cb(fraction: float, message: str = "") -> None:
            prog.update(task, completed=fraction, msg=message)

        yield cb


def _metrics_table(rows: list[tuple[str, dict]]) -> Table:
    t = Table(title="Session outcomes (simulated; not treatment guidance)")
    t.add_column("quantity")
    for name, _ in rows:
        t.add_column(name, justify="right")
    keys = [
        ("lethal zone (Ω≥4.6 / ≥99 % kill)", ("margin", "zone")),
        ("  long axis (mm)", ("zones", "@lethal", "long_axis_mm")),
        ("  short axis (mm)", ("zones", "@lethal", "short_axis_mm")),
        ("  volume (mL)", ("zones", "@lethal", "volume_mL")),
        ("  sphericity", ("zones", "@lethal", "sphericity")),
        ("min. ablative margin (mm)", ("margin", "minimal_ablative_margin_mm")),
        ("normal tissue destroyed (mL)", ("normal_tissue", "destroyed_mL")),
        ("tumour-control probability", ("tumour", "tumour_control_probability")),
        ("peak temperature (°C)", ("thermal", "peak_temperature_degC")),
        ("delivered energy (J)", ("delivery", "energy_J")),
    ]
    for label, path in keys:
        vals = []
        for _, m in rows:
            v = m
            for p in path:
                if p == "@lethal":
                    p = m.get("margin", {}).get("zone", "omega_ge_4.6")
                v = v.get(p, {}) if isinstance(v, dict) else {}
            vals.append(f"{v:.3g}" if isinstance(v, (int, float)) else (v if isinstance(v, str) else "—"))
        t.add_row(label, *vals)
    return t


@app.command()
def run(scenario: Path = typer.Argument(..., help="Scenario TOML file (see docs/scenario.md)."),
        out: Path = typer.Option(..., "--out", "-o", help="Output folder (created atomically)."),
        overwrite: bool = typer.Option(False, help="Replace an existing output folder."),
        quiet: bool = typer.Option(False, help="No progress bar."),
        check_step: bool = typer.Option(
            False, "--check-step",
            help="RFA/MWA: also run the session at a quarter of its time step and record how much the "
                 "zone changes (metrics.json numerics_check; about 4× the run time more).")):
    """Simulate one session and write metrics.json, fields.nc, PNG slices and report.html."""
    from .api import run_scenario
    from .config.scenario import load_scenario

    with _user_errors():
        scn = load_scenario(scenario)
        if out.exists() and not overwrite:
            raise TissuefateError(f"--out {out}: folder exists; choose another or pass --overwrite")
        what = "course" if scn.course is not None else scn.modality.upper()
        with progress_bar(f"{what} {scn.name}", not quiet) as cb:
            result, paths = run_scenario(scn, out, overwrite=overwrite, progress=cb,
                                         check_time_step=4 if check_step else None)
    if scn.course is not None:
        _print_wide(course_table([result]))
        out_console.print(f"wrote {out}/ ({', '.join(sorted(Path(p).name for p in paths.values()))}) "
                          f"in {result.wall_time_s:.1f} s")
        return
    out_console.print(_metrics_table([(scn.name, result.metrics)]))
    chk = result.metrics.get("numerics_check")
    if chk:
        from .viz.report import time_step_check_text

        style = "" if chk["within_tolerance"] else "bold yellow"
        out_console.print(f"time-step check (Δt/{chk['divisor']}): {time_step_check_text(chk)}", style=style)
        if chk["within_tolerance"] is False:
            out_console.print("the zone depends on the time step here: set numerics.time_step_s smaller "
                              "(docs/model.md, 'Time step and the generator')", style=style)
    out_console.print(f"wrote {out}/ ({', '.join(sorted(Path(p).name for p in paths.values()))}) "
                      f"in {result.wall_time_s:.1f} s of simulation")


def _print_wide(table: Table) -> None:
    """Print a wide table: the terminal's width, or 180 columns in pipes and logs (rich assumes 80)."""
    (out_console if out_console.is_terminal else Console(width=180)).print(table)


def _fmt(v, nd=2):
    if v is None or (isinstance(v, float) and v != v):
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.{nd}g}" if abs(v) < 1e-2 and v != 0 else f"{v:.{nd}f}".rstrip("0").rstrip(".")
    return str(v)


def course_table(courses, title: str = "Course outcomes (simulated; not treatment guidance)") -> Table:
    """One row per course: the outcomes a comparison reads first."""
    t = Table(title=title)
    for col in ("lesion", "strategy", "hypotheses", "sessions", "CR (day)", "TCP end", "LTP (day)",
                "normal killed mL", "scar 3/12 mo mL", "involution 3 mo", "needles", "leaked mL"):
        t.add_column(col, justify="right" if col not in ("lesion", "strategy", "hypotheses") else "left",
                     overflow="fold")
    for c in courses:
        m = c.metrics
        hyp = getattr(c, "preset_label", None) or m.get("hypothesis_preset") or (
            "custom" if m.get("hypotheses") else "literature")
        if hyp == "both":
            hyp = "either preset (none applies)"
        if m.get("agent") == "oxidant":
            hyp = f"[magenta]{hyp} (HYPOTHETICAL)[/]"
        cr = f"yes ({_fmt(m['days_to_complete_response'])})" if m["complete_response"] else "no"
        ltp = f"yes ({_fmt(m['local_progression_day'])})" if m["local_progression"] else "no"
        scar = m["scar_volume_mL"]
        t.add_row(str(getattr(c, "lesion", "") or ""), m["strategy"], hyp, str(m["sessions_given"]), cr,
                  _fmt(m["tumour_control_probability_at_horizon"], 3), ltp, _fmt(m["normal_tissue_destroyed_mL"], 1),
                  f"{_fmt(scar.get('day_90'), 1)} / {_fmt(scar.get('day_365'), 1)}",
                  _fmt(m["involution"].get("day_90")), str(m["needle_passes"]), _fmt(m["leaked_agent_mL"], 2))
    return t


@app.command()
def demo(out: Path = typer.Option(Path("demo-output"), "--out", "-o", help="Output folder."),
         overwrite: bool = typer.Option(True, help="Replace an existing demo folder."),
         quick: bool = typer.Option(False, help="Small grids and short treatments (for tests)."),
         sessions: bool = typer.Option(False, "--sessions",
                                       help="Instead: one session of each modality side by side (the old demo).")):
    """The strategy comparison: RFA, MWA, cryo, ethanol and the oxidant hypothesis as whole courses on three
    lesions of the default phantom, under the literature defaults and the seed-claims preset."""
    with _user_errors():
        if sessions:
            from .demo import run_demo

            with progress_bar("demo") as cb:
                results, paths = run_demo(out, overwrite=overwrite, quick=quick, progress=cb)
            out_console.print(_metrics_table([(r.name, r.metrics) for r in results]))
            out_console.print(f"wrote {out}/report.html")
            return
        from .demo import run_course_demo

        with progress_bar("strategy comparison") as cb:
            courses, wall = run_course_demo(out, overwrite=overwrite, quick=quick, progress=cb)
    _print_wide(course_table(courses, "Strategy comparison (simulated; not treatment guidance; oxidant rows "
                                      "are hypothetical — chlorine dioxide is not an approved therapy)"))
    out_console.print(f"{len(courses)} courses in {wall:.0f} s; wrote {out}/report.html")


@app.command()
def validate(out: Path = typer.Option(Path("validation-output"), "--out", "-o"),
             fast: bool = typer.Option(False, help="Only the fast verification rows."),
             only: str = typer.Option("", help="Comma-separated case names to run.")):
    """Run verification and calibration checks; print and write one row per check."""
    from .validation import run_validation, write_validation

    with _user_errors():
        with progress_bar("validate") as cb:
            rows = run_validation(fast=fast, only=[s for s in only.split(",") if s], progress=cb)
        write_validation(rows, out)
    t = Table(title="tissuefate validate")
    for col in ("case", "quantity", "simulated", "reference", "tolerance", "source", "pass"):
        t.add_column(col, overflow="fold")
    for r in rows:
        t.add_row(r.case, r.quantity, r.simulated_str, r.reference_str, r.tolerance, r.source,
                  "[green]yes[/]" if r.passed else "[red]NO[/]")
    out_console.print(t)
    n_fail = sum(not r.passed for r in rows)
    out_console.print(f"{len(rows) - n_fail} passed, {n_fail} failed; wrote {out}/validation.csv and validation.md")


@app.command()
def bench(out: Path = typer.Option(Path("bench.json"), "--out", "-o", help="JSON file to write."),
          sizes: str = typer.Option("64,128,256",
                                    help="Cube edge lengths for the kernels (Pennes, enthalpy, transport)."),
          backends: str = typer.Option("", help="Comma-separated backends (default: all available)."),
          dtype: str = typer.Option("float32"),
          standard_case: bool = typer.Option(True, help="Also time the standard 12-min RFA case (128³)."),
          modality_cases: bool = typer.Option(False, "--modality-cases",
                                              help="Also time the cryo, injection and IRE standard cases."),
          course_cases: bool = typer.Option(False, "--course-cases",
                                            help="Also time the 4-session courses with 12 months of follow-up (96³).")):
    """Kernel throughput (voxel-updates/s, fraction of copy bandwidth) and the standard RFA case."""
    from .bench import run_benchmarks

    with _user_errors():
        res = run_benchmarks(sizes=tuple(int(s) for s in sizes.split(",")),
                             backends=[b for b in backends.split(",") if b] or None, dtype=dtype)
        if standard_case:
            from .demo import time_standard_case

            with progress_bar("standard RFA case") as cb:
                res["standard_case"] = time_standard_case(progress=cb)
        if modality_cases:
            from .demo import time_standard_cases

            with progress_bar("cryo, injection and IRE standard cases") as cb:
                res["modality_cases"] = time_standard_cases(["cryo", "injection", "ire"], progress=cb)
        if course_cases:
            from .demo import time_standard_cases

            with progress_bar("4-session courses, 96³") as cb:
                res["course_cases"] = time_standard_cases(["course", "course_rfa"], progress=cb)
    out.write_text(json.dumps(res, indent=2, default=str))
    out_console.print_json(json.dumps(res, default=str))


@app.command()
def schema(kind: str = typer.Argument("scenario", help="Which file: scenario or trial.")):
    """Print the JSON schema of scenario or trial files."""
    with _user_errors():
        if kind == "trial":
            from .trial.spec import TrialSpec as model
        elif kind == "scenario":
            from .config.scenario import Scenario as model
        else:
            raise TissuefateError(f"schema {kind!r}: must be 'scenario' or 'trial'")
        sys.stdout.write(json.dumps(model.model_json_schema(), indent=2) + "\n")


@app.command()
def phantom(out: Path = typer.Option(Path("phantom.png"), "--out", "-o", help="PNG file to write."),
            seed: int = typer.Option(0, help="Random seed of the phantom."),
            tumour_type: str = typer.Option("hcc", help="hcc or metastasis."),
            diameter_mm: float = typer.Option(20.0, help="Tumour diameter [mm]."),
            location: str = typer.Option("central", help="central, near_vessel or subcapsular."),
            spacing_mm: float = typer.Option(1.0, help="Voxel size [mm].")):
    """Build the synthetic liver phantom and draw slices and vessel projections."""
    from .anatomy import PhantomSpec, TumourSpec, build_phantom
    from .viz.figures import plot_phantom

    with _user_errors():
        ph = build_phantom(PhantomSpec(seed=seed, spacing_mm=spacing_mm,
                                       tumours=[TumourSpec(type=tumour_type, diameter_mm=diameter_mm,
                                                           location=location)]))
        plot_phantom(ph, out)
    t = ph.tumours[0]
    out_console.print(f"phantom seed {seed}: organ {ph.organ_volume_m3 * 1e6:.0f} mL, {len(ph.vessels)} vessel "
                      f"segments; tumour {t.type} {t.equivalent_diameter_m * 1e3:.1f} mm at "
                      f"{[round(v * 1e3, 1) for v in t.centre_m]} mm, {t.nearest_large_vessel_m * 1e3:.1f} mm from "
                      f"a large vessel, {t.depth_below_capsule_m * 1e3:.1f} mm deep; wrote {out}")


@app.command()
def sources():
    """List every literature number in the property tables with its source and evidence tag."""
    from .tissue.properties import all_params

    t = Table(title="Parameters and sources (tags: V checked, R standard, C computed, E estimate, cal calibrated)")
    for col in ("name", "value", "unit", "tag", "source"):
        t.add_column(col, overflow="fold")
    for name, p in all_params():
        t.add_row(name, f"{p.value:.4g}", p.unit, p.tag, p.source + (f" — {p.note}" if p.note else ""))
    out_console.print(t)


@app.command()
def hypotheses(as_json: bool = typer.Option(False, "--json", help="Print the registry as JSON.")):
    """List the hypothesis registry: named, evidence-tagged claims a run may switch on."""
    from rich.markup import escape

    from .hypotheses import hypothesis_rows, registry_records

    if as_json:
        sys.stdout.write(json.dumps(registry_records(), indent=2, ensure_ascii=False) + "\n")
        return
    t = Table(title="Hypotheses (not evidence; oxidant results are hypothetical, never dosing advice)")
    t.add_column("name", no_wrap=True)
    for col in ("group", "statement", "parameters (default in range)", "evidence", "enters"):
        t.add_column(col, overflow="fold")
    for r in hypothesis_rows():
        t.add_row(*(escape(s) for s in (r["name"], r["group"], r["statement"], r["parameters"],
                                         f"[{r['tag']}] {r['evidence']}", r["enters"])), end_section=True)
    out_console.print(t)


@app.command()
def plan(diameter_mm: float = typer.Option(20.0, "--diameter-mm", help="Tumour diameter [mm]."),
         margin_mm: float = typer.Option(5.0, "--margin-mm", help="Margin to cover beyond the tumour [mm]."),
         reach_mm: float = typer.Option(10.0, "--reach-mm", help="Radius one injection point fills [mm]."),
         as_json: bool = typer.Option(False, "--json", help="Print JSON.")):
    """Planning rules for one tumour: Shiina ethanol volume, needle, cryoprobe and IRE layouts (not advice)."""
    from .therapy.planning import plan_summary

    with _user_errors():
        if not 0 < diameter_mm <= 200:
            raise TissuefateError(f"--diameter-mm = {diameter_mm:g} mm: must be > 0 and <= 200 mm")
        if not 0 <= margin_mm <= 30:
            raise TissuefateError(f"--margin-mm = {margin_mm:g} mm: must be in 0-30 mm")
        s = plan_summary(diameter_mm / 2e3, margin_mm / 1e3, injection_reach_m=reach_mm / 1e3)
    if as_json:
        sys.stdout.write(json.dumps(s, indent=2) + "\n")
        return
    t = Table(title=f"Planning rules for a {diameter_mm:g} mm tumour, {margin_mm:g} mm margin "
                    "(research arithmetic; not treatment or dosing advice)")
    t.add_column("plan")
    t.add_column("result")
    e = s["ethanol"]
    t.add_row("ethanol (Shiina)", f"{e['total_mL']} mL in {e['n_sessions']} session(s) of {e['per_session_mL']} mL "
                                  f"(cap {e['per_session_cap_mL']} mL)")
    n, c, i = s["injection_needles"], s["cryoprobes"], s["ire"]
    rows = [
        ("injection needles", n, lambda: f"{n['n']} ({n['layout']}), reach {n['reach_mm']} mm"),
        ("cryoprobes", c, lambda: f"{c['n']} ({c['layout']}), spacing {c['min_spacing_mm']} mm"),
        ("IRE electrodes", i, lambda: f"{i['n']} ({i['layout']}), {len(i['pairs'])} pair(s) at "
                                      f"{', '.join(f'{v:g}' for v in sorted(set(i['voltages_V'])))} V"),
    ]
    for label, d, text in rows:
        t.add_row(label, d["error"] if "error" in d else f"{text()}, covered {d['covered_fraction'] * 100:.1f} %")
    out_console.print(t)


def trial_table(df, spec) -> Table:
    """Per strategy × preset: cases done, complete-response rate, mean sessions, errors."""
    t = Table(title="Trial outcomes (simulated; not treatment guidance)")
    for col in ("strategy", "preset", "cases", "CR rate", "mean sessions", "LTP", "errors"):
        t.add_column(col, justify="left" if col in ("strategy", "preset") else "right")
    for s in spec.strategies:
        for p in spec.presets:
            g = df[(df["strategy"] == s.key) & (df["preset"] == p)] if len(df) else df
            ok = g[g["error"].fillna("") == ""] if len(g) else g
            label = s.key + (" [magenta](HYPOTHETICAL)[/]" if (ok["agent"] == "oxidant").any() else "")
            cr = ok["complete_response"].astype(bool)
            t.add_row(label, p, str(len(g)), f"{cr.mean():.0%}" if len(ok) else "—",
                      _fmt(float(ok["sessions_given"].mean())) if len(ok) else "—",
                      f"{ok['local_progression'].astype(bool).mean():.0%}" if len(ok) else "—",
                      str(len(g) - len(ok)))
    return t


@app.command()
def trial(trial_file: Path = typer.Argument(..., help="Trial TOML file (see docs/trials.md)."),
          out: Path = typer.Option(..., "--out", "-o", help="Output folder; an interrupted run of the same trial "
                                                            "resumes there."),
          scheduler: str | None = typer.Option(None, "--scheduler",
                                        help="Address of a running Dask scheduler, e.g. tcp://HOST:8786 "
                                             "(default: a local cluster)."),
          workers: int | None = typer.Option(None, "--workers",
                                             help="Local worker processes (default: cores / threads per task)."),
          threads_per_task: int | None = typer.Option(None, "--threads-per-task",
                                               help="Numba threads per case (default: the trial file's, 1)."),
          max_cases: int | None = typer.Option(None, "--max-cases",
                                               help="Simulate at most this many cases now (resumable)."),
          connect_timeout: float = typer.Option(10.0, "--connect-timeout", help="Seconds to reach --scheduler."),
          quiet: bool = typer.Option(False, help="No progress bar.")):
    """A virtual trial: every strategy on the same simulated patients, locally or on a Dask cluster; resumable."""
    from .api import run_trial
    from .trial.spec import load_trial

    with _user_errors():
        spec = load_trial(trial_file)
        with progress_bar(f"trial {spec.name}", not quiet) as cb:
            res = run_trial(spec, out, scheduler=scheduler, n_workers=workers, threads_per_task=threads_per_task,
                            progress=cb, max_cases=max_cases, connect_timeout_s=connect_timeout)
    _print_wide(trial_table(res.outcomes, spec))
    ran = ""
    if res.n_simulated:
        eff = "" if res.efficiency is None else f", Dask efficiency {res.efficiency:.0%}"
        ran = f" in {res.elapsed_s:.0f} s on {res.worker_threads} worker thread(s){eff}"
    out_console.print(f"{res.n_done}/{res.n_cases} cases done ({res.n_simulated} simulated now, {res.n_resumed} "
                      f"found finished, {res.n_errors} with errors){ran}")
    names = ", ".join(sorted(Path(p).name for k, p in res.paths.items() if not k.startswith("figure:")))
    out_console.print(f"wrote {out}/ ({names})" + ("" if res.complete else
                                                   "; incomplete: run the same command again to resume"))


@app.command()
def sensitivity(spec_file: Path = typer.Argument(..., help="Sensitivity TOML file (see docs/trials.md)."),
                out: Path = typer.Option(..., "--out", "-o", help="Output folder."),
                scheduler: str | None = typer.Option(None, "--scheduler",
                                              help="Address of a running Dask scheduler (default: a local cluster)."),
                workers: int | None = typer.Option(None, "--workers", help="Local worker processes."),
                local: bool = typer.Option(False, "--local", help="Run the cases in this process, without Dask."),
                quiet: bool = typer.Option(False, help="No progress bar.")):
    """Sobol' or Morris sensitivity of a course outcome to hypothesis, fate and physical parameters (SALib),
    on the trial runner (a local Dask cluster or --scheduler)."""
    from .api import run_sensitivity
    from .trial.sensitivity import load_sensitivity

    with _user_errors():
        spec = load_sensitivity(spec_file)
        with progress_bar(f"sensitivity {spec.name}", not quiet) as cb:
            res = run_sensitivity(spec, out, progress=cb, local=local, scheduler=scheduler, n_workers=workers)
    t = Table(title=f"Sensitivity ({res.get('method', spec.method)}; simulated, not treatment guidance)")
    for col in ("outcome", "parameter", "index", "value", "95 % interval"):
        t.add_column(col)
    for outcome, o in res["outcomes"].items():
        ind = o.get("indices")
        if not ind:
            t.add_row(outcome, "—", "—", "not analysed", str(o.get("not_analysed") or ""))
            continue
        for name, vals in ind.items():
            for key, v in vals.items():  # an index and, where SALib gives one, its 95 % half-width
                if key.endswith("_conf") or not isinstance(v, (int, float)) or f"{key}_conf" not in vals:
                    continue
                c = float(vals[f"{key}_conf"])
                t.add_row(outcome, name, key, _fmt(float(v), 3), f"{_fmt(float(v) - c, 3)} – {_fmt(float(v) + c, 3)}")
    _print_wide(t)
    out_console.print(f"{len(res['outcomes'])} outcome(s), {res['n_failed']} failed case(s) in "
                      f"{res['wall_time_s']:.0f} s; wrote {out}/")


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
