"""States that the catalogue stores for its own bookkeeping (file moves, runs, jobs, e-mails).

Each is a ``StrEnum``: a member is its value, so it is written to and compared with the column
as the plain string. The database refuses any other value (CHECK constraints built from these
enums by :func:`one_of`, revisions 0001 and 0007). The values are part of the catalogue's
contract: catalogues written by earlier versions hold them, so a value is never renamed. The
verdicts of the calibration results (``ok``, ``rejected``, ``flagged``...) are shared vocabulary
and live in :mod:`monitor.domain`.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

__all__ = [
    "AcquisitionStatus",
    "RejectionState",
    "RunOutcome",
    "JobOutcome",
    "FAILED_OUTCOMES",
    "OutboxStatus",
    "OutboxKind",
    "AlertState",
    "AlertKind",
    "ACTIVE_ALERT_STATES",
    "WorkState",
    "UnitKind",
    "PROCESSING_UNIT_KINDS",
    "ACTIVE_WORK_STATES",
    "one_of",
]


class AcquisitionStatus(enum.StrEnum):
    """Where the file of an accepted acquisition is (the crash-safe move of the ingest)."""

    ARCHIVING = "archiving"  # committed, the move to the archive not done yet
    ARCHIVED = "archived"
    MISSING = "missing"  # the file was gone when the move was finished


class RejectionState(enum.StrEnum):
    """Where a refused file is (its move to the quarantine)."""

    MOVING = "moving"
    DONE = "done"
    MISSING = "missing"


class RunOutcome(enum.StrEnum):
    """Outcome of a processing run (``processing_run.outcome``)."""

    RUNNING = "running"
    OK = "ok"
    PARTIAL = "partial"  # some units of work were left pending for the next run
    FAILED = "failed"


class JobOutcome(enum.StrEnum):
    """Outcome of a daemon job run (``job_run.outcome``; see :class:`monitor.catalogue.models.JobRun`)."""

    RUNNING = "running"
    OK = "ok"
    FAILED = "failed"
    TIMEOUT = "timeout"
    CRASHED = "crashed"
    INTERRUPTED = "interrupted"  # the daemon itself died while the job ran


# The outcomes that count as failures in a row (incidents); an interrupted run counts neither way.
FAILED_OUTCOMES = (JobOutcome.FAILED, JobOutcome.TIMEOUT, JobOutcome.CRASHED)


class OutboxStatus(enum.StrEnum):
    """Delivery state of an e-mail (see :mod:`monitor.catalogue.outbox`)."""

    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"  # the server confirmed it (250 to DATA)
    FAILED = "failed"


class OutboxKind(enum.StrEnum):
    """What an e-mail carries: a report PDF, or the alert or recovery message of an incident."""

    REPORT = "report"
    ALERT = "alert"
    RECOVERY = "recovery"


class AlertState(enum.StrEnum):
    """Life of a calibration alert (``alert.state``, revision 0011; see :mod:`monitor.catalogue.alerts`).

    ``open`` when its condition first holds; ``acknowledged`` by a person (``monitor alerts ack``)
    while the condition still holds; ``closed`` by the processing once the condition no longer
    holds (a later one opens a new alert)."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    CLOSED = "closed"


# An alert in these states is active: at most one per satellite, band, method and kind.
ACTIVE_ALERT_STATES = (AlertState.OPEN, AlertState.ACKNOWLEDGED)


class AlertKind(enum.StrEnum):
    """What a calibration alert is about (``alert.kind``)."""

    DRIFT_RATE = "drift-rate"  # the drift rate of A_k significantly exceeds its threshold
    DRIFT_DEPARTURE = "drift-departure"  # a point departs from the drift trend by more than k sigma
    MTF_DISAGREEMENT = "mtf-disagreement"  # parametric and ePSF MTF at Nyquist disagree (latest starpool)
    MTF_DRIFT_RATE = "mtf-drift-rate"  # the drift rate of the MTF at Nyquist significantly exceeds its threshold
    MTF_DRIFT_DEPARTURE = "mtf-drift-departure"  # a starpool's MTF at Nyquist departs from its drift trend
class WorkState(enum.StrEnum):
    """State of a unit of work shared by workers (``work_unit.state``, :mod:`monitor.catalogue.work_units`)."""

    WAITING = "waiting"  # an aggregation waiting for its members (``work_unit.waiting`` > 0)
    PENDING = "pending"  # claimable
    CLAIMED = "claimed"  # a worker holds its lease
    DONE = "done"
    FAILED = "failed"  # gave up after ``max_attempts`` claims


class UnitKind(enum.StrEnum):
    """``work_unit.kind``: what a unit does (run by :mod:`monitor.calibration.work`; ``report`` by
    :mod:`monitor.reports.units`)."""

    STAR_PHOTOMETRY = "star_photometry"  # key: acquisition.id
    STARPOOL = "starpool"  # key: starpool.id
    STAR_DRIFT = "star_drift"  # key: satellite
    MOON = "moon"  # key: acquisition.id (a MOON acquisition)
    MOON_DRIFT = "moon_drift"  # key: satellite
    GEOMETRY = "geometry"  # key: acquisition.id (a GEOM acquisition)
    LUNAR_COMPARISON = "lunar_comparison"  # key: glod_observation.id
    RUN = "run"  # key: processing_run.id
    REPORT = "report"  # key: the report period (2025-W11, 2025-03): the render of a due scheduled report


# The kinds of a processing run's units (one processing run's units in flight at a time).
PROCESSING_UNIT_KINDS = tuple(k for k in UnitKind if k != UnitKind.REPORT)

# The states of a unit not finished yet: at most one such unit per (kind, key) (a partial unique index).
ACTIVE_WORK_STATES = (WorkState.WAITING, WorkState.PENDING, WorkState.CLAIMED)


def one_of(column: str, values: Iterable[str]) -> str:
    """SQL of a CHECK constraint: ``column IN ('a', 'b', ...)``, in the order of ``values``.

    >>> one_of("status", RejectionState)
    "status IN ('moving', 'done', 'missing')"
    """
    return f"{column} IN ({', '.join(repr(str(v)) for v in values)})"
