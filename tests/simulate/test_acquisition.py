"""The simulator's shared pieces (monitor.simulate.acquisition): ids, headers, delivery."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from monitor.domain import AcqType, Mission, Satellite
from monitor.io.acquisition import read_acquisition_header
from monitor.science.instrument import SATURATE_DN, lineper_ms, pixscale_urad
from monitor.simulate.acquisition import (
    BandSimulation,
    CampaignContext,
    acquisition_header,
    band_header,
    deliver,
    file_truth,
    simulate_bands,
)
from monitor.simulate.star_acquisition import simulate_star_acquisition
from monitor.simulate.truth import BandFileTruth, BandTruth

EPOCH = datetime(2025, 3, 14, 2, 15, 33, 120000, tzinfo=UTC)


def _context(outdir: Path) -> CampaignContext:
    model = {b: BandTruth(2.0, -0.01, EPOCH) for b in ("P", "B0", "B1", "B2", "B3")}
    ctx = CampaignContext(
        outdir=outdir,
        rng=np.random.default_rng(3),
        calibration={"PHR1A": model},
        v_range=(2.0, 5.5),
        saturated_fraction=0.0,
        uint16_fraction=0.0,
        gzip_fraction=0.0,
        done_markers=True,
    )
    ctx.raan[Satellite.PHR1A] = 40.0
    return ctx


def test_acq_ids_count_per_satellite(tmp_path: Path) -> None:
    ctx = _context(tmp_path)
    state = ((7000.0, 0.0, 0.0), (0.0, 7.5, 0.0))
    ids = [acquisition_header(ctx, sat, AcqType.GEOM, EPOCH, state, target="SALON").acq_id
           for sat in (Satellite.PHR1A, Satellite.PNEO3, Satellite.PHR1A)]
    assert ids == ["PHR1A-GEOM-20250314T021533-0001", "PNEO3-GEOM-20250314T021533-0001",
                   "PHR1A-GEOM-20250314T021533-0002"]
    header = acquisition_header(ctx, Satellite.PNEO4, AcqType.GEOM, EPOCH, state, target="SALON")
    assert header.mission is Mission.PNEO and header.bands == () and header.ra_deg is None
    truth = file_truth(header, geom={"site": "SALON"})
    assert (truth.acq_id, truth.satellite, truth.type, truth.epoch, truth.status) == (
        header.acq_id, "PNEO4", "GEOM", EPOCH, "ok")


def test_band_header_carries_the_nominal_instrument() -> None:
    b = band_header(Mission.PNEO, "NIR", shape=(64, 32), dark_dn=31.23456, gain_factor=2.5, oversamp=2, binning=4)
    assert (b.pixscale_urad, b.lineper_ms, b.saturate_dn) == (
        pixscale_urad(Mission.PNEO, "NIR"), lineper_ms(Mission.PNEO, "NIR"), SATURATE_DN)
    assert (b.dark_dn, b.oversamp, b.binning, b.star_x, b.star_y) == (31.235, 2.0, 4, None, None)


def test_simulate_bands_in_icd_order() -> None:
    def one(band: str) -> BandSimulation:
        hdr = band_header(Mission.PHR, band, shape=(2, 2), dark_dn=0.0, gain_factor=1.0, oversamp=1)
        return hdr, np.zeros((2, 2)), BandFileTruth(gain_factor=1.0)

    headers, images, truths = simulate_bands(Mission.PHR, one)
    assert [h.band for h in headers] == list(images) == list(truths) == ["P", "B0", "B1", "B2", "B3"]


def test_deliver_writes_and_returns_the_named_truth(tmp_path: Path) -> None:
    ctx = _context(tmp_path)
    acq = simulate_star_acquisition(ctx, Satellite.PHR1A, EPOCH, 0)
    assert acq.truth.file == ""
    delivered = deliver(ctx, acq)
    assert acq.truth.file == ""  # the simulated acquisition is not changed
    assert delivered.truth.file == acq.file_name == f"{acq.header.acq_id}.fits"
    assert (tmp_path / (acq.file_name + ".done")).is_file()
    assert read_acquisition_header(tmp_path / acq.file_name) == acq.header
    with pytest.raises(AttributeError):
        acq.gz = True  # type: ignore[misc]
