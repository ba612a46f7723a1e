"""What the catalogue's schema can hold, and one file's insert failure, on SQLite and PostgreSQL.

PostgreSQL enforces column lengths and integer ranges (SQLite does not): a value that does not
fit is refused at ingest as ``bad-value``, naming its key, before any insert, so that it never
fails a batch. A file whose rows the database refuses anyway (here a real trigger) gets its own
verdict; the other files of its batch are archived with all their band rows.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa
from astropy.io import fits

from monitor.catalogue import acquisitions
from monitor.catalogue.models import Acquisition, BandImage, GeomHeaderRow, Rejection
from monitor.domain import GeomHeader
from monitor.settings import Settings
from monitor.site import open_engine
from tests.io.conftest import GEOM_PRIMARY, build_hdul, ephem_columns, gcp_columns

from .files import T0, catalogue_rows, ingest_now, star_header, write_star

LONG_ACQ_ID = "PHR1A-STAR-20250314T021533-" + "X" * 73  # 100 characters: legal with FITS long strings
REFUSED_ACQ_ID = "PHR1A-STAR-20250314T021533-0666"


def _good_files(site: Settings, n: int) -> set[str]:
    ids = set()
    for i in range(n):
        acq_id = f"PHR1A-STAR-20250314T021533-{i:04d}"
        write_star(site.inbox, f"star_{i:02d}.fits", acq_id, seed=i)
        ids.add(acq_id)
    return ids


def _geom(site: Settings, name: str, **primary: object) -> Path:
    path = site.inbox / name
    build_hdul({**GEOM_PRIMARY, **primary}, bands=(),
               tables={"EPHEM": ephem_columns(), "GCP": gcp_columns()}).writeto(path)
    return path


def _check_innocents(site: Settings, good: set[str]) -> None:
    acqs = catalogue_rows(site, Acquisition)
    assert sorted(a.acq_id for a in acqs) == sorted(good)
    assert all(a.status == "archived" for a in acqs)
    bands = catalogue_rows(site, BandImage)
    star_ids = {a.id for a in acqs if a.acq_type == "STAR"}
    assert sorted(b.acquisition_id for b in bands) == sorted(2 * list(star_ids))  # P and B0 of each
    assert list(site.inbox.iterdir()) == []


def test_an_acq_id_longer_than_the_column_is_refused_before_the_insert(site: Settings) -> None:
    good = _good_files(site, 3)
    write_star(site.inbox, "star_long.fits", LONG_ACQ_ID, seed=9)
    assert fits.getheader(site.inbox / "star_long.fits")["ACQ_ID"] == LONG_ACQ_ID  # a CONTINUE long string
    summary = ingest_now(site)
    assert summary.rejected == [("star_long.fits", "bad-value")]
    assert not summary.problems
    _check_innocents(site, good)
    (rej,) = catalogue_rows(site, Rejection)
    assert "ACQ_ID" in rej.message and "100 characters" in rej.message and "80" in rej.message, rej.message
    assert "\n" not in rej.message
    assert rej.acq_id is not None and LONG_ACQ_ID.startswith(rej.acq_id[:-1])  # stored shortened
    assert ingest_now(site).n_files == 0  # and nothing is left to block the next runs


def test_a_long_acq_id_with_another_refusal_keeps_that_reason(site: Settings) -> None:
    """The rejection row itself must fit: a long ACQ_ID is stored shortened."""
    good = _good_files(site, 2)
    write_star(site.inbox, "bad_then_long.fits", LONG_ACQ_ID, seed=9)
    with fits.open(site.inbox / "bad_then_long.fits", mode="update") as hdul:
        del hdul[1].header["DARK"]
    summary = ingest_now(site)
    assert summary.rejected == [("bad_then_long.fits", "missing-key")]
    _check_innocents(site, good)


def test_a_geom_target_longer_than_the_column_is_refused(site: Settings) -> None:
    good = _good_files(site, 2)
    _geom(site, "geom_ok.fits")
    _geom(site, "geom_long.fits", ACQ_ID="PHR1A-GEOM-20250314T101500-0008", TARGET="SALON " + "de Provence " * 8)
    summary = ingest_now(site)
    assert summary.rejected == [("geom_long.fits", "bad-value")]
    _check_innocents(site, good | {GEOM_PRIMARY["ACQ_ID"]})
    (rej,) = catalogue_rows(site, Rejection)
    assert rej.message.startswith("TARGET ") and "at most 80" in rej.message, rej.message
    assert len(catalogue_rows(site, GeomHeaderRow)) == 1


@pytest.mark.parametrize("key, value", [("BINNING", 2**63), ("BINNING", 2**31), ("NSAMP", 2**63)])
def test_integers_beyond_a_database_integer_are_refused_as_bad_value(site: Settings, key: str, value: int) -> None:
    """Regression test: already refused by the ICD physical ranges (monitor.io.acquisition)."""
    good = _good_files(site, 2)
    if key == "NSAMP":
        _geom(site, "big.fits", NSAMP=value)
    else:
        path = write_star(site.inbox, "big.fits", "PHR1A-STAR-20250314T021533-0777", seed=7)
        with fits.open(path, mode="update") as hdul:
            hdul[1].header[key] = value
    summary = ingest_now(site)
    assert summary.rejected == [("big.fits", "bad-value")]
    _check_innocents(site, good)
    (rej,) = catalogue_rows(site, Rejection)
    assert key in rej.message


def test_the_schema_check_names_the_key_of_any_value_that_does_not_fit() -> None:
    """Limits come from the table definitions (String lengths, 32-bit INTEGER, 64-bit BIGINT)."""
    header = star_header("PHR1A-STAR-20250314T021533-0001")
    item = acquisitions.NewAcquisition(header=header, sha256="0" * 64, file_name="a.fits", size_bytes=1,
                               archive_path="archive/a.fits", received_at=T0)
    assert acquisitions.storage_problem(item) is None
    band = replace(header.bands[1], binning=2**31)
    big = replace(item, header=replace(header, bands=(header.bands[0], band)))
    assert acquisitions.storage_problem(big) == (
        "BINNING of band B0 is 2147483648; the catalogue stores integers from -2147483648 to 2147483647")
    assert acquisitions.storage_problem(replace(big, header=replace(header, target="T" * 81))) == (
        "TARGET is 81 characters long; the catalogue stores at most 80")
    geom = GeomHeader(12905.0, 13.0, 2**31, 0.1, T0, T0, 18.0, -17.5)
    assert acquisitions.storage_problem(replace(item, geom=geom)) == (
        "NSAMP is 2147483648; the catalogue stores integers from -2147483648 to 2147483647")
    assert acquisitions.storage_problem(replace(item, size_bytes=2**63)) is not None  # BIGINT: 64-bit
    assert acquisitions.storage_problem(replace(item, size_bytes=2**40)) is None


def _refusing_trigger(site: Settings, errcode: str) -> None:
    """A real trigger that makes the database refuse the band rows of REFUSED_ACQ_ID."""
    engine = open_engine(site)
    with engine.begin() as conn:
        if engine.url.get_backend_name() == "sqlite":
            conn.exec_driver_sql(
                "CREATE TRIGGER refuse_band BEFORE INSERT ON band_image "
                f"WHEN (SELECT acq_id FROM acquisition WHERE id = NEW.acquisition_id) = '{REFUSED_ACQ_ID}' "
                "BEGIN SELECT RAISE(ABORT, 'band rows refused by a test trigger'); END")
        else:
            conn.exec_driver_sql(
                "CREATE FUNCTION refuse_band() RETURNS trigger AS $$ BEGIN "
                f"IF (SELECT acq_id FROM acquisition WHERE id = NEW.acquisition_id) = '{REFUSED_ACQ_ID}' THEN "
                f"RAISE EXCEPTION 'band rows refused by a test trigger' USING ERRCODE = '{errcode}'; END IF; "
                "RETURN NEW; END $$ LANGUAGE plpgsql")
            conn.exec_driver_sql("CREATE TRIGGER refuse_band BEFORE INSERT ON band_image "
                                 "FOR EACH ROW EXECUTE FUNCTION refuse_band()")
    engine.dispose()


@pytest.mark.parametrize("errcode", ["check_violation", "numeric_value_out_of_range"])
def test_one_files_insert_failure_never_touches_the_other_files_of_its_batch(site: Settings, errcode: str) -> None:
    if errcode != "check_violation" and not site.database_url.startswith("postgresql"):
        pytest.skip("SQLite has no data exceptions from triggers")
    _refusing_trigger(site, errcode)
    good = _good_files(site, 5)
    write_star(site.inbox, "star_02b.fits", REFUSED_ACQ_ID, seed=42)  # in the middle of the batch
    summary = ingest_now(site)
    assert summary.rejected == [("star_02b.fits", "bad-value")]
    assert sorted(summary.ingested) == sorted(good)
    assert not summary.problems
    _check_innocents(site, good)
    (rej,) = catalogue_rows(site, Rejection)
    assert "catalogue refused" in rej.message and "band rows refused by a test trigger" in rej.message
    assert "\n" not in rej.message


def test_an_internal_database_error_leaves_only_that_file_in_the_inbox(site: Settings) -> None:
    """Not the data's fault (a raise_exception, SQLSTATE P0001): no verdict, the run goes on."""
    if not site.database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL only (SQLite trigger errors are integrity errors)")
    _refusing_trigger(site, "P0001")
    good = _good_files(site, 3)
    write_star(site.inbox, "star_01b.fits", REFUSED_ACQ_ID, seed=42)
    summary = ingest_now(site)
    assert sorted(summary.ingested) == sorted(good)
    assert summary.rejected == [] and len(summary.problems) == 1
    assert summary.problems[0].startswith("star_01b.fits: internal error")
    assert sorted(p.name for p in site.inbox.iterdir()) == ["star_01b.fits", "star_01b.fits.done"]
    assert catalogue_rows(site, Rejection) == []
    engine = open_engine(site)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP TRIGGER refuse_band ON band_image"))
    engine.dispose()
    assert ingest_now(site).ingested == [REFUSED_ACQ_ID]  # the next run, repaired, ingests it
