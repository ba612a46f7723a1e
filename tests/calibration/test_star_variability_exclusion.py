"""A star flagged variable leaves A_k and the drift (issue 14, ICD 2.2b item 5): in every band,
from then on, and retroactively when the history is recomputed (``monitor process --reprocess``).

Synthetic per-star histories, no database, through the star use-case's own steps:

* which stars a starpool excludes because a flag was raised elsewhere (``_flagged_elsewhere``,
  read from the latest result of every starpool and band of the satellite: under --reprocess an
  earlier starpool is recomputed while the later starpools' results, with the flag, are the latest);
* the mix-corrected level ``a_star_offsets`` (``_star_offset_level``): a flagged star is out with
  its whole history;
* the star-offsets drift (``_star_offset_drift``): every point of a flagged star is out, also those
  before the flag, when the star was still used and its excursion already moved the level.

Truth drawn here: A(t) = A0 (1 + r t), per-star offsets of +-2 %, 0.1 % noise; star 7 is +4 %
brighter from one starpool to the next (0 to +4 %) before its flag. Catches: a flag in another band or a later starpool
ignored, a flagged star's earlier points kept in the drift or the level. Cannot catch: whether the
flag itself is right (tests/calibration/test_star_variability_wiring.py, test_star_variability_drift.py).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from monitor.calibration.star_drift_stage import _star_offset_drift
from monitor.calibration.starpool_stage import _flagged_elsewhere, _star_offset_level
from monitor.catalogue.models import ProcessingRun, Starpool, StarpoolResult
from monitor.science.star_drift import fit_drift_star_offsets

T0 = datetime(2025, 1, 15, tzinfo=UTC)
A0, RATE, NOISE = 10.0, -0.02, 0.001
YEAR_S = 365.25 * 86400.0
VARIABLE, FLAG_POOL, N_POOLS = 7, 5, 8


def _history() -> tuple[list[tuple[StarpoolResult, Starpool]], dict[int, datetime]]:
    """Eight starpools of band P, 8 of 12 stars each (the mix changes), star 7 in every one:
    brightening to +4 % and used before starpool 5, flagged (and not used) from 5 on."""
    rng = np.random.default_rng(1406)
    offset = 1.0 + rng.uniform(-0.02, 0.02, 12)
    history, starts = [], {}
    for j in range(N_POOLS):
        t = 0.25 * j
        epoch = T0 + timedelta(seconds=t * YEAR_S)
        pick = np.union1d(rng.choice([h for h in range(12) if h != VARIABLE], 7, replace=False), [VARIABLE])
        per_star = {}
        for h in pick:
            a = A0 * (1.0 + RATE * t) * offset[h] * (1.0 + NOISE * rng.standard_normal())
            entry: dict[str, object] = {"hip": int(h), "a": a, "a_sigma": NOISE * a, "used": True}
            if h == VARIABLE:
                a *= 1.0 + 0.04 * j / (FLAG_POOL - 1) if j < FLAG_POOL else 1.0  # brightening to +4 %
                entry.update(a=a, a_sigma=NOISE * a, used=j < FLAG_POOL)
                if j >= FLAG_POOL:
                    entry["variability"] = {"n": j + 1, "chi2": 80.0, "p": 1e-9, "rms_rel": 0.02, "flagged": True}
            per_star[f"acq{j}-{h}"] = entry
        pool = Starpool(id=j + 1, satellite="PHR1A", period_key=f"C{j}", period_start=epoch, period_end=epoch)
        res = StarpoolResult(
            starpool_id=j + 1,
            band="P",
            version=1,
            run_id=1,
            epoch=epoch,
            a=A0,
            a_sigma=0.01,
            n_used=len(pick),
            n_rejected=0,
            half_width_px=5,
            ee_source="none",
            per_star=per_star,
            acquisition_ids=list(per_star),
            created_at=epoch,
        )
        history.append((res, pool))
        starts[j + 1] = epoch
    return history, starts


def test_a_flag_anywhere_excludes_the_star_everywhere_and_retroactively() -> None:
    history, _ = _history()
    per_star = [(p.id, r.band, r.per_star) for r, p in history]
    per_star.append(
        (
            FLAG_POOL + 2,
            "B3",
            {"x": {"hip": 3, "a": 1.0, "a_sigma": 0.01, "used": False, "variability": {"flagged": True}}},
        )
    )
    first = history[0][1]
    # starpool 1 (band P), recomputed under --reprocess: the later starpools' flags of star 7 (band P)
    # and star 3 (band B3) exclude both
    assert _flagged_elsewhere(per_star, first, "P") == {VARIABLE, 3}
    # band B3 of starpool 7 is recomputed now: its own old flag of star 3 does not count, star 7's does
    assert _flagged_elsewhere(per_star, history[FLAG_POOL + 1][1], "B3") == {VARIABLE}


def test_flagged_star_leaves_the_level_and_the_drift_with_its_history() -> None:
    history, starts = _history()
    per_star = [(p.id, r.band, r.per_star) for r, p in history]
    # the level of the last starpool with star 7 excluded: its points of every starpool are out
    last_res, last_pool = history[-1]
    own = {e["hip"]: e for e in last_res.per_star.values() if e["hip"] != VARIABLE}
    hips = sorted(own)
    a = np.array([own[h]["a"] for h in hips])
    lev = _star_offset_level(
        per_star, starts, last_pool, "P", hips, a, NOISE * a, np.ones(len(hips), bool), np.zeros(len(hips)), {VARIABLE}
    )
    assert lev is not None
    assert lev["n_stars"] == len(hips)
    # the drift: every point of star 7 out, those of starpools 0-4 too (used then)
    run = ProcessingRun(id=1, kind="process", started_at=T0)
    out = _star_offset_drift(run, T0, "PHR1A", "P", history)
    assert out is not None
    row, fit = out
    n_other = sum(1 for r, _ in history for e in r.per_star.values() if e["hip"] != VARIABLE)
    assert fit.n_points == row.n_points == n_other
    t = 0.25 * np.arange(N_POOLS)
    true_log_rate = float(np.polyfit(t, np.log1p(RATE * t), 1)[0])  # the fit's rate is that of ln A
    assert row.rate_per_year == pytest.approx(true_log_rate, abs=4 * fit.rate_sigma_per_year)
    # with star 7's used points kept (no retroactive exclusion) its brightening before the flag moves the rate
    pts = [
        ((r.epoch - T0).total_seconds() / YEAR_S, e["a"], e["a_sigma"], e["hip"])
        for r, _ in history
        for e in r.per_star.values()
        if e["used"]
    ]
    arr = np.array(pts)
    kept = fit_drift_star_offsets(arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3].astype(np.int64))
    assert abs(kept.rate_per_year - fit.rate_per_year) > 4 * fit.rate_sigma_per_year  # measured: 5.7 sigma
