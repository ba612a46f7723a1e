"""Tests of the encircled energies of the PSF model (monitor.science.encircled_energy)."""

from __future__ import annotations

import numpy as np
import pytest

from monitor.science.encircled_energy import encircled_energy_square, encircled_energy_square_mean, window_rows
from monitor.science.psf import PsfParameterError
from monitor.science.psf_renderer import render_star
from tests.science.psf_cases import HALF_WIDTHS, MS, PAN


@pytest.mark.parametrize("oversamp", [1.0, 3.0])
@pytest.mark.parametrize("offset", [(0.0, 0.0), (0.3, -0.4), (-0.5, 0.45)])
def test_ee_per_phase_matches_window_sums(oversamp: float, offset: tuple[float, float]) -> None:
    size = 121
    rows = int(size * oversamp)
    rc, cc = rows // 2, size // 2
    img = render_star((rows, size), (cc + offset[0], rc + offset[1]), PAN, oversamp=oversamp, pad_px=600)
    sums = []
    for h in HALF_WIDTHS:
        n_r, j_lo = window_rows(h, oversamp)
        sums.append(img[rc + j_lo : rc + j_lo + n_r, cc - h : cc + h + 1].sum() / oversamp)
    ee = encircled_energy_square(HALF_WIDTHS, PAN, oversamp, offset)
    np.testing.assert_allclose(ee, sums, atol=5e-6)


def test_ee_mean_is_phase_average() -> None:
    g = np.linspace(-0.5, 0.5, 9)[:-1] + 1 / 16
    offsets = np.stack(np.meshgrid(g, g), axis=-1).reshape(-1, 2)
    per_phase = encircled_energy_square(HALF_WIDTHS, MS, 1.0, offsets)
    assert per_phase.shape == (offsets.shape[0], len(HALF_WIDTHS))
    np.testing.assert_allclose(encircled_energy_square_mean(HALF_WIDTHS, MS), per_phase.mean(axis=0), atol=1e-4)


def test_ee_pan_wings_and_convergence() -> None:
    ee = encircled_energy_square_mean(HALF_WIDTHS, PAN)
    # Pinned regression numbers (this implementation, 2026-11).
    np.testing.assert_allclose(ee, [0.89460603, 0.92285679, 0.95229941, 0.96927505, 0.97913095, 0.98725866], atol=2e-6)
    # notes/star.md §4.3: a 5-px half-width window misses several % of a PAN star.
    assert 0.03 < 1.0 - ee[2] < 0.07
    # r^-3 wings: 1 - EE(h) ~ c/h, so EE -> 1 as h -> infinity.
    far = 1.0 - encircled_energy_square_mean([10, 20, 40], PAN)
    assert np.all(np.diff(far) < 0)
    assert far[2] * 40 == pytest.approx(far[1] * 20, rel=0.15)
    assert far[2] < 0.007


def test_ee_argument_checks() -> None:
    with pytest.raises(PsfParameterError):
        encircled_energy_square([2], PAN, 1.0, (0.7, 0.0))
    with pytest.raises(PsfParameterError):
        encircled_energy_square_mean([-1], PAN)
    with pytest.raises(PsfParameterError):
        render_star((8, 8), (4, 4), PAN, oversamp=0.5)
