"""End-to-end fuzz: mutated acquisition files through the real command line, on real sites.

Makes ``--cases`` mutated files (``tests/ingest/fuzzing.py``, the generator of the fuzz test) from
valid STAR, MOON and GEOM files of the simulator, delivers them in batches of ``--batch`` files to
``--sites`` sites (plus, once per site, entries that are not files: a FIFO, a directory, symbolic
links), and runs ``monitor init``, ``ingest`` after every batch, then ``process``, ``results
--format json`` and ``report --period 2025-03`` as subprocesses (``MONITOR_INGEST_SETTLE_SECONDS=0``).

Counts: cases tried, refused at ingest by reason, accepted, per-band verdicts of the processing,
and commands that exited non-zero or printed a traceback, with the first offending cases (the
case indices are recovered from the ``-F<index>`` suffix of the ACQ_IDs and from the file names).

Usage: OMP_NUM_THREADS=1 .venv/bin/python benchmarks/fuzz.py [--cases 1000] [--batch 125] [--sites 4]
       [--seed 2025] [--workdir DIR]
Prints one JSON document on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from monitor.domain import printable_name  # noqa: E402
from tests.ingest.fuzzing import make_case, write_bases  # noqa: E402

PERIOD = "2025-03"  # every base file is dated March 2025
TRACEBACK = "Traceback (most recent call last)"
COMMAND_TIMEOUT_S = 1800
_CASE_ID = re.compile(r"-F(\d{5})\b")


@dataclass
class CaseInfo:
    index: int
    kind: str
    mutation: str
    detail: str
    name: str
    acq_id: str

    def describe(self) -> str:
        return f"case {self.index} ({self.kind}, {self.mutation}, {printable_name(self.name)}): {self.detail}"


@dataclass
class Tally:
    commands: int = 0
    offending: list[dict[str, Any]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


def _run(site: Path, tally: Tally, *args: str) -> subprocess.CompletedProcess[str]:
    """One ``monitor`` command as a subprocess; a non-zero exit or a traceback is recorded."""
    env = {**os.environ, "MONITOR_INGEST_SETTLE_SECONDS": "0", "OMP_NUM_THREADS": "1"}
    env.pop("MONITOR_DATABASE_URL", None)  # each site has its own SQLite catalogue
    where = [str(site)] if args[0] == "init" else ["--site", str(site)]  # monitor init SITE, monitor X --site SITE
    cmd = [sys.executable, "-m", "monitor.cli", args[0], *where, *args[1:]]
    t = time.perf_counter()
    try:
        proc = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, errors="replace",
                              timeout=COMMAND_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        proc = subprocess.CompletedProcess(cmd, -9, str(exc.stdout or ""), f"timeout after {COMMAND_TIMEOUT_S} s")
    tally.seconds[args[0]] = tally.seconds.get(args[0], 0.0) + time.perf_counter() - t
    tally.commands += 1
    if proc.returncode != 0 or TRACEBACK in proc.stderr:
        tally.offending.append({"site": site.name, "command": " ".join(args), "exit_code": proc.returncode,
                                "traceback": TRACEBACK in proc.stderr, "stderr": proc.stderr})
    return proc


def _deliver_specials(inbox: Path, valid: Path) -> list[str]:
    """Entries that are not regular files, named like acquisitions."""
    os.mkfifo(inbox / "fifo.fits")
    (inbox / "dir.fits").mkdir()
    os.symlink("/dev/zero", inbox / "zero.fits")
    os.symlink(valid, inbox / "link.fits")
    return ["fifo.fits", "dir.fits", "zero.fits", "link.fits"]


def _cases_of(text: str, cases: dict[int, CaseInfo]) -> list[int]:
    return sorted({int(m) for m in _CASE_ID.findall(text) if int(m) in cases})


_LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ [A-Z]+ ")


def _errors(stderr: str, cases: dict[int, CaseInfo]) -> list[dict[str, Any]]:
    """Each ERROR log line of a stderr, with the case its ACQ_ID names and the end of the traceback
    that follows it (the exception and its innermost frames)."""
    lines = stderr.splitlines()
    out = []
    for i, line in enumerate(lines):
        if " ERROR " not in line or not _LOG_LINE.match(line):
            continue
        j = i + 1
        while j < len(lines) and not _LOG_LINE.match(lines[j]):
            j += 1
        ids = _cases_of(line, cases)
        out.append({"case": cases[ids[0]].describe() if ids else None, "log": line,
                    "traceback_tail": lines[i + 1 : j][-7:]})
    return out


def _excerpt(stderr: str) -> list[str]:
    """The end of a stderr without ERROR log lines (a crash of the command itself)."""
    return stderr.splitlines()[-12:]


def _tally_results(doc: dict[str, Any], by_file: dict[str, CaseInfo], cases: dict[int, CaseInfo],
                   refused: Counter[str], accepted: set[int], band_verdicts: Counter[str],
                   special: Counter[str]) -> None:
    for m in doc.get("measurements", []):
        info = by_file.get(m["file"])
        if info is None and m.get("acq_id"):
            ids = _cases_of(m["acq_id"], cases)
            info = cases[ids[0]] if ids else None
        if m["band"] is None and m["status"] != "ok":
            if info is None:
                special[f"{m['file']}: {m['reason']}"] += 1
            else:
                refused[m["reason"]] += 1
            continue
        if info is not None:
            accepted.add(info.index)
        if m["band"] is not None:
            band_verdicts[m["status"] if m["status"] == "ok" else f"{m['status']}:{m['reason']}"] += 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cases", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=125, help="files delivered before each ingest")
    ap.add_argument("--sites", type=int, default=4)
    ap.add_argument("--seed", type=int, default=2025)
    ap.add_argument("--workdir", type=Path, default=None, help="keep everything here (default: temporary)")
    args = ap.parse_args()
    root = Path(args.workdir or tempfile.mkdtemp(prefix="bench_fuzz_"))
    t0 = time.perf_counter()
    bases = write_bases(root / "bases", simulated=True)
    valid = root / "bases" / "valid-outside.fits"
    valid.write_bytes(bases["STAR"])
    tally = Tally()
    sites = [root / f"site{i}" for i in range(args.sites)]
    for site in sites:
        _run(site, tally, "init")
    cases: dict[int, CaseInfo] = {}
    by_file: dict[str, CaseInfo] = {}
    mutations: Counter[str] = Counter()
    for b, start in enumerate(range(0, args.cases, args.batch)):
        site = sites[b % len(sites)]
        inbox = site / "inbox"
        if b < len(sites):
            _deliver_specials(inbox, valid)
        for index in range(start, min(args.cases, start + args.batch)):
            case = make_case(bases, index, args.seed)
            (inbox / case.name).write_bytes(case.data)
            info = CaseInfo(index, case.kind, case.mutation, case.detail, case.name, case.acq_id)
            cases[index] = info
            by_file[printable_name(case.name)] = info
            mutations[case.mutation] += 1
        _run(site, tally, "ingest")
    refused: Counter[str] = Counter()
    accepted: set[int] = set()
    band_verdicts: Counter[str] = Counter()
    special: Counter[str] = Counter()
    for site in sites:
        _run(site, tally, "process")
        res = _run(site, tally, "results", "--format", "json")
        try:
            doc = json.loads(res.stdout)
        except json.JSONDecodeError:
            doc = {}
        _tally_results(doc, by_file, cases, refused, accepted, band_verdicts, special)
        _run(site, tally, "report", "--period", PERIOD)
    offending = []
    for o in tally.offending:
        errors = _errors(o["stderr"], cases)
        entry = {k: v for k, v in o.items() if k != "stderr"}
        offending.append({**entry, "errors": errors[:5]} if errors else {**entry, "stderr_tail": _excerpt(o["stderr"])})
    n_refused = sum(refused.values())
    print(json.dumps({
        "benchmark": "fuzz", "seed": args.seed, "sites": len(sites), "batch_files": args.batch,
        "cases_tried": len(cases), "mutations": dict(sorted(mutations.items())),
        "refused_at_ingest": n_refused, "refused_by_reason": dict(sorted(refused.items())),
        "accepted": len(accepted), "unaccounted": len(cases) - n_refused - len(accepted),
        "processing_band_verdicts": dict(sorted(band_verdicts.items())),
        "not_a_file_entries": dict(sorted(special.items())),
        "commands_run": tally.commands, "commands_failed": len(offending),
        "commands_with_traceback": sum(1 for o in offending if o["traceback"]),
        "commands_nonzero_exit": sum(1 for o in offending if o["exit_code"] != 0),
        "offending": offending[:8],
        "failing_cases": sorted({e["case"] for o in offending for e in o.get("errors", []) if e["case"]}),
        "seconds": {k: round(v, 1) for k, v in tally.seconds.items()},
        "total_s": round(time.perf_counter() - t0, 1),
    }, indent=2))
    if args.workdir is None:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
