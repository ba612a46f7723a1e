"""Report figure of the geometry method: check-point RMSE (east, north, up) per acquisition."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from monitor.reports.context import GeometryRow
from monitor.reports.plot_style import LEGEND_RIGHT_IN, legend_outside, render, single

__all__ = ["plot_geometry"]


def plot_geometry(rows: Sequence[GeometryRow], satellite: str = "") -> str | None:
    """Check-point RMSE (east, north, up) per geometry acquisition as grouped bars."""
    usable = [r for r in rows if r.rmse_e_m is not None or r.rmse_n_m is not None or r.rmse_u_m is not None]
    if not usable:
        return None

    def build() -> Figure:
        fig, ax = single(3.0, right_in=LEGEND_RIGHT_IN, bottom_in=0.75)  # two-line labels below the axis
        x = np.arange(len(usable), dtype=float)
        width = 0.27
        for k, (name, attr) in enumerate((("east", "rmse_e_m"), ("north", "rmse_n_m"), ("up", "rmse_u_m"))):
            vals = [getattr(r, attr) if getattr(r, attr) is not None else np.nan for r in usable]
            ax.bar(x + (k - 1) * width, vals, width, label=name)
        # date and sequence number of the ACQ_ID: full ids (31 characters) rotated ran off the figure
        labels = [(f"{r.epoch:%m-%d}" if r.epoch is not None else "") + f"\n#{r.acq_id.rsplit('-', 1)[-1]}"
                  for r in usable]
        ax.set_xticks(x, labels, fontsize=5.5 if len(usable) > 8 else 6.5)
        ax.set_title(f"{satellite}: check-point RMSE per acquisition", y=1.0)
        ax.set_xlabel("acquisition (UTC date, sequence number)")
        ax.set_ylabel("RMSE [m]")
        legend_outside(ax)
        return fig

    return render(build)
