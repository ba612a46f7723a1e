"""Model-choice uncertainty of the starpool PSF fit by model averaging over nested admissible models.

The joint PSF fit (:mod:`monitor.science.mtf_fit`) frees a handful of shared parameters that real
optics and platforms move (blur along/across, along-track smear, low-order wave-front error along/
across). Other admissible models of the same data hold one or several of them at their design
(initial) values. Their estimates differ from the full model's; how much that spread should count
is decided by the data through the models' Akaike weights, not by a tuned scale factor
(Burnham & Anderson 2002 §4.2-4.3; Buckland, Burnham & Augustin 1997):

* each alternative ``a`` holds the parameters ``F_a`` at ``theta0``; in the locally linear problem
  its solution is the conditional mean ``theta_a = theta - C[:, F] C[F, F]^-1 (theta_F - theta0_F)``
  (:func:`monitor.science.mtf_fit.alternative_model_shift`) and its chi2 exceeds the full model's by
  ``dchi2_a = d^T C[F, F]^-1 d``, ``d = theta_F - theta0_F`` (``C`` the fit's covariance, scaled by
  chi2/dof when that exceeds 1: the quasi-likelihood QAIC of Burnham & Anderson §6.2);
* ``AIC_a - AIC_full = dchi2_a - 2 |F_a|``, weights ``w_a ∝ exp(-(AIC_a - AIC_full)/2)`` over the full
  model and the alternatives;
* the model-choice 1-sigma of a derived quantity ``q`` (MTF at Nyquist, a point of the MTF curve,
  the starpool's summed signal) reported from the full model is the weighted rms of the ensemble's
  departures from it, ``sqrt(sum_a w_a (q_a - q_full)^2)``: the spread that the data cannot resolve
  between models they find (nearly) equally good, nothing from models they reject.

Status (branch i15c, benchmarks/mtf.py on the pupil truth, 8 pools per family and band): as the
model-choice sigma of the fit it UNDER-COVERS where it matters most: on defocus 0.06 wave in B2 the
data reject the models without wave-front error (dchi2 100-170) and the remaining nested models
barely move the MTF, while the full model's MTF at Nyquist is 3-6 sigma off (the ATF depth's shape
error is not represented by any nested model): reported-MTF pull std 1.67/2.27 along/across against
0.51/0.69 with the x2 rule (``monitor.science.mtf_select.MODEL_CHOICE_SCALE``), which stays. The fit
records the ensemble as a diagnostic (``PsfFitResult.model_ensemble``).

What it can and cannot catch: it covers the PSF-shape freedom WITHIN the parametric family (e.g.
whether the along-track blur is a Gaussian or a box, whether a core broadening is blur or defocus).
It does not cover a truth outside every member of the ensemble (spider vanes, a different pupil):
those are the misfit tests' and the ePSF comparison's job (:mod:`monitor.science.epsf`).

References
----------
Buckland, S. T., Burnham, K. P. & Augustin, N. H. (1997), Biometrics 53, 603 (model selection: an
integral part of inference).
Burnham, K. P. & Anderson, D. R. (2002), Model Selection and Multimodel Inference, 2nd ed., Springer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["ModelEnsemble", "default_alternatives", "nested_model_ensemble", "ensemble_sigma"]


@dataclass(frozen=True)
class ModelEnsemble:
    """The full model and its nested alternatives, locally linearised around the full fit.

    Attributes
    ----------
    names : tuple of tuple of str
        Parameters held at their initial values by each model (``()`` for the full model, first).
    shifts : ndarray, shape (n_models, n_par)
        Parameter change from the full fit to each model (zeros for the full model).
    delta_chi2 : ndarray, shape (n_models,)
        chi2 increase of each model over the full one (0 for the full model).
    weights : ndarray, shape (n_models,)
        Akaike weights (sum 1).
    """

    names: tuple[tuple[str, ...], ...]
    shifts: NDArray[np.float64]
    delta_chi2: NDArray[np.float64]
    weights: NDArray[np.float64]

    def as_dict(self) -> dict[str, object]:
        """JSON-ready summary: per model the held parameters, dchi2 and weight."""
        return {
            "models": [list(n) for n in self.names],
            "delta_chi2": [float(v) for v in self.delta_chi2],
            "weights": [float(v) for v in self.weights],
        }


def default_alternatives(free_names: Sequence[str], design_names: Sequence[str]) -> list[tuple[str, ...]]:
    """The nested models of the ensemble: each freed parameter held alone, and all of ``design_names``
    together (those free parameters whose design value is a natural null, e.g. the wave-front error).

    >>> default_alternatives(["a", "b", "c"], ["b", "c"])
    [('a',), ('b',), ('c',), ('b', 'c')]
    """
    singles = [(n,) for n in free_names]
    group = tuple(n for n in design_names if n in free_names)
    out: list[tuple[str, ...]] = list(singles)
    if len(group) > 1:
        out.append(group)
    return out


def nested_model_ensemble(
    values: ArrayLike,
    covariance: ArrayLike,
    free_names: Sequence[str],
    alternatives: Sequence[Sequence[str]],
    fixed_values: ArrayLike,
) -> ModelEnsemble:
    """Shifts, chi2 increases and Akaike weights of the nested models (module docstring).

    Parameters
    ----------
    values : array_like, shape (n_par,)
        Full-model estimates; the first ``len(free_names)`` are the shared PSF parameters, the
        rest nuisance parameters (star fluxes, centres, backgrounds), which follow the shift.
    covariance : array_like, shape (n_par, n_par)
        Covariance of all parameters at the solution.
    free_names : sequence of str
        Names of the shared parameters (the first entries of ``values``).
    alternatives : sequence of sequences of str
        Parameters held by each alternative model; names not freed are ignored, and an empty or
        repeated alternative is dropped.
    fixed_values : array_like, shape (n_par,)
        Values at which the held parameters are fixed (the design / initial values).

    Returns
    -------
    ModelEnsemble
        Full model first.

    Examples
    --------
    Two correlated parameters; the data put the second at 2 sigma from its design value 0: the
    model without it is 2 sigma worse (dchi2 4) but has one parameter less (AIC -2), so its weight
    is ``exp(-1) / (1 + exp(-1))``:

    >>> ens = nested_model_ensemble([1.0, 0.2], [[1.0, 0.005], [0.005, 0.01]], ["a", "b"], [("b",)], [0.0, 0.0])
    >>> ens.delta_chi2.round(3).tolist(), ens.weights.round(3).tolist(), ens.shifts[1].round(3).tolist()
    ([0.0, 4.0], [0.731, 0.269], [-0.1, -0.2])
    """
    theta = np.asarray(values, dtype=np.float64).reshape(-1)
    c = np.asarray(covariance, dtype=np.float64)
    theta0 = np.asarray(fixed_values, dtype=np.float64).reshape(-1)
    names: list[tuple[str, ...]] = [()]
    shifts = [np.zeros_like(theta)]
    dchi2 = [0.0]
    n_held = [0]
    seen: set[tuple[int, ...]] = set()
    for alt in alternatives:
        idx = tuple(sorted({list(free_names).index(n) for n in alt if n in free_names}))
        if not idx or idx in seen:
            continue
        seen.add(idx)
        ii = np.asarray(idx, dtype=np.int64)
        delta = theta[ii] - theta0[ii]
        try:
            gain = np.linalg.solve(c[np.ix_(ii, ii)], delta)
        except np.linalg.LinAlgError:
            continue
        if not np.all(np.isfinite(gain)):
            continue
        names.append(tuple(free_names[i] for i in idx))
        shifts.append(np.asarray(-c[:, ii] @ gain, dtype=np.float64))
        dchi2.append(max(float(delta @ gain), 0.0))
        n_held.append(len(idx))
    d = np.asarray(dchi2, dtype=np.float64)
    aic = d - 2.0 * np.asarray(n_held, dtype=np.float64)
    logw = -0.5 * (aic - aic.min())
    w = np.exp(logw)
    return ModelEnsemble(tuple(names), np.stack(shifts), d, w / w.sum())


def ensemble_sigma(ensemble: ModelEnsemble, jacobian: ArrayLike) -> NDArray[np.float64]:
    """Model-choice 1-sigma of derived quantities with parameter Jacobian rows ``jacobian`` (m, k).

    ``sqrt(sum_a w_a (J s_a)^2)`` with ``s_a`` the first ``k`` entries of each model's shift
    (linear propagation; the full model contributes 0).

    >>> ens = nested_model_ensemble([1.0, 0.2], [[1.0, 0.005], [0.005, 0.01]], ["a", "b"], [("b",)], [0.0, 0.0])
    >>> round(float(ensemble_sigma(ens, [[1.0, 0.0]])[0]), 4)  # 0.1 sqrt(0.269)
    0.0519
    """
    j = np.atleast_2d(np.asarray(jacobian, dtype=np.float64))
    k = j.shape[1]
    dq = ensemble.shifts[:, :k] @ j.T  # (n_models, m)
    return np.asarray(np.sqrt(ensemble.weights @ (dq * dq)), dtype=np.float64)
