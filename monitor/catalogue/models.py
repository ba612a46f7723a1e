"""Catalogue tables (SQLModel). With the repository modules of this package, the only place that knows SQL.

Design rules:
- inputs (satellite, band, star, acquisition, band_image, geom_header, rejection) describe what
  arrived; ``acquisition.status`` and ``rejection.state`` only track the crash-safe file move;
- results are append-only history: every measurement/result row belongs to a
  ``processing_run`` (code version, ICD and reference-model versions) and is never updated; a
  reprocessing or a changed starpool inserts new rows with a higher ``version``;
- all datetimes are timezone-aware UTC (SQLModel's UTCDateTime rejects naive values).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import JSON, Field, SQLModel

from monitor.catalogue.states import (
    FAILED_OUTCOMES,
    AcquisitionStatus,
    AlertKind,
    AlertState,
    JobOutcome,
    OutboxKind,
    OutboxStatus,
    RejectionState,
    RunOutcome,
    WorkState,
    one_of,
)
from monitor.domain import AcqType, GeometryStatus, MoonStatus, PhotometryStatus

__all__ = [
    "NAMING_CONVENTION",
    "SatelliteRow",
    "BandRow",
    "StarRow",
    "Acquisition",
    "BandImage",
    "GeomHeaderRow",
    "Rejection",
    "ProcessingRun",
    "AcquisitionBandRow",
    "StarPhotometry",
    "StarWindow",
    "Starpool",
    "StarpoolMember",
    "StarpoolResult",
    "MtfResult",
    "DriftResult",
    "MoonMeasurement",
    "GeometryResult",
    "Alert",
    "Report",
    "Outbox",
    "JobRun",
    "Incident",
    "ScheduledJob",
    "DaemonState",
    "WorkUnit",
    "SCHEDULER_TABLE",
    "GlodObservationRow",
    "LunarComparisonRow",
]

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata.naming_convention = NAMING_CONVENTION

SCHEDULER_TABLE = "apscheduler_jobs"  # APScheduler's table of daemons before revision 0003: Alembic leaves it alone


# --------------------------------------------------------------------------- reference


class SatelliteRow(SQLModel, table=True):
    __tablename__ = "satellite"
    id: str = Field(primary_key=True, max_length=8)  # PHR1A ...
    mission: str = Field(max_length=8)


class BandRow(SQLModel, table=True):
    __tablename__ = "band"
    __table_args__ = (sa.UniqueConstraint("mission", "name"),)
    id: int | None = Field(default=None, primary_key=True)
    mission: str = Field(max_length=8)
    name: str = Field(max_length=8)
    position: int  # display order


class StarRow(SQLModel, table=True):
    __tablename__ = "star"
    hip: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    ra_deg: float
    dec_deg: float
    v_mag: float
    b_v: float | None = None


# --------------------------------------------------------------------------- inputs


class Acquisition(SQLModel, table=True):
    """One accepted acquisition file (ICD 1.1 primary header)."""

    __tablename__ = "acquisition"
    __table_args__ = (
        sa.CheckConstraint(one_of("acq_type", AcqType), name="acq_type"),
        sa.CheckConstraint(one_of("status", AcquisitionStatus), name="status"),
    )
    id: int | None = Field(default=None, primary_key=True)
    acq_id: str = Field(max_length=80, unique=True)
    sha256: str = Field(max_length=64, unique=True)
    file_name: str = Field(max_length=255)
    size_bytes: int = Field(sa_type=sa.BigInteger)
    acq_type: str = Field(max_length=8, index=True)
    satellite: str = Field(foreign_key="satellite.id", max_length=8, index=True)
    target: str = Field(max_length=80)
    hip: int | None = Field(default=None, foreign_key="star.hip", index=True)
    date_obs: datetime = Field(index=True)
    sc_pos_x_km: float
    sc_pos_y_km: float
    sc_pos_z_km: float
    sc_vel_x_km_s: float
    sc_vel_y_km_s: float
    sc_vel_z_km_s: float
    ra_deg: float | None = None
    dec_deg: float | None = None
    icd: str = Field(max_length=16)
    archive_path: str = Field(max_length=1024)  # relative to the site directory
    status: str = Field(default=AcquisitionStatus.ARCHIVING, max_length=16)  # AcquisitionStatus
    received_at: datetime
    archived_at: datetime | None = None


class BandImage(SQLModel, table=True):
    """Per-band image metadata (ICD 1.2 keys) of an accepted acquisition."""

    __tablename__ = "band_image"
    __table_args__ = (sa.UniqueConstraint("acquisition_id", "band"),)
    id: int | None = Field(default=None, primary_key=True)
    acquisition_id: int = Field(foreign_key="acquisition.id", index=True)
    band: str = Field(max_length=8)
    rows: int
    cols: int
    bunit: str = Field(max_length=16)
    dark_dn: float
    gain_factor: float
    oversamp: float
    binning: int
    pixscale_urad: float
    lineper_ms: float
    saturate_dn: float
    star_x: float | None = None
    star_y: float | None = None
    flags: str = Field(default="", max_length=255)  # comma-separated, e.g. "partial-nan"


class GeomHeaderRow(SQLModel, table=True):
    """ICD 3 primary keys of a GEOM acquisition."""

    __tablename__ = "geom_header"
    acquisition_id: int = Field(foreign_key="acquisition.id", primary_key=True)
    focal_mm: float
    pixpitch_um: float
    nsamp: int
    lineper_ms: float
    t0_fore: datetime
    t0_aft: datetime
    pitch_fore_deg: float
    pitch_aft_deg: float


class Rejection(SQLModel, table=True):
    """A file refused at ingest (or a duplicate delivery), kept with a reason."""

    __tablename__ = "rejection"
    __table_args__ = (sa.CheckConstraint(one_of("state", RejectionState), name="state"),)
    id: int | None = Field(default=None, primary_key=True)
    file_name: str = Field(max_length=255)
    sha256: str | None = Field(default=None, max_length=64, index=True)
    acq_id: str | None = Field(default=None, max_length=80)
    reason: str = Field(max_length=32, index=True)  # RejectReason value
    message: str = Field(max_length=2000)
    received_at: datetime = Field(index=True)
    quarantine_path: str = Field(max_length=1024)  # relative to the site directory
    state: str = Field(default=RejectionState.MOVING, max_length=16)  # RejectionState


# --------------------------------------------------------------------------- provenance


class ProcessingRun(SQLModel, table=True):
    """One run of a use-case (ingest, process, report) with the versions it used."""

    __tablename__ = "processing_run"
    __table_args__ = (sa.CheckConstraint(one_of("outcome", RunOutcome), name="outcome"),)
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=32, index=True)
    code_version: str = Field(max_length=64)
    icd_version: str = Field(max_length=16)
    reference_model: str = Field(max_length=16)
    reference_checksums: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    started_at: datetime
    finished_at: datetime | None = None
    outcome: str = Field(default=RunOutcome.RUNNING, max_length=16)  # RunOutcome
    message: str = Field(default="", max_length=4000)
    n_items: int = 0


# --------------------------------------------------------------------------- star method


class AcquisitionBandRow(SQLModel):
    """The first columns of a measurement of one acquisition in one band by one processing run
    (append-only): its run, acquisition and band, its status (the table's CHECK constraint names
    the states), the reason of a refusal and a message. Not a table."""

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="processing_run.id", index=True)
    acquisition_id: int = Field(foreign_key="acquisition.id", index=True)
    band: str = Field(max_length=8)
    status: str = Field(max_length=16)  # PhotometryStatus, MoonStatus
    reason: str | None = Field(default=None, max_length=32)
    message: str = Field(default="", max_length=1000)


class StarPhotometry(AcquisitionBandRow, table=True):
    """Photometry of one star acquisition in one band (ICD 4), from one processing run."""

    __tablename__ = "star_photometry"
    __table_args__ = (
        sa.UniqueConstraint("run_id", "acquisition_id", "band"),
        sa.CheckConstraint(one_of("status", PhotometryStatus), name="status"),
    )
    centroid_x: float | None = None
    centroid_y: float | None = None
    background_dn: float | None = None
    background_noise_dn: float | None = None
    peak_dn: float | None = None
    saturated: bool = False
    irradiance_w_m2_um: float | None = None  # E_k, REF-1
    reference_model: str = Field(max_length=16)
    half_width_px: int | None = None  # window of the reported per-measurement A_k
    a: float | None = None  # DN / (W m-2 sr-1 um-1), EE-corrected, at half_width_px
    a_sigma: float | None = None


class StarWindow(SQLModel, table=True):
    """Per extraction window of a star photometry: the time-series traces come from here."""

    __tablename__ = "star_window"
    __table_args__ = (sa.UniqueConstraint("photometry_id", "half_width_px"),)
    id: int | None = Field(default=None, primary_key=True)
    photometry_id: int = Field(foreign_key="star_photometry.id", index=True)
    half_width_px: int
    sum_dn: float | None = None
    sigma_dn: float | None = None
    n_pixels: int = 0
    nan_in_window: bool = False
    truncated: bool = False
    normalised_count: float | None = None  # S_w / (OVERSAMP * GAINFACT), DN
    encircled_energy: float | None = None
    a: float | None = None  # DN / (W m-2 sr-1 um-1), EE-corrected
    a_sigma: float | None = None


class Starpool(SQLModel, table=True):
    """Identity of a starpool: one satellite and one campaign period.

    Its identity is append-only; ``pending_since`` is the one column that changes: the work
    queue of the starpool stage. It is set in the commit where new photometry joins the
    starpool and cleared in the commit that stores the results recomputed from it (also when
    the result is "not enough stars"), so an interrupted run leaves the recomputation owed.
    """

    __tablename__ = "starpool"
    __table_args__ = (sa.UniqueConstraint("satellite", "period_key"),)
    id: int | None = Field(default=None, primary_key=True)
    satellite: str = Field(foreign_key="satellite.id", max_length=8)
    period_key: str = Field(max_length=32)  # e.g. PHR1A-2025-03
    period_start: datetime
    period_end: datetime
    created_at: datetime
    pending_since: datetime | None = None  # a recomputation of the results is owed since then


class StarpoolMember(SQLModel, table=True):
    """Membership of an acquisition in a starpool (inserted when the acquisition joins)."""

    __tablename__ = "starpool_member"
    starpool_id: int = Field(foreign_key="starpool.id", primary_key=True)
    acquisition_id: int = Field(foreign_key="acquisition.id", primary_key=True, unique=True)
    joined_at: datetime


class StarpoolResult(SQLModel, table=True):
    """A versioned absolute-calibration result of one starpool and band (never updated)."""

    __tablename__ = "starpool_result"
    __table_args__ = (sa.UniqueConstraint("starpool_id", "band", "version"),)
    id: int | None = Field(default=None, primary_key=True)
    starpool_id: int = Field(foreign_key="starpool.id", index=True)
    band: str = Field(max_length=8)
    version: int
    run_id: int = Field(foreign_key="processing_run.id", index=True)
    epoch: datetime
    a: float
    a_sigma: float
    n_used: int
    n_rejected: int
    half_width_px: int
    ee_source: str = Field(max_length=255)  # "psf-fit (...)" or "none (largest window, EE = 1...)"
    tau_rel: float | None = None
    chi2_dof: float | None = None
    rejected: list[Any] = Field(default_factory=list, sa_type=JSON)  # [{"acq_id", "reason"}]
    acquisition_ids: list[str] = Field(default_factory=list, sa_type=JSON)
    per_window: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)  # h -> {a, a_sigma, n, ee}
    per_star: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)  # acq_id -> {a, a_sigma, used, ee}
    # Star reference model of the members' irradiances (ICD 2.2b item 6): "REF-1" or "REF-2" (0009)
    reference_model: str = Field(default="REF-1", max_length=16, sa_column_kwargs={"server_default": "REF-1"})
    # its provenance: library path and SHA-256, RSR source and checksum of the band, templates per star
    reference: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    # relative uncertainty budget of A (fractions of A): photon, background, ee_correction, psf_model,
    # template, zero_point, rsr, star_systematic (ICD 5 a_sigma_components)
    a_sigma_components: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    created_at: datetime


class MtfResult(SQLModel, table=True):
    """MTF of one starpool, band and direction (append-only, versioned like the A_k result)."""

    __tablename__ = "mtf_result"
    __table_args__ = (sa.UniqueConstraint("starpool_id", "band", "direction", "method", "version"),)
    id: int | None = Field(default=None, primary_key=True)
    starpool_id: int = Field(foreign_key="starpool.id", index=True)
    band: str = Field(max_length=8)
    direction: str = Field(max_length=8)  # along, across
    version: int
    run_id: int = Field(foreign_key="processing_run.id", index=True)
    mtf_nyquist: float
    mtf_nyquist_sigma: float
    method: str = Field(max_length=32)  # parametric, epsf
    curve: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)  # {"f": [...], "mtf": [...], "sigma": [...]}
    params: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    agrees_with_epsf: bool | None = None
    created_at: datetime


class DriftResult(SQLModel, table=True):
    """Drift fit of A_k (or MTF) over time per satellite, band and method (append-only)."""

    __tablename__ = "drift_result"
    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="processing_run.id", index=True)
    satellite: str = Field(foreign_key="satellite.id", max_length=8)
    band: str = Field(max_length=8)
    method: str = Field(max_length=8)  # STAR, MOON
    quantity: str = Field(default="a", max_length=16)  # a, mtf_along, mtf_across
    model: str = Field(max_length=16)  # linear, exponential
    reference_epoch: datetime
    a0: float
    a0_sigma: float
    rate_per_year: float
    rate_sigma: float
    chi2_dof: float | None = None
    n_points: int
    created_at: datetime


# --------------------------------------------------------------------------- moon and geometry


class MoonMeasurement(AcquisitionBandRow, table=True):
    """Moon photometry, lunar model and A_k of one acquisition and band (append-only)."""

    __tablename__ = "moon_measurement"
    __table_args__ = (
        sa.UniqueConstraint("run_id", "acquisition_id", "band"),
        sa.CheckConstraint(one_of("status", MoonStatus), name="status"),
    )
    phase_angle_deg: float | None = None  # signed, negative when waxing
    sun_selenographic_lon_deg: float | None = None
    obs_selenographic_lat_deg: float | None = None
    obs_selenographic_lon_deg: float | None = None
    d_sun_moon_km: float | None = None
    d_obs_moon_km: float | None = None
    signal_dn: float | None = None  # S_k / OVERSAMP
    aperture_radius_px: float | None = None
    irradiance_w_m2_um: float | None = None
    a: float | None = None
    a_sigma: float | None = None
    budget: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    in_trend: bool = True
    created_at: datetime


class GeometryResult(SQLModel, table=True):
    """Along-track stereo adjustment of one GEOM acquisition (append-only)."""

    __tablename__ = "geometry_result"
    __table_args__ = (sa.CheckConstraint(one_of("status", GeometryStatus), name="status"),)
    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="processing_run.id", index=True)
    acquisition_id: int = Field(foreign_key="acquisition.id", index=True)
    status: str = Field(max_length=16)  # GeometryStatus
    message: str = Field(default="", max_length=1000)
    n_control: int = 0
    n_check: int = 0
    check_rmse_e_m: float | None = None
    check_rmse_n_m: float | None = None
    check_rmse_u_m: float | None = None
    velocity_x_m_s: float | None = None
    velocity_y_m_s: float | None = None
    velocity_z_m_s: float | None = None
    sigma0: float | None = None
    dof: int | None = None
    blunders: list[Any] = Field(default_factory=list, sa_type=JSON)
    orbit_order: int = 2  # Kepler expansion order ("kepler" model); 0 for the "j2" model
    orbit_model: str = Field(default="kepler", max_length=16)  # "j2", "kepler"
    # Reported 1-sigma of the adjusted velocity at DATE-OBS per axis (m/s), and of the position (3-D, m).
    velocity_sigma_x_m_s: float | None = None
    velocity_sigma_y_m_s: float | None = None
    velocity_sigma_z_m_s: float | None = None
    position_sigma_m: float | None = None
    # [geometry] settings the result was computed with (GeometrySettings.as_record()).
    settings: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    created_at: datetime


class Alert(SQLModel, table=True):
    """A calibration alert of one satellite, band, method and kind, with its state (revision 0011).

    Opened by the processing run ``run_id`` when its condition first holds, kept (``value``,
    ``sigma``, ``message`` and ``last_run_id`` refreshed) while it holds, closed by the run that
    finds it no longer holds. At most one active (open or acknowledged) alert per satellite, band,
    method and kind: a partial unique index, so a re-run or a restart never opens a duplicate.
    ``value`` is the rate per year (drift-rate), the largest normalised departure in sigma
    (drift-departure) or the largest |parametric - ePSF| MTF at Nyquist (mtf-disagreement);
    ``sigma`` its 1-sigma uncertainty when it has one, ``threshold`` the limit it crossed.
    """

    __tablename__ = "alert"
    __table_args__ = (
        sa.CheckConstraint(one_of("state", AlertState), name="state"),
        sa.CheckConstraint(one_of("kind", AlertKind), name="kind"),
        sa.Index("ix_alert_active", "satellite", "band", "method", "kind", unique=True,
                 sqlite_where=sa.text("state <> 'closed'"), postgresql_where=sa.text("state <> 'closed'")),
    )
    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="processing_run.id", index=True)  # the run that opened it
    satellite: str = Field(max_length=8)
    band: str = Field(max_length=8)
    method: str = Field(max_length=8)  # STAR, MOON
    kind: str = Field(max_length=32)  # AlertKind
    message: str = Field(max_length=1000)
    opened_at: datetime
    state: str = Field(default=AlertState.OPEN, max_length=16)  # AlertState
    value: float | None = None
    sigma: float | None = None
    threshold: float | None = None
    last_run_id: int | None = None  # the latest run that found the condition still holding
    updated_at: datetime | None = None
    acknowledged_at: datetime | None = None
    note: str | None = Field(default=None, max_length=1000)  # the acknowledgement's note
    closed_at: datetime | None = None


# --------------------------------------------------------------------------- reports and jobs


class Report(SQLModel, table=True):
    __tablename__ = "report"
    id: int | None = Field(default=None, primary_key=True)
    period: str = Field(max_length=16, index=True)  # 2025-03, 2025-W11, 2025
    path: str = Field(max_length=1024)
    sha256: str = Field(max_length=64)
    pages: int = 0
    size_bytes: int = 0
    created_at: datetime


class Outbox(SQLModel, table=True):
    """One e-mail to one recipient, queued, retried until the server confirms it (250 to DATA).

    ``kind`` ``report`` carries the PDF of ``report_id``; ``alert`` and ``recovery`` carry the
    plain-text ``subject``/``body`` of an operational incident (``incident_id``). The unique
    constraints are the last guard against a second e-mail of the same thing to the same person.
    ``message_id`` is stored before the first attempt and sent unchanged at every retry, so that a
    receiver can drop a repeat; ``uncertain`` records that an attempt was interrupted after the
    server may have received the message (a crash mid-send, a lost reply to DATA).
    """

    __tablename__ = "outbox"
    __table_args__ = (
        sa.UniqueConstraint("report_id", "recipient"),
        sa.UniqueConstraint("incident_id", "kind", "recipient"),
        sa.CheckConstraint(one_of("status", OutboxStatus), name="status"),
        sa.CheckConstraint(
            f"(kind = '{OutboxKind.REPORT}' AND report_id IS NOT NULL) OR "
            f"({one_of('kind', (OutboxKind.ALERT, OutboxKind.RECOVERY))} AND incident_id IS NOT NULL)",
            name="kind",
        ),
    )
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(default=OutboxKind.REPORT, max_length=16)  # OutboxKind
    report_id: int | None = Field(default=None, foreign_key="report.id", index=True)
    incident_id: int | None = Field(default=None, foreign_key="incident.id", index=True)
    subject: str = Field(default="", max_length=255)  # alert/recovery only (reports build theirs)
    body: str = Field(default="", max_length=8000)
    recipient: str = Field(max_length=320)
    status: str = Field(default=OutboxStatus.QUEUED, max_length=16)  # OutboxStatus
    attempts: int = 0
    next_attempt_at: datetime
    last_error: str = Field(default="", max_length=2000)
    sent_at: datetime | None = None
    created_at: datetime
    message_id: str = Field(default="", max_length=255)  # the Message-ID header of every attempt
    uncertain: bool = False  # an interrupted attempt may have reached the recipient


class JobRun(SQLModel, table=True):
    """One execution of a scheduled job by the daemon, in its own child process.

    ``outcome``: ``running`` (not finished yet), ``ok``, ``failed`` (the job reported a failure or
    raised), ``timeout`` (killed after ``[scheduler] timeout_minutes_<job>``), ``crashed`` (the
    child died: signal, out of memory, abnormal exit) or ``interrupted`` (the daemon itself died
    while the job ran; found at the next start).
    """

    __tablename__ = "job_run"
    __table_args__ = (sa.CheckConstraint(one_of("outcome", JobOutcome), name="outcome"),)
    id: int | None = Field(default=None, primary_key=True)
    job_id: str = Field(max_length=64, index=True)
    started_at: datetime
    finished_at: datetime | None = None
    outcome: str = Field(default=JobOutcome.RUNNING, max_length=16)  # JobOutcome
    message: str = Field(default="", max_length=8000)
    exit_code: int | None = None  # of the child process; negative: killed by that signal


class Incident(SQLModel, table=True):
    """A job that failed ``[alerts] after_failures`` times in a row, until it succeeds again.

    ``open_job_id`` equals ``job_id`` while the incident is open and is NULL once closed: its
    unique constraint allows one open incident per job, so an alert is sent once per incident.
    """

    __tablename__ = "incident"
    __table_args__ = (sa.CheckConstraint(one_of("last_outcome", FAILED_OUTCOMES), name="last_outcome"),)
    id: int | None = Field(default=None, primary_key=True)
    job_id: str = Field(max_length=64, index=True)
    open_job_id: str | None = Field(default=None, max_length=64, unique=True)
    opened_at: datetime
    closed_at: datetime | None = None
    first_failure_at: datetime
    last_failure_at: datetime
    failures: int = 0  # consecutive failed runs so far
    last_outcome: str = Field(max_length=16)  # one of FAILED_OUTCOMES
    last_message: str = Field(default="", max_length=2000)


class ScheduledJob(SQLModel, table=True):
    """The daemon's schedule as it last wrote it (for ``monitor status`` and ``monitor check``)."""

    __tablename__ = "scheduled_job"
    job_id: str = Field(primary_key=True, max_length=64)
    next_run_at: datetime | None = None  # None: paused
    timeout_s: float
    updated_at: datetime


class DaemonState(SQLModel, table=True):
    """The running daemon (one row, id 1): who it is and when its main loop last checked in."""

    __tablename__ = "daemon_state"
    id: int = Field(default=1, primary_key=True)
    pid: int
    host: str = Field(max_length=255)
    code_version: str = Field(max_length=64)
    started_at: datetime
    heartbeat_at: datetime


# --------------------------------------------------------------------------- shared work (issue 18)

_ACTIVE_WORK = "state IN ('waiting', 'pending', 'claimed')"  # states.ACTIVE_WORK_STATES


class WorkUnit(SQLModel, table=True):
    """A unit of processing work shared by any number of workers (:mod:`monitor.catalogue.work_units`).

    Claimed with a lease (``lease_until``, renewed by the worker's heartbeat); ``attempts`` counts the
    claims and is the fencing token of a claim: a worker writes its results only while the unit is
    still claimed by it with that token. An aggregation (a starpool, a drift series) is ``waiting`` on
    its members: each member that ends decrements the ``waiting`` of its ``parent_id``, and the one that
    brings it to 0 makes it ``pending`` (whoever finishes last). The one row that is updated in place
    (a queue, not a result).
    """

    __tablename__ = "work_unit"
    __table_args__ = (
        sa.UniqueConstraint("run_id", "kind", "key"),
        sa.CheckConstraint(one_of("state", WorkState), name="state"),
        sa.Index("ix_work_unit_state_id", "state", "id"),
        sa.Index("uq_work_unit_active", "kind", "key", unique=True, sqlite_where=sa.text(_ACTIVE_WORK),
                 postgresql_where=sa.text(_ACTIVE_WORK)),
    )
    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="processing_run.id", index=True)
    kind: str = Field(max_length=32)  # monitor.catalogue.states.UnitKind
    key: str = Field(max_length=80)  # what the unit is about: an acquisition id, a starpool id, a satellite
    state: str = Field(default=WorkState.PENDING, max_length=16)  # WorkState
    parent_id: int | None = Field(default=None, foreign_key="work_unit.id", index=True)
    waiting: int = 0  # members not ended yet (an aggregation is claimable at 0)
    attempts: int = 0  # claims so far: the fencing token of the current claim
    max_attempts: int = 3
    worker_id: str | None = Field(default=None, max_length=160)
    lease_until: datetime | None = None
    heartbeat_at: datetime | None = None
    created_at: datetime
    finished_at: datetime | None = None
    error: str = Field(default="", max_length=1000)


# GLOD lunar observations and comparisons (ICD 6); their queries are in monitor.catalogue.lunar_comparisons.


class GlodObservationRow(SQLModel, table=True):
    """One accepted GLOD lunar observation file."""

    __tablename__ = "glod_observation"
    __table_args__ = (sa.CheckConstraint(one_of("status", AcquisitionStatus), name="status"),)
    id: int | None = Field(default=None, primary_key=True)
    observation_id: str = Field(max_length=120, unique=True)
    sha256: str = Field(max_length=64, unique=True)
    file_name: str = Field(max_length=255)
    size_bytes: int = Field(sa_type=sa.BigInteger)
    instrument: str = Field(max_length=64, index=True)
    date_obs: datetime = Field(index=True)
    sat_pos_x_km: float
    sat_pos_y_km: float
    sat_pos_z_km: float
    sat_pos_ref: str = Field(max_length=16)
    channels: list[str] = Field(default_factory=list, sa_type=JSON)
    archive_path: str = Field(max_length=1024)  # relative to the site directory
    status: str = Field(default="archiving", max_length=16)
    received_at: datetime
    archived_at: datetime | None = None


class LunarComparisonRow(SQLModel, table=True):
    """Observed vs REF-1 model irradiance of one GLOD observation and channel (append-only)."""

    __tablename__ = "lunar_comparison"
    __table_args__ = (sa.UniqueConstraint("run_id", "observation_id", "channel"),)
    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(foreign_key="processing_run.id", index=True)
    observation_id: int = Field(foreign_key="glod_observation.id", index=True)
    channel: str = Field(max_length=32)
    status: str = Field(max_length=16)  # ok, flagged, rejected
    reason: str | None = Field(default=None, max_length=32)
    message: str = Field(default="", max_length=1000)
    dc_integrated: float | None = None  # own Σ (DN - offset) over the Moon, counts
    dc_file: float | None = None  # the file's dc_obs net of its offset
    irr_obs: float | None = None  # W m^-2 um^-1, from the file
    irr_model: float | None = None  # REF-1 at the satellite, channel SRF
    ratio: float | None = None
    ratio_sigma: float | None = None
    phase_angle_deg: float | None = None  # signed, negative when waxing
    sun_selenographic_lon_deg: float | None = None
    obs_selenographic_lat_deg: float | None = None
    obs_selenographic_lon_deg: float | None = None
    d_sun_moon_km: float | None = None
    d_obs_moon_km: float | None = None
    budget: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    in_trend: bool = True
    created_at: datetime
