"""The job runner: each run in a real child process, with a time limit, on a real catalogue.

Each test points one job at a test-only use-case (tests/daemon/faulty.py) that misbehaves as a
real job can (segfault, runaway memory, hang with a grandchild, programming error, outage) and
checks the outcome recorded in ``job_run``. What these cannot catch: the scheduler's timing (see
test_daemon.py, which runs the real daemon).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session, select

from monitor.catalogue.models import JobRun
from monitor.daemon import runner as runner_module
from monitor.daemon.jobs import JOB_TARGETS, JobTarget
from monitor.daemon.runner import JobRunner
from monitor.settings import Settings, load_settings
from monitor.site import init_site, open_engine
from tests.harness import REPO_ROOT

from .faulty import FLAG


@pytest.fixture
def runner_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A site on a SQLite file: what is tested here does not depend on the catalogue's backend
    (test_alerts.py and test_daemon.py run the daemon on PostgreSQL too)."""
    monkeypatch.setenv("PYTHONPATH", str(REPO_ROOT))  # the children import tests.daemon.faulty
    env = {"MONITOR_DATABASE_URL": f"sqlite:///{tmp_path / 'catalogue.db'}",
           "MONITOR_SCHEDULER_TIMEOUT_MINUTES_PROCESS": "0.2",  # room for a loaded CI machine
           "MONITOR_SCHEDULER_TIMEOUT_MINUTES_EMAIL_RETRY": "0.1",  # 6 s: the job the hang test uses
           "MONITOR_SCHEDULER_MEMORY_LIMIT_MB": "1536"}
    settings = load_settings(tmp_path / "site", env=env)
    init_site(settings)
    return settings


@pytest.fixture
def run(runner_site: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """``run(target, job_id="process") -> (outcome, job_run row)``: that job pointed at ``target``."""
    engine = open_engine(runner_site)
    runner = JobRunner(runner_site, engine, lambda: True)

    def _run(target: str, job_id: str = "process") -> tuple[str, JobRun]:
        monkeypatch.setitem(JOB_TARGETS, job_id, JobTarget(target))
        outcome = runner.run(job_id)
        with Session(engine) as s:
            row = s.exec(select(JobRun).order_by(JobRun.id.desc())).first()  # type: ignore[union-attr]
        assert row is not None
        return outcome, row

    yield _run
    engine.dispose()


def test_ok_run_is_recorded_with_the_use_case_summary(run) -> None:
    outcome, row = run("tests.daemon.faulty:ok")
    assert outcome == row.outcome == "ok"
    assert row.exit_code == 0 and row.finished_at is not None
    assert row.message.startswith("ok at ")


def test_segfault_is_recorded_crashed_with_the_signal(run) -> None:
    outcome, row = run("tests.daemon.faulty:segfault")
    assert outcome == row.outcome == "crashed"
    assert row.exit_code == -11
    assert "SIGSEGV (segmentation fault)" in row.message


def test_runaway_memory_is_stopped_by_the_limit(run) -> None:
    outcome, row = run("tests.daemon.faulty:out_of_memory")
    assert outcome == row.outcome == "crashed"
    assert "out of memory (address-space limit 1536 MB" in row.message


def test_hung_job_is_killed_with_its_process_group(run, runner_site: Settings) -> None:
    t0 = time.monotonic()
    outcome, row = run("tests.daemon.faulty:hang_with_grandchild", "email_retry")
    elapsed = time.monotonic() - t0
    assert outcome == row.outcome == "timeout"
    assert row.exit_code == -15  # SIGTERM was enough
    assert "killed after 6 s" in row.message and "timeout_minutes_email_retry" in row.message
    assert 6.0 <= elapsed < 6.0 + runner_module.KILL_GRACE_S
    grandchild = int((runner_site.site / "grandchild.pid").read_text())
    for _ in range(50):  # the grandchild got the group's SIGTERM too (reaped by init)
        if not _alive(grandchild):
            break
        time.sleep(0.1)
    assert not _alive(grandchild)


def test_programming_error_is_failed_with_its_traceback(run) -> None:
    outcome, row = run("tests.daemon.faulty:boom")
    assert outcome == row.outcome == "failed"
    assert row.message.startswith("internal: KeyError: 'no such thing'")
    assert "Traceback (most recent call last)" in row.message


def test_environment_failure_is_failed_transient(run, runner_site: Settings) -> None:
    (runner_site.site / FLAG).touch()
    outcome, row = run("tests.daemon.faulty:fail_while_flagged")
    assert outcome == "failed"
    assert row.message.startswith("transient: OSError: simulated outage")
    (runner_site.site / FLAG).unlink()
    assert run("tests.daemon.faulty:fail_while_flagged")[0] == "ok"


def test_jobs_run_on_the_daemon_settings_not_the_environment(run, runner_site: Settings, monkeypatch,
                                                             tmp_path) -> None:
    """The child gets the daemon's settings object: MONITOR_SITE / the working directory of the
    child cannot redirect it to another site."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.setenv("MONITOR_SITE", str(elsewhere))
    monkeypatch.chdir(elsewhere)
    outcome, row = run("tests.daemon.faulty:where")
    assert outcome == "ok"
    assert row.message == f"site {runner_site.site}"
    assert list(elsewhere.iterdir()) == []


def test_a_monitor_folder_in_the_working_directory_is_not_imported(run, runner_site: Settings, monkeypatch,
                                                                   tmp_path) -> None:
    """The child runs with ``python -P``: a folder named ``monitor`` where the daemon was started
    (a checkout, a backup) never stands in for the installed package."""
    decoy = tmp_path / "cwd"
    (decoy / "monitor").mkdir(parents=True)
    (decoy / "monitor" / "__init__.py").write_text("raise SystemExit('the decoy package was imported')\n")
    monkeypatch.chdir(decoy)
    assert run("tests.daemon.faulty:ok")[0] == "ok"


def test_no_child_without_the_lock(runner_site: Settings, monkeypatch) -> None:
    engine = open_engine(runner_site)
    try:
        monkeypatch.setitem(JOB_TARGETS, "process", JobTarget("tests.daemon.faulty:ok"))
        outcome = JobRunner(runner_site, engine, lambda: False).run("process")
        with Session(engine) as s:
            [row] = s.exec(select(JobRun)).all()
    finally:
        engine.dispose()
    assert outcome == row.outcome == "failed"
    assert row.message.startswith("not started: the daemon does not hold its catalogue lock")
    assert row.exit_code is None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead for our purpose
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False
