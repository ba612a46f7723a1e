"""The results export complete for scripts (issue 20): satellite, epoch and method on every
measurement and geometry row, and ``monitor results --format csv`` per table."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from sqlmodel import Session
from typer.testing import CliRunner

from monitor.catalogue.acquisitions import seed_reference
from monitor.cli import app
from monitor.results import CSV_TABLES, build_results, iso_utc, results_tables, table_csv
from monitor.settings import load_settings
from monitor.site import init_site, session_scope
from tests.catalogue.rows import Example, fill_example


def test_every_measurement_and_geometry_row_names_satellite_epoch_method(
        example_catalogue: tuple[Session, Example]) -> None:
    session, cat = example_catalogue
    doc = build_results(session)
    accepted = [m for m in doc["measurements"] if m["file"] in {f"{a}.fits" for a in cat.acq}]
    refused = [m for m in doc["measurements"] if m not in accepted]
    assert len(accepted) == 11 and len(refused) == len(cat.refused)
    for m in accepted:
        sat, when = cat.acq[m["acq_id"]]
        assert (m["satellite"], m["epoch"]) == (sat, iso_utc(when))
        assert m["method"] == {"S": "STAR", "M": "MOON", "G": "GEOM"}[m["acq_id"].split("-")[1][0]]
    assert all(m["satellite"] is None and m["epoch"] is None and m["method"] is None for m in refused)
    assert doc["geometry"]
    for g in doc["geometry"]:
        sat, when = cat.acq[g["acq_id"]]
        assert (g["satellite"], g["epoch"], g["method"]) == (sat, iso_utc(when), "GEOM")
        assert set(g["check_rmse_m"]) == {"e", "n", "u"}  # the ICD 5 fields are untouched


def _parse(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_csv_tables_match_the_json_document(example_catalogue: tuple[Session, Example]) -> None:
    session, cat = example_catalogue
    doc = build_results(session)
    tables = results_tables(session, list(CSV_TABLES))
    for name in ("calibration", "measurements", "drift", "mtf", "geometry", "alerts"):
        parsed = _parse(table_csv(name, tables[name]))
        assert len(parsed) == len(doc[name]), name
        header = table_csv(name, tables[name]).splitlines()[0]
        assert header == ",".join(CSV_TABLES[name])
    cal = _parse(table_csv("calibration", tables["calibration"]))
    assert [(r["satellite"], r["band"], r["method"], float(r["a"])) for r in cal] == [
        (c["satellite"], c["band"], c["method"], c["a"]) for c in doc["calibration"]]
    geo = _parse(table_csv("geometry", tables["geometry"]))
    assert [float(r["check_rmse_e_m"]) for r in geo] == [g["check_rmse_m"]["e"] for g in doc["geometry"]]
    assert [r["velocity_z_m_s"] for r in geo] == ["" if g["velocity_m_s"][2] is None else str(g["velocity_m_s"][2])
                                                  for g in doc["geometry"]]
    assert [r["epoch"] for r in geo] == [g["epoch"] for g in doc["geometry"]]
    traces = _parse(table_csv("traces", tables["traces"]))
    # two windows per latest star photometry (rows.photometry): 4 PHR1A + 1 PHR1B bands
    assert len(traces) == 2 * 5
    assert {(r["satellite"], r["acq_id"].split("-")[0]) for r in traces} == {("PHR1A", "PHR1A"), ("PHR1B", "PHR1B")}
    only = results_tables(session, ["traces"], satellite="PHR1B", band="P")["traces"]
    assert len(only) == 2 and all(r["satellite"] == "PHR1B" for r in only)
    assert set(results_tables(session, ["drift", "mtf"])) == {"drift", "mtf"}
    with pytest.raises(ValueError, match="nope"):
        results_tables(session, ["nope"])


def test_cli_csv(tmp_path: Path, catalogue_url: str) -> None:
    env = {"MONITOR_DATABASE_URL": catalogue_url, "COLUMNS": "200"}
    settings = load_settings(tmp_path / "site", env=env)
    init_site(settings)
    with session_scope(settings) as session:
        seed_reference(session)
        fill_example(session)
        session.commit()
    runner = CliRunner()
    site = ["--site", str(settings.site)]
    done = runner.invoke(app, ["results", "--format", "csv", "--table", "drift", "--satellite", "PHR1A", *site],
                         env=env)
    assert done.exit_code == 0, done.output
    rows = _parse(done.stdout)
    assert [(r["band"], float(r["rate_per_year"])) for r in rows] == [("B0", -0.020), ("P", -0.011)]
    out = tmp_path / "tables"
    done = runner.invoke(app, ["results", "--format", "csv", "--out", str(out), *site], env=env)
    assert done.exit_code == 0, done.output
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{n}.csv" for n in CSV_TABLES)
    assert _parse((out / "mtf.csv").read_text())[0].keys() == set(CSV_TABLES["mtf"])
    for args, needle in ((["--format", "csv"], "--table"), (["--format", "csv", "--table", "nope"], "nope"),
                         (["--table", "mtf"], "--format csv"), (["--format", "xml"], "xml")):
        bad = runner.invoke(app, ["results", *args, *site], env=env)
        assert bad.exit_code == 2 and needle in bad.output, (args, bad.output)
