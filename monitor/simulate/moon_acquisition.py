"""MOON acquisitions of a campaign (ICD 1.2, 1.3, 2.3).

**MOON** (default on PNEO3/PNEO4, ``moon_per_month``): a date of the month near a drawn phase
angle (±15–75°), a satellite state that sees the Moon, the REF-1 lunar irradiance at that
geometry (:func:`monitor.science.lunar_geometry.lunar_geometry`,
:func:`monitor.science.lunar_model.lunar_band_irradiance`) and a disk of physical apparent size
from :func:`monitor.simulate.moon.simulate_moon_band`, brought to ~150 delivered pixels by
``BINNING`` (see :func:`simulate_moon_acquisition`).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import numpy as np
from numpy.typing import NDArray

from monitor.domain import MISSION_OF_SATELLITE, AcqType, BandHeader, Mission, RejectReason, Satellite
from monitor.io.reference_data import load_rolo_coefficients, load_rsr, load_solar_spectrum
from monitor.science.constants import WGS84_A_KM
from monitor.science.instrument import E_PER_DN_REFERENCE, ORBIT_ALTITUDE_KM, READ_NOISE_DN, SATURATE_DN, pixscale_urad
from monitor.science.lunar_geometry import LunarGeometry, lunar_geometry
from monitor.science.lunar_model import lunar_band_irradiance
from monitor.simulate.acquisition import (
    BandSimulation,
    CampaignContext,
    SimulatedAcquisition,
    acquisition_header,
    band_header,
    circular_orbit_state,
    file_truth,
    round_to_ms,
    simulate_bands,
)
from monitor.simulate.moon import moon_apparent_diameter_px, simulate_moon_band
from monitor.simulate.truth import BandFileTruth, a_true

__all__ = ["MOON_FRAME_DIAMETERS", "simulate_moon_acquisition"]

MOON_FRAME_DIAMETERS = 2.2  # MOON frame width / disk diameter: room for the photometry at large |g|
_DISK_PX = 150.0  # delivered lunar diameter aimed at by the choice of BINNING

State = tuple[tuple[float, float, float], tuple[float, float, float]]


def simulate_moon_acquisition(
    ctx: CampaignContext, satellite: Satellite, t0: datetime, window_days: float
) -> SimulatedAcquisition:
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
    rng = ctx.rng
    mission = MISSION_OF_SATELLITE[satellite]
    epoch, state, geo = _moon_epoch_and_geometry(ctx, satellite, t0, window_days)
    oversamp = int(rng.integers(1, 3))

    def one_band(band: str) -> BandSimulation:
        e_k = _band_irradiance(mission, band, geo)
        a_k = a_true(ctx.calibration[satellite.value][band], epoch)
        return _moon_band(rng, mission, band, a_k, e_k, oversamp, geo)

    bands, images, truth_bands = simulate_bands(mission, one_band)
    header = acquisition_header(
        ctx,
        satellite,
        AcqType.MOON,
        epoch,
        state,
        target="MOON",
        ra_deg=float(geo.moon_ra_deg) % 360.0,
        dec_deg=float(geo.moon_dec_deg),
        bands=bands,
    )
    truth = file_truth(
        header,
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
    return SimulatedAcquisition(header, images, truth)


def _moon_epoch_and_geometry(
    ctx: CampaignContext, satellite: Satellite, t0: datetime, window_days: float
) -> tuple[datetime, State, LunarGeometry]:
    """Pick a time in ``[t0, t0 + window)`` near a target phase and a satellite state seeing the Moon.

    The target signed phase angle is drawn in ±[15, 75] deg (6-hour search grid); the orbit phase
    is redrawn until the Moon is more than ~17 deg above the satellite's local horizontal plane.
    """
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
    epoch = round_to_ms(best_t + timedelta(seconds=float(rng.uniform(0.0, 3600.0))))
    geo = lunar_geometry(epoch, (0.0, 0.0, 7000.0))
    ra, dec = math.radians(geo.moon_ra_deg), math.radians(geo.moon_dec_deg)
    u = np.array([math.cos(dec) * math.cos(ra), math.cos(dec) * math.sin(ra), math.sin(dec)])
    pos, vel = circular_orbit_state(rng, mission, ctx.raan[satellite])
    for _ in range(200):
        if float(np.dot(pos, u)) / np.linalg.norm(pos) > 0.3:
            break
        pos, vel = circular_orbit_state(rng, mission, ctx.raan[satellite])
    return epoch, (pos, vel), lunar_geometry(epoch, pos)


def _band_irradiance(mission: Mission, band: str, geo: LunarGeometry) -> float:
    """REF-1 band irradiance E_k of the Moon at the satellite, W m^-2 um^-1 (ICD 2.3)."""
    rsr = load_rsr(mission, band)
    solar = load_solar_spectrum()
    return lunar_band_irradiance(
        geo.phase_angle_deg,
        geo.sun_selenographic_lon_deg,
        geo.observer_selenographic_lat_deg,
        geo.observer_selenographic_lon_deg,
        geo.d_sun_moon_km,
        geo.d_obs_moon_km,
        coeffs=load_rolo_coefficients(),
        rsr_wavelength_nm=rsr.wavelength_nm,
        rsr=rsr.values,
        solar_wavelength_nm=solar.wavelength_nm,
        solar_irradiance_w_m2_um=solar.values,
    )


def _binning(diameter_native_px: float, disk_px: float) -> int:
    """Ground-side binning (a power of 2) that brings the lunar disk to about ``disk_px`` pixels."""
    return max(1, int(2 ** round(math.log2(max(diameter_native_px / disk_px, 1.0)))))


def _moon_band(
    rng: np.random.Generator,
    mission: Mission,
    band: str,
    a_k: float,
    e_k: float,
    oversamp: int,
    geo: LunarGeometry,
) -> tuple[BandHeader, NDArray[np.float32], BandFileTruth]:
    """Set-up, image and truth of one band: ``GAINFACT`` 2–4, dark 20–60 DN, sky 0–3 DN per native pixel."""
    gain = round(float(rng.uniform(2.0, 4.0)), 3)
    pix = pixscale_urad(mission, band)
    s_true = oversamp * gain * a_k * e_k / (pix * 1e-6) ** 2
    diameter_native = moon_apparent_diameter_px(geo.d_obs_moon_km, pix)
    b = _binning(diameter_native, _DISK_PX)
    diameter_delivered = diameter_native / b
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
    header = band_header(
        mission, band, shape=(rows, cols), dark_dn=dark, gain_factor=gain, oversamp=oversamp, binning=b
    )
    truth = BandFileTruth(
        e_k=float(e_k),
        a_true=a_k,
        gain_factor=gain,
        s_true_dn=s_true,
        reason=RejectReason.SATURATED.value if np.nanmax(image) >= SATURATE_DN * b * b else None,
        extra={"binning": b, "background_dn": sky},
    )
    return header, image, truth
