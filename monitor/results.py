"""The ICD 5 results document (``monitor results --format json``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session

from monitor.catalogue import export
from monitor.domain import ICD_VERSION, REF_VERSION

__all__ = ["build_results", "results_json", "iso_utc"]


def iso_utc(t: datetime) -> str:
    """ISO 8601 UTC with a ``Z`` suffix and millisecond precision."""
    if t.tzinfo is None:
        raise ValueError("naive datetime in results export")
    return t.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def build_results(
    session: Session,
    *,
    satellite: str | None = None,
    band: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[str, Any]:
    """Assemble the ICD 5 document from the latest version of every stored result."""
    rows = export.export_rows(session, satellite=satellite, band=band, since=since, until=until)
    doc: dict[str, Any] = {"icd": ICD_VERSION, "reference_model": REF_VERSION}
    doc.update(_plain(rows))
    return doc


def results_json(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, allow_nan=False)
