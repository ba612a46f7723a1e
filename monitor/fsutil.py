"""File-system primitives: hashing and fsync."""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from pathlib import Path
from typing import IO

__all__ = ["CHUNK_BYTES", "open_regular", "sha256_file", "fsync_dir"]

CHUNK_BYTES = 1 << 20  # read/copy granularity, bytes


def _file_kind(mode: int) -> str:
    """What a non-regular file is, for messages."""
    kinds = ((stat.S_ISDIR, "directory"), (stat.S_ISFIFO, "FIFO"), (stat.S_ISSOCK, "socket"),
             (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"))
    return next((kind for test, kind in kinds if test(mode)), "special file")


def open_regular(path: Path) -> IO[bytes]:
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
        raise OSError(code, f"not a regular file but a {_file_kind(mode)}", str(path))
    return os.fdopen(fd, "rb")


def sha256_file(path: Path) -> str:
    """SHA-256 of a file's bytes (hex), read in 1 MiB chunks.

    Parameters
    ----------
    path : Path
        Any file.

    Returns
    -------
    str
        64 lower-case hex digits.
    """
    digest = hashlib.sha256()
    with open_regular(Path(path)) as f:
        for chunk in iter(lambda: f.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fsync_dir(directory: Path) -> None:
    """Flush a directory entry to disk (after a rename), ignoring file systems that cannot."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
