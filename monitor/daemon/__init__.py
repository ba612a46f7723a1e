"""monitor.daemon: process control of the unattended daemon.

One daemon per catalogue (:mod:`monitor.daemon.lock`); every scheduled job in its own child
process with a timeout (:mod:`monitor.daemon.runner`, :mod:`monitor.daemon.child`); incidents and
their alert e-mails (:mod:`monitor.daemon.incidents`); health for operators
(:mod:`monitor.daemon.health`). The APScheduler wiring itself stays in :mod:`monitor.scheduler`.
"""
