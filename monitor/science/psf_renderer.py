"""Images of the PSF model on star vignettes: one renderer object shared by fit, bound and simulator.

A :class:`PsfRenderer` holds the OTF of one PSF (and, for a fit, its parameter derivatives)
sampled on the frequency grid of one vignette extent; it then renders any number of stars, at any
sub-pixel position and along-track oversampling, on vignettes up to that extent. The starpool fit
(:mod:`monitor.science.mtf_fit`) builds one per model evaluation and renders every star of the
pool with it, the Cramér-Rao bound (:mod:`monitor.science.crlb`) one per vignette, the simulator
(:mod:`monitor.simulate.star`) one per band geometry for thousands of vignettes.
:func:`render_star` is the one-image shortcut.

Method: exact sampling through the Fourier domain (Poisson summation). The inverse transform of
the band-limited OTF (:func:`monitor.science.psf.otf_grid`) is evaluated at the pixel centres as
a separable cosine sum over the whole OTF support, on a frequency grid of step
``1/(extent + pad_px)``: the result is the PSF periodised with that period, so only the
wrap-around of the far r^-3 wings is neglected (below ~1e-7 of the peak for the default padding).
No wing is truncated.

Units: native pixels (px) across track and for the frequency grid; array rows along track are
1/o native px apart (ICD-1 §1.2), and positions along track are given in row units.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from monitor.science.psf import PsfParameterError, PsfParams, check_oversamp, frequency_support, otf_grid

__all__ = ["DEFAULT_PAD_PX", "PsfRenderer", "render_star"]

DEFAULT_PAD_PX = 256.0  # padding of the periodic grid: wrap-around pedestal ~1.5e-8 of the flux per pixel
_TWO_PI = 2.0 * math.pi


def _frequency_axis(support: float, period: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Non-negative frequencies k/period up to ``support`` and their Riemann weights.

    The weights are ``step`` for k = 0 and ``2 step`` otherwise (the mirrored negative half-axis),
    so ``sum_k w_k F(f_k) cos(2 pi f_k x)`` is the inverse transform of an even spectrum ``F``
    periodised with ``period`` (Poisson summation).
    """
    step = 1.0 / period
    f = np.arange(int(math.floor(support * period)) + 2, dtype=np.float64) * step
    w = np.full(f.size, 2.0 * step)
    w[0] = step
    return f, w


def _vignette_shape(shape: tuple[int, int]) -> tuple[int, int]:
    rows, cols = int(shape[0]), int(shape[1])
    if rows < 1 or cols < 1:
        raise PsfParameterError(f"empty vignette shape {shape}")
    return rows, cols


class PsfRenderer:
    """Pixel-integrated images of one PSF, for vignettes up to a given extent.

    Parameters
    ----------
    params : PsfParams
        PSF model.
    extent_px : (float, float)
        Largest vignette extent ``(along, across)`` in native px that the renderer will sample:
        ``(rows / o, columns)`` of a vignette of ``rows x columns`` at oversampling ``o``.
    pad_px : float
        Padding of the implicit periodic grid beyond the extent, native px. It controls the
        wrap-around of the r^-3 wings, an almost uniform pedestal: with lambda_n_px = 1 it is
        ~1.5e-8 of the flux per pixel (5e-5 of the flux over a 64 x 64 PAN vignette) for the
        default 256 px, ~2.5e-7 per pixel for 64 px.
    derivatives : sequence of str
        PSF parameters (:data:`monitor.science.psf.FREE_PARAMETER_NAMES`) whose image derivatives
        :meth:`sample` also returns (for a fit).

    Notes
    -----
    The OTF grid (the costly part: ~75 % of one vignette's rendering) is computed once, here;
    :meth:`sample` and :meth:`render` only evaluate the cosine sums, two matrix products per star.
    The renderer is immutable (its arrays are read-only) and can be shared.

    Examples
    --------
    A PAN-like star at o = 2 on a 32 x 16 vignette (rows x columns): the image sums to ``o`` times
    the flux less the light outside the vignette; the batch form also returns the derivatives
    with respect to the PSF parameters and the star position.

    >>> params = PsfParams(lambda_n_px=1.0, obscuration=0.3, sigma_along_px=0.35, sigma_across_px=0.3)
    >>> renderer = PsfRenderer(params, extent_px=(32 / 2.0, 16))
    >>> image = renderer.render((32, 16), (7.6, 15.2), oversamp=2.0, total_flux=1000.0)
    >>> image.shape, bool(1900.0 < image.sum() < 2000.0)
    ((32, 16), True)
    >>> fit_renderer = PsfRenderer(params, (16.0, 16.0), derivatives=["sigma_along_px"])
    >>> fit_renderer.sample((32, 16), [[7.6, 15.2], [8.1, 16.0]], 2.0, shift_derivatives=True).shape
    (2, 4, 32, 16)
    """

    def __init__(
        self,
        params: PsfParams,
        extent_px: tuple[float, float],
        *,
        pad_px: float = DEFAULT_PAD_PX,
        derivatives: Sequence[str] = (),
    ) -> None:
        extent_along, extent_across = extent_px
        if not (extent_along > 0.0 and extent_across > 0.0 and pad_px >= 0.0):
            raise PsfParameterError(f"need a positive extent and pad_px >= 0, got {extent_px}, {pad_px}")
        self.params = params
        self.derivatives = tuple(derivatives)
        self.period_px = (extent_along + pad_px, extent_across + pad_px)
        fsx, fsy = frequency_support(params)
        self._fx, self._wx = _frequency_axis(fsx, extent_across + pad_px)
        self._fy, self._wy = _frequency_axis(fsy, extent_along + pad_px)
        grid, dgrids = otf_grid(self._fx, self._fy, params, self.derivatives)
        self._grids = np.stack([grid, *dgrids])  # (1 + n_derivatives, nfy, nfx)
        for a in (self._fx, self._wx, self._fy, self._wy, self._grids):
            a.setflags(write=False)

    def sample(
        self,
        shape: tuple[int, int],
        centers_xy: ArrayLike,
        oversamp: float,
        *,
        shift_derivatives: bool = False,
    ) -> NDArray[np.float64]:
        """Unit-flux images of several stars on one vignette geometry, and their derivatives.

        Because the OTF is real and even in fx and in fy separately, the sampled image is the
        real separable cosine transform::

            g(x, y) = sum_{fy >= 0} sum_{fx >= 0} w_y w_x OTF(fx, fy) cos(2 pi fx X) cos(2 pi fy Y),
            X = x_col - x0,  Y = (y_row - y0)/o  (native px)

        evaluated as two matrix products per star (``Cy · OTF · Cx^T``).

        Parameters
        ----------
        shape : (int, int)
            Vignette shape ``(rows, columns)`` (rows at 1/o px, columns at 1 px).
        centers_xy : array_like, shape (k, 2)
            Star centres in array indices (column, row), row in row units.
        oversamp : float
            Along-track oversampling o >= 1.
        shift_derivatives : bool
            Also return d/dx0 and d/dy0 (per row unit) of the image.

        Returns
        -------
        ndarray, shape (k, m, rows, columns)
            ``m = 1 + len(derivatives) [+ 2]``: the image, its derivatives with respect to the
            renderer's ``derivatives`` (px^-1), then [d/dx0, d/dy0]. A unit-flux image sums to o
            over an infinite vignette.

        Raises
        ------
        PsfParameterError
            For ``oversamp < 1``, an empty shape, or a vignette larger than the renderer's period.
        """
        o = check_oversamp(oversamp)
        nrows, ncols = _vignette_shape(shape)
        if nrows / o > self.period_px[0] or ncols > self.period_px[1]:
            raise PsfParameterError(f"vignette {shape} at o = {o} exceeds the renderer's period {self.period_px} px")
        centers = np.asarray(centers_xy, dtype=np.float64).reshape(-1, 2)
        fx, wx, fy, wy, grids = self._fx, self._wx, self._fy, self._wy, self._grids
        x0 = centers[:, 0]
        y0 = centers[:, 1]
        ax = _TWO_PI * (np.arange(ncols, dtype=np.float64)[None, :] - x0[:, None])[:, :, None] * fx
        ay = _TWO_PI * ((np.arange(nrows, dtype=np.float64)[None, :] - y0[:, None]) / o)[:, :, None] * fy
        cx = np.cos(ax) * wx  # (k, nc, nfx)
        cy = np.cos(ay) * wy  # (k, nr, nfy)
        k, m = centers.shape[0], grids.shape[0]
        nfy, nfx = grids.shape[1:]
        # OTF · Cx^T of every grid and star as ONE matrix product (m nfy, nfx) x (nfx, k nc): a
        # broadcast matmul over transposed views missed BLAS and was 8x slower (the demo's hot spot)
        tmp = (grids.reshape(m * nfy, nfx) @ cx.reshape(k * ncols, nfx).T).reshape(m, nfy, k, ncols)
        tmp = np.ascontiguousarray(tmp.transpose(2, 0, 1, 3))  # (k, m, nfy, nc)
        images = [np.matmul(cy[:, None, :, :], tmp)]  # (k, m, nr, nc)
        if shift_derivatives:
            sx = np.sin(ax) * (wx * _TWO_PI * fx)  # d cos(2 pi f (x - x0)) / d x0
            sy = np.sin(ay) * (wy * _TWO_PI * fy / o)
            gsx = (grids[0] @ sx.reshape(k * ncols, nfx).T).reshape(nfy, k, ncols).transpose(1, 0, 2)
            dx = np.matmul(cy, np.ascontiguousarray(gsx))
            dy = np.matmul(sy, tmp[:, 0])
            images.append(np.stack([dx, dy], axis=1))
        return np.asarray(np.concatenate(images, axis=1), dtype=np.float64)

    def render(
        self, shape: tuple[int, int], center_xy: tuple[float, float], oversamp: float = 1.0, total_flux: float = 1.0
    ) -> NDArray[np.float64]:
        """Noise-free image of one star: ``total_flux · (PSF ⊗ pixel)(x_c - x0, (y_r - y0)/o)``.

        Same conventions as :func:`render_star`; returns an ndarray of float64 of shape ``shape``
        that sums to ``oversamp · total_flux`` over an infinite vignette.
        """
        img = self.sample(shape, [center_xy], oversamp)
        return np.asarray(img[0, 0] * float(total_flux), dtype=np.float64)


def render_star(
    shape: tuple[int, int],
    center_xy: tuple[float, float],
    params: PsfParams,
    oversamp: float = 1.0,
    total_flux: float = 1.0,
    *,
    pad_px: float = DEFAULT_PAD_PX,
) -> NDArray[np.float64]:
    """Noise-free, pixel-integrated image of a point source on a vignette (ICD-1 §1.2).

    A :class:`PsfRenderer` built for this one vignette; build the renderer yourself to render
    many stars of the same PSF and geometry.

    Parameters
    ----------
    shape : (int, int)
        Vignette shape ``(rows, columns)`` = (along track, across track).
    center_xy : (float, float)
        Source position in array indices ``(x, y)`` = (column, row), 0-based, pixel centres at
        integers; ``y`` is in ROW units (a row is 1/o native px along track).
    params : PsfParams
        PSF model.
    oversamp : float
        Along-track oversampling o >= 1: rows are spaced 1/o native px, and each row is still a
        full 1 x 1 native-pixel sample.
    total_flux : float
        Flux of the source in one native-pixel sample sense: the image sums to
        ``oversamp · total_flux`` over an infinite vignette (the star covers o times more rows).
    pad_px : float
        Padding of the implicit periodic grid beyond the vignette, native px (see
        :class:`PsfRenderer`).

    Returns
    -------
    ndarray of float64, shape ``shape``
        ``total_flux · (PSF ⊗ pixel)(x_c - x0, (y_r - y0)/o)`` at every pixel.

    Raises
    ------
    PsfParameterError
        If ``oversamp < 1`` or the shape is empty.

    Examples
    --------
    >>> params = PsfParams(lambda_n_px=1.0, obscuration=0.3, sigma_along_px=0.35, sigma_across_px=0.3)
    >>> image = render_star((15, 15), (7.0, 7.0), params, total_flux=1.0)
    >>> image.shape, bool(0.3 < image[7, 7] < 0.5), bool(0.9 < image.sum() < 1.0)
    ((15, 15), True, True)
    """
    o = check_oversamp(oversamp)
    rows, cols = _vignette_shape(shape)
    return _renderer(params, (rows / o, float(cols)), float(pad_px)).render(shape, center_xy, o, total_flux)


@functools.lru_cache(maxsize=16)
def _renderer(params: PsfParams, extent_px: tuple[float, float], pad_px: float) -> PsfRenderer:
    """The renderer of one PSF and vignette extent, reused by consecutive :func:`render_star` calls.

    Building it (the OTF grid) costs more than sampling a star; the EE correction renders every
    member of a starpool with the same fitted PSF and vignette size. A renderer is immutable
    (read-only arrays), so sharing it cannot change a result.
    """
    return PsfRenderer(params, extent_px, pad_px=pad_px)
