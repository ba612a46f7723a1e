"""Hostile inbox entries (issue 13, Inbox): one entry's problem is that entry's verdict and the run
goes on. Names at NAME_MAX or not UTF-8, files the process cannot move (``chattr +i``), files still
being written (a pause at an HDU boundary), files changed in place while they are read, names that
forge log lines or send terminal escapes, and header counts that could drive a loop."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from astropy.io import fits

from monitor.catalogue.models import Acquisition, BandImage, Rejection
from monitor.settings import Settings
from tests.harness import REPO_ROOT, command

from .files import age, catalogue_rows, ingest_now, star_header, write_star

ACQ = "PHR1A-STAR-20250314T021533-00{:02d}"


def _cli(site: Settings, *args: str, settle: str = "0") -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, MONITOR_DATABASE_URL=site.database_url, MONITOR_INGEST_SETTLE_SECONDS=settle,
               OMP_NUM_THREADS="1", COLUMNS="400")
    return subprocess.run(command(*args, "--site", str(site.site)), env=env, capture_output=True, text=True,
                          timeout=120, cwd=REPO_ROOT)


def _status(site: Settings) -> dict:
    proc = _cli(site, "status", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _create(directory: Path, raw_name: bytes, data: bytes) -> None:
    fd = os.open(os.fsencode(directory) + b"/" + raw_name, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o644)
    os.write(fd, data)
    os.close(fd)


def _star_bytes(tmp_path: Path, acq_id: str, seed: int, **kw: object) -> bytes:
    path = write_star(tmp_path, f"tmp-{seed}.fits", acq_id, seed=seed, **kw)
    data = path.read_bytes()
    path.unlink()
    return data


# ---------------------------------------------------------------------------------------------
# 1. Names the archive or the quarantine cannot take as they are
# ---------------------------------------------------------------------------------------------


def test_names_at_name_max_and_not_utf8_are_verdicts_and_the_run_goes_on(site: Settings, tmp_path: Path) -> None:
    """255-byte names (NAME_MAX: no room for a ``-<sha>`` suffix), a 255-byte name that is not
    UTF-8, and the same bytes twice under two long names: each gets a verdict, ``monitor ingest``
    exits 0, the summary and ``monitor status`` show them."""
    good = _star_bytes(tmp_path, ACQ.format(1), seed=1)
    long_good = b"g" * 250 + b".fits"  # 255 bytes
    long_bad = b"b" * 250 + b".fits"
    long_dup = b"d" * 250 + b".fits"
    not_utf8 = b"\xff" * 250 + b".fits"
    _create(site.inbox, long_good, good)
    _create(site.inbox, long_dup, good)  # same bytes: a duplicate (quarantine/duplicates)
    _create(site.inbox, long_bad, b"not FITS " * 100)
    _create(site.inbox, not_utf8, _star_bytes(tmp_path, ACQ.format(2), seed=2, hip=30438))
    (site.archive / "PHR1A" / "2025" / "03").mkdir(parents=True)
    proc = _cli(site, "ingest")
    assert proc.returncode == 0, proc.stderr
    assert "ingested 2, rejected 1, duplicates 1" in proc.stdout
    assert os.listdir(os.fsencode(site.inbox)) == []
    acqs = catalogue_rows(site, Acquisition)
    assert sorted(a.acq_id for a in acqs) == [ACQ.format(1), ACQ.format(2)]
    for a in acqs:
        assert a.status == "archived" and len(a.file_name.encode()) <= 255
        assert (site.site / a.archive_path).is_file()
    rejs = catalogue_rows(site, Rejection)
    assert sorted(r.reason for r in rejs) == ["duplicate", "not-fits"]
    for r in rejs:
        assert r.state == "done" and (site.site / r.quarantine_path).is_file()
    doc = _status(site)
    assert {r["reason"]: r["count"] for r in doc["rejections"]} == {"duplicate": 1, "not-fits": 1}
    assert doc["inbox_left"] == []


# ---------------------------------------------------------------------------------------------
# 2. A file the process cannot move
# ---------------------------------------------------------------------------------------------


@pytest.fixture()
def immutable() -> Iterator[list[Path]]:
    """Paths to make immutable (``chattr +i``: even root cannot rename them); undone at the end."""
    paths: list[Path] = []
    if shutil.which("chattr") is None:
        pytest.skip("chattr is not available")
    yield paths
    for p in paths:
        subprocess.run(["chattr", "-i", str(p)], check=False)


def _chattr(paths: list[Path], path: Path) -> None:
    proc = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"chattr +i does not work here: {proc.stderr.strip()}")
    paths.append(path)


def test_a_file_that_cannot_be_moved_does_not_block_the_others(
    site: Settings, immutable: list[Path], caplog: pytest.LogCaptureFixture
) -> None:
    """An accepted file and a bad file that cannot be moved out of the inbox (immutable) are left
    in place with a reason (summary, ``monitor status``); the other files are ingested; the next
    runs count nothing twice; once the file can move, it is archived once."""
    site = replace(site, ingest=replace(site.ingest, batch_files=50))
    for i in range(1, 5):
        write_star(site.inbox, f"s{i}.fits", ACQ.format(i), seed=i)
    (site.inbox / "s2bad.fits").write_bytes(b"not FITS " * 100)
    (site.inbox / "s3bad.fits").write_bytes(b"not FITS either " * 100)
    _chattr(immutable, site.inbox / "s2.fits")
    _chattr(immutable, site.inbox / "s2bad.fits")
    with caplog.at_level(logging.INFO, logger="monitor.ingest"):
        summary = ingest_now(site)
    assert sorted(summary.ingested) == [ACQ.format(i) for i in (1, 3, 4)]
    assert summary.rejected == [("s3bad.fits", "not-fits")]
    assert len(summary.problems) == 2
    assert any(p.startswith("s2.fits: ") and "Operation not permitted" in p for p in summary.problems)
    assert any(p.startswith("s2bad.fits: ") for p in summary.problems)
    for name in ("s1.fits", "s3.fits", "s4.fits", "s3bad.fits"):
        assert not (site.inbox / name).exists()
    assert (site.inbox / "s2.fits").is_file() and (site.inbox / "s2bad.fits").is_file()
    proc = _cli(site, "ingest")  # the CLI: same verdicts, one line per entry left, exit 1
    assert proc.returncode == 1 and "s2.fits" in proc.stderr and "Traceback" not in proc.stderr
    left = {e["file"]: e["reason"] for e in _status(site)["inbox_left"]}
    assert set(left) == {"s2.fits", "s2bad.fits"} and "Operation not permitted" in left["s2.fits"]
    for _ in range(2):  # later runs: nothing counted twice
        again = ingest_now(site)
        assert again.ingested == [] and again.rejected == [] and len(again.problems) == 2
    acqs = catalogue_rows(site, Acquisition)
    assert sorted(a.acq_id for a in acqs if a.status == "archived") == [ACQ.format(i) for i in (1, 3, 4)]
    assert len(acqs) == len({a.acq_id for a in acqs})
    assert len([r for r in catalogue_rows(site, Rejection) if r.file_name == "s2bad.fits"]) <= 1
    for p in list(immutable):
        subprocess.run(["chattr", "-i", str(p)], check=True)
    final = ingest_now(site)
    assert final.problems == []
    acqs = catalogue_rows(site, Acquisition)
    assert sorted(a.acq_id for a in acqs) == [ACQ.format(i) for i in (1, 2, 3, 4)]
    assert all(a.status == "archived" and (site.site / a.archive_path).is_file() for a in acqs)
    bad = [r for r in catalogue_rows(site, Rejection) if r.file_name == "s2bad.fits"]
    assert len(bad) == 1 and bad[0].state == "done"
    assert os.listdir(site.inbox) == []
    assert _status(site)["inbox_left"] == []


def test_an_unwritable_archive_directory_leaves_the_files_and_the_run_goes_on(
    site: Settings, immutable: list[Path]
) -> None:
    """The archive directory of one month is immutable: its files stay in the inbox (reason
    shown), the files of another month are ingested; after the fix they are archived once."""
    write_star(site.inbox, "a.fits", ACQ.format(1), seed=1)
    write_star(site.inbox, "b.fits", ACQ.format(2), seed=2, when=star_header("x").date_obs.replace(month=4))
    month = site.archive / "PHR1A" / "2025" / "03"
    month.mkdir(parents=True)
    _chattr(immutable, month)
    summary = ingest_now(site)
    assert summary.ingested == [ACQ.format(2)] and len(summary.problems) == 1
    assert summary.problems[0].startswith("a.fits: ")
    assert (site.inbox / "a.fits").is_file()
    assert ingest_now(site).ingested == []
    subprocess.run(["chattr", "-i", str(month)], check=True)
    immutable.clear()
    ingest_now(site)
    acqs = catalogue_rows(site, Acquisition)
    assert sorted((a.acq_id, a.status) for a in acqs) == [(ACQ.format(1), "archived"), (ACQ.format(2), "archived")]
    assert os.listdir(site.inbox) == []


# ---------------------------------------------------------------------------------------------
# 3. "Complete" means complete
# ---------------------------------------------------------------------------------------------


def _nextend_file(tmp_path: Path, acq_id: str, seed: int) -> tuple[bytes, int]:
    """A STAR file with two bands and ``NEXTEND = 2`` (as some writers give); returns its bytes
    and the offset of the HDU boundary after the first band."""
    path = write_star(tmp_path, "nx.fits", acq_id, seed=seed)
    with fits.open(path, mode="update") as hdul:
        hdul[0].header["NEXTEND"] = 2
    with fits.open(path) as hdul:
        info = hdul.fileinfo(2)
        boundary = info["hdrLoc"]
    data = path.read_bytes()
    path.unlink()
    assert len(data) % 2880 == 0 and boundary % 2880 == 0
    return data, boundary


def test_a_pause_at_an_hdu_boundary_is_left_for_later_then_ingested_whole(site: Settings, tmp_path: Path) -> None:
    """A writer that delivered the ``.done`` marker early and pauses after its first band: the
    structurally incomplete file is younger than the settle time, so it waits (no verdict); once
    whole it is ingested with both bands, not refused as a conflict."""
    site = replace(site, ingest=replace(site.ingest, settle_seconds=30.0))
    data, boundary = _nextend_file(tmp_path, ACQ.format(1), seed=1)
    path = site.inbox / "w.fits"
    path.write_bytes(data[:boundary])
    (site.inbox / "w.fits.done").touch()
    summary = ingest_now(site)
    assert summary.ingested == [] and summary.rejected == [] and summary.problems == []
    assert summary.waiting == 1 and path.exists()
    with open(path, "ab") as f:
        f.write(data[boundary:])
    summary = ingest_now(site)
    assert summary.ingested == [ACQ.format(1)] and summary.rejected == []
    (acq,) = catalogue_rows(site, Acquisition)
    assert {b.band for b in catalogue_rows(site, BandImage) if b.acquisition_id == acq.id} == {"P", "B0"}


def test_an_old_file_structurally_incomplete_is_refused_as_truncated(site: Settings, tmp_path: Path) -> None:
    site = replace(site, ingest=replace(site.ingest, settle_seconds=30.0))
    data, boundary = _nextend_file(tmp_path, ACQ.format(1), seed=1)
    for name, cut in (("hdu.fits", boundary), ("mid.fits", boundary + 2880 + 100)):
        path = site.inbox / name
        path.write_bytes(data[:cut])
        age(path, 60)
    summary = ingest_now(site)
    assert sorted(summary.rejected) == [("hdu.fits", "truncated"), ("mid.fits", "truncated")]
    assert summary.waiting == 0


_WRITER = r"""
import os, sys, time
path, boundary, pause = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
data = open(sys.argv[4], "rb").read()
fd = os.open(path + ".part", os.O_CREAT | os.O_WRONLY, 0o644)
os.close(fd)
with open(path, "wb") as f:
    f.write(data[:boundary]); f.flush(); os.fsync(f.fileno())
    print("paused", flush=True)
    time.sleep(pause)
    f.write(data[boundary:]); f.flush(); os.fsync(f.fileno())
os.unlink(path + ".part")
open(path + ".done", "w").close()
"""


def test_a_real_writer_pausing_at_an_hdu_boundary(site: Settings, tmp_path: Path) -> None:
    """A writer subprocess writes up to an HDU boundary, pauses 1.5 s, writes the rest and its
    marker; ingests run during the pause (settle 5 s): the file waits, then comes in whole."""
    site = replace(site, ingest=replace(site.ingest, settle_seconds=5.0))
    data, boundary = _nextend_file(tmp_path, ACQ.format(1), seed=1)
    src = tmp_path / "src.fits"
    src.write_bytes(data)
    writer = subprocess.Popen([sys.executable, "-c", _WRITER, str(site.inbox / "w.fits"), str(boundary), "1.5",
                               str(src)], stdout=subprocess.PIPE, text=True)
    assert writer.stdout is not None and writer.stdout.readline() == "paused\n"
    seen = []
    while writer.poll() is None:
        seen.append(ingest_now(site))
        time.sleep(0.2)
    assert writer.wait() == 0 and seen
    writer.stdout.close()
    seen.append(ingest_now(site))
    assert all(s.rejected == [] and s.problems == [] for s in seen)
    assert [i for s in seen for i in s.ingested] == [ACQ.format(1)]  # once, when whole
    (acq,) = catalogue_rows(site, Acquisition)
    assert acq.sha256 == hashlib.sha256(data).hexdigest()
    assert {b.band for b in catalogue_rows(site, BandImage) if b.acquisition_id == acq.id} == {"P", "B0"}


# ---------------------------------------------------------------------------------------------
# 4. A file changed in place while it is read
# ---------------------------------------------------------------------------------------------

_FLIPPER = r"""
import os, sys, time
path, a, b = sys.argv[1], open(sys.argv[2], "rb").read(), open(sys.argv[3], "rb").read()
end = time.monotonic() + float(sys.argv[4])
print("started", flush=True)
i = 0
while time.monotonic() < end:
    try:
        fd = os.open(path, os.O_WRONLY)
    except FileNotFoundError:
        break
    data = (a, b)[i % 2]
    for k in range(0, len(data), 2880):  # in place, block by block, as a careless writer would
        os.pwrite(fd, data[k:k + 2880], k)
    os.close(fd)
    i += 1
"""


def test_a_file_changed_in_place_is_hashed_and_validated_on_the_same_bytes(
    site: Settings, tmp_path: Path
) -> None:
    """A real writer flips a file between two versions of the same size (other ACQ_ID and pixels)
    in place, block by block, while ingests run (settle time 0: the file is taken at once).
    Whatever is accepted carries the SHA-256 of bytes whose header is the ACQ_ID recorded: one of
    the states the file went through (A, B, or one torn at a block or page between them), the very bytes
    that were validated (regression test, see the next test)."""
    a = _star_bytes(tmp_path, ACQ.format(1), seed=1)
    b = _star_bytes(tmp_path, ACQ.format(2), seed=2)
    assert len(a) == len(b) and a != b
    states: dict[str, str] = {}  # SHA-256 of each state the file can be in -> its ACQ_ID
    for new, old in ((a, b), (b, a)):
        # a read torn between two blocks of the writer, or between two pages within a block
        for k in sorted({*range(0, len(a), 2880), *range(0, len(a), 4096), len(a)}):
            state = new[:k] + old[k:]
            states[hashlib.sha256(state).hexdigest()] = ACQ.format(1 if state[:2880] == a[:2880] else 2)
    (tmp_path / "a").write_bytes(a)
    (tmp_path / "b").write_bytes(b)
    for round_ in range(6):
        path = site.inbox / f"f{round_}.fits"
        path.write_bytes(a)
        flipper = subprocess.Popen([sys.executable, "-c", _FLIPPER, str(path), str(tmp_path / "a"),
                                    str(tmp_path / "b"), "1.0"], stdout=subprocess.PIPE, text=True)
        assert flipper.stdout is not None and flipper.stdout.readline() == "started\n"
        try:
            for _ in range(5):
                ingest_now(site)
        finally:
            flipper.wait(timeout=30)
            flipper.stdout.close()
    acqs = catalogue_rows(site, Acquisition)
    assert acqs, "nothing was ingested"
    for acq in acqs:
        assert acq.sha256 in states, f"{acq.file_name}: SHA-256 of no state the file was in"
        assert states[acq.sha256] == acq.acq_id, f"{acq.file_name}: SHA-256 of other bytes than validated"
        assert acq.size_bytes == len(a)


def test_every_check_of_a_file_changed_in_place_hashes_the_bytes_it_validated(site: Settings, tmp_path: Path) -> None:
    """The same real writer, and the ingest's check of one file (hash + validation, no catalogue)
    repeated for 2 s: every check that gives a verdict gives the ACQ_ID of the bytes it hashed.
    A regression test: the previous check (hash, then open the file again to validate it, then
    compare the modification time) passes it too on this kernel (6.18, fine-grained "multigrain"
    file times: every observed write changes the time). With coarse file times a write within one
    clock tick changes no time; then only validating the bytes that were hashed, and hashing the
    file again afterwards, keeps the SHA-256 and the verdict on the same bytes."""
    from monitor.ingest.checking import ChangedError, check_file

    a = _star_bytes(tmp_path, ACQ.format(1), seed=1)
    b = _star_bytes(tmp_path, ACQ.format(2), seed=2)
    states: dict[str, str] = {}
    for new, old in ((a, b), (b, a)):
        for k in sorted({*range(0, len(a), 2880), *range(0, len(a), 4096), len(a)}):
            state = new[:k] + old[k:]
            states[hashlib.sha256(state).hexdigest()] = ACQ.format(1 if state[:2880] == a[:2880] else 2)
    (tmp_path / "a").write_bytes(a)
    (tmp_path / "b").write_bytes(b)
    path = site.inbox / "f.fits"
    path.write_bytes(a)
    flipper = subprocess.Popen([sys.executable, "-c", _FLIPPER, str(path), str(tmp_path / "a"),
                                str(tmp_path / "b"), "2.0"], stdout=subprocess.PIPE, text=True)
    assert flipper.stdout is not None and flipper.stdout.readline() == "started\n"
    verdicts, changed, wrong = 0, 0, []
    try:
        while flipper.poll() is None:
            try:
                c = check_file(path, site.ingest)
            except ChangedError:
                changed += 1
                continue
            if c.header is not None:
                verdicts += 1
                if states.get(c.sha256 or "") != c.header.acq_id:
                    wrong.append(c.sha256)
    finally:
        flipper.wait(timeout=30)
        flipper.stdout.close()
    assert verdicts + changed > 50
    assert wrong == [], f"{len(wrong)} of {verdicts} accepted checks hashed other bytes than they validated"


# ---------------------------------------------------------------------------------------------
# 5. Names that forge log lines or send terminal escapes
# ---------------------------------------------------------------------------------------------

FORGED = "x\n2026-01-01 00:00:00,000 INFO monitor.ingest.service: ingested FAKE-ID\x1b[2J[red]boom[bold].fits"


def test_names_cannot_forge_log_lines_or_send_escapes(site: Settings, tmp_path: Path) -> None:
    """``monitor ingest`` and ``monitor status`` (a real process, plain log on stderr): no control
    character in stdout or stderr, no forged line, Rich markup shown literally."""
    write_star(site.inbox, FORGED, ACQ.format(1), seed=1)
    (site.inbox / ("bad" + FORGED)).write_bytes(b"not FITS " * 100)
    ingest = _cli(site, "ingest")
    assert ingest.returncode == 0, ingest.stderr
    status = _cli(site, "status")
    for text in (ingest.stdout, ingest.stderr, status.stdout, status.stderr):
        assert "\x1b" not in text
        assert all(line.isprintable() for line in text.splitlines()), text
        assert not any(line.startswith("2026-01-01") for line in text.splitlines())
    assert "[red]boom[bold]" in status.stdout  # Rich markup shown, not interpreted
    rej = catalogue_rows(site, Rejection)[0]
    assert rej.file_name.isprintable() and "\\x1b[2J" in rej.file_name
    # reports: a rejected input is shown escaped (and the HTML is autoescaped, tests/reports)
    from monitor.reports.context import RejectedInput

    shown = RejectedInput(file=FORGED, reason="not-fits", message=f"{FORGED} is not FITS", time=rej.received_at)
    assert shown.file.isprintable() and shown.message.isprintable() and "\x1b" not in shown.file + shown.message


# ---------------------------------------------------------------------------------------------
# 6. Counts read from a header are bounded
# ---------------------------------------------------------------------------------------------


def _set_card(data: bytes, hdu_start: int, key: str, value: str) -> bytes:
    """Replace the value of ``key`` in the header starting at ``hdu_start`` (same card length)."""
    pos = hdu_start
    while True:
        card = data[pos : pos + 80]
        if card[:8].decode().strip() == key:
            new = f"{key:<8}= {value:>20}".encode().ljust(80)
            return data[:pos] + new + data[pos + 80 :]
        assert card[:8] != b"END     "
        pos += 80


def _geom_bytes(tmp_path: Path) -> tuple[bytes, list[int]]:
    from tests.io.conftest import GEOM_PRIMARY, build_hdul, ephem_columns, gcp_columns

    path = tmp_path / "g.fits"
    build_hdul(GEOM_PRIMARY, (), tables={"EPHEM": ephem_columns(), "GCP": gcp_columns()}).writeto(path)
    with fits.open(path) as hdul:
        starts = [hdul.fileinfo(i)["hdrLoc"] for i in range(len(hdul))]
    return path.read_bytes(), starts


@pytest.mark.parametrize(("hdu", "key", "value", "reason"), [
    (1, "TFIELDS", "1000000000000", "bad-value"),
    (2, "TFIELDS", "1000000000000", "bad-value"),
    (1, "NAXIS2", "1000000000", "too-large"),
    (2, "NAXIS2", "2147483647", "too-large"),
    (2, "PCOUNT", "1000000000000000000", "too-large"),
    (2, "GCOUNT", "1000000000000000000", "too-large"),
    (1, "NAXIS1", "999999999999999999", "bad-value"),
])
def test_huge_counts_in_geom_tables_are_refused_quickly(
    site: Settings, tmp_path: Path, hdu: int, key: str, value: str, reason: str
) -> None:
    data, starts = _geom_bytes(tmp_path)
    (site.inbox / "g.fits").write_bytes(_set_card(data, starts[hdu], key, value))
    t = time.perf_counter()
    summary = ingest_now(site, seconds=20.0)
    assert time.perf_counter() - t < 5.0
    assert summary.rejected == [("g.fits", reason)], summary


def test_huge_image_counts_are_refused_quickly(site: Settings, tmp_path: Path) -> None:
    data = _star_bytes(tmp_path, ACQ.format(1), seed=1)
    with fits.open(io.BytesIO(data)) as hdul:
        start = hdul.fileinfo(1)["hdrLoc"]
    for name, key, value in (("n2.fits", "NAXIS2", "2000000000"), ("gc.fits", "GCOUNT", "1000000000000"),
                             ("pc.fits", "PCOUNT", "1000000000000")):
        (site.inbox / name).write_bytes(_set_card(data, start, key, value))
    t = time.perf_counter()
    summary = ingest_now(site, seconds=20.0)
    assert time.perf_counter() - t < 5.0
    assert dict(summary.rejected) == {"n2.fits": "too-large", "gc.fits": "too-large", "pc.fits": "too-large"}


def test_an_odd_name_that_cannot_be_renamed_is_left_with_its_reason(site: Settings, immutable: list[Path]) -> None:
    """A name that must be renamed to be stored (ESC, not UTF-8) on a file that cannot be renamed:
    left in the inbox with its reason (summary, ``monitor status``), the others are ingested."""
    write_star(site.inbox, "ok.fits", ACQ.format(1), seed=1)
    odd = write_star(site.inbox, "odd\x1b[2J.fits", ACQ.format(2), seed=2, hip=30438)
    (site.inbox / "odd\x1b[2J.fits.done").unlink()
    _chattr(immutable, odd)
    summary = ingest_now(site)
    assert summary.ingested == [ACQ.format(1)]
    assert [p.split(": ", 1)[0] for p in summary.problems] == ["odd\\x1b[2J.fits"]
    assert "Operation not permitted" in summary.problems[0]
    assert odd.exists()
    proc = _cli(site, "status")
    assert proc.returncode == 0 and "odd\\x1b[2J.fits" in proc.stdout and "\x1b" not in proc.stdout
    subprocess.run(["chattr", "-i", str(odd)], check=True)
    immutable.clear()
    assert ingest_now(site).ingested == [ACQ.format(2)]
    assert _status(site)["inbox_left"] == []
