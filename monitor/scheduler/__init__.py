"""monitor.scheduler: APScheduler wiring only (see :mod:`monitor.scheduler.wiring`).

Deleting this package leaves every use-case runnable from the CLI; job bodies live in the
use-case modules, :mod:`monitor.scheduler.jobs` only wraps them.
"""
