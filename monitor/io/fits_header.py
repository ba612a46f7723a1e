"""FITS header parsing: 2880-byte blocks of 80-byte cards into keyword -> value.

Each header is parsed by a fast parser of plain fixed-format cards, else by
:class:`astropy.io.fits.Header`, whose lazily parsed values are all forced so that a card like
``DARK = 31.5.2`` is refused here as ``BAD_VALUE``. A header holds printable ASCII only and FITS
keywords only; a key given twice (commentary cards aside) is ``BAD_VALUE``: astropy sizes an HDU
from the last ``BITPIX`` but looks values up from the first, so the readers of the processing
would not see what the validation saw.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from typing import Any, cast

from astropy.io import fits

from monitor.domain import RejectReason
from monitor.io.errors import InvalidAcquisitionError, first_line

__all__ = ["BLOCK_BYTES", "CARD_BYTES", "fast_header", "parse_header"]

BLOCK_BYTES = 2880  # FITS logical record

CARD_BYTES = 80

_KEYWORD = re.compile(r"[A-Z0-9_-]{1,8}\Z")

_KEYWORD_FIELD = re.compile(r"[A-Z0-9_-]* *\Z")  # columns 1-8 of any card

_NOT_PRINTABLE_ASCII = re.compile(rb"[^\x20-\x7e]")

_COMMENTARY = ("", "COMMENT", "HISTORY")

_INT_VALUE = re.compile(r"[+-]?\d+\Z")

_FLOAT_VALUE = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[EeDd][+-]?\d+)?\Z")


def _card_value(field: str) -> tuple[bool, Any]:
    """Value of the value field (columns 11-80) of a fixed-format card: (understood, value).

    Strings (with ``''`` for a quote, trailing blanks dropped), logicals, integers, reals (``D``
    exponents too) and an empty field (no value: ``None``). Anything else, and strings that may
    continue on a ``CONTINUE`` card (ending in ``&``), are left to astropy: (False, None).
    """
    v = field.lstrip()
    if v.startswith("'"):
        parts: list[str] = []
        j = 1
        while True:
            k = v.find("'", j)
            if k < 0:
                return False, None
            if v[k + 1 : k + 2] == "'":
                parts.append(v[j : k + 1])
                j = k + 2
                continue
            parts.append(v[j:k])
            rest = v[k + 1 :].strip()
            break
        text = "".join(parts).rstrip()
        if (rest and not rest.startswith("/")) or text.endswith("&") or len(parts) > 1:
            return False, None  # an embedded quote (''): astropy's reading is the reference
        return True, text
    token = v.split("/", 1)[0].strip()
    if token == "T":
        return True, True
    if token == "F":
        return True, False
    if not token:
        return True, None
    if _INT_VALUE.match(token):
        return True, int(token)
    if _FLOAT_VALUE.match(token):
        return True, float(token.replace("D", "E").replace("d", "e"))
    return False, None


def fast_header(text: str) -> dict[str, Any] | None:
    """Keyword -> value of a header of plain fixed-format cards (FITS 4.0 4.2); commentary cards
    are skipped. ``None`` when any card needs the full parser (HIERARCH, CONTINUE, complex values,
    a keyword given twice, anything irregular).

    About 30 times faster than :class:`astropy.io.fits.Header` for our headers, whose parsing
    dominated the ingest and photometry time (benchmarks/star.py).
    """
    out: dict[str, Any] = {}
    for i in range(0, len(text), CARD_BYTES):
        card = text[i : i + CARD_BYTES]
        key = card[:8].rstrip()
        if key == "END":
            return out
        if not _KEYWORD_FIELD.match(card[:8]):
            return None  # not a FITS keyword (astropy refuses it)
        if card[8:10] != "= ":
            if key in ("CONTINUE", "HIERARCH"):
                return None
            continue  # COMMENT, HISTORY, blank and other commentary cards
        if not _KEYWORD.match(key):
            return None
        ok, value = _card_value(card[10:])
        if not ok or key in out:  # a key given twice is refused by the full path
            return None
        out[key] = value
    return None  # no END card: let astropy say what is wrong


def parse_header(raw: bytes, label: str) -> Mapping[str, Any]:
    """Keyword -> value of one header: the fast parser, else astropy with every value forced.

    astropy parses card values lazily: a card like ``DARK = 31.5.2``, ``GAINFACT = 2,25`` or an
    unterminated string only fails when its value is first used, far from here and with an
    ``Unparsable card`` error. Every value is therefore read here, and a failure is a
    ``BAD_VALUE`` naming the HDU and the key.
    """
    bad = _NOT_PRINTABLE_ASCII.search(raw)
    if bad is not None:
        raise InvalidAcquisitionError(
            RejectReason.BAD_VALUE,
            f"the header of {label} contains the byte 0x{raw[bad.start()]:02x} at offset {bad.start()}: "
            "a header holds printable ASCII only (FITS 4.0 section 4.1.1)",
        )
    text = raw.decode("ascii")
    fast = fast_header(text)
    if fast is not None:
        return fast
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            header: fits.Header = fits.Header.fromstring(text)
    except Exception as exc:  # astropy raises several types for malformed cards
        raise InvalidAcquisitionError(
            RejectReason.BAD_VALUE, f"the header of {label} is malformed ({first_line(exc)})"
        ) from exc
    _force_values(header, text, label)
    return cast(Mapping[str, Any], header)


def _force_values(header: fits.Header, text: str, label: str) -> None:
    """Parse the value of every card of an astropy header; refuse the first that cannot be, and
    any keyword given twice (readers disagree on which one counts: astropy sizes an HDU from the
    last ``BITPIX``, looks values up from the first)."""
    seen: dict[str, int] = {}
    for card in header.cards:
        keyword = card.keyword
        seen[keyword] = seen.get(keyword, 0) + 1
        if seen[keyword] > 1 and keyword not in _COMMENTARY:
            raise InvalidAcquisitionError(
                RejectReason.BAD_VALUE, f"key {keyword} appears more than once in the header of {label}"
            )
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                card.value  # noqa: B018 - the lazy parse is the point
        except Exception as exc:  # VerifyError, VerifyWarning, ValueError...
            value = _raw_value(text, keyword, seen[keyword])
            raise InvalidAcquisitionError(
                RejectReason.BAD_VALUE, f"key {keyword} of {label} has an unparsable value {value!r}"
            ) from exc


def _raw_value(text: str, keyword: str, occurrence: int) -> str:
    """The value field (without comment) of the n-th card of ``keyword`` in a header text."""
    n = 0
    for i in range(0, len(text), CARD_BYTES):
        card = text[i : i + CARD_BYTES]
        key = card[:8].rstrip()
        if key == "HIERARCH":
            key, _, field = card[9:].partition("=")
            key = key.strip()
        else:
            field = card[10:]
        if key == keyword:
            n += 1
            if n == occurrence:
                field = field.strip()
                return field if field.startswith("'") else field.split("/", 1)[0].strip()
    return ""
