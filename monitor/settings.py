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
:mod:`monitor.settings_types` (type, range, wording of the error); :mod:`monitor.settings_loader`
reads the ``MONITOR_*`` overrides with pydantic-settings, validates the file's values merged with them
with pydantic, and builds the :class:`Settings` from the result. A new section is one frozen dataclass
with the ``_SECTION`` configuration and one field of :class:`Settings` (with an instance as its
default); its table, environment overrides, unknown-key and type checks follow.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Annotated, Literal

from pydantic import ConfigDict, with_config

from monitor.domain import DEFAULT_STAR_HALF_WIDTHS_PX
from monitor.settings_types import (
    Addresses,
    CampaignPeriod,
    Cron,
    Degrees,
    EmailAddress,
    Flag,
    HalfWidths,
    Integer,
    NonNegative,
    NonNegativeInteger,
    Number,
    Port,
    Positive,
    PositiveInteger,
    Umask,
    at_most,
    choice,
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
    "WebSettings",
    "ComputeSettings",
    "SiteSettings",
    "ReferenceSettings",
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
    # equal to monitor.io.fits_structure.DEFAULT_MAX_* (tests/io/test_limits.py checks it).
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
    # The MTF stage (starpool PSF fit -> MTF rows, MTF drift, EE correction). False: no PSF fit at
    # all (A_k from the largest window, EE = 1), said so in the run's status and in the report.
    mtf: Flag = True
    # MTF-at-Nyquist drift alert: |dMTF/MTF per year| - drift_alert_rate_sigmas * sigma above this
    # (departures: drift_alert_sigma; none from fewer than drift_alert_min_epochs starpools)
    mtf_drift_alert_rate_per_year: NonNegative = 0.05
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
class WebSettings:
    """``[web]``: the dashboard of ``monitor serve``. HTTP basic authentication on every page when
    both are set (required to listen beyond the loopback interface)."""

    user: str = ""
    password: str = field(default="", repr=False)  # from MONITOR_WEB_PASSWORD only


@with_config(_SECTION)
@dataclass(frozen=True)
class ReferenceSettings:
    """``[reference]``: the star reference model and its site-installed inputs (ICD 2.2b).

    ``star_model``: "REF-1", "REF-2" or "" (the default: REF-2 when a library is configured, else
    REF-1). ``star_library``: directory of a spectral library in the Pickles UVKLIB layout with its
    ``index.csv``; ``rsr_dir``: directory of measured responses ``<SATELLITE>_<BAND>.csv``. Relative
    paths are relative to the site. ``star_template``: how REF-2 turns the library into a star's
    spectrum: "nearest" (ICD 2.2b item 2, the default) or "blend" (a Gaussian colour-kernel mean of
    the neighbouring templates, :func:`monitor.science.star_ref2.template_weights`; less biased on
    red stars in B2/B3 in benchmarks/star_ref2.py, but not the ICD rule). See
    :mod:`monitor.calibration.star_model`.
    """

    star_model: Literal["", "REF-1", "REF-2"] = ""
    star_library: str = ""
    rsr_dir: str = ""
    star_template: Literal["nearest", "blend"] = "nearest"

    def path(self, site: Path, value: str) -> Path | None:
        """``value`` as a path (relative to ``site``), None when empty."""
        if not value.strip():
            return None
        p = Path(value).expanduser()
        return p if p.is_absolute() else site / p


@with_config(_SECTION)
@dataclass(frozen=True)
class ComputeSettings:
    """``[compute]``: units of work shared by several workers (``monitor worker``), Dask reprocessing."""

    workers: bool = True  # the daemon processes itself; false: it only enqueues units for `monitor worker`s
    dask_scheduler: str = ""  # default of `monitor process --dask`: "local:N" or "tcp://host:8786"; "" = none
    lease_seconds: Positive = 120.0  # a claimed unit not renewed this long is reaped (its worker died)
    reap_seconds: Positive = 10.0  # how often a worker returns expired leases to the queue
    poll_seconds: Positive = 1.0  # how long an idle worker waits before it looks for work again
    max_attempts: PositiveInteger = 3  # claims of a unit before it is failed for good (the run is 'partial')
    dask_window: PositiveInteger = 64  # Dask tasks in flight at once (bounded memory on the client)


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
    web: WebSettings = WebSettings()
    reference: ReferenceSettings = ReferenceSettings()
    compute: ComputeSettings = ComputeSettings()
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
# The MTF stage: the PSF fit of every starpool and band, its MTF curves along and across track,
# the MTF-at-Nyquist drift and its alerts, and the encircled-energy correction of A_k that uses
# that fit. false: none of these (A_k from the largest window with EE = 1), stated in the
# processing status and in the reports.
mtf = true
# MTF drift alert: |dMTF/MTF per year| - drift_alert_rate_sigmas * sigma above this (relative).
mtf_drift_alert_rate_per_year = 0.05
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

[reference]
# Star reference model (ICD 2.2b). REF-2: each star's spectrum is the template of a spectral
# library (Pickles 1998 UVKLIB layout, with index.csv) nearest in (B-V, V-I), scaled on the
# CALSPEC Vega zero point; REF-1: a black body at the colour temperature (ICD 2.2).
# star_model = "" chooses REF-2 when star_library is set, else REF-1. rsr_dir: measured
# responses <SATELLITE>_<BAND>.csv (e.g. PHR1A_B0.csv); a band without one keeps its nominal RSR.
# Relative paths: from the site. star_template = "blend" replaces the nearest template (the ICD
# rule) by a Gaussian blend (0.10 mag) of the templates near the star's colour: less biased on
# red stars in B2/B3 (benchmarks/star_ref2.py), recorded with every result as its template_rule.
star_model = ""
star_library = ""
rsr_dir = ""
star_template = "nearest"

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

[web]
# 'monitor serve' (read-only dashboard): HTTP basic authentication when user and the password
# (MONITOR_WEB_PASSWORD, never in this file) are set; required to listen beyond 127.0.0.1.
user = ""

[compute]
# true: the daemon's process job does the processing itself. false: it only enqueues the star, Moon,
# GEOM and GLOD processing (and its report jobs the render of a due report) as units of work, done by
# any number of 'monitor worker' processes on any hosts sharing this catalogue (PostgreSQL) and the
# site directory.
workers = true
# Default Dask scheduler of 'monitor process --dask': "local:4" (a LocalCluster of 4 processes) or
# "tcp://host:8786" (a running cluster, e.g. dask-jobqueue's SLURMCluster). "" = none.
dask_scheduler = ""
# A claimed unit whose worker stops renewing its lease this long (s) goes back to the queue.
lease_seconds = 120
reap_seconds = 10
poll_seconds = 1
# Claims of a unit before it is failed for good (the run is then recorded 'partial').
max_attempts = 3
# Dask tasks in flight at once.
dask_window = 64
"""


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
    from monitor.settings_loader import load  # here, not at the top: job children never load (see there)

    return load(site, env)
