"""Writer: ICD-conformant round trip through the reader, integer types, gzip, atomicity."""

from __future__ import annotations

import dataclasses
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from astropy.io import fits

from monitor.domain import AcqType, AcquisitionHeader, BandHeader, GeomHeader, Mission, RejectReason, Satellite
from monitor.fsutil import sha256_file
from monitor.io.acquisition import read_acquisition_header, read_geom_header
from monitor.io.errors import InvalidAcquisitionError
from monitor.io.fits_writer import (
    BAND_CARD_ORDER,
    GEOM_CARD_ORDER,
    PRIMARY_CARD_ORDER,
    band_cards,
    format_fits_time,
    primary_cards,
    write_acquisition,
)
from monitor.io.icd_keys import BAND_KEYS, GEOM_KEYS, PRIMARY_KEYS
from monitor.io.pixels import read_band
from monitor.io.tables import read_ephem, read_gcp
from tests.io.conftest import ephem_columns, gcp_columns


def _header(bands: tuple[BandHeader, ...]) -> AcquisitionHeader:
    return AcquisitionHeader(
        acq_id="PHR1B-STAR-20250601T231500-0003",
        mission=Mission.PHR,
        satellite=Satellite.PHR1B,
        acq_type=AcqType.STAR,
        target="HIP 32349",
        date_obs=datetime(2025, 6, 1, 23, 15, 0, 123456, tzinfo=UTC),
        sc_pos_km=(1234.5678901234, -6543.21, 2222.0),
        sc_vel_km_s=(7.1, 0.1234567890123, -2.0),
        ra_deg=101.2871553,
        dec_deg=-16.7161159,
        icd="ICD-1",
        bands=bands,
    )


def _band(name: str, shape: tuple[int, int] = (12, 8)) -> BandHeader:
    return BandHeader(
        band=name,
        shape=shape,
        dark_dn=42.125,
        gain_factor=3.5,
        oversamp=3.0,
        binning=1,
        pixscale_urad=4.031,
        lineper_ms=0.4116,
        saturate_dn=4095.0,
        star_x=3.25,
        star_y=6.5,
    )


@pytest.fixture
def header() -> AcquisitionHeader:
    return _header((_band("B2"), _band("B3")))


def _images(seed: int = 0, offset: float = 50.0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {b: offset + rng.uniform(0.0, 1000.0, (12, 8)).round() for b in ("B2", "B3")}


def test_round_trip_float32(tmp_path: Path, header: AcquisitionHeader) -> None:
    path = tmp_path / f"{header.acq_id}.fits"
    images = _images()
    images["B3"][0, 0] = np.nan
    write_acquisition(path, header, images)
    assert read_acquisition_header(path) == header  # exact values, microsecond time included
    np.testing.assert_array_equal(read_band(path, "B3"), images["B3"].astype(np.float32))
    assert (tmp_path / f"{header.acq_id}.fits.done").is_file()
    assert not list(tmp_path.glob("*.part"))
    with fits.open(path) as f:  # an ordinary FITS file for astropy too
        assert f[0].header["TIMESYS"] == "UTC" and f[1].header["EXTNAME"] == "B2"


@pytest.mark.parametrize(("dtype", "offset"), [("uint16", 50.0), ("int16", 50.0), ("int16", 40000.0)])
def test_round_trip_integer(tmp_path: Path, header: AcquisitionHeader, dtype: Any, offset: float) -> None:
    path = tmp_path / "int.fits"
    images = _images(offset=offset)
    images["B2"][3, 4] = np.nan
    write_acquisition(path, header, images, dtype=dtype)
    with fits.open(path, do_not_scale_image_data=True) as f:
        assert f[1].header["BITPIX"] == 16
        bzero = f[1].header["BZERO"]
        assert f[1].header["BLANK"] in (-32768, 32767)
    if dtype == "uint16":
        assert bzero == 32768
    elif offset > 32767:
        assert bzero != 0  # values shifted into the int16 range
    assert read_acquisition_header(path) == header
    for band in ("B2", "B3"):
        np.testing.assert_array_equal(read_band(path, band), images[band].astype(np.float32))


def test_integer_overflow_refused(tmp_path: Path, header: AcquisitionHeader) -> None:
    images = _images()
    images["B2"][0, 0] = 1e6
    with pytest.raises(ValueError, match="does not fit"):
        write_acquisition(tmp_path / "x.fits", header, images, dtype="int16")
    assert not list(tmp_path.iterdir())


def test_gzip_output_is_deterministic(tmp_path: Path, header: AcquisitionHeader) -> None:
    a, b = tmp_path / "a.fits.gz", tmp_path / "b.fits.gz"
    write_acquisition(a, header, _images())
    write_acquisition(b, header, _images())
    assert a.read_bytes()[:2] == b"\x1f\x8b"
    assert sha256_file(a) == sha256_file(b)
    assert read_acquisition_header(a) == header


def test_geom_round_trip(tmp_path: Path) -> None:
    header = AcquisitionHeader(
        acq_id="PNEO4-GEOM-20250601T101500-0001",
        mission=Mission.PNEO,
        satellite=Satellite.PNEO4,
        acq_type=AcqType.GEOM,
        target="SALON",
        date_obs=datetime(2025, 6, 1, 10, 15, tzinfo=UTC),
        sc_pos_km=(7000.0, 0.0, 0.0),
        sc_vel_km_s=(0.0, 7.5, 0.0),
        ra_deg=None,
        dec_deg=None,
        icd="ICD-1",
    )
    geom = GeomHeader(12905.0, 13.0, 20000, 0.1, datetime(2025, 6, 1, 10, 14, 30, 5, tzinfo=UTC),
                      datetime(2025, 6, 1, 10, 15, 30, tzinfo=UTC), 18.0, -17.5)  # fmt: skip
    path = tmp_path / "geom.fits"
    write_acquisition(path, header, {}, geom=geom, ephem=ephem_columns(), gcp=gcp_columns())
    assert read_acquisition_header(path) == header
    assert read_geom_header(path) == geom
    np.testing.assert_array_equal(read_ephem(path)["X"], ephem_columns()["X"])
    assert read_gcp(path)["ID"].tolist() == gcp_columns()["ID"].tolist()


def test_extra_primary_overrides_and_deletes(tmp_path: Path, header: AcquisitionHeader) -> None:
    path = tmp_path / "bad.fits"
    write_acquisition(path, header, _images(), extra_primary={"DATE-OBS": None, "ORIGIN": "test"})
    with fits.open(path) as f:
        assert "DATE-OBS" not in f[0].header and f[0].header["ORIGIN"] == "test"
    with pytest.raises(InvalidAcquisitionError) as info:
        read_acquisition_header(path)
    assert info.value.reason is RejectReason.MISSING_KEY


def test_omit_leaves_out_the_cards_of_header_fields(tmp_path: Path, header: AcquisitionHeader) -> None:
    path = tmp_path / "bad.fits"
    write_acquisition(path, header, _images(), omit=("date_obs", "sc_pos_km"))
    with fits.open(path) as f:
        keys = set(f[0].header)
    assert not keys & {"DATE-OBS", "SC_POSX", "SC_POSY", "SC_POSZ"}
    assert {"ACQ_ID", "TIMESYS", "SC_VELX", "ICD"} <= keys
    with pytest.raises(InvalidAcquisitionError) as info:
        read_acquisition_header(path)
    assert info.value.reason is RejectReason.MISSING_KEY
    with pytest.raises(ValueError, match="not primary-header fields"):
        write_acquisition(tmp_path / "x.fits", header, _images(), omit=("bands",))
    assert not (tmp_path / "x.fits").exists()


def test_images_must_match_bands(tmp_path: Path, header: AcquisitionHeader) -> None:
    with pytest.raises(ValueError, match="do not match"):
        write_acquisition(tmp_path / "x.fits", header, {"B2": _images()["B2"]})
    with pytest.raises(ValueError, match="shape"):
        write_acquisition(tmp_path / "x.fits", header, {"B2": np.zeros((3, 3)), "B3": np.zeros((12, 8))})


def test_no_done_marker(tmp_path: Path, header: AcquisitionHeader) -> None:
    write_acquisition(tmp_path / "x.fits", header, _images(), done_marker=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.fits"]


def test_written_under_part_name_then_renamed(
    tmp_path: Path, header: AcquisitionHeader, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[list[str], int]] = []
    real_replace = os.replace

    def spy(src: Any, dst: Any) -> None:
        seen.append((sorted(p.name for p in tmp_path.iterdir()), Path(src).stat().st_size))
        real_replace(src, dst)

    monkeypatch.setattr("monitor.fsutil.os.replace", spy)
    write_acquisition(tmp_path / "x.fits", header, _images())
    # Just before the rename only the complete .part file exists: no final name, no marker.
    assert seen == [(["x.fits.part"], (tmp_path / "x.fits").stat().st_size)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.fits", "x.fits.done"]


def test_interrupted_write_leaves_no_final_file(
    tmp_path: Path, header: AcquisitionHeader, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(self: fits.HDUList, fileobj: Any, *args: Any, **kwargs: Any) -> None:
        fileobj.write(b"SIMPLE  =                    T" + b" " * 50)
        raise KeyboardInterrupt  # e.g. the process is stopped in the middle of the write

    monkeypatch.setattr(fits.HDUList, "writeto", boom)
    with pytest.raises(KeyboardInterrupt):
        write_acquisition(tmp_path / "x.fits", header, _images())
    assert list(tmp_path.iterdir()) == []


def test_format_fits_time() -> None:
    assert format_fits_time(datetime(2025, 3, 14, 2, 15, 33, 120000, tzinfo=UTC)) == "2025-03-14T02:15:33.120"
    assert format_fits_time(datetime(2025, 3, 14, 2, 15, 33, 120001)) == "2025-03-14T02:15:33.120001"


# The cards of the files written before the writer took them from the key tables (issue 19): order
# and comments, so that a simulated file keeps its bytes.
WRITTEN_PRIMARY = [
    ("ACQ_ID", "unique acquisition id"), ("MISSION", "PHR or PNEO"), ("SATELLIT", "satellite"),
    ("ACQTYPE", "STAR, MOON or GEOM"), ("TARGET", "target"), ("DATE-OBS", "UTC time of the image centre"),
    ("TIMESYS", "time scale of DATE-OBS"), ("SC_POSX", "[km] satellite position, GCRS"),
    ("SC_POSY", "[km] satellite position, GCRS"), ("SC_POSZ", "[km] satellite position, GCRS"),
    ("SC_VELX", "[km/s] satellite velocity, GCRS"), ("SC_VELY", "[km/s] satellite velocity, GCRS"),
    ("SC_VELZ", "[km/s] satellite velocity, GCRS"), ("RA_TARG", "[deg] target right ascension, ICRS"),
    ("DEC_TARG", "[deg] target declination, ICRS"), ("ICD", "interface control document version"),
]
WRITTEN_GEOM = [
    ("FOCAL", "[mm] focal length"), ("PIXPITCH", "[um] detector pitch"), ("NSAMP", "detector samples"),
    ("LINEPER", "[ms] line period"), ("T0_FORE", "UTC of line 0, FORE view"), ("T0_AFT", "UTC of line 0, AFT view"),
    ("PITCH_F", "[deg] nominal pitch, FORE view"), ("PITCH_A", "[deg] nominal pitch, AFT view"),
]
WRITTEN_BAND = [
    ("BUNIT", "pixel unit"), ("DARK", "[DN] dark signal per native pixel"),
    ("GAINFACT", "gain factor relative to the reference gain"), ("OVERSAMP", "along-track oversampling factor"),
    ("BINNING", "b x b native pixels summed per pixel"), ("PIXSCALE", "[urad] native pixel IFOV"),
    ("LINEPER", "[ms] native line period"), ("SATURATE", "[DN] native-pixel saturation level"),
    ("STARX", "predicted star column, 0-based"), ("STARY", "predicted star row, 0-based"),
]


def test_cards_keep_the_order_and_comments_of_the_files_written_so_far(header: AcquisitionHeader) -> None:
    geom = GeomHeader(12905.0, 13.0, 20000, 0.1, datetime(2025, 6, 1, 10, 14, 30, tzinfo=UTC),
                      datetime(2025, 6, 1, 10, 15, 30, tzinfo=UTC), 18.0, -17.5)  # fmt: skip
    assert [(k, c) for k, _, c in primary_cards(header, geom)] == WRITTEN_PRIMARY + WRITTEN_GEOM
    assert [(k, c) for k, _, c in band_cards(header.bands[0])] == WRITTEN_BAND
    no_target = dataclasses.replace(header, ra_deg=None, dec_deg=None)
    assert [k for k, _, _ in primary_cards(no_target)] == [k for k, _ in WRITTEN_PRIMARY if "_TARG" not in k]


def test_every_card_is_a_row_of_the_key_table_and_every_domain_row_is_written() -> None:
    """Names, kinds, units and comments come from the ICD key tables (monitor.io.icd_keys); the
    writer orders them. A row that fills a domain attribute, and has a comment, is a card."""
    tables = ((PRIMARY_CARD_ORDER, PRIMARY_KEYS), (GEOM_CARD_ORDER, GEOM_KEYS), (BAND_CARD_ORDER, BAND_KEYS))
    for order, table in tables:
        rows = {key.name: key for key in table}
        assert set(order) <= set(rows) and len(set(order)) == len(order)
        assert {key.name for key in table if key.field} <= set(order)
        assert all(rows[name].comment for name in order)

