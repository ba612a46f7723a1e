"""``deadline(seconds)``: fail a block that runs too long instead of letting the test hang."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["Hang", "deadline"]


class Hang(BaseException):
    """Raised by :func:`deadline`; not an Exception, so that no handler of the code under test
    can swallow it."""


@contextmanager
def deadline(seconds: float, what: str = "the block") -> Iterator[None]:
    """Raise :class:`Hang` in the main thread when the block runs longer than ``seconds``."""

    def alarm(signum: int, frame: object) -> None:
        raise Hang(f"{what} was still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
