"""Commands outside a site create nothing; query commands open the catalogue read-only (issue 20)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_cli_errors import one_error_line, run


@pytest.mark.parametrize(
    "args",
    [("status",), ("check",), ("results",), ("traces", "--satellite", "PHR1A", "--band", "P"), ("db", "current"),
     ("db", "downgrade", "base", "--yes"), ("ingest",), ("process",)],
)
def test_command_outside_a_site_creates_nothing(tmp_path: Path, args: tuple[str, ...]) -> None:
    d = tmp_path / "not-a-site"
    d.mkdir()
    line = one_error_line(run(*args, "--site", str(d)))
    assert "not a monitor site" in line and "monitor init" in line
    assert list(d.iterdir()) == []


def _snapshot(d: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in d.iterdir()}


def test_query_commands_write_nothing(tmp_path: Path) -> None:
    """status/results/check on a catalogue: its file is not modified (read-only connection)."""
    d = tmp_path / "site"
    assert run("init", str(d)).returncode == 0
    db = d / "monitor.db"
    before = (db.stat().st_size, db.stat().st_mtime_ns)
    for args in (("status",), ("results",), ("status", "--format", "json")):
        done = run(*args, "--site", str(d))
        assert done.returncode == 0, done.stderr
    assert (db.stat().st_size, db.stat().st_mtime_ns) == before
    assert not (d / "monitor.db-journal").exists()


@pytest.fixture()
def frozen(tmp_path: Path) -> Iterator[Path]:
    """A site whose directory and catalogue nobody can write, not even root (chattr +i)."""
    if shutil.which("chattr") is None:
        pytest.skip("chattr not available")
    d = tmp_path / "site"
    assert run("init", str(d)).returncode == 0
    (d / "monitor.db").chmod(0o444)
    d.chmod(0o555)
    frozen = [d / "monitor.db", d]
    try:
        for p in frozen:
            if subprocess.run(["chattr", "+i", str(p)], capture_output=True).returncode != 0:
                pytest.skip("cannot make files immutable here")
        probe = d / "probe"
        with pytest.raises(OSError):
            probe.write_text("x")
        yield d
    finally:
        for p in frozen:
            subprocess.run(["chattr", "-i", str(p)], capture_output=True)
        os.chmod(d, 0o755)


def test_status_of_a_read_only_catalogue(frozen: Path) -> None:
    before = _snapshot(frozen)
    done = run("status", "--site", str(frozen))
    assert done.returncode == 0, done.stderr
    assert "Acquisitions" in done.stdout
    done = run("results", "--site", str(frozen))
    assert done.returncode == 0, done.stderr
    assert _snapshot(frozen) == before
