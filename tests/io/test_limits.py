"""Hardened validation: lazily parsed card values, bounded counts, physical ranges, size limits
(gzip bombs) and the transient/data split of read errors."""

from __future__ import annotations

import errno
import gzip
import os
import time
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest

from monitor.domain import RejectReason
from monitor.fsutil import sha256_file
from monitor.io import fits_structure
from monitor.io.acquisition import read_acquisition_header, validate_acquisition
from monitor.io.errors import InvalidAcquisitionError
from monitor.io.pixels import read_band
from monitor.settings import IngestSettings
from tests.deadline import deadline
from tests.ingest.fuzzing import card, edit_header, hdu_spans, set_card
from tests.io.conftest import GEOM_PRIMARY, STAR_PRIMARY, MakeFile, ephem_columns, gcp_columns


def _refused(path: Path, reason: RejectReason, *words: str, **limits: int) -> InvalidAcquisitionError:
    with pytest.raises(InvalidAcquisitionError) as info:
        validate_acquisition(path, **limits)
    exc = info.value
    assert exc.reason is reason, exc.message
    for word in words:
        assert word in exc.message, exc.message
    assert "\n" not in exc.message and exc.message.isprintable()
    return exc


def _corrupt(path: Path, hdu: int, key: str, field: str) -> Path:
    """Rewrite one card of ``path`` at the byte level (astropy would refuse to write it)."""
    path.write_bytes(set_card(path.read_bytes(), hdu, key, field))
    return path




# ---------------------------------------------------------------------------------------------
# 1. Lazily parsed card values
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "field", "shown"),
    [("DARK", "31.5.2", "'31.5.2'"), ("GAINFACT", "2,25 / gain", "'2,25'"), ("DARK", "'abc", "\"'abc\""),
     ("OVERSAMP", "NaN", "'NaN'"), ("PIXSCALE", ".NAN", "'.NAN'")],
)
@pytest.mark.parametrize("gz", [False, True])
def test_unparsable_card_value_is_bad_value(make_fits: MakeFile, key: str, field: str, shown: str, gz: bool) -> None:
    path = _corrupt(make_fits(), 1, key, field)
    if gz:
        path.write_bytes(gzip.compress(path.read_bytes()))
    exc = _refused(path, RejectReason.BAD_VALUE)
    assert exc.message == f"key {key} of HDU 1 has an unparsable value {shown}"
    assert exc.acq_id == STAR_PRIMARY["ACQ_ID"]
    with pytest.raises(InvalidAcquisitionError) as info:
        read_band(path, "P")  # the readers of archived files refuse it the same way
    assert info.value.reason is RejectReason.BAD_VALUE


def test_unparsable_primary_value_and_control_bytes(make_fits: MakeFile) -> None:
    path = _corrupt(make_fits(), 0, "SC_POSX", "1.0.0E3")
    _refused(path, RejectReason.BAD_VALUE, "key SC_POSX of the primary HDU has an unparsable value '1.0.0E3'")
    path = _corrupt(make_fits("esc.fits"), 0, "TARGET", "'HIP \x1b[31m32349'")
    _refused(path, RejectReason.BAD_VALUE, "byte 0x1b", "printable ASCII")


@pytest.mark.parametrize(("key", "field"), [("BITPIX", "1E300"), ("BITPIX", "-32"), ("DARK", "31.5")])
def test_a_key_given_twice_is_bad_value(make_fits: MakeFile, key: str, field: str) -> None:
    """astropy sizes the HDU from the last BITPIX and looks values up from the first: whichever the
    readers chose, they would disagree (found by benchmarks/fuzz.py: a crash in the processing)."""
    path = make_fits()

    def twice(cards: list[bytes]) -> list[bytes]:
        i = next(i for i, c in enumerate(cards) if c.startswith(key.encode()))
        return [*cards[: i + 1], card(key, field.rjust(20)), *cards[i + 1 :]]

    path.write_bytes(edit_header(path.read_bytes(), 1, twice))
    _refused(path, RejectReason.BAD_VALUE, f"key {key} appears more than once in the header of HDU 1")


def test_a_damaged_extension_type_does_not_drop_the_band(make_fits: MakeFile) -> None:
    path = _corrupt(make_fits(), 2, "XTENSION", "1D999")
    _refused(path, RejectReason.BAD_VALUE, "XTENSION of HDU 2 (EXTNAME 'B0') is inf")


def test_a_card_that_is_not_a_fits_keyword_is_bad_value(make_fits: MakeFile) -> None:
    path = make_fits()
    junk = b'n;8QCf?>N"pGwK6B'.ljust(80)  # astropy warns about it whenever the header is read again
    path.write_bytes(edit_header(path.read_bytes(), 1, lambda cards: [*cards, junk]))
    _refused(path, RejectReason.BAD_VALUE, "the header of HDU 1 is malformed", "invalid")


def test_infinite_value_is_out_of_range(make_fits: MakeFile) -> None:
    path = _corrupt(make_fits(), 1, "DARK", "1E999")  # Python reads it as inf
    _refused(path, RejectReason.BAD_VALUE, "key DARK of HDU 1 (EXTNAME 'P') is inf DN", ">= -1e+06 and <= 1e+06")


# ---------------------------------------------------------------------------------------------
# 2. Bounded counts and physical ranges
# ---------------------------------------------------------------------------------------------


def _geom(make_fits: MakeFile, name: str = "geom.fits") -> Path:
    return make_fits(name, primary=GEOM_PRIMARY, bands=(), tables={"EPHEM": ephem_columns(), "GCP": gcp_columns()})


def test_huge_tfields_is_refused_at_once(make_fits: MakeFile) -> None:
    path = _corrupt(_geom(make_fits), 2, "TFIELDS", "1000000000000")
    t = time.perf_counter()
    _refused(path, RejectReason.BAD_VALUE, "TFIELDS = 1000000000000 of HDU 2", "[0, 999]")
    assert time.perf_counter() - t < 1.0


def test_table_columns_must_add_up_to_the_row_width(make_fits: MakeFile) -> None:
    path = _corrupt(_geom(make_fits), 1, "TFORM2", "'99999999999D'")
    _refused(path, RejectReason.BAD_VALUE, "add up to", "NAXIS1 is 56")


@pytest.mark.parametrize(("key", "value", "words"), [
    ("NAXIS1", "1099511627776", "NAXIS1 = 1099511627776 of HDU 1 is out of range [0, 2147483647]"),
    ("NAXIS", "1000", "NAXIS = 1000 of HDU 1 is out of range [0, 999]"),
    ("NAXIS2", "-3", "NAXIS2 = -3 of HDU 1 is out of range"),
])
def test_axis_counts_are_bounded(make_fits: MakeFile, key: str, value: str, words: str) -> None:
    _refused(_corrupt(make_fits(), 1, key, value.rjust(20)), RejectReason.BAD_VALUE, words)


def test_number_of_hdus_and_header_blocks_are_bounded(make_fits: MakeFile) -> None:
    path = make_fits()
    empty = b"".join(card(k, v.rjust(20)) for k, v in
                     (("BITPIX", "8"), ("NAXIS", "0"), ("PCOUNT", "0"), ("GCOUNT", "1")))
    ext = (card("XTENSION", "'IMAGE   '") + empty + b"END".ljust(80)).ljust(2880)
    path.write_bytes(path.read_bytes() + ext * fits_structure.MAX_HDUS)
    _refused(path, RejectReason.BAD_VALUE, f"more than {fits_structure.MAX_HDUS - 1} extensions")
    path = make_fits("long.fits")
    comments = [b"COMMENT   padding".ljust(80)] * (36 * fits_structure.MAX_HEADER_BLOCKS)
    path.write_bytes(edit_header(path.read_bytes(), 1, lambda cards: cards + comments))
    _refused(path, RejectReason.BAD_VALUE, f"no END card in {fits_structure.MAX_HEADER_BLOCKS} blocks")


BAD_RANGES = [
    ("OVERSAMP", "65.0", "key OVERSAMP of HDU 1 (EXTNAME 'P') is 65.0; it must be >= 1 and <= 64"),
    ("BINNING", "2000", "key BINNING of HDU 1 (EXTNAME 'P') is 2000; it must be >= 1 and <= 1024"),
    ("PIXSCALE", "1E300", "key PIXSCALE of HDU 1 (EXTNAME 'P') is 1e+300 urad; it must be > 0 and <= 1000"),
    ("LINEPER", "5000.0", "key LINEPER of HDU 1 (EXTNAME 'P') is 5000.0 ms; it must be > 0 and <= 1000"),
    ("GAINFACT", "1E4", "key GAINFACT of HDU 1 (EXTNAME 'P') is 10000.0; it must be > 0 and <= 1000"),
    ("SATURATE", "1E8", "key SATURATE of HDU 1 (EXTNAME 'P') is 100000000.0 DN; it must be > 0 and <= 1e+07"),
    ("DARK", "-2E6", "key DARK of HDU 1 (EXTNAME 'P') is -2000000.0 DN; it must be >= -1e+06 and <= 1e+06"),
    ("BZERO", "1E300", "key BZERO of HDU 1 (EXTNAME 'P') is 1e+300 DN"),
    ("BSCALE", "0.0", "key BSCALE of HDU 1 (EXTNAME 'P') is 0.0; it must be > 0"),
]


@pytest.mark.parametrize(("key", "value", "message"), BAD_RANGES)
def test_band_values_have_physical_ranges(make_fits: MakeFile, key: str, value: str, message: str) -> None:
    exc = _refused(_corrupt(make_fits(), 1, key, value.rjust(20)), RejectReason.BAD_VALUE)
    assert exc.message.startswith(message), exc.message


def test_blank_must_be_a_value_of_the_data_type(make_fits: MakeFile) -> None:
    raw = np.zeros((24, 16), dtype=np.int16)
    path = make_fits(bands=("P",), images={"P": raw}, band_cards={"P": {"BLANK": -32768}})
    validate_acquisition(path)
    _refused(_corrupt(path, 1, "BLANK", "100000".rjust(20)), RejectReason.BAD_VALUE, "BLANK", "<= 32767")


@pytest.mark.parametrize(("key", "value", "words"), [
    ("FOCAL", "1E300", "key FOCAL of the primary HDU is 1e+300 mm"),
    ("NSAMP", "10000000", "key NSAMP of the primary HDU is 10000000; it must be >= 1 and <= 1000000"),
    ("PIXPITCH", "-1.0", "key PIXPITCH of the primary HDU is -1.0 um"),
])
def test_geom_values_have_physical_ranges(make_fits: MakeFile, key: str, value: str, words: str) -> None:
    _refused(_corrupt(_geom(make_fits), 0, key, value.rjust(20)), RejectReason.BAD_VALUE, words)


@pytest.mark.parametrize(("table", "column", "value", "words"), [
    ("EPHEM", "VX", 4.5e289, "a velocity (VX, VY, VZ) of inf km/s, outside 6.5 to 8.5 km/s"),
    ("EPHEM", "X", 7.0e4, "a position (X, Y, Z) of 70000.2 km, outside 6500 to 8000 km"),
    ("EPHEM", "T", 1e12, "column T of 1e+12 s, outside -86400 to 86400 s"),
    ("GCP", "LINE", 1e12, "a LINE of 1e+12 lines"),
])
def test_table_values_have_physical_ranges(
    make_fits: MakeFile, table: str, column: str, value: float, words: str
) -> None:
    tables = {"EPHEM": ephem_columns(), "GCP": gcp_columns()}
    tables[table][column] = tables[table][column].copy()
    tables[table][column][-1] = value  # the last sample, so that T stays increasing
    path = make_fits(primary=GEOM_PRIMARY, bands=(), tables=tables)
    _refused(path, RejectReason.BAD_VALUE, words, f"EXTNAME {table!r}")


def test_edges_of_the_ranges_are_accepted(make_fits: MakeFile) -> None:
    cards = {"OVERSAMP": 64.0, "BINNING": 1024, "PIXSCALE": 1000.0, "LINEPER": 1000.0, "GAINFACT": 1000.0,
             "SATURATE": 1e7, "DARK": -1e6}
    band = read_acquisition_header(make_fits(band_cards={"P": cards})).bands[0]
    assert (band.oversamp, band.binning, band.dark_dn, band.saturate_dn) == (64.0, 1024, -1e6, 1e7)


# ---------------------------------------------------------------------------------------------
# 3. Size limits, before any data is read or decompressed
# ---------------------------------------------------------------------------------------------


def test_defaults_are_the_ingest_settings() -> None:
    s = IngestSettings()
    assert (s.max_star_band_pixels, s.max_moon_band_pixels, s.max_file_bytes) == (
        fits_structure.DEFAULT_MAX_STAR_BAND_PIXELS, fits_structure.DEFAULT_MAX_MOON_BAND_PIXELS,
        fits_structure.DEFAULT_MAX_FILE_BYTES)
    assert s.max_star_band_pixels == 4_000_000 and s.max_moon_band_pixels == 400_000_000
    assert s.max_file_bytes == 16 << 30


def _declare_image(path: Path, nx: int, ny: int) -> Path:
    """Make band P of ``path`` declare ``ny x nx`` pixels (its data, and everything after, cut)."""
    data = path.read_bytes()
    data = set_card(set_card(data, 1, "NAXIS1", str(nx).rjust(20)), 1, "NAXIS2", str(ny).rjust(20))
    path.write_bytes(data[: hdu_spans(path.read_bytes())[1].data])
    return path


def test_star_image_beyond_the_pixel_limit_is_too_large_not_truncated(make_fits: MakeFile) -> None:
    path = _declare_image(make_fits(), 2001, 2000)  # 4.002 Mpx; the data are not even there
    exc = _refused(path, RejectReason.TOO_LARGE, "declares 2001 x 2000 (NAXIS1 x NAXIS2) = 4002000 pixels",
                   "4000000 pixels allowed", "STAR")
    assert exc.acq_id == STAR_PRIMARY["ACQ_ID"]
    _refused(path, RejectReason.TRUNCATED, max_star_band_pixels=5_000_000)  # within the limit: truncated


def test_moon_limit_applies_to_moon_files(make_fits: MakeFile) -> None:
    primary = {**STAR_PRIMARY, "ACQTYPE": "MOON", "TARGET": "MOON"}
    cards = {b: {"STARX": None, "STARY": None} for b in ("P", "B0")}
    path = make_fits("moon.fits", primary=primary, band_cards=cards)
    validate_acquisition(path)
    _refused(path, RejectReason.TOO_LARGE, "384 pixels", "MOON file", max_moon_band_pixels=383)
    validate_acquisition(path, max_star_band_pixels=1)  # the STAR limit does not apply
    _declare_image(path, 2001, 2000)
    _refused(path, RejectReason.TRUNCATED)  # 4 Mpx is fine for the Moon


def test_file_size_limit(make_fits: MakeFile) -> None:
    path = make_fits()
    validate_acquisition(path, max_file_bytes=14400)
    _refused(path, RejectReason.TOO_LARGE, "declares 14400 bytes", "more than the 14399 bytes allowed",
             max_file_bytes=14399)


def _bomb(path: Path, head: bytes, data_bytes: int) -> Path:
    comp = zlib.compressobj(1, zlib.DEFLATED, 31)
    parts = [comp.compress(head)]
    chunk = bytes(1 << 20)
    parts += [comp.compress(chunk) for _ in range(data_bytes // len(chunk))]
    path.write_bytes(b"".join(parts) + comp.flush())
    return path


@pytest.mark.parametrize(("acq_type", "nx", "ny"), [("STAR", 2100, 2000), ("MOON", 20001, 20000)])
def test_gzip_bomb_is_refused_without_decompressing(
    make_fits: MakeFile, tmp_path: Path, acq_type: str, nx: int, ny: int
) -> None:
    """A .fits.gz of a few hundred kB declaring gigabytes: refused from its headers, in bounded
    time and memory (the STAR bomb holds all its 16.8 MB of zeros, the MOON one 64 MiB of 1.6 GB)."""
    primary = {**STAR_PRIMARY, "ACQTYPE": acq_type, "TARGET": "MOON" if acq_type == "MOON" else "HIP 32349"}
    plain = make_fits("plain.fits", primary=primary, bands=("P",))
    data = set_card(set_card(plain.read_bytes(), 1, "NAXIS1", str(nx).rjust(20)), 1, "NAXIS2", str(ny).rjust(20))
    head = data[: hdu_spans(plain.read_bytes())[1].data]
    path = _bomb(tmp_path / "bomb.fits.gz", head, min(4 * nx * ny, 64 << 20))
    assert path.stat().st_size < 300_000
    tracemalloc.start()
    t = time.perf_counter()
    try:
        _refused(path, RejectReason.TOO_LARGE, f"{nx} x {ny}", acq_type)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - t < 1.0 and peak < 8 << 20


# ---------------------------------------------------------------------------------------------
# 4. Transient errors propagate, damaged data are verdicts
# ---------------------------------------------------------------------------------------------


def test_a_directory_or_a_fifo_is_an_oserror_not_a_verdict(tmp_path: Path) -> None:
    (tmp_path / "d.fits").mkdir()
    with pytest.raises(OSError) as info:
        validate_acquisition(tmp_path / "d.fits")
    assert not isinstance(info.value, InvalidAcquisitionError) and info.value.errno == errno.EISDIR
    os.mkfifo(tmp_path / "x.fits")
    with deadline(10.0, "the validation"):  # opening a FIFO for reading blocks until a writer comes, unless O_NONBLOCK
        with pytest.raises(OSError) as info:
            validate_acquisition(tmp_path / "x.fits")
        assert info.value.errno == errno.EINVAL and "FIFO" in str(info.value)
        with pytest.raises(OSError):
            sha256_file(tmp_path / "x.fits")


def test_unreadable_file_is_an_oserror(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        validate_acquisition(tmp_path / "absent.fits")
    with pytest.raises(OSError) as info:  # an I/O error of the device: EIO from /proc/self/mem at offset 0
        validate_acquisition(Path("/proc/self/mem"))
    assert not isinstance(info.value, InvalidAcquisitionError)


def test_damaged_gzip_data_are_still_verdicts(star_file: Path, tmp_path: Path) -> None:
    blob = gzip.compress(star_file.read_bytes())
    bad_crc = bytearray(blob)
    bad_crc[-6] ^= 0xFF  # the CRC32 of the trailer: gzip.BadGzipFile, an OSError subclass
    (tmp_path / "crc.fits.gz").write_bytes(bytes(bad_crc))
    _refused(tmp_path / "crc.fits.gz", RejectReason.NOT_FITS, "not a valid gzip file")
    corrupt = bytearray(blob)
    corrupt[20:40] = b"\xff" * 20  # the deflate stream: zlib.error
    (tmp_path / "z.fits.gz").write_bytes(bytes(corrupt))
    exc = _refused(tmp_path / "z.fits.gz", RejectReason.UNREADABLE)
    assert "corrupt" in exc.message
    (tmp_path / "cut.fits.gz").write_bytes(blob[:-3])
    _refused(tmp_path / "cut.fits.gz", RejectReason.TRUNCATED, "ends early")
