"""End-to-end fuzz: mutated acquisition files through the real command line, on real sites, judged
by an oracle of the ICD.

Makes ``--cases`` mutants (``tests/ingest/fuzzing.py``, the generator of the fuzz test) of valid
STAR, MOON and GEOM files of the simulator: every key of every HDU of the ICD (out of range, wrong
type, huge, missing, long CONTINUE strings, non-finite, in range), truncations (random offsets,
block and HDU boundaries), flipped bytes, NaN/Inf pixels, gzip (valid, damaged, bombs beyond the
pixel limits), zero-length files, extra HDUs and odd names (control characters, escape sequences,
Rich markup, bytes that are not UTF-8, 251-255 bytes, path-like). Each mutant carries what the
ICD requires of it (:class:`tests.ingest.fuzzing.Expect`: refused with a reason family, accepted,
or either). Every batch of ``--batch`` mutants is delivered to one of ``--sites`` sites together
with ``--controls`` innocent controls (unmutated valid files, same inbox, same ingest run); the
first batch of each site also gets odd inbox entries (symbolic links to a file, a directory,
/etc/passwd, /dev/zero, nowhere and themselves, a FIFO, a socket, directories named like FITS
files, an unreadable file, a hard link, a hidden and a ``.part`` file, a marker that is a
directory), and site 0 gets a STAR and a MOON file at the largest legal size (the MOON band is
20000 x 20000 float32, 1.6 GB decompressed from a few MB of gzip). Then ``monitor ingest`` after
every batch, a final ``ingest`` sweep, ``process``, ``results --format json`` and ``report``, each
a subprocess (``MONITOR_INGEST_SETTLE_SECONDS=0``) whose peak RSS is read from ``wait4``.

Figures (one JSON document on stdout): cases by mutation family, refused by reason, wrong
acceptances (a mutant that must be refused was accepted, accepted under another ACQ_ID, or with a
band measured ok that must not be), innocents affected (a control not archived with its SHA-256
and all its bands, or a band not measured ok), inbox entries left without a reason (neither
ingested, quarantined, nor reported by the ingest as left with a reason, nor ignored by a
documented convention: hidden, ``.part``/``.tmp``, markers, plain sub-directories), tracebacks,
non-zero exits, peak RSS per command (MB) and duration; with the offending cases listed.

Usage: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/fuzz.py [--cases 1500] [--batch 100] [--sites 4]
       [--controls 3] [--seed 2025] [--workdir DIR] [--no-report] [--no-legal-max] [--synthetic]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from monitor.domain import printable_name  # noqa: E402
from monitor.ingest.inbox import storable_name  # noqa: E402
from tests.ingest.fuzzing import (  # noqa: E402
    EITHER,
    Case,
    Expect,
    control_case,
    key_slots,
    legal_max_moon,
    legal_max_star,
    make_case,
    refuse,
    write_bases,
)

PERIOD = "2025-03"  # every base file is dated March 2025
TRACEBACK = "Traceback (most recent call last)"
COMMAND_TIMEOUT_S = 1800
MAX_RSS_MB = 1024
_MAX_INSPECTED_BYTES = 32 << 20  # the benchmark reads at most this much of a mutant
# Runs a command and writes its peak RSS (KiB, wait4) to argv[1]. A small process of its own forks
# the command: a child's ru_maxrss starts at its parent's RSS at fork time, so forking the command
# from the benchmark (which holds the mutants) would report the benchmark's size.
_MEASURE = (
    "import os, subprocess, sys\n"
    "p = subprocess.Popen(sys.argv[2:])\n"
    "_, status, usage = os.wait4(p.pid, 0)\n"
    "open(sys.argv[1], 'w').write(str(usage.ru_maxrss))\n"
    "sys.exit(os.waitstatus_to_exitcode(status))\n"
)
_LEFT = re.compile(r"^\s*left in the inbox: (.*?): (transient|internal error): ", re.M)


@dataclass
class Delivered:
    """One inbox entry the benchmark made: a case (mutant, control) or an odd entry."""

    case: Case  # its data dropped once written (the benchmark stays small)
    site: int
    sha256: str | None  # None: not a regular file
    bands: frozenset[str] = frozenset()  # band names of the file, when its structure is whole

    @property
    def key(self) -> str:
        return f"{self.site}:{self.case.name}"


@dataclass
class Tally:
    commands: int = 0
    offending: list[dict[str, Any]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    rss_mb: dict[str, float] = field(default_factory=dict)
    left: dict[int, dict[str, str]] = field(default_factory=dict)  # site -> escaped name -> reason line


def _run(site: Path, index: int, tally: Tally, *args: str) -> tuple[int, str, str]:
    """One ``monitor`` command as a subprocess, its peak RSS from ``wait4`` (see ``_MEASURE``); a
    non-zero exit or a traceback is recorded."""
    env = {**os.environ, "MONITOR_INGEST_SETTLE_SECONDS": "0", "OMP_NUM_THREADS": "1"}
    env.pop("MONITOR_DATABASE_URL", None)  # each site has its own SQLite catalogue
    where = [str(site)] if args[0] == "init" else ["--site", str(site)]  # monitor init SITE, monitor X --site SITE
    cmd = [sys.executable, "-m", "monitor.cli", args[0], *where, *args[1:]]
    t = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
        proc = subprocess.Popen([sys.executable, "-c", _MEASURE, rss.name, *cmd], env=env, cwd=REPO, stdout=out,
                                stderr=err, start_new_session=True)
        try:
            proc.wait(timeout=COMMAND_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
        peak_kib = int(rss.read().strip() or 0)
    name = args[0]
    tally.seconds[name] = tally.seconds.get(name, 0.0) + time.perf_counter() - t
    tally.rss_mb[name] = max(tally.rss_mb.get(name, 0.0), peak_kib / 1024)
    tally.commands += 1
    if name == "ingest":
        tally.left[index] = {m.group(1): m.group(0).strip() for m in _LEFT.finditer(stderr)}
    if proc.returncode != 0 or TRACEBACK in stderr:
        tally.offending.append({"site": site.name, "command": " ".join(args), "exit_code": proc.returncode,
                                "traceback": TRACEBACK in stderr, "stderr_tail": stderr.splitlines()[-8:],
                                "left_in_inbox": sorted(tally.left.get(index, {}))[:10] if name == "ingest" else []})
    return proc.returncode, stdout, stderr


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write(inbox: Path, case: Case, site: int) -> Delivered:
    with open(os.path.join(os.fsencode(inbox), os.fsencode(case.name)), "wb") as f:
        f.write(case.data)
    return Delivered(replace(case, data=b""), site, _sha(case.data), frozenset(_bands_of(case.data)))


def _special(name: str, detail: str, expect: Expect, data: bytes = b"") -> Case:
    return Case(-100000, "ENTRY", "inbox-entry", detail, name, data, "", expect)


def _deliver_entries(inbox: Path, site: int, outside: Path, control: Case, bases: dict[str, bytes]) -> list[Delivered]:
    """Odd inbox entries, named like acquisitions (and a few conventions the ingest must respect)."""
    out: list[Delivered] = []
    not_a_file = refuse("not-a-file")
    links = {"link-file.fits": str(outside / "valid.fits"), "link-dir.fits": str(outside),
             "link-passwd.fits": "/etc/passwd", "link-zero.fits": "/dev/zero", "link-dangling.fits": "/nonexistent/x",
             "link-loop.fits": "link-loop.fits", "link-relative.fits.gz": "../archive"}
    for name, target in links.items():
        os.symlink(target, inbox / name)
        out.append(Delivered(_special(name, f"symbolic link to {target}", not_a_file), site, None))
    os.mkfifo(inbox / "fifo.fits")
    out.append(Delivered(_special("fifo.fits", "FIFO", not_a_file), site, None))
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(inbox / "socket.fits"))
    sock.close()
    out.append(Delivered(_special("socket.fits", "UNIX socket", not_a_file), site, None))
    (inbox / "dir.fits").mkdir()
    (inbox / "dir-full.fits.gz").mkdir()
    (inbox / "dir-full.fits.gz" / "inner.fits").write_bytes(bases["STAR"])
    out.append(Delivered(_special("dir.fits", "empty directory named like a FITS file", not_a_file), site, None))
    out.append(Delivered(_special("dir-full.fits.gz", "directory holding a FITS file", not_a_file), site, None))
    # regular files with a twist
    valid = control_case(bases, "STAR", 90000 + site)
    unreadable = Case(-100001, "STAR", "inbox-entry", "valid file with mode 000 (root reads it anyway)",
                      "unreadable.fits", valid.data, valid.acq_id, EITHER)
    out.append(_write(inbox, unreadable, site))
    os.chmod(inbox / "unreadable.fits", 0)
    out.append(_write(inbox, _special("notes.txt", "a FITS file not named like one", refuse("not-fits"),
                                      control_case(bases, "MOON", 91000 + site).data), site))
    os.link(inbox / control.name, inbox / "zz-hardlink.fits")  # same bytes as the control: a duplicate
    out.append(Delivered(_special("zz-hardlink.fits", f"hard link to {control.name}", refuse("duplicate")),
                         site, _sha(control.data)))
    marked = control_case(bases, "GEOM", 92000 + site)
    marked = Case(-100002, "GEOM", "inbox-entry", "valid file whose .done marker is a directory",
                  "marker-dir.fits", marked.data, marked.acq_id, Expect("accept", acq_id=marked.acq_id))
    out.append(_write(inbox, marked, site))
    (inbox / "marker-dir.fits.done").mkdir()
    # conventions: never candidates (ICD 1 / monitor.ingest.service), not counted as left without a reason
    (inbox / ".hidden.fits").write_bytes(bases["STAR"])
    (inbox / "growing.fits.part").write_bytes(bases["STAR"][:5000])
    (inbox / "subdir").mkdir()
    return out


def _catalogue(site: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[int, set[str]], set[int]]:
    """(acquisitions, rejections, bands by acquisition id, acquisitions with a GEOM header) of a site."""
    con = sqlite3.connect(site / "monitor.db")
    con.row_factory = sqlite3.Row
    try:
        acqs = [dict(r) for r in con.execute("select id, acq_id, sha256, file_name, archive_path, status, acq_type "
                                             "from acquisition")]
        rejs = [dict(r) for r in con.execute("select file_name, sha256, acq_id, reason, state from rejection")]
        bands: dict[int, set[str]] = defaultdict(set)
        for r in con.execute("select acquisition_id, band from band_image"):
            bands[r[0]].add(r[1])
        geoms = {r[0] for r in con.execute("select acquisition_id from geom_header")}
    finally:
        con.close()
    return acqs, rejs, bands, geoms


def _bands_of(data: bytes) -> set[str]:
    """Band names of a plain or gzip file that is structurally whole (else the empty set)."""
    from tests.ingest.fuzzing import _band_names

    try:
        if data[:2] == b"\x1f\x8b":
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as f:
                data = f.read(_MAX_INSPECTED_BYTES + 1)
        if len(data) > _MAX_INSPECTED_BYTES:  # a bomb, or the legal-max files: the catalogue says
            return set()
        return {b for _, b in _band_names(data)}
    except Exception:  # a mutant: its catalogue rows say what was accepted
        return set()


@dataclass
class Verdicts:
    wrong_acceptances: list[str] = field(default_factory=list)
    unexpected_refusals: list[str] = field(default_factory=list)
    other_reason: list[str] = field(default_factory=list)
    innocents_affected: list[str] = field(default_factory=list)
    unaccounted: list[str] = field(default_factory=list)
    accepted_without_band_verdicts: list[str] = field(default_factory=list)
    refused: Counter[str] = field(default_factory=Counter)
    accepted: int = 0
    left_with_reason: int = 0
    verdict_by_family: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))


def _judge(sites: list[Path], delivered: list[Delivered], results: dict[int, dict[str, Any]],
           tally: Tally) -> Verdicts:
    v = Verdicts()
    for s, site in enumerate(sites):
        acqs, rejs, bands, geoms = _catalogue(site)
        by_sha = {a["sha256"]: a for a in acqs}
        rej_by_sha: dict[str | None, list[dict[str, Any]]] = defaultdict(list)
        for r in rejs:
            rej_by_sha[r["sha256"]].append(r)
        measured: dict[tuple[str, str], str] = {}
        for m in results.get(s, {}).get("measurements", []):
            if m.get("acq_id") and m.get("band"):
                measured[(m["acq_id"], m["band"])] = m["status"] if m["status"] != "rejected" else \
                    f"rejected:{m['reason']}"
        geometry = {g["acq_id"] for g in results.get(s, {}).get("geometry", [])}
        left = tally.left.get(s, {})
        for d in (d for d in delivered if d.site == s):
            c, e = d.case, d.case.expect
            what = f"site {s} {c.describe()} [{printable_name(c.name)}]"
            stored = storable_name(c.name)
            acq = by_sha.get(d.sha256) if d.sha256 is not None and c.name != "zz-hardlink.fits" else None
            rej = None
            for r in rej_by_sha.get(d.sha256, []):
                if r["file_name"] == stored:
                    rej = r
                    break
            if acq is not None and acq["file_name"] != stored and rej is not None:
                acq = None  # same bytes accepted under another name (a duplicate of it was refused here)
            family = c.mutation
            if acq is not None:
                v.accepted += 1
                v.verdict_by_family[family]["accepted"] += 1
                file_bands = bands.get(acq["id"], set()) | d.bands
                ok_bands = {b for b in file_bands if measured.get((acq["acq_id"], b)) == "ok"}
                if c.mutation == "control":
                    expected = set(d.bands)
                    problems = []
                    if acq["acq_id"] != c.acq_id or acq["status"] != "archived":
                        problems.append(f"catalogued as {acq['acq_id']!r} status {acq['status']}")
                    archived = site / acq["archive_path"]
                    if not archived.is_file() or _sha(archived.read_bytes()) != d.sha256:
                        problems.append(f"archive file {acq['archive_path']} missing or with other bytes")
                    if c.kind == "GEOM":
                        if acq["id"] not in geoms:
                            problems.append("no GEOM header row")
                        if acq["acq_id"] not in geometry:
                            problems.append("no geometry result")
                    else:
                        if bands.get(acq["id"], set()) != expected:
                            problems.append(f"band rows {sorted(bands.get(acq['id'], set()))} != {sorted(expected)}")
                        if ok_bands != expected:
                            verdicts = {b: measured.get((acq["acq_id"], b)) for b in sorted(expected)}
                            problems.append(f"band verdicts {verdicts}")
                    if problems:
                        v.innocents_affected.append(f"{what}: {'; '.join(problems)}")
                    continue
                if e.verdict == "refuse":
                    v.wrong_acceptances.append(f"{what}: must be refused {list(e.reasons)}, accepted as "
                                               f"{acq['acq_id']!r}")
                elif e.acq_id is not None and acq["acq_id"] != e.acq_id:
                    v.wrong_acceptances.append(f"{what}: accepted as {acq['acq_id']!r} instead of {e.acq_id!r}")
                elif ok_bands & set(e.bands):
                    v.wrong_acceptances.append(f"{what}: band(s) {sorted(ok_bands & set(e.bands))} measured ok")
                if acq["acq_type"] != "GEOM" and not any((acq["acq_id"], b) in measured for b in file_bands):
                    v.accepted_without_band_verdicts.append(what)
                continue
            if rej is None and d.sha256 is None:
                rej = next((r for r in rej_by_sha.get(None, []) if r["file_name"] == stored), None)
            if rej is not None:
                reason = rej["reason"]
                v.refused[reason] += 1
                v.verdict_by_family[family][f"refused:{reason}"] += 1
                if c.mutation == "control":
                    v.innocents_affected.append(f"{what}: refused as {reason}")
                elif e.verdict == "accept":
                    v.unexpected_refusals.append(f"{what}: must be accepted, refused as {reason}")
                elif e.reasons and reason not in e.reasons:
                    v.other_reason.append(f"{what}: refused as {reason}, expected one of {list(e.reasons)}")
                continue
            if printable_name(stored) in left or printable_name(c.name) in left:
                v.left_with_reason += 1
                v.verdict_by_family[family]["left with a reason"] += 1
                if c.mutation == "control":
                    v.innocents_affected.append(f"{what}: left in the inbox")
                continue
            v.verdict_by_family[family]["unaccounted"] += 1
            (v.innocents_affected if c.mutation == "control" else v.unaccounted).append(f"{what}: no verdict")
    return v


_CONVENTION = re.compile(r"^\.|\.(part|tmp|done)$")


def _inbox_left(sites: list[Path], tally: Tally) -> tuple[list[str], Counter[str]]:
    """Entries still in the inboxes: (without a reason, counts by why they may stay)."""
    without: list[str] = []
    why: Counter[str] = Counter()
    for s, site in enumerate(sites):
        inbox = site / "inbox"
        left = tally.left.get(s, {})
        for raw in os.listdir(os.fsencode(inbox)):
            name = os.fsdecode(raw)
            path = os.path.join(os.fsencode(inbox), raw)
            if _CONVENTION.search(name):
                why["hidden, partial or marker (never a candidate)"] += 1
            elif os.path.isdir(path) and not os.path.islink(path) and not name.lower().endswith((".fits", ".fits.gz")):
                why["plain sub-directory (never a candidate)"] += 1
            elif printable_name(name) in left:
                why["reported by the ingest as left with a reason"] += 1
            else:
                without.append(f"site {s}: {printable_name(name)}")
    return without, why


def run_benchmark(args: argparse.Namespace) -> dict[str, Any]:
    root = Path(args.workdir or tempfile.mkdtemp(prefix="bench_fuzz_"))
    t0 = time.perf_counter()
    bases = write_bases(root / "bases", simulated=not args.synthetic)
    outside = root / "outside"
    outside.mkdir(parents=True, exist_ok=True)
    (outside / "valid.fits").write_bytes(bases["STAR"])
    tally = Tally()
    sites = [root / f"site{i}" for i in range(args.sites)]
    for i, site in enumerate(sites):
        _run(site, i, tally, "init")
    delivered: list[Delivered] = []
    mutations: Counter[str] = Counter()
    controls = 0
    for b, start in enumerate(range(0, args.cases, args.batch)):
        s = b % len(sites)
        inbox = sites[s] / "inbox"
        batch: list[Case] = [make_case(bases, i, args.seed) for i in range(start, min(args.cases, start + args.batch))]
        for k in range(args.controls):
            kind = ("STAR", "MOON", "GEOM")[k % 3]
            batch.insert((k + 1) * len(batch) // (args.controls + 1), control_case(bases, kind, controls))
            controls += 1
        for c in batch:
            delivered.append(_write(inbox, c, s))
            mutations[c.mutation] += 1
        if b < len(sites):
            entries = _deliver_entries(inbox, s, outside, next(c for c in batch if c.mutation == "control"), bases)
            delivered += entries
            mutations["inbox-entry"] += len(entries)
        if b == 0 and not args.no_legal_max:
            for kind, make in (("STAR", legal_max_star), ("MOON", legal_max_moon)):
                acq_id = f"LEGAL-MAX-{kind}"
                c = Case(-200000, kind, "legal-max", f"{kind} file at the largest legal size",
                         f"legal-max-{kind}.fits.gz", make(bases[kind], acq_id), acq_id,
                         Expect("accept", acq_id=acq_id))
                delivered.append(_write(inbox, c, s))
                mutations["legal-max"] += 1
        _run(sites[s], s, tally, "ingest")
    results: dict[int, dict[str, Any]] = {}
    for s, site in enumerate(sites):
        _run(site, s, tally, "ingest")  # a final sweep: what is left now is reported with a reason
        _run(site, s, tally, "process")
        code, stdout, _ = _run(site, s, tally, "results", "--format", "json")
        try:
            results[s] = json.loads(stdout)
        except json.JSONDecodeError:
            results[s] = {}
        if not args.no_report:
            _run(site, s, tally, "report", "--period", PERIOD)
    v = _judge(sites, delivered, results, tally)
    left_without, left_why = _inbox_left(sites, tally)
    slots = {kind: {k for _, k in key_slots(bases[kind])} for kind in bases}
    hit: dict[str, set[str]] = defaultdict(set)
    for d in delivered:
        m = re.match(r"HDU \d+ (\S+)", d.case.detail)
        if d.case.mutation.startswith("key-") and m:
            hit[d.case.kind].add(m.group(1))
    coverage = {kind: f"{len(hit[kind] & slots[kind])} of {len(slots[kind])}" for kind in bases}
    not_hit = {kind: sorted(slots[kind] - hit[kind]) for kind in bases if slots[kind] - hit[kind]}
    mutants = sum(n for m, n in mutations.items() if m not in ("control", "inbox-entry", "legal-max"))
    doc = {
        "benchmark": "fuzz", "seed": args.seed, "sites": len(sites), "batch_files": args.batch,
        "mutants": mutants, "inbox_entries": mutations["inbox-entry"], "legal_max_files": mutations["legal-max"],
        "controls": controls, "cases_by_family": dict(sorted(mutations.items())),
        "header_keys_mutated_per_base": coverage, "header_keys_not_mutated": not_hit,
        "accepted": v.accepted, "refused_by_reason": dict(sorted(v.refused.items())),
        "left_in_inbox_with_a_reason": v.left_with_reason,
        "wrong_acceptances": len(v.wrong_acceptances),
        "innocents_affected": len(v.innocents_affected),
        "inbox_entries_left_without_a_reason": len(left_without),
        "mutants_without_a_verdict": len(v.unaccounted),
        "commands_run": tally.commands,
        "commands_with_traceback": sum(1 for o in tally.offending if o["traceback"]),
        "commands_nonzero_exit": sum(1 for o in tally.offending if o["exit_code"] != 0),
        "max_rss_mb": {k: round(x, 1) for k, x in tally.rss_mb.items()},
        "max_rss_within_limit": all(x <= MAX_RSS_MB for x in tally.rss_mb.values()),
        "unexpected_refusals": len(v.unexpected_refusals),
        "refused_with_another_reason": len(v.other_reason),
        "accepted_without_band_verdicts": len(v.accepted_without_band_verdicts),
        "inbox_entries_left_by_convention": dict(left_why),
        "verdicts_by_family": {k: dict(sorted(c.items())) for k, c in sorted(v.verdict_by_family.items())},
        "details": {
            "wrong_acceptances": v.wrong_acceptances[:40], "innocents_affected": v.innocents_affected[:40],
            "inbox_entries_left_without_a_reason": left_without[:40], "mutants_without_a_verdict": v.unaccounted[:40],
            "unexpected_refusals": v.unexpected_refusals[:40], "refused_with_another_reason": v.other_reason[:40],
            "accepted_without_band_verdicts": v.accepted_without_band_verdicts[:20],
            "offending_commands": tally.offending[:12],
        },
        "seconds": {k: round(x, 1) for k, x in tally.seconds.items()},
        "total_s": round(time.perf_counter() - t0, 1),
    }
    if args.workdir is None:
        for site in sites:  # mode 000 files and sockets: rmtree copes, as root
            shutil.rmtree(site, ignore_errors=True)
        shutil.rmtree(root, ignore_errors=True)
    return doc


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=1500, help="mutants (inbox entries and controls come on top)")
    ap.add_argument("--batch", type=int, default=100, help="mutants delivered before each ingest")
    ap.add_argument("--sites", type=int, default=4)
    ap.add_argument("--controls", type=int, default=3, help="innocent controls per batch")
    ap.add_argument("--seed", type=int, default=2025)
    ap.add_argument("--workdir", type=Path, default=None, help="keep everything here (default: temporary)")
    ap.add_argument("--no-report", action="store_true", help="skip monitor report (faster)")
    ap.add_argument("--no-legal-max", action="store_true", help="skip the two files at the largest legal size")
    ap.add_argument("--synthetic", action="store_true", help="small synthetic bases instead of the simulator's")
    return ap.parse_args(argv)


def main() -> None:
    print(json.dumps(run_benchmark(parse_args()), indent=2))


if __name__ == "__main__":
    main()
