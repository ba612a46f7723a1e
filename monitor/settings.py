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

How: each section is a frozen dataclass whose keys are declared with the kinds of value of
:mod:`monitor.settings_types` (type, range, wording of the error); pydantic-settings reads the
``MONITOR_*`` overrides (:class:`_EnvironmentSource`), pydantic validates the file's values merged with
them against :data:`_SiteFile`, and :func:`load_settings` builds the :class:`Settings` from the result.
A new section is one frozen dataclass with the ``_SECTION`` configuration and one field of
:class:`Settings` (with an instance as its default); its table, environment overrides, unknown-key and
type checks follow.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import ConfigDict, ValidationError, create_model, with_config
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

from monitor.domain import DEFAULT_STAR_HALF_WIDTHS_PX
from monitor.settings_types import (
    Addresses,
    CampaignPeriod,
    Cron,
    DatabaseUrl,
    Degrees,
    EmailAddress,
    Flag,
    HalfWidths,
    Integer,
    LogLevel,
    NonNegative,
    NonNegativeInteger,
    Number,
    Port,
    Positive,
    PositiveInteger,
    Umask,
    at_most,
    choice,
    one_line,
)

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
    "SiteSettings",
    "Settings",
    "load_settings",
    "DEFAULT_TOML",
]


class ConfigError(ValueError):
    """The configuration file or an environment override is invalid."""


# A section of monitor.toml is a frozen dataclass with this pydantic configuration, checked only when
# loaded: unknown keys refused; a number where a string is expected is taken as its text.
_SECTION = ConfigDict(extra="forbid", coerce_numbers_to_str=True)


@with_config(_SECTION)
@dataclass(frozen=True)
class IngestSettings:
    settle_seconds: NonNegative = 30.0  # ICD 1: a file is complete when unchanged this long
    batch_files: PositiveInteger = 32  # files checked, looked up and archived together (crash-safe at any size)
    # Size limits, checked from the headers before any pixel is read or decompressed (too-large);
    # equal to monitor.io.fits_reader.DEFAULT_MAX_* (tests/io/test_limits.py checks it).
    max_star_band_pixels: PositiveInteger = 4_000_000  # pixels per band image of a STAR (or GEOM) file; <= 256 x 64
    max_moon_band_pixels: PositiveInteger = 400_000_000  # pixels per band image of a MOON file; PAN ~9000 x 20000
    max_file_bytes: PositiveInteger = 16 << 30  # declared size of a file (headers + data, decompressed), bytes
    # One ingest (and one process) at a time per site: how long a second run waits for the
    # first before it gives up (exit status 75; monitor.catalogue.locks), s.
    lock_wait_seconds: NonNegative = 120.0


@with_config(_SECTION)
@dataclass(frozen=True)
class StarSettings:
    half_widths_px: HalfWidths = DEFAULT_STAR_HALF_WIDTHS_PX
    reference_half_width_px: Integer = 5  # window of the reported A_k once the EE correction is available
    e_per_dn_reference: Positive = 20.0  # PHR detector conversion gain at GAINFACT = 1, e-/DN (photon noise)
    read_noise_dn: NonNegative = 1.5  # read noise per native pixel, DN rms (PSF-fit weights)
    campaign_period: CampaignPeriod = "month"  # "month" or "<n>d" (fixed-length periods from 2000-01-01)
    outlier_sigma: Positive = 4.0  # robust rejection threshold, normalised residual
    drift_alert_sigma: Positive = 3.0  # starpool departs from the drift fit by more than k sigma
    drift_alert_rate_per_year: NonNegative = 0.02  # |dA/A per year| - k sigma above this raises an alert
    drift_alert_rate_sigmas: Number = 2.0  # k of the rate alert: |rate| - k * sigma_rate > threshold
    drift_alert_min_epochs: Integer = 4  # no drift alert from a fit of fewer starpools
    workers: NonNegativeInteger = 0  # photometry processes for large backlogs; 0 = one per CPU (at most 4)


@with_config(_SECTION)
@dataclass(frozen=True)
class MoonSettings:
    min_phase_deg: Degrees = 2.0
    max_phase_deg: Degrees = 90.0
    drift_alert_sigma: Positive = 3.0  # a Moon A_k departs from the drift fit by more than k sigma
    drift_alert_rate_per_year: NonNegative = 0.02  # |dA/A per year| - k sigma above this raises an alert
    drift_alert_rate_sigmas: Number = 2.0  # k of the rate alert: |rate| - k * sigma_rate > threshold
    drift_alert_min_epochs: Integer = 4  # no drift alert from a fit of fewer Moon measurements
    ratio_max_phase_diff_deg: Positive = 2.0  # PNEO3/PNEO4 pairs: largest |g| difference, same branch
    ratio_max_days: Positive = 15.0  # PNEO3/PNEO4 pairs: largest time difference, days
    # Pléiades Neo detector conversion gain at GAINFACT = 1, e-/DN (photon noise of Moon sums); the
    # Moon method measures PNEO only, [star] e_per_dn_reference is the Pléiades (PHR) one.
    e_per_dn_reference: Positive = 20.0


@with_config(_SECTION)
@dataclass(frozen=True)
class GeometrySettings:
    """GEOM stereo adjustment (monitor.science.stereo_adjustment); recorded with every result."""

    orbit_model: Literal["j2", "kepler"] = "j2"  # "j2": 2-body + J2 orbit fitted to EPHEM; "kepler": Michalis & Dowman
    kepler_order: Annotated[Integer, choice(2, 3)] = 3  # "kepler" only: 2 = published expansion, 3 = with the jerk term
    image_sigma_px: Positive = 0.3  # a-priori sigma of LINE/SAMPLE measurements, pixels
    ephem_sigma_m: Positive = 0.5  # stated white accuracy of one EPHEM position, per axis, m
    ephem_sigma_m_s: Positive = 0.002  # stated white accuracy of one EPHEM velocity, per axis, m/s
    prior_position_sigma_m: Positive = 0.5  # prior sigma of the navigation's position offset, per axis, m
    prior_velocity_sigma_m_s: Positive = 0.002  # prior sigma of its velocity offset (drift), per axis, m/s
    attitude_rate_sigma_urad_s: Positive = 20.0  # prior sigma of the attitude drifts about zero, urad/s

    def as_record(self) -> dict[str, float | int | str]:
        """The settings as a JSON-ready mapping (the provenance of a geometry result)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


@with_config(_SECTION)
@dataclass(frozen=True)
class SmtpSettings:
    host: str = ""  # empty: email disabled
    port: Port = 25
    security: Literal["starttls", "ssl", "none"] = "starttls"  # "starttls" (default), "ssl" (implicit TLS), "none"
    user: str = ""
    password: str = field(default="", repr=False)  # from MONITOR_SMTP_PASSWORD only
    sender: EmailAddress = "monitor@localhost"
    timeout_s: Positive = 30.0
    allow_plaintext_auth: Flag = False  # allow the login (AUTH) over a connection without TLS
    ca_file: str = ""  # PEM file of the CA(s) trusted for the server's certificate; "" = system store


@with_config(_SECTION)
@dataclass(frozen=True)
class ReportSettings:
    recipients: Addresses = ()
    weekly_cron: Cron = "0 6 * * mon"  # minute hour day month day-of-week, UTC
    monthly_cron: Cron = "0 6 1 * *"


@with_config(_SECTION)
@dataclass(frozen=True)
class SchedulerSettings:
    ingest_minutes: Positive = 5.0
    process_minutes: NonNegative = 0.0  # 0: the period of ingest (processing 1 min after each ingest)
    email_retry_minutes: Positive = 15.0
    # a late weekly run must still find the week it is for
    report_grace_hours: Annotated[Positive, at_most(144, "must be at most 144 (6 days)")] = 72.0
    # Each job runs in its own child process, killed after this long (minutes): recorded 'timeout'.
    timeout_minutes_ingest: Positive = 60.0
    timeout_minutes_process: Positive = 360.0
    timeout_minutes_weekly_report: Positive = 60.0
    timeout_minutes_monthly_report: Positive = 60.0
    timeout_minutes_email_retry: Positive = 15.0
    memory_limit_mb: NonNegativeInteger = 8192  # address-space limit of a job's child process; 0 = none
    lock_check_seconds: Positive = 10.0  # how often the daemon verifies it still holds the catalogue lock

    def timeout_s(self, job_id: str) -> float:
        """Time limit of one run of job ``job_id``, seconds."""
        return float(getattr(self, f"timeout_minutes_{job_id}")) * 60.0


@with_config(_SECTION)
@dataclass(frozen=True)
class AlertSettings:
    after_failures: PositiveInteger = 3  # consecutive failed runs of a job that open an incident (one alert e-mail)
    recipients: Addresses = ()  # alert and recovery e-mails; empty: incidents only in status/check
    backlog_hours: Positive = 24.0  # `monitor check` fails when waiting work is older than this


@with_config(_SECTION)
@dataclass(frozen=True)
class SiteSettings:
    """``[site]``: applied by every command at start-up; kept in :attr:`Settings.umask`."""

    umask: Umask = 0o027  # files 0640, dirs 0750


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
# Conversion gain of the Pléiades (PHR1A/PHR1B) detectors at GAINFACT = 1 (electrons per DN), for
# the photon noise of star sums; the gain of an acquisition is e_per_dn_reference / GAINFACT.
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
# Conversion gain of the Pléiades Neo detectors at GAINFACT = 1 (electrons per DN), for the photon
# noise of Moon sums; the gain of an acquisition is e_per_dn_reference / GAINFACT. (The Moon method
# measures PNEO3/PNEO4 only; [star] e_per_dn_reference is the Pléiades PHR1A/PHR1B one.)
e_per_dn_reference = 20.0

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

[alerts]
# A job that fails (or times out, or crashes) this many times in a row opens an incident: one
# alert e-mail to the recipients, one "recovered" e-mail when it succeeds again.
after_failures = 3
recipients = []
# 'monitor check' fails when files, processing or e-mails have been waiting longer than this (h).
backlog_hours = 24
"""


# ------------------------------------------------------------------------------ loading

_ENV_PREFIX = "MONITOR_"
_TEST_ENV_PREFIX = "MONITOR_TEST_"  # the test harness's variables (tests/harness.py), never read here
_SITE_ENV = "MONITOR_SITE"  # the site directory, not a key of monitor.toml
_SECRET_KEYS = ("database_password", "smtp.password")  # from the environment only
_NEVER_ECHOED = (*_SECRET_KEYS, "database_url")  # a database URL may hold a password
_EMPTY_MEANS_UNSET = ("MONITOR_DATABASE_URL", "MONITOR_LOG_LEVEL")  # an empty one leaves the file's value


class _SiteFileKeys(BaseSettings):
    """The top-level keys of ``monitor.toml`` and the ``[site]`` table; :data:`_SiteFile` adds the sections.

    Its configuration tells :class:`_EnvironmentSource` how environment names map to keys; it is built
    from the values :func:`load_settings` gathered (the file merged with the given environment) and reads
    no source of its own.
    """

    model_config = SettingsConfigDict(env_prefix=_ENV_PREFIX, env_nested_delimiter="_", env_nested_max_split=1,
                                      case_sensitive=False, extra="forbid", frozen=True)

    database_url: DatabaseUrl = "sqlite:///monitor.db"
    database_password: str = ""
    log_level: LogLevel = "INFO"
    site: SiteSettings = SiteSettings()

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Only the values :func:`load_settings` passes (never ``os.environ`` or a .env file directly)."""
        return (init_settings,)


# ``monitor.toml`` merged with the MONITOR_* overrides, as pydantic validates it: the keys above plus one
# table per section of Settings (a section added to Settings is read, overridden and checked with no more).
_SECTION_NAMES = tuple(f.name for f in fields(Settings) if is_dataclass(f.default))
_SECTION_FIELDS: dict[str, Any] = {f.name: (type(f.default), f.default) for f in fields(Settings)
                                   if f.name in _SECTION_NAMES}
_SiteFile = create_model("_SiteFile", __base__=_SiteFileKeys, **_SECTION_FIELDS)


def _check_between_keys(settings: Settings) -> None:
    """The rules that tie two keys together (each key alone is checked by its kind of value)."""
    if settings.star.reference_half_width_px not in settings.star.half_widths_px:
        raise ConfigError("star.reference_half_width_px must be one of star.half_widths_px")
    if not settings.moon.min_phase_deg < settings.moon.max_phase_deg:
        raise ConfigError(f"moon.min_phase_deg ({settings.moon.min_phase_deg!r}) must be below moon.max_phase_deg "
                          f"({settings.moon.max_phase_deg!r})")


class _EnvironmentSource(EnvSettingsSource):
    """The ``MONITOR_<SECTION>_<KEY>`` overrides of a given environment mapping, as nested values."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(_SiteFile)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {name.lower(): value for name, value in self._environ.items()}


def _env_names() -> set[str]:
    """Every ``MONITOR_*`` name that is a setting: one per top-level key, one per key of a section."""
    names = {_SITE_ENV}
    for name, info in _SiteFile.model_fields.items():
        if is_dataclass(info.default):
            names |= {f"{_ENV_PREFIX}{name}_{f.name}".upper() for f in fields(info.default)}
        else:
            names.add(f"{_ENV_PREFIX}{name}".upper())
    return names


def _overrides(env: Mapping[str, str]) -> dict[str, str]:
    """The ``MONITOR_*`` variables that override keys; any other ``MONITOR_*`` one is an error (a misspelt
    override, ``MONITOR_SMTP_HOTS``, must not be silently ignored). ``MONITOR_TEST_*`` is left to the tests."""
    mine = {k: v for k, v in env.items() if k.startswith(_ENV_PREFIX) and not k.startswith(_TEST_ENV_PREFIX)}
    unknown = sorted(set(mine) - _env_names())
    if unknown:
        raise ConfigError(f"unknown environment variable(s) {', '.join(unknown)}: not a setting (the names are "
                          "MONITOR_<SECTION>_<KEY> of the keys of monitor.toml, e.g. MONITOR_SMTP_HOST)")
    return {k: v for k, v in mine.items() if k != _SITE_ENV and not (k in _EMPTY_MEANS_UNSET and not v)}


def _read_file(path: Path) -> dict[str, Any]:
    """The TOML file's values (none if there is no file); a password in it is refused, not echoed."""
    if not path.is_file():
        return {}
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    hidden = sorted(key for key in raw if key.startswith("_"))  # BaseSettings would take them as its arguments
    if hidden:
        raise ConfigError(f"unknown key(s) in {path}: {', '.join(hidden)}")
    if any(_has_key(raw, key) for key in _SECRET_KEYS):
        raise ConfigError(f"{path}: passwords must not be stored in the configuration file; "
                          "set MONITOR_SMTP_PASSWORD / MONITOR_DATABASE_PASSWORD in the environment")
    if "database_url" in raw and _has_password(raw["database_url"]):
        raise ConfigError(
            f"{path}: database_url must not contain a password (it is not shown here); remove it from the "
            "URL and set MONITOR_DATABASE_PASSWORD, or the whole URL in MONITOR_DATABASE_URL, in the environment"
        )
    return raw


def _has_key(raw: Mapping[str, Any], dotted: str) -> bool:
    """Whether the file sets ``dotted`` (``smtp.password``)."""
    *tables, key = dotted.split(".")
    for table in tables:
        raw = raw.get(table)  # type: ignore[assignment]
        if not isinstance(raw, dict):
            return False
    return key in raw


def _merge(file: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The file's values with the environment's on top, table by table (a file value that should be a
    table and is not stays, so that its error is reported)."""
    out = dict(file)
    for key, value in overrides.items():
        if isinstance(value, dict) and key in file:
            out[key] = _merge(file[key], value) if isinstance(file[key], dict) else file[key]
        else:
            out[key] = value
    return out


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
        Unreadable TOML, unknown keys, a password in the file, values of the wrong type or out of
        their range: one line that names the key (and the environment variable it came from).
    """
    env = os.environ if env is None else env
    overrides = _overrides(env)
    site_path = Path(site if site is not None else env.get(_SITE_ENV, ".")).expanduser().resolve()
    toml_path = site_path / "monitor.toml"
    values = _merge(_read_file(toml_path), _EnvironmentSource(overrides)())
    try:
        loaded = _SiteFile(**values)
    except ValidationError as exc:
        raise ConfigError(one_line(exc, environ=overrides, secret_keys=_NEVER_ECHOED, file=toml_path)) from None
    sections = {name: getattr(loaded, name) for name in _SECTION_NAMES}
    if sections["smtp"].ca_file:
        smtp = sections["smtp"]
        sections["smtp"] = replace(smtp, ca_file=str(site_path / Path(smtp.ca_file).expanduser()))
    settings = Settings(
        site=site_path,
        database_url=_resolve_sqlite_path(loaded.database_url, site_path),
        database_password=loaded.database_password,
        log_level=loaded.log_level,
        umask=loaded.site.umask,
        **sections,
    )
    _check_between_keys(settings)
    return settings


def _has_password(url: object) -> bool:
    """Whether a database URL carries a password (``scheme://user:password@host/db``)."""
    try:
        return urlsplit(str(url)).password is not None
    except ValueError:  # unparsable netloc: look for the user:password@ form by hand
        netloc = str(url).partition("://")[2].partition("/")[0]
        return "@" in netloc and ":" in netloc.rpartition("@")[0]


def _resolve_sqlite_path(url: str, site: Path) -> str:
    """Make a relative SQLite path relative to the site directory, not the working directory."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith("sqlite:////") and url != "sqlite:///:memory:":
        return prefix + str(site / url[len(prefix) :])
    return url
