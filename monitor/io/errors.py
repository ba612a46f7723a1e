"""The refusal of an acquisition file: :class:`InvalidAcquisitionError` (reason + one-line message)."""

from __future__ import annotations

from pathlib import Path

from monitor.domain import RejectReason, printable_name

__all__ = ["InvalidAcquisitionError", "shown_name", "first_line"]


class InvalidAcquisitionError(Exception):
    """An acquisition file that must be refused.

    Attributes
    ----------
    reason : RejectReason
        Category reported in ``measurements[].reason`` (ICD 5).
    message : str
        One sentence naming the HDU, key and value at fault.
    acq_id : str or None
        ``ACQ_ID`` of the file when it could be read, else None.
    """

    def __init__(self, reason: RejectReason, message: str, acq_id: str | None = None) -> None:
        message = printable_name(" ".join(message.splitlines()))  # always one printable line
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.acq_id = acq_id

    def __str__(self) -> str:
        return f"{self.reason.value}: {self.message}"


def shown_name(path: Path) -> str:
    """The file name as shown in messages (non-printable characters escaped)."""
    return printable_name(path.name)


def first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
