"""Fixtures building tiny ICD-1 FITS files with astropy directly (independent of our writer)."""

from __future__ import annotations

import gzip
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from astropy.io import fits

# Sirius (HIP 32349) as in the reference list: a valid STAR target.
STAR_PRIMARY: dict[str, Any] = {
    "ACQ_ID": "PHR1A-STAR-20250314T021533-0042",
    "MISSION": "PHR",
    "SATELLIT": "PHR1A",
    "ACQTYPE": "STAR",
    "TARGET": "HIP 32349",
    "DATE-OBS": "2025-03-14T02:15:33.120",
    "TIMESYS": "UTC",
    "SC_POSX": 6000.5,
    "SC_POSY": -3000.25,
    "SC_POSZ": 2100.125,
    "SC_VELX": 1.5,
    "SC_VELY": 3.25,
    "SC_VELZ": -6.5,
    "RA_TARG": 101.2871553,
    "DEC_TARG": -16.7161159,
    "ICD": "ICD-1",
}

BAND_CARDS: dict[str, Any] = {
    "BUNIT": "DN",
    "DARK": 31.5,
    "GAINFACT": 2.25,
    "OVERSAMP": 2.0,
    "BINNING": 1,
    "PIXSCALE": 1.00775,
    "LINEPER": 0.1029,
    "SATURATE": 4095.0,
    "STARX": 7.5,
    "STARY": 12.25,
}

GEOM_PRIMARY: dict[str, Any] = {
    **{k: v for k, v in STAR_PRIMARY.items() if k not in ("RA_TARG", "DEC_TARG")},
    "ACQ_ID": "PHR1A-GEOM-20250314T101500-0007",
    "ACQTYPE": "GEOM",
    "TARGET": "SALON",
    "FOCAL": 12905.0,
    "PIXPITCH": 13.0,
    "NSAMP": 20000,
    "LINEPER": 0.1,
    "T0_FORE": "2025-03-14T10:14:25.250000",
    "T0_AFT": "2025-03-14T10:15:31.500000",
    "PITCH_F": 17.5,
    "PITCH_A": -16.25,
}

MakeFile = Callable[..., Path]


def band_image(shape: tuple[int, int] = (24, 16), seed: int = 0) -> np.ndarray:
    """A small positive float image (DN)."""
    rng = np.random.default_rng(seed)
    return (40.0 + rng.uniform(0.0, 100.0, shape)).astype(np.float32)


def ephem_columns(n: int = 5) -> dict[str, np.ndarray]:
    t = np.linspace(-20.0, 20.0, n)
    return {
        "T": t,
        "X": 7000.0 + 0.01 * t,
        "Y": 7.5 * t,
        "Z": np.zeros(n),
        "VX": np.zeros(n),
        "VY": np.full(n, 7.5),
        "VZ": np.zeros(n),
    }


def gcp_columns(n_control: int = 4, n_check: int = 2) -> dict[str, np.ndarray]:
    ids = [f"C{i:02d}" for i in range(n_control)] + [f"K{i:02d}" for i in range(n_check)]
    roles = ["CONTROL"] * n_control + ["CHECK"] * n_check
    n = len(ids)
    rows = np.repeat(np.arange(n), 2)
    return {
        "ID": np.array(ids)[rows],
        "ROLE": np.array(roles)[rows],
        "LAT": 43.6 + 0.01 * rows,
        "LON": 5.1 + 0.01 * rows,
        "H": 100.0 + rows,
        "VIEW": np.array(["FORE", "AFT"] * n),
        "LINE": 1000.0 + 10.0 * rows,
        "SAMPLE": 9000.0 + 5.0 * rows,
    }


def _table(name: str, columns: Mapping[str, np.ndarray]) -> fits.BinTableHDU:
    cols = []
    for key, arr in columns.items():
        arr = np.asarray(arr)
        if arr.dtype.kind == "U":
            cols.append(fits.Column(name=key, format=f"{max(1, arr.dtype.itemsize // 4)}A", array=arr))
        else:
            cols.append(fits.Column(name=key, format="D", array=arr.astype(np.float64)))
    return fits.BinTableHDU.from_columns(cols, name=name)


def build_hdul(
    primary: Mapping[str, Any] | None = None,
    bands: Sequence[str] = ("P", "B0"),
    *,
    band_cards: Mapping[str, Mapping[str, Any]] | None = None,
    images: Mapping[str, np.ndarray] | None = None,
    tables: Mapping[str, Mapping[str, np.ndarray]] | None = None,
) -> fits.HDUList:
    """HDUList of a STAR-like file; ``None`` values in the card mappings delete the key."""
    hdr = fits.Header()
    for key, value in (primary if primary is not None else STAR_PRIMARY).items():
        if value is not None:
            hdr[key] = value
    hdus: list[Any] = [fits.PrimaryHDU(header=hdr)]
    for i, band in enumerate(bands):
        data = (images or {}).get(band)
        if data is None:
            data = band_image(seed=i)
        h = fits.Header()
        h["EXTNAME"] = band
        cards = {**BAND_CARDS, **(band_cards or {}).get(band, {})}
        scaling = {k: cards.pop(k) for k in ("BZERO", "BSCALE", "BLANK") if k in cards}
        for key, value in cards.items():
            if value is not None:
                h[key] = value
        if "EXTNAME" in cards and cards["EXTNAME"] is None:
            del h["EXTNAME"]
        hdu = fits.ImageHDU(data=data, header=h, do_not_scale_image_data=True)
        for key, value in scaling.items():
            hdu.header[key] = value
        hdus.append(hdu)
    for name, cols in (tables or {}).items():
        hdus.append(_table(name, cols))
    return fits.HDUList(hdus)


@pytest.fixture
def make_fits(tmp_path: Path) -> MakeFile:
    """Factory: ``make_fits(name, primary=..., bands=..., band_cards=..., images=..., tables=..., gz=False)``."""

    def make(name: str = "acq.fits", *, gz: bool = False, **kwargs: Any) -> Path:
        hdul = build_hdul(**kwargs)
        path = tmp_path / name
        if gz:
            with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
                hdul.writeto(f)
        else:
            hdul.writeto(path)
        return path

    return make


@pytest.fixture
def star_file(make_fits: MakeFile) -> Path:
    """A valid two-band (P, B0) PHR1A STAR file."""
    return make_fits("star.fits")


@pytest.fixture
def geom_file(make_fits: MakeFile) -> Path:
    """A valid GEOM file (no images, EPHEM and GCP tables)."""
    return make_fits(
        "geom.fits", primary=GEOM_PRIMARY, bands=(), tables={"EPHEM": ephem_columns(), "GCP": gcp_columns()}
    )
