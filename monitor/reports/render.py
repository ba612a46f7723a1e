"""Report rendering: one Jinja2 environment -> HTML -> PDF with WeasyPrint.

Templates directory
-------------------
:func:`templates_dir` (from :mod:`monitor.paths`) returns ``<repo>/templates`` when the package runs
from a source checkout or an editable install, else ``monitor/_bundled/templates`` inside an
installed wheel. ``setup.py`` (``build_py``) copies the whole top-level ``templates/`` tree —
``base.html``, ``report.html``, ``partials/``, ``css/`` and ``fonts/`` (TTFs + licence) — into
``monitor/_bundled/templates`` of the wheel, and ``pyproject.toml`` lists ``_bundled/**/*`` as
package data.

Determinism and safety
----------------------
* ``ctx.generated_at`` becomes ``<meta name="dcterms.created">``; with no clock anywhere, the same
  context renders to the same PDF bytes.
* :class:`LocalOnlyURLFetcher` serves only ``data:`` URIs, ``file:`` URLs inside the templates
  directory and the report's own in-memory figures (``monitor-figure:<sha256>``, see
  :func:`render_pdf`); anything else (``http:``, ``https:``, ``ftp:``, files elsewhere) stops the
  rendering.
* WeasyPrint reports missing images, fonts and bad CSS only as log records; any WARNING or ERROR
  record emitted on the ``weasyprint`` logger during :func:`render_pdf` raises
  :class:`ReportRenderError` (a missing asset is a bug, not a degraded report).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.request import url2pathname

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from weasyprint import CSS, HTML
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import FatalURLFetchingError, URLFetcher, URLFetcherResponse

from monitor.paths import templates_dir
from monitor.reports.context import ReportContext
from monitor.reports.filters import FILTERS
from monitor.reports.plots import MAX_APPENDIX_STARS, ReportFigures, make_figures
from monitor.science.star_traces import OUTLIER_K

__all__ = [
    "ReportRenderError",
    "RefusedURLError",
    "LocalOnlyURLFetcher",
    "templates_dir",
    "make_environment",
    "get_environment",
    "render_html",
    "RenderedReport",
    "render_report",
    "render_pdf",
    "REPORT_TEMPLATE",
    "STYLESHEET",
]

REPORT_TEMPLATE = "report.html"
FIGURE_SCHEME = "monitor-figure"  # in-memory figures of render_pdf, served by LocalOnlyURLFetcher
_PNG_DATA_PREFIX = "data:image/png;base64,"
STYLESHEET = "css/report.css"  # relative to the templates directory

_WEASY_LOGGER = logging.getLogger("weasyprint")


class ReportRenderError(RuntimeError):
    """The report could not be rendered faithfully (missing asset, refused URL, bad CSS...)."""


class RefusedURLError(FatalURLFetchingError):  # type: ignore[misc]
    """WeasyPrint tried to load a URL that is not a data URI, a template file or a report figure.

    Inherits from ``FatalURLFetchingError`` (a ``BaseException``) so WeasyPrint stops at once
    instead of logging and carrying on; :func:`render_pdf` converts it to ReportRenderError.
    """


class LocalOnlyURLFetcher(URLFetcher):  # type: ignore[misc]
    """URL fetcher that never touches the network.

    Parameters
    ----------
    root
        Only ``file:`` URLs resolving inside this directory are served (the templates directory).
    figures
        PNG bytes served for ``monitor-figure:<key>`` URLs (see :func:`render_pdf`).
    """

    def __init__(self, root: Path, figures: Mapping[str, bytes] | None = None) -> None:
        super().__init__(allowed_protocols=("file", "data"))
        self._root = root.resolve()
        self._figures = dict(figures or {})

    def fetch(self, url: str, headers: Any = None) -> Any:
        scheme = url.split(":", 1)[0].lower() if ":" in url else ""
        if scheme == "data":
            return super().fetch(url, headers)
        if scheme == FIGURE_SCHEME:
            key = url[len(FIGURE_SCHEME) + 1 :]
            if key not in self._figures:
                raise RefusedURLError(f"unknown report figure: {url}")
            return URLFetcherResponse(url, body=self._figures[key], headers={"Content-Type": "image/png"})
        if scheme == "file":
            path = Path(url2pathname(url.split("?", 1)[0].split("#", 1)[0][len("file:") :])).resolve()
            if path.is_relative_to(self._root):
                return super().fetch(url, headers)
            raise RefusedURLError(f"refused file outside the templates directory: {url}")
        raise RefusedURLError(f"refused non-local URL: {url[:200]}")


def _externalise(figures: ReportFigures) -> tuple[ReportFigures, dict[str, bytes]]:
    """Replace PNG data URIs by short ``monitor-figure:<sha256>`` URLs served from memory.

    Multi-megabyte data URIs make WeasyPrint's HTML tokenizer slow (about 0.4 s for a 3 MB
    report); the PNG bytes handed to WeasyPrint are the same.
    """
    store: dict[str, bytes] = {}

    def ref(uri: str | None) -> str | None:
        if uri is None or not uri.startswith(_PNG_DATA_PREFIX):
            return uri
        data = base64.b64decode(uri[len(_PNG_DATA_PREFIX) :])
        key = hashlib.sha256(data).hexdigest()[:32]
        store[key] = data
        return f"{FIGURE_SCHEME}:{key}"

    satellites = {}
    for name, sf in figures.satellites.items():
        changes: dict[str, Any] = {}
        for f in dataclasses.fields(sf):
            value = getattr(sf, f.name)
            if isinstance(value, Mapping):
                changes[f.name] = {k: ref(v) for k, v in value.items()}
            else:
                changes[f.name] = ref(value)
        satellites[name] = dataclasses.replace(sf, **changes)
    return ReportFigures(satellites=satellites), store


class _WeasyLogCollector(logging.Handler):
    """Collects WARNING+ records of the rendering thread from the ``weasyprint`` logger."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.thread_id = threading.get_ident()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self.thread_id:
            self.messages.append(f"{record.levelname}: {record.getMessage()}")


def make_environment(directory: Path | None = None) -> Environment:
    """A new Jinja2 environment on ``directory`` (default: :func:`templates_dir`).

    Autoescape on for HTML, ``StrictUndefined`` (a missing variable raises), tidy whitespace,
    report filters registered (:data:`monitor.reports.filters.FILTERS`).
    """
    env = Environment(
        loader=FileSystemLoader(str(directory or templates_dir())),
        autoescape=select_autoescape(enabled_extensions=("html", "xml"), default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(FILTERS)
    env.globals.update(outlier_k=OUTLIER_K, max_appendix_stars=MAX_APPENDIX_STARS)
    return env


_ENV: Environment | None = None
_ENV_LOCK = threading.Lock()


def get_environment() -> Environment:
    """The process-wide environment (created on first use, then reused)."""
    global _ENV
    with _ENV_LOCK:
        if _ENV is None:
            _ENV = make_environment()
        return _ENV


def render_html(ctx: ReportContext, figures: ReportFigures | None = None, *, env: Environment | None = None) -> str:
    """Render the report HTML.

    Parameters
    ----------
    ctx
        The view model.
    figures
        Pre-rendered figures; made from ``ctx`` with :func:`monitor.reports.plots.make_figures`
        when omitted.
    env
        Jinja2 environment (tests); default :func:`get_environment`.

    Raises
    ------
    jinja2.UndefinedError
        A template uses a variable or attribute the context does not have.
    """
    if figures is None:
        figures = make_figures(ctx)
    template = (env or get_environment()).get_template(REPORT_TEMPLATE)
    return template.render(ctx=ctx, figs=figures)


@dataclass(frozen=True)
class RenderedReport:
    """A rendered report: the PDF bytes and its number of pages (of WeasyPrint's laid-out document)."""

    pdf: bytes
    pages: int


def render_pdf(ctx: ReportContext, figures: ReportFigures | None = None, *, html: str | None = None) -> bytes:
    """The PDF bytes of :func:`render_report`."""
    return render_report(ctx, figures, html=html).pdf


def render_report(ctx: ReportContext, figures: ReportFigures | None = None, *, html: str | None = None
                  ) -> RenderedReport:
    """Render the report to PDF (A4, shipped fonts embedded), with its page count.

    Parameters
    ----------
    ctx
        The view model (``generated_at`` becomes the PDF creation date).
    figures
        Pre-rendered figures (see :func:`render_html`).
    html
        Already rendered HTML of ``ctx`` (skips the Jinja step; its figures must then be data URIs).

    Notes
    -----
    :func:`render_html` embeds the figures as PNG data URIs (a self-contained HTML file). For the
    PDF the figures are handed to WeasyPrint from memory instead (same bytes, faster parsing).

    Raises
    ------
    ReportRenderError
        WeasyPrint logged a warning or an error (missing image/font, CSS problem) or tried to load
        a refused URL.
    """
    root = templates_dir()
    store: dict[str, bytes] = {}
    if html is None:
        if figures is None:
            figures = make_figures(ctx)
        figures, store = _externalise(figures)
        html = render_html(ctx, figures)
    fetcher = LocalOnlyURLFetcher(root, store)
    collector = _WeasyLogCollector()
    _WEASY_LOGGER.addHandler(collector)
    try:
        font_config = FontConfiguration()
        css = CSS(filename=str(root / STYLESHEET), font_config=font_config, url_fetcher=fetcher)
        document = HTML(string=html, base_url=str(root), url_fetcher=fetcher).render(
            font_config=font_config, stylesheets=[css])
        pdf = document.write_pdf()
    except RefusedURLError as exc:
        raise ReportRenderError(str(exc)) from None
    finally:
        _WEASY_LOGGER.removeHandler(collector)
    if collector.messages:
        raise ReportRenderError("WeasyPrint reported problems: " + " | ".join(collector.messages[:10]))
    assert isinstance(pdf, bytes)
    return RenderedReport(pdf=pdf, pages=len(document.pages))
