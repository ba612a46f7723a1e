"""Alembic environment of the monitor catalogue.

The connection comes from (in order): ``config.attributes["connection"]`` (tests, the CLI),
``config.attributes["url"]``, or the site settings (``MONITOR_SITE`` / ``MONITOR_DATABASE_URL``).
The engine is built with the same ``make_engine`` as the daemon (SQLite pragmas, pool_pre_ping).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context
from sqlmodel import SQLModel

import monitor.catalogue.models  # noqa: F401  (registers the tables)
from monitor.catalogue.engine import make_engine
from monitor.catalogue.models import SCHEDULER_TABLE

config = context.config
target_metadata = SQLModel.metadata


def include_name(name: str | None, type_: str, _parent_names: object) -> bool:
    """Leave APScheduler's own job table alone (it creates and owns it)."""
    return not (type_ == "table" and name == SCHEDULER_TABLE)


def _configure(connection: sa.Connection) -> None:
    is_sqlite = connection.dialect.name == "sqlite"
    if is_sqlite:
        # Batch mode rebuilds tables: foreign-key enforcement must be off (alembic batch docs).
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        connection.commit()
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=is_sqlite,
        include_name=include_name,
        compare_server_default=True,
        autogenerate_plugins=["alembic.autogenerate.*", "alembic.ext.checkconstraint_byname"],
    )


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = config.attributes.get("url")
    password = config.attributes.get("password", "")
    if url is None:
        from monitor.settings import load_settings

        settings = load_settings()
        url, password = settings.database_url, settings.database_password
    engine = make_engine(url, password=password)
    try:
        with engine.connect() as conn:
            _configure(conn)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run against a database")
run_migrations_online()
