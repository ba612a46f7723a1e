"""``monitor serve``: the read-only web dashboard (:mod:`monitor.web.app`) under uvicorn.

Registered by :mod:`monitor.cli`; kept in its own module so that the main CLI file stays small.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated

import typer

from monitor.cli_common import SiteOption, UsageError, out, site_settings, user_errors
from monitor.settings import Settings

__all__ = ["serve", "is_loopback", "web_credentials"]

USER_ENV = "MONITOR_WEB_USER"  # [web] user
PASSWORD_ENV = "MONITOR_WEB_PASSWORD"  # [web] password: from the environment only


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and the loopback addresses (127.0.0.0/8, ::1)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def web_credentials(settings: Settings) -> tuple[str, str] | None:
    """``(user, password)`` of ``[web]`` (MONITOR_WEB_USER / MONITOR_WEB_PASSWORD), None when
    neither is set.

    Raises
    ------
    UsageError
        Only one of the two is set, or the user name holds a ``:``.
    """
    user, password = settings.web.user, settings.web.password
    if not user and not password:
        return None
    if not user or not password:
        raise UsageError(f"set both {USER_ENV} and {PASSWORD_ENV} (HTTP basic authentication), or neither")
    if ":" in user:
        raise UsageError(f"{USER_ENV} must not contain ':'")
    return user, password


@user_errors
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on (beyond the loopback interface only with "
                                           f"{USER_ENV} and {PASSWORD_ENV} set).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.", min=1, max=65535)] = 8050,
    site: SiteOption = None,
) -> None:
    """Serve the read-only web dashboard of the catalogue (overview, satellite/band pages,
    acquisitions, rejected inputs, reports and exports) until Ctrl-C / SIGTERM."""
    import uvicorn

    from monitor.web.app import LOOPBACK_HOSTS, create_app

    settings = site_settings(site)
    auth = web_credentials(settings)
    if auth is None and not is_loopback(host):
        raise UsageError(f"refusing to listen on {host} without authentication: set {USER_ENV} and {PASSWORD_ENV} "
                         "(HTTP basic authentication), or keep --host 127.0.0.1")
    # on the loopback interface only loopback Host headers are answered (no DNS rebinding)
    hosts = None if not is_loopback(host) else (*LOOPBACK_HOSTS, host.strip("[]"))
    application = create_app(settings, auth=auth, allowed_hosts=hosts)
    shown = f"[{host}]" if ":" in host else host
    out.print(f"monitor dashboard (read-only) on http://{shown}:{port}/ for {settings.site}"
              + (" (basic authentication)" if auth else ""), highlight=False, soft_wrap=True)
    uvicorn.run(application, host=host, port=port, log_level="warning", access_log=False, proxy_headers=False,
                server_header=False)
