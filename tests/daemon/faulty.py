"""Test-only job use-cases ``(session, settings, now)`` that misbehave the way real jobs can.

The daemon tests point a job at one of these through the harness (``MONITOR_TEST_JOB_TARGETS``)
or through :data:`monitor.daemon.jobs.JOB_TARGETS` in-process; they run in the job's child
process like the real use-cases.
"""

from __future__ import annotations

import ctypes
import time
from datetime import datetime
from typing import Any

from monitor.settings import Settings

FLAG = "fail.flag"  # fail_while_flagged fails while <site>/fail.flag exists


def segfault(session: Any, settings: Settings, now: datetime) -> None:
    """Dereference a null pointer: SIGSEGV, as a broken C extension would."""
    ctypes.string_at(0)


def out_of_memory(session: Any, settings: Settings, now: datetime) -> str:
    """Allocate (and touch) 2 GiB: more than the tests' [scheduler] memory_limit_mb of 1536 MB
    allows, well within what the machine has (without the limit this job succeeds)."""
    block = bytearray(2 << 30)
    return f"allocated {len(block)} bytes"


def hang(session: Any, settings: Settings, now: datetime) -> None:
    """Never return (a stuck network peer, a deadlock)."""
    while True:
        time.sleep(1.0)


def boom(session: Any, settings: Settings, now: datetime) -> None:
    """A programming error."""
    raise KeyError("no such thing")


def ok(session: Any, settings: Settings, now: datetime) -> str:
    return f"ok at {now:%H:%M:%S}"


def fail_while_flagged(session: Any, settings: Settings, now: datetime) -> str:
    """Fail (a transient OSError) while ``<site>/fail.flag`` exists, succeed otherwise."""
    if (settings.site / FLAG).exists():
        raise OSError(f"simulated outage ({FLAG} present)")
    return "recovered"


def hang_with_grandchild(session: Any, settings: Settings, now: datetime) -> None:
    """Start a grandchild process (as the photometry workers are), then hang."""
    import subprocess

    child = subprocess.Popen(["sleep", "600"])
    (settings.site / "grandchild.pid").write_text(str(child.pid))
    hang(session, settings, now)


def where(session: Any, settings: Settings, now: datetime) -> str:
    """Which site this job runs on."""
    return f"site {settings.site}"
