"""States as enums with CHECK constraints (revision 0007): an existing catalogue keeps working.

A catalogue at revision 0006 is filled with rows in every state an earlier version wrote (the
values written out here as text: the contract, not the enums), then upgraded to head: every row
reads back with its state, the enums hold exactly these values, and the database now refuses a
value outside them. Downgrading to 0006 keeps the rows. Runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from monitor.catalogue import acquisitions, migrate
from monitor.catalogue.engine import make_engine
from monitor.catalogue.models import (
    Acquisition,
    GeometryResult,
    Incident,
    JobRun,
    MoonMeasurement,
    Outbox,
    ProcessingRun,
    Rejection,
    StarPhotometry,
)
from monitor.catalogue.states import (
    FAILED_OUTCOMES,
    AcquisitionStatus,
    JobOutcome,
    OutboxKind,
    OutboxStatus,
    RejectionState,
    RunOutcome,
)
from monitor.domain import AcqType, GeometryStatus, MoonStatus, PhotometryStatus
from monitor.io.reference_data import load_star_catalogue
from tests.catalogue import rows

T0 = datetime(2025, 3, 1, tzinfo=UTC)

# (model, column) -> every value revision 0006 and the code before it wrote, and the enum now
WRITTEN = {
    (Acquisition, "acq_type"): ({"STAR", "MOON", "GEOM"}, AcqType),
    (Acquisition, "status"): ({"archiving", "archived", "missing"}, AcquisitionStatus),
    (Rejection, "state"): ({"moving", "done", "missing"}, RejectionState),
    (ProcessingRun, "outcome"): ({"running", "ok", "partial", "failed"}, RunOutcome),
    (StarPhotometry, "status"): ({"ok", "rejected"}, PhotometryStatus),
    (MoonMeasurement, "status"): ({"ok", "rejected", "flagged"}, MoonStatus),
    (GeometryResult, "status"): ({"ok", "failed"}, GeometryStatus),
    (Outbox, "status"): ({"queued", "sending", "sent", "failed"}, OutboxStatus),
    (Outbox, "kind"): ({"report", "alert", "recovery"}, OutboxKind),
    (JobRun, "outcome"): ({"running", "ok", "failed", "timeout", "crashed", "interrupted"}, JobOutcome),
    (Incident, "last_outcome"): ({"failed", "timeout", "crashed"}, FAILED_OUTCOMES),
}


def _fill_every_state(session: Session) -> None:
    acquisitions.seed_reference(session)
    hip = int(load_star_catalogue().hip[0])
    runs = [rows.run(session, T0, outcome) for outcome in ("running", "ok", "partial", "failed")]
    run = runs[1]
    accs = []
    for k, (kind, status) in enumerate((("STAR", "archived"), ("MOON", "archiving"), ("GEOM", "missing"))):
        accs.append(rows.acquisition(session, f"ACQ-{k}", "PHR1A" if kind != "MOON" else "PNEO3", kind,
                                     T0 + timedelta(days=k), ("P",), hip=hip if kind == "STAR" else None,
                                     status=status))
    star, moon, geom = accs
    rows.photometry(session, run, star, "P", "ok", a=10.0)
    rows.photometry(session, runs[2], star, "P", "rejected", reason="saturated")
    for r, status in zip(runs[1:], ("ok", "rejected", "flagged"), strict=True):
        rows.moon(session, r, moon, "P", status, a=None if status == "rejected" else 5.0)
    rows.geometry(session, runs[1], geom, "ok")
    rows.geometry(session, runs[2], geom, "failed")
    for k, state in enumerate(("moving", "done", "missing")):
        rows.rejection(session, f"bad-{k}.fits", "truncated", T0, state=state)
    report = rows.report(session, T0)
    for status in ("queued", "sending", "sent", "failed"):
        rows.outbox(session, status, T0, report_=report)
    for k, outcome in enumerate(("running", "ok", "failed", "timeout", "crashed", "interrupted")):
        rows.job_run(session, "ingest", outcome, T0 + timedelta(minutes=k))
    incidents = [rows.incident(session, job, outcome, T0, is_open=job == "ingest")
                 for job, outcome in (("ingest", "failed"), ("process", "timeout"), ("email_retry", "crashed"))]
    rows.outbox(session, "sent", T0, incident=incidents[0], kind="alert")
    rows.outbox(session, "queued", T0, incident=incidents[1], kind="recovery")


@pytest.fixture()
def engine(catalogue_url: str) -> Iterator[sa.Engine]:
    e = make_engine(catalogue_url)
    try:
        yield e
    finally:
        e.dispose()


def _stored(session: Session) -> dict[tuple[type, str], set[str]]:
    return {(model, column): set(session.exec(select(getattr(model, column))).all()) for model, column in WRITTEN}


def test_rows_of_every_state_read_back_after_the_upgrade(engine: sa.Engine) -> None:
    migrate.upgrade(engine, "0006")
    with Session(engine) as session:
        _fill_every_state(session)
        session.commit()
        before = _stored(session)
    assert before == {key: values for key, (values, _) in WRITTEN.items()}  # the fixture wrote them all
    migrate.upgrade(engine)  # through 0007 (the CHECK constraints) to the head
    assert migrate.current_revision(engine) == migrate.head_revision()
    with Session(engine) as session:
        assert _stored(session) == before
        for (model, column), (values, enum) in WRITTEN.items():
            assert {str(v) for v in enum} == values, (model.__tablename__, column)
        # the rows load as objects and compare equal to the enum members
        assert {p.status for p in session.exec(select(StarPhotometry)).all()} == set(PhotometryStatus)
        assert {r.outcome for r in session.exec(select(JobRun)).all()} == set(JobOutcome)
    migrate.downgrade(engine, "0006")
    with Session(engine) as session:
        assert _stored(session) == before


CHECKED = [("processing_run", "outcome"), ("star_photometry", "status"), ("moon_measurement", "status"),
           ("geometry_result", "status"), ("job_run", "outcome"), ("incident", "last_outcome"),
           ("acquisition", "status"), ("acquisition", "acq_type"), ("rejection", "state"), ("outbox", "status")]


def test_a_value_outside_the_enums_is_refused(engine: sa.Engine) -> None:
    migrate.upgrade(engine)
    with Session(engine) as session:
        _fill_every_state(session)
        session.commit()
    with engine.connect() as conn:
        for table, column in CHECKED:
            row_id = conn.execute(sa.text(f"SELECT min(id) FROM {table}")).scalar_one()
            with pytest.raises(sa.exc.IntegrityError, match=f"ck_{table}_{column}"):
                conn.execute(sa.text(f"UPDATE {table} SET {column} = 'bogus' WHERE id = :id"), {"id": row_id})
            conn.rollback()
