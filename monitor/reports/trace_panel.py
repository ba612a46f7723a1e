"""The star trace panel of one band in the report and the dashboard: per extraction window and
time bin (a starpool, or a calendar month), the median ratio of measured to predicted window
signal over the stars, its robust spread and the outlier stars (:mod:`monitor.science.star_traces`
decides what an outlier is), plus each star's own trace."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

import numpy as np

from monitor.reports.context import StarOutlier, StarTrace, StarTraceSet, StarWindowTraces
from monitor.reports.period import Period
from monitor.results import TracePoint
from monitor.science.star_traces import MIN_SPREAD, outlier_mask, robust_centre_spread

__all__ = ["MIN_STARS_FOR_OUTLIERS", "star_trace_set"]

MIN_STARS_FOR_OUTLIERS = 5  # a time bin of fewer stars names no outlier (its median means little)


def star_trace_set(points: Iterable[TracePoint], band: str, *, bins: Iterable[object] | None = None,
                   period: Period | None = None) -> StarTraceSet | None:
    """The star trace panel of one band: per extraction window and time bin, the median ratio of
    measured to predicted window signal over the stars and its robust spread, and the stars far from
    it (outliers, named); plus each star's own trace. Only usable points are used (a star rejected
    from its starpool has no meaningful prediction).

    ``bins`` gives each point's time bin (its starpool id; parallel to ``points``); ``None`` (or a
    ``None`` entry) bins by calendar month of the point's time. ``period`` marks the outliers
    dated inside it (the others are history).
    """
    pts = list(points)
    keys = list(bins) if bins is not None else [None] * len(pts)
    per_window: dict[int, dict[str, tuple[list[datetime], list[float]]]] = defaultdict(dict)
    per_bin: dict[int, dict[object, list[TracePoint]]] = defaultdict(lambda: defaultdict(list))
    for point, key in zip(pts, keys, strict=True):
        ratio = point.ratio_to_prediction
        if not point.usable or ratio is None:  # rejected stars: not drawn
            continue
        times, values = per_window[point.half_width_px].setdefault(point.star, ([], []))
        times.append(point.time)
        values.append(ratio)
        bin_key = key if key is not None else (point.time.year, point.time.month)
        per_bin[point.half_width_px][bin_key].append(point)
    if not per_window:
        return None
    windows = []
    for h, stars in sorted(per_window.items()):
        epochs: list[datetime] = []
        medians: list[float] = []
        spreads: list[float] = []
        counts: list[int] = []
        outliers: list[StarOutlier] = []
        groups = sorted(per_bin[h].values(), key=lambda g: min(p.time for p in g))
        for group in groups:
            ratios = np.array([p.ratio_to_prediction for p in group], dtype=np.float64)
            centre, spread = robust_centre_spread(ratios)
            times = sorted(p.time for p in group)
            epochs.append(times[len(times) // 2])
            medians.append(centre)
            spreads.append(spread)
            counts.append(len(group))
            if len(group) < MIN_STARS_FOR_OUTLIERS:
                continue
            scale = max(spread, MIN_SPREAD)
            for p, bad in zip(group, outlier_mask(ratios, centre, spread), strict=True):
                if bad:
                    outliers.append(StarOutlier(
                        star=p.star, acq_id=p.acq_id, time=p.time, half_width_px=h,
                        ratio=float(p.ratio_to_prediction or 0.0), median=centre,
                        departure_sigma=(float(p.ratio_to_prediction or 0.0) - centre) / scale,
                        in_period=period is None or period.start <= p.time < period.end))
        windows.append(StarWindowTraces(
            half_width_px=h,
            traces=[StarTrace(star=s, times=tv[0], ratio=tv[1]) for s, tv in sorted(stars.items())],
            epochs=epochs, median=medians, spread=spreads, n_stars=counts, outliers=outliers))
    return StarTraceSet(band=band, windows=windows)
