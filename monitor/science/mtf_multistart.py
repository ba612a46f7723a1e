"""Second starting point of the starpool PSF fit across the along-track (blur, smear) valley.

Along track the PSF model has two blurs of nearly the same effect on the core: a Gaussian of
1-sigma ``sigma_along_px`` and a box (TDI smear) of ``smear_along_px`` (second moment ``s^2/12``).
Their sum of second moments is well measured, their split much less, and the chi2 surface along
the valley is not convex: the box's sinc and the Gaussian trade differently at the frequencies where
the data hold information, so the trust-region fit can stop on a secondary minimum on the side of
the valley it started from. Measured on the pupil truth (benchmarks/mtf.py, micro-vibration
0.25 px, PAN, seed 2026, pool 0): the fit started at the design smear 0.25 px stopped at smear
0.085 px, chi2 18563.0, MTF at Nyquist along +0.00038 (4.0 sigma); started at 0.8 px it found smear
0.60 px, chi2 18550.6 (12.4 lower), error +0.00015 (1.7 sigma).

:func:`valley_restart` gives the other side's starting point with the same along-track second
moment; the fit probes it with :data:`RESTART_PROBE_NFEV` evaluations, completes the probe only when
its chi2 is already below the first solution's, and keeps whichever solution has the lower chi2
(same weights). It cannot find minima
elsewhere (e.g. in the wave-front-error directions): it only addresses this one known degeneracy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["RESTART_PROBE_NFEV", "SMEAR_SPLIT_PX", "SMEAR_HIGH_PX", "SMEAR_LOW_PX", "valley_restart"]

SMEAR_SPLIT_PX = 0.4  # below: the fit sits on the small-smear side, restart on the large one (and back)
SMEAR_HIGH_PX = 0.8  # restart smear on the large-smear side, px (TDI desynchronisation of ~1 px)
SMEAR_LOW_PX = 0.1  # restart smear on the small-smear side, px
_MIN_SIGMA_PX = 0.05
# Model evaluations of the restart's probe: the fit goes on from the probe only when the probe's chi2
# is already below the first solution's (the restart costs +0.09-0.14 s instead of +0.1-0.4 s per PAN pool when
# it finds nothing).
RESTART_PROBE_NFEV = 8  # floor of the restart's Gaussian blur, px


def valley_restart(values: ArrayLike, free_names: Sequence[str]) -> NDArray[np.float64] | None:
    """The starting point on the other side of the (sigma_along, smear_along) valley, or None.

    The smear goes to :data:`SMEAR_HIGH_PX` when the solution's is below :data:`SMEAR_SPLIT_PX`,
    else to :data:`SMEAR_LOW_PX`; the Gaussian takes up the difference of second moment,
    ``sigma'^2 = sigma^2 + (s^2 - s'^2)/12`` (floored at 0.05 px). Other entries are unchanged.
    None when either parameter is not free.

    >>> valley_restart([0.397, 0.34, 0.085], ["sigma_along_px", "sigma_across_px", "smear_along_px"]).round(3).tolist()
    [0.324, 0.34, 0.8]
    >>> valley_restart([0.3, 0.6], ["sigma_along_px", "smear_along_px"]).round(3).tolist()
    [0.345, 0.1]
    >>> valley_restart([0.3], ["sigma_along_px"]) is None
    True
    """
    names = list(free_names)
    if "sigma_along_px" not in names or "smear_along_px" not in names:
        return None
    theta = np.array(values, dtype=np.float64).reshape(-1)
    i_s, i_m = names.index("sigma_along_px"), names.index("smear_along_px")
    sigma, smear = float(theta[i_s]), float(theta[i_m])
    new_smear = SMEAR_HIGH_PX if smear < SMEAR_SPLIT_PX else SMEAR_LOW_PX
    var = sigma**2 + (smear**2 - new_smear**2) / 12.0
    theta[i_s] = math.sqrt(max(var, _MIN_SIGMA_PX**2))
    theta[i_m] = new_smear
    return theta
