"""Catalogue rows of the system's own operation: the processing runs of the use-cases (with the
versions they used), the daemon's job runs, incidents, its schedule and heartbeat, and the backlog
figures of ``monitor status`` / ``monitor check``.

Nothing here commits (see :mod:`monitor.catalogue`): the daemon commits each piece of its
bookkeeping on its own, a use-case its processing run with its first unit of work.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from monitor import __version__
from monitor.catalogue.acquisitions import unprocessed
from monitor.catalogue.models import (
    Acquisition,
    DaemonState,
    GeometryResult,
    Incident,
    JobRun,
    MoonMeasurement,
    ProcessingRun,
    ScheduledJob,
    StarPhotometry,
)
from monitor.catalogue.states import FAILED_OUTCOMES, JobOutcome, RunOutcome
from monitor.catalogue.versions import is_latest
from monitor.domain import ICD_VERSION, REF_VERSION, AcqType
from monitor.io.reference_data import reference_checksums

__all__ = [
    "start_job_run",
    "finish_job_run",
    "add_job_run",
    "interrupt_running_job_runs",
    "last_job_runs",
    "last_run_of_each_job",
    "consecutive_failures",
    "open_incident",
    "open_incidents",
    "add_incident",
    "save_incident",
    "save_schedule",
    "schedule",
    "save_daemon_state",
    "daemon_state",
    "ProcessingBacklog",
    "processing_backlog",
    "start_run",
    "finish_run",
    "last_runs",
    "RunVersions",
    "run_versions",
]



# --------------------------------------------------------------------------- job runs


def start_job_run(session: Session, job_id: str, started: datetime) -> int:
    """Insert a ``running`` row for a job that starts now; returns its id (flushed)."""
    row = JobRun(job_id=job_id, started_at=started, outcome=JobOutcome.RUNNING)
    session.add(row)
    session.flush()
    assert row.id is not None
    return row.id


def finish_job_run(session: Session, run_id: int, finished: datetime, outcome: JobOutcome, message: str,
                   exit_code: int | None) -> None:
    """Record the end of a job run started with :func:`start_job_run`."""
    session.execute(sa.update(JobRun).where(col(JobRun.id) == run_id).values(
        finished_at=finished, outcome=outcome, message=message[:8000], exit_code=exit_code))


def add_job_run(session: Session, job_id: str, started: datetime, finished: datetime, outcome: JobOutcome,
                message: str,
                exit_code: int | None) -> int:
    """Insert a finished job run at once (its start could not be recorded); flushed."""
    row = JobRun(job_id=job_id, started_at=started, finished_at=finished, outcome=outcome, message=message[:8000],
                 exit_code=exit_code)
    session.add(row)
    session.flush()
    assert row.id is not None
    return row.id


def interrupt_running_job_runs(session: Session, now: datetime) -> int:
    """Mark the runs left ``running`` by a daemon that died as ``interrupted``; returns their number."""
    result = session.execute(sa.update(JobRun).where(col(JobRun.outcome) == JobOutcome.RUNNING).values(
        outcome=JobOutcome.INTERRUPTED, finished_at=now,
        message="the daemon stopped (killed or crashed) while this job ran; its work is picked up again"))
    return int(getattr(result, "rowcount", 0) or 0)


def last_job_runs(session: Session, limit: int = 10) -> Sequence[JobRun]:
    return session.exec(select(JobRun).order_by(col(JobRun.id).desc()).limit(limit)).all()


def last_run_of_each_job(session: Session) -> dict[str, JobRun]:
    """Job id -> its newest run."""
    rows = session.exec(select(JobRun).where(is_latest(JobRun, JobRun.job_id))).all()
    return {r.job_id: r for r in rows}


def consecutive_failures(session: Session, job_id: str, limit: int) -> list[JobRun]:
    """The newest finished runs of ``job_id`` that failed in a row (newest first, at most ``limit``)."""
    q = (
        select(JobRun)
        .where(JobRun.job_id == job_id, col(JobRun.outcome).in_((JobOutcome.OK, *FAILED_OUTCOMES)))
        .order_by(col(JobRun.id).desc())
        .limit(limit)
    )
    out: list[JobRun] = []
    for run in session.exec(q).all():
        if run.outcome == JobOutcome.OK:
            break
        out.append(run)
    return out


# --------------------------------------------------------------------------- incidents


def open_incident(session: Session, job_id: str) -> Incident | None:
    return session.exec(select(Incident).where(Incident.open_job_id == job_id)).first()


def open_incidents(session: Session) -> list[Incident]:
    return list(session.exec(select(Incident).where(col(Incident.open_job_id).is_not(None))
                             .order_by(col(Incident.opened_at))).all())


def add_incident(session: Session, incident: Incident) -> Incident:
    """Insert an open incident (flushed, not committed: the caller commits it with its e-mails)."""
    session.add(incident)
    session.flush()
    return incident


def save_incident(session: Session, incident: Incident) -> None:
    """Stage changes of an incident (not committed)."""
    session.add(incident)
    session.flush()


# --------------------------------------------------------------------------- schedule and heartbeat


def save_schedule(session: Session, jobs: Sequence[tuple[str, datetime | None, float]], now: datetime) -> None:
    """Replace the stored schedule with ``(job id, next run or None, timeout s)`` rows."""
    session.execute(sa.delete(ScheduledJob))
    for job_id, next_run, timeout_s in jobs:
        session.add(ScheduledJob(job_id=job_id, next_run_at=next_run, timeout_s=timeout_s, updated_at=now))


def schedule(session: Session) -> list[ScheduledJob]:
    return list(session.exec(select(ScheduledJob).order_by(col(ScheduledJob.job_id))).all())


def save_daemon_state(session: Session, *, pid: int, host: str, code_version: str, started_at: datetime,
                      heartbeat_at: datetime) -> None:
    """Write the single ``daemon_state`` row."""
    row = session.get(DaemonState, 1)
    if row is None:
        row = DaemonState(id=1, pid=pid, host=host[:255], code_version=code_version, started_at=started_at,
                          heartbeat_at=heartbeat_at)
    else:
        row.pid, row.host, row.code_version = pid, host[:255], code_version
        row.started_at, row.heartbeat_at = started_at, heartbeat_at
    session.add(row)


def daemon_state(session: Session) -> DaemonState | None:
    return session.get(DaemonState, 1)


# --------------------------------------------------------------------------- backlog


@dataclass(frozen=True)
class ProcessingBacklog:
    """Archived acquisitions that have no processing result yet, per acquisition type."""

    counts: dict[str, int]  # STAR / MOON / GEOM -> number waiting
    oldest_received_at: datetime | None  # of all of them


def processing_backlog(session: Session) -> ProcessingBacklog:
    """Archived STAR/MOON/GEOM acquisitions without photometry, measurement or geometry result."""
    results: dict[AcqType, type[StarPhotometry] | type[MoonMeasurement] | type[GeometryResult]] = {
        AcqType.STAR: StarPhotometry, AcqType.MOON: MoonMeasurement, AcqType.GEOM: GeometryResult}
    counts: dict[str, int] = {}
    oldest: datetime | None = None
    for acq_type, result in results.items():
        n, first = session.exec(
            select(func.count(), func.min(Acquisition.received_at)).where(*unprocessed(acq_type, result))
        ).one()
        counts[acq_type] = int(n)
        if first is not None and (oldest is None or first < oldest):
            oldest = first
    return ProcessingBacklog(counts=counts, oldest_received_at=oldest)


def processing_backlog_by_satellite(session: Session) -> dict[str, dict[str, int]]:
    """Per satellite, archived STAR/MOON/GEOM acquisitions without a processing result
    (:func:`processing_backlog` split by satellite; satellites with none are absent)."""
    results: dict[AcqType, type[StarPhotometry] | type[MoonMeasurement] | type[GeometryResult]] = {
        AcqType.STAR: StarPhotometry, AcqType.MOON: MoonMeasurement, AcqType.GEOM: GeometryResult}
    out: dict[str, dict[str, int]] = {}
    for acq_type, result in results.items():
        q = (select(Acquisition.satellite, func.count()).where(*unprocessed(acq_type, result))
             .group_by(Acquisition.satellite))
        for satellite, n in session.exec(q).all():
            out.setdefault(satellite, {})[acq_type.value] = int(n)
    return out


def start_run(session: Session, kind: str, now: datetime, *, reference_model: str = REF_VERSION,
              external_references: dict[str, Any] | None = None) -> ProcessingRun:
    """Insert a ``running`` ``processing_run`` row carrying the versions in use (flushed: it has
    its id). The caller commits it before the run's first unit of work. ``reference_model``: the
    star model of the run (ICD 2.2b); ``external_references``: the provenance of site-installed
    inputs (spectral library and its SHA-256, RSR directory), kept beside the shipped tables'
    checksums under the key ``external``."""
    checksums: dict[str, Any] = dict(reference_checksums())
    if external_references:
        checksums["external"] = external_references
    run = ProcessingRun(
        kind=kind,
        code_version=__version__,
        icd_version=ICD_VERSION,
        reference_model=reference_model,
        reference_checksums=checksums,
        started_at=now,
    )
    session.add(run)
    session.flush()
    return run


def finish_run(
    session: Session, run: ProcessingRun, now: datetime, outcome: RunOutcome, message: str = "", n_items: int = 0
) -> None:
    """Record the end of a processing run: its outcome, message and number of items."""
    run.finished_at = now
    run.outcome = outcome
    run.message = message[:4000]
    run.n_items = n_items
    session.add(run)


def last_runs(session: Session, limit: int = 5) -> Sequence[ProcessingRun]:
    q = select(ProcessingRun).order_by(col(ProcessingRun.id).desc()).limit(limit)
    return session.exec(q).all()


@dataclass(frozen=True)
class RunVersions:
    """The versions a processing run used."""

    code_version: str
    icd_version: str
    reference_model: str


def run_versions(session: Session, run_ids: Collection[int]) -> dict[int, RunVersions]:
    """Processing run id -> the versions it used, for the given runs."""
    if not run_ids:
        return {}
    q = (
        select(ProcessingRun.id, ProcessingRun.code_version, ProcessingRun.icd_version, ProcessingRun.reference_model)
        .where(col(ProcessingRun.id).in_(sorted(run_ids)))
    )
    return {i: RunVersions(c, v, r) for i, c, v, r in session.exec(q).all()}
