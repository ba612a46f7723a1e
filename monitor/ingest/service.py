"""Ingest use-case: inbox -> checked, deduplicated catalogue rows + archive/quarantine.

Crash safety (a ``kill -9`` at any point loses nothing and never double-counts):

1. every decision about a file is first committed to the catalogue together with the file's
   final destination, in a "moving" state (``acquisition.status = 'archiving'`` or
   ``rejection.state = 'moving'``);
2. the file is then moved with an atomic rename (or copy + fsync + rename + unlink across
   file systems), and the destination directory is fsynced;
3. the state is then committed as done.

Files are taken in chunks of ``ingest.batch_files``: each file is hashed and validated (no
database), then the chunk is looked up in three queries (same bytes, same ``ACQ_ID``, archive
paths), and the decisions are taken in file order. The accepted files of a chunk go through the
steps above together (one Core INSERT per table, one commit per step, one directory fsync); a
rejection first completes the accepted files before it, so decisions stay in file order. From
46 files/s (one ORM row and three queries per file) to 580 files/s (benchmarks/ingest.py).

Every run starts with a recovery pass that finishes the moves of rows left "moving" by a crash
(source still in the inbox: move it; already at the destination: drop the inbox copy only if
its SHA-256 matches). A crash before step 1 leaves the file in the inbox, untouched, to be
processed again. Nothing is ever deleted without a verified copy at its destination.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from monitor.catalogue import repository as repo
from monitor.domain import AcquisitionHeader, GeomHeader, RejectReason
from monitor.io.fits_reader import InvalidAcquisitionError, sha256_file, validate_acquisition
from monitor.io.fits_writer import fsync_dir
from monitor.settings import Settings

__all__ = ["IngestSummary", "run_ingest", "complete_files", "FAULT_POINTS"]

log = logging.getLogger(__name__)

FITS_SUFFIXES = (".fits", ".fits.gz")
MARKER_SUFFIX = ".done"
PART_SUFFIXES = (".part", ".tmp")
FAULT_POINTS = ("after_insert", "after_move", "after_reject_insert", "after_reject_move")

ProgressCallback = Callable[[int, int, str], None]


@dataclass
class IngestSummary:
    """What one ingest run did."""

    ingested: list[str] = field(default_factory=list)  # acq ids
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (file name, reason)
    duplicates: list[str] = field(default_factory=list)  # file names
    recovered: int = 0
    waiting: int = 0  # files not yet complete

    @property
    def n_files(self) -> int:
        return len(self.ingested) + len(self.rejected) + len(self.duplicates)


def _no_fault(point: str) -> None:
    """Production: the named steps of :data:`FAULT_POINTS` do nothing."""


# Test hook: called with the name of each step of :data:`FAULT_POINTS` as it is reached. Only
# Python code can set it (the crash tests' harness, ``tests/harness.py``, installs a
# hook that kills the process at a chosen step); no setting or environment variable reaches it.
fault_hook: Callable[[str], None] = _no_fault


def _is_fits_name(name: str) -> bool:
    return name.lower().endswith(FITS_SUFFIXES)


def complete_files(inbox: Path, now: datetime, settle_seconds: float) -> tuple[list[Path], int]:
    """Files of the inbox that are complete (ICD 1): a ``<name>.done`` marker exists, or the size
    has not changed for ``settle_seconds`` (judged from the modification time, so no state is
    kept between runs). Returns (complete files sorted by name, number still incomplete).
    Markers, ``.part`` files and hidden files are never candidates.
    """
    if not inbox.is_dir():
        return [], 0
    ready: list[Path] = []
    waiting = 0
    now_ts = now.timestamp()
    for entry in sorted(inbox.iterdir()):
        name = entry.name
        if name.startswith(".") or name.endswith(MARKER_SUFFIX) or name.endswith(PART_SUFFIXES):
            continue
        if not entry.is_file():
            continue
        marker = entry.with_name(name + MARKER_SUFFIX)
        if marker.exists():
            ready.append(entry)
            continue
        try:
            age = now_ts - entry.stat().st_mtime
        except FileNotFoundError:
            continue
        if age >= settle_seconds:
            ready.append(entry)
        else:
            waiting += 1
    return ready, waiting


def _move(src: Path, dest: Path, sync_dir: bool = True) -> None:
    """Move ``src`` to ``dest`` atomically; across file systems copy, fsync, rename, then unlink.

    ``sync_dir=False`` leaves the fsync of ``dest``'s directory to the caller (once per batch).
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(src, dest)
    except OSError as exc:
        if exc.errno != 18:  # EXDEV: different file systems
            raise
        tmp = dest.with_name(dest.name + ".part")
        with open(src, "rb") as fin, open(tmp, "wb") as fout:
            shutil.copyfileobj(fin, fout, 1 << 20)
            fout.flush()
            os.fsync(fout.fileno())
        os.replace(tmp, dest)
        fsync_dir(dest.parent)
        src.unlink()
    if sync_dir:
        fsync_dir(dest.parent)


def _drop_marker(src: Path) -> None:
    marker = src.with_name(src.name + MARKER_SUFFIX)
    marker.unlink(missing_ok=True)


def _finish_move(src: Path, dest: Path, sha256: str | None) -> bool:
    """Complete an interrupted move. Returns False when the file is nowhere to be found."""
    if dest.exists():
        if src.exists():
            if sha256 is None or sha256_file(src) == sha256:
                src.unlink()
            else:  # a different file took the name in the inbox: leave it for the scan
                return True
        _drop_marker(src)
        return True
    if src.exists():
        _move(src, dest)
        _drop_marker(src)
        return True
    return False


@dataclass
class _Checked:
    """What reading one inbox file taught, before any catalogue lookup."""

    path: Path
    sha256: str | None
    size_bytes: int = 0
    header: AcquisitionHeader | None = None
    geom: GeomHeader | None = None
    refusal: InvalidAcquisitionError | None = None  # the file itself is bad (name, structure, values)


def _check(path: Path) -> _Checked:
    """Hash and validate one file (no database). Raises OSError when it cannot be read now."""
    if not _is_fits_name(path.name):
        return _Checked(path, _safe_sha(path), refusal=InvalidAcquisitionError(
            RejectReason.NOT_FITS, f"{path.name}: not an acquisition file (the name must end in .fits or .fits.gz)"))
    sha256 = sha256_file(path)
    size = path.stat().st_size
    try:
        header, geom = validate_acquisition(path)  # headers, tables and the all-NaN test, one walk
    except InvalidAcquisitionError as exc:
        return _Checked(path, sha256, size, refusal=exc)
    except OSError:
        raise
    except Exception as exc:  # an input that breaks a reader: it will be quarantined
        log.exception("unexpected error reading %s; quarantining it", path.name)
        return _Checked(path, sha256, size, refusal=InvalidAcquisitionError(
            RejectReason.UNREADABLE, f"{path.name}: unreadable ({exc})"))
    return _Checked(path, sha256, size, header, geom)


class _Ingestor:
    def __init__(self, session: Session, settings: Settings, now: datetime) -> None:
        self.session = session
        self.settings = settings
        self.now = now
        self.site = settings.site
        self.summary = IngestSummary()
        self.staged: list[tuple[Path, Path, repo.NewAcquisition]] = []  # accepted, not yet inserted

    # ---------------------------------------------------------------- helpers

    def _fault(self, point: str) -> None:
        fault_hook(point)

    def _rel(self, path: Path) -> str:
        return str(path.relative_to(self.site))

    def _unique(self, directory: Path, name: str, sha256: str | None, taken: Callable[[str], bool]) -> Path:
        """A destination path in ``directory`` not used on disk nor in the catalogue."""
        candidate = directory / name
        if not candidate.exists() and not taken(self._rel(candidate)):
            return candidate
        stem, suffix = (name[: -len(".fits.gz")], ".fits.gz") if name.endswith(".fits.gz") else os.path.splitext(name)
        tag = (sha256 or "nosha")[:12]
        i = 0
        while True:
            extra = f"-{tag}" + (f"-{i}" if i else "")
            candidate = directory / f"{stem}{extra}{suffix}"
            if not candidate.exists() and not taken(self._rel(candidate)):
                return candidate
            i += 1

    def _archive_dir(self, header: AcquisitionHeader) -> Path:
        date = header.date_obs
        return self.settings.archive / header.satellite.value / f"{date:%Y}" / f"{date:%m}"

    # ---------------------------------------------------------------- recovery

    def recover(self) -> None:
        """Finish the file moves that a crash left half-done."""
        for acq in repo.acquisitions_in_state(self.session, "archiving"):
            src = self.settings.inbox / acq.file_name
            dest = self.site / acq.archive_path
            ok = _finish_move(src, dest, acq.sha256)
            repo.mark_acquisition(self.session, acq, "archived" if ok else "missing", self.now)
            self.session.commit()
            self.summary.recovered += 1
            if ok:
                log.info("recovered interrupted archiving of %s -> %s", acq.acq_id, acq.archive_path)
            else:
                log.error("acquisition %s: file %s is neither in the inbox nor archived", acq.acq_id, acq.file_name)
        for rej in repo.rejections_in_state(self.session, "moving"):
            src = self.settings.inbox / rej.file_name
            dest = self.site / rej.quarantine_path
            ok = _finish_move(src, dest, rej.sha256)
            repo.mark_rejection(self.session, rej, "done" if ok else "missing")
            self.session.commit()
            self.summary.recovered += 1
            log.info("recovered interrupted quarantine of %s (%s)", rej.file_name, rej.reason)

    # ---------------------------------------------------------------- decisions

    def flush_staged(self) -> None:
        """Archive the staged accepted files: insert their rows and commit them ('archiving'), move
        them, fsync each destination directory once, commit them 'archived'."""
        if not self.staged:
            return
        batch, self.staged = self.staged, []
        ids = repo.add_acquisitions(self.session, [new for _, _, new in batch])
        self.session.commit()
        self._fault("after_insert")
        directories: set[Path] = set()
        for src, dest, _ in batch:
            _move(src, dest, sync_dir=False)
            directories.add(dest.parent)
        for directory in sorted(directories):
            fsync_dir(directory)
        self._fault("after_move")
        for src, _, _ in batch:
            _drop_marker(src)
        repo.mark_acquisitions_archived(self.session, ids, self.now)
        self.session.commit()
        for _, _, new in batch:
            h = new.header
            self.summary.ingested.append(h.acq_id)
            log.info("ingested %s (%s %s %s) -> %s", h.acq_id, h.satellite.value, h.acq_type.value, h.target,
                     new.archive_path)

    def drop_staged(self) -> None:
        """After a rollback: the staged rows are gone, their files are still in the inbox (for the
        next run)."""
        if self.staged:
            log.warning("%d accepted file(s) left in the inbox for the next run after a database error",
                        len(self.staged))
        self.staged = []

    def reject(
        self, path: Path, sha256: str | None, reason: RejectReason, message: str, acq_id: str | None = None
    ) -> None:
        self.flush_staged()  # decisions in file order; the quarantine commit must not carry staged rows
        day = self.now.strftime("%Y-%m-%d")
        sub = "duplicates" if reason is RejectReason.DUPLICATE else day
        dest = self._unique(
            self.settings.quarantine / sub,
            path.name,
            sha256,
            lambda rel: repo.quarantine_path_taken(self.session, rel),
        )
        rej = repo.add_rejection(
            self.session,
            file_name=path.name,
            sha256=sha256,
            acq_id=acq_id,
            reason=reason.value,
            message=message,
            received_at=self.now,
            quarantine_path=self._rel(dest),
        )
        self.session.commit()
        self._fault("after_reject_insert")
        _move(path, dest)
        self._fault("after_reject_move")
        _drop_marker(path)
        repo.mark_rejection(self.session, rej, "done")
        self.session.commit()
        if reason is RejectReason.DUPLICATE:
            self.summary.duplicates.append(path.name)
            log.info("duplicate %s: %s", path.name, message)
        else:
            self.summary.rejected.append((path.name, reason.value))
            log.warning("rejected %s [%s]: %s", path.name, reason.value, message)

    def ingest_chunk(self, files: list[_Checked], on_file: Callable[[Path], None]) -> None:
        """Decide on checked files in order, with three catalogue queries for the whole chunk,
        then archive the accepted ones (one batch: chunks are ``ingest.batch_files`` long).

        ``on_file(path)`` is called before each decision (progress). A file that cannot be moved
        stays in the inbox for the next run; a decision that breaks quarantines the file.
        """
        asked = {self._rel(self._archive_dir(c.header) / c.path.name) for c in files if c.header}
        index = _ChunkIndex(
            by_sha={a.sha256: (a.acq_id, a.file_name, a.received_at)
                    for a in repo.acquisitions_by_sha(self.session, [c.sha256 for c in files if c.sha256])},
            by_acq_id={a.acq_id: (a.file_name, a.sha256) for a in repo.acquisitions_by_acq_ids(
                self.session, [c.header.acq_id for c in files if c.header])},
            asked_paths=asked,
            taken_paths=repo.archive_paths_taken(self.session, sorted(asked)),
        )
        for c in files:
            on_file(c.path)
            try:
                self._decide(c, index)
            except SQLAlchemyError:
                raise
            except OSError as exc:  # permissions, full disk...: leave it in the inbox, go on
                log.error("could not move %s, left for the next run: %s", c.path.name, exc)
            except Exception as exc:
                log.exception("unexpected error on %s; quarantining it", c.path.name)
                self.reject(c.path, c.sha256, RejectReason.UNREADABLE, f"{c.path.name}: unreadable ({exc})")
        self.flush_staged()  # the next chunk's lookups must see this chunk's acquisitions

    def _decide(self, c: _Checked, index: _ChunkIndex) -> None:
        """Duplicate (same bytes as an acquisition), refused (bad file), conflict (same ACQ_ID,
        other bytes) or accepted (staged; archived by :meth:`flush_staged`)."""
        path, sha256, refusal = c.path, c.sha256, c.refusal
        if refusal is not None and refusal.reason is RejectReason.NOT_FITS:
            self.reject(path, sha256, refusal.reason, refusal.message, refusal.acq_id)
            return
        assert sha256 is not None
        same_bytes = index.by_sha.get(sha256)
        if same_bytes is not None:
            acq_id, name, received = same_bytes
            self.reject(path, sha256, RejectReason.DUPLICATE,
                        f"same bytes as acquisition {acq_id} (file {name}, received "
                        f"{received:%Y-%m-%dT%H:%M:%SZ}); not ingested again", acq_id)
            return
        if refusal is not None:
            self.reject(path, sha256, refusal.reason, refusal.message, refusal.acq_id)
            return
        header = c.header
        assert header is not None
        same_id = index.by_acq_id.get(header.acq_id)
        if same_id is not None:
            other_name, other_sha = same_id
            self.reject(path, sha256, RejectReason.CONFLICT,
                        f"ACQ_ID {header.acq_id} was already ingested from {other_name} with different "
                        f"content (SHA-256 {other_sha[:12]}… vs {sha256[:12]}…); refusing the second version",
                        header.acq_id)
            return

        def path_taken(rel: str) -> bool:
            if rel in index.taken_paths:
                return True
            return rel not in index.asked_paths and repo.archive_path_taken(self.session, rel)

        dest = self._unique(self._archive_dir(header), path.name, sha256, path_taken)
        rel = self._rel(dest)
        index.taken_paths.add(rel)
        index.by_sha[sha256] = (header.acq_id, path.name, self.now)
        index.by_acq_id[header.acq_id] = (path.name, sha256)
        self.staged.append((path, dest, repo.NewAcquisition(
            header=header, sha256=sha256, file_name=path.name, size_bytes=c.size_bytes, archive_path=rel,
            received_at=self.now, geom=c.geom)))


@dataclass
class _ChunkIndex:
    """For one chunk's decisions: the catalogue's facts (three queries), to which each accepted
    file of the chunk is added as it is decided."""

    by_sha: dict[str, tuple[str, str, datetime]]  # SHA-256 -> (ACQ_ID, file name, received at)
    by_acq_id: dict[str, tuple[str, str]]  # ACQ_ID -> (file name, SHA-256)
    asked_paths: set[str]  # each file's own archive path (relative to the site), looked up at once
    taken_paths: set[str]  # of those, the ones in use, plus the paths given in this chunk


def _safe_sha(path: Path) -> str | None:
    try:
        return sha256_file(path)
    except OSError:
        return None


def _readable(files: list[Path]) -> list[_Checked]:
    """:func:`_check` each file; one that cannot be read now stays in the inbox for the next run."""
    out = []
    for path in files:
        try:
            out.append(_check(path))
        except OSError as exc:  # permissions, vanished file...: leave it in the inbox, go on
            log.error("could not read %s, left for the next run: %s", path.name, exc)
    return out


def run_ingest(
    session: Session, settings: Settings, now: datetime, progress: ProgressCallback | None = None
) -> IngestSummary:
    """Ingest every complete file of the inbox (ICD 1). Idempotent and restartable.

    Parameters
    ----------
    session
        Catalogue session (one per run).
    settings
        Site settings (inbox/archive/quarantine paths, settle time, batch size).
    now
        Aware UTC time of the run (file completeness and ``received_at``).
    progress
        Optional callback ``(done, total, file_name)`` for a progress display.
    """
    for d in (settings.inbox, settings.archive, settings.quarantine):
        d.mkdir(parents=True, exist_ok=True)
    ing = _Ingestor(session, settings, now)
    ing.recover()
    files, ing.summary.waiting = complete_files(settings.inbox, now, settings.ingest.settle_seconds)
    done = 0

    def on_file(path: Path) -> None:
        nonlocal done
        if progress is not None:
            progress(done, len(files), path.name)
        done += 1

    chunk = settings.ingest.batch_files
    try:
        for start in range(0, len(files), chunk):
            ing.ingest_chunk(_readable(files[start : start + chunk]), on_file)
    except SQLAlchemyError:  # the catalogue failed: nothing half-done stays, the run stops
        session.rollback()
        ing.drop_staged()
        raise
    if progress is not None:
        progress(len(files), len(files), "")
    _clean_orphan_markers(settings.inbox)
    return ing.summary


def _clean_orphan_markers(inbox: Path) -> None:
    """Remove ``.done`` markers whose file is gone (left by a crash after the move)."""
    for marker in inbox.glob("*" + MARKER_SUFFIX):
        if not marker.with_name(marker.name[: -len(MARKER_SUFFIX)]).exists():
            marker.unlink(missing_ok=True)

