"""Every figure of one report: :func:`make_figures` draws them (one :class:`SatelliteFigures` per
satellite) with the figure families :mod:`monitor.reports.plots_star`, ``plots_mtf``,
``plots_moon`` and ``plots_geometry``, in the style of :mod:`monitor.reports.plot_style`.

The ``plot_*`` functions are re-exported here: ``monitor plot KIND`` and the tests draw one figure
by the same function the report uses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from monitor.reports.context import ReportContext, SatelliteSection
from monitor.reports.plot_style import (
    DPI,
    FONT_FAMILY,
    WIDTH_IN,
    capture_figures,
    figure_to_data_uri,
    save_figure,
    shipped_font_files,
)
from monitor.reports.plots_geometry import plot_geometry
from monitor.reports.plots_moon import plot_moon_phase, plot_moon_series
from monitor.reports.plots_mtf import plot_mtf_band, plot_mtf_curves, plot_mtf_nyquist
from monitor.reports.plots_star import (
    MAX_APPENDIX_STARS,
    plot_calibration,
    plot_star_trace_appendix,
    plot_star_traces,
    plot_variable_stars,
)

__all__ = [
    "DPI",
    "WIDTH_IN",
    "FONT_FAMILY",
    "SatelliteFigures",
    "ReportFigures",
    "make_figures",
    "make_satellite_figures",
    "plot_calibration",
    "plot_star_traces",
    "plot_star_trace_appendix",
    "plot_variable_stars",
    "MAX_APPENDIX_STARS",
    "plot_mtf_curves",
    "plot_mtf_band",
    "plot_mtf_nyquist",
    "plot_moon_series",
    "plot_moon_phase",
    "plot_geometry",
    "figure_to_data_uri",
    "capture_figures",
    "save_figure",
    "shipped_font_files",
]


@dataclass(frozen=True)
class SatelliteFigures:
    """PNG data URIs of one satellite's figures; ``None`` when there is nothing to plot."""

    calibration: str | None = None
    star_traces: Mapping[str, str] = field(default_factory=dict)  # band -> URI
    mtf_curves: str | None = None  # every band on one figure (``monitor plot mtf``)
    mtf_curve_bands: Mapping[str, str] = field(default_factory=dict)  # band -> URI: along | across (the report)
    mtf_nyquist: str | None = None
    moon_series: str | None = None
    moon_phase: str | None = None
    geometry: str | None = None
    star_appendix: Mapping[str, str] = field(default_factory=dict)  # band -> URI: each outlier star's trace
    variable_stars: str | None = None  # the traces of the stars flagged variable (issue 14)


@dataclass(frozen=True)
class ReportFigures:
    """All figures of one report, keyed by satellite name."""

    satellites: Mapping[str, SatelliteFigures] = field(default_factory=dict)

    def of(self, satellite: str) -> SatelliteFigures:
        """Figures of ``satellite`` (empty figures when it has none)."""
        return self.satellites.get(satellite, SatelliteFigures())


def make_satellite_figures(section: SatelliteSection, period: tuple[datetime, datetime] | None = None
                           ) -> SatelliteFigures:
    """All figures of one satellite section; ``period`` (start, end) is shaded on the time axes."""
    name = section.satellite
    return SatelliteFigures(
        calibration=plot_calibration(section.calibration, name, period=period),
        star_traces={t.band: uri for t in section.star_traces
                     if (uri := plot_star_traces(t, name, period=period)) is not None},
        mtf_curve_bands={c.band: uri for c in section.mtf_curves if (uri := plot_mtf_band(c, name)) is not None},
        mtf_nyquist=plot_mtf_nyquist(section.mtf_nyquist, name, period=period),
        moon_series=plot_moon_series(section.moon, name, section.bands, period=period),
        moon_phase=plot_moon_phase(section.moon, name, section.bands),
        geometry=plot_geometry(section.geometry, name),
        star_appendix={t.band: uri for t in section.star_traces
                       if (uri := plot_star_trace_appendix(t, t.outlier_stars[:MAX_APPENDIX_STARS], name))
                       is not None},
        variable_stars=plot_variable_stars(section.variable_stars, name, period=period),
    )


def make_figures(ctx: ReportContext) -> ReportFigures:
    """All figures of a report."""
    period = (ctx.period_start, ctx.period_end)
    return ReportFigures(satellites={s.satellite: make_satellite_figures(s, period) for s in ctx.satellites})
