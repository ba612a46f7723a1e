"""Report use-case: catalogue -> view model -> PDF archived in the site, e-mailed through an outbox.

The parts: :mod:`monitor.reports.period` (periods), :mod:`monitor.reports.view` (the view
model), :mod:`monitor.reports.archive` (the PDF archive), :mod:`monitor.reports.delivery` (e-mail).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlmodel import Session

from monitor.catalogue import acquisitions, outbox
from monitor.reports.archive import archive_report
from monitor.reports.delivery import SendSummary, send_pending
from monitor.reports.period import Period, ReportError, parse_period
from monitor.reports.view import build_context, summary_text
from monitor.settings import Settings

__all__ = [
    "ReportOutcome",
    "run_report",
    "make_report",
]

log = logging.getLogger(__name__)


@dataclass
class ReportOutcome:
    period: str
    report_id: int | None = None
    path: Path | None = None
    sha256: str = ""
    pages: int = 0
    size_bytes: int = 0
    render_s: float = 0.0
    queued: int = 0
    skipped: str = ""
    mail: SendSummary | None = None

    @property
    def problems(self) -> list[str]:
        return self.mail.problems if self.mail is not None else []

    def __str__(self) -> str:
        if self.skipped:
            return f"report {self.period}: skipped ({self.skipped})"
        text = (f"report {self.period} #{self.report_id}: {self.path} ({self.pages} pages, "
                f"{self.size_bytes / 1e6:.2f} MB, rendered in {self.render_s:.1f} s)")
        if self.queued:
            text += f"; queued for {self.queued} recipient(s)"
        if self.mail is not None:
            text += f"; {self.mail}"
        return text


def _has_data(session: Session, p: Period) -> bool:
    """An acquisition dated in the period, or a delivered file refused in it."""
    return (acquisitions.count_acquisitions_in(session, p.start, p.end) > 0
            or bool(acquisitions.all_rejections(session, p.start, p.end)))


def run_report(
    session: Session, settings: Settings, now: datetime, period: str | None = None, send: bool | None = None,
    *, force: bool = False, progress: Callable[..., None] | None = None,
) -> ReportOutcome:
    """Render, archive and (optionally) e-mail the report of ``period``.

    ``send`` None is the daemon's scheduled job: ``period`` ``"weekly"``/``"monthly"`` (default
    ``"monthly"``) is made once (when that period's report already exists, and was queued for
    e-mail if e-mail is configured, nothing happens: a re-run after a restart sends nothing twice)
    and queued for ``report.recipients`` when e-mail is configured. ``send`` True or False is a
    person's command (``monitor report``): a new version every time, e-mailed only with True
    (``--send``); ``weekly``/``monthly`` then only name the period.

    A person's report of a period in which no acquisition is dated and no file was refused is refused (a report of
    nothing is more likely a wrong period than a wish) unless ``force``; the scheduled job renders
    it anyway, saying so on its cover: an empty week is news for the recipients.

    ``progress(done, total, label)`` follows the steps: reading the catalogue, the figures of each
    satellite, the PDF layout (see :mod:`monitor.progress`).

    Raises
    ------
    ReportError
        Bad period, no acquisition in the period (a person's command, without ``force``), or
        ``send`` without recipients or without an SMTP host.
    """
    text = "monthly" if period is None else period
    scheduled = send is None and text.strip() in ("weekly", "monthly")
    p = parse_period(text, now)
    if send and not settings.report.recipients:
        raise ReportError("--send: no recipients configured ([report] recipients in monitor.toml)")
    if send and not settings.smtp.host:
        raise ReportError("--send: e-mail is disabled ([smtp] host is empty in monitor.toml)")
    if not scheduled and not force and not _has_data(session, p):
        raise ReportError(
            f"no data in {p.key} ({p.start:%Y-%m-%d} to {p.end - timedelta(seconds=1):%Y-%m-%d} UTC): no acquisition "
            "is dated and no file was refused in it; check the period, or give --force to render a report of "
            "earlier results only")
    if scheduled and already_made(session, settings, p):
        log.info("report %s already exists; scheduled run does nothing", p.key)
        return ReportOutcome(period=p.key, skipped="already made")
    if scheduled and not settings.compute.workers:  # the render is a unit for the `monitor worker`s
        from monitor.reports.units import enqueue_report

        unit_id = enqueue_report(session, settings, now, p.key)
        session.commit()
        what = f"enqueued for the workers (unit {unit_id})" if unit_id else "already enqueued for the workers"
        log.info("report %s: %s", p.key, what)
        return ReportOutcome(period=p.key, skipped=what)
    return make_report(session, settings, now, p, scheduled=scheduled, send=send, progress=progress)


def already_made(session: Session, settings: Settings, p: Period) -> bool:
    """The scheduled report of ``p`` exists (and was queued for e-mail if e-mail is configured)."""
    mailing = bool(settings.report.recipients) and bool(settings.smtp.host)
    made = outbox.reports_of_period(session, p.key)
    return bool(made) and (not mailing or any(outbox.outbox_of_report(session, r.id) for r in made))  # type: ignore[arg-type]


def make_report(session: Session, settings: Settings, now: datetime, p: Period, *, scheduled: bool,
                send: bool | None, progress: Callable[..., None] | None = None,
                before_write: Callable[[], None] | None = None) -> ReportOutcome:
    """Render the report of ``p``, archive it, record it and queue its e-mails (see :func:`run_report`).

    ``before_write`` is called after the render and before anything is written (the PDF archived,
    its row added), in the transaction that records it: a work unit's fence (it raises when the
    unit's claim was lost, and then nothing is written)."""
    mailing = bool(settings.report.recipients) and bool(settings.smtp.host)
    from monitor.reports.plots import ReportFigures, make_satellite_figures
    from monitor.reports.render import render_report

    def step(done: int, total: int, label: str) -> None:
        if progress is not None:
            progress(done, total, label)

    t0 = time.perf_counter()
    step(0, 1, "reading the catalogue")
    ctx = build_context(session, settings, p, now)
    session.rollback()  # end the read transaction before the long rendering (SQLite writers wait less)
    n = len(ctx.satellites) + 2  # catalogue, one step per satellite's figures, the PDF
    figures = {}
    for i, section in enumerate(ctx.satellites):
        step(1 + i, n, f"figures {section.satellite}")
        figures[section.satellite] = make_satellite_figures(section, (ctx.period_start, ctx.period_end))
    step(n - 1, n, "PDF layout")
    rendered = render_report(ctx, ReportFigures(satellites=figures))
    step(n, n, "done")
    render_s = time.perf_counter() - t0
    if before_write is not None:
        before_write()
    archived = archive_report(settings, f"monitor-report-{p.key}", rendered.pdf,
                              lambda name: summary_text(ctx, name))
    row = outbox.add_report(session, period=p.key, path=archived.stored_path, sha256=archived.sha256,
                            pages=rendered.pages, size_bytes=archived.size_bytes, created_at=now)
    queue = bool(send) or (scheduled and mailing)  # only --send or the scheduled job e-mails
    queued = outbox.queue_outbox(session, row.id, settings.report.recipients, now) if queue else []  # type: ignore[arg-type]
    session.commit()
    outcome = ReportOutcome(period=p.key, report_id=row.id, path=archived.path, sha256=archived.sha256,
                            pages=rendered.pages, size_bytes=archived.size_bytes, render_s=render_s,
                            queued=len(queued))
    log.info("report %s #%s written: %s (%d pages, sha256 %s, %.1f s)", p.key, row.id, archived.path, rendered.pages,
             archived.sha256[:12], render_s)
    if queued:
        outcome.mail = send_pending(session, settings, now)
    return outcome
