"""The header keys of the ICD as tables, and one checker that reads an HDU's keys from a table.

Each row (:class:`Key`) states what the ICD says of one key: its type, its physical range and
unit, for which acquisition types it is required (``MISSING_KEY`` when absent or without value)
or only checked when present, its default, the values it may take, and, for the few rules that
relate keys, a check against the keys read before it. :data:`PRIMARY_KEYS` is ICD 1.1 (primary
HDU of every file), :data:`GEOM_KEYS` ICD 3 (primary HDU of a GEOM file), :data:`BAND_KEYS`
ICD 1.2 (each image HDU of a STAR or MOON file). Ranges are generous, but finite and plausible.

:func:`check_keys` checks the rows of a table in order and refuses the file at the first problem
(``MISSING_KEY``; ``BAD_VALUE`` for a wrong type, a value out of range or not allowed), with a
one-line message naming the key and the HDU; rows are in the order in which the checks were
always made, so that a file with several faults keeps its verdict.

Conventions the ICD leaves open and these tables fix: ``TIMESYS`` may be absent (the FITS default
is UTC), when present it must be ``UTC``; ``DATE-OBS`` must be ISO 8601 with a ``T`` and a time, a
``Z`` or ``+00:00`` suffix is accepted, any other offset is refused; ``BINNING`` may be absent
(ICD 1.2: default 1); a GEOM file may give ``RA_TARG`` and ``DEC_TARG``, both or neither.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from astropy.io import fits

from monitor.domain import ICD_VERSION, MISSION_OF_SATELLITE, AcqType, Mission, RejectReason, Satellite
from monitor.io.errors import InvalidAcquisitionError
from monitor.io.fits_structure import Hdu

__all__ = [
    "Kind",
    "Key",
    "PRIMARY_KEYS",
    "GEOM_KEYS",
    "BAND_NAME",
    "BAND_KEYS",
    "check_keys",
    "domain_fields",
    "ORBIT_RADIUS_RANGE_KM",
    "ORBIT_SPEED_RANGE_KM_S",
    "DATE_RANGE_YEARS",
]

ORBIT_RADIUS_RANGE_KM = (6500.0, 8000.0)  # |SC_POS|, km (PHR ~7072 km, PNEO ~6998 km)
ORBIT_SPEED_RANGE_KM_S = (6.5, 8.5)  # |SC_VEL|, km/s (circular LEO ~7.5 km/s)
DATE_RANGE_YEARS = (2000, 2100)

_UNDEFINED = fits.card.Undefined  # a card without value (astropy)
_NUMBER = (int, float, np.integer, np.floating)
_INTEGER = (int, np.integer)
_ISO_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?$")


class Kind(enum.Enum):
    """How a key's value is read."""

    STR = "string"  # stripped, not empty
    FLOAT = "number"  # int or float, finite
    INT = "integer"  # an integer (a float with an integer value is one)
    DATE = "date"  # ISO 8601 UTC date and time -> aware datetime


Bound = float | Callable[[Mapping[str, Any]], float] | None  # a number, or one computed from the header
Rule = Callable[[Mapping[str, Any], str], "str | None"]  # (values read so far, HDU label) -> refusal message
ALL_TYPES = frozenset(AcqType)
NO_TYPE: frozenset[AcqType] = frozenset()


@dataclass(frozen=True)
class Key:
    """One header key of the ICD (a row of a key table).

    Attributes
    ----------
    name : str
        FITS keyword.
    kind : Kind or enum type
        How the value is read; an enum type (``Mission``...) reads a string that must be one of
        its values and gives the member.
    lo, hi : float, callable or None
        Range of a number (inclusive unless ``lo_open``/``hi_open``); a callable computes the
        bound from the HDU's header (``STARX`` <= ``NAXIS1`` + 2.5).
    unit : str
        Unit shown in messages.
    required : frozenset of AcqType
        Acquisition types whose files must give the key.
    optional : frozenset of AcqType
        Other types whose files may give it (checked when present); for any other type it is
        ignored.
    default : int or None
        Value of an absent key (it is then never missing).
    pair : str or None
        Another key whose presence makes this one required too (both or neither).
    allowed : tuple
        Values allowed (a string compared upper-case with ``any_case``); ``refusal`` is then the
        message, formatted with ``value`` and ``hdu`` (the HDU's label).
    only : callable or None
        The key is checked only in HDUs whose header satisfies this predicate.
    rule : callable or None
        A check of the key against the keys read before it (``values``), returning the refusal
        message (``BAD_VALUE``) or None.
    field : str
        The attribute of the domain object (:class:`~monitor.domain.AcquisitionHeader`,
        :class:`~monitor.domain.BandHeader`, :class:`~monitor.domain.GeomHeader`) that receives the
        value, if one does.
    comment : str
        What the key is, as the writer's card comment says it (:attr:`card_comment`).
    unit_in_comment : bool
        The card comment starts with ``[unit]`` (FITS 4.0 §4.3.2); False for the predicted star
        position, whose cards have always been written without it.
    """

    name: str
    kind: Kind | type[enum.StrEnum]
    lo: Bound = None
    hi: Bound = None
    lo_open: bool = False
    hi_open: bool = False
    unit: str = ""
    required: frozenset[AcqType] = ALL_TYPES
    optional: frozenset[AcqType] = NO_TYPE
    default: int | None = None
    pair: str | None = None
    allowed: tuple[Any, ...] = ()
    any_case: bool = False
    refusal: str = ""
    only: Callable[[Mapping[str, Any]], bool] | None = None
    rule: Rule | None = None
    field: str = ""
    comment: str = ""
    unit_in_comment: bool = True

    conditional: bool = dataclasses.field(init=False)  # checked only for some acquisition types or HDUs

    def __post_init__(self) -> None:
        conditional = self.required != ALL_TYPES or bool(self.optional) or self.only is not None
        object.__setattr__(self, "conditional", conditional)

    @property
    def card_comment(self) -> str:
        """The comment of the key's card: ``[unit] comment`` (the comment alone without a unit)."""
        return f"[{self.unit}] {self.comment}" if self.unit and self.unit_in_comment else self.comment


# ---------------------------------------------------------------------------------------------
# Rules relating keys
# ---------------------------------------------------------------------------------------------


def _no_white_space(values: Mapping[str, Any], hdu: str) -> str | None:
    acq_id = values["ACQ_ID"]
    return f"ACQ_ID {acq_id!r} contains white space" if any(c.isspace() for c in acq_id) else None


def _satellite_of_mission(values: Mapping[str, Any], hdu: str) -> str | None:
    satellite, mission = values["SATELLIT"], values["MISSION"]
    if MISSION_OF_SATELLITE[satellite] is mission:
        return None
    return (f"SATELLIT {satellite.value!r} does not belong to MISSION {mission.value!r} "
            f"(it is a {MISSION_OF_SATELLITE[satellite].value} satellite)")


def _magnitude(prefix: str, rng: tuple[float, float], what: str, unit: str) -> Rule:
    """The vector ``(<prefix>X, <prefix>Y, <prefix>Z)`` has a magnitude within ``rng``."""

    def rule(values: Mapping[str, Any], hdu: str) -> str | None:
        norm = math.sqrt(sum(values[f"{prefix}{axis}"] * values[f"{prefix}{axis}"] for axis in "XYZ"))
        if rng[0] <= norm <= rng[1]:
            return None
        return (f"{what} ({prefix}X, {prefix}Y, {prefix}Z) of the primary HDU has magnitude {norm:.1f} {unit}, "
                f"outside the plausible range {rng[0]:g}-{rng[1]:g} {unit} for a low Earth orbit")

    return rule


def _non_empty(values: Mapping[str, Any], hdu: str) -> str | None:
    nx, ny = values["NAXIS1"], values["NAXIS2"]
    return f"image {hdu} is empty ({ny} rows x {nx} columns)" if nx < 1 or ny < 1 else None


def _no_groups(values: Mapping[str, Any], hdu: str) -> str | None:
    ok = values["PCOUNT"] == 0 and values["GCOUNT"] == 1
    return None if ok else f"image {hdu} has PCOUNT != 0 or GCOUNT != 1"


def _is_integer_image(header: Mapping[str, Any]) -> bool:
    return int(header["BITPIX"]) > 0


def _blank_lo(header: Mapping[str, Any]) -> float:
    bitpix = int(header["BITPIX"])
    return 0 if bitpix == 8 else -(1 << (bitpix - 1))  # BITPIX 8: unsigned


def _blank_hi(header: Mapping[str, Any]) -> float:
    bitpix = int(header["BITPIX"])
    return 255 if bitpix == 8 else (1 << (bitpix - 1)) - 1


def _axis_plus(axis: str, margin: float) -> Callable[[Mapping[str, Any]], float]:
    """Bound ``NAXISn + margin`` (a predicted position may lie a little outside the image)."""
    return lambda header: int(header[axis]) + margin


_STAR_MOON = frozenset({AcqType.STAR, AcqType.MOON})
_STAR = frozenset({AcqType.STAR})
_GEOM = frozenset({AcqType.GEOM})

# ---------------------------------------------------------------------------------------------
# ICD 1.1: primary HDU of every acquisition file
# ---------------------------------------------------------------------------------------------

PRIMARY_KEYS: tuple[Key, ...] = (
    Key("ACQ_ID", Kind.STR, rule=_no_white_space, field="acq_id", comment="unique acquisition id"),
    Key("ICD", Kind.STR, allowed=(ICD_VERSION,), refusal=f"ICD is {{value!r}}; this system reads {ICD_VERSION!r} "
        "files only", field="icd", comment="interface control document version"),
    Key("MISSION", Mission, field="mission", comment="PHR or PNEO"),
    Key("SATELLIT", Satellite, rule=_satellite_of_mission, field="satellite", comment="satellite"),
    Key("ACQTYPE", AcqType, field="acq_type", comment="STAR, MOON or GEOM"),
    # HIP <n>, MOON or a site name: against ACQTYPE by the validator
    Key("TARGET", Kind.STR, field="target", comment="target"),
    Key("DATE-OBS", Kind.DATE, field="date_obs", comment="UTC time of the image centre"),
    Key("TIMESYS", Kind.STR, required=NO_TYPE, optional=ALL_TYPES, allowed=("UTC",), any_case=True,
        refusal="TIMESYS is {value!r}; DATE-OBS must be given in UTC (TIMESYS = 'UTC')",
        comment="time scale of DATE-OBS"),
    Key("SC_POSX", Kind.FLOAT, unit="km", comment="satellite position, GCRS"),  # at DATE-OBS
    Key("SC_POSY", Kind.FLOAT, unit="km", comment="satellite position, GCRS"),
    Key("SC_POSZ", Kind.FLOAT, unit="km", comment="satellite position, GCRS",
        rule=_magnitude("SC_POS", ORBIT_RADIUS_RANGE_KM, "the satellite position", "km")),
    Key("SC_VELX", Kind.FLOAT, unit="km/s", comment="satellite velocity, GCRS"),  # at DATE-OBS
    Key("SC_VELY", Kind.FLOAT, unit="km/s", comment="satellite velocity, GCRS"),
    Key("SC_VELZ", Kind.FLOAT, unit="km/s", comment="satellite velocity, GCRS",
        rule=_magnitude("SC_VEL", ORBIT_SPEED_RANGE_KM_S, "the satellite velocity", "km/s")),
    Key("RA_TARG", Kind.FLOAT, 0.0, 360.0, hi_open=True, unit="deg", required=_STAR_MOON, optional=_GEOM,
        pair="DEC_TARG", field="ra_deg", comment="target right ascension, ICRS"),
    Key("DEC_TARG", Kind.FLOAT, -90.0, 90.0, unit="deg", required=_STAR_MOON, optional=_GEOM,
        pair="RA_TARG", field="dec_deg", comment="target declination, ICRS"),
)

# ---------------------------------------------------------------------------------------------
# ICD 3: primary HDU of a GEOM file
# ---------------------------------------------------------------------------------------------

GEOM_KEYS: tuple[Key, ...] = (
    Key("T0_FORE", Kind.DATE, field="t0_fore", comment="UTC of line 0, FORE view"),
    Key("T0_AFT", Kind.DATE, field="t0_aft", comment="UTC of line 0, AFT view"),
    Key("FOCAL", Kind.FLOAT, 0.0, 1e5, lo_open=True, unit="mm", field="focal_mm",
        comment="focal length"),  # PHR 12905 mm
    Key("PIXPITCH", Kind.FLOAT, 0.0, 1000.0, lo_open=True, unit="um", field="pixpitch_um",
        comment="detector pitch"),  # PHR 13 um
    Key("NSAMP", Kind.INT, 1, 1_000_000, field="nsamp", comment="detector samples"),  # PHR PAN 30000
    Key("LINEPER", Kind.FLOAT, 0.0, 1000.0, lo_open=True, unit="ms", field="lineper_ms",
        comment="line period"),  # PHR PAN 0.103
    Key("PITCH_F", Kind.FLOAT, -80.0, 80.0, unit="deg", field="pitch_fore_deg", comment="nominal pitch, FORE view"),
    Key("PITCH_A", Kind.FLOAT, -80.0, 80.0, unit="deg", field="pitch_aft_deg", comment="nominal pitch, AFT view"),
)

# ---------------------------------------------------------------------------------------------
# ICD 1.2: each image HDU (band) of a STAR or MOON file
# ---------------------------------------------------------------------------------------------

# one of the mission's bands (else UNKNOWN_BAND: the validator's rule)
BAND_NAME = Key("EXTNAME", Kind.STR, field="band", comment="band name")

BAND_KEYS: tuple[Key, ...] = (
    # FITS structure (FITS 4.0; bounded by the walk): a band is a plain, non-empty 2-D image
    Key("NAXIS", Kind.INT, allowed=(2,), refusal="image {hdu} has NAXIS = {value}; a band image is 2-D"),
    Key("NAXIS1", Kind.INT),  # columns, across track
    Key("NAXIS2", Kind.INT, rule=_non_empty),  # rows, along track in time order
    Key("PCOUNT", Kind.INT, default=0),
    Key("GCOUNT", Kind.INT, default=1, rule=_no_groups),
    Key("BUNIT", Kind.STR, allowed=("DN",), any_case=True, refusal="BUNIT of {hdu} is {value!r}; expected 'DN'",
        field="bunit", comment="pixel unit"),
    Key("BITPIX", Kind.INT),
    # scaling, applied by the readers: physical = BZERO + BSCALE * stored; BLANK stored -> NaN
    Key("BSCALE", Kind.FLOAT, 0.0, 1e6, lo_open=True, required=NO_TYPE, optional=ALL_TYPES),
    Key("BZERO", Kind.FLOAT, -1e10, 1e10, unit="DN", required=NO_TYPE, optional=ALL_TYPES),  # uint16: 32768
    Key("BLANK", Kind.INT, _blank_lo, _blank_hi, required=NO_TYPE, optional=ALL_TYPES, only=_is_integer_image),
    # predicted star position, 0-based array indices, +-3 px
    Key("STARX", Kind.FLOAT, -3.5, _axis_plus("NAXIS1", 2.5), unit="px", required=_STAR, field="star_x",
        comment="predicted star column, 0-based", unit_in_comment=False),
    Key("STARY", Kind.FLOAT, -3.5, _axis_plus("NAXIS2", 2.5), unit="rows", required=_STAR, field="star_y",
        comment="predicted star row, 0-based", unit_in_comment=False),
    # instrument state: dark per native pixel (12-bit detectors: 20-60 DN), gain relative to the
    # band's reference (simulator: 1-4), oversampling (1-4), b x b binning (Moon: ~10-60), native
    # IFOV (PHR PAN 1.008, MS 4.03 urad), line period (PHR PAN 0.103, PNEO PAN 0.044 ms), saturation
    Key("DARK", Kind.FLOAT, -1e6, 1e6, unit="DN", field="dark_dn", comment="dark signal per native pixel"),
    Key("GAINFACT", Kind.FLOAT, 0.0, 1000.0, lo_open=True, field="gain_factor",
        comment="gain factor relative to the reference gain"),
    Key("OVERSAMP", Kind.FLOAT, 1.0, 64.0, field="oversamp", comment="along-track oversampling factor"),
    Key("BINNING", Kind.INT, 1, 1024, default=1, field="binning", comment="b x b native pixels summed per pixel"),
    Key("PIXSCALE", Kind.FLOAT, 0.0, 1000.0, lo_open=True, unit="urad", field="pixscale_urad",
        comment="native pixel IFOV"),
    Key("LINEPER", Kind.FLOAT, 0.0, 1000.0, lo_open=True, unit="ms", field="lineper_ms", comment="native line period"),
    Key("SATURATE", Kind.FLOAT, 0.0, 1e7, lo_open=True, unit="DN", field="saturate_dn",
        comment="native-pixel saturation level"),  # 12-bit: 4095
)


# ---------------------------------------------------------------------------------------------
# The checker
# ---------------------------------------------------------------------------------------------


def check_keys(
    hdu: Hdu, table: Sequence[Key], acq_id: str | None, acq_type: AcqType | None = None
) -> dict[str, Any]:
    """Check the keys of one HDU against a key table, in the table's order.

    Parameters
    ----------
    hdu : Hdu
        The HDU (its parsed header).
    table : sequence of Key
        :data:`PRIMARY_KEYS`, :data:`GEOM_KEYS` or :data:`BAND_KEYS`.
    acq_id : str or None
        ``ACQ_ID`` of the file, carried by the refusal.
    acq_type : AcqType, optional
        Type of the file; for the primary table it is read from ``ACQTYPE`` (rows that depend on
        the type come after it).

    Returns
    -------
    dict of str to Any
        Key -> value (stripped string, float, int, aware UTC datetime or enum member) of every key
        checked and present, and the default of absent keys that have one.

    Raises
    ------
    InvalidAcquisitionError
        ``MISSING_KEY`` or ``BAD_VALUE`` at the first key at fault.
    """
    values: dict[str, Any] = {}
    header = hdu.header
    for key in table:
        if key.conditional and not _applies(key, header, acq_type if acq_type is not None else values.get("ACQTYPE")):
            continue
        raw = key.default if key.default is not None and key.name not in header else _read(key, hdu, acq_id)
        problem = _value_problem(key, raw, hdu)
        values[key.name] = float(raw) if key.kind is Kind.FLOAT else raw
        if problem is None and key.rule is not None:
            problem = key.rule(values, hdu.label)
        if problem is not None:
            raise InvalidAcquisitionError(RejectReason.BAD_VALUE, problem, acq_id)
    return values


def domain_fields(table: Sequence[Key], values: Mapping[str, Any]) -> dict[str, Any]:
    """Domain attribute -> value of the rows of ``table`` that fill one (None for an absent
    optional key), from the ``values`` of :func:`check_keys`."""
    return {key.field: values.get(key.name) for key in table if key.field}


def _applies(key: Key, header: Mapping[str, Any], acq_type: AcqType | None) -> bool:
    """Whether a row is checked in this HDU: required for the file's type, or optional for it and
    present (or its pair present), and in an HDU the row is meant for."""
    if key.required != ALL_TYPES or key.optional:
        assert acq_type is not None, f"{key.name}: the table must give ACQTYPE before it"
        if acq_type not in key.required:
            present = key.name in header or (key.pair is not None and key.pair in header)
            if acq_type not in key.optional or not present:
                return False
    return key.only is None or key.only(header)


def _read(key: Key, hdu: Hdu, acq_id: str | None) -> Any:
    """The value of a key, read as its kind says (presence, type and format checked, not range)."""
    header = hdu.header
    if key.name not in header:
        raise InvalidAcquisitionError(
            RejectReason.MISSING_KEY, f"required key {key.name} is missing from {hdu.label}", acq_id
        )
    value = header[key.name]
    if value is None or isinstance(value, _UNDEFINED):
        raise InvalidAcquisitionError(RejectReason.MISSING_KEY, f"key {key.name} of {hdu.label} has no value", acq_id)
    if key.kind is Kind.FLOAT:
        if isinstance(value, bool) or not isinstance(value, _NUMBER):
            raise _bad(key, hdu, acq_id, f"must be a number, not {value!r}")
        return value
    if key.kind is Kind.INT:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, _INTEGER):
            raise _bad(key, hdu, acq_id, f"must be an integer, not {value!r}")
        return int(value)
    if not isinstance(value, str):
        raise _bad(key, hdu, acq_id, f"must be a string, not {value!r}")
    text = value.strip()
    if not text:
        raise _bad(key, hdu, acq_id, "is an empty string")
    if key.kind is Kind.DATE:
        parsed, problem = _utc_date(text)
        if parsed is None:
            raise _bad(key, hdu, acq_id, f"is {text!r}, {problem}")
        return parsed
    if isinstance(key.kind, type):  # an enum of the domain
        try:
            return key.kind(text)
        except ValueError:
            message = f"{key.name} is {text!r}; expected one of {[m.value for m in key.kind]}"
            raise InvalidAcquisitionError(RejectReason.BAD_VALUE, message, acq_id) from None
    return text


def _bad(key: Key, hdu: Hdu, acq_id: str | None, what: str) -> InvalidAcquisitionError:
    return InvalidAcquisitionError(RejectReason.BAD_VALUE, f"key {key.name} of {hdu.label} {what}", acq_id)


def _utc_date(text: str) -> tuple[datetime | None, str]:
    """(aware UTC datetime, ""), or (None, why not) for an ISO 8601 date and time."""
    parsed: datetime | None = None
    if _ISO_RE.match(text):
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            parsed = None
    if parsed is None:
        return None, "not an ISO 8601 date and time like '2025-03-14T02:15:33.120'"
    if parsed.tzinfo is not None:
        offset = parsed.utcoffset()
        if offset is None or offset.total_seconds() != 0:
            return None, "not a UTC time"
    parsed = parsed.replace(tzinfo=UTC)
    if not DATE_RANGE_YEARS[0] <= parsed.year <= DATE_RANGE_YEARS[1]:
        return None, f"outside {DATE_RANGE_YEARS}"
    return parsed, ""


def _value_problem(key: Key, value: Any, hdu: Hdu) -> str | None:
    """Why a value read by :func:`_read` is refused (not allowed, out of range), or None."""
    if key.allowed:
        ok = (value.upper() if key.any_case else value) in key.allowed
        return None if ok else key.refusal.format(value=value, hdu=hdu.label)
    if key.kind is Kind.FLOAT:
        return _float_problem(key, value, hdu)
    if key.kind is Kind.INT:
        lo, hi = _bounds(key, hdu)
        if (lo is None or value >= lo) and (hi is None or value <= hi):
            return None
        rng = " and ".join(s for s in ("" if lo is None else f">= {lo}", "" if hi is None else f"<= {hi}") if s)
        return f"key {key.name} of {hdu.label} is {value}; it must be {rng}"
    return None


def _float_problem(key: Key, value: Any, hdu: Hdu) -> str | None:
    """A number must be finite and within the row's range; the unit qualifies the range."""
    x = float(value)
    lo, hi = _bounds(key, hdu)
    bad = not math.isfinite(x)
    if lo is not None:
        bad |= x <= lo if key.lo_open else x < lo
    if hi is not None:
        bad |= x >= hi if key.hi_open else x > hi
    if not bad:
        return None
    lo_s = "" if lo is None else (f"> {lo:g}" if key.lo_open else f">= {lo:g}")
    hi_s = "" if hi is None else (f"< {hi:g}" if key.hi_open else f"<= {hi:g}")
    rng = " and ".join(s for s in (lo_s, hi_s) if s)
    unit = f" {key.unit}" if rng and key.unit else ""
    return f"key {key.name} of {hdu.label} is {value!r}{unit}; it must be {rng or 'finite'}"


def _bounds(key: Key, hdu: Hdu) -> tuple[Any, Any]:
    """(lo, hi) of a row, those given as functions computed from the HDU's header."""
    lo, hi = key.lo, key.hi
    return (lo(hdu.header) if callable(lo) else lo), (hi(hdu.header) if callable(hi) else hi)
