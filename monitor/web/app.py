"""The dashboard application (Starlette, Jinja2 templates under ``templates/web/``).

Read-only by construction:

* its catalogue engine cannot write (:func:`monitor.catalogue.engine.make_read_only_engine`:
  SQLite opened ``mode=ro``, PostgreSQL sessions with ``default_transaction_read_only=on``);
* every route is GET (HEAD is answered too); any other method gets 405;
* every text is escaped by Jinja2's autoescape (file names and messages come from outside), plot
  data is embedded as JSON (``tojson`` escapes ``<``, ``>``, ``&``) and drawn by a script served
  from the application itself (Content-Security-Policy: no inline or foreign script);
* no secret is shown (no database URL, no SMTP setting);
* optional HTTP basic authentication (:class:`BasicAuth`), required by ``monitor serve`` when it
  listens beyond the loopback interface.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlmodel import Session
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

from monitor import __version__
from monitor.catalogue.engine import make_read_only_engine
from monitor.domain import printable_name
from monitor.paths import templates_dir
from monitor.reports.filters import FILTERS
from monitor.reports.period import ReportError
from monitor.settings import Settings
from monitor.web import pages

__all__ = ["create_app", "open_read_only_engine", "BasicAuth", "STATIC_FILES", "LOOPBACK_HOSTS"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


def _plotly_js() -> Path:
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def _web_templates() -> Path:
    return templates_dir() / "web"


STATIC_FILES: dict[str, tuple[Callable[[], Path], str]] = {
    "plotly.min.js": (_plotly_js, "text/javascript"),
    "web.js": (lambda: _web_templates() / "static" / "web.js", "text/javascript"),
    "web.css": (lambda: _web_templates() / "static" / "web.css", "text/css"),
}


def open_read_only_engine(settings: Settings) -> sa.Engine:
    """The catalogue engine of the dashboard: the site's catalogue must exist and be at the head
    schema (checked as ``monitor status`` does), and the engine cannot write."""
    from monitor.site import open_engine

    open_engine(settings, read_only=True).dispose()  # existence, connection, schema at head
    return make_read_only_engine(settings.database_url, settings.database_password)


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(templates_dir())),
        autoescape=select_autoescape(enabled_extensions=("html", "xml"), default_for_string=True),
        undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
    )
    env.filters.update(FILTERS)
    env.filters["printable"] = lambda s: "" if s is None else printable_name(str(s))
    env.filters["age"] = _age
    return env


def _age(delta: Any) -> str:
    if delta is None:
        return "–"
    s = int(delta.total_seconds())
    if s < 0:
        return "in the future"
    days, rem = divmod(s, 86400)
    hours, rem = divmod(rem, 3600)
    return f"{days} d {hours} h" if days else f"{hours} h {rem // 60} min"


class BasicAuth:
    """HTTP basic authentication of every request against one user and password (constant-time
    comparison); 401 with ``WWW-Authenticate`` otherwise."""

    def __init__(self, app: ASGIApp, user: str, password: str) -> None:
        self.app = app
        self._expected = (user.encode(), password.encode())

    def _ok(self, header: bytes) -> bool:
        scheme, _, value = header.partition(b" ")
        if scheme.lower() != b"basic":
            return False
        try:
            user, sep, password = base64.b64decode(value.strip(), validate=True).partition(b":")
        except (binascii.Error, ValueError):
            return False
        # both compared, whatever the first gives (no early exit telling which one is wrong)
        good_user = secrets.compare_digest(user, self._expected[0])
        good_password = secrets.compare_digest(password, self._expected[1])
        return bool(sep) and good_user and good_password

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            header = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not self._ok(header):
                response = PlainTextResponse("authentication required\n", status_code=401,
                                             headers={"www-authenticate": 'Basic realm="monitor", charset="UTF-8"'})
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                present = {k.lower() for k, _ in headers}
                for k, v in SECURITY_HEADERS.items():
                    if k.encode() not in present:
                        headers.append((k.encode(), v.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(settings: Settings, engine: sa.Engine | None = None, *, now: Callable[[], datetime] | None = None,
               auth: tuple[str, str] | None = None, cache_ttl_s: float = 30.0,
               allowed_hosts: Sequence[str] | None = LOOPBACK_HOSTS) -> Starlette:
    """The dashboard of ``settings``' site.

    Parameters
    ----------
    engine
        The catalogue engine (default: :func:`open_read_only_engine`); the application only reads.
    now
        The clock (default :func:`monitor.site.utc_now`).
    auth
        ``(user, password)``: HTTP basic authentication on every route.
    allowed_hosts
        The only ``Host`` headers answered (others get 400): by default the loopback names, so that
        a web page cannot read a dashboard on localhost through DNS rebinding; None: any (with
        ``auth``, when listening beyond the loopback interface).
    cache_ttl_s
        How long the report's view model of a period may be reused while the catalogue's newest
        run and refused file stay the same (:class:`monitor.web.pages.ContextCache`); 0: never.
    """
    from monitor.site import utc_now

    engine = engine if engine is not None else open_read_only_engine(settings)
    clock = now or utc_now
    env = _environment()
    cache = pages.ContextCache(cache_ttl_s) if cache_ttl_s > 0 else None

    def render(request: Request, template: str, status_code: int = 200, **values: Any) -> HTMLResponse:
        body = env.get_template(f"web/{template}").render(
            request=request, version=__version__, site=str(settings.site), nav=pages.satellites_and_bands(),
            period_param=request.query_params.get("period") or "", **values)
        return HTMLResponse(body, status_code=status_code)

    def session() -> Session:
        return Session(engine, expire_on_commit=False)

    def period(request: Request) -> Any:
        return pages.period_of(request.query_params.get("period"), clock())

    def overview(request: Request) -> Response:
        with session() as s:
            data = pages.overview(s, settings, period(request), clock(), cache)
        return render(request, "overview.html", data=data, ctx=data.ctx, title="Overview")

    def band(request: Request) -> Response:
        sat, b = request.path_params["satellite"], request.path_params["band"]
        with session() as s:
            data = pages.band_page(s, settings, sat, b, period(request), clock(), cache)
        return render(request, "band.html", data=data, ctx=data.ctx, title=f"{sat} {b}")

    def acquisition(request: Request) -> Response:
        with session() as s:
            data = pages.acquisition_page(s, request.path_params["acq_id"])
        return render(request, "acquisition.html", data=data, title=data.acquisition.acq_id)

    def rejected(request: Request) -> Response:
        with session() as s:
            rows, ctx = pages.rejected_page(s, settings, period(request), clock(), cache)
        return render(request, "rejected.html", rows=rows, ctx=ctx, title="Rejected inputs")

    def reports(request: Request) -> Response:
        return render(request, "reports.html", files=pages.report_files(settings), title="Reports and exports")

    def report_file(request: Request) -> Response:
        path = pages.report_path(settings, request.path_params["name"])
        return FileResponse(path, media_type="application/pdf", filename=path.name)

    def export(request: Request) -> Response:
        what = request.path_params["what"]
        with session() as s:
            if what == "summary.csv":
                text = pages.summary_csv(pages.overview(s, settings, period(request), clock(), cache).ctx)
            elif what == "measurements.csv":
                text = pages.measurements_csv(s)
            elif what == "results.json":
                return Response(pages.results_document(s), media_type="application/json",
                                headers={"content-disposition": 'attachment; filename="results.json"'})
            else:
                raise pages.NotFound(f"no export {printable_name(what)}")
        return Response(text, media_type="text/csv; charset=utf-8",
                        headers={"content-disposition": f'attachment; filename="{what}"'})

    def traces_export(request: Request) -> Response:
        sat, b = request.path_params["satellite"], request.path_params["band"]
        with session() as s:
            text = pages.traces_csv(s, sat, b)
        name = f"traces-{sat}-{b}.csv"
        return Response(text, media_type="text/csv; charset=utf-8",
                        headers={"content-disposition": f'attachment; filename="{name}"'})

    def static(request: Request) -> Response:
        entry = STATIC_FILES.get(request.path_params["name"])
        if entry is None:
            raise pages.NotFound("no such file")
        locate, media_type = entry
        return FileResponse(locate(), media_type=media_type, headers={"cache-control": "max-age=3600"})

    async def not_found(request: Request, exc: Exception) -> Response:
        return render(request, "error.html", status_code=404, title="Not found", message=str(exc))

    async def bad_request(request: Request, exc: Exception) -> Response:
        return render(request, "error.html", status_code=400, title="Bad request", message=str(exc))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return PlainTextResponse(f"{exc.detail}\n", status_code=exc.status_code, headers=exc.headers)

    routes = [
        Route("/", overview, methods=["GET"]),
        Route("/satellite/{satellite}/{band}", band, methods=["GET"]),
        Route("/acquisition/{acq_id}", acquisition, methods=["GET"]),
        Route("/rejected", rejected, methods=["GET"]),
        Route("/reports", reports, methods=["GET"]),
        Route("/reports/{name}", report_file, methods=["GET"]),
        Route("/export/traces/{satellite}/{band}.csv", traces_export, methods=["GET"]),
        Route("/export/{what}", export, methods=["GET"]),
        Route("/static/{name}", static, methods=["GET"]),
        Route("/favicon.ico", lambda request: Response(status_code=204), methods=["GET"]),
    ]
    middleware = [Middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))] if allowed_hosts else []
    if auth is not None:
        middleware.append(Middleware(BasicAuth, user=auth[0], password=auth[1]))
    middleware.append(Middleware(SecurityHeaders))
    app = Starlette(routes=routes, middleware=middleware, exception_handlers={
        pages.NotFound: not_found, ReportError: bad_request, HTTPException: http_error})
    app.state.engine = engine
    return app
