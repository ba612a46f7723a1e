"""Run one scheduled job in its own child process, with a time limit, and record how it went.

For every run of a job the runner (in the daemon, on that job's scheduler thread)

1. records a ``running`` row in ``job_run`` (when the catalogue can be reached);
2. starts ``python -m monitor.daemon.child`` in a new session (its own process group), hands it
   the daemon's settings through a pipe, and waits at most ``[scheduler] timeout_minutes_<job>``;
3. on time-out sends SIGTERM to the child's whole process group (its photometry workers too),
   then SIGKILL after :data:`KILL_GRACE_S`: outcome ``timeout``; a child that dies without a
   result (segfault, OOM killer, abnormal exit) gives ``crashed`` with the signal's name;
4. records the outcome, then lets :mod:`monitor.daemon.incidents` open or close an incident.

When the catalogue cannot be reached, the outcome is logged and kept in memory; the runs are
written, in order and with their incident evaluation, as soon as it can be reached again. While
the daemon does not hold its catalogue lock (PostgreSQL restarted), no child is started: the
run is recorded ``failed`` ("not started") so that the gap shows in the history.

Test hook: :data:`child_initializer` (``module:function``) is called first in every child; only
Python code sets it (``tests/harness.py``), never a setting or the environment.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from monitor.catalogue import operations as ops
from monitor.catalogue.states import JobOutcome
from monitor.daemon.child import ChildSpec
from monitor.daemon.incidents import IncidentChange, after_job_run, scrub
from monitor.daemon.jobs import JOB_TARGETS
from monitor.failures import is_transient
from monitor.settings import Settings

__all__ = ["child_initializer", "JobRunner", "KILL_GRACE_S", "outcome_of_exit"]

log = logging.getLogger(__name__)

child_initializer: str | None = None  # test hook (see the module docstring)

KILL_GRACE_S = 10.0  # s between SIGTERM and SIGKILL of a timed-out job
MAX_UNRECORDED = 10_000  # runs kept in memory while the catalogue is unreachable


@dataclass
class _Run:
    job_id: str
    started: datetime
    run_id: int | None = None  # its job_run row, when the start could be recorded
    finished: datetime | None = None
    outcome: JobOutcome = JobOutcome.RUNNING
    message: str = ""
    exit_code: int | None = None


def _now() -> datetime:
    return datetime.now(UTC)


_SIGNAL_HINTS = {
    signal.SIGSEGV: " (segmentation fault)",
    signal.SIGKILL: " (killed: out of memory, or by hand)",
    signal.SIGABRT: " (aborted)",
    signal.SIGBUS: " (bus error)",
}


def outcome_of_exit(code: int) -> str:
    """A sentence about the exit code of a child that wrote no result."""
    if code < 0:
        try:
            sig = signal.Signals(-code)
        except ValueError:
            return f"the job's process died from signal {-code} without finishing"
        return f"the job's process died from {sig.name}{_SIGNAL_HINTS.get(sig, '')} without finishing"
    return f"the job's process exited with code {code} without reporting a result"


class JobRunner:
    """Runs the daemon's jobs in child processes (one instance per daemon).

    Parameters
    ----------
    settings
        The daemon's settings, resolved once at start; every child gets exactly these.
    engine
        The daemon's catalogue engine (job runs, incidents).
    lock_held
        Whether the daemon holds its catalogue lock now (children are started only then).
    on_mail
        Called when alert or recovery e-mails were queued (the daemon brings the e-mail job forward).
    """

    def __init__(self, settings: Settings, engine: Engine, lock_held: Callable[[], bool],
                 on_mail: Callable[[], None] | None = None) -> None:
        self.settings = settings
        self.engine = engine
        self.lock_held = lock_held
        self.on_mail = on_mail
        self._unrecorded: deque[_Run] = deque(maxlen=MAX_UNRECORDED)
        self._record_lock = threading.Lock()
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        self._children_lock = threading.Lock()

    # ------------------------------------------------------------------ one run

    def run(self, job_id: str) -> str:
        """Run job ``job_id`` once; returns its outcome. Never raises (it is the scheduler's callable)."""
        run = _Run(job_id, _now())
        try:
            if not self.lock_held():
                run.outcome = JobOutcome.FAILED
                run.message = ("not started: the daemon does not hold its catalogue lock (catalogue unreachable?); "
                               "it tries to take it again")
                log.error("job %s not started: the catalogue lock is not held", job_id)
            else:
                run.run_id = self._db(lambda s: ops.start_job_run(s, job_id, run.started), f"start of job {job_id}",
                                      quiet=True)
                run.outcome, run.message, run.exit_code = self._run_child(job_id, run.started)
        except Exception as exc:  # noqa: BLE001 - a defect of the runner itself must not kill the scheduler
            log.exception("job %s: the runner failed", job_id)
            run.outcome = JobOutcome.FAILED
            run.message = f"the daemon could not run the job: {type(exc).__name__}: {exc}"
        run.finished = _now()
        run.message = scrub(run.message, self.settings)
        level = logging.INFO if run.outcome == JobOutcome.OK else logging.ERROR
        first_line = run.message.strip().splitlines()[0] if run.message else ""
        log.log(level, "job %s %s in %.1f s%s", job_id, run.outcome, (run.finished - run.started).total_seconds(),
                "" if run.outcome == JobOutcome.OK else f": {first_line}")
        self._record(run)
        return run.outcome

    def _run_child(self, job_id: str, started: datetime) -> tuple[JobOutcome, str, int | None]:
        target = JOB_TARGETS[job_id]
        spec = ChildSpec(job_id=job_id, target=target.target, kwargs=dict(target.kwargs), settings=self.settings,
                         started=started, initializer=child_initializer, parent_pid=os.getpid())
        timeout_s = self.settings.scheduler.timeout_s(job_id)
        read_fd, write_fd = os.pipe()
        try:
            proc = subprocess.Popen(
                # -P: the working directory is not put on sys.path (a folder named "monitor" there
                # must never stand in for the installed package)
                [sys.executable, "-P", "-m", "monitor.daemon.child", str(write_fd)],
                stdin=subprocess.PIPE, pass_fds=(write_fd,), start_new_session=True,
            )
        finally:
            os.close(write_fd)
        with self._children_lock:
            self._children[job_id] = proc
        try:
            assert proc.stdin is not None
            try:
                proc.stdin.write(pickle.dumps(spec))
                proc.stdin.close()
            except BrokenPipeError:
                pass  # the child died at once; its exit code tells
            log.info("job %s started (pid %d, time limit %.0f s)", job_id, proc.pid, timeout_s)
            timed_out = False
            try:
                code = proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                timed_out = True
                code = self._kill(proc, f"job {job_id} exceeded its time limit of {timeout_s:.0f} s")
            result = _read_result(read_fd)
        finally:
            os.close(read_fd)
            with self._children_lock:
                self._children.pop(job_id, None)
        if timed_out:
            return (JobOutcome.TIMEOUT, f"killed after {timeout_s:.0f} s ([scheduler] timeout_minutes_{job_id} = "
                    f"{timeout_s / 60:g}); its unfinished work stays pending", code)
        if result is None:
            return JobOutcome.CRASHED, outcome_of_exit(code), code
        outcome, message = JobOutcome(str(result.get("outcome", JobOutcome.FAILED))), str(result.get("message", ""))
        if code != 0:
            message += f"\n(the process then exited with code {code})"
        return outcome, message, code

    def _kill(self, proc: subprocess.Popen[bytes], why: str) -> int:
        """SIGTERM the child's process group, then SIGKILL it; returns the exit code."""
        log.error("%s: stopping its process group %d", why, proc.pid)
        _signal_group(proc.pid, signal.SIGTERM)
        try:
            return proc.wait(timeout=KILL_GRACE_S)
        except subprocess.TimeoutExpired:
            _signal_group(proc.pid, signal.SIGKILL)
            return proc.wait()

    def kill_all(self, why: str) -> None:
        """Stop every running child now (the daemon lost its lock to another daemon)."""
        with self._children_lock:
            children = list(self._children.values())
        for proc in children:
            log.error("%s: killing job process %d", why, proc.pid)
            _signal_group(proc.pid, signal.SIGKILL)

    # ------------------------------------------------------------------ bookkeeping

    def _db(self, work: Callable[[Session], Any], what: str, quiet: bool = False) -> Any:
        """``work(session)`` on the catalogue, committed, or None when it cannot be reached (logged
        unless ``quiet`` and the failure is transient)."""
        try:
            with Session(self.engine, expire_on_commit=False) as session:
                result = work(session)
                session.commit()
                return result
        except Exception as exc:
            if not is_transient(exc):
                log.exception("%s: cannot be recorded in the catalogue", what)
            elif not quiet:
                log.warning("%s: cannot be recorded, the catalogue is unreachable: %s", what,
                            str(exc).strip().splitlines()[0] if str(exc) else type(exc).__name__)
            return None

    def _record(self, run: _Run) -> None:
        """Write ``run`` (after the runs kept while the catalogue was unreachable, in order)."""
        with self._record_lock:
            self._unrecorded.append(run)
            mails = self._drain()
        if mails and self.on_mail is not None:
            self.on_mail()

    def _drain(self) -> int:
        """Write the runs kept in memory, oldest first, until one fails; returns e-mails queued.
        The caller holds ``_record_lock``."""
        mails = 0
        while self._unrecorded:
            pending = self._unrecorded[0]
            change = self._db(partial(self._write, run=pending), "job runs", quiet=True)
            if change is None:
                log.warning("catalogue unreachable: %d job run(s) kept in memory, to be recorded when it is back "
                            "(oldest: %s started %s)", len(self._unrecorded), pending.job_id,
                            f"{pending.started:%Y-%m-%dT%H:%M:%SZ}")
                break
            self._unrecorded.popleft()
            if isinstance(change, IncidentChange):
                mails += change.emails
        return mails

    def _write(self, session: Session, run: _Run) -> IncidentChange | bool:
        assert run.finished is not None
        if run.run_id is not None:
            ops.finish_job_run(session, run.run_id, run.finished, run.outcome, run.message, run.exit_code)
        else:
            run.run_id = ops.add_job_run(session, run.job_id, run.started, run.finished, run.outcome, run.message,
                                         run.exit_code)
        change = after_job_run(session, self.settings, run.job_id, run.outcome, run.message, run.finished)
        return change if change is not None else True

    @property
    def unrecorded(self) -> int:
        """Runs waiting in memory for the catalogue."""
        return len(self._unrecorded)

    def flush(self) -> None:
        """Write the runs kept in memory, if the catalogue can be reached now."""
        with self._record_lock:
            mails = self._drain() if self._unrecorded else 0
        if mails and self.on_mail is not None:
            self.on_mail()


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def _read_result(fd: int) -> dict[str, Any] | None:
    """The JSON result the child wrote to the pipe, or None. Never blocks: the child has exited,
    and a grandchild that kept the pipe open cannot hold the daemon."""
    os.set_blocking(fd, False)
    chunks: list[bytes] = []
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    if not chunks:
        return None
    try:
        value = json.loads(b"".join(chunks).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return value if isinstance(value, dict) else None
