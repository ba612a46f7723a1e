"""What one ingest run did: :class:`IngestSummary`."""

from __future__ import annotations

from dataclasses import dataclass, field

from monitor.domain import printable_name

__all__ = ["IngestSummary"]


@dataclass
class IngestSummary:
    """What one ingest run did."""

    ingested: list[str] = field(default_factory=list)  # acq ids
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (file name, reason)
    duplicates: list[str] = field(default_factory=list)  # file names
    recovered: int = 0
    waiting: int = 0  # files not yet complete
    # files left in the inbox for the next run without a verdict (monitor.failures): the file
    # system failed (transient) or the code did (internal error); one line each
    problems: list[str] = field(default_factory=list)
    left: list[tuple[str, str]] = field(default_factory=list)  # the same, as (inbox entry name, reason)

    def leave(self, name: str, reason: str) -> None:
        """Record an inbox entry left for the next run without a verdict, and why (``name``: the
        entry's own name, ``os.fsdecode``; shown escaped)."""
        self.problems.append(f"{printable_name(name)}: {reason}")
        self.left.append((name, reason))

    @property
    def n_files(self) -> int:
        return len(self.ingested) + len(self.rejected) + len(self.duplicates)

    def __str__(self) -> str:
        text = (f"ingested {len(self.ingested)}, rejected {len(self.rejected)}, duplicates {len(self.duplicates)}, "
                f"recovered {self.recovered}, waiting (incomplete) {self.waiting}")
        return text + (f", left in the inbox after errors {len(self.problems)}" if self.problems else "")
