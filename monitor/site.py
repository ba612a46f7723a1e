"""Site lifecycle: create the directory layout, open the catalogue, upgrade its schema."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlmodel import Session

from monitor.catalogue import acquisitions, migrate
from monitor.catalogue.engine import DatabaseUnavailableError, make_engine, redact_url
from monitor.settings import DEFAULT_TOML, Settings

__all__ = ["init_site", "check_layout", "open_engine", "session_scope", "utc_now", "apply_umask", "SchemaOutdatedError",
           "NoCatalogueError", "sqlite_catalogue_path"]


class SchemaOutdatedError(RuntimeError):
    """The catalogue schema is not at the head revision (run ``monitor db upgrade``)."""


def utc_now() -> datetime:
    """The current time, timezone-aware UTC (the only clock of the system's use-cases)."""
    return datetime.now(UTC)


def apply_umask(settings: Settings) -> None:
    """Set the process's file-creation mask to ``[site] umask`` (default 027).

    Called once at the start of every command and of the daemon (its job processes inherit it):
    the catalogue file, archive, quarantine, reports and every other file or directory created
    under the site get ``0666 & ~umask`` / ``0777 & ~umask``. The code sets no explicit mode
    anywhere (no chmod, no ``mode=``, no ``mkstemp`` and its fixed 0600), so the mask is the one
    rule. Files moved in from the inbox keep the mode their producer gave them; the directories
    created by monitor around them follow the mask.
    """
    os.umask(settings.umask)


def check_layout(settings: Settings) -> None:
    """The site and its inbox/, archive/, quarantine/, reports/ are directories where they exist.

    Raises
    ------
    NotADirectoryError
        One of them is a file (or another non-directory): a one-line error, nothing done.
    """
    for d in (settings.site, settings.inbox, settings.archive, settings.quarantine, settings.reports_dir):
        if (d.exists() or d.is_symlink()) and not d.is_dir():
            raise NotADirectoryError(f"{d} is not a directory (the site needs a directory there): move it away")


def init_site(settings: Settings) -> list[str]:
    """Create inbox/, archive/, quarantine/, reports/, a commented monitor.toml (if absent),
    upgrade the catalogue to head and seed satellites, bands and stars. Idempotent.
    Returns a list of human-readable actions taken.
    """
    actions: list[str] = []
    check_layout(settings)
    settings.site.mkdir(parents=True, exist_ok=True)
    for d in (settings.inbox, settings.archive, settings.quarantine, settings.reports_dir):
        if not d.exists():
            d.mkdir(parents=True)
            actions.append(f"created {d}")
    toml = settings.site / "monitor.toml"
    if not toml.exists():
        toml.write_text(DEFAULT_TOML)
        actions.append(f"wrote {toml}")
    engine = open_engine(settings, check_schema=False)
    try:
        before = migrate.current_revision(engine)
        migrate.upgrade(engine)
        after = migrate.current_revision(engine)
        if before != after:
            actions.append(f"catalogue {redact_url(settings.database_url)} upgraded {before or 'base'} -> {after}")
        with Session(engine) as session:
            n = acquisitions.seed_reference(session)
            session.commit()
        if n:
            actions.append(f"seeded {n} reference rows (satellites, bands, stars)")
    finally:
        engine.dispose()
    return actions


class NoCatalogueError(SchemaOutdatedError):
    """The site's SQLite catalogue file does not exist (not a site, or not initialised)."""


def sqlite_catalogue_path(settings: Settings) -> Path | None:
    """The file of a SQLite catalogue (None for PostgreSQL or an in-memory database)."""
    u = make_url(settings.database_url)
    if u.get_backend_name() != "sqlite" or u.database in (None, "", ":memory:"):
        return None
    return Path(u.database)


def open_engine(settings: Settings, check_schema: bool = True, *, create: bool | None = None,
                read_only: bool = False) -> sa.Engine:
    """Engine of the site's catalogue; optionally check that the schema is at head.

    A SQLite catalogue file is created only when ``create`` (default: when the schema is not
    checked, i.e. by ``init`` and the schema commands); otherwise a missing file is a one-line
    :class:`NoCatalogueError` and nothing is created. ``read_only``: the SQLite file is opened
    read-only (query commands)."""
    path = sqlite_catalogue_path(settings)
    if path is not None and not path.exists() and not (not check_schema if create is None else create):
        raise NoCatalogueError(
            f"no catalogue {path}: {settings.site} is not a monitor site (create one with 'monitor init "
            f"{settings.site}', or give --site / MONITOR_SITE)"
        )
    engine = make_engine(settings.database_url, password=settings.database_password, read_only=read_only)
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except sa.exc.OperationalError as exc:
        engine.dispose()
        raise DatabaseUnavailableError(
            f"cannot open the catalogue {redact_url(settings.database_url)}: {exc.orig}"
        ) from exc
    if check_schema:
        current, head = migrate.current_revision(engine), migrate.head_revision()
        if current != head:
            engine.dispose()
            raise SchemaOutdatedError(
                f"catalogue schema is at {current or 'empty'}, code expects {head}: "
                f"run 'monitor init' or 'monitor db upgrade'"
            )
    return engine


@contextmanager
def session_scope(settings: Settings, read_only: bool = False) -> Iterator[Session]:
    """A session of the site's catalogue (schema at head); ``read_only`` for the query commands."""
    engine = open_engine(settings, read_only=read_only)
    try:
        with Session(engine, expire_on_commit=False) as session:
            yield session
    finally:
        engine.dispose()
