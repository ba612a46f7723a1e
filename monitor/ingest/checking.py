"""Checking one inbox file before any catalogue lookup: hashed and validated on the same bytes.

A complete file is read once into memory (up to :data:`READ_ONCE_MAX_BYTES`) and hashed and
validated on those same bytes, then hashed again on disk with its size and times compared (a
writer still at work: left for later). A structurally incomplete file (a declared HDU missing, a
cut inside one, fewer extensions than ``NEXTEND``) younger than the settle time waits; older, it
is refused as ``truncated``. A file that cannot be read now, or that breaks the code, stays in the
inbox without a verdict (``monitor.failures``).
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from monitor.domain import AcquisitionHeader, GeomHeader, GlodObservation, RejectReason
from monitor.fsutil import sha256_stream
from monitor.ingest.glod import check_glod
from monitor.ingest.inbox import NotRegularError, entry_kind, is_fits_name, open_inbox_file, shown
from monitor.ingest.summary import IngestSummary
from monitor.io.acquisition import validate_acquisition
from monitor.io.errors import InvalidAcquisitionError
from monitor.io.glod import is_glod_name
from monitor.reference_stars import star_target_problem
from monitor.settings import IngestSettings, Settings

__all__ = ["READ_ONCE_MAX_BYTES", "Checked", "ChangedError", "check_file", "check_files"]

log = logging.getLogger(__name__)

READ_ONCE_MAX_BYTES = 256 << 20  # files up to this size are read once into memory, hashed and validated


@dataclass
class Checked:
    """What reading one inbox file taught, before any catalogue lookup."""

    path: Path
    sha256: str | None
    size_bytes: int = 0
    header: AcquisitionHeader | None = None
    geom: GeomHeader | None = None
    refusal: InvalidAcquisitionError | None = None  # the file itself is bad (name, structure, values)
    glod: GlodObservation | None = None  # a GSICS lunar observation file (*.nc, ICD 6)


def _not_a_file(path: Path, kind: str) -> Checked:
    article = "an" if kind[:1].lower() in "aeiou" else "a"
    return Checked(path, None, refusal=InvalidAcquisitionError(
        RejectReason.NOT_A_FILE,
        f"{shown(path)} is not a regular file but {article} {kind}; the entry itself is quarantined, "
        "nothing it points to is read"))


class ChangedError(OSError):
    """The file changed while it was read (a writer still at work): left for a later run."""


def check_file(path: Path, limits: IngestSettings) -> Checked:
    """Hash and validate one inbox entry (no database), on the same bytes.

    A file of at most :data:`READ_ONCE_MAX_BYTES` is read once into memory; its SHA-256 and its
    validation come from those bytes, so a writer changing the file in place meanwhile cannot make
    the hash belong to other bytes than the verdict (a larger one is validated from the file).
    The file is then hashed again, and its size, modification and change times must be the same
    as when it was opened: a read torn by a writer (file times have a granularity of a clock tick,
    so a write within the same tick changes no time) is not repeated; otherwise
    :class:`ChangedError`: left for later. Raises OSError when it
    cannot be read now: it stays in the inbox for the next run.
    """
    kind = entry_kind(path, os.lstat(path))
    if kind is not None:
        return _not_a_file(path, kind)
    try:
        f = open_inbox_file(path)
    except NotRegularError as exc:
        return _not_a_file(path, exc.kind)
    with f:
        opened = os.fstat(f.fileno())
        data: bytes | None = None
        if opened.st_size <= READ_ONCE_MAX_BYTES:
            data = f.read(READ_ONCE_MAX_BYTES + 1)
            if len(data) != opened.st_size:
                raise ChangedError(errno.EAGAIN, "the file changed size while it was read", str(path))
            sha256 = hashlib.sha256(data).hexdigest()
        else:
            sha256 = sha256_stream(f)
        if is_glod_name(path.name):  # a GSICS lunar observation (ICD 6): read whole, checked on these bytes
            data = data if data is not None else f.read()
            obs, refusal = check_glod(data, path.name)
            _check_unchanged(path, opened)
            return Checked(path, sha256, opened.st_size, refusal=refusal, glod=obs)
        if not is_fits_name(path.name):
            _check_unchanged(path, opened)
            return Checked(path, sha256, opened.st_size, refusal=InvalidAcquisitionError(
                RejectReason.NOT_FITS,
                f"{shown(path)}: not an acquisition file (the name must end in .fits, .fits.gz or .nc)"))
        checked = _validate_file(path, sha256, opened.st_size, limits, data)
        f.seek(0)  # the file still holds those bytes (a read torn by a writer is not repeated)
        if sha256_stream(f) != sha256:
            raise ChangedError(errno.EAGAIN, "the file changed while it was being checked", str(path))
        _check_unchanged(path, opened)
    return checked


def _validate_file(path: Path, sha256: str, size: int, limits: IngestSettings, data: bytes | None) -> Checked:
    try:
        header, geom = validate_acquisition(  # headers, tables and the all-NaN test, one walk
            path, max_star_band_pixels=limits.max_star_band_pixels,
            max_moon_band_pixels=limits.max_moon_band_pixels, max_file_bytes=limits.max_file_bytes, data=data,
            check_target=star_target_problem)
    except InvalidAcquisitionError as exc:
        return Checked(path, sha256, size, refusal=exc)
    return Checked(path, sha256, size, header, geom)


def _check_unchanged(path: Path, opened: os.stat_result) -> None:
    """The inbox entry is still the regular file that was hashed (same inode, size, modification
    and change times)."""
    now = os.lstat(path)
    same = (now.st_dev, now.st_ino, now.st_size, now.st_mtime_ns, now.st_ctime_ns) == (
        opened.st_dev, opened.st_ino, opened.st_size, opened.st_mtime_ns, opened.st_ctime_ns)
    if not same:
        raise ChangedError(errno.EAGAIN, "the file changed while it was being checked", str(path))


def _still_written(c: Checked, now: datetime, settle_seconds: float) -> bool:
    """Whether a structurally incomplete file is young enough to be still being written (its
    ``.done`` marker came early, or it grows at HDU boundaries): left for later, not refused.
    Older than ``settle_seconds`` (or with no settle time), it is refused as truncated."""
    if c.refusal is None or c.refusal.reason is not RejectReason.TRUNCATED or settle_seconds <= 0:
        return False
    try:
        mtime = os.lstat(c.path).st_mtime
    except FileNotFoundError:
        return False
    return now.timestamp() - mtime < settle_seconds


def check_files(files: list[Path], settings: Settings, now: datetime, summary: IngestSummary) -> list[Checked]:
    """:func:`check_file` each file. One that cannot be read now (transient), or that breaks the code
    (internal error), stays in the inbox for the next run, with a problem line: only the data
    themselves make a verdict (monitor.failures). One that is still being written (it changed
    while read, or is structurally incomplete and younger than the settle time) waits."""
    out = []
    for path in files:
        try:
            checked = check_file(path, settings.ingest)
        except ChangedError as exc:
            log.info("%s is still being written (%s); left for a later run", shown(path), exc.strerror)
            summary.waiting += 1
            continue
        except OSError as exc:  # permissions, vanished file...: leave it in the inbox, go on
            log.error("could not read %s, left for the next run: %s", shown(path), exc)
            summary.leave(path.name, f"transient: {type(exc).__name__}: {exc}")
            continue
        except Exception as exc:  # a reader defect: the file is not to blame
            log.exception("internal error reading %s; left in the inbox for the next run", shown(path))
            summary.leave(path.name, f"internal error: {type(exc).__name__}: {exc}")
            continue
        if _still_written(checked, now, settings.ingest.settle_seconds):
            log.info("%s is structurally incomplete but younger than the settle time; left for a later run",
                     shown(path))
            summary.waiting += 1
            continue
        out.append(checked)
    return out
