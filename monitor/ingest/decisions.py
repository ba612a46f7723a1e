"""Catalogue decisions on checked files, in chunks: duplicate, conflict, refused or accepted.

Files are taken in chunks of ``ingest.batch_files``: each file is hashed and validated (no
database), then the chunk is looked up in three queries (same bytes, same ``ACQ_ID``, archive
paths), and the decisions are taken in file order. The accepted files of a chunk go through the
crash-safe steps together (one Core INSERT per table, one commit per step, one directory fsync); a
rejection first completes the accepted files before it, so decisions stay in file order. From
46 files/s (one ORM row and three queries per file) to 580 files/s (benchmarks/ingest.py).

One file never fails another's insert: an accepted file's values are first checked against the
catalogue's columns (:func:`monitor.catalogue.acquisitions.storage_problem`: lengths, integer
ranges; refused as ``bad-value`` naming the key), and a batch is inserted in a SAVEPOINT. Should
the database refuse it anyway, each file is inserted again in a SAVEPOINT of its own: the others
are archived with all their rows, the refused one gets a ``bad-value`` verdict (integrity or data
error) or stays in the inbox (any other error: internal; a transient one stops the run, as before).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError
from sqlmodel import Session

from monitor.catalogue import acquisitions
from monitor.domain import AcquisitionHeader, RejectReason, printable_name
from monitor.failures import is_transient
from monitor.ingest.checking import Checked
from monitor.ingest.glod import decide_glod
from monitor.ingest.inbox import shown, split_name
from monitor.ingest.moves import Mover, Refused, Staged, database_message
from monitor.settings import Settings

__all__ = ["Ingestor"]

log = logging.getLogger(__name__)


class Ingestor:
    """The decisions of one ingest run on checked files, chunk by chunk (:meth:`ingest_chunk`)."""

    def __init__(self, session: Session, settings: Settings, now: datetime, mover: Mover) -> None:
        self.session = session
        self.settings = settings
        self.now = now
        self.mover = mover  # the crash-safe moves of this run
        self.summary = mover.summary
        self.staged: list[Staged] = []  # accepted, not yet inserted

    # ---------------------------------------------------------------- helpers

    def rel(self, path: Path) -> str:
        return self.mover.rel(path)

    def unique_path(self, directory: Path, name: str, sha256: str | None, taken: Callable[[str], bool]) -> Path:
        """A destination path in ``directory`` not used on disk nor in the catalogue."""
        candidate = directory / name
        if not os.path.lexists(candidate) and not taken(self.rel(candidate)):
            return candidate
        stem, suffix = split_name(name)
        tag = (sha256 or "nosha")[:12]
        i = 0
        while True:
            extra = f"-{tag}" + (f"-{i}" if i else "")
            candidate = directory / f"{stem}{extra}{suffix}"
            if not os.path.lexists(candidate) and not taken(self.rel(candidate)):  # a moved link counts
                return candidate
            i += 1

    def _archive_dir(self, header: AcquisitionHeader) -> Path:
        date = header.date_obs
        return self.settings.archive / header.satellite.value / f"{date:%Y}" / f"{date:%m}"

    # ---------------------------------------------------------------- decisions

    def flush_staged(self) -> None:
        """Archive the staged accepted files: insert their rows (one statement per table), then the
        crash-safe steps of :meth:`monitor.ingest.moves.Mover.archive`; the files whose rows the
        database refused get their own decision."""
        if not self.staged:
            return
        batch, self.staged = self.staged, []
        batch, ids, refused = self._insert(batch)
        for _, _, new in self.mover.archive(batch, ids):
            h = new.header
            self.summary.ingested.append(h.acq_id)
            log.info("ingested %s (%s %s %s) -> %s", h.acq_id, h.satellite.value, h.acq_type.value, h.target,
                     new.archive_path)
        for src, new, exc in refused:
            try:
                self._refused_by_catalogue(src, new, exc)
            except OSError as err:  # its quarantine move: left for the next run (recovery), the others go on
                log.error("could not move %s, left for the next run: %s", shown(src), err)
                self.summary.leave(src.name, f"transient: refused, but could not move it to the quarantine: "
                                             f"{type(err).__name__}: {err}")

    def _insert(self, batch: list[Staged]) -> tuple[list[Staged], list[int], list[Refused]]:
        """Insert the rows of a batch (not committed): one statement per table, in a SAVEPOINT.
        When the database refuses them (other than by a transient failure, which is raised), each
        file again in a SAVEPOINT of its own, so that one file's failure never touches the rows of
        another. Returns (the inserted files, their ids in order, the refused files and errors)."""
        try:
            with self.session.begin_nested():
                return batch, acquisitions.add_acquisitions(self.session, [new for _, _, new in batch]), []
        except SQLAlchemyError as exc:
            if is_transient(exc):
                raise
            if len(batch) == 1:
                return [], [], [(batch[0][0], batch[0][2], exc)]
            log.warning("the catalogue refused a batch of %d files (%s); inserting them one by one",
                        len(batch), database_message(exc))
        kept: list[Staged] = []
        ids: list[int] = []
        refused: list[Refused] = []
        for item in batch:
            try:
                with self.session.begin_nested():
                    ids.extend(acquisitions.add_acquisitions(self.session, [item[2]]))
                kept.append(item)
            except SQLAlchemyError as exc:
                if is_transient(exc):
                    raise
                refused.append((item[0], item[2], exc))
        return kept, ids, refused

    def _refused_by_catalogue(self, path: Path, new: acquisitions.NewAcquisition, exc: SQLAlchemyError) -> None:
        """A file whose rows the database refused (the batch's other files are archived).

        Integrity and data errors are about the file's values: a ``bad-value`` verdict, unless the
        catalogue meanwhile holds the same bytes or ``ACQ_ID`` (another writer: the next run
        decides). Other errors are not the file's fault: it stays in the inbox (internal error).
        """
        h = new.header
        if isinstance(exc, IntegrityError | DataError):
            if acquisitions.acquisitions_by_sha(self.session, [new.sha256]) or acquisitions.acquisitions_by_acq_ids(
                    self.session, [h.acq_id]):
                log.warning("%s: the catalogue meanwhile holds its bytes or ACQ_ID %s; left for the next run",
                            shown(path), printable_name(h.acq_id))
                self.summary.leave(path.name, f"transient: the catalogue changed meanwhile ({database_message(exc)})")
                return
            self.reject(path, new.sha256, RejectReason.BAD_VALUE,
                        f"the catalogue refused its rows: {database_message(exc)}", h.acq_id)
            return
        log.error("internal error inserting %s (ACQ_ID %s); left in the inbox for the next run: %s", shown(path),
                  printable_name(h.acq_id), database_message(exc))
        self.summary.leave(path.name, f"internal error: {type(exc).__name__}: {database_message(exc)}")

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
        """Quarantine a file with its reason (``<quarantine>/<day>/``, duplicates apart), through
        the crash-safe steps of :meth:`monitor.ingest.moves.Mover.quarantine`."""
        self.flush_staged()  # decisions in file order; the quarantine commit must not carry staged rows
        day = self.now.strftime("%Y-%m-%d")
        sub = "duplicates" if reason is RejectReason.DUPLICATE else day
        dest = self.unique_path(
            self.settings.quarantine / sub,
            path.name,
            sha256,
            lambda rel: acquisitions.quarantine_path_taken(self.session, rel),
        )
        rej = self.mover.quarantine(path, dest, sha256=sha256, acq_id=acq_id, reason=reason, message=message)
        if reason is RejectReason.DUPLICATE:
            self.summary.duplicates.append(path.name)
            log.info("duplicate %s (rejection #%s): %s", shown(path), rej.id, message)
        else:
            self.summary.rejected.append((path.name, reason.value))
            log.warning("rejected %s (ACQ_ID %s, rejection #%s) [%s]: %s", shown(path),
                        printable_name(acq_id) if acq_id else "unknown", rej.id, reason.value, message)

    def _can_quarantine(self, path: Path) -> bool:
        """Whether a non-regular entry can be renamed into the quarantine (same file system: it
        cannot be copied). Otherwise it is left in the inbox and logged, before any row exists."""
        if os.lstat(path).st_dev == os.stat(self.settings.quarantine).st_dev:
            return True
        log.error("cannot quarantine %s: it is not a regular file and the quarantine is on another file "
                  "system; left in the inbox", shown(path))
        return False

    def ingest_chunk(self, files: list[Checked], on_file: Callable[[Path], None]) -> None:
        """Decide on checked files in order, with three catalogue queries for the whole chunk,
        then archive the accepted ones (one batch: chunks are ``ingest.batch_files`` long).

        ``on_file(path)`` is called before each decision (progress). A file that cannot be moved
        stays in the inbox for the next run; a decision that breaks quarantines the file.
        """
        asked = {self.rel(self._archive_dir(c.header) / c.path.name) for c in files if c.header}
        index = _ChunkIndex(
            by_sha={a.sha256: (a.acq_id, a.file_name, a.received_at)
                    for a in acquisitions.acquisitions_by_sha(self.session, [c.sha256 for c in files if c.sha256])},
            by_acq_id={a.acq_id: (a.file_name, a.sha256) for a in acquisitions.acquisitions_by_acq_ids(
                self.session, [c.header.acq_id for c in files if c.header])},
            asked_paths=asked,
            taken_paths=acquisitions.archive_paths_taken(self.session, sorted(asked)),
        )
        for c in files:
            on_file(c.path)
            try:
                self._decide(c, index)
            except SQLAlchemyError:
                raise
            except OSError as exc:  # permissions, full disk...: leave it in the inbox, go on
                log.error("could not move %s, left for the next run: %s", shown(c.path), exc)
                self.summary.leave(c.path.name, f"transient: could not move it: {type(exc).__name__}: {exc}")
            except Exception as exc:  # a defect of the code: no verdict about the file (monitor.failures)
                self.session.rollback()
                log.exception("internal error deciding on %s; left in the inbox for the next run", shown(c.path))
                self.summary.leave(c.path.name, f"internal error: {type(exc).__name__}: {exc}")
        self.flush_staged()  # the next chunk's lookups must see this chunk's acquisitions

    def _decide(self, c: Checked, index: _ChunkIndex) -> None:
        """Duplicate (same bytes as an acquisition), refused (bad file), conflict (same ACQ_ID,
        other bytes) or accepted (staged; archived by :meth:`flush_staged`)."""
        path, sha256, refusal = c.path, c.sha256, c.refusal
        if refusal is not None and refusal.reason is RejectReason.NOT_A_FILE and not self._can_quarantine(path):
            return
        if refusal is not None and refusal.reason in (RejectReason.NOT_FITS, RejectReason.NOT_A_FILE):
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
        if c.glod is not None:
            decide_glod(self, path, sha256, c.size_bytes, c.glod)
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
            return rel not in index.asked_paths and acquisitions.archive_path_taken(self.session, rel)

        dest = self.unique_path(self._archive_dir(header), path.name, sha256, path_taken)
        rel = self.rel(dest)
        new = acquisitions.NewAcquisition(header=header, sha256=sha256, file_name=path.name, size_bytes=c.size_bytes,
                                  archive_path=rel, received_at=self.now, geom=c.geom)
        problem = acquisitions.storage_problem(new)  # before the insert: it must never fail a batch
        if problem is not None:
            self.reject(path, sha256, RejectReason.BAD_VALUE, problem, header.acq_id)
            return
        index.taken_paths.add(rel)
        index.by_sha[sha256] = (header.acq_id, path.name, self.now)
        index.by_acq_id[header.acq_id] = (path.name, sha256)
        self.staged.append((path, dest, new))


@dataclass
class _ChunkIndex:
    """For one chunk's decisions: the catalogue's facts (three queries), to which each accepted
    file of the chunk is added as it is decided."""

    by_sha: dict[str, tuple[str, str, datetime]]  # SHA-256 -> (ACQ_ID, file name, received at)
    by_acq_id: dict[str, tuple[str, str]]  # ACQ_ID -> (file name, SHA-256)
    asked_paths: set[str]  # each file's own archive path (relative to the site), looked up at once
    taken_paths: set[str]  # of those, the ones in use, plus the paths given in this chunk
