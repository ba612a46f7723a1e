"""Ingest of good, duplicate, conflicting and bad files on a real catalogue."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from monitor.catalogue.models import Acquisition, BandImage, Rejection
from monitor.ingest.service import complete_files, run_ingest
from monitor.io.fits_writer import write_acquisition
from monitor.results import build_results
from monitor.settings import Settings
from monitor.site import open_engine, utc_now

from .files import age, catalogue_rows, ingest_now, star_header, star_images, write_bad_files, write_star


@pytest.mark.parametrize("batch_files", [1, 2, 32])
def test_good_duplicate_conflict_and_bad_files(site: Settings, batch_files: int) -> None:
    """Files are checked and looked up in chunks of ``batch_files``: a duplicate or a conflict is
    found within a chunk (32: all together; 2: ``a.fits`` and ``a_again.fits``) and across chunks (1)."""
    site = replace(site, ingest=replace(site.ingest, batch_files=batch_files))
    inbox = site.inbox
    write_star(inbox, "a.fits", "PHR1A-STAR-20250314T021533-0001", seed=1)
    write_star(inbox, "b.fits", "PHR1A-STAR-20250314T021533-0002", seed=2, hip=30438)
    shutil.copy(inbox / "a.fits", inbox / "a_again.fits")  # same bytes, another name
    write_star(inbox, "c.fits", "PHR1A-STAR-20250314T021533-0001", seed=3)  # same ACQ_ID, other bytes
    expected_bad = write_bad_files(inbox)

    summary = ingest_now(site)

    assert sorted(summary.ingested) == ["PHR1A-STAR-20250314T021533-0001", "PHR1A-STAR-20250314T021533-0002"]
    assert summary.duplicates == ["a_again.fits"]
    reasons = dict(summary.rejected)
    assert reasons == {**expected_bad, "c.fits": "conflict"}

    acqs = {a.acq_id: a for a in catalogue_rows(site, Acquisition)}
    assert set(acqs) == set(summary.ingested)
    a = acqs["PHR1A-STAR-20250314T021533-0001"]
    assert a.file_name == "a.fits" and a.status == "archived" and a.hip == 32349
    assert a.date_obs == datetime(2025, 3, 14, 2, 15, 33, 120000, tzinfo=UTC)
    assert a.archive_path == "archive/PHR1A/2025/03/a.fits"
    assert (site.site / a.archive_path).is_file()
    bands = {b.band: b for b in catalogue_rows(site, BandImage) if b.acquisition_id == a.id}
    assert set(bands) == {"P", "B0"}
    assert (bands["P"].rows, bands["P"].cols, bands["P"].saturate_dn) == (64, 64, 4000.0)

    rejections = {r.file_name: r for r in catalogue_rows(site, Rejection)}
    assert {n: r.reason for n, r in rejections.items()} == {**expected_bad, "c.fits": "conflict",
                                                           "a_again.fits": "duplicate"}
    for r in rejections.values():
        assert r.state == "done"
        assert (site.site / r.quarantine_path).is_file(), r.quarantine_path
        assert len(r.message) > 20
    assert "SC_POSX" in rejections["nokey.fits"].message
    assert "XX" in rejections["badband.fits"].message
    assert "B0" in rejections["nan.fits"].message
    assert rejections["a_again.fits"].quarantine_path.startswith("quarantine/duplicates/")

    assert sorted(p.name for p in inbox.iterdir()) == []  # inbox emptied, markers removed

    engine = open_engine(site)
    with Session(engine) as session:
        doc = json.loads(json.dumps(build_results(session), default=str))
    engine.dispose()
    assert doc["icd"] == "ICD-1" and doc["reference_model"] == "REF-1"
    meas = doc["measurements"]
    ok = [m for m in meas if m["status"] == "ok"]
    assert {(m["acq_id"], m["band"]) for m in ok} == {
        (i, b) for i in summary.ingested for b in ("P", "B0")
    }
    refused = {m["file"]: (m["status"], m["reason"], m["band"]) for m in meas if m["status"] != "ok"}
    assert refused["a_again.fits"] == ("duplicate", "duplicate", None)
    assert refused["garbage.fits"] == ("rejected", "not-fits", None)
    assert refused["cut.fits"] == ("rejected", "truncated", None)


def test_a_star_file_must_point_at_a_reference_star(site: Settings) -> None:
    """The reference star list's rule (monitor.reference_stars, outside io) is applied by the ingest."""
    h = star_header("PHR1A-STAR-20250314T021533-0011")
    write_acquisition(site.inbox / "unknown.fits", replace(h, target="HIP 1"), star_images(h, 1))
    h = star_header("PHR1A-STAR-20250314T021533-0012")
    assert h.ra_deg is not None
    write_acquisition(site.inbox / "off.fits", replace(h, ra_deg=h.ra_deg + 2.0), star_images(h, 2))
    write_star(site.inbox, "good.fits", "PHR1A-STAR-20250314T021533-0013", seed=3)

    summary = ingest_now(site)

    assert summary.ingested == ["PHR1A-STAR-20250314T021533-0013"]
    assert dict(summary.rejected) == {"unknown.fits": "bad-value", "off.fits": "bad-value"}
    messages = {r.file_name: r.message for r in catalogue_rows(site, Rejection)}
    assert messages["unknown.fits"] == "TARGET 'HIP 1' is not in the reference star list (REF-1 stars.csv)"
    assert "deg away from HIP 32349 in the reference star list (tolerance 1 deg)" in messages["off.fits"]


def test_rerun_is_idempotent_and_same_bytes_later_is_a_duplicate(site: Settings) -> None:
    p = write_star(site.inbox, "a.fits", "PHR1A-STAR-20250314T021533-0001", seed=1)
    keep = p.read_bytes()
    assert len(ingest_now(site).ingested) == 1
    again = ingest_now(site)
    assert again.n_files == 0 and again.recovered == 0
    (site.inbox / "a.fits").write_bytes(keep)  # the same file delivered again, same name
    later = ingest_now(site)
    assert later.duplicates == ["a.fits"] and later.ingested == []
    assert len(catalogue_rows(site, Acquisition)) == 1


def test_incomplete_files_wait(site: Settings, tmp_path: Path) -> None:
    inbox = site.inbox
    p = write_star(inbox, "a.fits", "PHR1A-STAR-20250314T021533-0001", seed=1)
    (inbox / "a.fits.done").unlink()
    now = datetime.now(UTC)
    ready, waiting = complete_files(inbox, now, settle_seconds=30)
    assert ready == [] and waiting == 1  # fresh file, no marker: still being written
    age(p, 60)
    ready, waiting = complete_files(inbox, now, settle_seconds=30)
    assert ready == [p] and waiting == 0
    (inbox / "b.fits.part").write_bytes(b"partial")
    age(inbox / "b.fits.part", 3600)
    assert complete_files(inbox, now + timedelta(hours=1), settle_seconds=30)[0] == [p]


@pytest.mark.parametrize(("key", "field"), [("DARK", "31.5.2"), ("GAINFACT", "2,25"), ("DARK", "'abc")])
def test_lazily_parsed_card_values_are_quarantined_as_bad_value(site: Settings, key: str, field: str,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    """astropy parses card values lazily: such a file used to escape the validation and be
    quarantined as 'unreadable' with a traceback and astropy's advice to call verify('fix')."""
    from tests.ingest.fuzzing import set_card

    path = write_star(site.inbox, "lazy.fits", "PHR1A-STAR-20250314T021533-0077", seed=1)
    path.write_bytes(set_card(path.read_bytes(), 1, key, field))
    engine = open_engine(site)
    try:
        with Session(engine, expire_on_commit=False) as s:
            summary = run_ingest(s, site, utc_now())
            [rej] = s.exec(select(Rejection)).all()
    finally:
        engine.dispose()
    assert summary.rejected == [("lazy.fits", "bad-value")] and summary.problems == []
    assert rej.reason == "bad-value" and rej.state == "done"
    assert rej.message.startswith(f"key {key} of HDU 1 has an unparsable value")
    assert "\n" not in rej.message and "verify" not in rej.message
    assert (site.site / rej.quarantine_path).is_file()
    assert not any(r.exc_info for r in caplog.records)  # no traceback logged
