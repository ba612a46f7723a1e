"""Seeded mutations of valid acquisition files, shared by the fuzz test (``tests/ingest/test_fuzz.py``)
and the end-to-end benchmark (``benchmarks/fuzz.py``): one generator, two users.

Base files are valid STAR, MOON and GEOM acquisitions written by the project's own writer
(:func:`write_bases`, small synthetic images: fast, for the test) or by its simulator
(``simulated=True``: realistic data that the processing can measure, for the benchmark). A case is
a pure function of ``(bases, index, seed)`` (:func:`make_case`): the mutation is chosen by
``index`` (every kind in turn), everything else is drawn from ``numpy.random.default_rng((seed,
index))``, so a failing case is reproduced from its index alone.

Mutations work on the bytes, as a damaged or hostile delivery would: a header is edited card by
card (80-byte images, re-padded to 2880-byte blocks), so that values astropy refuses to write
(``31.5.2``, ``'abc`` unterminated, ``NaN``) can be tested too.
"""

from __future__ import annotations

import gzip
import math
import os
import re
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from monitor.domain import AcqType, AcquisitionHeader, BandHeader, GeomHeader, Mission, Satellite
from monitor.io.fits_writer import write_acquisition
from monitor.io.reference_data import load_star_catalogue

__all__ = ["BASE_KINDS", "MUTATIONS", "KEY_HOWS", "Case", "Expect", "write_bases", "make_case", "control_case",
           "key_slots", "key_spec", "legal_max_moon", "legal_max_star", "hdu_spans", "star_base", "moon_base",
           "geom_base", "set_card", "card", "edit_header"]

BLOCK = 2880
CARD = 80
BASE_KINDS = ("STAR", "MOON", "GEOM")
T0 = datetime(2025, 3, 14, 2, 15, 33, 120000, tzinfo=UTC)
MAX_BOMB_DATA_BYTES = 128 << 20  # a gzip bomb holds at most this much (zero) data, decompressed
Rng = np.random.Generator


# ---------------------------------------------------------------------------------------------
# Base files
# ---------------------------------------------------------------------------------------------


def _band(band: str, shape: tuple[int, int], star: bool) -> BandHeader:
    rows, cols = shape
    return BandHeader(
        band=band, shape=shape, dark_dn=30.0, gain_factor=1.5, oversamp=1.0, binning=1 if star else 8,
        pixscale_urad=1.008 if band == "P" else 4.03, lineper_ms=0.103 if band == "P" else 0.412,
        saturate_dn=4095.0, star_x=(cols - 1) / 2 + 0.3 if star else None,
        star_y=(rows - 1) / 2 - 0.2 if star else None,
    )


def star_base(acq_id: str = "PHR1A-STAR-20250314T021533-0042") -> tuple[AcquisitionHeader, dict[str, np.ndarray]]:
    """A PHR1A STAR acquisition (Sirius, bands P 64x64 and B0 32x32) with a Gaussian star."""
    bands = (_band("P", (64, 64), True), _band("B0", (32, 32), True))
    cat = load_star_catalogue()
    i = cat.index_of(32349)
    header = AcquisitionHeader(
        acq_id=acq_id, mission=Mission.PHR, satellite=Satellite.PHR1A, acq_type=AcqType.STAR, target="HIP 32349",
        date_obs=T0, sc_pos_km=(7000.0, 100.0, 200.0), sc_vel_km_s=(0.0, 7.5, 0.1), ra_deg=float(cat.ra_deg[i]),
        dec_deg=float(cat.dec_deg[i]), icd="ICD-1", bands=bands,
    )
    rng = np.random.default_rng(1)
    images = {}
    for b in bands:
        y, x = np.mgrid[0 : b.shape[0], 0 : b.shape[1]]
        assert b.star_x is not None and b.star_y is not None
        img = b.dark_dn + 2000.0 * np.exp(-((x - b.star_x) ** 2 + (y - b.star_y) ** 2) / 2.0)
        images[b.band] = (img + rng.normal(0.0, 3.0, img.shape)).astype(np.float32)
    return header, images


def moon_base(acq_id: str = "PNEO3-MOON-20250314T021533-0001") -> tuple[AcquisitionHeader, dict[str, np.ndarray]]:
    """A PNEO3 MOON acquisition (bands P and B, 96x96) with a uniform disk on a dark sky."""
    bands = (_band("P", (96, 96), False), _band("B", (96, 96), False))
    header = AcquisitionHeader(
        acq_id=acq_id, mission=Mission.PNEO, satellite=Satellite.PNEO3, acq_type=AcqType.MOON, target="MOON",
        date_obs=T0, sc_pos_km=(7000.0, 100.0, 200.0), sc_vel_km_s=(0.0, 7.5, 0.1), ra_deg=120.0, dec_deg=10.0,
        icd="ICD-1", bands=bands,
    )
    y, x = np.mgrid[0:96, 0:96]
    disk = np.hypot(x - 47.5, y - 47.5) < 30.0
    images = {b.band: (b.dark_dn * 64 + 900.0 * disk).astype(np.float32) for b in bands}
    return header, images


def geom_base(
    acq_id: str = "PHR1A-GEOM-20250314T101500-0007",
) -> tuple[AcquisitionHeader, GeomHeader, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """A PHR1A GEOM acquisition: ICD 3 keys, an EPHEM table (5 samples) and a GCP table (4 CONTROL,
    2 CHECK points, both views)."""
    header = AcquisitionHeader(
        acq_id=acq_id, mission=Mission.PHR, satellite=Satellite.PHR1A, acq_type=AcqType.GEOM, target="SALON",
        date_obs=T0, sc_pos_km=(7000.0, 100.0, 200.0), sc_vel_km_s=(0.0, 7.5, 0.1), ra_deg=None, dec_deg=None,
        icd="ICD-1",
    )
    geom = GeomHeader(focal_mm=12905.0, pixpitch_um=13.0, nsamp=20000, lineper_ms=0.1,
                      t0_fore=T0 - timedelta(seconds=30), t0_aft=T0 + timedelta(seconds=30),
                      pitch_fore_deg=17.5, pitch_aft_deg=-16.25)
    t = np.linspace(-20.0, 20.0, 5)
    ephem = {"T": t, "X": 7000.0 + 0.01 * t, "Y": 7.5 * t, "Z": np.zeros(5), "VX": np.zeros(5),
             "VY": np.full(5, 7.5), "VZ": np.zeros(5)}
    ids = [f"C{i:02d}" for i in range(4)] + ["K00", "K01"]
    rows = np.repeat(np.arange(6), 2)
    gcp = {"ID": np.array(ids)[rows], "ROLE": np.array(["CONTROL"] * 4 + ["CHECK"] * 2)[rows],
           "LAT": 43.6 + 0.01 * rows, "LON": 5.1 + 0.01 * rows, "H": 100.0 + rows,
           "VIEW": np.array(["FORE", "AFT"] * 6), "LINE": 1000.0 + 10.0 * rows, "SAMPLE": 9000.0 + 5.0 * rows}
    return header, geom, ephem, gcp


def write_bases(directory: Path, *, simulated: bool = False) -> dict[str, bytes]:
    """Write one valid STAR, MOON and GEOM file into ``directory``; return their bytes by kind.

    ``simulated=False``: small synthetic files written by :func:`monitor.io.fits_writer.write_acquisition`.
    ``simulated=True``: files of the project's simulator (:func:`monitor.simulate.campaign.simulate_campaigns`,
    one month of PHR1A and PNEO3), the MOON file cut down to two bands by the writer (smaller).
    """
    directory.mkdir(parents=True, exist_ok=True)
    if simulated:
        return _simulated_bases(directory)
    header, images = star_base()
    write_acquisition(directory / "star.fits", header, images, done_marker=False, durable=False)
    header, images = moon_base()
    write_acquisition(directory / "moon.fits", header, images, done_marker=False, durable=False)
    header, geom, ephem, gcp = geom_base()
    write_acquisition(directory / "geom.fits", header, {}, geom=geom, ephem=ephem, gcp=gcp, done_marker=False,
                      durable=False)
    return {kind: (directory / f"{kind.lower()}.fits").read_bytes() for kind in BASE_KINDS}


def _simulated_bases(directory: Path) -> dict[str, bytes]:
    from monitor.io.acquisition import read_acquisition_header
    from monitor.io.pixels import read_bands
    from monitor.simulate.campaign import simulate_campaigns

    sim = directory / "simulated"
    truth = simulate_campaigns(sim, start=datetime(2025, 3, 1, tzinfo=UTC), months=1, seed=3,
                               satellites=["PHR1A", "PNEO3"], stars_per_campaign=2, moon_per_month=1,
                               geom_per_month=1, bad_files=False, gzip_fraction=0.0, uint16_fraction=0.0,
                               saturated_fraction=0.0, done_markers=False)
    first = {kind: next(f.file for f in truth.files if f.type == kind and f.status == "ok") for kind in BASE_KINDS}
    moon = sim / first["MOON"]
    header = read_acquisition_header(moon)
    keep = header.bands[:2]
    images = read_bands(moon)
    write_acquisition(directory / "moon.fits", replace(header, bands=keep), {b.band: images[b.band] for b in keep},
                      done_marker=False, durable=False)
    return {"STAR": (sim / first["STAR"]).read_bytes(), "MOON": (directory / "moon.fits").read_bytes(),
            "GEOM": (sim / first["GEOM"]).read_bytes()}


# ---------------------------------------------------------------------------------------------
# Byte-level header model
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HduSpan:
    """Byte offsets of one HDU of a valid file: header [start, data), data [data, end) (padded)."""

    start: int
    data: int
    end: int


def _padded(n: int) -> int:
    return -(-n // BLOCK) * BLOCK


def _cards(data: bytes, start: int) -> list[bytes]:
    """The cards of the header at ``start``, END excluded."""
    out = []
    pos = start
    while pos + CARD <= len(data):
        card = data[pos : pos + CARD]
        if card[:8] == b"END     ":
            return out
        out.append(card)
        pos += CARD
    raise ValueError("no END card")


def _int_value(cards: list[bytes], key: str, default: int) -> int:
    for card in cards:
        if card[:8].rstrip() == key.encode() and card[8:10] == b"= ":
            return int(card[10:].split(b"/")[0])
    return default


def hdu_spans(data: bytes) -> list[HduSpan]:
    """HDU layout of a valid (unmutated) file (``ValueError`` for some damaged ones)."""
    spans: list[HduSpan] = []
    pos = 0
    while pos + BLOCK <= len(data) and (pos == 0 or data.startswith(b"XTENSION", pos)):
        cards = _cards(data, pos)
        header_end = pos + _padded((len(cards) + 1) * CARD)
        naxis = _int_value(cards, "NAXIS", 0)
        if not 0 <= naxis <= 999:  # a mutant's count must not drive this loop
            raise ValueError(f"HDU at byte {pos} declares NAXIS = {naxis}")
        axes = [_int_value(cards, f"NAXIS{i}", 0) for i in range(1, naxis + 1)]
        bitpix = abs(_int_value(cards, "BITPIX", 8))
        size = bitpix // 8 * _int_value(cards, "GCOUNT", 1) * (_int_value(cards, "PCOUNT", 0) + math.prod(axes))
        end = header_end + _padded(size if naxis else 0)
        if end <= pos:  # a mutant's negative count: not a layout (the walk would go backwards)
            raise ValueError(f"HDU at byte {pos} declares a negative size")
        spans.append(HduSpan(pos, header_end, end))
        pos = spans[-1].end
    return spans


def card(key: str, field: str | bytes) -> bytes:
    """An 80-byte card ``KEY     = <field>`` (the field written verbatim)."""
    raw = field.encode("latin-1") if isinstance(field, str) else field
    return (key.encode().ljust(8) + b"= " + raw).ljust(CARD)[:CARD]


def _header_bytes(cards: list[bytes]) -> bytes:
    body = b"".join(cards) + b"END".ljust(CARD)
    return body + b" " * (-len(body) % BLOCK)


def edit_header(data: bytes, hdu: int, edit: Callable[[list[bytes]], list[bytes]]) -> bytes:
    """``data`` with the cards of HDU ``hdu`` replaced by ``edit(cards)`` (re-padded to blocks)."""
    span = hdu_spans(data)[hdu]
    cards = edit(_cards(data, span.start))
    return data[: span.start] + _header_bytes(cards) + data[span.data :]


def set_card(data: bytes, hdu: int, key: str, field: str | bytes) -> bytes:
    """Replace the first card of ``key`` (or add it before END) with a verbatim value field."""

    def edit(cards: list[bytes]) -> list[bytes]:
        for i, c in enumerate(cards):
            if c[:8].rstrip() == key.encode():
                return [*cards[:i], card(key, field), *cards[i + 1 :]]
        return [*cards, card(key, field)]

    return edit_header(data, hdu, edit)


def _keys(data: bytes, hdu: int) -> list[str]:
    span = hdu_spans(data)[hdu]
    return [c[:8].decode().rstrip() for c in _cards(data, span.start) if c[8:10] == b"= "]


# ---------------------------------------------------------------------------------------------
# The oracle: what the ICD requires of a mutant
# ---------------------------------------------------------------------------------------------

REFUSAL_REASONS = ("not-fits", "truncated", "missing-key", "bad-value", "unknown-band", "all-nan", "too-large",
                   "unreadable", "not-a-file", "conflict", "duplicate")
_STRUCTURE = ("not-fits", "truncated", "missing-key", "bad-value", "too-large", "unreadable", "unknown-band")


@dataclass(frozen=True)
class Expect:
    """What the ICD requires of a mutant.

    ``verdict``: ``"refuse"`` (the file must be refused whole, with one of ``reasons``), ``"accept"``
    (a valid file: it must be accepted), ``"either"`` (the ICD leaves it open, e.g. flipped pixel
    values or a cut on an HDU boundary between bands). ``bands``: bands that must not be measured
    ``ok`` if the file is accepted (a band entirely NaN, a band whose ``SATURATE`` is below its dark
    level). ``acq_id``: the ``ACQ_ID`` an accepted file must be catalogued under (None: any).
    """

    verdict: str
    reasons: tuple[str, ...] = ()
    bands: tuple[str, ...] = ()
    acq_id: str | None = None

    def allows(self, accepted: bool, reason: str | None) -> bool:
        if accepted:
            return self.verdict != "refuse"
        return self.verdict != "accept" and (not self.reasons or reason in self.reasons)


def refuse(*reasons: str) -> Expect:
    return Expect("refuse", reasons or _STRUCTURE)


ACCEPT = Expect("accept")
EITHER = Expect("either")

Mutated = tuple[str, bytes, Expect]


# ---------------------------------------------------------------------------------------------
# Generic mutations: (rng, data, kind) -> (what was done, new bytes, what the ICD requires)
# ---------------------------------------------------------------------------------------------

_LAZY = ["31.5.2", "2,25", "'abc", "1.0.0E3", "--5", "0x1F", "1e5e5", "'", "(1,", "T F", "1 2", "+", ".", "'a'b'"]
_DUPLICATE_VALUES = ["1E300", "-1", "0", "'abc'", "T", "31.5.2", "2000", "'PHR1B'", "42"]


def _pick_hdu(rng: Rng, data: bytes) -> int:
    return int(rng.integers(len(hdu_spans(data))))


def _pick_key(rng: Rng, data: bytes, hdu: int) -> str:
    keys = _keys(data, hdu)
    return str(keys[int(rng.integers(len(keys)))])


def _lazy_value(rng: Rng, data: bytes, kind: str) -> Mutated:
    hdu = _pick_hdu(rng, data)
    key = _pick_key(rng, data, hdu)
    value = _LAZY[int(rng.integers(len(_LAZY)))]
    return f"unparsable value: HDU {hdu} {key} = {value}", set_card(data, hdu, key, value), refuse()


def _boundaries(data: bytes) -> tuple[set[int], set[int]]:
    """(ends of HDUs after which a file of this kind may legally end, ends after which it may not)."""
    spans = hdu_spans(data)
    ends = [s.end for s in spans]
    kind = hdu_card_text(data, "ACQTYPE")
    if kind == "GEOM":  # EPHEM and GCP are required
        return {ends[-1]}, set(ends[:-1])
    return set(ends[1:]), {ends[0]}  # STAR/MOON: a subset of the bands is a legal file (ICD 1.2)


def truncation_expect(data: bytes, cut: int) -> Expect:
    """A plain file cut at byte ``cut``: refused as truncated, unless the cut falls on an HDU boundary
    after which the file is a legal (smaller) acquisition: then either verdict."""
    if cut <= 0:
        return refuse("not-fits")
    legal, _ = _boundaries(data)
    if cut in legal:
        return EITHER
    return refuse("truncated")


def _truncate(rng: Rng, data: bytes, kind: str) -> Mutated:
    r = rng.random()
    spans = hdu_spans(data)
    if r < 0.4:
        cut = int(rng.integers(1, len(data)))
        what = "at a random offset"
    elif r < 0.7:  # near a block boundary: the cases astropy reads silently, or a cut inside the first card
        cut = min(len(data) - 1, BLOCK * int(rng.integers(len(data) // BLOCK)) + int(rng.choice([0, 1, 7, 8, 80])))
        what = "near a block boundary"
    else:  # exactly on an HDU boundary, or between a header and its data
        points = [s.end for s in spans[:-1]] + [s.data for s in spans if s.end > s.data]
        cut = int(points[int(rng.integers(len(points)))])
        what = "on an HDU or header/data boundary"
    return f"truncated {what} at byte {cut} of {len(data)}", data[:cut], truncation_expect(data, cut)


def _flip_bytes(rng: Rng, data: bytes, lo: int, hi: int, n: int) -> bytes:
    out = bytearray(data)
    for pos in rng.integers(lo, max(lo + 1, hi), size=n):
        out[int(pos)] ^= int(rng.integers(1, 256))
    return bytes(out)


def _flip_data(rng: Rng, data: bytes, kind: str) -> Mutated:
    spans = [s for s in hdu_spans(data) if s.end > s.data]
    span = spans[int(rng.integers(len(spans)))]
    n = int(rng.choice([1, 4, 64]))
    return (f"{n} data byte(s) flipped in [{span.data}, {span.end})",
            _flip_bytes(rng, data, span.data, span.end, n), EITHER)


def _special_pixels(rng: Rng, data: bytes, kind: str) -> Mutated:
    """+Inf, -Inf, NaN or huge finite pixels (float32) at random places of one band, or a
    table value (GEOM) set to NaN/Inf."""
    spans = hdu_spans(data)
    images = [s for s in spans[1:] if b"BITPIX  =                  -32" in data[s.start : s.data]]
    values = {"+Inf": b"\x7f\x80\x00\x00", "-Inf": b"\xff\x80\x00\x00", "NaN": b"\x7f\xc0\x00\x00",
              "3.4e38": b"\x7f\x7f\xff\xff"}
    out = bytearray(data)
    if not images:  # GEOM: a float64 NaN or Inf in a table cell (8-byte aligned in our tables? not always)
        span = spans[1 + int(rng.integers(len(spans) - 1))]
        pos = span.data + 8 * int(rng.integers(max(1, (span.end - span.data) // 8 - 1)))
        out[pos : pos + 8] = np.array([np.nan, np.inf][int(rng.integers(2))], dtype=">f8").tobytes()
        return f"a table value set to NaN/Inf at byte {pos}", bytes(out), EITHER
    span = images[int(rng.integers(len(images)))]
    name = list(values)[int(rng.integers(len(values)))]
    n = int(rng.choice([1, 10, 1000]))
    cards = _cards(data, span.start)
    pixels = _int_value(cards, "NAXIS1", 0) * _int_value(cards, "NAXIS2", 0)
    for i in rng.integers(0, pixels, size=n):
        out[span.data + 4 * int(i) : span.data + 4 * int(i) + 4] = values[name]
    return f"{n} pixel(s) set to {name} in the band at byte {span.start}", bytes(out), EITHER


def _flip_header(rng: Rng, data: bytes, kind: str) -> Mutated:
    span = hdu_spans(data)[_pick_hdu(rng, data)]
    n = int(rng.choice([1, 3, 20]))
    return (f"{n} header byte(s) flipped in [{span.start}, {span.data})",
            _flip_bytes(rng, data, span.start, span.data, n), EITHER)


def _garbage_card(rng: Rng, data: bytes, kind: str) -> Mutated:
    hdu = _pick_hdu(rng, data)
    which = int(rng.integers(3))
    alphabet = [np.arange(32, 127), np.arange(0, 256), np.arange(0, 32)][which]
    junk = bytes(int(b) for b in rng.choice(alphabet, size=CARD))

    def edit(cards: list[bytes]) -> list[bytes]:
        i = int(rng.integers(len(cards)))
        return [*cards[:i], junk, *cards[i + 1 :]]

    # a card of bytes outside printable ASCII must be refused (FITS 4.0 4.1.1); a printable one may
    # happen to be a commentary card, and it replaces a card that may be optional
    expect = refuse("bad-value") if which == 2 else EITHER
    return f"garbage card in HDU {hdu} ({len(alphabet)}-byte alphabet)", edit_header(data, hdu, edit), expect


def _naxis_huge(rng: Rng, data: bytes, kind: str) -> Mutated:
    spans = hdu_spans(data)
    hdu = int(rng.integers(1, len(spans))) if len(spans) > 1 else 0
    keys = _keys(data, hdu)
    axes = [k for k in ("NAXIS1", "NAXIS2") if k in keys] or ["NAXIS1"]
    key = axes[int(rng.integers(len(axes)))]
    value = int(rng.choice([100_000, 2_000_000, (1 << 31) - 1, 10**12, 1 << 40, 1 << 63]))
    return (f"HDU {hdu} {key} = {value} (gigabytes declared, none present)", set_card(data, hdu, key, str(value)),
            refuse("too-large", "truncated", "bad-value"))


def _bomb_header(data: bytes, kind: str, nx: int, ny: int) -> bytes:
    """A band image header declaring ``ny x nx`` float32 pixels, with the base's band keys."""
    spans = hdu_spans(data)
    images = [s for s in spans[1:] if data.startswith(b"XTENSION= 'IMAGE", s.start)]
    extra = [c for c in _cards(data, images[0].start) if c[:8].rstrip() not in
             (b"XTENSION", b"BITPIX", b"NAXIS", b"NAXIS1", b"NAXIS2", b"PCOUNT", b"GCOUNT")] if images else []
    cards = [card("XTENSION", "'IMAGE   '"), card("BITPIX", "-32".rjust(20)), card("NAXIS", "2".rjust(20)),
             card("NAXIS1", str(nx).rjust(20)), card("NAXIS2", str(ny).rjust(20)),
             card("PCOUNT", "0".rjust(20)), card("GCOUNT", "1".rjust(20))]
    if not extra:
        extra = [card("EXTNAME", "'P       '")]
    return _header_bytes(cards + extra)


def gzip_bomb(data: bytes, kind: str, nx: int, ny: int, max_zero_bytes: int = MAX_BOMB_DATA_BYTES) -> bytes:
    """A small .fits.gz: the primary header of ``data``, a band header declaring ``ny x nx`` float32
    pixels, then zeros (all of them when at most ``max_zero_bytes``, else the first 16 MiB)."""
    declared = _padded(4 * nx * ny)
    zeros = declared if declared <= max_zero_bytes else 16 << 20
    head = data[: hdu_spans(data)[0].end] + _bomb_header(data, kind, nx, ny)
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip container, best ratio
    parts = [comp.compress(head)]
    chunk = bytes(1 << 20)
    for _ in range(zeros // len(chunk)):
        parts.append(comp.compress(chunk))
    parts.append(comp.compress(bytes(zeros % len(chunk))))
    parts.append(comp.flush())
    return b"".join(parts)


def _gzip_bomb(rng: Rng, data: bytes, kind: str) -> Mutated:
    """Beyond the per-band pixel limits of the ICD/settings: refused as too-large before allocation."""
    shapes = {"MOON": [(25_000, 20_000), (100_000, 100_000), (1 << 20, 1 << 20)],
              "STAR": [(5_000, 5_000), (3_000, 2_000), (100_000, 100_000)],
              "GEOM": [(5_000, 5_000), (100_000, 100_000)]}[kind]
    nx, ny = shapes[int(rng.integers(len(shapes)))]
    blob = gzip_bomb(data, kind, nx, ny)
    return (f"gzip bomb: {ny} x {nx} float32 declared ({_padded(4 * nx * ny)} bytes), {len(blob)} bytes gz",
            blob, refuse("too-large"))


def _gzip_damage(rng: Rng, data: bytes, kind: str) -> Mutated:
    """The valid file gzip-compressed, then: intact (several levels), split into two gzip members,
    its CRC or its deflate stream damaged, trailing garbage, or the stream cut."""
    level = int(rng.choice([1, 6, 9]))
    blob = gzip.compress(data, compresslevel=level, mtime=0)
    choice = int(rng.integers(6))
    if choice == 0:
        return f"valid gzip (level {level})", blob, ACCEPT
    if choice == 1:
        half = len(data) // 2
        two = gzip.compress(data[:half], mtime=0) + gzip.compress(data[half:], mtime=0)
        return "valid gzip in two members (RFC 1952 allows several)", two, EITHER
    if choice == 2:
        out = bytearray(blob)
        out[-8] ^= 0x55  # CRC-32 of the trailer
        return "gzip CRC-32 damaged", bytes(out), refuse("not-fits", "unreadable", "truncated")
    if choice == 3:
        pos = int(rng.integers(10, len(blob) - 8))
        out = bytearray(blob)
        out[pos] ^= int(rng.integers(1, 256))
        return f"gzip deflate byte {pos} flipped", bytes(out), refuse()  # CRC, or damage seen first
    if choice == 4:
        return "gzip followed by garbage bytes", blob + b"garbage" * 10, EITHER
    cut = int(rng.integers(1, len(blob)))
    return f"gzip stream truncated at byte {cut} of {len(blob)}", blob[:cut], refuse("truncated", "not-fits",
                                                                                       "unreadable")


def _zero_length(rng: Rng, data: bytes, kind: str) -> Mutated:
    return "zero-length file", b"", refuse("not-fits")


def _extension(cards: list[bytes], payload: bytes = b"") -> bytes:
    return _header_bytes(cards) + payload + b"\0" * (-len(payload) % BLOCK)


def _extra_hdu(rng: Rng, data: bytes, kind: str) -> Mutated:
    spans = hdu_spans(data)
    empty = [card("XTENSION", "'IMAGE   '"), card("BITPIX", "8".rjust(20)), card("NAXIS", "0".rjust(20)),
             card("PCOUNT", "0".rjust(20)), card("GCOUNT", "1".rjust(20))]
    band_file = kind != "GEOM"
    choice = int(rng.integers(7))
    if choice == 0 and len(spans) > 1:
        return ("extension 1 appended again (a band or table twice)", data + data[spans[1].start : spans[1].end],
                refuse("bad-value"))
    if choice == 1:
        table = [card("XTENSION", "'BINTABLE'"), card("BITPIX", "8".rjust(20)), card("NAXIS", "2".rjust(20)),
                 card("NAXIS1", "8".rjust(20)), card("NAXIS2", "3".rjust(20)), card("PCOUNT", "0".rjust(20)),
                 card("GCOUNT", "1".rjust(20)), card("TFIELDS", "1".rjust(20)), card("TTYPE1", "'Q       '"),
                 card("TFORM1", "'D       '"), card("EXTNAME", "'EXTRA   '")]
        return "extra binary table EXTRA", data + _extension(table, np.arange(3, dtype=">f8").tobytes()), EITHER
    if choice == 2:
        n = int(rng.choice([10, 70]))
        expect = refuse("bad-value", "missing-key") if band_file or n > 62 else EITHER
        return f"{n} empty image extensions appended", data + _extension(empty) * n, expect
    if choice == 3:
        foreign = [card("XTENSION", "'FOREIGN '"), card("BITPIX", "8".rjust(20)), card("NAXIS", "1".rjust(20)),
                   card("NAXIS1", "10".rjust(20)), card("PCOUNT", "0".rjust(20)), card("GCOUNT", "1".rjust(20))]
        return "FOREIGN extension appended", data + _extension(foreign, b"0123456789"), EITHER
    if choice == 4:
        at = ([s.start for s in spans[1:]] + [spans[-1].end])[int(rng.integers(len(spans)))]
        expect = refuse("missing-key", "bad-value") if band_file else EITHER
        return f"empty image extension inserted at byte {at}", data[:at] + _extension(empty) + data[at:], expect
    if choice == 5:  # an extension whose declared data is bigger than what follows
        big = [card("XTENSION", "'IMAGE   '"), card("BITPIX", "-32".rjust(20)), card("NAXIS", "2".rjust(20)),
               card("NAXIS1", "64".rjust(20)), card("NAXIS2", "64".rjust(20)), card("PCOUNT", "0".rjust(20)),
               card("GCOUNT", "1".rjust(20)), card("EXTNAME", "'EXTRA   '")]
        return "image extension appended without its data", data + _header_bytes(big), refuse("truncated")
    expect = refuse("unknown-band", "bad-value") if band_file else EITHER  # NIR of PHR: unknown; of PNEO: 0-D
    return "empty image extension NIR appended", data + _extension([*empty, card("EXTNAME", "'NIR     '")]), expect


def _duplicate_key(rng: Rng, data: bytes, kind: str) -> Mutated:
    hdu = _pick_hdu(rng, data)
    keys = [k for k in _keys(data, hdu) if k not in ("SIMPLE", "XTENSION")]
    key = keys[int(rng.integers(len(keys)))]
    value = _DUPLICATE_VALUES[int(rng.integers(len(_DUPLICATE_VALUES)))]
    first = rng.random() < 0.3

    def edit(cards: list[bytes]) -> list[bytes]:
        i = next(i for i, c in enumerate(cards) if c[:8].rstrip() == key.encode())
        at = i if first else i + 1
        return [*cards[:at], card(key, value), *cards[at:]]

    where = "before" if first else "after"
    # readers disagree on which card counts (astropy sizes an HDU from the last BITPIX, looks values
    # up from the first): a key twice cannot be read unambiguously
    return f"HDU {hdu} {key} duplicated {where} the original with {value}", edit_header(data, hdu, edit), \
        refuse("bad-value", "truncated", "not-fits")


def _nextend(rng: Rng, data: bytes, kind: str) -> Mutated:
    n = len(hdu_spans(data)) - 1
    options = [(str(n), ACCEPT), (str(n + 1), refuse("truncated")), (str(max(0, n - 1)), refuse("bad-value")),
               ("-1", refuse("bad-value", "truncated")), ("'two'", refuse("bad-value")),
               ("1000", refuse("truncated")), (str(1 << 63), refuse("truncated", "bad-value"))]
    value, expect = options[int(rng.integers(len(options)))]
    return f"NEXTEND = {value} ({n} extensions)", set_card(data, 0, "NEXTEND", value.rjust(20)), expect


def _long_header(rng: Rng, data: bytes, kind: str) -> Mutated:
    hdu = _pick_hdu(rng, data)
    blocks = int(rng.choice([5, 150, 250]))
    comments = [b"COMMENT   padding".ljust(CARD)] * (blocks * (BLOCK // CARD))
    return (f"HDU {hdu} header grown by {blocks} blocks of comments", edit_header(data, hdu, lambda c: c + comments),
            ACCEPT if blocks < 190 else EITHER)


def _swap_or_drop(rng: Rng, data: bytes, kind: str) -> Mutated:
    spans = hdu_spans(data)
    parts = [data[s.start : s.end] for s in spans]
    i = int(rng.integers(1, len(spans)))
    if rng.random() < 0.5 and len(spans) > 2:
        j = 1 + (i % (len(spans) - 1))
        parts[i], parts[j] = parts[j], parts[i]
        return f"extensions {i} and {j} swapped", b"".join(parts), ACCEPT
    del parts[i]
    # a STAR/MOON file may carry a subset of the bands (ICD 1.2); a GEOM file needs EPHEM and GCP
    expect = refuse("missing-key", "truncated") if kind == "GEOM" else ACCEPT
    return f"extension {i} removed", b"".join(parts), expect


def _band_names(data: bytes) -> list[tuple[int, str]]:
    out = []
    for i, s in enumerate(hdu_spans(data)[1:], start=1):
        for c in _cards(data, s.start):
            if c[:8] == b"EXTNAME ":
                out.append((i, c[10:].split(b"/")[0].strip().strip(b"'").strip().decode()))
    return out


def _nan_band(rng: Rng, data: bytes, kind: str) -> Mutated:
    """NaN pixels in float32 band images: one band entirely, every band, or a block of one band."""
    spans = hdu_spans(data)
    images = [i for i, s in enumerate(spans) if i and data.startswith(b"XTENSION= 'IMAGE", s.start)
              and b"BITPIX  =                  -32" in data[s.start : s.data]]
    if not images:
        return "unchanged (no float32 image)", data, ACCEPT
    names = dict(_band_names(data))
    choice = int(rng.integers(3))
    chosen = images if choice == 1 else [images[int(rng.integers(len(images)))]]
    out = bytearray(data)
    for i in chosen:
        span = spans[i]
        n = _int_value(_cards(data, span.start), "NAXIS1", 0) * _int_value(_cards(data, span.start), "NAXIS2", 0)
        lo, hi = (0, n) if choice < 2 else sorted(int(v) for v in rng.integers(0, n, 2))
        out[span.data + 4 * lo : span.data + 4 * hi] = b"\x7f\xc0\x00\x00" * (hi - lo)
    what = ["one band all NaN", "every band all NaN", "a run of NaN pixels in one band"][choice]
    if choice == 1 or (choice == 0 and len(images) == 1):
        expect = refuse("all-nan")
    elif choice == 0:  # the file is valid, that band is not (ICD 1.2: NaN where data are missing)
        expect = Expect("accept", bands=(names[chosen[0]],))
    else:
        expect = EITHER
    return f"{what} (HDU {', '.join(str(i) for i in chosen)})", bytes(out), expect


def _table_counts(rng: Rng, data: bytes, kind: str) -> Mutated:
    spans = hdu_spans(data)
    tables = [i for i, s in enumerate(spans) if data.startswith(b"XTENSION= 'BINTABLE", s.start)]
    hdu = tables[int(rng.integers(len(tables)))] if tables else int(rng.integers(len(spans)))
    key = str(rng.choice(["TFIELDS", "TFIELDS", "NAXIS2", "PCOUNT", "TFORM1", "NAXIS1"]))
    value = str(rng.choice(["1000000000000", "-1", "1000", "0", "'99999999999D'", "'1PD(5)'", "7", "12"]))
    if not tables:
        expect = EITHER  # table keys in an image or primary header
    elif _field(data, hdu, key) == value:
        expect = ACCEPT
    elif key in ("PCOUNT", "NAXIS2") and value in ("0", "7", "12", "1000"):
        expect = EITHER  # a heap (FITS 4.0 7.3.5): legal when the padded size still fits
    else:
        expect = refuse()
    return f"HDU {hdu} {key} = {value}", set_card(data, hdu, key, value), expect


def _field(data: bytes, hdu: int, key: str) -> str | None:
    """The value field (comment removed, stripped) of a key of a valid file, or None."""
    for c in _cards(data, hdu_spans(data)[hdu].start):
        if c[:8].rstrip() == key.encode() and c[8:10] == b"= ":
            text = c[10:].decode().strip()
            if not text.startswith("'"):
                return text.split("/")[0].strip()
            m = re.match(r"'((?:[^']|'')*)'", text)
            return f"'{m.group(1).rstrip()}'" if m else text
    return None


def _odd_name(rng: Rng, data: bytes, kind: str) -> Mutated:
    return "valid content (the name is odd, see Case.name)", data, ACCEPT


def _valid(rng: Rng, data: bytes, kind: str) -> Mutated:
    return "unchanged valid file (new ACQ_ID only)", data, ACCEPT


# ---------------------------------------------------------------------------------------------
# Key mutations: every key of every HDU of the ICD (1.1, 1.2, 3) and the FITS structure keys
# ---------------------------------------------------------------------------------------------

KEY_HOWS = ("out-of-range", "wrong-type", "huge", "missing", "long-string", "non-finite", "in-range")
_HUGE = ["1E300", "-1E300", str(1 << 63), str(10**12), "99999999999999999999999"]
_NONFINITE_FIELDS = ["NaN", "INF", "-INF", "1E999", "-1E999", ".NAN"]
_LONG = "X" * 90  # appended to a string: > 80 characters, written with CONTINUE cards


@dataclass(frozen=True)
class KeySpec:
    """What the ICD (or FITS) says about one key, as value fields (verbatim card text).

    ``ty``: str, float, int, date, bool or any. ``bad``: fields out of range; ``good``: other legal
    fields (``(field, bands that must not be ok)``); ``missing``: the verdict when the key is
    absent; ``long``: the verdict for a string longer than 80 characters; ``struct``: a FITS
    structure key (any structural refusal reason); ``lenient``: nothing is required of it.
    """

    ty: str
    bad: tuple[str, ...] = ()
    good: tuple[tuple[str, tuple[str, ...]], ...] = ()
    missing: Expect | None = None
    long: Expect | None = None
    struct: bool = False
    lenient: bool = False


def _q(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _fnum(x: float) -> str:
    return repr(float(x)).upper().replace("E+", "E")


def _shift_date(field: str, seconds: float) -> str:
    text = field.strip().strip("'").strip()
    t = datetime.fromisoformat(text) + timedelta(seconds=seconds)
    return _q(t.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3])


_OTHER_SATELLITE = {"PHR1A": "PHR1B", "PHR1B": "PHR1A", "PNEO3": "PNEO4", "PNEO4": "PNEO3"}
_OTHER_MISSION_SAT = {"PHR": "PNEO3", "PNEO": "PHR1A"}
_PNEO_BANDS = ("P", "DB", "B", "G", "R", "RE", "NIR")
_PHR_BANDS = ("P", "B0", "B1", "B2", "B3")


def key_spec(data: bytes, hdu: int, key: str) -> KeySpec:
    """The :class:`KeySpec` of ``key`` in HDU ``hdu`` of the valid file ``data``."""
    kind = hdu_card_text(data, "ACQTYPE")
    mission = hdu_card_text(data, "MISSION")
    field = _field(data, hdu, key) or ""
    text = field.strip("'").strip()
    spans = hdu_spans(data)
    xt = "PRIMARY" if hdu == 0 else ("BINTABLE" if data.startswith(b"XTENSION= 'BINTABLE", spans[hdu].start)
                                      else "IMAGE")
    same = ((_q(text) if field.startswith("'") else field), ())  # the same value written differently
    req = refuse("missing-key")
    num = float(field) if re.fullmatch(r"[+-]?[\d.]+(E[+-]?\d+)?", field) else 0.0

    def pos(lo_bad: tuple[str, ...] = ("0.0", "-1.0"), good: tuple[str, ...] = ()) -> KeySpec:
        return KeySpec("float", lo_bad, (*((g, ()) for g in good), same), req)

    if key == "SIMPLE":
        return KeySpec("bool", ("F",), (same,), refuse("not-fits"), struct=True)
    if key == "XTENSION":
        return KeySpec("str", ("''", "'   '"), (same,), refuse(), long=EITHER, struct=True)
    if key == "EXTEND":
        return KeySpec("bool", lenient=True)
    if key == "BITPIX":
        good = (("16", ()), same) if xt == "PRIMARY" else (same,)
        return KeySpec("int", ("7", "0", "-16", "24"), good, refuse(), struct=True)
    if key == "NAXIS":
        return KeySpec("int", ("-1", "1000", "1" if xt == "PRIMARY" else "3"), (same,), refuse(), struct=True)
    if key in ("NAXIS1", "NAXIS2"):
        return KeySpec("int", ("-1", "0"), (same,), refuse(), struct=True)
    if key == "PCOUNT":
        return KeySpec("int", ("-1", "5") if xt == "IMAGE" else ("-1",), (same,), EITHER, struct=True)
    if key == "GCOUNT":
        return KeySpec("int", ("-1", "2", "0"), (same,), EITHER, struct=True)
    if key == "TFIELDS":
        return KeySpec("int", ("-1", "1000", "0", str(int(num) - 1)), (same,), refuse(), struct=True)
    if key.startswith("TTYPE"):
        return KeySpec("str", ("'FOO'", "''"), (same,), refuse(), long=refuse(), struct=True)
    if key.startswith("TFORM"):
        return KeySpec("str", ("'Z'", "'2D'", "'3A'" if text == "D" else "'D'"), (same,), refuse(),
                       long=EITHER, struct=True)  # FITS 4.0 7.3.1: 'rTa', a left to conventions
    if key in ("BZERO", "BSCALE"):
        good = ("0.0", "10.0") if key == "BZERO" else ("1.0",)
        return KeySpec("float", ("1E20", "-1E20") if key == "BZERO" else ("0.0", "-1.0"),
                       tuple((g, ()) for g in good), ACCEPT)
    # ICD 1.1: primary keys of every acquisition type
    if key == "ACQ_ID":
        return KeySpec("str", ("''", "'has a space'"), (same,), req, long=EITHER)
    if key == "MISSION":
        return KeySpec("str", ("'SPOT'", _q("PNEO" if mission == "PHR" else "PHR"), "'phr'"), (same,), req,
                       long=refuse("bad-value"))
    if key == "SATELLIT":
        return KeySpec("str", ("'PHR1C'", _q(_OTHER_MISSION_SAT[mission]), "''"),
                       ((_q(_OTHER_SATELLITE[text]), ()), same), req, long=refuse("bad-value"))
    if key == "ACQTYPE":
        others = [t for t in ("STAR", "MOON", "GEOM") if t != text]
        return KeySpec("str", ("'SUN'", *(_q(t) for t in others)), (same,), req, long=refuse())
    if key == "TARGET":
        if kind == "STAR":
            return KeySpec("str", ("'HIP 0'", "'HIP 99999999'", "'SIRIUS'", "'HIP 32349'"), (same,), req,
                           long=refuse("bad-value"))
        if kind == "MOON":
            return KeySpec("str", ("'SUN'", "'HIP 32349'"), (same,), req, long=refuse("bad-value"))
        return KeySpec("str", ("''", "'   '"), (("'TOULOUSE'", ()), same), req, long=EITHER)
    if key in ("DATE-OBS", "T0_FORE", "T0_AFT"):
        bad = ("'1999-12-31T23:59:59'", "'2025-13-01T00:00:00'", "'2025-03-14'", "'2025-03-14T02:15:33+02:00'",
               "'yesterday'", "'2125-01-01T00:00:00'")
        return KeySpec("date", bad, ((_shift_date(field, 1.0), ()), same), req, long=refuse("bad-value"))
    if key == "TIMESYS":
        return KeySpec("str", ("'TAI'", "'TT'", "'GPS'"), (("'UTC'", ()),), ACCEPT, long=refuse("bad-value"))
    if key.startswith("SC_POS"):
        return KeySpec("float", ("60000.0", "-1E5"), ((_fnum(num + 1.0), ()), same), req)
    if key.startswith("SC_VEL"):
        return KeySpec("float", ("100.0", "-50.0"), ((_fnum(num + 0.001), ()), same), req)
    if key == "RA_TARG":
        return KeySpec("float", ("360.5", "-1.0", "1000.0"), ((_fnum(num + 0.001), ()), same), req)
    if key == "DEC_TARG":
        return KeySpec("float", ("90.5", "-95.0"), ((_fnum(num - 0.001), ()), same), req)
    if key == "ICD":
        return KeySpec("str", ("'ICD-2'", "'ICD1'", "''"), (("'ICD-1'", ()),), req, long=refuse("bad-value"))
    # ICD 3: GEOM primary keys
    if key == "FOCAL":
        return pos(good=("12000.0",))
    if key == "PIXPITCH":
        return pos(good=("12.5",))
    if key == "NSAMP":
        return KeySpec("int", ("0", "-1"), (("30000", ()), same), req)
    if key == "LINEPER":
        return pos(("0.0", "-0.1"), (_fnum(num * 1.001),))
    if key in ("PITCH_F", "PITCH_A"):
        return KeySpec("float", ("95.0", "-180.0"), ((_fnum(num * 0.99), ()), same), req)
    # ICD 1.2: image keys
    if key == "EXTNAME":
        if xt == "BINTABLE":
            return KeySpec("str", ("'OTHER'", "''"), (same,), refuse("missing-key"), long=refuse("missing-key"))
        allowed = _PNEO_BANDS if mission == "PNEO" else _PHR_BANDS
        present = {b for _, b in _band_names(data)}
        free = [b for b in allowed if b not in present]
        foreign = "NIR" if mission == "PHR" else "B0"
        good = ((_q(free[0]), ()), same) if free else (same,)
        return KeySpec("str", ("'B9'", _q(foreign), "'p'"), good, req, long=refuse("unknown-band"))
    band = dict(_band_names(data)).get(hdu, "")
    if key == "BUNIT":
        return KeySpec("str", ("'ADU'", "'W/m2/sr/um'"), (("'DN'", ()),), req, long=refuse("bad-value"))
    if key == "DARK":
        return KeySpec("float", ("1E10", "-1E10"), (("0.0", ()), ("35.5", ()), same), req)
    if key == "GAINFACT":
        return pos(good=("1.0", "2.5"))
    if key == "OVERSAMP":
        return pos(("0.0", "-2.0"), ("1.0",))
    if key == "BINNING":
        return KeySpec("int", ("0", "-1"), (("1", ()), ("2", ()), same), ACCEPT)
    if key == "PIXSCALE":
        return pos(good=(_fnum(num * 1.001),))
    if key == "SATURATE":
        # SATURATE below the dark level: every native pixel of the source is "saturated" (ICD 1.2)
        return KeySpec("float", ("0.0", "-4095.0"), (("65535.0", ()), ("1.0", (band,)), same), req)
    if key in ("STARX", "STARY"):
        size = _int_value(_cards(data, spans[hdu].start), "NAXIS1" if key == "STARX" else "NAXIS2", 0)
        return KeySpec("float", ("-100.0", _fnum(size + 100.0)), ((_fnum(num + 1.0), ()), same), req)
    return KeySpec("any", lenient=True)


def key_slots(data: bytes) -> list[tuple[int, str]]:
    """(HDU, key) pairs a key mutation may target: every keyed card of the primary HDU and of the
    first extension of each type (band images: any band is drawn at mutation time), plus the
    optional keys the base lacks (BZERO, BSCALE, NEXTEND is its own mutation)."""
    spans = hdu_spans(data)
    slots: list[tuple[int, str]] = [(0, k) for k in _keys(data, 0)]
    seen: set[bytes] = set()
    for i, s in enumerate(spans[1:], start=1):
        xt = data[s.start : s.start + 20]
        extname = _field(data, i, "EXTNAME")
        tag = xt if xt.startswith(b"XTENSION= 'IMAGE") else xt + (extname or "").encode()
        if tag in seen:
            continue
        seen.add(tag)
        slots += [(i, k) for k in _keys(data, i)]
        if xt.startswith(b"XTENSION= 'IMAGE"):
            slots += [(i, "BZERO"), (i, "BSCALE")]
    return slots


def _long_cards(key: str, value: str) -> list[bytes]:
    from astropy.io import fits

    image = fits.Card(key, value).image.encode("ascii")
    return [image[i : i + CARD] for i in range(0, len(image), CARD)]


def _replace_cards(data: bytes, hdu: int, key: str, new: list[bytes]) -> bytes:
    def edit(cards: list[bytes]) -> list[bytes]:
        for i, c in enumerate(cards):
            if c[:8].rstrip() == key.encode() and c[8:10] == b"= ":
                return [*cards[:i], *new, *cards[i + 1 :]]
        return [*cards, *new]

    return edit_header(data, hdu, edit)


def _key_mutation(how: str) -> Callable[[Rng, bytes, str, int], Mutated]:
    def mutate(rng: Rng, data: bytes, kind: str, visit: int) -> Mutated:
        slots = key_slots(data)
        hdu, key = slots[(visit * len(KEY_HOWS) + KEY_HOWS.index(how)) % len(slots)]
        bands = [i for i, _ in _band_names(data) if data.startswith(b"XTENSION= 'IMAGE", hdu_spans(data)[i].start)]
        if hdu in bands:  # any band of the file
            hdu = bands[int(rng.integers(len(bands)))]
        spec = key_spec(data, hdu, key)
        field = _field(data, hdu, key)
        where = f"HDU {hdu} {key}"
        struct = refuse() if spec.struct else refuse("bad-value", "missing-key", "unknown-band")

        def pick(values: Sequence[str]) -> str:
            return str(values[int(rng.integers(len(values)))])

        def verdict(expect: Expect) -> Expect:
            return EITHER if spec.lenient else expect

        if how == "missing":
            if field is None:
                return f"{where} absent (unchanged)", data, ACCEPT
            expect = spec.missing or EITHER
            new = edit_header(data, hdu, lambda cs: [c for c in cs if c[:8].rstrip() != key.encode()])
            return f"{where} removed", new, verdict(expect)
        if how == "long-string":
            base_text = (field or "").strip().strip("'").strip() if (field or "").startswith("'") else (field or "1")
            value = base_text + "-" + _LONG
            expect = spec.long if spec.ty == "str" and spec.long is not None else struct
            if key == "ACQ_ID":
                expect = Expect("either", ("bad-value",), acq_id=value)
            return f"{where} = long string of {len(value)} characters (CONTINUE)", \
                _replace_cards(data, hdu, key, _long_cards(key, value)), verdict(expect)
        if how == "in-range":
            options = spec.good or ((field, ()),) if field is not None else spec.good
            if not options:
                return f"{where} unchanged", data, ACCEPT
            value, bad_bands = options[int(rng.integers(len(options)))]
            assert value is not None
            expect = Expect("accept", bands=tuple(b for b in bad_bands if b))
            return f"{where} = {value} (in range)", set_card(data, hdu, key, value), verdict(expect)
        if how == "out-of-range":
            if not spec.bad:
                return f"{where} unchanged (no range)", data, ACCEPT
            value = pick(spec.bad)
        elif how == "wrong-type":
            value = pick({"str": ["42", "T", "1.5", "(1.0, 2.0)"], "date": ["20250314", "T", "2025.2"],
                          "float": ["'abc'", "T", "'1.5'", "(1.0, 2.0)"], "int": ["'2'", "1.5", "T", "(1, 2)"],
                          "bool": ["'T'", "1", "'yes'"], "any": ["'abc'", "T", "42"]}[spec.ty])
        elif how == "huge":
            value = pick(_HUGE)
        else:
            value = pick(_NONFINITE_FIELDS)
        return f"{where} = {value} ({how})", set_card(data, hdu, key, value), verdict(struct)

    mutate.__name__ = f"key_{how}"
    return mutate


_GENERIC: dict[str, Callable[[Rng, bytes, str], Mutated]] = {
    "lazy-value": _lazy_value,
    "truncate": _truncate,
    "flip-data": _flip_data,
    "special-pixels": _special_pixels,
    "flip-header": _flip_header,
    "garbage-card": _garbage_card,
    "naxis-huge": _naxis_huge,
    "gzip-bomb": _gzip_bomb,
    "gzip-damage": _gzip_damage,
    "zero-length": _zero_length,
    "extra-hdu": _extra_hdu,
    "duplicate-key": _duplicate_key,
    "table-counts": _table_counts,
    "nextend": _nextend,
    "long-header": _long_header,
    "swap-or-drop": _swap_or_drop,
    "nan-band": _nan_band,
    "odd-name": _odd_name,
    "odd-name-2": _odd_name,
}
MUTATIONS: dict[str, Callable[..., Mutated]] = {**_GENERIC, **{f"key-{h}": _key_mutation(h) for h in KEY_HOWS}}
_NO_GZIP = ("gzip-bomb", "gzip-damage", "zero-length")
_ODD_NAMES = [
    "a\nb.fits", "cr\rlf.fits", "esc\x1b[31mred\x1b[0m.fits", "title\x1b]0;owned\x07.fits", "clear\x1b[2J.fits",
    "del\x7f.fits", "bell\x07.fits", "bad\udcff\udcfe.fits", "latin1-caf\udce9.fits", "tab\there.fits",
    "sp ace.fits", " leading-space.fits", "-rf.fits", "--help.fits", "a..b.fits", "name.fits.fits", "~root.fits",
    "a\\..\\b.fits", "%2e%2e%2fetc.fits", "$(reboot).fits", "`id`.fits", "semi;colon.fits", "quote'd\".fits",
    "[bold red]rich.fits", "[link=file:etc]x.fits", "[blink][reverse]y.fits", "<script>.fits",
    "UPPER.FITS", "plain-named.fits.gz", "naïve-ünïcode.fits", "rtl\u202egnp.fits", "zero\u200bwidth.fits",
    "x" * 230 + ".fits", "y" * 244 + ".fits", "é" * 122 + ".fits",
]


@dataclass(frozen=True)
class Case:
    """One mutated file: write ``data`` under ``name`` (which may hold any character but ``/``)."""

    index: int
    kind: str  # base: STAR, MOON or GEOM
    mutation: str
    detail: str
    name: str
    data: bytes
    acq_id: str
    expect: Expect = ACCEPT

    def describe(self) -> str:
        return f"case {self.index} ({self.kind}, {self.mutation}{', gzip' if self.name.endswith('.gz') else ''}): "\
               f"{self.detail}"


def _with_acq_id(data: bytes, acq_id: str) -> bytes:
    return set_card(data, 0, "ACQ_ID", f"'{acq_id}'".ljust(20))


def _odd_name_for(rng: Rng, index: int) -> str:
    """An odd file name (any character but ``/`` and NUL, at most 255 bytes) tagged with ``index``."""
    raw = _ODD_NAMES[int(rng.integers(len(_ODD_NAMES)))]
    stem, dot, suffix = raw.rpartition(".fits")
    name = f"{stem}-{index:05d}{dot}{suffix}"
    encoded = os.fsencode(name)
    if len(encoded) > 255:  # NAME_MAX: cut the stem, keep the tag and suffix
        over = len(encoded) - 255
        name = f"{stem[: len(stem) - over]}-{index:05d}{dot}{suffix}"
        while len(os.fsencode(name)) > 255:
            stem = stem[:-1]
            name = f"{stem}-{index:05d}{dot}{suffix}"
    if rng.random() < 0.3 and len(os.fsencode(name)) < 240:  # or very long: 251-255 bytes
        pad = 255 - int(rng.integers(0, 5)) - len(os.fsencode(name))
        name = "L" * pad + name
    return name


def make_case(bases: Mapping[str, bytes], index: int, seed: int = 2025, *, unique_acq_id: bool = True) -> Case:
    """Case ``index`` of the seeded sequence: mutation ``index mod len(MUTATIONS)``, base kind
    ``(index // len(MUTATIONS)) mod 3``; with ``unique_acq_id`` the ``ACQ_ID`` becomes
    ``<base id>-F<index>`` first (so that mutants that stay valid are not conflicts). A key
    mutation visits the keys of its kind in turn (``index // (3 len(MUTATIONS))``)."""
    rng = np.random.default_rng((seed, index))
    names = list(MUTATIONS)
    mutation = names[index % len(names)]
    kind = BASE_KINDS[(index // len(names)) % len(BASE_KINDS)]
    data = bases[kind]
    base_id = hdu_card_text(data, "ACQ_ID")
    acq_id = f"{base_id}-F{index:05d}"
    if unique_acq_id:
        data = _with_acq_id(data, acq_id)
    if mutation.startswith("key-"):
        detail, mutated, expect = MUTATIONS[mutation](rng, data, kind, index // (len(names) * len(BASE_KINDS)))
    else:
        detail, mutated, expect = MUTATIONS[mutation](rng, data, kind)
    if expect.acq_id is None and expect.verdict != "refuse":
        expect = replace(expect, acq_id=acq_id if "ACQ_ID" not in detail else None)
    gz = mutation not in _NO_GZIP and rng.random() < 0.25
    if gz:
        mutated = gzip.compress(mutated, compresslevel=1, mtime=0)
    name = f"case{index:05d}-{kind.lower()}-{mutation}.fits" + (".gz" if gz else "")
    if mutation.startswith("odd-name"):
        name = _odd_name_for(rng, index)
    return Case(index, kind, mutation, detail, name, mutated, acq_id, expect)


def control_case(bases: Mapping[str, bytes], kind: str, number: int) -> Case:
    """An innocent control: the valid base file of ``kind`` with ``ACQ_ID`` ``<base id>-C<number>``."""
    acq_id = f"{hdu_card_text(bases[kind], 'ACQ_ID')}-C{number:05d}"
    return Case(-1 - number, kind, "control", "unmutated valid file", f"control{number:05d}-{kind.lower()}.fits",
                _with_acq_id(bases[kind], acq_id), acq_id, replace(ACCEPT, acq_id=acq_id))


def legal_max_star(data: bytes, acq_id: str, side: int = 2000) -> bytes:
    """A STAR file at the largest legal size of the default limits: every band ``side x side``
    float32 (4,000,000 pixels), a Gaussian star at the predicted position, no noise (compressible)."""
    from astropy.io import fits

    spans = hdu_spans(data)
    hdus = [fits.PrimaryHDU(header=fits.Header.fromstring(data[: spans[0].data].decode()))]
    hdus[0].header["ACQ_ID"] = acq_id
    y, x = np.mgrid[0:side, 0:side]
    for s in spans[1:]:
        header = fits.Header.fromstring(data[s.start : s.data].decode())
        header["STARX"], header["STARY"] = side / 2 + 0.3, side / 2 - 0.2
        img = (float(header["DARK"]) + 2000.0 * np.exp(-((x - side / 2 - 0.3) ** 2 + (y - side / 2 + 0.2) ** 2)
                                                      / 8.0)).astype(np.float32)
        hdus.append(fits.ImageHDU(img, header=header))
    buf = __import__("io").BytesIO()
    fits.HDUList(hdus).writeto(buf)
    return gzip.compress(buf.getvalue(), compresslevel=6, mtime=0)


def legal_max_moon(data: bytes, acq_id: str, side: int = 20000) -> bytes:
    """A MOON file at the largest legal size of the default limits: one band of ``side x side``
    float32 (400,000,000 pixels, 1.6 GB), a uniform disk on the dark level, gzip-compressed
    (a few MB): the processing must measure it in bounded memory."""
    data = _with_acq_id(data, acq_id)
    spans = hdu_spans(data)
    head = data[: spans[0].end] + _bomb_header(data, "MOON", side, side)
    comp = zlib.compressobj(6, zlib.DEFLATED, 31)
    parts = [comp.compress(head)]
    dark = np.float32(float(_field(data, 1, "DARK") or 0.0))
    radius = side * 0.3
    x = np.arange(side, dtype=np.float64) - side / 2
    rows = 500
    for y0 in range(0, side, rows):
        y = np.arange(y0, y0 + rows, dtype=np.float64)[:, None] - side / 2
        img = np.where(x[None, :] ** 2 + y**2 < radius**2, np.float32(900.0) + dark, dark).astype(">f4")
        parts.append(comp.compress(img.tobytes()))
    parts.append(comp.compress(bytes(-(4 * side * side) % BLOCK)))
    parts.append(comp.flush())
    return b"".join(parts)


def hdu_card_text(data: bytes, key: str) -> str:
    """The string value of a primary-header card of a valid file (quotes and padding removed)."""
    for c in _cards(data, 0):
        if c[:8].rstrip() == key.encode():
            return c[10:].split(b"/")[0].strip().strip(b"'").strip().decode()
    raise KeyError(key)
