"""Independent truth PSF drawn numerically from a telescope pupil (issue 15).

The simulator's default truth (:mod:`monitor.simulate.star`) is drawn with the estimator's own
parametric model; this module is a SECOND PSF family computed by its own code path: it imports
nothing from ``monitor.science.psf``, ``psf_renderer``, ``mtf_fit``, ``encircled_energy`` or
``ee_correction`` (tests/simulate/test_pupil_psf.py checks it), and its physics is written again here.

Units: lengths in native pixels (px); spatial frequencies in cycles per native pixel (cy/px),
``fx`` across track (columns, x) and ``fy`` along track (rows, y); wavelengths in µm;
wave-front aberrations in waves rms at the reference wavelength ``lambda_ref_um`` (a fixed optical
path difference, so ``W(lambda) = W_ref · lambda_ref / lambda`` waves).

Model (Goodman 2005 ch. 6; Fiete 2010 ch. 4; Viallefont-Robinet & Léger 2010)::

    OTF(fx, fy) = [sum_j w_j O_j(fx, fy)] · K(rho) · sinc(fx) sinc(fy) · sinc(s fy)
                  · J0(2 pi a (f · d)) · exp[-2 pi^2 (sx^2 fx^2 + sy^2 fy^2)]

* ``O_j``: monochromatic optical OTF at wavelength ``lambda_j``: the complex pupil
  ``P(u) = A(u) exp(2 pi i W(u) lambda_ref/lambda_j)`` (annulus of obscuration eps, radial spider
  vanes, Noll-normalised Zernike defocus Z4, astigmatism Z5 (45°) / Z6 (0°), coma Z7 (y) / Z8 (x))
  sampled on ``pupil_samples`` points across the diameter (grey anti-aliased edges), zero-padded
  2x, PSF ``|FFT P|^2`` (Nyquist sampled, so its FFT, the pupil autocorrelation, is not aliased),
  OTF = FFT(PSF) normalised to 1 at f = 0. Its frequency step is ``1/pupil_samples`` of the cut-off
  ``1/(lambda_j N)``; values in cy/px are bilinear interpolates at ``nu = f · lambda_j N / pitch``.
  Optionally (``optics="gaussian"``) the optics is a Gaussian of 1-sigma ``gaussian_sigma_lambda_n ·
  lambda_j N`` (a PSF without diffraction wings);
* ``w_j``: photon weights ``RSR(lambda) · N_phot(lambda) · d lambda`` normalised to 1 (RSR as a
  response per photon; for a response per unit energy and an energy spectrum pass their product);
* ``K``: carrier diffusion, exponential kernel ``exp(-r/l)/(2 pi l^2)`` -> ``(1 + (2 pi l rho)^2)^-3/2``
  or Gaussian kernel -> ``exp(-2 pi^2 l^2 rho^2)``;
* ``sinc(fx) sinc(fy)``: 1 x 1 native-pixel aperture (every row of an OVERSAMP = o vignette is still a
  full native-pixel sample, ICD-1 §1.2);
* ``sinc(s fy)``: TDI desynchronisation smear, a box of ``s`` px along track;
* ``J0``: sinusoidal micro-vibration of amplitude ``a`` px along the unit vector ``d`` (angle from
  the along-track axis), time-averaged over many periods (Fiete 2010 §4.6);
* Gaussian: random line-of-sight jitter, 1-sigma ``sx`` across, ``sy`` along, px.

MTF definition: the same as the one the system reports (``monitor.science.psf`` docstring and ICD-1 §5):
the transfer function of the continuous PSF INCLUDING the pixel aperture, diffusion, smear, jitter
(and here micro-vibration), along ``|OTF(0, f)|`` and across ``|OTF(f, 0)|``, f in cy per native px
(not per oversampled row); Nyquist is f = 0.5 cy/px. The along-track row sampling 1/o does not enter.

Images: :func:`render_vignette` evaluates ``flux · (PSF ⊗ pixel)(x_c - x0, (y_r - y0)/o)`` on the
ICD-1 §1.2 vignette grid as a Fourier series (shift theorem, two matrix products, no loop over pixels)
on a periodic grid of ``(cols + 2 pad) x (rows/o + 2 pad)`` native px; the OTF vanishes beyond the
bluest cut-off, so the series is exact up to the periodisation of the diffraction wings (< 1e-4 of
the flux for the default pad, checked in the tests). The image sums to ``o · flux`` over an infinite
vignette (ICD-1 §1.3: a source covers o times more rows), the convention of the project's renderer.

References
----------
Goodman, J. W. (2005), Introduction to Fourier Optics, 3rd ed., §6.3-6.4.
Noll, R. J. (1976), Zernike polynomials and atmospheric turbulence, JOSA 66, 207.
Fiete, R. D. (2010), Modeling the Imaging Chain of Digital Cameras, SPIE TT92, ch. 4.
Viallefont-Robinet, F. & Léger, D. (2010), Opt. Express 18(4), 3531.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import j0

__all__ = [
    "FAMILIES",
    "NYQUIST_CY_PX",
    "PupilTruth",
    "band_weights",
    "flat_band",
    "mtf_along",
    "mtf_across",
    "mtf_nyquist",
    "pupil_function",
    "monochromatic_psf",
    "render_vignette",
    "system_otf",
    "truth_family",
    "vignette_flux_fraction",
    "window_flux_fractions",
]

NYQUIST_CY_PX = 0.5
_ENVELOPE_TOL = 1e-12  # Gaussian optics: OTF support truncated where its envelope falls below this
_SUPERSAMPLE = 4  # sub-samples per pupil sample (per axis) for the grey anti-aliased pupil edges


@dataclass(frozen=True)
class PupilTruth:
    """A pupil-based truth PSF of one band, native-pixel units of that band.

    Attributes
    ----------
    lambda_n_px : float
        ``lambda_ref · N / pitch`` at the reference wavelength, px; ``lambda_j N / pitch`` scales as
        ``lambda_j / lambda_ref``.
    lambda_ref_um : float
        Reference wavelength, µm (aberrations are given in waves rms at it).
    wavelengths_um, weights : tuple of float
        Wavelength nodes (µm) and their photon weights (normalised to sum 1 here), see
        :func:`band_weights` / :func:`flat_band`.
    obscuration : float
        Linear central-obscuration ratio eps, 0 <= eps < 1.
    spider_vanes : int
        Number of radial vanes from the centre to the rim (0, 3 or 4 typically).
    spider_width : float
        Vane width as a fraction of the pupil DIAMETER.
    spider_angle_deg : float
        Angle of the first vane from the +x (across-track) axis, degrees.
    defocus_waves, astig0_waves, astig45_waves, coma_x_waves, coma_y_waves : float
        Noll Zernike coefficients Z4, Z6, Z5, Z8, Z7 in waves rms at ``lambda_ref_um``
        (normalised over the full unit disc: the rms over an obscured pupil differs slightly).
    jitter_along_px, jitter_across_px : float
        1-sigma Gaussian line-of-sight jitter along (y) / across (x) track, px.
    diffusion_px : float
        Carrier-diffusion length l, px; ``diffusion_kernel`` "exponential" or "gaussian".
    smear_along_px : float
        TDI desynchronisation smear (box length along track), px.
    vibration_amplitude_px : float
        Amplitude a of a sinusoidal micro-vibration, px; ``vibration_angle_deg`` its direction
        measured from the along-track axis (0 = along track, 90 = across).
    optics : str
        "pupil" (diffraction from the pupil) or "gaussian" (no diffraction wings: optics replaced by
        a Gaussian of 1-sigma ``gaussian_sigma_lambda_n · lambda_j N``).
    pupil_samples : int
        Pupil samples across the diameter (OTF step ``1/pupil_samples`` of the cut-off). The grey
        pupil edge multiplies the PSF by ``sinc^2(r / (n lambda N))`` and the FFT field is ``n lambda N``
        wide, so the wings are right out to ~n lambda N / 10: 512 (the default) makes the flux of a
        PAN 64-px vignette converge to 1e-4 (it moves by 6e-4 from n = 128 to 256, 2e-4 from 256 to 512).
    """

    lambda_n_px: float
    lambda_ref_um: float
    wavelengths_um: tuple[float, ...]
    weights: tuple[float, ...]
    obscuration: float = 0.0
    spider_vanes: int = 0
    spider_width: float = 0.0
    spider_angle_deg: float = 0.0
    defocus_waves: float = 0.0
    astig0_waves: float = 0.0
    astig45_waves: float = 0.0
    coma_x_waves: float = 0.0
    coma_y_waves: float = 0.0
    jitter_along_px: float = 0.0
    jitter_across_px: float = 0.0
    diffusion_px: float = 0.0
    diffusion_kernel: str = "exponential"
    smear_along_px: float = 0.0
    vibration_amplitude_px: float = 0.0
    vibration_angle_deg: float = 0.0
    optics: str = "pupil"
    gaussian_sigma_lambda_n: float = 0.42
    pupil_samples: int = 512

    def __post_init__(self) -> None:
        w = np.asarray(self.weights, dtype=np.float64)
        lam = np.asarray(self.wavelengths_um, dtype=np.float64)
        checks = (
            (self.lambda_n_px > 0.0 and math.isfinite(self.lambda_n_px), "lambda_n_px must be > 0"),
            (self.lambda_ref_um > 0.0, "lambda_ref_um must be > 0"),
            (lam.ndim == 1 and lam.size >= 1 and lam.shape == w.shape, "wavelengths/weights: same 1-D size"),
            (bool(np.all(lam > 0.0)), "wavelengths must be > 0"),
            (bool(np.all(w >= 0.0)) and float(w.sum()) > 0.0, "weights must be >= 0 with a positive sum"),
            (0.0 <= self.obscuration < 1.0, "obscuration must be in [0, 1)"),
            (self.spider_vanes >= 0 and 0.0 <= self.spider_width < 0.5, "spider_vanes >= 0, width in [0, 0.5)"),
            (min(self.jitter_along_px, self.jitter_across_px, self.diffusion_px) >= 0.0, "widths must be >= 0"),
            (self.smear_along_px >= 0.0 and self.vibration_amplitude_px >= 0.0, "smear/vibration must be >= 0"),
            (self.diffusion_kernel in ("exponential", "gaussian"), "diffusion_kernel: exponential|gaussian"),
            (self.optics in ("pupil", "gaussian"), "optics: pupil|gaussian"),
            (self.gaussian_sigma_lambda_n > 0.0, "gaussian_sigma_lambda_n must be > 0"),
            (self.pupil_samples >= 16, "pupil_samples must be >= 16"),
        )
        for ok, message in checks:
            if not ok:
                raise ValueError(f"{message} (got {self!r})")
        object.__setattr__(self, "wavelengths_um", tuple(float(x) for x in lam))
        object.__setattr__(self, "weights", tuple(float(x) for x in w / w.sum()))

    def replace(self, **changes: object) -> PupilTruth:
        """Copy with some fields changed (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    @property
    def effective_wavelength_um(self) -> float:
        """Photon-weighted mean wavelength ``sum w_j lambda_j``, µm."""
        return float(np.dot(self.weights, self.wavelengths_um))

    @property
    def has_aberrations(self) -> bool:
        """True when any Zernike coefficient is non-zero."""
        return any(
            c != 0.0
            for c in (self.defocus_waves, self.astig0_waves, self.astig45_waves, self.coma_x_waves, self.coma_y_waves)
        )


# ----------------------------------------------------------------------------------------------
# Spectral weights
# ----------------------------------------------------------------------------------------------


def band_weights(
    wavelengths_um: ArrayLike, rsr: ArrayLike, photon_spectrum: ArrayLike | None = None
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Wavelength nodes and normalised photon weights ``RSR · N_phot · d lambda`` of a band.

    Parameters
    ----------
    wavelengths_um : array_like, shape (n,)
        Increasing wavelengths, µm (e.g. a 1-nm RSR table).
    rsr : array_like, shape (n,)
        Relative spectral response per photon (>= 0).
    photon_spectrum : array_like, shape (n,), optional
        Star photon spectral irradiance (any unit, >= 0); flat when omitted.

    Returns
    -------
    (wavelengths, weights) : tuple of tuple of float
        Nodes with a non-zero weight and their weights (sum 1); trapezoid ``d lambda``.
    """
    lam = np.asarray(wavelengths_um, dtype=np.float64)
    r = np.asarray(rsr, dtype=np.float64)
    s = np.ones_like(lam) if photon_spectrum is None else np.asarray(photon_spectrum, dtype=np.float64)
    if lam.ndim != 1 or lam.shape != r.shape or lam.shape != s.shape or lam.size < 2:
        raise ValueError("wavelengths_um, rsr and photon_spectrum must be 1-D arrays of the same size >= 2")
    dlam = np.gradient(lam)
    w = np.clip(r, 0.0, None) * np.clip(s, 0.0, None) * dlam
    keep = w > 0.0
    if not keep.any():
        raise ValueError("the band has no positive weight")
    return tuple(float(x) for x in lam[keep]), tuple(float(x) for x in w[keep] / w[keep].sum())


def flat_band(
    lambda_c_um: float, bandwidth: float, n: int = 11, spectral_index: float = 0.0
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Midpoint nodes of a flat relative band ``lambda_c [1 - B/2, 1 + B/2]`` (the estimator's band shape).

    ``spectral_index`` p tilts the photon spectrum as ``(lambda/lambda_c)^p`` (p > 0: a redder star).
    Returns ``(wavelengths_um, weights)`` with weights summing to 1; one node when ``bandwidth`` is 0.
    """
    if bandwidth <= 0.0 or n <= 1:
        return (float(lambda_c_um),), (1.0,)
    t = 1.0 + bandwidth * ((np.arange(n) + 0.5) / n - 0.5)
    w = t**spectral_index
    return tuple(float(x) for x in lambda_c_um * t), tuple(float(x) for x in w / w.sum())


# ----------------------------------------------------------------------------------------------
# Pupil, monochromatic PSF and optical OTF tables
# ----------------------------------------------------------------------------------------------


def _zernike_waves(truth: PupilTruth, rho: NDArray[np.float64], theta: NDArray[np.float64]) -> NDArray[np.float64]:
    """Wave-front W(rho, theta) in waves at lambda_ref (Noll 1976 normalisation, unit disc)."""
    r2 = rho * rho
    coma_radial = math.sqrt(8.0) * (3.0 * r2 * rho - 2.0 * rho)
    return np.asarray(
        truth.defocus_waves * math.sqrt(3.0) * (2.0 * r2 - 1.0)
        + truth.astig45_waves * math.sqrt(6.0) * r2 * np.sin(2.0 * theta)
        + truth.astig0_waves * math.sqrt(6.0) * r2 * np.cos(2.0 * theta)
        + truth.coma_y_waves * coma_radial * np.sin(theta)
        + truth.coma_x_waves * coma_radial * np.cos(theta),
        dtype=np.float64,
    )


def _aperture(truth: PupilTruth, x: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Clear-aperture mask at pupil coordinates (x, y) in units of the pupil RADIUS."""
    r = np.hypot(x, y)
    clear = (r <= 1.0) & (r >= truth.obscuration)
    half_width = truth.spider_width  # width as a fraction of the diameter = 2 radii -> half = width
    if truth.spider_vanes > 0 and half_width > 0.0:
        angles = (
            math.radians(truth.spider_angle_deg) + 2.0 * math.pi * np.arange(truth.spider_vanes) / truth.spider_vanes
        )
        c, s = np.cos(angles), np.sin(angles)
        along = x[..., None] * c + y[..., None] * s  # distance along each vane from the centre
        perp = np.abs(-x[..., None] * s + y[..., None] * c)
        clear &= ~np.any((along > 0.0) & (perp < half_width), axis=-1)
    return clear


@functools.lru_cache(maxsize=4)
def _amplitude(truth_geometry: PupilTruth) -> NDArray[np.float64]:
    """Grey pupil amplitude (fraction of each sample that is clear), shape (n, n), rows = y."""
    n = truth_geometry.pupil_samples
    k = _SUPERSAMPLE
    sub = (np.arange(n * k) + 0.5) / (n * k) * 2.0 - 1.0  # sub-sample centres, radius units
    mask = _aperture(truth_geometry, sub[None, :], sub[:, None]).astype(np.float64)
    amp = np.asarray(mask.reshape(n, k, n, k).mean(axis=(1, 3)), dtype=np.float64)
    amp.setflags(write=False)
    return amp


def _geometry_key(truth: PupilTruth) -> PupilTruth:
    """The truth with only the fields the pupil amplitude depends on (a cache key)."""
    return PupilTruth(
        lambda_n_px=1.0,
        lambda_ref_um=1.0,
        wavelengths_um=(1.0,),
        weights=(1.0,),
        obscuration=truth.obscuration,
        spider_vanes=truth.spider_vanes,
        spider_width=truth.spider_width,
        spider_angle_deg=truth.spider_angle_deg,
        pupil_samples=truth.pupil_samples,
    )


def pupil_function(truth: PupilTruth, wavelength_um: float) -> NDArray[np.complex128]:
    """Complex pupil ``A(u) exp(2 pi i W(u) lambda_ref/lambda)`` on ``pupil_samples``² points.

    Rows are pupil y (along track), columns pupil x (across track); the grid spans the pupil
    diameter with sample centres at ``(i + 0.5)/n · 2 - 1`` radii. ``A`` is the clear fraction of
    each sample (grey edges).
    """
    n = truth.pupil_samples
    amp = _amplitude(_geometry_key(truth))
    if not truth.has_aberrations:
        return amp.astype(np.complex128)
    c = (np.arange(n) + 0.5) / n * 2.0 - 1.0
    x, y = np.meshgrid(c, c)
    w = _zernike_waves(truth, np.hypot(x, y), np.arctan2(y, x))
    return np.asarray(amp * np.exp(2j * math.pi * w * truth.lambda_ref_um / wavelength_um), dtype=np.complex128)


def monochromatic_psf(truth: PupilTruth, wavelength_um: float) -> tuple[NDArray[np.float64], float]:
    """Monochromatic optical PSF ``|FFT(P zero-padded 2x)|^2``, normalised to sum 1.

    Returns
    -------
    psf : ndarray, shape (2n, 2n)
        Centred (``fftshift``): the chief ray at index ``(n, n)``; rows y, columns x.
    spacing_px : float
        Sample spacing, native px: ``lambda N / (2 pitch)`` (Nyquist sampling of the optics).
    """
    n = truth.pupil_samples
    padded = np.zeros((2 * n, 2 * n), dtype=np.complex128)
    padded[:n, :n] = pupil_function(truth, wavelength_um)
    psf = np.abs(np.fft.fft2(padded)) ** 2
    psf /= psf.sum()
    return np.fft.fftshift(psf), truth.lambda_n_px * wavelength_um / truth.lambda_ref_um / 2.0


def _optical_otf_table(truth: PupilTruth, wavelength_um: float) -> NDArray[np.complex128]:
    """Optical OTF at ``nu = (k - n) / n`` of the cut-off, shape (2n, 2n), centred at (n, n).

    ``OTF = FFT(PSF)`` (e^{-2 pi i f x} convention, PSF index 0 = the chief ray), normalised by the
    clear pupil area, 1 at nu = 0.
    """
    psf, _ = monochromatic_psf(truth, wavelength_um)
    table = np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(psf)))  # autocorrelation / sum(a^2)
    n = truth.pupil_samples
    amp = _amplitude(_geometry_key(truth))
    # The grey pupil a is the clear mask convolved with a 1-sample box, so its autocorrelation is
    # the exact one convolved with a 1-sample triangle: O(1/n^2) off except within one step of
    # nu = 0, where the cone of the OTF is rounded (sum(a^2) < sum(a)). Normalising by the clear
    # area sum(a) and putting back the exact value 1 at nu = 0 removes that O(1/n) bias.
    table *= float(np.sum(amp * amp)) / float(np.sum(amp))
    table[n, n] = 1.0
    table.setflags(write=False)
    return table


# The grey pupil rounds the cone of the table within ~4 steps of nu = 0 (slope +7 % at 1 step,
# +1.4 % at 2, < 0.3 % beyond 4, measured against (4/pi)/(1 - eps)); the slope is read on the ring
# _RING_STEPS (in table steps) and the remainder inside it is replaced by a smooth fit to that ring.
_RING_STEPS = (6.0, 12.0)
_CONE_CORE_NU = 2.0  # core of the analytic cone model exp(-2 pi a nu), in units of lambda N


@dataclass(frozen=True)
class _ConeSplitTable:
    """Optical OTF table split as ``T = (T - M) + M``, ``M(nu) = c exp(-2 pi a |nu|)``."""

    remainder: NDArray[np.complex64]  # T - M on the table nodes
    weight: float  # c = s / (2 pi a), s the direction-averaged cone slope of T at nu = 0


@functools.lru_cache(maxsize=24)  # <= 24 tables of (2n)^2 complex64: 200 MB at n = 512
def _cone_split_table(truth: PupilTruth, wavelength_um: float) -> _ConeSplitTable:
    """The table with its cone at nu = 0 taken out analytically.

    Bilinear interpolation of the cone ``1 - s|nu|`` between table nodes misrepresents the OTF at
    scales below one step, i.e. the PSF beyond ``n lambda N / 2`` (the r^-3 wings): a vignette's flux
    would depend on ``pupil_samples`` at the 1e-3 level. Interpolating only the smooth remainder and
    adding the cone model ``M`` back exactly keeps the r^-3 wings right at every distance.
    """
    table = _optical_otf_table(truth, wavelength_um)
    n = truth.pupil_samples
    k = np.arange(2 * n) - n
    kx, ky = np.meshgrid(k, k)
    r_steps = np.hypot(kx, ky)
    ring = (r_steps >= _RING_STEPS[0]) & (r_steps <= _RING_STEPS[1])
    # direction-mean cone slope on the ring (the |nu|^3 term of the annular OTF is negligible there)
    c = float(np.mean((1.0 - table[ring].real) * n / r_steps[ring])) / (2.0 * math.pi * _CONE_CORE_NU)
    remainder = table - c * np.exp(-2.0 * math.pi * _CONE_CORE_NU * r_steps / n)
    # inside the ring: least-squares fit to the ring of 1 - c + |nu| (even harmonics to 6 theta, an
    # anisotropic cone: spiders, astigmatism) + linear (coma: odd imaginary part) + quadratic + |nu|^3
    # (the obscuration's own cone, eps^2 A(nu/eps), curves on the scale eps)
    inner = r_steps < _RING_STEPS[0]

    def basis(mask: NDArray[np.bool_]) -> NDArray[np.float64]:
        x, y = kx[mask] / n, ky[mask] / n
        r, th = np.hypot(x, y), np.arctan2(y, x)
        harmonics = [r * f(m * th) for m in (2, 4, 6) for f in (np.cos, np.sin)]
        cols = [r, *harmonics, x, y, x * x, x * y, y * y, r**3]
        return np.stack(cols, axis=1)

    coef, *_ = np.linalg.lstsq(basis(ring), remainder[ring] - (1.0 - c), rcond=None)
    remainder[inner] = (1.0 - c) + basis(inner) @ coef
    remainder = remainder.astype(np.complex64)  # 1e-7 relative: far below the table's own error
    remainder.setflags(write=False)
    return _ConeSplitTable(np.asarray(remainder, dtype=np.complex64), c)


def _bilinear(table: NDArray[np.complex64], iy: NDArray[np.float64], ix: NDArray[np.float64]) -> NDArray[np.complex128]:
    """Bilinear interpolation of ``table`` at fractional indices; 0 outside the table."""
    size = table.shape[0]
    y0 = np.floor(iy).astype(np.int64)
    x0 = np.floor(ix).astype(np.int64)
    ty, tx = iy - y0, ix - x0
    inside = (y0 >= 0) & (x0 >= 0) & (y0 < size - 1) & (x0 < size - 1)
    y0c = np.clip(y0, 0, size - 2)
    x0c = np.clip(x0, 0, size - 2)
    v = (
        table[y0c, x0c] * (1 - ty) * (1 - tx)
        + table[y0c, x0c + 1] * (1 - ty) * tx
        + table[y0c + 1, x0c] * ty * (1 - tx)
        + table[y0c + 1, x0c + 1] * ty * tx
    )
    return np.where(inside, v, 0.0)


def _optics_otf(truth: PupilTruth, fx: NDArray[np.float64], fy: NDArray[np.float64]) -> NDArray[np.complex128]:
    """Polychromatic optical OTF (diffraction or Gaussian optics), broadcast shape of fx, fy."""
    out = np.zeros(np.broadcast(fx, fy).shape, dtype=np.complex128)
    n = truth.pupil_samples
    for lam, w in zip(truth.wavelengths_um, truth.weights, strict=True):  # loop over wavelengths only
        lam_n = truth.lambda_n_px * lam / truth.lambda_ref_um
        if truth.optics == "gaussian":
            s = truth.gaussian_sigma_lambda_n * lam_n
            out += w * np.exp(-2.0 * math.pi**2 * s * s * (fx * fx + fy * fy))
            continue
        split = _split_table(truth, lam)
        nu_x, nu_y = fx * lam_n, fy * lam_n
        inside = (np.abs(nu_x) < 1.0 - 1.0 / n) & (np.abs(nu_y) < 1.0 - 1.0 / n)
        cone = split.weight * np.exp(-2.0 * math.pi * _CONE_CORE_NU * np.hypot(nu_x, nu_y))
        out += w * (_bilinear(split.remainder, nu_y * n + n, nu_x * n + n) + np.where(inside, cone, 0.0))
    return out


def _split_table(truth: PupilTruth, wavelength_um: float) -> _ConeSplitTable:
    """Cone-split table of one wavelength (one table for all wavelengths without aberrations)."""
    if truth.has_aberrations:  # key: pupil + wave-front + lambda_ref only (not jitter, smear, band...)
        key = _geometry_key(truth).replace(
            lambda_ref_um=truth.lambda_ref_um,
            defocus_waves=truth.defocus_waves,
            astig0_waves=truth.astig0_waves,
            astig45_waves=truth.astig45_waves,
            coma_x_waves=truth.coma_x_waves,
            coma_y_waves=truth.coma_y_waves,
        )
        return _cone_split_table(key, wavelength_um)
    return _cone_split_table(_geometry_key(truth), 1.0)


def _cone_slope_px(truth: PupilTruth) -> float:
    """Slope s of the polychromatic optical OTF at f = 0, ``OTF ≈ 1 - s |f|`` (direction mean), px."""
    if truth.optics == "gaussian":
        return 0.0
    slope = 0.0
    for lam, w in zip(truth.wavelengths_um, truth.weights, strict=True):
        lam_n = truth.lambda_n_px * lam / truth.lambda_ref_um
        slope += w * _split_table(truth, lam).weight * 2.0 * math.pi * _CONE_CORE_NU * lam_n
    return slope


def _optics_cutoff_cy_px(truth: PupilTruth) -> float:
    """Frequency beyond which the optical OTF is zero (pupil) or < 1e-12 (Gaussian optics), cy/px."""
    lam_n_min = truth.lambda_n_px * min(truth.wavelengths_um) / truth.lambda_ref_um
    if truth.optics == "gaussian":
        k = math.sqrt(math.log(1.0 / _ENVELOPE_TOL) / (2.0 * math.pi**2))
        return k / (truth.gaussian_sigma_lambda_n * lam_n_min)
    return 1.0 / lam_n_min


def system_otf(truth: PupilTruth, fx: ArrayLike, fy: ArrayLike) -> NDArray[np.complex128]:
    """System OTF of the pixel-integrated PSF (module docstring equation), complex.

    Parameters
    ----------
    truth : PupilTruth
    fx, fy : array_like
        Frequencies across (x) and along (y) track, cy per native px; broadcast together.

    Returns
    -------
    ndarray of complex128
        ``OTF(fx, fy)``, 1 at f = 0; real (to rounding) for a centro-symmetric pupil and
        wave-front (no coma), complex otherwise.
    """
    fxa = np.asarray(fx, dtype=np.float64)
    fya = np.asarray(fy, dtype=np.float64)
    rho2 = fxa * fxa + fya * fya
    optics = _optics_otf(truth, fxa, fya)
    ell = truth.diffusion_px
    if truth.diffusion_kernel == "exponential":
        diffusion = (1.0 + (2.0 * math.pi * ell) ** 2 * rho2) ** -1.5
    else:
        diffusion = np.exp(-2.0 * math.pi**2 * ell * ell * rho2)
    pixel = np.sinc(fxa) * np.sinc(fya)
    smear = np.sinc(truth.smear_along_px * fya)
    ang = math.radians(truth.vibration_angle_deg)
    vibration = j0(2.0 * math.pi * truth.vibration_amplitude_px * (fya * math.cos(ang) + fxa * math.sin(ang)))
    jitter = np.exp(-2.0 * math.pi**2 * (truth.jitter_across_px**2 * fxa * fxa + truth.jitter_along_px**2 * fya * fya))
    return np.asarray(optics * diffusion * pixel * smear * vibration * jitter, dtype=np.complex128)


def mtf_along(truth: PupilTruth, f: ArrayLike) -> NDArray[np.float64]:
    """Along-track MTF ``|OTF(0, f)|``, f in cy per native px (the system's reported definition)."""
    return np.abs(system_otf(truth, 0.0, f))


def mtf_across(truth: PupilTruth, f: ArrayLike) -> NDArray[np.float64]:
    """Across-track MTF ``|OTF(f, 0)|``, f in cy per native px."""
    return np.abs(system_otf(truth, f, 0.0))


def mtf_nyquist(truth: PupilTruth) -> tuple[float, float]:
    """MTF at Nyquist (0.5 cy/px): ``(along, across)``, same definition as ``monitor.science.psf.mtf_nyquist``."""
    return float(mtf_along(truth, NYQUIST_CY_PX)), float(mtf_across(truth, NYQUIST_CY_PX))


# ----------------------------------------------------------------------------------------------
# Vignette rendering
# ----------------------------------------------------------------------------------------------


_WING_CORE_PX = 2.0  # core width a of the analytic r^-3 wing term of the renderer, native px


@dataclass(frozen=True)
class _Grid:
    fx: NDArray[np.float64]  # (nfx,) >= 0, cy/px
    fy: NDArray[np.float64]  # (nfy,), cy/px
    coeff: NDArray[np.complex128]  # (nfy, nfx) remainder OTF · hermitian weight / (Lx Ly)
    wing_weight: float  # c of the analytic wing term (0 for Gaussian optics)


def _wing_pixel_integral(x: NDArray[np.float64], y: NDArray[np.float64], a: float) -> NDArray[np.float64]:
    """Poisson kernel ``a / (2 pi (a^2 + r^2)^{3/2})`` integrated over 1 x 1 px boxes centred on (x, y).

    The kernel is normalised (its 2-D Fourier transform is ``exp(-2 pi a |f|)``); its integral over
    ``[0, X] x [0, Y]`` is ``atan(X Y / (a sqrt(a^2 + X^2 + Y^2))) / (2 pi)`` (solid angle of a
    rectangle seen from height a), so the box integral is a sum of four corner terms.
    """

    def corner(xx: NDArray[np.float64], yy: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.arctan(xx * yy / (a * np.sqrt(a * a + xx * xx + yy * yy)))

    x0, x1 = x - 0.5, x + 0.5
    y0, y1 = y - 0.5, y + 0.5
    total = corner(x1, y1) - corner(x0, y1) - corner(x1, y0) + corner(x0, y0)
    return np.asarray(total / (2.0 * math.pi), dtype=np.float64)


@functools.lru_cache(maxsize=24)
def _render_grid(truth: PupilTruth, period_x_px: float, period_y_px: float) -> _Grid:
    """Fourier-series coefficients of the vignette renderer on a periodic grid.

    The r^-3 diffraction wings alias from one period to the next (a ~1e-3 pedestal for a period of
    2-3 vignettes); so the cone of the OTF at f = 0 is taken out as ``c exp(-2 pi a |f|) sinc(fx) sinc(fy)``,
    whose image (a pixel-integrated Poisson kernel with the same r^-3 wings) is added back in real
    space (:func:`_wing_pixel_integral`), and only the smoother remainder is a Fourier series.
    """
    fmax = _optics_cutoff_cy_px(truth)
    kx = np.arange(0, int(math.floor(fmax * period_x_px)) + 1)
    ky_max = int(math.floor(fmax * period_y_px))
    ky = np.arange(-ky_max, ky_max + 1)
    fx = kx / period_x_px
    fy = ky / period_y_px
    otf = system_otf(truth, fx[None, :], fy[:, None])
    c = _cone_slope_px(truth) / (2.0 * math.pi * _WING_CORE_PX)
    if c > 0.0:
        rho = np.hypot(fx[None, :], fy[:, None])
        otf = otf - c * np.exp(-2.0 * math.pi * _WING_CORE_PX * rho) * np.sinc(fx)[None, :] * np.sinc(fy)[:, None]
    weight = np.where(kx == 0, 1.0, 2.0)  # f and -f of a real image: 2 Re(.) for fx > 0
    coeff = otf * weight[None, :] / (period_x_px * period_y_px)
    return _Grid(fx, fy, coeff, c)


def default_pad_px(shape_native: tuple[float, int]) -> float:
    """Default padding of the periodic grid beyond the vignette, native px: the vignette's largest side."""
    return float(max(shape_native[0], shape_native[1]))


def render_vignette(
    truth: PupilTruth,
    shape: tuple[int, int],
    center_xy: tuple[float, float],
    oversamp: float = 1.0,
    total_flux: float = 1.0,
    *,
    pad_px: float | None = None,
) -> NDArray[np.float64]:
    """Noise-free expected image of a star on an ICD-1 §1.2 vignette (DN when ``total_flux`` is DN).

    Parameters
    ----------
    truth : PupilTruth
    shape : (int, int)
        ``(rows, columns)`` = (along, across track).
    center_xy : (float, float)
        Chief-ray position (column, row): 0-based array indices, pixel centres at integers, rows in
        ROW units (1/o native px along track).
    oversamp : float
        Along-track oversampling o >= 1 (ICD ``OVERSAMP``).
    total_flux : float
        Flux per native-pixel sample sense: the image sums to ``o · total_flux`` over an infinite vignette.
    pad_px : float, optional
        Padding of the periodic grid on each side, native px (default :func:`default_pad_px`).

    Returns
    -------
    ndarray of float64, shape ``shape``
        ``total_flux · (PSF ⊗ pixel)(x_c - x0, (y_r - y0)/o)``.
    """
    o = float(oversamp)
    rows, cols = int(shape[0]), int(shape[1])
    if not (o >= 1.0 and math.isfinite(o)) or rows < 1 or cols < 1:
        raise ValueError(f"need oversamp >= 1 and a non-empty shape, got {oversamp}, {shape}")
    rows_native = rows / o
    pad = default_pad_px((rows_native, cols)) if pad_px is None else float(pad_px)
    grid = _render_grid(truth, float(cols + 2 * pad), float(math.ceil(rows_native + 2 * pad)))
    x = np.asarray(np.arange(cols) - float(center_xy[0]), dtype=np.float64)
    y = np.asarray((np.arange(rows) - float(center_xy[1])) / o, dtype=np.float64)
    ex = np.exp(2j * math.pi * np.outer(grid.fx, x))  # (nfx, cols)
    ey = np.exp(2j * math.pi * np.outer(y, grid.fy))  # (rows, nfy)
    image = (ey @ (grid.coeff @ ex)).real
    if grid.wing_weight > 0.0:
        image += grid.wing_weight * _wing_pixel_integral(x[None, :], y[:, None], _WING_CORE_PX)
    return np.asarray(image * float(total_flux), dtype=np.float64)


def vignette_flux_fraction(
    truth: PupilTruth, shape: tuple[int, int], center_xy: tuple[float, float], oversamp: float = 1.0
) -> float:
    """Fraction of the star's total flux that the whole vignette holds: ``sum(image) / o``."""
    return float(render_vignette(truth, shape, center_xy, oversamp, 1.0).sum() / float(oversamp))


def window_flux_fractions(
    truth: PupilTruth,
    half_widths_px: Sequence[int],
    center_xy: tuple[float, float] = (0.0, 0.0),
    oversamp: float = 1.0,
) -> NDArray[np.float64]:
    """Encircled-energy truth of the ICD-1 §4 square windows.

    The fraction of the total flux in a ``(2h+1) x (2h+1)`` native-pixel window (``(2h+1)·o`` rows)
    centred on the pixel holding the star, for a star at sub-pixel offset ``center_xy`` (column,
    row units) from that pixel's centre; one render on a vignette just larger than the largest window.

    Returns
    -------
    ndarray, shape (len(half_widths_px),)
    """
    o = float(oversamp)
    hmax = int(max(half_widths_px))
    cols = 2 * hmax + 1
    step = int(round(o))
    rows = cols * step if abs(o - step) < 1e-9 else int(round(cols * o))
    cx = hmax + float(center_xy[0])
    cy_pix = rows // 2
    image = render_vignette(truth, (rows, cols), (cx, cy_pix + float(center_xy[1])), o, 1.0)
    out = []
    for h in half_widths_px:  # loop over windows, not pixels
        r_half = (2 * h + 1) * rows // cols // 2
        sub = image[cy_pix - r_half : cy_pix - r_half + (2 * h + 1) * rows // cols, hmax - h : hmax + h + 1]
        out.append(sub.sum() / o)
    return np.asarray(out, dtype=np.float64)


# ----------------------------------------------------------------------------------------------
# Truth families (issue 15)
# ----------------------------------------------------------------------------------------------

# The nominal design of the estimator, copied (NOT imported: this module must not depend on the
# estimator's package) from monitor.science.instrument (BAND_CENTRES_UM, _PAN_LAMBDA_N_PX,
# _OBSCURATION, _PAN_DETECTOR/_MS_DETECTOR, MS_PIXEL_RATIO) and the simulator's truth blur
# (monitor.simulate.star _PAN_BLUR/_MS_BLUR); tests/simulate/test_pupil_psf.py checks they agree.
_BAND_CENTRES_UM = {
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
_LAMBDA_N_PX_AT_065 = {"PHR": 1.0, "PNEO": 0.95}
_OBSCURATION = {"PHR": 0.30, "PNEO": 0.28}
_DETECTOR = {"P": (0.10, 0.25), "MS": (0.05, 0.25)}  # (diffusion px, smear px)
_MS_PIXEL_RATIO = 4.0
_BLUR = {
    ("PHR", "P"): (0.36, 0.33),
    ("PNEO", "P"): (0.34, 0.31),
    ("PHR", "MS"): (0.40, 0.37),
    ("PNEO", "MS"): (0.38, 0.35),
}
# Photon spectrum ∝ (lambda/lambda_c)^4.51 against the flat one: the PAN effective wavelength
# (11 midpoint nodes over lambda_c [0.725, 1.275]) is 10.0 % redder; MS bands move by 0.2-1.2 %.
RED_STAR_SPECTRAL_INDEX = 4.51

FAMILIES: tuple[str, ...] = (
    "in_family",
    "defocus",
    "astig_spiders",
    "tdi_smear",
    "microvibration",
    "red_star",
    "no_wings",
)


def truth_family(name: str, mission: str = "PHR", band: str = "P", *, pupil_samples: int = 512) -> PupilTruth:
    """A named truth of issue 15 for one mission/band (native px of that band).

    Families
    --------
    in_family
        The estimator's nominal design: annulus eps 0.30 (PNEO 0.28), no spiders, no aberration, flat
        photon spectrum over ``lambda_c [1 - B/2, 1 + B/2]`` (11 nodes), exponential diffusion, 0.25 px
        TDI smear, and Gaussian jitter equal to the simulator's truth blur (PAN 0.36/0.33 px along/across).
    defocus
        in_family + Z4 defocus 0.06 wave rms.
    astig_spiders
        in_family with eps 0.40, 4 spider vanes 2 % of the diameter wide, astigmatism 0.04 wave rms at
        0° and 0.02 at 45°.
    tdi_smear
        in_family with a 1.0 px TDI smear (instead of 0.25).
    microvibration
        in_family + a sinusoidal vibration of 0.25 px amplitude along track.
    red_star
        in_family with a photon spectrum ∝ (lambda/lambda_c)^4.51 (a red star against the flat spectrum
        the estimator assumes): lambda_eff +10.0 % in PAN, +0.4 % in B2 (+0.2 to +1.2 % in MS bands).
    no_wings
        in_family with Gaussian optics (1-sigma 0.42 lambda N, no diffraction rings/wings).

    Raises
    ------
    ValueError
        For an unknown family, mission or band.
    """
    m, b = mission.upper(), band.upper()
    if (m, b) not in _BAND_CENTRES_UM:
        raise ValueError(f"unknown mission/band {mission!r}/{band!r}")
    if name not in FAMILIES:
        raise ValueError(f"unknown truth family {name!r}; use one of {FAMILIES}")
    lam_c, width = _BAND_CENTRES_UM[(m, b)]
    lam_n = _LAMBDA_N_PX_AT_065[m] * lam_c / 0.65
    kind = "P" if b == "P" else "MS"
    if kind == "MS":
        lam_n /= _MS_PIXEL_RATIO
    diffusion, smear = _DETECTOR[kind]
    s_along, s_across = _BLUR[(m, kind)]
    index = RED_STAR_SPECTRAL_INDEX if name == "red_star" else 0.0
    wavelengths, weights = flat_band(lam_c, width, 11, spectral_index=index)
    truth = PupilTruth(
        lambda_n_px=lam_n,
        lambda_ref_um=lam_c,
        wavelengths_um=wavelengths,
        weights=weights,
        obscuration=_OBSCURATION[m],
        jitter_along_px=s_along,
        jitter_across_px=s_across,
        diffusion_px=diffusion,
        smear_along_px=smear,
        pupil_samples=pupil_samples,
    )
    family_changes: dict[str, dict[str, object]] = {
        "in_family": {},
        "defocus": {"defocus_waves": 0.06},
        "astig_spiders": {
            "obscuration": 0.40,
            "spider_vanes": 4,
            "spider_width": 0.02,
            "astig0_waves": 0.04,
            "astig45_waves": 0.02,
        },
        "tdi_smear": {"smear_along_px": 1.0},
        "microvibration": {"vibration_amplitude_px": 0.25},
        "red_star": {},
        "no_wings": {"optics": "gaussian"},
    }
    return truth.replace(**family_changes[name])
