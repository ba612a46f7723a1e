"""``monitor demo`` end to end on one simulated month: every simulated file gets a verdict (none is
left waiting in the inbox: the demo's clock is simulated, its files' times are real), and the PDF is
a real PDF with pages. What this cannot catch: the quality of the numbers (the science tests do)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pypdf import PdfReader

from monitor.demo import run_demo


@pytest.mark.slow
def test_demo_accounts_for_every_simulated_file_and_writes_a_pdf(tmp_path: Path) -> None:
    site = tmp_path / "demo"
    lines = run_demo(site, months=1, seed=7)
    assert not [p.name for p in (site / "inbox").iterdir()], "files left in the demo inbox"
    ingested = next(line for line in lines if line.startswith("ingested"))
    assert "incomplete" not in ingested
    n_quarantined = sum(1 for p in (site / "quarantine").rglob("*") if p.is_file() and p.suffix != ".json")
    assert n_quarantined > 0  # the simulator's bad files were refused, not waited for
    pdf = Path(lines[-1].removeprefix("report: "))
    assert len(PdfReader(pdf).pages) >= 3
