"""Bad files of a campaign: one file of each kind that the ingest must refuse.

**Bad files** (``bad_files=True``), one of each kind: not FITS, truncated inside a data block,
truncated on a 2880-byte block boundary (the case astropy reads silently), missing key
(``DATE-OBS``), bad value (``SC_POS`` in metres), unknown band (a PNEO band name in a PHR file),
every band all-NaN (the whole file is expected rejected, reason ``all-nan``), a conflicting
re-delivery (same ``ACQ_ID``, different bytes) and an exact duplicate (same bytes, another name).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from monitor.domain import Mission, RejectReason
from monitor.io.fits_writer import DONE_SUFFIX
from monitor.science.instrument import READ_NOISE_DN
from monitor.simulate.acquisition import CampaignContext, SimulatedAcquisition, deliver
from monitor.simulate.truth import FileTruth

__all__ = ["write_bad_files"]

_FITS_BLOCK_BYTES = 2880  # a truncation "on a block boundary" cuts whole FITS blocks


def write_bad_files(
    ctx: CampaignContext, make_star: Callable[[], SimulatedAcquisition], original: SimulatedAcquisition
) -> list[FileTruth]:
    """Write one file of each bad kind; return their truths.

    Parameters
    ----------
    ctx : CampaignContext
        The campaign (output directory, random generator, ``.done`` markers).
    make_star : callable
        Simulates a new valid STAR acquisition (each bad file but the last two starts from one).
    original : SimulatedAcquisition
        A STAR acquisition already delivered: the conflict re-delivers its header with other
        pixels, the duplicate copies its file.
    """
    out = [_write_not_fits(ctx, make_star())]
    for kind, cut in (("truncated-data", 1001), ("truncated-block", 0)):
        out.append(_write_truncated(ctx, _bad_copy(make_star(), kind, RejectReason.TRUNCATED), cut))
    for kind, reason, spoil in (
        ("missing-key", RejectReason.MISSING_KEY, _without_date_obs),
        ("bad-value", RejectReason.BAD_VALUE, _position_in_metres),
        ("unknown-band", RejectReason.UNKNOWN_BAND, _with_unknown_band),
        ("all-nan-band", RejectReason.ALL_NAN, _all_nan),
    ):
        out.append(deliver(ctx, spoil(_bad_copy(make_star(), kind, reason))).truth)
    conflict = _redelivered(ctx.rng, original)
    out.append(deliver(ctx, conflict, name=f"{original.header.acq_id}_redelivered.fits").truth)
    out.append(_write_duplicate(ctx, original.truth))
    return out


def _bad_copy(acq: SimulatedAcquisition, kind: str, reason: RejectReason) -> SimulatedAcquisition:
    """``acq`` as an uncompressed float32 file expected rejected for ``reason``."""
    truth = replace(acq.truth, kind=kind, status="rejected", reason=reason.value, bands={})
    return replace(acq, truth=truth, gz=False, dtype="float32")


def _without_date_obs(acq: SimulatedAcquisition) -> SimulatedAcquisition:
    """Missing key: the file has no ``DATE-OBS``."""
    return replace(acq, omit=("date_obs",))


def _position_in_metres(acq: SimulatedAcquisition) -> SimulatedAcquisition:
    """Bad value: the position written in metres instead of km."""
    x, y, z = acq.header.sc_pos_km
    pos_m = (x * 1000.0, y * 1000.0, z * 1000.0)
    return replace(acq, header=replace(acq.header, sc_pos_km=pos_m))


def _with_unknown_band(acq: SimulatedAcquisition) -> SimulatedAcquisition:
    """Unknown band: an extra image named after a band of the other mission."""
    last = acq.header.bands[-1]
    other = "NIR" if acq.header.mission is Mission.PHR else "B3"
    header = replace(acq.header, bands=(*acq.header.bands, replace(last, band=other)))
    return replace(acq, header=header, images={**acq.images, other: acq.images[last.band]})


def _all_nan(acq: SimulatedAcquisition) -> SimulatedAcquisition:
    """Every band entirely NaN: the ingest refuses the whole file (reason all-nan).

    A file with only some bands NaN is accepted (ICD 1.2: each band's verdict is separate) and
    those bands are rejected all-nan by the processing.
    """
    return replace(acq, images={b.band: np.full(b.shape, np.nan, dtype=np.float32) for b in acq.header.bands})


def _redelivered(rng: np.random.Generator, original: SimulatedAcquisition) -> SimulatedAcquisition:
    """Conflict: the same ``ACQ_ID`` and header delivered again with different pixels (another noise draw)."""
    images = {
        band: np.asarray(img, dtype=np.float64) + rng.normal(0.0, READ_NOISE_DN, np.shape(img))
        for band, img in original.images.items()
    }
    truth = replace(
        original.truth,
        kind="conflict",
        status="rejected",
        reason=RejectReason.CONFLICT.value,
        related_file=original.truth.file,
        bands={},
    )
    return replace(original, images=images, truth=truth, gz=False, dtype="float32")


def _write_not_fits(ctx: CampaignContext, acq: SimulatedAcquisition) -> FileTruth:
    """Not FITS at all: an error page saved under the FITS name of ``acq``."""
    path = ctx.outdir / acq.file_name
    path.write_bytes(b"<html><body><h1>502 Bad Gateway</h1></body></html>\n")
    _mark_done(ctx, path)
    return FileTruth(path.name, None, None, None, None, "rejected", RejectReason.NOT_FITS.value, kind="not-fits")


def _write_truncated(ctx: CampaignContext, acq: SimulatedAcquisition, cut: int) -> FileTruth:
    """The file of ``acq`` short of its last block and ``cut`` more bytes (0: on a block boundary)."""
    truth = deliver(ctx, acq).truth
    path = ctx.outdir / truth.file
    size = path.stat().st_size
    path.write_bytes(path.read_bytes()[: size - _FITS_BLOCK_BYTES - cut])
    return truth


def _write_duplicate(ctx: CampaignContext, original: FileTruth) -> FileTruth:
    """Exact duplicate: the same bytes under another name."""
    suffix = ".fits.gz" if original.file.endswith(".gz") else ".fits"
    dup = ctx.outdir / (original.file[: -len(suffix)] + "_copy" + suffix)
    shutil.copyfile(ctx.outdir / original.file, dup)
    _mark_done(ctx, dup)
    return replace(
        original,
        file=dup.name,
        kind="duplicate",
        status="duplicate",
        reason=RejectReason.DUPLICATE.value,
        related_file=original.file,
        bands={},
    )


def _mark_done(ctx: CampaignContext, path: Path) -> None:
    if ctx.done_markers:
        path.with_name(path.name + DONE_SUFFIX).touch()
