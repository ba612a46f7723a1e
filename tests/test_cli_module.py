"""``python -m monitor.cli`` is the same command line as the ``monitor`` entry point.

The sub-commands that live in their own modules (export, alerts, config, plot, reports, serve,
worker) import ``monitor.cli`` for its helpers; run as ``__main__`` the module used to import them
before its own name existed as a module and died on a circular import.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_python_m_monitor_cli_lists_every_sub_command(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "monitor.cli", "--help"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120, env={"PATH": "/usr/bin:/bin", "COLUMNS": "200"})
    assert proc.returncode == 0, proc.stderr
    for command in ("export", "alerts", "config", "plot", "reports", "serve", "worker", "demo"):
        assert f" {command} " in proc.stdout, command
    assert not list(tmp_path.iterdir())  # --help creates nothing
