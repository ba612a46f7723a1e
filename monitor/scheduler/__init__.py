"""monitor.scheduler: APScheduler wiring only (see :mod:`monitor.scheduler.wiring`).

Deleting this package leaves every use-case runnable from the CLI; the daemon that runs the
scheduled jobs in child processes is :mod:`monitor.daemon`.
"""
