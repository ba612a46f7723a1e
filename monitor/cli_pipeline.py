"""``monitor ingest``, ``monitor process`` and ``monitor daemon``: the commands that do the work
(once, or on the scheduler's timetable). Registered by :mod:`monitor.cli`."""

from __future__ import annotations

from typing import Annotated

import typer

from monitor.cli_common import SiteOption, UserError, err, out, plain, print_error, site_settings, user_errors


@user_errors
def ingest(site: SiteOption = None) -> None:
    """Ingest the complete files of the inbox into the catalogue (archive or quarantine each)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from monitor.ingest.service import run_ingest
    from monitor.site import check_layout, session_scope, utc_now

    settings = site_settings(site)
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
    out.print(plain(str(summary)), soft_wrap=True)
    if summary.problems:
        for line in summary.problems[:20]:
            err.print(plain(f"  left in the inbox: {line}"), soft_wrap=True)
        print_error(f"{len(summary.problems)} file(s) left in the inbox for the next run (see the log)")
        raise typer.Exit(1)


@user_errors
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
    settings = site_settings(site)
    with session_scope(settings) as session, progress_reporter("process", err) as progress:
        summary = run_processing(session, settings, utc_now(), reprocess=reprocess, progress=progress)
    for line in summary.lines():
        out.print(plain(line), soft_wrap=True)
    problems = getattr(summary, "problems", [])
    if problems:
        print_error(f"{len(problems)} item(s) left pending for the next run (transient or internal errors, "
                    "see the log)")
        raise typer.Exit(1)


@user_errors
def daemon(site: SiteOption = None) -> None:
    """Run the scheduler (ingest, process, weekly/monthly reports, e-mail retry) until SIGTERM/SIGINT."""
    from monitor.daemon.lock import DaemonLockedError
    from monitor.daemon.service import run_daemon
    from monitor.site import open_engine

    # Resolved once: every job runs on exactly this site and these settings. The layout is not
    # checked here: an inbox that is a file fails the ingest job, which opens an incident and
    # alerts a person (a daemon that refused to start would only be restarted by systemd).
    settings = site_settings(site)
    open_engine(settings).dispose()  # fail early and clearly: unreachable catalogue, outdated schema
    try:
        code = run_daemon(settings)
    except DaemonLockedError as exc:
        raise UserError(str(exc)) from None
    raise typer.Exit(code)
