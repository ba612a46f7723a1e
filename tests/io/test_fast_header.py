"""The fast fixed-format card parser agrees with astropy, or hands the header over to it."""

from __future__ import annotations

import math

from astropy.io import fits
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.io.fits_header import fast_header

KEYS = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-", min_size=1, max_size=8).filter(
    lambda k: k not in ("END", "COMMENT", "HISTORY", "CONTINUE", "HIERARCH")
)
VALUES = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**62), max_value=2**62),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=60).filter(
        lambda s: not s.rstrip().endswith("&")
    ),
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(KEYS, VALUES, min_size=1, max_size=30), st.booleans())
def test_fast_parser_matches_astropy(cards: dict[str, object], commentary: bool) -> None:
    header = fits.Header()
    for key, value in cards.items():
        header[key] = value
    if commentary:
        header.add_comment("a comment = with an equal sign")
        header.add_history("processed 'quoted'")
    text = header.tostring()
    fast = fast_header(text)
    reference = fits.Header.fromstring(text)
    if fast is None:  # allowed: the full parser takes over (e.g. long strings on CONTINUE cards)
        return
    assert set(fast) == set(reference.keys()) - {"COMMENT", "HISTORY", ""}
    for key in fast:
        want, got = reference[key], fast[key]
        assert type(got) is type(want), key
        if isinstance(want, float):
            assert got == want or (math.isclose(got, want, rel_tol=1e-15)), key
        else:
            assert got == want, key


def test_empty_value_is_none_and_duplicates_go_to_the_full_parser() -> None:
    cards = [
        "SIMPLE  =                    T",
        "ONE     =                    1 / first",
        "NOVAL   =",
        "DEXP    =             1.25D+02",
        "END",
    ]
    text = "".join(c.ljust(80) for c in cards).ljust(2880)
    assert fast_header(text) == {"SIMPLE": True, "ONE": 1, "NOVAL": None, "DEXP": 125.0}
    dup = "".join(c.ljust(80) for c in [*cards[:2], "ONE     =                    2 / second", "END"]).ljust(2880)
    assert fast_header(dup) is None  # the reader refuses a key given twice (tests/io/test_limits.py)


def test_irregular_cards_are_left_to_astropy() -> None:
    def block(*cards: str) -> str:
        return "".join(c.ljust(80) for c in (*cards, "END")).ljust(2880)

    assert fast_header(block("HIERARCH ESO DET = 1")) is None
    assert fast_header(block("LONGSTR = 'abc&'", "CONTINUE  'def'")) is None
    assert fast_header(block("CPLX    = (1.0, 2.0)")) is None
    assert fast_header(block("lower   = 1")) is None
    assert fast_header(block("BADSTR  = 'unterminated")) is None
    assert fast_header(block("JUNK    = 12abc")) is None
    assert fast_header("SIMPLE  =                    T".ljust(2880)) is None  # no END card
