"""Engine factory: one place that knows the backend differences (SQLite vs PostgreSQL)."""

from __future__ import annotations

import functools
import os
import sqlite3
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url

from monitor.failures import TransientError

__all__ = ["make_engine", "make_read_only_engine", "redact_url", "DatabaseUnavailableError"]


# SQLite has one writer at a time; the daemon's jobs run concurrently, so a writer waits for the
# lock (at most a processing unit's commit) rather than fail. The jobs' own time limits bound it.
SQLITE_BUSY_TIMEOUT_S = 300


class DatabaseUnavailableError(TransientError):
    """The catalogue database cannot be reached or opened (transient: retried by the next run)."""


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
    cur.close()


def _sqlite_read_only(path: str) -> sqlite3.Connection:
    """A read-only connection (``mode=ro``: the file is never written). When the directory cannot
    be written and no writer is connected (no ``-wal`` file), SQLite could not create the WAL
    index it needs to read: the file is then opened ``immutable`` (an archived, read-only copy)."""
    p = Path(path)
    uri = p.resolve().as_uri() + "?mode=ro"
    if not os.access(p.parent, os.W_OK) and not Path(f"{p}-wal").exists():
        uri += "&immutable=1"
    conn = sqlite3.connect(uri, uri=True, timeout=SQLITE_BUSY_TIMEOUT_S, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
    return conn


def make_engine(url: str | URL, password: str = "", read_only: bool = False, **kwargs: Any) -> Engine:
    """Create the SQLAlchemy engine of the catalogue.

    SQLite: WAL journal (readers never wait), ``synchronous=NORMAL``, foreign keys on, a
    :data:`SQLITE_BUSY_TIMEOUT_S` busy timeout (concurrent jobs' writers queue for the lock).
    PostgreSQL (psycopg 3): ``pool_pre_ping`` so the
    daemon survives a server restart. ``password`` (from ``MONITOR_DATABASE_PASSWORD``) is set on
    the URL here, never stored in configuration files. ``read_only``: a SQLite catalogue is opened
    read-only (the query commands ``status``, ``results``...: nothing written, a read-only file can
    be queried; PostgreSQL is unchanged).
    """
    u = make_url(url)
    if password and u.password is None:
        u = u.set(password=password)
    backend = u.get_backend_name()
    if backend == "sqlite" and read_only and u.database not in (None, "", ":memory:"):
        # the URL is kept (the lock files beside the database are found from engine.url)
        return sa.create_engine(u, creator=functools.partial(_sqlite_read_only, str(u.database)), **kwargs)
    if backend == "sqlite":
        engine = sa.create_engine(u, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S}, **kwargs)
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if backend == "postgresql" and u.drivername == "postgresql":
        u = u.set(drivername="postgresql+psycopg")
    return sa.create_engine(u, pool_pre_ping=True, **kwargs)


def make_read_only_engine(url: str | URL, password: str = "", **kwargs: Any) -> Engine:
    """An engine that cannot write (the web dashboard): a SQLite file opened ``mode=ro``; a
    PostgreSQL session started with ``default_transaction_read_only=on`` (every transaction is
    READ ONLY: an INSERT/UPDATE/DDL fails). For a stronger guarantee point ``database_url`` at a
    role that has only SELECT grants."""
    u = make_url(url)
    if u.get_backend_name() == "postgresql":
        connect_args = dict(kwargs.pop("connect_args", {}))
        options = connect_args.get("options", "")
        connect_args["options"] = (options + " -c default_transaction_read_only=on").strip()
        return make_engine(u, password, connect_args=connect_args, **kwargs)
    return make_engine(u, password, read_only=True, **kwargs)


def redact_url(url: str | URL) -> str:
    """The URL with any password hidden, for logs and reports."""
    return make_url(url).render_as_string(hide_password=True)
