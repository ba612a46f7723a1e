"""Star-vignette generator of the simulator: truth PSFs and noisy ICD-1 star images.

The simulator's campaign loop and FITS writer call these functions; the PSF physics lives in
``monitor.science.psf``. Units: DN for image values, native pixels for lengths, row units for
along-track array positions (ICD-1 §1.2).

Truth PSFs (``default_psf_params``) are plausible, not official, values chosen so that the
instrument-level MTF at Nyquist matches the published order of magnitude: Pléiades PA 0.09
at instrument level (Baudoin 2004), MS bands higher (their pixels are 4x larger, so diffraction
matters less: lambda·N ≈ 0.2-0.33 MS pixel). PSF model: Viallefont-Robinet & Léger (2010), Opt.
Express 18, 3531; PHR optics (D ≈ 0.65 m, f ≈ 12.9 m, 13 µm PA pixels): eoPortal, "Pléiades",
https://www.eoportal.org/satellite-missions/pleiades.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from numpy.typing import NDArray

from monitor.science.instrument import UnknownBandError, nominal_psf_params, normalise_band
from monitor.science.psf import PsfParams, check_oversamp
from monitor.science.psf_renderer import PsfRenderer, render_star
from monitor.simulate.pupil_psf import PupilTruth, render_vignette, truth_family

__all__ = [
    "UnknownBandError",
    "default_psf_params",
    "default_vignette_shape",
    "truth_psf",
    "simulate_star_vignette",
    "expected_star_vignette_dn",
    "add_detector_noise",
    "stray_light_plane_dn",
    "plane_excursion_dn",
]

# Truth aberration/jitter blur (sigma along, across) of each band, native px; everything else
# (diffraction, obscuration, bandwidth, diffusion, smear) is the nominal design.
_PAN_BLUR = {"PHR": (0.36, 0.33), "PNEO": (0.34, 0.31)}
_MS_BLUR = {"PHR": (0.40, 0.37), "PNEO": (0.38, 0.35)}
_VIGNETTE_COLS = {"P": 64}  # PAN 64 columns, MS 32
_MS_VIGNETTE_COLS = 32


def default_psf_params(mission: str, band: str) -> PsfParams:
    """Realistic truth PSF of a mission/band, native-pixel units of that band.

    The nominal design (:func:`monitor.science.instrument.nominal_psf_params`) with the truth
    aberration/jitter blur of the band.

    Returns
    -------
    PsfParams
        PAN: lambda·N ≈ 1 px, MTF at Nyquist ≈ 0.09-0.11; MS: lambda·N = 0.19-0.33 px,
        MTF at Nyquist ≈ 0.2-0.3 (both directions).

    Raises
    ------
    UnknownBandError
        If the mission or band is not defined by ICD-1.
    """
    m, b = normalise_band(mission, band)
    s_along, s_across = (_PAN_BLUR if b == "P" else _MS_BLUR)[m]
    return nominal_psf_params(m, b, s_along, s_across)


def truth_psf(mission: str, band: str, psf_family: str | None = None) -> PsfParams | PupilTruth:
    """Truth PSF of a band: :func:`default_psf_params` (``psf_family`` None, the default), or the
    independent pupil-based truth ``monitor.simulate.pupil_psf.truth_family(psf_family, ...)``
    (``"in_family"``, ``"defocus"``, ``"astig_spiders"``, ``"tdi_smear"``, ``"microvibration"``,
    ``"red_star"``, ``"no_wings"``), drawn by its own code path, not the estimator's model.
    """
    if psf_family is None:
        return default_psf_params(mission, band)
    m, b = normalise_band(mission, band)
    return truth_family(psf_family, m, b)


def default_vignette_shape(mission: str, band: str, oversamp: float) -> tuple[int, int]:
    """Vignette shape ``(rows, columns)``: PAN 64·o x 64, MS 32·o x 32 (rows rounded)."""
    _, b = normalise_band(mission, band)
    cols = _VIGNETTE_COLS.get(b, _MS_VIGNETTE_COLS)
    if not (oversamp >= 1.0 and math.isfinite(oversamp)):
        raise ValueError(f"oversamp must be >= 1, got {oversamp}")
    return int(round(cols * float(oversamp))), cols


@functools.lru_cache(maxsize=12)  # one geometry per band of PHR (5) and PNEO (7); <= 6 MB each
def _renderer(rows_native: float, cols: int, psf: PsfParams) -> PsfRenderer:
    """The PSF renderer of one vignette extent ``(rows / o, cols)`` in native px and one PSF.

    Its OTF grid depends only on that extent and the PSF, not on the star position, flux or the
    oversampling itself; a campaign renders thousands of vignettes on a handful of geometries,
    and the grid was ~75 % of the rendering time.
    """
    return PsfRenderer(psf, (rows_native, cols))


def _render_star(
    shape: tuple[int, int], center_xy: tuple[float, float], psf: PsfParams, oversamp: float, total_flux: float
) -> NDArray[np.float64]:
    """:func:`monitor.science.psf_renderer.render_star` (default padding) with the renderer memoised.

    Same arithmetic as ``render_star``, hence the same values to the last bit (see the tests);
    only the OTF grid is shared between vignettes of the same extent and PSF.
    """
    o = check_oversamp(oversamp)
    rows, cols = int(shape[0]), int(shape[1])
    if rows < 1 or cols < 1:
        return render_star(shape, center_xy, psf, o, total_flux)  # raises the renderer's error
    return _renderer(rows / o, cols, psf).render((rows, cols), center_xy, o, total_flux)


def plane_excursion_dn(background_slope: tuple[float, float], shape: tuple[int, int]) -> float:
    """Largest drop of a background plane below its centre value over a vignette, DN.

    ``background_dn`` must be at least this for :func:`simulate_star_vignette` (stray light is
    never negative): ``|slope_x| (cols - 1)/2 + |slope_y| (rows - 1)/2``.
    """
    return abs(background_slope[0]) * (shape[1] - 1) / 2.0 + abs(background_slope[1]) * (shape[0] - 1) / 2.0


def stray_light_plane_dn(
    background_dn: float, background_slope: tuple[float, float], shape: tuple[int, int]
) -> NDArray[np.float64]:
    """Background plane of a vignette, DN per pixel: ``background_dn`` at the vignette centre
    plus ``slope_x`` per column and ``slope_y`` per row away from it (the simulator's stray light)."""
    rows, cols = int(shape[0]), int(shape[1])
    yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float64)
    return np.asarray(
        background_dn + background_slope[0] * (xx - (cols - 1) / 2.0) + background_slope[1] * (yy - (rows - 1) / 2.0),
        dtype=np.float64,
    )


def simulate_star_vignette(
    rng: np.random.Generator,
    *,
    total_signal_dn: float,
    shape: tuple[int, int],
    center_xy: tuple[float, float],
    oversamp: float,
    psf: PsfParams | PupilTruth,
    dark_dn: float,
    gain_e_per_dn: float,
    read_noise_dn: float,
    background_dn: float = 0.0,
    background_slope: tuple[float, float] = (0.0, 0.0),
    saturate_dn: float | None = None,
    quantize: bool = False,
) -> NDArray[np.float32]:
    """Noisy star vignette in DN following ICD-1 §1.2-1.3.

    Parameters
    ----------
    rng : numpy.random.Generator
        Source of randomness (seeded by the caller).
    total_signal_dn : float
        ``S_k = OVERSAMP · GAINFACT · A_k · E_k / Omega_pix`` of ICD §1.3, DN, already including
        the factor o: the noiseless star image sums to ``total_signal_dn`` over an infinite
        vignette (a finite vignette holds slightly less: the diffraction wings leave it).
    shape : (int, int)
        ``(rows, columns)`` of the vignette (see ``default_vignette_shape``).
    center_xy : (float, float)
        Star position (column, row), 0-based array indices, pixel centres at integers, row units.
    oversamp : float
        Along-track oversampling o >= 1 (ICD ``OVERSAMP``).
    psf : PsfParams or PupilTruth
        Truth PSF: the estimator's parametric family (``default_psf_params``, rendered by the
        project's renderer) or an independent pupil-based truth (:class:`PupilTruth`, rendered by
        :func:`monitor.simulate.pupil_psf.render_vignette`; see :func:`truth_psf`).
    dark_dn : float
        Dark signal added to every pixel, DN (ICD ``DARK``); an offset without shot noise.
    gain_e_per_dn : float
        Electrons per DN; photon noise is Poisson in electrons on background + star.
    read_noise_dn : float
        Gaussian read noise, DN rms per pixel.
    background_dn : float
        Background (stray light) level at the vignette centre, DN per pixel.
    background_slope : (float, float)
        Background gradient (per column, per row), DN per pixel, about the vignette centre
        ``((cols - 1)/2, (rows - 1)/2)``.
    saturate_dn : float, optional
        Values are clipped at this DN level (detector saturation).
    quantize : bool
        Round to integer DN (quantisation noise of 1/12 DN^2).

    Returns
    -------
    ndarray of float32, shape ``shape``
        ``dark + background plane + photon/read noise of (background + S_k/o · g)``, where g is
        ``render_star`` with unit flux (its renderer memoised per vignette extent and PSF).

    Raises
    ------
    ValueError
        For a negative signal/background (the plane must be >= 0 over the whole vignette: a
        clipped plane is no longer a plane), non-positive gain or negative read noise.
    """
    if total_signal_dn < 0.0 or gain_e_per_dn <= 0.0 or read_noise_dn < 0.0:
        raise ValueError("need total_signal_dn >= 0, gain_e_per_dn > 0 and read_noise_dn >= 0")
    mean_dn = expected_star_vignette_dn(
        total_signal_dn=total_signal_dn,
        shape=shape,
        center_xy=center_xy,
        oversamp=oversamp,
        psf=psf,
        background_dn=background_dn,
        background_slope=background_slope,
    )
    return add_detector_noise(
        rng,
        mean_dn,
        dark_dn=dark_dn,
        gain_e_per_dn=gain_e_per_dn,
        read_noise_dn=read_noise_dn,
        saturate_dn=saturate_dn,
        quantize=quantize,
    )


def expected_star_vignette_dn(
    *,
    total_signal_dn: float,
    shape: tuple[int, int],
    center_xy: tuple[float, float],
    oversamp: float,
    psf: PsfParams | PupilTruth,
    background_dn: float = 0.0,
    background_slope: tuple[float, float] = (0.0, 0.0),
) -> NDArray[np.float64]:
    """Expected value of a dark-subtracted star vignette, DN: ``background plane + S_k/o · g``.

    The noise-free image of :func:`simulate_star_vignette` (same arguments, same rendering; no dark,
    no photon or read noise): the mean over the detector noise of its output minus ``dark_dn``.

    Raises
    ------
    ValueError
        For a negative signal or a background plane below 0 DN somewhere in the vignette.
    """
    if total_signal_dn < 0.0:
        raise ValueError("need total_signal_dn >= 0")
    rows, cols = int(shape[0]), int(shape[1])
    o = float(oversamp)
    if isinstance(psf, PupilTruth):
        star = render_vignette(psf, (rows, cols), center_xy, o, total_signal_dn / o)
    else:
        star = _render_star((rows, cols), center_xy, psf, o, total_signal_dn / o)
    plane = stray_light_plane_dn(background_dn, background_slope, (rows, cols))
    lowest = float(plane.min())
    if lowest < 0.0:  # a clipped plane is no longer a plane: the photometry would be biased by it
        raise ValueError(
            f"the background plane reaches {lowest:.3g} DN at a vignette corner; stray light cannot be "
            "negative: raise background_dn or reduce background_slope"
        )
    return np.asarray(star + plane, dtype=np.float64)


def add_detector_noise(
    rng: np.random.Generator,
    mean_dn: NDArray[np.float64],
    *,
    dark_dn: float,
    gain_e_per_dn: float,
    read_noise_dn: float,
    saturate_dn: float | None = None,
    quantize: bool = False,
) -> NDArray[np.float32]:
    """One noisy detector image of an expected image ``mean_dn`` (DN, >= 0, dark excluded), float32:

    ``dark_dn + Poisson(mean_dn · gain) / gain + N(0, read_noise_dn^2)`` (photon noise in electrons,
    Gaussian read noise), optionally rounded to integer DN and clipped at ``saturate_dn``. Draws the
    Poisson field, then the Gaussian one, from ``rng`` (the order of :func:`simulate_star_vignette`).
    """
    if gain_e_per_dn <= 0.0 or read_noise_dn < 0.0:
        raise ValueError("need gain_e_per_dn > 0 and read_noise_dn >= 0")
    electrons = rng.poisson(mean_dn * gain_e_per_dn).astype(np.float64)
    image = dark_dn + electrons / gain_e_per_dn + rng.normal(0.0, read_noise_dn, size=mean_dn.shape)
    if quantize:
        image = np.round(image)
    if saturate_dn is not None:
        image = np.minimum(image, saturate_dn)
    return np.asarray(image, dtype=np.float32)
