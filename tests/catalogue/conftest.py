"""Fixtures of the catalogue tests (SQLite, or PostgreSQL with MONITOR_TEST_DATABASE_URL)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlmodel import Session

from monitor.catalogue import migrate
from monitor.catalogue.acquisitions import seed_reference
from monitor.catalogue.engine import make_engine


@pytest.fixture()
def session(catalogue_url: str) -> Iterator[Session]:
    """A session on a migrated catalogue holding the reference rows (the satellites and bands that
    starpools, results and alerts refer to)."""
    engine = make_engine(catalogue_url)
    migrate.upgrade(engine)
    try:
        with Session(engine, expire_on_commit=False) as s:
            seed_reference(s)
            s.commit()
            yield s
    finally:
        engine.dispose()
