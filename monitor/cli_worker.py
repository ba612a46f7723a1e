"""``monitor worker``: claim and run units of processing work; ``monitor process --enqueue|--dask``.

Registered by :mod:`monitor.cli` (kept in its own module so that the main CLI file stays small).
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from sqlmodel import Session

from monitor.cli_common import SiteOption, UsageError, err, out, plain, print_error, site_settings, user_errors


@user_errors
def worker(
    until_idle: Annotated[bool, typer.Option("--until-idle", help="Stop when no unit of any run is left.")] = False,
    site: SiteOption = None,
) -> None:
    """Claim and run units of processing work until SIGTERM/SIGINT (the unit in hand is finished
    first) or, with --until-idle, until every unit is done. Any number of workers on any hosts may
    share one PostgreSQL catalogue and the site directory."""
    from monitor.calibration.work import work, worker_id
    from monitor.calibration.work_runners import RUNNERS
    from monitor.reports.units import REPORT_RUNNERS
    from monitor.site import open_engine, utc_now

    settings = site_settings(site)
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        err.print(f"worker: {signal.Signals(signum).name}: finishing the unit in hand, then stopping",
                  highlight=False)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    runners = dict(RUNNERS)
    runners.update(REPORT_RUNNERS)  # every kind: the processing units and the render of due reports
    engine = open_engine(settings)
    try:
        summary = work(engine, settings, utc_now, until_idle=until_idle, stop=stop, worker=worker_id(),
                       runners=runners)
    finally:
        engine.dispose()
    out.print(plain(str(summary)), soft_wrap=True)
    if summary.failed:
        print_error(f"{summary.failed} unit(s) failed for good after their retries (see the log)")
        raise typer.Exit(1)


def queue_doc(session: Session) -> list[dict[str, object]]:
    """``monitor status --format json``: the work queue (units not done) by kind and state."""
    from monitor.catalogue.work_units import queue_counts

    return [{"kind": k, "state": st, "count": n} for k, st, n in queue_counts(session)]


def print_queue(session: Session) -> None:
    """``monitor status``: the work queue (units not done) by kind and state, or that it is empty."""
    from rich.table import Table

    from monitor.catalogue.work_units import queue_counts

    rows = queue_counts(session)
    if not rows:
        out.print("work queue: empty", highlight=False)
        return
    t = Table(title="Work queue (units not done; monitor worker)")
    for c in ("kind", "state", "count"):
        t.add_column(c)
    for kind, state, n in rows:
        t.add_row(kind, state, str(n))
    out.print(t)


def process_units(site: Path | None, reprocess: bool, dask: str | None, enqueue_only: bool) -> None:
    """``monitor process --enqueue`` (units for the workers) or ``--dask ADDRESS`` (Dask reprocessing)."""
    from monitor.calibration.distributed import reprocess_on_dask
    from monitor.calibration.work_enqueue import enqueue_star_run
    from monitor.site import open_engine, session_scope, utc_now

    settings = site_settings(site)
    if enqueue_only:
        with session_scope(settings) as session:
            enqueued = enqueue_star_run(session, settings, utc_now(), reprocess=reprocess)
        out.print(plain(str(enqueued)), soft_wrap=True)
        return
    address = dask or settings.compute.dask_scheduler
    if not address.startswith("local:") and "://" not in address:
        raise UsageError(f"--dask {address!r}: give 'local:N' or a scheduler address such as tcp://host:8786")
    engine = open_engine(settings)
    try:
        from monitor.progress import progress_reporter

        with progress_reporter("process (dask)", err) as progress:
            summary = reprocess_on_dask(engine, settings, utc_now, address, reprocess=reprocess,
                                        progress=lambda done, total: progress(done, total, "photometry"))
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    finally:
        engine.dispose()
    for line in summary.lines():
        out.print(plain(line), soft_wrap=True)
    failed = summary.failed
    if failed:
        print_error(f"{failed} unit(s) failed for good after their retries (see the log)")
        raise typer.Exit(1)
