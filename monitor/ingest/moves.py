"""The crash-safe moves of inbox files into the archive and the quarantine, and their recovery.

A move is an atomic rename (or, across file systems, copy + fsync + rename + unlink:
:func:`monitor.fsutil.move`), made only once the decision and the destination are committed in
the catalogue in a "moving" state, and committed as done after it.

Every run starts with a recovery pass that finishes the moves of rows left "moving" by a crash
(source still in the inbox: move it; already at the destination: drop the inbox copy only if
its SHA-256 matches). A crash before the decision is committed leaves the file in the inbox,
untouched, to be processed again. Nothing is ever deleted without a verified copy at its
destination. A move that fails again (permissions, another file system) is logged and its entry
is left alone for the next run; the other files go on. A file that cannot be moved (immutable,
another owner in a sticky inbox, an unwritable archive directory) is that file's problem only:
its decision stays committed in the "moving" state, it is left in the inbox with its reason (the
summary, and ``<site>/.work/inbox-left.json`` for ``monitor status``), and every later run
retries the move (never a second row).
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from monitor.catalogue import acquisitions
from monitor.catalogue.models import Rejection
from monitor.catalogue.states import AcquisitionStatus, RejectionState
from monitor.domain import RejectReason, printable_name
from monitor.fsutil import fsync_dir, is_regular, move, sha256_file
from monitor.ingest.inbox import drop_marker, shown
from monitor.ingest.summary import IngestSummary
from monitor.settings import Settings

__all__ = ["Staged", "Refused", "Mover", "database_message", "move_entry", "finish_move"]

log = logging.getLogger(__name__)


def move_entry(src: Path, dest: Path, sync_dir: bool = True, file_mode: int | None = None) -> None:
    """Move ``src`` to ``dest`` atomically; across file systems copy, fsync, rename, then unlink
    (:func:`monitor.fsutil.move`).

    The entry itself is moved: a symbolic link, FIFO or directory is renamed, never followed;
    such an entry cannot be copied, so across file systems the ``EXDEV`` error is raised.
    ``sync_dir=False`` leaves the fsync of ``dest``'s directory to the caller (once per batch).
    ``file_mode``: the permissions a moved regular file gets (the site's ``[site] umask`` applied
    to 0666), whatever mode its producer gave it in the inbox.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    move(src, dest, sync_dir=False)
    if file_mode is not None and stat.S_ISREG(os.lstat(dest).st_mode):
        os.chmod(dest, file_mode)
    if sync_dir:
        fsync_dir(dest.parent)


def _same_content(src: Path, dest: Path, sha256: str | None) -> bool:
    """Whether ``src`` is a regular file holding the bytes recorded (``sha256``) or, without a
    record, the same bytes as the regular file ``dest``."""
    if not is_regular(src):
        return False
    if sha256 is not None:
        return sha256_file(src) == sha256
    return is_regular(dest) and sha256_file(src) == sha256_file(dest)


def finish_move(src: Path, dest: Path, sha256: str | None, file_mode: int | None = None) -> bool:
    """Complete an interrupted move. Returns False when the entry is nowhere to be found."""
    if os.path.lexists(dest):
        if os.path.lexists(src):
            if _same_content(src, dest, sha256):
                src.unlink()
            else:  # another entry took the name in the inbox: leave it for the scan
                return True
        drop_marker(src)
        return True
    if os.path.lexists(src):
        move_entry(src, dest, file_mode=file_mode)
        drop_marker(src)
        return True
    return False


Staged = tuple[Path, Path, "acquisitions.NewAcquisition"]  # (inbox file, archive destination, rows to insert)
Refused = tuple[Path, "acquisitions.NewAcquisition", SQLAlchemyError]  # a staged file whose rows the database refused


def database_message(exc: SQLAlchemyError) -> str:
    """The database's own message of ``exc``, one line (no SQL, no parameters)."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    return printable_name((text.splitlines() or [type(exc).__name__])[0])


class Mover:
    """The crash-safe moves of one ingest run (archive, quarantine) and the recovery of those a
    crash left half-done.

    ``fault`` is called with the name of each step of
    :data:`monitor.ingest.service.FAULT_POINTS` as it is reached (the crash tests kill the process
    there). Entries whose move fails are left in the inbox with their reason (``summary``) and
    named in :attr:`stuck` until a later run finishes the move.
    """

    def __init__(
        self, session: Session, settings: Settings, now: datetime, summary: IngestSummary, fault: Callable[[str], None]
    ) -> None:
        self.session = session
        self.settings = settings
        self.now = now
        self.summary = summary
        self.fault = fault
        self.site = settings.site
        self.file_mode = 0o666 & ~settings.umask  # archived and quarantined files ([site] umask)
        self.stuck: set[str] = set()  # inbox names whose interrupted move failed again: left alone

    def rel(self, path: Path) -> str:
        """A path of the site as the catalogue records it (relative to the site)."""
        return str(path.relative_to(self.site))

    def archive(self, batch: list[Staged], ids: list[int]) -> list[Staged]:
        """The crash-safe steps of accepted files whose rows (ids ``ids``, status 'archiving', with
        their archive path) the caller has just inserted: commit them, move the files, fsync each
        destination directory once, commit them 'archived'. A file that cannot be moved stays in
        the inbox, its row 'archiving' (finished by :meth:`recover`). Returns the files archived."""
        self.session.commit()
        self.fault("after_insert")
        directories: set[Path] = set()
        moved: list[int] = []
        for k, (src, dest, _) in enumerate(batch):
            try:
                move_entry(src, dest, sync_dir=False, file_mode=self.file_mode)
            except OSError as exc:  # this file only: its row stays 'archiving', retried by recover()
                log.error("accepted %s but could not move it to %s, left in the inbox for a later run: %s",
                          shown(src), self.rel(dest), exc)
                self.stuck.add(src.name)
                self.summary.leave(src.name, f"transient: accepted, but could not move it to {self.rel(dest)}: "
                                             f"{type(exc).__name__}: {exc}")
                continue
            moved.append(k)
            directories.add(dest.parent)
        for directory in sorted(directories):
            fsync_dir(directory)
        self.fault("after_move")
        batch = [batch[k] for k in moved]
        ids = [ids[k] for k in moved]
        for src, _, _ in batch:
            drop_marker(src)
        if ids:
            acquisitions.mark_acquisitions_archived(self.session, ids, self.now)
            self.session.commit()
        return batch

    def quarantine(
        self, path: Path, dest: Path, *, sha256: str | None, acq_id: str | None, reason: RejectReason, message: str
    ) -> Rejection:
        """The crash-safe steps of a refused file: commit its rejection ('moving', with its
        quarantine path), move it, commit the rejection 'done'. Returns the rejection row.

        Raises
        ------
        OSError
            The move failed: the rejection stays 'moving' (finished by :meth:`recover`).
        """
        rej = acquisitions.add_rejection(
            self.session,
            file_name=path.name,
            sha256=sha256,
            acq_id=acq_id,
            reason=reason.value,
            message=message,
            received_at=self.now,
            quarantine_path=self.rel(dest),
        )
        self.session.commit()
        self.fault("after_reject_insert")
        move_entry(path, dest, file_mode=self.file_mode)
        self.fault("after_reject_move")
        drop_marker(path)
        acquisitions.mark_rejection(self.session, rej, RejectionState.DONE)
        self.session.commit()
        return rej

    def recover(self) -> None:
        """Finish the file moves that a crash left half-done. A move that fails again is logged and
        its inbox entry left alone (:attr:`stuck`) until a later run can finish it."""
        for acq in acquisitions.acquisitions_in_state(self.session, AcquisitionStatus.ARCHIVING):
            ok = self.finish(self.settings.inbox / acq.file_name, self.site / acq.archive_path, acq.sha256)
            if ok is None:
                continue
            acquisitions.mark_acquisition(
                self.session, acq, AcquisitionStatus.ARCHIVED if ok else AcquisitionStatus.MISSING, self.now)
            self._recovered()
            if ok:
                log.info("recovered interrupted archiving of %s -> %s", acq.acq_id, acq.archive_path)
            else:
                log.error("acquisition %s: file %s is neither in the inbox nor archived", acq.acq_id,
                          printable_name(acq.file_name))
        for rej in acquisitions.rejections_in_state(self.session, RejectionState.MOVING):
            ok = self.finish(self.settings.inbox / rej.file_name, self.site / rej.quarantine_path, rej.sha256)
            if ok is not None:
                acquisitions.mark_rejection(self.session, rej, RejectionState.DONE if ok else RejectionState.MISSING)
                self._recovered()
                log.info("recovered interrupted quarantine of %s (%s)", printable_name(rej.file_name), rej.reason)

    def _recovered(self) -> None:
        """Commit the state of a recovered move and count it."""
        self.session.commit()
        self.summary.recovered += 1

    def finish(self, src: Path, dest: Path, sha256: str | None) -> bool | None:
        """:func:`finish_move`, or None (logged, ``src`` left alone) when the file system refuses."""
        try:
            return finish_move(src, dest, sha256, self.file_mode)
        except OSError as exc:
            log.error("could not finish moving %s to %s, left for a later run: %s", shown(src), self.rel(dest), exc)
            self.stuck.add(src.name)
            self.summary.leave(src.name, f"transient: decided, but could not move it to {self.rel(dest)}: "
                                         f"{type(exc).__name__}: {exc}")
            return None
