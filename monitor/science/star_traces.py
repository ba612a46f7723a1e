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

__all__ = ["ratio_to_prediction"]


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
