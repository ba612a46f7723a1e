"""``[site] umask``: every file the chain creates under a site (catalogue, archive, quarantine,
reports) gets the site's permissions, not world-readable ones, through the real command line."""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.simulate.campaign import simulate_campaigns
from tests.harness import REPO_ROOT, command


@contextmanager
def _umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def _monitor(site: Path, *args: str) -> None:
    env = dict(os.environ)
    env.pop("MONITOR_DATABASE_URL", None)  # the SQLite catalogue inside the site: a file to check
    env.update({"MONITOR_INGEST_SETTLE_SECONDS": "0", "MONITOR_LOG_LEVEL": "WARNING"})
    done = subprocess.run(command(*args, "--site", str(site)), env=env, capture_output=True, text=True,
                          timeout=300, cwd=REPO_ROOT)
    assert done.returncode == 0, done.stderr


def _modes(site: Path) -> dict[str, int]:
    """Permission bits of every entry under the site (relative path -> mode)."""
    out = {}
    for root, dirs, files in os.walk(site):
        for name in dirs + files:
            p = Path(root) / name
            out[str(p.relative_to(site))] = stat.S_IMODE(p.lstat().st_mode)
    return out


@pytest.mark.slow
@pytest.mark.e2e  # file modes: nothing of the database backend
@pytest.mark.parametrize(("toml", "mask"), [
    ("", 0o027),  # the default: files 0640, directories 0750
    ('[site]\numask = "022"\n', 0o022),  # files 0644, directories 0755
])
def test_files_under_the_site_have_the_site_permissions(tmp_path: Path, toml: str, mask: int) -> None:
    file_mode, dir_mode = 0o666 & ~mask, 0o777 & ~mask
    site = tmp_path / "site"
    site.mkdir()
    (site / "monitor.toml").write_text(toml)
    # the commands start from a permissive umask (002); the site sets its own
    with _umask(0o002):
        _monitor(site, "init")
    # the producer delivers world-readable files (its own umask 002): archived and quarantined
    # files get the site's permissions all the same
    with _umask(0o002):
        simulate_campaigns(site / "inbox", start=datetime(2025, 2, 1, tzinfo=UTC), months=1, seed=3,
                           satellites=("PHR1A",), stars_per_campaign=3, moon_per_month=0, geom_per_month=1,
                           bad_files=True)
    with _umask(0o002):
        _monitor(site, "ingest")
        _monitor(site, "process")
        _monitor(site, "report", "--period", "2025-02")
    os.chmod(site / "monitor.toml", file_mode)  # written by the test, not by monitor
    modes = _modes(site)
    kinds = {k.split("/")[0] for k in modes}
    assert {"archive", "quarantine", "reports", "monitor.db"} <= kinds, sorted(modes)
    assert any(k.startswith("reports/") and k.endswith(".pdf") for k in modes)
    assert any(k.startswith("quarantine/") and not (site / k).is_dir() for k in modes)
    wrong = {k: oct(m) for k, m in modes.items()
             if m != (dir_mode if (site / k).is_dir() else file_mode) and not (site / k).is_symlink()}
    assert wrong == {}
    if file_mode == 0o640:
        assert all(m & 0o007 == 0 for m in modes.values())
