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

import os
import stat
from pathlib import Path

from monitor.fsutil import fsync_dir, is_regular, move, sha256_file
from monitor.ingest.inbox import drop_marker

__all__ = ["move_entry", "finish_move"]

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
