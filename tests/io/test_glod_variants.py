"""GLOD observation files written from the GSICS GLOD convention in its legitimate variants (as
EUMETSAT's SEVIRI, JMA's MTSAT-2 Imager and LIME TBX files differ): each is read with the right
values, or refused with a clear reason (never another exception). Files are written with netCDF4
here, independently of :func:`monitor.io.glod.write_glod`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import netCDF4
import numpy as np
import pytest

from monitor.domain import RejectReason
from monitor.io.errors import InvalidAcquisitionError
from monitor.io.glod import read_glod

T0 = datetime(2013, 7, 25, 3, 51, 38, tzinfo=UTC)
IRR = [1.3e-3, 9.0e-4]  # W m-2 um-1


def _image(rows: int = 60, cols: int = 80) -> np.ndarray:
    img = np.full((rows, cols, 2), 50, dtype=np.int32)
    img[20:40, 30:50, :] = 400
    return img


def _write(path: Path, *, strings: bool = False, irr_units: str = "W m-2 um-1", irr_scale: float = 1.0,
           pos_units: str = "km", pos_scale: float = 1.0, dates: int = 1, imagette: bool = True,
           optional: bool = True, pad_minus_one: bool = False, packed: bool = False,
           extra: Callable[[netCDF4.Dataset], None] | None = None) -> Path:
    with netCDF4.Dataset(str(path), "w", format="NETCDF4") as ds:
        ds.instrument = "MTSAT2 Imager"
        ds.createDimension("chan", 2)
        ds.createDimension("date", dates)
        ds.createDimension("sat_xyz", 3)
        if strings:  # netCDF strings, sat_pos_ref a scalar (LIME TBX's writer)
            v = ds.createVariable("channel_name", str, ("chan",))
            v[0], v[1] = "VIS", "NIR"
            ds.createVariable("sat_pos_ref", str, ())[...] = np.array("ITRF93", dtype=object)
        else:  # char arrays, NUL-padded (EUMETSAT, JMA)
            ds.createDimension("chan_strlen", 6)
            ds.createDimension("sat_ref_strlen", 12)
            ds.createVariable("channel_name", "S1", ("chan", "chan_strlen"))[:] = netCDF4.stringtochar(
                np.array(["VIS", "NIR"], dtype="S6"))
            ds.createVariable("sat_pos_ref", "S1", ("sat_ref_strlen",))[:] = netCDF4.stringtochar(
                np.array(["ITRF93"], dtype="S12"))[0]
        v = ds.createVariable("date", "f8", ("date",))
        v.units = "seconds since 1970-01-01T00:00:00Z"
        v[:] = [T0.timestamp() + 60.0 * k for k in range(dates)]
        v = ds.createVariable("sat_pos", "f8", ("sat_xyz",), fill_value=-999.0)
        v.units = pos_units
        v.valid_min = 0.0  # as in the real files: broken by negative coordinates, not applied
        v[:] = np.array([-34519.78, 24189.64, -9.54]) * pos_scale
        v = ds.createVariable("irr_obs", "f8", ("chan",), fill_value=-999.0)
        v.units = irr_units
        v[:] = np.array(IRR) * irr_scale
        if optional:
            for name, values in (("dc_obs_offset", [50.0, 50.0]), ("dc_obs", [130000.0, 130000.0]),
                                 ("moon_pix_thld", [70.0, 70.0]), ("pix_solid_ang", [7.84e-10, 7.84e-10]),
                                 ("ovrsamp_fa", [1.75, 1.75])):
                ds.createVariable(name, "f8", ("chan",), fill_value=-999.0)[:] = values
            ds.createVariable("moon_pix_num", "i4", ("chan",), fill_value=-999)[:] = [400, 400]
        if imagette:
            ds.createDimension("row", 60)
            ds.createDimension("col", 80)
            img = _image()
            if pad_minus_one:
                img[:, :10, :] = -1  # JMA: outside the scan, under valid_min = 0
            if packed:
                v = ds.createVariable("dc_obs_imgt", "i2", ("row", "col", "chan"), fill_value=np.int16(-999))
                v.scale_factor, v.add_offset = 2.0, 10.0
                v.set_auto_maskandscale(False)
                v[:] = ((img - 10) // 2).astype(np.int16)
                v.valid_min, v.valid_max = np.int16(0), np.int16(30000)  # CF: in packed units
            else:
                v = ds.createVariable("dc_obs_imgt", "i4", ("row", "col", "chan"), fill_value=np.int32(-999))
                v[:] = img
                v.valid_min, v.valid_max = np.int32(0), np.int32(1000000)
        if extra is not None:
            extra(ds)
    return path


def test_char_and_string_encodings_read_alike(tmp_path: Path) -> None:
    a = read_glod(_write(tmp_path / "a.nc"))
    b = read_glod(_write(tmp_path / "b.nc", strings=True))
    for obs in (a, b):
        assert obs.instrument == "MTSAT2 Imager" and obs.sat_pos_ref == "ITRF93" and obs.date_obs == T0
        assert [c.name for c in obs.channels] == ["VIS", "NIR"]
        assert obs.sat_pos_km == pytest.approx((-34519.78, 24189.64, -9.54))  # valid_min = 0 not applied
        assert [c.irr_obs_w_m2_um for c in obs.channels] == pytest.approx(IRR)


@pytest.mark.parametrize(("units", "scale"), [
    ("W m-2 um-1", 1.0), ("W m-2 µm-1", 1.0), ("W m-2 μm-1", 1.0), ("W/m2/um", 1.0), ("W m^-2 micron^-1", 1.0),
    ("W m-2 nm-1", 1e-3), ("W m-2 m-1", 1e6), ("W m-2 mm-1", 1e3), ("mW m-2 nm-1", 1.0), ("", 1.0),
])
def test_irradiance_units_are_converted_to_w_m2_um(tmp_path: Path, units: str, scale: float) -> None:
    obs = read_glod(_write(tmp_path / "u.nc", irr_units=units, irr_scale=scale))
    assert [c.irr_obs_w_m2_um for c in obs.channels] == pytest.approx(IRR, rel=1e-12)


@pytest.mark.parametrize(("units", "scale"), [("km", 1.0), ("m", 1e3), ("kilometres", 1.0), ("metres", 1e3)])
def test_position_units(tmp_path: Path, units: str, scale: float) -> None:
    obs = read_glod(_write(tmp_path / "p.nc", pos_units=units, pos_scale=scale))
    assert obs.sat_pos_km == pytest.approx((-34519.78, 24189.64, -9.54))


@pytest.mark.parametrize(("kwargs", "reason", "words"), [
    ({"irr_units": "W m-2 sr-1 um-1"}, RejectReason.BAD_VALUE, "irr_obs units"),
    ({"irr_units": "photons s-1"}, RejectReason.BAD_VALUE, "irr_obs units"),
    ({"pos_units": "AU"}, RejectReason.BAD_VALUE, "sat_pos units"),
    ({"dates": 3}, RejectReason.BAD_VALUE, "several observations"),
], ids=["radiance-units", "photon-units", "position-in-au", "three-observations"])
def test_unsupported_variants_are_refused_with_a_reason(tmp_path: Path, kwargs: dict[str, object],
                                                         reason: RejectReason, words: str) -> None:
    with pytest.raises(InvalidAcquisitionError) as info:
        read_glod(_write(tmp_path / "x.nc", **kwargs))  # type: ignore[arg-type]
    assert info.value.reason is reason and words in info.value.message


def test_position_by_selenographic_angles_only_is_refused(tmp_path: Path) -> None:
    def fill(ds: netCDF4.Dataset) -> None:  # LIME's extension: sat_pos filled, angles given instead
        ds.variables["sat_pos"][:] = [-999.0, -999.0, -999.0]
        ds.createVariable("phase_angle", "f8", ("date",))[:] = [30.0]

    with pytest.raises(InvalidAcquisitionError) as info:
        read_glod(_write(tmp_path / "s.nc", extra=fill))
    assert info.value.reason is RejectReason.BAD_VALUE and "selenographic" in info.value.message


def test_imagette_and_optional_variables_may_be_absent(tmp_path: Path) -> None:
    obs = read_glod(_write(tmp_path / "o.nc", imagette=False, optional=False))
    assert [c.name for c in obs.channels] == ["VIS", "NIR"]
    for c in obs.channels:
        assert c.imagette_dn is None
        assert (c.offset_dn, c.dc_obs, c.moon_pix_num, c.pixel_solid_angle_sr, c.oversampling) == (None,) * 5


def test_padding_under_valid_min_is_missing(tmp_path: Path) -> None:
    img = read_glod(_write(tmp_path / "j.nc", pad_minus_one=True)).channels[0].imagette_dn
    assert np.isnan(img[:, :10]).all() and np.isfinite(img[:, 10:]).all()
    assert np.nanmin(img) == 50.0


def test_packed_imagette_is_unpacked(tmp_path: Path) -> None:
    img = read_glod(_write(tmp_path / "k.nc", packed=True)).channels[1].imagette_dn
    assert np.array_equal(img, _image()[:, :, 1].astype(float))


def test_missing_value_attribute_and_one_missing_channel(tmp_path: Path) -> None:
    def edit(ds: netCDF4.Dataset) -> None:
        v = ds.variables["irr_obs"]
        v.missing_value = -1.0
        v[1] = -1.0
        ds.variables["dc_obs"][0] = -999.0

    obs = read_glod(_write(tmp_path / "m.nc", extra=edit))
    assert [c.name for c in obs.channels] == ["VIS"]
    assert obs.channels[0].dc_obs is None and obs.channels[0].offset_dn == 50.0


@pytest.mark.parametrize(("units", "to_file"), [("um", 1e-3), ("micrometer", 1e-3), ("µm", 1e-3), ("nm", 1.0),
                                                ("nanometres", 1.0)])
def test_srf_wavelength_units_and_char_channel_ids(tmp_path: Path, units: str, to_file: float) -> None:
    from monitor.io.glod import read_srf

    lam_nm = np.array([[600.0, 800.0], [610.0, 810.0], [620.0, 820.0], [-9999.0, 830.0]])  # (sample, channel)
    path = tmp_path / "srf.nc"
    with netCDF4.Dataset(str(path), "w") as ds:
        ds.createDimension("channel", 2)
        ds.createDimension("sample", 4)
        ds.createDimension("strlen", 4)
        ds.createVariable("channel_id", "S1", ("channel", "strlen"))[:] = netCDF4.stringtochar(
            np.array(["VIS", "NIR"], dtype="S4"))
        v = ds.createVariable("wavelength", "f8", ("sample", "channel"), fill_value=-9999.0)
        v.units = units
        v[:] = np.where(lam_nm > 0, lam_nm * to_file, -9999.0)
        ds.createVariable("srf", "f8", ("sample", "channel"), fill_value=-9999.0)[:] = [[0.5, 1.0], [1.0, 1.0],
                                                                                       [0.5, 1.0], [-9999.0, 0.2]]
    srf = read_srf(path)
    assert np.allclose(srf["VIS"].wavelength_nm, [600.0, 610.0, 620.0])
    assert np.allclose(srf["NIR"].wavelength_nm, [800.0, 810.0, 820.0, 830.0])


def test_srf_with_unknown_wavelength_units_is_refused(tmp_path: Path) -> None:
    from monitor.io.glod import read_srf

    path = tmp_path / "srf.nc"
    with netCDF4.Dataset(str(path), "w") as ds:
        ds.createDimension("channel", 1)
        ds.createDimension("sample", 2)
        ds.createVariable("channel_id", str, ("channel",))[0] = "VIS"
        ds.createVariable("wavelength", "f8", ("sample", "channel")).units = "cm-1"
        ds.createVariable("srf", "f8", ("sample", "channel"))[:] = [[1.0], [1.0]]
    with pytest.raises(ValueError, match="units 'cm-1' not understood"):
        read_srf(path)


@pytest.mark.parametrize("attribute", ["INSTRUMENT", "Instrument", "instrument_name", "sensor"])
def test_instrument_attribute_spellings(tmp_path: Path, attribute: str) -> None:
    def rename(ds: netCDF4.Dataset) -> None:
        ds.delncattr("instrument")
        ds.setncattr(attribute, "  MTSAT2   Imager ")

    assert read_glod(_write(tmp_path / "i.nc", extra=rename)).instrument == "MTSAT2 Imager"


def test_no_instrument_attribute_is_missing_key(tmp_path: Path) -> None:
    with pytest.raises(InvalidAcquisitionError) as info:
        read_glod(_write(tmp_path / "n.nc", extra=lambda ds: ds.delncattr("instrument")))
    assert info.value.reason is RejectReason.MISSING_KEY and "instrument" in info.value.message


@pytest.mark.parametrize(("name", "frame"), [("ITRF93", "ITRF93"), ("itrf93", "ITRF93"), ("ITRF2014", "ITRF"),
                                             ("ITRF-2008", "ITRF"), ("WGS 84", "ITRF"), ("IAU_EARTH", "IAU_EARTH"),
                                             ("J2000", "J2000"), ("EME2000", "EME2000"), ("gcrs", "GCRS"),
                                             ("ICRF3", "ICRF")])
def test_frame_names(tmp_path: Path, name: str, frame: str) -> None:
    def ref(ds: netCDF4.Dataset) -> None:
        ds.variables["sat_pos_ref"][:] = netCDF4.stringtochar(np.array([name], dtype="S12"))[0]

    assert read_glod(_write(tmp_path / "f.nc", extra=ref)).sat_pos_ref == frame


@pytest.mark.parametrize("name", ["TEME", "MOON_ME", ""])
def test_unknown_frames_are_refused(tmp_path: Path, name: str) -> None:
    def ref(ds: netCDF4.Dataset) -> None:
        ds.variables["sat_pos_ref"][:] = netCDF4.stringtochar(np.array([name], dtype="S12"))[0]

    with pytest.raises(InvalidAcquisitionError) as info:
        read_glod(_write(tmp_path / "f.nc", extra=ref))
    assert info.value.reason is RejectReason.BAD_VALUE and "not a known frame" in info.value.message


@pytest.mark.parametrize(("units", "value"), [
    ("seconds since EPOCH", T0.timestamp()), ("seconds since 1970-01-01 00:00:00 UTC", T0.timestamp()),
    ("days since 2013-07-25", (3 * 3600 + 51 * 60 + 38) / 86400.0), ("", T0.timestamp()),
])
def test_date_units(tmp_path: Path, units: str, value: float) -> None:
    def date(ds: netCDF4.Dataset) -> None:
        v = ds.variables["date"]
        v.units = units
        v[:] = [value]

    assert read_glod(_write(tmp_path / "d.nc", extra=date)).date_obs == T0
