"""Fixtures of the ingest tests: a real site (SQLite file or PostgreSQL) and small ICD files."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from sqlmodel import Session, select

from monitor.domain import AcqType, AcquisitionHeader, BandHeader, Mission, Satellite
from monitor.ingest.service import IngestSummary, run_ingest
from monitor.io.fits_writer import write_acquisition
from monitor.io.reference_data import load_star_catalogue
from monitor.settings import Settings, load_settings
from monitor.site import init_site, open_engine, utc_now
from tests.deadline import deadline

T0 = datetime(2025, 3, 14, 2, 15, 33, 120000, tzinfo=UTC)


@pytest.fixture()
def site(tmp_path: Path, catalogue_url: str) -> Settings:
    """An initialised site whose inbox is considered settled immediately (settle_seconds = 0)."""
    env = {"MONITOR_DATABASE_URL": catalogue_url, "MONITOR_INGEST_SETTLE_SECONDS": "0"}
    settings = load_settings(tmp_path / "site", env=env)
    init_site(settings)
    return settings


def star_header(
    acq_id: str, *, hip: int = 32349, when: datetime = T0, bands: tuple[str, ...] = ("P", "B0")
) -> AcquisitionHeader:
    band_headers = tuple(
        BandHeader(
            band=b, shape=(64, 64) if b == "P" else (32, 32), dark_dn=20.0, gain_factor=1.5, oversamp=1.0,
            binning=1, pixscale_urad=1.0 if b == "P" else 4.0, lineper_ms=0.1 if b == "P" else 0.4,
            saturate_dn=4000.0, star_x=31.6 if b == "P" else 15.4, star_y=32.2 if b == "P" else 16.1,
        )
        for b in bands
    )
    cat = load_star_catalogue()
    i = cat.index_of(hip)
    return AcquisitionHeader(
        acq_id=acq_id, mission=Mission.PHR, satellite=Satellite.PHR1A, acq_type=AcqType.STAR,
        target=f"HIP {hip}", date_obs=when, sc_pos_km=(7000.0, 100.0, 200.0), sc_vel_km_s=(0.0, 7.5, 0.1),
        ra_deg=float(cat.ra_deg[i]), dec_deg=float(cat.dec_deg[i]), icd="ICD-1", bands=band_headers,
    )


def star_images(header: AcquisitionHeader, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {}
    for b in header.bands:
        rows, cols = b.shape
        y, x = np.mgrid[0:rows, 0:cols]
        img = b.dark_dn + 2000.0 * np.exp(-((x - b.star_x) ** 2 + (y - b.star_y) ** 2) / 2.0)
        out[b.band] = (img + rng.normal(0, 3, img.shape)).astype(np.float32)
    return out


def write_star(inbox: Path, name: str, acq_id: str, seed: int = 0, **kw: object) -> Path:
    header = star_header(acq_id, **kw)  # type: ignore[arg-type]
    path = inbox / name
    write_acquisition(path, header, star_images(header, seed))
    return path


def write_bad_files(inbox: Path) -> dict[str, str]:
    """One file of each bad kind; returns {file name: expected reason}."""
    expected: dict[str, str] = {}
    (inbox / "garbage.fits").write_bytes(b"this is not a FITS file at all\n" * 200)
    expected["garbage.fits"] = "not-fits"
    full = write_star(inbox, "cut.fits", "PHR1A-STAR-20250314T021533-0900", seed=9)
    data = full.read_bytes()
    full.write_bytes(data[: len(data) - 5000])
    expected["cut.fits"] = "truncated"
    p = write_star(inbox, "nokey.fits", "PHR1A-STAR-20250314T021533-0901", seed=10)
    with fits.open(p, mode="update") as hdul:
        del hdul[0].header["SC_POSX"]
    expected["nokey.fits"] = "missing-key"
    h = star_header("PHR1A-STAR-20250314T021533-0902")
    h = replace(h, bands=(replace(h.bands[0], band="XX"),))
    write_acquisition(inbox / "badband.fits", h, {"XX": star_images(h, 1)["XX"]})
    expected["badband.fits"] = "unknown-band"
    h = star_header("PHR1A-STAR-20250314T021533-0903")
    imgs = {band: np.full_like(img, np.nan) for band, img in star_images(h, 2).items()}  # every band
    write_acquisition(inbox / "nan.fits", h, imgs)
    expected["nan.fits"] = "all-nan"
    (inbox / "notes.txt").write_text("operator notes dropped in the inbox by mistake\n")
    expected["notes.txt"] = "not-fits"
    return expected


def write_partly_nan(inbox: Path, name: str = "partnan.fits", acq_id: str = "PHR1A-STAR-20250314T021533-0904") -> str:
    """A STAR file whose band B0 is entirely NaN and P is fine: accepted (each band has its own
    verdict, ICD 1.2). Returns its ACQ_ID."""
    h = star_header(acq_id)
    imgs = star_images(h, 3)
    imgs["B0"][:] = np.nan
    write_acquisition(inbox / name, h, imgs)
    return acq_id


def age(path: Path, seconds: float) -> None:
    """Make a file look older (for the settle-time rule)."""
    t = (datetime.now(UTC) - timedelta(seconds=seconds)).timestamp()
    import os

    os.utime(path, (t, t))


def ingest_now(site: Settings, seconds: float = 60.0) -> IngestSummary:
    """One ``run_ingest`` of the site at the current time, failing if it runs longer than
    ``seconds`` (an ingest blocked on a FIFO or stuck in a loop fails the test, never hangs it)."""
    engine = open_engine(site)
    try:
        with deadline(seconds, "the ingest (blocked on a FIFO or in a loop?)"), \
                Session(engine, expire_on_commit=False) as session:
            return run_ingest(session, site, utc_now())
    finally:
        engine.dispose()


def catalogue_rows(site: Settings, model: type) -> list:
    """Every row of ``model``'s table in the site's catalogue."""
    engine = open_engine(site)
    try:
        with Session(engine) as session:
            return list(session.exec(select(model)).all())
    finally:
        engine.dispose()
