"""Out-of-family PSF truth for the starpool PSF/MTF/EE tests (test-only; plain numpy, fine 1-D grids).

The estimator's model (monitor.science.psf) is a polychromatic annular-pupil diffraction MTF times
a single Gaussian, an exponential diffusion kernel, a fixed TDI smear and the pixel box, rendered by
its own Fourier renderer. This truth shares none of that: the PSF is a sum of SEPARABLE components
``sum_c a_c p_c(x) q_c(y)`` (a Gaussian core, a wider Gaussian halo and a 1-D Moffat "spike"
product with x^-3 wings along the axes, the shape of a spider-vane diffraction cross), convolved
along track with a box smear (TDI desynchronisation) and integrated over the 1 x 1 px pixel. Each
1-D factor is tabulated on a fine grid (``_STEP_PX``), convolved with the smear box by ``np.convolve``
and pixel-integrated as a difference of its cumulative integral, so a vignette is an outer product
of two 1-D pixel profiles per component. Its MTF is the Fourier transform of the same fine 1-D
profiles (``np.fft``), times the pixel sinc.

What it can catch: an estimator that assumes its own PSF family (biased MTF/EE with small sigma, no
misfit flag), a wrong normalisation of the ePSF, a flux taken from model wings that the truth does
not have. What it cannot catch: errors that only appear with a real pupil's diffraction (the r^-3
ring structure, polychromatic blur, obscuration), which the pupil-FFT truth (monitor/simulate/
pupil_psf.py, branch i15-truth) covers, and non-separable aberrations (coma, astigmatism at 45°).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_STEP_PX = 1.0 / 64.0  # fine-grid step, native px
_HALF_EXTENT_PX = 160.0  # fine grid covers +-160 px (the Moffat wings beyond are ~1e-5 of the flux)


@dataclass(frozen=True)
class SeparableTruth:
    """Out-of-family PSF: Gaussian core + Gaussian halo + Moffat spikes, along-track box smear.

    Widths in native px; ``halo_frac`` and ``spike_frac`` are flux fractions (core gets the rest).
    """

    core_sigma_x: float = 0.45
    core_sigma_y: float = 0.50
    halo_sigma: float = 1.3
    halo_frac: float = 0.15
    spike_alpha: float = 0.8  # Moffat core width, px
    spike_beta: float = 2.0  # 1-D profile ~ x^-4 beyond alpha, marginal tail ~ x^-3 in 2-D
    spike_frac: float = 0.05
    smear_y: float = 0.8  # along-track box smear, px

    def components(self) -> list[tuple[float, str, float, str, float]]:
        """(weight, x-kind, x-width, y-kind, y-width) of each separable component."""
        core = 1.0 - self.halo_frac - self.spike_frac
        return [
            (core, "g", self.core_sigma_x, "g", self.core_sigma_y),
            (self.halo_frac, "g", self.halo_sigma, "g", self.halo_sigma),
            (self.spike_frac, "m", self.spike_alpha, "m", self.spike_alpha),
        ]


_GRID = np.arange(-_HALF_EXTENT_PX, _HALF_EXTENT_PX + _STEP_PX / 2, _STEP_PX)


def _profile(kind: str, width: float, beta: float) -> np.ndarray:
    """Unit-area 1-D profile on the fine grid."""
    if kind == "g":
        p = np.exp(-0.5 * (_GRID / width) ** 2)
    else:
        p = (1.0 + (_GRID / width) ** 2) ** (-beta)
    return p / (p.sum() * _STEP_PX)


def _smeared(p: np.ndarray, smear_px: float) -> np.ndarray:
    n = int(round(smear_px / _STEP_PX))
    if n <= 1:
        return p
    box = np.full(n, 1.0 / n)
    return np.convolve(p, box, mode="same")


def _cdf(p: np.ndarray) -> np.ndarray:
    c = np.concatenate([[0.0], np.cumsum(p) * _STEP_PX])
    return c


_CDF_X = np.concatenate([[_GRID[0] - _STEP_PX / 2], _GRID + _STEP_PX / 2])


def _pixel_profile(cdf: np.ndarray, offsets_px: np.ndarray) -> np.ndarray:
    """Integral of the profile over [u - 1/2, u + 1/2] at each offset u (native px)."""
    return np.interp(offsets_px + 0.5, _CDF_X, cdf) - np.interp(offsets_px - 0.5, _CDF_X, cdf)


class TruthRenderer:
    """Pixel-integrated images and MTF of a :class:`SeparableTruth` (plain numpy)."""

    def __init__(self, truth: SeparableTruth) -> None:
        self.truth = truth
        self._parts = []
        for a, kx, wx, ky, wy in truth.components():
            px = _profile(kx, wx, truth.spike_beta)
            py = _smeared(_profile(ky, wy, truth.spike_beta), truth.smear_y)
            self._parts.append((a, px, py, _cdf(px), _cdf(py)))

    def image(self, shape: tuple[int, int], center_xy: tuple[float, float], oversamp: float) -> np.ndarray:
        """Unit-flux image; rows are 1/o native px apart (sums to o over an infinite vignette)."""
        rows, cols = shape
        ox = np.arange(cols) - center_xy[0]
        oy = (np.arange(rows) - center_xy[1]) / oversamp
        out = np.zeros(shape)
        for a, _, _, cx, cy in self._parts:
            out += a * np.outer(_pixel_profile(cy, oy), _pixel_profile(cx, ox))
        return out

    def mtf(self, f_cy_px: np.ndarray, direction: str) -> np.ndarray:
        """MTF of the pixel-integrated PSF along (y) or across (x) track at frequencies f (cy/px)."""
        f = np.asarray(f_cy_px, dtype=np.float64)
        phase = np.exp(-2j * np.pi * f[:, None] * _GRID[None, :])
        total = np.zeros(f.shape, dtype=complex)
        for a, px, py, _, _ in self._parts:
            prof = py if direction == "along" else px
            total += a * (phase @ prof) * _STEP_PX
        return np.abs(total * np.sinc(f))

    def window_ee(self, half_width_px: int, offset_xy: tuple[float, float], oversamp: float) -> float:
        """Fraction of the flux in the ICD §4 window (2h+1 columns, round((2h+1)·o) rows) at a phase."""
        h = int(half_width_px)
        nr = int(round((2 * h + 1) * oversamp))
        cx = h + offset_xy[0]
        cy = (nr - 1) / 2.0 + offset_xy[1]
        return float(self.image((nr, 2 * h + 1), (cx, cy), oversamp).sum() / oversamp)


def make_truth_pool(
    rng: np.random.Generator,
    renderer: TruthRenderer,
    n_stars: int = 25,
    oversamps: tuple[int, ...] = (1, 2, 3, 4),
    signal_scale_dn: float = 1e6,
    size_px: int = 64,
    gain_e_per_dn: float = 2.0,
    read_noise_dn: float = 5.0,
    background_dn: float = 20.0,
) -> tuple[list[np.ndarray], list[float], np.ndarray, np.ndarray]:
    """Dark-subtracted noisy vignettes (V 2-5.5, tilted background): vignettes, o, centres, signals.

    ``signals`` are the true S_k = o · F_k (sum over an infinite vignette).
    """
    vignettes, os_, centers, signals = [], [], [], []
    for _ in range(n_stars):
        o = float(rng.choice(oversamps))
        shape = (int(size_px * o), size_px)
        v_mag = rng.uniform(2.0, 5.5)
        signal = signal_scale_dn * 10 ** (-0.4 * (v_mag - 2.0)) * o
        center = ((shape[1] - 1) / 2 + rng.uniform(-2, 2), (shape[0] - 1) / 2 + rng.uniform(-2, 2) * o)
        yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
        bg = background_dn + 0.1 * (xx - shape[1] / 2) - 0.05 * (yy - shape[0] / 2) / o
        mu = signal / o * renderer.image(shape, center, o) + bg
        img = rng.poisson(np.clip(mu, 0.0, None) * gain_e_per_dn) / gain_e_per_dn
        img = img + rng.normal(0.0, read_noise_dn, shape)
        vignettes.append(np.round(img))
        os_.append(o)
        centers.append(center)
        signals.append(signal)
    return vignettes, os_, np.asarray(centers), np.asarray(signals)
