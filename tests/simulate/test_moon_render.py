"""Simulated Moon band images: exact total signal, oversampling, binning, phase side, noise."""

from __future__ import annotations

import numpy as np
import pytest

from monitor.simulate.moon import moon_apparent_diameter_px, simulate_moon_band

BASE = {
    "total_signal_dn": 1.0e7,
    "shape": (120, 80),
    "oversamp": 1.0,
    "binning": 1,
    "phase_angle_deg": -30.0,
    "moon_diameter_px": 40.0,
    "psf_sigma_px": 1.0,
    "dark_dn": 20.0,
    "gain_e_per_dn": 10.0,
    "read_noise_dn": 2.0,
    "background_dn": 5.0,
    "background_slope": (0.01, -0.02),
}


def _sky(shape: tuple[int, int], level: float, slope: tuple[float, float]) -> np.ndarray:
    rows = np.arange(shape[0])[:, None] - 0.5 * (shape[0] - 1)
    cols = np.arange(shape[1])[None, :] - 0.5 * (shape[1] - 1)
    return level + slope[0] * cols + slope[1] * rows


@pytest.mark.parametrize(("oversamp", "binning"), [(1.0, 1), (2.0, 1), (1.5, 2), (3.0, 4)])
def test_total_signal_is_exact_before_noise(oversamp: float, binning: int) -> None:
    kw = {**BASE, "oversamp": oversamp, "binning": binning, "shape": (int(60 * oversamp) + 40, 60 // binning + 30)}
    kw["moon_diameter_px"] = 40.0
    img = simulate_moon_band(np.random.default_rng(1), noise=False, dtype=np.float64, **kw)  # type: ignore[arg-type]
    moon = img - 20.0 * binning**2 - _sky(kw["shape"], 5.0, (0.01, -0.02))  # type: ignore[arg-type]
    assert moon.sum() == pytest.approx(1.0e7, rel=1e-12)
    # elongation: the disk spans o times more native rows than columns
    lit = moon > 0.02 * moon.max()
    n_r = np.ptp(np.flatnonzero(lit.any(axis=1))) + 1
    n_c = np.ptp(np.flatnonzero(lit.any(axis=0))) + 1
    assert n_r / n_c == pytest.approx(oversamp, rel=0.25)


def test_waxing_and_waning_are_mirrored() -> None:
    wax = simulate_moon_band(np.random.default_rng(2), noise=False, **{**BASE, "phase_angle_deg": -60.0})  # type: ignore[arg-type]
    wan = simulate_moon_band(np.random.default_rng(2), noise=False, **{**BASE, "phase_angle_deg": 60.0})  # type: ignore[arg-type]
    cols = np.arange(80)

    def centroid(im: np.ndarray) -> float:
        return float(((im - im.min()) * cols).sum() / (im - im.min()).sum())

    assert centroid(wax) > 40.5 > centroid(wan)


def test_noise_dtype_and_saturation() -> None:
    rng = np.random.default_rng(3)
    noisy = simulate_moon_band(rng, **BASE)  # type: ignore[arg-type]
    clean = simulate_moon_band(np.random.default_rng(3), noise=False, **BASE)  # type: ignore[arg-type]
    assert noisy.dtype == np.float32
    sky = (noisy - clean)[:10, :10]
    assert float(np.std(sky)) == pytest.approx(np.sqrt(2.0**2 + 5.0 / 10.0), rel=0.2)
    ints = simulate_moon_band(np.random.default_rng(3), dtype=np.uint16, saturate_dn=3000.0, **BASE)  # type: ignore[arg-type]
    assert ints.dtype == np.uint16 and int(ints.max()) == 3000


def test_apparent_diameter() -> None:
    assert moon_apparent_diameter_px(384_400.0, 0.5) == pytest.approx(2 * 9039.57, abs=0.02)
