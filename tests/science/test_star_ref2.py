"""REF-2 star model (ICD 2.2b) against truth that does not share it: the CALSPEC spectra of Vega and
of the Sun folded through the measured PHR1A/PHR1B responses, compared with the Pickles template
the rule chooses for their colours and scales to their V.

The library and measured RSRs are the site-installed copies in the steering repository's
shared/reference (never copied into the package)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from monitor.io.reference_data import (
    load_cousins_i,
    load_johnson_b,
    load_johnson_v,
    load_solar_spectrum,
    load_star_catalogue,
    load_vega_spectrum,
)
from monitor.io.star_library import load_band_response, load_star_library
from monitor.science.spectral import band_average
from monitor.science.star_ref2 import (
    VEGA_V_MAG,
    choose_templates,
    is_ref2_calibration_star,
    photon_average,
    ref2_band_irradiance_w_m2_um,
    synthetic_colours,
    template_band_ratios,
    template_weights,
)
from monitor.science.star_reference import star_band_irradiance_w_m2_um
from tests.reference_dirs import SHARED_REFERENCE

SHARED = SHARED_REFERENCE or Path("/nonexistent/shared/reference")
LIBRARY = SHARED / "pickles"
RSR_MEASURED = SHARED / "rsr_measured"
BANDS = ("P", "B0", "B1", "B2", "B3")

pytestmark = pytest.mark.skipif(not LIBRARY.is_dir(), reason="site REF-2 inputs not installed here")

# The Sun's apparent V on the Vega system: -26.76 (Willmer 2018, ApJS 236, 47, Table 3); its B-V
# 0.65 and V-I 0.70 (Ramirez et al. 2012, ApJ 752, 5). Independent of the library and of CALSPEC.
SUN_V_MAG, SUN_B_V, SUN_V_I = -26.76, 0.65, 0.70


def _passbands() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    b, v, i = load_johnson_b(), load_johnson_v(), load_cousins_i()
    return {"B": (b.wavelength_nm, b.values), "V": (v.wavelength_nm, v.values), "I": (i.wavelength_nm, i.values)}


def _ref2_vs_truth(spectrum, v_mag: float, b_v: float, v_i: float, sat: str,
                   blend: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Relative errors (REF-2, REF-1) of E_k per band against the band average of the true spectrum.

    REF-2 with the nearest template (ICD 2.2b item 2) or, ``blend``, the template blend the pipeline uses."""
    lib = load_star_library(LIBRARY)
    vega, vband = load_vega_spectrum(), load_johnson_v()
    zp = float(photon_average(vega.wavelength_nm, vega.values, vband.wavelength_nm, vband.values))
    idx, _ = choose_templates([b_v], [v_i], lib.b_v, lib.v_i, lib.lum_class)
    w = template_weights([b_v], [v_i], lib.b_v, lib.v_i, lib.lum_class) if blend else None
    err2, err1 = [], []
    for band in BANDS:
        rsr = load_band_response(sat, band, RSR_MEASURED).spectrum
        ratios = template_band_ratios(lib.wavelength_nm, lib.flux, rsr.wavelength_nm, rsr.values,
                                      vband.wavelength_nm, vband.values)
        truth = band_average(spectrum.wavelength_nm, spectrum.values, rsr.wavelength_nm, rsr.values)
        e2 = ref2_band_irradiance_w_m2_um([v_mag], idx, ratios, zp, template_weights=w)[0]
        e1 = float(star_band_irradiance_w_m2_um(v_mag, b_v, rsr.wavelength_nm, rsr.values,
                                                vband.wavelength_nm, vband.values))
        err2.append(e2 / truth - 1.0)
        err1.append(e1 / truth - 1.0)
    return np.array(err2), np.array(err1)


@pytest.mark.parametrize("sat", ["PHR1A", "PHR1B"])
def test_vega_band_irradiance_within_2_5_percent_and_far_better_than_ref1(sat: str) -> None:
    # measured here: REF-2 +0.9/+0.6/-0.2/+2.1/+0.4 % (PHR1A), REF-1 +5/-11/-2/+11/+19 %
    err2, err1 = _ref2_vs_truth(load_vega_spectrum(), VEGA_V_MAG, 0.0, 0.0, sat)
    assert np.all(np.abs(err2) < 0.025), err2
    assert np.sqrt(np.mean(err2**2)) < 0.3 * np.sqrt(np.mean(err1**2))


@pytest.mark.parametrize("sat", ["PHR1A", "PHR1B"])
def test_sun_band_irradiance_from_its_literature_v_and_colours(sat: str) -> None:
    # An independent truth for the zero point too: the Sun's V is from the literature, not CALSPEC.
    # measured here: REF-2 -0.4/+4.7/+1.4/-2.4/-1.8 % (PHR1A, template G0 IV): the mean over bands
    # is the zero-point check (< 1 %), the spread is template mismatch (B0 worst, < 5 %).
    err2, _ = _ref2_vs_truth(load_solar_spectrum(), SUN_V_MAG, SUN_B_V, SUN_V_I, sat)
    assert np.all(np.abs(err2) < 0.05), err2
    assert abs(float(np.mean(err2))) < 0.01


@pytest.mark.parametrize("sat", ["PHR1A", "PHR1B"])
def test_template_blend_on_vega_and_the_sun(sat: str) -> None:
    # The blend (what the pipeline uses) on the two CALSPEC truths. Measured here, PHR1A (PHR1B
    # within 0.4 %): Vega +1.0/+1.0/-0.1/+1.3/+2.2 % (nearest: +0.9/+0.6/-0.2/+2.1/+0.4), the Sun
    # +1.1/+3.4/+1.4/-0.8/+2.7 % (nearest: -0.4/+4.7/+1.4/-2.4/-1.8), i.e. rms 2.1 % against 2.6 %,
    # but a band mean of +1.6 % against +0.3 %: one star is one draw of the template scatter, the
    # star-list benchmark (benchmarks/star_ref2.py) is where the mean is judged.
    err_vega, err1 = _ref2_vs_truth(load_vega_spectrum(), VEGA_V_MAG, 0.0, 0.0, sat, blend=True)
    err_sun, _ = _ref2_vs_truth(load_solar_spectrum(), SUN_V_MAG, SUN_B_V, SUN_V_I, sat, blend=True)
    near_sun, _ = _ref2_vs_truth(load_solar_spectrum(), SUN_V_MAG, SUN_B_V, SUN_V_I, sat)
    assert np.all(np.abs(err_vega) < 0.025), err_vega
    assert np.sqrt(np.mean(err_vega**2)) < 0.3 * np.sqrt(np.mean(err1**2))
    assert np.all(np.abs(err_sun) < 0.05), err_sun
    assert np.sqrt(np.mean(err_sun**2)) < np.sqrt(np.mean(near_sun**2))
    assert abs(float(np.mean(err_sun))) < 0.02


def test_template_blend_beats_the_nearest_template_leave_one_out() -> None:
    # Truth not shared with the estimator: each class III-V template of the REF-2 colour window in
    # turn is the "star" and is removed from the library; its band ratio <T>_k/<T>_V is then
    # estimated from the others, by the nearest template and by the blend. Catches a blend that
    # smooths too much (mixing templates of other colours) or too little; cannot catch a bias common
    # to the whole library. Measured (PHR1A measured RSRs, 61 templates), rms nearest -> blend:
    # P 3.24 -> 2.94 %, B0 4.19 -> 3.67, B1 0.59 -> 0.55, B2 5.45 -> 4.83, B3 4.91 -> 4.48.
    lib = load_star_library(LIBRARY)
    vband = load_johnson_v()
    cls = np.array([c.upper() for c in lib.lum_class])
    truths = np.flatnonzero(np.isin(cls, ["III", "IV", "V"]) & (lib.b_v >= -0.25) & (lib.b_v <= 1.30))
    assert truths.size > 50
    n = lib.b_v.size
    for band in BANDS:
        rsr = load_band_response("PHR1A", band, RSR_MEASURED).spectrum
        r = template_band_ratios(lib.wavelength_nm, lib.flux, rsr.wavelength_nm, rsr.values,
                                 vband.wavelength_nm, vband.values)
        err_near, err_blend = [], []
        for t in truths:  # 61 small problems; each is vectorised over the library
            keep = np.arange(n) != t
            others = [c for c, k in zip(lib.lum_class, keep, strict=True) if k]
            idx, _ = choose_templates([lib.b_v[t]], [lib.v_i[t]], lib.b_v[keep], lib.v_i[keep], others)
            w = template_weights([lib.b_v[t]], [lib.v_i[t]], lib.b_v[keep], lib.v_i[keep], others)
            err_near.append(r[t] / r[keep][idx[0]] - 1.0)
            err_blend.append(r[t] / float((w @ r[keep])[0]) - 1.0)
        rms_near, rms_blend = np.sqrt(np.mean(np.square(err_near))), np.sqrt(np.mean(np.square(err_blend)))
        assert rms_blend < 0.95 * rms_near, (band, rms_near, rms_blend)


def test_template_weights_rows_and_fallback() -> None:
    w = template_weights([0.1, np.nan, 5.0], [0.1, 0.0, 5.0], [0.0, 0.2, 0.1], [0.1, 0.1, 0.1], ["V", "III", "I"])
    assert np.allclose(w.sum(axis=1), [1.0, 0.0, 1.0])
    assert w[0, 2] == 0.0  # class I never enters
    # a star 7 mag from every template (exp(-d^2/2h^2) underflows) still falls back on its nearest
    assert np.allclose(w[2], [0.0, 1.0, 0.0], rtol=0.0, atol=1e-30)
    e = ref2_band_irradiance_w_m2_um([0.03, 0.03], [0, -1], [2.0, 4.0, 8.0], 1.0, template_weights=w[:2])
    assert e[0] == pytest.approx(3.0) and np.isnan(e[1])


def test_zero_point_is_photon_counting_vega_v_average() -> None:
    vega, vband = load_vega_spectrum(), load_johnson_v()
    photon = float(photon_average(vega.wavelength_nm, vega.values, vband.wavelength_nm, vband.values))
    energy = float(band_average(vega.wavelength_nm, vega.values, vband.wavelength_nm, vband.values))
    # ICD 2.2 REF-1 F_V0 = 3.631e-8 is the AB-like photon-weighted zero point used with an energy
    # average; the CALSPEC photon average is 3.594e-8 (1 % lower), the energy one 3.638e-8.
    assert photon == pytest.approx(3.594e-8, rel=1e-3)
    assert energy / photon - 1.0 == pytest.approx(0.0122, abs=0.001)


def test_library_index_colours_are_reproduced_from_the_spectra() -> None:
    # index.csv was computed elsewhere (the steering repository's tool); recomputing its colours
    # from the spectra with this module's photon averages checks both.
    lib = load_star_library(LIBRARY)
    vega = load_vega_spectrum()
    b_v, v_i = synthetic_colours(lib.wavelength_nm, lib.flux, _passbands(), vega.wavelength_nm, vega.values)
    assert np.max(np.abs(b_v - lib.b_v)) < 2e-4
    assert np.max(np.abs(v_i - lib.v_i)) < 2e-4
    # CALSPEC Sun through the same filters: B-V 0.646, V-I 0.729 (reference/README.md)
    sun = load_solar_spectrum()
    sbv, svi = synthetic_colours(sun.wavelength_nm, sun.values, _passbands(), vega.wavelength_nm, vega.values)
    assert float(sbv) == pytest.approx(0.646, abs=0.002) and float(svi) == pytest.approx(0.729, abs=0.002)


def test_template_rule_classes_and_ties() -> None:
    # a supergiant at distance 0 loses to a class V template further away; exact tie -> class V
    idx, d = choose_templates([0.30, 0.10], [0.30, 0.10], [0.30, 0.32, 0.0, 0.10, 0.10],
                              [0.30, 0.32, 0.0, 0.10, 0.10], ["I", "V", "V", "III", "V"])
    assert idx.tolist() == [1, 4]
    assert d[0] == pytest.approx(np.hypot(0.02, 0.02))
    nan_idx, nan_d = choose_templates([np.nan], [0.1], [0.0], [0.0], ["V"])
    assert nan_idx.tolist() == [-1] and np.isnan(nan_d[0])
    with pytest.raises(ValueError):
        choose_templates([0.0], [0.0], [0.0], [0.0], ["I"])


def test_ref2_irradiance_scales_as_pogson() -> None:
    e = ref2_band_irradiance_w_m2_um([1.03, 6.03], [0, 0], [2.0], 3.6e-8)
    assert e[0] == pytest.approx(2.0 * 3.6e-8 * 10 ** (-0.4), rel=1e-12)
    assert e[0] / e[1] == pytest.approx(100.0, rel=1e-12)


def test_calibration_selection_on_the_shipped_list() -> None:
    cat = load_star_catalogue()
    assert cat.hp_scatter_mag is not None and cat.var_flag is not None and cat.v_i is not None
    ok = is_ref2_calibration_star(cat.v_mag, cat.b_v, cat.hp_scatter_mag, cat.var_flag)
    # every selected star obeys every rule, and no star obeying all of them is left out
    want = ((cat.v_mag >= 1) & (cat.v_mag <= 6) & (cat.b_v >= -0.25) & (cat.b_v <= 1.30)
            & (cat.hp_scatter_mag <= 0.01) & (cat.var_flag == 0))
    assert np.array_equal(ok, want)
    assert 1000 < int(ok.sum()) < int((cat.v_mag >= 1).sum())
    # HIP 107 is listed in the variability annex (var_flag 2): measured, never calibrating
    i = cat.index_of(107)
    assert cat.var_flag[i] == 2 and not ok[i]
