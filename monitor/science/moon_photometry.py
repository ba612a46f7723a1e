"""Disk-integrated Moon photometry of one band image and its calibration coefficient A_k.

Measurement equation (ICD 1.3), per band k:

.. math::

    S_k = \\sum (DN - DARK\\,b^2) = o\\,G\\,A_k\\,E_k / \\Omega_{pix}, \\qquad
    A_k = S_k\\,\\Omega_{pix} / (o\\,G\\,E_k), \\qquad \\Omega_{pix} = (PIXSCALE\\cdot10^{-6})^2

Binning: a delivered pixel is the sum of b x b native pixels, so the sum over delivered pixels of
``DN - DARK b^2`` *is* the sum over native pixels of ``DN_native - DARK``: binning changes neither
S_k nor the equation, and Omega_pix stays the NATIVE pixel solid angle (using the binned pixel
``b^2 Omega_pix`` would be wrong by b^2). Oversampling o multiplies S_k (every scene point is seen
in o rows) and is divided out in A_k.

Pre-treatments (ICD 1.2/1.3): dark ``DARK b^2`` per delivered pixel; NaN pixels on the lunar disk
make the band unusable (:class:`MoonNaNOnDiskError`), NaN in the sky are ignored; a delivered
pixel of the source whose mean native level ``DN / b^2`` (dark included) reaches ``SATURATE``
makes the band unusable (:class:`MoonSaturatedError`); the sky background is a plane fitted to the
dark sky away from the Moon (robust, clipped).

Bounded memory, two passes over row strips (``strips_factory()`` is called twice):

1. *Preview*: per ``f x f`` block, the NaN-aware sum, sum of squares and count (float64 arrays
   of at most 256 blocks along each axis). On it: threshold + largest connected component = the lit Moon, its
   flux-weighted centre and extent ``R`` (across-track pixels; rows are scaled by 1/o because
   oversampling stretches the disk o times along track); the background plane (weighted, clipped
   fit to the block means of the sky beyond ``2 R`` if the image has enough sky there, else closer,
   down to ``1.2 R``); the per-pixel sky noise (median in-block variance).
2. *Curve of growth*: inside the largest ellipse (semi-axes rho across, o*rho along track) that
   fits in the image, every pixel's background-subtracted value is accumulated into radial bins of
   the elliptical radius ``rho = sqrt(dx^2 + (dy/o)^2)`` (``np.bincount``), with counts of valid,
   NaN and saturated pixels. The aperture is grown until the cumulative sum is flat: the smallest
   ``rho >= R`` from which the curve never moves by more than ``max(flat_tol * S, 3 sigma)`` out to
   the largest radius. That radius is recorded.

Only one strip (plus float32 temporaries of its size) and the small preview are in memory; no
float64 copy of the image is made.

This module holds the results, the measurement equation and :func:`measure_moon_band`, which runs
the passes; each step has its own module: the preview (:mod:`monitor.science.moon_preview`), the
lit Moon and its limb (:mod:`monitor.science.moon_limb`), the sky plane
(:mod:`monitor.science.moon_sky`) and the curve of growth (:mod:`monitor.science.moon_growth`).
The errors are in :mod:`monitor.science.exceptions`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from monitor.domain import BandHeader
from monitor.science.exceptions import (
    MoonNaNOnDiskError,
    MoonNotFoundError,
    MoonSaturatedError,
    MoonTruncatedError,
)
from monitor.science.lunar_geometry import is_phase_angle_valid
from monitor.science.moon_growth import curve_of_growth, flat_index
from monitor.science.moon_limb import detect_moon
from monitor.science.moon_preview import preview_blocks
from monitor.science.moon_sky import fit_background_adaptive

__all__ = [
    "StripsFactory",
    "MoonUncertainty",
    "MoonPhotometry",
    "DEFAULT_GEOMETRY_REL_SIGMA",
    "DEFAULT_MODEL_REL_SIGMA",
    "measure_moon_band",
    "measure_moon_array",
    "array_strips_factory",
    "calibration_coefficient",
]

StripsFactory = Callable[[], Iterable[tuple[int, NDArray[np.float32]]]]

# 0.01 deg error in g -> 2.4e-4 relative: dlnA/dg = -2.4 %/deg at g = 30 deg, 553.8 nm (ROLO, Kieffer & Stone
# 2005 Eq. 10 with the Table 4 coefficients of reference_data/rolo_coefficients.csv; -3.1 %/deg at 10 deg).
DEFAULT_GEOMETRY_REL_SIGMA = 2.4e-4
# ROLO relative (temporal) precision, Kieffer & Stone 2005 abstract: ~0.1 %. The absolute scale
# (5-10 %) is common to all measurements and not part of a measurement's uncertainty.
DEFAULT_MODEL_REL_SIGMA = 1.0e-3

_PREVIEW_MAX = 256  # preview size target (blocks along the longer axis)
_FLAG_PHASE = "phase-out-of-range"


@dataclass(frozen=True)
class MoonUncertainty:
    """Relative (1-sigma) uncertainty budget of A_k; components assumed independent.

    Attributes
    ----------
    noise : float
        Pixel noise in the aperture: sky noise (and source shot noise when the gain is known).
    background : float
        Error of the fitted background plane times the aperture area.
    aperture : float
        Change of the curve of growth between the chosen aperture and the largest radius.
    geometry : float
        Error of the reference irradiance due to the geometry (dominated by g).
    model : float
        Relative precision of the REF-1 lunar model.
    """

    noise: float
    background: float
    aperture: float
    geometry: float
    model: float

    @property
    def total(self) -> float:
        """Quadrature sum of the components (relative)."""
        return math.sqrt(self.noise**2 + self.background**2 + self.aperture**2 + self.geometry**2 + self.model**2)


@dataclass(frozen=True, eq=False)
class MoonPhotometry:
    """Result of :func:`measure_moon_band` for one band (ICD 4 quantities).

    Attributes
    ----------
    band : str
        Band name.
    signal_dn : float
        S_k = sum of (DN - DARK b^2 - sky) in the aperture, DN (includes the factor OVERSAMP as in
        ICD 1.3).
    signal_per_oversamp_dn : float
        S_k / o, DN.
    aperture_radius_px : float
        Aperture semi-axis across track, delivered pixels (along track: ``o *`` that, rows).
    max_radius_px : float
        Largest radius of the curve of growth (ellipse inside the image), delivered pixels.
    disk_radius_px : float
        Extent of the detected lit Moon from its centre, delivered pixels across track.
    centre_row, centre_col : float
        Flux-weighted centre of the lit Moon, delivered-pixel indices (0-based).
    background_dn : float
        Sky level after dark subtraction at the centre, DN per delivered pixel.
    background_slope_dn_per_px : tuple of float
        Sky plane gradient (d/d column, d/d row), DN per delivered pixel per pixel.
    background_noise_dn : float
        Sky noise, DN per delivered pixel (1 sigma).
    n_aperture_pixels : int
        Valid pixels summed.
    n_nan_ignored : int
        NaN pixels off the disk inside the aperture (ignored).
    irradiance_w_m2_um : float
        Reference band irradiance E_k used, W m^-2 um^-1.
    a_k : float
        A_k, DN / (W m^-2 sr^-1 um^-1).
    a_sigma : float
        1-sigma uncertainty of A_k, same unit (``a_k * uncertainty.total``).
    uncertainty : MoonUncertainty
        Relative budget.
    curve_radius_px, curve_signal_dn : NDArray[np.float64]
        Curve of growth: outer radius of each bin (delivered pixels) and cumulative sum (DN).
    flags : tuple of str
        ``"phase-out-of-range"`` when |g| is outside 2..90 deg (kept, excluded from trends).
    """

    band: str
    signal_dn: float
    signal_per_oversamp_dn: float
    aperture_radius_px: float
    max_radius_px: float
    disk_radius_px: float
    centre_row: float
    centre_col: float
    background_dn: float
    background_slope_dn_per_px: tuple[float, float]
    background_noise_dn: float
    n_aperture_pixels: int
    n_nan_ignored: int
    irradiance_w_m2_um: float
    a_k: float
    a_sigma: float
    uncertainty: MoonUncertainty
    curve_radius_px: NDArray[np.float64] = field(repr=False)
    curve_signal_dn: NDArray[np.float64] = field(repr=False)
    flags: tuple[str, ...] = ()


def calibration_coefficient(signal_dn: float, band: BandHeader, irradiance_w_m2_um: float) -> float:
    """A_k = S_k Omega_pix / (o G E_k) (ICD 1.3), Omega_pix the native pixel solid angle.

    Parameters
    ----------
    signal_dn : float
        S_k, DN (sum over all pixels, OVERSAMP included).
    band : BandHeader
        Band keywords (PIXSCALE, OVERSAMP, GAINFACT).
    irradiance_w_m2_um : float
        E_k, W m^-2 um^-1.

    Returns
    -------
    float
        A_k, DN / (W m^-2 sr^-1 um^-1).

    Examples
    --------
    >>> band = BandHeader(band="B2", shape=(200, 200), dark_dn=50.0, gain_factor=2.0, oversamp=2.0, binning=1,
    ...                   pixscale_urad=2.0, lineper_ms=0.1, saturate_dn=4095.0)
    >>> round(calibration_coefficient(1.0e6, band, 2.0e-3), 9)  # 1e6 x 4e-12 / (2 x 2 x 2e-3)
    0.0005
    """
    if irradiance_w_m2_um <= 0.0 or band.oversamp <= 0.0 or band.gain_factor <= 0.0:
        raise ValueError("irradiance, OVERSAMP and GAINFACT must be > 0")
    return signal_dn * band.pixel_solid_angle_sr / (band.oversamp * band.gain_factor * irradiance_w_m2_um)


def measure_moon_band(
    strips_factory: StripsFactory,
    band: BandHeader,
    irradiance_w_m2_um: float,
    *,
    phase_angle_deg: float | None = None,
    gain_e_per_dn: float | None = None,
    geometry_rel_sigma: float = DEFAULT_GEOMETRY_REL_SIGMA,
    model_rel_sigma: float = DEFAULT_MODEL_REL_SIGMA,
    flat_tol: float = 3e-5,
    threshold_frac: float = 0.05,
    min_margin_px: float = 0.5,
) -> MoonPhotometry:
    """Pre-treat one Moon band image and measure S_k and A_k, reading it twice as strips.

    Parameters
    ----------
    strips_factory : callable
        ``strips_factory()`` returns a fresh iterable of ``(row_start, block)`` with ``block`` a
        float32 array of shape ``(n, n_columns)`` in DN; together the blocks cover the
        ``band.shape`` rows once, in any order. Called twice (two passes). See
        :func:`monitor.io.strips.image_strips_factory` and :func:`array_strips_factory`.
    band : BandHeader
        Keywords of the image (shape, DARK, GAINFACT, OVERSAMP, BINNING, PIXSCALE, SATURATE).
    irradiance_w_m2_um : float
        Reference band irradiance E_k at the satellite (REF-1), W m^-2 um^-1.
    phase_angle_deg : float, optional
        Signed phase angle g; when given and ``|g|`` is outside 2..90 deg the result carries the
        flag ``"phase-out-of-range"`` (ICD 2.3: kept, excluded from trends).
    gain_e_per_dn : float, optional
        Electrons per DN of a delivered pixel, to add the source shot noise to the budget.
    geometry_rel_sigma, model_rel_sigma : float
        Relative uncertainties of E_k from the geometry and from the lunar model.
    flat_tol : float
        Relative flatness tolerance of the curve of growth.
    threshold_frac : float
        Detection threshold above the sky, as a fraction of the brightest preview block.
    min_margin_px : float
        Minimal sky margin (delivered pixels) between the fitted limb and the image edge; a lit
        pixel on the frame's border is a truncated Moon whatever the margin.

    Returns
    -------
    MoonPhotometry

    Raises
    ------
    AllNaNError
        No finite pixel.
    MoonNotFoundError
        No source above the sky.
    MoonTruncatedError
        The Moon touches the image edge.
    InsufficientBackgroundError
        Too little dark sky to fit the background plane.
    MoonNaNOnDiskError, MoonSaturatedError
        NaN pixel on the disk, saturated pixel in the aperture (``.reason`` gives ICD 5 category).

    Notes
    -----
    NaN pixels off the disk are dropped from the sums (the background-subtracted sky contributes
    zero on average). Memory: one strip plus the <= 256 x 256 preview. Uncertainties: noise =
    ``sqrt(N sigma_sky^2 + S/gain)/S``; background = ``N * sigma(level)/S``; aperture =
    ``|S(rho_max) - S(rho_ap)|/S``; geometry and model as given.

    Examples
    --------
    A uniform disk of radius 40 px at 100 DN per pixel over a 5 DN sky (DARK 50 DN, 1 DN of noise),
    read in strips of 64 rows: the aperture recovers the disk's 503,600 DN within 0.02 %, and its centre.

    >>> rng = np.random.default_rng(2)
    >>> y, x = np.mgrid[0:200, 0:200]
    >>> disk = np.where(np.hypot(x - 99.5, y - 100.2) <= 40.0, 100.0, 0.0)
    >>> image = (55.0 + disk + rng.normal(0.0, 1.0, disk.shape)).astype(np.float32)
    >>> band = BandHeader(band="B2", shape=(200, 200), dark_dn=50.0, gain_factor=1.0, oversamp=1.0, binning=1,
    ...                   pixscale_urad=2.0, lineper_ms=0.1, saturate_dn=4095.0)
    >>> moon = measure_moon_band(array_strips_factory(image, rows_per_strip=64), band, 2.0e-3)
    >>> round(moon.signal_dn / float(disk.sum()), 4), round(moon.centre_col, 1), round(moon.centre_row, 1), moon.flags
    (1.0002, 99.5, 100.2, ())
    >>> round(moon.a_k, 7), round(moon.uncertainty.total, 4)  # A_k = S Omega / (o G E_k)
    (0.0010074, 0.0011)
    """
    n_rows, n_cols = band.shape
    o = float(band.oversamp)
    b2 = float(band.binning) ** 2
    dark = float(band.dark_dn) * b2
    saturation_dn = float(band.saturate_dn) * b2  # mean native level DN/b^2 >= SATURATE
    f = max(2, int(math.ceil(max(n_rows, n_cols) / _PREVIEW_MAX)))

    pv = preview_blocks(strips_factory(), (n_rows, n_cols), f, saturation_dn)
    det = detect_moon(pv, o, threshold_frac)
    rho_max = min(
        det.centre_col + 0.5, n_cols - 0.5 - det.centre_col, (det.centre_row + 0.5) / o,
        (n_rows - 0.5 - det.centre_row) / o,
    )  # fmt: skip
    if det.touches_edge or rho_max < det.radius_px + min_margin_px:
        raise MoonTruncatedError(
            f"Moon (radius {det.radius_px:.1f} px) at ({det.centre_row:.1f}, {det.centre_col:.1f}) "
            f"touches or leaves the frame ({n_rows} x {n_cols})"
        )
    bkg = fit_background_adaptive(pv, det, o)
    bin_width = min(1.0, max(det.radius_px / 40.0, 0.1))
    gr = curve_of_growth(strips_factory(), det, bkg, o, rho_max, bin_width, saturation_dn)

    s_cum = np.cumsum(gr.sums)
    n_cum = np.cumsum(gr.n_valid)
    sigma_cum = np.sqrt(n_cum * bkg.pixel_noise**2 + (n_cum * bkg.level_sigma) ** 2)
    i_disk = min(int(math.ceil(det.radius_px / bin_width)), s_cum.size - 1)
    i_ap = flat_index(s_cum, sigma_cum, i_disk, flat_tol)
    if gr.n_nan[: i_disk + 1].sum() > 0:
        raise MoonNaNOnDiskError(f"{int(gr.n_nan[: i_disk + 1].sum())} NaN pixel(s) on the lunar disk")
    if gr.n_sat[: i_ap + 1].sum() > 0:
        raise MoonSaturatedError(
            f"{int(gr.n_sat[: i_ap + 1].sum())} pixel(s) at or above SATURATE={band.saturate_dn} DN"
        )
    signal = float(s_cum[i_ap])
    if not signal > 0.0:
        raise MoonNotFoundError(f"non-positive Moon signal {signal:.3g} DN")
    n_ap = float(n_cum[i_ap])
    shot = signal / gain_e_per_dn if gain_e_per_dn else 0.0
    unc = MoonUncertainty(
        noise=math.sqrt(n_ap * bkg.pixel_noise**2 + shot) / signal,
        background=n_ap * bkg.level_sigma / signal,
        aperture=abs(float(s_cum[-1]) - signal) / signal,
        geometry=float(geometry_rel_sigma),
        model=float(model_rel_sigma),
    )
    a_k = calibration_coefficient(signal, band, irradiance_w_m2_um)
    flags: tuple[str, ...] = ()
    if phase_angle_deg is not None and not is_phase_angle_valid(phase_angle_deg):
        flags = (_FLAG_PHASE,)
    edges: NDArray[np.float64] = (np.arange(s_cum.size, dtype=np.float64) + 1.0) * bin_width
    return MoonPhotometry(
        band=band.band,
        signal_dn=signal,
        signal_per_oversamp_dn=signal / o,
        aperture_radius_px=float(edges[i_ap]),
        max_radius_px=float(rho_max),
        disk_radius_px=det.radius_px,
        centre_row=det.centre_row,
        centre_col=det.centre_col,
        background_dn=float(bkg.coef[0]) - dark,
        background_slope_dn_per_px=(float(bkg.coef[1]), float(bkg.coef[2])),
        background_noise_dn=bkg.pixel_noise,
        n_aperture_pixels=int(n_ap),
        n_nan_ignored=int(gr.n_nan[: i_ap + 1].sum()),
        irradiance_w_m2_um=float(irradiance_w_m2_um),
        a_k=a_k,
        a_sigma=a_k * unc.total,
        uncertainty=unc,
        curve_radius_px=edges,
        curve_signal_dn=s_cum,
        flags=flags,
    )


def array_strips_factory(image: NDArray[np.floating], rows_per_strip: int = 256) -> StripsFactory:
    """A strips factory over an in-memory 2-D image (float32 views/copies per strip)."""
    if image.ndim != 2:
        raise ValueError("image must be 2-D")

    def factory() -> Iterable[tuple[int, NDArray[np.float32]]]:
        for r0 in range(0, image.shape[0], rows_per_strip):
            yield r0, np.asarray(image[r0 : r0 + rows_per_strip], dtype=np.float32)

    return factory


def measure_moon_array(
    image: NDArray[np.floating],
    band: BandHeader,
    irradiance_w_m2_um: float,
    **kwargs: float | None,
) -> MoonPhotometry:
    """:func:`measure_moon_band` on an in-memory image (``band.shape`` must match ``image``)."""
    if tuple(image.shape) != tuple(band.shape):
        raise ValueError(f"image shape {image.shape} differs from band.shape {band.shape}")
    return measure_moon_band(array_strips_factory(image), band, irradiance_w_m2_um, **kwargs)  # type: ignore[arg-type]
