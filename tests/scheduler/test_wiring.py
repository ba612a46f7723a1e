"""Schedule declaration: a paused scheduler, fixed ids, UTC triggers, job defaults, catch-up."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from apscheduler.schedulers.background import BackgroundScheduler

from monitor.daemon.jobs import JOB_TARGETS
from monitor.scheduler.wiring import JOB_IDS, build_scheduler, catch_up_reports, cron_trigger, register_jobs
from monitor.settings import ConfigError, ReportSettings, SchedulerSettings, Settings

NOW = datetime(2026, 11, 18, 12, 0, 30, tzinfo=UTC)  # a Wednesday


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(site=tmp_path, database_url="sqlite://")


def _run(job_id: str) -> None:  # the daemon's job runner stands here
    raise AssertionError("a paused scheduler runs nothing")


@pytest.fixture
def scheduler(settings: Settings) -> Iterator[BackgroundScheduler]:
    sched = build_scheduler(settings)
    register_jobs(sched, settings, _run)
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


def test_ids_and_the_runner(scheduler: BackgroundScheduler) -> None:
    got = {j.id: j for j in scheduler.get_jobs()}
    assert set(got) == set(JOB_IDS) == set(JOB_TARGETS)  # every scheduled job has a use-case to run
    for job_id, job in got.items():
        assert job.func is _run
        assert job.args == (job_id,) and job.kwargs == {}
    assert scheduler._executors["default"]._pool._max_workers == len(JOB_IDS)  # one thread per job


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
    register_jobs(scheduler, settings, _run)
    assert sorted(j.id for j in scheduler.get_jobs()) == sorted(JOB_IDS)


def test_settings_drive_the_triggers(tmp_path: Path) -> None:
    settings = Settings(
        site=tmp_path,
        database_url="sqlite://",
        report=ReportSettings(weekly_cron="30 7 * * 3", monthly_cron="0 5 2 * *"),
        scheduler=SchedulerSettings(ingest_minutes=10, process_minutes=30, email_retry_minutes=60,
                                    report_grace_hours=6),
    )
    sched = build_scheduler(settings)
    register_jobs(sched, settings, _run)
    sched.start(paused=True)
    try:
        assert _next(sched, "ingest") == datetime(2026, 11, 18, 12, 10, tzinfo=UTC)
        after = datetime(2026, 11, 18, 12, 2, tzinfo=UTC)  # every 30 min (not ingest's 10), 1 min after
        assert _next(sched, "process", after) == datetime(2026, 11, 18, 12, 31, tzinfo=UTC)
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
        register_jobs(build_scheduler(bad), bad, _run)


@pytest.mark.parametrize(
    ("now", "caught"),
    [
        # 2027-01-01 is a Friday: the last weekly run (Monday 2026-12-28 06:00) is 4 days old
        (datetime(2027, 1, 1, 5, 59, tzinfo=UTC), []),  # before the monthly run: nothing missed
        (datetime(2027, 1, 1, 9, 0, tzinfo=UTC), ["monthly_report"]),  # 3 h late, within 72 h of grace
        # Monday 2027-01-04 06:01: the weekly run is 1 min late, the monthly one 72 h 1 min: past the grace
        (datetime(2027, 1, 4, 6, 1, tzinfo=UTC), ["weekly_report"]),
    ],
)
def test_missed_report_runs_are_caught_up_at_start(settings: Settings, now: datetime, caught: list[str]) -> None:
    """A daemon that was down at the report time makes the report when it comes back within the
    grace (the report use-case makes a scheduled period once, so a restart costs nothing)."""
    sched = build_scheduler(settings)
    register_jobs(sched, settings, _run)
    sched.start(paused=True)
    try:
        assert catch_up_reports(sched, settings, now) == caught
        for job_id in caught:
            assert sched.get_job(job_id).next_run_time == now
    finally:
        sched.shutdown(wait=False)
