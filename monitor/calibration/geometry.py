"""Geometry use-case (GEOM acquisitions, ICD-1 §3): along-track stereo adjustment per acquisition.

For each archived GEOM acquisition without a geometry result (``reprocess``: every one, as part
of the new run), the ``EPHEM`` and ``GCP`` tables are read from the archived file, the two
pushbroom cameras are built from the GEOM keys stored at ingest (``geom_header`` row), and
:func:`monitor.science.stereo_adjustment.adjust_stereo_geometry` adjusts orbit and attitude on the
CONTROL points and evaluates the CHECK points. One ``geometry_result`` row is inserted per
acquisition and committed at once:

- ``ok``: CHECK-point RMSE east/north/up (m), adjusted velocity at DATE-OBS (m/s, ERA inertial
  frame of ICD §3) with its reported 1-sigma per axis, the 3-D position 1-sigma (m), sigma0,
  degrees of freedom and the CONTROL points removed as blunders
  (``[{"id", "view", "w"}]``, ``w`` = Baarda's standardised residual);
- ``failed``: the data's verdict: the tables are damaged, there are too few usable CONTROL
  points, or the adjustment does not converge; the message says why and the run goes on with
  the next acquisition.

Every row records the orbit model (``orbit_model``, ``orbit_order``) and the ``[geometry]``
settings it was computed with (``settings``, `GeometrySettings.as_record`).

An acquisition whose adjustment fails otherwise (the archived file cannot be read, a defect of
the code) gets no row: it stays pending for the next run (:mod:`monitor.calibration.pending`).

Time axis: seconds from DATE-OBS (``T`` of ``EPHEM`` is already on it; ``T0_FORE``/``T0_AFT`` are
converted); theta_ERA at DATE-OBS with UT1 = UTC (ICD §3).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlmodel import Session

from monitor.calibration.pending import StageSummary, after_commit, unit_of_work
from monitor.catalogue import geometry_results, versions
from monitor.catalogue.models import Acquisition, GeometryResult, GeomHeaderRow, ProcessingRun
from monitor.domain import GeometryStatus
from monitor.io.errors import InvalidAcquisitionError
from monitor.io.tables import read_ephem, read_gcp
from monitor.science.earth_frames import earth_rotation_angle_rad, jd_from_unix_seconds
from monitor.science.exceptions import ScienceError
from monitor.science.pushbroom import PushbroomCamera
from monitor.science.stereo_adjustment import (
    AdjustmentError,
    GcpObservations,
    GeomAdjustmentResult,
    InsufficientControlError,
    adjust_stereo_geometry,
)
from monitor.settings import GeometrySettings, Settings

__all__ = [
    "ORBIT_ORDER",
    "IMAGE_SIGMA_PX",
    "adjustment_options",
    "GeometrySummary",
    "GeomAdjustmentInputs",
    "geom_adjustment_inputs",
    "run_geometry_calibration",
]

log = logging.getLogger(__name__)

ORBIT_ORDER = GeometrySettings().kepler_order  # default Kepler order ([geometry] kepler_order)
IMAGE_SIGMA_PX = GeometrySettings().image_sigma_px  # default pixel sigma ([geometry] image_sigma_px)


def adjustment_options(geo: GeometrySettings) -> dict[str, Any]:
    """Keyword arguments of `adjust_stereo_geometry` from the ``[geometry]`` settings (SI units)."""
    return {
        "orbit_model": geo.orbit_model,
        "orbit_order": geo.kepler_order,
        "image_sigma_px": geo.image_sigma_px,
        "ephem_sigma_m": geo.ephem_sigma_m,
        "ephem_sigma_m_s": geo.ephem_sigma_m_s,
        "prior_position_sigma_m": geo.prior_position_sigma_m,
        "prior_velocity_sigma_m_s": geo.prior_velocity_sigma_m_s,
        "attitude_rate_sigma_rad_s": geo.attitude_rate_sigma_urad_s * 1e-6,
    }


@dataclass
class GeometrySummary(StageSummary):
    """What one geometry stage did."""

    processed: int = 0  # acquisitions with a new result row (ok or failed)
    failed: int = 0
    blunders: int = 0  # CONTROL points removed, over all acquisitions
    failures: list[str] = field(default_factory=list)  # acq_id: message

    def __str__(self) -> str:
        text = f"{self.processed} adjusted ({self.failed} failed), {self.blunders} blunder(s) removed"
        text += self.pending_text()
        return text + (" [" + "; ".join(self.failures) + "]" if self.failures else "")


@dataclass(frozen=True)
class GeomAdjustmentInputs:
    """Arguments of `adjust_stereo_geometry` for one GEOM acquisition (SI units, s from DATE-OBS)."""

    gcp: GcpObservations
    cameras: dict[str, PushbroomCamera]
    ephem_t_s: np.ndarray
    ephem_position_m: np.ndarray
    ephem_velocity_m_s: np.ndarray
    era_ref_rad: float


def geom_adjustment_inputs(
    path: Path, date_obs: datetime, header: GeomHeaderRow
) -> GeomAdjustmentInputs:
    """Read the ``EPHEM`` and ``GCP`` tables of a GEOM file and build the adjustment inputs.

    Parameters
    ----------
    path : Path
        Archived GEOM acquisition file.
    date_obs : datetime
        Aware UTC DATE-OBS of the acquisition (origin of the time axis).
    header : GeomHeaderRow
        GEOM keys stored at ingest: FOCAL (mm), PIXPITCH (um), NSAMP, LINEPER (ms), T0_FORE/T0_AFT
        (UTC), PITCH_F/PITCH_A (deg).

    Returns
    -------
    GeomAdjustmentInputs
        Cameras with ``t0_s`` in seconds from DATE-OBS, EPHEM in m and m/s, theta_ERA at DATE-OBS.

    Raises
    ------
    InvalidAcquisitionError
        A table or column is missing or cannot be decoded.
    OSError
        The file cannot be read (transient: the acquisition stays pending).
    """
    ephem = read_ephem(path)
    g = read_gcp(path)
    def camera(t0: datetime, pitch_deg: float) -> PushbroomCamera:
        return PushbroomCamera(
            focal_m=header.focal_mm * 1e-3,
            pixpitch_m=header.pixpitch_um * 1e-6,
            nsamp=int(header.nsamp),
            lineper_s=header.lineper_ms * 1e-3,
            t0_s=(t0 - date_obs).total_seconds(),
            pitch_rad=float(np.radians(pitch_deg)),
        )

    cameras = {
        "FORE": camera(header.t0_fore, header.pitch_fore_deg),
        "AFT": camera(header.t0_aft, header.pitch_aft_deg),
    }
    gcp = GcpObservations(
        point_id=np.asarray(g["ID"], dtype=str),
        role=np.char.upper(np.asarray(g["ROLE"], dtype=str)),
        view=np.char.upper(np.asarray(g["VIEW"], dtype=str)),
        lat_deg=np.asarray(g["LAT"], dtype=np.float64),
        lon_deg=np.asarray(g["LON"], dtype=np.float64),
        h_m=np.asarray(g["H"], dtype=np.float64),
        line=np.asarray(g["LINE"], dtype=np.float64),
        sample=np.asarray(g["SAMPLE"], dtype=np.float64),
    )
    jd_day, jd_sec = jd_from_unix_seconds(date_obs.timestamp())
    return GeomAdjustmentInputs(
        gcp=gcp,
        cameras=cameras,
        ephem_t_s=ephem["T"],
        ephem_position_m=np.column_stack([ephem["X"], ephem["Y"], ephem["Z"]]) * 1e3,
        ephem_velocity_m_s=np.column_stack([ephem["VX"], ephem["VY"], ephem["VZ"]]) * 1e3,
        era_ref_rad=float(earth_rotation_angle_rad(jd_day, jd_sec)),
    )


def _finite_or_none(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _ok_row(base: dict[str, Any], res: GeomAdjustmentResult, seconds: float) -> GeometryResult:
    rmse = res.check_rmse_enu_m
    vel = res.velocity_m_s
    sig_v = res.velocity_sigma_m_s
    blunders = [
        {"id": p, "view": v, "w": round(float(w), 2)}
        for p, v, w in zip(res.blunders, res.blunder_views, res.blunder_w, strict=True)
    ]
    message = f"{res.n_iterations} evaluations, {seconds:.2f} s"
    if blunders:
        message += "; blunders removed: " + ", ".join(f"{b['id']} ({b['view']}, w = {b['w']:.1f})" for b in blunders)
    return GeometryResult(
        **base,
        status=GeometryStatus.OK,
        message=message[:1000],
        n_control=res.n_control,
        n_check=res.n_check,
        check_rmse_e_m=_finite_or_none(rmse[0]),
        check_rmse_n_m=_finite_or_none(rmse[1]),
        check_rmse_u_m=_finite_or_none(rmse[2]),
        velocity_x_m_s=float(vel[0]),
        velocity_y_m_s=float(vel[1]),
        velocity_z_m_s=float(vel[2]),
        sigma0=_finite_or_none(res.sigma0),
        dof=res.dof,
        blunders=blunders,
        velocity_sigma_x_m_s=_finite_or_none(sig_v[0]),
        velocity_sigma_y_m_s=_finite_or_none(sig_v[1]),
        velocity_sigma_z_m_s=_finite_or_none(sig_v[2]),
        position_sigma_m=_finite_or_none(float(np.sqrt(np.sum(res.position_sigma_m**2)))),
    )


def _adjust_one(
    acq: Acquisition, header: GeomHeaderRow | None, site: Path, base: dict[str, Any], geo: GeometrySettings
) -> GeometryResult:
    """The result row of one GEOM acquisition (``failed`` with a message on data failures);
    any other failure raises (the acquisition stays pending)."""
    if header is None:
        return GeometryResult(**base, status=GeometryStatus.FAILED,
                              message="no GEOM keys recorded for this acquisition")
    try:
        inputs = geom_adjustment_inputs(site / acq.archive_path, acq.date_obs, header)
    except InvalidAcquisitionError as exc:
        return GeometryResult(**base, status=GeometryStatus.FAILED, message=f"cannot read EPHEM/GCP: {exc}"[:1000])
    t_start = time.perf_counter()
    try:
        res = adjust_stereo_geometry(
            inputs.gcp,
            inputs.cameras,
            inputs.ephem_t_s,
            inputs.ephem_position_m,
            inputs.ephem_velocity_m_s,
            inputs.era_ref_rad,
            **adjustment_options(geo),
        )
    except InsufficientControlError as exc:
        return GeometryResult(**base, status=GeometryStatus.FAILED, message=f"too few control points: {exc}"[:1000])
    except AdjustmentError as exc:
        return GeometryResult(**base, status=GeometryStatus.FAILED, message=f"adjustment failed: {exc}"[:1000])
    except (ScienceError, np.linalg.LinAlgError) as exc:  # EPHEM fit, projection: bad input data
        return GeometryResult(
            **base, status=GeometryStatus.FAILED, message=f"adjustment impossible ({type(exc).__name__}): {exc}"[:1000]
        )
    return _ok_row(base, res, time.perf_counter() - t_start)


def run_geometry_calibration(
    session: Session,
    settings: Settings,
    run: ProcessingRun,
    now: datetime,
    *,
    reprocess: bool = False,
) -> GeometrySummary:
    """Adjust every pending GEOM acquisition and record one ``geometry_result`` row each.

    Parameters
    ----------
    session : Session
        Catalogue session of the processing run.
    settings : Settings
        Site settings (``site``: root of the archive paths).
    run : ProcessingRun
        The processing run the rows belong to.
    now : datetime
        Aware UTC time of the run (``created_at``).
    reprocess : bool
        Adjust every archived GEOM acquisition again (new rows of this run), not only those
        without a result.

    Returns
    -------
    GeometrySummary

    Notes
    -----
    Idempotent and restartable: the pending set is read from the catalogue and each acquisition
    is committed on its own, so an interrupted run resumes where it stopped. Data failures
    (damaged tables, too few CONTROL points, no convergence) give a ``failed`` row; a transient
    failure (the file cannot be read) or an internal error (logged with its traceback) gives no
    row: the acquisition stays pending and the run goes on.
    """
    assert run.id is not None
    summary = GeometrySummary()
    pending = geometry_results.geom_acquisitions_pending(session, run.id - 1 if reprocess else None)
    geo = settings.geometry
    for acq in pending:
        assert acq.id is not None
        acq_id = acq.acq_id
        base = base_row(run.id, acq.id, geo, now)
        with unit_of_work(session, summary, acq_id, log, "geometry"):
            row = _adjust_one(acq, geometry_results.geom_header_of(session, acq.id), settings.site, base, geo)
            versions.add_rows(session, [row])
            session.commit()
            after_commit("geometry")
            _count(summary, acq_id, row)
    return summary


def base_row(run_id: int, acquisition_id: int, geo: GeometrySettings, now: datetime) -> dict[str, Any]:
    """The columns of a ``geometry_result`` row that do not come from the adjustment."""
    return {
        "run_id": run_id,
        "acquisition_id": acquisition_id,
        "orbit_model": geo.orbit_model,
        "orbit_order": geo.kepler_order if geo.orbit_model == "kepler" else 0,
        "settings": geo.as_record(),
        "created_at": now,
    }


def adjust_acquisition(acq: Acquisition, header: GeomHeaderRow | None, settings: Settings, run_id: int,
                       now: datetime) -> GeometryResult:
    """The ``geometry_result`` row of one GEOM acquisition, as the in-process stage computes it
    (``failed`` with a message on data failures; any other failure raises). Used by the units of
    :mod:`monitor.calibration.work`."""
    assert acq.id is not None
    return _adjust_one(acq, header, settings.site, base_row(run_id, acq.id, settings.geometry, now),
                       settings.geometry)


def log_result(acq_id: str, row: GeometryResult) -> None:
    """Log the committed row of one acquisition as the in-process stage does."""
    _count(GeometrySummary(), acq_id, row)


def _count(summary: GeometrySummary, acq_id: str, row: GeometryResult) -> None:
    """Count and log the committed row of one acquisition (a ``failed`` one at WARNING)."""
    summary.processed += 1
    if row.status == GeometryStatus.OK:
        summary.blunders += len(row.blunders)
        log.info(
            "geometry of %s: %d control, %d check, RMSE e/n/u %s m, %s",
            acq_id, row.n_control, row.n_check,
            "/".join("nan" if v is None else f"{v:.3f}"
                     for v in (row.check_rmse_e_m, row.check_rmse_n_m, row.check_rmse_u_m)),
            row.message,
        )
    else:
        summary.failed += 1
        summary.failures.append(f"{acq_id}: {row.message}")
        log.warning("geometry of %s failed: %s", acq_id, row.message)
