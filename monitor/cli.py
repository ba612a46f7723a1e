"""Command line of the monitoring system (typer + rich).

``monitor init|db|ingest|process|report|reports|results|traces|plot|alerts|status|check|config|export|
simulate|demo|daemon``; ``--verbose``/``--quiet`` before the command set its log level.
User mistakes (bad configuration, unreachable database, bad arguments) end with a one-line
``error:`` message and a non-zero exit code, never a traceback.

Exit status: 0 done; 1 failed (or work left pending after errors); 2 configuration or usage
error; 75 (``EX_TEMPFAIL``) ``ingest`` or ``process`` found another run of the same command on
this site and gave up after ``[ingest] lock_wait_seconds`` (nothing done; run it again later).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from monitor import __version__
from monitor.logconfig import configure_logging, stderr_console
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

# Without a terminal (journald, a pipe, cron) a line is never wrapped at the console's width: one
# message is one line; and a table is laid out for 200 columns (COLUMNS, when set, decides), not
# rich's default of 80, which truncated its cells with an ellipsis in a pipe or a log.
NO_TERMINAL_WIDTH = 200
out = Console(soft_wrap=not sys.stdout.isatty())


def _fit_output_to_environment() -> None:
    """Lay ``out`` out for this invocation: the terminal's width, else COLUMNS, else 200 columns."""
    if out.is_terminal:
        return
    columns = os.environ.get("COLUMNS", "")
    out.width = int(columns) if columns.isdigit() and int(columns) > 0 else NO_TERMINAL_WIDTH
err = stderr_console()  # shared with the rich log handler and the progress bars

SiteOption = Annotated[
    Path | None,
    typer.Option("--site", envvar="MONITOR_SITE", help="Site directory (default: MONITOR_SITE or .)"),
]

F = TypeVar("F", bound=Callable[..., Any])


class UserError(Exception):
    """A mistake of the user or of the environment, reported in one line."""


class UsageError(UserError):
    """Bad arguments (a selection that cannot match anything): one line, exit status 2."""


def _error(message: str) -> None:
    """One ``error:`` line on stderr: no rich markup in the message, no wrapping, no control character."""
    from monitor.domain import printable_name

    err.print(Text.assemble(("error:", "red"), " ", printable_name(message)), soft_wrap=True)


def _user_errors(fn: F) -> F:
    """Turn failures into one ``error: ...`` line and an exit code, never a traceback.

    2 for configuration and usage errors; 75 when another run of the same operation holds the
    site's lock (:class:`monitor.catalogue.locks.SiteBusyError`); 1 for everything else: the user's or the environment's
    mistakes, transient failures (catalogue unreachable, file system errors), and, as a last
    resort, a defect of the code (its traceback is logged at DEBUG level: ``MONITOR_LOG_LEVEL=DEBUG``).
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from monitor.catalogue.engine import DatabaseUnavailableError
        from monitor.catalogue.locks import BUSY_EXIT_CODE, SiteBusyError
        from monitor.failures import is_transient
        from monitor.site import SchemaOutdatedError

        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except ConfigError as exc:
            _error(f"configuration: {exc}")
            raise typer.Exit(2) from None
        except UsageError as exc:
            _error(str(exc))
            raise typer.Exit(2) from None
        except SiteBusyError as exc:
            _error(str(exc))
            raise typer.Exit(BUSY_EXIT_CODE) from None
        except (UserError, DatabaseUnavailableError, SchemaOutdatedError, FileNotFoundError,
                PermissionError, NotADirectoryError) as exc:
            _error(str(exc))
            raise typer.Exit(1) from None
        except Exception as exc:
            first = (str(exc).strip().splitlines() or [""])[0]
            if is_transient(exc):
                _error(f"{type(exc).__name__}: {first} (nothing was lost; run the command again later)")
            else:
                log.debug("internal error", exc_info=True)
                _error(f"internal error: {type(exc).__name__}: {first} (run with --verbose, or "
                       "MONITOR_LOG_LEVEL=DEBUG, for the traceback; please report it)")
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


# --verbose / --quiet: the log level of this command whatever log_level says (None: log_level)
_log_override: str | None = None


def _log_level(configured: str) -> str:
    return _log_override or configured


def _settings(site: Path | None) -> Settings:
    from monitor.site import apply_umask

    settings = load_settings(site)
    apply_umask(settings)  # [site] umask, before any file is created
    configure_logging(_log_level(settings.log_level))
    return settings


def _parse_time(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UserError(f"{name}: not an ISO 8601 date/time: {value!r}") from None
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def _check_selection(satellite: str | None, band: str | None, since: datetime | None = None,
                     until: datetime | None = None) -> None:
    """Refuse a selection that cannot match anything (an unknown satellite or band, a band of the
    other mission, an empty time interval) rather than answer with nothing."""
    from monitor.domain import BANDS_BY_MISSION, MISSION_OF_SATELLITE, Satellite

    known = [s.value for s in Satellite]
    if satellite is not None and satellite not in known:
        raise UsageError(f"unknown satellite {printable(satellite)!r} (one of {', '.join(known)})")
    if band is not None:
        missions = [MISSION_OF_SATELLITE[Satellite(satellite)]] if satellite is not None else list(BANDS_BY_MISSION)
        bands = list(dict.fromkeys(b for m in missions for b in BANDS_BY_MISSION[m]))
        if band not in bands:
            of = f"of {satellite}" if satellite is not None else "known"
            raise UsageError(f"unknown band {printable(band)!r}: the bands {of} are {', '.join(bands)}")
    if since is not None and until is not None and since >= until:
        raise UsageError(f"--since {since:%Y-%m-%dT%H:%M:%SZ} must be before --until {until:%Y-%m-%dT%H:%M:%SZ}")


def _check_star(hip: int) -> None:
    """The star must be one of the reference star list (ICD 2.2)."""
    from monitor.reference_stars import is_reference_star

    if not is_reference_star(hip):
        raise UsageError(f"unknown star HIP {hip}: not in the reference star list")


def printable(text: str) -> str:
    from monitor.domain import printable_name

    return printable_name(text)


@app.callback(invoke_without_command=True)
def main(
    ctx: typer.Context,
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log at DEBUG level (whatever log_level says).")
                       ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Log only warnings and errors.")] = False,
) -> None:
    global _log_override
    _fit_output_to_environment()
    if verbose and quiet:
        _error("--verbose and --quiet exclude each other")
        raise typer.Exit(2)
    _log_override = "DEBUG" if verbose else "WARNING" if quiet else None
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
    from monitor.cli_reference import star_model_line

    out.print(star_model_line(settings), highlight=False, markup=False)  # "[reference]" is not markup


def _engine(site: Path | None, check: bool = False, create: bool = True) -> Any:
    from monitor.site import open_engine

    return open_engine(_settings(site), check_schema=check, create=create)


@db_app.command("upgrade")
@_user_errors
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision (default: head).")] = "head",
    site: SiteOption = None,
) -> None:
    """Upgrade the catalogue schema (default: to head)."""
    from monitor.catalogue import migrate

    engine = _engine(site)
    try:
        with _alembic_errors():
            migrate.upgrade(engine, revision)
        out.print(f"catalogue at {migrate.current_revision(engine)}")
    finally:
        engine.dispose()


@db_app.command("downgrade")
@_user_errors
def db_downgrade(
    revision: Annotated[str, typer.Argument(help="Target revision, e.g. base (drops every table).")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    site: SiteOption = None,
) -> None:
    """Downgrade the catalogue schema to REVISION (e.g. base). Destroys data of dropped tables.

    Asks for confirmation on a terminal; without one, refuses unless ``--yes`` is given."""
    from monitor.catalogue import migrate
    from monitor.catalogue.engine import redact_url

    settings = _settings(site)
    engine = _engine(site, create=False)
    try:
        current = migrate.current_revision(engine) or "base"
        if not yes:
            question = (f"downgrade the catalogue {redact_url(settings.database_url)} from {current} to "
                        f"{revision}? Data of the dropped tables and columns is lost")
            if not sys.stdin.isatty():
                raise UserError(f"refusing to {question[0].lower()}{question[1:]} without confirmation: "
                                "run it on a terminal or add --yes")
            if not typer.confirm(question, default=False):
                raise UserError("downgrade cancelled: nothing changed")
        with _alembic_errors():
            migrate.downgrade(engine, revision)
        out.print(f"catalogue at {migrate.current_revision(engine) or 'base'}")
    finally:
        engine.dispose()


@contextlib.contextmanager
def _alembic_errors() -> Iterator[None]:
    """A bad revision (unknown, or in the wrong direction) is the user's mistake: one line."""
    from alembic.util import CommandError

    try:
        yield
    except CommandError as exc:
        raise UserError(f"schema revision: {exc}") from None


@db_app.command("current")
@_user_errors
def db_current(site: SiteOption = None) -> None:
    """Show the schema revision of the catalogue and the code's head revision."""
    from monitor.catalogue import migrate

    engine = _engine(site, create=False)
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
    from monitor.site import check_layout, session_scope, utc_now

    settings = _settings(site)
    check_layout(settings)
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
    out.print(_plain(str(summary)), soft_wrap=True)
    if summary.problems:
        for line in summary.problems[:20]:
            err.print(_plain(f"  left in the inbox: {line}"), soft_wrap=True)
        _error(f"{len(summary.problems)} file(s) left in the inbox for the next run (see the log)")
        raise typer.Exit(1)


# --------------------------------------------------------------------------- processing


@app.command()
@_user_errors
def process(
    reprocess: Annotated[bool, typer.Option("--reprocess", help="Recompute everything as a new version.")] = False,
    site: SiteOption = None,
    dask: Annotated[str | None, typer.Option("--dask", help="Star processing on Dask: local:N or tcp://host:8786 "
                                             "(default \\[compute] dask_scheduler).")] = None,
    enqueue: Annotated[bool, typer.Option("--enqueue", help="Only enqueue the star, Moon and GEOM processing as "
                                          "units for 'monitor worker'.")] = False,
) -> None:
    """Run the pending calibration updates (star photometry, starpools, MTF, drift, Moon, geometry)."""
    from monitor.calibration.service import run_processing
    from monitor.progress import progress_reporter
    from monitor.site import session_scope, utc_now

    if dask is not None or enqueue:  # units of work shared by workers / a Dask cluster (cli_worker.py)
        from monitor.cli_worker import process_units
        return process_units(site, reprocess, dask, enqueue)
    settings = _settings(site)
    with session_scope(settings) as session, progress_reporter("process", err) as progress:
        summary = run_processing(session, settings, utc_now(), reprocess=reprocess, progress=progress)
    for line in summary.lines():
        out.print(_plain(line), soft_wrap=True)
    problems = getattr(summary, "problems", [])
    if problems:
        _error(f"{len(problems)} item(s) left pending for the next run (transient or internal errors, see the log)")
        raise typer.Exit(1)


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
    import dataclasses
    import json

    from monitor.results import iso_utc, star_traces
    from monitor.site import session_scope

    hip = None
    if star is not None:
        parts = star.replace("HIP", "").strip()
        if not parts.isdigit():
            raise UserError(f'--star must look like "HIP 32349", not {star!r}')
        hip = int(parts)
    if fmt not in ("csv", "json"):
        raise UserError(f"unknown format {fmt!r} (csv or json)")
    _check_selection(satellite, band)
    if hip is not None:
        _check_star(hip)
    settings = _settings(site)
    with session_scope(settings, read_only=True) as session:
        rows = [dataclasses.asdict(p) for p in star_traces(session, satellite, band, hip)]
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
def status(
    fmt: Annotated[str, typer.Option("--format", help="table (default) or json.")] = "table",
    site: SiteOption = None,
) -> None:
    """Catalogue counts, the daemon and its jobs, open incidents, backlog, recent rejections."""
    import json

    from monitor.catalogue import acquisitions, outbox
    from monitor.catalogue import operations as ops
    from monitor.catalogue.alerts import count_by_state
    from monitor.catalogue.states import OutboxKind
    from monitor.daemon.health import collect_health, health_json
    from monitor.ingest.service import left_in_inbox
    from monitor.site import session_scope, utc_now

    if fmt not in ("table", "json"):
        raise UserError(f"unknown format {fmt!r} (table or json)")
    settings = _settings(site)
    with session_scope(settings, read_only=True) as session:
        health = collect_health(session, settings, utc_now())
        counts = acquisitions.catalogue_counts(session)
        if fmt == "json":
            doc = health_json(health)
            doc["acquisitions"] = [{"satellite": a, "type": t, "status": st, "count": n}
                                   for a, t, st, n in counts.acquisitions]
            doc["rejections"] = [{"reason": r, "count": n} for r, n in counts.rejections]
            doc["emails"] = [{"id": m.id, "kind": m.kind, "report_id": m.report_id, "incident_id": m.incident_id,
                              "recipient": m.recipient, "status": m.status, "attempts": m.attempts,
                              "uncertain": m.uncertain, "message_id": m.message_id, "note": m.last_error}
                             for m in outbox.undelivered(session)]
            doc["inbox_left"] = [{"file": f, "reason": r} for f, r in left_in_inbox(settings)]
            doc["calibration_alerts"] = count_by_state(session)  # by state
            from monitor.cli_reference import star_model_doc

            doc["star_model"] = star_model_doc(settings)
            from monitor.calibration.mtf_stage import mtf_off_note

            doc["mtf_stage"] = {"enabled": settings.star.mtf, "note": mtf_off_note(settings)}
            from monitor.cli_worker import queue_doc

            doc["work_queue"] = queue_doc(session)  # units not done, by kind and state
            sys.stdout.write(json.dumps(doc, indent=1) + "\n")
            return
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
        for r in ops.last_runs(session):
            t.add_row(str(r.id), r.kind, f"{r.started_at:%Y-%m-%d %H:%M:%S}", r.outcome, str(r.n_items),
                      r.code_version)
        out.print(t)
        from monitor.cli_reference import star_model_line

        out.print(star_model_line(settings), highlight=False, markup=False)  # "[reference]" is not markup
        from monitor.calibration.mtf_stage import mtf_off_note

        out.print(mtf_off_note(settings) or "MTF stage: on ([star] mtf = true): PSF fit, MTF and MTF drift of every "
                  "starpool", highlight=False, markup=False)
        _print_daemon(health)
        from monitor.cli_worker import print_queue

        print_queue(session)
        n_alerts = count_by_state(session)
        out.print(f"calibration alerts: {n_alerts['open']} open, {n_alerts['acknowledged']} acknowledged"
                  + (" (monitor alerts)" if n_alerts["open"] or n_alerts["acknowledged"] else ""), highlight=False)
        runs = ops.last_job_runs(session)
        if runs:
            t = Table(title="Last job runs")
            for c in ("job", "started (UTC)", "outcome", "message"):
                t.add_column(c)
            for jr in runs:
                first_line = jr.message.strip().splitlines()[0] if jr.message.strip() else ""
                t.add_row(jr.job_id, f"{jr.started_at:%Y-%m-%d %H:%M:%S}", jr.outcome, _plain(first_line[:160]))
            out.print(t)
        mails = outbox.undelivered(session)
        if mails:
            t = Table(title="E-mails not confirmed (or maybe duplicated: uncertain)")
            for c in ("#", "what", "recipient", "status", "attempts", "note"):
                t.add_column(c)
            for m in mails:
                what = f"report {m.report_id}" if m.kind == OutboxKind.REPORT else f"{m.kind} {m.incident_id}"
                t.add_row(str(m.id), what, _plain(m.recipient), m.status + (", uncertain" if m.uncertain else ""),
                          str(m.attempts), _plain(m.last_error[:200]))
            out.print(t)
        t = Table(title="Recent rejections")
        for c in ("received (UTC)", "file", "reason", "message"):
            t.add_column(c)
        for rej in acquisitions.recent_rejections(session):
            t.add_row(f"{rej.received_at:%Y-%m-%d %H:%M:%S}", _plain(rej.file_name), rej.reason, _plain(rej.message))
        out.print(t)
        left = left_in_inbox(settings)
        if left:
            t = Table(title="Inbox entries left without a verdict (last ingest)")
            t.add_column("file")
            t.add_column("reason")
            for name, reason in left:
                t.add_row(_plain(name), _plain(reason))
            out.print(t)


def _plain(text: str) -> Text:
    """Text shown as is: no rich markup, control characters escaped."""
    from monitor.domain import printable_name

    return Text(printable_name(text))


def _print_daemon(health: Any) -> None:
    """The daemon, its scheduled jobs, open incidents and the backlog."""
    if health.daemon_running:
        beat = f", last heartbeat {health.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC" if health.heartbeat_at else ""
        out.print(f"daemon: running (pid {health.daemon_pid}{beat})", highlight=False)
    else:
        out.print("daemon: not running", highlight=False)
    if health.jobs:
        t = Table(title="Scheduled jobs")
        for c in ("job", "next run (UTC)", "time limit", "last outcome", "last start (UTC)"):
            t.add_column(c)
        for j in health.jobs:
            t.add_row(j.job_id, f"{j.next_run_at:%Y-%m-%d %H:%M:%S}" if j.next_run_at else "-",
                      f"{j.timeout_s / 60:g} min" if j.timeout_s else "-", j.last_outcome or "-",
                      f"{j.last_started_at:%Y-%m-%d %H:%M:%S}" if j.last_started_at else "-")
        out.print(t)
    t = Table(title="Open incidents")
    for c in ("#", "job", "since (UTC)", "failures", "last outcome", "last message"):
        t.add_column(c)
    for inc in health.incidents:
        t.add_row(str(inc.id), inc.job_id, f"{inc.first_failure_at:%Y-%m-%d %H:%M:%S}", str(inc.failures),
                  inc.last_outcome, _plain(inc.last_message))
    out.print(t if health.incidents else "open incidents: none", highlight=False)
    b = health.backlog
    if b is not None:
        waiting = ", ".join(f"{k} {v}" for k, v in b.processing.items())
        out.print(f"backlog: inbox {b.inbox_files} file(s); processing {waiting}; e-mails {b.emails}",
                  highlight=False)


@app.command()
@_user_errors
def check(
    max_backlog_hours: Annotated[float | None, typer.Option(
        help="Fail when work has waited longer than this (default: [alerts] backlog_hours).")] = None,
    site: SiteOption = None,
) -> None:
    """Exit 1 when the daemon is not running, a job has an open incident, or the backlog is too
    old (for a monitoring probe); print OK or one line per problem."""
    from monitor.daemon.health import check_health, collect_health
    from monitor.site import session_scope, utc_now

    settings = _settings(site)
    with session_scope(settings, read_only=True) as session:
        problems = check_health(collect_health(session, settings, utc_now()), settings, max_backlog_hours)
    if not problems:
        out.print("OK: daemon running, no open incident, no old backlog", highlight=False)
        return
    for p in problems:
        out.print(_plain(f"CRITICAL: {p}"), soft_wrap=True)
    raise typer.Exit(1)


@app.command()
@_user_errors
def results(
    fmt: Annotated[str, typer.Option("--format", help="json (the ICD 5 document) or csv (one table).")] = "json",
    satellite: Annotated[str | None, typer.Option(help="Only this satellite.")] = None,
    band: Annotated[str | None, typer.Option(help="Only this band.")] = None,
    since: Annotated[str | None, typer.Option(help="Epochs at or after this UTC time.")] = None,
    until: Annotated[str | None, typer.Option(help="Epochs before this UTC time.")] = None,
    table: Annotated[str | None, typer.Option(
        "--table",
        help="With --format csv: calibration, measurements, drift, mtf, mtf_drift, geometry, alerts or traces.",
    )] = None,
    out_dir: Annotated[Path | None, typer.Option(
        "--out", help="With --format csv: write every table (or --table) as DIR/NAME.csv.")] = None,
    site: SiteOption = None,
) -> None:
    """Print the results export of ICD 5 (calibration, mtf, drift, measurements, geometry, alerts),
    or one of its tables as CSV."""
    from monitor.results import CSV_TABLES, build_results, results_json, results_tables, table_csv
    from monitor.site import session_scope

    if fmt not in ("json", "csv"):
        raise UsageError(f"unknown format {fmt!r} (json or csv)")
    if fmt == "json" and (table is not None or out_dir is not None):
        raise UsageError("--table and --out go with --format csv")
    if table is not None and table not in CSV_TABLES:
        raise UsageError(f"unknown table {printable(table)!r} (one of {', '.join(CSV_TABLES)})")
    if fmt == "csv" and table is None and out_dir is None:
        raise UsageError(f"--format csv: give --table NAME (one of {', '.join(CSV_TABLES)}) or --out DIR")
    if out_dir is not None and out_dir.exists() and not out_dir.is_dir():
        raise UserError(f"--out {out_dir}: not a directory")
    t0, t1 = _parse_time(since, "--since"), _parse_time(until, "--until")
    _check_selection(satellite, band, t0, t1)
    settings = _settings(site)
    with session_scope(settings, read_only=True) as session:
        if fmt == "json":
            doc = build_results(session, satellite=satellite, band=band, since=t0, until=t1)
        else:
            names = [table] if table is not None else list(CSV_TABLES)
            tables = results_tables(session, names, satellite=satellite, band=band, since=t0, until=t1)
    if fmt == "json":
        sys.stdout.write(results_json(doc) + "\n")
        return
    if out_dir is None:
        sys.stdout.write(table_csv(names[0], tables[names[0]]))
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, rows in tables.items():
        path = out_dir / f"{name}.csv"
        path.write_text(table_csv(name, rows), encoding="utf-8")
        out.print(_plain(f"{path}: {len(rows)} row(s)"), soft_wrap=True)


# --------------------------------------------------------------------------- reports and daemon


@app.command()
@_user_errors
def report(
    period: Annotated[str | None, typer.Option(
        "--period", help="2025-03 (month), 2025-W11 (ISO week), 2025 (year), weekly or monthly.")] = None,
    send: Annotated[bool, typer.Option("--send", help="E-mail the PDF to [report] recipients.")] = False,
    resend: Annotated[int | None, typer.Option(
        "--resend", metavar="REPORT_ID",
        help="Requeue the failed e-mails of an archived report, send them (never one the server confirmed).",
    )] = None,
    force: Annotated[bool, typer.Option(
        "--force", help="With --period: render even when no acquisition is dated in the period. With --resend: "
        "also send again the e-mails the server confirmed, as new copies.",
    )] = False,
    site: SiteOption = None,
) -> None:
    """Render the PDF report of a period into the site's reports/ (and e-mail it with --send)."""
    from monitor.progress import progress_reporter
    from monitor.reports.delivery import resend_report
    from monitor.reports.period import ReportError
    from monitor.reports.service import run_report
    from monitor.site import session_scope, utc_now

    if (period is None) == (resend is None):
        raise UserError("give either --period P (to make a report) or --resend REPORT_ID")
    settings = _settings(site)
    try:
        with session_scope(settings) as session:
            if resend is not None:
                n, mail = resend_report(session, settings, utc_now(), resend, force=force)
                out.print(f"report #{resend}: {n} e-mail(s) queued; {mail}", highlight=False)
                failed = mail.failed
            else:
                with progress_reporter("report", err) as progress:
                    outcome = run_report(session, settings, utc_now(), period, send=send, force=force,
                                         progress=progress)
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
    from monitor.daemon.lock import DaemonLockedError
    from monitor.daemon.service import run_daemon
    from monitor.site import open_engine

    # Resolved once: every job runs on exactly this site and these settings. The layout is not
    # checked here: an inbox that is a file fails the ingest job, which opens an incident and
    # alerts a person (a daemon that refused to start would only be restarted by systemd).
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
    psf_family: Annotated[str | None, typer.Option(
        help="Truth PSF of the STAR vignettes: omitted = the estimator's parametric family; or an independent "
             "pupil-based truth: in_family, defocus, astig_spiders, tdi_smear, microvibration, red_star, no_wings."
    )] = None,
    star_library: Annotated[Path | None, typer.Option(
        help="Draw the stars' true spectra from this spectral library (Pickles UVKLIB layout) instead of "
             "REF-1 black bodies: another template of nearby colour times a smooth 1 % perturbation.")] = None,
    star_rsr_dir: Annotated[Path | None, typer.Option(
        help="With --star-library: measured RSRs <SATELLITE>_<BAND>.csv of the true instrument.")] = None,
) -> None:
    """Write simulated ICD-conformant STAR, MOON and GEOM acquisitions plus truth.json."""
    from monitor.progress import progress_reporter
    from monitor.simulate.campaign import simulate_campaigns
    from monitor.simulate.pupil_psf import FAMILIES
    from monitor.simulate.truth import write_truth

    configure_logging(_log_level("INFO"))
    if psf_family is not None and psf_family not in FAMILIES:
        raise UserError(f"--psf-family must be one of {', '.join(FAMILIES)} (got {psf_family!r})")
    t0 = _parse_time(start, "--start")
    assert t0 is not None
    outdir.mkdir(parents=True, exist_ok=True)
    with progress_reporter("simulate", err) as progress:
        truth = simulate_campaigns(outdir, start=t0, months=months, seed=seed, stars_per_campaign=stars,
                                   bad_files=bad_files, progress=progress, psf_family=psf_family,
                                   star_spectra="ref1" if star_library is None else "library",
                                   star_library=star_library, star_rsr_dir=star_rsr_dir)
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
    from monitor.demo import DemoRefusedError, run_demo

    configure_logging(_log_level("WARNING"))
    logging.getLogger("monitor.progress").setLevel(logging.INFO)  # no terminal: the periodic progress lines
    try:
        summary = run_demo(directory, months=months, seed=seed, console=out, bar_console=err)
    except DemoRefusedError as exc:
        raise UserError(str(exc)) from None
    for line in summary:
        out.print(line, highlight=False, soft_wrap=True)


def _register_subcommands() -> None:
    """The sub-commands that live in their own modules (they import this one for its helpers)."""
    # ``monitor export glod|lunar-comparison`` (ICD 6), in its own module
    from monitor.cli_export import export_app

    app.add_typer(export_app, name="export")

    # ``monitor alerts [ack ID]``: calibration alerts and their states (issue 20)
    from monitor.cli_alerts import alerts_app

    app.add_typer(alerts_app, name="alerts")

    # ``monitor config check|show`` (issue 20)
    from monitor.cli_config import config_app

    app.add_typer(config_app, name="config")

    # ``monitor reports`` (archived reports and their e-mails), ``monitor plot KIND`` (one report
    # figure as PNG/SVG) (issue 20)
    from monitor import cli_plot, cli_reports  # noqa: F401  (they register their commands on import)

    # ``monitor serve``: the read-only web dashboard, in its own module
    from monitor.cli_web import serve

    app.command()(serve)

    # ``monitor worker`` (units of work shared by several workers, issue 18), in its own module
    from monitor.cli_worker import worker

    app.command()(worker)


if __name__ == "__main__":  # pragma: no cover
    # ``python -m monitor.cli``: run the importable module, whose sub-commands register without a
    # circular import of this ``__main__`` copy
    from monitor.cli import app as _app

    _app()
else:
    _register_subcommands()
