"""Fixtures of the report tests: a real SMTP server (aiosmtpd) and fabricated report contexts."""

from __future__ import annotations

import importlib.util
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

REPO = Path(__file__).resolve().parents[2]


def _load_benchmark() -> ModuleType:
    """benchmarks/report.py (not a package) holds the one context fabricator; load it by path."""
    name = "_monitor_benchmark_report"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / "report.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="session")
def fabricate() -> Any:
    """``fabricate_context(**kwargs)`` from benchmarks/report.py."""
    return _load_benchmark().fabricate_context


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

    async def handle_RCPT(
        self, server: Any, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


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
    controller = Controller(handler, hostname="127.0.0.1", port=port, ready_timeout=10.0, **kwargs)
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
