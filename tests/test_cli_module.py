"""``python -m monitor.cli`` is the same command line as the ``monitor`` entry point.

The sub-commands that live in their own modules (export, alerts, config, plot, reports, serve,
worker) import ``monitor.cli`` for its helpers; run as ``__main__`` the module used to import them
before its own name existed as a module and died on a circular import.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def test_python_m_monitor_cli_lists_every_sub_command(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "monitor.cli", "--help"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120, env={"PATH": "/usr/bin:/bin", "COLUMNS": "200"})
    assert proc.returncode == 0, proc.stderr
    for command in ("export", "alerts", "config", "plot", "reports", "serve", "worker", "demo"):
        assert f" {command} " in proc.stdout, command
    assert not list(tmp_path.iterdir())  # --help creates nothing


def test_output_width_follows_each_invocations_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a terminal a table is laid out for COLUMNS, else 200 columns (rich's default of 80
    truncated the alert table's cells with an ellipsis in a pipe), read at every invocation, not
    once when the module was first imported."""
    from monitor import cli

    monkeypatch.setattr(cli.out, "_force_terminal", False)
    monkeypatch.setenv("COLUMNS", "123")
    cli._fit_output_to_environment()
    assert cli.out.width == 123
    monkeypatch.delenv("COLUMNS")
    cli._fit_output_to_environment()
    assert cli.out.width == cli.NO_TERMINAL_WIDTH == 200
