"""The inbox: which entries are complete, what they are, the names they are decided under.

Completeness: an entry is taken when its ``.done`` marker exists or it has settled
(:func:`complete_files`).

Inbox hygiene: the inbox is listed with ``lstat`` semantics and nothing in it is ever followed or
opened unless it is a regular file. A symbolic link, FIFO, socket, device, or a directory named
like a FITS file is quarantined as itself (``os.replace`` moves the link, not its target) with
reason ``not-a-file``, or left and logged when it cannot be moved (another file system); a regular
file is opened with ``O_NOFOLLOW | O_NONBLOCK`` and ``fstat``-checked before a byte is read. An
entry whose name is not printable UTF-8 text (control characters, ESC sequences, bytes that are
not UTF-8) or is too long is first renamed in the inbox to its escaped name
(:func:`monitor.domain.printable_name`; an atomic rename, so a crash leaves one name or the other)
and decided under that name; the log keeps the original, escaped. Every log line shows file names
escaped. The entries a run leaves in the inbox without a verdict are recorded with their reasons
(``<site>/.work/inbox-left.json``, :func:`left_in_inbox` for ``monitor status``).
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import logging
import os
import stat
from datetime import datetime
from pathlib import Path

from monitor.domain import printable_name
from monitor.fsutil import atomic_write, file_kind, fsync_dir
from monitor.ingest.summary import IngestSummary
from monitor.settings import Settings

__all__ = [
    "FITS_SUFFIXES",
    "MARKER_SUFFIX",
    "PART_SUFFIXES",
    "MAX_NAME_BYTES",
    "LEFT_FILE",
    "is_fits_name",
    "shown",
    "split_name",
    "complete_files",
    "storable_name",
    "storable_entries",
    "drop_marker",
    "NotRegularError",
    "entry_kind",
    "open_inbox_file",
    "record_left",
    "left_in_inbox",
    "clean_orphan_markers",
]

log = logging.getLogger(__name__)

FITS_SUFFIXES = (".fits", ".fits.gz")

MARKER_SUFFIX = ".done"

PART_SUFFIXES = (".part", ".tmp")

MAX_NAME_BYTES = 200  # longer inbox names are shortened (room for a "-<sha>-<n>" tag within NAME_MAX 255)

LEFT_FILE = "inbox-left.json"  # in the site's work directory: entries the last ingest left, with reasons


def is_fits_name(name: str) -> bool:
    return name.lower().endswith(FITS_SUFFIXES)


def shown(path: Path) -> str:
    """A path's name as logged: non-printable characters escaped."""
    return printable_name(path.name)


def split_name(name: str) -> tuple[str, str]:
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
        if stat.S_ISDIR(st.st_mode) and not is_fits_name(name):
            continue
        if name + MARKER_SUFFIX in names or now_ts - st.st_mtime >= settle_seconds:
            ready.append(inbox / name)
        else:
            waiting += 1
    return ready, waiting


def storable_name(name: str) -> str:
    """The name an inbox entry is decided under: printable (:func:`printable_name`) and at most
    :data:`MAX_NAME_BYTES` bytes of UTF-8 (a longer stem is cut and tagged with a hash of the
    original name, so that two long names do not collide)."""
    shown = printable_name(name)
    if len(shown.encode()) <= MAX_NAME_BYTES:
        return shown
    stem, suffix = split_name(shown)
    tag = "-" + hashlib.sha256(os.fsencode(name)).hexdigest()[:8]
    room = MAX_NAME_BYTES - len(suffix.encode()) - len(tag)
    while len(stem.encode()) > room:
        stem = stem[:-1]
    return stem + tag + suffix


def _free_name(directory: Path, name: str) -> Path:
    """``directory / name``, or ``<stem>-<n><suffix>`` when that entry exists (never replaced)."""
    candidate = directory / name
    stem, suffix = split_name(name)
    n = 0
    while os.path.lexists(candidate):
        n += 1
        candidate = directory / f"{stem}-{n}{suffix}"
    return candidate


def _rename_storable(path: Path) -> Path:
    """Rename an inbox entry whose name cannot be stored or shown as is (see :func:`storable_name`)
    to that name, with its ``.done`` marker; return the new path (``path`` when nothing to do).

    Crash-safe: each rename is atomic in the inbox. A crash between the entry and its marker
    leaves an orphan marker (cleaned at the end of a run) and an entry complete after the settle
    time.
    """
    name = storable_name(path.name)
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
                shown(path), new.name)
    return new


def storable_entries(files: list[Path], summary: IngestSummary) -> list[Path]:
    """:func:`_rename_storable` each entry; one that cannot be renamed stays in the inbox, logged
    and reported with its reason (``summary.left``)."""
    out = []
    for path in files:
        try:
            out.append(_rename_storable(path))
        except OSError as exc:
            log.error("could not rename %s to a printable name, left in the inbox: %s", shown(path), exc)
            summary.leave(path.name, f"transient: its name must be made printable and shorter, but it could not "
                                     f"be renamed: {type(exc).__name__}: {exc}")
    return out


def drop_marker(src: Path) -> None:
    """Remove the ``.done`` marker of ``src`` (the marker entry itself, whatever it is)."""
    marker = src.with_name(src.name + MARKER_SUFFIX)
    try:
        marker.unlink(missing_ok=True)
    except OSError as exc:  # a directory named like a marker, permissions: harmless, logged
        log.warning("could not remove the marker %s: %s", shown(marker), exc)


class NotRegularError(Exception):
    """An inbox entry that is not a regular file; ``kind`` says what it is."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


def entry_kind(path: Path, st: os.stat_result) -> str | None:
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
    return file_kind(mode)


def open_inbox_file(path: Path) -> io.BufferedReader:
    """Open a regular inbox file without following a link or blocking on a FIFO or device.

    Raises
    ------
    NotRegularError
        The entry is (or has just become) something else than a regular file.
    OSError
        It cannot be opened now.
    """
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENXIO, errno.EISDIR):  # a link, a socket, a directory
            kind = entry_kind(path, os.lstat(path))
            if kind is not None:
                raise NotRegularError(kind) from exc
        raise
    kind = entry_kind(path, os.fstat(fd))
    if kind is not None:
        os.close(fd)
        raise NotRegularError(kind)
    return os.fdopen(fd, "rb")


def record_left(settings: Settings, summary: IngestSummary) -> None:
    """Write the entries this run left in the inbox, with their reasons, for ``monitor status``
    (``<site>/.work/inbox-left.json``, replaced atomically; a failure to write it is only logged)."""
    path = settings.work_dir / LEFT_FILE
    doc = [{"file": printable_name(name), "entry": os.fsencode(name).hex(), "reason": reason}
           for name, reason in summary.left]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, (json.dumps(doc, indent=1) + "\n").encode("utf-8"), suffix=".tmp")
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


def clean_orphan_markers(inbox: Path) -> None:
    """Remove ``.done`` markers whose file is gone (left by a crash after the move); a marker is
    never followed, and one that is a directory is left alone."""
    for marker in inbox.glob("*" + MARKER_SUFFIX):
        if os.path.lexists(marker.with_name(marker.name[: -len(MARKER_SUFFIX)])):
            continue
        try:
            if not stat.S_ISDIR(os.lstat(marker).st_mode):
                marker.unlink()
        except OSError as exc:
            log.warning("could not remove the orphan marker %s: %s", shown(marker), exc)
