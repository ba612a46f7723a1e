"""Choice of the reported MTF of a starpool: parametric fit or non-parametric ePSF, and its honest 1-sigma.

The two estimates at Nyquist are compared against their statistical uncertainties
(:func:`compare_mtf`); the spread between two admissible estimates that those do not explain is a
model-choice term (:func:`model_choice_sigma`); :func:`select_mtf` reports the parametric fit when
it passes its misfit tests and agrees with the ePSF, else the ePSF. The estimates themselves:
:mod:`monitor.science.mtf_fit` (parametric) and :mod:`monitor.science.epsf` (stacked-LSF ePSF).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from monitor.science.epsf import EpsfMtfResult

__all__ = [
    "MtfComparison",
    "MtfSelection",
    "compare_mtf",
    "model_choice_sigma",
    "select_mtf",
]


@dataclass(frozen=True)
class MtfComparison:
    """Parametric vs non-parametric MTF at Nyquist.

    Attributes
    ----------
    difference_along, difference_across : float
        Non-parametric minus parametric MTF at Nyquist.
    threshold_along, threshold_across : float
        Allowed |difference| (tolerance plus n_sigma times the combined uncertainty).
    flagged : tuple of str
        Directions (``"along"``, ``"across"``) where the two disagree.
    """

    difference_along: float
    difference_across: float
    threshold_along: float
    threshold_across: float
    flagged: tuple[str, ...]

    @property
    def is_consistent(self) -> bool:
        """True when no direction is flagged."""
        return not self.flagged


def compare_mtf(
    parametric: tuple[float, float],
    nonparametric: tuple[float, float],
    tolerance: float = 0.0,
    *,
    parametric_sigma: tuple[float, float] = (0.0, 0.0),
    nonparametric_sigma: tuple[float, float] = (0.0, 0.0),
    n_sigma: float = 3.0,
) -> MtfComparison:
    """Flag disagreement between the parametric and non-parametric MTF at Nyquist.

    Parameters
    ----------
    parametric, nonparametric : (float, float)
        (along, across) MTF at Nyquist of the two methods.
    tolerance : float
        Allowed absolute difference (MTF units) beyond the statistical threshold; 0 by default:
        the threshold comes from the two methods' uncertainties (the ePSF's bootstrap over stars
        and the parametric sigma), not from a fixed margin.
    parametric_sigma, nonparametric_sigma : (float, float)
        1-sigma statistical uncertainties, combined in quadrature.
    n_sigma : float
        Multiplier of the combined sigma added to the tolerance.

    Returns
    -------
    MtfComparison
        A direction is flagged when ``|np - p| > tolerance + n_sigma · hypot(s_p, s_np)``.
    """
    if tolerance < 0.0 or n_sigma < 0.0:
        raise ValueError("tolerance and n_sigma must be >= 0")
    diffs = (nonparametric[0] - parametric[0], nonparametric[1] - parametric[1])
    thresholds = tuple(
        tolerance + n_sigma * float(np.hypot(parametric_sigma[i], nonparametric_sigma[i])) for i in range(2)
    )
    flagged = tuple(name for name, d, t in zip(("along", "across"), diffs, thresholds, strict=True) if not abs(d) <= t)
    return MtfComparison(
        difference_along=float(diffs[0]),
        difference_across=float(diffs[1]),
        threshold_along=thresholds[0],
        threshold_across=thresholds[1],
        flagged=flagged,
    )


@dataclass(frozen=True)
class MtfSelection:
    """The MTF reported for a starpool and band: parametric or non-parametric, and why.

    Attributes
    ----------
    method : {"parametric", "epsf"}
        The reported estimate: the parametric fit when it fits the data (no misfit flag, agrees
        with the ePSF), else the stacked-LSF ePSF.
    mtf_nyquist_along, mtf_nyquist_across : float
        Reported MTF at Nyquist.
    mtf_nyquist_along_sigma, mtf_nyquist_across_sigma : float
        Their 1-sigma, including the model-choice term.
    model_sigma_along, model_sigma_across : float
        Model-choice term: ``sqrt(max(0, d^2 - s_p^2 - s_e^2))`` with ``d`` the ePSF minus
        parametric difference (the part of the spread between the two admissible estimates that
        their statistical errors do not explain), added in quadrature to the parametric sigma
        when the parametric estimate is reported; 0 for the ePSF, whose bootstrap over stars
        already carries the star-to-star and centring scatter.
    misfit_flagged : bool
        The parametric fit's misfit flag (:class:`monitor.science.mtf_misfit.MisfitStatistics`).
    comparison : MtfComparison
        Parametric vs ePSF at Nyquist with the statistical threshold.
    parametric_sigma_along, parametric_sigma_across : float
        The parametric estimate's honest 1-sigma whether or not it is reported: the fit's
        statistical sigma, its own model-choice term and the ePSF-disagreement term in quadrature
        (the sigma of the issue-15 test "misfit flagged where the parametric error exceeds 3 sigma").
    """

    method: str
    mtf_nyquist_along: float
    mtf_nyquist_along_sigma: float
    mtf_nyquist_across: float
    mtf_nyquist_across_sigma: float
    model_sigma_along: float
    model_sigma_across: float
    misfit_flagged: bool
    comparison: MtfComparison
    parametric_sigma_along: float = 0.0
    parametric_sigma_across: float = 0.0

    def as_dict(self) -> dict[str, object]:
        """JSON-ready summary (recorded with the stored MTF rows)."""
        c = self.comparison
        return {
            "method": self.method,
            "misfit_flagged": bool(self.misfit_flagged),
            "model_sigma_along": float(self.model_sigma_along),
            "model_sigma_across": float(self.model_sigma_across),
            "difference_along": float(c.difference_along),
            "difference_across": float(c.difference_across),
            "threshold_along": float(c.threshold_along),
            "threshold_across": float(c.threshold_across),
            "disagree": list(c.flagged),
            "parametric_sigma_along": float(self.parametric_sigma_along),
            "parametric_sigma_across": float(self.parametric_sigma_across),
        }


def model_choice_sigma(difference: ArrayLike, *sigmas: ArrayLike) -> NDArray[np.float64]:
    """Spread between two admissible estimates that their statistical errors do not explain.

    ``sqrt(max(0, d^2 - sum_i s_i^2))`` elementwise.

    >>> model_choice_sigma([0.005, 0.001], [0.003, 0.003], [0.0, 0.0]).round(6).tolist()
    [0.004, 0.0]
    """
    d = np.asarray(difference, dtype=np.float64)
    var = sum((np.asarray(s, dtype=np.float64) ** 2 for s in sigmas), np.zeros_like(d))
    return np.asarray(np.sqrt(np.maximum(d * d - var, 0.0)), dtype=np.float64)


def select_mtf(
    parametric: tuple[float, float],
    parametric_sigma: tuple[float, float],
    nonparametric: EpsfMtfResult,
    misfit_flagged: bool,
    *,
    n_sigma: float = 3.0,
    parametric_model_sigma: tuple[float, float] = (0.0, 0.0),
) -> MtfSelection:
    """Choose the reported MTF at Nyquist and its honest 1-sigma.

    The parametric estimate is reported when its fit passes the misfit tests and agrees with the
    ePSF within ``n_sigma`` combined sigma (its sigma then grows by the model-choice terms);
    otherwise the ePSF with its bootstrap-over-stars sigma (run :func:`epsf_mtf` with
    ``n_bootstrap > 0``). ``parametric_model_sigma`` is the fit's own model-choice term (the MTF
    change to another admissible parametric model,
    ``PsfFitResult.mtf_nyquist_*_model_sigma``): it is added to the parametric sigma before the
    comparison with the ePSF and in the reported sigma.

    Examples
    --------
    >>> import numpy as np
    >>> ep = EpsfMtfResult(np.zeros(1), np.zeros(1), np.zeros(1), 0.104, 0.121, np.zeros(1), np.zeros(1),
    ...                    np.zeros(1), 25, mtf_nyquist_along_sigma=0.002, mtf_nyquist_across_sigma=0.002)
    >>> ok = select_mtf((0.100, 0.120), (0.001, 0.001), ep, misfit_flagged=False)
    >>> ok.method, round(ok.model_sigma_along, 4), round(ok.mtf_nyquist_along_sigma, 4)
    ('parametric', 0.0033, 0.0035)
    >>> select_mtf((0.100, 0.120), (0.001, 0.001), ep, misfit_flagged=True).method
    'epsf'
    """
    e = (nonparametric.mtf_nyquist_along, nonparametric.mtf_nyquist_across)
    es = (nonparametric.mtf_nyquist_along_sigma, nonparametric.mtf_nyquist_across_sigma)
    ps = np.hypot(np.asarray(parametric_sigma, dtype=np.float64), np.asarray(parametric_model_sigma, dtype=np.float64))
    parametric_sigma = (float(ps[0]), float(ps[1]))
    cmp = compare_mtf(parametric, e, 0.0, parametric_sigma=parametric_sigma, nonparametric_sigma=es, n_sigma=n_sigma)
    diffs = np.array([cmp.difference_along, cmp.difference_across])
    model = model_choice_sigma(diffs, np.asarray(parametric_sigma), np.asarray(es))
    total = np.hypot(np.asarray(parametric_sigma), model)
    if misfit_flagged or cmp.flagged:
        return MtfSelection(
            "epsf", e[0], es[0], e[1], es[1], 0.0, 0.0, bool(misfit_flagged), cmp, float(total[0]), float(total[1])
        )
    return MtfSelection(
        "parametric",
        parametric[0],
        float(total[0]),
        parametric[1],
        float(total[1]),
        float(model[0]),
        float(model[1]),
        bool(misfit_flagged),
        cmp,
        float(total[0]),
        float(total[1]),
    )
