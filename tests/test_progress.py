"""Progress of long commands without a terminal: one log line per 10 % or per 30 s, never one per unit."""

from __future__ import annotations

import io
import logging

import pytest
from rich.console import Console

from monitor.progress import LogProgress, progress_reporter


class _Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_log_progress_every_ten_percent_and_thirty_seconds(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="test.progress")
    clock = _Clock()
    p = LogProgress("process", logging.getLogger("test.progress"), clock)
    for done in range(1, 1001):  # 1000 units in 100 s: 10 steps of 10 %, the 30 s rule never first
        clock.t = done * 0.1
        p(done, 1000, "photometry")
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 11, lines  # the stage's start, then each 10 %
    assert lines[0] == "process: photometry 1/1000 (0 %), 0 s"
    assert lines[1] == "process: photometry 100/1000 (10 %), 10 s"
    assert lines[-1] == "process: photometry 1000/1000 (100 %), 100 s"
    caplog.clear()
    for done in range(1, 201):  # a slow stage: 200 units of 1 s -> a line every 30 s (and each 10 %)
        clock.t += 1.0
        p(done, 1000, "PSF/MTF PHR1A-2025-01 P")
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0].startswith("process: PSF/MTF PHR1A-2025-01 P 1/1000 (0 %)")  # a new stage is announced
    assert 6 <= len(lines) <= 9, lines  # 200 s: every 30 s or 100 units, not 200 lines


def test_reporter_without_terminal_logs_and_with_terminal_draws_a_bar(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="monitor.progress")
    with progress_reporter("simulate", Console(file=io.StringIO(), force_terminal=False)) as progress:
        progress(1, 2, "2025-01 PHR1A")
    assert [r.getMessage() for r in caplog.records] == ["simulate: 2025-01 PHR1A 1/2 (50 %), 0 s"]
    caplog.clear()
    buf = io.StringIO()
    with progress_reporter("simulate", Console(file=buf, force_terminal=True, width=100)) as progress:
        progress(1, 2, "2025-01 PHR1A")
    assert caplog.records == []
    assert "simulate" in buf.getvalue() and "1/2" in buf.getvalue()
