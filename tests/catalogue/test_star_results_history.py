"""The variability history a starpool unit reads once (star_results.latest_per_star) and keeps
current with each band it computes (star_results.with_latest_per_star): the kept list must be what
a new read of the catalogue returns after the band's result is added (the truth is the catalogue's
own query, not the update)."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlmodel import Session

from monitor.catalogue import star_results
from tests.catalogue import rows

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def _entries(hip: int, a: float, flagged: bool = False) -> dict[str, dict[str, object]]:
    return {f"A{hip}": {"hip": hip, "a": a, "a_sigma": 0.01 * a, "used": True,
                        "variability": {"n": 3, "chi2": 1.0, "p": 0.5, "rms_rel": 0.0, "flagged": flagged}}}


def _as_set(per_star: list[tuple[int, str, dict[str, object]]]) -> dict[tuple[int, str], dict[str, object]]:
    out = {(i, b): ps for i, b, ps in per_star}
    assert len(out) == len(per_star)  # one entry per starpool and band
    return out


def test_the_kept_history_is_what_a_new_read_returns(session: Session) -> None:
    run = rows.run(session, T0)
    jan = rows.starpool(session, "PHR1A", "PHR1A-2026-01", T0, T0)
    feb = rows.starpool(session, "PHR1A", "PHR1A-2026-02", T0, T0)
    other = rows.starpool(session, "PHR1B", "PHR1B-2026-01", T0, T0)  # another satellite: not in the history
    rows.starpool_result(session, run, jan, "P", 1, T0, 1.0, _entries(11, 1.0))
    rows.starpool_result(session, run, jan, "B0", 1, T0, 1.1, _entries(11, 1.1))
    rows.starpool_result(session, run, feb, "P", 1, T0, 1.2, _entries(12, 1.2))
    rows.starpool_result(session, run, other, "P", 1, T0, 9.0, _entries(13, 9.0))
    session.commit()
    assert jan.id is not None and feb.id is not None
    kept = star_results.latest_per_star(session, "PHR1A")
    assert set(_as_set(kept)) == {(jan.id, "P"), (jan.id, "B0"), (feb.id, "P")}

    # feb recomputed in P (a new version: replaces the latest) and computed in B0 for the first time
    for band, a in (("P", 1.3), ("B0", 1.4)):
        new = _entries(12, a, flagged=band == "B0")
        rows.starpool_result(session, run, feb, band, 2 if band == "P" else 1, T0, a, new)
        session.flush()
        kept = star_results.with_latest_per_star(kept, feb.id, band, new)
        assert _as_set(kept) == _as_set(star_results.latest_per_star(session, "PHR1A"))
    assert _as_set(kept)[(feb.id, "P")]["A12"]["a"] == 1.3  # type: ignore[index]
    session.rollback()
    assert session.execute(sa.text("SELECT count(*) FROM starpool_result")).scalar_one() == 4
