"""Cost of running every job in its own child process, and how fast a hung job is stopped.

Prints one JSON object:

- ``child_overhead_s``: wall time of one job run that has nothing to do (the real e-mail job on an
  empty outbox): start of a fresh interpreter, imports, catalogue open with the schema check, the
  use-case, the result pipe and the ``job_run`` bookkeeping. This is the fixed price per run of
  job isolation (median, p90 and max over ``--runs`` runs);
- ``timeout_overshoot_s``: how long after its time limit a hung job is recorded ``timeout``
  (SIGTERM to its process group, then SIGKILL after ``KILL_GRACE_S`` if needed);
- ``kill_latency_sigkill_s``: the same for a job that ignores SIGTERM.

Usage: ``.venv/bin/python benchmarks/daemon.py [--runs 10]`` (SQLite catalogue in a temporary site).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

TARGETS = '''
import signal, time

def hang(session, settings, now):
    while True:
        time.sleep(1.0)

def stubborn(session, settings, now):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    hang(session, settings, now)
'''


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()

    from monitor.daemon.jobs import JOB_TARGETS, JobTarget
    from monitor.daemon.runner import KILL_GRACE_S, JobRunner
    from monitor.logconfig import configure_logging
    from monitor.settings import load_settings
    from monitor.site import init_site, open_engine

    configure_logging("ERROR", rich_console=False)
    with tempfile.TemporaryDirectory(prefix="monitor-bench-daemon-") as tmp:
        root = Path(tmp)
        (root / "bench_targets.py").write_text(TARGETS)
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH", "")]))
        timeout_min = 0.05  # 3 s
        settings = load_settings(root / "site", env={"MONITOR_SCHEDULER_TIMEOUT_MINUTES_PROCESS": str(timeout_min)})
        init_site(settings)
        engine = open_engine(settings)
        runner = JobRunner(settings, engine, lambda: True)
        overhead = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            assert runner.run("email_retry") == "ok"
            overhead.append(time.perf_counter() - t0)
        limit_s = timeout_min * 60.0
        JOB_TARGETS["process"] = JobTarget("bench_targets:hang")
        t0 = time.perf_counter()
        assert runner.run("process") == "timeout"
        term = time.perf_counter() - t0 - limit_s
        JOB_TARGETS["process"] = JobTarget("bench_targets:stubborn")
        t0 = time.perf_counter()
        assert runner.run("process") == "timeout"
        kill = time.perf_counter() - t0 - limit_s
        engine.dispose()
    overhead.sort()
    print(json.dumps({
        "python": sys.version.split()[0],
        "runs": args.runs,
        "child_overhead_s": {"median": round(statistics.median(overhead), 3),
                             "p90": round(overhead[int(0.9 * (len(overhead) - 1))], 3),
                             "max": round(overhead[-1], 3)},
        "time_limit_s": limit_s,
        "timeout_overshoot_s": round(term, 3),
        "kill_grace_s": KILL_GRACE_S,
        "kill_latency_sigkill_s": round(kill, 3),
    }, indent=1))


if __name__ == "__main__":
    main()
