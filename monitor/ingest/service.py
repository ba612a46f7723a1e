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

One file never fails another's insert: an accepted file's values are first checked against the
catalogue's columns (:func:`monitor.catalogue.acquisitions.storage_problem`: lengths, integer
ranges; refused as ``bad-value`` naming the key), and a batch is inserted in a SAVEPOINT. Should
the database refuse it anyway, each file is inserted again in a SAVEPOINT of its own: the others
are archived with all their rows, the refused one gets a ``bad-value`` verdict (integrity or data
error) or stays in the inbox (any other error: internal; a transient one stops the run, as before).
Only one ingest runs at a time per site (:mod:`monitor.catalogue.locks`).

Every run starts with a recovery pass that finishes the moves of rows left "moving" by a crash
(source still in the inbox: move it; already at the destination: drop the inbox copy only if
its SHA-256 matches). A crash before step 1 leaves the file in the inbox, untouched, to be
processed again. Nothing is ever deleted without a verified copy at its destination. A move that
fails again (permissions, another file system) is logged and its entry is left alone for the
next run; the other files go on. A file that cannot be moved (immutable, another owner in a
sticky inbox, an unwritable archive directory) is that file's problem only: its decision stays
committed in the "moving" state, it is left in the inbox with its reason (the summary, and
``<site>/.work/inbox-left.json`` for ``monitor status``), and every later run retries the move
(never a second row).

Completeness: a file is taken when its ``.done`` marker exists or it has settled
(:func:`complete_files`); it is then read once into memory (up to :data:`READ_ONCE_MAX_BYTES`)
and hashed and validated on those same bytes, then hashed again on disk with its size and times
compared (a writer still at work: left for later). A structurally incomplete file (a declared
HDU missing, a cut inside one, fewer extensions than ``NEXTEND``) younger than the settle time
waits; older, it is refused as ``truncated``.

Inbox hygiene: the inbox is listed with ``lstat`` semantics and nothing in it is ever followed or
opened unless it is a regular file. A symbolic link, FIFO, socket, device, or a directory named
like a FITS file is quarantined as itself (``os.replace`` moves the link, not its target) with
reason ``not-a-file``, or left and logged when it cannot be moved (another file system); a regular
file is opened with ``O_NOFOLLOW | O_NONBLOCK`` and ``fstat``-checked before a byte is read. An
entry whose name is not printable UTF-8 text (control characters, ESC sequences, bytes that are
not UTF-8) or is too long is first renamed in the inbox to its escaped name
(:func:`monitor.domain.printable_name`; an atomic rename, so a crash leaves one name or the other)
and decided under that name; the log keeps the original, escaped. Every log line shows file names
escaped.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import logging
import os
import shutil
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError
from sqlmodel import Session

from monitor.catalogue import acquisitions
from monitor.catalogue.locks import site_operation
from monitor.catalogue.states import AcquisitionStatus, RejectionState
from monitor.domain import AcquisitionHeader, GeomHeader, RejectReason, printable_name
from monitor.failures import is_transient
from monitor.io.fits_reader import InvalidAcquisitionError, sha256_file, validate_acquisition
from monitor.io.fits_writer import fsync_dir
from monitor.settings import IngestSettings, Settings

__all__ = ["IngestSummary", "run_ingest", "complete_files", "left_in_inbox", "FAULT_POINTS"]

log = logging.getLogger(__name__)

FITS_SUFFIXES = (".fits", ".fits.gz")
MARKER_SUFFIX = ".done"
PART_SUFFIXES = (".part", ".tmp")
MAX_NAME_BYTES = 200  # longer inbox names are shortened (room for a "-<sha>-<n>" tag within NAME_MAX 255)
READ_ONCE_MAX_BYTES = 256 << 20  # files up to this size are read once into memory, hashed and validated
LEFT_FILE = "inbox-left.json"  # in the site's work directory: entries the last ingest left, with reasons
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
    # files left in the inbox for the next run without a verdict (monitor.failures): the file
    # system failed (transient) or the code did (internal error); one line each
    problems: list[str] = field(default_factory=list)
    left: list[tuple[str, str]] = field(default_factory=list)  # the same, as (inbox entry name, reason)

    def leave(self, name: str, reason: str) -> None:
        """Record an inbox entry left for the next run without a verdict, and why (``name``: the
        entry's own name, ``os.fsdecode``; shown escaped)."""
        self.problems.append(f"{printable_name(name)}: {reason}")
        self.left.append((name, reason))

    @property
    def n_files(self) -> int:
        return len(self.ingested) + len(self.rejected) + len(self.duplicates)

    def __str__(self) -> str:
        text = (f"ingested {len(self.ingested)}, rejected {len(self.rejected)}, duplicates {len(self.duplicates)}, "
                f"recovered {self.recovered}, waiting (incomplete) {self.waiting}")
        return text + (f", left in the inbox after errors {len(self.problems)}" if self.problems else "")


def _no_fault(point: str) -> None:
    """Production: the named steps of :data:`FAULT_POINTS` do nothing."""


# Test hook: called with the name of each step of :data:`FAULT_POINTS` as it is reached. Only
# Python code can set it (the crash tests' harness, ``tests/harness.py``, installs a
# hook that kills the process at a chosen step); no setting or environment variable reaches it.
fault_hook: Callable[[str], None] = _no_fault


def _is_fits_name(name: str) -> bool:
    return name.lower().endswith(FITS_SUFFIXES)


def _shown(path: Path) -> str:
    """A path's name as logged: non-printable characters escaped."""
    return printable_name(path.name)


def _split_name(name: str) -> tuple[str, str]:
    """(stem, suffix) with ``.fits.gz`` kept whole."""
    if name.lower().endswith(".fits.gz"):
        return name[: -len(".fits.gz")], name[-len(".fits.gz") :]
    return os.path.splitext(name)


def complete_files(inbox: Path, now: datetime, settle_seconds: float) -> tuple[list[Path], int]:
    """Entries of the inbox that are complete (ICD 1): a ``<name>.done`` marker exists, or the
    entry has not changed for ``settle_seconds`` (judged from its own modification time, ``lstat``,
    so no state is kept between runs). Returns (complete entries sorted by name, number still
    incomplete).

    Nothing is followed or opened: symbolic links, FIFOs, sockets and devices are returned like
    files (the ingest quarantines them as ``not-a-file``), directories only when they are named
    like a FITS file (other sub-directories are left alone). Markers (whatever they are),
    ``.part`` files and hidden entries are never candidates.
    """
    if not inbox.is_dir():
        return [], 0
    with os.scandir(inbox) as it:
        entries = sorted(it, key=lambda e: e.name)
    names = {e.name for e in entries}
    ready: list[Path] = []
    waiting = 0
    now_ts = now.timestamp()
    for entry in entries:
        name = entry.name
        if name.startswith(".") or name.endswith(MARKER_SUFFIX) or name.endswith(PART_SUFFIXES):
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue
        if stat.S_ISDIR(st.st_mode) and not _is_fits_name(name):
            continue
        if name + MARKER_SUFFIX in names or now_ts - st.st_mtime >= settle_seconds:
            ready.append(inbox / name)
        else:
            waiting += 1
    return ready, waiting


def _storable_name(name: str) -> str:
    """The name an inbox entry is decided under: printable (:func:`printable_name`) and at most
    :data:`MAX_NAME_BYTES` bytes of UTF-8 (a longer stem is cut and tagged with a hash of the
    original name, so that two long names do not collide)."""
    shown = printable_name(name)
    if len(shown.encode()) <= MAX_NAME_BYTES:
        return shown
    stem, suffix = _split_name(shown)
    tag = "-" + hashlib.sha256(os.fsencode(name)).hexdigest()[:8]
    room = MAX_NAME_BYTES - len(suffix.encode()) - len(tag)
    while len(stem.encode()) > room:
        stem = stem[:-1]
    return stem + tag + suffix


def _free_name(directory: Path, name: str) -> Path:
    """``directory / name``, or ``<stem>-<n><suffix>`` when that entry exists (never replaced)."""
    candidate = directory / name
    stem, suffix = _split_name(name)
    n = 0
    while os.path.lexists(candidate):
        n += 1
        candidate = directory / f"{stem}-{n}{suffix}"
    return candidate


def _rename_storable(path: Path) -> Path:
    """Rename an inbox entry whose name cannot be stored or shown as is (see :func:`_storable_name`)
    to that name, with its ``.done`` marker; return the new path (``path`` when nothing to do).

    Crash-safe: each rename is atomic in the inbox. A crash between the entry and its marker
    leaves an orphan marker (cleaned at the end of a run) and an entry complete after the settle
    time.
    """
    name = _storable_name(path.name)
    if name == path.name:
        return path
    new = _free_name(path.parent, name)
    os.rename(path, new)
    marker = path.with_name(path.name + MARKER_SUFFIX)
    if os.path.lexists(marker):
        try:
            os.rename(marker, new.with_name(new.name + MARKER_SUFFIX))
        except OSError as exc:
            log.warning("could not rename the marker of %s: %s (complete after the settle time)", new.name, exc)
    fsync_dir(path.parent)
    log.warning("inbox entry %s renamed to %s: its name is not printable UTF-8 text or too long",
                _shown(path), new.name)
    return new


def _storable(files: list[Path], summary: IngestSummary) -> list[Path]:
    """:func:`_rename_storable` each entry; one that cannot be renamed stays in the inbox, logged
    and reported with its reason (``summary.left``)."""
    out = []
    for path in files:
        try:
            out.append(_rename_storable(path))
        except OSError as exc:
            log.error("could not rename %s to a printable name, left in the inbox: %s", _shown(path), exc)
            summary.leave(path.name, f"transient: its name must be made printable and shorter, but it could not "
                                     f"be renamed: {type(exc).__name__}: {exc}")
    return out


def _is_regular(path: Path) -> bool:
    """Whether ``path`` is a regular file itself (a symbolic link is not followed)."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except FileNotFoundError:
        return False


def _move(src: Path, dest: Path, sync_dir: bool = True, file_mode: int | None = None) -> None:
    """Move ``src`` to ``dest`` atomically; across file systems copy, fsync, rename, then unlink.

    The entry itself is moved: a symbolic link, FIFO or directory is renamed, never followed;
    such an entry cannot be copied, so across file systems the ``EXDEV`` error is raised.
    ``sync_dir=False`` leaves the fsync of ``dest``'s directory to the caller (once per batch).
    ``file_mode``: the permissions a moved regular file gets (the site's ``[site] umask`` applied
    to 0666), whatever mode its producer gave it in the inbox.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(src, dest)
    except OSError as exc:
        if exc.errno != errno.EXDEV or not _is_regular(src):
            raise
        tmp = dest.with_name(dest.name + ".part")
        with open(src, "rb") as fin, open(tmp, "wb") as fout:
            shutil.copyfileobj(fin, fout, 1 << 20)
            fout.flush()
            os.fsync(fout.fileno())
        os.replace(tmp, dest)
        fsync_dir(dest.parent)
        src.unlink()
    if file_mode is not None and stat.S_ISREG(os.lstat(dest).st_mode):
        os.chmod(dest, file_mode)
    if sync_dir:
        fsync_dir(dest.parent)


def _drop_marker(src: Path) -> None:
    """Remove the ``.done`` marker of ``src`` (the marker entry itself, whatever it is)."""
    marker = src.with_name(src.name + MARKER_SUFFIX)
    try:
        marker.unlink(missing_ok=True)
    except OSError as exc:  # a directory named like a marker, permissions: harmless, logged
        log.warning("could not remove the marker %s: %s", _shown(marker), exc)


def _same_content(src: Path, dest: Path, sha256: str | None) -> bool:
    """Whether ``src`` is a regular file holding the bytes recorded (``sha256``) or, without a
    record, the same bytes as the regular file ``dest``."""
    if not _is_regular(src):
        return False
    if sha256 is not None:
        return sha256_file(src) == sha256
    return _is_regular(dest) and sha256_file(src) == sha256_file(dest)


def _finish_move(src: Path, dest: Path, sha256: str | None, file_mode: int | None = None) -> bool:
    """Complete an interrupted move. Returns False when the entry is nowhere to be found."""
    if os.path.lexists(dest):
        if os.path.lexists(src):
            if _same_content(src, dest, sha256):
                src.unlink()
            else:  # another entry took the name in the inbox: leave it for the scan
                return True
        _drop_marker(src)
        return True
    if os.path.lexists(src):
        _move(src, dest, file_mode=file_mode)
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


class _NotRegularError(Exception):
    """An inbox entry that is not a regular file; ``kind`` says what it is."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


def _entry_kind(path: Path, st: os.stat_result) -> str | None:
    """What a non-regular inbox entry is ("symbolic link to /dev/zero", "FIFO"...); None for a
    regular file. The target of a link is named, never opened."""
    mode = st.st_mode
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISLNK(mode):
        try:
            return f"symbolic link to {printable_name(os.readlink(path))}"
        except OSError:
            return "symbolic link"
    kinds = ((stat.S_ISDIR, "directory"), (stat.S_ISFIFO, "FIFO (named pipe)"), (stat.S_ISSOCK, "socket"),
             (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"))
    return next((kind for test, kind in kinds if test(mode)), "special file")


def _open_inbox_file(path: Path) -> io.BufferedReader:
    """Open a regular inbox file without following a link or blocking on a FIFO or device.

    Raises
    ------
    _NotRegularError
        The entry is (or has just become) something else than a regular file.
    OSError
        It cannot be opened now.
    """
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENXIO, errno.EISDIR):  # a link, a socket, a directory
            kind = _entry_kind(path, os.lstat(path))
            if kind is not None:
                raise _NotRegularError(kind) from exc
        raise
    kind = _entry_kind(path, os.fstat(fd))
    if kind is not None:
        os.close(fd)
        raise _NotRegularError(kind)
    return os.fdopen(fd, "rb")


def _not_a_file(path: Path, kind: str) -> _Checked:
    article = "an" if kind[:1].lower() in "aeiou" else "a"
    return _Checked(path, None, refusal=InvalidAcquisitionError(
        RejectReason.NOT_A_FILE,
        f"{_shown(path)} is not a regular file but {article} {kind}; the entry itself is quarantined, "
        "nothing it points to is read"))


class _ChangedError(OSError):
    """The file changed while it was read (a writer still at work): left for a later run."""


def _check(path: Path, limits: IngestSettings) -> _Checked:
    """Hash and validate one inbox entry (no database), on the same bytes.

    A file of at most :data:`READ_ONCE_MAX_BYTES` is read once into memory; its SHA-256 and its
    validation come from those bytes, so a writer changing the file in place meanwhile cannot make
    the hash belong to other bytes than the verdict (a larger one is validated from the file).
    The file is then hashed again, and its size, modification and change times must be the same
    as when it was opened: a read torn by a writer (file times have a granularity of a clock tick,
    so a write within the same tick changes no time) is not repeated; otherwise
    :class:`_ChangedError`: left for later. Raises OSError when it
    cannot be read now: it stays in the inbox for the next run.
    """
    kind = _entry_kind(path, os.lstat(path))
    if kind is not None:
        return _not_a_file(path, kind)
    try:
        f = _open_inbox_file(path)
    except _NotRegularError as exc:
        return _not_a_file(path, exc.kind)
    with f:
        opened = os.fstat(f.fileno())
        data: bytes | None = None
        if opened.st_size <= READ_ONCE_MAX_BYTES:
            data = f.read(READ_ONCE_MAX_BYTES + 1)
            if len(data) != opened.st_size:
                raise _ChangedError(errno.EAGAIN, "the file changed size while it was read", str(path))
            sha256 = hashlib.sha256(data).hexdigest()
        else:
            sha256 = hashlib.file_digest(f, "sha256").hexdigest()
        if not _is_fits_name(path.name):
            _check_unchanged(path, opened)
            return _Checked(path, sha256, opened.st_size, refusal=InvalidAcquisitionError(
                RejectReason.NOT_FITS,
                f"{_shown(path)}: not an acquisition file (the name must end in .fits or .fits.gz)"))
        checked = _validate_file(path, sha256, opened.st_size, limits, data)
        f.seek(0)  # the file still holds those bytes (a read torn by a writer is not repeated)
        if hashlib.file_digest(f, "sha256").hexdigest() != sha256:
            raise _ChangedError(errno.EAGAIN, "the file changed while it was being checked", str(path))
        _check_unchanged(path, opened)
    return checked


def _validate_file(path: Path, sha256: str, size: int, limits: IngestSettings, data: bytes | None) -> _Checked:
    try:
        header, geom = validate_acquisition(  # headers, tables and the all-NaN test, one walk
            path, max_star_band_pixels=limits.max_star_band_pixels,
            max_moon_band_pixels=limits.max_moon_band_pixels, max_file_bytes=limits.max_file_bytes, data=data)
    except InvalidAcquisitionError as exc:
        return _Checked(path, sha256, size, refusal=exc)
    return _Checked(path, sha256, size, header, geom)


def _check_unchanged(path: Path, opened: os.stat_result) -> None:
    """The inbox entry is still the regular file that was hashed (same inode, size, modification
    and change times)."""
    now = os.lstat(path)
    same = (now.st_dev, now.st_ino, now.st_size, now.st_mtime_ns, now.st_ctime_ns) == (
        opened.st_dev, opened.st_ino, opened.st_size, opened.st_mtime_ns, opened.st_ctime_ns)
    if not same:
        raise _ChangedError(errno.EAGAIN, "the file changed while it was being checked", str(path))


_Staged = tuple[Path, Path, "acquisitions.NewAcquisition"]  # (inbox file, archive destination, rows to insert)
_Refused = tuple[Path, "acquisitions.NewAcquisition", SQLAlchemyError]  # a staged file whose rows the database refused


def _first_line(exc: SQLAlchemyError) -> str:
    """The database's own message of ``exc``, one line (no SQL, no parameters)."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    return printable_name((text.splitlines() or [type(exc).__name__])[0])


class _Ingestor:
    def __init__(self, session: Session, settings: Settings, now: datetime) -> None:
        self.session = session
        self.settings = settings
        self.file_mode = 0o666 & ~settings.umask  # archived and quarantined files ([site] umask)
        self.now = now
        self.site = settings.site
        self.summary = IngestSummary()
        self.staged: list[_Staged] = []  # accepted, not yet inserted
        self.stuck: set[str] = set()  # inbox names whose interrupted move failed again: left alone

    # ---------------------------------------------------------------- helpers

    def _fault(self, point: str) -> None:
        fault_hook(point)

    def _rel(self, path: Path) -> str:
        return str(path.relative_to(self.site))

    def _unique(self, directory: Path, name: str, sha256: str | None, taken: Callable[[str], bool]) -> Path:
        """A destination path in ``directory`` not used on disk nor in the catalogue."""
        candidate = directory / name
        if not os.path.lexists(candidate) and not taken(self._rel(candidate)):
            return candidate
        stem, suffix = _split_name(name)
        tag = (sha256 or "nosha")[:12]
        i = 0
        while True:
            extra = f"-{tag}" + (f"-{i}" if i else "")
            candidate = directory / f"{stem}{extra}{suffix}"
            if not os.path.lexists(candidate) and not taken(self._rel(candidate)):  # a moved link counts
                return candidate
            i += 1

    def _archive_dir(self, header: AcquisitionHeader) -> Path:
        date = header.date_obs
        return self.settings.archive / header.satellite.value / f"{date:%Y}" / f"{date:%m}"

    # ---------------------------------------------------------------- recovery

    def recover(self) -> None:
        """Finish the file moves that a crash left half-done. A move that fails again is logged and
        its inbox entry left alone (:attr:`stuck`) until a later run can finish it."""
        for acq in acquisitions.acquisitions_in_state(self.session, AcquisitionStatus.ARCHIVING):
            src = self.settings.inbox / acq.file_name
            dest = self.site / acq.archive_path
            ok = self._finish(src, dest, acq.sha256)
            if ok is None:
                continue
            moved = AcquisitionStatus.ARCHIVED if ok else AcquisitionStatus.MISSING
            acquisitions.mark_acquisition(self.session, acq, moved, self.now)
            self.session.commit()
            self.summary.recovered += 1
            if ok:
                log.info("recovered interrupted archiving of %s -> %s", acq.acq_id, acq.archive_path)
            else:
                log.error("acquisition %s: file %s is neither in the inbox nor archived", acq.acq_id,
                          printable_name(acq.file_name))
        for rej in acquisitions.rejections_in_state(self.session, RejectionState.MOVING):
            src = self.settings.inbox / rej.file_name
            dest = self.site / rej.quarantine_path
            ok = self._finish(src, dest, rej.sha256)
            if ok is None:
                continue
            acquisitions.mark_rejection(self.session, rej, RejectionState.DONE if ok else RejectionState.MISSING)
            self.session.commit()
            self.summary.recovered += 1
            log.info("recovered interrupted quarantine of %s (%s)", printable_name(rej.file_name), rej.reason)

    def _finish(self, src: Path, dest: Path, sha256: str | None) -> bool | None:
        """:func:`_finish_move`, or None (logged, ``src`` left alone) when the file system refuses."""
        try:
            return _finish_move(src, dest, sha256, self.file_mode)
        except OSError as exc:
            log.error("could not finish moving %s to %s, left for a later run: %s", _shown(src), self._rel(dest), exc)
            self.stuck.add(src.name)
            self.summary.leave(src.name, f"transient: decided, but could not move it to {self._rel(dest)}: "
                                         f"{type(exc).__name__}: {exc}")
            return None

    # ---------------------------------------------------------------- decisions

    def flush_staged(self) -> None:
        """Archive the staged accepted files: insert their rows and commit them ('archiving'), move
        them, fsync each destination directory once, commit them 'archived'."""
        if not self.staged:
            return
        batch, self.staged = self.staged, []
        batch, ids, refused = self._insert(batch)
        self.session.commit()
        self._fault("after_insert")
        directories: set[Path] = set()
        moved: list[int] = []
        for k, (src, dest, _) in enumerate(batch):
            try:
                _move(src, dest, sync_dir=False, file_mode=self.file_mode)
            except OSError as exc:  # this file only: its row stays 'archiving', retried by recover()
                log.error("accepted %s but could not move it to %s, left in the inbox for a later run: %s",
                          _shown(src), self._rel(dest), exc)
                self.stuck.add(src.name)
                self.summary.leave(src.name, f"transient: accepted, but could not move it to {self._rel(dest)}: "
                                             f"{type(exc).__name__}: {exc}")
                continue
            moved.append(k)
            directories.add(dest.parent)
        for directory in sorted(directories):
            fsync_dir(directory)
        self._fault("after_move")
        batch = [batch[k] for k in moved]
        ids = [ids[k] for k in moved]
        for src, _, _ in batch:
            _drop_marker(src)
        if ids:
            acquisitions.mark_acquisitions_archived(self.session, ids, self.now)
            self.session.commit()
        for _, _, new in batch:
            h = new.header
            self.summary.ingested.append(h.acq_id)
            log.info("ingested %s (%s %s %s) -> %s", h.acq_id, h.satellite.value, h.acq_type.value, h.target,
                     new.archive_path)
        for src, new, exc in refused:
            try:
                self._refused_by_catalogue(src, new, exc)
            except OSError as err:  # its quarantine move: left for the next run (recovery), the others go on
                log.error("could not move %s, left for the next run: %s", _shown(src), err)
                self.summary.leave(src.name, f"transient: refused, but could not move it to the quarantine: "
                                             f"{type(err).__name__}: {err}")

    def _insert(self, batch: list[_Staged]) -> tuple[list[_Staged], list[int], list[_Refused]]:
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
                        len(batch), _first_line(exc))
        kept: list[_Staged] = []
        ids: list[int] = []
        refused: list[_Refused] = []
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
                            _shown(path), printable_name(h.acq_id))
                self.summary.leave(path.name, f"transient: the catalogue changed meanwhile ({_first_line(exc)})")
                return
            self.reject(path, new.sha256, RejectReason.BAD_VALUE,
                        f"the catalogue refused its rows: {_first_line(exc)}", h.acq_id)
            return
        log.error("internal error inserting %s (ACQ_ID %s); left in the inbox for the next run: %s", _shown(path),
                  printable_name(h.acq_id), _first_line(exc))
        self.summary.leave(path.name, f"internal error: {type(exc).__name__}: {_first_line(exc)}")

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
            lambda rel: acquisitions.quarantine_path_taken(self.session, rel),
        )
        rej = acquisitions.add_rejection(
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
        _move(path, dest, file_mode=self.file_mode)
        self._fault("after_reject_move")
        _drop_marker(path)
        acquisitions.mark_rejection(self.session, rej, RejectionState.DONE)
        self.session.commit()
        if reason is RejectReason.DUPLICATE:
            self.summary.duplicates.append(path.name)
            log.info("duplicate %s (rejection #%s): %s", _shown(path), rej.id, message)
        else:
            self.summary.rejected.append((path.name, reason.value))
            log.warning("rejected %s (ACQ_ID %s, rejection #%s) [%s]: %s", _shown(path),
                        printable_name(acq_id) if acq_id else "unknown", rej.id, reason.value, message)

    def _can_quarantine(self, path: Path) -> bool:
        """Whether a non-regular entry can be renamed into the quarantine (same file system: it
        cannot be copied). Otherwise it is left in the inbox and logged, before any row exists."""
        if os.lstat(path).st_dev == os.stat(self.settings.quarantine).st_dev:
            return True
        log.error("cannot quarantine %s: it is not a regular file and the quarantine is on another file "
                  "system; left in the inbox", _shown(path))
        return False

    def ingest_chunk(self, files: list[_Checked], on_file: Callable[[Path], None]) -> None:
        """Decide on checked files in order, with three catalogue queries for the whole chunk,
        then archive the accepted ones (one batch: chunks are ``ingest.batch_files`` long).

        ``on_file(path)`` is called before each decision (progress). A file that cannot be moved
        stays in the inbox for the next run; a decision that breaks quarantines the file.
        """
        asked = {self._rel(self._archive_dir(c.header) / c.path.name) for c in files if c.header}
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
                log.error("could not move %s, left for the next run: %s", _shown(c.path), exc)
                self.summary.leave(c.path.name, f"transient: could not move it: {type(exc).__name__}: {exc}")
            except Exception as exc:  # a defect of the code: no verdict about the file (monitor.failures)
                self.session.rollback()
                log.exception("internal error deciding on %s; left in the inbox for the next run", _shown(c.path))
                self.summary.leave(c.path.name, f"internal error: {type(exc).__name__}: {exc}")
        self.flush_staged()  # the next chunk's lookups must see this chunk's acquisitions

    def _decide(self, c: _Checked, index: _ChunkIndex) -> None:
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

        dest = self._unique(self._archive_dir(header), path.name, sha256, path_taken)
        rel = self._rel(dest)
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


def _still_written(c: _Checked, now: datetime, settle_seconds: float) -> bool:
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


def _readable(files: list[Path], settings: Settings, now: datetime, summary: IngestSummary) -> list[_Checked]:
    """:func:`_check` each file. One that cannot be read now (transient), or that breaks the code
    (internal error), stays in the inbox for the next run, with a problem line: only the data
    themselves make a verdict (monitor.failures). One that is still being written (it changed
    while read, or is structurally incomplete and younger than the settle time) waits."""
    out = []
    for path in files:
        try:
            checked = _check(path, settings.ingest)
        except _ChangedError as exc:
            log.info("%s is still being written (%s); left for a later run", _shown(path), exc.strerror)
            summary.waiting += 1
            continue
        except OSError as exc:  # permissions, vanished file...: leave it in the inbox, go on
            log.error("could not read %s, left for the next run: %s", _shown(path), exc)
            summary.leave(path.name, f"transient: {type(exc).__name__}: {exc}")
            continue
        except Exception as exc:  # a reader defect: the file is not to blame
            log.exception("internal error reading %s; left in the inbox for the next run", _shown(path))
            summary.leave(path.name, f"internal error: {type(exc).__name__}: {exc}")
            continue
        if _still_written(checked, now, settings.ingest.settle_seconds):
            log.info("%s is structurally incomplete but younger than the settle time; left for a later run",
                     _shown(path))
            summary.waiting += 1
            continue
        out.append(checked)
    return out


@site_operation("ingest")  # one ingest at a time per site (monitor.catalogue.locks)
def run_ingest(
    session: Session, settings: Settings, now: datetime, progress: ProgressCallback | None = None
) -> IngestSummary:
    """Ingest every complete file of the inbox (ICD 1). Idempotent and restartable.

    Parameters
    ----------
    session
        Catalogue session (one per run).
    settings
        Site settings (inbox/archive/quarantine paths, settle time, batch size, size limits).
    now
        Aware UTC time of the run (file completeness and ``received_at``).
    progress
        Optional callback ``(done, total, file_name)`` for a progress display (names escaped).
    """
    for d in (settings.inbox, settings.archive, settings.quarantine):
        d.mkdir(parents=True, exist_ok=True)
    ing = _Ingestor(session, settings, now)
    ing.recover()
    files, ing.summary.waiting = complete_files(settings.inbox, now, settings.ingest.settle_seconds)
    files = _storable([f for f in files if f.name not in ing.stuck], ing.summary)
    done = 0

    def on_file(path: Path) -> None:
        nonlocal done
        if progress is not None:
            progress(done, len(files), _shown(path))
        done += 1

    chunk = settings.ingest.batch_files
    try:
        for start in range(0, len(files), chunk):
            ing.ingest_chunk(_readable(files[start : start + chunk], settings, now, ing.summary), on_file)
    except SQLAlchemyError:  # the catalogue failed: nothing half-done stays, the run stops
        session.rollback()
        ing.drop_staged()
        raise
    if progress is not None:
        progress(len(files), len(files), "")
    _clean_orphan_markers(settings.inbox)
    _record_left(settings, ing.summary)
    return ing.summary


def _record_left(settings: Settings, summary: IngestSummary) -> None:
    """Write the entries this run left in the inbox, with their reasons, for ``monitor status``
    (``<site>/.work/inbox-left.json``, replaced atomically; a failure to write it is only logged)."""
    path = settings.work_dir / LEFT_FILE
    doc = [{"file": printable_name(name), "entry": os.fsencode(name).hex(), "reason": reason}
           for name, reason in summary.left]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        log.warning("could not record the entries left in the inbox in %s: %s", path, exc)


def left_in_inbox(settings: Settings) -> list[tuple[str, str]]:
    """(inbox name, reason) of each entry the last ingest run left in the inbox without a
    verdict and that is still there (names escaped, :func:`printable_name`)."""
    try:
        doc = json.loads((settings.work_dir / LEFT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    out = []
    for item in doc if isinstance(doc, list) else []:
        if not (isinstance(item, dict) and all(isinstance(item.get(k), str) for k in ("file", "entry", "reason"))):
            continue
        try:
            entry = bytes.fromhex(item["entry"])
        except ValueError:
            continue
        if entry and b"/" not in entry and os.path.lexists(os.path.join(os.fsencode(settings.inbox), entry)):
            out.append((printable_name(item["file"]), printable_name(item["reason"])))
    return out


def _clean_orphan_markers(inbox: Path) -> None:
    """Remove ``.done`` markers whose file is gone (left by a crash after the move); a marker is
    never followed, and one that is a directory is left alone."""
    for marker in inbox.glob("*" + MARKER_SUFFIX):
        if os.path.lexists(marker.with_name(marker.name[: -len(MARKER_SUFFIX)])):
            continue
        try:
            if not stat.S_ISDIR(os.lstat(marker).st_mode):
                marker.unlink()
        except OSError as exc:
            log.warning("could not remove the orphan marker %s: %s", _shown(marker), exc)
