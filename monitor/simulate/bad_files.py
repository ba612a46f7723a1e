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
from monitor.simulate.acquisition import CampaignContext, SimulatedAcquisition, deliver, deliver_truth
from monitor.simulate.truth import FileTruth

__all__ = ["write_bad_files"]


def _bad_copy(acq: SimulatedAcquisition, kind: str, status: str, reason: RejectReason) -> SimulatedAcquisition:
    truth = replace(acq.truth, kind=kind, status=status, reason=reason.value, bands={})
    return replace(acq, truth=truth, extra_primary={}, gz=False, dtype="float32")


def write_bad_files(
    ctx: CampaignContext, make_star: Callable[[], SimulatedAcquisition], original_acq: SimulatedAcquisition
) -> list[FileTruth]:
    """Write one file of each bad kind; return their truths."""
    out: list[FileTruth] = []
    outdir = ctx.outdir
    original = original_acq.truth

    def done(path: Path) -> None:
        if ctx.done_markers:
            path.with_name(path.name + DONE_SUFFIX).touch()

    # Not FITS at all: an error page saved under a FITS name.
    acq = make_star()
    path = outdir / acq.file_name
    path.write_bytes(b"<html><body><h1>502 Bad Gateway</h1></body></html>\n")
    done(path)
    out.append(FileTruth(path.name, None, None, None, None, "rejected", RejectReason.NOT_FITS.value, kind="not-fits"))

    # Truncated inside the last data block (not on a block boundary) and on a block boundary.
    for kind, cut in (("truncated-data", 1001), ("truncated-block", 0)):
        acq = _bad_copy(make_star(), kind, "rejected", RejectReason.TRUNCATED)
        path = deliver(ctx, acq)
        size = path.stat().st_size
        path.write_bytes(path.read_bytes()[: size - 2880 - cut])
        out.append(acq.truth)

    # Missing key: DATE-OBS removed.
    acq = _bad_copy(make_star(), "missing-key", "rejected", RejectReason.MISSING_KEY)
    acq.extra_primary = {"DATE-OBS": None}
    out.append(deliver_truth(ctx, acq))

    # Bad value: the position written in metres instead of km.
    acq = _bad_copy(make_star(), "bad-value", "rejected", RejectReason.BAD_VALUE)
    acq.extra_primary = {f"SC_POS{a}": v * 1000.0 for a, v in zip("XYZ", acq.header.sc_pos_km, strict=True)}
    out.append(deliver_truth(ctx, acq))

    # Unknown band: an extra image named after a band of the other mission.
    acq = _bad_copy(make_star(), "unknown-band", "rejected", RejectReason.UNKNOWN_BAND)
    last = acq.header.bands[-1]
    other = "NIR" if acq.header.mission is Mission.PHR else "B3"
    acq.header = replace(acq.header, bands=(*acq.header.bands, replace(last, band=other)))
    acq.images = {**acq.images, other: acq.images[last.band]}
    out.append(deliver_truth(ctx, acq))

    # Every band entirely NaN: the ingest refuses the whole file (reason all-nan). A file with
    # only some bands NaN is accepted (ICD 1.2: each band's verdict is separate) and those bands
    # are rejected all-nan by the processing.
    acq = _bad_copy(make_star(), "all-nan-band", "rejected", RejectReason.ALL_NAN)
    acq.images = {b.band: np.full(b.shape, np.nan, dtype=np.float32) for b in acq.header.bands}
    out.append(deliver_truth(ctx, acq))

    # Conflict: the same ACQ_ID and header delivered again with different pixels (another noise draw).
    acq = replace(original_acq, gz=False, dtype="float32")
    acq.images = {
        band: np.asarray(img, dtype=np.float64) + ctx.rng.normal(0.0, READ_NOISE_DN, np.shape(img))
        for band, img in original_acq.images.items()
    }
    acq.truth = replace(
        original,
        kind="conflict",
        status="rejected",
        reason=RejectReason.CONFLICT.value,
        related_file=original.file,
        bands={},
    )
    out.append(deliver_truth(ctx, acq, name=f"{original.acq_id}_redelivered.fits"))

    # Exact duplicate: the same bytes under another name.
    src = outdir / original.file
    suffix = ".fits.gz" if original.file.endswith(".gz") else ".fits"
    dup = outdir / (original.file[: -len(suffix)] + "_copy" + suffix)
    shutil.copyfile(src, dup)
    done(dup)
    out.append(
        replace(
            original,
            file=dup.name,
            kind="duplicate",
            status="duplicate",
            reason=RejectReason.DUPLICATE.value,
            related_file=original.file,
            bands={},
        )
    )
    return out
