"""``monitor reference index DIR``: the index.csv of a directory of the public Pickles (1998) UVKLIB
files, which a site installs without one (issue 14: "the README explains how a site installs the
library (public Pickles 1998 files)").

Truth: the index.csv of the steering repository's shared/reference/pickles, written by another
program (its tools/make_reference_ref2.py) from the same ReadMe and spectra. Catches: a wrong
spectral type or class read from the ReadMe, colours not photon-counting or not zero-pointed on
Vega, a wrong wavelength unit, files missing or extra, an index the library reader refuses.
Cannot catch: an error shared with that program's passbands or Vega file (the same published
tables).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from monitor.calibration.star_model import build_library_index
from monitor.cli import app
from monitor.io.star_library import LibraryError, load_star_library, read_pickles_readme
from tests.reference_dirs import SHARED_REFERENCE

LIBRARY = (SHARED_REFERENCE or Path("/nonexistent/shared/reference")) / "pickles"
pytestmark = pytest.mark.skipif(not LIBRARY.is_dir(), reason="site REF-2 inputs (Pickles library) not installed here")


def _public_copy(tmp_path: Path) -> Path:
    """The library as a site downloads it: the uk*.dat files and the CDS ReadMe, no index.csv."""
    site = tmp_path / "pickles"
    site.mkdir()
    for f in [*LIBRARY.glob("uk*.dat"), LIBRARY / "ReadMe"]:
        (site / f.name).symlink_to(f)
    return site


def _rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(ln for ln in path.read_text().splitlines() if not ln.startswith("#")))


def test_index_of_the_public_files_matches_the_reference_index(tmp_path: Path) -> None:
    site = _public_copy(tmp_path)
    path, n = build_library_index(site)
    got, want = _rows(path), _rows(LIBRARY / "index.csv")
    assert n == len(want) == 108
    assert [(r["file"], r["sptype"], r["lum_class"]) for r in got] == [
        (r["file"], r["sptype"], r["lum_class"]) for r in want
    ]
    for key in ("b_v", "v_i"):
        diff = np.array([float(g[key]) - float(w[key]) for g, w in zip(got, want, strict=True)])
        assert np.max(np.abs(diff)) <= 2e-4, key  # both written to 0.1 mmag
    lib = load_star_library(site)
    assert lib.files == load_star_library(LIBRARY).files and lib.lum_class[0] == "I"


def test_readme_types_and_errors(tmp_path: Path) -> None:
    types = read_pickles_readme(LIBRARY / "ReadMe")
    assert len(types) == 131  # the 108 here and the 23 metal-weak/-rich ones a complete copy has
    assert types["ukb57v.dat"] == ("B5-7", "V") and types["ukwf5v.dat"] == ("metal-weak F5", "V")
    (tmp_path / "ReadMe").write_text("not the CDS ReadMe\n")
    with pytest.raises(LibraryError, match="lists no UVKLIB file"):
        build_library_index(tmp_path)
    with pytest.raises(LibraryError, match="no ReadMe"):
        build_library_index(tmp_path, tmp_path / "absent")


def test_command_line_writes_the_index_and_says_where(tmp_path: Path) -> None:
    site = _public_copy(tmp_path)
    done = CliRunner().invoke(app, ["reference", "index", str(site)])
    assert done.exit_code == 0, done.output
    assert "108 templates" in done.output and (site / "index.csv").is_file()
    bad = CliRunner().invoke(app, ["reference", "index", str(tmp_path / "none")])
    assert bad.exit_code == 1 and "is not a directory" in bad.output
