"""The [geometry] settings: defaults, overrides, validation, and what reaches the adjustment."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.calibration.geometry import adjustment_options
from monitor.settings import DEFAULT_TOML, ConfigError, GeometrySettings, load_settings


def test_defaults_and_template(tmp_path: Path) -> None:
    (tmp_path / "monitor.toml").write_text(DEFAULT_TOML)
    geo = load_settings(tmp_path, env={}).geometry
    assert geo == GeometrySettings()
    assert geo.orbit_model == "j2" and geo.kepler_order == 3
    assert "[geometry]" in DEFAULT_TOML and "prior_position_sigma_m" in DEFAULT_TOML
    assert geo.as_record()["prior_velocity_sigma_m_s"] == 0.002


def test_toml_and_env_reach_the_adjustment(tmp_path: Path) -> None:
    (tmp_path / "monitor.toml").write_text('[geometry]\norbit_model = "kepler"\nkepler_order = 2\n')
    geo = load_settings(tmp_path, env={"MONITOR_GEOMETRY_PRIOR_POSITION_SIGMA_M": "1.5"}).geometry
    opts = adjustment_options(geo)
    assert opts["orbit_model"] == "kepler" and opts["orbit_order"] == 2
    assert opts["prior_position_sigma_m"] == 1.5
    assert opts["attitude_rate_sigma_rad_s"] == pytest.approx(20e-6)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('[geometry]\norbit_model = "sgp4"\n', "orbit_model"),
        ("[geometry]\nkepler_order = 4\n", "kepler_order"),
        ("[geometry]\nephem_sigma_m = 0.0\n", "ephem_sigma_m"),
        ("[geometry]\nprior_velocity_sigma_m_s = -0.01\n", "prior_velocity_sigma_m_s"),
        ("[geometry]\nattitude_rate_sigma_urad_s = nan\n", "attitude_rate_sigma_urad_s"),
        ("[geometry]\nimage_sigma_px = inf\n", "image_sigma_px"),
        ("[geometry]\nj4 = true\n", "unknown key"),
    ],
)
def test_bad_geometry_settings_are_clear_errors(tmp_path: Path, text: str, match: str) -> None:
    (tmp_path / "monitor.toml").write_text(text)
    with pytest.raises(ConfigError, match=match):
        load_settings(tmp_path, env={})
