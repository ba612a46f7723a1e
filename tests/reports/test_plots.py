"""Report figures: deterministic PNG data URIs, empty input -> no figure, shipped font."""

from __future__ import annotations

import base64
import io
from datetime import UTC, datetime

import PIL.Image
import pytest
from matplotlib import font_manager

from monitor.reports import plot_style, plots
from monitor.reports.context import (
    CalibrationSeries,
    GeometryRow,
    MoonResult,
    ReportContext,
    SatelliteSection,
    StarTraceSet,
)
from monitor.reports.render import templates_dir


def _png(uri: str | None) -> PIL.Image.Image:
    assert uri is not None and uri.startswith("data:image/png;base64,")
    return PIL.Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))


@pytest.fixture(scope="module")
def phr(small_context: ReportContext) -> SatelliteSection:
    return small_context.satellites[0]


@pytest.fixture(scope="module")
def pneo(small_context: ReportContext) -> SatelliteSection:
    return small_context.satellites[2]


def test_same_data_same_bytes(phr: SatelliteSection) -> None:
    a = plots.plot_calibration(phr.calibration, "PHR1A")
    b = plots.plot_calibration(phr.calibration, "PHR1A")
    assert a == b
    assert plots.plot_calibration(phr.calibration[:2], "PHR1A") != a


def test_every_figure_is_an_opaque_png_of_fixed_width(phr: SatelliteSection, pneo: SatelliteSection) -> None:
    uris = [
        plots.plot_calibration(phr.calibration, "PHR1A"),
        plots.plot_star_traces(phr.star_traces[0], "PHR1A"),
        plots.plot_mtf_curves(phr.mtf_curves, "PHR1A"),
        plots.plot_mtf_band(phr.mtf_curves[0], "PHR1A"),
        plots.plot_mtf_nyquist(phr.mtf_nyquist, "PHR1A"),
        plots.plot_geometry(phr.geometry, "PHR1A"),
        plots.plot_moon_series(pneo.moon, "PNEO3", pneo.bands),
        plots.plot_moon_phase(pneo.moon, "PNEO3", pneo.bands),
    ]
    for uri in uris:
        img = _png(uri)
        assert img.mode == "RGB"
        assert img.width == round(plots.WIDTH_IN * plots.DPI)
        assert not img.info.get("Software")


def test_empty_inputs_give_no_figure() -> None:
    assert plots.plot_calibration([], "X") is None
    assert plots.plot_calibration([CalibrationSeries(band="P", method="STAR")], "X") is None
    assert plots.plot_star_traces(StarTraceSet(band="P"), "X") is None
    assert plots.plot_mtf_curves([], "X") is None
    assert plots.plot_mtf_nyquist([], "X") is None
    assert plots.plot_moon_series([], "X") is None
    assert plots.plot_moon_phase([], "X") is None
    assert plots.plot_geometry([GeometryRow(acq_id="g", n_control=3, n_check=0)], "X") is None
    figs = plots.make_satellite_figures(SatelliteSection(satellite="PHR1B"))
    assert figs == plots.SatelliteFigures()


def test_shipped_font_is_used(phr: SatelliteSection) -> None:
    plots.plot_geometry(phr.geometry, "PHR1A")  # registers the fonts on first use
    path = font_manager.findfont(font_manager.FontProperties(family=plots.FONT_FAMILY))
    assert path.startswith(str(templates_dir() / "fonts")), path


@pytest.mark.parametrize(
    ("t0", "t1", "labels"),
    [
        (
            datetime(2024, 11, 1, tzinfo=UTC),
            datetime(2026, 11, 1, tzinfo=UTC),
            ["2025-01", "2025-07", "2026-01", "2026-07"],
        ),
        (
            datetime(2026, 1, 10, tzinfo=UTC),
            datetime(2026, 5, 20, tzinfo=UTC),
            ["2026-02", "2026-03", "2026-04", "2026-05"],
        ),
        (datetime(2026, 11, 16, tzinfo=UTC), datetime(2026, 11, 23, tzinfo=UTC), ["11-16", "11-18", "11-20", "11-22"]),
    ],
)
def test_date_ticks(t0: datetime, t1: datetime, labels: list[str]) -> None:
    pos, lab = plot_style.date_ticks(t0, t1)
    assert lab == labels
    assert pos == sorted(pos)


def test_single_epoch_history_plots(fabricate: object) -> None:
    """A new system has one starpool / one Moon acquisition: every figure still renders."""
    ctx = fabricate(months=1, n_stars=2, windows=(2,), satellites=("PHR1A", "PNEO4"))  # type: ignore[operator]
    figs = plots.make_figures(ctx)
    phr = figs.of("PHR1A")
    assert (
        phr.calibration and phr.mtf_nyquist and set(phr.star_traces) == set(ctx.satellites[0].bands)
    )
    # the report's MTF figures are one per band (along | across) since issue 15
    assert set(phr.mtf_curve_bands) == {c.band for c in ctx.satellites[0].mtf_curves} != set()
    assert figs.of("PNEO4").moon_series and figs.of("PNEO4").moon_phase
    assert figs.of("nobody") == plots.SatelliteFigures()


def test_moon_figures_of_a_satellite_whose_every_result_is_flagged() -> None:
    """One month of a satellite with its only Moon acquisition flagged (the one-month demo's PNEO):
    the figures are drawn, each band named by its crosses (an empty legend raised a warning, an
    error under the report's strict rendering, and the report failed)."""
    results = [MoonResult(acq_id="PNEO3-MOON-1", band=b, epoch=datetime(2025, 1, 12, tzinfo=UTC), phase_deg=-15.8,
                          a=1.0 + 0.1 * i, a_sigma=0.01, residual_pct=0.004, flagged=True)
               for i, b in enumerate(("P", "B"))]
    with plots.capture_figures() as figs:
        assert plots.plot_moon_series(results, "PNEO3", ("P", "B")) is not None
        assert plots.plot_moon_phase(results, "PNEO3", ("P", "B")) is not None
    legend = figs[0].axes[0].get_legend()
    assert legend is not None and [t.get_text() for t in legend.get_texts()] == ["P", "B"]
