"""The campaign simulator with true star spectra drawn from a spectral library (star_spectra="library").

Truth recomputed here independently of the simulator's arithmetic: each STAR file's truth names
its template and perturbation; this test rebuilds the spectrum from the library file, applies
its own Legendre perturbation, its own trapezoid band averages and the CALSPEC Vega V zero point,
and compares with the E_k the simulator used. Catches: a wrong template or perturbation, a
wrong V scaling or zero point, a wrong RSR, E_k still from REF-1. Cannot catch: an error shared
with the library reader (the spectra are read by monitor.io.star_library in both). The default
(REF-1) output is pinned byte for byte by tests/simulate/test_campaign.py.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from monitor.domain import Mission
from monitor.io.reference_data import load_johnson_v, load_star_catalogue, load_vega_spectrum
from monitor.io.star_library import load_band_response, load_star_library
from monitor.science.instrument import pixscale_urad
from monitor.science.star_reference import star_band_irradiance_w_m2_um
from monitor.simulate.campaign import simulate_campaigns
from monitor.simulate.star_spectra import TRUE_NEIGHBOURS, draw_true_spectra
from monitor.simulate.truth import SimulationTruth
from tests.reference_dirs import SHARED_REFERENCE

SHARED = SHARED_REFERENCE or Path("/nonexistent/shared/reference")
LIBRARY = SHARED / "pickles"
RSR_MEASURED = SHARED / "rsr_measured"
START = datetime(2025, 1, 1, tzinfo=UTC)
KW = dict(start=START, months=1, seed=5, satellites=("PHR1A",), stars_per_campaign=4, geom_per_month=0,
          bad_files=False)

pytestmark = pytest.mark.skipif(not LIBRARY.is_dir(), reason="site REF-2 inputs (Pickles library) not installed here")


@pytest.fixture(scope="module")
def lib_truth(tmp_path_factory: pytest.TempPathFactory) -> SimulationTruth:
    return simulate_campaigns(tmp_path_factory.mktemp("lib"), star_spectra="library",  # type: ignore[arg-type]
                              star_library=LIBRARY, star_rsr_dir=RSR_MEASURED, **KW)


def _trapz_average(lam: np.ndarray, f: np.ndarray, blam: np.ndarray, weight: np.ndarray) -> float:
    fi = np.interp(blam, lam, f)
    return float(np.trapezoid(fi * weight, blam) / np.trapezoid(weight, blam))


def test_library_truth_e_k_rebuilt_independently(lib_truth: SimulationTruth) -> None:
    lib = load_star_library(LIBRARY)
    cat = load_star_catalogue()
    vega, vband = load_vega_spectrum(), load_johnson_v()
    zp = _trapz_average(vega.wavelength_nm, vega.values, vband.wavelength_nm, vband.wavelength_nm * vband.values)
    x = np.clip((lib.wavelength_nm - 700.0) / 300.0, -1.0, 1.0)
    stars = [f for f in lib_truth.files if f.type == "STAR"]
    assert len(stars) == 4 and lib_truth.reference_model == f"library {lib.checksum[:16]}"
    n_checked = 0
    for f in stars:
        rec = f.extra["star_spectrum"]
        assert rec["template"] != rec["ref2_template"]
        c1, c2 = rec["legendre_c1_c2"]
        assert 0.0 < np.hypot(c1, c2) < 0.08
        t = lib.flux[lib.files.index(rec["template"])] * (1.0 + c1 * x + c2 * (1.5 * x**2 - 0.5))
        v = float(cat.v_mag[cat.index_of(int(f.target.split()[1]))])
        scale = zp * 10.0 ** (-0.4 * (v - 0.03)) / _trapz_average(
            lib.wavelength_nm, t, vband.wavelength_nm, vband.wavelength_nm * vband.values)
        ratios = []
        for band, bt in f.bands.items():
            rsr = load_band_response("PHR1A", band, RSR_MEASURED).spectrum
            assert rsr is not None and bt.e_k is not None
            want = scale * _trapz_average(lib.wavelength_nm, t, rsr.wavelength_nm, rsr.values)
            assert bt.e_k == pytest.approx(want, rel=1e-9), (f.file, band)
            # the signal follows the true E_k: S = o G A E / Omega_pix (ICD 1.3)
            assert bt.s_true_dn is not None and bt.gain_factor is not None and bt.a_true is not None
            omega = (pixscale_urad(Mission.PHR, band) * 1e-6) ** 2
            assert bt.s_true_dn == pytest.approx(f.oversamp * bt.gain_factor * bt.a_true * bt.e_k / omega, rel=1e-12)
            e_ref1 = float(star_band_irradiance_w_m2_um(v, float(cat.b_v[cat.index_of(int(f.target.split()[1]))]),
                                                        rsr.wavelength_nm, rsr.values, vband.wavelength_nm,
                                                        vband.values))
            ratios.append(bt.e_k / e_ref1)
            n_checked += 1
        # not REF-1: a real spectrum departs from the black body by percents in some band
        assert np.max(np.abs(np.array(ratios) - 1.0)) > 0.01, ratios
    assert n_checked == 20


def test_true_spectra_draw_is_the_benchmarks() -> None:
    # benchmarks/star_ref2.py draws its truth with the same function; here its rules: never the REF-2
    # nearest template, always one of the TRUE_NEIGHBOURS next ones, reproducible, NaN V-I on B-V alone
    lib = load_star_library(LIBRARY)
    bv, vi = np.array([0.0, 0.65, 1.1, 0.4]), np.array([0.0, 0.70, 1.1, np.nan])
    a = draw_true_spectra(np.random.default_rng(3), lib, bv, vi)
    b = draw_true_spectra(np.random.default_rng(3), lib, bv, vi)
    assert np.array_equal(a.flux, b.flux) and np.array_equal(a.template, b.template)
    assert np.all(a.template != a.ref2_template)
    dvi = np.where(np.isfinite(vi)[:, None], vi[:, None] - lib.v_i[None, :], 0.0)
    d = np.hypot(bv[:, None] - lib.b_v[None, :], dvi)
    for i in range(bv.size):
        rank = int(np.sum(d[i] < d[i, a.template[i]]))  # templates strictly nearer than the true one
        assert 1 <= rank <= TRUE_NEIGHBOURS + 3, rank  # the REF-2 one, plus a few other-class ones at most
    assert np.all(np.isfinite(a.flux)) and np.all(a.flux >= 0.0)  # the library is 0 beyond its coverage


def test_library_option_is_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="star_library"):
        simulate_campaigns(tmp_path, star_spectra="library", **KW)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="star_spectra"):
        simulate_campaigns(tmp_path, star_spectra="pickles", **KW)  # type: ignore[arg-type]


def test_library_mode_injects_variable_stars_on_request(tmp_path: Path) -> None:
    # Truth recomputed here: the E_k of a variable star's file is its constant E_k (the same
    # campaign without variables: same draws) times 1 + A sin(2 pi t / P + phi) with the recorded
    # amplitude, period and phase, t from 2000-01-01T12:00 UTC. Catches: variables not applied, a
    # wrong phase origin or unit, the other draws disturbed by the variables' generator.
    kw = {**KW, "stars_per_campaign": 6}
    const = simulate_campaigns(tmp_path / "c", star_spectra="library",  # type: ignore[arg-type]
                               star_library=LIBRARY, star_rsr_dir=RSR_MEASURED, **kw)
    var = simulate_campaigns(tmp_path / "v", star_spectra="library",  # type: ignore[arg-type]
                             star_library=LIBRARY, star_rsr_dir=RSR_MEASURED, star_variable_fraction=0.5, **kw)
    c_stars = [f for f in const.files if f.type == "STAR"]
    v_stars = [f for f in var.files if f.type == "STAR"]
    assert [f.target for f in c_stars] == [f.target for f in v_stars]
    n_var = 0
    for fc, fv in zip(c_stars, v_stars, strict=True):
        rec = fv.extra["star_spectrum"]
        info = rec.get("variable")
        assert rec["template"] == fc.extra["star_spectrum"]["template"]
        factor = 1.0
        if info is not None:
            n_var += 1
            assert 0.015 <= info["amplitude_rel"] <= 0.05 and 20.0 <= info["period_days"] <= 400.0
            assert fv.epoch is not None
            t_days = (fv.epoch - datetime(2000, 1, 1, 12, tzinfo=UTC)).total_seconds() / 86400.0
            factor = 1.0 + info["amplitude_rel"] * np.sin(2 * np.pi * t_days / info["period_days"] + info["phase_rad"])
        for band, bt in fv.bands.items():
            assert bt.e_k == pytest.approx(fc.bands[band].e_k * factor, rel=1e-12)
    assert n_var >= 1
