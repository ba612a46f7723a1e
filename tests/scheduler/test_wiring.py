"""Schedule declaration: a paused scheduler, fixed ids, UTC triggers, job defaults."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from apscheduler.schedulers.background import BackgroundScheduler

from monitor.scheduler import jobs
from monitor.scheduler.wiring import JOB_IDS, build_scheduler, cron_trigger, register_jobs
from monitor.settings import ConfigError, ReportSettings, SchedulerSettings, Settings

NOW = datetime(2026, 11, 18, 12, 0, 30, tzinfo=UTC)  # a Wednesday


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(site=tmp_path, database_url="sqlite://")


@pytest.fixture
def scheduler(settings: Settings) -> Iterator[BackgroundScheduler]:
    sched = build_scheduler(None, settings)
    register_jobs(sched, settings)
    sched.start(paused=True)
    try:
        yield sched
    finally:
        sched.shutdown(wait=False)


def _next(sched: BackgroundScheduler, job_id: str, now: datetime = NOW) -> datetime:
    job = sched.get_job(job_id)
    assert job is not None
    fire = job.trigger.get_next_fire_time(None, now)
    assert fire is not None
    return fire.astimezone(UTC)


def test_ids_and_textual_references(scheduler: BackgroundScheduler) -> None:
    got = {j.id: j for j in scheduler.get_jobs()}
    assert set(got) == set(JOB_IDS)
    for job_id, job in got.items():
        assert job.func_ref == f"monitor.scheduler.jobs:{job_id}"
        assert callable(getattr(importlib.import_module("monitor.scheduler.jobs"), job_id))
        assert job.args == () and job.kwargs == {}


def test_triggers_default_settings(scheduler: BackgroundScheduler) -> None:
    assert _next(scheduler, "ingest") == datetime(2026, 11, 18, 12, 5, tzinfo=UTC)
    assert _next(scheduler, "process") == datetime(2026, 11, 18, 12, 1, tzinfo=UTC)
    assert _next(scheduler, "email_retry") == datetime(2026, 11, 18, 12, 15, tzinfo=UTC)
    assert _next(scheduler, "weekly_report") == datetime(2026, 11, 23, 6, 0, tzinfo=UTC)  # Monday
    assert _next(scheduler, "monthly_report") == datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
    for job in scheduler.get_jobs():
        assert str(job.trigger.timezone) == "UTC"


def test_job_defaults_and_grace(scheduler: BackgroundScheduler, settings: Settings) -> None:
    defaults = scheduler._job_defaults  # no public accessor in APScheduler 3.x
    assert defaults == {"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600}
    assert str(scheduler.timezone) == "UTC"
    for job in scheduler.get_jobs():
        assert job.coalesce is True
        assert job.max_instances == 1
        expected = 72 * 3600 if job.id.endswith("_report") else 3600
        assert job.misfire_grace_time == expected, job.id


def test_register_twice_replaces(scheduler: BackgroundScheduler, settings: Settings) -> None:
    register_jobs(scheduler, settings)
    assert sorted(j.id for j in scheduler.get_jobs()) == sorted(JOB_IDS)


def test_settings_drive_the_triggers(tmp_path: Path) -> None:
    settings = Settings(
        site=tmp_path,
        database_url="sqlite://",
        report=ReportSettings(weekly_cron="30 7 * * 3", monthly_cron="0 5 2 * *"),
        scheduler=SchedulerSettings(ingest_minutes=10, email_retry_minutes=60, report_grace_hours=6),
    )
    sched = build_scheduler(None, settings)
    register_jobs(sched, settings)
    sched.start(paused=True)
    try:
        assert _next(sched, "ingest") == datetime(2026, 11, 18, 12, 10, tzinfo=UTC)
        assert _next(sched, "email_retry") == datetime(2026, 11, 18, 13, 0, tzinfo=UTC)
        # cron "3" is Wednesday (cron numbering), not Thursday (APScheduler's)
        assert _next(sched, "weekly_report") == datetime(2026, 11, 25, 7, 30, tzinfo=UTC)
        assert _next(sched, "monthly_report") == datetime(2026, 12, 2, 5, 0, tzinfo=UTC)
        assert sched.get_job("weekly_report").misfire_grace_time == 6 * 3600
    finally:
        sched.shutdown(wait=False)


@pytest.mark.parametrize(
    ("expr", "now", "expected"),
    [
        ("0 6 * * 0", NOW, datetime(2026, 11, 22, 6, tzinfo=UTC)),  # Sunday
        ("0 6 * * 7", NOW, datetime(2026, 11, 22, 6, tzinfo=UTC)),  # Sunday too
        ("0 6 * * 1-5", NOW, datetime(2026, 11, 19, 6, tzinfo=UTC)),  # Mon-Fri -> Thursday
        ("0 6 * * mon", NOW, datetime(2026, 11, 23, 6, tzinfo=UTC)),
        ("*/15 * * * *", NOW, datetime(2026, 11, 18, 12, 15, tzinfo=UTC)),
    ],
)
def test_cron_trigger_uses_cron_weekday_numbers(expr: str, now: datetime, expected: datetime) -> None:
    assert cron_trigger(expr).get_next_fire_time(None, now) == expected


@pytest.mark.parametrize("expr", ["0 6 * *", "61 6 * * *", "0 6 * * funday"])
def test_bad_cron_is_a_config_error(expr: str) -> None:
    with pytest.raises(ConfigError):
        cron_trigger(expr)


def test_bad_interval_is_a_config_error(settings: Settings) -> None:
    bad = replace(settings, scheduler=SchedulerSettings(ingest_minutes=0))
    with pytest.raises(ConfigError):
        register_jobs(build_scheduler(None, bad), bad)


def test_job_wrapper_records_failure_and_does_not_raise(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A use-case that raises gives outcome 'failed' and a job_run row; nothing propagates."""
    recorded: list[tuple[str, str, str]] = []

    def fake_record(
        session: object, job_id: str, started: datetime, finished: datetime | None, outcome: str, message: str = ""
    ) -> None:
        recorded.append((job_id, outcome, message))

    import monitor.catalogue.repository as repo

    monkeypatch.setattr(repo, "record_job_run", fake_record)
    monkeypatch.setenv("MONITOR_SITE", str(tmp_path))
    monkeypatch.setenv("MONITOR_DATABASE_URL", "sqlite://")
    outcome = jobs.run_job("process", "tests.scheduler.test_wiring:_boom")
    assert outcome == "failed"
    [(job_id, out, message)] = recorded
    assert (job_id, out) == ("process", "failed")
    assert "RuntimeError: boom" in message


def _boom(session: object, settings: Settings, now: datetime) -> None:
    raise RuntimeError("boom")


def test_scheduled_jobs_reads_the_persistent_store(tmp_path: Path, settings: Settings) -> None:
    from monitor.catalogue.engine import make_engine
    from monitor.scheduler.wiring import scheduled_jobs

    engine = make_engine(f"sqlite:///{tmp_path / 'jobs.db'}")
    try:
        assert scheduled_jobs(engine, settings) == []  # daemon never ran
        sched = build_scheduler(engine, settings)
        register_jobs(sched, settings)
        sched.start(paused=True)
        sched.shutdown(wait=False)
        rows = scheduled_jobs(engine, settings)
        assert [job_id for job_id, _ in rows] == sorted(JOB_IDS)
        assert all(t is not None and t.tzinfo is not None for _, t in rows)
    finally:
        engine.dispose()
