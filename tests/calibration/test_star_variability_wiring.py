"""The star use-case's variability step on a synthetic history (no database): the history of the
other starpools plus this starpool's members goes through the two-way test, only this starpool's
stars are reported, a 4 % variable is flagged and constant stars are not (ICD 2.2b item 5)."""

from __future__ import annotations

import numpy as np

from monitor.calibration.starpool_stage import _variability


def test_variable_star_of_the_history_is_flagged_and_constant_ones_are_not() -> None:
    rng = np.random.default_rng(8)
    hips = list(range(100, 112))
    offsets = 1.0 + rng.normal(0.0, 0.02, len(hips))  # template mismatch per star
    history = []
    for pool in range(1, 7):  # six earlier starpools, pool levels drifting and jittering
        level = 1000.0 * (1.0 - 0.01 * pool) * (1.0 + rng.normal(0.0, 0.005))
        for i, h in enumerate(hips):
            wobble = 1.0 + (0.04 if (h == 105 and pool % 2) else 0.0)
            a = level * offsets[i] * wobble * (1.0 + rng.normal(0.0, 0.002))
            history.append((h, pool, a, 0.002 * a))
    level = 930.0
    a_now = np.array([level * offsets[i] * (1.0 + rng.normal(0.0, 0.002)) for i in range(len(hips))])
    out = _variability(history, 7, hips[:8], a_now[:8], 0.002 * a_now[:8])
    assert sorted(out) == hips[:8]  # only this starpool's stars
    assert out[105]["flagged"] and out[105]["n"] == 7
    assert not any(v["flagged"] for h, v in out.items() if h != 105)
    assert out[105]["p"] < 1e-6 and 0.01 < out[105]["rms_rel"] < 0.03
