"""Report figures of the MTF: curves along and across track per band (fit and stacked ePSF, ±1
sigma) and the MTF at Nyquist over time."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from monitor.reports.context import MtfCurve, MtfNyquistSeries
from monitor.reports.plot_style import (
    LEGEND_RIGHT_IN,
    all_times,
    date_axis,
    dates,
    grid,
    legend_outside,
    render,
    shade_period,
)

__all__ = ["plot_mtf_curves", "plot_mtf_band", "plot_mtf_nyquist"]


def _mtf_axes(ax: Axes, frequency: np.ndarray, title: str, *, legend_loc: Literal["lower left", "upper right"]
              ) -> None:
    """The frame of an MTF panel: 0 to Nyquist (0.5 cycles/pixel, dotted) or the highest
    ``frequency`` [cycles/pixel], MTF 0 to 1.05, labels with units, the legend."""
    ax.axvline(0.5, color="0.4", linestyle=":", linewidth=0.7)
    ax.set_xlim(0.0, max(0.5, float(frequency.max())))
    ax.set_ylim(0.0, 1.05)
    ax.set_title(title, y=1.0)
    ax.set_xlabel("frequency [cycles / pixel]")
    ax.set_ylabel("MTF [1]")
    ax.legend(loc=legend_loc)


def plot_mtf_curves(curves: Sequence[MtfCurve], satellite: str = "") -> str | None:
    """MTF along and across track vs spatial frequency, one panel per band, ±1 sigma bands;
    dashed: the non-parametric stacked-ePSF cross-check of the same starpool."""
    usable = [c for c in curves if len(c.frequency)]
    if not usable:
        return None

    def build() -> Figure:
        fig, axes = grid(len(usable), 3, height_per_row=1.6, sharex=False)
        for ax, c in zip(axes, usable, strict=True):
            f = np.asarray(c.frequency, dtype=float)
            for name, val, sig, col in (
                ("along", c.along, c.along_sigma, "C0"),
                ("across", c.across, c.across_sigma, "C1"),
            ):
                if not len(val):
                    continue
                v = np.asarray(val, dtype=float)
                ax.plot(f, v, "-", color=col, label=name)
                if len(sig) == len(v):
                    s = np.asarray(sig, dtype=float)
                    ax.fill_between(f, v - s, v + s, color=col, alpha=0.25, linewidth=0)
                epsf = c.epsf_along if name == "along" else c.epsf_across
                if len(epsf) == len(f):
                    ax.plot(f, np.asarray(epsf, dtype=float), "--", color=col, linewidth=0.8,
                            label=f"{name} (ePSF)")
            _mtf_axes(ax, f, f"{satellite} {c.band}", legend_loc="lower left")
        return fig

    return render(build)


def plot_mtf_band(c: MtfCurve, satellite: str = "") -> str | None:
    """The latest MTF curve of one band: two panels, along and across track, each with the
    parametric PSF-fit curve and its ±1 sigma band (solid, shaded) and the stacked-ePSF curve with
    its ±1 sigma (dashed, lighter); dotted: Nyquist (0.5 cycles/pixel). None without a curve."""
    f = np.asarray(c.frequency, dtype=float)
    if not f.size or not (len(c.along) or len(c.across)):
        return None

    def build() -> Figure:
        # right margin: room for the last frequency tick label ("1.0" was cut at the page edge)
        fig, axes = grid(2, 2, height_per_row=1.7, sharex=False, right_in=0.18)
        for ax, name, val, sig, epsf, epsf_sig, col in (
            (axes[0], "along", c.along, c.along_sigma, c.epsf_along, c.epsf_along_sigma, "C0"),
            (axes[1], "across", c.across, c.across_sigma, c.epsf_across, c.epsf_across_sigma, "C1"),
        ):
            if len(val) == f.size:
                v = np.asarray(val, dtype=float)
                ax.plot(f, v, "-", color=col, linewidth=1.0, label="PSF fit ±1σ")
                if len(sig) == f.size:
                    s = np.asarray(sig, dtype=float)
                    ax.fill_between(f, v - s, v + s, color=col, alpha=0.3, linewidth=0)
            if len(epsf) == f.size:
                e = np.asarray(epsf, dtype=float)
                ax.plot(f, e, "--", color="0.25", linewidth=0.8, label="ePSF ±1σ")
                if len(epsf_sig) == f.size:
                    es = np.asarray(epsf_sig, dtype=float)
                    ax.fill_between(f, e - es, e + es, color="0.5", alpha=0.2, linewidth=0)
            _mtf_axes(ax, f, f"{satellite} {c.band} {name} track" + (f" ({c.starpool})" if c.starpool else ""),
                      legend_loc="upper right")
        return fig

    return render(build)


def plot_mtf_nyquist(series: Sequence[MtfNyquistSeries], satellite: str = "", *,
                     period: tuple[datetime, datetime] | None = None) -> str | None:
    """MTF at Nyquist vs time: two panels (along, across), one line per band, ±1 sigma error bars."""
    usable = [s for s in series if len(s.epochs)]
    if not usable:
        return None

    def build() -> Figure:
        fig, axes = grid(2, 2, height_per_row=2.0, right_in=LEGEND_RIGHT_IN)
        times = all_times(*(s.epochs for s in usable))
        for ax, direction in zip(axes, ("along", "across"), strict=True):
            for s in usable:
                val = getattr(s, direction)
                sig = getattr(s, f"{direction}_sigma")
                if not len(val):
                    continue
                ax.errorbar(
                    dates(s.epochs),
                    val,
                    yerr=sig if len(sig) == len(val) else None,
                    fmt="-o",
                    markersize=2,
                    capsize=1,
                    elinewidth=0.5,
                    label=s.band,
                )
            ax.set_title(f"{satellite} MTF at Nyquist, {direction} track", y=1.0)
            ax.set_ylabel("MTF(0.5 cycles/pixel) [1]")
            shade_period(ax, period)
            date_axis(ax, times)
        legend_outside(axes[-1])
        return fig

    return render(build)
