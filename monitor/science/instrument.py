"""Nominal optical design of the instruments, in the native-pixel units of each band.

These are design constants (telescope focal ratio over pixel pitch, central obscuration,
spectral bandwidth, detector diffusion and TDI smear), known before launch. The starpool PSF fit
keeps them fixed and fits only the blur terms (aberrations, defocus, jitter), starting from a
generic value. Sources: band edges of the Airbus user guides (reference_data/rsr); PHR telescope
f ~ 12.9 m, D ~ 0.65 m, 13 um PAN pixels, so lambda N ~ 0.65 um x 19.9 ~ 1 PAN pixel (eoPortal, "Pléiades",
https://www.eoportal.org/satellite-missions/pleiades).
"""

from __future__ import annotations

from monitor.domain import BANDS_BY_MISSION, Mission
from monitor.science.psf import PsfParams

__all__ = ["UnknownBandError", "BAND_CENTRES_UM", "nominal_psf_params", "NOMINAL_BLUR_PX"]

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
