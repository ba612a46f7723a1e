"""The catalogue: SQLModel tables, the engine, Alembic, and the repositories (the only SQL).

Repositories, one module per entity; they read and write rows and compute nothing:

- :mod:`~monitor.catalogue.acquisitions`: reference data (satellites, bands, stars), accepted
  acquisitions with their band images, files refused at ingest, the counts of ``monitor status``;
- :mod:`~monitor.catalogue.star_results`: star photometry, starpools, starpool results, traces;
- :mod:`~monitor.catalogue.moon_results`, :mod:`~monitor.catalogue.mtf_results`,
  :mod:`~monitor.catalogue.geometry_results`: the Moon, MTF and geometry results;
- :mod:`~monitor.catalogue.measurements`: every acquisition band with its latest measurement;
- :mod:`~monitor.catalogue.drift_results`: drift fits and their alerts;
- :mod:`~monitor.catalogue.operations`: processing runs, the daemon's job runs, incidents,
  schedule and heartbeat, the backlog;
- :mod:`~monitor.catalogue.outbox`: archived reports and the e-mails of the system;
- :mod:`~monitor.catalogue.versions`: the rules of the append-only history (latest version of a
  group, next version number) that the queries share.

Who commits: repository functions never commit. They add, update and delete rows in the
caller's session (and flush when the caller needs an id); the caller, a use-case (ingest,
calibration, reports) or the daemon's bookkeeping, commits at the end of each unit of work: a
batch of files, a starpool, a drift series, a claimed e-mail, a job run. What belongs together
is then committed together, and a crash loses at most the unit in progress.
"""
