"""Every truncation of a valid file is reported ``truncated`` (ICD 1: refused whole).

Valid STAR, MOON and GEOM files of the project's writer are cut at every 2880-byte block
boundary, just after it (inside the first card of a header: ``SIMP``, ``XTEN``), and at seeded
random offsets, plain and gzip-compressed. The only cuts that cannot be told from a complete file
are those exactly after a complete band HDU: what is left is a valid file with a subset of the
bands (ICD 1.2), accepted, since the writer sets no ``NEXTEND``; with ``NEXTEND`` they are
truncated too. A cut after the primary HDU (STAR, MOON) or before the GCP table (GEOM) is
reported truncated, and so is a gzip stream cut anywhere. An empty file is ``not-fits``.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from monitor.domain import RejectReason
from monitor.io.acquisition import validate_acquisition
from monitor.io.errors import InvalidAcquisitionError
from tests.ingest.fuzzing import BASE_KINDS, hdu_spans, set_card, write_bases

BLOCK = 2880


@pytest.fixture(scope="module")
def bases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    return write_bases(tmp_path_factory.mktemp("bases"))


def _verdict(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    try:
        validate_acquisition(path)
    except InvalidAcquisitionError as exc:
        return exc.reason.value
    return "accepted"


def _offsets(size: int, rng: np.random.Generator) -> list[int]:
    near = [b + k for b in range(0, size, BLOCK) for k in (0, 1, 4, 7, 8, 9, 30, 79, 80, 81)]
    return sorted({o for o in near + rng.integers(1, size, 40).tolist() if 0 < o < size})


@pytest.mark.parametrize("kind", BASE_KINDS)
def test_every_cut_of_a_plain_file_is_truncated(bases: dict[str, bytes], kind: str, tmp_path: Path) -> None:
    data = bases[kind]
    spans = hdu_spans(data)
    after_a_band = {s.end for s in spans[1:-1]} if kind != "GEOM" else set()  # a valid subset of the bands
    cuts = _offsets(len(data), np.random.default_rng(6))
    verdicts = {cut: _verdict(tmp_path / "cut.fits", data[:cut]) for cut in cuts}
    wrong = {cut: v for cut, v in verdicts.items() if v != ("accepted" if cut in after_a_band else "truncated")}
    assert wrong == {}
    assert _verdict(tmp_path / "cut.fits", b"") == RejectReason.NOT_FITS.value


@pytest.mark.parametrize("kind", BASE_KINDS)
def test_every_cut_of_a_gzip_stream_is_truncated(bases: dict[str, bytes], kind: str, tmp_path: Path) -> None:
    blob = gzip.compress(bases[kind], mtime=0)
    rng = np.random.default_rng(7)
    cuts = sorted({1, 2, 5, 10, len(blob) - 8, len(blob) - 1, *rng.integers(1, len(blob), 60).tolist()})
    wrong = {cut: v for cut in cuts if (v := _verdict(tmp_path / "cut.fits.gz", blob[:cut])) != "truncated"}
    assert wrong == {}


@pytest.mark.parametrize("kind", ("STAR", "MOON"))
def test_nextend_makes_a_cut_after_a_band_detectable(bases: dict[str, bytes], kind: str, tmp_path: Path) -> None:
    data = set_card(bases[kind], 0, "NEXTEND", "2".rjust(20))
    assert _verdict(tmp_path / "ok.fits", data) == "accepted"
    cut = hdu_spans(data)[1].end
    path = tmp_path / "cut.fits"
    path.write_bytes(data[:cut])
    with pytest.raises(InvalidAcquisitionError) as info:
        validate_acquisition(path)
    assert info.value.reason is RejectReason.TRUNCATED and "NEXTEND = 2" in info.value.message
    assert _verdict(path, set_card(data, 0, "NEXTEND", "1".rjust(20))) == RejectReason.BAD_VALUE.value
