"""monitor.reports.mail against a real SMTP server (aiosmtpd on 127.0.0.1)."""

from __future__ import annotations

from datetime import timedelta
from email import policy
from email.parser import BytesParser

import pytest

from monitor.reports.mail import MailDeliveryError, build_report_message, next_retry_delay, send_message
from monitor.settings import SmtpSettings
from tests.reports.conftest import SmtpServer, free_port

PDF = b"%PDF-1.7\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"  # binary content, exact bytes checked


def _message(recipients: tuple[str, ...] = ("ops@example.org", "cal@example.org")):
    return build_report_message(
        sender="monitor@example.org",
        recipients=recipients,
        subject="Pléiades calibration report — November 2026",
        body_text="Monthly report attached.\nAlerts: 1",
        pdf_bytes=PDF,
        pdf_filename="monitor_2026-11.pdf",
        date="Sun, 01 Nov 2026 06:00:00 GMT",
        message_id="<report-2026-11@example.org>",
    )


def test_message_is_received_with_exact_attachment(smtp_server: SmtpServer) -> None:
    send_message(SmtpSettings(host=smtp_server.host, port=smtp_server.port), _message())

    [env] = smtp_server.handler.envelopes
    assert env.mail_from == "monitor@example.org"
    assert sorted(env.rcpt_tos) == ["cal@example.org", "ops@example.org"]
    received = BytesParser(policy=policy.default).parsebytes(env.original_content)
    assert received["Subject"] == "Pléiades calibration report — November 2026"
    assert received["Message-ID"] == "<report-2026-11@example.org>"
    assert "Alerts: 1" in received.get_body(preferencelist=("plain",)).get_content()
    [att] = list(received.iter_attachments())
    assert att.get_content_type() == "application/pdf"
    assert att.get_filename() == "monitor_2026-11.pdf"
    assert att.get_content() == PDF


def test_login_with_password_from_settings(smtp_auth_server: SmtpServer) -> None:
    good = SmtpSettings(host=smtp_auth_server.host, port=smtp_auth_server.port, user="monitor", password="s3cret")
    send_message(good, _message())
    assert len(smtp_auth_server.handler.envelopes) == 1

    bad = SmtpSettings(host=smtp_auth_server.host, port=smtp_auth_server.port, user="monitor", password="wrong")
    with pytest.raises(MailDeliveryError, match="SMTPAuthenticationError"):
        send_message(bad, _message())
    assert len(smtp_auth_server.handler.envelopes) == 1


def test_partial_recipient_refusal_raises(smtp_server: SmtpServer) -> None:
    smtp_server.handler.refuse = {"cal@example.org"}
    with pytest.raises(MailDeliveryError) as info:
        send_message(SmtpSettings(host=smtp_server.host, port=smtp_server.port), _message())
    assert info.value.partially_delivered
    assert set(info.value.refused) == {"cal@example.org"}
    [env] = smtp_server.handler.envelopes
    assert env.rcpt_tos == ["ops@example.org"]


def test_all_recipients_refused(smtp_server: SmtpServer) -> None:
    smtp_server.handler.refuse = {"ops@example.org"}
    with pytest.raises(MailDeliveryError, match="all recipients refused") as info:
        send_message(SmtpSettings(host=smtp_server.host, port=smtp_server.port), _message(("ops@example.org",)))
    assert not info.value.partially_delivered
    assert smtp_server.handler.envelopes == []


def test_server_down_raises_delivery_error() -> None:
    port = free_port()  # nothing listens there
    with pytest.raises(MailDeliveryError, match="cannot send") as info:
        send_message(SmtpSettings(host="127.0.0.1", port=port, timeout_s=5.0), _message())
    assert isinstance(info.value.__cause__, OSError)


def test_disabled_email_raises() -> None:
    with pytest.raises(MailDeliveryError, match="disabled"):
        send_message(SmtpSettings(host=""), _message())


def test_header_injection_refused() -> None:
    with pytest.raises(ValueError, match="line break"):
        build_report_message(
            sender="a@b.c",
            recipients=["x@y.z"],
            subject="hi\r\nBcc: evil@example.org",
            body_text="",
            pdf_bytes=PDF,
            pdf_filename="r.pdf",
        )


@pytest.mark.parametrize(
    ("attempts", "delay"),
    [
        (0, timedelta(0)),
        (1, timedelta(minutes=5)),
        (2, timedelta(minutes=10)),
        (3, timedelta(minutes=20)),
        (8, timedelta(minutes=640)),
        (9, timedelta(hours=12)),
        (10_000, timedelta(hours=12)),
    ],
)
def test_next_retry_delay(attempts: int, delay: timedelta) -> None:
    assert next_retry_delay(attempts) == delay
