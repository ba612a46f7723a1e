"""The reference star list as the business rule it is: which stars a STAR acquisition may target.

The list itself is REF-1 data (``monitor/reference_data/stars.csv``, read by
:func:`monitor.io.reference_data.load_star_catalogue`); the rules that use it (a STAR file must
point at one of its stars; a query names one of them) live here, outside the readers, and are
called by the use-cases (the ingest passes :func:`star_target_problem` to the validation) and the
command line.
"""

from __future__ import annotations

import math

from monitor.domain import AcqType, AcquisitionHeader
from monitor.io.reference_data import load_star_catalogue

__all__ = ["STAR_POINTING_TOLERANCE_DEG", "is_reference_star", "star_target_problem"]

STAR_POINTING_TOLERANCE_DEG = 1.0  # RA_TARG/DEC_TARG vs. the catalogue position of the star


def _angle_deg(ra1: float, dec1: float, ra2: float, dec2: float) -> float:
    r1, d1, r2, d2 = map(math.radians, (ra1, dec1, ra2, dec2))
    c = math.sin(d1) * math.sin(d2) + math.cos(d1) * math.cos(d2) * math.cos(r1 - r2)
    return math.degrees(math.acos(max(-1.0, min(1.0, c))))


def is_reference_star(hip: int) -> bool:
    """Whether ``HIP hip`` is a star of the reference list (ICD 2.2)."""
    try:
        load_star_catalogue().index_of(hip)
    except KeyError:
        return False
    return True


def star_target_problem(header: AcquisitionHeader) -> str | None:
    """Why a STAR acquisition does not point at a star of the reference list, or None.

    ``TARGET`` (``HIP <n>``, its form checked by the reader) must be a star of the REF-1 star list
    (``stars.csv``, :func:`monitor.io.reference_data.load_star_catalogue`), and ``RA_TARG``/
    ``DEC_TARG`` within :data:`STAR_POINTING_TOLERANCE_DEG` of its catalogue position. Other
    acquisition types have no such rule (None). This is the ``check_target`` rule that the ingest
    gives :func:`monitor.io.acquisition.validate_acquisition`: the refusal is ``BAD_VALUE``.
    """
    if header.acq_type is not AcqType.STAR:
        return None
    target, ra, dec = header.target, header.ra_deg, header.dec_deg
    catalogue = load_star_catalogue()
    try:
        row = catalogue.index_of(header.hip or 0)  # HIP <n>: checked by the reader
    except KeyError:
        return f"TARGET {target!r} is not in the reference star list (REF-1 stars.csv)"
    assert ra is not None and dec is not None
    sep = _angle_deg(ra, dec, float(catalogue.ra_deg[row]), float(catalogue.dec_deg[row]))
    if sep > STAR_POINTING_TOLERANCE_DEG:
        return (
            f"RA_TARG/DEC_TARG ({ra:.4f}, {dec:.4f}) is {sep:.2f} deg away from {target} in the reference "
            f"star list (tolerance {STAR_POINTING_TOLERANCE_DEG:g} deg)"
        )
    return None
