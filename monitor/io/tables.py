"""The binary tables of an acquisition file: ``EPHEM`` (ICD 1.1 / 3) and ``GCP`` (ICD 3).

Their headers are checked (binary table, 2-D, the ICD's columns with string or numeric formats that
add up to the row width) before astropy decodes them from their bytes only; their values are
checked against the ICD (finite, plausible orbit, roles and views, enough control and check
points).
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits
from numpy.typing import NDArray

from monitor.domain import RejectReason
from monitor.io.errors import InvalidAcquisitionError, first_line, shown_name
from monitor.io.fits_stream import open_stream
from monitor.io.fits_structure import Hdu, axis_lengths, padded, scan
from monitor.io.icd_keys import ORBIT_RADIUS_RANGE_KM, ORBIT_SPEED_RANGE_KM_S

__all__ = [
    "EPHEM_TIME_RANGE_S",
    "GCP_LINE_RANGE",
    "MIN_CONTROL_POINTS",
    "MIN_CHECK_POINTS",
    "EPHEM_COLUMNS",
    "GCP_COLUMNS",
    "validate_ephem",
    "validate_gcp",
    "read_ephem",
    "read_gcp",
]

EPHEM_TIME_RANGE_S = (-86400.0, 86400.0)  # EPHEM T, s from DATE-OBS (simulator: +-50 s)

GCP_LINE_RANGE = (-0.5, 1e8)  # GCP LINE, 0-based image lines (1e8 lines of 0.1 ms = 2.8 h)

MIN_CONTROL_POINTS = 3  # distinct CONTROL point ids in a GEOM file

MIN_CHECK_POINTS = 1  # distinct CHECK point ids in a GEOM file

EPHEM_COLUMNS = ("T", "X", "Y", "Z", "VX", "VY", "VZ")

GCP_COLUMNS = ("ID", "ROLE", "LAT", "LON", "H", "VIEW", "LINE", "SAMPLE")

_GCP_STR_COLUMNS = ("ID", "ROLE", "VIEW")


def _refused(message: str, acq_id: str, reason: RejectReason = RejectReason.BAD_VALUE) -> InvalidAcquisitionError:
    return InvalidAcquisitionError(reason, message, acq_id)


def _table_columns(hdu: Hdu) -> dict[str, str]:
    """Column name -> TFORM of a binary-table HDU, from its header (TFIELDS bounded by the walk)."""
    h = hdu.header
    n = h.get("TFIELDS", 0)
    return {
        str(h.get(f"TTYPE{i}", "")).strip().upper(): str(h.get(f"TFORM{i}", "")).strip().upper()
        for i in range(1, int(n) + 1)
    }


_TFORM = re.compile(r"(\d*)([LXBIJKAEDCMPQ])(.*)\Z")

_TFORM_BYTES = {"L": 1, "B": 1, "I": 2, "J": 4, "K": 8, "A": 1, "E": 4, "D": 8, "C": 8, "M": 16, "P": 8, "Q": 16}


def _tform_bytes(form: str) -> int | None:
    """Bytes per row of a binary-table column of format ``rT`` (FITS 4.0 table 18); None if invalid."""
    m = _TFORM.match(form)
    if m is None:
        return None
    repeat = int(m.group(1)) if m.group(1) else 1
    code = m.group(2)
    return (repeat + 7) // 8 if code == "X" else repeat * _TFORM_BYTES[code]


def _check_row_width(hdu: Hdu, acq_id: str) -> None:
    """The columns' TFORMs must add up to ``NAXIS1`` (bytes per row) before astropy decodes them."""
    n = int(hdu.header.get("TFIELDS", 0))
    width = 0
    for i in range(1, n + 1):
        form = str(hdu.header.get(f"TFORM{i}", "")).strip().upper()
        size = _tform_bytes(form)
        if size is None:
            raise _refused(f"TFORM{i} of {hdu.label} is {form!r}, not a binary-table format", acq_id)
        width += size
    naxis1 = axis_lengths(hdu.header)[0] if int(hdu.header["NAXIS"]) >= 1 else 0
    if width != naxis1:
        raise _refused(
            f"the columns of table {hdu.label} add up to {width} bytes per row, but NAXIS1 is {naxis1}", acq_id
        )


def _check_table_header(hdu: Hdu, columns: tuple[str, ...], strings: tuple[str, ...], acq_id: str) -> None:
    if hdu.kind != "BINTABLE":
        raise _refused(f"{hdu.label} must be a binary table, not {hdu.kind!r}", acq_id)
    if int(hdu.header["NAXIS"]) != 2:
        raise _refused(f"table {hdu.label} has NAXIS = {hdu.header['NAXIS']}; a table is 2-D", acq_id)
    have = _table_columns(hdu)
    missing = [c for c in columns if c not in have]
    if missing:
        raise _refused(
            f"table {hdu.label} lacks column(s) {missing} (has {sorted(have)})", acq_id, RejectReason.MISSING_KEY
        )
    _check_row_width(hdu, acq_id)
    for col in columns:
        form = have[col]
        is_string = form.endswith("A") or (form[:-1].isdigit() and form[-1:] == "A")
        if (col in strings) != is_string:
            kind = "a string" if col in strings else "numeric"
            raise _refused(f"column {col} of {hdu.label} must be {kind} (TFORM {form!r})", acq_id)
        if not is_string and form.lstrip("0123456789")[:1] not in ("B", "I", "J", "K", "E", "D"):
            raise _refused(f"column {col} of {hdu.label} has unsupported TFORM {form!r}", acq_id)


def _table_dict(
    path: Path, hdu: Hdu, columns: tuple[str, ...], strings: tuple[str, ...], data: bytes | None = None
) -> dict[str, Any]:
    """The named columns of a (small) binary table HDU, decoded by astropy from its bytes only:
    strings stripped, numbers as float64. Anything astropy cannot decode is ``BAD_VALUE``."""
    with open_stream(path, data) as stream:
        stream.seek(hdu.header_offset)
        raw = stream.read(hdu.data_offset - hdu.header_offset + padded(hdu.data_bytes))
    out: dict[str, Any] = {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            table = fits.BinTableHDU.fromstring(raw).data
            names = {n.strip().upper(): n for n in table.columns.names}
            for col in columns:
                values = np.asarray(table[names[col]])
                out[col] = np.char.strip(values.astype(str)) if col in strings else values.astype(np.float64)
    except Exception as exc:
        raise InvalidAcquisitionError(
            RejectReason.BAD_VALUE, f"table {hdu.label} of {shown_name(path)} cannot be decoded ({first_line(exc)})"
        ) from exc
    return out


def validate_ephem(path: Path, hdu: Hdu, acq_id: str, data: bytes | None = None) -> None:
    _check_table_header(hdu, EPHEM_COLUMNS, (), acq_id)
    cols = _table_dict(path, hdu, EPHEM_COLUMNS, (), data)
    n = cols["T"].size
    if n < 2:
        raise _refused(f"table {hdu.label} has {n} orbit sample(s); at least 2 are needed", acq_id)
    for col, values in cols.items():
        if not np.all(np.isfinite(values)):
            raise _refused(f"column {col} of {hdu.label} holds non-finite values", acq_id)
    if np.any(np.diff(cols["T"]) <= 0):
        raise _refused(f"column T of {hdu.label} is not strictly increasing", acq_id)
    _check_column_range(hdu, acq_id, cols["T"], "column T", EPHEM_TIME_RANGE_S, "s")
    what = (
        (("X", "Y", "Z"), "a position", ORBIT_RADIUS_RANGE_KM, "km"),
        (("VX", "VY", "VZ"), "a velocity", ORBIT_SPEED_RANGE_KM_S, "km/s"),
    )
    for names, label, rng, unit in what:
        with np.errstate(over="ignore"):  # 1e300 km: inf, refused below
            norm = np.sqrt(sum(cols[n] ** 2 for n in names))
        _check_column_range(hdu, acq_id, norm, f"{label} ({', '.join(names)})", rng, unit)


def _check_column_range(
    hdu: Hdu, acq_id: str, values: NDArray[np.float64], what: str, rng: tuple[float, float], unit: str
) -> None:
    """Every value of a table column (or of a vector's magnitude) lies in ``rng`` (inclusive)."""
    lo, hi = rng
    bad = (values < lo) | (values > hi)
    if np.any(bad):
        worst = float(values[np.argmax(bad)])
        raise _refused(f"table {hdu.label} holds {what} of {worst:.6g} {unit}, outside {lo:g} to {hi:g} {unit}", acq_id)


def validate_gcp(path: Path, hdu: Hdu, acq_id: str, nsamp: int, data: bytes | None = None) -> None:
    _check_table_header(hdu, GCP_COLUMNS, _GCP_STR_COLUMNS, acq_id)
    cols = _table_dict(path, hdu, GCP_COLUMNS, _GCP_STR_COLUMNS, data)
    for col in ("LAT", "LON", "H", "LINE", "SAMPLE"):
        if not np.all(np.isfinite(cols[col])):
            raise _refused(f"column {col} of {hdu.label} holds non-finite values", acq_id)
    for col, allowed in (("ROLE", ("CONTROL", "CHECK")), ("VIEW", ("FORE", "AFT"))):
        bad = sorted(set(cols[col].tolist()) - set(allowed))
        if bad:
            raise _refused(f"column {col} of {hdu.label} holds {bad}; expected {list(allowed)}", acq_id)
    checks = (("LAT", -90.0, 90.0), ("LON", -180.0, 360.0), ("H", -1000.0, 10000.0))
    for col, lo, hi in checks:
        v = cols[col]
        if np.any((v < lo) | (v > hi)):
            raise _refused(f"column {col} of {hdu.label} has values outside [{lo:g}, {hi:g}]", acq_id)
    _check_column_range(hdu, acq_id, cols["LINE"], "a LINE", GCP_LINE_RANGE, "lines")
    if np.any((cols["SAMPLE"] < -0.5) | (cols["SAMPLE"] > nsamp - 0.5)):
        raise _refused(f"column SAMPLE of {hdu.label} has values outside the detector (NSAMP {nsamp})", acq_id)
    for role, minimum in (("CONTROL", MIN_CONTROL_POINTS), ("CHECK", MIN_CHECK_POINTS)):
        n = len(set(cols["ID"][cols["ROLE"] == role].tolist()))
        if n < minimum:
            raise _refused(f"table {hdu.label} has {n} {role} point(s); at least {minimum} are needed", acq_id)


def _find_table(path: Path, name: str) -> Hdu:
    for hdu in scan(path)[1:]:
        if hdu.kind == "BINTABLE" and (hdu.extname or "").upper() == name:
            return hdu
    raise InvalidAcquisitionError(RejectReason.MISSING_KEY, f"{shown_name(path)} has no binary table HDU {name}")


def _read_table(path: Path, name: str, columns: tuple[str, ...], strings: tuple[str, ...]) -> dict[str, Any]:
    """The named columns of the binary table HDU ``name``, its header checked first."""
    path = Path(path)
    hdu = _find_table(path, name)
    _check_table_header(hdu, columns, strings, "")
    return _table_dict(path, hdu, columns, strings)


def read_ephem(path: Path) -> dict[str, NDArray[np.float64]]:
    """Orbit samples of the ``EPHEM`` table (ICD 1.1 / 3).

    Parameters
    ----------
    path : Path
        Acquisition file holding an ``EPHEM`` table.

    Returns
    -------
    dict of str to NDArray[np.float64]
        Keys ``T`` (s from DATE-OBS), ``X``, ``Y``, ``Z`` (km), ``VX``, ``VY``, ``VZ`` (km/s).

    Raises
    ------
    InvalidAcquisitionError
        ``MISSING_KEY`` when there is no such table or a column is missing.
    """
    return {k: np.asarray(v, dtype=np.float64) for k, v in _read_table(path, "EPHEM", EPHEM_COLUMNS, ()).items()}


def read_gcp(path: Path) -> dict[str, NDArray[Any]]:
    """Ground control point measurements of the ``GCP`` table (ICD 3).

    Parameters
    ----------
    path : Path
        GEOM acquisition file.

    Returns
    -------
    dict of str to NDArray
        ``ID``, ``ROLE``, ``VIEW``: unicode string arrays (stripped); ``LAT``, ``LON`` (deg),
        ``H`` (m), ``LINE``, ``SAMPLE`` (pixels): float64 arrays. One entry per point and view.

    Raises
    ------
    InvalidAcquisitionError
        ``MISSING_KEY`` when there is no such table or a column is missing.
    """
    return _read_table(path, "GCP", GCP_COLUMNS, _GCP_STR_COLUMNS)
