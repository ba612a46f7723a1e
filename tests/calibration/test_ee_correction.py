"""The encircled-energy correction makes the star calibration independent of the window (issue 5).

One simulated starpool per band: the photometry of every star (the production ``measure_star``),
the joint PSF fit started from the nominal design PSF (not the truth), and the effective EE of
every window at each star's fitted centre (``monitor.science.ee_correction.effective_encircled_energy``,
the function the pipeline uses). The EE-corrected signal ``S_w / EE_eff(w)`` divided by the true
total signal must be 1 for every window: windows 3 and 12 agree within 0.2 %.

Without the correction the same windows differ by 1.7 to 6 % (light outside the window, the
diffraction wings falling as r^-3), which the test also checks, so it would fail if the EE were
wrong by more than a fraction of that.
"""

from __future__ import annotations

import numpy as np
import pytest

from monitor.domain import BandHeader
from monitor.science.ee_correction import effective_encircled_energy
from monitor.science.instrument import nominal_psf_params
from monitor.science.mtf_fit import fit_starpool_psf
from monitor.science.photometry import measure_star
from monitor.science.starpool import combine_starpool
from monitor.simulate.star import default_psf_params, default_vignette_shape, simulate_star_vignette

HALF_WIDTHS = (2, 3, 5, 8, 12)  # h = 20 does not fit the 32-px MS vignettes
DARK_DN = 200.0
# A noisier detector than the nominal one (monitor.science.instrument: READ_NOISE_DN 1.5 DN, 20 e-/DN).
GAIN_E_PER_DN = 2.0
READ_NOISE_DN = 5.0


@pytest.mark.slow
@pytest.mark.parametrize(("band", "n_stars", "signal_scale_dn", "seed"), [("P", 60, 1e6, 21), ("B3", 60, 5e5, 22)])
def test_window_3_and_12_agree_after_ee_correction(band: str, n_stars: int, signal_scale_dn: float,
                                                    seed: int) -> None:
    rng = np.random.default_rng(seed)
    nominal = nominal_psf_params("PHR", band)
    truth = default_psf_params("PHR", band)  # blur differs from the nominal start
    vignettes, oversamps, centroids, sums, sigmas, signals, shapes = [], [], [], [], [], [], []
    for _ in range(n_stars):
        o = float(rng.integers(1, 5))
        shape = default_vignette_shape("PHR", band, o)
        signal = signal_scale_dn * 10 ** (-0.4 * (rng.uniform(2.0, 5.5) - 2.0)) * o  # V 2 to 5.5
        center = ((shape[1] - 1) / 2 + rng.uniform(-1.5, 1.5), (shape[0] - 1) / 2 + rng.uniform(-1.5, 1.5) * o)
        img = simulate_star_vignette(
            rng, total_signal_dn=signal, shape=shape, center_xy=center, oversamp=o, psf=truth, dark_dn=DARK_DN,
            gain_e_per_dn=GAIN_E_PER_DN, read_noise_dn=READ_NOISE_DN, background_dn=20.0,
            background_slope=(0.1, -0.05 / o),  # plane >= 20 - 3.2 - 1.6 DN: never negative
        )
        hdr = BandHeader(band=band, shape=shape, dark_dn=DARK_DN, gain_factor=1.0, oversamp=o, binning=1,
                         pixscale_urad=1.0, lineper_ms=0.1, saturate_dn=1e9, star_x=center[0] + 0.7,
                         star_y=center[1] - 0.5)
        phot = measure_star(img, hdr, HALF_WIDTHS, gain_e_per_dn=GAIN_E_PER_DN)
        assert not (phot.truncated.any() or phot.nan_in_window.any())
        vignettes.append(img.astype(np.float64) - DARK_DN)
        oversamps.append(o)
        centroids.append((phot.centroid_x, phot.centroid_y))
        sums.append(phot.sums_dn)
        sigmas.append(phot.sigmas_dn)
        signals.append(signal)
        shapes.append(shape)
    fit = fit_starpool_psf(vignettes, oversamps, nominal, read_noise_dn=READ_NOISE_DN, gain_e_per_dn=GAIN_E_PER_DN,
                           centers_xy=np.array(centroids), ee_half_widths_px=list(HALF_WIDTHS))
    ee = np.array([
        effective_encircled_energy(fit.params, shapes[k], (float(fit.centers_xy[k][0]), float(fit.centers_xy[k][1])),
                                   oversamps[k], list(HALF_WIDTHS))
        for k in range(n_stars)
    ])
    s = np.array(sums) / np.array(signals)[:, None]  # S_w / S_true
    sig = np.array(sigmas) / np.array(signals)[:, None]
    ids = list(range(n_stars))

    def pooled(values: np.ndarray, errors: np.ndarray, h: int) -> tuple[float, float]:
        j = HALF_WIDTHS.index(h)
        est = combine_starpool(values[:, j], errors[:, j], ids)
        return est.a, est.a_sigma

    raw3, _ = pooled(s, sig, 3)
    raw12, _ = pooled(s, sig, 12)
    c3, c3_sig = pooled(s / ee, sig / ee, 3)
    c12, c12_sig = pooled(s / ee, sig / ee, 12)
    # The correction matters: the raw windows differ by 1.7 % (B3) to 6 % (PAN), measured.
    assert raw12 / raw3 - 1.0 > 0.01, (raw3, raw12)
    # Corrected: both windows on the truth (ratio 1), within 3 sigma of the pooled estimate ...
    assert abs(c3 - 1.0) <= 3 * c3_sig, (c3, c3_sig)
    assert abs(c12 - 1.0) <= 3 * c12_sig, (c12, c12_sig)
    # ... and, the criterion, windows 3 and 12 agree within 0.2 %. Measured: see the
    # closing note of issue 5 (PAN and B3 within 0.1 % with these seeds).
    assert abs(c12 / c3 - 1.0) < 0.002, (c3, c12)
    assert max(c3_sig, c12_sig) < 0.001  # the test can see a 0.2 % difference
