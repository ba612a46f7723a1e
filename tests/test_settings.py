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


# --------------------------------------------------------------------------- secrets and permissions


@pytest.mark.parametrize("url", [
    "postgresql+psycopg://monitor:hunter2-secret@db.example:5432/monitor",
    "postgresql://monitor:hunter2-secret@db.example/monitor",
])
def test_password_in_database_url_is_refused_without_echo(tmp_path: Path, url: str) -> None:
    (tmp_path / "monitor.toml").write_text(f'database_url = "{url}"\n')
    with pytest.raises(ConfigError, match="MONITOR_DATABASE_PASSWORD") as info:
        load_settings(tmp_path, env={})
    assert "hunter2-secret" not in str(info.value)
    assert "\n" not in str(info.value)


def test_database_url_without_password_and_secret_from_environment(tmp_path: Path) -> None:
    (tmp_path / "monitor.toml").write_text('database_url = "postgresql+psycopg://monitor@db.example/monitor"\n')
    s = load_settings(tmp_path, env={"MONITOR_DATABASE_PASSWORD": "hunter2-secret"})
    assert s.database_password == "hunter2-secret" and "hunter2-secret" not in repr(s)
    # the whole URL, password included, may come from the environment
    s = load_settings(tmp_path, env={"MONITOR_DATABASE_URL": "postgresql+psycopg://m:hunter2-secret@db/m"})
    assert s.database_url == "postgresql+psycopg://m:hunter2-secret@db/m"


def test_smtp_defaults_are_starttls_without_plaintext_login(tmp_path: Path) -> None:
    s = load_settings(tmp_path, env={})
    assert s.smtp.security == "starttls"
    assert s.smtp.allow_plaintext_auth is False
    assert s.smtp.ca_file == ""


def test_smtp_ca_file_is_relative_to_the_site(tmp_path: Path) -> None:
    (tmp_path / "monitor.toml").write_text('[smtp]\nca_file = "certs/ca.pem"\nallow_plaintext_auth = true\n')
    s = load_settings(tmp_path, env={})
    assert s.smtp.ca_file == str(tmp_path.resolve() / "certs" / "ca.pem")
    assert s.smtp.allow_plaintext_auth is True


def test_site_umask_default_and_setting(tmp_path: Path) -> None:
    assert load_settings(tmp_path, env={}).umask == 0o027
    (tmp_path / "monitor.toml").write_text('[site]\numask = "022"\n')
    assert load_settings(tmp_path, env={}).umask == 0o022
    assert load_settings(tmp_path, env={"MONITOR_SITE_UMASK": "077"}).umask == 0o077


@pytest.mark.parametrize("value", ['"abc"', '"0o27"', '"999"', '"7777"', "27", '"0777"', '"700"', '""'])
def test_bad_site_umask_is_a_clear_error(tmp_path: Path, value: str) -> None:
    (tmp_path / "monitor.toml").write_text(f"[site]\numask = {value}\n")
    with pytest.raises(ConfigError, match=r"^site\.umask must "):
        load_settings(tmp_path, env={})


@pytest.mark.parametrize(
    "text, match",
    [
        ("[star]\noutlier_sigma = -1.0\n", "star.outlier_sigma"),
        ("[star]\ndrift_alert_sigma = 0\n", "star.drift_alert_sigma"),
        ("[moon]\ndrift_alert_sigma = -3\n", "moon.drift_alert_sigma"),
        ("[star]\ndrift_alert_rate_per_year = -0.02\n", "drift_alert_rate_per_year"),
        ("[star]\ne_per_dn_reference = 0\n", "e_per_dn_reference"),
        ("[star]\nread_noise_dn = -1\n", "read_noise_dn"),
        ("[moon]\nmin_phase_deg = 50\nmax_phase_deg = 40\n", "min_phase_deg"),
        ("[moon]\nmax_phase_deg = 200\n", "max_phase_deg"),
        ("[ingest]\nsettle_seconds = -5\n", "ingest.settle_seconds"),
        ("[smtp]\nport = 99999\n", "smtp.port"),
        ("[smtp]\nport = 0\n", "smtp.port"),
        ("[smtp]\ntimeout_s = 0\n", "smtp.timeout_s"),
        ("[smtp]\nsender = 'not an address'\n", "smtp.sender"),
        ("[report]\nrecipients = ['ops@example.org', 'bob']\n", "report.recipients"),
        ("[alerts]\nrecipients = ['a@b@c']\n", "alerts.recipients"),
        ("[star]\nworkers = 2.7\n", "star.workers"),
        ("[smtp]\nport = 25.0\n", "smtp.port"),
        ("[alerts]\nafter_failures = true\n", "alerts.after_failures"),
        ("[report]\nweekly_cron = '0 6 * *'\n", "weekly_cron"),
        ("[report]\nmonthly_cron = '61 6 1 * *'\n", "monthly_cron"),
    ],
)
def test_values_are_range_checked_at_load(tmp_path: Path, text: str, match: str) -> None:
    (tmp_path / "monitor.toml").write_text(text)
    with pytest.raises(ConfigError, match=match):
        load_settings(tmp_path, env={})


def test_good_addresses_and_crons_load(tmp_path: Path) -> None:
    (tmp_path / "monitor.toml").write_text(
        "[smtp]\nport = 465\nsender = 'Calibration monitor <monitor@site.example>'\n"
        "[report]\nrecipients = ['ops@example.org', 'Bob <bob@example.org>']\nweekly_cron = '30 5 * * 1'\n"
    )
    s = load_settings(tmp_path, env={})
    assert s.smtp.port == 465 and len(s.report.recipients) == 2


def test_unknown_monitor_environment_variable_is_an_error(tmp_path: Path) -> None:
    """A misspelt override (MONITOR_SMTP_HOTS) is refused rather than silently ignored;
    MONITOR_TEST_* is the test harness's namespace."""
    with pytest.raises(ConfigError, match="MONITOR_SMTP_HOTS"):
        load_settings(tmp_path, env={"MONITOR_SMTP_HOTS": "mail.example"})
    load_settings(tmp_path, env={"MONITOR_TEST_INGEST_FAULT": "x", "MONITOR_SITE": str(tmp_path),
                                 "MONITOR_SMTP_PASSWORD": "p", "MONITOR_SMTP_HOST": "mail.example"})


def test_float_environment_value_for_an_int_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="MONITOR_STAR_WORKERS"):
        load_settings(tmp_path, env={"MONITOR_STAR_WORKERS": "2.7"})


def test_moon_gain_is_its_own_setting(tmp_path: Path) -> None:
    """[moon] e_per_dn_reference (Pléiades Neo) is separate from [star]'s (Pléiades), same default."""
    s = load_settings(tmp_path, env={"MONITOR_STAR_E_PER_DN_REFERENCE": "7.5"})
    assert s.star.e_per_dn_reference == 7.5 and s.moon.e_per_dn_reference == 20.0
    assert load_settings(tmp_path, env={"MONITOR_MOON_E_PER_DN_REFERENCE": "12"}).moon.e_per_dn_reference == 12.0
    (tmp_path / "monitor.toml").write_text("[moon]\ne_per_dn_reference = 0\n")
    with pytest.raises(ConfigError, match=r"^moon\.e_per_dn_reference must be > 0"):
        load_settings(tmp_path, env={})


def test_only_the_given_environment_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """load_settings(env=...) reads that mapping only, never os.environ behind it (pydantic-settings'
    own sources are off)."""
    monkeypatch.setenv("MONITOR_SMTP_HOST", "leak.example")
    monkeypatch.setenv("MONITOR_LOG_LEVEL", "DEBUG")
    s = load_settings(tmp_path, env={})
    assert s.smtp.host == "" and s.log_level == "INFO"


@pytest.mark.parametrize("key", ["_env_prefix", "_case_sensitive", "_build_sources"])
def test_private_keys_are_unknown_keys(tmp_path: Path, key: str) -> None:
    """Top-level keys starting with _ are refused, not taken as arguments of the validating model."""
    (tmp_path / "monitor.toml").write_text(f'{key} = "X"\n')
    with pytest.raises(ConfigError, match=f"unknown key.*{key}"):
        load_settings(tmp_path, env={})


@pytest.mark.parametrize(
    "text, env, line",
    [
        ("[smtp]\nport = 99999\n", {}, "smtp.port must be within 1-65535, not 99999"),
        ("[star]\nworkers = 2.7\n", {}, "star.workers must be an integer, not 2.7"),
        ("", {"MONITOR_STAR_WORKERS": "2.7"}, "MONITOR_STAR_WORKERS (star.workers) must be an integer, not '2.7'"),
        ("[star]\noutlier_sigma = -1.0\n", {}, "star.outlier_sigma must be > 0, not -1.0"),
        ("[smtp]\nsecurity = 'tls13'\n", {}, "smtp.security must be one of 'starttls', 'ssl' or 'none', not 'tls13'"),
        ("star = 3\n", {}, "[star] must be a table (a [star] section), not 3"),
        ("[star]\nfoo = 1\nbar = 2\n", {}, "unknown key(s) in [star]: bar, foo"),
        ("[report]\nrecipients = ['bob']\n", {},
         "report.recipients is not an e-mail address (user@host or Name <user@host>): 'bob'"),
        ("[moon]\nmin_phase_deg = 50\nmax_phase_deg = 40\n", {},
         "moon.min_phase_deg (50.0) must be below moon.max_phase_deg (40.0)"),
    ],
)
def test_error_lines_are_pinned(tmp_path: Path, text: str, env: dict[str, str], line: str) -> None:
    """The wording of each kind of error (pydantic's own messages are translated in
    monitor.settings_types.one_line)."""
    (tmp_path / "monitor.toml").write_text(text)
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path, env=env)
    assert str(info.value) == line


def test_database_url_from_the_environment_is_not_echoed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="MONITOR_DATABASE_URL") as info:
        load_settings(tmp_path, env={"MONITOR_DATABASE_URL": "mysql://monitor:hunter2-secret@db/monitor"})
    assert "hunter2-secret" not in str(info.value)


def test_instruments_table_names_each_glod_srf(tmp_path: Path) -> None:
    """``[instruments."<name>"] srf`` (ICD 6): a path relative to the site, names with folded white space;
    anything else in that table is a one-line error."""
    (tmp_path / "monitor.toml").write_text('[instruments."MSG3  SEVIRI"]\nsrf = "ref/srf.nc"\n')
    s = load_settings(tmp_path, env={})
    assert s.srf_file("MSG3 SEVIRI") == tmp_path.resolve() / "ref" / "srf.nc"
    assert s.srf_file("MSG1 SEVIRI") is None
    for bad in ('[instruments."X"]\nsrf = ""\n', '[instruments."X"]\nsrf = "a"\nrsr = "b"\n', 'instruments = 3\n'):
        (tmp_path / "monitor.toml").write_text(bad)
        with pytest.raises(ConfigError, match=r"instruments"):
            load_settings(tmp_path, env={})
