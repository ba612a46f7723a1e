"""Project-wide test fixtures: no network, astropy offline, catalogue databases.

Catalogue tests run on SQLite (a real file in ``tmp_path``) by default. With
``MONITOR_TEST_DATABASE_URL`` set to a PostgreSQL URL they run on a fresh temporary database
created in that server for each test (dropped afterwards). Tests that need PostgreSQL itself use
``postgres_url``: they skip with a visible reason when no server answers, except on CI
(``CI=true``) where an unreachable server is a failure.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlmodel import Session

from monitor.catalogue import migrate
from monitor.catalogue.acquisitions import seed_reference
from monitor.catalogue.engine import make_engine
from tests.catalogue.rows import Example, fill_example
from tests.pg import fresh_postgres_database
from tests.reference_dirs import SHARED_REFERENCE

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forbid connections to anything but the loopback interface (tests run offline)."""
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: object) -> object:
        host = address[0] if isinstance(address, tuple) else address
        if self.family != socket.AF_UNIX and isinstance(host, str) and not (
            host.startswith("127.") or host in ("localhost", "::1")
        ):
            raise RuntimeError(f"network access attempted in a test: {address!r}")
        return real_connect(self, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", guarded)


def _pg_reachable(url: str) -> str | None:
    """None when the server answers, else the reason."""
    try:
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
        engine.dispose()
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        return f"{type(exc).__name__}: {str(exc).splitlines()[0]}"


@pytest.fixture(scope="session")
def _pg_server_url() -> str:
    url = os.environ.get("MONITOR_TEST_DATABASE_URL") or DEFAULT_PG_URL
    if make_url(url).get_backend_name() != "postgresql":
        url = DEFAULT_PG_URL
    reason = _pg_reachable(url)
    if reason is not None:
        message = f"PostgreSQL not reachable at {make_url(url).render_as_string(hide_password=True)}: {reason}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " (CI requires it)")
        pytest.skip(message)
    return url


@pytest.fixture()
def postgres_url(_pg_server_url: str) -> Iterator[str]:
    """URL of a brand-new, empty PostgreSQL database (dropped after the test)."""
    with fresh_postgres_database(_pg_server_url) as url:
        yield url


@pytest.fixture()
def catalogue_url(tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """The catalogue URL of a test: SQLite file, or fresh PostgreSQL when MONITOR_TEST_DATABASE_URL says so."""
    env_url = os.environ.get("MONITOR_TEST_DATABASE_URL", "")
    if env_url and make_url(env_url).get_backend_name() == "postgresql":
        return str(request.getfixturevalue("postgres_url"))
    return f"sqlite:///{tmp_path / 'catalogue.db'}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test that touches a catalogue database, so CI can rerun them on PostgreSQL, and
    every test of the PostgreSQL server itself (``postgres_url``) ``postgres``: those do not depend on
    MONITOR_TEST_DATABASE_URL, so CI runs them once, in its PostgreSQL pass (``.ci/run``)."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if names & {"catalogue_url", "postgres_url", "site"}:
            item.add_marker(pytest.mark.db)
        if "postgres_url" in names and item.get_closest_marker("postgres") is None:
            item.add_marker(pytest.mark.postgres)


def _find_glod_reference() -> Path | None:
    """``glod/`` of the shared reference inputs (:mod:`tests.reference_dirs`); MONITOR_TEST_GLOD_DIR wins."""
    env = os.environ.get("MONITOR_TEST_GLOD_DIR")
    if env:
        return Path(env) if Path(env).is_dir() else None
    glod = None if SHARED_REFERENCE is None else SHARED_REFERENCE / "glod"
    return glod if glod is not None and glod.is_dir() else None


@pytest.fixture(scope="session")
def glod_reference() -> Path:
    """The directory of the real GLOD files (EUMETSAT MSG3 SEVIRI) and their SRF file; the tests
    that need it skip, with this reason, when it is absent (CI has it)."""
    found = _find_glod_reference()
    if found is None:
        pytest.skip("shared/reference/glod not found beside the repository (set MONITOR_TEST_GLOD_DIR)")
    return found
@pytest.fixture()
def example_catalogue(catalogue_url: str) -> Iterator[tuple[Session, Example]]:
    """A session on a new catalogue holding a bit of everything (tests/catalogue/rows.py), and what
    its rows are about."""
    engine = make_engine(catalogue_url)
    migrate.upgrade(engine)
    try:
        with Session(engine) as session:
            seed_reference(session)
            example = fill_example(session)
            session.commit()
            yield session, example
    finally:
        engine.dispose()
