"""The ICD key tables (monitor/io/icd_keys.py) and their one checker, through real FITS files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from monitor.domain import AcqType, RejectReason
from monitor.io.acquisition import read_acquisition_header
from monitor.io.errors import InvalidAcquisitionError
from monitor.io.icd_keys import BAND_KEYS, GEOM_KEYS, PRIMARY_KEYS, Kind
from tests.ingest.fuzzing import set_card
from tests.io.conftest import GEOM_PRIMARY, STAR_PRIMARY, MakeFile, ephem_columns, gcp_columns

# The keys of ICD-1 (/work/shared/ICD.md sections 1.1, 1.2 and 3) with their units, written out
# here from the document, not from the tables: a row lost, renamed or given another unit fails.
ICD_1_1 = {"ACQ_ID": "", "MISSION": "", "SATELLIT": "", "ACQTYPE": "", "TARGET": "", "DATE-OBS": "",
           "SC_POSX": "km", "SC_POSY": "km", "SC_POSZ": "km", "SC_VELX": "km/s", "SC_VELY": "km/s",
           "SC_VELZ": "km/s", "RA_TARG": "deg", "DEC_TARG": "deg", "ICD": ""}
ICD_1_2 = {"BUNIT": "", "DARK": "DN", "GAINFACT": "", "OVERSAMP": "", "BINNING": "", "PIXSCALE": "urad",
           "LINEPER": "ms", "SATURATE": "DN", "STARX": "px", "STARY": "rows"}
ICD_3 = {"FOCAL": "mm", "PIXPITCH": "um", "NSAMP": "", "LINEPER": "ms", "T0_FORE": "", "T0_AFT": "",
         "PITCH_F": "deg", "PITCH_A": "deg"}


@pytest.mark.parametrize(("icd", "table"), [(ICD_1_1, PRIMARY_KEYS), (ICD_1_2, BAND_KEYS), (ICD_3, GEOM_KEYS)])
def test_every_key_of_the_icd_has_a_row_with_its_unit(icd: dict[str, str], table: tuple) -> None:
    rows = {key.name: key for key in table}
    assert len(rows) == len(table), "a key given twice"
    for name, unit in icd.items():
        assert name in rows, name
        assert rows[name].unit == unit, name
    assert all(rows[name].kind is Kind.DATE for name in ("T0_FORE", "T0_AFT") if name in rows)


def test_required_for_a_type_ignored_for_another(make_fits: MakeFile) -> None:
    """STARX/STARY: required in a STAR file, ignored in a MOON file (even when wrong)."""
    star = make_fits("star.fits", band_cards={"P": {"STARY": None}})
    with pytest.raises(InvalidAcquisitionError) as info:
        read_acquisition_header(star)
    assert info.value.reason is RejectReason.MISSING_KEY
    assert info.value.message == "required key STARY is missing from HDU 1 (EXTNAME 'P')"
    moon = make_fits("moon.fits", primary={**STAR_PRIMARY, "ACQTYPE": "MOON", "TARGET": "MOON"},
                     band_cards={"P": {"STARX": "not a number", "STARY": None}})
    header = read_acquisition_header(moon)
    assert header.acq_type is AcqType.MOON and header.bands[0].star_x is None


@pytest.mark.parametrize("given", ["neither", "both", "RA_TARG", "DEC_TARG"])
def test_a_geom_file_gives_ra_and_dec_both_or_neither(make_fits: MakeFile, given: str) -> None:
    extra = {"neither": {}, "both": {"RA_TARG": 12.5, "DEC_TARG": -3.25}, "RA_TARG": {"RA_TARG": 12.5},
             "DEC_TARG": {"DEC_TARG": -3.25}}[given]
    path = make_fits(primary={**GEOM_PRIMARY, **extra}, bands=(),
                     tables={"EPHEM": ephem_columns(), "GCP": gcp_columns()})
    if given in ("neither", "both"):
        header = read_acquisition_header(path)
        assert (header.ra_deg, header.dec_deg) == ((12.5, -3.25) if given == "both" else (None, None))
        return
    with pytest.raises(InvalidAcquisitionError) as info:
        read_acquisition_header(path)
    other = "DEC_TARG" if given == "RA_TARG" else "RA_TARG"
    assert info.value.reason is RejectReason.MISSING_KEY
    assert info.value.message == f"required key {other} is missing from the primary HDU"


def test_blank_is_checked_on_integer_images_only(make_fits: MakeFile) -> None:
    floats = make_fits("f.fits")
    floats.write_bytes(set_card(floats.read_bytes(), 1, "BLANK", "'ignored'"))  # float image: BLANK means nothing
    assert read_acquisition_header(floats).bands[0].band == "P"
    ints = np.ones((24, 16), dtype=np.int16)
    path = make_fits("i.fits", bands=("P",), images={"P": ints}, band_cards={"P": {"BLANK": 40000}})
    with pytest.raises(InvalidAcquisitionError) as info:
        read_acquisition_header(path)
    assert info.value.message == "key BLANK of HDU 1 (EXTNAME 'P') is 40000; it must be >= -32768 and <= 32767"


def test_a_default_still_meets_the_rules(make_fits: MakeFile) -> None:
    """GCOUNT absent is 1, and the rule on PCOUNT and GCOUNT still applies to the pair."""
    path = make_fits()
    data = set_card(path.read_bytes(), 1, "PCOUNT", "5".rjust(20))  # data size grows: re-pad below
    path.write_bytes(data + b"\0" * 2880)
    with pytest.raises(InvalidAcquisitionError) as info:
        read_acquisition_header(path)
    assert info.value.message == "image HDU 1 (EXTNAME 'P') has PCOUNT != 0 or GCOUNT != 1"


def test_keys_are_checked_in_the_table_order(make_fits: MakeFile) -> None:
    """A file with several faults is refused at the first row at fault (the rows keep the order
    the checks always had: the verdict of such a file does not change with the table)."""
    path = make_fits(primary={**STAR_PRIMARY, "ACQ_ID": "PHR1A STAR", "DATE-OBS": None, "SC_VELX": "fast"})
    with pytest.raises(InvalidAcquisitionError) as info:
        read_acquisition_header(path)
    assert info.value.message == "ACQ_ID 'PHR1A STAR' contains white space"
    names = [key.name for key in PRIMARY_KEYS]
    assert names.index("ACQ_ID") < names.index("DATE-OBS") < names.index("SC_VELX")


def test_an_optional_key_is_checked_when_present(make_fits: MakeFile, tmp_path: Path) -> None:
    ok = make_fits("ok.fits", primary={**STAR_PRIMARY, "TIMESYS": "utc"})  # compared whatever the case
    assert read_acquisition_header(ok).acq_id == STAR_PRIMARY["ACQ_ID"]
    bad = make_fits("bad.fits", primary={**STAR_PRIMARY, "TIMESYS": "TAI"})
    with pytest.raises(InvalidAcquisitionError) as info:
        read_acquisition_header(bad)
    assert info.value.message == "TIMESYS is 'TAI'; DATE-OBS must be given in UTC (TIMESYS = 'UTC')"
