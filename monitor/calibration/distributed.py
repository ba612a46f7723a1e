"""Reprocessing fanned out on Dask distributed (``monitor process --reprocess --dask ADDRESS``).

The run is enqueued as units (:func:`monitor.calibration.work_enqueue.enqueue_star_processing`); this
process is then the client and the one claimant: it claims units in batches (every kind of the
processing run, as they become claimable) and submits them to the cluster with a bounded window of
futures in flight (``as_completed``); its heartbeat keeps the leases of the units in flight, and a
Dask worker lost with a task costs only that unit (given back, retried).

- a photometry unit's task is its measurement (:func:`monitor.calibration.star_photometry.measure_file`:
  file path and headers in, rows out; pure I/O and science, no database); the client writes each
  result as it completes through the claim protocol (a fenced commit per unit);
- every other unit (a starpool, a drift refit, the run, a Moon, GEOM or GLOD unit) is claimed by
  the client once its members have ended (the barrier of :mod:`monitor.catalogue.work_units`)
  and its task runs it on the Dask worker (:func:`_run_unit_task`: the worker opens its own
  connection from the site's settings and writes the results fenced under the client's claim).

What is left when the window drains (a unit held by another ``monitor worker``, an expired lease)
is finished here like a ``monitor worker --until-idle`` would.

``address``: ``local:N`` starts a LocalCluster of N single-threaded worker processes on this
machine; ``tcp://host:8786`` (or any scheduler address) uses a running cluster, e.g. one started
by dask-jobqueue's SLURMCluster/PBSCluster (README). The cluster's workers need this package
installed and the site directory (archive) at the same path.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from monitor.calibration.pending import UnitFailure, unit_failure
from monitor.calibration.star_photometry import measure_file
from monitor.calibration.work import Heartbeat, WorkerSummary, work, worker_id
from monitor.calibration.work_enqueue import Enqueued, enqueue_star_run
from monitor.calibration.work_runners import RUNNERS, LostClaim, give_back, photometry_job, run_unit, write_photometry
from monitor.catalogue import work_units as wu
from monitor.catalogue.states import UnitKind
from monitor.settings import Settings

__all__ = ["DaskSummary", "dask_client", "reprocess_on_dask"]

log = logging.getLogger(__name__)


@dataclass
class DaskSummary:
    """What a Dask reprocessing did."""

    address: str
    enqueued: Enqueued
    measured: int = 0  # photometry units written
    given_back: int = 0
    lost: int = 0
    on_dask: dict[str, int] = field(default_factory=dict)  # other units run by Dask tasks, by kind and outcome
    photometry_s: float = 0.0  # s: the cluster's part (photometry and the units run as tasks)
    aggregation: WorkerSummary | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def failed(self) -> int:
        """Units failed for good (after their retries), on Dask or left to the client."""
        on_dask = sum(n for k, n in self.on_dask.items() if k.endswith(" failed"))
        return on_dask + (self.aggregation.failed if self.aggregation is not None else 0)

    def lines(self) -> list[str]:
        rate = self.measured / self.photometry_s if self.photometry_s > 0 else 0.0
        out = [str(self.enqueued),
               f"dask {self.address}: {self.measured} acquisition(s) measured and {sum(self.on_dask.values())} "
               f"other unit(s) run in {self.photometry_s:.1f} s ({rate:.1f} acquisitions/s), "
               f"{self.given_back} given back, {self.lost} lost claim(s)"]
        if self.on_dask:
            out.append("on dask: " + ", ".join(f"{n} {k}" for k, n in sorted(self.on_dask.items())))
        if self.aggregation is not None:
            out.append(f"left to the client: {self.aggregation}")
        return out


@contextmanager
def dask_client(address: str, *, silence_logs: int = logging.WARNING) -> Iterator[Any]:
    """A Dask client: ``local:N`` on a new LocalCluster of N processes (closed afterwards), else
    connected to the scheduler at ``address``."""
    from dask.distributed import Client, LocalCluster

    if address.startswith("local:"):
        n = address.partition(":")[2]
        if not n.isdigit() or int(n) < 1:
            raise ValueError(f"--dask {address!r}: 'local:N' needs a number of workers N >= 1")
        with LocalCluster(n_workers=int(n), threads_per_worker=1, processes=True, dashboard_address=None,
                          silence_logs=silence_logs) as cluster, Client(cluster) as client:
            yield client
        return
    with Client(address, timeout="30s") as client:
        yield client


def reprocess_on_dask(engine: sa.Engine, settings: Settings, clock: Callable[[], datetime], address: str, *,
                      reprocess: bool = True, progress: Callable[[int, int], None] | None = None) -> DaskSummary:
    """Enqueue the star processing (``reprocess``: of every STAR acquisition) and run it on the Dask
    cluster at ``address`` (see the module docstring)."""
    compute = settings.compute
    with Session(engine) as session:
        enqueued = enqueue_star_run(session, settings, clock(), reprocess=reprocess)
    summary = DaskSummary(address, enqueued)
    me = f"{worker_id()}:dask"
    total = enqueued.photometry
    t0 = time.monotonic()
    with dask_client(address) as client, Session(engine, expire_on_commit=False) as session, \
            Heartbeat(engine, me, compute.lease_seconds, clock) as beat:
        from dask.distributed import as_completed

        in_flight: dict[Any, tuple[wu.ClaimedUnit, str]] = {}  # future -> (unit, ACQ_ID of a photometry unit)
        pending = as_completed()

        def top_up() -> None:
            room = compute.dask_window - len(in_flight)
            if room <= 0:
                return
            units = wu.claim(session, me, clock(), compute.lease_seconds, kinds=set(RUNNERS), limit=room)
            jobs = {u.id: photometry_job(session, settings, u) for u in units if u.kind == UnitKind.STAR_PHOTOMETRY}
            session.commit()
            for unit in units:
                beat.hold(unit)
                job = jobs.get(unit.id)
                if job is not None:
                    future = client.submit(measure_file, job, pure=False, key=f"photometry-{unit.id}-{unit.token}")
                    in_flight[future] = (unit, job.acq_id)
                else:  # an aggregation (its members have ended) or a Moon/GEOM/GLOD unit: run on the worker
                    future = client.submit(_run_unit_task, settings, unit, me, pure=False,
                                           key=f"{unit.kind}-{unit.id}-{unit.token}")
                    in_flight[future] = (unit, "")
                pending.add(future)

        top_up()
        for future in pending:
            unit, acq_id = in_flight.pop(future)
            try:
                result: Any = future.result()
            except Exception as exc:  # noqa: BLE001 - a lost worker (KilledWorker), a failed task
                result = unit_failure(exc, unit.key)
            if isinstance(result, UnitFailure):
                summary.given_back += 1
                summary.problems.append(result.line)
                give_back(session, unit, me, result, clock())
            elif unit.kind != UnitKind.STAR_PHOTOMETRY:  # the task ran it: its outcome
                key = f"{unit.kind}" if result == "done" else f"{unit.kind} {result}"
                summary.on_dask[key] = summary.on_dask.get(key, 0) + 1
                summary.lost += result == "lost"
            else:
                try:
                    write_photometry(session, unit, me, result, clock(), acq_id)
                    summary.measured += 1
                except LostClaim as exc:
                    log.warning("%s", exc)
                    summary.lost += 1
            beat.drop(unit)
            if progress is not None:
                progress(summary.measured, total)
            top_up()
    summary.photometry_s = time.monotonic() - t0
    # what is left (units held by another worker, expired leases) is done here, like a worker until idle
    summary.aggregation = work(engine, settings, clock, until_idle=True, worker=me)
    return summary


def _run_unit_task(settings: Settings, unit: wu.ClaimedUnit, worker: str) -> str:
    """A Dask task: run one claimed unit that is not a photometry measurement (an aggregation after
    its members, a Moon, GEOM or GLOD unit) on the Dask worker, with its own connection to the
    catalogue (opened from the site's settings: no handle crosses the wire), its results written
    fenced under the client's claim (``worker``, the unit's token). Returns the unit's outcome
    (``done``, ``lost``, ``pending``/``failed`` when given back); a lost database raises (the
    client gives the unit back)."""
    from monitor.site import utc_now

    with Session(_worker_engine(settings), expire_on_commit=False) as session:
        return run_unit(session, settings, unit, worker, utc_now)


_ENGINES: dict[tuple[str, str], sa.Engine] = {}  # in a Dask worker process: one engine per catalogue


def _worker_engine(settings: Settings) -> sa.Engine:
    """The engine of the site's catalogue in this (Dask worker) process, opened (and its schema
    checked) by the first task that needs it, then reused by the next tasks."""
    from monitor.site import open_engine

    key = (settings.database_url, str(settings.site))
    engine = _ENGINES.get(key)
    if engine is None:
        engine = _ENGINES[key] = open_engine(settings)
    return engine
