"""One retry policy for the whole system: what a failure means for the work it interrupted.

An unattended system meets three kinds of failure, and each gets one treatment everywhere
(ingest, processing, reports, e-mail, the daemon's jobs):

``data``
    The input itself is bad (a malformed header, an all-NaN band, too few control points). Only
    this becomes a permanent verdict: a quarantined file or a ``rejected``/``failed`` row with a
    reason a person understands. Running again would give the same answer.
``transient``
    The environment failed: a file system error (``OSError``), a lost or refused database
    connection, an SMTP server that is down or times out. Nothing is recorded as a verdict; the
    work stays pending and the next run does it. The job that met it reports a failure, so that a
    persistent outage opens an incident (``[alerts] after_failures``).
``internal``
    Anything else is a defect of the code (``KeyError``, ``TypeError``...). It is never stored as
    a verdict about the data either: the work stays pending, the traceback is logged with the id
    of the item, the run goes on with the next item and the job reports a failure.

:func:`classify` is the single place that decides; callers catch their own *data* exceptions
first (they know them) and hand everything else to :func:`classify`.
"""

from __future__ import annotations

import smtplib
import socket
import sqlite3
from enum import StrEnum

import sqlalchemy.exc as sa_exc

__all__ = ["FailureKind", "TransientError", "classify", "is_transient"]


class FailureKind(StrEnum):
    DATA = "data"
    TRANSIENT = "transient"
    INTERNAL = "internal"


class TransientError(RuntimeError):
    """An environment failure, with context; the work it stopped stays pending."""


_TRANSIENT_TYPES: tuple[type[BaseException], ...] = (
    TransientError,
    OSError,  # file systems, sockets, refused connections (ConnectionError, TimeoutError are OSErrors)
    socket.timeout,
    smtplib.SMTPException,
    sa_exc.OperationalError,  # lost connection, server shut down, database locked
    sa_exc.InterfaceError,
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,  # connection pool exhausted
    sqlite3.OperationalError,
)


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` is an environment failure (retry later) rather than a verdict or a bug.

    A SQLAlchemy error raised because an earlier database failure left the session unusable
    (``PendingRollbackError`` after a lost connection, a failed rollback on a dead connection)
    is transient when a transient error is in its chain of causes.
    """
    if isinstance(exc, _TRANSIENT_TYPES):
        return True
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, sa_exc.SQLAlchemyError):
        seen: set[int] = {id(exc)}
        cause = exc.__cause__ or exc.__context__
        while cause is not None and id(cause) not in seen and len(seen) < 16:
            if isinstance(cause, _TRANSIENT_TYPES):
                return True
            seen.add(id(cause))
            cause = cause.__cause__ or cause.__context__
    return False


def classify(exc: BaseException, data_errors: tuple[type[BaseException], ...] = ()) -> FailureKind:
    """The kind of a failure: ``data`` for the caller's own data exceptions, ``transient`` for
    the environment (:func:`is_transient`), ``internal`` for everything else."""
    if data_errors and isinstance(exc, data_errors):
        return FailureKind.DATA
    if is_transient(exc):
        return FailureKind.TRANSIENT
    return FailureKind.INTERNAL
