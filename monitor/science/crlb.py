"""Cramér-Rao lower bound on the signal of a star vignette: the physical limit of star photometry.

Model of the dark-subtracted pixel ``i`` (Mendez et al. 2014, PASP 126, 798; the model of
:mod:`monitor.science.mtf_fit`)::

    mu_i = S · p_i(x0, y0) + c0 + cx X_i + cy Y_i,    var_i = (S p_i + b_i) / g + sigma_r^2

with ``p`` the pixel-integrated PSF of unit signal (``PsfRenderer.render`` / ``o``: ICD §1.3's
``S = sum(DN - DARK)`` over all the light), ``b_i`` the background level, ``g`` the gain in
electrons per DN (Poisson noise) and ``sigma_r`` the read noise in DN. The Fisher information of
the parameters (S, x0, y0, c0, cx, cy) is ``I = J^T V^-1 J`` (Gaussian approximation of Poisson
noise with the variance at the truth), and no unbiased estimator of ``S`` has a smaller variance
than ``(I^-1)_SS``. The PSF shape is taken as known: in a starpool it is shared by ~25 stars and
its uncertainty adds < 1 % to the bound of one star's signal (checked on the simulator).

References
----------
Mendez, R. A. et al. (2014), PASP 126, 798 (Cramér-Rao bounds for stellar photometry).
King, I. R. (1983), PASP 95, 163 (noise-equivalent area).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from monitor.science.psf import PsfParams, check_oversamp
from monitor.science.psf_renderer import PsfRenderer

__all__ = ["star_signal_crlb_dn"]

_POSITION_STEP_PX = 1e-3  # central-difference step of the position derivatives, px (rows for y)


def star_signal_crlb_dn(
    shape: tuple[int, int],
    center_xy: tuple[float, float],
    psf: PsfParams,
    oversamp: float,
    signal_dn: float,
    background_dn: float | NDArray[np.float64],
    gain_e_per_dn: float,
    read_noise_dn: float,
) -> float:
    """Cramér-Rao lower bound on the 1-sigma of a star's total signal ``S``, DN.

    Parameters
    ----------
    shape : (int, int)
        Vignette shape (rows, columns); rows along track, 1/o native px apart.
    center_xy : (float, float)
        True star centre (column, row), array indices (row units for y).
    psf : PsfParams
        True PSF (known: not estimated).
    oversamp : float
        Along-track oversampling o >= 1.
    signal_dn : float
        True total signal S (ICD §1.3), DN, > 0.
    background_dn : float or ndarray of shape ``shape``
        Background level under the star (stray light), DN per pixel, >= 0; it only enters the
        noise, since its plane is estimated with the star.
    gain_e_per_dn : float
        Electrons per DN (> 0).
    read_noise_dn : float
        Read noise, DN rms per pixel.

    Returns
    -------
    float
        ``sqrt((I^-1)_SS)``, DN. Divide by ``signal_dn`` for the relative bound.

    Raises
    ------
    ValueError
        If the signal or the gain is not positive, or the information matrix is singular.

    Examples
    --------
    A bright star without background nor read noise is shot-noise limited, sqrt(S/g), raised by
    1.6 % (half from the light outside the 32 x 32 vignette, half from the position and background
    plane estimated with it); a faint one on 20 DN of stray light is not:

    >>> psf = PsfParams(lambda_n_px=1.0, obscuration=0.3, sigma_along_px=0.35, sigma_across_px=0.3)
    >>> round(star_signal_crlb_dn((32, 32), (15.3, 16.2), psf, 1.0, 1e6, 0.0, 1.0, 0.0) / 1e3, 3)
    1.016
    >>> round(star_signal_crlb_dn((32, 32), (15.3, 16.2), psf, 1.0, 1e4, 20.0, 2.0, 5.0) / 1e4, 4)
    0.0079
    """
    if signal_dn <= 0.0 or gain_e_per_dn <= 0.0:
        raise ValueError("signal_dn and gain_e_per_dn must be > 0")
    o = check_oversamp(oversamp)
    renderer = PsfRenderer(psf, (shape[0] / o, shape[1]))  # one OTF grid for the five images

    def unit(cx: float, cy: float) -> NDArray[np.float64]:  # a rendered star sums to o x its flux
        return renderer.render(shape, (cx, cy), o, 1.0) / o

    x, y = center_xy
    h = _POSITION_STEP_PX
    p = unit(x, y)
    d_x = (unit(x + h, y) - unit(x - h, y)) * (signal_dn / (2.0 * h))
    d_y = (unit(x, y + h) - unit(x, y - h)) * (signal_dn / (2.0 * h))
    rows, cols = shape
    yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float64)
    variance = (signal_dn * p + background_dn) / gain_e_per_dn + read_noise_dn**2
    jac = np.stack([p, d_x, d_y, np.ones_like(p), xx - (cols - 1) / 2.0, yy - (rows - 1) / 2.0]).reshape(6, -1)
    fisher = (jac / variance.ravel()) @ jac.T
    try:
        var_s = float(np.linalg.inv(fisher)[0, 0])
    except np.linalg.LinAlgError as exc:
        raise ValueError(f"singular information matrix: {exc}") from exc
    return math.sqrt(var_s)
