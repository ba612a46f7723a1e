"""The dashboard in a real headless Chromium (Debian ``chromium`` + ``chromium-driver``, driven
by Selenium): the overview and a band page show the key numbers, the figures are drawn by the
bundled Plotly under the page's Content-Security-Policy (no console error), and a screenshot is
not blank. Skipped only when Chromium is absent outside CI; on CI (``CI=true``) that fails."""

from __future__ import annotations

import io
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from monitor.reports.filters import pm
from tests.web.conftest import Served, WebSite
from tests.web.test_routes import _context

pytestmark = [pytest.mark.db, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


@pytest.fixture(scope="module")
def browser() -> Any:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not (Path(p).exists() or shutil.which(Path(p).name))]
    if missing:
        message = f"headless browser test needs Debian chromium and chromium-driver: missing {', '.join(missing)}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message + " (CI requires them: .ci/run installs them)")
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM if Path(CHROMIUM).exists() else str(shutil.which("chromium"))
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1800",
                "--no-first-run", "--disable-extensions", "--disable-background-networking"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver_path = CHROMEDRIVER if Path(CHROMEDRIVER).exists() else str(shutil.which("chromedriver"))
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def _wait(condition: Any, timeout_s: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def _not_blank(png: bytes) -> tuple[float, float]:
    """Standard deviation of the grey levels and fraction of non-white pixels of a screenshot."""
    from PIL import Image

    grey = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.float64)
    return float(grey.std()), float(np.mean(grey < 250))


def _plain(text: str) -> str:
    return text.replace("\u00a0", " ")


def _errors(driver: Any) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def _hover_text(driver: Any, target: str, curve: int, point: int) -> str:
    """The hover label Plotly draws for one point (its own hover code, as a mouse over the point)."""
    driver.execute_script(
        "Plotly.Fx.hover(document.getElementById(arguments[0]),"
        " [{curveNumber: arguments[1], pointNumber: arguments[2]}]);",
        target, curve, point)
    return str(_wait(lambda: driver.execute_script(
        "var h = document.querySelector('#' + arguments[0] + ' .hoverlayer'); return h ? h.textContent : '';", target),
        timeout_s=10))


def _screenshot(driver: Any, path: Path) -> None:
    png = driver.get_screenshot_as_png()
    path.write_bytes(png)
    std, inked = _not_blank(png)
    assert std > 20 and inked > 0.02, (path.name, std, inked)


def test_overview_and_band_page_in_chromium(browser: Any, web_site: WebSite, served: Served, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    ctx = _context(web_site)
    browser.get(served.base + "/")
    text = browser.find_element(By.TAG_NAME, "body").text
    assert ctx.summary_rows
    for r in ctx.summary_rows:  # as the PDF prints them (the browser's text has plain spaces for no-break ones)
        assert _plain(pm(r.a, r.a_sigma)) in text, (r.satellite, r.band, r.method)
        if r.drift_per_year is not None:
            assert _plain(pm(r.drift_per_year, r.drift_sigma, scale=100.0, sign=True)) in text, (r.satellite, r.band)
    assert any(r.drift_per_year is not None for r in ctx.summary_rows)
    for heading in ("Deliveries", "Backlog", "Last processing runs", "Alerts (", "Rejected inputs"):
        assert heading in text, heading
    assert _errors(browser) == []
    _screenshot(browser, tmp_path / "overview.png")

    browser.get(served.base + "/satellite/PHR1A/P")
    n_charts = len(browser.find_elements(By.CSS_SELECTOR, "div.chart"))
    assert n_charts >= 4
    assert _wait(lambda: browser.find_element(By.TAG_NAME, "body").get_attribute("data-charts-drawn")) == str(n_charts)
    # each figure drawn by Plotly as SVG, with one point per A_k epoch in the A_k figure
    assert _wait(lambda: len(browser.find_elements(By.CSS_SELECTOR, "div.chart svg.main-svg")) >= n_charts)
    star = next(c for c in next(s for s in ctx.satellites if s.satellite == "PHR1A").calibration
                if c.band == "P" and c.method == "STAR")
    points = browser.find_elements(By.CSS_SELECTOR, "#fig-a .scatterlayer .trace:first-child .points path")
    assert len(points) == len(star.a)
    text = browser.find_element(By.TAG_NAME, "body").text
    row = next(r for r in ctx.summary_rows if r.satellite == "PHR1A" and r.band == "P")
    assert _plain(pm(row.a, row.a_sigma)) in text and "PHR1A band P" in text
    # hovering a point shows its value and its 1σ (d3's ".6g" / ".2g": Python's for these magnitudes)
    hover = _hover_text(browser, "fig-a", 0, len(star.a) - 1)
    assert f"A = {star.a[-1]:.6g} ± {star.a_sigma[-1]:.2g}" in hover, hover
    assert _errors(browser) == [], "console errors (a Content-Security-Policy violation?)"
    _screenshot(browser, tmp_path / "band.png")
