"""GSICS lunar observation files (GLOD, netCDF-4) and GSICS spectral-response files (ICD 6).

Reading goes through netCDF4 (the library LIME TBX and GIRO tools use), from the bytes the ingest
already holds (``Dataset(memory=...)``), so that the verdict and the SHA-256 are about the same
bytes. Every problem of a file is an :class:`~monitor.io.errors.InvalidAcquisitionError`
with an ICD 5 reason, never another exception:

- ``not-netcdf``: no netCDF/HDF5 signature, or the library cannot open it (cut, corrupt);
- ``missing-key``: a required variable or the ``instrument`` attribute is absent;
- ``bad-value``: a time, position, frame, unit or imagette that cannot be used (several
  observations in one file, an unknown frame or unit, shapes that do not match the channels, all
  channels filled);
- ``too-large``: an imagette beyond :data:`MAX_IMAGETTE_VALUES`.

Conventions followed where the ICD is silent (as LIME TBX reads GLOD, and as the GSICS files of
EUMETSAT and JMA are written):

- required: ``date``, ``channel_name``, ``sat_pos``, ``sat_pos_ref``, ``irr_obs`` and the global
  attribute ``instrument`` (any case; ``instrument_name`` or ``sensor`` accepted in its place);
  every other variable is optional (``dc_obs_imgt`` absent: the channels have no imagette, the
  irradiance is compared without re-integration);
- ``channel_name`` and ``sat_pos_ref`` as char arrays (NUL/space padded) or netCDF strings;
- the channel axis of ``dc_obs_imgt`` is the dimension named ``chan`` (its position may vary);
- missing values: the variable's ``_FillValue`` or ``missing_value``, -999, non-finite values and,
  for the imagette and ``irr_obs`` only, values outside ``valid_min``/``valid_max``/``valid_range``
  (JMA's MTSAT-2 files pad the part of the imagette outside the scan with -1 under
  ``valid_min = 0``; the ``sat_pos`` of the same files carries a ``valid_min = 0`` that its
  negative coordinates break, so it is not applied there, as LIME TBX does not);
  ``scale_factor``/``add_offset`` are applied;
- ``date`` is converted with its ``units``/``calendar`` attributes (default, or ``seconds since
  EPOCH`` as LIME TBX documents it: seconds since 1970-01-01 UTC); ONE observation per file
  (a ``date`` of several values is refused, as LIME TBX refuses it);
- ``sat_pos`` in km unless its ``units`` say m (or km, kilometre...); another unit is refused;
  ``sat_pos_ref`` names an Earth-fixed frame (ITRF93, any ITRF realisation, WGS 84, ECEF,
  IAU_EARTH) or an inertial one (J2000/EME2000, GCRS, ICRF/ICRS), any case; another is refused;
- ``irr_obs`` in W m-2 um-1 unless its ``units`` name another wavelength unit (``W m-2 nm-1``,
  ``W m-2 m-1``, ``W m-2 mm-1``, ``µm``/``micron`` spellings; LIME TBX's list) or ``mW``;
  converted to W m-2 um-1; another unit is refused;
- a channel whose ``irr_obs`` is missing is a missing channel (left out), as the HRVIS channel of
  EUMETSAT's SEVIRI files; a channel whose imagette alone is all missing keeps its irradiance.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import netCDF4
import numpy as np
from numpy.typing import NDArray

from monitor.domain import EARTH_FIXED_FRAMES, INERTIAL_FRAMES, GlodChannel, GlodObservation, RejectReason
from monitor.io.errors import InvalidAcquisitionError

__all__ = [
    "GLOD_SUFFIX",
    "FILL_VALUE",
    "MAX_IMAGETTE_VALUES",
    "EARTH_FIXED_FRAMES",
    "INERTIAL_FRAMES",
    "SpectralResponse",
    "is_glod_name",
    "read_glod",
    "read_glod_bytes",
    "read_srf",
    "write_glod",
    "write_srf",
]

GLOD_SUFFIX = ".nc"
FILL_VALUE = -999.0  # ICD 6: marks a missing channel or value
MAX_IMAGETTE_VALUES = 64_000_000  # rows x cols x channels of dc_obs_imgt read into memory
_REQUIRED = ("date", "channel_name", "sat_pos", "sat_pos_ref", "irr_obs")
# wavelength unit of a spectral irradiance "W m-2 <unit>-1" -> factor to W m-2 um-1
_PER_WAVELENGTH_TO_UM = {"um": 1.0, "micron": 1.0, "micrometer": 1.0, "micrometre": 1.0, "nm": 1e3,
                         "m": 1e-6, "mm": 1e-3}
_WAVELENGTH_TO_NM = {"um": 1e3, "micron": 1e3, "microns": 1e3, "micrometer": 1e3, "micrometre": 1e3,
                     "micrometers": 1e3, "micrometres": 1e3, "nm": 1.0, "nanometer": 1.0, "nanometre": 1.0,
                     "nanometers": 1.0, "nanometres": 1.0, "m": 1e9}
_KM_UNITS = {"km": 1.0, "kilometer": 1.0, "kilometre": 1.0, "kilometers": 1.0, "kilometres": 1.0,
             "m": 1e-3, "meter": 1e-3, "metre": 1e-3, "meters": 1e-3, "metres": 1e-3}
_SIGNATURES = (b"\x89HDF\r\n\x1a\n", b"CDF\x01", b"CDF\x02", b"CDF\x05")


@dataclass(frozen=True)
class SpectralResponse:
    """A channel's relative spectral response: wavelengths (nm, increasing) and response."""

    channel: str
    wavelength_nm: NDArray[np.float64]
    response: NDArray[np.float64]


def is_glod_name(name: str) -> bool:
    """Whether an inbox name is a GLOD candidate (``*.nc``, any case)."""
    return name.lower().endswith(GLOD_SUFFIX)


def _refuse(reason: RejectReason, message: str) -> InvalidAcquisitionError:
    return InvalidAcquisitionError(reason, message)


def _text(value: Any) -> str:
    """A netCDF text value (char array, bytes, str or masked array) as a stripped str."""
    arr = np.ma.getdata(value)
    if isinstance(arr, np.ndarray) and arr.dtype.kind == "S":
        return b"".join(arr.ravel().tolist()).decode("utf-8", "replace").strip("\x00 ").strip()
    if isinstance(arr, bytes):
        return arr.decode("utf-8", "replace").strip("\x00 ").strip()
    if isinstance(arr, np.ndarray):
        return "".join(str(x) for x in arr.ravel().tolist()).strip()
    return str(arr).strip("\x00 ").strip()


def _names(var: netCDF4.Variable) -> list[str]:
    """Channel names of a char (chan, strlen) or string (chan) variable."""
    raw = np.ma.getdata(var[...])
    if raw.dtype.kind == "S" and raw.ndim == 2:
        return [_text(row) for row in raw]
    return [_text(x) for x in np.atleast_1d(raw)]


def _attr_floats(var: netCDF4.Variable, name: str) -> list[float]:
    """A numeric attribute as floats ([] when absent or not numeric)."""
    try:
        return [float(x) for x in np.atleast_1d(np.asarray(getattr(var, name), dtype=np.float64)).ravel()]
    except (AttributeError, TypeError, ValueError):
        return []


def _missing(values: NDArray[np.float64], var: netCDF4.Variable, *, valid_range: bool = False) -> NDArray[np.bool_]:
    """Missing values of a raw (packed) variable: fill, missing_value, -999, non-finite and, when
    ``valid_range``, outside valid_min/valid_max/valid_range."""
    bad = ~np.isfinite(values) | (values == FILL_VALUE)
    for name in ("_FillValue", "missing_value"):
        for fill in _attr_floats(var, name):
            bad |= values == fill
    if valid_range:
        lo, hi = _attr_floats(var, "valid_min")[:1], _attr_floats(var, "valid_max")[:1]
        rng = _attr_floats(var, "valid_range")
        if len(rng) == 2:
            lo, hi = [rng[0]], [rng[1]]
        with np.errstate(invalid="ignore"):
            if lo:
                bad |= values < lo[0]
            if hi:
                bad |= values > hi[0]
    return bad


def _unpacked(var: netCDF4.Variable, *, valid_range: bool = False) -> NDArray[np.float64]:
    """A variable as float64, NaN where missing (:func:`_missing`), scale_factor/add_offset applied."""
    values = np.array(np.ma.getdata(var[...]), dtype=np.float64)
    bad = _missing(values, var, valid_range=valid_range)
    scale, offset = _attr_floats(var, "scale_factor")[:1], _attr_floats(var, "add_offset")[:1]
    if scale:
        values = values * scale[0]
    if offset:
        values = values + offset[0]
    values[bad] = np.nan
    return values


def _irradiance_factor(var: netCDF4.Variable) -> float:
    """Factor from ``irr_obs``'s units to W m-2 um-1 (module doc); refused when not understood."""
    raw = str(getattr(var, "units", "W m-2 um-1"))
    units = raw
    for old, new in (("µ", "u"), ("μ", "u"), ("^", ""), ("**", ""), (".", " "), ("*", " ")):
        units = units.replace(old, new)
    units = " ".join(units.split()).lower()
    m = re.fullmatch(r"(m?)w\s*(?:m-2|/\s*m2|m2-1)\s*(?:([a-z]+)-1|/\s*([a-z]+))", units)
    if not raw.strip():
        return 1.0
    if m is None or (m.group(2) or m.group(3)) not in _PER_WAVELENGTH_TO_UM:
        raise _refuse(RejectReason.BAD_VALUE, f"irr_obs units {raw!r} not understood (expected W m-2 um-1, "
                                              f"W m-2 nm-1, W m-2 m-1 or W m-2 mm-1)")
    return _PER_WAVELENGTH_TO_UM[m.group(2) or m.group(3)] * (1e-3 if m.group(1) else 1.0)


def _per_channel(ds: netCDF4.Dataset, name: str, n: int) -> list[float | None]:
    """An optional per-channel variable (None per missing value; all None when absent)."""
    if name not in ds.variables:
        return [None] * n
    var = ds.variables[name]
    values = _unpacked(var, valid_range=name == "irr_obs").ravel()
    if values.size != n:
        raise _refuse(RejectReason.BAD_VALUE, f"variable {name} has {values.size} values for {n} channels")
    if name == "irr_obs":
        values = values * _irradiance_factor(var)
    return [None if not math.isfinite(values[k]) else float(values[k]) for k in range(n)]


def _date(ds: netCDF4.Dataset) -> datetime:
    var = ds.variables["date"]
    values = np.asarray(np.ma.getdata(var[...]), dtype=np.float64).ravel()
    if values.size > 1:
        raise _refuse(RejectReason.BAD_VALUE, f"date holds {values.size} times: several observations in one file "
                                              f"are not a GLOD observation file (one observation per file)")
    if values.size != 1 or not math.isfinite(float(values[0])) or float(values[0]) == FILL_VALUE:
        raise _refuse(RejectReason.BAD_VALUE, f"date must hold one finite time, got {values[:4].tolist()}")
    units = str(getattr(var, "units", "")).strip()
    if units.lower() in ("", "s", "sec", "second", "seconds", "seconds since epoch", "seconds since the epoch",
                         "s since epoch"):  # LIME TBX: "seconds since EPOCH" (Unix time)
        units = "seconds since 1970-01-01T00:00:00Z"
    calendar = getattr(var, "calendar", "standard")
    try:
        t = netCDF4.num2date(float(values[0]), units, calendar, only_use_cftime_datetimes=False,
                             only_use_python_datetimes=True)
    except (ValueError, TypeError) as exc:
        raise _refuse(RejectReason.BAD_VALUE, f"date {values[0]!r} with units {units!r}: {exc}") from None
    t = t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)
    return datetime.fromtimestamp(round(t.timestamp(), 3), UTC)  # float seconds: kept to the millisecond


def _frame_name(text: str) -> str:
    """A frame name as the catalogue knows it: upper case; ``ITRF<realisation>`` (ITRF2008,
    ITRF-2014...) and WGS 84 are the Earth-fixed ``ITRF`` (they differ by centimetres), ``J2000.0``
    and ``ICRF2``/``ICRF3`` are ``J2000`` and ``ICRF``."""
    name = " ".join(text.split()).upper()
    known = EARTH_FIXED_FRAMES | INERTIAL_FRAMES
    compact = re.sub(r"[\s_-]+", "", name)
    for candidate in (name, name.replace(" ", "_"), compact):
        if candidate in known:
            return candidate
    if re.fullmatch(r"ITRF\d{2,4}", compact) or compact in ("WGS84", "ECF", "ECR"):
        return "ITRF"
    if compact in ("J2000.0", "EME2000.0"):
        return "J2000"
    if re.fullmatch(r"ICRF\d", compact):
        return "ICRF"
    return name


def _position(ds: netCDF4.Dataset) -> tuple[tuple[float, float, float], str]:
    var = ds.variables["sat_pos"]
    values = np.asarray(np.ma.getdata(var[...]), dtype=np.float64).ravel()
    if values.size != 3 or _missing(values, var).any():
        raise _refuse(RejectReason.BAD_VALUE, f"sat_pos must be 3 finite numbers, got {values[:6].tolist()} (an "
                                              f"observation given by selenographic angles only is not supported)")
    units = str(getattr(var, "units", "km")).strip().lower() or "km"
    if units not in _KM_UNITS:
        raise _refuse(RejectReason.BAD_VALUE, f"sat_pos units {units!r} not understood (km or m)")
    values = values * _KM_UNITS[units]
    frame = _frame_name(_text(ds.variables["sat_pos_ref"][...]))
    if frame not in EARTH_FIXED_FRAMES | INERTIAL_FRAMES:
        raise _refuse(RejectReason.BAD_VALUE, f"sat_pos_ref {frame!r} is not a known frame "
                                              f"(Earth-fixed: {sorted(EARTH_FIXED_FRAMES)}; inertial: "
                                              f"{sorted(INERTIAL_FRAMES)})")
    return (float(values[0]), float(values[1]), float(values[2])), frame


def _imagettes(ds: netCDF4.Dataset, n: int) -> NDArray[np.float64] | None:
    """dc_obs_imgt as float64 (chan, rows, cols), NaN where missing; None when the file has none."""
    if "dc_obs_imgt" not in ds.variables:
        return None
    var = ds.variables["dc_obs_imgt"]
    if var.ndim != 3:
        raise _refuse(RejectReason.BAD_VALUE, f"dc_obs_imgt must be 3-D (row, col, chan), has {var.ndim} dimensions")
    if int(np.prod(var.shape)) > MAX_IMAGETTE_VALUES:
        raise _refuse(RejectReason.TOO_LARGE, f"dc_obs_imgt has {var.shape} values (limit {MAX_IMAGETTE_VALUES})")
    dims = list(var.dimensions)
    axis = dims.index("chan") if "chan" in dims else (2 if var.shape[2] == n else -1)
    if axis < 0 or var.shape[axis] != n:
        raise _refuse(RejectReason.BAD_VALUE, f"dc_obs_imgt {dims} {var.shape} has no channel axis of length {n}")
    return np.moveaxis(_unpacked(var, valid_range=True), axis, 0)


_INSTRUMENT_ATTRIBUTES = ("instrument", "instrument_name", "sensor")


def _instrument(ds: netCDF4.Dataset) -> str:
    """The global attribute ``instrument`` (any case; ``instrument_name`` or ``sensor`` when it is
    absent), whitespace collapsed; refused with ``missing-key`` when none holds a name."""
    by_lower = {a.lower(): a for a in ds.ncattrs()}
    for key in _INSTRUMENT_ATTRIBUTES:
        if key in by_lower:
            value = _text(ds.getncattr(by_lower[key]))
            if value:
                return " ".join(value.split())
    raise _refuse(RejectReason.MISSING_KEY, "global attribute 'instrument' missing (nor instrument_name, sensor)")


def _read_dataset(ds: netCDF4.Dataset) -> GlodObservation:
    ds.set_auto_maskandscale(False)
    missing = [v for v in _REQUIRED if v not in ds.variables]
    if missing:
        raise _refuse(RejectReason.MISSING_KEY, f"GLOD variable(s) {', '.join(missing)} missing")
    instrument = _instrument(ds)
    names = _names(ds.variables["channel_name"])
    n = len(names)
    if n == 0 or len(set(names)) != n or not all(names):
        raise _refuse(RejectReason.BAD_VALUE, f"channel_name must hold distinct names, got {names}")
    date = _date(ds)
    pos, frame = _position(ds)
    images = _imagettes(ds, n)
    per = {k: _per_channel(ds, k, n) for k in ("irr_obs", "dc_obs_offset", "dc_obs", "moon_pix_num",
                                               "moon_pix_thld", "pix_solid_ang", "ovrsamp_fa")}
    channels = []
    for k, name in enumerate(names):
        if per["irr_obs"][k] is None:
            continue  # a missing channel (ICD 6: fill value -999)
        img = images[k] if images is not None and np.isfinite(images[k]).any() else None
        pix = per["moon_pix_num"][k]
        channels.append(GlodChannel(
            name=name, imagette_dn=img, offset_dn=per["dc_obs_offset"][k], dc_obs=per["dc_obs"][k],
            moon_pix_num=int(pix) if pix is not None else None, moon_pix_thld=per["moon_pix_thld"][k],
            pixel_solid_angle_sr=per["pix_solid_ang"][k], oversampling=per["ovrsamp_fa"][k],
            irr_obs_w_m2_um=per["irr_obs"][k],
        ))  # fmt: skip
    if not channels:
        raise _refuse(RejectReason.BAD_VALUE, f"no channel with an observed irradiance ({names})")
    attrs = {a: str(ds.getncattr(a))[:8000] for a in ds.ncattrs()}
    return GlodObservation(instrument=instrument, date_obs=date, sat_pos_km=pos, sat_pos_ref=frame,
                           channels=tuple(channels), attributes=attrs)


def read_glod_bytes(data: bytes, name: str = "observation.nc") -> GlodObservation:
    """Read and check a GLOD observation from the bytes of a file (ICD 6).

    Parameters
    ----------
    data : bytes
        The whole file.
    name : str
        File name, for messages.

    Returns
    -------
    GlodObservation

    Raises
    ------
    InvalidAcquisitionError
        With reason ``not-netcdf``, ``missing-key``, ``bad-value`` or ``too-large`` (module doc).
    """
    if not data.startswith(_SIGNATURES):
        raise _refuse(RejectReason.NOT_NETCDF, f"{name}: not a netCDF file (no netCDF/HDF5 signature)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # netCDF4 warns on odd attributes; a bad file is refused below
            ds = netCDF4.Dataset(name, mode="r", memory=data)
    except (OSError, RuntimeError, ValueError) as exc:
        raise _refuse(RejectReason.NOT_NETCDF, f"{name}: netCDF library cannot open it ({exc})") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _read_dataset(ds)
    except InvalidAcquisitionError:
        raise
    except (OSError, RuntimeError, ValueError, KeyError, IndexError, TypeError, AttributeError,
            UnicodeError) as exc:  # a damaged variable found while reading it: the file's fault
        raise _refuse(RejectReason.BAD_VALUE, f"{name}: unreadable GLOD content ({type(exc).__name__}: {exc})") \
            from None
    finally:
        ds.close()


def read_glod(path: Path) -> GlodObservation:
    """:func:`read_glod_bytes` on a file (read whole: GLOD files are small)."""
    return read_glod_bytes(Path(path).read_bytes(), Path(path).name)


def read_srf(path: Path) -> dict[str, SpectralResponse]:
    """Channel responses of a GSICS SRF netCDF file (``channel_id``, ``wavelength``, ``srf``).

    ``wavelength`` in um (converted to nm) unless its ``units`` say nm (or m; micron, micrometre
    and nanometre spellings accepted; another unit is refused); fill values (-9999 padding),
    non-finite values and duplicates are dropped and each channel sorted by wavelength. The two
    arrays are (sample, channel) or (channel, sample), told by the dimension named ``channel``.

    Raises
    ------
    ValueError
        When the file is not such an SRF file (the message says why).
    """
    try:
        ds = netCDF4.Dataset(str(path), mode="r")
    except OSError as exc:
        raise ValueError(f"{path}: cannot open the SRF file ({exc})") from None
    try:
        ds.set_auto_maskandscale(False)
        for v in ("channel_id", "wavelength", "srf"):
            if v not in ds.variables:
                raise ValueError(f"{path}: SRF variable {v!r} missing")
        ids = _names(ds.variables["channel_id"])
        wl_var, srf_var = ds.variables["wavelength"], ds.variables["srf"]
        wl = np.asarray(wl_var[...], dtype=np.float64)
        resp = np.asarray(srf_var[...], dtype=np.float64)
        if wl.shape != resp.shape or wl.ndim != 2:
            raise ValueError(f"{path}: wavelength {wl.shape} and srf {resp.shape} must be 2-D of one shape")
        if wl_var.dimensions and wl_var.dimensions[0] == "channel":
            wl, resp = wl.T, resp.T
        units = str(getattr(wl_var, "units", "um")).strip().lower().replace("µ", "u").replace("μ", "u") or "um"
        if units not in _WAVELENGTH_TO_NM:
            raise ValueError(f"{path}: SRF wavelength units {units!r} not understood (um or nm)")
        scale = _WAVELENGTH_TO_NM[units]
        out: dict[str, SpectralResponse] = {}
        for k, name in enumerate(ids):
            ok = ~_missing(wl[:, k], wl_var) & ~_missing(resp[:, k], srf_var) & (wl[:, k] > 0)
            lam, r = wl[ok, k] * scale, resp[ok, k]
            lam, first = np.unique(lam, return_index=True)
            if lam.size >= 2:
                out[name] = SpectralResponse(name, lam, np.clip(r[first], 0.0, None))
        return out
    finally:
        ds.close()


def _char_array(values: Sequence[str], width: int) -> NDArray[np.bytes_]:
    out = np.zeros((len(values), width), dtype="S1")
    for k, v in enumerate(values):
        b = v.encode("utf-8")[:width]
        out[k, : len(b)] = np.frombuffer(b, dtype="S1")
    return out


def write_glod(path: Path, obs: GlodObservation, attributes: Mapping[str, str] | None = None) -> None:
    """Write a GLOD observation file (ICD 6, the layout of EUMETSAT's files), netCDF-4.

    Imagettes of different shapes are padded with the fill value to the largest one; every
    missing value is written as -999; without any imagette ``dc_obs_imgt`` is left out.
    ``rad_obs_imgt`` is not written (optional).
    """
    chans = obs.channels
    images = [c.imagette_dn for c in chans if c.imagette_dn is not None]
    rows = max((a.shape[0] for a in images), default=1)
    cols = max((a.shape[1] for a in images), default=1)
    strlen = max(6, max(len(c.name) for c in chans))
    with netCDF4.Dataset(str(path), mode="w", format="NETCDF4") as ds:
        ds.setncattr("Conventions", "CF-1.6")
        ds.setncattr("project", "Global Space-based Inter-Calibration System <http://gsics.wmo.int>")
        ds.setncattr("instrument", obs.instrument)
        for key, value in {**obs.attributes, **(attributes or {})}.items():
            ds.setncattr(key, str(value))
        ds.createDimension("chan", len(chans))
        ds.createDimension("chan_strlen", strlen)
        ds.createDimension("date", 1)
        ds.createDimension("sat_ref_strlen", max(6, len(obs.sat_pos_ref)))
        ds.createDimension("sat_xyz", 3)
        ds.createDimension("col", cols)
        ds.createDimension("row", rows)
        v = ds.createVariable("channel_name", "S1", ("chan", "chan_strlen"))
        v[:] = _char_array([c.name for c in chans], strlen)
        v.long_name = "channel identifier"
        v = ds.createVariable("date", "f8", ("date",))
        v.units = "seconds since 1970-01-01T00:00:00Z"
        v.calendar = "gregorian"
        v.long_name = "time of lunar observation"
        v[:] = [obs.date_obs.astimezone(UTC).timestamp()]
        v = ds.createVariable("sat_pos", "f8", ("sat_xyz",), fill_value=FILL_VALUE)
        v.units = "km"
        v.long_name = "satellite position x y z in sat_pos_ref"
        v[:] = list(obs.sat_pos_km)
        v = ds.createVariable("sat_pos_ref", "S1", ("sat_ref_strlen",))
        v[:] = _char_array([obs.sat_pos_ref], max(6, len(obs.sat_pos_ref)))[0]

        def per_channel(name: str, dtype: str, values: list[float | None], units: str, long_name: str) -> None:
            var = ds.createVariable(name, dtype, ("chan",), fill_value=FILL_VALUE if dtype == "f8" else -999)
            var.units = units
            var.long_name = long_name
            var[:] = [FILL_VALUE if x is None else x for x in values]

        per_channel("irr_obs", "f8", [c.irr_obs_w_m2_um for c in chans], "W m-2 um-1", "observed lunar irradiance")
        per_channel("pix_solid_ang", "f8", [c.pixel_solid_angle_sr for c in chans], "sr", "pixel solid angle")
        per_channel("ovrsamp_fa", "f8", [c.oversampling for c in chans], "1", "oversampling factor")
        per_channel("dc_obs", "f8", [c.dc_obs for c in chans], "1", "integrated digital counts of lunar observation")
        per_channel("dc_obs_offset", "f8", [c.offset_dn for c in chans], "1",
                    "averaged digital counts offset of deep space")
        per_channel("moon_pix_num", "i4", [c.moon_pix_num for c in chans], "1", "number of moon pixels")
        per_channel("moon_pix_thld", "f8", [c.moon_pix_thld for c in chans], "1",
                    "digital counts threshold for moon masking")
        if not images:
            return  # dc_obs_imgt is optional
        img = np.full((rows, cols, len(chans)), FILL_VALUE, dtype=np.float64)
        for k, c in enumerate(chans):
            if c.imagette_dn is None:
                continue
            a = np.asarray(c.imagette_dn, dtype=np.float64)
            img[: a.shape[0], : a.shape[1], k] = np.where(np.isfinite(a), a, FILL_VALUE)
        v = ds.createVariable("dc_obs_imgt", "f8", ("row", "col", "chan"), fill_value=FILL_VALUE, zlib=True)
        v.units = "1"
        v.long_name = "observed moon digital counts imagette"
        v[:] = img


def write_srf(path: Path, responses: Sequence[SpectralResponse], attributes: Mapping[str, str] | None = None) -> None:
    """Write a GSICS SRF netCDF file (``channel_id``, ``wavelength`` um, ``srf``; -9999 padding)."""
    n = max(r.wavelength_nm.size for r in responses)
    with netCDF4.Dataset(str(path), mode="w", format="NETCDF4") as ds:
        for key, value in (attributes or {}).items():
            ds.setncattr(key, str(value))
        ds.createDimension("channel", len(responses))
        ds.createDimension("sample", n)
        v = ds.createVariable("channel_id", str, ("channel",))
        for k, r in enumerate(responses):
            v[k] = r.channel
        wl = np.full((n, len(responses)), -9999.0)
        s = np.full((n, len(responses)), -9999.0)
        for k, r in enumerate(responses):
            wl[: r.wavelength_nm.size, k] = r.wavelength_nm / 1000.0
            s[: r.response.size, k] = r.response
        v = ds.createVariable("wavelength", "f8", ("sample", "channel"), fill_value=-9999.0)
        v.units = "um"
        v[:] = wl
        v = ds.createVariable("srf", "f8", ("sample", "channel"), fill_value=-9999.0)
        v.long_name = "normalized spectral response"
        v[:] = s
