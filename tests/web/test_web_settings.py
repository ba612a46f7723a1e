"""``[web]`` settings of ``monitor serve``: the password only from the environment, never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.settings import DEFAULT_TOML, ConfigError, load_settings


def test_credentials_from_the_environment(tmp_path: Path) -> None:
    s = load_settings(tmp_path, env={"MONITOR_WEB_USER": "alice", "MONITOR_WEB_PASSWORD": "pw-7f3a9"})
    assert (s.web.user, s.web.password) == ("alice", "pw-7f3a9")
    assert "pw-7f3a9" not in repr(s)
    assert load_settings(tmp_path, env={}).web.password == ""


def test_password_in_the_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "monitor.toml").write_text('[web]\nuser = "alice"\npassword = "oops-in-file"\n')
    with pytest.raises(ConfigError, match="MONITOR_WEB_PASSWORD") as err:
        load_settings(tmp_path, env={})
    assert "oops-in-file" not in str(err.value)


def test_default_file_has_the_web_section(tmp_path: Path) -> None:
    (tmp_path / "monitor.toml").write_text(DEFAULT_TOML)
    assert "[web]" in DEFAULT_TOML
    assert load_settings(tmp_path, env={}).web.user == ""


def test_half_set_credentials_are_refused(tmp_path: Path) -> None:
    from monitor.cli import UsageError
    from monitor.cli_web import web_credentials

    with pytest.raises(UsageError, match="MONITOR_WEB_PASSWORD"):
        web_credentials(load_settings(tmp_path, env={"MONITOR_WEB_USER": "alice"}))
    with pytest.raises(UsageError, match="':'"):
        web_credentials(load_settings(tmp_path, env={"MONITOR_WEB_USER": "a:b", "MONITOR_WEB_PASSWORD": "x"}))
    assert web_credentials(load_settings(tmp_path, env={})) is None
