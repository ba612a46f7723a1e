"""Site configuration: ``<site>/monitor.toml`` plus ``MONITOR_*`` environment overrides.

Parsed once at start-up into a frozen :class:`Settings` passed down explicitly; no other module
reads environment variables. Secrets (SMTP and database passwords) come only from the environment:
``MONITOR_SMTP_PASSWORD`` and ``MONITOR_DATABASE_PASSWORD`` (inserted into the URL at connect time),
or a whole ``MONITOR_DATABASE_URL`` with its password; a password in the file (``[smtp] password``,
``database_password`` or inside ``database_url``) is refused, without echoing it.

Environment overrides use the dotted key path in upper case with ``_`` separators after the
``MONITOR_`` prefix, for example ``MONITOR_DATABASE_URL``, ``MONITOR_INGEST_SETTLE_SECONDS``,
``MONITOR_SMTP_HOST``. ``MONITOR_SITE`` selects the site directory. Any other ``MONITOR_*``
variable is an error (a misspelt override must not be silently ignored), except ``MONITOR_TEST_*``,
the test harness's namespace. Every value is checked at load, by every command: types (2.7 is not
an integer), ranges (sigmas > 0, port 1-65535...), e-mail addresses, campaign period and cron
expressions (with the daemon's own parser).
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from monitor.domain import DEFAULT_STAR_HALF_WIDTHS_PX

__all__ = [
    "ConfigError",
    "IngestSettings",
    "StarSettings",
    "MoonSettings",
    "GeometrySettings",
    "ReportSettings",
    "SmtpSettings",
    "SchedulerSettings",
    "AlertSettings",
    "Settings",
    "load_settings",
    "DEFAULT_TOML",
]


class ConfigError(ValueError):
    """The configuration file or an environment override is invalid."""


@dataclass(frozen=True)
class IngestSettings:
    settle_seconds: float = 30.0  # ICD 1: a file is complete when unchanged this long
    batch_files: int = 32  # files checked, looked up and archived together (crash-safe at any size)
    # Size limits, checked from the headers before any pixel is read or decompressed (too-large);
    # equal to monitor.io.fits_reader.DEFAULT_MAX_* (tests/io/test_limits.py checks it).
    max_star_band_pixels: int = 4_000_000  # pixels per band image of a STAR (or GEOM) file; vignettes <= 256 x 64
    max_moon_band_pixels: int = 400_000_000  # pixels per band image of a MOON file; native PAN ~9000 x 20000
    max_file_bytes: int = 16 << 30  # declared size of a file (headers + data, decompressed), bytes
    # One ingest (and one process) at a time per site: how long a second run waits for the
    # first before it gives up (exit status 75; monitor.catalogue.locks), s.
    lock_wait_seconds: float = 120.0


@dataclass(frozen=True)
class StarSettings:
    half_widths_px: tuple[int, ...] = DEFAULT_STAR_HALF_WIDTHS_PX
    reference_half_width_px: int = 5  # window of the reported A_k once the EE correction is available
    e_per_dn_reference: float = 20.0  # detector conversion gain at GAINFACT = 1, e-/DN (photon noise)
    read_noise_dn: float = 1.5  # read noise per native pixel, DN rms (PSF-fit weights)
    campaign_period: str = "month"  # "month" or "<n>d" (fixed-length periods from 2000-01-01)
    outlier_sigma: float = 4.0  # robust rejection threshold, normalised residual
    drift_alert_sigma: float = 3.0  # starpool departs from the drift fit by more than k sigma
    drift_alert_rate_per_year: float = 0.02  # |dA/A per year| - k sigma above this raises an alert
    drift_alert_rate_sigmas: float = 2.0  # k of the rate alert: |rate| - k * sigma_rate > threshold
    drift_alert_min_epochs: int = 4  # no drift alert from a fit of fewer starpools
    workers: int = 0  # photometry processes for large backlogs; 0 = one per CPU (at most 4)


@dataclass(frozen=True)
class MoonSettings:
    min_phase_deg: float = 2.0
    max_phase_deg: float = 90.0
    drift_alert_sigma: float = 3.0  # a Moon A_k departs from the drift fit by more than k sigma
    drift_alert_rate_per_year: float = 0.02  # |dA/A per year| - k sigma above this raises an alert
    drift_alert_rate_sigmas: float = 2.0  # k of the rate alert: |rate| - k * sigma_rate > threshold
    drift_alert_min_epochs: int = 4  # no drift alert from a fit of fewer Moon measurements
    ratio_max_phase_diff_deg: float = 2.0  # PNEO3/PNEO4 pairs: largest |g| difference, same branch
    ratio_max_days: float = 15.0  # PNEO3/PNEO4 pairs: largest time difference, days


@dataclass(frozen=True)
class GeometrySettings:
    """GEOM stereo adjustment (monitor.science.stereo_adjustment); recorded with every result."""

    orbit_model: str = "j2"  # "j2": two-body + J2 orbit fitted to EPHEM; "kepler": Michalis & Dowman
    kepler_order: int = 3  # "kepler" only: 2 = published expansion, 3 = with the jerk term
    image_sigma_px: float = 0.3  # a-priori sigma of LINE/SAMPLE measurements, pixels
    ephem_sigma_m: float = 0.5  # stated white accuracy of one EPHEM position, per axis, m
    ephem_sigma_m_s: float = 0.002  # stated white accuracy of one EPHEM velocity, per axis, m/s
    prior_position_sigma_m: float = 0.5  # prior sigma of the navigation's position offset, per axis, m
    prior_velocity_sigma_m_s: float = 0.002  # prior sigma of its velocity offset (drift), per axis, m/s
    attitude_rate_sigma_urad_s: float = 20.0  # prior sigma of the attitude drifts about zero, urad/s

    def as_record(self) -> dict[str, float | int | str]:
        """The settings as a JSON-ready mapping (the provenance of a geometry result)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class SmtpSettings:
    host: str = ""  # empty: email disabled
    port: int = 25
    security: str = "starttls"  # "starttls" (default), "ssl" (implicit TLS) or "none" (plain SMTP)
    user: str = ""
    password: str = field(default="", repr=False)  # from MONITOR_SMTP_PASSWORD only
    sender: str = "monitor@localhost"
    timeout_s: float = 30.0
    allow_plaintext_auth: bool = False  # allow the login (AUTH) over a connection without TLS
    ca_file: str = ""  # PEM file of the CA(s) trusted for the server's certificate; "" = system store


@dataclass(frozen=True)
class ReportSettings:
    recipients: tuple[str, ...] = ()
    weekly_cron: str = "0 6 * * mon"  # minute hour day month day-of-week, UTC
    monthly_cron: str = "0 6 1 * *"


@dataclass(frozen=True)
class SchedulerSettings:
    ingest_minutes: float = 5.0
    process_minutes: float = 0.0  # 0: the period of ingest (processing 1 min after each ingest)
    email_retry_minutes: float = 15.0
    report_grace_hours: float = 72.0
    # Each job runs in its own child process, killed after this long (minutes): recorded 'timeout'.
    timeout_minutes_ingest: float = 60.0
    timeout_minutes_process: float = 360.0
    timeout_minutes_weekly_report: float = 60.0
    timeout_minutes_monthly_report: float = 60.0
    timeout_minutes_email_retry: float = 15.0
    memory_limit_mb: int = 8192  # address-space limit of a job's child process; 0 = none
    lock_check_seconds: float = 10.0  # how often the daemon verifies it still holds the catalogue lock

    def timeout_s(self, job_id: str) -> float:
        """Time limit of one run of job ``job_id``, seconds."""
        return float(getattr(self, f"timeout_minutes_{job_id}")) * 60.0


@dataclass(frozen=True)
class AlertSettings:
    after_failures: int = 3  # consecutive failed runs of a job that open an incident (one alert e-mail)
    recipients: tuple[str, ...] = ()  # alert and recovery e-mails; empty: incidents only in status/check
    backlog_hours: float = 24.0  # `monitor check` fails when waiting work is older than this


@dataclass(frozen=True)
class Settings:
    site: Path
    database_url: str
    database_password: str = field(default="", repr=False)
    log_level: str = "INFO"
    umask: int = 0o027  # [site] umask: applied by every command at start-up (files 0640, dirs 0750)
    ingest: IngestSettings = IngestSettings()
    star: StarSettings = StarSettings()
    moon: MoonSettings = MoonSettings()
    geometry: GeometrySettings = GeometrySettings()
    smtp: SmtpSettings = SmtpSettings()
    report: ReportSettings = ReportSettings()
    scheduler: SchedulerSettings = SchedulerSettings()
    alerts: AlertSettings = AlertSettings()
    # [instruments."<GLOD instrument>"] srf = "<GSICS SRF netCDF>" (ICD 6): name -> SRF file (absolute)
    instruments: tuple[tuple[str, Path], ...] = ()

    def srf_file(self, instrument: str) -> Path | None:
        """The GSICS SRF file configured for a GLOD instrument (``[instruments."<name>"] srf``), or None."""
        key = " ".join(instrument.split())
        return next((path for name, path in self.instruments if name == key), None)

    @property
    def inbox(self) -> Path:
        return self.site / "inbox"

    @property
    def archive(self) -> Path:
        return self.site / "archive"

    @property
    def quarantine(self) -> Path:
        return self.site / "quarantine"

    @property
    def reports_dir(self) -> Path:
        return self.site / "reports"

    @property
    def work_dir(self) -> Path:
        """Staging area for files being moved (crash-safe ingest)."""
        return self.site / ".work"


DEFAULT_TOML = """\
# monitor site configuration. Every key can be overridden by an environment variable:
# MONITOR_<SECTION>_<KEY> (for example MONITOR_DATABASE_URL, MONITOR_SMTP_HOST); any other
# MONITOR_* variable is refused (a misspelt override is an error, not ignored).
# Secrets never go in this file: set MONITOR_SMTP_PASSWORD and MONITOR_DATABASE_PASSWORD.

# SQLAlchemy URL of the catalogue. Default: SQLite file monitor.db in this site.
# Production: postgresql+psycopg://monitor@dbhost:5432/monitor (no password here: a URL with one
# is refused; the password comes from MONITOR_DATABASE_PASSWORD, or set the whole URL in
# MONITOR_DATABASE_URL).
# database_url = "sqlite:///monitor.db"
log_level = "INFO"

[site]
# File-creation mask of every monitor command and of the daemon (octal string): archive,
# quarantine, reports, logs and the SQLite catalogue. "027": files 0640, directories 0750 (not
# readable by other users); "022": files 0644, directories 0755.
umask = "027"

[ingest]
# A file without a .done marker is complete when its size is unchanged for this long (s).
settle_seconds = 30
# Files checked, looked up and archived together, one catalogue commit per step (any size is
# crash-safe; larger is faster).
batch_files = 32
# Size limits, decided from the headers before any pixel is read or decompressed (a small
# .fits.gz can declare gigabytes); a file beyond them is refused with reason too-large.
# Pixels per band image of a STAR (or GEOM) file (star vignettes are at most 256 x 64 px):
max_star_band_pixels = 4000000
# Pixels per band image of a MOON file (a native PAN Moon image can be 9000 x 20000 px):
max_moon_band_pixels = 400000000
# Declared size of a whole file: headers and data, after gzip decompression (bytes; 16 GiB):
max_file_bytes = 17179869184
# One 'monitor ingest' (and one 'monitor process') at a time per site: a second run, e.g. an
# operator's beside the daemon's, waits this long (s) for the first to finish, then gives up with
# one line and exit status 75 (nothing done; a daemon job records it as failed).
lock_wait_seconds = 120

[star]
# Square extraction half-widths, native pixels (ICD 4).
half_widths_px = [2, 3, 5, 8, 12, 20]
# Window whose EE-corrected A_k is reported (without a PSF fit: the largest window, EE = 1).
reference_half_width_px = 5
# Conversion gain at GAINFACT = 1 (electrons per DN), for the photon noise of star sums;
# the gain of an acquisition is e_per_dn_reference / GAINFACT.
e_per_dn_reference = 20.0
# Read noise per native pixel (DN rms), for the weights of the starpool PSF fit.
read_noise_dn = 1.5
# Starpool = one satellite and one campaign period: "month" or a fixed length like "14d".
campaign_period = "month"
outlier_sigma = 4.0
# Drift alerts: a starpool departing from the drift fit by more than drift_alert_sigma; a rate
# significantly above the threshold, |rate| - drift_alert_rate_sigmas * sigma_rate >
# drift_alert_rate_per_year (relative per year); none from a fit of fewer than
# drift_alert_min_epochs starpools.
drift_alert_sigma = 3.0
drift_alert_rate_per_year = 0.02
drift_alert_rate_sigmas = 2.0
drift_alert_min_epochs = 4
# Processes measuring a large backlog of star acquisitions (0 = one per CPU, at most 4).
workers = 0

[moon]
min_phase_deg = 2.0
max_phase_deg = 90.0
# Drift alerts as for [star] (the epochs are Moon measurements).
# drift_alert_sigma = 3.0
# drift_alert_rate_per_year = 0.02
# drift_alert_rate_sigmas = 2.0
# drift_alert_min_epochs = 4
# PNEO3/PNEO4 ratio from acquisitions at similar geometry: same branch (waxing/waning),
# |g| within ratio_max_phase_diff_deg and times within ratio_max_days.
# ratio_max_phase_diff_deg = 2.0
# ratio_max_days = 15.0

[geometry]
# Along-track stereo adjustment of GEOM acquisitions; these values are recorded with every result.
# orbit_model: "j2" (two-body + J2 orbit fitted to the EPHEM samples; the adjustment corrects only
# a position offset and drift under the prior sigmas below) or "kepler" (the truncated Kepler
# expansion of Michalis & Dowman 2008, kepler_order 2 = published, 3 = with the jerk term).
orbit_model = "j2"
kepler_order = 3
image_sigma_px = 0.3
# Stated accuracy of the on-board ephemeris (EPHEM), per axis: white noise of one sample
# (weights of the orbit fit) and the common offset/drift the adjustment may correct (priors).
ephem_sigma_m = 0.5
ephem_sigma_m_s = 0.002
prior_position_sigma_m = 0.5
prior_velocity_sigma_m_s = 0.002
# Prior sigma of the attitude drift rates about zero, urad/s.
attitude_rate_sigma_urad_s = 20.0

[smtp]
# Empty host disables email. security: "starttls" (upgrade a plain connection, the default),
# "ssl" (implicit TLS, usually port 465) or "none" (plain SMTP: a localhost relay without login).
host = ""
port = 25
security = "starttls"
# Login (password from MONITOR_SMTP_PASSWORD). It is never sent over a connection without TLS
# (the e-mail stays in the outbox with that error) unless allow_plaintext_auth = true.
user = ""
allow_plaintext_auth = false
# PEM file of the CA(s) that signed the server's certificate (relative to the site); empty: the
# system's CA store. The certificate and host name are always verified.
ca_file = ""
sender = "monitor@localhost"

[report]
recipients = []
weekly_cron = "0 6 * * mon"
monthly_cron = "0 6 1 * *"

[scheduler]
ingest_minutes = 5
# Processing period (minutes); 0: the period of ingest, 1 min after each ingest.
process_minutes = 0
email_retry_minutes = 15
report_grace_hours = 72
# Every job runs in its own child process; a run longer than its limit (minutes) is killed and
# recorded as 'timeout' (a hung SMTP peer, a pathological file); the other jobs keep their schedule.
timeout_minutes_ingest = 60
timeout_minutes_process = 360
timeout_minutes_weekly_report = 60
timeout_minutes_monthly_report = 60
timeout_minutes_email_retry = 15
# Address-space limit of a job's process (MB; 0 = none): a job that exceeds it is recorded 'crashed'.
memory_limit_mb = 8192
# How often the daemon verifies that it still holds the one-daemon-per-catalogue lock (s).
lock_check_seconds = 10

# GSICS lunar observation files (GLOD, *.nc in the inbox, ICD 6): the spectral responses of each
# instrument, a GSICS SRF netCDF file (channel_id, wavelength, srf); a file of an instrument not
# listed here is refused with reason unknown-instrument.
# [instruments."MSG3 SEVIRI"]
# srf = "/srv/reference/glod/W_XX-EUMETSAT-Darmstadt_VIS+IR+SRF_MSG3+SEVIRI_C_EUMG.nc"

[alerts]
# A job that fails (or times out, or crashes) this many times in a row opens an incident: one
# alert e-mail to the recipients, one "recovered" e-mail when it succeeds again.
after_failures = 3
recipients = []
# 'monitor check' fails when files, processing or e-mails have been waiting longer than this (h).
backlog_hours = 24
"""

_SECTIONS: dict[str, type] = {
    "ingest": IngestSettings,
    "star": StarSettings,
    "moon": MoonSettings,
    "geometry": GeometrySettings,
    "smtp": SmtpSettings,
    "report": ReportSettings,
    "scheduler": SchedulerSettings,
    "alerts": AlertSettings,
}
_SECRET_ENV = {"MONITOR_SMTP_PASSWORD", "MONITOR_DATABASE_PASSWORD"}


def _coerce(value: Any, default: Any, name: str) -> Any:
    """Convert a TOML or environment value to the type of the field's default."""
    try:
        if isinstance(default, bool):
            if isinstance(value, str):
                if value.lower() in ("1", "true", "yes", "on"):
                    return True
                if value.lower() in ("0", "false", "no", "off"):
                    return False
                raise ValueError(value)
            return bool(value)
        if isinstance(default, tuple):
            items = value.split(",") if isinstance(value, str) else list(value)
            items = [i.strip() if isinstance(i, str) else i for i in items if i != ""]
            if default and isinstance(default[0], int):
                return tuple(int(i) for i in items)
            return tuple(str(i) for i in items)
        if isinstance(default, float):
            if isinstance(value, bool):
                raise ValueError(value)
            return float(value)
        if isinstance(default, int):
            if isinstance(value, (bool, float)):  # 2.7 workers is a mistake, not 2
                raise ValueError(value)
            return int(value)
        return str(value)
    except (TypeError, ValueError) as exc:
        kind = "an integer" if isinstance(default, int) and not isinstance(default, bool) else "valid"
        raise ConfigError(f"invalid value for {name}: {value!r}" + (" (must be an integer)" if kind != "valid" else "")
                          ) from exc


def _build_section(cls: type, raw: Any, env: Mapping[str, str], prefix: str) -> Any:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"[{prefix.lower()}] must be a table (a [{prefix.lower()}] section), not {raw!r}")
    unknown = set(raw) - {f.name for f in fields(cls)}
    if unknown:
        raise ConfigError(f"unknown key(s) in [{prefix.lower()}]: {', '.join(sorted(unknown))}")
    obj = cls()
    values = {}
    for f in fields(cls):
        default = getattr(obj, f.name)
        env_name = f"MONITOR_{prefix}_{f.name.upper()}"
        if env_name in env and env_name not in _SECRET_ENV:
            values[f.name] = _coerce(env[env_name], default, env_name)
        elif f.name in raw:
            values[f.name] = _coerce(raw[f.name], default, f"{prefix.lower()}.{f.name}")
    return replace(obj, **values)


def load_settings(site: Path | str | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Read ``<site>/monitor.toml`` (optional) and apply ``MONITOR_*`` overrides.

    Parameters
    ----------
    site
        Site directory; default ``MONITOR_SITE`` or the current directory.
    env
        Environment mapping (default ``os.environ``); injected by tests.

    Raises
    ------
    ConfigError
        Unreadable TOML, unknown keys or values of the wrong type.
    """
    env = os.environ if env is None else env
    _check_environment(env)
    site_path = Path(site if site is not None else env.get("MONITOR_SITE", ".")).expanduser().resolve()
    raw: dict[str, Any] = {}
    toml_path = site_path / "monitor.toml"
    if toml_path.is_file():
        try:
            raw = tomllib.loads(toml_path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{toml_path}: {exc}") from exc
    top_keys = {"database_url", "log_level"}
    unknown = set(raw) - top_keys - set(_SECTIONS) - {"database_password", "site", "instruments"}
    if unknown:
        raise ConfigError(f"unknown key(s) in {toml_path}: {', '.join(sorted(unknown))}")
    if isinstance(raw.get("smtp"), dict) and "password" in raw["smtp"] or "database_password" in raw:
        raise ConfigError(
            f"{toml_path}: passwords must not be stored in the configuration file; "
            "set MONITOR_SMTP_PASSWORD / MONITOR_DATABASE_PASSWORD in the environment"
        )
    if "database_url" in raw and _has_password(raw["database_url"]):
        raise ConfigError(
            f"{toml_path}: database_url must not contain a password (it is not shown here); remove it from the "
            "URL and set MONITOR_DATABASE_PASSWORD, or the whole URL in MONITOR_DATABASE_URL, in the environment"
        )
    url = env.get("MONITOR_DATABASE_URL") or raw.get("database_url") or "sqlite:///monitor.db"
    url = _resolve_sqlite_path(_check_database_url(url), site_path)
    site_raw = raw.get("site", {})
    if not isinstance(site_raw, dict) or set(site_raw) - {"umask"}:
        raise ConfigError("[site] must be a table with only the key umask")
    umask = _parse_umask(env["MONITOR_SITE_UMASK"] if "MONITOR_SITE_UMASK" in env else site_raw.get("umask", "027"))
    sections = {
        name: _build_section(cls, raw.get(name, {}), env, name.upper()) for name, cls in _SECTIONS.items()
    }
    smtp = replace(sections["smtp"], password=env.get("MONITOR_SMTP_PASSWORD", ""))
    if smtp.ca_file:
        smtp = replace(smtp, ca_file=str(site_path / Path(smtp.ca_file).expanduser()))
    sections["smtp"] = smtp
    if smtp.security not in ("none", "starttls", "ssl"):
        raise ConfigError(f"smtp.security must be starttls, ssl or none, not {smtp.security!r}")
    star = sections["star"]
    if not star.half_widths_px or min(star.half_widths_px) < 1:
        raise ConfigError("star.half_widths_px must be a non-empty list of positive integers")
    if star.reference_half_width_px not in star.half_widths_px:
        raise ConfigError("star.reference_half_width_px must be one of star.half_widths_px")
    _check_ingest(sections["ingest"])
    if star.workers < 0:
        raise ConfigError("star.workers must be >= 0 (0 = one per CPU)")
    _check_campaign_period(star.campaign_period)
    _check_ranges(sections)
    _check_scheduler(sections["scheduler"], sections["alerts"])
    _check_geometry(sections["geometry"])
    log_level = env.get("MONITOR_LOG_LEVEL") or raw.get("log_level", "INFO")
    if not isinstance(log_level, str) or log_level.upper() not in _LOG_LEVELS:
        raise ConfigError(f"log_level must be one of {', '.join(_LOG_LEVELS)}, not {log_level!r}")
    return Settings(
        site=site_path,
        database_url=url,
        database_password=env.get("MONITOR_DATABASE_PASSWORD", ""),
        log_level=log_level.upper(),
        umask=umask,
        instruments=_parse_instruments(raw.get("instruments", {}), site_path),
        **sections,
    )


def _parse_instruments(raw: object, site: Path) -> tuple[tuple[str, Path], ...]:
    """``[instruments."<name>"] srf = "<path>"``: the GSICS SRF file of each GLOD instrument (a
    relative path is relative to the site). One-line errors for anything else."""
    if not isinstance(raw, dict):
        raise ConfigError('[instruments] must be tables: [instruments."MSG3 SEVIRI"] srf = "<SRF netCDF file>"')
    out = []
    for name, table in raw.items():
        if not isinstance(table, dict) or set(table) != {"srf"} or not isinstance(table["srf"], str) \
                or not table["srf"].strip():
            raise ConfigError(f'[instruments."{name}"] must hold exactly one key, srf = "<SRF netCDF file>"')
        out.append((" ".join(str(name).split()), site / Path(table["srf"]).expanduser()))
    return tuple(out)


_TOP_ENV = {"MONITOR_SITE", "MONITOR_DATABASE_URL", "MONITOR_DATABASE_PASSWORD", "MONITOR_LOG_LEVEL",
            "MONITOR_SITE_UMASK", "MONITOR_SMTP_PASSWORD"}
_TEST_ENV_PREFIX = "MONITOR_TEST_"  # the test harness's variables (tests/harness.py), never read here


def _check_environment(env: Mapping[str, str]) -> None:
    """A ``MONITOR_*`` variable that is not a setting is an error: a misspelt override
    (``MONITOR_SMTP_HOTS``) must not be silently ignored. ``MONITOR_TEST_*`` is left to the tests."""
    known = _TOP_ENV | {f"MONITOR_{name.upper()}_{f.name.upper()}" for name, cls in _SECTIONS.items()
                        for f in fields(cls)}
    unknown = sorted(k for k in env if k.startswith("MONITOR_") and not k.startswith(_TEST_ENV_PREFIX)
                     and k not in known)
    if unknown:
        raise ConfigError(f"unknown environment variable(s) {', '.join(unknown)}: not a setting (the names are "
                          "MONITOR_<SECTION>_<KEY> of the keys of monitor.toml, e.g. MONITOR_SMTP_HOST)")


_ADDRESS = re.compile(r"[^@\s,;<>\"]+@[^@\s,;<>\"]+")


def _check_address(value: str, name: str) -> None:
    """``user@host`` or ``Name <user@host>``, nothing else (no list in one string)."""
    from email.utils import parseaddr

    display, addr = parseaddr(value)
    if not _ADDRESS.fullmatch(addr) or ("<" in value) != bool(display or value.strip().startswith("<")):
        raise ConfigError(f"{name}: not an e-mail address (user@host or Name <user@host>): {value!r}")


def _check_ranges(sections: Mapping[str, Any]) -> None:
    """Values outside their meaningful range are refused at load, not at use."""
    def positive(section: str, key: str) -> None:
        value = getattr(sections[section], key)
        if not (value > 0 and value < float("inf")):
            raise ConfigError(f"{section}.{key} must be > 0, not {value!r}")

    def non_negative(section: str, key: str) -> None:
        value = getattr(sections[section], key)
        if not (value >= 0 and value < float("inf")):
            raise ConfigError(f"{section}.{key} must be >= 0, not {value!r}")

    for key in ("outlier_sigma", "drift_alert_sigma", "e_per_dn_reference"):
        positive("star", key)
    for key in ("drift_alert_rate_per_year", "read_noise_dn"):
        non_negative("star", key)
    for key in ("drift_alert_sigma", "ratio_max_phase_diff_deg", "ratio_max_days"):
        positive("moon", key)
    non_negative("moon", "drift_alert_rate_per_year")
    moon = sections["moon"]
    for key in ("min_phase_deg", "max_phase_deg"):
        value = getattr(moon, key)
        if not 0.0 <= value <= 180.0:
            raise ConfigError(f"moon.{key} must be within 0-180 degrees, not {value!r}")
    if not moon.min_phase_deg < moon.max_phase_deg:
        raise ConfigError(f"moon.min_phase_deg ({moon.min_phase_deg!r}) must be below moon.max_phase_deg "
                          f"({moon.max_phase_deg!r})")
    for key in ("settle_seconds", "lock_wait_seconds"):
        non_negative("ingest", key)
    smtp = sections["smtp"]
    if not 1 <= smtp.port <= 65535:
        raise ConfigError(f"smtp.port must be within 1-65535, not {smtp.port!r}")
    positive("smtp", "timeout_s")
    _check_address(smtp.sender, "smtp.sender")
    for section in ("report", "alerts"):
        for value in sections[section].recipients:
            _check_address(value, f"{section}.recipients")
    from monitor.scheduler.wiring import cron_trigger  # the daemon's own parser (APScheduler)

    for key in ("weekly_cron", "monthly_cron"):
        try:
            cron_trigger(getattr(sections["report"], key))
        except ConfigError as exc:
            raise ConfigError(f"report.{key}: {exc}") from None


_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_CAMPAIGN_PERIOD = re.compile(r"[0-9]+d")


def _check_campaign_period(period: str) -> None:
    """``month`` or ``<n>d`` with n >= 1 (the rule of monitor.calibration.star.campaign_period)."""
    if period != "month" and not (_CAMPAIGN_PERIOD.fullmatch(period) and int(period[:-1]) > 0):
        raise ConfigError(f"star.campaign_period must be \"month\" or a number of days like \"14d\", not {period!r}")


def _check_database_url(url: object) -> str:
    """A parsable SQLAlchemy URL of a supported back end (SQLite, PostgreSQL) whose driver is installed."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        u = make_url(str(url))
    except (ArgumentError, ValueError):
        raise ConfigError("database_url is not a SQLAlchemy URL (e.g. sqlite:///monitor.db or "
                          "postgresql+psycopg://monitor@dbhost:5432/monitor)") from None
    backend = u.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ConfigError(f"database_url: unsupported database {backend!r} (sqlite or postgresql)")
    try:
        u.set(drivername="postgresql+psycopg" if u.drivername == "postgresql" else u.drivername).get_dialect()
    except (NoSuchModuleError, ImportError) as exc:
        raise ConfigError(f"database_url: driver {u.drivername!r} is not available ({exc})") from None
    return str(url)


def _has_password(url: object) -> bool:
    """Whether a database URL carries a password (``scheme://user:password@host/db``)."""
    try:
        return urlsplit(str(url)).password is not None
    except ValueError:  # unparsable netloc: look for the user:password@ form by hand
        netloc = str(url).partition("://")[2].partition("/")[0]
        return "@" in netloc and ":" in netloc.rpartition("@")[0]


def _parse_umask(value: object) -> int:
    """``[site] umask``: an octal string of 3 or 4 digits ("027"), that leaves the owner rwx."""
    text = value.strip() if isinstance(value, str) else None
    if not text or len(text) > 4 or any(c not in "01234567" for c in text):
        raise ConfigError(f"site.umask must be an octal string like \"027\" (in quotes), not {value!r}")
    mask = int(text, 8)
    if mask > 0o777 or mask & 0o700:
        raise ConfigError(f"site.umask must leave the owner read, write and search permission (000-077), "
                          f"not {text!r}")
    return mask


_ZERO_MEANS = {"memory_limit_mb": "no limit", "process_minutes": "the period of ingest"}


def _check_scheduler(sch: SchedulerSettings, alerts: AlertSettings) -> None:
    for f in fields(sch):
        value = getattr(sch, f.name)
        if f.name in _ZERO_MEANS:
            if value < 0:
                raise ConfigError(f"scheduler.{f.name} must be >= 0 (0 = {_ZERO_MEANS[f.name]})")
        elif not value > 0:
            raise ConfigError(f"scheduler.{f.name} must be > 0, not {value!r}")
    if sch.report_grace_hours > 144:  # a late weekly run must still find the week it is for
        raise ConfigError(f"scheduler.report_grace_hours must be at most 144 (6 days), not {sch.report_grace_hours!r}")
    if alerts.after_failures < 1:
        raise ConfigError("alerts.after_failures must be >= 1")
    if not alerts.backlog_hours > 0:
        raise ConfigError("alerts.backlog_hours must be > 0")


def _check_geometry(geo: GeometrySettings) -> None:
    if geo.orbit_model not in ("j2", "kepler"):
        raise ConfigError(f"geometry.orbit_model must be j2 or kepler, not {geo.orbit_model!r}")
    if geo.kepler_order not in (2, 3):
        raise ConfigError(f"geometry.kepler_order must be 2 or 3, not {geo.kepler_order!r}")
    for f in fields(geo):
        value = getattr(geo, f.name)
        if isinstance(value, float) and not (value > 0.0 and value < float("inf")):
            raise ConfigError(f"geometry.{f.name} must be a positive number, not {value!r}")


def _check_ingest(ingest: IngestSettings) -> None:
    if ingest.batch_files < 1:
        raise ConfigError("ingest.batch_files must be >= 1")
    for name in ("max_star_band_pixels", "max_moon_band_pixels", "max_file_bytes"):
        value = getattr(ingest, name)
        if value <= 0:
            raise ConfigError(f"ingest.{name} must be > 0, not {value!r}")


def _resolve_sqlite_path(url: str, site: Path) -> str:
    """Make a relative SQLite path relative to the site directory, not the working directory."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith("sqlite:////") and url != "sqlite:///:memory:":
        return prefix + str(site / url[len(prefix) :])
    return url
