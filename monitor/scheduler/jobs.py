"""Scheduled job entry points: tiny, importable, argument-free wrappers.

APScheduler stores these as textual references (``monitor.scheduler.jobs:ingest``), so their
names and this module path are part of the persisted job store: do not rename them. Each wrapper
loads the settings (``MONITOR_SITE``), opens one catalogue session, calls one use-case
``(session, settings, now)``, and records a ``job_run`` row with the outcome. A failure is logged
with its traceback and recorded; it never propagates into the scheduler (the daemon keeps going and
the idempotent use-case picks the work up again on its next run).
"""

from __future__ import annotations

import importlib
import logging
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

__all__ = ["ingest", "process", "weekly_report", "monthly_report", "email_retry", "run_job"]

log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


def _resolve(ref: str) -> Callable[..., Any]:
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]


def run_job(job_id: str, target: str, **kwargs: Any) -> str:
    """Run use-case ``target`` (``"module:function"``) for job ``job_id``; return the outcome.

    Outcome ``"ok"`` or ``"failed"``; the job-run row carries the traceback on failure.
    """
    from sqlmodel import Session

    from monitor.catalogue.engine import make_engine
    from monitor.catalogue.repository import record_job_run
    from monitor.settings import load_settings

    started = _now()
    try:
        settings = load_settings()
        engine = make_engine(settings.database_url, settings.database_password)
    except Exception:
        log.exception("job %s: cannot load settings or open the catalogue", job_id)
        return "failed"
    outcome, message = "ok", ""
    try:
        func = _resolve(target)
        with Session(engine) as session:
            result = func(session, settings, started, **kwargs)
        if result is not None:
            message = str(result)[:2000]
        log.info("job %s finished in %.1f s", job_id, (_now() - started).total_seconds())
    except Exception:
        outcome, message = "failed", traceback.format_exc()
        log.exception("job %s failed", job_id)
    try:
        with Session(engine) as session:
            record_job_run(session, job_id, started, _now(), outcome, message)
    except Exception:
        log.exception("job %s: cannot record the job run (outcome %s)", job_id, outcome)
    finally:
        engine.dispose()
    return outcome


def ingest() -> None:
    """Move complete files from the inbox into the catalogue."""
    run_job("ingest", "monitor.ingest.service:run_ingest")


def process() -> None:
    """Compute calibration results for everything ingested and not yet processed."""
    run_job("process", "monitor.calibration.service:run_processing")


def weekly_report() -> None:
    """Render, store and send the weekly report."""
    run_job("weekly_report", "monitor.reports.service:run_report", period="weekly")


def monthly_report() -> None:
    """Render, store and send the monthly report."""
    run_job("monthly_report", "monitor.reports.service:run_report", period="monthly")


def email_retry() -> None:
    """Retry sending reports whose e-mail failed."""
    run_job("email_retry", "monitor.reports.service:send_pending")
