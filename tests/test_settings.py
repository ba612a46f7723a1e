from __future__ import annotations

from pathlib import Path

import pytest

from monitor.settings import DEFAULT_TOML, ConfigError, load_settings


def test_defaults_sqlite_in_site(tmp_path: Path) -> None:
    s = load_settings(tmp_path, env={})
    assert s.database_url == f"sqlite:///{tmp_path.resolve() / 'monitor.db'}"
    assert s.inbox == tmp_path.resolve() / "inbox"
    assert s.star.half_widths_px == (2, 3, 5, 8, 12, 20)


def test_default_toml_parses_to_defaults(tmp_path: Path) -> None:
    bare = load_settings(tmp_path, env={})
    (tmp_path / "monitor.toml").write_text(DEFAULT_TOML)
    assert load_settings(tmp_path, env={}) == bare


def test_env_overrides_and_secrets(tmp_path: Path) -> None:
    (tmp_path / "monitor.toml").write_text('[smtp]\nhost = "mail.example"\nport = 25\n')
    env = {
        "MONITOR_SMTP_PORT": "2525",
        "MONITOR_SMTP_PASSWORD": "s3cret",
        "MONITOR_DATABASE_URL": "postgresql+psycopg://monitor@db/monitor",
        "MONITOR_STAR_HALF_WIDTHS_PX": "3,5",
    }
    s = load_settings(tmp_path, env=env)
    assert s.smtp.host == "mail.example" and s.smtp.port == 2525
    assert s.smtp.password == "s3cret"
    assert "s3cret" not in repr(s)
    assert s.database_url.startswith("postgresql+psycopg://")
    assert s.star.half_widths_px == (3, 5)


@pytest.mark.parametrize("text", ['[smtp]\npassword = "oops"\n', 'database_password = "oops"\n'])
def test_password_in_toml_is_refused(tmp_path: Path, text: str) -> None:
    (tmp_path / "monitor.toml").write_text(text)
    with pytest.raises(ConfigError, match="environment"):
        load_settings(tmp_path, env={"MONITOR_SMTP_PASSWORD": "x"})


@pytest.mark.parametrize(
    "text, match",
    [
        ("[smtp]\nport = 'abc'\n", "smtp.port"),
        ("[nope]\nx = 1\n", "unknown"),
        ("[star]\nfoo = 1\n", "unknown key"),
        ("[smtp]\nsecurity = 'tls13'\n", "security"),
        ("not toml = = =", "monitor.toml"),
    ],
)
def test_bad_configuration_is_a_clear_error(tmp_path: Path, text: str, match: str) -> None:
    (tmp_path / "monitor.toml").write_text(text)
    with pytest.raises(ConfigError, match=match):
        load_settings(tmp_path, env={})
