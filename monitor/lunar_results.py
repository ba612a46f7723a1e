"""Exports of the lunar comparisons (ICD 6): the ``lunar_comparison`` entries of the results
document, a CSV table and a LIME TBX-style comparison netCDF file.

The netCDF follows the layout LIME TBX documents for its comparison files (dimensions ``chan``,
``date``/``number_obs``, ``sat_xyz``; variables ``date``, ``channel_name``, ``sat_pos``,
``sat_pos_ref``, ``mpa`` (phase angle), ``outside_mpa_range``, ``irr_obs`` (the model),
``irr_comp`` (the instrument), ``irr_diff``, ``perc_diff`` and per channel ``mrd``, ``mard``,
``std_mrd``, ``number_samples``; attributes ``data_source``, ``reference_model``,
``is_comparison = 1``), with monitor's own additions (``ratio``, ``ratio_unc``, ``status``). As in
LIME TBX, ``irr_obs`` there is the SIMULATED irradiance and ``irr_comp`` the instrument's; the
statistics use the in-trend comparisons after the iterative 3σ filter.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import netCDF4
import numpy as np
from sqlmodel import Session

from monitor.catalogue import lunar_comparisons as lc
from monitor.domain import REF_VERSION
from monitor.science.exceptions import InsufficientDataError
from monitor.science.lunar_comparison import ROLO_ABSOLUTE_SCALE_TEXT, ComparisonStatistics, comparison_statistics

__all__ = ["lunar_comparison_entries", "channel_statistics", "comparisons_csv", "write_comparison_netcdf",
           "CSV_COLUMNS"]

Pair = tuple[lc.LunarComparisonRow, lc.GlodObservationRow]
CSV_COLUMNS = ("instrument", "channel", "date", "file", "status", "reason", "dc_integrated", "dc_file", "irr_obs",
               "irr_model", "ratio", "ratio_sigma", "phase_angle_deg", "sun_selenographic_lon_deg",
               "obs_selenographic_lat_deg", "obs_selenographic_lon_deg", "d_sun_moon_km", "d_obs_moon_km",
               "dc_convention", "model_rel_sigma", "counts_rel_sigma", "reference_model")


def _utc(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def _iso(t: datetime) -> str:
    return _utc(t).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _rows(session: Session, satellite: str | None, band: str | None, since: datetime | None,
          until: datetime | None) -> list[Pair]:
    rows = lc.latest_lunar_comparisons(session, instrument=satellite, since=since, until=until)
    return [(c, o) for c, o in rows if band is None or c.channel == band]


def lunar_comparison_entries(session: Session, *, satellite: str | None = None, band: str | None = None,
                             since: datetime | None = None, until: datetime | None = None) -> list[dict[str, Any]]:
    """The ICD 6 ``lunar_comparison`` entries (latest run of each observation); ``satellite``
    filters on the instrument, ``band`` on the channel."""
    return [{
        "instrument": o.instrument, "channel": c.channel, "date": _iso(o.date_obs), "file": o.file_name,
        "status": c.status, "reason": c.reason, "dc_integrated": c.dc_integrated, "dc_file": c.dc_file,
        "irr_obs": c.irr_obs, "irr_model": c.irr_model, "ratio": c.ratio, "ratio_sigma": c.ratio_sigma,
        "phase_angle_deg": c.phase_angle_deg, "reference_model": (c.budget or {}).get("reference_model", REF_VERSION),
    } for c, o in _rows(session, satellite, band, since, until)]  # fmt: skip


def channel_statistics(pairs: Sequence[Pair]) -> dict[tuple[str, str], ComparisonStatistics]:
    """LIME-style statistics per (instrument, channel) of the in-trend comparisons."""
    groups: dict[tuple[str, str], list[Pair]] = {}
    for c, o in pairs:
        if c.in_trend and c.ratio is not None:
            groups.setdefault((o.instrument, c.channel), []).append((c, o))
    out: dict[tuple[str, str], ComparisonStatistics] = {}
    origin = datetime(2000, 1, 1, tzinfo=UTC)
    for key, items in sorted(groups.items()):
        t = [(_utc(o.date_obs) - origin).total_seconds() / (365.25 * 86400.0) for _, o in items]
        try:
            out[key] = comparison_statistics([c.ratio for c, _ in items], t, [c.phase_angle_deg for c, _ in items])
        except InsufficientDataError:
            continue
    return out


def comparisons_csv(session: Session, **filters: Any) -> str:
    """The comparisons as CSV text (one row per observation and channel, :data:`CSV_COLUMNS`)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for c, o in _rows(session, filters.get("satellite"), filters.get("band"), filters.get("since"),
                      filters.get("until")):
        b = c.budget or {}
        w.writerow([o.instrument, c.channel, _iso(o.date_obs), o.file_name, c.status, c.reason or "",
                    *("" if v is None else repr(float(v)) for v in (
                        c.dc_integrated, c.dc_file, c.irr_obs, c.irr_model, c.ratio, c.ratio_sigma, c.phase_angle_deg,
                        c.sun_selenographic_lon_deg, c.obs_selenographic_lat_deg, c.obs_selenographic_lon_deg,
                        c.d_sun_moon_km, c.d_obs_moon_km)),
                    b.get("dc_convention") or "", b.get("model", ""), b.get("counts", ""),
                    b.get("reference_model", REF_VERSION)])
    return buf.getvalue()


def write_comparison_netcdf(path: Path, session: Session, *, code_version: str, **filters: Any) -> int:
    """Write the comparisons as a LIME TBX-style comparison netCDF (module doc); returns the number
    of observations written."""
    pairs = _rows(session, filters.get("satellite"), filters.get("band"), filters.get("since"), filters.get("until"))
    channels = sorted({c.channel for c, _ in pairs})
    obs_ids = sorted({o.id for _, o in pairs if o.id is not None},
                     key=lambda i: next(_utc(o.date_obs) for _, o in pairs if o.id == i))
    obs = {o.id: o for _, o in pairs}
    n, m = len(obs_ids), len(channels)
    grid = {name: np.full((n, m), np.nan) for name in ("model", "comp", "ratio", "ratio_unc")}
    status = np.full((n, m), -1, dtype=np.int8)  # -1 none, 0 ok, 1 flagged, 2 rejected
    mpa = np.full(n, np.nan)
    for c, o in pairs:
        i, j = obs_ids.index(o.id), channels.index(c.channel)
        for name, v in (("model", c.irr_model), ("comp", c.irr_obs), ("ratio", c.ratio),
                        ("ratio_unc", c.ratio_sigma)):
            grid[name][i, j] = np.nan if v is None else v
        status[i, j] = {"ok": 0, "flagged": 1}.get(c.status, 2)
        if c.phase_angle_deg is not None:
            mpa[i] = c.phase_angle_deg
    stats = channel_statistics(pairs)
    instruments = sorted({o.instrument for _, o in pairs})
    with netCDF4.Dataset(str(path), "w", format="NETCDF4") as ds:
        ds.data_source = f"monitor {code_version}"
        ds.reference_model = REF_VERSION
        ds.is_comparison = np.int8(1)
        ds.not_default_srf = np.int8(1)
        ds.instrument = ", ".join(instruments)
        ds.absolute_scale_note = ROLO_ABSOLUTE_SCALE_TEXT
        ds.relative_difference_definition = "irr_comp / irr_obs - 1 (instrument / model - 1)"
        ds.date_created = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        for name, size in (("chan", m), ("date", n), ("number_obs", n), ("sat_xyz", 3)):
            ds.createDimension(name, size)
        v = ds.createVariable("date", "f8", ("date",))
        v.units = "seconds since 1970-01-01T00:00:00Z"
        v[:] = [_utc(obs[i].date_obs).timestamp() for i in obs_ids]
        v = ds.createVariable("channel_name", str, ("chan",))
        for j, name in enumerate(channels):
            v[j] = name
        v = ds.createVariable("sat_pos", "f8", ("number_obs", "sat_xyz"))
        v.units = "km"
        v[:] = np.array([[obs[i].sat_pos_x_km, obs[i].sat_pos_y_km, obs[i].sat_pos_z_km] for i in obs_ids]
                        ).reshape(n, 3)
        v = ds.createVariable("sat_pos_ref", str, ("number_obs",))
        for k, i in enumerate(obs_ids):
            v[k] = obs[i].sat_pos_ref
        v = ds.createVariable("mpa", "f8", ("number_obs",))
        v.units = "degree"
        v.long_name = "Moon phase angle, signed (negative waxing)"
        v[:] = mpa
        ds.createVariable("outside_mpa_range", "i1", ("number_obs",))[:] = (
            ~((np.abs(mpa) >= 2.0) & (np.abs(mpa) <= 90.0))).astype(np.int8)
        for name, key, units in (("irr_obs", "model", "W m-2 um-1"), ("irr_comp", "comp", "W m-2 um-1"),
                                 ("ratio", "ratio", "1"), ("ratio_unc", "ratio_unc", "1")):
            v = ds.createVariable(name, "f8", ("number_obs", "chan"), fill_value=np.nan)
            v.units = units
            v[:] = grid[key]
        v = ds.createVariable("irr_diff", "f8", ("number_obs", "chan"), fill_value=np.nan)
        v.units = "W m-2 um-1"
        v[:] = grid["comp"] - grid["model"]
        v = ds.createVariable("perc_diff", "f8", ("number_obs", "chan"), fill_value=np.nan)
        v.units = "%"
        v[:] = 100.0 * (grid["ratio"] - 1.0)
        v = ds.createVariable("status", "i1", ("number_obs", "chan"))
        v.flag_values = np.array([-1, 0, 1, 2], dtype=np.int8)
        v.flag_meanings = "none ok flagged rejected"
        v[:] = status
        for name, attr in (("mrd", "mrd"), ("mard", "mard"), ("std_mrd", "std"), ("number_samples", "n")):
            v = ds.createVariable(name, "f8", ("chan",), fill_value=np.nan)
            v[:] = [float(getattr(stats[(inst, ch)], attr)) if (inst, ch) in stats else np.nan
                    for ch in channels for inst in instruments[:1]]
    return n
