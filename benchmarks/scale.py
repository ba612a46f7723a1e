"""Scale-out throughput on PostgreSQL: 1 worker vs 2 workers vs Dask local:2, and the cost of a
claimed unit. Prints one JSON document.

A site is built once: ``--files`` simulated STAR files of PHR1A ingested into a new PostgreSQL
database, then cloned to ``--n`` acquisitions (same archived pixels, own ACQ_ID, dated 6 h apart;
one-day campaign periods: starpools of 4, no PSF fit, so the time is the per-acquisition cost).
Each scenario runs on its own copy of that database (``CREATE DATABASE ... TEMPLATE``):

- ``workers_1`` / ``workers_2``: the star processing enqueued, then 1 or 2 ``monitor worker
  --until-idle`` processes started together; wall time from their start to the last exit
  (process start-up and the aggregation units included);
- ``dask_local_2``: ``monitor process --dask local:2`` (enqueue, LocalCluster start-up, photometry
  on the cluster, aggregation);
- ``claim_overhead``: claim (one autocommit statement, committed asynchronously) and fenced finish
  (a statement of the results' transaction, timed with that commit, which a unit pays anyway) of
  ``--claims`` units that do nothing, on a worker's sessions (``WorkerSessions``: connections held
  across transactions, no pre-ping per transaction): what the protocol costs per unit, ms; with the
  statements and connection check-outs per unit.

- ``kills`` (``--kills K``): K trials of two workers on a fresh copy, one killed with SIGKILL at a
  random moment: every unit must end done once (no lost, no duplicated unit).

Usage: OMP_NUM_THREADS=1 python benchmarks/scale.py [--n 2000] [--files 24] [--pg postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
       OMP_NUM_THREADS=1 python benchmarks/scale.py --n 200 --scenarios "" --kills 20 --claims 200
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlmodel import Session

from monitor.calibration.work import WorkerSessions
from monitor.catalogue import operations as ops
from monitor.catalogue import work_units as wu
from monitor.catalogue.engine import make_engine
from monitor.simulate.campaign import simulate_campaigns

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.calibration.work_site import make_site, replicate_acquisitions  # noqa: E402

MONITOR = str(Path(sys.executable).parent / "monitor")
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def _admin(pg: str) -> sa.Engine:
    return sa.create_engine(make_url(pg), isolation_level="AUTOCOMMIT")


def _db_url(pg: str, name: str) -> str:
    return make_url(pg).set(database=name).render_as_string(hide_password=False)


def _env(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    env.update(MONITOR_DATABASE_URL=url, MONITOR_STAR_CAMPAIGN_PERIOD="1d", MONITOR_LOG_LEVEL="WARNING",
               OMP_NUM_THREADS="1", MONITOR_COMPUTE_POLL_SECONDS="0.2")
    return env


def _run(cmds: list[list[str]], site: Path, env: dict[str, str]) -> tuple[float, list[str]]:
    t = time.perf_counter()
    procs = [subprocess.Popen([*c, "--site", str(site)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for c in cmds]
    outs = [p.communicate() for p in procs]
    elapsed = time.perf_counter() - t
    for p, (_, err) in zip(procs, outs, strict=True):
        if p.returncode != 0:
            raise RuntimeError(f"{p.args} exit {p.returncode}: {err[-2000:]}")
    return elapsed, [o.strip() for o, _ in outs]


def _claim_overhead(url: str, n: int) -> dict[str, float]:
    """Claim and fenced finish of ``n`` units that do nothing, on the sessions of a worker
    (:class:`monitor.calibration.work.WorkerSessions`): the claim (one autocommit statement,
    committed asynchronously) and the finish (a statement of the results' transaction, timed here
    with that transaction's commit, which a unit pays anyway). Also counts the statements and the
    connection check-outs (each a ``pool_pre_ping`` round trip) per unit."""
    engine = make_engine(url)
    counts = {"statements": 0, "checkouts": 0}

    def on_execute(*_: Any) -> None:
        counts["statements"] += 1

    def on_checkout(*_: Any) -> None:
        counts["checkouts"] += 1

    try:
        with Session(engine) as s:
            run = ops.start_run(s, "bench", datetime.now(UTC))
            s.commit()
            assert run.id is not None
            parent = wu.add_unit(s, run.id, "bench_parent", "p", datetime.now(UTC), waiting=n)
            wu.add_units(s, run.id, "bench", [str(i) for i in range(n)], datetime.now(UTC), parent_ids=[parent] * n)
            s.commit()  # members of one parent, as photometry units of a starpool: finish decrements it
        sa.event.listen(engine, "before_cursor_execute", on_execute)
        sa.event.listen(engine, "checkout", on_checkout)
        claim_s = finish_s = commit_s = 0.0
        with WorkerSessions(engine) as conns:
            for _ in range(n):
                t = time.perf_counter()
                (unit,) = wu.claim(conns.claims, "bench", datetime.now(UTC), 60.0, kinds={"bench"})
                conns.claims.commit()
                t2 = time.perf_counter()
                assert wu.finish(conns.session, unit, "bench", datetime.now(UTC))
                t3 = time.perf_counter()
                conns.session.commit()
                claim_s += t2 - t
                finish_s += t3 - t2
                commit_s += time.perf_counter() - t3
    finally:
        engine.dispose()
    return {"units": n, "claim_ms_per_unit": round(claim_s / n * 1e3, 3),
            "finish_with_commit_ms_per_unit": round((finish_s + commit_s) / n * 1e3, 3),
            "claim_and_finish_ms_per_unit": round((claim_s + finish_s + commit_s) / n * 1e3, 3),
            # the same without the results' commit (its WAL flush is paid by any durable write of a
            # unit's results, with or without the claim protocol): what the protocol itself adds
            "finish_statement_ms_per_unit": round(finish_s / n * 1e3, 3),
            "results_commit_ms_per_unit": round(commit_s / n * 1e3, 3),
            "protocol_ms_per_unit": round((claim_s + finish_s) / n * 1e3, 3),
            "statements_per_unit": round(counts["statements"] / n, 2),
            "connection_checkouts_per_unit": round(counts["checkouts"] / n, 3)}


def _kill_trials(pg: str, template: str, site: Path, n: int, trials: int, seed: int, admin: sa.Engine,
                 created: list[str]) -> dict[str, Any]:
    """``trials`` times: two workers on a fresh copy of the catalogue, one of them (at random) killed
    with SIGKILL at a random moment; the other must end with every unit done once."""
    rng = random.Random(seed)
    bad: list[str] = []
    reaped = 0
    for k in range(trials):
        db = f"{template}_kill{k}"
        with admin.connect() as c:
            c.exec_driver_sql(f'CREATE DATABASE "{db}" TEMPLATE "{template}"')
        created.append(db)
        env = {**_env(_db_url(pg, db)), "MONITOR_COMPUTE_LEASE_SECONDS": "2", "MONITOR_COMPUTE_REAP_SECONDS": "0.5"}
        _run([[MONITOR, "process", "--enqueue"]], site, env)
        procs = [subprocess.Popen([MONITOR, "worker", "--until-idle", "--site", str(site)], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
        time.sleep(rng.uniform(2.0, 8.0))  # start-up is ~2 s; the run ~10 s
        victim = rng.randrange(2)
        procs[victim].send_signal(signal.SIGKILL)
        outs = [p.communicate(timeout=600) for p in procs]
        survivor = procs[1 - victim]
        if survivor.returncode != 0:
            bad.append(f"trial {k}: survivor exit {survivor.returncode}: {outs[1 - victim][1][-500:]}")
        reaped += int(m.group(1)) if (m := re.search(r"(\d+) expired lease", outs[1 - victim][0])) else 0
        engine = make_engine(_db_url(pg, db))
        try:
            with engine.connect() as c:
                states = dict(c.execute(sa.text("SELECT state, count(*) FROM work_unit GROUP BY state")).all())
                rows, distinct = c.execute(sa.text(
                    "SELECT count(*), count(DISTINCT (acquisition_id, band)) FROM star_photometry")).one()
                version = c.execute(sa.text("SELECT max(version) FROM starpool_result")).scalar_one()
        finally:
            engine.dispose()
        if set(states) != {"done"} or rows != distinct or version != 1 or distinct != n * 5:
            bad.append(f"trial {k}: units {states}, photometry rows {rows} ({distinct} distinct), "
                       f"starpool version {version}")
        with admin.connect() as c:
            c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        created.remove(db)
    return {"trials": trials, "acquisitions": n, "failed_trials": bad, "leases_reaped": reaped}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--files", type=int, default=24)
    ap.add_argument("--claims", type=int, default=2000)
    ap.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--scenarios", default="workers_1,workers_2,dask_local_2")
    ap.add_argument("--kills", type=int, default=0, help="random SIGKILL trials (two workers, one killed)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    tag = uuid.uuid4().hex[:8]
    template = f"monitor_scale_{tag}"
    admin = _admin(args.pg)
    created = [template]
    out: dict[str, Any] = {"n_acquisitions": args.n, "cpus": os.cpu_count(), "load_avg_at_start": os.getloadavg()}
    with admin.connect() as c:
        c.exec_driver_sql(f'CREATE DATABASE "{template}"')
    try:
        with tempfile.TemporaryDirectory() as tmp:
            files = Path(tmp) / "sim"
            t = time.perf_counter()
            simulate_campaigns(files, start=T0, months=1, seed=1, satellites=["PHR1A"], stars_per_campaign=args.files,
                               moon_per_month=0, geom_per_month=0, bad_files=False, gzip_fraction=0.0,
                               saturated_fraction=0.0)
            env = _env(_db_url(args.pg, template))
            settings = make_site(Path(tmp) / "site", files, env={k: v for k, v in env.items()
                                                                  if k.startswith("MONITOR_")})
            replicate_acquisitions(settings, args.n, T0, timedelta(hours=6))
            out["setup_s"] = round(time.perf_counter() - t, 1)
            commands = {
                "workers_1": [[MONITOR, "worker", "--until-idle"]],
                "workers_2": [[MONITOR, "worker", "--until-idle"]] * 2,
                "dask_local_2": [[MONITOR, "process", "--dask", "local:2"]],
            }
            for name in filter(None, args.scenarios.split(",")):
                db = f"{template}_{name}"
                with admin.connect() as c:
                    c.exec_driver_sql(f'CREATE DATABASE "{db}" TEMPLATE "{template}"')
                created.append(db)
                env = _env(_db_url(args.pg, db))
                if name.startswith("workers"):
                    _run([[MONITOR, "process", "--enqueue"]], settings.site, env)
                elapsed, lines = _run(commands[name], settings.site, env)
                out[name] = {"wall_s": round(elapsed, 2), "acquisitions_per_s": round(args.n / elapsed, 1),
                             "summary": lines}
                print(f"{name}: {elapsed:.1f} s", file=sys.stderr)
            if "workers_1" in out and "workers_2" in out:
                out["speedup_2_workers"] = round(out["workers_1"]["wall_s"] / out["workers_2"]["wall_s"], 2)
            if "workers_1" in out and "dask_local_2" in out:
                out["speedup_dask_local_2"] = round(out["workers_1"]["wall_s"] / out["dask_local_2"]["wall_s"], 2)
            if args.kills:
                out["kills"] = _kill_trials(args.pg, template, settings.site, args.n, args.kills, args.seed, admin,
                                            created)
            db = f"{template}_claims"
            with admin.connect() as c:
                c.exec_driver_sql(f'CREATE DATABASE "{db}" TEMPLATE "{template}"')
            created.append(db)
            out["claim_overhead"] = _claim_overhead(_db_url(args.pg, db), args.claims)
    finally:
        with admin.connect() as c:
            for db in reversed(created):
                c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        admin.dispose()
    out["load_avg_at_end"] = os.getloadavg()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
