"""User mistakes end with one ``error:`` line on stderr and a non-zero exit, never a traceback
(issue 20): real ``monitor`` subprocesses (``python -m tests.harness``), no terminal."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.harness import REPO_ROOT, command


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    env.update({"MONITOR_LOG_LEVEL": "WARNING", "MONITOR_INGEST_SETTLE_SECONDS": "0", "COLUMNS": "80"})
    env.update(extra)
    return env


def run(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command(*args), env=env or _env(), capture_output=True, text=True, timeout=120,
                          cwd=REPO_ROOT, input=stdin if stdin is not None else "")


def one_error_line(done: subprocess.CompletedProcess[str], *, code: int | None = None) -> str:
    """The single ``error:`` line of a failed command (asserts there is exactly one and no traceback)."""
    assert done.returncode != 0, (done.stdout, done.stderr)
    if code is not None:
        assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: "), done.stderr
    assert "internal error" not in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("site") / "site"
    done = run("init", str(d))
    assert done.returncode == 0, done.stderr
    return d


def _site_with(tmp_path: Path, toml: str) -> Path:
    d = tmp_path / "s"
    d.mkdir()
    (d / "monitor.toml").write_text(toml)
    return d


@pytest.mark.parametrize(
    "toml, needle",
    [
        ('log_level = "LOUD"\n', "log_level"),
        ("star = 3\n", "[star]"),
        ('[star]\nworkerz = 2\n', "[star]: workerz"),
        ('database_url = "mysql+nosuchdriver://u@h/db"\n', "database_url"),
        ('database_url = "not a url"\n', "database_url"),
        ('[star]\ncampaign_period = "fortnight"\n', "campaign_period"),
        ('[star]\ncampaign_period = "0d"\n', "campaign_period"),
    ],
)
def test_bad_configuration_is_one_line(tmp_path: Path, toml: str, needle: str) -> None:
    d = _site_with(tmp_path, toml)
    env = _env()
    env.pop("MONITOR_LOG_LEVEL")  # the file's log_level, not the environment's
    line = one_error_line(run("status", "--site", str(d), env=env), code=2)
    assert needle in line
    assert not (d / "monitor.db").exists()


def test_bad_alembic_revision_is_one_line(site: Path) -> None:
    line = one_error_line(run("db", "upgrade", "nonsense", "--site", str(site)))
    assert "nonsense" in line


def test_init_on_a_file_is_one_line(tmp_path: Path) -> None:
    f = tmp_path / "afile"
    f.write_text("x")
    line = one_error_line(run("init", str(f)))
    assert f"{f} is not a directory" in line and "again later" not in line


def test_inbox_that_is_a_file_is_one_line(tmp_path: Path) -> None:
    d = tmp_path / "s"
    assert run("init", str(d)).returncode == 0
    (d / "inbox").rmdir()
    (d / "inbox").write_text("x")
    line = one_error_line(run("ingest", "--site", str(d)))
    assert f"{d / 'inbox'} is not a directory" in line and "again later" not in line


def test_long_error_line_does_not_wrap_without_a_terminal(tmp_path: Path) -> None:
    long_key = "k" * 150
    d = _site_with(tmp_path, f"[star]\n{long_key} = 1\n")
    line = one_error_line(run("status", "--site", str(d)), code=2)
    assert long_key in line and "[star]" in line


def test_downgrade_needs_confirmation(site: Path) -> None:
    """No terminal and no --yes: refused, the catalogue untouched; --yes downgrades."""
    line = one_error_line(run("db", "downgrade", "base", "--site", str(site)))
    assert "--yes" in line
    current = run("db", "current", "--site", str(site))
    assert current.returncode == 0 and "upgrade needed" not in current.stdout, current.stdout
    done = run("db", "downgrade", "base", "--yes", "--site", str(site))
    assert done.returncode == 0, done.stderr
    assert "catalogue at base" in done.stdout
    done = run("db", "upgrade", "--site", str(site))
    assert done.returncode == 0, done.stderr


def test_long_output_line_does_not_wrap_without_a_terminal(tmp_path: Path) -> None:
    d = tmp_path / ("d" * 120) / "site"
    done = run("init", str(d))
    assert done.returncode == 0, done.stderr
    assert f"site ready: {d}" in done.stdout.splitlines(), done.stdout


def test_misspelt_environment_override_is_one_line(site: Path) -> None:
    line = one_error_line(run("status", "--site", str(site), env=_env(MONITOR_SMTP_HOTS="mail.example")), code=2)
    assert "MONITOR_SMTP_HOTS" in line


def test_bad_cron_is_refused_by_every_command(site: Path) -> None:
    line = one_error_line(run("results", "--site", str(site), env=_env(MONITOR_REPORT_WEEKLY_CRON="0 6 * * funday")),
                          code=2)
    assert "weekly_cron" in line
