"""``monitor demo``: synthetic acquisitions -> catalogue -> calibration -> PDF, on SQLite.

The demo runs on a simulated clock: ingest, processing and the report happen "two days after the
last simulated campaign month", so what the report shows (rejected files received in the period,
changes since the previous period) matches the simulated calendar, and the PDF is reproducible.
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console

from monitor.progress import progress_reporter
from monitor.settings import load_settings
from monitor.site import apply_umask, init_site, session_scope

__all__ = ["run_demo", "DemoRefusedError", "DEMO_MARKER"]

DEMO_MARKER = ".monitor-demo"  # written into a demo site: only such a site may be demoed again
# STAR acquisitions per PHR satellite and month. The starpools' joint PSF fits (the MTF stage) are
# most of the demo's time and grow with the number of stars: 12 (a pool of 24 stars that come back
# month to month) keep every report section (traces per window with outliers, variable stars, MTF
# curves and drift); `monitor demo` measured on 2 shared cores (load ~4): 16 stars 207 s CPU (214 s
# wall), 12 stars 118 s (111 s wall); under cProfile, 25 stars took 1.4 times the CPU of 16.
DEMO_STARS_PER_CAMPAIGN = 12


class DemoRefusedError(RuntimeError):
    """The directory is an existing site that is not a demo site: nothing is written into it."""


def _refuse_existing_site(directory: Path) -> None:
    """A directory with a configuration or a catalogue is a site: the demo would simulate files
    into its inbox and calibrate them in its catalogue. Only a previous demo's site is reused."""
    if (directory / DEMO_MARKER).exists():
        return
    found = [name for name in ("monitor.toml", "monitor.db") if (directory / name).exists()]
    if found:
        raise DemoRefusedError(
            f"{directory} is an existing site ({', '.join(found)}): the demo writes simulated files into its "
            "inbox; give a new directory (e.g. monitor demo monitor-demo)"
        )


def run_demo(directory: Path, *, months: int = 4, seed: int = 7, console: Console | None = None,
             bar_console: Console | None = None, stars_per_campaign: int = DEMO_STARS_PER_CAMPAIGN) -> list[str]:
    """Create a demo site in ``directory`` and run the whole chain once. Returns summary lines.

    The site always uses SQLite inside ``directory`` (environment database settings are ignored).
    The last line is ``report: <path of the PDF>``. ``bar_console``: where the progress bars go
    (a terminal console; otherwise progress is logged, see :mod:`monitor.progress`).
    """
    from monitor.calibration.service import run_processing
    from monitor.ingest.service import run_ingest
    from monitor.reports.service import run_report
    from monitor.simulate.campaign import simulate_campaigns
    from monitor.simulate.truth import write_truth

    console = console or Console()
    _refuse_existing_site(directory)
    settings = load_settings(directory, env={})
    apply_umask(settings)  # [site] umask of the demo site (default 027)
    lines: list[str] = []
    t0 = time.perf_counter()
    init_site(settings)
    (settings.site / DEMO_MARKER).write_text("a demo site of simulated data (monitor demo)\n")
    start = datetime(2025, 1, 1, tzinfo=UTC)
    last_month = start.year * 12 + start.month - 1 + months - 1
    end = datetime((last_month + 1) // 12, (last_month + 1) % 12 + 1, 1, tzinfo=UTC)
    clock = end + timedelta(days=2)  # the simulated "now"
    same_year = last_month // 12 == start.year
    period = f"{start.year}" if same_year else f"{last_month // 12}-{last_month % 12 + 1:02d}"
    timings: dict[str, float] = {}
    t = time.perf_counter()
    with progress_reporter("demo: simulate", bar_console) as progress:
        truth = simulate_campaigns(settings.inbox, start=start, months=months, seed=seed,
                                   stars_per_campaign=stars_per_campaign, progress=progress)
        write_truth(settings.site / "truth.json", truth)
    timings["simulate"] = time.perf_counter() - t
    n_files = sum(1 for p in settings.inbox.iterdir() if not p.name.endswith(".done"))
    lines.append(f"simulated {n_files} files into {settings.inbox} (truth: {settings.site / 'truth.json'})")
    # The simulator has finished writing every file, and the clock is simulated (file times are
    # real, "now" is two days after the last acquisition): no settle time, so that the files cut
    # on purpose are refused as truncated now rather than waited for.
    finished = replace(settings, ingest=replace(settings.ingest, settle_seconds=0.0))
    t = time.perf_counter()
    with session_scope(finished) as session, progress_reporter("demo: ingest", bar_console) as progress:
        summary = run_ingest(session, finished, clock, progress)
    timings["ingest"] = time.perf_counter() - t
    lines.append(
        f"ingested {len(summary.ingested)} acquisitions; quarantined {len(summary.rejected)} bad and "
        f"{len(summary.duplicates)} duplicate files ({settings.quarantine})"
        + (f"; {summary.waiting} incomplete files left in the inbox" if summary.waiting else "")
    )
    t = time.perf_counter()
    with session_scope(settings) as session, progress_reporter("demo: process", bar_console) as progress:
        processed = run_processing(session, settings, clock, progress=progress)
    timings["process"] = time.perf_counter() - t
    lines += [f"processing {line}" for line in processed.lines()]
    t = time.perf_counter()
    with session_scope(settings) as session, progress_reporter(f"demo: report {period}", bar_console) as progress:
        outcome = run_report(session, settings, clock, period, progress=progress)
    timings["report"] = time.perf_counter() - t
    lines.append(f"catalogue: {settings.database_url}")
    lines.append(f"results: monitor results --site {settings.site} --format json")
    lines.append(f"report {outcome.period}: {outcome.pages} pages, rendered in {outcome.render_s:.1f} s")
    lines.append(f"done in {time.perf_counter() - t0:.1f} s ("
                 + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in timings.items()) + ")")
    assert outcome.path is not None
    lines.append(f"report: {outcome.path}")
    return lines
