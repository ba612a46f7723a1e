"""Stage 1 of the star method: photometry of the pending STAR acquisitions and their starpools.

Only acquisitions without photometry are measured (``--reprocess``: all, as a new run), spread
over spawned worker processes for large batches (:func:`measure_file` touches no database); their
rows (per band and per window) are the time-series traces. Each measured acquisition joins the
starpool of its satellite and campaign period (:func:`campaign_period`), and in the same commit
the starpool is marked as owing a recomputation. Run by
:func:`monitor.calibration.star.run_star_calibration` and, per file, by the work units
(:mod:`monitor.calibration.work`, :mod:`monitor.calibration.distributed`).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlmodel import Session

from monitor.calibration.pending import UnitFailure, after_commit, unit_failure
from monitor.calibration.star_model import StarModelKey, resolve_star_model, star_reference
from monitor.catalogue import acquisitions, star_results
from monitor.catalogue.models import Acquisition, BandImage, ProcessingRun
from monitor.domain import REF_VERSION, STAR_SATELLITES, BandHeader, PhotometryStatus, RejectReason
from monitor.io.errors import InvalidAcquisitionError
from monitor.io.pixels import read_bands
from monitor.science.exceptions import AllNaNError, ScienceError
from monitor.science.photometry import StarPhotometry as PhotometryResult
from monitor.science.photometry import a_coefficient, a_coefficient_sigma, measure_star, normalised_count
from monitor.settings import Settings

if TYPE_CHECKING:
    from monitor.calibration.star import StarSummary

log = logging.getLogger(__name__)

BATCH = 50  # acquisitions per commit of the photometry stage


# --------------------------------------------------------------------------- periods


def campaign_period(when: datetime, period: str) -> tuple[str, datetime, datetime]:
    """Campaign period holding ``when``: ``"month"`` (calendar month) or ``"<n>d"`` (fixed
    n-day periods counted from 2000-01-01T00:00Z). Returns (label, start, end), aware UTC."""
    when = when.astimezone(UTC)
    if period == "month":
        start = datetime(when.year, when.month, 1, tzinfo=UTC)
        end = datetime(when.year + (when.month == 12), when.month % 12 + 1, 1, tzinfo=UTC)
        return f"{when:%Y-%m}", start, end
    if period.endswith("d") and period[:-1].isdigit() and int(period[:-1]) > 0:
        days = int(period[:-1])
        epoch = datetime(2000, 1, 1, tzinfo=UTC)
        k = (when - epoch) // timedelta(days=days)
        start = epoch + k * timedelta(days=days)
        return f"{start:%Y-%m-%d}+{days}d", start, start + timedelta(days=days)
    raise ValueError(f"unknown campaign period {period!r} (use 'month' or '<n>d')")


# --------------------------------------------------------------------------- reference irradiance


def _band_header(b: BandImage) -> BandHeader:
    return BandHeader(
        band=b.band, shape=(b.rows, b.cols), dark_dn=b.dark_dn, gain_factor=b.gain_factor, oversamp=b.oversamp,
        binning=b.binning, pixscale_urad=b.pixscale_urad, lineper_ms=b.lineper_ms, saturate_dn=b.saturate_dn,
        star_x=b.star_x, star_y=b.star_y, bunit=b.bunit,
    )


# --------------------------------------------------------------------------- stage 1: photometry


@dataclass(frozen=True)
class FileJob:
    """Everything the photometry of one archived STAR file needs (picklable: runs in workers)."""

    path: Path
    bands: tuple[BandHeader, ...]
    gains_e_per_dn: tuple[float, ...]
    half_widths_px: tuple[int, ...]
    acquisition_id: int
    acq_id: str
    satellite: str
    hip: int
    run_id: int
    star_model: StarModelKey = StarModelKey(REF_VERSION)


PhotometryRows = list[tuple[dict[str, Any], list[dict[str, Any]]]]  # star_photometry columns, windows


def measure_file(job: FileJob) -> PhotometryRows | UnitFailure:
    """Catalogue rows of the photometry of one file (see :func:`_photometry_rows`), or why the
    file is left pending.

    Pure I/O and science, no database: this is the part spread over worker processes. It never
    raises: a failure that is no data verdict (the archived file cannot be read, a defect of
    the code) becomes this file's :class:`UnitFailure`, so that it can neither break the worker
    pool nor lose the results of the other files of the batch.
    """
    try:
        return _photometry_rows(job, _measure_bands(job))
    except Exception as exc:  # noqa: BLE001 - classified per file (monitor.failures)
        return unit_failure(exc, job.acq_id)


def _measure_bands(job: FileJob) -> tuple[dict[str, PhotometryResult | ScienceError], str]:
    """Photometry of every band of one file: (band -> result or science error, read error).

    A damaged file gives the reader's message as read error (every band rejected); a file
    that cannot be read at all raises its ``OSError`` (transient: the file stays pending).
    """
    try:  # every band in one walk of the file (read_band per band re-walks all the headers)
        images: dict[str, np.ndarray] = read_bands(job.path)
    except InvalidAcquisitionError as exc:
        return {}, str(exc)
    out: dict[str, PhotometryResult | ScienceError] = {}
    for hdr, gain in zip(job.bands, job.gains_e_per_dn, strict=True):
        image = images.get(hdr.band)
        if image is None:
            continue
        guess = (hdr.star_x, hdr.star_y) if hdr.star_x is not None and hdr.star_y is not None else None
        try:
            out[hdr.band] = measure_star(image, hdr, job.half_widths_px, guess_xy=guess, gain_e_per_dn=gain)
        except ScienceError as exc:
            out[hdr.band] = exc
    return out, ""


def file_job(acq: Acquisition, bands: list[BandImage], settings: Settings, run_id: int,
              star_model: StarModelKey) -> FileJob:
    assert acq.id is not None and acq.hip is not None
    return FileJob(
        path=settings.site / acq.archive_path,
        bands=tuple(_band_header(b) for b in bands),
        gains_e_per_dn=tuple(settings.star.e_per_dn_reference / b.gain_factor for b in bands),
        half_widths_px=tuple(settings.star.half_widths_px),
        acquisition_id=acq.id,
        acq_id=acq.acq_id,
        satellite=acq.satellite,
        hip=acq.hip,
        run_id=run_id,
        star_model=star_model,
    )


def _photometry_rows(
    job: FileJob, measured: tuple[dict[str, PhotometryResult | ScienceError], str]
) -> PhotometryRows:
    """Catalogue rows (``star_photometry`` columns per band, with their windows) of one file."""
    results, read_error = measured
    path = job.path
    out: PhotometryRows = []
    for b in job.bands:
        ref = star_reference(job.star_model, job.hip, job.satellite, b.band)
        base: dict[str, Any] = dict(run_id=job.run_id, acquisition_id=job.acquisition_id, band=b.band,
                                    reference_model=ref.model)
        e_k, usable = ref.irradiance_w_m2_um, ref.usable
        phot = results.get(b.band)
        if phot is None:
            message = read_error or f"{path.name} has no image HDU for band {b.band!r}"
            out.append(({**base, "status": PhotometryStatus.REJECTED, "reason": RejectReason.UNREADABLE.value,
                         "message": message[:1000]}, []))
            continue
        if isinstance(phot, ScienceError):
            reason = RejectReason.ALL_NAN if isinstance(phot, AllNaNError) else RejectReason.BAD_VALUE
            out.append(({**base, "status": PhotometryStatus.REJECTED, "reason": reason.value,
                         "message": f"photometry impossible: {phot}"[:1000]}, []))
            continue
        status, reason, message = PhotometryStatus.OK, None, ""
        if phot.saturated:
            status, reason = PhotometryStatus.REJECTED, RejectReason.SATURATED.value
            message = f"peak {phot.peak_dn:.0f} DN >= SATURATE {b.saturate_dn:.0f} DN"
        elif phot.off_centre:
            status, reason = PhotometryStatus.REJECTED, RejectReason.OFF_CENTRE.value
            message = (f"star not found within the search box, or centroid ({phot.centroid_x:.1f}, "
                       f"{phot.centroid_y:.1f}) too far from STARX/STARY ({b.star_x}, {b.star_y})")
        elif not usable:
            status, reason = PhotometryStatus.REJECTED, RejectReason.BAD_VALUE.value
            message = ref.why_not
        omega = b.pixel_solid_angle_sr
        windows: list[dict[str, Any]] = []
        a_raw = a_coefficient(phot.sums_dn, b.oversamp, b.gain_factor, e_k, omega) if np.isfinite(e_k) else None
        a_sig = (a_coefficient_sigma(a_raw, phot.sums_dn, phot.sigmas_dn) if a_raw is not None else None)
        counts = normalised_count(phot.sums_dn, b.oversamp, b.gain_factor)
        for j, h in enumerate(phot.half_widths):
            window_ok = not (phot.nan_in_window[j] or phot.truncated[j]) and status == PhotometryStatus.OK
            windows.append(dict(
                half_width_px=int(h), sum_dn=float(phot.sums_dn[j]), sigma_dn=float(phot.sigmas_dn[j]),
                n_pixels=int(phot.n_pixels[j]), nan_in_window=bool(phot.nan_in_window[j]),
                truncated=bool(phot.truncated[j]), normalised_count=float(counts[j]), encircled_energy=None,
                a=float(a_raw[j]) if (a_raw is not None and window_ok) else None,
                a_sigma=float(a_sig[j]) if (a_sig is not None and window_ok) else None,
            ))
        valid = [w for w in windows if w["a"] is not None]
        if status == PhotometryStatus.OK and not valid:
            status, reason = PhotometryStatus.REJECTED, RejectReason.NAN_IN_WINDOW.value
            message = "every extraction window holds a NaN pixel or is cut by the vignette edge"
        largest = valid[-1] if valid else None
        out.append((dict(
            **base, status=status, reason=reason, message=message,
            centroid_x=phot.centroid_x, centroid_y=phot.centroid_y, background_dn=phot.background_dn,
            background_noise_dn=phot.background_noise_dn, peak_dn=phot.peak_dn, saturated=phot.saturated,
            irradiance_w_m2_um=e_k if np.isfinite(e_k) else None,
            half_width_px=largest["half_width_px"] if largest else None,
            a=largest["a"] if largest else None, a_sigma=largest["a_sigma"] if largest else None,
        ), windows))
    return out


def photometry_stage(session: Session, settings: Settings, run: ProcessingRun, now: datetime, reprocess: bool,
                     summary: StarSummary, progress: Callable[..., None] | None) -> None:
    """Measure pending acquisitions; add them to their starpools and mark those as owing a
    recomputation, in one commit per batch. A file left pending gets no row and joins no starpool."""
    sats = [s.value for s in STAR_SATELLITES]
    assert run.id is not None
    pending = star_results.star_acquisitions_pending(session, sats, run.id - 1 if reprocess else None)
    pools: dict[str, int] = {}  # starpool key -> id
    bands: dict[int, list[BandImage]] = {}
    for start in range(0, len(pending), BATCH):  # bounded IN lists
        bands.update(acquisitions.band_images_by_acquisition(
            session, [a.id for a in pending[start : start + BATCH] if a.id is not None]))
    star_model = resolve_star_model(settings).key
    jobs = [file_job(acq, bands[acq.id], settings, run.id, star_model) for acq in pending if acq.id is not None]
    with _photometry_map(jobs, _workers(settings, len(jobs))) as results:
        for start in range(0, len(pending), BATCH):
            chunk = pending[start : start + BATCH]
            # measure the whole batch before the first write: on SQLite the write lock is then held
            # for the inserts only, never while pixels are measured (other jobs write meanwhile)
            measured_chunk = [next(results) for _ in chunk]
            rows: PhotometryRows = []
            members: list[tuple[int, int]] = []
            for acq, measured in zip(chunk, measured_chunk, strict=True):
                assert acq.id is not None
                if isinstance(measured, UnitFailure):
                    summary.leave_pending(measured, log, "star photometry")
                    continue
                rows.extend(measured)
                summary.rejected_bands += log_rejections(acq.acq_id, measured)
                key, p0, p1 = campaign_period(acq.date_obs, settings.star.campaign_period)
                pool_key = f"{acq.satellite}-{key}"
                if pool_key not in pools:
                    pools[pool_key] = star_results.get_or_create_starpool(session, acq.satellite, pool_key, p0, p1,
                                                                          now).id
                members.append((pools[pool_key], acq.id))
                summary.photometry += 1
            star_results.add_starpool_members(session, members, now)
            star_results.mark_starpools_pending(session, [pool_id for pool_id, _ in members], now)
            star_results.add_star_photometry_batch(session, rows)  # one INSERT per table and batch
            session.commit()
            after_commit("photometry")
            if progress is not None:
                progress(min(start + BATCH, len(pending)), len(pending), "photometry")


def log_rejections(acq_id: str, rows: PhotometryRows) -> int:
    """Log every rejected band of one acquisition (WARNING, with its ACQ_ID); returns their number."""
    rejected = [phot for phot, _ in rows if phot["status"] != PhotometryStatus.OK]
    for phot in rejected:
        log.warning("star %s band %s rejected (%s): %s", acq_id, phot["band"], phot["reason"], phot["message"])
    return len(rejected)


PARALLEL_MIN_FILES = 200  # below this, starting worker processes costs more than it saves


def _workers(settings: Settings, n_files: int) -> int:
    """Worker processes for ``n_files`` files: 1 (in-process) for small batches."""
    if n_files < PARALLEL_MIN_FILES:
        return 1
    wanted = settings.star.workers or min(os.cpu_count() or 1, 4)
    return max(1, min(wanted, n_files // (PARALLEL_MIN_FILES // 2)))


@contextmanager
def _photometry_map(jobs: list[FileJob], workers: int) -> Iterator[Iterator[Any]]:
    """Results of :func:`measure_file` over ``jobs``, in order, lazily.

    With ``workers`` > 1 the files are measured by a pool of *spawned* processes (never forked:
    the daemon has threads and open database connections) while this process writes the rows;
    the database is only ever touched here. A crash of either side loses nothing: rows are
    committed per batch and the unmeasured acquisitions stay pending.
    """
    if workers <= 1:
        yield map(measure_file, jobs)
        return
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        log.info("star photometry of %d files on %d processes", len(jobs), workers)
        yield _in_process_if_broken(jobs, pool.map(measure_file, jobs, chunksize=8))


def _in_process_if_broken(jobs: list[FileJob], results: Iterator[Any]) -> Iterator[Any]:
    """Pass the pool's results on; if the pool breaks (a worker killed, or a calling script
    without an ``if __name__ == "__main__"`` guard), measure the rest in this process."""
    done = 0
    try:
        for r in results:
            yield r
            done += 1
    except BrokenProcessPool as exc:
        log.warning("photometry worker processes failed (%s); measuring the remaining %d files in this process",
                    exc, len(jobs) - done)
        yield from map(measure_file, jobs[done:])
