"""The reference star list's rule on STAR targets (monitor/reference_stars.py), outside io."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from monitor.domain import AcqType, RejectReason
from monitor.io.acquisition import validate_acquisition
from monitor.io.errors import InvalidAcquisitionError
from monitor.reference_stars import STAR_POINTING_TOLERANCE_DEG, is_reference_star, star_target_problem
from tests.io.conftest import STAR_PRIMARY, build_hdul

# Sirius in REF-1 stars.csv: RA 101.2871553 deg, Dec -16.7161159 deg (the STAR_PRIMARY of tests/io).
SIRIUS = (STAR_PRIMARY["RA_TARG"], STAR_PRIMARY["DEC_TARG"])


def _file(tmp_path: Path, **primary: Any) -> Path:
    path = tmp_path / "star.fits"
    build_hdul({**STAR_PRIMARY, **primary}).writeto(path)
    return path


# Moved from BAD_PRIMARY of tests/io/test_acquisition.py (then test_fits_reader.py), where the rule was the reader's.
@pytest.mark.parametrize(("key", "value", "words"), [
    ("TARGET", "HIP 1", "not in the reference star list"),
    ("RA_TARG", 120.0, "away from HIP 32349"),
])
def test_bad_star_target_is_refused_by_the_ingest_validation(tmp_path: Path, key: str, value: Any, words: str) -> None:
    path = _file(tmp_path, **{key: value})
    with pytest.raises(InvalidAcquisitionError) as info:
        validate_acquisition(path, check_target=star_target_problem)
    assert info.value.reason is RejectReason.BAD_VALUE and words in info.value.message
    assert info.value.acq_id == STAR_PRIMARY["ACQ_ID"]
    header, _ = validate_acquisition(path)  # the reader alone knows no star list
    assert header.target == ("HIP 1" if key == "TARGET" else "HIP 32349")


def test_pointing_tolerance(tmp_path: Path) -> None:
    """Separation on the sky from the catalogue position, not a difference of RA: at Dec -16.7 deg
    an RA offset of 1.0 deg is 0.958 deg on the sky (cos dec), within the 1 deg tolerance."""
    header, _ = validate_acquisition(_file(tmp_path), check_target=star_target_problem)
    assert star_target_problem(header) is None
    near = replace(header, ra_deg=SIRIUS[0] + 1.0)
    assert star_target_problem(near) is None
    far = replace(header, ra_deg=SIRIUS[0] + 1.1)  # 1.054 deg on the sky
    assert star_target_problem(far) == (
        f"RA_TARG/DEC_TARG ({SIRIUS[0] + 1.1:.4f}, {SIRIUS[1]:.4f}) is 1.05 deg away from HIP 32349 in the "
        f"reference star list (tolerance {STAR_POINTING_TOLERANCE_DEG:g} deg)")
    north = replace(header, dec_deg=SIRIUS[1] + 1.01)
    assert "1.01 deg away" in (star_target_problem(north) or "")


def test_other_acquisition_types_have_no_star_rule(tmp_path: Path) -> None:
    header, _ = validate_acquisition(_file(tmp_path))
    for acq_type, target in ((AcqType.MOON, "MOON"), (AcqType.GEOM, "HIP 1")):
        assert star_target_problem(replace(header, acq_type=acq_type, target=target)) is None


def test_is_reference_star() -> None:
    assert is_reference_star(32349)  # Sirius
    assert not is_reference_star(1) and not is_reference_star(999_999_999)
