"""Report e-mail: build an ``EmailMessage`` with the PDF attached and send it with smtplib.

This module is only the sending primitive. The outbox (which reports are unsent, how many
attempts, when to retry) lives in the catalogue; :func:`next_retry_delay` is the pure backoff rule
the retry job uses. Nothing here reads the environment: the SMTP password arrives in
:class:`monitor.settings.SmtpSettings`, filled from ``MONITOR_SMTP_PASSWORD`` at start-up.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Mapping, Sequence
from datetime import timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from monitor.settings import SmtpSettings

__all__ = [
    "MailDeliveryError",
    "build_report_message",
    "build_text_message",
    "send_message",
    "domain_of",
    "next_retry_delay",
    "RETRY_BASE",
    "RETRY_CAP",
]

log = logging.getLogger(__name__)

RETRY_BASE = timedelta(minutes=5)  # delay after the first failed attempt
RETRY_CAP = timedelta(hours=12)  # never wait longer than this between attempts


class MailDeliveryError(RuntimeError):
    """The message was not delivered to every recipient.

    Attributes
    ----------
    refused
        Recipient -> (SMTP code, server message) for the recipients the server refused.
    partially_delivered
        True when the server accepted the message for some recipients (a blind retry would
        send it to them again; retry only ``refused`` or record the partial delivery).
    uncertain
        True when the whole message was sent after ``DATA`` but the server's reply never came
        (connection dropped, timeout): the server may have it. A retry must keep the Message-ID.
    """

    def __init__(
        self,
        message: str,
        *,
        refused: Mapping[str, tuple[int, bytes]] | None = None,
        partially_delivered: bool = False,
        uncertain: bool = False,
    ) -> None:
        super().__init__(message)
        self.refused: dict[str, tuple[int, bytes]] = dict(refused or {})
        self.partially_delivered = partially_delivered
        self.uncertain = uncertain


class _DataTracking(smtplib.SMTP):
    """An SMTP client that knows whether the message went out after ``DATA`` without a reply."""

    data_sent = False  # the final "<CRLF>.<CRLF>" of the message was written to the socket
    data_replied = False  # ... and the server answered it (250 or an error code)
    _in_data = False

    def data(self, msg: Any) -> tuple[int, bytes]:
        self._in_data = True
        try:
            reply = super().data(msg)
        finally:
            self._in_data = False
        self.data_replied = True
        return reply

    def send(self, s: Any) -> None:
        super().send(s)
        if self._in_data and isinstance(s, bytes) and s.endswith(b"\r\n.\r\n"):
            self.data_sent = True


class _DataTrackingSSL(_DataTracking, smtplib.SMTP_SSL):
    pass


def build_text_message(
    *,
    sender: str,
    recipients: Sequence[str],
    subject: str,
    body_text: str,
    date: str | None = None,
    message_id: str | None = None,
) -> EmailMessage:
    """A plain-text UTF-8 message (the alert and recovery e-mails of incidents).

    Parameters
    ----------
    sender, recipients
        ``From`` and ``To`` addresses (at least one recipient).
    subject, body_text
        Subject line and text body.
    date, message_id
        ``Date`` and ``Message-ID`` headers; default now and a fresh id (keep the same id across
        retries so that a receiver can recognise a repeat).

    Raises
    ------
    ValueError
        No recipient, or a header value with a line break.
    """
    if not recipients:
        raise ValueError("a message needs at least one recipient")
    for value in (sender, subject, *recipients):
        if "\n" in value or "\r" in value:
            raise ValueError(f"line break in an e-mail header value: {value!r}")
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Subject"] = subject
    msg["Date"] = date or formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = message_id or make_msgid(domain=domain_of(sender))
    msg.set_content(body_text)
    return msg


def build_report_message(
    *,
    pdf_bytes: bytes,
    pdf_filename: str,
    sender: str,
    recipients: Sequence[str],
    subject: str,
    body_text: str,
    date: str | None = None,
    message_id: str | None = None,
) -> EmailMessage:
    """The message of :func:`build_text_message` (same headers and body parameters; set ``date``
    and ``message_id`` for reproducible bytes in tests) with the report PDF attached.

    Parameters
    ----------
    pdf_bytes, pdf_filename
        The attachment, sent as ``application/pdf`` with this file name.

    Raises
    ------
    ValueError
        No recipient, a header value with a line break, or an empty PDF.
    """
    if not recipients:
        raise ValueError("a report message needs at least one recipient")
    if not pdf_bytes:
        raise ValueError("empty PDF attachment")
    if "\n" in pdf_filename or "\r" in pdf_filename:
        raise ValueError(f"line break in an e-mail header value: {pdf_filename!r}")
    msg = build_text_message(sender=sender, recipients=recipients, subject=subject, body_text=body_text, date=date,
                             message_id=message_id)
    msg.add_attachment(pdf_bytes, maintype="application", subtype="pdf", filename=pdf_filename)
    return msg


def domain_of(address: str) -> str:
    """The domain of an e-mail address, ``localhost`` when it has none (for Message-IDs)."""
    try:
        domain = Address(addr_spec=address).domain
    except (ValueError, IndexError):
        domain = ""
    return domain or "localhost"


def send_message(smtp: SmtpSettings, msg: EmailMessage) -> None:
    """Send ``msg`` through the configured SMTP server.

    ``smtp.security``: ``"starttls"`` (the default: upgrade the connection, refuse a server that
    does not offer it), ``"ssl"`` (implicit TLS, usually port 465) or ``"none"`` (plain SMTP, for
    a local relay). TLS verifies the certificate and host name against ``smtp.ca_file`` or the
    system CA store. Logs in when ``smtp.user`` is set, with ``smtp.password``, but never over a
    connection without TLS unless ``smtp.allow_plaintext_auth``: the refusal comes before any
    connection, so no credential is ever on the wire. Recipients are taken from the message's
    To/Cc/Bcc headers.

    Raises
    ------
    MailDeliveryError
        E-mail is disabled (empty host), a login without TLS is refused, the server cannot be
        reached, TLS or login fails, the server refuses the sender, the data or every recipient,
        or refuses some recipients (``partially_delivered=True``). ``uncertain=True`` when the
        message was sent after ``DATA`` and the reply never came. The original exception is chained.
    """
    if not smtp.host:
        raise MailDeliveryError("e-mail is disabled: smtp.host is empty")
    if smtp.user and smtp.security == "none" and not smtp.allow_plaintext_auth:
        raise MailDeliveryError(
            f"refused to send the SMTP login of {smtp.user!r} to {smtp.host}:{smtp.port} without TLS: set "
            '[smtp] security = "starttls" or "ssl" (or, knowingly, allow_plaintext_auth = true)'
        )
    client: _DataTracking | None = None
    try:
        context = ssl.create_default_context(cafile=smtp.ca_file or None)
        if smtp.security == "ssl":
            client = _DataTrackingSSL(smtp.host, smtp.port, timeout=smtp.timeout_s, context=context)
        elif smtp.security in ("starttls", "none"):
            client = _DataTracking(smtp.host, smtp.port, timeout=smtp.timeout_s)
        else:
            raise MailDeliveryError(f"unknown smtp.security {smtp.security!r}")
        client.ehlo()
        if smtp.security == "starttls":
            if not client.has_extn("starttls"):
                raise MailDeliveryError(
                    f"{smtp.host}:{smtp.port} does not offer STARTTLS: use [smtp] security = \"ssl\" for implicit "
                    'TLS, or security = "none" for a plain relay without login'
                )
            client.starttls(context=context)
            client.ehlo()
        if smtp.user:
            client.login(smtp.user, smtp.password)
        refused = client.send_message(msg)
    except smtplib.SMTPRecipientsRefused as exc:
        _close(client)
        raise MailDeliveryError(
            f"all recipients refused by {smtp.host}:{smtp.port}: {_fmt_refused(exc.recipients)}",
            refused=exc.recipients,
        ) from exc
    except MailDeliveryError:
        _close(client)
        raise
    except (smtplib.SMTPException, OSError) as exc:  # OSError covers refused connections, timeouts, TLS
        _close(client)
        uncertain = client is not None and client.data_sent and not client.data_replied
        raise MailDeliveryError(
            f"cannot send via {smtp.host}:{smtp.port}: {type(exc).__name__}: {exc}"
            + (" (after the whole message was sent: the server may have it)" if uncertain else ""),
            uncertain=uncertain,
        ) from exc
    _quit(client)  # delivered (250 to DATA): a failing QUIT changes nothing
    if refused:
        log.warning("message %s: recipients refused: %s", msg.get("Message-ID"), _fmt_refused(refused))
        raise MailDeliveryError(
            f"some recipients refused by {smtp.host}:{smtp.port}: {_fmt_refused(refused)}",
            refused=refused,
            partially_delivered=True,
        )
    log.info("message %s sent to %s via %s:%s", msg.get("Message-ID"), msg.get("To"), smtp.host, smtp.port)


def _close(client: smtplib.SMTP | None) -> None:
    if client is not None:
        client.close()


def _quit(client: smtplib.SMTP) -> None:
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        client.close()


def _fmt_refused(refused: Mapping[str, tuple[int, bytes]]) -> str:
    return "; ".join(
        f"{rcpt} ({code} {text.decode(errors='replace') if isinstance(text, bytes) else text})"
        for rcpt, (code, text) in sorted(refused.items())
    )


def next_retry_delay(attempts: int) -> timedelta:
    """Delay before the next send attempt after ``attempts`` failed ones.

    Exponential backoff without jitter (one daemon, one outbox: no thundering herd):
    0 -> 0, 1 -> 5 min, 2 -> 10 min, 3 -> 20 min, ... capped at 12 h.
    """
    if attempts <= 0:
        return timedelta(0)
    # cap the exponent first so huge attempt counts cannot overflow
    exponent = min(attempts - 1, 16)
    return min(RETRY_BASE * (1 << exponent), RETRY_CAP)
