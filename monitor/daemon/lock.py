"""One daemon per catalogue: the lock, its verification while the daemon runs, and a probe.

SQLite: ``fcntl.flock`` on ``<database file>.daemon.lock`` (holding the daemon's pid). The lock
lives in the kernel and cannot be lost while the process lives.

PostgreSQL: a session-level advisory lock (``pg_try_advisory_lock``, scoped to the catalogue's
database) on a dedicated connection
kept open while the daemon runs; its ``application_name`` carries the pid so that a refused
daemon, or ``monitor check``, can name the holder. The lock vanishes with that connection: when
the server restarts or the connection is cut, the daemon has lost it. :meth:`DaemonLock.verify`
notices (a query on the lock connection) and tries to take it again on a new connection; if
another daemon took it meanwhile, :class:`DaemonLockLostError` tells the daemon to stop rather
than run beside it.

Both locks vanish with the process, so a killed daemon never blocks the next one.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from monitor.catalogue.engine import redact_url
from monitor.catalogue.locks import (
    file_lock_holder,
    lock_file_path,
    pg_lock_holder,
    pg_lock_key,
    release_file_lock,
    try_file_lock,
    try_pg_lock,
)

__all__ = ["DaemonLockedError", "DaemonLockLostError", "LockState", "DaemonLock", "acquire_daemon_lock",
           "daemon_holder"]

log = logging.getLogger(__name__)

PG_LOCK_KEY = pg_lock_key("daemon")  # the site operation locks (ingest, process) have their own keys


class DaemonLockedError(RuntimeError):
    """Another daemon holds the catalogue's lock."""


class DaemonLockLostError(RuntimeError):
    """The daemon lost its lock and another daemon holds it now: this daemon must stop."""


class LockState(enum.StrEnum):
    HELD = "held"
    LOST = "lost"  # the lock connection is gone and the catalogue cannot be reached to take it again


@dataclass
class DaemonLock:
    """A held daemon lock; :meth:`release` (or process exit) frees it."""

    description: str
    engine: Engine | None = None
    state: LockState = LockState.HELD
    _file: Any = None
    _conn: Any = field(default=None, repr=False)

    @property
    def held(self) -> bool:
        return self.state is LockState.HELD

    def verify(self) -> LockState:
        """Check that the lock is still held; take it again if its connection was lost.

        Returns the new state (``lost`` while the catalogue cannot be reached).

        Raises
        ------
        DaemonLockLostError
            The lock was lost and another daemon holds it now.
        """
        if self._conn is None and self.state is LockState.HELD:
            return self.state  # SQLite flock or in-memory catalogue: cannot be lost
        if self._conn is not None:
            try:
                self._conn.exec_driver_sql("SELECT 1")
                return self.state
            except sa.exc.DBAPIError as exc:
                log.error("the catalogue lock connection is lost (%s); the lock must be taken again",
                          str(exc.orig).strip().splitlines()[0] if exc.orig else exc)
                self._drop_connection()
                self.state = LockState.LOST
        assert self.engine is not None
        try:
            conn = _take_pg_lock(self.engine)
        except DaemonLockedError as exc:
            raise DaemonLockLostError(
                f"the catalogue lock was lost and {exc}; this daemon stops so as not to run beside it"
            ) from None
        except sa.exc.DBAPIError as exc:
            log.warning("cannot take the catalogue lock again yet: %s",
                        str(exc.orig).strip().splitlines()[0] if exc.orig else exc)
            return self.state
        self._conn = conn
        self.state = LockState.HELD
        log.warning("catalogue lock taken again (%s)", self.description)
        return self.state

    def _drop_connection(self) -> None:
        if self._conn is not None:
            try:
                self._conn.invalidate()
                self._conn.close()
            except Exception:  # noqa: BLE001 - the connection is already broken
                pass
            self._conn = None

    def release(self) -> None:
        if self._file is not None:
            release_file_lock(self._file)
            self._file = None
        if self._conn is not None:
            try:
                self._conn.exec_driver_sql(f"SELECT pg_advisory_unlock({PG_LOCK_KEY})")
            except sa.exc.DBAPIError:
                pass  # the connection is gone, and the lock with it
            finally:
                self._drop_connection()


def _take_pg_lock(engine: Engine) -> Any:
    """A new AUTOCOMMIT connection holding the advisory lock, or DaemonLockedError."""
    conn, pid = try_pg_lock(engine, PG_LOCK_KEY, "monitor-daemon")
    if conn is None:
        raise DaemonLockedError(
            f"another monitor daemon is running for this catalogue (pid {pid}); "
            f"PostgreSQL advisory lock on {redact_url(engine.url)}"
        )
    return conn


def acquire_daemon_lock(engine: Engine) -> DaemonLock:
    """Take the one-daemon-per-catalogue lock, or raise :class:`DaemonLockedError`."""
    if engine.url.get_backend_name() == "sqlite":
        path = lock_file_path(engine, "daemon")
        if path is None:
            return DaemonLock("in-memory catalogue (no lock)")
        f, pid = try_file_lock(path)
        if f is None:
            raise DaemonLockedError(
                f"another monitor daemon is running for this catalogue (pid {pid}); lock file {path}"
            )
        return DaemonLock(f"lock file {path}", engine=engine, _file=f)
    conn = _take_pg_lock(engine)
    return DaemonLock(f"PostgreSQL advisory lock {PG_LOCK_KEY}", engine=engine, _conn=conn)


def daemon_holder(engine: Engine) -> str | None:
    """The pid (as text, ``unknown`` if it cannot be told) of the daemon holding the catalogue's
    lock, or None when no daemon runs. Never takes the lock for longer than the probe itself."""
    if engine.url.get_backend_name() == "sqlite":
        path = lock_file_path(engine, "daemon")
        return None if path is None else file_lock_holder(path)
    return pg_lock_holder(engine, PG_LOCK_KEY)
