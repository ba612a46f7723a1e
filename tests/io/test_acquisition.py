"""Validation of acquisition files: every refusal category, truncation, gzip, scaling."""

from __future__ import annotations

import gzip
import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from astropy.io import fits

from monitor.domain import AcqType, Mission, RejectReason, Satellite
from monitor.fsutil import sha256_file
from monitor.io.acquisition import read_acquisition_header, read_geom_header, validate_acquisition
from monitor.io.errors import InvalidAcquisitionError
from monitor.io.pixels import check_band_data, read_band, read_bands
from monitor.io.tables import read_ephem, read_gcp
from tests.io.conftest import (
    BAND_CARDS,
    GEOM_PRIMARY,
    STAR_PRIMARY,
    MakeFile,
    band_image,
    ephem_columns,
    gcp_columns,
)

ACQ_ID = STAR_PRIMARY["ACQ_ID"]


def _refused(path: Path, reason: RejectReason, *words: str) -> InvalidAcquisitionError:
    with pytest.raises(InvalidAcquisitionError) as info:
        read_acquisition_header(path)
    exc = info.value
    assert exc.reason is reason, exc.message
    for word in words:
        assert word in exc.message, exc.message
    assert exc.message and exc.message[0].isalnum()
    return exc


# ---------------------------------------------------------------------------------------------
# Valid files
# ---------------------------------------------------------------------------------------------


def test_star_header_exact_values(star_file: Path) -> None:
    h = read_acquisition_header(star_file)
    assert h.acq_id == ACQ_ID
    assert h.mission is Mission.PHR and h.satellite is Satellite.PHR1A and h.acq_type is AcqType.STAR
    assert h.target == "HIP 32349" and h.hip == 32349
    assert h.date_obs == datetime(2025, 3, 14, 2, 15, 33, 120000, tzinfo=UTC)
    assert h.sc_pos_km == (6000.5, -3000.25, 2100.125)
    assert h.sc_vel_km_s == (1.5, 3.25, -6.5)
    assert h.ra_deg == 101.2871553 and h.dec_deg == -16.7161159
    assert h.icd == "ICD-1"
    assert [b.band for b in h.bands] == ["P", "B0"]
    p = h.bands[0]
    assert p.shape == (24, 16)
    assert (p.dark_dn, p.gain_factor, p.oversamp, p.binning) == (31.5, 2.25, 2.0, 1)
    assert (p.pixscale_urad, p.lineper_ms, p.saturate_dn) == (1.00775, 0.1029, 4095.0)
    assert (p.star_x, p.star_y, p.bunit) == (7.5, 12.25, "DN")


def test_band_data_and_checksum(star_file: Path) -> None:
    np.testing.assert_array_equal(read_band(star_file, "B0"), band_image(seed=1))
    assert read_band(star_file, "P").dtype == np.float32
    check_band_data(star_file, "P")
    assert sha256_file(star_file) == hashlib.sha256(star_file.read_bytes()).hexdigest()


def test_gzip_file_is_read(make_fits: MakeFile) -> None:
    path = make_fits("star.fits.gz", gz=True)
    assert path.read_bytes()[:2] == b"\x1f\x8b"
    h = read_acquisition_header(path)
    assert h.acq_id == ACQ_ID and len(h.bands) == 2
    np.testing.assert_array_equal(read_band(path, "P"), band_image(seed=0))
    check_band_data(path, "B0")


def test_uint16_with_bzero_and_blank(make_fits: MakeFile) -> None:
    raw = np.arange(24 * 16, dtype=np.int16).reshape(24, 16) - 100
    raw[0, :3] = -32768
    path = make_fits(
        "u16.fits",
        bands=("P",),
        images={"P": raw},
        band_cards={"P": {"BZERO": 32768, "BSCALE": 1, "BLANK": -32768}},
    )
    with fits.open(path, do_not_scale_image_data=True) as f:
        assert f[1].header["BITPIX"] == 16 and f[1].header["BZERO"] == 32768
    data = read_band(path, "P")
    expected = raw.astype(np.float64) + 32768.0
    expected[0, :3] = np.nan
    np.testing.assert_array_equal(data, expected.astype(np.float32))
    check_band_data(path, "P")


def test_missing_timesys_and_binning_default(make_fits: MakeFile) -> None:
    path = make_fits(primary={**STAR_PRIMARY, "TIMESYS": None}, band_cards={"P": {"BINNING": None}})
    h = read_acquisition_header(path)
    assert h.bands[0].binning == 1


def test_date_obs_with_z_suffix(make_fits: MakeFile) -> None:
    path = make_fits(primary={**STAR_PRIMARY, "DATE-OBS": "2025-03-14T02:15:33Z"})
    assert read_acquisition_header(path).date_obs == datetime(2025, 3, 14, 2, 15, 33, tzinfo=UTC)


def test_geom_file(geom_file: Path) -> None:
    h = read_acquisition_header(geom_file)
    assert h.acq_type is AcqType.GEOM and h.bands == () and h.ra_deg is None
    g = read_geom_header(geom_file)
    assert (g.focal_mm, g.pixpitch_um, g.nsamp, g.lineper_ms) == (12905.0, 13.0, 20000, 0.1)
    assert g.t0_fore == datetime(2025, 3, 14, 10, 14, 25, 250000, tzinfo=UTC)
    assert (g.pitch_fore_deg, g.pitch_aft_deg) == (17.5, -16.25)
    ephem = read_ephem(geom_file)
    np.testing.assert_array_equal(ephem["Y"], ephem_columns()["Y"])
    gcp = read_gcp(geom_file)
    assert gcp["ROLE"].tolist() == gcp_columns()["ROLE"].tolist()
    np.testing.assert_array_equal(gcp["SAMPLE"], gcp_columns()["SAMPLE"])


def test_geom_header_of_star_file_refused(star_file: Path) -> None:
    with pytest.raises(InvalidAcquisitionError) as info:
        read_geom_header(star_file)
    assert info.value.reason is RejectReason.BAD_VALUE


# ---------------------------------------------------------------------------------------------
# Not FITS, truncated, trailing bytes
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content", [b"", b"<html>502 Bad Gateway</html>\n", b"SIMPLE  =                    F" + b" " * 50]
)
def test_not_fits(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "x.fits"
    path.write_bytes(content)
    exc = _refused(path, RejectReason.NOT_FITS, "x.fits", "not a FITS file")
    assert exc.acq_id is None


def test_corrupt_gzip_is_not_fits(tmp_path: Path) -> None:
    path = tmp_path / "x.fits.gz"
    path.write_bytes(b"\x1f\x8b" + b"garbage" * 10)
    with pytest.raises(InvalidAcquisitionError) as info:
        read_acquisition_header(path)
    assert info.value.reason in (RejectReason.NOT_FITS, RejectReason.UNREADABLE)


def _cut_points(size: int) -> dict[str, int]:
    # star file layout: primary header [0, 2880), P header [2880, 5760), P data [5760, 8640),
    # B0 header [8640, 11520), B0 data [11520, 14400)
    assert size == 14400
    return {
        "inside primary header": 100,
        "inside image header": 4000,
        "inside first data block": 5760 + 1000,
        "block boundary (astropy reads silently)": 11520,
        "inside last data block": 11520 + 1536,
        "last byte missing": size - 1,
    }


@pytest.mark.parametrize(
    "where",
    [
        "inside primary header",
        "inside image header",
        "inside first data block",
        "block boundary (astropy reads silently)",
        "inside last data block",
        "last byte missing",
    ],
)
def test_truncated_file_refused(star_file: Path, where: str) -> None:
    data = star_file.read_bytes()
    cut = _cut_points(len(data))[where]
    star_file.write_bytes(data[:cut])
    exc = _refused(star_file, RejectReason.TRUNCATED, "truncated")
    if cut >= 2880:
        assert exc.acq_id == ACQ_ID  # primary header was readable
    with pytest.raises(InvalidAcquisitionError) as info:
        check_band_data(star_file, "P")
    assert info.value.reason is RejectReason.TRUNCATED


def test_cut_right_after_the_primary_hdu_is_truncated(star_file: Path) -> None:
    # A cut exactly between two HDUs leaves a structurally complete FITS file: no declared byte
    # is missing. A STAR file that ends after its primary HDU is reported truncated (our writer
    # sets no NEXTEND that would tell); see tests/io/test_limits.py for NEXTEND.
    star_file.write_bytes(star_file.read_bytes()[:2880])
    exc = _refused(star_file, RejectReason.TRUNCATED, "truncated on an HDU boundary", "primary HDU")
    assert exc.acq_id == ACQ_ID


def test_truncated_gzip_refused(make_fits: MakeFile) -> None:
    path = make_fits("star.fits.gz", gz=True)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    _refused(path, RejectReason.TRUNCATED, "truncated")


def test_gzip_of_truncated_fits_refused(star_file: Path, tmp_path: Path) -> None:
    path = tmp_path / "cut.fits.gz"
    path.write_bytes(gzip.compress(star_file.read_bytes()[:11520]))
    _refused(path, RejectReason.TRUNCATED, "truncated")


def test_trailing_garbage_refused_but_zero_padding_accepted(star_file: Path) -> None:
    data = star_file.read_bytes()
    star_file.write_bytes(data + b"\0" * 2880)
    read_acquisition_header(star_file)
    star_file.write_bytes(data + b"hello world" * 300)
    _refused(star_file, RejectReason.BAD_VALUE, "after its last HDU")


# ---------------------------------------------------------------------------------------------
# Missing keys and bad values
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key", ["ACQ_ID", "MISSION", "SATELLIT", "ACQTYPE", "TARGET", "DATE-OBS", "SC_POSZ", "SC_VELX", "RA_TARG", "ICD"]
)
def test_missing_primary_key(make_fits: MakeFile, key: str) -> None:
    exc = _refused(make_fits(primary={**STAR_PRIMARY, key: None}), RejectReason.MISSING_KEY, key, "primary HDU")
    assert exc.acq_id == (None if key == "ACQ_ID" else ACQ_ID)


@pytest.mark.parametrize("key", ["BUNIT", "DARK", "GAINFACT", "OVERSAMP", "PIXSCALE", "LINEPER", "SATURATE", "STARX"])
def test_missing_band_key(make_fits: MakeFile, key: str) -> None:
    path = make_fits(band_cards={"B0": {key: None}})
    _refused(path, RejectReason.MISSING_KEY, key, "'B0'")


BAD_PRIMARY: list[tuple[str, Any, str]] = [
    ("ACQTYPE", "SKY", "ACQTYPE"),
    ("MISSION", "SPOT", "MISSION"),
    ("SATELLIT", "PNEO3", "does not belong"),
    ("SATELLIT", "PHR1C", "SATELLIT"),
    ("DATE-OBS", "14/03/2025 02:15", "ISO 8601"),
    ("DATE-OBS", "2025-03-14", "ISO 8601"),
    ("DATE-OBS", "2025-03-14T02:15:33+02:00", "not a UTC time"),
    ("TIMESYS", "TT", "TIMESYS"),
    ("ICD", "ICD-2", "ICD-2"),
    ("SC_POSX", 6000.5e3, "magnitude"),
    ("SC_VELY", 3250.0, "velocity"),
    ("SC_POSY", "far", "must be a number"),
    ("RA_TARG", 360.0, "RA_TARG"),
    ("DEC_TARG", -91.0, "DEC_TARG"),
    ("TARGET", "Sirius", "HIP <number>"),
    # TARGET not in the reference star list, RA_TARG/DEC_TARG away from it: a rule of the ingest
    # outside io (tests/test_reference_stars.py)
    ("ACQ_ID", "PHR1A STAR", "white space"),
]


@pytest.mark.parametrize(("key", "value", "words"), BAD_PRIMARY)
def test_bad_primary_value(make_fits: MakeFile, key: str, value: Any, words: str) -> None:
    _refused(make_fits(primary={**STAR_PRIMARY, key: value}), RejectReason.BAD_VALUE, words)


BAD_BAND: list[tuple[str, Any]] = [
    ("GAINFACT", 0.0),
    ("GAINFACT", -1.0),
    ("OVERSAMP", 0.5),
    ("BINNING", 0),
    ("BINNING", 1.5),
    ("PIXSCALE", -1.0),
    ("LINEPER", 0.0),
    ("SATURATE", 0.0),
    ("BUNIT", "W/m2"),
    ("DARK", "thirty"),
    ("STARX", 1000.0),
]


@pytest.mark.parametrize(("key", "value"), BAD_BAND)
def test_bad_band_value(make_fits: MakeFile, key: str, value: Any) -> None:
    _refused(make_fits(band_cards={"P": {key: value}}), RejectReason.BAD_VALUE, key, "'P'")


def test_moon_target_must_be_moon(make_fits: MakeFile) -> None:
    primary = {**STAR_PRIMARY, "ACQTYPE": "MOON", "TARGET": "LUNA"}
    _refused(make_fits(primary=primary), RejectReason.BAD_VALUE, "MOON")
    cards = {b: {"STARX": None, "STARY": None} for b in ("P", "B0")}
    path = make_fits("moon.fits", primary={**primary, "TARGET": "MOON"}, band_cards=cards)
    assert read_acquisition_header(path).bands[0].star_x is None


def test_unknown_band(make_fits: MakeFile) -> None:
    exc = _refused(make_fits(bands=("P", "NIR")), RejectReason.UNKNOWN_BAND, "'NIR'", "PHR")
    assert exc.acq_id == ACQ_ID


def test_image_without_extname(make_fits: MakeFile) -> None:
    _refused(make_fits(band_cards={"P": {"EXTNAME": None}}), RejectReason.MISSING_KEY, "EXTNAME")


def test_duplicate_band(make_fits: MakeFile) -> None:
    _refused(make_fits(bands=("P", "P")), RejectReason.BAD_VALUE, "twice")


def test_no_image(make_fits: MakeFile) -> None:
    _refused(make_fits(bands=()), RejectReason.TRUNCATED, "without any image HDU")  # ends after the primary HDU
    _refused(make_fits("t.fits", bands=(), tables={"EPHEM": ephem_columns()}), RejectReason.BAD_VALUE, "no image HDU")


def test_image_not_2d(make_fits: MakeFile) -> None:
    cube = np.ones((2, 3, 4), dtype=np.float32)
    _refused(make_fits(bands=("P",), images={"P": cube}), RejectReason.BAD_VALUE, "NAXIS = 3")


def test_ephem_table_columns_checked(make_fits: MakeFile) -> None:
    cols = ephem_columns()
    del cols["VZ"]
    _refused(make_fits(tables={"EPHEM": cols}), RejectReason.MISSING_KEY, "VZ", "EPHEM")
    path = make_fits("ok.fits", tables={"EPHEM": ephem_columns()})
    read_acquisition_header(path)
    np.testing.assert_array_equal(read_ephem(path)["T"], ephem_columns()["T"])


# ---------------------------------------------------------------------------------------------
# GEOM specifics
# ---------------------------------------------------------------------------------------------


def test_geom_needs_tables(make_fits: MakeFile) -> None:
    # Ends after EPHEM (or after the primary HDU), where the writer puts GCP next: truncated.
    path = make_fits(primary=GEOM_PRIMARY, bands=(), tables={"EPHEM": ephem_columns()})
    _refused(path, RejectReason.TRUNCATED, "GCP", "HDU 1")
    _refused(make_fits("p.fits", primary=GEOM_PRIMARY, bands=()), RejectReason.TRUNCATED, "GCP")
    path = make_fits("g.fits", primary=GEOM_PRIMARY, bands=(), tables={"GCP": gcp_columns()})
    _refused(path, RejectReason.MISSING_KEY, "EPHEM")


def test_geom_needs_control_and_check_points(make_fits: MakeFile) -> None:
    tables = {"EPHEM": ephem_columns(), "GCP": gcp_columns(n_check=0)}
    _refused(make_fits(primary=GEOM_PRIMARY, bands=(), tables=tables), RejectReason.BAD_VALUE, "CHECK")


def test_geom_bad_role(make_fits: MakeFile) -> None:
    gcp = gcp_columns()
    gcp["ROLE"] = np.where(gcp["ROLE"] == "CHECK", "TIE", gcp["ROLE"])
    tables = {"EPHEM": ephem_columns(), "GCP": gcp}
    _refused(make_fits(primary=GEOM_PRIMARY, bands=(), tables=tables), RejectReason.BAD_VALUE, "ROLE", "TIE")


@pytest.mark.parametrize("key", ["FOCAL", "NSAMP", "T0_AFT", "PITCH_F"])
def test_geom_missing_key(make_fits: MakeFile, key: str) -> None:
    tables = {"EPHEM": ephem_columns(), "GCP": gcp_columns()}
    path = make_fits(primary={**GEOM_PRIMARY, key: None}, bands=(), tables=tables)
    _refused(path, RejectReason.MISSING_KEY, key)


# ---------------------------------------------------------------------------------------------
# All-NaN bands
# ---------------------------------------------------------------------------------------------


def test_all_nan_band(make_fits: MakeFile) -> None:
    nan = np.full((24, 16), np.nan, dtype=np.float32)
    path = make_fits(images={"B0": nan})
    read_acquisition_header(path)  # the header is fine
    check_band_data(path, "P")
    with pytest.raises(InvalidAcquisitionError) as info:
        check_band_data(path, "B0")
    assert info.value.reason is RejectReason.ALL_NAN
    assert "'B0'" in info.value.message and info.value.acq_id == ACQ_ID


def test_partly_nan_band_is_fine(make_fits: MakeFile, monkeypatch: pytest.MonkeyPatch) -> None:
    img = np.full((24, 16), np.nan, dtype=np.float32)
    img[-1, -1] = 5.0  # only the last pixel of the last strip holds a number
    path = make_fits(images={"P": img})
    monkeypatch.setattr("monitor.io.pixels.STRIP_BYTES", 16 * 4 * 5)  # 5 rows per strip
    check_band_data(path, "P")
    assert np.isnan(read_band(path, "P")[:-1]).all()


def test_all_blank_integer_band(make_fits: MakeFile) -> None:
    raw = np.full((24, 16), -32768, dtype=np.int16)
    path = make_fits(bands=("P",), images={"P": raw}, band_cards={"P": {"BLANK": -32768}})
    with pytest.raises(InvalidAcquisitionError) as info:
        check_band_data(path, "P")
    assert info.value.reason is RejectReason.ALL_NAN


def test_unknown_band_in_readers(star_file: Path) -> None:
    with pytest.raises(InvalidAcquisitionError) as info:
        read_band(star_file, "B3")
    assert info.value.reason is RejectReason.UNKNOWN_BAND


def test_band_cards_fixture_is_valid() -> None:
    assert BAND_CARDS["BUNIT"] == "DN"


# ---------------------------------------------------------------------------------------------
# One-pass readers: validate_acquisition (ingest) and read_bands (photometry)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [False, True])
def test_read_bands_equals_read_band(make_fits: MakeFile, monkeypatch: pytest.MonkeyPatch, gz: bool) -> None:
    raw = np.arange(24 * 16, dtype=np.int16).reshape(24, 16) - 100
    raw[3, 4] = -32768  # BLANK -> NaN
    partly_nan = band_image(seed=3)
    partly_nan[0, :] = np.nan
    path = make_fits(
        "acq.fits.gz" if gz else "acq.fits",
        gz=gz,
        bands=("P", "B0", "B1"),
        images={"B0": raw, "B1": partly_nan},
        band_cards={"B0": {"BLANK": -32768, "BZERO": 1000.0}},
    )
    monkeypatch.setattr("monitor.io.pixels.STRIP_BYTES", 16 * 4 * 5)  # several strips per band
    images = read_bands(path)
    assert list(images) == ["P", "B0", "B1"]
    for band, image in images.items():
        assert image.dtype == np.float32 and image.shape == (24, 16)
        np.testing.assert_array_equal(image, read_band(path, band))
    assert np.isnan(images["B0"][3, 4]) and images["B0"][0, 0] == 900.0  # physical DN: raw + BZERO
    np.testing.assert_array_equal(images["P"], band_image(seed=0))
    assert np.isnan(images["B1"][0]).all() and np.isfinite(images["B1"][1:]).all()


def test_read_bands_refuses_truncated_file(star_file: Path) -> None:
    star_file.write_bytes(star_file.read_bytes()[:-2880])
    with pytest.raises(InvalidAcquisitionError) as info:
        read_bands(star_file)
    assert info.value.reason is RejectReason.TRUNCATED


@pytest.mark.parametrize("gz", [False, True])
def test_validate_acquisition_equals_the_separate_checks(make_fits: MakeFile, gz: bool) -> None:
    star = make_fits("star.fits.gz" if gz else "star.fits", gz=gz)
    assert validate_acquisition(star) == (read_acquisition_header(star), None)
    tables = {"EPHEM": ephem_columns(), "GCP": gcp_columns()}
    geom = make_fits("geom.fits", primary=GEOM_PRIMARY, bands=(), tables=tables)
    header, geom_header = validate_acquisition(geom)
    assert header == read_acquisition_header(geom) and header.acq_type is AcqType.GEOM
    assert geom_header == read_geom_header(geom)


@pytest.mark.parametrize("gz", [False, True])
def test_validate_acquisition_refuses_a_file_whose_bands_are_all_nan(make_fits: MakeFile, gz: bool) -> None:
    nan = np.full((24, 16), np.nan, dtype=np.float32)
    blank = np.full((24, 16), -32768, dtype=np.int16)
    path = make_fits(
        "nan.fits.gz" if gz else "nan.fits", gz=gz, bands=("P", "B0", "B1"), images={"P": nan, "B0": blank, "B1": nan},
        band_cards={"B0": {"BLANK": -32768}},
    )
    read_acquisition_header(path)  # the headers are fine
    with pytest.raises(InvalidAcquisitionError) as info:
        validate_acquisition(path)
    assert info.value.reason is RejectReason.ALL_NAN
    assert "every band ('P', 'B0', 'B1')" in info.value.message and info.value.acq_id == ACQ_ID


@pytest.mark.parametrize("gz", [False, True])
def test_validate_acquisition_keeps_a_file_with_one_good_band(make_fits: MakeFile, gz: bool) -> None:
    """Each band gets its own verdict (ICD 1.2): an all-NaN band does not lose the good ones."""
    nan = np.full((24, 16), np.nan, dtype=np.float32)
    partly = band_image(seed=5)
    partly[:-1] = np.nan  # a number only in the last row
    path = make_fits("a.fits.gz" if gz else "a.fits", gz=gz, bands=("P", "B0", "B1"), images={"P": nan, "B0": partly,
                                                                                             "B1": nan})
    header, _ = validate_acquisition(path)
    assert [b.band for b in header.bands] == ["P", "B0", "B1"]
    with pytest.raises(InvalidAcquisitionError) as info:
        check_band_data(path, "P")  # the per-band test still names the empty band
    assert info.value.reason is RejectReason.ALL_NAN and "'P'" in info.value.message
    ints = make_fits("i.fits", bands=("P", "B0"), images={"P": nan, "B0": np.ones((24, 16), dtype=np.int16)})
    assert validate_acquisition(ints)[0].acq_id == ACQ_ID  # integers without BLANK always hold data


def test_validate_acquisition_refuses_bad_headers_first(make_fits: MakeFile) -> None:
    nan = np.full((24, 16), np.nan, dtype=np.float32)
    path = make_fits(primary={**STAR_PRIMARY, "DATE-OBS": None}, images={"B0": nan})
    with pytest.raises(InvalidAcquisitionError) as info:
        validate_acquisition(path)
    assert info.value.reason is RejectReason.MISSING_KEY and "DATE-OBS" in info.value.message
