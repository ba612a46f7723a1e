"""Catalogue rows of the measurements: every band of every acquisition with its latest
measurement (star photometry or Moon measurement), as ICD 5 ``measurements`` lists them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from sqlmodel import Session, col, select
from sqlmodel.sql.expression import Select

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
    < until``. Four queries, whatever the number of acquisitions: the bands, their latest star
    photometry, their latest Moon measurements, the starpool results."""
    chosen = [*in_period(Acquisition.date_obs, since, until)]
    if satellite is not None:
        chosen.append(col(Acquisition.satellite) == satellite)
    q = (
        select(Acquisition, BandImage, StarpoolMember.starpool_id)
        .join(BandImage, col(BandImage.acquisition_id) == col(Acquisition.id), isouter=True)
        .join(StarpoolMember, col(StarpoolMember.acquisition_id) == col(Acquisition.id), isouter=True)
        .where(*chosen)
        .order_by(Acquisition.date_obs, Acquisition.acq_id, BandImage.id)
    )
    if band is not None:
        q = q.where(BandImage.band == band)
    rows = session.exec(q).all()
    acquisition_ids = select(Acquisition.id).where(*chosen)
    photometry = {(p.acquisition_id, p.band): p for p in _latest(session, StarPhotometry, acquisition_ids, band)}
    moon = {(m.acquisition_id, m.band): m for m in _latest(session, MoonMeasurement, acquisition_ids, band)}
    pools = latest_results_of_starpools(session, {pid for *_, pid in rows if pid is not None}, band)
    out = []
    for acq, b, pid in rows:
        key = (acq.id, b.band) if b is not None else None
        out.append(BandMeasurement(acq, b, photometry.get(key) if key else None, moon.get(key) if key else None,
                                   None if pid is None or b is None else pools.get((pid, b.band))))
    return out


_M = TypeVar("_M", StarPhotometry, MoonMeasurement)


def _latest(session: Session, model: type[_M], acquisition_ids: Select[tuple[int | None]], band: str | None
            ) -> Sequence[_M]:
    """The latest row of ``model`` of each of these acquisitions and band (or of ``band``)."""
    keys = [col(model.acquisition_id).in_(acquisition_ids)]
    if band is not None:
        keys.append(col(model.band) == band)
    return session.exec(select(model).where(is_latest(model, model.acquisition_id, model.band, where=keys))).all()
