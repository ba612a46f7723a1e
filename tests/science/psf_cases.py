"""PSF parameter sets shared by the PSF model, renderer and encircled-energy tests."""

from __future__ import annotations

from monitor.science.psf import PsfParams

HALF_WIDTHS = [2, 3, 5, 8, 12, 20]
# A PHR-PAN-like PSF (lambda N = 1 px, eps = 0.3, 55 % band), used for the pinned numbers.
PAN = PsfParams(
    lambda_n_px=1.0,
    obscuration=0.3,
    bandwidth=0.5,
    sigma_along_px=0.35,
    sigma_across_px=0.3,
    diffusion_px=0.1,
    smear_along_px=0.25,
)
MS = PsfParams(lambda_n_px=0.25, obscuration=0.3, bandwidth=0.12, sigma_along_px=0.4, sigma_across_px=0.37)
