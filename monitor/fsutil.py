"""File-system primitives of crash-safe writing: hashing, fsync, atomic writes and moves.

One home for what the ingest (archive and quarantine moves), the FITS writer and the PDF archive
of the reports all need:

- :func:`sha256_file` hashes a regular file in bounded memory (never blocking on a FIFO);
- :func:`fsync_file` and :func:`fsync_dir` make a file's bytes and a directory's entries durable;
- :func:`atomic_write` writes a file under a temporary name, syncs it and renames it onto its
  final name, so that a reader never sees a partial file and a crash leaves only the temporary;
- :func:`write_new` does the same under the first free name of a list, never replacing an entry
  (a hard link of the synced temporary file: the link fails when the name exists);
- :func:`move` renames an entry atomically and, across file systems (``errno.EXDEV``), copies a
  regular file (temporary name, fsync, rename, directory fsync) before unlinking the source.

A rename is atomic only within one file system (POSIX ``rename(2)``); a durable rename also needs
the directory that holds the new entry synced (``fsync(2)`` on the directory).
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import shutil
import stat
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO

__all__ = [
    "CHUNK_BYTES",
    "file_kind",
    "is_regular",
    "open_regular",
    "sha256_file",
    "sha256_stream",
    "fsync_file",
    "fsync_dir",
    "atomic_write",
    "write_new",
    "move",
]

CHUNK_BYTES = 1 << 20  # read/copy granularity, bytes

Writer = Callable[[IO[bytes]], None]  # writes the content into an open binary file


def file_kind(mode: int) -> str:
    """What a file that is neither regular nor a symbolic link is ("directory", "FIFO (named
    pipe)"...), from its ``st_mode``, for messages."""
    kinds = ((stat.S_ISDIR, "directory"), (stat.S_ISFIFO, "FIFO (named pipe)"), (stat.S_ISSOCK, "socket"),
             (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"))
    return next((kind for test, kind in kinds if test(mode)), "special file")


def is_regular(path: Path) -> bool:
    """Whether ``path`` is a regular file itself (a symbolic link is not followed)."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except FileNotFoundError:
        return False


def open_regular(path: Path) -> io.BufferedReader:
    """Open a regular file for reading, never blocking on a FIFO or a device.

    Raises
    ------
    OSError
        When the file cannot be opened, or is not a regular file (``EISDIR`` for a directory,
        ``EINVAL`` otherwise): an environment problem, not a verdict on data.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        code = errno.EISDIR if stat.S_ISDIR(mode) else errno.EINVAL
        raise OSError(code, f"not a regular file but a {file_kind(mode)}", str(path))
    return os.fdopen(fd, "rb")


def sha256_file(path: Path) -> str:
    """SHA-256 of a file's bytes (hex).

    Parameters
    ----------
    path : Path
        A regular file (see :func:`open_regular`).

    Returns
    -------
    str
        64 lower-case hex digits.

    Raises
    ------
    OSError
        The file cannot be read, or is not a regular file.
    """
    with open_regular(Path(path)) as f:
        return sha256_stream(f)


def sha256_stream(f: io.BufferedIOBase) -> str:
    """SHA-256 (hex) of the bytes of an open binary file from its current position to its end,
    read in bounded memory (a file already opened with care, e.g. without following links)."""
    return hashlib.file_digest(f, "sha256").hexdigest()


def fsync_file(f: IO[bytes]) -> None:
    """Flush an open file's buffers and its bytes to the disk (``fsync(2)``)."""
    f.flush()
    os.fsync(f.fileno())


def fsync_dir(directory: Path, *, strict: bool = False) -> None:
    """Flush a directory's entries to the disk (after a rename, a link or an unlink).

    Parameters
    ----------
    directory : Path
        The directory that holds the new entry.
    strict : bool
        Raise the ``OSError`` of a directory that cannot be opened or synced. By default such a
        failure is ignored (file systems that cannot sync a directory).
    """
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        if strict:
            raise
        return
    try:
        os.fsync(fd)
    except OSError:
        if strict:
            raise
    finally:
        os.close(fd)


def _write_synced(tmp: Path, write: Writer | bytes, durable: bool) -> None:
    """Create ``tmp`` with the content (bytes, or what ``write`` writes), synced when ``durable``."""
    with open(tmp, "wb") as f:
        if isinstance(write, bytes):
            f.write(write)
        else:
            write(f)
        if durable:
            fsync_file(f)
        else:
            f.flush()


def atomic_write(path: Path, write: Writer | bytes, *, durable: bool = True, suffix: str = ".part") -> None:
    """Write a file atomically on its final name.

    The content goes to ``<name><suffix>`` in the same directory, is flushed and synced, renamed
    onto ``path`` (``os.replace``: an existing file is replaced), and the directory is synced. A
    reader never sees a partial file under the final name; an interrupted write leaves nothing
    (the temporary file is removed on any exception, ``KeyboardInterrupt`` included) or, after a
    crash, only the temporary file.

    Parameters
    ----------
    path : Path
        Final file name.
    write : bytes or callable
        The content, or a function writing it into the open temporary file (binary).
    durable : bool
        Sync the file and the directory (default). Without it the rename stays atomic, only
        crash durability is lost.
    suffix : str
        Suffix of the temporary file's name.
    """
    path = Path(path)
    tmp = path.with_name(path.name + suffix)
    try:
        _write_synced(tmp, write, durable)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        fsync_dir(path.parent)


def write_new(directory: Path, names: Iterable[str], data: bytes, *, tmp_name: str) -> Path:
    """Write ``data`` durably under the first of ``names`` that does not exist in ``directory``.

    The bytes go to ``directory / tmp_name`` (synced), which is hard-linked to each name in turn
    until a link succeeds (a link fails when the name exists, so nothing is ever replaced, even by
    a concurrent writer); the temporary file is then removed and the directory synced (failures
    raised: the caller records the file only once it is durable).

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    OSError
        The file cannot be written or linked, or the directory synced (``FileExistsError`` when
        every name exists).
    """
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / tmp_name
    _write_synced(tmp, data, durable=True)
    try:
        for name in names:
            target = directory / name
            try:
                os.link(tmp, target)
                break
            except FileExistsError:
                continue
        else:
            raise FileExistsError(errno.EEXIST, "every name given exists", str(directory))
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(directory, strict=True)
    return target


def _copy_into(src: Path) -> Writer:
    def write(fout: IO[bytes]) -> None:
        with open(src, "rb") as fin:
            shutil.copyfileobj(fin, fout, CHUNK_BYTES)

    return write


def move(src: Path, dest: Path, *, sync_dir: bool = True) -> None:
    """Move the entry ``src`` to ``dest`` atomically; across file systems copy, then unlink.

    Within one file system: ``os.replace`` (the entry itself is moved: a symbolic link, FIFO or
    directory is renamed, never followed). When the rename fails with ``errno.EXDEV`` (``dest`` is
    on another file system) and ``src`` is a regular file, it is copied with :func:`atomic_write`
    (``<dest>.part``, fsync, rename, directory fsync) and only then unlinked, so that a crash
    leaves the file at its source, or at both places, never nowhere. Any other entry cannot be
    copied: the ``EXDEV`` error is raised, as is any other error of the rename.

    Parameters
    ----------
    src, dest : Path
        The entry and its new path (the parent directory of ``dest`` must exist).
    sync_dir : bool
        Sync ``dest``'s directory after a rename (default); False leaves it to the caller (once
        per batch of moves into one directory). A copy across file systems always syncs it.
    """
    try:
        os.replace(src, dest)
    except OSError as exc:
        if exc.errno != errno.EXDEV or not is_regular(src):
            raise
        atomic_write(dest, _copy_into(src))
        src.unlink()
        return
    if sync_dir:
        fsync_dir(dest.parent)

