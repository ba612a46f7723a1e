"""What every simulated acquisition shares: its id, its satellite state, the campaign context and
the delivery into the inbox.

Every file is written atomically with a ``.done`` marker by
:func:`monitor.io.fits_writer.write_acquisition`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from monitor.domain import AcqType, AcquisitionHeader, GeomHeader, Mission, Satellite
from monitor.io.fits_writer import ImageDtype, write_acquisition
from monitor.science.constants import GM_KM3_S2, WGS84_A_KM
from monitor.science.instrument import ORBIT_ALTITUDE_KM, SSO_INCLINATION_DEG
from monitor.simulate.truth import BandTruth, FileTruth

__all__ = [
    "SimulatedAcquisition",
    "CampaignContext",
    "circular_orbit_state",
    "make_acq_id",
    "round_to_ms",
    "deliver",
    "deliver_truth",
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
    return t.replace(microsecond=(t.microsecond // 1000) * 1000)


@dataclass
class SimulatedAcquisition:
    header: AcquisitionHeader
    images: dict[str, NDArray[Any]]
    truth: FileTruth
    geom: GeomHeader | None = None
    ephem: dict[str, Any] | None = None
    gcp: dict[str, Any] | None = None
    dtype: ImageDtype = "float32"
    gz: bool = False
    extra_primary: dict[str, Any] = field(default_factory=dict)

    @property
    def file_name(self) -> str:
        return self.header.acq_id + (".fits.gz" if self.gz else ".fits")


@dataclass
class CampaignContext:
    outdir: Path
    rng: np.random.Generator
    calibration: dict[str, dict[str, BandTruth]]
    v_range: tuple[float, float]
    saturated_fraction: float
    uint16_fraction: float
    gzip_fraction: float
    done_markers: bool
    seq: dict[Satellite, int] = field(default_factory=dict)
    raan: dict[Satellite, float] = field(default_factory=dict)
    star_pool: dict[Satellite, NDArray[np.int64]] = field(default_factory=dict)

    def next_seq(self, satellite: Satellite) -> int:
        self.seq[satellite] = self.seq.get(satellite, 0) + 1
        return self.seq[satellite]


def deliver(ctx: CampaignContext, acq: SimulatedAcquisition, name: str | None = None) -> Path:
    path = ctx.outdir / (name or acq.file_name)
    write_acquisition(
        path,
        acq.header,
        acq.images,
        geom=acq.geom,
        ephem=acq.ephem,
        gcp=acq.gcp,
        extra_primary=acq.extra_primary or None,
        dtype=acq.dtype,
        done_marker=ctx.done_markers,
        durable=False,
    )
    acq.truth.file = path.name
    return path


def deliver_truth(ctx: CampaignContext, acq: SimulatedAcquisition, name: str | None = None) -> FileTruth:
    deliver(ctx, acq, name)
    return acq.truth
