"""Test harness: the ``monitor`` command line with test-only fault injection installed.

Production runs ``monitor`` (``monitor.cli``), which never imports this module: no setting and no
environment variable of a production daemon can reach the faults below. The crash and daemon
tests run ``python -m tests.harness <monitor arguments>`` instead, with:

``MONITOR_TEST_INGEST_FAULT``
    ``after_move`` or ``after_move:3``: SIGKILL this very process at that ingest step (the n-th
    time it is reached); ``slow:0.15``: pause that long at every ingest step, so that a test can
    kill or stop the process at random moments in the middle of the work.

``MONITOR_TEST_PROCESS_FAULT``
    ``starpool`` or ``moon:2``: SIGKILL this process just after that commit of ``monitor process``
    (the n-th time; points in :data:`monitor.calibration.pending.FAULT_POINTS`).

``MONITOR_TEST_JOB_TARGETS``
    ``process=tests.daemon.faulty:segfault,email_retry=...``: the daemon runs these test-only
    use-cases instead of the real ones (a job that segfaults, runs out of memory, hangs...).

The daemon runs each job in a child process; :func:`install` is also named as the children's
initializer (:data:`monitor.daemon.runner.child_initializer`), so the faults reach the jobs too.
Give the subprocesses ``PYTHONPATH=REPO_ROOT`` when they do not run from the repository.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from pathlib import Path

from monitor.ingest import service as ingest_service

log = logging.getLogger("tests.harness")

INGEST_FAULT_ENV = "MONITOR_TEST_INGEST_FAULT"
JOB_TARGETS_ENV = "MONITOR_TEST_JOB_TARGETS"
PROCESS_FAULT_ENV = "MONITOR_TEST_PROCESS_FAULT"
REPO_ROOT = Path(__file__).resolve().parents[1]  # the working directory of harness subprocesses


def command(*args: str) -> list[str]:
    """``monitor <args>`` through this harness (run it with ``cwd=REPO_ROOT``)."""
    return [sys.executable, "-m", "tests.harness", *args]


class Faults:
    """Fault injection at the named steps of ``points`` (default the ingest's FAULT_POINTS)."""

    def __init__(self, spec: str, points: tuple[str, ...] = ingest_service.FAULT_POINTS) -> None:
        name, _, arg = spec.partition(":")
        if name != "slow" and name not in points:
            raise ValueError(f"unknown fault point {name!r} (one of {points})")
        self.name = name
        self.pause_s = float(arg) if name == "slow" else 0.0
        self.remaining = int(arg) if arg and name != "slow" else 1

    def __call__(self, point: str) -> None:
        if self.pause_s:
            time.sleep(self.pause_s)
            return
        if point != self.name:
            return
        self.remaining -= 1
        if self.remaining == 0:
            log.warning("fault injection: killing the process at %s", point)
            os.kill(os.getpid(), signal.SIGKILL)


def install() -> None:
    """Install the faults named by the environment (see the module docstring)."""
    spec = os.environ.get(INGEST_FAULT_ENV, "")
    if spec:
        ingest_service.fault_hook = Faults(spec)
    spec = os.environ.get(PROCESS_FAULT_ENV, "")
    if spec:
        from monitor.calibration import pending

        pending.fault_hook = Faults(spec, pending.FAULT_POINTS)


def _override_job_targets(spec: str) -> None:
    from monitor.daemon.jobs import JOB_TARGETS, JobTarget

    for item in filter(None, spec.split(",")):
        job_id, _, target = item.partition("=")
        if job_id not in JOB_TARGETS or ":" not in target:
            raise ValueError(f"bad {JOB_TARGETS_ENV} item {item!r}")
        JOB_TARGETS[job_id] = JobTarget(target)


def main() -> None:
    install()
    from monitor.daemon import runner

    runner.child_initializer = "tests.harness:install"
    _override_job_targets(os.environ.get(JOB_TARGETS_ENV, ""))
    from monitor.cli import app

    app(prog_name="monitor")


if __name__ == "__main__":
    main()
