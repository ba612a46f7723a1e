"""Synthetic Moon band images with a known total signal (ICD 1.2/1.3 conventions).

:func:`simulate_moon_band` renders a phase-illuminated, textured lunar disk on the native-pixel
sampling grid (rows advance 1/o native pixel, so the disk is o times longer along the rows),
convolves it with a PSF with wings, sums b x b native pixels (ground binning), scales the Moon so
that the sum over the whole image of ``DN - DARK b^2 - background`` equals ``total_signal_dn``
exactly (before noise), then adds dark, a background plane, shot and read noise and optional
saturation. Given a chosen A_k, the caller sets ``total_signal_dn = o G A_k E_k / Omega_pix``
(ICD 1.3, E_k from the REF-1 model) and checks that the measurement returns A_k.

Memory: the native grid ``(rows b) x (cols b)`` is held in float64 (a few copies), so this is
meant for test-sized images; the benchmark writes its large image strip by strip with its own
analytic generator.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import DTypeLike, NDArray
from scipy import ndimage, signal

from monitor.science.constants import MOON_RADIUS_KM

__all__ = ["moon_apparent_diameter_px", "simulate_moon_band"]


def moon_apparent_diameter_px(d_obs_moon_km: float, pixscale_urad: float) -> float:
    """Apparent lunar diameter in native pixels across track.

    ``2 asin(R_M / d_OM) / (PIXSCALE 1e-6)``, R_M = 1737.4 km. Along track the disk spans
    ``OVERSAMP`` times more rows.
    """
    return 2.0 * math.asin(MOON_RADIUS_KM / d_obs_moon_km) / (pixscale_urad * 1e-6)


def _psf_kernel(sigma_px: float, oversamp: float, halo_fraction: float, halo_extent_px: float) -> NDArray[np.float64]:
    """PSF on the native-sample grid: Gaussian core + (1 + r^2/r0^2)^-1.5 halo (r^-3 wings).

    Radii are in native pixels; rows are stretched by ``oversamp``. Normalised to sum 1.
    """
    half_c = int(math.ceil(max(4.0 * sigma_px, halo_extent_px)))
    half_r = int(math.ceil(half_c * oversamp))
    y = np.arange(-half_r, half_r + 1)[:, None] / oversamp
    x = np.arange(-half_c, half_c + 1)[None, :]
    r2 = x * x + y * y
    core = np.exp(-0.5 * r2 / max(sigma_px, 1e-3) ** 2)
    core /= core.sum()
    r0 = max(2.0 * sigma_px, 1.0)
    halo = (1.0 + r2 / r0**2) ** -1.5
    halo /= halo.sum()
    k: NDArray[np.float64] = (1.0 - halo_fraction) * core + halo_fraction * halo
    return k


def _texture(rng: np.random.Generator, n_r: int, n_c: int) -> NDArray[np.float64]:
    """Albedo map in [0.6, 1]: bright highlands, dark maria from a smooth random field."""
    coarse = rng.standard_normal((8, 8))
    field = ndimage.zoom(ndimage.gaussian_filter(coarse, 1.0), (n_r / 8.0, n_c / 8.0), order=3)
    field = field[:n_r, :n_c]
    field = (field - field.mean()) / (field.std() + 1e-12)
    fine = ndimage.gaussian_filter(rng.standard_normal((n_r, n_c)), 2.0)
    fine /= fine.std() + 1e-12
    maria = 1.0 / (1.0 + np.exp(-(field - 0.5) / 0.25))
    out: NDArray[np.float64] = np.clip(1.0 - 0.35 * maria + 0.03 * fine, 0.3, 1.2)
    return out


def simulate_moon_band(
    rng: np.random.Generator,
    *,
    total_signal_dn: float,
    shape: tuple[int, int],
    oversamp: float,
    binning: int,
    phase_angle_deg: float,
    moon_diameter_px: float,
    psf_sigma_px: float,
    dark_dn: float,
    gain_e_per_dn: float,
    read_noise_dn: float,
    background_dn: float,
    background_slope: float | tuple[float, float],
    saturate_dn: float | None = None,
    dtype: DTypeLike = np.float32,
    halo_fraction: float = 0.005,
    centre_frac: tuple[float, float] = (0.5, 0.5),
    noise: bool = True,
    halo_extent_px: float | None = None,
    light_leaves_frame: bool = False,
) -> NDArray[Any]:
    """Simulate one Moon band image (DN) with an exactly known total Moon signal.

    Parameters
    ----------
    rng : np.random.Generator
        Source of all randomness (texture and noise).
    total_signal_dn : float
        Sum over the image of ``DN - DARK b^2 - background`` before noise, DN: S_k including the
        OVERSAMP factor (ICD 1.3).
    shape : (int, int)
        Delivered image shape (rows, columns).
    oversamp : float
        OVERSAMP o: the disk spans o times more rows than columns.
    binning : int
        BINNING b: delivered pixel = sum of b x b native pixels.
    phase_angle_deg : float
        Signed phase angle g: negative = waxing (lit limb toward +columns), positive = waning.
    moon_diameter_px : float
        Lunar diameter in native pixels across track.
    psf_sigma_px : float
        Gaussian PSF core sigma, native pixels (rows: o times more).
    dark_dn : float
        DARK per native pixel, DN (each delivered pixel gets ``DARK b^2``).
    gain_e_per_dn : float
        Electrons per DN for the shot noise of signal + background.
    read_noise_dn : float
        Read noise per native pixel, DN (``b`` times that per delivered pixel).
    background_dn : float
        Sky level per delivered pixel at the image centre, DN.
    background_slope : float or (float, float)
        Sky gradient (d/d column, d/d row), DN per delivered pixel per pixel; a float applies to
        both axes.
    saturate_dn : float, optional
        SATURATE (native level): delivered values are clipped at ``SATURATE b^2``.
    dtype : dtype
        Output type (float32, or int16/uint16 rounded and clipped to the type's range).
    halo_fraction : float
        Fraction of the PSF energy in the r^-3 halo.
    centre_frac : (float, float)
        Disk centre as a fraction of the image (rows, columns).
    noise : bool
        Add shot and read noise (default True).
    halo_extent_px : float, optional
        Radius of the rendered r^-3 halo, native pixels (default ``min(D/2, 60)``).
    light_leaves_frame : bool
        False (default): the halo is cut at the frame and the image sums to ``total_signal_dn``.
        True: the scene is rendered on a canvas extended by the halo radius on each side, the
        canvas sums to ``total_signal_dn`` and the frame is cut out of it, so the light that falls
        outside the frame is lost as in a real tight framing (the aperture's lost-light term is
        then testable: the image sums to less than ``total_signal_dn``).

    Returns
    -------
    NDArray, shape ``shape``
        Image in DN (dark and background included).
    """
    n_rows, n_cols = shape
    b = int(binning)
    o = float(oversamp)
    extent = min(0.5 * moon_diameter_px, 60.0) if halo_extent_px is None else float(halo_extent_px)
    pad_c = int(math.ceil(extent / b)) * b if light_leaves_frame else 0  # native pixels, a multiple of b
    pad_r = int(math.ceil(extent * o / b)) * b if light_leaves_frame else 0
    nr, nc = n_rows * b + 2 * pad_r, n_cols * b + 2 * pad_c
    ss = 2 if nr * nc <= 4_000_000 else 1  # supersampling of the disk edge
    radius = 0.5 * moon_diameter_px
    cy = (centre_frac[0] * (nr - 2 * pad_r) + pad_r) / o  # scene coordinates, native pixels
    cx = centre_frac[1] * (nc - 2 * pad_c) + pad_c
    off = (np.arange(ss) + 0.5) / ss - 0.5
    yr = ((np.arange(nr)[:, None] + off[None, :]).ravel() / o - cy) / radius
    xr = ((np.arange(nc)[:, None] + off[None, :]).ravel() - cx) / radius
    x2 = xr[None, :] ** 2
    y2 = yr[:, None] ** 2
    z = np.sqrt(np.clip(1.0 - x2 - y2, 0.0, None))
    g = math.radians(abs(phase_angle_deg))
    side = 1.0 if phase_angle_deg < 0 else -1.0
    mu0 = side * math.sin(g) * xr[None, :] + math.cos(g) * z
    inside = (x2 + y2) < 1.0
    with np.errstate(invalid="ignore", divide="ignore"):
        refl = np.where(inside & (mu0 > 0.0), 0.85 * mu0 / (mu0 + z + 1e-12) + 0.15 * mu0, 0.0)
    if ss > 1:
        refl = refl.reshape(nr, ss, nc, ss).mean(axis=(1, 3))
    scene = refl * _texture(rng, nr, nc)
    kernel = _psf_kernel(psf_sigma_px, o, halo_fraction, halo_extent_px=extent)
    moon = signal.fftconvolve(scene, kernel, mode="same")
    moon = np.clip(moon, 0.0, None)
    moon *= total_signal_dn / moon.sum()  # the whole canvas (the frame itself without light_leaves_frame)
    moon = moon[pad_r : nr - pad_r, pad_c : nc - pad_c]
    moon = moon.reshape(n_rows, b, n_cols, b).sum(axis=(1, 3))

    slope_c, slope_r = (
        (float(background_slope), float(background_slope))
        if isinstance(background_slope, (int, float))
        else (float(background_slope[0]), float(background_slope[1]))
    )
    rows = np.arange(n_rows)[:, None] - 0.5 * (n_rows - 1)
    cols = np.arange(n_cols)[None, :] - 0.5 * (n_cols - 1)
    sky = background_dn + slope_c * cols + slope_r * rows
    image = moon + sky
    if noise:
        var = np.clip(image, 0.0, None) / gain_e_per_dn + (read_noise_dn * b) ** 2
        image = image + rng.standard_normal(image.shape) * np.sqrt(var)
    image = image + dark_dn * b * b
    if saturate_dn is not None:
        image = np.minimum(image, saturate_dn * b * b)
    out_dtype = np.dtype(dtype)
    if out_dtype.kind in "iu":
        info = np.iinfo(out_dtype)
        ints: NDArray[Any] = np.clip(np.rint(image), info.min, info.max).astype(out_dtype)
        return ints
    result: NDArray[Any] = image.astype(out_dtype)
    return result
