"""Command line of the monitoring system (typer + rich).

``monitor init|db|ingest|process|report|results|traces|status|simulate|demo|daemon``.
User mistakes (bad configuration, unreachable database, bad arguments) end with a one-line
``error:`` message and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from monitor import __version__
from monitor.logconfig import configure_logging
from monitor.settings import ConfigError, Settings, load_settings

__all__ = ["app"]

log = logging.getLogger("monitor.cli")
app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Calibration monitoring of Pleiades (PHR1A/1B) and Pleiades Neo (PNEO3/4).",
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(no_args_is_help=True, help="Catalogue schema (Alembic) management.")
app.add_typer(db_app, name="db")

out = Console()
err = Console(stderr=True)

SiteOption = Annotated[
    Path | None,
    typer.Option("--site", envvar="MONITOR_SITE", help="Site directory (default: MONITOR_SITE or .)"),
]

F = TypeVar("F", bound=Callable[..., Any])


class UserError(Exception):
    """A mistake of the user or of the environment, reported in one line."""


def _user_errors(fn: F) -> F:
    """Turn expected failures into ``error: ...`` and exit code 1 (2 for configuration)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from monitor.catalogue.engine import DatabaseUnavailableError
        from monitor.site import SchemaOutdatedError

        try:
            return fn(*args, **kwargs)
        except ConfigError as exc:
            err.print(f"[red]error:[/red] configuration: {exc}", highlight=False)
            raise typer.Exit(2) from None
        except (UserError, DatabaseUnavailableError, SchemaOutdatedError, FileNotFoundError,
                PermissionError, NotADirectoryError) as exc:
            err.print(f"[red]error:[/red] {exc}", highlight=False)
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def _settings(site: Path | None) -> Settings:
    settings = load_settings(site)
    configure_logging(settings.log_level)
    return settings


def _parse_time(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UserError(f"{name}: not an ISO 8601 date/time: {value!r}") from None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


@app.callback(invoke_without_command=True)
def main(
    ctx: typer.Context,
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    if version:
        out.print(f"monitor {__version__}")
        raise typer.Exit(0)
    if ctx.invoked_subcommand is None:
        out.print(ctx.get_help())
        raise typer.Exit(0)


# --------------------------------------------------------------------------- site and schema


@app.command()
@_user_errors
def init(
    site_dir: Annotated[Path | None, typer.Argument(help="Site directory to create")] = None,
    site: SiteOption = None,
) -> None:
    """Create a site (inbox/, archive/, quarantine/, reports/, monitor.toml) and its catalogue."""
    from monitor.site import init_site

    target = site_dir or site
    if target is None:
        raise UserError("give the site directory: monitor init SITE (or --site / MONITOR_SITE)")
    settings = _settings(target)
    actions = init_site(settings)
    for a in actions:
        out.print(f"  {a}", highlight=False)
    out.print(f"site ready: {settings.site}", highlight=False)


def _engine(site: Path | None, check: bool = False) -> Any:
    from monitor.site import open_engine

    return open_engine(_settings(site), check_schema=check)


@db_app.command("upgrade")
@_user_errors
def db_upgrade(revision: str = "head", site: SiteOption = None) -> None:
    """Upgrade the catalogue schema (default: to head)."""
    from monitor.catalogue import migrate

    engine = _engine(site)
    try:
        migrate.upgrade(engine, revision)
        out.print(f"catalogue at {migrate.current_revision(engine)}")
    finally:
        engine.dispose()


@db_app.command("downgrade")
@_user_errors
def db_downgrade(revision: str, site: SiteOption = None) -> None:
    """Downgrade the catalogue schema to REVISION (e.g. base). Destroys data of dropped tables."""
    from monitor.catalogue import migrate

    engine = _engine(site)
    try:
        migrate.downgrade(engine, revision)
        out.print(f"catalogue at {migrate.current_revision(engine) or 'base'}")
    finally:
        engine.dispose()


@db_app.command("current")
@_user_errors
def db_current(site: SiteOption = None) -> None:
    """Show the schema revision of the catalogue and the code's head revision."""
    from monitor.catalogue import migrate

    engine = _engine(site)
    try:
        cur, head = migrate.current_revision(engine), migrate.head_revision()
        out.print(f"current: {cur or 'base (empty)'}  head: {head}" + ("" if cur == head else "  (upgrade needed)"))
    finally:
        engine.dispose()


@db_app.command("history")
@_user_errors
def db_history() -> None:
    """List the schema revisions shipped with this version."""
    from monitor.catalogue import migrate

    for line in migrate.history():
        out.print(line, highlight=False)


# --------------------------------------------------------------------------- ingest


@app.command()
@_user_errors
def ingest(site: SiteOption = None) -> None:
    """Ingest the complete files of the inbox into the catalogue (archive or quarantine each)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from monitor.ingest.service import run_ingest
    from monitor.site import session_scope, utc_now

    settings = _settings(site)
    interactive = err.is_terminal
    with session_scope(settings) as session:
        if interactive:
            with Progress(
                TextColumn("ingest"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                TextColumn("{task.description}"), console=err, transient=True,
            ) as bar:
                task = bar.add_task("", total=None)

                def progress(done: int, total: int, name: str) -> None:
                    bar.update(task, completed=done, total=total, description=name)

                summary = run_ingest(session, settings, utc_now(), progress)
        else:
            summary = run_ingest(session, settings, utc_now())
    out.print(
        f"ingested {len(summary.ingested)}, rejected {len(summary.rejected)}, "
        f"duplicates {len(summary.duplicates)}, recovered {summary.recovered}, "
        f"waiting (incomplete) {summary.waiting}",
        highlight=False,
    )


# --------------------------------------------------------------------------- processing


@app.command()
@_user_errors
def process(
    reprocess: Annotated[bool, typer.Option("--reprocess", help="Recompute everything as a new version.")] = False,
    site: SiteOption = None,
) -> None:
    """Run the pending calibration updates (star photometry, starpools, MTF, drift, Moon, geometry)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from monitor.calibration.service import run_processing
    from monitor.site import session_scope, utc_now

    settings = _settings(site)
    with session_scope(settings) as session:
        if err.is_terminal:
            with Progress(TextColumn("photometry"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                          console=err, transient=True) as bar:
                task = bar.add_task("", total=None)
                summary = run_processing(session, settings, utc_now(), reprocess=reprocess,
                                         progress=lambda d, t: bar.update(task, completed=d, total=t))
        else:
            summary = run_processing(session, settings, utc_now(), reprocess=reprocess)
    for line in summary.lines():
        out.print(line, highlight=False)


@app.command()
@_user_errors
def traces(
    satellite: Annotated[str, typer.Option(help="Satellite, e.g. PHR1A.")],
    band: Annotated[str, typer.Option(help="Band, e.g. P.")],
    star: Annotated[str | None, typer.Option(help='Only this star, e.g. "HIP 32349".')] = None,
    fmt: Annotated[str, typer.Option("--format", help="csv or json.")] = "csv",
    site: SiteOption = None,
) -> None:
    """Time series of each star's normalised count S_w/(OVERSAMP*GAINFACT) per window, with the
    ratio to the starpool's prediction."""
    import csv
    import json

    from monitor.catalogue import repository as repo
    from monitor.results import iso_utc
    from monitor.site import session_scope

    hip = None
    if star is not None:
        parts = star.replace("HIP", "").strip()
        if not parts.isdigit():
            raise UserError(f'--star must look like "HIP 32349", not {star!r}')
        hip = int(parts)
    if fmt not in ("csv", "json"):
        raise UserError(f"unknown format {fmt!r} (csv or json)")
    settings = _settings(site)
    with session_scope(settings) as session:
        rows = repo.star_traces(session, satellite, band, hip)
    for r in rows:
        r["time"] = iso_utc(r["time"])
    if fmt == "json":
        sys.stdout.write(json.dumps(rows, indent=1) + "\n")
        return
    fields = ["time", "acq_id", "star", "band", "half_width_px", "normalised_count_dn", "sum_dn", "sigma_dn",
              "status", "reason", "usable", "ratio_to_prediction"]
    writer = csv.DictWriter(sys.stdout, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)


# --------------------------------------------------------------------------- status and results


@app.command()
@_user_errors
def status(site: SiteOption = None) -> None:
    """Catalogue counts by satellite, type and status; last runs; recent rejections."""
    from monitor.catalogue import repository as repo
    from monitor.site import session_scope

    settings = _settings(site)
    with session_scope(settings) as session:
        counts = repo.catalogue_counts(session)
        t = Table(title="Acquisitions")
        for c in ("satellite", "type", "status", "count"):
            t.add_column(c)
        for sat, typ, st, n in counts.acquisitions:
            t.add_row(sat, typ, st, str(n))
        out.print(t)
        t = Table(title="Rejected inputs by reason")
        t.add_column("reason")
        t.add_column("count")
        for reason, n in counts.rejections:
            t.add_row(reason, str(n))
        out.print(t)
        t = Table(title="Last processing runs")
        for c in ("id", "kind", "started (UTC)", "outcome", "items", "code"):
            t.add_column(c)
        for r in repo.last_runs(session):
            t.add_row(str(r.id), r.kind, f"{r.started_at:%Y-%m-%d %H:%M:%S}", r.outcome, str(r.n_items),
                      r.code_version)
        out.print(t)
        _print_jobs(session, settings)
        t = Table(title="Recent rejections")
        for c in ("received (UTC)", "file", "reason", "message"):
            t.add_column(c)
        for rej in repo.recent_rejections(session):
            t.add_row(f"{rej.received_at:%Y-%m-%d %H:%M:%S}", rej.file_name, rej.reason, rej.message)
        out.print(t)


def _print_jobs(session: Any, settings: Settings) -> None:
    """Scheduled jobs (when the daemon has registered them) and their last runs."""
    from monitor.catalogue import repository as repo

    try:
        from monitor.scheduler.wiring import scheduled_jobs
    except ImportError:
        scheduled_jobs = None
    if scheduled_jobs is not None:
        t = Table(title="Scheduled jobs")
        for c in ("job", "next run (UTC)"):
            t.add_column(c)
        for job_id, next_run in scheduled_jobs(session.get_bind(), settings):
            t.add_row(job_id, f"{next_run:%Y-%m-%d %H:%M:%S}" if next_run else "paused")
        out.print(t)
    runs = repo.last_job_runs(session)
    if runs:
        t = Table(title="Last job runs")
        for c in ("job", "started (UTC)", "outcome", "message"):
            t.add_column(c)
        for r in runs:
            first_line = r.message.splitlines()[0] if r.message else ""
            t.add_row(r.job_id, f"{r.started_at:%Y-%m-%d %H:%M:%S}", r.outcome, first_line)
        out.print(t)


@app.command()
@_user_errors
def results(
    fmt: Annotated[str, typer.Option("--format", help="Output format (json).")] = "json",
    satellite: Annotated[str | None, typer.Option(help="Only this satellite.")] = None,
    band: Annotated[str | None, typer.Option(help="Only this band.")] = None,
    since: Annotated[str | None, typer.Option(help="Epochs at or after this UTC time.")] = None,
    until: Annotated[str | None, typer.Option(help="Epochs before this UTC time.")] = None,
    site: SiteOption = None,
) -> None:
    """Print the results export of ICD 5 (calibration, mtf, drift, measurements, geometry)."""
    from monitor.results import build_results, results_json
    from monitor.site import session_scope

    if fmt != "json":
        raise UserError(f"unknown format {fmt!r} (only json)")
    t0, t1 = _parse_time(since, "--since"), _parse_time(until, "--until")
    settings = _settings(site)
    with session_scope(settings) as session:
        doc = build_results(session, satellite=satellite, band=band, since=t0, until=t1)
    sys.stdout.write(results_json(doc) + "\n")


# --------------------------------------------------------------------------- reports and daemon


@app.command()
@_user_errors
def report(
    period: Annotated[str | None, typer.Option(
        "--period", help="2025-03 (month), 2025-W11 (ISO week), 2025 (year), weekly or monthly.")] = None,
    send: Annotated[bool, typer.Option("--send", help="E-mail the PDF to [report] recipients.")] = False,
    resend: Annotated[int | None, typer.Option(
        "--resend", metavar="REPORT_ID", help="Requeue the failed e-mails of an archived report, send them.",
    )] = None,
    site: SiteOption = None,
) -> None:
    """Render the PDF report of a period into the site's reports/ (and e-mail it with --send)."""
    from monitor.reports.service import ReportError, resend_report, run_report
    from monitor.site import session_scope, utc_now

    if (period is None) == (resend is None):
        raise UserError("give either --period P (to make a report) or --resend REPORT_ID")
    settings = _settings(site)
    try:
        with session_scope(settings) as session:
            if resend is not None:
                n, mail = resend_report(session, settings, utc_now(), resend)
                out.print(f"report #{resend}: {n} e-mail(s) queued; {mail}", highlight=False)
                failed = mail.failed
            else:
                outcome = run_report(session, settings, utc_now(), period, send=send)
                out.print(str(outcome), highlight=False)
                failed = outcome.mail.failed if outcome.mail else 0
                if outcome.mail and outcome.mail.retrying:
                    err.print("[yellow]warning:[/yellow] some e-mails were not delivered yet; the daemon's "
                              "email_retry job (or 'monitor report --resend ID') will retry them", highlight=False)
    except ReportError as exc:
        raise UserError(str(exc)) from None
    if failed:
        raise typer.Exit(1)


@app.command()
@_user_errors
def daemon(site: SiteOption = None) -> None:
    """Run the scheduler (ingest, process, weekly/monthly reports, e-mail retry) until SIGTERM/SIGINT."""
    from monitor.catalogue.report_queries import DaemonLockedError
    from monitor.scheduler.wiring import run_daemon
    from monitor.site import open_engine

    settings = _settings(site)
    open_engine(settings).dispose()  # fail early and clearly: unreachable catalogue, outdated schema
    try:
        code = run_daemon(settings)
    except DaemonLockedError as exc:
        raise UserError(str(exc)) from None
    raise typer.Exit(code)


# --------------------------------------------------------------------------- simulation and demo


@app.command()
@_user_errors
def simulate(
    outdir: Annotated[Path, typer.Argument(help="Directory to write the acquisitions (an inbox).")],
    months: Annotated[int, typer.Option(help="Number of monthly campaigns.")] = 3,
    start: Annotated[str, typer.Option(help="UTC start of the first campaign.")] = "2025-01-01",
    seed: Annotated[int, typer.Option(help="Random seed.")] = 1,
    stars: Annotated[int, typer.Option(help="Star acquisitions per satellite and campaign.")] = 25,
    bad_files: Annotated[bool, typer.Option(help="Add bad, duplicate and conflicting files.")] = True,
) -> None:
    """Write simulated ICD-conformant STAR, MOON and GEOM acquisitions plus truth.json."""
    from monitor.simulate.campaign import simulate_campaigns
    from monitor.simulate.truth import write_truth

    configure_logging("INFO")
    t0 = _parse_time(start, "--start")
    assert t0 is not None
    outdir.mkdir(parents=True, exist_ok=True)
    truth = simulate_campaigns(outdir, start=t0, months=months, seed=seed, stars_per_campaign=stars,
                               bad_files=bad_files)
    write_truth(outdir / "truth.json", truth)
    n = len(list(outdir.glob("*.fits*"))) - len(list(outdir.glob("*.done")))
    out.print(f"wrote {n} files and {outdir / 'truth.json'}", highlight=False)


@app.command()
@_user_errors
def demo(
    directory: Annotated[Path, typer.Argument(help="Directory of the demo site.")] = Path("monitor-demo"),
    months: Annotated[int, typer.Option(help="Months of simulated campaigns.")] = 4,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 7,
) -> None:
    """Simulate a few months of acquisitions, ingest, calibrate, report (SQLite site)."""
    from monitor.demo import run_demo

    configure_logging("WARNING")
    summary = run_demo(directory, months=months, seed=seed, console=out)
    for line in summary:
        out.print(line, highlight=False, soft_wrap=True)


if __name__ == "__main__":  # pragma: no cover
    app()
