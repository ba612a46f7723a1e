"""Scale-out throughput on PostgreSQL: 1 worker vs 2 workers vs Dask local:2, and the cost of a
claimed unit. Prints one JSON document.

A site is built once: ``--files`` simulated STAR files of PHR1A ingested into a new PostgreSQL
database, then cloned to ``--n`` acquisitions (same archived pixels, own ACQ_ID), dated
``--step-hours`` apart in the site's campaign periods (``--period``, default the site default
``[star] campaign_period = "month"``, and 25 acquisitions a month, the simulator's monthly
campaign: 2,000 acquisitions are 80 monthly starpools of 25, each with its PSF fit, as a site's
reprocessing of six years). The layout used before (``--period 1d --step-hours 6``: 500 one-day
starpools of 4, no PSF fit) made the starpool units many and tiny, each reading a history of
hundreds of earlier starpools, which a site never has.
Each scenario runs on its own copy of that database (``CREATE DATABASE ... TEMPLATE``) and reports
its wall time and its CPU accounting (the machine may be shared: compare CPU, not only wall): CPU
of the processes it started (children's rusage), of the database's backends (/proc, sampled), the
wait events of the active backends (``Lock:*``: a worker waiting on another's row lock), each
worker's time running units per kind, idle (polling) and CPU, and that every unit was done once:

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

Usage: OMP_NUM_THREADS=1 python benchmarks/scale.py [--n 2000] [--files 24] [--period month] [--step-hours 29.2]
           [--pg postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
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


PERIOD = "month"  # [star] campaign_period of the benchmark's site (--period)


def _env(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    env.update(MONITOR_DATABASE_URL=url, MONITOR_STAR_CAMPAIGN_PERIOD=PERIOD, MONITOR_LOG_LEVEL="WARNING",
               OMP_NUM_THREADS="1", MONITOR_COMPUTE_POLL_SECONDS="0.2")
    return env


_TICK_S = 1.0 / os.sysconf("SC_CLK_TCK")


def _proc_cpu_s(pid: int) -> float | None:
    """CPU time (user + system, s) of a process of this host from /proc, None if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) * _TICK_S  # utime, stime (fields 14, 15 of stat)


class _PgSampler:
    """Samples the backends of one database every ``period_s`` (its own connection, to the admin
    database): their CPU time from /proc (the server is on this host; the last sample of a backend
    that exits is kept, so up to ``period_s`` of its CPU is missed) and what the active ones wait
    for (``pg_stat_activity.wait_event_type:wait_event``; ``Lock:*`` are row/transaction locks)."""

    def __init__(self, admin: sa.Engine, database: str, period_s: float = 0.1) -> None:
        import threading

        self.admin, self.database, self.period_s = admin, database, period_s
        self.cpu: dict[int, float] = {}  # pid: the last CPU s seen (all since its fork: the database is new)
        self.waits: dict[str, int] = {}  # samples of active backends, by wait event ("running": none)
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> _PgSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        q = sa.text("SELECT pid, state, wait_event_type, wait_event FROM pg_stat_activity WHERE datname = :db")
        with self.admin.connect() as c:
            while not self._stop.is_set():
                for pid, state, wtype, wevent in c.execute(q, {"db": self.database}).all():
                    cpu = _proc_cpu_s(pid)
                    if cpu is not None:
                        self.cpu[pid] = cpu
                    if state == "active":
                        key = f"{wtype}:{wevent}" if wtype else "running"
                        self.waits[key] = self.waits.get(key, 0) + 1
                self.samples += 1
                self._stop.wait(self.period_s)

    def report(self) -> dict[str, Any]:
        """Backends' CPU s (the sampler misses up to one period of each), and the number of samples
        in which an active backend waited on each event."""
        cpu = sum(self.cpu.values())
        return {"backends": len(self.cpu), "cpu_s": round(cpu, 2), "samples": self.samples,
                "active_backend_samples": dict(sorted(self.waits.items(), key=lambda kv: -kv[1]))}


def _children_cpu_s() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


_TIMING = re.compile(r"([\d.]+) s \(([\d.]+) s running units: (.*); ([\d.]+) s idle; CPU ([\d.]+) s\)")


def _worker_timing(line: str) -> dict[str, Any] | None:
    """The timing of a ``monitor worker`` summary line (elapsed, running units per kind, idle, CPU)."""
    m = _TIMING.search(line)
    if m is None:
        return None
    kinds = {k: float(v) for k, v in re.findall(r"(\w+) ([\d.]+) s", m.group(3))}
    return {"elapsed_s": float(m.group(1)), "running_units_s": float(m.group(2)), "by_kind_s": kinds,
            "idle_s": float(m.group(4)), "cpu_s": float(m.group(5))}


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


def _done_once(url: str, n: int) -> str:
    """"" when every unit is done, each of the ``n`` acquisitions x 5 bands measured once and no
    starpool computed twice (result version 1 only); else what is wrong."""
    engine = make_engine(url)
    try:
        with engine.connect() as c:
            states = dict(c.execute(sa.text("SELECT state, count(*) FROM work_unit GROUP BY state")).all())
            rows, distinct = c.execute(sa.text(
                "SELECT count(*), count(DISTINCT (acquisition_id, band)) FROM star_photometry")).one()
            version = c.execute(sa.text("SELECT max(version) FROM starpool_result")).scalar_one()
    finally:
        engine.dispose()
    if set(states) != {"done"} or rows != distinct or version != 1 or distinct != n * 5:
        return f"units {states}, photometry rows {rows} ({distinct} distinct), starpool version {version}"
    return ""


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
        problem = _done_once(_db_url(pg, db), n)
        if problem:
            bad.append(f"trial {k}: {problem}")
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
    ap.add_argument("--period", default="month", help="[star] campaign_period (a site's: month)")
    ap.add_argument("--step-hours", type=float, default=24 * 365.25 / 12 / 25,
                    help="hours between acquisitions (default: 25 a month, the simulator's monthly campaign)")
    args = ap.parse_args()
    global PERIOD
    PERIOD = args.period
    tag = uuid.uuid4().hex[:8]
    template = f"monitor_scale_{tag}"
    admin = _admin(args.pg)
    created = [template]
    out: dict[str, Any] = {"n_acquisitions": args.n, "campaign_period": args.period, "step_hours": args.step_hours,
                           "cpus": os.cpu_count(), "load_avg_at_start": os.getloadavg()}
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
            replicate_acquisitions(settings, args.n, T0, timedelta(hours=args.step_hours))
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
                load0, cpu0 = os.getloadavg()[0], _children_cpu_s()
                with _PgSampler(admin, db) as pg:
                    elapsed, lines = _run(commands[name], settings.site, env)
                clients_cpu = _children_cpu_s() - cpu0
                pg_report = pg.report()
                total_cpu = clients_cpu + pg_report["cpu_s"]
                out[name] = {"wall_s": round(elapsed, 2), "acquisitions_per_s": round(args.n / elapsed, 1),
                             # CPU accounting: the processes started (workers, or monitor process and
                             # its Dask workers: children's rusage) and the database's backends
                             "clients_cpu_s": round(clients_cpu, 2), "postgres": pg_report,
                             "total_cpu_s": round(total_cpu, 2),
                             "cpu_ms_per_acquisition": round(total_cpu / args.n * 1e3, 1),
                             "cores_used": round(total_cpu / elapsed, 2), "load_avg_1min_at_start": load0,
                             "workers": [_worker_timing(x) for x in lines], "summary": lines,
                             "done_once": _done_once(_db_url(args.pg, db), args.n) or "yes"}
                print(f"{name}: {elapsed:.1f} s wall, {clients_cpu:.1f} s clients CPU + {pg_report['cpu_s']:.1f} s "
                      f"postgres CPU", file=sys.stderr)
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
