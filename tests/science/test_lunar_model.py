"""REF-1 lunar model (ICD 2.3) pinned against shared/notes/lunar_reference_values.md §1-§3."""

from __future__ import annotations

import math

import numpy as np
import pytest

from monitor.domain import Mission
from monitor.io.reference_data import load_rolo_coefficients, load_rsr, load_solar_spectrum
from monitor.science.constants import AU_KM, MOON_MEAN_DISTANCE_KM
from monitor.science.lunar_model import (
    lunar_band_irradiance,
    lunar_irradiance,
    lunar_spectral_irradiance,
    rolo_ln_reflectance_eq10,
    rolo_reflectance,
)

# §1: lime_tbx test_elref.py fixture (CIMEL wavelengths 440, 500, 675, 870, 1020, 1640 nm).
LIME_COEF = np.array([
    [-2.263172432, -2.150477824, -1.914524626, -1.816469623, -1.7527936, -1.474382296],  # a0
    [-1.953409783, -1.828162868, -1.722984816, -1.590599221, -1.505016569, -1.217779712],  # a1
    [0.691585146, 0.596750118, 0.562314803, 0.465802547, 0.401689482, 0.189072862],  # a2
    [-0.301894577, -0.279326293, -0.276204745, -0.248147989, -0.229885748, -0.168372041],  # a3
    [0.052456211, 0.050077725, 0.047094444, 0.04682259, 0.052411689, 0.047554853],  # b1
    [0.008714468, 0.010694765, 0.01221205, 0.018782172, 0.021768424, 0.01199895],  # b2
    [-0.004148856, -0.003817844, -0.004842774, -0.007000712, -0.008638112, -0.004867793],  # b3
    [-0.000358287, -0.00041451, -0.000426178, -0.000374185, -0.000449685, -0.000489541],  # c1
    [0.001216634, 0.0011167, 0.001112617, 0.001153363, 0.0010443, 0.000944675],  # c2
    [0.000732067, 0.000944686, 0.000936428, 0.000894613, 0.000837371, 0.001093331],  # c3
    [0.001610105, 0.001779578, 0.00171038, 0.001881709, 0.001817379, 0.001732148],  # c4
    [-0.092938476, 12.966528574, 9.886489331, 10.4781322, 11.936277597, 14.326729557],  # d1
    [2.000625563, -12.421979227, -9.752388729, -10.363729899, -11.815427729, -14.410231212],  # d2
    [-0.005710425, -0.002729971, -0.005938836, -0.003423694, -0.002552853, 3.484e-06],  # d3
]).T  # fmt: skip
LIME_P = np.array([1.354459689, 1.314673623, 9.324088764, 9.596769204])
LIME_EXPECTED_A = np.array([
    0.030732903677862477, 0.03648929661334069, 0.0492340672567728,
    0.05826947690460127, 0.0642498981188091, 0.09576452090114816,
])  # fmt: skip
LIME_WEHRLI = np.array([1.771, 1.9155, 1.512, 0.97635, 0.7122, 0.23555])
LIME_EXPECTED_E = np.array([
    1.0268298152854062e-06, 1.3186330679696958e-06, 1.4044096994475665e-06,
    1.0733045351503149e-06, 8.6327810688338977e-07, 4.2556319749134344e-07,
])  # fmt: skip


def _lime_ln_a(c: np.ndarray) -> np.ndarray:
    # MoonData(1, 400000, 1, 40, 30, 50, 50): Phi = 1.0 rad, lat 40 deg, lon 30 deg, g = 50 deg
    return rolo_ln_reflectance_eq10(
        50.0, math.degrees(1.0), 40.0, 30.0,
        a=LIME_COEF[:, 0:4], b=LIME_COEF[:, 4:7], c=c, d=LIME_COEF[:, 11:14], p=LIME_P,
    )  # fmt: skip


def test_lime_tbx_formula_exact() -> None:
    """§1: the Eq.-10 form, units and K&S c-ordering reproduce lime_tbx to 1e-12."""
    a = np.exp(_lime_ln_a(LIME_COEF[:, 7:11]))
    np.testing.assert_allclose(a, LIME_EXPECTED_A, rtol=1e-12)


def test_lime_tbx_swapped_c_order_is_off() -> None:
    swapped = LIME_COEF[:, [8, 7, 10, 9]]  # RIMO pairing c1*lon + c2*lat ...
    ratio = np.exp(_lime_ln_a(swapped)) / LIME_EXPECTED_A
    assert np.all(np.abs(ratio - 1.0) > 0.02)


def test_lime_tbx_irradiance_exact() -> None:
    """§1 irradiance step (lime_tbx test_eli.py): d_SM = 1 AU, d_OM = 400 000 km."""
    e = lunar_irradiance(LIME_EXPECTED_A, LIME_WEHRLI, AU_KM, 400_000.0)
    np.testing.assert_allclose(e, LIME_EXPECTED_E, rtol=1e-12)


# §2: REF-1 reflectance (two independent implementations agree to 1e-7; printed to 7 digits)
CASES_2 = {
    "A": ((30, 30, 2, -3), [4.270996e-02, 5.477406e-02, 7.036513e-02, 8.160471e-02, 1.207454e-01]),
    "B": ((60, -60, -5, 5), [1.828318e-02, 2.390035e-02, 3.115061e-02, 3.675865e-02, 5.634068e-02]),
    "C": ((7, 7, 0, 0), [8.089627e-02, 9.869857e-02, 1.233574e-01, 1.387831e-01, 1.905979e-01]),
    "D": ((45, 45, 0, 0), [2.938269e-02, 3.838448e-02, 4.989238e-02, 5.853447e-02, 8.870859e-02]),
    "E": ((45, -45, 0, 0), [2.767894e-02, 3.574988e-02, 4.621562e-02, 5.417510e-02, 8.158174e-02]),
}
CASE_A_32 = [
    3.122667e-02, 2.995116e-02, 4.252774e-02, 4.270996e-02, 3.986295e-02, 4.337887e-02, 4.459795e-02,
    4.726335e-02, 4.836366e-02, 5.375841e-02, 5.597463e-02, 5.477406e-02, 7.036513e-02, 6.900584e-02,
    6.887521e-02, 7.245689e-02, 7.328673e-02, 7.740807e-02, 8.160471e-02, 7.997794e-02, 8.188332e-02,
    8.110419e-02, 7.642037e-02, 7.937395e-02, 9.228706e-02, 1.002617e-01, 1.207454e-01, 1.234746e-01,
    1.368814e-01, 1.401484e-01, 1.802810e-01, 1.756876e-01,
]  # fmt: skip


@pytest.mark.parametrize("case", sorted(CASES_2))
def test_ref1_reflectance_cases(case: str) -> None:
    coeffs = load_rolo_coefficients()
    (g, phi, lat, lon), expected = CASES_2[case]
    a = rolo_reflectance(g, phi, lat, lon, coeffs)
    assert a.shape == (32,)
    idx = [int(np.argmin(np.abs(coeffs.wavelength_nm - w))) for w in (412.3, 553.8, 665.1, 865.3, 1538.7)]
    np.testing.assert_allclose(a[idx], expected, rtol=1e-6)


def test_ref1_reflectance_case_a_all_wavelengths_and_symmetry() -> None:
    coeffs = load_rolo_coefficients()
    a = rolo_reflectance(30.0, 30.0, 2.0, -3.0, coeffs)
    np.testing.assert_allclose(a, CASE_A_32, rtol=1e-6)
    # the model uses |g|: the signed phase angle gives the same reflectance
    np.testing.assert_array_equal(rolo_reflectance(-30.0, 30.0, 2.0, -3.0, coeffs), a)
    # waxing/waning ratio D/E at 553.8 nm (§2 checks)
    i = int(np.argmin(np.abs(coeffs.wavelength_nm - 553.8)))
    ratio = rolo_reflectance(45, 45, 0, 0, coeffs)[i] / rolo_reflectance(45, -45, 0, 0, coeffs)[i]
    assert ratio == pytest.approx(1.0737, abs=1e-4)
    # broadcasting over geometry
    grid = rolo_reflectance(np.array([30.0, 60.0]), np.array([30.0, -60.0]), np.array([2.0, -5.0]),
                            np.array([-3.0, 5.0]), coeffs)  # fmt: skip
    assert grid.shape == (2, 32)
    np.testing.assert_allclose(grid[0], a, rtol=1e-15)


# §3: band irradiance, W m^-2 um^-1, d_SM = 1 AU, d_OM = 384 400 km
CASES_3 = [(7, 5, 1, -2), (30, -25, -3, 4), (60, 50, 5, -6)]
EXPECTED_3 = {
    Mission.PNEO: (("P", "DB", "B", "G", "R", "RE", "NIR"), [
        [3.607036e-03, 2.809686e-03, 3.516470e-03, 3.817473e-03, 3.853680e-03, 3.356377e-03, 2.972754e-03],
        [1.924079e-03, 1.422032e-03, 1.812866e-03, 2.012530e-03, 2.073242e-03, 1.833425e-03, 1.643950e-03],
        [9.991771e-04, 7.062427e-04, 9.192079e-04, 1.031471e-03, 1.083888e-03, 9.666235e-04, 8.781053e-04],
    ]),
    Mission.PHR: (("P", "B0", "B1", "B2", "B3"), [
        [3.571565e-03, 3.470207e-03, 3.788091e-03, 3.814516e-03, 2.854046e-03],
        [1.914255e-03, 1.793197e-03, 1.996478e-03, 2.049967e-03, 1.578427e-03],
        [9.975335e-04, 9.091167e-04, 1.024452e-03, 1.070143e-03, 8.455057e-04],
    ]),
}  # fmt: skip


@pytest.mark.parametrize("mission", [Mission.PNEO, Mission.PHR])
def test_ref1_band_irradiance(mission: Mission) -> None:
    coeffs = load_rolo_coefficients()
    sun = load_solar_spectrum()
    bands, table = EXPECTED_3[mission]
    for (g, phi, lat, lon), row in zip(CASES_3, table, strict=True):
        for band, expected in zip(bands, row, strict=True):
            rsr = load_rsr(mission, band)
            e = lunar_band_irradiance(
                g, phi, lat, lon, AU_KM, MOON_MEAN_DISTANCE_KM,
                coeffs=coeffs, rsr_wavelength_nm=rsr.wavelength_nm, rsr=rsr.values,
                solar_wavelength_nm=sun.wavelength_nm, solar_irradiance_w_m2_um=sun.values,
            )  # fmt: skip
            assert e == pytest.approx(expected, rel=1e-5), (mission, band, g)


def test_distance_scaling_and_interpolation_ends() -> None:
    coeffs = load_rolo_coefficients()
    sun = load_solar_spectrum()
    lam = np.array([300.0, 350.0, 2383.6, 2400.0])
    kw = {"coeffs": coeffs, "solar_wavelength_nm": sun.wavelength_nm, "solar_irradiance_w_m2_um": sun.values}
    e1 = lunar_spectral_irradiance(lam, 30, 30, 2, -3, AU_KM, MOON_MEAN_DISTANCE_KM, **kw)  # type: ignore[arg-type]
    e2 = lunar_spectral_irradiance(lam, 30, 30, 2, -3, 0.99 * AU_KM, 370_000.0, **kw)  # type: ignore[arg-type]
    np.testing.assert_allclose(e2 / e1, (1 / 0.99) ** 2 * (MOON_MEAN_DISTANCE_KM / 370_000.0) ** 2, rtol=1e-12)
    # A held constant beyond the end wavelengths
    a = rolo_reflectance(30, 30, 2, -3, coeffs)
    e_sun = np.interp(lam, sun.wavelength_nm, sun.values)
    np.testing.assert_allclose(e1 / e_sun, np.array([a[0], a[0], a[-1], a[-1]]) * 6.4177e-5 / np.pi, rtol=1e-12)
    with pytest.raises(ValueError, match="cover"):
        lunar_spectral_irradiance(np.array([250.0]), 30, 30, 2, -3, AU_KM, MOON_MEAN_DISTANCE_KM, **kw)  # type: ignore[arg-type]
