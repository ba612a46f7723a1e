"""Report use-case on a real SQLite site with a small simulated campaign, and the e-mail outbox
against a real SMTP server (aiosmtpd on 127.0.0.1)."""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email import policy
from email.parser import BytesParser
from typing import Any

import pypdf
import pytest
from aiosmtpd.controller import Controller
from sqlmodel import Session

from monitor.calibration.service import run_processing
from monitor.catalogue import mtf_results, outbox, star_results
from monitor.catalogue.models import Outbox, Report
from monitor.ingest.service import run_ingest
from monitor.reports.delivery import SENDING_STALE, resend_report, send_pending
from monitor.reports.filters import pm
from monitor.reports.period import ReportError
from monitor.reports.service import run_report
from monitor.settings import Settings, SmtpSettings, load_settings
from monitor.simulate.campaign import simulate_campaigns
from monitor.site import init_site, open_engine
from tests.reports.conftest import RecordingHandler, SmtpServer, free_port

T_INGEST = datetime(2025, 3, 2, 12, 0, tzinfo=UTC)  # campaigns of January and February 2025, then this
NOW = datetime(2025, 3, 3, 6, 0, tzinfo=UTC)


# --------------------------------------------------------------------------- a small campaign


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """PHR1A (stars) + PNEO3 (Moon, geometry), January and February 2025, ingested and processed."""
    site = tmp_path_factory.mktemp("report-site") / "site"
    settings = load_settings(site, env={"MONITOR_INGEST_SETTLE_SECONDS": "0"})
    init_site(settings)
    simulate_campaigns(settings.inbox, start=datetime(2025, 1, 1, tzinfo=UTC), months=2, seed=11,
                       satellites=("PHR1A", "PNEO3"), stars_per_campaign=5, bad_files=True)
    engine = open_engine(settings)
    with Session(engine) as session:
        summary = run_ingest(session, settings, T_INGEST)
        assert summary.ingested and summary.rejected
        run_processing(session, settings, T_INGEST)
    engine.dispose()
    return settings


@pytest.fixture(scope="module")
def monthly(campaign: Settings) -> Any:
    """The February 2025 report, made once for the module."""
    engine = open_engine(campaign)
    with Session(engine) as session:
        outcome = run_report(session, campaign, NOW, "2025-02")
    engine.dispose()
    return outcome


def _session(settings: Settings) -> Session:
    return Session(open_engine(settings), expire_on_commit=False)


def _text(pdf: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    return "\n".join(page.extract_text() for page in reader.pages)


@pytest.mark.slow
def test_report_pdf_contents_and_archive_row(campaign: Settings, monthly: Any) -> None:
    pdf = monthly.path.read_bytes()
    assert monthly.path == campaign.reports_dir / "monitor-report-2025-02.pdf"
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    assert monthly.pages == len(reader.pages) >= 6  # WeasyPrint's page count, read back with pypdf
    text = _text(pdf)
    for heading in ("February 2025", "Summary", "PHR1A (PHR)", "PHR1B (PHR)", "PNEO3 (PNEO)", "PNEO4 (PNEO)",
                    "absolute calibration A_k", "star traces", "MTF", "geometry",
                    "rejected inputs", "PNEO3 / PNEO4 inter-calibration", "Appendix: provenance"):
        assert heading in text, heading
    # empty satellites and sections say so plainly
    assert "No data: no acquisition or result for PHR1B in this period." in text
    assert "No data: no PNEO3/PNEO4 pair of Moon results" in text
    # the latest PHR1A P starpool A_k of the catalogue is printed as in the summary table
    with _session(campaign) as session:
        hist = star_results.latest_starpool_results(session, "PHR1A", "P", since=datetime(2020, 1, 1, tzinfo=UTC),
                                                    until=datetime(2025, 3, 1, tzinfo=UTC))
        assert len(hist) == 2
        flat = text.replace("\u00a0", " ")
        assert pm(hist[-1][0].a, hist[-1][0].a_sigma).replace("\u00a0", " ") in flat  # value ± sigma, one format
        # MTF: parametric fit and the stacked ePSF of the latest starpool side by side, and which is reported
        assert "non-parametric stacked ePSF" in text and "reported" in text
        along = mtf_results.latest_mtf_history(session, "PHR1A", "P", "along", until=datetime(2025, 3, 1, tzinfo=UTC))
        epsf = mtf_results.latest_mtf_history(session, "PHR1A", "P", "along", "epsf",
                                              until=datetime(2025, 3, 1, tzinfo=UTC))
        assert along and epsf
        assert pm(along[-1][0].mtf_nyquist, along[-1][0].mtf_nyquist_sigma).replace("\u00a0", " ") in flat
        assert pm(epsf[-1][0].mtf_nyquist, epsf[-1][0].mtf_nyquist_sigma).replace("\u00a0", " ") in flat
        # the files refused at ingest (received in March) are not part of February ...
        report = session.get(Report, monthly.report_id)
        assert report is not None
        assert report.period == "2025-02"
        assert report.sha256 == hashlib.sha256(pdf).hexdigest()
        assert report.pages == monthly.pages and report.size_bytes == len(pdf)
        assert report.path == "reports/monitor-report-2025-02.pdf"
        assert outbox.outbox_of_report(session, report.id) == []  # not sent, no recipients
    # ... and the e-mail body summarises the same numbers
    body = monthly.path.with_suffix(".txt").read_text()
    assert "February 2025" in body and "PHR1A P" in body


@pytest.mark.slow
def test_new_version_never_overwrites_and_scheduled_report_made_once(campaign: Settings, monthly: Any) -> None:
    first = monthly.path.read_bytes()
    with _session(campaign) as session:
        # the scheduled monthly report of NOW is February 2025: it exists already -> nothing happens
        skipped = run_report(session, campaign, NOW, "monthly")
        assert skipped.skipped and skipped.report_id is None
        again = run_report(session, campaign, NOW + timedelta(hours=1), "2025-03")  # March: rejected files
        text = _text(again.path.read_bytes())
        assert "truncated" in text and "not-fits" in text  # rejected inputs with reasons
        v2 = run_report(session, campaign, NOW + timedelta(hours=2), "2025-03")
    assert again.path.name == "monitor-report-2025-03.pdf"
    assert v2.path.name == "monitor-report-2025-03-v2.pdf"
    assert monthly.path.read_bytes() == first
    assert again.report_id != v2.report_id


# --------------------------------------------------------------------------- e-mail outbox


def _mail_settings(settings: Settings, port: int, recipients: tuple[str, ...] = ("ops@example.org",),
                   password: str = "") -> Settings:
    smtp = SmtpSettings(host="127.0.0.1", port=port, sender="monitor@example.org", timeout_s=5.0, password=password,
                        security="none")
    return replace(settings, smtp=smtp, report=replace(settings.report, recipients=recipients))


def _archived_copy(session: Session, monthly: Any, created: datetime) -> int:
    """A report row for the module's PDF (each e-mail test gets its own report and outbox rows)."""
    pdf = monthly.path.read_bytes()
    row = outbox.add_report(session, period="2025-02", path=f"reports/{monthly.path.name}",
                        sha256=hashlib.sha256(pdf).hexdigest(), pages=monthly.pages, size_bytes=len(pdf),
                        created_at=created)
    session.commit()
    assert row.id is not None
    return row.id


def _outbox(session: Session, report_id: int) -> list[Outbox]:
    session.expire_all()
    return outbox.outbox_of_report(session, report_id)


@pytest.mark.slow
def test_send_delivers_the_pdf_once_per_recipient(campaign: Settings, monthly: Any, smtp_server: SmtpServer) -> None:
    settings = _mail_settings(campaign, smtp_server.port, ("ops@example.org", "cal@example.org"))
    with _session(settings) as session:
        outcome = run_report(session, settings, NOW, "2025-W09", send=True)
        assert outcome.mail is not None and outcome.mail.sent == 2
        rows = _outbox(session, outcome.report_id)
        assert [(r.recipient, r.status, r.attempts) for r in rows] == [
            ("ops@example.org", "sent", 1), ("cal@example.org", "sent", 1)]
        # a later retry run sends nothing more
        assert send_pending(session, settings, NOW + timedelta(days=1)).sent == 0
    pdf = outcome.path.read_bytes()
    assert len(smtp_server.handler.envelopes) == 2
    for env in smtp_server.handler.envelopes:
        msg = BytesParser(policy=policy.default).parsebytes(env.original_content)
        [att] = list(msg.iter_attachments())
        assert att.get_filename() == outcome.path.name
        assert att.get_content() == pdf  # attachment bytes intact
        assert "Week 2025-W09" in msg.get_body(preferencelist=("plain",)).get_content()
        assert msg["Subject"] == "[monitor] calibration report 2025-W09"


def test_send_without_recipients_is_refused(campaign: Settings) -> None:
    with _session(campaign) as session, pytest.raises(ReportError, match="no recipients"):
        run_report(session, campaign, NOW, "2025-02", send=True)


@pytest.mark.slow
def test_server_down_then_up_retries_with_backoff(campaign: Settings, monthly: Any,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()  # nothing listens here yet
    settings = _mail_settings(campaign, port, password="pa55-secret-word")
    caplog.set_level(logging.DEBUG)
    with _session(settings) as session:
        report_id = _archived_copy(session, monthly, NOW)
        outbox.queue_outbox(session, report_id, settings.report.recipients, NOW)
        session.commit()
        first = send_pending(session, settings, NOW)
        assert (first.sent, first.retrying) == (0, 1)
        [row] = _outbox(session, report_id)
        assert (row.status, row.attempts, row.next_attempt_at) == ("queued", 1, NOW + timedelta(minutes=5))
        assert "cannot send via 127.0.0.1" in row.last_error
        # not due yet: no attempt
        assert send_pending(session, settings, NOW + timedelta(minutes=4)).retrying == 0
        assert _outbox(session, report_id)[0].attempts == 1
        # still down at the second attempt: the delay doubles
        send_pending(session, settings, NOW + timedelta(minutes=5))
        [row] = _outbox(session, report_id)
        assert (row.attempts, row.next_attempt_at) == (2, NOW + timedelta(minutes=15))
        # the server comes up on that port
        for server in _serve_on(port):
            done = send_pending(session, settings, NOW + timedelta(minutes=16))
            assert done.sent == 1
            [row] = _outbox(session, report_id)
            assert (row.status, row.attempts, row.sent_at) == ("sent", 3, NOW + timedelta(minutes=16))
            assert send_pending(session, settings, NOW + timedelta(hours=5)).sent == 0
            assert len(server.handler.envelopes) == 1
    assert "pa55-secret-word" not in caplog.text
    assert "pa55-secret-word" not in row.last_error


def _serve_on(port: int) -> Iterator[SmtpServer]:
    """A real SMTP server started on a given (until now closed) port."""
    handler = RecordingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=port, ready_timeout=10.0)
    controller.start()
    try:
        yield SmtpServer("127.0.0.1", port, handler)
    finally:
        controller.stop()


@pytest.mark.slow
def test_no_duplicate_after_a_crash_mid_send(campaign: Settings, monthly: Any, smtp_server: SmtpServer) -> None:
    """A crash mid-send (row left 'sending'; a real SIGKILL is in test_interrupted_send.py): the row is
    retried automatically, once stale, with the same Message-ID; --resend never sends a confirmed row."""
    settings = _mail_settings(campaign, smtp_server.port, ("ops@example.org", "cal@example.org"))
    with _session(settings) as session:
        report_id = _archived_copy(session, monthly, NOW)
        [ops, cal] = outbox.queue_outbox(session, report_id, settings.report.recipients, NOW)
        session.commit()
        assert ops.id is not None and cal.id is not None
        claimed = outbox.claim_outbox(session, ops.id, NOW, "<crashed-attempt@example.org>")
        session.commit()
        assert claimed is not None  # "sending" committed with its Message-ID, then SIGKILL: did the server get it?
    # restart: a fresh engine and session, as a new daemon would have
    with _session(settings) as session:
        soon = send_pending(session, settings, NOW + timedelta(minutes=1))
        assert (soon.sent, soon.interrupted) == (1, 0)  # cal is sent; ops is left alone (maybe in flight)
        later = send_pending(session, settings, NOW + SENDING_STALE + timedelta(minutes=1))
        assert (later.sent, later.interrupted) == (1, 1)  # ops: retried automatically
        by_rcpt = {r.recipient: r for r in _outbox(session, report_id)}
        assert by_rcpt["cal@example.org"].status == "sent"
        assert (by_rcpt["ops@example.org"].status, by_rcpt["ops@example.org"].attempts) == ("sent", 2)
        assert "same Message-ID <crashed-attempt@example.org>" in by_rcpt["ops@example.org"].last_error
        ops_copy = BytesParser(policy=policy.default).parsebytes(smtp_server.handler.envelopes[-1].original_content)
        assert ops_copy["Message-ID"] == "<crashed-attempt@example.org>"
        assert [e.rcpt_tos for e in smtp_server.handler.envelopes] == [["cal@example.org"], ["ops@example.org"]]
        # nothing confirmed is ever resent, automatically or by --resend
        assert send_pending(session, settings, NOW + timedelta(days=3)).sent == 0
        n, mail = resend_report(session, settings, NOW + timedelta(days=3), report_id)
        assert (n, mail.sent) == (0, 0)
    assert sorted(r for e in smtp_server.handler.envelopes for r in e.rcpt_tos) == [
        "cal@example.org", "ops@example.org"]


def test_permanent_refusal_fails_without_retry(campaign: Settings, monthly: Any, smtp_server: SmtpServer) -> None:
    smtp_server.handler.refuse.add("nobody@example.org")
    settings = _mail_settings(campaign, smtp_server.port, ("nobody@example.org",))
    with _session(settings) as session:
        report_id = _archived_copy(session, monthly, NOW)
        outbox.queue_outbox(session, report_id, settings.report.recipients, NOW)
        session.commit()
        summary = send_pending(session, settings, NOW)
        assert (summary.sent, summary.retrying, summary.failed) == (0, 0, 1)
        [row] = _outbox(session, report_id)
        assert row.status == "failed" and "refused permanently" in row.last_error


def test_period_without_data_is_refused_unless_forced(campaign: Settings) -> None:
    """June 2025 (after the campaign): nothing dated in it, nothing refused in it -> a clear refusal,
    no PDF; --force renders a report whose cover says so."""
    with _session(campaign) as session:
        before = len(list((campaign.site / "reports").glob("*.pdf")))
        with pytest.raises(ReportError, match=r"no data in 2025-06 \(2025-06-01 to 2025-06-30 UTC\).*--force"):
            run_report(session, campaign, NOW, "2025-06")
        assert len(list((campaign.site / "reports").glob("*.pdf"))) == before
        forced = run_report(session, campaign, NOW, "2025-06", force=True)
        assert forced.path is not None
        text = _text(forced.path.read_bytes())
        assert "No acquisition is dated in this period" in text
        assert "(earlier)" in text  # the carried-over results are marked
