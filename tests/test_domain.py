"""The shared vocabulary (monitor/domain.py)."""

from __future__ import annotations

from monitor.domain import RejectReason


def test_reject_reason_members_are_named_like_their_values() -> None:
    """A reader who sees ``RejectReason.OFF_CENTRE`` in the code finds ``off-centre`` in the
    catalogue and the export documents (ICD 5), and the other way round."""
    assert [m.name for m in RejectReason] == [m.value.upper().replace("-", "_") for m in RejectReason]
    assert RejectReason.OFF_CENTRE.value == "off-centre"
