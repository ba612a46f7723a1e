"""Aperture photometry of one star vignette and the absolute calibration coefficient (ICD 1.3, 4).

For one band of one STAR acquisition, :func:`measure_star` finds the star near its predicted
position, fits a robust tilted-plane background to the pixels far from it, measures the
centroid and sums the dark- and background-subtracted DN in the configured square windows
(ICD 4), with an honest 1-sigma noise per window and quality flags. :func:`a_coefficient`
turns a window sum into ``A_k`` (ICD 1.3).

Pure numpy; no files, no logging. Coordinates are array indices (0-based, centre of the first
pixel = 0.0): ``x`` counts columns (across track), ``y`` counts rows (along track, time order).
With along-track oversampling ``o`` one native pixel spans ``o`` rows, so distances "in native
pixels" use ``hypot(dx, dy / o)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage

from monitor.domain import DEFAULT_STAR_HALF_WIDTHS_PX, BandHeader
from monitor.science.exceptions import AllNaNError, InsufficientBackgroundError

__all__ = [
    "DEFAULT_GAIN_E_PER_DN",
    "StarPhotometry",
    "dark_subtracted_vignette",
    "measure_star",
    "vignette_header",
    "a_coefficient",
    "a_coefficient_sigma",
    "normalised_count",
]

DEFAULT_GAIN_E_PER_DN = 1.0  # e-/DN; deliberately low => photon noise over-estimated (conservative)
_MAD_TO_SIGMA = 1.482_602_218_505_602  # 1 / Phi^-1(3/4): MAD -> Gaussian sigma
_MIN_BACKGROUND_PIXELS = 30  # fewer usable background pixels => InsufficientBackgroundError
_MIN_BACKGROUND_RADIUS_PX = 5.0  # native px; an adaptive inner radius below this is refused
_MAX_CLIP_ITERATIONS = 6


def _clipped_sigma_correction(k: float) -> float:
    """Factor restoring the std of a Gaussian truncated at +-k sigma (var ratio 1 - 2k phi/(2Phi-1))."""
    phi = math.exp(-0.5 * k * k) / math.sqrt(2.0 * math.pi)
    mass = math.erf(k / math.sqrt(2.0))
    return 1.0 / math.sqrt(1.0 - 2.0 * k * phi / mass)


@dataclass(frozen=True, eq=False)
class StarPhotometry:
    """Photometry of one star in one band (ICD 4). Per-window arrays have shape ``(n_windows,)``.

    Attributes
    ----------
    half_widths : NDArray[np.int64]
        Window half-widths ``h``, native pixels (delivered pixels when binned).
    window_rows : NDArray[np.int64]
        Rows per window, ``round((2h+1) o)``; columns per window are ``2h+1``.
    sums_dn : NDArray[np.float64]
        ``S_w = sum (DN - DARK b^2 - background)`` over the finite pixels of the window, DN.
        A lower bound when ``nan_in_window`` or ``truncated`` is set.
    sigmas_dn : NDArray[np.float64]
        1-sigma noise of ``S_w``, DN: pixel noise, background-estimate error and photon noise.
    n_pixels : NDArray[np.int64]
        Finite pixels summed in each window.
    nan_in_window, truncated : NDArray[np.bool_]
        Window holds a NaN pixel / is cut by the vignette edge.
    snr : NDArray[np.float64]
        ``sums_dn / sigmas_dn``.
    centroid_x, centroid_y : float
        Star centroid, column / row index (rows in row units, i.e. x o for native pixels).
    background_dn : float
        Fitted background per delivered pixel at the centroid (after dark subtraction), DN.
    background_slope : tuple[float, float]
        Background gradient (d/dx per column, d/dy per row), DN per pixel per pixel.
    background_noise_dn : float
        Robust per-pixel noise of the background pixels, DN.
    background_n_pixels : int
        Background pixels kept after sigma clipping.
    background_inner_radius_px : float
        Background pixels are those at ``hypot(dx, dy/o) >= this`` from the star, native px.
        Needed for an encircled-energy correction: the PSF wing beyond this radius is part of
        the subtracted background.
    saturated : bool
        A raw native pixel (delivered DN / b^2) within the largest window is >= SATURATE.
    peak_dn : float
        Largest raw native-pixel DN (delivered DN / b^2, dark included) within the largest window.
    star_found : bool
        The peak box reaches ``detection_snr``.
    off_centre : bool
        Star not found, or centroid farther than ``max_offset_px`` from the prediction, or the
        peak lies on the edge of the search box.
    gain_e_per_dn : float
        Conversion gain used for the photon noise, e-/DN.
    """

    half_widths: NDArray[np.int64]
    window_rows: NDArray[np.int64]
    sums_dn: NDArray[np.float64]
    sigmas_dn: NDArray[np.float64]
    n_pixels: NDArray[np.int64]
    nan_in_window: NDArray[np.bool_]
    truncated: NDArray[np.bool_]
    snr: NDArray[np.float64]
    centroid_x: float
    centroid_y: float
    background_dn: float
    background_slope: tuple[float, float]
    background_noise_dn: float
    background_n_pixels: int
    background_inner_radius_px: float
    saturated: bool
    peak_dn: float
    star_found: bool
    off_centre: bool
    gain_e_per_dn: float


def _robust_plane(
    dx: NDArray[np.float64], dy: NDArray[np.float64], z: NDArray[np.float64], clip_sigma: float
) -> tuple[NDArray[np.float64], NDArray[np.float64], float, int]:
    """Sigma-clipped least-squares plane ``z = c0 + cx dx + cy dy``.

    Returns (coefficients (3,), inverse normal matrix (3, 3), residual std, pixels kept).
    The first clip is at ``clip_sigma`` MAD-scales about the median (robust start, immune to a
    contaminating star or hot pixels); the following ones at ``clip_sigma`` times the
    truncation-corrected std of the kept residuals about the fitted plane, until the kept set is
    stable. Normal equations are accumulated with weight vectors (no copies of the pixel set).
    """
    corr = _clipped_sigma_correction(clip_sigma)
    sub = z[:: max(1, z.size // 2000)]  # the start only needs a rough robust level and scale
    med = float(np.median(sub))
    scale = _MAD_TO_SIGMA * float(np.median(np.abs(sub - med)))
    if scale <= 0.0:  # e.g. quantised, nearly noise-free data
        scale = float(np.std(sub))
    # Sums over all pixels once; each iteration subtracts the (few) clipped pixels.
    sx, sy = float(dx.sum()), float(dy.sum())
    sxy = float(dx @ dy)
    normal_all = np.array([[z.size, sx, sy], [sx, float(dx @ dx), sxy], [sy, sxy, float(dy @ dy)]])
    rhs_all = np.array([float(z.sum()), float(z @ dx), float(z @ dy)])
    keep = np.abs(z - med) <= clip_sigma * scale if scale > 0.0 else np.ones(z.size, dtype=bool)
    beta = np.array([med, 0.0, 0.0])
    inv = np.eye(3)
    sigma = scale
    n_k = int(keep.sum())
    for _ in range(_MAX_CLIP_ITERATIONS):
        n_k = int(keep.sum())
        if n_k < _MIN_BACKGROUND_PIXELS:
            raise InsufficientBackgroundError(f"only {n_k} background pixels survive sigma clipping")
        idx = np.flatnonzero(~keep)
        xr = np.stack([np.ones(idx.size), dx[idx], dy[idx]])  # (3, n_rejected)
        zr = z[idx]
        inv = np.linalg.inv(normal_all - xr @ xr.T)
        beta = inv @ (rhs_all - xr @ zr)
        res = z - beta[0] - beta[1] * dx - beta[2] * dy
        res_r = res[idx]
        sigma = math.sqrt(max(float(res @ res) - float(res_r @ res_r), 0.0) / (n_k - 3)) * corr
        new_keep = np.abs(res) <= clip_sigma * sigma
        if sigma <= 0.0 or np.array_equal(new_keep, keep):
            break
        keep = new_keep
    return beta, inv, sigma, n_k


def vignette_header(shape: tuple[int, int], center_xy: tuple[float, float], oversamp: float,
                    band: str = "model") -> BandHeader:
    """Header of a vignette that is already dark-subtracted (dark 0, gain factor 1, no binning, no
    saturation) with its star at ``center_xy`` (column, row): to run :func:`measure_star` on a
    noiseless model or a simulated vignette (the pixel scale and line period do not enter it)."""
    return BandHeader(band=band, shape=shape, dark_dn=0.0, gain_factor=1.0, oversamp=float(oversamp), binning=1,
                      pixscale_urad=1.0, lineper_ms=1.0, saturate_dn=np.inf, star_x=float(center_xy[0]),
                      star_y=float(center_xy[1]))


def measure_star(
    image_dn: ArrayLike,
    band: BandHeader,
    half_widths_px: Sequence[int] = DEFAULT_STAR_HALF_WIDTHS_PX,
    guess_xy: tuple[float, float] | None = None,
    *,
    gain_e_per_dn: float = DEFAULT_GAIN_E_PER_DN,
    search_radius_px: float = 6.0,
    max_offset_px: float = 5.0,
    background_inner_radius_px: float | None = None,
    background_fraction: float = 0.2,
    max_background_radius_px: float = 25.0,
    clip_sigma: float = 3.0,
    centroid_half_width_px: int = 3,
    detection_snr: float = 5.0,
) -> StarPhotometry:
    """Window photometry of one star vignette of one band (ICD 1.2, 1.3, 4).

    Steps (all vectorised over pixels):

    1. ``d = DN - DARK b^2`` (DARK is per native pixel; a delivered pixel sums b x b of them).
    2. Peak: maximum of ``d`` smoothed by a 3 x round(3 o) box, searched within
       ``search_radius_px`` (native px; rows scaled by o) of the prediction ``guess_xy`` or
       (``band.star_x``, ``band.star_y``); the whole vignette when there is no prediction.
    3. Background: plane ``c0 + cx dx + cy dy`` fitted by iteratively sigma-clipped least squares
       (MAD scale) to the finite pixels at native distance >= ``r_in`` from the peak.
       ``r_in = background_inner_radius_px`` if given, else the distance leaving
       ``background_fraction`` of the finite pixels outside it, capped at ``max_background_radius_px``
       (where an r^-3 diffraction wing is far below the noise). Per-pixel noise ``sigma_b`` is the
       truncation-corrected std of the kept residuals.
    4. Centroid: first moments of the background-subtracted data in a box of
       ``+-centroid_half_width_px`` columns and ``+-round(centroid_half_width_px o)`` rows around
       the peak, recentred once.
    5. Window ``h``: ``2h+1`` columns centred on the column holding the centroid and
       ``n_r = round((2h+1) o)`` rows starting at ``round(y_c - (n_r - 1)/2)`` (centred on the row
       holding the centroid when ``n_r`` is odd, on the nearest row boundary when even).
       ``S_w = sum(d - plane)`` over its finite pixels and

       .. math:: \\sigma_w^2 = n_w \\sigma_b^2 + \\sigma_b^2\\, u^T (X^T X)^{-1} u + \\max(S_w, 0)/g

       with ``u = (n_w, sum dx, sum dy)`` over the window (variance of the subtracted background
       plane, cf. the ``(1 + n_pix/n_bkg)`` term of Merline & Howell 1995) and ``g`` the gain.

    Parameters
    ----------
    image_dn : array_like, shape (n_rows, n_cols)
        Raw vignette, DN (dark included), rows along track in time order. NaN = missing.
    band : BandHeader
        Keywords of the band: ``dark_dn``, ``oversamp``, ``binning``, ``saturate_dn``, and the
        prediction ``star_x``/``star_y`` when ``guess_xy`` is None.
    half_widths_px : sequence of int
        Window half-widths ``h``, native pixels (default ICD 4: 2, 3, 5, 8, 12, 20). For a binned
        image (b > 1) they are taken in delivered pixels.
    guess_xy : (float, float), optional
        Predicted (column, row) of the star, overriding ``band.star_x``/``band.star_y``.
    gain_e_per_dn : float
        Conversion gain for photon noise, e-/DN (of the delivered DN). The default 1.0 is a
        conservative floor: any real chain with more electrons per DN has less photon noise. Pass
        the instrument value (per band and gain setting) for honest uncertainties.
    search_radius_px, max_offset_px : float
        Peak search half-size and tolerated centroid distance from the prediction, native px.
    background_inner_radius_px : float, optional
        Fixed inner radius of the background region, native px.
    background_fraction : float
        Fraction of the finite pixels used for the background when the radius is adaptive.
    max_background_radius_px : float
        Cap of the adaptive inner radius, native px.
    clip_sigma : float
        Sigma-clipping threshold of the background fit.
    centroid_half_width_px : int
        Half-size of the centroid box, native px.
    detection_snr : float
        Minimum SNR of the centroid-box sum for ``star_found``.

    Returns
    -------
    StarPhotometry
        Sums, noises and flags per window plus centroid, background and saturation.

    Raises
    ------
    ValueError
        If the image is not 2-D or an argument is out of range.
    AllNaNError
        If the vignette has no finite pixel.
    InsufficientBackgroundError
        If fewer than 30 background pixels are usable (vignette too small or mostly NaN).

    Notes
    -----
    NaN pixels are left out of every sum and fit; a window containing one is flagged and its sum
    is a lower bound, as is the sum of a window truncated by the edge. Saturation is tested on the
    raw delivered DN divided by b^2 (the mean native pixel of a binned pixel, which can hide one
    saturated native pixel among b^2; exact for b = 1, the STAR case). The background region
    contains the far PSF wing, which is subtracted with the background; the encircled-energy
    correction must account for it (see ``background_inner_radius_px``).

    Examples
    --------
    A Gaussian star (sigma 1 px, 50,000 DN) at (20.3, 19.8) on a 41 x 41 vignette with DARK 100 DN,
    a 10 DN background and 2 DN of noise: the 5 x 5 window holds ~98 % of the light, the 11 x 11
    one all of it.

    >>> from monitor.domain import BandHeader
    >>> rng = np.random.default_rng(1)
    >>> y, x = np.mgrid[0:41, 0:41]
    >>> star = 5e4 * np.exp(-((x - 20.3) ** 2 + (y - 19.8) ** 2) / 2.0) / (2 * np.pi)
    >>> image = 110.0 + star + rng.normal(0.0, 2.0, star.shape)
    >>> band = BandHeader(band="P", shape=(41, 41), dark_dn=100.0, gain_factor=1.0, oversamp=1.0,
    ...                   binning=1, pixscale_urad=1.0, lineper_ms=0.1, saturate_dn=65535.0,
    ...                   star_x=20.0, star_y=20.0)
    >>> phot = measure_star(image, band, [2, 5], gain_e_per_dn=2.0)
    >>> round(phot.centroid_x, 1), round(phot.centroid_y, 1), round(phot.background_dn)
    (20.3, 19.8, 10)
    >>> [round(float(s) / 5e4, 2) for s in phot.sums_dn], phot.saturated, phot.off_centre
    ([0.98, 1.0], False, False)
    """
    img = np.asarray(image_dn, dtype=np.float64)
    if img.ndim != 2:
        raise ValueError(f"image must be 2-D, got shape {img.shape}")
    o = float(band.oversamp)
    b = int(band.binning)
    if o <= 0.0 or b < 1 or gain_e_per_dn <= 0.0 or clip_sigma <= 0.0:
        raise ValueError("oversamp, gain and clip_sigma must be > 0 and binning >= 1")
    hws = np.asarray(half_widths_px, dtype=np.int64)
    if hws.ndim != 1 or hws.size == 0 or np.any(hws < 0):
        raise ValueError("half_widths_px must be a non-empty sequence of integers >= 0")
    finite = np.isfinite(img)
    if not finite.any():
        raise AllNaNError("the vignette has no finite pixel")
    n_rows, n_cols = img.shape
    d = img - band.dark_dn * b * b
    all_finite = bool(finite.all())
    d0 = d if all_finite else np.where(finite, d, 0.0)
    rows = np.arange(n_rows, dtype=np.float64)
    cols = np.arange(n_cols, dtype=np.float64)

    # --- 2. peak -------------------------------------------------------------------------------
    if guess_xy is None and band.star_x is not None and band.star_y is not None:
        guess_xy = (float(band.star_x), float(band.star_y))
    box_rows = max(1, int(math.floor(3.0 * o + 0.5)))
    if guess_xy is not None:
        gx, gy = guess_xy
        sc0 = max(int(math.ceil(gx - search_radius_px)), 0)
        sc1 = min(int(math.floor(gx + search_radius_px)) + 1, n_cols)
        sr0 = max(int(math.ceil(gy - search_radius_px * o)), 0)
        sr1 = min(int(math.floor(gy + search_radius_px * o)) + 1, n_rows)
        if sc1 <= sc0 or sr1 <= sr0 or not finite[sr0:sr1, sc0:sc1].any():
            sc0, sc1, sr0, sr1 = 0, n_cols, 0, n_rows  # prediction off the vignette: search all
    else:
        sc0, sc1, sr0, sr1 = 0, n_cols, 0, n_rows
    # Smooth a margin around the search box so the box filter sees the same neighbours everywhere.
    pc0, pc1 = max(sc0 - 1, 0), min(sc1 + 1, n_cols)
    pr0, pr1 = max(sr0 - box_rows // 2, 0), min(sr1 + box_rows // 2, n_rows)
    num = ndimage.uniform_filter(d0[pr0:pr1, pc0:pc1], size=(box_rows, 3), mode="constant")
    den = ndimage.uniform_filter(finite[pr0:pr1, pc0:pc1].astype(np.float64), size=(box_rows, 3), mode="constant")
    with np.errstate(invalid="ignore", divide="ignore"):
        smooth = np.where(den > 0.0, num / den, -np.inf)[sr0 - pr0 : sr1 - pr0, sc0 - pc0 : sc1 - pc0]
    jp_, ip_ = np.unravel_index(int(np.argmax(smooth)), smooth.shape)
    jp, ip = int(jp_) + sr0, int(ip_) + sc0
    on_search_edge = (ip in (sc0, sc1 - 1) and 0 < ip < n_cols - 1 and (sc0, sc1) != (0, n_cols)) or (
        jp in (sr0, sr1 - 1) and 0 < jp < n_rows - 1 and (sr0, sr1) != (0, n_rows)
    )

    # --- 3. background ---------------------------------------------------------------------------
    dxg = cols - ip
    dyg = rows - jp
    r2 = dxg[None, :] ** 2 + (dyg[:, None] / o) ** 2
    if background_inner_radius_px is None:
        step = 2 if finite.size > 4096 else 1  # a strided subgrid is plenty for a quantile
        r2_fin = r2[::step, ::step][finite[::step, ::step]]
        k = int(math.floor((1.0 - background_fraction) * (r2_fin.size - 1)))
        r_in = min(math.sqrt(float(np.partition(r2_fin, k)[k])), max_background_radius_px)
        if r_in < _MIN_BACKGROUND_RADIUS_PX:
            raise InsufficientBackgroundError(
                f"vignette too small: adaptive background radius {r_in:.1f} px < {_MIN_BACKGROUND_RADIUS_PX}"
            )
    else:
        r_in = float(background_inner_radius_px)
    bkg = finite & (r2 >= r_in * r_in)
    if int(bkg.sum()) < _MIN_BACKGROUND_PIXELS:
        raise InsufficientBackgroundError(f"only {int(bkg.sum())} background pixels beyond {r_in:.1f} px")
    beta, inv_normal, sigma_b, n_bkg = _robust_plane(
        np.broadcast_to(dxg[None, :], d.shape)[bkg], np.broadcast_to(dyg[:, None], d.shape)[bkg], d[bkg], clip_sigma
    )
    plane = beta[0] + beta[1] * dxg[None, :] + beta[2] * dyg[:, None]
    resid0 = d - plane if all_finite else np.where(finite, d - plane, 0.0)

    # --- 4. centroid -----------------------------------------------------------------------------
    hc = int(centroid_half_width_px)
    hr = max(1, int(math.floor(hc * o + 0.5)))
    xc, yc = float(ip), float(jp)
    box_sum = 0.0
    n_box = 1
    for _ in range(2):
        ci, cj = int(math.floor(xc + 0.5)), int(math.floor(yc + 0.5))
        c0, c1 = max(ci - hc, 0), min(ci + hc + 1, n_cols)
        r0, r1 = max(cj - hr, 0), min(cj + hr + 1, n_rows)
        sub = resid0[r0:r1, c0:c1]
        box_sum = float(sub.sum())
        n_box = int(finite[r0:r1, c0:c1].sum())
        if box_sum <= 0.0:
            break
        xc = float((sub.sum(axis=0) @ cols[c0:c1]) / box_sum)
        yc = float((sub.sum(axis=1) @ rows[r0:r1]) / box_sum)
        xc = min(max(xc, 0.0), n_cols - 1.0)
        yc = min(max(yc, 0.0), n_rows - 1.0)
    star_found = box_sum >= detection_snr * sigma_b * math.sqrt(max(n_box, 1)) and box_sum > 0.0
    off_centre = (not star_found) or on_search_edge
    if guess_xy is not None:
        off_centre = off_centre or math.hypot(xc - guess_xy[0], (yc - guess_xy[1]) / o) > max_offset_px

    # --- 5. windows ------------------------------------------------------------------------------
    n_w = hws.size
    sums = np.empty(n_w)
    var = np.empty(n_w)
    npix = np.empty(n_w, dtype=np.int64)
    nan_in = np.empty(n_w, dtype=bool)
    trunc = np.empty(n_w, dtype=bool)
    nrows_w = np.floor((2 * hws + 1) * o + 0.5).astype(np.int64)
    ci = int(math.floor(xc + 0.5))
    sig2 = sigma_b * sigma_b
    largest = (slice(0, 0), slice(0, 0))
    largest_area = -1
    for w in range(n_w):
        h, nr = int(hws[w]), int(nrows_w[w])
        c0, c1 = ci - h, ci + h + 1
        r0 = int(math.floor(yc - 0.5 * (nr - 1) + 0.5))
        r1 = r0 + nr
        trunc[w] = c0 < 0 or r0 < 0 or c1 > n_cols or r1 > n_rows
        sl = (slice(max(r0, 0), max(min(r1, n_rows), 0)), slice(max(c0, 0), max(min(c1, n_cols), 0)))
        n_geo_r, n_geo_c = sl[0].stop - sl[0].start, sl[1].stop - sl[1].start
        if all_finite:  # fast path: closed-form pixel count and coordinate sums
            n_fin = n_geo_r * n_geo_c
            u = np.array([n_fin, float(dxg[sl[1]].sum()) * n_geo_r, float(dyg[sl[0]].sum()) * n_geo_c])
        else:
            fin = finite[sl]
            n_fin = int(fin.sum())
            u = np.array([n_fin, float(fin.sum(axis=0) @ dxg[sl[1]]), float(fin.sum(axis=1) @ dyg[sl[0]])])
        npix[w] = n_fin
        nan_in[w] = n_fin < n_geo_r * n_geo_c
        s = float(resid0[sl].sum())
        sums[w] = s
        var[w] = sig2 * (n_fin + float(u @ inv_normal @ u)) + max(s, 0.0) / gain_e_per_dn
        if n_geo_r * n_geo_c > largest_area:
            largest, largest_area = sl, n_geo_r * n_geo_c
    sigmas = np.sqrt(var)
    raw_native = img[largest] / (b * b)
    raw_fin = raw_native[np.isfinite(raw_native)]
    peak = float(raw_fin.max()) if raw_fin.size else math.nan
    saturated = bool(raw_fin.size and peak >= band.saturate_dn)
    with np.errstate(divide="ignore", invalid="ignore"):
        snr = np.where(sigmas > 0.0, sums / sigmas, np.nan)
    return StarPhotometry(
        half_widths=hws.copy(),
        window_rows=nrows_w,
        sums_dn=sums,
        sigmas_dn=sigmas,
        n_pixels=npix,
        nan_in_window=nan_in,
        truncated=trunc,
        snr=snr,
        centroid_x=xc,
        centroid_y=yc,
        background_dn=float(beta[0] + beta[1] * (xc - ip) + beta[2] * (yc - jp)),
        background_slope=(float(beta[1]), float(beta[2])),
        background_noise_dn=sigma_b,
        background_n_pixels=n_bkg,
        background_inner_radius_px=float(r_in),
        saturated=saturated,
        peak_dn=peak,
        star_found=bool(star_found),
        off_centre=bool(off_centre),
        gain_e_per_dn=float(gain_e_per_dn),
    )


def dark_subtracted_vignette(
    image_dn: ArrayLike, dark_dn: float, binning: int, saturate_dn: float
) -> NDArray[np.float64]:
    """Star signal and background of a raw vignette, saturated pixels masked (ICD 1.2, 1.3).

    Parameters
    ----------
    image_dn : array_like, shape (n_rows, n_cols)
        Raw vignette, DN (dark included); NaN = missing.
    dark_dn : float
        DARK, DN per native pixel.
    binning : int
        BINNING b: a delivered pixel sums b x b native pixels.
    saturate_dn : float
        SATURATE, DN per native pixel.

    Returns
    -------
    ndarray of float64, shape ``image_dn.shape``
        ``DN - DARK b^2``, NaN where the raw DN reaches ``SATURATE b^2`` (and where it is NaN):
        the input of the starpool PSF fit (:func:`monitor.science.mtf_fit.fit_starpool_psf`).

    Examples
    --------
    >>> dark_subtracted_vignette([[120.0, 4095.0], [130.0, np.nan]], 25.0, 2, 1000.0).tolist()
    [[20.0, nan], [30.0, nan]]
    """
    raw = np.asarray(image_dn, dtype=np.float64)
    out = raw - dark_dn * binning**2
    out[raw >= saturate_dn * binning**2] = np.nan
    return out


def _positive(name: str, value: NDArray[np.float64]) -> None:
    if np.any(~(value > 0.0)):
        raise ValueError(f"{name} must be > 0 (and not NaN)")


def normalised_count(sum_dn: ArrayLike, oversamp: ArrayLike, gain_factor: ArrayLike) -> NDArray[np.float64]:
    """Window sum normalised to nominal imaging, ``S / (o G)``, DN (ICD 1.3).

    Parameters
    ----------
    sum_dn : array_like
        Dark- and background-subtracted window sum ``S``, DN.
    oversamp, gain_factor : array_like
        OVERSAMP ``o`` and GAINFACT ``G`` (> 0), broadcast against ``sum_dn``.

    Returns
    -------
    NDArray[np.float64]
        ``S / (o G)``, DN; NaN sums propagate.

    Raises
    ------
    ValueError
        If ``o`` or ``G`` is not > 0.

    Examples
    --------
    >>> normalised_count([3000.0, 1500.0], oversamp=2.0, gain_factor=1.5).tolist()
    [1000.0, 500.0]
    """
    o = np.asarray(oversamp, dtype=np.float64)
    g = np.asarray(gain_factor, dtype=np.float64)
    _positive("oversamp", o)
    _positive("gain_factor", g)
    out: NDArray[np.float64] = np.asarray(sum_dn, dtype=np.float64) / (o * g)
    return out


def a_coefficient(
    sum_dn: ArrayLike,
    oversamp: ArrayLike,
    gain_factor: ArrayLike,
    irradiance_w_m2_um: ArrayLike,
    pixel_solid_angle_sr: ArrayLike,
    encircled_energy: ArrayLike = 1.0,
) -> NDArray[np.float64]:
    """Absolute calibration coefficient from a star window sum (ICD 1.3).

    .. math:: A_k = \\frac{S\\, \\Omega_{pix}}{o\\, G\\, E_k\\, EE}

    inverted from ``S_k = o G A_k E_k / Omega_pix`` with ``S`` the window sum and ``EE`` the
    fraction of the star's signal inside that window (1 = no correction).

    Parameters
    ----------
    sum_dn : array_like
        Window sum ``S``, DN.
    oversamp, gain_factor : array_like
        OVERSAMP ``o`` and GAINFACT ``G`` (> 0).
    irradiance_w_m2_um : array_like
        Band-averaged star irradiance ``E_k``, W m^-2 um^-1 (> 0).
    pixel_solid_angle_sr : array_like
        ``Omega_pix = (PIXSCALE 1e-6)^2``, sr (> 0).
    encircled_energy : array_like
        Encircled-energy fraction of the window, in (0, 1] normally (> 0 required).

    Returns
    -------
    NDArray[np.float64]
        ``A_k`` in DN / (W m^-2 sr^-1 um^-1), broadcast shape of the inputs. NaN sums propagate.

    Raises
    ------
    ValueError
        If ``o``, ``G``, ``E_k``, ``Omega_pix`` or ``EE`` is not > 0.

    Examples
    --------
    200,000 DN at o = 2 and G = 1.5 from a star of 1e-9 W m^-2 um^-1 with 4 urad pixels
    (Omega = 1.6e-11 sr): A = 2e5 x 1.6e-11 / (2 x 1.5 x 1e-9):

    >>> round(float(a_coefficient(2.0e5, 2.0, 1.5, 1.0e-9, (4.0e-6) ** 2)), 6)
    1066.666667
    >>> a_coefficient([2.0e5, 1.9e5], 2.0, 1.5, 1.0e-9, (4.0e-6) ** 2, encircled_energy=[1.0, 0.95]).round(3)
    array([1066.667, 1066.667])
    """
    e = np.asarray(irradiance_w_m2_um, dtype=np.float64)
    omega = np.asarray(pixel_solid_angle_sr, dtype=np.float64)
    ee = np.asarray(encircled_energy, dtype=np.float64)
    _positive("irradiance_w_m2_um", e)
    _positive("pixel_solid_angle_sr", omega)
    _positive("encircled_energy", ee)
    out: NDArray[np.float64] = normalised_count(sum_dn, oversamp, gain_factor) * omega / (e * ee)
    return out


def a_coefficient_sigma(
    a: ArrayLike,
    sum_dn: ArrayLike,
    sum_sigma_dn: ArrayLike,
    *,
    irradiance_rel_sigma: ArrayLike = 0.0,
    encircled_energy: ArrayLike = 1.0,
    encircled_energy_sigma: ArrayLike = 0.0,
    gain_factor_rel_sigma: ArrayLike = 0.0,
) -> NDArray[np.float64]:
    """1-sigma uncertainty of :func:`a_coefficient` by first-order propagation.

    .. math:: \\sigma_A = |A| \\sqrt{(\\sigma_S/S)^2 + (\\sigma_E/E)^2 + (\\sigma_{EE}/EE)^2 + (\\sigma_G/G)^2}

    (independent relative errors; ``o`` and ``Omega_pix`` are exact by definition).

    Parameters
    ----------
    a : array_like
        ``A_k`` from :func:`a_coefficient`.
    sum_dn, sum_sigma_dn : array_like
        Window sum and its 1-sigma noise, DN (``StarPhotometry.sums_dn``/``sigmas_dn``).
    irradiance_rel_sigma : array_like
        Relative 1-sigma error of ``E_k`` (star-model error; 0 = statistical only).
    encircled_energy, encircled_energy_sigma : array_like
        EE used in ``a`` and its 1-sigma error.
    gain_factor_rel_sigma : array_like
        Relative 1-sigma error of GAINFACT.

    Returns
    -------
    NDArray[np.float64]
        ``sigma_A``, same unit as ``a``. NaN where ``sum_dn`` is 0 or NaN.

    Examples
    --------
    A 1 % window noise and a 2 % star-model error add in quadrature:

    >>> a = a_coefficient(2.0e5, 2.0, 1.5, 1.0e-9, (4.0e-6) ** 2)
    >>> round(float(a_coefficient_sigma(a, 2.0e5, 2.0e3, irradiance_rel_sigma=0.02) / a), 5)
    0.02236
    """
    s = np.asarray(sum_dn, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel_s = np.where(s != 0.0, np.asarray(sum_sigma_dn, dtype=np.float64) / s, np.nan)
        rel_ee = np.asarray(encircled_energy_sigma, dtype=np.float64) / np.asarray(encircled_energy, dtype=np.float64)
    rel2 = (
        rel_s**2
        + np.asarray(irradiance_rel_sigma, dtype=np.float64) ** 2
        + rel_ee**2
        + np.asarray(gain_factor_rel_sigma, dtype=np.float64) ** 2
    )
    out: NDArray[np.float64] = np.abs(np.asarray(a, dtype=np.float64)) * np.sqrt(rel2)
    return out
