"""Star traces: how each star's window signal compares with what its starpool predicts.

A star of a starpool, measured in the extraction window of half-width ``h``, gives an A_k before
the encircled-energy correction, ``A_raw(h)`` (ICD-1 §1.3 with EE = 1). Its starpool's result
``A_pool`` is the EE-corrected coefficient, and the starpool's PSF fit gives the fraction of the
star's light inside that window, ``EE(h)``. The prediction of the raw value is therefore
``EE(h) * A_pool``, and the trace plotted per star and window is

    ratio(h) = A_raw(h) / (EE(h) * A_pool),

1 when the star behaves as its starpool predicts (a drifting detector moves every star alike; a
variable star or a bad window moves one). Pure numpy.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["ratio_to_prediction", "robust_centre_spread", "outlier_mask", "OUTLIER_K", "MIN_SPREAD"]

OUTLIER_K = 4.0  # a star departs from its window's median by more than OUTLIER_K robust sigmas
MIN_SPREAD = 0.002  # floor of the robust spread [1] (0.2 %): a few stars in perfect agreement flag nothing
_MAD_TO_SIGMA = 1.4826  # MAD of a normal distribution times this is its standard deviation


def ratio_to_prediction(a_window: ArrayLike, encircled_energy: ArrayLike, a_starpool: ArrayLike) -> NDArray[np.float64]:
    """Measured over predicted window signal, ``A_raw(h) / (EE(h) * A_pool)``, element-wise.

    Parameters
    ----------
    a_window : array_like of float
        ``A_raw(h)`` of each star and window, DN / (W m^-2 sr^-1 um^-1), without EE correction;
        NaN where the window has no value.
    encircled_energy : array_like of float
        ``EE(h)``, the fraction of the star's light inside the window (dimensionless, 0 < EE <= 1;
        1 when the starpool had no PSF fit); NaN where unknown.
    a_starpool : array_like of float
        ``A_pool``, the starpool's EE-corrected coefficient, same unit as ``a_window``; NaN where
        the star belongs to no starpool result.

    Returns
    -------
    NDArray[np.float64]
        The ratios (broadcast shape of the inputs). NaN where there is no prediction: a missing
        input, an EE that is not finite or not positive (it predicts nothing), or ``A_pool = 0``.

    Examples
    --------
    >>> ratio_to_prediction([2.0, 2.0, 2.0], [0.8, 0.0, np.nan], 2.5).tolist()
    [1.0, nan, nan]
    """
    a = np.asarray(a_window, dtype=np.float64)
    ee = np.asarray(encircled_energy, dtype=np.float64)
    pool = np.asarray(a_starpool, dtype=np.float64)
    predicted = ee * pool
    valid = np.isfinite(ee) & (ee > 0.0) & (pool != 0.0) & np.isfinite(a) & np.isfinite(pool)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(valid, a / np.where(valid, predicted, 1.0), np.nan)


def robust_centre_spread(values: ArrayLike) -> tuple[float, float]:
    """Median and robust standard deviation (1.4826 x median absolute deviation) of ``values``.

    Parameters
    ----------
    values : array_like of float
        Ratios of the stars of one time bin and window (dimensionless); NaN entries are ignored.

    Returns
    -------
    tuple of float
        ``(median, spread)``; both NaN when no value is finite, spread 0 for a single value.

    Notes
    -----
    The MAD estimator (Hampel 1974) is insensitive to up to half the values being outliers, which
    is what lets a single variable star stand out instead of widening the band it is judged by.
    """
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan"), float("nan")
    centre = float(np.median(v))
    return centre, float(_MAD_TO_SIGMA * np.median(np.abs(v - centre)))


def outlier_mask(values: ArrayLike, centre: float, spread: float, *, k: float = OUTLIER_K,
                 min_spread: float = MIN_SPREAD) -> NDArray[np.bool_]:
    """True where ``|value - centre| > k * max(spread, min_spread)`` (NaN values: False).

    Parameters
    ----------
    values : array_like of float
        Ratios of one time bin and window, dimensionless.
    centre, spread : float
        Their median and robust standard deviation (:func:`robust_centre_spread`).
    k : float
        Threshold in robust sigmas.
    min_spread : float
        Floor of the spread, dimensionless (a bin of nearly identical values flags nothing below it).
    """
    v = np.asarray(values, dtype=np.float64)
    if not np.isfinite(centre):
        return np.zeros(v.shape, dtype=bool)
    scale = max(spread if np.isfinite(spread) else 0.0, min_spread)
    with np.errstate(invalid="ignore"):
        return np.asarray(np.abs(v - centre) > k * scale)
