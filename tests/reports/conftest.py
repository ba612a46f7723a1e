"""Fixtures of the report tests: a real SMTP server (aiosmtpd) and fabricated report contexts."""

from __future__ import annotations

import asyncio
import shutil
import socket
import ssl
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.benchmark_scripts import load_benchmark


@pytest.fixture(scope="session")
def fabricate() -> Any:
    """``fabricate_context(**kwargs)`` from benchmarks/report.py."""
    return load_benchmark("report").fabricate_context  # benchmarks/report.py: the one context fabricator


@pytest.fixture(scope="session")
def small_context(fabricate: Any) -> Any:
    """PHR1A and PNEO3 with data (small), PHR1B present but empty."""
    return fabricate(months=4, n_stars=4, windows=(2, 5, 12), satellites=("PHR1A", "PHR1B", "PNEO3"), empty=("PHR1B",))


# --------------------------------------------------------------------------- SMTP server


@dataclass
class RecordingHandler:
    """aiosmtpd handler that keeps every envelope it accepts."""

    envelopes: list[Envelope] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)  # recipients answered with 550
    auth_commands: list[str] = field(default_factory=list)  # every AUTH command received, as sent
    tls: list[bool] = field(default_factory=list)  # per accepted message: was the session over TLS
    data_received: list[bytes] = field(default_factory=list)  # every DATA received, answered or not
    stall_data_s: float = 0.0  # hold the reply to DATA this long (the client times out or is killed)
    drop_after_data: bool = False  # close the connection after receiving DATA, without a reply

    async def handle_RCPT(
        self, server: Any, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        self.data_received.append(bytes(envelope.original_content or b""))
        if self.drop_after_data:  # the message is here; the reply never comes
            server.transport.close()
            return "421 4.3.0 dropped"
        if self.stall_data_s:
            await asyncio.sleep(self.stall_data_s)
            return "421 4.3.0 stalled"
        self.envelopes.append(envelope)
        self.tls.append(session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None)
        return "250 Message accepted for delivery"


class RecordingSMTP(SMTP):
    """aiosmtpd's server, also recording every AUTH command (the client's login attempts)."""

    async def smtp_AUTH(self, arg: str) -> None:
        self.event_handler.auth_commands.append(arg)
        await super().smtp_AUTH(arg)


class RecordingController(Controller):
    def factory(self) -> SMTP:
        return RecordingSMTP(self.handler, **self.SMTP_kwargs)


@dataclass
class SmtpServer:
    host: str
    port: int
    handler: RecordingHandler


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _authenticator(server: Any, session: Session, envelope: Envelope, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"monitor" and auth_data.password == b"s3cret"
    return AuthResult(success=ok, handled=False)  # handled=False: the server answers 535 itself


def _serve(**kwargs: Any) -> Iterator[SmtpServer]:
    handler = RecordingHandler()
    port = free_port()
    controller = RecordingController(handler, hostname="127.0.0.1", port=port, ready_timeout=10.0, **kwargs)
    try:
        controller.start()
    except Exception:
        controller.stop()
        raise
    try:
        yield SmtpServer("127.0.0.1", port, handler)
    finally:
        controller.stop()


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A real SMTP server on 127.0.0.1, no authentication."""
    yield from _serve()


@pytest.fixture
def smtp_auth_server() -> Iterator[SmtpServer]:
    """A real SMTP server offering AUTH (user monitor / s3cret) on a plain loopback connection.

    ``auth_required=True`` would make aiosmtpd warn (UserWarning) for every connection inside its
    server thread, which the project's warnings-as-errors setting turns into a dropped connection.
    """
    yield from _serve(authenticator=_authenticator, auth_require_tls=False)


@dataclass(frozen=True)
class TlsFiles:
    cert: Path  # self-signed certificate of 127.0.0.1 and localhost (its own CA): the client's ca_file
    key: Path


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A self-signed certificate (its own CA) for 127.0.0.1 and localhost, made by the ``openssl``
    command line for this test session."""
    d = tmp_path_factory.mktemp("tls")
    files = TlsFiles(d / "cert.pem", d / "key.pem")
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail("the openssl command is needed to make the test certificate")
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(files.key), "-out", str(files.cert), "-days", "1", "-subj", "/CN=monitor test SMTP",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-addext", "basicConstraints=critical,CA:TRUE"],
        check=True, capture_output=True, timeout=60,
    )
    return files


@pytest.fixture
def smtp_tls_server(tls_files: TlsFiles) -> Iterator[SmtpServer]:
    """A real SMTP server offering STARTTLS (required before MAIL and AUTH), with AUTH monitor / s3cret."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls_files.cert, tls_files.key)
    yield from _serve(tls_context=context, require_starttls=True, authenticator=_authenticator,
                      auth_require_tls=True)


@pytest.fixture
def smtp_ssl_server(tls_files: TlsFiles) -> Iterator[SmtpServer]:
    """A real SMTP server with implicit TLS (as on port 465), with AUTH monitor / s3cret."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls_files.cert, tls_files.key)
    # aiosmtpd's auth_require_tls only knows STARTTLS; this connection is TLS from the first byte
    yield from _serve(ssl_context=context, authenticator=_authenticator, auth_require_tls=False)
