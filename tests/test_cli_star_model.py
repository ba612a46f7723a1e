"""``monitor init`` and ``monitor status`` say which star reference model is active and why
(ICD 2.2b): REF-1 without a library, REF-2 with the library's checksum when one is configured."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.reference_dirs import SHARED_REFERENCE
from tests.test_cli_errors import _env, run

LIBRARY = (SHARED_REFERENCE or Path("/nonexistent/shared/reference")) / "pickles"
pytestmark = pytest.mark.slow  # five command-line processes: about 60 s on the loaded 2-core machine


def test_init_and_status_without_library_say_ref1(tmp_path: Path) -> None:
    site = tmp_path / "site"
    done = run("init", str(site))
    assert done.returncode == 0, done.stderr
    assert "star reference model REF-1: no spectral library configured" in done.stdout
    # the setting is named as written in monitor.toml (Rich took "[reference]" for markup and dropped it)
    assert "([reference] star_library)" in done.stdout
    status = run("status", "--site", str(site))
    assert status.returncode == 0, status.stderr
    assert sum("star reference model REF-1" in ln for ln in status.stdout.splitlines()) == 1


@pytest.mark.skipif(not LIBRARY.is_dir(), reason="site REF-2 inputs not installed here")
def test_status_with_library_says_ref2_and_checksum(tmp_path: Path) -> None:
    site = tmp_path / "site"
    env = _env(MONITOR_REFERENCE_STAR_LIBRARY=str(LIBRARY))
    done = run("init", str(site), env=env)
    assert done.returncode == 0, done.stderr
    assert "star reference model REF-2" in done.stdout and str(LIBRARY) in done.stdout
    doc = json.loads(run("status", "--format", "json", "--site", str(site), env=env).stdout)
    assert doc["star_model"]["model"] == "REF-2" and len(doc["star_model"]["library_sha256"]) == 64
    assert doc["star_model"]["library_sha256"][:16] in doc["star_model"]["reason"]
