"""Generator of ICD-1 acquisition campaigns with a known truth (tests, demo, benchmarks).

For each satellite and month, a burst of acquisitions a few days long:

- **STAR** (default on PHR1A/PHR1B): ``stars_per_campaign`` stars drawn from a per-satellite pool
  of reference stars (2 <= V <= 5.5, valid B−V), so that every star has a time series. Signal per
  band from the measurement equation (ICD 1.3) ``S_k = OVERSAMP · GAINFACT · A_k(t) · E_k / Ω_pix``
  with ``E_k`` from the REF-1 star model; vignettes from
  :func:`monitor.simulate.star.simulate_star_vignette` (PSF with diffraction wings, noise, dark,
  background tilt, saturation). ``OVERSAMP`` is drawn in {1, 2, 3, 4}; ``GAINFACT`` (1–4) is chosen
  per band so that the peak native pixel lies between 25 % and 75 % of the range below
  ``SATURATE``, as an operator would set the TDI stages; a small fraction of acquisitions asks
  for 1.3–2.5 times the range in the bands of a bright star, to exercise the saturation flag.
- **MOON** (default on PNEO3/PNEO4, ``moon_per_month``): a date of the month near a drawn phase
  angle (±15–75°), a satellite state that sees the Moon, the REF-1 lunar irradiance at that
  geometry (:func:`monitor.science.lunar_geometry.lunar_geometry`,
  :func:`monitor.science.lunar_model.lunar_band_irradiance`) and a disk of physical apparent size
  from :func:`monitor.simulate.moon.simulate_moon_band`, brought to ~150 delivered pixels by
  ``BINNING`` (see :func:`_simulate_moon`).
- **GEOM** (every satellite, ``geom_per_month``): a stereo pair over a calibration site from
  :func:`monitor.simulate.geom.simulate_geom_pair` (EPHEM and GCP tables, ICD 3 keys).
- **Bad files** (``bad_files=True``), one of each kind: not FITS, truncated inside a data block,
  truncated on a 2880-byte block boundary (the case astropy reads silently), missing key
  (``DATE-OBS``), bad value (``SC_POS`` in metres), unknown band (a PNEO band name in a PHR file),
  every band all-NaN (the whole file is expected rejected, reason ``all-nan``), a conflicting
  re-delivery (same ``ACQ_ID``, different bytes) and an exact duplicate (same bytes, another name).

Every file is written atomically with a ``.done`` marker by
:func:`monitor.io.fits_writer.write_acquisition`. The returned
:class:`~monitor.simulate.truth.SimulationTruth` describes every file.

The instrument numbers (IFOV, altitude, line period, saturation, read noise, gain) are those
of :mod:`monitor.science.instrument`; dark 20–60 DN.
"""

from __future__ import annotations

import calendar
import math
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from monitor.domain import (
    BANDS_BY_MISSION,
    ICD_VERSION,
    MISSION_OF_SATELLITE,
    MOON_SATELLITES,
    STAR_SATELLITES,
    AcqType,
    AcquisitionHeader,
    BandHeader,
    GeomHeader,
    Mission,
    RejectReason,
    Satellite,
)
from monitor.io.fits_writer import DONE_SUFFIX, ImageDtype, write_acquisition
from monitor.io.reference_data import load_johnson_v, load_rsr, load_star_catalogue
from monitor.science.constants import GM_KM3_S2, SECONDS_PER_DAY, WGS84_A_KM
from monitor.science.instrument import (
    E_PER_DN_REFERENCE,
    ORBIT_ALTITUDE_KM,
    READ_NOISE_DN,
    SATURATE_DN,
    SSO_INCLINATION_DEG,
    lineper_ms,
    pixscale_urad,
)
from monitor.simulate.truth import BandFileTruth, BandTruth, FileTruth, SimulationTruth, a_true

__all__ = [
    "DEFAULT_A0",
    "SATELLITE_A_FACTOR",
    "MOON_FRAME_DIAMETERS",
    "simulate_campaigns",
    "circular_orbit_state",
    "make_acq_id",
]

# True A_k at the reference epoch, DN / (W m^-2 sr^-1 um^-1). PAN: a V = 2 star (B-V = 0) at
# GAINFACT = 1 peaks at about 60 % of the 12-bit range with the default PSFs (peak native pixel
# = 29 % (PHR) / 32 % (PNEO) of the star's signal). MS: the same star at GAINFACT = 4 peaks at
# 35-60 % of the range, so faint stars use the highest gain, as the TDI setting would.
DEFAULT_A0: dict[Mission, dict[str, float]] = {
    Mission.PHR: {"P": 2.0, "B0": 2.5, "B1": 3.0, "B2": 4.0, "B3": 6.0},
    Mission.PNEO: {"P": 0.40, "DB": 0.8, "B": 1.0, "G": 1.3, "R": 1.8, "RE": 2.4, "NIR": 3.2},
}
SATELLITE_A_FACTOR = {Satellite.PHR1A: 1.00, Satellite.PHR1B: 0.97, Satellite.PNEO3: 1.00, Satellite.PNEO4: 1.03}
BAND_DRIFT_FACTOR = {"P": 1.0, "B0": 1.5, "DB": 1.8, "B": 1.4, "B1": 1.1, "G": 1.1}  # blue ages faster

_PEAK_RANGE = (0.25, 0.75)  # target peak / (SATURATE - DARK) of the gain choice
_SATURATING_RANGE = (1.3, 2.5)
MOON_FRAME_DIAMETERS = 2.2  # MOON frame width / disk diameter: room for the photometry at large |g|


def circular_orbit_state(
    rng: np.random.Generator, mission: Mission, raan_deg: float
) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """Position (km) and velocity (km/s) on a circular sun-synchronous-like orbit, random phase.

    Parameters
    ----------
    rng : numpy.random.Generator
        Draws the argument of latitude.
    mission : Mission
        Sets the altitude (PHR 694 km, PNEO 620 km) and inclination.
    raan_deg : float
        Right ascension of the ascending node, degrees (GCRS).

    Returns
    -------
    tuple
        ``((x, y, z), (vx, vy, vz))``, km and km/s.
    """
    r = WGS84_A_KM + ORBIT_ALTITUDE_KM[mission]
    v = math.sqrt(GM_KM3_S2 / r)
    inc = math.radians(SSO_INCLINATION_DEG[mission])
    node = math.radians(raan_deg)
    u = rng.uniform(0.0, 2.0 * math.pi)
    p = np.array([math.cos(node), math.sin(node), 0.0])
    q = np.array([-math.sin(node) * math.cos(inc), math.cos(node) * math.cos(inc), math.sin(inc)])
    pos = r * (math.cos(u) * p + math.sin(u) * q)
    vel = v * (-math.sin(u) * p + math.cos(u) * q)
    return (float(pos[0]), float(pos[1]), float(pos[2])), (float(vel[0]), float(vel[1]), float(vel[2]))


def make_acq_id(satellite: Satellite, acq_type: AcqType, epoch: datetime, seq: int) -> str:
    """``ACQ_ID`` like ``PHR1A-STAR-20250314T021533-0042``."""
    return f"{satellite.value}-{acq_type.value}-{epoch.astimezone(UTC):%Y%m%dT%H%M%S}-{seq:04d}"


def _add_months(t: datetime, months: int) -> datetime:
    month0 = t.month - 1 + months
    year, month = t.year + month0 // 12, month0 % 12 + 1
    day = min(t.day, calendar.monthrange(year, month)[1])
    return t.replace(year=year, month=month, day=day)


def _round_ms(t: datetime) -> datetime:
    return t.replace(microsecond=(t.microsecond // 1000) * 1000)


# ---------------------------------------------------------------------------------------------
# Star reference data (computed once)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _StarTable:
    hip: NDArray[np.int64]
    ra_deg: NDArray[np.float64]
    dec_deg: NDArray[np.float64]
    v_mag: NDArray[np.float64]
    b_v: NDArray[np.float64]
    e_k: dict[str, NDArray[np.float64]]  # band -> E_k, W m^-2 um^-1


@cache
def _star_table(mission: Mission, v_min: float, v_max: float) -> _StarTable:
    from monitor.science.star_reference import is_calibration_star, star_band_irradiance_w_m2_um

    cat = load_star_catalogue()
    ok = is_calibration_star(cat.v_mag, cat.b_v) & (cat.v_mag >= v_min) & (cat.v_mag <= v_max)
    vband = load_johnson_v()
    e_k = {}
    for band in BANDS_BY_MISSION[mission]:
        rsr = load_rsr(mission, band)
        e_k[band] = np.asarray(
            star_band_irradiance_w_m2_um(
                cat.v_mag[ok], cat.b_v[ok], rsr.wavelength_nm, rsr.values, vband.wavelength_nm, vband.values
            ),
            dtype=np.float64,
        )
    return _StarTable(cat.hip[ok], cat.ra_deg[ok], cat.dec_deg[ok], cat.v_mag[ok], cat.b_v[ok], e_k)


@cache
def _psf_peak_fraction(mission: Mission, band: str) -> float:
    """Largest native-pixel fraction of a star's signal (star centred on a pixel, o = 1)."""
    from monitor.science.psf import render_star
    from monitor.simulate.star import default_psf_params

    params = default_psf_params(mission, band)
    img = render_star((15, 15), (7.0, 7.0), params, 1.0, 1.0)
    return float(img.max())


@cache
def _mtf_nyquist(mission: Mission, band: str) -> tuple[float, float]:
    from monitor.science.psf import mtf_nyquist
    from monitor.simulate.star import default_psf_params

    return mtf_nyquist(default_psf_params(mission, band))


# ---------------------------------------------------------------------------------------------
# One acquisition = header + images + truth, written by _deliver
# ---------------------------------------------------------------------------------------------


@dataclass
class _Acquisition:
    header: AcquisitionHeader
    images: dict[str, NDArray[Any]]
    truth: FileTruth
    geom: GeomHeader | None = None
    ephem: dict[str, Any] | None = None
    gcp: dict[str, Any] | None = None
    dtype: ImageDtype = "float32"
    gz: bool = False
    extra_primary: dict[str, Any] = field(default_factory=dict)

    @property
    def file_name(self) -> str:
        return self.header.acq_id + (".fits.gz" if self.gz else ".fits")


@dataclass
class _Context:
    outdir: Path
    rng: np.random.Generator
    calibration: dict[str, dict[str, BandTruth]]
    v_range: tuple[float, float]
    saturated_fraction: float
    uint16_fraction: float
    gzip_fraction: float
    done_markers: bool
    seq: dict[Satellite, int] = field(default_factory=dict)
    raan: dict[Satellite, float] = field(default_factory=dict)
    star_pool: dict[Satellite, NDArray[np.int64]] = field(default_factory=dict)

    def next_seq(self, satellite: Satellite) -> int:
        self.seq[satellite] = self.seq.get(satellite, 0) + 1
        return self.seq[satellite]


def _deliver(ctx: _Context, acq: _Acquisition, name: str | None = None) -> Path:
    path = ctx.outdir / (name or acq.file_name)
    write_acquisition(
        path,
        acq.header,
        acq.images,
        geom=acq.geom,
        ephem=acq.ephem,
        gcp=acq.gcp,
        extra_primary=acq.extra_primary or None,
        dtype=acq.dtype,
        done_marker=ctx.done_markers,
        durable=False,
    )
    acq.truth.file = path.name
    return path


def _simulate_star(
    ctx: _Context,
    satellite: Satellite,
    epoch: datetime,
    star_index: int,
    *,
    force_saturation: bool | None = None,
) -> _Acquisition:
    """One STAR acquisition of star ``star_index`` of the mission's star table (all bands)."""
    from monitor.simulate.star import (
        default_psf_params,
        default_vignette_shape,
        plane_excursion_dn,
        simulate_star_vignette,
    )

    rng = ctx.rng
    mission = MISSION_OF_SATELLITE[satellite]
    table = _star_table(mission, *ctx.v_range)
    epoch = _round_ms(epoch)
    seq = ctx.next_seq(satellite)
    acq_id = make_acq_id(satellite, AcqType.STAR, epoch, seq)
    pos, vel = circular_orbit_state(rng, mission, ctx.raan[satellite])
    oversamp = int(rng.integers(1, 5))
    saturate = bool(rng.random() < ctx.saturated_fraction) if force_saturation is None else force_saturation
    bands: list[BandHeader] = []
    images: dict[str, NDArray[Any]] = {}
    truth_bands: dict[str, BandFileTruth] = {}
    for band in BANDS_BY_MISSION[mission]:
        model = ctx.calibration[satellite.value][band]
        a_k = a_true(model, epoch)
        e_k = float(table.e_k[band][star_index])
        omega = (pixscale_urad(mission, band) * 1e-6) ** 2
        s_unit = a_k * e_k / omega  # signal for o = 1, G = 1
        dark = float(rng.uniform(20.0, 60.0))
        background = float(rng.uniform(0.0, 5.0))
        headroom = SATURATE_DN - dark - background
        fraction = rng.uniform(*(_SATURATING_RANGE if saturate else _PEAK_RANGE))
        gain = float(np.clip(fraction * headroom / (s_unit * _psf_peak_fraction(mission, band)), 1.0, 4.0))
        gain = round(gain, 3)
        s_true = oversamp * gain * s_unit
        slope = (float(rng.uniform(-0.03, 0.03)), float(rng.uniform(-0.03, 0.03)) / oversamp)
        shape = default_vignette_shape(mission, band, oversamp)
        rows, cols = int(shape[0]), int(shape[1])
        # stray light is never negative: lift the plane so that its lowest corner is >= 0
        background += plane_excursion_dn(slope, (rows, cols))
        center = (
            (cols - 1) / 2.0 + float(rng.uniform(-1.5, 1.5)),
            (rows - 1) / 2.0 + float(rng.uniform(-1.5, 1.5)) * oversamp,
        )
        image = simulate_star_vignette(
            rng,
            total_signal_dn=s_true,
            shape=(rows, cols),
            center_xy=center,
            oversamp=float(oversamp),
            psf=default_psf_params(mission, band),
            dark_dn=dark,
            gain_e_per_dn=E_PER_DN_REFERENCE[mission] / gain,
            read_noise_dn=READ_NOISE_DN,
            background_dn=background,
            background_slope=slope,
            saturate_dn=SATURATE_DN,
        )
        star_x = round(center[0] + float(rng.uniform(-2.0, 2.0)), 2)
        star_y = round(center[1] + float(rng.uniform(-2.0, 2.0)), 2)
        bands.append(
            BandHeader(
                band=band,
                shape=(rows, cols),
                dark_dn=round(dark, 3),
                gain_factor=gain,
                oversamp=float(oversamp),
                binning=1,
                pixscale_urad=pixscale_urad(mission, band),
                lineper_ms=lineper_ms(mission, band),
                saturate_dn=SATURATE_DN,
                star_x=star_x,
                star_y=star_y,
            )
        )
        images[band] = image
        along, across = _mtf_nyquist(mission, band)
        is_saturated = bool(np.nanmax(image) >= SATURATE_DN)
        truth_bands[band] = BandFileTruth(
            e_k=e_k,
            a_true=a_k,
            gain_factor=gain,
            s_true_dn=s_true,
            mtf_nyquist_along=along,
            mtf_nyquist_across=across,
            star_x=center[0],
            star_y=center[1],
            reason=RejectReason.SATURATED.value if is_saturated else None,
            extra={"background_dn": background, "background_slope": list(slope)},
        )
    hip = int(table.hip[star_index])
    header = AcquisitionHeader(
        acq_id=acq_id,
        mission=mission,
        satellite=satellite,
        acq_type=AcqType.STAR,
        target=f"HIP {hip}",
        date_obs=epoch,
        sc_pos_km=pos,
        sc_vel_km_s=vel,
        ra_deg=float(table.ra_deg[star_index]),
        dec_deg=float(table.dec_deg[star_index]),
        icd=ICD_VERSION,
        bands=tuple(bands),
    )
    truth = FileTruth(
        file="",
        acq_id=acq_id,
        satellite=satellite.value,
        type=AcqType.STAR.value,
        epoch=epoch,
        status="ok",
        reason=None,
        target=header.target,
        v_mag=float(table.v_mag[star_index]),
        b_v=float(table.b_v[star_index]),
        oversamp=float(oversamp),
        bands=truth_bands,
    )
    dtype: ImageDtype = "uint16" if rng.random() < ctx.uint16_fraction else "float32"
    gz = bool(rng.random() < ctx.gzip_fraction)
    return _Acquisition(header, images, truth, dtype=dtype, gz=gz)


def _moon_epoch_and_geometry(
    ctx: _Context, satellite: Satellite, t0: datetime, window_days: float
) -> tuple[datetime, tuple[float, float, float], tuple[float, float, float], Any]:
    """Pick a time in ``[t0, t0 + window)`` near a target phase and a satellite state seeing the Moon.

    The target signed phase angle is drawn in ±[15, 75] deg (6-hour search grid); the orbit phase
    is redrawn until the Moon is more than ~17 deg above the satellite's local horizontal plane.
    """
    from monitor.science.lunar_geometry import lunar_geometry

    rng = ctx.rng
    mission = MISSION_OF_SATELLITE[satellite]
    target = float(rng.uniform(15.0, 75.0)) * (1.0 if rng.random() < 0.5 else -1.0)
    steps = max(1, int(window_days * 4))
    best_t, best_err = t0, math.inf
    for i in range(steps):
        t = t0 + timedelta(hours=6.0 * i)
        g = lunar_geometry(t, (0.0, 0.0, WGS84_A_KM + ORBIT_ALTITUDE_KM[mission])).phase_angle_deg
        if abs(g - target) < best_err:
            best_t, best_err = t, abs(g - target)
    epoch = _round_ms(best_t + timedelta(seconds=float(rng.uniform(0.0, 3600.0))))
    geo = lunar_geometry(epoch, (0.0, 0.0, 7000.0))
    ra, dec = math.radians(geo.moon_ra_deg), math.radians(geo.moon_dec_deg)
    u = np.array([math.cos(dec) * math.cos(ra), math.cos(dec) * math.sin(ra), math.sin(dec)])
    pos, vel = circular_orbit_state(rng, mission, ctx.raan[satellite])
    for _ in range(200):
        if float(np.dot(pos, u)) / np.linalg.norm(pos) > 0.3:
            break
        pos, vel = circular_orbit_state(rng, mission, ctx.raan[satellite])
    return epoch, pos, vel, lunar_geometry(epoch, pos)


def _moon_binning(mission: Mission, band: str, d_obs_moon_km: float, disk_px: float) -> int:
    """Ground-side binning that brings the lunar disk to about ``disk_px`` delivered pixels."""
    from monitor.simulate.moon import moon_apparent_diameter_px

    diameter = moon_apparent_diameter_px(d_obs_moon_km, pixscale_urad(mission, band))
    return max(1, int(2 ** round(math.log2(max(diameter / disk_px, 1.0)))))


def _simulate_moon(ctx: _Context, satellite: Satellite, t0: datetime, window_days: float) -> _Acquisition:
    """One MOON acquisition (all bands).

    The disk has its physical apparent size; ``BINNING`` (a power of 2, the same for all the
    bands of a mission type: about 32 for PNEO MS, 128 for PNEO PAN) brings it to 110–220
    delivered pixels. The frame is ``MOON_FRAME_DIAMETERS`` = 2.2 disk diameters wide (columns,
    rounded up to a multiple of 8; ``OVERSAMP`` times as many rows): at large phase angles the
    photometry needs that much room around the disk (with 1.7 one band in 168 came back
    off-centre). Images are rendered directly on the delivered grid (dark ``DARK b²``, read
    noise ``b`` times the native one, saturation at ``SATURATE b²``), which is what summing b×b
    native pixels gives. ``S_k = o G A_k(t) E_k / Ω_pix`` with ``E_k`` from the REF-1 lunar model
    at the geometry of ``SC_POS`` and ``DATE-OBS``; ``OVERSAMP`` in {1, 2}; ``GAINFACT`` 2–4.
    """
    from monitor.io.reference_data import load_rolo_coefficients, load_solar_spectrum
    from monitor.science.lunar_model import lunar_band_irradiance
    from monitor.simulate.moon import simulate_moon_band

    rng = ctx.rng
    mission = MISSION_OF_SATELLITE[satellite]
    epoch, pos, vel, geo = _moon_epoch_and_geometry(ctx, satellite, t0, window_days)
    seq = ctx.next_seq(satellite)
    acq_id = make_acq_id(satellite, AcqType.MOON, epoch, seq)
    oversamp = int(rng.integers(1, 3))
    coeffs = load_rolo_coefficients()
    solar = load_solar_spectrum()
    bands: list[BandHeader] = []
    images: dict[str, NDArray[Any]] = {}
    truth_bands: dict[str, BandFileTruth] = {}
    for band in BANDS_BY_MISSION[mission]:
        rsr = load_rsr(mission, band)
        e_k = lunar_band_irradiance(
            geo.phase_angle_deg,
            geo.sun_selenographic_lon_deg,
            geo.observer_selenographic_lat_deg,
            geo.observer_selenographic_lon_deg,
            geo.d_sun_moon_km,
            geo.d_obs_moon_km,
            coeffs=coeffs,
            rsr_wavelength_nm=rsr.wavelength_nm,
            rsr=rsr.values,
            solar_wavelength_nm=solar.wavelength_nm,
            solar_irradiance_w_m2_um=solar.values,
        )
        a_k = a_true(ctx.calibration[satellite.value][band], epoch)
        gain = round(float(rng.uniform(2.0, 4.0)), 3)
        pix = pixscale_urad(mission, band)
        s_true = oversamp * gain * a_k * e_k / (pix * 1e-6) ** 2
        b = _moon_binning(mission, band, geo.d_obs_moon_km, 150.0)
        from monitor.simulate.moon import moon_apparent_diameter_px

        diameter_delivered = moon_apparent_diameter_px(geo.d_obs_moon_km, pix) / b
        cols = int(math.ceil(diameter_delivered * MOON_FRAME_DIAMETERS / 8.0)) * 8
        rows = cols * oversamp
        dark = float(rng.uniform(20.0, 60.0))
        sky = float(rng.uniform(0.0, 3.0)) * b * b
        image = simulate_moon_band(
            rng,
            total_signal_dn=s_true,
            shape=(rows, cols),
            oversamp=float(oversamp),
            binning=1,
            phase_angle_deg=geo.phase_angle_deg,
            moon_diameter_px=diameter_delivered,
            psf_sigma_px=0.5,
            dark_dn=dark * b * b,
            gain_e_per_dn=E_PER_DN_REFERENCE[mission] / gain,
            read_noise_dn=READ_NOISE_DN * b,
            background_dn=sky,
            background_slope=(float(rng.uniform(-0.01, 0.01)) * b * b, float(rng.uniform(-0.01, 0.01)) * b * b),
            saturate_dn=SATURATE_DN * b * b,
        )
        bands.append(
            BandHeader(
                band=band,
                shape=(rows, cols),
                dark_dn=round(dark, 3),
                gain_factor=gain,
                oversamp=float(oversamp),
                binning=b,
                pixscale_urad=pix,
                lineper_ms=lineper_ms(mission, band),
                saturate_dn=SATURATE_DN,
            )
        )
        images[band] = image
        saturated = bool(np.nanmax(image) >= SATURATE_DN * b * b)
        truth_bands[band] = BandFileTruth(
            e_k=float(e_k),
            a_true=a_k,
            gain_factor=gain,
            s_true_dn=s_true,
            reason=RejectReason.SATURATED.value if saturated else None,
            extra={"binning": b, "background_dn": sky},
        )
    header = AcquisitionHeader(
        acq_id=acq_id,
        mission=mission,
        satellite=satellite,
        acq_type=AcqType.MOON,
        target="MOON",
        date_obs=epoch,
        sc_pos_km=pos,
        sc_vel_km_s=vel,
        ra_deg=float(geo.moon_ra_deg) % 360.0,
        dec_deg=float(geo.moon_dec_deg),
        icd=ICD_VERSION,
        bands=tuple(bands),
    )
    truth = FileTruth(
        file="",
        acq_id=acq_id,
        satellite=satellite.value,
        type=AcqType.MOON.value,
        epoch=epoch,
        status="ok",
        reason=None,
        target="MOON",
        oversamp=float(oversamp),
        bands=truth_bands,
        extra={
            "phase_angle_deg": geo.phase_angle_deg,
            "sun_selenographic_lon_deg": geo.sun_selenographic_lon_deg,
            "observer_selenographic_lat_deg": geo.observer_selenographic_lat_deg,
            "observer_selenographic_lon_deg": geo.observer_selenographic_lon_deg,
            "d_sun_moon_km": geo.d_sun_moon_km,
            "d_obs_moon_km": geo.d_obs_moon_km,
        },
    )
    return _Acquisition(header, images, truth)


GEOM_SITES: tuple[tuple[str, float, float, float], ...] = (
    ("SALON", 43.64, 5.10, 60.0),
    ("LACRAU", 43.56, 4.86, 20.0),
    ("BAOTOU", 40.85, 109.63, 1270.0),
    ("RAILROAD", 38.50, -115.69, 1440.0),
    ("LIBYA4", 28.55, 23.39, 120.0),
)


def _simulate_geom(ctx: _Context, satellite: Satellite, epoch: datetime) -> _Acquisition:
    """One GEOM stereo-pair file of a calibration site."""
    from monitor.simulate.geom import simulate_geom_pair

    rng = ctx.rng
    mission = MISSION_OF_SATELLITE[satellite]
    name, lat, lon, h = GEOM_SITES[int(rng.integers(len(GEOM_SITES)))]
    sim = simulate_geom_pair(
        rng, epoch_utc=_round_ms(epoch), site_lat_deg=lat, site_lon_deg=lon, site_h_m=h, satellite=satellite.value
    )
    hd = sim.header
    date_obs = datetime.fromisoformat(hd["DATE-OBS"]).replace(tzinfo=UTC)
    seq = ctx.next_seq(satellite)
    acq_id = make_acq_id(satellite, AcqType.GEOM, date_obs, seq)
    header = AcquisitionHeader(
        acq_id=acq_id,
        mission=mission,
        satellite=satellite,
        acq_type=AcqType.GEOM,
        target=name,
        date_obs=date_obs,
        sc_pos_km=(float(hd["SC_POSX"]), float(hd["SC_POSY"]), float(hd["SC_POSZ"])),
        sc_vel_km_s=(float(hd["SC_VELX"]), float(hd["SC_VELY"]), float(hd["SC_VELZ"])),
        ra_deg=None,
        dec_deg=None,
        icd=ICD_VERSION,
    )
    geom = GeomHeader(
        focal_mm=float(hd["FOCAL"]),
        pixpitch_um=float(hd["PIXPITCH"]),
        nsamp=int(hd["NSAMP"]),
        lineper_ms=float(hd["LINEPER"]),
        t0_fore=datetime.fromisoformat(hd["T0_FORE"]).replace(tzinfo=UTC),
        t0_aft=datetime.fromisoformat(hd["T0_AFT"]).replace(tzinfo=UTC),
        pitch_fore_deg=float(hd["PITCH_F"]),
        pitch_aft_deg=float(hd["PITCH_A"]),
    )
    t = sim.truth
    roles = np.asarray(sim.gcp["ROLE"]).astype(str)
    ids = np.asarray(sim.gcp["ID"]).astype(str)
    summary = {
        "site": name,
        "site_lat_deg": lat,
        "site_lon_deg": lon,
        "position_m": [float(v) for v in np.asarray(t["position_m"]).ravel()],
        "velocity_m_s": [float(v) for v in np.asarray(t["velocity_m_s"]).ravel()],
        "n_control": len(set(ids[roles == "CONTROL"].tolist())),
        "n_check": len(set(ids[roles == "CHECK"].tolist())),
        "image_noise_px": float(t["image_noise_px"]),
        "blunder_id": t["blunder_id"],
        "ephem_bias_m": [float(v) for v in np.ravel(t["ephem_bias_m"])],
        "ephem_drift_m_s": [float(v) for v in np.ravel(t["ephem_drift_m_s"])],
        "cross_track_m": float(t["cross_track_m"]),
        "pitch_fore_deg": geom.pitch_fore_deg,
        "pitch_aft_deg": geom.pitch_aft_deg,
    }
    truth = FileTruth(
        file="",
        acq_id=acq_id,
        satellite=satellite.value,
        type=AcqType.GEOM.value,
        epoch=date_obs,
        status="ok",
        reason=None,
        target=name,
        geom=summary,
    )
    return _Acquisition(header, {}, truth, geom=geom, ephem=dict(sim.ephem), gcp=dict(sim.gcp))


# ---------------------------------------------------------------------------------------------
# Bad files
# ---------------------------------------------------------------------------------------------


def _bad_copy(acq: _Acquisition, kind: str, status: str, reason: RejectReason) -> _Acquisition:
    truth = replace(acq.truth, kind=kind, status=status, reason=reason.value, bands={})
    return replace(acq, truth=truth, extra_primary={}, gz=False, dtype="float32")


def _write_bad_files(
    ctx: _Context, make_star: Callable[[], _Acquisition], original_acq: _Acquisition
) -> list[FileTruth]:
    """Write one file of each bad kind; return their truths."""
    out: list[FileTruth] = []
    outdir = ctx.outdir
    original = original_acq.truth

    def done(path: Path) -> None:
        if ctx.done_markers:
            path.with_name(path.name + DONE_SUFFIX).touch()

    # Not FITS at all: an error page saved under a FITS name.
    acq = make_star()
    path = outdir / acq.file_name
    path.write_bytes(b"<html><body><h1>502 Bad Gateway</h1></body></html>\n")
    done(path)
    out.append(FileTruth(path.name, None, None, None, None, "rejected", RejectReason.NOT_FITS.value, kind="not-fits"))

    # Truncated inside the last data block (not on a block boundary) and on a block boundary.
    for kind, cut in (("truncated-data", 1001), ("truncated-block", 0)):
        acq = _bad_copy(make_star(), kind, "rejected", RejectReason.TRUNCATED)
        path = _deliver(ctx, acq)
        size = path.stat().st_size
        path.write_bytes(path.read_bytes()[: size - 2880 - cut])
        out.append(acq.truth)

    # Missing key: DATE-OBS removed.
    acq = _bad_copy(make_star(), "missing-key", "rejected", RejectReason.MISSING_KEY)
    acq.extra_primary = {"DATE-OBS": None}
    out.append(_deliver_truth(ctx, acq))

    # Bad value: the position written in metres instead of km.
    acq = _bad_copy(make_star(), "bad-value", "rejected", RejectReason.BAD_VALUE)
    acq.extra_primary = {f"SC_POS{a}": v * 1000.0 for a, v in zip("XYZ", acq.header.sc_pos_km, strict=True)}
    out.append(_deliver_truth(ctx, acq))

    # Unknown band: an extra image named after a band of the other mission.
    acq = _bad_copy(make_star(), "unknown-band", "rejected", RejectReason.UNKNOWN_BAND)
    last = acq.header.bands[-1]
    other = "NIR" if acq.header.mission is Mission.PHR else "B3"
    acq.header = replace(acq.header, bands=(*acq.header.bands, replace(last, band=other)))
    acq.images = {**acq.images, other: acq.images[last.band]}
    out.append(_deliver_truth(ctx, acq))

    # Every band entirely NaN: the ingest refuses the whole file (reason all-nan). A file with
    # only some bands NaN is accepted (ICD 1.2: each band's verdict is separate) and those bands
    # are rejected all-nan by the processing.
    acq = _bad_copy(make_star(), "all-nan-band", "rejected", RejectReason.ALL_NAN)
    acq.images = {b.band: np.full(b.shape, np.nan, dtype=np.float32) for b in acq.header.bands}
    out.append(_deliver_truth(ctx, acq))

    # Conflict: the same ACQ_ID and header delivered again with different pixels (another noise draw).
    acq = replace(original_acq, gz=False, dtype="float32")
    acq.images = {
        band: np.asarray(img, dtype=np.float64) + ctx.rng.normal(0.0, READ_NOISE_DN, np.shape(img))
        for band, img in original_acq.images.items()
    }
    acq.truth = replace(
        original,
        kind="conflict",
        status="rejected",
        reason=RejectReason.CONFLICT.value,
        related_file=original.file,
        bands={},
    )
    out.append(_deliver_truth(ctx, acq, name=f"{original.acq_id}_redelivered.fits"))

    # Exact duplicate: the same bytes under another name.
    src = outdir / original.file
    suffix = ".fits.gz" if original.file.endswith(".gz") else ".fits"
    dup = outdir / (original.file[: -len(suffix)] + "_copy" + suffix)
    shutil.copyfile(src, dup)
    done(dup)
    out.append(
        replace(
            original,
            file=dup.name,
            kind="duplicate",
            status="duplicate",
            reason=RejectReason.DUPLICATE.value,
            related_file=original.file,
            bands={},
        )
    )
    return out


def _deliver_truth(ctx: _Context, acq: _Acquisition, name: str | None = None) -> FileTruth:
    _deliver(ctx, acq, name)
    return acq.truth


# ---------------------------------------------------------------------------------------------
# Public entry point
# ---------------------------------------------------------------------------------------------


def _calibration_truth(
    satellites: Sequence[Satellite],
    start: datetime,
    truth_a: Mapping[str, Mapping[str, float]] | None,
    drift_per_year: float,
) -> dict[str, dict[str, BandTruth]]:
    out: dict[str, dict[str, BandTruth]] = {}
    for sat in satellites:
        mission = MISSION_OF_SATELLITE[sat]
        given = (truth_a or {}).get(sat.value, {})
        out[sat.value] = {
            band: BandTruth(
                a0=float(given.get(band, DEFAULT_A0[mission][band] * SATELLITE_A_FACTOR[sat])),
                rate_per_year=drift_per_year * BAND_DRIFT_FACTOR.get(band, 1.0),
                reference_epoch=start,
            )
            for band in BANDS_BY_MISSION[mission]
        }
    return out


def simulate_campaigns(
    outdir: Path,
    *,
    start: datetime,
    months: int,
    seed: int,
    satellites: Sequence[Satellite | str] = (Satellite.PHR1A, Satellite.PHR1B, Satellite.PNEO3, Satellite.PNEO4),
    stars_per_campaign: int = 25,
    moon_per_month: int = 1,
    geom_per_month: int = 1,
    bad_files: bool = True,
    truth_a: Mapping[str, Mapping[str, float]] | None = None,
    drift_per_year: float = -0.01,
    star_satellites: Sequence[Satellite | str] | None = None,
    moon_satellites: Sequence[Satellite | str] | None = None,
    v_range: tuple[float, float] = (2.0, 5.5),
    star_pool_factor: float = 2.0,
    campaign_days: float = 3.0,
    saturated_fraction: float = 0.03,
    uint16_fraction: float = 0.2,
    gzip_fraction: float = 0.05,
    done_markers: bool = True,
) -> SimulationTruth:
    """Write monthly acquisition campaigns into ``outdir`` and return their truth.

    Parameters
    ----------
    outdir : Path
        Output (inbox) directory, created if needed.
    start : datetime
        Aware UTC start; also the reference epoch of the true ``A_k(t)``.
    months : int
        Number of monthly campaigns per satellite.
    seed : int
        Seed of the only random generator (the output is reproducible).
    satellites : sequence of Satellite or str
        Satellites simulated.
    stars_per_campaign : int
        STAR acquisitions per satellite and month.
    moon_per_month, geom_per_month : int
        MOON (on ``moon_satellites``) and GEOM (every satellite) acquisitions per month.
    bad_files : bool
        Also write one file of each bad kind (needs at least one STAR satellite).
    truth_a : Mapping[str, Mapping[str, float]], optional
        ``{satellite: {band: A0}}`` overriding :data:`DEFAULT_A0` (x :data:`SATELLITE_A_FACTOR`).
    drift_per_year : float
        Relative drift dA/A per year of the PAN/red/NIR bands (blue bands age faster, see
        ``BAND_DRIFT_FACTOR``).
    star_satellites, moon_satellites : sequence, optional
        Satellites doing STAR / MOON acquisitions; default PHR and PNEO members of ``satellites``.
    v_range : (float, float)
        V magnitude range of the stars.
    star_pool_factor : float
        Each satellite observes stars from a fixed pool of ``star_pool_factor · stars_per_campaign``
        stars, so stars come back from month to month.
    campaign_days : float
        Length of a monthly burst, days.
    saturated_fraction : float
        Probability that a STAR acquisition is set up to saturate.
    uint16_fraction, gzip_fraction : float
        Probabilities of writing a valid file as uint16 (BZERO 32768) / gzip-compressed.
    done_markers : bool
        Write ``.done`` markers.

    Returns
    -------
    SimulationTruth
        Truth of every written file (see :mod:`monitor.simulate.truth`).
    """
    if start.tzinfo is None:
        raise ValueError("start must be an aware UTC datetime")
    start = start.astimezone(UTC)
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    sats = [Satellite(s) for s in satellites]
    star_sats = [s for s in sats if s in [Satellite(x) for x in (star_satellites or STAR_SATELLITES)]]
    moon_sats = [s for s in sats if s in [Satellite(x) for x in (moon_satellites or MOON_SATELLITES)]]
    rng = np.random.default_rng(seed)
    ctx = _Context(
        outdir=outdir,
        rng=rng,
        calibration=_calibration_truth(sats, start, truth_a, drift_per_year),
        v_range=v_range,
        saturated_fraction=saturated_fraction,
        uint16_fraction=uint16_fraction,
        gzip_fraction=gzip_fraction,
        done_markers=done_markers,
    )
    truth = SimulationTruth(seed=seed, start=start, months=months, calibration=ctx.calibration, outdir=str(outdir))
    for sat in sats:
        ctx.raan[sat] = float(rng.uniform(0.0, 360.0))
    for sat in star_sats:
        n_stars = _star_table(MISSION_OF_SATELLITE[sat], *v_range).hip.size
        pool = max(stars_per_campaign, int(round(star_pool_factor * stars_per_campaign)))
        ctx.star_pool[sat] = rng.choice(n_stars, size=min(pool, n_stars), replace=False)

    first_star: _Acquisition | None = None
    for month in range(months):
        month_start = _add_months(start, month)
        for sat in sats:
            burst_start = month_start + timedelta(days=float(rng.uniform(0.0, 20.0)))

            def epochs(n: int, _t0: datetime = burst_start) -> list[datetime]:
                offsets = np.sort(rng.uniform(0.0, campaign_days * SECONDS_PER_DAY, size=n))
                return [_t0 + timedelta(seconds=float(s)) for s in offsets]

            if sat in star_sats and stars_per_campaign > 0:
                pool_idx = ctx.star_pool[sat]
                chosen = rng.choice(pool_idx, size=min(stars_per_campaign, pool_idx.size), replace=False)
                for t, star in zip(epochs(chosen.size), chosen, strict=True):
                    acq = _simulate_star(ctx, sat, t, int(star))
                    truth.files.append(_deliver_truth(ctx, acq))
                    if first_star is None and sat == star_sats[0] and acq.truth.kind == "valid":
                        first_star = acq
            if sat in moon_sats:
                for _ in range(moon_per_month):
                    truth.files.append(_deliver_truth(ctx, _simulate_moon(ctx, sat, month_start, 28.0)))
            for t in epochs(geom_per_month):
                truth.files.append(_deliver_truth(ctx, _simulate_geom(ctx, sat, t)))

    if bad_files and first_star is not None:
        sat = first_star.header.satellite
        assert first_star.truth.epoch is not None
        t_bad = first_star.truth.epoch + timedelta(hours=1)

        def make_star() -> _Acquisition:
            star = int(rng.choice(ctx.star_pool[sat]))
            return _simulate_star(ctx, sat, t_bad + timedelta(minutes=ctx.seq[sat]), star, force_saturation=False)

        truth.files.extend(_write_bad_files(ctx, make_star, first_star))
    return truth
