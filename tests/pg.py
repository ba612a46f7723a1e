"""A brand-new PostgreSQL database for one test or one module (dropped afterwards)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import make_url

__all__ = ["fresh_postgres_database"]


@contextmanager
def fresh_postgres_database(server_url: str, prefix: str = "monitor_test") -> Iterator[str]:
    """URL of an empty database ``<prefix>_<random>`` on the server of ``server_url``, dropped
    (with its connections) when the block ends."""
    server = make_url(server_url)
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
