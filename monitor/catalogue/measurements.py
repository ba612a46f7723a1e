"""Catalogue rows of the measurements: every band of every acquisition with its latest
measurement (star photometry or Moon measurement), as ICD 5 ``measurements`` lists them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from monitor.catalogue.models import (
    Acquisition,
    BandImage,
    MoonMeasurement,
    StarPhotometry,
    StarpoolMember,
    StarpoolResult,
)
from monitor.catalogue.star_results import latest_results_of_starpools
from monitor.catalogue.versions import in_period, is_latest

__all__ = ["BandMeasurement", "band_measurements"]


@dataclass(frozen=True)
class BandMeasurement:
    """One band of one acquisition (``band_image`` None: an acquisition without band rows) with its
    latest star photometry or Moon measurement (None: not measured), and, for a star in a
    starpool, the latest result of that starpool in that band."""

    acquisition: Acquisition
    band_image: BandImage | None
    photometry: StarPhotometry | None
    moon: MoonMeasurement | None
    starpool_result: StarpoolResult | None


def band_measurements(
    session: Session, satellite: str | None = None, band: str | None = None, since: datetime | None = None,
    until: datetime | None = None,
) -> list[BandMeasurement]:
    """Every acquisition band, ordered by acquisition time, ACQ_ID and band; optionally of one
    satellite, one band (acquisitions without band rows are then left out), ``since <= date_obs
    < until``. Two queries, whatever the number of acquisitions."""
    q = (
        select(Acquisition, BandImage, StarPhotometry, MoonMeasurement, StarpoolMember.starpool_id)
        .join(BandImage, col(BandImage.acquisition_id) == col(Acquisition.id), isouter=True)
        .join(StarPhotometry, sa.and_(col(StarPhotometry.acquisition_id) == col(Acquisition.id),
                                      col(StarPhotometry.band) == col(BandImage.band),
                                      is_latest(StarPhotometry, StarPhotometry.acquisition_id, StarPhotometry.band)),
              isouter=True)
        .join(MoonMeasurement, sa.and_(col(MoonMeasurement.acquisition_id) == col(Acquisition.id),
                                       col(MoonMeasurement.band) == col(BandImage.band),
                                       is_latest(MoonMeasurement, MoonMeasurement.acquisition_id,
                                                 MoonMeasurement.band)),
              isouter=True)
        .join(StarpoolMember, col(StarpoolMember.acquisition_id) == col(Acquisition.id), isouter=True)
        .where(*in_period(Acquisition.date_obs, since, until))
        .order_by(Acquisition.date_obs, Acquisition.acq_id, BandImage.id)
    )
    if satellite is not None:
        q = q.where(Acquisition.satellite == satellite)
    if band is not None:
        q = q.where(BandImage.band == band)
    rows = session.exec(q).all()
    pools = latest_results_of_starpools(session, {pid for *_, pid in rows if pid is not None}, band)
    return [BandMeasurement(acq, b, p, m, None if pid is None or b is None else pools.get((pid, b.band)))
            for acq, b, p, m, pid in rows]
