"""Moon band images written from the ICD alone, independent of ``monitor.simulate`` (test helper).

Used to check the disk photometry for any framing the ICD allows. Nothing here shares code or
models with the project's simulator or the estimator:

- the lunar disk is a sphere lit by a Lambert law (radiance proportional to cos(incidence)),
  where the simulator uses a Lommel-Seeliger/Lambert mix with a random albedo texture;
- the PSF is a Moffat core (beta = 3) plus a small r^-3 halo of another scale, convolved by FFT on
  a canvas three times the frame, so the light that leaves the frame is known (the simulator
  renormalises its halo inside the frame);
- the truth is the sum over the whole canvas (total Moon signal S, ICD 1.3) and the sum over the
  frame (what a perfect aperture could still collect).

What this cannot catch: an error common to the ICD reading of this helper and of the code (both
take OVERSAMP as a row stretch and BINNING as a b x b sum, ICD 1.2), and the lunar irradiance
model (it is not used: A_k is not the subject here, S_k is).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import signal

from monitor.domain import BandHeader


@dataclass(frozen=True)
class FramedMoon:
    image: NDArray[np.float32]
    header: BandHeader
    total_signal_dn: float  # S over the whole canvas (what reaches the focal plane), DN
    in_frame_signal_dn: float  # the part of it that falls inside the delivered frame, DN


def _psf(oversamp: float, core_px: float, halo_fraction: float, half_px: int) -> NDArray[np.float64]:
    half_r = int(math.ceil(half_px * oversamp))
    y = np.arange(-half_r, half_r + 1)[:, None] / oversamp
    x = np.arange(-half_px, half_px + 1)[None, :]
    r2 = x * x + y * y
    core = (1.0 + r2 / core_px**2) ** -3.0
    halo = (1.0 + r2 / (3.0 * core_px) ** 2) ** -1.5
    kernel: NDArray[np.float64] = (1.0 - halo_fraction) * core / core.sum() + halo_fraction * halo / halo.sum()
    return kernel


def framed_moon(
    rng: np.random.Generator,
    *,
    diameter_px: float,
    frame_over_diameter: float,
    oversamp: float = 1.0,
    phase_angle_deg: float = 20.0,
    total_signal_dn: float = 2.0e7,
    sky_dn: float = 40.0,
    sky_gradient_dn_per_px: tuple[float, float] = (0.0, 0.0),
    noise_dn: float = 2.0,
    dark_dn: float = 100.0,
    centre_shift_px: tuple[float, float] = (0.0, 0.0),
    halo_fraction: float = 0.004,
    core_px: float = 1.2,
) -> FramedMoon:
    """One Moon band (BINNING 1) framed ``frame_over_diameter`` times the disk across and along.

    The frame is square in scene units: ``n_cols = frame * D`` columns and ``o`` times more rows.
    ``centre_shift_px`` moves the disk (columns, scene rows) from the frame centre. The sky is a
    plane (level ``sky_dn`` at the centre, gradients per delivered pixel); Gaussian noise of
    ``noise_dn`` per pixel; ``dark_dn`` added and declared as DARK.
    """
    n_cols = int(round(frame_over_diameter * diameter_px))
    n_rows = int(round(frame_over_diameter * diameter_px * oversamp))
    pad_c, pad_r = n_cols, n_rows  # canvas: the frame plus one frame on each side
    cr, cc = 3 * n_rows, 3 * n_cols
    ss = 3  # supersampling of the limb
    off = (np.arange(ss) + 0.5) / ss - 0.5
    row0 = pad_r + 0.5 * (n_rows - 1) + centre_shift_px[1] * oversamp  # disk centre on the canvas
    col0 = pad_c + 0.5 * (n_cols - 1) + centre_shift_px[0]
    rows = (np.arange(cr)[:, None] + off[None, :]).ravel() - row0
    cols = (np.arange(cc)[:, None] + off[None, :]).ravel() - col0
    radius = 0.5 * diameter_px
    y = (rows / oversamp / radius)[:, None]
    x = (cols / radius)[None, :]
    z = np.sqrt(np.clip(1.0 - x * x - y * y, 0.0, None))
    g = math.radians(abs(phase_angle_deg))
    side = 1.0 if phase_angle_deg < 0 else -1.0
    mu0 = side * math.sin(g) * x + math.cos(g) * z  # cosine of the incidence angle
    scene = np.where((x * x + y * y < 1.0) & (mu0 > 0.0), mu0, 0.0).reshape(cr, ss, cc, ss).mean(axis=(1, 3))
    moon = signal.fftconvolve(scene, _psf(oversamp, core_px, halo_fraction, half_px=n_cols), mode="same")
    moon = np.clip(moon, 0.0, None)
    moon *= total_signal_dn / moon.sum()
    frame = moon[pad_r : pad_r + n_rows, pad_c : pad_c + n_cols]
    rr = np.arange(n_rows)[:, None] - 0.5 * (n_rows - 1)
    ccol = np.arange(n_cols)[None, :] - 0.5 * (n_cols - 1)
    sky = sky_dn + sky_gradient_dn_per_px[0] * ccol + sky_gradient_dn_per_px[1] * rr
    image = frame + sky + dark_dn + noise_dn * rng.standard_normal(frame.shape)
    header = BandHeader(
        band="G", shape=(n_rows, n_cols), dark_dn=dark_dn, gain_factor=1.0, oversamp=oversamp, binning=1,
        pixscale_urad=1.0, lineper_ms=0.1, saturate_dn=1e12,
    )  # fmt: skip
    return FramedMoon(image.astype(np.float32), header, float(moon.sum()), float(frame.sum()))
