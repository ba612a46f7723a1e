"""Report figures of the Moon method: A_k over time relative to each band's median, and the
residual to the lunar model versus signed phase angle (flagged results as crosses)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np
from matplotlib.figure import Figure

from monitor.reports.context import MoonResult
from monitor.reports.plot_style import LEGEND_RIGHT_IN, date_axis, dates, legend_outside, render, shade_period, single

__all__ = ["plot_moon_series", "plot_moon_phase"]


def _by_band(results: Sequence[MoonResult]) -> dict[str, list[MoonResult]]:
    out: dict[str, list[MoonResult]] = {}
    for r in results:
        out.setdefault(r.band, []).append(r)
    return out


def _split_flagged(results: Sequence[MoonResult]) -> tuple[list[MoonResult], list[MoonResult]]:
    """The results in trend (drawn as points) and the flagged ones (drawn as crosses), in order."""
    return [r for r in results if not r.flagged], [r for r in results if r.flagged]


def _in_band_order(groups: dict[str, list[MoonResult]], band_order: Sequence[str]) -> list[str]:
    """The bands of ``groups`` in the mission's order, then any other band alphabetically."""
    return [b for b in band_order if b in groups] + sorted(b for b in groups if b not in band_order)


def plot_moon_series(results: Sequence[MoonResult], satellite: str = "", band_order: Sequence[str] = (), *,
                     period: tuple[datetime, datetime] | None = None) -> str | None:
    """Moon A_k vs time, all bands in one panel as % departure from each band's median A.

    One panel instead of one per band keeps the figure cheap and makes a common drift visible;
    absolute values are in the calibration figure and tables. Flagged results: crosses.
    """
    if not results:
        return None
    groups = _by_band(results)
    bands = _in_band_order(groups, band_order)

    def build() -> Figure:
        fig, ax = single(2.8, right_in=LEGEND_RIGHT_IN)
        for i, band in enumerate(bands):
            rs = sorted(groups[band], key=lambda r: r.epoch)
            ok, bad = _split_flagged(rs)
            ref = float(np.median([r.a for r in ok] or [r.a for r in rs]))
            col = f"C{i % 10}"
            if ok:
                ax.errorbar(
                    dates([r.epoch for r in ok]),
                    [100 * (r.a / ref - 1) for r in ok],
                    yerr=[100 * r.a_sigma / ref for r in ok],
                    fmt="-o",
                    markersize=2,
                    capsize=1,
                    elinewidth=0.5,
                    linewidth=0.6,
                    color=col,
                    label=band,
                )
            if bad:  # a band with only flagged results is named by its crosses (an empty legend raised)
                ax.plot(dates([r.epoch for r in bad]), [100 * (r.a / ref - 1) for r in bad], "x", color=col,
                        label=None if ok else band)
        ax.set_title(f"{satellite}: Moon A_k relative to band median (× = flagged)", y=1.0)
        ax.set_ylabel("A / median(A) − 1 [%]")
        legend_outside(ax)
        shade_period(ax, period)
        date_axis(ax, [r.epoch for r in results])
        return fig

    return render(build)


def _residual(r: MoonResult) -> float:
    return float("nan") if r.residual_pct is None else r.residual_pct


def plot_moon_phase(results: Sequence[MoonResult], satellite: str = "", band_order: Sequence[str] = ()) -> str | None:
    """Moon A_k residual (%) vs signed phase angle, one colour per band."""
    usable = [r for r in results if r.residual_pct is not None]
    if not usable:
        return None
    groups = _by_band(usable)
    bands = _in_band_order(groups, band_order)

    def build() -> Figure:
        fig, ax = single(2.6, right_in=LEGEND_RIGHT_IN)
        for i, band in enumerate(bands):
            ok, bad = _split_flagged(groups[band])
            ax.plot([r.phase_deg for r in ok], [_residual(r) for r in ok], "o", color=f"C{i % 10}", label=band)
            if bad:
                ax.plot([r.phase_deg for r in bad], [_residual(r) for r in bad], "x", color=f"C{i % 10}")
        ax.axhline(0.0, color="0.3", linewidth=0.6)
        ax.set_title(f"{satellite}: Moon residual vs phase angle (× = flagged)", y=1.0)
        ax.set_xlabel("signed phase angle [deg]")
        ax.set_ylabel("residual [%]")
        # residuals of a few 1e-3 % had five-character tick labels over the axis label: a power of ten instead
        ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3), useMathText=True)
        legend_outside(ax)
        return fig

    return render(build)
