"""monitor/reference_data/README.md states the origin and SHA-256 of every shipped table, for the
reference-model version the system records (monitor.domain.REFERENCE_TABLES_VERSION): a table changed, added or
removed without the README (and without a new reference-model version) fails here."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from monitor.domain import REFERENCE_TABLES_VERSION

DATA = Path(__file__).resolve().parents[2] / "monitor" / "reference_data"
ROW = re.compile(r"^\|\s*`(?P<table>[^`]+)`\s*\|.*\|\s*(?P<rows>\d+)\s*\|\s*`(?P<sha>[0-9a-f]{64})`\s*\|\s*$")
CURRENT = re.compile(r"^## Reference model (?P<version>\S+) \(current\)\s*$")


def _readme() -> tuple[str | None, dict[str, tuple[int, str]]]:
    """The current version named by the README and its rows: table -> (data rows, SHA-256)."""
    version, rows = None, {}
    for line in (DATA / "README.md").read_text().splitlines():
        if m := CURRENT.match(line):
            version = m["version"]
        elif (m := ROW.match(line)) and version is not None:
            rows[m["table"]] = (int(m["rows"]), m["sha"])
    return version, rows


def _shipped() -> list[str]:
    return sorted(str(p.relative_to(DATA)) for p in DATA.rglob("*.csv"))


def test_readme_is_for_the_recorded_reference_model() -> None:
    version, _ = _readme()
    assert version == REFERENCE_TABLES_VERSION


def test_every_shipped_table_is_listed_and_nothing_else() -> None:
    _, rows = _readme()
    assert sorted(rows) == _shipped()


def test_checksums_and_row_counts_match_the_tables() -> None:
    _, rows = _readme()
    for table, (n_rows, sha) in rows.items():
        data = (DATA / table).read_bytes()
        assert hashlib.sha256(data).hexdigest() == sha, f"{table} changed: new reference-model version and README entry"
        lines = data.decode().splitlines()
        assert sum(1 for ln in lines if ln.strip() and ln[0] in "0123456789-") == n_rows, table
