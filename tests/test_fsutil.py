"""File-system primitives (monitor/fsutil.py) on real files, including a real cross-device move."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from monitor import fsutil
from monitor.fsutil import atomic_write, fsync_dir, move, sha256_file, sha256_stream, write_new
from tests.deadline import deadline

OTHER_DEVICE_CANDIDATES = ("/dev/shm", "/run/shm", "/run/user/{uid}", "/var/tmp", "/tmp")


@pytest.fixture
def other_device(tmp_path: Path) -> Iterator[Path]:
    """A fresh directory on another file system than ``tmp_path`` (a tmpfs such as /dev/shm)."""
    here = os.stat(tmp_path).st_dev
    for candidate in OTHER_DEVICE_CANDIDATES:
        base = Path(candidate.format(uid=os.getuid()))
        try:
            if os.stat(base).st_dev == here or not os.access(base, os.W_OK | os.X_OK):
                continue
            directory = Path(tempfile.mkdtemp(prefix="monitor-fsutil-", dir=base))
        except OSError:
            continue
        try:
            yield directory
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        return
    pytest.skip(f"no writable directory on another file system than {tmp_path} among {OTHER_DEVICE_CANDIDATES}: "
                "the cross-device move cannot be exercised on this machine")


# ---------------------------------------------------------------------------------------------
# Hashing
# ---------------------------------------------------------------------------------------------


def test_sha256_file_hashes_the_bytes_in_chunks(tmp_path: Path) -> None:
    data = os.urandom(fsutil.CHUNK_BYTES * 2 + 17)  # more than one chunk, not a multiple of it
    (tmp_path / "f").write_bytes(data)
    assert sha256_file(tmp_path / "f") == hashlib.sha256(data).hexdigest()
    (tmp_path / "empty").write_bytes(b"")
    assert sha256_file(tmp_path / "empty") == hashlib.sha256(b"").hexdigest()
    with open(tmp_path / "f", "rb") as f:
        f.seek(17)
        assert sha256_stream(f) == hashlib.sha256(data[17:]).hexdigest()  # from where the file stands


def test_sha256_file_refuses_what_is_not_a_regular_file_without_blocking(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    with pytest.raises(OSError) as info:
        sha256_file(tmp_path / "d")
    assert info.value.errno == errno.EISDIR
    os.mkfifo(tmp_path / "fifo")
    with deadline(10.0, "hashing a FIFO"), pytest.raises(OSError) as info:
        sha256_file(tmp_path / "fifo")
    assert info.value.errno == errno.EINVAL and "FIFO" in str(info.value)


# ---------------------------------------------------------------------------------------------
# fsync of a directory
# ---------------------------------------------------------------------------------------------


def test_fsync_dir_is_best_effort_unless_strict(tmp_path: Path) -> None:
    fsync_dir(tmp_path)
    fsync_dir(tmp_path, strict=True)
    fsync_dir(tmp_path / "absent")  # ignored
    with pytest.raises(FileNotFoundError):
        fsync_dir(tmp_path / "absent", strict=True)


# ---------------------------------------------------------------------------------------------
# Atomic write
# ---------------------------------------------------------------------------------------------


def test_atomic_write_renames_a_complete_temporary_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "doc.json"
    target.write_bytes(b"old")
    seen: list[tuple[list[str], bytes]] = []
    real_replace = os.replace

    def spy(src: Any, dst: Any) -> None:
        seen.append((sorted(p.name for p in tmp_path.iterdir()), Path(src).read_bytes()))
        real_replace(src, dst)

    monkeypatch.setattr(fsutil.os, "replace", spy)
    atomic_write(target, b"new content", suffix=".tmp")
    # Just before the rename: the old file and the complete temporary one, nothing else.
    assert seen == [(["doc.json", "doc.json.tmp"], b"new content")]
    assert target.read_bytes() == b"new content"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["doc.json"]


def test_atomic_write_with_a_writer_function(tmp_path: Path) -> None:
    def write(f: IO[bytes]) -> None:
        f.write(b"a")
        f.write(b"b")

    atomic_write(tmp_path / "x", write, durable=False)
    assert (tmp_path / "x").read_bytes() == b"ab"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x"]


def test_interrupted_atomic_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "x.fits"
    target.write_bytes(b"old")

    def write(f: IO[bytes]) -> None:
        f.write(b"partial")
        raise KeyboardInterrupt  # e.g. the process is stopped in the middle of the write

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, write)
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.fits"]


# ---------------------------------------------------------------------------------------------
# Write under a new name
# ---------------------------------------------------------------------------------------------


def test_write_new_takes_the_first_free_name_and_never_replaces(tmp_path: Path) -> None:
    directory = tmp_path / "reports"
    names = ["r.pdf", "r-v2.pdf", "r-v3.pdf"]
    first = write_new(directory, names, b"one", tmp_name=".r.tmp")
    second = write_new(directory, names, b"two", tmp_name=".r.tmp")
    assert (first.name, second.name) == ("r.pdf", "r-v2.pdf")
    assert first.read_bytes() == b"one" and second.read_bytes() == b"two"
    (directory / "r-v3.pdf").write_bytes(b"someone else's")
    with pytest.raises(FileExistsError):
        write_new(directory, names, b"four", tmp_name=".r.tmp")
    assert (directory / "r-v3.pdf").read_bytes() == b"someone else's"
    assert sorted(p.name for p in directory.iterdir()) == sorted(names)  # no temporary file left


# ---------------------------------------------------------------------------------------------
# Move
# ---------------------------------------------------------------------------------------------


def test_move_within_a_file_system_moves_the_entry_itself(tmp_path: Path) -> None:
    (tmp_path / "dest").mkdir()
    (tmp_path / "f").write_bytes(b"data")
    move(tmp_path / "f", tmp_path / "dest" / "f")
    assert (tmp_path / "dest" / "f").read_bytes() == b"data" and not (tmp_path / "f").exists()
    (tmp_path / "target").write_bytes(b"not moved")
    (tmp_path / "link").symlink_to(tmp_path / "target")
    move(tmp_path / "link", tmp_path / "dest" / "link", sync_dir=False)
    assert (tmp_path / "dest" / "link").is_symlink() and (tmp_path / "target").read_bytes() == b"not moved"


def test_move_across_file_systems_copies_then_unlinks(tmp_path: Path, other_device: Path) -> None:
    src = tmp_path / "a.fits"
    data = os.urandom(fsutil.CHUNK_BYTES + 5)
    src.write_bytes(data)
    with pytest.raises(OSError) as info:  # the premise: a plain rename cannot do it
        os.rename(src, other_device / "probe")
    assert info.value.errno == errno.EXDEV
    move(src, other_device / "a.fits")
    assert (other_device / "a.fits").read_bytes() == data
    assert not src.exists()
    assert sorted(p.name for p in other_device.iterdir()) == ["a.fits"]  # no .part left
    move(other_device / "a.fits", tmp_path / "back.fits")  # and back again
    assert (tmp_path / "back.fits").read_bytes() == data and not any(other_device.iterdir())


def test_move_across_file_systems_refuses_what_cannot_be_copied(tmp_path: Path, other_device: Path) -> None:
    (tmp_path / "target").write_bytes(b"x")
    (tmp_path / "link").symlink_to(tmp_path / "target")
    os.mkfifo(tmp_path / "fifo")
    for name in ("link", "fifo"):
        with pytest.raises(OSError) as info:
            move(tmp_path / name, other_device / name)
        assert info.value.errno == errno.EXDEV
        assert os.path.lexists(tmp_path / name) and not os.path.lexists(other_device / name)
    assert not any(other_device.iterdir())


def test_move_across_file_systems_keeps_the_source_when_the_copy_fails(
    tmp_path: Path, other_device: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "a.fits"
    src.write_bytes(b"precious")

    def full_disk(fin: Any, fout: Any, length: int = 0) -> None:
        fout.write(b"prec")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(fsutil.shutil, "copyfileobj", full_disk)
    with pytest.raises(OSError) as info:
        move(src, other_device / "a.fits")
    assert info.value.errno == errno.ENOSPC
    assert src.read_bytes() == b"precious"
    assert not any(other_device.iterdir())  # neither a partial file nor its temporary
