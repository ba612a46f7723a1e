"""Nominal optical design of the instruments, in the native-pixel units of each band.

These are design constants (telescope focal ratio over pixel pitch, central obscuration,
spectral bandwidth, detector diffusion and TDI smear), known before launch. The starpool PSF fit
keeps them fixed and fits only the blur terms (aberrations, defocus, jitter), starting from a
generic value. Sources: band edges of the Airbus user guides (reference_data/rsr); PHR telescope
f ~ 12.9 m, D ~ 0.65 m, 13 um PAN pixels (lambda N ~ 1 PAN pixel at 0.65 um; notes/star.md 1.2).

Instrument numbers (nominal, from public descriptions): PHR f = 12.9 m, PAN pitch 13 µm
(IFOV 1.008 µrad, 0.70 m at 694 km), MS 4×; PNEO 0.30 m PAN at 620 km (IFOV 0.484 µrad), MS 4×.
Line period = ground pixel / ground speed (PHR PAN 0.103 ms, PNEO PAN 0.044 ms), MS 4×.
12-bit detectors (``SATURATE = 4095``), dark 20–60 DN, read noise 1.5 DN.
"""

from __future__ import annotations

import math

from monitor.domain import BANDS_BY_MISSION, Mission
from monitor.science.constants import GM_KM3_S2, WGS84_A_KM
from monitor.science.psf import PsfParams

__all__ = [
    "UnknownBandError",
    "BAND_CENTRES_UM",
    "nominal_psf_params",
    "NOMINAL_BLUR_PX",
    "ORBIT_ALTITUDE_KM",
    "SSO_INCLINATION_DEG",
    "PAN_IFOV_URAD",
    "MS_PIXEL_RATIO",
    "SATURATE_DN",
    "READ_NOISE_DN",
    "E_PER_DN_REFERENCE",
    "pixscale_urad",
    "lineper_ms",
]

ORBIT_ALTITUDE_KM = {Mission.PHR: 694.0, Mission.PNEO: 620.0}
SSO_INCLINATION_DEG = {Mission.PHR: 98.2, Mission.PNEO: 97.9}
PAN_IFOV_URAD = {Mission.PHR: 13.0 / 12.9, Mission.PNEO: 0.30 / 620.0e3 * 1e6}  # 13 um / 12.9 m; 0.3 m / 620 km
MS_PIXEL_RATIO = 4.0  # MS native pixel = 4 PAN pixels (both missions)
SATURATE_DN = 4095.0  # 12-bit, native pixel
READ_NOISE_DN = 1.5
E_PER_DN_REFERENCE = 20.0  # electrons per DN at the reference gain (GAINFACT = 1)

# Band centre wavelength (um) and relative width (delta lambda / lambda).
BAND_CENTRES_UM: dict[tuple[str, str], tuple[float, float]] = {
    ("PHR", "P"): (0.65, 0.55),
    ("PHR", "B0"): (0.49, 0.14),
    ("PHR", "B1"): (0.56, 0.14),
    ("PHR", "B2"): (0.655, 0.11),
    ("PHR", "B3"): (0.84, 0.18),
    ("PNEO", "P"): (0.65, 0.55),
    ("PNEO", "DB"): (0.425, 0.11),
    ("PNEO", "B"): (0.49, 0.14),
    ("PNEO", "G"): (0.56, 0.14),
    ("PNEO", "R"): (0.655, 0.11),
    ("PNEO", "RE"): (0.71, 0.06),
    ("PNEO", "NIR"): (0.84, 0.18),
}
_PAN_LAMBDA_N_PX = {"PHR": 1.0, "PNEO": 0.95}  # lambda_c N / pitch at 0.65 um, PAN pixels
_MS_PIXEL_RATIO = 4.0  # MS pixel = 4 x 4 PAN pixels
_OBSCURATION = {"PHR": 0.30, "PNEO": 0.28}
# Detector diffusion length and TDI smear, native px of the band: (diffusion, smear).
_PAN_DETECTOR = {"PHR": (0.10, 0.25), "PNEO": (0.10, 0.25)}
_MS_DETECTOR = {"PHR": (0.05, 0.25), "PNEO": (0.05, 0.25)}
NOMINAL_BLUR_PX = 0.3  # generic starting value of the fitted Gaussian blur (along and across), px


def pixscale_urad(mission: Mission, band: str) -> float:
    """Native-pixel IFOV of a band, µrad (PAN, or 4x PAN for MS)."""
    return PAN_IFOV_URAD[mission] * (1.0 if band == "P" else MS_PIXEL_RATIO)


def lineper_ms(mission: Mission, band: str) -> float:
    """Native line period of a band, ms: ground pixel / ground-track speed."""
    alt = ORBIT_ALTITUDE_KM[mission]
    r = WGS84_A_KM + alt
    ground_speed_km_s = math.sqrt(GM_KM3_S2 / r) * WGS84_A_KM / r
    ground_pixel_km = pixscale_urad(mission, band) * 1e-6 * alt
    return ground_pixel_km / ground_speed_km_s * 1e3


class UnknownBandError(ValueError):
    """A mission/band pair that ICD-1 does not define."""


def _key(mission: str, band: str) -> tuple[str, str]:
    m = str(mission.value if isinstance(mission, Mission) else mission).upper()
    b = str(band).upper()
    try:
        bands = BANDS_BY_MISSION[Mission(m)]
    except ValueError as exc:
        raise UnknownBandError(f"unknown mission {mission!r}") from exc
    if b not in bands:
        raise UnknownBandError(f"band {band!r} is not a {m} band {bands}")
    return m, b


def nominal_psf_params(mission: str, band: str, blur_along_px: float = NOMINAL_BLUR_PX,
                       blur_across_px: float = NOMINAL_BLUR_PX) -> PsfParams:
    """Design PSF of a band with the given Gaussian blur (aberrations + jitter), native px.

    Raises
    ------
    UnknownBandError
        If ICD-1 defines no such mission/band.
    """
    m, b = _key(mission, band)
    lam_um, width = BAND_CENTRES_UM[(m, b)]
    lam_n = _PAN_LAMBDA_N_PX[m] * lam_um / 0.65
    if b == "P":
        diffusion, smear = _PAN_DETECTOR[m]
    else:
        lam_n /= _MS_PIXEL_RATIO
        diffusion, smear = _MS_DETECTOR[m]
    return PsfParams(
        lambda_n_px=lam_n,
        obscuration=_OBSCURATION[m],
        bandwidth=width,
        n_wavelengths=5,
        sigma_along_px=blur_along_px,
        sigma_across_px=blur_across_px,
        diffusion_px=diffusion,
        smear_along_px=smear,
    )
