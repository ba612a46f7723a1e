"""Observer positions of lunar observation files converted to GCRS (ICD 6).

GLOD files give the satellite position in an Earth-fixed frame (``ITRF93``) or an inertial one
(``J2000``/``GCRS``). The lunar geometry (:mod:`monitor.science.lunar_geometry`) needs GCRS.
Earth-fixed -> GCRS is astropy's ITRS -> GCRS transformation (IAU 2006/2000A precession-nutation,
Earth rotation angle from UT1, polar motion) at the observation time; J2000 (EME2000) is taken as
GCRS (the frame bias, 23 mas, moves a geostationary position by 5 m).

Offline: astropy's IERS auto-download is off (:func:`~monitor.science.lunar_geometry.configure_astropy_offline`);
UT1-UTC and polar motion come from the table bundled with ``astropy-iers-data`` (IERS Bulletin A
with predictions, about a year beyond the package date). For a time outside that table, UT1 = UTC
and zero polar motion are used and the result says so (``eop_source = "UT1=UTC"``). Cost of that
fallback: |UT1-UTC| < 0.9 s turns the Earth by at most 0.9 s x 7.292e-5 rad/s = 6.6e-5 rad, i.e.
2.8 km at geostationary radius (0.46 km in low orbit); polar motion (< 0.5") adds < 0.1 km. At the
Moon's distance (>= 356,000 km) 2.8 km moves the phase angle by <= 4.5e-4 deg and d_OM by <= 2.8 km:
the irradiance changes by <= 2.4 %/deg x 4.5e-4 deg + 2 x 2.8/356,000 = 2.7e-5 (relative).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import UTC, datetime

import astropy.units as u
import numpy as np
from astropy.coordinates import GCRS, ITRS, CartesianRepresentation
from astropy.time import Time
from astropy.utils import iers
from numpy.typing import ArrayLike

from monitor.domain import EARTH_FIXED_FRAMES, INERTIAL_FRAMES
from monitor.science.lunar_geometry import configure_astropy_offline

__all__ = [
    "EARTH_FIXED_FRAMES",
    "INERTIAL_FRAMES",
    "UT1_FALLBACK_MAX_POSITION_ERROR_KM_GEO",
    "ObserverPosition",
    "observer_gcrs_km",
]

UT1_FALLBACK_MAX_POSITION_ERROR_KM_GEO = 2.8  # km: 0.9 s x 7.292e-5 rad/s x 42,164 km (module doc)

configure_astropy_offline()


@dataclass(frozen=True)
class ObserverPosition:
    """Observer position in GCRS and how it was obtained.

    Attributes
    ----------
    gcrs_km : tuple of float
        Position relative to Earth's centre, GCRS axes, km.
    frame : str
        Frame of the input position.
    eop_source : str
        ``"IERS"`` (UT1-UTC and polar motion from the bundled IERS table), ``"UT1=UTC"`` (time
        outside the table: fallback, see the module doc) or ``"none"`` (inertial input).
    ut1_utc_s : float
        UT1 - UTC used, s.
    """

    gcrs_km: tuple[float, float, float]
    frame: str
    eop_source: str
    ut1_utc_s: float


def _in_table(t: Time) -> bool:
    table = iers.earth_orientation_table.get()
    mjd = float(t.utc.mjd)
    return bool(float(table["MJD"][0].value) <= mjd <= float(table["MJD"][-1].value))


def observer_gcrs_km(position_km: ArrayLike, frame: str, date_utc: datetime) -> ObserverPosition:
    """Convert an observer position to GCRS at ``date_utc`` (see the module doc).

    Parameters
    ----------
    position_km : array_like, shape (3,)
        Position, km, in ``frame``.
    frame : str
        One of :data:`EARTH_FIXED_FRAMES` or :data:`INERTIAL_FRAMES` (case-insensitive).
    date_utc : datetime
        Aware UTC time of the observation.

    Returns
    -------
    ObserverPosition

    Raises
    ------
    ValueError
        Unknown frame, naive time or a position that is not 3 finite numbers.
    """
    if date_utc.tzinfo is None:
        raise ValueError("date_utc must be timezone-aware (UTC)")
    pos = np.asarray(position_km, dtype=np.float64)
    if pos.shape != (3,) or not np.all(np.isfinite(pos)):
        raise ValueError(f"position must be 3 finite numbers, got {pos!r}")
    name = frame.strip().upper()
    if name in INERTIAL_FRAMES:
        return ObserverPosition((float(pos[0]), float(pos[1]), float(pos[2])), name, "none", 0.0)
    if name not in EARTH_FIXED_FRAMES:
        raise ValueError(f"unknown frame {frame!r}")
    with warnings.catch_warnings(), iers.conf.set_temp("iers_degraded_accuracy", "ignore"):
        # outside the table: polar motion defaults to zero, ERFA calls a year beyond its leap-second
        # table "dubious" (module doc); neither changes the result beyond the stated bound
        warnings.simplefilter("ignore")
        t = Time(date_utc.astimezone(UTC).replace(tzinfo=None), scale="utc")
        source = "IERS"
        if not _in_table(t):
            t.delta_ut1_utc = 0.0
            source = "UT1=UTC"
        itrs = ITRS(CartesianRepresentation(pos * u.km), obstime=t)
        gcrs = itrs.transform_to(GCRS(obstime=t)).cartesian.xyz.to_value(u.km)
        dut1 = float(t.delta_ut1_utc) if source == "IERS" else 0.0
    return ObserverPosition((float(gcrs[0]), float(gcrs[1]), float(gcrs[2])), name, source, dut1)
