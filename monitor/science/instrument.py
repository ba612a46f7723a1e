"""Nominal instrument of each mission: orbit, sampling, detector, and optics in native pixels.

One home for the per-mission instrument numbers: the simulator draws its data with them, the
benchmarks and tests import them. Design constants, known before launch, from public
descriptions; where two copies of a number disagreed before they were gathered here, both are
kept under names that say which caller uses which (changing either would move simulated files
and pinned results).

- Orbit: PHR 694 km, PNEO 620 km, sun-synchronous (98.2 deg, 97.9 deg).
- PAN sampling: PHR f ~ 12.9 m and 13 um PAN pixels (IFOV 1.008 urad, 0.70 m at 694 km); PNEO
  0.30 m at 620 km (IFOV 0.484 urad); MS pixels are 4 x 4 PAN pixels on both missions. Line
  period = ground pixel / ground-track speed (PHR PAN 0.103 ms, PNEO PAN 0.044 ms), MS 4x.
- Detector: 12 bit (``SATURATE = 4095``), read noise 1.5 DN, 20 e-/DN at the reference gain
  (``GAINFACT = 1``; the gain of an acquisition is that over ``GAINFACT``).
- Optics (:func:`nominal_psf_params`): telescope focal ratio over pixel pitch, central
  obscuration, spectral bandwidth, detector diffusion and TDI smear. The starpool PSF fit keeps
  them fixed and fits only the blur terms (aberrations, defocus, jitter), starting from a generic
  value. Sources: band edges of the Airbus user guides (reference_data/rsr); PHR telescope
  f ~ 12.9 m, D ~ 0.65 m, 13 um PAN pixels, so lambda N ~ 0.65 um x 19.9 ~ 1 PAN pixel (eoPortal,
  "Pléiades", https://www.eoportal.org/satellite-missions/pleiades).
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
    "normalise_band",
    "NOMINAL_BLUR_PX",
    "ORBIT_ALTITUDE_KM",
    "SSO_INCLINATION_DEG",
    "PAN_PIXEL_PITCH_UM",
    "PHR_FOCAL_LENGTH_MM",
    "PHR_FOCAL_LENGTH_IFOV_M",
    "PNEO_PAN_GSD_M",
    "PAN_IFOV_URAD",
    "MS_PIXEL_RATIO",
    "SATURATE_DN",
    "READ_NOISE_DN",
    "E_PER_DN_REFERENCE",
    "pixscale_urad",
    "lineper_ms",
]

# --- Orbit ---------------------------------------------------------------------------------------
ORBIT_ALTITUDE_KM = {Mission.PHR: 694.0, Mission.PNEO: 620.0}  # km, mean altitude above WGS84_A
SSO_INCLINATION_DEG = {Mission.PHR: 98.2, Mission.PNEO: 97.9}  # deg, sun-synchronous inclination

# --- PAN and MS sampling -------------------------------------------------------------------------
PAN_PIXEL_PITCH_UM = 13.0  # um, PAN detector pitch (PHR)
# PHR focal length: 12.905 m is the GEOM camera's (FOCAL); the radiometric IFOV below uses it
# rounded to 12.9 m (1.0078 urad instead of 1.0074 urad). Both are kept, as they were before.
PHR_FOCAL_LENGTH_MM = 12905.0  # mm, PHR telescope (GEOM simulator: FOCAL)
PHR_FOCAL_LENGTH_IFOV_M = 12.9  # m, PHR telescope, rounded (PAN_IFOV_URAD, hence PIXSCALE of STAR/MOON)
PNEO_PAN_GSD_M = 0.30  # m, PNEO PAN ground sample distance at nadir
PAN_IFOV_URAD = {  # urad, native PAN pixel
    Mission.PHR: PAN_PIXEL_PITCH_UM / PHR_FOCAL_LENGTH_IFOV_M,  # 13 um / 12.9 m
    Mission.PNEO: PNEO_PAN_GSD_M / (ORBIT_ALTITUDE_KM[Mission.PNEO] * 1e3) * 1e6,  # 0.3 m / 620 km
}
MS_PIXEL_RATIO = 4.0  # MS native pixel = 4 x 4 PAN pixels (both missions)

# --- Detector ------------------------------------------------------------------------------------
SATURATE_DN = 4095.0  # DN, 12-bit, native pixel (both missions)
READ_NOISE_DN = 1.5  # DN rms per native pixel (both missions)
E_PER_DN_REFERENCE = {Mission.PHR: 20.0, Mission.PNEO: 20.0}  # e-/DN at the reference gain (GAINFACT = 1)

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


def normalise_band(mission: str, band: str) -> tuple[str, str]:
    """Upper-case ``(mission, band)`` pair of ICD-1, e.g. ``("PHR", "B0")``.

    Raises
    ------
    UnknownBandError
        If ICD-1 defines no such mission/band.
    """
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
    m, b = normalise_band(mission, band)
    lam_um, width = BAND_CENTRES_UM[(m, b)]
    lam_n = _PAN_LAMBDA_N_PX[m] * lam_um / 0.65
    if b == "P":
        diffusion, smear = _PAN_DETECTOR[m]
    else:
        lam_n /= MS_PIXEL_RATIO
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
