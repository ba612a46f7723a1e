"""``monitor demo DIR`` never writes simulated files into an existing (production) site (issue 20)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_cli_errors import one_error_line, run


@pytest.mark.parametrize("marker", ["monitor.toml", "monitor.db"])
def test_demo_refuses_an_existing_site(tmp_path: Path, marker: str) -> None:
    d = tmp_path / "prod"
    d.mkdir()
    (d / marker).write_text("" if marker == "monitor.db" else 'log_level = "INFO"\n')
    before = sorted(p.name for p in d.iterdir())
    line = one_error_line(run("demo", str(d), "--months", "1"))
    assert "existing site" in line and str(d) in line
    assert sorted(p.name for p in d.iterdir()) == before  # no inbox, no simulated file, no catalogue change


def test_demo_refuses_a_site_made_by_init(tmp_path: Path) -> None:
    d = tmp_path / "prod"
    assert run("init", str(d)).returncode == 0
    one_error_line(run("demo", str(d), "--months", "1"))
    assert list((d / "inbox").iterdir()) == []
