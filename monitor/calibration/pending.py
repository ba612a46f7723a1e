"""Units of processing work left pending: the retry policy (:mod:`monitor.failures`) in the stages.

Every stage of ``monitor process`` works in units (one acquisition, one starpool, one drift
series) and commits each unit on its own. A unit that fails gets one of three treatments:

- *data* (the stage's own exceptions: the science's ``ScienceError`` subclasses, the reader's
  ``InvalidAcquisitionError``, too few control points...): the stage records its permanent
  verdict row (rejected/failed with a reason) and logs it at WARNING; this module is not involved;
- *transient* (:func:`monitor.failures.is_transient`: the archived file cannot be read, the
  database connection is lost): no verdict; the unit stays pending for the next run
  (:attr:`StageSummary.deferred`), logged at WARNING with its id;
- *internal* (anything else: a defect of the code): no verdict either; the unit stays pending
  (:attr:`StageSummary.errors`), its traceback is logged with its id and the run goes on.

A stage catches its data exceptions inside the unit and runs the unit in :func:`unit_of_work`,
which decides for everything else (photometry workers, which cannot roll back a session, use
:func:`unit_failure` and :meth:`StageSummary.leave_pending` directly). A transient *database*
failure (:func:`ends_the_run`) is re-raised instead: the session is unusable, the run ends
(nothing of the unit was committed) and ``run_processing`` records it as failed.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import sqlalchemy.exc as sa_exc
from sqlmodel import Session

from monitor.failures import FailureKind, classify, is_transient

__all__ = ["UnitFailure", "StageSummary", "unit_failure", "ends_the_run", "unit_of_work", "FAULT_POINTS",
           "after_commit"]

# The commits of ``monitor process``, one per unit of work: ``photometry`` (a batch of star
# acquisitions joining their starpools), ``starpool``, ``star_drift``, ``geometry``, ``moon``,
# ``moon_drift``. A kill at any point of a run loses at most the unit being computed: the next run
# finds it pending and does it (tests/calibration/test_process_crash_safety.py).
FAULT_POINTS = ("photometry", "starpool", "star_drift", "geometry", "moon", "moon_drift")


def _no_fault(point: str) -> None:
    """Production: reaching a commit point does nothing."""


# Test hook: called with the name of each commit point as it is passed. Only Python code sets it
# (tests/harness.py kills the process at a chosen point); no setting or environment variable does.
fault_hook: Callable[[str], None] = _no_fault


def after_commit(point: str) -> None:
    """A unit of work of kind ``point`` (:data:`FAULT_POINTS`) was just committed."""
    fault_hook(point)


@dataclass(frozen=True)
class UnitFailure:
    """A unit of work that failed without a verdict (picklable: made in photometry workers too).

    Attributes
    ----------
    unit : str
        What was left pending: an ``ACQ_ID``, a starpool key, a drift series.
    kind : FailureKind
        ``transient`` or ``internal`` (never ``data``: data failures are verdicts).
    error : str
        ``"<ExceptionType>: <message>"``.
    traceback : str
        The formatted traceback (logged for internal errors).
    """

    unit: str
    kind: FailureKind
    error: str
    traceback: str = ""

    @property
    def line(self) -> str:
        """The problem line of the run: ``"<unit>: transient: <error>"`` or ``"<unit>: internal error: <error>"``."""
        label = "transient" if self.kind is FailureKind.TRANSIENT else "internal error"
        return f"{self.unit}: {label}: {self.error}"


def unit_failure(exc: BaseException, unit: str) -> UnitFailure:
    """Describe a failure of ``unit`` that is not one of the stage's data exceptions."""
    kind = classify(exc)
    text = "".join(traceback.format_exception(exc))
    return UnitFailure(unit=unit, kind=kind, error=f"{type(exc).__name__}: {exc}", traceback=text)


def ends_the_run(exc: BaseException) -> bool:
    """Whether ``exc`` makes the session unusable (a lost or refused database connection): the
    run cannot go on with the next unit."""
    return isinstance(exc, sa_exc.SQLAlchemyError) and is_transient(exc)


@dataclass
class StageSummary:
    """What a stage left pending: counts and the problem lines (base of the stage summaries)."""

    deferred: int = 0  # units left pending by a transient failure
    errors: int = 0  # units left pending by an internal error
    problems: list[str] = field(default_factory=list)  # one UnitFailure.line per unit left pending

    def leave_pending(self, failure: UnitFailure, log: logging.Logger, stage: str) -> None:
        """Count and log a unit left pending: transient at WARNING, internal at ERROR with its traceback."""
        if failure.kind is FailureKind.TRANSIENT:
            self.deferred += 1
            log.warning("%s of %s: transient failure, left pending for the next run: %s", stage, failure.unit,
                        failure.error)
        else:
            self.errors += 1
            log.error("%s of %s: internal error, left pending for the next run: %s\n%s", stage, failure.unit,
                      failure.error, failure.traceback.rstrip())
        self.problems.append(failure.line)

    def pending_text(self) -> str:
        """``", N deferred, M internal errors"`` when units were left pending, else ``""``."""
        parts = [f"{self.deferred} deferred"] if self.deferred else []
        parts += [f"{self.errors} internal error(s)"] if self.errors else []
        return "".join(f", {p}" for p in parts)


@contextmanager
def unit_of_work(session: Session, summary: StageSummary, unit: str, log: logging.Logger, stage: str) -> Iterator[None]:
    """Run one unit of work (its computation, its rows and its commit) under the retry policy.

    Data failures are handled inside the unit (they are verdict rows). Any other exception that
    escapes it rolls back what the unit wrote; then it ends the run if the database connection
    is lost (:func:`ends_the_run`), else the unit is left pending (:meth:`StageSummary.leave_pending`)
    and the stage goes on with the next unit. Code after the ``with`` block runs in both cases:
    put what only a done unit does inside it.
    """
    try:
        yield
    except Exception as exc:  # noqa: BLE001 - the one place a stage's unit failure is decided
        session.rollback()
        if ends_the_run(exc):
            raise
        summary.leave_pending(unit_failure(exc, unit), log, stage)
