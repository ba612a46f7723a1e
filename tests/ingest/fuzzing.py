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
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from monitor.domain import AcqType, AcquisitionHeader, BandHeader, GeomHeader, Mission, Satellite
from monitor.io.fits_writer import write_acquisition
from monitor.io.reference_data import load_star_catalogue

__all__ = ["BASE_KINDS", "MUTATIONS", "Case", "write_bases", "make_case", "hdu_spans", "star_base",
           "moon_base", "geom_base"]

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
    from monitor.io.fits_reader import read_acquisition_header, read_bands
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
    """HDU layout of a valid (unmutated) file."""
    spans: list[HduSpan] = []
    pos = 0
    while pos + BLOCK <= len(data) and (pos == 0 or data.startswith(b"XTENSION", pos)):
        cards = _cards(data, pos)
        header_end = pos + _padded((len(cards) + 1) * CARD)
        naxis = _int_value(cards, "NAXIS", 0)
        axes = [_int_value(cards, f"NAXIS{i}", 0) for i in range(1, naxis + 1)]
        bitpix = abs(_int_value(cards, "BITPIX", 8))
        size = bitpix // 8 * _int_value(cards, "GCOUNT", 1) * (_int_value(cards, "PCOUNT", 0) + int(np.prod(axes)))
        spans.append(HduSpan(pos, header_end, header_end + _padded(size if naxis else 0)))
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
# Mutations: (rng, data, kind) -> (what was done, new bytes)
# ---------------------------------------------------------------------------------------------

_ICD_KEYS = {
    0: ["ACQ_ID", "MISSION", "SATELLIT", "ACQTYPE", "TARGET", "DATE-OBS", "TIMESYS", "SC_POSX", "SC_POSY", "SC_VELZ",
        "RA_TARG", "DEC_TARG", "ICD", "FOCAL", "PIXPITCH", "NSAMP", "LINEPER", "T0_FORE", "PITCH_F", "BITPIX",
        "NAXIS", "EXTEND"],
    1: ["EXTNAME", "BUNIT", "DARK", "GAINFACT", "OVERSAMP", "BINNING", "PIXSCALE", "LINEPER", "SATURATE", "STARX",
        "STARY", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "PCOUNT", "GCOUNT", "TFIELDS", "TFORM1", "TTYPE2", "BZERO",
        "BSCALE", "BLANK"],
}
_LAZY = ["31.5.2", "2,25", "'abc", "1.0.0E3", "--5", "0x1F", "1e5e5", "'", "(1,", "T F", "1 2", "+", ".", "'a'b'"]
_WRONG = ["'abc'", "'31.5'", "42", "T", "F", "(1.0, 2.0)", "", "''", "'   '", "-3", "1.5"]
_ABSURD = ["1E300", "-1E300", "0", "-1", "1E7", "65", "2000", "1E-300", "99999999999999999999999", "-0.0",
           "1000000", "-999999999", "4294967296", "1025", "0.5"]
_NONFINITE = ["NaN", "NAN", "nan", "INF", "-INF", "Infinity", "1E999", "-1E999", ".NAN", "1D999"]


def _pick_hdu(rng: Rng, data: bytes) -> int:
    return int(rng.integers(len(hdu_spans(data))))


def _pick_key(rng: Rng, data: bytes, hdu: int) -> str:
    keys = _keys(data, hdu)
    preferred = [k for k in _ICD_KEYS[min(hdu, 1)] if k in keys]
    pool = preferred if preferred and rng.random() < 0.7 else keys
    return str(pool[int(rng.integers(len(pool)))])


def _set_random(rng: Rng, data: bytes, values: list[str], what: str) -> tuple[str, bytes]:
    hdu = _pick_hdu(rng, data)
    key = _pick_key(rng, data, hdu)
    value = values[int(rng.integers(len(values)))]
    return f"{what}: HDU {hdu} {key} = {value}", set_card(data, hdu, key, value)


def _lazy_value(rng: Rng, data: bytes, kind: str) -> tuple[str, bytes]:
    return _set_random(rng, data, _LAZY, "unparsable value")


def _wrong_type(rng: Rng, data: bytes, kind: str) -> tuple[str, bytes]:
    return _set_random(rng, data, _WRONG, "wrong type")


def _out_of_range(rng: Rng, data: bytes, kind: str) -> tuple[str, bytes]:
    return _set_random(rng, data, _ABSURD, "out of range")


def _non_finite(rng: Rng, data: bytes, kind: str) -> tuple[str, bytes]:
    return _set_random(rng, data, _NONFINITE, "non-finite")


def _truncate(rng: Rng, data: bytes, kind: str) -> tuple[str, bytes]:
    if rng.random() < 0.5:
        cut = int(rng.integers(len(data)))
    else:  # near a block boundary: the cases astropy reads silently, or a cut inside the first card
        cut = min(len(data) - 1, BLOCK * int(rng.integers(len(data) // BLOCK)) + int(rng.choice([0, 1, 7, 8, 80])))
    return f"truncated at byte {cut} of {len(data)}", data[:cut]


def _flip_bytes(rng: Rng, data: bytes, lo: int, hi: int, n: int) -> bytes:
    out = bytearray(data)
    for pos in rng.integers(lo, max(lo + 1, hi), size=n):
        out[int(pos)] ^= int(rng.integers(1, 256))
    return bytes(out)


def _flip_data(rng: Rng, data: bytes, kind: str) -> tuple[str, bytes]:
    spans = [s for s in hdu_spans(data) if s.end > s.data]
    span = spans[int(rng.integers(len(spans)))]
    n = int(rng.choice([1, 4, 64]))
    return f"{n} data byte(s) flipped in [{span.data}, {span.end})", _flip_bytes(rng, data, span.data, span.end, n)


def _flip_header(rng: Rng, data: bytes, kind: str) -> tuple[str, bytes]:
    span = hdu_spans(data)[_pick_hdu(rng, data)]
    n = int(rng.choice([1, 3, 20]))
    return f"{n} header byte(s) flipped in [{span.start}, {span.data})", _flip_bytes(rng, data, span.start,
                                                                                    span.data, n)


def _garbage_card(rng: Rng, data: bytes, kind: str) -> tuple[str, bytes]:
    hdu = _pick_hdu(rng, data)
    alphabet = [np.arange(32, 127), np.arange(0, 256), np.arange(0, 32)][int(rng.integers(3))]
    junk = bytes(int(b) for b in rng.choice(alphabet, size=CARD))

    def edit(cards: list[bytes]) -> list[bytes]:
        i = int(rng.integers(len(cards)))
        return [*cards[:i], junk, *cards[i + 1 :]]

    return f"garbage card in HDU {hdu} ({len(alphabet)}-byte alphabet)", edit_header(data, hdu, edit)


def _naxis_huge(rng: Rng, data: bytes, kind: str) -> tuple[str, bytes]:
    spans = hdu_spans(data)
    hdu = int(rng.integers(1, len(spans))) if len(spans) > 1 else 0
    keys = _keys(data, hdu)
    axes = [k for k in ("NAXIS1", "NAXIS2") if k in keys] or ["NAXIS1"]
    key = axes[int(rng.integers(len(axes)))]
    value = int(rng.choice([100_000, 2_000_000, (1 << 31) - 1, 10**12, 1 << 40]))
    return f"HDU {hdu} {key} = {value} (gigabytes declared, none present)", set_card(data, hdu, key, str(value))


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


def _gzip_bomb(rng: Rng, data: bytes, kind: str) -> tuple[str, bytes]:
    """A small .fits.gz: the primary header, a band header declaring a huge float32 image, then
    zeros (all of them when at most MAX_BOMB_DATA_BYTES, else the first 16 MiB)."""
    shapes = {"MOON": [(25_000, 20_000), (100_000, 100_000)], "STAR": [(5_000, 5_000), (3_000, 2_000)],
              "GEOM": [(5_000, 5_000), (100_000, 100_000)]}[kind]
    nx, ny = shapes[int(rng.integers(len(shapes)))]
    declared = _padded(4 * nx * ny)
    zeros = declared if declared <= MAX_BOMB_DATA_BYTES else 16 << 20
    head = data[: hdu_spans(data)[0].end] + _bomb_header(data, kind, nx, ny)
    comp = zlib.compressobj(1, zlib.DEFLATED, 31)  # gzip container
    parts = [comp.compress(head)]
    chunk = bytes(1 << 20)
    for _ in range(zeros // len(chunk)):
        parts.append(comp.compress(chunk))
    parts.append(comp.compress(bytes(zeros % len(chunk))))
    parts.append(comp.flush())
    blob = b"".join(parts)
    return f"gzip bomb: {ny} x {nx} float32 declared ({declared} bytes), {zeros} zero bytes, {len(blob)} bytes gz", blob


def _zero_length(rng: Rng, data: bytes, kind: str) -> tuple[str, bytes]:
    return "zero-length file", b""


def _extension(cards: list[bytes], payload: bytes = b"") -> bytes:
    return _header_bytes(cards) + payload + b"\0" * (-len(payload) % BLOCK)


def _extra_hdu(rng: Rng, data: bytes, kind: str) -> tuple[str, bytes]:
    spans = hdu_spans(data)
    empty = [card("XTENSION", "'IMAGE   '"), card("BITPIX", "8".rjust(20)), card("NAXIS", "0".rjust(20)),
             card("PCOUNT", "0".rjust(20)), card("GCOUNT", "1".rjust(20))]
    choice = int(rng.integers(6))
    if choice == 0 and len(spans) > 1:
        return "extension 1 appended again (a band twice)", data + data[spans[1].start : spans[1].end]
    if choice == 1:
        table = [card("XTENSION", "'BINTABLE'"), card("BITPIX", "8".rjust(20)), card("NAXIS", "2".rjust(20)),
                 card("NAXIS1", "8".rjust(20)), card("NAXIS2", "3".rjust(20)), card("PCOUNT", "0".rjust(20)),
                 card("GCOUNT", "1".rjust(20)), card("TFIELDS", "1".rjust(20)), card("TTYPE1", "'Q       '"),
                 card("TFORM1", "'D       '"), card("EXTNAME", "'EXTRA   '")]
        return "extra binary table EXTRA", data + _extension(table, np.arange(3, dtype=">f8").tobytes())
    if choice == 2:
        n = int(rng.choice([10, 70]))
        return f"{n} empty image extensions appended", data + _extension(empty) * n
    if choice == 3:
        foreign = [card("XTENSION", "'FOREIGN '"), card("BITPIX", "8".rjust(20)), card("NAXIS", "1".rjust(20)),
                   card("NAXIS1", "10".rjust(20)), card("PCOUNT", "0".rjust(20)), card("GCOUNT", "1".rjust(20))]
        return "FOREIGN extension appended", data + _extension(foreign, b"0123456789")
    if choice == 4:
        at = ([s.start for s in spans[1:]] + [spans[-1].end])[int(rng.integers(len(spans)))]
        return f"empty image extension inserted at byte {at}", data[:at] + _extension(empty) + data[at:]
    return "empty image extension NIR appended", data + _extension([*empty, card("EXTNAME", "'NIR     '")])


def _duplicate_key(rng: Rng, data: bytes, kind: str) -> tuple[str, bytes]:
    hdu = _pick_hdu(rng, data)
    key = _pick_key(rng, data, hdu)
    value = (_ABSURD + _LAZY + _WRONG)[int(rng.integers(len(_ABSURD) + len(_LAZY) + len(_WRONG)))]
    first = rng.random() < 0.3

    def edit(cards: list[bytes]) -> list[bytes]:
        i = next(i for i, c in enumerate(cards) if c[:8].rstrip() == key.encode())
        at = i if first else i + 1
        return [*cards[:at], card(key, value), *cards[at:]]

    where = "before" if first else "after"
    return f"HDU {hdu} {key} duplicated {where} the original with {value}", edit_header(data, hdu, edit)


def _remove_key(rng: Rng, data: bytes, kind: str) -> tuple[str, bytes]:
    hdu = _pick_hdu(rng, data)
    key = _pick_key(rng, data, hdu)

    def edit(cards: list[bytes]) -> list[bytes]:
        return [c for c in cards if c[:8].rstrip() != key.encode()]

    return f"HDU {hdu} {key} removed", edit_header(data, hdu, edit)


def _table_counts(rng: Rng, data: bytes, kind: str) -> tuple[str, bytes]:
    spans = hdu_spans(data)
    tables = [i for i, s in enumerate(spans) if data.startswith(b"XTENSION= 'BINTABLE", s.start)]
    hdu = tables[int(rng.integers(len(tables)))] if tables else int(rng.integers(len(spans)))
    key = str(rng.choice(["TFIELDS", "TFIELDS", "NAXIS2", "PCOUNT", "TFORM1", "NAXIS1"]))
    value = str(rng.choice(["1000000000000", "-1", "1000", "0", "'99999999999D'", "'1PD(5)'", "7", "12"]))
    return f"HDU {hdu} {key} = {value}", set_card(data, hdu, key, value)


def _nextend(rng: Rng, data: bytes, kind: str) -> tuple[str, bytes]:
    n = len(hdu_spans(data)) - 1
    value = str(rng.choice([str(n), str(n + 1), str(max(0, n - 1)), "-1", "'two'", "1000"]))
    return f"NEXTEND = {value} ({n} extensions)", set_card(data, 0, "NEXTEND", value.rjust(20))


def _long_header(rng: Rng, data: bytes, kind: str) -> tuple[str, bytes]:
    hdu = _pick_hdu(rng, data)
    blocks = int(rng.choice([5, 150, 250]))
    comments = [b"COMMENT   padding".ljust(CARD)] * (blocks * (BLOCK // CARD))
    return f"HDU {hdu} header grown by {blocks} blocks of comments", edit_header(data, hdu, lambda c: c + comments)


def _swap_or_drop(rng: Rng, data: bytes, kind: str) -> tuple[str, bytes]:
    spans = hdu_spans(data)
    if len(spans) < 2:
        return "unchanged (single HDU)", data
    parts = [data[s.start : s.end] for s in spans]
    i = int(rng.integers(1, len(spans)))
    if rng.random() < 0.5 and len(spans) > 2:
        j = 1 + (i % (len(spans) - 1))
        parts[i], parts[j] = parts[j], parts[i]
        return f"extensions {i} and {j} swapped", b"".join(parts)
    del parts[i]
    return f"extension {i} removed", b"".join(parts)


def _nan_band(rng: Rng, data: bytes, kind: str) -> tuple[str, bytes]:
    """NaN pixels in float32 band images: one band entirely, every band, or a block of one band."""
    images = [s for s in hdu_spans(data)[1:] if data.startswith(b"XTENSION= 'IMAGE", s.start)
              and b"BITPIX  =                  -32" in data[s.start : s.data]]
    if not images:
        return "unchanged (no float32 image)", data
    choice = int(rng.integers(3))
    chosen = images if choice == 1 else [images[int(rng.integers(len(images)))]]
    out = bytearray(data)
    for span in chosen:
        n = _int_value(_cards(data, span.start), "NAXIS1", 0) * _int_value(_cards(data, span.start), "NAXIS2", 0)
        lo, hi = (0, n) if choice < 2 else sorted(int(v) for v in rng.integers(0, n, 2))
        out[span.data + 4 * lo : span.data + 4 * hi] = b"\x7f\xc0\x00\x00" * (hi - lo)
    what = ["one band all NaN", "every band all NaN", "a run of NaN pixels in one band"][choice]
    return f"{what} (HDU {', '.join(str(hdu_spans(data).index(s)) for s in chosen)})", bytes(out)


def _odd_name(rng: Rng, data: bytes, kind: str) -> tuple[str, bytes]:
    return "valid content (the name is odd, see Case.name)", data


MUTATIONS: dict[str, Callable[[Rng, bytes, str], tuple[str, bytes]]] = {
    "lazy-value": _lazy_value,
    "wrong-type": _wrong_type,
    "out-of-range": _out_of_range,
    "non-finite": _non_finite,
    "truncate": _truncate,
    "flip-data": _flip_data,
    "flip-header": _flip_header,
    "garbage-card": _garbage_card,
    "naxis-huge": _naxis_huge,
    "gzip-bomb": _gzip_bomb,
    "zero-length": _zero_length,
    "extra-hdu": _extra_hdu,
    "duplicate-key": _duplicate_key,
    "remove-key": _remove_key,
    "table-counts": _table_counts,
    "nextend": _nextend,
    "long-header": _long_header,
    "swap-or-drop": _swap_or_drop,
    "nan-band": _nan_band,
    "odd-name": _odd_name,
}
_NO_GZIP = ("gzip-bomb", "zero-length")
_ODD_NAMES = ["a\nb.fits", "esc\x1b[31mred\x1b[0m.fits", "del\x7f.fits", "bad\udcff\udcfe.fits", "tab\there.fits",
              "sp ace.fits", "x" * 230 + ".fits"]


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

    def describe(self) -> str:
        return f"case {self.index} ({self.kind}, {self.mutation}{', gzip' if self.name.endswith('.gz') else ''}): "\
               f"{self.detail}"


def _with_acq_id(data: bytes, acq_id: str) -> bytes:
    return set_card(data, 0, "ACQ_ID", f"'{acq_id}'".ljust(20))


def make_case(bases: Mapping[str, bytes], index: int, seed: int = 2025, *, unique_acq_id: bool = True) -> Case:
    """Case ``index`` of the seeded sequence: mutation ``index mod len(MUTATIONS)``, base kind
    ``(index // len(MUTATIONS)) mod 3``; with ``unique_acq_id`` the ``ACQ_ID`` becomes
    ``<base id>-F<index>`` first (so that mutants that stay valid are not conflicts)."""
    rng = np.random.default_rng((seed, index))
    names = list(MUTATIONS)
    mutation = names[index % len(names)]
    kind = BASE_KINDS[(index // len(names)) % len(BASE_KINDS)]
    data = bases[kind]
    base_id = hdu_card_text(data, "ACQ_ID")
    acq_id = f"{base_id}-F{index:05d}"
    if unique_acq_id:
        data = _with_acq_id(data, acq_id)
    detail, mutated = MUTATIONS[mutation](rng, data, kind)
    gz = mutation == "gzip-bomb" or (mutation not in _NO_GZIP and rng.random() < 0.25)
    if gz and mutation != "gzip-bomb":
        if mutation == "truncate" and rng.random() < 0.5:  # cut the compressed stream instead
            blob = gzip.compress(data, mtime=0)
            cut = int(rng.integers(len(blob)))
            detail, mutated = f"gzip stream truncated at byte {cut} of {len(blob)}", blob[:cut]
        else:
            mutated = gzip.compress(mutated, compresslevel=1, mtime=0)
    name = f"case{index:05d}-{kind.lower()}-{mutation}.fits" + (".gz" if gz else "")
    if mutation == "odd-name":
        name = _ODD_NAMES[int(rng.integers(len(_ODD_NAMES)))].replace(".fits", f"-{index:05d}.fits")
    return Case(index, kind, mutation, detail, name, mutated, acq_id)


def hdu_card_text(data: bytes, key: str) -> str:
    """The string value of a primary-header card of a valid file (quotes and padding removed)."""
    for c in _cards(data, 0):
        if c[:8].rstrip() == key.encode():
            return c[10:].split(b"/")[0].strip().strip(b"'").strip().decode()
    raise KeyError(key)

