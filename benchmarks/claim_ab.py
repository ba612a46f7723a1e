"""Claim + finish cost per unit on PostgreSQL: this tree's protocol vs the one of an older commit,
interleaved in one process (blocks of ``--block`` units, alternately old and new, ``--rounds``
times) so that both see the same load of a shared machine. Prints one JSON document.

- ``old``: ``monitor/catalogue/work_units.py`` of ``--old-ref`` (read with ``git show``), used as
  the worker of that commit did: a session on the engine (a pooled connection checked out, with
  its ``pool_pre_ping`` round trip, at each transaction);
- ``new``: this tree's protocol on a worker's sessions (:class:`monitor.calibration.work.WorkerSessions`).

Each unit is a member of one parent (as a photometry unit of its starpool), so each finish also
decrements the parent. Per unit: ``claim`` (statement(s) and commit), ``finish`` (the fenced
statement(s) of the results' transaction) and ``commit`` (that transaction's commit, with its WAL
flush: ``synchronous_commit`` is left as the server has it); medians over the blocks, ms.

Usage: python benchmarks/claim_ab.py [--old-ref a255f07] [--block 100] [--rounds 8]
       [--pg postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlmodel import Session

from monitor.calibration.work import WorkerSessions
from monitor.catalogue import migrate
from monitor.catalogue import operations as ops
from monitor.catalogue import work_units as wu
from monitor.catalogue.engine import make_engine

ROOT = Path(__file__).resolve().parents[1]


def _old_module(ref: str, tmp: Path) -> ModuleType:
    source = subprocess.run(["git", "show", f"{ref}:monitor/catalogue/work_units.py"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout
    path = tmp / "old_work_units.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("old_work_units", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _block(mod: ModuleType, claim_session: Session, session: Session, n: int) -> tuple[float, float, float]:
    claim_s = finish_s = commit_s = 0.0
    for _ in range(n):
        t0 = time.perf_counter()
        (unit,) = mod.claim(claim_session, "bench", datetime.now(UTC), 60.0, kinds={"bench"})
        claim_session.commit()
        t1 = time.perf_counter()
        assert mod.finish(session, unit, "bench", datetime.now(UTC))
        t2 = time.perf_counter()
        session.commit()
        claim_s += t1 - t0
        finish_s += t2 - t1
        commit_s += time.perf_counter() - t2
    return claim_s / n * 1e3, finish_s / n * 1e3, commit_s / n * 1e3


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--old-ref", default="a255f07")
    ap.add_argument("--block", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    args = ap.parse_args()
    name = f"monitor_claim_ab_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(make_url(args.pg), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql(f'CREATE DATABASE "{name}"')
    out: dict[str, Any] = {"old_ref": args.old_ref, "block": args.block, "rounds": args.rounds,
                           "load_avg_at_start": os.getloadavg()}
    engine = make_engine(make_url(args.pg).set(database=name))
    try:
        with tempfile.TemporaryDirectory() as tmp:
            old = _old_module(args.old_ref, Path(tmp))
            migrate.upgrade(engine)
            with engine.connect() as c:
                out["synchronous_commit"] = c.exec_driver_sql("SHOW synchronous_commit").scalar_one()
            n = 2 * args.block * args.rounds
            with Session(engine) as s:
                run = ops.start_run(s, "bench", datetime.now(UTC))
                s.commit()
                assert run.id is not None
                parent = wu.add_unit(s, run.id, "bench_parent", "p", datetime.now(UTC), waiting=n)
                wu.add_units(s, run.id, "bench", [str(i) for i in range(n)], datetime.now(UTC),
                             parent_ids=[parent] * n)
                s.commit()
            blocks: dict[str, list[tuple[float, float, float]]] = {"old": [], "new": []}
            for _ in range(args.rounds):
                with Session(engine) as s:
                    blocks["old"].append(_block(old, s, s, args.block))
                with WorkerSessions(engine) as conns:
                    blocks["new"].append(_block(wu, conns.claims, conns.session, args.block))
    finally:
        engine.dispose()
        with admin.connect() as c:
            c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
    for key, rows in blocks.items():
        out[key] = {
            "claim_ms_per_unit": round(statistics.median(r[0] for r in rows), 3),
            "finish_ms_per_unit": round(statistics.median(r[1] for r in rows), 3),
            "results_commit_ms_per_unit": round(statistics.median(r[2] for r in rows), 3),
            "claim_and_finish_with_commit_ms_per_unit": round(statistics.median(sum(r) for r in rows), 3),
            "claim_and_finish_without_commit_ms_per_unit": round(statistics.median(r[0] + r[1] for r in rows), 3),
            "blocks_total_ms": [round(sum(r), 2) for r in rows],
        }
    out["load_avg_at_end"] = os.getloadavg()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    sys.exit(main())
