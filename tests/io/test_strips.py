"""Bounded-memory strip reading of FITS image HDUs (float32, BZERO-scaled integers, gzip)."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from monitor.domain import RejectReason
from monitor.io.errors import InvalidAcquisitionError
from monitor.io.pixels import read_band
from monitor.io.strips import image_shape, image_strips_factory, iter_image_strips


def _write(path: Path, data: np.ndarray, extname: str = "P", **header: float) -> Path:
    hdu = fits.ImageHDU(data=data, name=extname)
    for k, v in header.items():
        hdu.header[k] = v
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(np.zeros((3, 4), np.float32), name="B"), hdu]).writeto(path)
    return path


def _collect(path: Path, extname: str, rows: int) -> np.ndarray:
    blocks = []
    expected_r0 = 0
    for r0, block in iter_image_strips(path, extname, rows):
        assert r0 == expected_r0
        assert block.dtype == np.float32 and block.flags.c_contiguous
        assert block.shape[0] <= rows
        blocks.append(block)
        expected_r0 += block.shape[0]
    return np.concatenate(blocks)


def test_float32_with_nan(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    data = rng.normal(100.0, 5.0, (101, 37)).astype(np.float32)
    data[50, 3] = np.nan
    path = _write(tmp_path / "f.fits", data)
    out = _collect(path, "P", 16)
    np.testing.assert_array_equal(out, data)
    assert image_shape(path, "P") == (101, 37)


def test_uint16_bzero_is_scaled_per_strip(tmp_path: Path) -> None:
    data = np.array([[0, 1, 32767], [32768, 40000, 65535]] * 20, dtype=np.uint16)
    path = tmp_path / "u.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(data=data, name="NIR")]).writeto(path)
    with fits.open(path) as hdul:  # astropy stores uint16 as int16 + BZERO 32768
        assert hdul["NIR"].header["BITPIX"] == 16 and hdul["NIR"].header["BZERO"] == 32768
    out = _collect(path, "NIR", 7)
    np.testing.assert_array_equal(out, data.astype(np.float32))


def test_int16_bscale_blank(tmp_path: Path) -> None:
    raw = np.arange(-50, 50, dtype=np.int16).reshape(20, 5)
    hdu = fits.ImageHDU(data=raw, name="G", do_not_scale_image_data=True)
    hdu.header["BSCALE"] = 0.5
    hdu.header["BZERO"] = 1000.0
    hdu.header["BLANK"] = -50
    path = tmp_path / "i.fits"
    fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(path)
    out = _collect(path, "G", 6)
    expected = 1000.0 + 0.5 * raw.astype(np.float32)
    expected[0, 0] = np.nan
    np.testing.assert_array_equal(out, expected)


def test_gzip_is_streamed(tmp_path: Path) -> None:
    data = np.arange(64 * 9, dtype=np.float32).reshape(64, 9)
    plain = _write(tmp_path / "g.fits", data, extname="R")
    gz = tmp_path / "g.fits.gz"
    with open(plain, "rb") as src, gzip.open(gz, "wb") as dst:
        shutil.copyfileobj(src, dst)
    np.testing.assert_array_equal(_collect(gz, "R", 10), data)
    factory = image_strips_factory(gz, "R", 64)
    assert sum(b.shape[0] for _, b in factory()) == 64
    assert sum(b.shape[0] for _, b in factory()) == 64  # a fresh iterator each call


def test_errors(tmp_path: Path) -> None:
    path = _write(tmp_path / "e.fits", np.zeros((4, 4), np.float32))
    with pytest.raises(KeyError):
        list(iter_image_strips(path, "NOPE", 2))
    with pytest.raises(ValueError):
        list(iter_image_strips(path, "P", 0))



@pytest.mark.parametrize("gz", [False, True])
def test_strips_and_the_band_reader_decode_alike(tmp_path: Path, gz: bool) -> None:
    """One pixel decoder (monitor.io.pixels.iter_strips) behind both readers: the same values,
    BLANK and BZERO included, whatever the strip size."""
    raw = np.arange(-300, 300, dtype=np.int16).reshape(40, 15)
    hdu = fits.ImageHDU(data=raw, name="P", do_not_scale_image_data=True)
    hdu.header["BZERO"] = 32768
    hdu.header["BLANK"] = -300
    floats = np.linspace(0.0, 1.0, 40 * 7, dtype=np.float32).reshape(40, 7)
    floats[3, 4] = np.nan
    path = tmp_path / "x.fits"
    fits.HDUList([fits.PrimaryHDU(), hdu, fits.ImageHDU(data=floats, name="B0")]).writeto(path)
    if gz:
        path.write_bytes(gzip.compress(path.read_bytes()))
    for band in ("P", "B0"):
        whole = read_band(path, band)
        assert np.array_equal(_collect(path, band, 9), whole, equal_nan=True)
    assert np.isnan(read_band(path, "P")[0, 0]) and read_band(path, "P")[0, 1] == 32768.0 - 299.0


def test_a_truncated_image_is_a_verdict(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.fits", np.ones((64, 9), np.float32))
    path.write_bytes(path.read_bytes()[:-2000])
    with pytest.raises(InvalidAcquisitionError) as info:
        _collect(path, "P", 16)
    assert info.value.reason is RejectReason.TRUNCATED
