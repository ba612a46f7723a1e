"""Catalogue rows written straight through the models (no FITS file, no processing), for the
tests of the queries and of the schema. Each function adds one row with every required column
filled and flushes it (the row has its id); the caller commits."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import Session

from monitor.catalogue.models import (
    Acquisition,
    BandImage,
    DriftResult,
    GeometryResult,
    Incident,
    JobRun,
    MoonMeasurement,
    MtfResult,
    Outbox,
    ProcessingRun,
    Rejection,
    Report,
    StarPhotometry,
    Starpool,
    StarpoolMember,
    StarpoolResult,
    StarWindow,
)
from monitor.io.reference_data import load_star_catalogue

_serial = itertools.count(1)


def _add(session: Session, row: Any) -> Any:
    session.add(row)
    session.flush()
    return row


def run(session: Session, started: datetime, outcome: str = "ok") -> ProcessingRun:
    return _add(session, ProcessingRun(kind="process", code_version="test", icd_version="ICD-1",
                                       reference_model="REF-1", started_at=started, outcome=outcome))


def acquisition(session: Session, acq_id: str, satellite: str, acq_type: str, date_obs: datetime,
                bands: Sequence[str] = (), hip: int | None = None, status: str = "archived") -> Acquisition:
    n = next(_serial)
    acq = _add(session, Acquisition(
        acq_id=acq_id, sha256=f"{n:064x}", file_name=f"{acq_id}.fits", size_bytes=1000 + n, acq_type=acq_type,
        satellite=satellite, target=f"HIP {hip}" if hip is not None else acq_type, hip=hip, date_obs=date_obs,
        sc_pos_x_km=7000.0, sc_pos_y_km=0.0, sc_pos_z_km=0.0, sc_vel_x_km_s=0.0, sc_vel_y_km_s=7.5,
        sc_vel_z_km_s=0.0, icd="ICD-1", archive_path=f"archive/{acq_id}.fits", status=status,
        received_at=date_obs + timedelta(hours=1)))
    for b in bands:
        _add(session, BandImage(acquisition_id=acq.id, band=b, rows=64, cols=64, bunit="DN", dark_dn=30.0,
                                gain_factor=1.0, oversamp=1.0, binning=1, pixscale_urad=1.0, lineper_ms=0.1,
                                saturate_dn=4000.0))
    return acq


def photometry(session: Session, run_: ProcessingRun, acq: Acquisition, band: str, status: str,
               a: float | None = None, reason: str | None = None) -> StarPhotometry:
    phot = _add(session, StarPhotometry(run_id=run_.id, acquisition_id=acq.id, band=band, status=status,
                                        reason=reason, reference_model="REF-1", half_width_px=5, a=a,
                                        a_sigma=None if a is None else 0.01 * a))
    for h in (2, 5):
        _add(session, StarWindow(photometry_id=phot.id, half_width_px=h, sum_dn=1000.0 * h, sigma_dn=10.0,
                                 n_pixels=(2 * h + 1) ** 2, normalised_count=1000.0 * h,
                                 a=None if a is None else a * h / 5))
    return phot


def starpool(session: Session, satellite: str, key: str, start: datetime, end: datetime,
             members: Sequence[Acquisition] = ()) -> Starpool:
    pool = _add(session, Starpool(satellite=satellite, period_key=key, period_start=start, period_end=end,
                                  created_at=start))
    for acq in members:
        _add(session, StarpoolMember(starpool_id=pool.id, acquisition_id=acq.id, joined_at=start))
    return pool


def starpool_result(session: Session, run_: ProcessingRun, pool: Starpool, band: str, version: int,
                    epoch: datetime, a: float, per_star: dict[str, Any] | None = None) -> StarpoolResult:
    return _add(session, StarpoolResult(
        starpool_id=pool.id, band=band, version=version, run_id=run_.id, epoch=epoch, a=a, a_sigma=0.01 * a,
        n_used=len(per_star or {}), n_rejected=0, half_width_px=5, ee_source="none", per_star=per_star or {},
        acquisition_ids=list(per_star or {}), created_at=epoch))


def mtf(session: Session, run_: ProcessingRun, pool: Starpool, band: str, direction: str, method: str,
        version: int, nyquist: float) -> MtfResult:
    return _add(session, MtfResult(starpool_id=pool.id, band=band, direction=direction, version=version,
                                   run_id=run_.id, mtf_nyquist=nyquist, mtf_nyquist_sigma=0.01, method=method,
                                   created_at=pool.period_end))


def drift(session: Session, run_: ProcessingRun, satellite: str, band: str, method: str, rate: float,
          quantity: str = "a", model: str = "linear") -> DriftResult:
    return _add(session, DriftResult(run_id=run_.id, satellite=satellite, band=band, method=method,
                                     quantity=quantity, model=model, reference_epoch=run_.started_at, a0=10.0,
                                     a0_sigma=0.1, rate_per_year=rate, rate_sigma=0.001, n_points=3,
                                     created_at=run_.started_at))


def moon(session: Session, run_: ProcessingRun, acq: Acquisition, band: str, status: str,
         a: float | None = None, reason: str | None = None) -> MoonMeasurement:
    return _add(session, MoonMeasurement(run_id=run_.id, acquisition_id=acq.id, band=band, status=status,
                                         reason=reason, a=a, a_sigma=None if a is None else 0.02 * a,
                                         in_trend=status == "ok", created_at=acq.date_obs))


def geometry(session: Session, run_: ProcessingRun, acq: Acquisition, status: str) -> GeometryResult:
    ok = status == "ok"
    return _add(session, GeometryResult(run_id=run_.id, acquisition_id=acq.id, status=status, n_control=8 if ok else 0,
                                        n_check=4 if ok else 0, check_rmse_e_m=1.5 if ok else None,
                                        orbit_model="j2", orbit_order=0, created_at=acq.date_obs))


def rejection(session: Session, file_name: str, reason: str, received_at: datetime, acq_id: str | None = None,
              state: str = "done") -> Rejection:
    return _add(session, Rejection(file_name=file_name, acq_id=acq_id, reason=reason, message=f"{reason}: test",
                                   received_at=received_at, quarantine_path=f"quarantine/{file_name}", state=state))


def report(session: Session, created: datetime) -> Report:
    return _add(session, Report(period=f"{created:%Y-%m}", path=f"reports/r{next(_serial)}.pdf", sha256="0" * 64,
                                pages=3, size_bytes=100, created_at=created))


def outbox(session: Session, status: str, created: datetime, report_: Report | None = None,
           incident: Incident | None = None, kind: str = "report") -> Outbox:
    return _add(session, Outbox(kind=kind, report_id=None if report_ is None else report_.id,
                                incident_id=None if incident is None else incident.id,
                                recipient=f"r{next(_serial)}@example.org", status=status, next_attempt_at=created,
                                created_at=created))


def job_run(session: Session, job_id: str, outcome: str, started: datetime) -> JobRun:
    return _add(session, JobRun(job_id=job_id, started_at=started, outcome=outcome,
                                finished_at=None if outcome == "running" else started + timedelta(minutes=1)))


def incident(session: Session, job_id: str, last_outcome: str, when: datetime, is_open: bool) -> Incident:
    return _add(session, Incident(job_id=job_id, open_job_id=job_id if is_open else None, opened_at=when,
                                  closed_at=None if is_open else when + timedelta(hours=1), first_failure_at=when,
                                  last_failure_at=when, failures=3, last_outcome=last_outcome))


# --------------------------------------------------------------------------- an example catalogue


def t(month: int, day: int) -> datetime:
    return datetime(2025, month, day, 12, tzinfo=UTC)


class Example:
    """What the filters need to know of every row, from the fixture (not from the document)."""

    def __init__(self) -> None:
        self.acq: dict[str, tuple[str, datetime]] = {}  # acq_id -> (satellite, date_obs)
        self.refused: dict[str, datetime] = {}  # file name -> received_at
        self.pool_start: dict[str, datetime] = {}  # starpool key -> period start


def fill_example(session: Session) -> Example:
    """A small catalogue with a bit of everything (see tests/test_results.py), and what its rows
    are about."""
    cat = Example()
    hip = int(load_star_catalogue().hip[0])
    r1, r2 = run(session, t(1, 31)), run(session, t(4, 30))

    def acq(acq_id: str, sat: str, kind: str, when: datetime, bands: tuple[str, ...]) -> Any:
        cat.acq[acq_id] = (sat, when)
        return acquisition(session, acq_id, sat, kind, when, bands, hip=hip if kind == "STAR" else None)

    a1 = acq("PHR1A-S1", "PHR1A", "STAR", t(1, 10), ("P", "B0"))
    a2 = acq("PHR1A-S2", "PHR1A", "STAR", t(2, 10), ("P", "B0"))
    a3 = acq("PHR1B-S3", "PHR1B", "STAR", t(3, 5), ("P",))
    photometry(session, r1, a1, "P", "rejected", reason="saturated")  # older version
    photometry(session, r2, a1, "P", "ok", a=10.0)
    photometry(session, r1, a1, "B0", "ok", a=8.0)
    photometry(session, r1, a2, "P", "ok", a=10.2)
    photometry(session, r1, a2, "B0", "rejected", reason="off-centre")
    photometry(session, r1, a3, "P", "ok", a=11.0)
    s1 = starpool(session, "PHR1A", "PHR1A-2025-01", t(1, 1), t(2, 1), [a1])
    s2 = starpool(session, "PHR1A", "PHR1A-2025-02", t(2, 1), t(3, 1), [a2])
    s3 = starpool(session, "PHR1B", "PHR1B-2025-03", t(3, 1), t(4, 1), [a3])
    for pool in (s1, s2, s3):
        cat.pool_start[pool.period_key] = pool.period_start
    starpool_result(session, r1, s1, "P", 1, t(1, 10), 9.8, {"PHR1A-S1": {"a": 9.7, "a_sigma": 0.1}})
    starpool_result(session, r2, s1, "P", 2, t(1, 10), 9.9, {"PHR1A-S1": {"a": 10.1, "a_sigma": 0.1}})
    starpool_result(session, r1, s1, "B0", 1, t(1, 10), 8.1, {"PHR1A-S1": {"a": 8.2, "a_sigma": 0.1}})
    starpool_result(session, r1, s2, "P", 1, t(2, 10), 10.0, {"PHR1A-S2": {"a": 10.3, "a_sigma": 0.1}})
    starpool_result(session, r1, s3, "P", 1, t(3, 5), 11.1, {"PHR1B-S3": {"a": 11.2, "a_sigma": 0.1}})
    for pool, band in ((s1, "P"), (s2, "P"), (s3, "P"), (s1, "B0")):
        mtf(session, r1, pool, band, "along", "parametric", 1, 0.10)
        mtf(session, r2, pool, band, "along", "parametric", 2, 0.11)  # the latest version
        mtf(session, r1, pool, band, "across", "parametric", 1, 0.12)
        mtf(session, r1, pool, band, "along", "epsf", 1, 0.13)  # the cross-check: not exported
    drift(session, r1, "PHR1A", "P", "STAR", -0.010)
    drift(session, r2, "PHR1A", "P", "STAR", -0.011)  # the latest linear fit
    drift(session, r2, "PHR1A", "P", "STAR", -0.5, model="exponential")
    drift(session, r2, "PHR1A", "P", "STAR", -0.5, quantity="mtf_along")
    drift(session, r1, "PHR1A", "B0", "STAR", -0.020)
    drift(session, r1, "PNEO3", "B", "MOON", -0.030)
    m1 = acq("PNEO3-M1", "PNEO3", "MOON", t(1, 20), ("B", "G"))
    m2 = acq("PNEO3-M2", "PNEO3", "MOON", t(3, 20), ("B",))
    m3 = acq("PNEO4-M3", "PNEO4", "MOON", t(2, 15), ("B",))
    moon(session, r1, m1, "B", "rejected", reason="bad-value")  # older version
    moon(session, r2, m1, "B", "ok", a=5.0)
    moon(session, r1, m1, "G", "flagged", a=6.0)  # no calibration result, an "ok" measurement
    moon(session, r1, m2, "B", "rejected", reason="bad-value")
    moon(session, r1, m3, "B", "ok", a=5.2)
    g1 = acq("PHR1A-G1", "PHR1A", "GEOM", t(2, 1), ())
    g2 = acq("PHR1A-G2", "PHR1A", "GEOM", t(3, 1), ())
    geometry(session, r1, g1, "failed")
    geometry(session, r2, g1, "ok")
    geometry(session, r1, g2, "ok")
    geometry(session, r2, g2, "failed")  # its latest result failed: not exported
    for name, reason, when in (("PHR1A-dup.fits", "duplicate", t(1, 15)), ("cut.fits", "truncated", t(3, 10))):
        rejection(session, name, reason, when)
        cat.refused[name] = when
    return cat
