"""The child process of one scheduled job: ``python -m monitor.daemon.child RESULT_FD``.

The daemon (:mod:`monitor.daemon.runner`) starts this module in a new session (its own process
group), writes a pickled :class:`ChildSpec` to its stdin (the daemon's own settings object,
secrets included: nothing travels on the command line or in the environment) and waits for it
with the job's time limit. The child

1. limits its address space to ``[scheduler] memory_limit_mb`` (a runaway allocation raises
   ``MemoryError`` here instead of dragging the machine into the OOM killer);
2. opens the catalogue of the daemon's settings with the schema check (a catalogue left at another
   revision is a clear failure, not a job run against the wrong tables);
3. runs the use-case ``target(session, settings, now, **kwargs)`` in one session;
4. writes one JSON object ``{"outcome", "message"}`` to the pipe ``RESULT_FD`` and exits 0.

A use-case result with a non-empty ``problems`` list (work left pending by transient or internal
errors) makes the outcome ``failed``; an exception is classified by :mod:`monitor.failures` and
makes it ``failed`` too; ``MemoryError`` makes it ``crashed``. A child that dies without writing
its result (signal, segfault, OOM killer) is recorded ``crashed`` by the daemon from its exit code.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import pickle
import resource
import signal
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from monitor.catalogue.states import JobOutcome
from monitor.settings import Settings

__all__ = ["ChildSpec", "ChildResult", "run_spec", "describe", "main"]

log = logging.getLogger(__name__)

MESSAGE_CHARS = 8000  # job_run.message


@dataclass(frozen=True)
class ChildSpec:
    """Everything one job run needs (pickled to the child's stdin)."""

    job_id: str
    target: str  # "module:function" of a use-case (session, settings, now, **kwargs)
    settings: Settings
    started: datetime  # aware UTC: the use-case's ``now``
    kwargs: dict[str, Any] = field(default_factory=dict)
    initializer: str | None = None  # "module:function" called first (the tests' fault hooks)
    parent_pid: int | None = None  # the daemon: the child dies with it (Linux PR_SET_PDEATHSIG)


@dataclass(frozen=True)
class ChildResult:
    outcome: JobOutcome  # ok, failed, crashed
    message: str


def _resolve(ref: str) -> Callable[..., Any]:
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]


def describe(result: Any) -> str:
    """One line (or a few) saying what a use-case did, for ``job_run.message``."""
    if result is None:
        return ""
    lines = getattr(result, "lines", None)
    if callable(lines):
        return "; ".join(str(x) for x in lines())
    return str(result)


def _problems(result: Any) -> list[str]:
    problems = getattr(result, "problems", None)
    return [str(p) for p in problems] if problems else []


def run_spec(spec: ChildSpec) -> ChildResult:
    """Run the use-case of ``spec`` and say how it went (never raises, but for BaseException)."""
    from sqlmodel import Session

    from monitor.failures import classify
    from monitor.site import open_engine

    engine = None
    try:
        func = _resolve(spec.target)
        engine = open_engine(spec.settings)  # schema at head, or SchemaOutdatedError
        with Session(engine, expire_on_commit=False) as session:
            result = func(session, spec.settings, spec.started, **spec.kwargs)
        text, problems = describe(result), _problems(result)
        if problems:
            shown = "\n".join(problems[:50]) + (f"\n... and {len(problems) - 50} more" if len(problems) > 50 else "")
            return ChildResult(JobOutcome.FAILED, f"{len(problems)} item(s) left pending: {text}\n{shown}")
        return ChildResult(JobOutcome.OK, text)
    except MemoryError:
        limit = spec.settings.scheduler.memory_limit_mb
        return ChildResult(JobOutcome.CRASHED,
                           f"out of memory (address-space limit {limit} MB, [scheduler] memory_limit_mb)")
    except Exception as exc:
        kind = classify(exc)
        log.error("job %s failed (%s): %s: %s", spec.job_id, kind, type(exc).__name__, exc,
                  exc_info=kind == "internal")
        text = f"{kind}: {type(exc).__name__}: {exc}"
        if kind == "internal":
            text += "\n" + traceback.format_exc()
        return ChildResult(JobOutcome.FAILED, text)
    finally:
        if engine is not None:
            engine.dispose()


def _die_with_parent(parent_pid: int | None) -> None:
    """Ask Linux to SIGKILL this process when the daemon dies, so that a killed daemon never
    leaves a job running beside the next daemon's run of the same job."""
    if parent_pid is None or not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() != parent_pid:  # the daemon died before the request took effect
        os._exit(1)


def _limit_memory(limit_mb: int) -> None:
    if limit_mb > 0:
        limit = limit_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def main() -> None:
    result_fd = int(sys.argv[1])
    spec: ChildSpec = pickle.load(sys.stdin.buffer)
    _die_with_parent(spec.parent_pid)
    from monitor.daemon.incidents import scrub
    from monitor.logconfig import configure_logging

    configure_logging(spec.settings.log_level, rich_console=False, tag=f"job {spec.job_id}")
    _limit_memory(spec.settings.scheduler.memory_limit_mb)
    if spec.initializer:
        _resolve(spec.initializer)()
    result = run_spec(spec)
    payload = json.dumps({"outcome": result.outcome, "message": scrub(result.message, spec.settings)[:MESSAGE_CHARS]})
    with os.fdopen(result_fd, "w", encoding="utf-8") as out:
        out.write(payload)
    logging.shutdown()


if __name__ == "__main__":
    main()
