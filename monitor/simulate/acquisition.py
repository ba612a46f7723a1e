"""What every simulated acquisition shares: its id, header and truth record, its satellite state,
the campaign context and the delivery into the inbox.

The acquisition modules (:mod:`~monitor.simulate.star_acquisition`,
:mod:`~monitor.simulate.moon_acquisition`, :mod:`~monitor.simulate.geom_acquisition`) hand a
:class:`SimulatedAcquisition` of domain objects to :func:`deliver`; only
:func:`monitor.io.fits_writer.write_acquisition` turns it into FITS keys, atomically and with a
``.done`` marker.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from monitor.domain import (
    BANDS_BY_MISSION,
    ICD_VERSION,
    MISSION_OF_SATELLITE,
    AcqType,
    AcquisitionHeader,
    BandHeader,
    GeomHeader,
    Mission,
    Satellite,
)
from monitor.io.fits_writer import ImageDtype, write_acquisition
from monitor.science.constants import GM_KM3_S2, WGS84_A_KM
from monitor.science.instrument import ORBIT_ALTITUDE_KM, SATURATE_DN, SSO_INCLINATION_DEG, lineper_ms, pixscale_urad
from monitor.simulate.truth import BandFileTruth, BandTruth, FileTruth

BandSimulation = tuple[BandHeader, NDArray[Any], BandFileTruth]  # one band: header, image (DN), truth

__all__ = [
    "SimulatedAcquisition",
    "CampaignContext",
    "circular_orbit_state",
    "make_acq_id",
    "round_to_ms",
    "acquisition_header",
    "file_truth",
    "band_header",
    "simulate_bands",
    "BandSimulation",
    "deliver",
]


def circular_orbit_state(
    rng: np.random.Generator, mission: Mission, raan_deg: float
) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """Position (km) and velocity (km/s) on a circular sun-synchronous-like orbit, random phase.

    Parameters
    ----------
    rng : numpy.random.Generator
        Draws the argument of latitude.
    mission : Mission
        Sets the altitude (PHR 694 km, PNEO 620 km) and inclination.
    raan_deg : float
        Right ascension of the ascending node, degrees (GCRS).

    Returns
    -------
    tuple
        ``((x, y, z), (vx, vy, vz))``, km and km/s.
    """
    r = WGS84_A_KM + ORBIT_ALTITUDE_KM[mission]
    v = math.sqrt(GM_KM3_S2 / r)
    inc = math.radians(SSO_INCLINATION_DEG[mission])
    node = math.radians(raan_deg)
    u = rng.uniform(0.0, 2.0 * math.pi)
    p = np.array([math.cos(node), math.sin(node), 0.0])
    q = np.array([-math.sin(node) * math.cos(inc), math.cos(node) * math.cos(inc), math.sin(inc)])
    pos = r * (math.cos(u) * p + math.sin(u) * q)
    vel = v * (-math.sin(u) * p + math.cos(u) * q)
    return (float(pos[0]), float(pos[1]), float(pos[2])), (float(vel[0]), float(vel[1]), float(vel[2]))


def make_acq_id(satellite: Satellite, acq_type: AcqType, epoch: datetime, seq: int) -> str:
    """``ACQ_ID`` like ``PHR1A-STAR-20250314T021533-0042``."""
    return f"{satellite.value}-{acq_type.value}-{epoch.astimezone(UTC):%Y%m%dT%H%M%S}-{seq:04d}"


def round_to_ms(t: datetime) -> datetime:
    """``t`` truncated to the millisecond (the resolution of ``DATE-OBS``)."""
    return t.replace(microsecond=(t.microsecond // 1000) * 1000)


@dataclass(frozen=True)
class SimulatedAcquisition:
    """One simulated acquisition, ready to be written: what the file holds and what it should give.

    Attributes
    ----------
    header : AcquisitionHeader
        Primary header and band headers (ICD 1.1, 1.2).
    images : dict of ndarray
        Band name -> image in DN (STAR, MOON); empty for GEOM.
    truth : FileTruth
        What the system must find in the file (``file`` is set by :func:`deliver`).
    geom : GeomHeader, optional
        GEOM keys (ICD 3).
    ephem, gcp : dict of array-like, optional
        EPHEM and GCP table columns (ICD 3).
    dtype : {"float32", "int16", "uint16"}
        Storage type of the images.
    gz : bool
        Write the file gzip-compressed (``.fits.gz``).
    omit : tuple of str
        ``AcquisitionHeader`` fields left out of the file (bad files only).
    """

    header: AcquisitionHeader
    images: dict[str, NDArray[Any]]
    truth: FileTruth
    geom: GeomHeader | None = None
    ephem: dict[str, Any] | None = None
    gcp: dict[str, Any] | None = None
    dtype: ImageDtype = "float32"
    gz: bool = False
    omit: tuple[str, ...] = ()

    @property
    def file_name(self) -> str:
        """``<ACQ_ID>.fits`` or ``<ACQ_ID>.fits.gz``."""
        return self.header.acq_id + (".fits.gz" if self.gz else ".fits")


@dataclass
class CampaignContext:
    """Set-up and running state of one call of :func:`monitor.simulate.campaign.simulate_campaigns`.

    ``rng`` is the only source of randomness; ``seq`` numbers each satellite's acquisitions,
    ``raan`` and ``star_pool`` are drawn once per satellite.
    """

    outdir: Path
    rng: np.random.Generator
    calibration: dict[str, dict[str, BandTruth]]
    v_range: tuple[float, float]
    saturated_fraction: float
    uint16_fraction: float
    gzip_fraction: float
    done_markers: bool
    psf_family: str | None = None  # None: the estimator-family truth; else a pupil_psf truth family
    seq: dict[Satellite, int] = field(default_factory=dict)
    raan: dict[Satellite, float] = field(default_factory=dict)
    star_pool: dict[Satellite, NDArray[np.int64]] = field(default_factory=dict)

    def next_acq_id(self, satellite: Satellite, acq_type: AcqType, epoch: datetime) -> str:
        """``ACQ_ID`` of the next acquisition of ``satellite`` (its sequence number + 1)."""
        self.seq[satellite] = self.seq.get(satellite, 0) + 1
        return make_acq_id(satellite, acq_type, epoch, self.seq[satellite])


def acquisition_header(
    ctx: CampaignContext,
    satellite: Satellite,
    acq_type: AcqType,
    epoch: datetime,
    state: tuple[tuple[float, float, float], tuple[float, float, float]],
    *,
    target: str,
    ra_deg: float | None = None,
    dec_deg: float | None = None,
    bands: Sequence[BandHeader] = (),
) -> AcquisitionHeader:
    """Header of the next acquisition of ``satellite`` (new ``ACQ_ID``).

    ``state`` is ``(SC_POS km, SC_VEL km/s)`` at ``epoch`` (``DATE-OBS``).
    """
    return AcquisitionHeader(
        acq_id=ctx.next_acq_id(satellite, acq_type, epoch),
        mission=MISSION_OF_SATELLITE[satellite],
        satellite=satellite,
        acq_type=acq_type,
        target=target,
        date_obs=epoch,
        sc_pos_km=state[0],
        sc_vel_km_s=state[1],
        ra_deg=ra_deg,
        dec_deg=dec_deg,
        icd=ICD_VERSION,
        bands=tuple(bands),
    )


def band_header(
    mission: Mission,
    band: str,
    *,
    shape: tuple[int, int],
    dark_dn: float,
    gain_factor: float,
    oversamp: float,
    binning: int = 1,
    star_xy: tuple[float, float] | None = None,
) -> BandHeader:
    """Header of one band with the nominal instrument's ``PIXSCALE``, ``LINEPER`` and ``SATURATE``.

    ``DARK`` is written to 3 decimals; ``star_xy`` is the predicted star position (STAR only).
    """
    return BandHeader(
        band=band,
        shape=shape,
        dark_dn=round(dark_dn, 3),
        gain_factor=gain_factor,
        oversamp=float(oversamp),
        binning=binning,
        pixscale_urad=pixscale_urad(mission, band),
        lineper_ms=lineper_ms(mission, band),
        saturate_dn=SATURATE_DN,
        star_x=None if star_xy is None else star_xy[0],
        star_y=None if star_xy is None else star_xy[1],
    )


def simulate_bands(
    mission: Mission, simulate_band: Callable[[str], BandSimulation]
) -> tuple[list[BandHeader], dict[str, NDArray[Any]], dict[str, BandFileTruth]]:
    """``simulate_band`` over the mission's bands, in ICD order: headers, images and truths."""
    headers: list[BandHeader] = []
    images: dict[str, NDArray[Any]] = {}
    truths: dict[str, BandFileTruth] = {}
    for band in BANDS_BY_MISSION[mission]:
        header, images[band], truths[band] = simulate_band(band)
        headers.append(header)
    return headers, images, truths


def file_truth(header: AcquisitionHeader, **fields: Any) -> FileTruth:
    """Truth of a valid file with this header (expected ``ok``); ``fields`` are the type's own."""
    return FileTruth(
        file="",
        acq_id=header.acq_id,
        satellite=header.satellite.value,
        type=header.acq_type.value,
        epoch=header.date_obs,
        status="ok",
        reason=None,
        target=header.target,
        **fields,
    )


def deliver(ctx: CampaignContext, acq: SimulatedAcquisition, name: str | None = None) -> SimulatedAcquisition:
    """Write ``acq`` into the output directory (as ``name``, default ``acq.file_name``).

    Returns
    -------
    SimulatedAcquisition
        ``acq`` with ``truth.file`` set to the name written.
    """
    path = ctx.outdir / (name or acq.file_name)
    write_acquisition(
        path,
        acq.header,
        acq.images,
        geom=acq.geom,
        ephem=acq.ephem,
        gcp=acq.gcp,
        omit=acq.omit,
        dtype=acq.dtype,
        done_marker=ctx.done_markers,
        durable=False,
    )
    return replace(acq, truth=replace(acq.truth, file=path.name))
