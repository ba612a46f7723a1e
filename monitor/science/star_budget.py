"""Uncertainty budget of a starpool's A_k, by source, as fractions of A (ICD 5 ``a_sigma_components``).

Keys: ``photon``, ``background``, ``ee_correction``, ``psf_model`` (per-star measurement terms),
``template`` (the star-to-star scatter of the reference spectra: the stated prior of
:data:`TEMPLATE_PRIOR_REL` combined with the starpool's estimated ``tau``, a fraction of the
starpool's level; with REF-2 mostly the template mismatch, with REF-1 the black body's; it also
carries the Student factor of ``tau``'s estimate, see :func:`pool_components`), ``star_systematic``
(each star's own scatter over its history beyond photometric noise), all propagated through the
starpool's weighted mean: in quadrature they make up ``a_sigma``; and ``zero_point``, ``rsr``
(common to every star and every starpool of a band: they shift A_k but not its drift, and are not
part of ``a_sigma``). The key set is the project's (issue 14 names the sources; ICD 5 lists the
export's ``a`` and ``a_sigma`` and does not define this object). Pure numpy.

Pinned priors (stated, with their origin):

* template prior: 0 for both models, the starpool's ``tau`` estimating the star-to-star scatter
  instead. Measured with benchmarks/star_ref2.py (5 seeds): a stated 1.5 % prior (the rms of
  CALSPEC Vega and Sun against their nearest Pickles templates, tests/science/test_star_ref2.py:
  1.1 % and 2.6 % over the five bands) made the B1 pulls 0.45 (B1 sits on V, where the scaling
  pins the template: 0.1-0.3 % mismatch), 0.5 % made them 0.75, none 0.85-1.02; the other bands
  did not change (``tau`` of 0.5-5 % dominates there). The library's local scatter around the
  recorded template (the per-star prior of ``a_star_offsets``) is not used here: the components
  decompose ``a_sigma``, whose weights carry the starpool's ``tau``, and ``tau`` holds star-to-star
  scatter that is not template mismatch. Tried (issue 14): on the pipeline's REF-2 test scenario
  (one starpool, 7 stars) ``tau`` is 3.2/27/38/7.0/9.3 % (P/B0/B1/B2/B3) against a library template
  term of 1.1/1.3/0.13/1.8/3.7 % on the mean, and the per-star components then sum to
  0.016/0.122/0.104/0.072/0.083 of A against ``a_sigma`` 0.022/0.205/0.226/0.096/0.108: the excess
  of ``tau`` over the library term would need a key of its own (not done: the project's key set, not
  the ICD's, would change; ``a_star_offsets.template_prior_rms_rel`` records the library term).
* zero point: REF-2 0.5 %, the CALSPEC absolute flux of Vega near 555 nm (Bohlin 2014, AJ 147,
  127; Bohlin et al. 2020, AJ 160, 21); REF-1 3 %, its F_V0 = 3.631e-8 used with an energy average
  (+1.2 % against the CALSPEC photon average alone) and a black body normalised in V.
* RSR: measured 0.5 % (the measured PHR1A responses folded with the STIS solar reference give
  band ESUN of PAN 1551, B0 1938, B1 1851, B2 1608, B3 1050 W m-2 um-1 against Airbus's published
  1548/1915/1830/1594/1060, about 1 %: Airbus, Pleiades Imagery User Guide, annex; shared with the
  solar spectrum); nominal 5 % (logistic edges at the
  published band limits: computed here, Vega's band irradiances through them differ from those
  through the measured PHR1A/PHR1B RSRs by -3.3 to +8.3 %, rms 4.4 %; the Sun's by -1.2 to +3 %).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "COMPONENT_KEYS",
    "TEMPLATE_PRIOR_REL",
    "ZERO_POINT_REL",
    "RSR_REL",
    "pool_components",
]

COMPONENT_KEYS = ("photon", "background", "ee_correction", "psf_model", "template", "zero_point", "rsr",
                  "star_systematic")
TEMPLATE_PRIOR_REL = {"REF-1": 0.0, "REF-2": 0.0}  # per star, relative (module docstring)
ZERO_POINT_REL = {"REF-1": 0.03, "REF-2": 0.005}  # common, relative (module docstring)
RSR_REL = {"measured": 0.005, "nominal": 0.05}  # common, relative (module docstring)


def pool_components(
    a: ArrayLike,
    weights: ArrayLike,
    per_star_rel: dict[str, ArrayLike],
    a_pool: float,
    *,
    zero_point_rel: float,
    rsr_rel: float,
    common_rel: dict[str, float] | None = None,
    variance_factor: float = 1.0,
) -> dict[str, float]:
    """Propagate per-star relative error components through the starpool's weighted mean.

    A component ``c`` with per-star relative values ``c_i`` (independent between stars) gives
    ``sqrt(sum w_i^2 (c_i a_i)^2) / sum w_i / A`` with ``w_i`` the weights of the mean.

    ``variance_factor`` ``F`` (:func:`monitor.science.starpool.student_variance_factor`): the
    starpool's ``a_sigma^2`` is ``F / sum w`` (plus the common terms), ``F > 1`` when the
    star-to-star scatter ``tau`` was estimated from the stars themselves. The excess ``(F - 1)``
    times the per-star components' total variance is carried by ``template``, the term whose
    estimate it accounts for: the components then add up in quadrature to ``a_sigma`` (with
    weights ``1 / total per-star variance``, their per-star parts sum to ``1 / sum w``).

    Parameters
    ----------
    a : array_like, shape (n,)
        Coefficients of the stars used.
    weights : array_like, shape (n,)
        Their weights in the mean (``1 / total variance``).
    per_star_rel : dict of str to array_like (n,) or scalar
        Relative components per star (keys among :data:`COMPONENT_KEYS`); missing keys are 0.
    a_pool : float
        The starpool's A.
    zero_point_rel, rsr_rel : float
        Common relative terms (not averaged down).
    common_rel : dict of str to float, optional
        Other relative components common to every star of the starpool (e.g. ``ee_correction``
        and ``psf_model`` of the light beyond the largest window, from the shared PSF): added in
        quadrature to the averaged per-star part of the same key, not averaged down.

    Returns
    -------
    dict of str to float
        Every key of :data:`COMPONENT_KEYS`, fractions of A.

    Examples
    --------
    Four equal stars with 2 % photon noise each: 1 % on the mean.

    >>> c = pool_components([1.0] * 4, [1.0] * 4, {"photon": 0.02}, 1.0, zero_point_rel=0.005, rsr_rel=0.0)
    >>> round(c["photon"], 6), c["zero_point"], c["background"]
    (0.01, 0.005, 0.0)

    The same with a 2 % star-to-star scatter estimated from 7 stars (``F = 1.5``): the template
    term carries the excess, and the per-star terms add up to ``sqrt(F / sum w) / A``:

    >>> w = [1.0 / (0.02**2 + 0.02**2)] * 7
    >>> c = pool_components([1.0] * 7, w, {"photon": 0.02, "template": 0.02}, 1.0, zero_point_rel=0.0, rsr_rel=0.0,
    ...                     variance_factor=1.5)
    >>> round(c["photon"], 6), round(c["template"], 6), round(math.hypot(c["photon"], c["template"])**2 * sum(w), 6)
    (0.007559, 0.01069, 1.5)

    A 0.1 % EE-correction error common to the four stars stays 0.1 %:

    >>> c = pool_components([1.0] * 4, [1.0] * 4, {"photon": 0.02}, 1.0, zero_point_rel=0.005, rsr_rel=0.0,
    ...                     common_rel={"ee_correction": 0.001})
    >>> c["ee_correction"]
    0.001
    """
    if variance_factor < 1.0:
        raise ValueError("variance_factor must be >= 1")
    av = np.asarray(a, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    sw = float(w.sum())
    out: dict[str, float] = {}
    for key in COMPONENT_KEYS:
        if key == "zero_point":
            out[key] = float(zero_point_rel)
        elif key == "rsr":
            out[key] = float(rsr_rel)
        elif key in per_star_rel and sw > 0.0 and a_pool != 0.0:
            c = np.broadcast_to(np.asarray(per_star_rel[key], dtype=np.float64), av.shape)
            out[key] = math.sqrt(float(np.sum((w * c * av) ** 2))) / sw / abs(a_pool)
        else:
            out[key] = 0.0
    per_star_var = sum(v * v for k, v in out.items() if k not in ("zero_point", "rsr"))
    out["template"] = math.sqrt(out["template"] ** 2 + (variance_factor - 1.0) * per_star_var)
    for key, value in (common_rel or {}).items():
        if key in out and key not in ("zero_point", "rsr"):
            out[key] = math.hypot(out[key], float(value))
    return out
