"""``monitor simulate`` (ICD-conformant acquisitions plus their truth) and ``monitor demo`` (a
simulated site ingested, calibrated and reported). Registered by :mod:`monitor.cli`."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from monitor.cli_common import UserError, err, log_level, out, parse_time, user_errors
from monitor.logconfig import configure_logging


@user_errors
def simulate(
    outdir: Annotated[Path, typer.Argument(help="Directory to write the acquisitions (an inbox).")],
    months: Annotated[int, typer.Option(help="Number of monthly campaigns.")] = 3,
    start: Annotated[str, typer.Option(help="UTC start of the first campaign.")] = "2025-01-01",
    seed: Annotated[int, typer.Option(help="Random seed.")] = 1,
    stars: Annotated[int, typer.Option(help="Star acquisitions per satellite and campaign.")] = 25,
    bad_files: Annotated[bool, typer.Option(help="Add bad, duplicate and conflicting files.")] = True,
    psf_family: Annotated[str | None, typer.Option(
        help="Truth PSF of the STAR vignettes: omitted = the estimator's parametric family; or an independent "
             "pupil-based truth: in_family, defocus, astig_spiders, tdi_smear, microvibration, red_star, no_wings."
    )] = None,
    star_library: Annotated[Path | None, typer.Option(
        help="Draw the stars' true spectra from this spectral library (Pickles UVKLIB layout) instead of "
             "REF-1 black bodies: another template of nearby colour times a smooth 1 % perturbation.")] = None,
    star_rsr_dir: Annotated[Path | None, typer.Option(
        help="With --star-library: measured RSRs <SATELLITE>_<BAND>.csv of the true instrument.")] = None,
) -> None:
    """Write simulated ICD-conformant STAR, MOON and GEOM acquisitions plus truth.json."""
    from monitor.progress import progress_reporter
    from monitor.simulate.campaign import simulate_campaigns
    from monitor.simulate.pupil_psf import FAMILIES
    from monitor.simulate.truth import write_truth

    configure_logging(log_level("INFO"))
    if psf_family is not None and psf_family not in FAMILIES:
        raise UserError(f"--psf-family must be one of {', '.join(FAMILIES)} (got {psf_family!r})")
    t0 = parse_time(start, "--start")
    assert t0 is not None
    outdir.mkdir(parents=True, exist_ok=True)
    with progress_reporter("simulate", err) as progress:
        truth = simulate_campaigns(outdir, start=t0, months=months, seed=seed, stars_per_campaign=stars,
                                   bad_files=bad_files, progress=progress, psf_family=psf_family,
                                   star_spectra="ref1" if star_library is None else "library",
                                   star_library=star_library, star_rsr_dir=star_rsr_dir)
    write_truth(outdir / "truth.json", truth)
    n = len(list(outdir.glob("*.fits*"))) - len(list(outdir.glob("*.done")))
    out.print(f"wrote {n} files and {outdir / 'truth.json'}", highlight=False)


@user_errors
def demo(
    directory: Annotated[Path, typer.Argument(help="Directory of the demo site.")] = Path("monitor-demo"),
    months: Annotated[int, typer.Option(help="Months of simulated campaigns.")] = 4,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 7,
) -> None:
    """Simulate a few months of acquisitions, ingest, calibrate, report (SQLite site)."""
    from monitor.demo import DemoRefusedError, run_demo

    configure_logging(log_level("WARNING"))
    logging.getLogger("monitor.progress").setLevel(logging.INFO)  # no terminal: the periodic progress lines
    try:
        summary = run_demo(directory, months=months, seed=seed, console=out, bar_console=err)
    except DemoRefusedError as exc:
        raise UserError(str(exc)) from None
    for line in summary:
        out.print(line, highlight=False, soft_wrap=True)
