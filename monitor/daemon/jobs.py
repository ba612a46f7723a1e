"""What each scheduled job runs: a use-case ``(session, settings, now, **kwargs)`` by reference.

The child process (:mod:`monitor.daemon.child`) imports the target by its ``module:function``
name, so a test harness can point a job at a test-only target (``tests/harness.py``); production
code never changes this table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from monitor.scheduler.wiring import JOB_IDS

__all__ = ["JobTarget", "JOB_TARGETS"]


@dataclass(frozen=True)
class JobTarget:
    target: str  # "module:function"
    kwargs: dict[str, Any] = field(default_factory=dict)


JOB_TARGETS: dict[str, JobTarget] = {
    "ingest": JobTarget("monitor.ingest.service:run_ingest"),
    "process": JobTarget("monitor.calibration.service:run_processing"),
    "weekly_report": JobTarget("monitor.reports.service:run_report", {"period": "weekly"}),
    "monthly_report": JobTarget("monitor.reports.service:run_report", {"period": "monthly"}),
    "email_retry": JobTarget("monitor.reports.delivery:send_pending"),
}
if set(JOB_TARGETS) != set(JOB_IDS):  # pragma: no cover - a programming error, fail at import
    raise RuntimeError(f"job targets {sorted(JOB_TARGETS)} do not match the scheduled jobs {sorted(JOB_IDS)}")
