"""Named locks of one catalogue (one site): the primitives, and one operation at a time per site.

Two kinds of lock use these primitives: the one-daemon-per-catalogue lock
(:mod:`monitor.daemon.lock`, name ``daemon``) and the site operation locks of this module (names
``ingest`` and ``process``): two ``monitor ingest`` at once (an operator beside the daemon) would
decide on the same inbox files twice, two ``monitor process`` would measure the same acquisitions
twice.

SQLite: ``fcntl.flock`` on ``<database file>.<name>.lock``, holding the holder's pid.
PostgreSQL: a session-level advisory lock whose key is derived from the name
(:func:`pg_lock_key`), on a dedicated AUTOCOMMIT connection whose ``application_name`` carries
the pid. Both vanish with the process (or its connection): a killed run never blocks the next.

Behaviour of :func:`site_operation`: a second run of the same operation waits for the first up to
``[ingest] lock_wait_seconds`` (polling), then raises :class:`SiteBusyError`, a transient error
(nothing was done, the next run does the work). The command line prints one ``error:`` line and
exits with :data:`BUSY_EXIT_CODE` (75, ``EX_TEMPFAIL`` of sysexits.h: "try again later"); a
daemon job records the run ``failed`` with that line, and an incident opens only if it keeps
happening (``[alerts] after_failures`` runs in a row: a run that holds the lock that long is stuck).
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, TypeVar

from sqlalchemy.engine import Connection, Engine

from monitor.catalogue.engine import redact_url
from monitor.failures import TransientError

__all__ = ["BUSY_EXIT_CODE", "SiteBusyError", "pg_lock_key", "lock_file_path", "try_file_lock", "file_lock_holder",
           "try_pg_lock", "pg_lock_holder", "pid_of", "hold_site_lock", "site_operation"]

log = logging.getLogger(__name__)

BUSY_EXIT_CODE = 75  # EX_TEMPFAIL: another run of the same operation holds the site's lock
POLL_SECONDS = 0.2

F = TypeVar("F", bound=Callable[..., Any])


class SiteBusyError(TransientError):
    """Another run of the same operation holds the site's lock (nothing was done)."""


def pg_lock_key(name: str) -> int:
    """The PostgreSQL advisory lock key (signed 64-bit) of the lock ``name``."""
    return int.from_bytes(hashlib.sha256(f"monitor-{name}".encode()).digest()[:8], "big", signed=True)


def lock_file_path(engine: Engine, name: str) -> Path | None:
    """``<database file>.<name>.lock`` of a SQLite catalogue; None for an in-memory one."""
    db = engine.url.database or ""
    return None if db in ("", ":memory:") else Path(f"{db}.{name}.lock")


def pid_of(application_name: Any) -> str:
    """The pid in a lock holder's ``application_name`` (``... pid=<n>``), or ``unknown``."""
    text = str(application_name or "")
    return text.rsplit("pid=", 1)[-1] if "pid=" in text else "unknown"


def try_file_lock(path: Path) -> tuple[IO[str] | None, str]:
    """Try to take the ``flock`` of ``path`` without waiting.

    Returns (open file holding the lock, with this pid written in it; "") or (None, pid of the
    holder as text).
    """
    f = path.open("a+")
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.seek(0)
        pid = f.read().strip() or "unknown"
        f.close()
        return None, pid
    f.seek(0)
    f.truncate()
    f.write(f"{os.getpid()}\n")
    f.flush()
    return f, ""


def release_file_lock(f: IO[str]) -> None:
    fcntl.flock(f.fileno(), fcntl.LOCK_UN)
    f.close()


def file_lock_holder(path: Path) -> str | None:
    """The pid (text) holding the ``flock`` of ``path``, or None when nobody holds it."""
    if not path.exists():
        return None
    with path.open("r") as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return f.read().strip() or "unknown"
        fcntl.flock(f.fileno(), fcntl.LOCK_UN)
        return None


def _holder_sql(key: int) -> str:
    return (
        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted "
        "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
        f"AND l.classid::text = '{(key >> 32) & 0xFFFFFFFF}' "
        f"AND l.objid::text = '{key & 0xFFFFFFFF}' AND l.objsubid = 1 LIMIT 1"
    )


def try_pg_lock(engine: Engine, key: int, application_name: str) -> tuple[Connection | None, str]:
    """Try to take the advisory lock ``key`` on a new AUTOCOMMIT connection, without waiting.

    Returns (the connection holding it; "") or (None, pid of the holder as text). The connection's
    ``application_name`` is ``<application_name> pid=<this pid>``.
    """
    conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    try:
        conn.exec_driver_sql(f"SET application_name = '{application_name} pid={os.getpid()}'")
        if conn.exec_driver_sql(f"SELECT pg_try_advisory_lock({key})").scalar():
            return conn, ""
        pid = pid_of(conn.exec_driver_sql(_holder_sql(key)).scalar())
    except BaseException:
        conn.close()
        raise
    conn.close()
    return None, pid


def release_pg_lock(conn: Connection, key: int) -> None:
    try:
        conn.exec_driver_sql(f"SELECT pg_advisory_unlock({key})")
    finally:
        conn.close()


def pg_lock_holder(engine: Engine, key: int) -> str | None:
    """The pid (text) of the session holding the advisory lock ``key``, or None."""
    with engine.connect() as conn:
        holder = conn.exec_driver_sql(_holder_sql(key)).scalar()
    return None if holder is None else pid_of(holder)


@contextmanager
def hold_site_lock(engine: Engine, name: str, wait_seconds: float) -> Iterator[None]:
    """Hold the site operation lock ``name`` (``ingest``, ``process``) for the ``with`` block.

    Waits up to ``wait_seconds`` for another holder to finish.

    Raises
    ------
    SiteBusyError
        Another process still holds it after ``wait_seconds``.
    """
    deadline = time.monotonic() + max(0.0, wait_seconds)
    sqlite = engine.url.get_backend_name() == "sqlite"
    path = lock_file_path(engine, name) if sqlite else None
    if sqlite and path is None:  # in-memory catalogue: one process only
        yield
        return
    key = pg_lock_key(name)
    logged = False
    while True:
        if path is not None:
            held_file, pid = try_file_lock(path)
            held: Any = held_file
            where = f"lock file {path}"
        else:
            held, pid = try_pg_lock(engine, key, f"monitor-{name}")
            where = f"PostgreSQL advisory lock on {redact_url(engine.url)}"
        if held is not None:
            break
        if time.monotonic() >= deadline:
            raise SiteBusyError(
                f"another monitor {name} is running for this site (pid {pid}; {where}); waited "
                f"{wait_seconds:g} s ([ingest] lock_wait_seconds), nothing done: run it again later")
        if not logged:
            log.info("another monitor %s is running for this site (pid %s); waiting up to %g s", name, pid,
                     wait_seconds)
            logged = True
        time.sleep(POLL_SECONDS)
    try:
        yield
    finally:
        if path is not None:
            release_file_lock(held)
        else:
            release_pg_lock(held, key)


def site_operation(name: str) -> Callable[[F], F]:
    """Decorate a use-case ``(session, settings, now, ...)``: it runs holding the site lock
    ``name`` (see :func:`hold_site_lock`; the wait is ``settings.ingest.lock_wait_seconds``)."""

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(session: Any, settings: Any, *args: Any, **kwargs: Any) -> Any:
            with hold_site_lock(session.get_bind(), name, settings.ingest.lock_wait_seconds):
                return fn(session, settings, *args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate
