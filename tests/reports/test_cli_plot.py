"""``monitor plot KIND`` (issue 20): the report's own figures as PNG or SVG files, without a PDF."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
from typer.testing import CliRunner

from monitor.catalogue.acquisitions import seed_reference
from monitor.cli import app
from monitor.reports import plots
from monitor.reports.context import CalibrationSeries, DriftFit
from monitor.settings import load_settings
from monitor.site import init_site, session_scope
from tests.catalogue.rows import fill_example, t


def test_save_figure_writes_the_report_figure(tmp_path: Path) -> None:
    """The file holds the very figure the report embeds (same pixels), or an SVG of it."""
    epochs = [t(m, 10) for m in (1, 2, 3, 4)]
    series = [CalibrationSeries(band="P", method="STAR", epochs=epochs, a=[10.0, 9.9, 9.85, 9.7],
                                a_sigma=[0.05] * 4, drift=DriftFit(epochs[1], 9.9, -0.05, 0.01))]
    uri = plots.plot_calibration(series, "PHR1A")
    assert uri is not None
    with PIL.Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))) as im:
        embedded = np.asarray(im.convert("RGB"))
    png, svg = tmp_path / "a.png", tmp_path / "a.svg"
    assert plots.save_figure(lambda: plots.plot_calibration(series, "PHR1A"), png)
    with PIL.Image.open(png) as im:
        written = np.asarray(im.convert("RGB"))
    assert written.shape == embedded.shape
    assert np.mean(np.abs(written.astype(int) - embedded.astype(int))) < 1.0
    assert plots.save_figure(lambda: plots.plot_calibration(series, "PHR1A"), svg)
    text = svg.read_text()
    assert text.lstrip().startswith("<?xml") and "<svg" in text
    assert not plots.save_figure(lambda: plots.plot_calibration([], "PHR1A"), tmp_path / "none.png")
    assert not (tmp_path / "none.png").exists()
    again = plots.plot_calibration(series, "PHR1A")
    assert again is not None and again.startswith("data:image/png")  # the sink is reset


@pytest.fixture()
def site(tmp_path: Path, catalogue_url: str) -> tuple[Path, dict[str, str]]:
    env = {"MONITOR_DATABASE_URL": catalogue_url, "COLUMNS": "200"}
    settings = load_settings(tmp_path / "site", env=env)
    init_site(settings)
    with session_scope(settings) as session:
        seed_reference(session)
        fill_example(session)
        session.commit()
    return settings.site, env


def test_plot_command(site: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    d, env = site
    runner = CliRunner()

    def plot(*args: str) -> object:
        return runner.invoke(app, ["plot", *args, "--until", "2025-06-01", "--site", str(d)], env=env)

    for kind, sat, band, suffix in (("drift", "PHR1A", "P", "png"), ("traces", "PHR1A", "B0", "svg"),
                                    ("mtf-nyquist", "PHR1A", None, "png"), ("moon", "PNEO3", "B", "png")):
        out = tmp_path / f"{kind}.{suffix}"
        done = plot(kind, "--satellite", sat, *(["--band", band] if band else []), "--out", str(out))
        assert done.exit_code == 0, (kind, done.output)  # type: ignore[attr-defined]
        if suffix == "png":
            with PIL.Image.open(out) as im:
                assert im.size[0] > 300
        else:
            assert "<svg" in out.read_text()
    nothing = plot("moon", "--satellite", "PHR1A", "--out", str(tmp_path / "m.png"))
    assert nothing.exit_code == 1 and "nothing to draw" in nothing.output  # type: ignore[attr-defined]
    assert not (tmp_path / "m.png").exists()
    for args, needle in ((["ratio", "--satellite", "PHR1A"], "unknown kind"),
                         (["traces", "--satellite", "PHR1A"], "--band"),
                         (["drift", "--satellite", "PHR1A", "--band", "B9"], "B9"),
                         (["geometry", "--satellite", "PHR1A", "--band", "P"], "no band")):
        bad = plot(*args, "--out", str(tmp_path / "x.png"))
        assert bad.exit_code == 2 and needle in bad.output, (args, bad.output)  # type: ignore[attr-defined]
    bad = plot("drift", "--satellite", "PHR1A", "--out", str(tmp_path / "x.pdf"))
    assert bad.exit_code == 2 and ".png or .svg" in bad.output  # type: ignore[attr-defined]
