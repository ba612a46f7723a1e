"""monitor.reports.mail against a real SMTP server (aiosmtpd on 127.0.0.1)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from email import policy
from email.parser import BytesParser

import pytest

from monitor.reports.mail import MailDeliveryError, build_report_message, next_retry_delay, send_message
from monitor.settings import SmtpSettings
from tests.reports.conftest import SmtpServer, TlsFiles, free_port

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
    send_message(SmtpSettings(host=smtp_server.host, port=smtp_server.port, security="none"), _message())

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
    good = SmtpSettings(host=smtp_auth_server.host, port=smtp_auth_server.port, user="monitor", password="s3cret",
                        security="none", allow_plaintext_auth=True)
    send_message(good, _message())
    assert len(smtp_auth_server.handler.envelopes) == 1

    bad = replace(good, password="wrong")
    with pytest.raises(MailDeliveryError, match="SMTPAuthenticationError"):
        send_message(bad, _message())
    assert len(smtp_auth_server.handler.envelopes) == 1


# --------------------------------------------------------------------------- TLS and the login


def test_default_is_starttls_and_delivers_over_tls(smtp_tls_server: SmtpServer, tls_files: TlsFiles) -> None:
    smtp = SmtpSettings(host=smtp_tls_server.host, port=smtp_tls_server.port, user="monitor", password="s3cret",
                        ca_file=str(tls_files.cert))
    assert smtp.security == "starttls"  # the default
    send_message(smtp, _message())
    [env] = smtp_tls_server.handler.envelopes
    assert smtp_tls_server.handler.tls == [True]  # the server saw the message inside TLS
    assert len(smtp_tls_server.handler.auth_commands) == 1  # the login happened, after STARTTLS
    received = BytesParser(policy=policy.default).parsebytes(env.original_content)
    assert received["Message-ID"] == "<report-2026-11@example.org>"


def test_implicit_tls_delivers_with_login(smtp_ssl_server: SmtpServer, tls_files: TlsFiles) -> None:
    smtp = SmtpSettings(host=smtp_ssl_server.host, port=smtp_ssl_server.port, user="monitor", password="s3cret",
                        security="ssl", ca_file=str(tls_files.cert), timeout_s=5.0)
    send_message(smtp, _message())
    assert smtp_ssl_server.handler.tls == [True] and len(smtp_ssl_server.handler.auth_commands) == 1


def test_starttls_verifies_the_certificate(smtp_tls_server: SmtpServer) -> None:
    # without ca_file the system store does not know the self-signed certificate: no delivery, no login
    smtp = SmtpSettings(host=smtp_tls_server.host, port=smtp_tls_server.port, user="monitor", password="s3cret",
                        timeout_s=5.0)
    with pytest.raises(MailDeliveryError, match="CERTIFICATE_VERIFY_FAILED"):
        send_message(smtp, _message())
    assert smtp_tls_server.handler.envelopes == [] and smtp_tls_server.handler.auth_commands == []


def test_starttls_refuses_a_server_without_it(smtp_auth_server: SmtpServer) -> None:
    smtp = SmtpSettings(host=smtp_auth_server.host, port=smtp_auth_server.port, user="monitor", password="s3cret",
                        timeout_s=5.0)
    with pytest.raises(MailDeliveryError, match="does not offer STARTTLS"):
        send_message(smtp, _message())
    assert smtp_auth_server.handler.envelopes == [] and smtp_auth_server.handler.auth_commands == []


def test_login_without_tls_is_refused_before_anything_is_sent(smtp_auth_server: SmtpServer) -> None:
    smtp = SmtpSettings(host=smtp_auth_server.host, port=smtp_auth_server.port, user="monitor",
                        password="s3cret", security="none")
    with pytest.raises(MailDeliveryError) as info:
        send_message(smtp, _message())
    text = str(info.value)
    assert "without TLS" in text and "allow_plaintext_auth" in text and "\n" not in text
    assert "s3cret" not in text
    # the server side: no AUTH command ever arrived (no password on the wire), no message
    assert smtp_auth_server.handler.auth_commands == []
    assert smtp_auth_server.handler.envelopes == []


def test_login_without_tls_when_the_site_allows_it(smtp_auth_server: SmtpServer) -> None:
    smtp = SmtpSettings(host=smtp_auth_server.host, port=smtp_auth_server.port, user="monitor",
                        password="s3cret", security="none", allow_plaintext_auth=True)
    send_message(smtp, _message())
    assert len(smtp_auth_server.handler.auth_commands) == 1
    assert smtp_auth_server.handler.tls == [False]


def test_plain_relay_without_login_still_works(smtp_server: SmtpServer) -> None:
    send_message(SmtpSettings(host=smtp_server.host, port=smtp_server.port, security="none"), _message())
    assert len(smtp_server.handler.envelopes) == 1 and smtp_server.handler.auth_commands == []


def test_reply_to_data_lost_is_uncertain(smtp_server: SmtpServer) -> None:
    smtp_server.handler.drop_after_data = True  # the message arrives; the connection drops before the reply
    with pytest.raises(MailDeliveryError, match="the server may have it") as info:
        send_message(SmtpSettings(host=smtp_server.host, port=smtp_server.port, security="none", timeout_s=5.0),
                     _message())
    assert info.value.uncertain
    assert len(smtp_server.handler.data_received) == 1


def test_refusal_before_data_is_not_uncertain(smtp_server: SmtpServer) -> None:
    smtp_server.handler.refuse = {"ops@example.org"}
    with pytest.raises(MailDeliveryError) as info:
        send_message(SmtpSettings(host=smtp_server.host, port=smtp_server.port, security="none"),
                     _message(("ops@example.org",)))
    assert not info.value.uncertain


def test_partial_recipient_refusal_raises(smtp_server: SmtpServer) -> None:
    smtp_server.handler.refuse = {"cal@example.org"}
    with pytest.raises(MailDeliveryError) as info:
        send_message(SmtpSettings(host=smtp_server.host, port=smtp_server.port, security="none"), _message())
    assert info.value.partially_delivered
    assert set(info.value.refused) == {"cal@example.org"}
    [env] = smtp_server.handler.envelopes
    assert env.rcpt_tos == ["ops@example.org"]


def test_all_recipients_refused(smtp_server: SmtpServer) -> None:
    smtp_server.handler.refuse = {"ops@example.org"}
    with pytest.raises(MailDeliveryError, match="all recipients refused") as info:
        send_message(SmtpSettings(host=smtp_server.host, port=smtp_server.port, security="none"),
                     _message(("ops@example.org",)))
    assert not info.value.partially_delivered
    assert smtp_server.handler.envelopes == []


def test_server_down_raises_delivery_error() -> None:
    port = free_port()  # nothing listens there
    with pytest.raises(MailDeliveryError, match="cannot send") as info:
        send_message(SmtpSettings(host="127.0.0.1", port=port, timeout_s=5.0, security="none"), _message())
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
