"""Physical point-spread / optical transfer function model of a push-broom TDI imager.

Everything is expressed in *native pixels*: lengths in native pixels (px), spatial
frequencies in cycles per native pixel (cy/px), ``fx`` across track (columns, x) and
``fy`` along track (rows, y), whatever the along-track oversampling of an image (ICD-1 §1.2,
§5). The transfer function is that of the continuous PSF *including* the 1-px pixel
aperture, so ``otf(0.5, 0)`` is the across-track MTF at Nyquist reported by the system.

Model (Viallefont-Robinet & Léger 2010, Opt. Express 18, 3531; Fiete 2010, ch. 4)::

    OTF(fx, fy) = D(rho) · A(fx, fy) · K(rho) · sinc(fx) · sinc(fy) · sinc(s·fy)
                  · exp[-2 pi^2 (sx^2 fx^2 + sy^2 fy^2)],          rho = hypot(fx, fy)

* ``D``: polychromatic diffraction MTF of an annular pupil of obscuration ratio eps,
  ``D(rho) = sum_j w_j D_mono(rho · lambda_n_px · t_j; eps)`` (O'Neill 1956 closed form),
  with ``t_j, w_j`` Gauss-Legendre nodes/weights of a flat photon spectrum over the relative
  band ``[1 - B/2, 1 + B/2]``;
* ``K``: isotropic carrier-diffusion term, the exact 2-D Fourier transform of the normalised
  exponential kernel ``exp(-r/l)/(2 pi l^2)``: ``K(rho) = (1 + (2 pi l rho)^2)^(-3/2)``;
* ``sinc(fx) sinc(fy)``: square 1-px pixel aperture (``sinc(u) = sin(pi u)/(pi u)``);
* ``sinc(s fy)``: along-track linear smear of ``s`` px during one line (TDI transfer);
* Gaussian: wave-front aberrations (a Gaussian stand-in for defocus) and line-of-sight jitter,
  with separate 1-sigma widths along (``sy``) and across (``sx``) track;
* ``A``: aberration transfer function of a low-order wave-front error (Shannon 1997, *The Art
  and Science of Optical Design*, §11: ``ATF(nu) = 1 - (W_rms/0.18)^2 (1 - 4 (nu - 1/2)^2)``,
  ``nu = rho lambda_n_px`` the frequency over the centre wavelength's cut-off), with a depth
  ``a(theta) = a_x cos^2 theta + a_y sin^2 theta`` that differs along and across track
  (astigmatism); ``a = 0`` (the default) leaves the model unchanged. Unlike the Gaussian, it
  dips mid-band and recovers towards the cut-off, as defocus and astigmatism do.

The PSF is real and even in x and in y, so the OTF is real (it is the signed MTF).

This module is the model: parameters, transfer function and its parameter derivatives on a
frequency grid (:func:`otf_grid`, what a fit needs), frequency support. Images of the model are
made by :class:`monitor.science.psf_renderer.PsfRenderer` (used alike by the starpool fit, the
Cramér-Rao bound and the simulator), the encircled energies of the ICD-1 §4 windows by
:mod:`monitor.science.encircled_energy`; both work in the Fourier domain over the whole plane,
so no diffraction wing is truncated.

Examples
--------
A PHR-PAN-like PSF (lambda N = 1 px, 30 % obscuration, 50 % band, 0.35/0.3 px blur): its MTF at
Nyquist along and across track, and the OTF on a small frequency grid (rows fy, columns fx):

>>> params = PsfParams(lambda_n_px=1.0, obscuration=0.3, bandwidth=0.5, sigma_along_px=0.35,
...                    sigma_across_px=0.3, diffusion_px=0.1, smear_along_px=0.25)
>>> along, across = mtf_nyquist(params)
>>> print(f"{along:.3f} {across:.3f}")
0.099 0.120
>>> grid, (d_sigma_along,) = otf_grid(np.array([0.0, 0.5]), np.array([0.0, 0.25, 0.5]), params,
...                                   ["sigma_along_px"])
>>> grid.shape, d_sigma_along.shape, float(grid[0, 0])
((3, 2), (3, 2), 1.0)

References
----------
O'Neill, E. L. (1956), Transfer function for an annular aperture, JOSA 46, 285-288.
Goodman, J. W. (2005), Introduction to Fourier Optics, 3rd ed., §6.3.
Viallefont-Robinet, F. & Léger, D. (2010), Opt. Express 18(4), 3531.
Fiete, R. D. (2010), Modeling the Imaging Chain of Digital Cameras, SPIE TT92.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "FREE_PARAMETER_NAMES",
    "NYQUIST_CY_PX",
    "PsfParameterError",
    "PsfParams",
    "annular_diffraction_mtf",
    "check_oversamp",
    "diffraction_cutoff_cy_px",
    "frequency_support",
    "mtf_across",
    "mtf_along",
    "mtf_nyquist",
    "otf",
    "otf_grid",
    "wavelength_nodes",
]

NYQUIST_CY_PX = 0.5  # cycles per native pixel
FREE_PARAMETER_NAMES: tuple[str, ...] = (
    "sigma_along_px",
    "sigma_across_px",
    "diffusion_px",
    "smear_along_px",
    "aberration_along",
    "aberration_across",
    "obscuration",
)
_OBSCURATION_STEP = 1e-4  # central-difference step of the diffraction MTF's obscuration derivative
_TABLE_SIZE = 4097  # samples of the 1-D polychromatic diffraction MTF table
_ENVELOPE_TOL = 1e-12  # Gaussian-envelope level below which the OTF support is truncated
_TWO_PI = 2.0 * math.pi


class PsfParameterError(ValueError):
    """Raised for physically invalid PSF parameters or arguments (negative widths, eps >= 1...)."""


@dataclass(frozen=True)
class PsfParams:
    """Parameters of the PSF/OTF model, native-pixel units.

    Attributes
    ----------
    lambda_n_px : float
        lambda_c · N / pitch: centre wavelength times focal ratio, in native pixels (px).
        The diffraction cut-off of the centre wavelength is ``1/lambda_n_px`` cy/px.
        About 1.0 for PHR PAN, 0.2-0.33 for PHR MS (4x larger pixels).
    obscuration : float
        Linear central-obscuration ratio eps of the annular pupil, 0 <= eps < 1.
    bandwidth : float
        Relative spectral width B = (lambda_max - lambda_min)/lambda_c of a flat photon
        spectrum (0 = monochromatic), 0 <= B < 2.
    n_wavelengths : int
        Number of Gauss-Legendre wavelength nodes used for the polychromatic average.
    sigma_along_px, sigma_across_px : float
        1-sigma of the Gaussian aberration + jitter blur along track (y) and across track (x), px.
    diffusion_px : float
        Length l of the isotropic exponential carrier-diffusion kernel, px.
    smear_along_px : float
        Along-track linear image motion during one line (TDI transfer smear), px.
    aberration_along, aberration_across : float
        Depth ``(W_rms / 0.18 wave)^2`` of the aberration transfer function (Shannon 1997) along
        and across track (low-order wave-front error: defocus, astigmatism); 0 = diffraction limited.
    """

    lambda_n_px: float
    obscuration: float = 0.0
    bandwidth: float = 0.0
    n_wavelengths: int = 5
    sigma_along_px: float = 0.0
    sigma_across_px: float = 0.0
    diffusion_px: float = 0.0
    smear_along_px: float = 0.0
    aberration_along: float = 0.0
    aberration_across: float = 0.0

    def __post_init__(self) -> None:
        checks = (
            (self.lambda_n_px > 0.0 and math.isfinite(self.lambda_n_px), "lambda_n_px must be > 0"),
            (0.0 <= self.obscuration < 1.0, "obscuration must be in [0, 1)"),
            (0.0 <= self.bandwidth < 2.0, "bandwidth must be in [0, 2)"),
            (self.n_wavelengths >= 1, "n_wavelengths must be >= 1"),
            (self.sigma_along_px >= 0.0, "sigma_along_px must be >= 0"),
            (self.sigma_across_px >= 0.0, "sigma_across_px must be >= 0"),
            (self.diffusion_px >= 0.0, "diffusion_px must be >= 0"),
            (self.smear_along_px >= 0.0, "smear_along_px must be >= 0"),
            (self.aberration_along >= 0.0, "aberration_along must be >= 0"),
            (self.aberration_across >= 0.0, "aberration_across must be >= 0"),
        )
        for ok, message in checks:
            if not ok:
                raise PsfParameterError(f"{message} (got {self!r})")

    def replace(self, **changes: float) -> PsfParams:
        """Return a copy with some fields changed (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------------------------
# Diffraction
# ----------------------------------------------------------------------------------------------


def annular_diffraction_mtf(nu: ArrayLike, obscuration: float) -> NDArray[np.float64]:
    """Monochromatic diffraction MTF of an annular pupil (O'Neill 1956 closed form).

    Parameters
    ----------
    nu : array_like
        Normalised radial frequency ``f / f_c`` with ``f_c = 1/(lambda N)``; any shape, >= 0.
    obscuration : float
        Central-obscuration ratio eps, 0 <= eps < 1.

    Returns
    -------
    ndarray of float64
        MTF, same shape as ``nu``; 1 at nu = 0 and 0 for nu >= 1.

    Notes
    -----
    ``MTF = (A + B + C) / (1 - eps^2)`` with (O'Neill 1956; Goodman 2005 §6.3)::

        A = (2/pi) [acos(nu) - nu sqrt(1 - nu^2)]                               (nu <= 1)
        B = (2 eps^2/pi) [acos(nu/eps) - (nu/eps) sqrt(1 - (nu/eps)^2)]          (nu <= eps)
        C = -2 eps^2                                                   (nu <= (1 - eps)/2)
          = -2 eps^2 + (2 eps/pi) sin(phi) + ((1 + eps^2)/pi) phi
            - (2 (1 - eps^2)/pi) atan[((1 + eps)/(1 - eps)) tan(phi/2)]  ((1-eps)/2 < nu < (1+eps)/2)
          = 0                                                          (nu >= (1 + eps)/2)
        phi = acos[(1 + eps^2 - 4 nu^2) / (2 eps)]

    NaN inputs propagate.

    Examples
    --------
    Clear pupil at half the cut-off, (2/pi)(acos 0.5 - 0.5 sqrt(0.75)), and with a 30 % obscuration:

    >>> annular_diffraction_mtf([0.0, 0.5, 1.0], 0.0).round(4).tolist()
    [1.0, 0.391, 0.0]
    >>> round(float(annular_diffraction_mtf(0.5, 0.3)), 4)
    0.3371
    """
    v = np.abs(np.asarray(nu, dtype=np.float64))
    eps = float(obscuration)
    if not 0.0 <= eps < 1.0:
        raise PsfParameterError(f"obscuration must be in [0, 1), got {eps}")
    vc = np.minimum(v, 1.0)
    a = (2.0 / math.pi) * (np.arccos(vc) - vc * np.sqrt(1.0 - vc * vc))
    if eps == 0.0:
        return np.where(v < 1.0, a, 0.0)
    ve = np.minimum(v / eps, 1.0)
    b = (2.0 * eps * eps / math.pi) * (np.arccos(ve) - ve * np.sqrt(1.0 - ve * ve))
    lo, hi = 0.5 * (1.0 - eps), 0.5 * (1.0 + eps)
    cosphi = np.clip((1.0 + eps * eps - 4.0 * v * v) / (2.0 * eps), -1.0, 1.0)
    phi = np.arccos(cosphi)
    c_mid = (
        -2.0 * eps * eps
        + (2.0 * eps / math.pi) * np.sin(phi)
        + ((1.0 + eps * eps) / math.pi) * phi
        - (2.0 * (1.0 - eps * eps) / math.pi) * np.arctan((1.0 + eps) / (1.0 - eps) * np.tan(0.5 * phi))
    )
    c = np.where(v <= lo, -2.0 * eps * eps, np.where(v < hi, c_mid, 0.0))
    out = (a + b + c) / (1.0 - eps * eps)
    return np.where(v < 1.0, np.maximum(out, 0.0), 0.0)


def wavelength_nodes(params: PsfParams) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Relative wavelengths ``t_j = lambda_j/lambda_c`` and weights ``w_j`` (sum 1) of a flat band.

    Gauss-Legendre nodes of the relative band ``[1 - B/2, 1 + B/2]`` (``params.n_wavelengths`` of
    them; a single node 1 for a monochromatic PSF). Both arrays have shape ``(n,)``.
    """
    if params.bandwidth == 0.0 or params.n_wavelengths == 1:
        return np.ones(1), np.ones(1)
    x, w = np.polynomial.legendre.leggauss(params.n_wavelengths)
    return 1.0 + 0.5 * params.bandwidth * x, 0.5 * w


def diffraction_cutoff_cy_px(params: PsfParams) -> float:
    """Diffraction cut-off of the bluest wavelength node, cy/px: ``1/(lambda_n_px · t_min)``.

    The polychromatic OTF vanishes beyond it (support of the band-limited PSF).
    """
    t, _ = wavelength_nodes(params)
    return 1.0 / (params.lambda_n_px * float(t.min()))


@dataclass(frozen=True)
class _DiffractionTable:
    """Polychromatic diffraction MTF tabulated on a uniform radial grid [0, f_c]."""

    rho: NDArray[np.float64]
    value: NDArray[np.float64]


def _diffraction_table(params: PsfParams) -> _DiffractionTable:
    """Tabulated polychromatic diffraction MTF (memoised on the diffraction parameters only)."""
    return _diffraction_table_cached(params.lambda_n_px, params.obscuration, params.bandwidth, params.n_wavelengths)


@functools.lru_cache(maxsize=64)
def _diffraction_table_cached(
    lambda_n_px: float, obscuration: float, bandwidth: float, n_wavelengths: int
) -> _DiffractionTable:
    params = PsfParams(lambda_n_px, obscuration, bandwidth, n_wavelengths)
    t, w = wavelength_nodes(params)
    fc = diffraction_cutoff_cy_px(params)
    rho = np.linspace(0.0, fc, _TABLE_SIZE)
    nu = rho[:, None] * params.lambda_n_px * t[None, :]
    value = annular_diffraction_mtf(nu, params.obscuration) @ w
    rho.setflags(write=False)
    value.setflags(write=False)
    return _DiffractionTable(rho, value)


def _diffraction(rho: NDArray[np.float64], table: _DiffractionTable) -> NDArray[np.float64]:
    return np.interp(rho, table.rho, table.value, right=0.0)


# ----------------------------------------------------------------------------------------------
# Separable / radial factors and their parameter derivatives
# ----------------------------------------------------------------------------------------------


def _gauss(f: NDArray[np.float64], sigma: float) -> NDArray[np.float64]:
    return np.exp(-2.0 * math.pi**2 * sigma * sigma * f * f)


def _diffusion(rho: NDArray[np.float64], length: float) -> NDArray[np.float64]:
    a = (_TWO_PI * length * rho) ** 2
    return (1.0 + a) ** -1.5


def _atf_shape(rho: NDArray[np.float64], params: PsfParams) -> NDArray[np.float64]:
    """Shannon's ATF profile ``1 - 4 (nu - 1/2)^2`` (0 beyond the centre cut-off), ``nu = rho lambda_n_px``."""
    nu = np.minimum(rho * params.lambda_n_px, 1.0)
    return np.asarray(1.0 - 4.0 * (nu - 0.5) ** 2, dtype=np.float64)


def _atf(
    fx: NDArray[np.float64], fy: NDArray[np.float64], rho: NDArray[np.float64], params: PsfParams
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """ATF, its clipping mask (ATF > 0) and the weights cos^2, sin^2 of the frequency direction."""
    safe = np.where(rho > 0.0, rho, 1.0)
    cos2 = np.where(rho > 0.0, (fx / safe) ** 2, 0.5)
    sin2 = 1.0 - cos2
    shape = _atf_shape(rho, params)
    raw = 1.0 - (params.aberration_across * cos2 + params.aberration_along * sin2) * shape
    positive = raw > 0.0
    return np.where(positive, raw, 0.0), positive * shape, cos2, sin2


def _dsinc_ds(f: NDArray[np.float64], s: float) -> NDArray[np.float64]:
    """d/ds sinc(s f) = f · sinc'(s f), sinc'(u) = (cos(pi u) - sinc(u))/u (0 at u = 0)."""
    u = s * f
    safe = np.where(np.abs(u) < 1e-8, 1.0, u)
    deriv = np.where(np.abs(u) < 1e-8, 0.0, (np.cos(math.pi * u) - np.sinc(u)) / safe)
    return f * deriv


def otf(fx: ArrayLike, fy: ArrayLike, params: PsfParams) -> NDArray[np.float64]:
    """Optical transfer function of the pixel-integrated PSF (real, signed MTF).

    Parameters
    ----------
    fx, fy : array_like
        Spatial frequencies across track (x) and along track (y), cycles per native pixel;
        broadcast against each other.
    params : PsfParams
        PSF model parameters.

    Returns
    -------
    ndarray of float64
        ``OTF(fx, fy)`` (module docstring equation), broadcast shape; ``OTF(0, 0) = 1``.
    """
    fxa = np.asarray(fx, dtype=np.float64)
    fya = np.asarray(fy, dtype=np.float64)
    rho = np.hypot(fxa, fya)
    table = _diffraction_table(params)
    radial = _diffraction(rho, table) * _diffusion(rho, params.diffusion_px)
    if params.aberration_along or params.aberration_across:
        bx, by = np.broadcast_arrays(fxa, fya)
        radial = radial * _atf(bx, by, rho, params)[0]
    xsep = np.sinc(fxa) * _gauss(fxa, params.sigma_across_px)
    ysep = np.sinc(fya) * np.sinc(params.smear_along_px * fya) * _gauss(fya, params.sigma_along_px)
    return np.asarray(radial * xsep * ysep, dtype=np.float64)


def mtf_along(f: ArrayLike, params: PsfParams) -> NDArray[np.float64]:
    """Along-track MTF ``|OTF(0, f)|``, f in cycles per native pixel (ICD-1 §5)."""
    return np.abs(otf(0.0, f, params))


def mtf_across(f: ArrayLike, params: PsfParams) -> NDArray[np.float64]:
    """Across-track MTF ``|OTF(f, 0)|``, f in cycles per native pixel (ICD-1 §5)."""
    return np.abs(otf(f, 0.0, params))


def mtf_nyquist(params: PsfParams) -> tuple[float, float]:
    """MTF at Nyquist (0.5 cy/px): ``(along, across)``."""
    return float(mtf_along(NYQUIST_CY_PX, params)), float(mtf_across(NYQUIST_CY_PX, params))


def frequency_support(params: PsfParams) -> tuple[float, float]:
    """Half-widths ``(fx_max, fy_max)`` of the frequency support of the OTF, cy/px.

    The diffraction term vanishes beyond f_c; the Gaussian envelope truncates further where it
    falls below ``_ENVELOPE_TOL`` (the neglected spectrum is below that level everywhere).
    """
    fc = diffraction_cutoff_cy_px(params)
    k = math.sqrt(math.log(1.0 / _ENVELOPE_TOL) / (2.0 * math.pi**2))
    fx = fc if params.sigma_across_px == 0.0 else min(fc, k / params.sigma_across_px)
    fy = fc if params.sigma_along_px == 0.0 else min(fc, k / params.sigma_along_px)
    return fx, fy


def otf_grid(
    fx: NDArray[np.float64],
    fy: NDArray[np.float64],
    params: PsfParams,
    derivatives: Sequence[str] = (),
) -> tuple[NDArray[np.float64], list[NDArray[np.float64]]]:
    """OTF on the outer grid ``(fy[:, None], fx[None, :])`` and its analytic parameter derivatives.

    Parameters
    ----------
    fx, fy : ndarray, shape (nx,) and (ny,)
        Frequencies across and along track, cy/px.
    params : PsfParams
        PSF model.
    derivatives : sequence of str
        Parameters to differentiate with respect to, among :data:`FREE_PARAMETER_NAMES`.

    Returns
    -------
    otf : ndarray, shape (ny, nx)
        ``OTF(fx, fy)`` (module docstring equation).
    derivatives : list of ndarray, shape (ny, nx)
        ``d OTF / d p`` for each ``p`` of ``derivatives``, in order; px^-1.

    Raises
    ------
    PsfParameterError
        For a parameter name without a derivative.
    """
    rho = np.hypot(fy[:, None], fx[None, :])
    diff = _diffraction(rho, _diffraction_table(params))
    kdiff = _diffusion(rho, params.diffusion_px)
    gfx, gfy = np.broadcast_arrays(fx[None, :], fy[:, None])
    atf, atf_shape, cos2, sin2 = _atf(gfx, gfy, rho, params)
    gx = _gauss(fx, params.sigma_across_px)
    gy = _gauss(fy, params.sigma_along_px)
    sx = np.sinc(fx)
    sy = np.sinc(fy)
    sm = np.sinc(params.smear_along_px * fy)
    xsep = sx * gx
    ysep = sy * sm * gy
    radial = diff * kdiff * atf
    no_atf = diff * kdiff * ysep[:, None] * xsep[None, :]  # for the ATF derivatives
    total = radial * ysep[:, None] * xsep[None, :]
    out: list[NDArray[np.float64]] = []
    for name in derivatives:
        if name == "sigma_across_px":
            out.append(total * (-4.0 * math.pi**2 * params.sigma_across_px * fx * fx)[None, :])
        elif name == "sigma_along_px":
            out.append(total * (-4.0 * math.pi**2 * params.sigma_along_px * fy * fy)[:, None])
        elif name == "diffusion_px":
            ell = params.diffusion_px
            a = (_TWO_PI * ell * rho) ** 2
            out.append(total * (-3.0 * _TWO_PI**2 * ell * rho * rho / (1.0 + a)))
        elif name == "aberration_along":
            out.append(-no_atf * atf_shape * sin2)
        elif name == "aberration_across":
            out.append(-no_atf * atf_shape * cos2)
        elif name == "smear_along_px":
            dys = sy * gy * _dsinc_ds(fy, params.smear_along_px)
            out.append(radial * dys[:, None] * xsep[None, :])
        elif name == "obscuration":  # numerical: the polychromatic annulus MTF is tabulated
            eps = params.obscuration
            lo, hi = max(eps - _OBSCURATION_STEP, 0.0), eps + _OBSCURATION_STEP
            d_lo = _diffraction(rho, _diffraction_table(params.replace(obscuration=lo)))
            d_hi = _diffraction(rho, _diffraction_table(params.replace(obscuration=hi)))
            out.append((d_hi - d_lo) / (hi - lo) * kdiff * atf * ysep[:, None] * xsep[None, :])
        else:
            raise PsfParameterError(f"no derivative for parameter {name!r}; use {FREE_PARAMETER_NAMES}")
    return total, out


def check_oversamp(oversamp: float) -> float:
    """Along-track oversampling ``o`` as a float; :class:`PsfParameterError` unless finite and >= 1."""
    o = float(oversamp)
    if not (o >= 1.0 and math.isfinite(o)):
        raise PsfParameterError(f"oversamp must be >= 1, got {oversamp}")
    return o
