"""The one retry policy (monitor.failures): which failures are verdicts, transient or defects."""

from __future__ import annotations

import smtplib
import sqlite3

import pytest
import sqlalchemy.exc as sa_exc

from monitor.catalogue.engine import DatabaseUnavailableError
from monitor.failures import FailureKind, TransientError, classify, is_transient


class _DataProblem(ValueError):
    pass


def _operational() -> sa_exc.OperationalError:
    return sa_exc.OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly"))


@pytest.mark.parametrize("exc", [
    OSError(5, "Input/output error"), PermissionError("denied"), FileNotFoundError("gone"), TimeoutError(),
    ConnectionRefusedError(), smtplib.SMTPServerDisconnected("bye"), _operational(),
    sqlite3.OperationalError("database is locked"), DatabaseUnavailableError("down"), TransientError("x"),
])
def test_environment_failures_are_transient(exc: BaseException) -> None:
    assert is_transient(exc) and classify(exc) is FailureKind.TRANSIENT


@pytest.mark.parametrize("exc", [KeyError("x"), TypeError("y"), ValueError("z"), MemoryError(),
                                 sa_exc.IntegrityError("INSERT", {}, Exception("duplicate key"))])
def test_defects_are_internal(exc: BaseException) -> None:
    assert classify(exc) is FailureKind.INTERNAL


def test_the_callers_data_errors_come_first() -> None:
    assert classify(_DataProblem("bad header"), (_DataProblem,)) is FailureKind.DATA
    assert classify(OSError("disk"), (_DataProblem,)) is FailureKind.TRANSIENT


def test_a_session_left_unusable_by_a_lost_connection_is_transient() -> None:
    """PendingRollbackError after the server shut down mid-run (seen in the PostgreSQL outage
    test): transient because a lost connection is in its chain; without one it is a defect."""
    try:
        try:
            raise _operational()
        except sa_exc.OperationalError:
            raise sa_exc.PendingRollbackError("This Session's transaction has been rolled back") from None
    except sa_exc.PendingRollbackError as exc:
        # ``from None`` hides the cause from tracebacks but keeps it as __context__
        assert classify(exc) is FailureKind.TRANSIENT
    assert classify(sa_exc.PendingRollbackError("rolled back after an IntegrityError")) is FailureKind.INTERNAL
