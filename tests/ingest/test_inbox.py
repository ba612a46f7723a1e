"""Inbox hygiene on a real catalogue: nothing in the inbox is followed or opened unless it is a
regular file; odd names are renamed to printable ones; per-band verdicts; size limits from the
settings."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import stat
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
from sqlmodel import Session

from monitor.catalogue.models import Acquisition, BandImage, Rejection
from monitor.ingest.service import complete_files
from monitor.results import build_results
from monitor.settings import Settings
from monitor.site import open_engine, utc_now

from .files import catalogue_rows, ingest_now, write_partly_nan, write_star

ACQ = "PHR1A-STAR-20250314T021533-0001"


def _rejection(site: Settings, name: str) -> Rejection:
    (rej,) = [r for r in catalogue_rows(site, Rejection) if r.file_name == name]
    assert rej.state == "done"
    return rej


def _assert_logs_printable(caplog: pytest.LogCaptureFixture) -> None:
    for record in caplog.records:
        if record.name.startswith("monitor.ingest"):
            text = record.getMessage()
            assert text.isprintable(), repr(text)


# ---------------------------------------------------------------------------------------------
# Entries that are not regular files
# ---------------------------------------------------------------------------------------------


def test_symlink_to_a_valid_file_outside_the_inbox(site: Settings, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    target = write_star(outside, "real.fits", ACQ, seed=1)
    before = target.read_bytes()
    os.symlink(target, site.inbox / "link.fits")
    os.symlink(target, site.inbox / "link.fits.done")  # a marker that is a link: never followed
    summary = ingest_now(site)
    assert summary.ingested == [] and summary.rejected == [("link.fits", "not-a-file")]
    assert catalogue_rows(site, Acquisition) == []
    rej = _rejection(site, "link.fits")
    assert rej.sha256 is None and f"symbolic link to {target}" in rej.message
    moved = site.site / rej.quarantine_path
    assert moved.is_symlink() and os.readlink(moved) == str(target)  # the link itself was moved
    assert target.read_bytes() == before and (outside / "real.fits.done").exists()  # the target is untouched
    assert list(site.inbox.iterdir()) == []


def test_symlink_to_dev_zero_fifo_directory_and_socket(site: Settings, caplog: pytest.LogCaptureFixture) -> None:
    inbox = site.inbox
    os.symlink("/dev/zero", inbox / "zero.fits")
    os.mkfifo(inbox / "x.fits")  # opening it for reading would block forever
    (inbox / "d.fits").mkdir()
    (inbox / "d.fits" / "inside.fits").write_bytes(b"kept as is")
    (inbox / "operator-notes").mkdir()  # a sub-directory not named like a FITS file: left alone
    os.mkfifo(inbox / "pipe")  # any other FIFO too: never opened
    expected = {"zero.fits": "symbolic link to /dev/zero", "x.fits": "FIFO", "d.fits": "directory", "pipe": "FIFO"}
    sock = socket.socket(socket.AF_UNIX)
    if len(os.fsencode(inbox / "s.fits")) < 100:  # the limit of an AF_UNIX address (108 bytes)
        sock.bind(str(inbox / "s.fits"))
        expected["s.fits"] = "socket"
    try:
        with caplog.at_level(logging.INFO, logger="monitor.ingest"):
            summary = ingest_now(site, seconds=30.0)
    finally:
        sock.close()
    assert dict(summary.rejected) == {name: "not-a-file" for name in expected}
    tests = {"zero.fits": stat.S_ISLNK, "x.fits": stat.S_ISFIFO, "d.fits": stat.S_ISDIR, "pipe": stat.S_ISFIFO,
             "s.fits": stat.S_ISSOCK}
    for name, kind in expected.items():
        rej = _rejection(site, name)
        assert rej.reason == "not-a-file" and kind in rej.message and rej.sha256 is None, rej.message
        assert tests[name](os.lstat(site.site / rej.quarantine_path).st_mode), name
    assert (site.site / _rejection(site, "d.fits").quarantine_path / "inside.fits").read_bytes() == b"kept as is"
    assert sorted(p.name for p in inbox.iterdir()) == ["operator-notes"]
    _assert_logs_printable(caplog)


def test_complete_files_never_follows_anything(site: Settings, tmp_path: Path) -> None:
    inbox = site.inbox
    os.symlink(tmp_path / "missing", inbox / "dangling.fits")
    os.mkfifo(inbox / "f.fits")
    (inbox / "d.fits").mkdir()
    (inbox / "sub").mkdir()
    (inbox / "f.fits.done").mkdir()  # a marker that is a directory still marks f.fits complete
    ready, waiting = complete_files(inbox, utc_now(), settle_seconds=3600)
    assert [p.name for p in ready] == ["f.fits"] and waiting == 2  # fresh entries wait, whatever they are
    ready, waiting = complete_files(inbox, utc_now(), settle_seconds=0)
    assert [p.name for p in ready] == ["d.fits", "dangling.fits", "f.fits"] and waiting == 0


def test_an_orphan_marker_link_is_removed_without_touching_its_target(site: Settings, tmp_path: Path) -> None:
    precious = tmp_path / "precious.txt"
    precious.write_text("do not delete")
    os.symlink(precious, site.inbox / "gone.fits.done")
    write_star(site.inbox, "a.fits", ACQ, seed=1)
    assert ingest_now(site).ingested == [ACQ]
    assert list(site.inbox.iterdir()) == [] and precious.read_text() == "do not delete"


def test_an_entry_that_cannot_be_moved_is_left_and_logged(site: Settings, caplog: pytest.LogCaptureFixture) -> None:
    """A FIFO cannot be copied to a quarantine on another file system (EXDEV): left in the inbox,
    logged, no rejection row; a regular bad file is still copied across."""
    elsewhere = Path("/dev/shm") / f"monitor-test-{uuid.uuid4().hex[:8]}"
    elsewhere.mkdir()
    try:
        if os.stat(elsewhere).st_dev == os.stat(site.site).st_dev:
            pytest.skip("/dev/shm is on the same file system as the test site")
        shutil.rmtree(site.quarantine)
        os.symlink(elsewhere, site.quarantine)
        os.mkfifo(site.inbox / "x.fits")
        (site.inbox / "junk.fits").write_bytes(b"not FITS" * 100)
        with caplog.at_level(logging.INFO, logger="monitor.ingest"):
            summary = ingest_now(site, seconds=30.0)
        assert summary.rejected == [("junk.fits", "not-fits")]
        assert [r.file_name for r in catalogue_rows(site, Rejection)] == ["junk.fits"]
        assert stat.S_ISFIFO(os.lstat(site.inbox / "x.fits").st_mode)
        assert any("cannot quarantine x.fits" in r.getMessage() for r in caplog.records)
        assert ingest_now(site, seconds=30.0).rejected == []  # and again on the next run, still no row
    finally:
        shutil.rmtree(elsewhere, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------------------------


def test_names_with_control_characters_are_renamed_printable(
    site: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    name = "a\nb\x1b[31mred\x7f.fits"
    write_star(site.inbox, name, ACQ, seed=1)
    (site.inbox / "bad\x1b[0m.fits").write_bytes(b"garbage " * 400)
    with caplog.at_level(logging.INFO, logger="monitor.ingest"):
        summary = ingest_now(site)
    shown = "a\\nb\\x1b[31mred\\x7f.fits"
    assert summary.ingested == [ACQ]
    (acq,) = catalogue_rows(site, Acquisition)
    assert acq.file_name == shown and acq.archive_path == f"archive/PHR1A/2025/03/{shown}"
    assert (site.site / acq.archive_path).is_file()
    assert _rejection(site, "bad\\x1b[0m.fits").reason == "not-fits"
    assert any(f"inbox entry {shown} renamed to {shown}" in r.getMessage() for r in caplog.records)
    assert list(site.inbox.iterdir()) == []  # the marker followed its file
    _assert_logs_printable(caplog)


def test_names_that_are_not_utf8_work_end_to_end(site: Settings, caplog: pytest.LogCaptureFixture) -> None:
    """A name with bytes that are not UTF-8 (``os.fsdecode`` gives surrogates, which neither the
    catalogue nor a log line can hold) is renamed to its escaped form, on SQLite and PostgreSQL."""
    good = write_star(site.inbox, "tmp.fits", ACQ, seed=1)
    (site.inbox / "tmp.fits.done").unlink()
    content = good.read_bytes()
    good.unlink()
    for raw, data in ((b"bad\xff\xfe.fits", content), (b"\xe9t\xe9.fits", b"not FITS " * 50)):
        fd = os.open(os.fsencode(site.inbox) + b"/" + raw, os.O_CREAT | os.O_WRONLY, 0o644)
        os.write(fd, data)
        os.close(fd)
    with caplog.at_level(logging.INFO, logger="monitor.ingest"):
        summary = ingest_now(site)
    assert summary.ingested == [ACQ] and summary.rejected == [("\\xe9t\\xe9.fits", "not-fits")]
    (acq,) = catalogue_rows(site, Acquisition)
    assert acq.file_name == "bad\\xff\\xfe.fits" and (site.site / acq.archive_path).read_bytes() == content
    engine = open_engine(site)
    with Session(engine) as session:
        files = {m["file"] for m in build_results(session)["measurements"]}
    engine.dispose()
    assert files == {"bad\\xff\\xfe.fits", "\\xe9t\\xe9.fits"}
    _assert_logs_printable(caplog)


def test_a_printable_name_taken_by_another_file_is_not_overwritten(site: Settings) -> None:
    write_star(site.inbox, "a\\x1b.fits", "PHR1A-STAR-20250314T021533-0002", seed=2, hip=30438)  # the escaped name
    write_star(site.inbox, "a\x1b.fits", ACQ, seed=1)
    summary = ingest_now(site)
    assert sorted(summary.ingested) == [ACQ, "PHR1A-STAR-20250314T021533-0002"]
    names = {a.acq_id: a.file_name for a in catalogue_rows(site, Acquisition)}
    assert names == {ACQ: "a\\x1b-1.fits", "PHR1A-STAR-20250314T021533-0002": "a\\x1b.fits"}


def test_a_very_long_name_is_shortened(site: Settings) -> None:
    name = "\x01" * 60 + "y" * 10 + ".fits"  # 70 bytes, 255 once escaped
    write_star(site.inbox, name, ACQ, seed=1)
    assert ingest_now(site).ingested == [ACQ]
    (acq,) = catalogue_rows(site, Acquisition)
    assert len(acq.file_name.encode()) <= 200 and acq.file_name.startswith("\\x01") and acq.file_name.endswith(".fits")


# ---------------------------------------------------------------------------------------------
# Per-band verdicts and size limits
# ---------------------------------------------------------------------------------------------


def test_a_file_with_one_all_nan_band_is_accepted_with_every_band(site: Settings) -> None:
    acq_id = write_partly_nan(site.inbox)
    summary = ingest_now(site)
    assert summary.ingested == [acq_id] and summary.rejected == []
    (acq,) = catalogue_rows(site, Acquisition)
    assert {b.band for b in catalogue_rows(site, BandImage) if b.acquisition_id == acq.id} == {"P", "B0"}


def test_size_limits_come_from_the_settings(site: Settings) -> None:
    site = replace(site, ingest=replace(site.ingest, max_star_band_pixels=4000))
    write_star(site.inbox, "a.fits", ACQ, seed=1)  # band P is 64 x 64 = 4096 pixels
    summary = ingest_now(site)
    assert summary.rejected == [("a.fits", "too-large")]
    assert "4096 pixels, more than the 4000 pixels" in _rejection(site, "a.fits").message
