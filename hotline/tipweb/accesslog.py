"""Keep the tipster's address, browser and referrer out of the access log for /tip pages.

Two servers write access logs: gunicorn (`make run`, production: pass
`--logger-class hotline.tipweb.accesslog.TipPrivacyLogger`) and Werkzeug's development
server (`flask run`, the tests' live server), filtered through the `werkzeug` logger. For
any path under /tip every field that could identify the client becomes "-"; so for the
stylesheets under /static/ and /favicon.ico, which a tipster's browser fetches right after a
/tip page (their time and address together would point at the tip).
"""

from __future__ import annotations

import logging
from typing import Any

from gunicorn.glogging import Logger  # type: ignore[import-untyped]

TIP_PREFIX = "/tip"
# Fetched by the same browser with the page: as telling as the page itself.
_ALSO_ANONYMOUS = ("/static/", "/favicon.ico")
# gunicorn's atoms about the client: address, user, referrer, user agent.
_CLIENT_ATOMS = ("h", "u", "f", "a")


def is_tip_path(path: str) -> bool:
    """A page of the web tip form (/tip, /tip/..., /tip?...)."""
    return path == TIP_PREFIX or path.startswith(TIP_PREFIX + "/") or path.startswith(TIP_PREFIX + "?")


def is_anonymous_path(path: str) -> bool:
    """A request whose client is left out of the access log."""
    return is_tip_path(path) or path.startswith(_ALSO_ANONYMOUS)


class TipPrivacyLogger(Logger):  # type: ignore[misc]
    """gunicorn's logger, with the client's fields blanked on /tip requests."""

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> dict[str, Any]:
        found: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        if is_anonymous_path(str(environ.get("PATH_INFO") or getattr(req, "path", "") or "")):
            for name in _CLIENT_ATOMS:
                found[name] = "-"
            for name in list(found):
                # Request headers ({x-forwarded-for}i) and the WSGI environ ({remote_addr}e).
                if name.startswith("{") and (name.endswith("}i") or name.endswith("}e")):
                    found[name] = "-"
        return found


class DevServerTipFilter(logging.Filter):
    """Werkzeug's request lines begin with the client's address: drop it for /tip requests."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        line = str(args[0]) if args else ""
        parts = line.split(" ")
        if len(parts) >= 2 and is_anonymous_path(parts[1]) and isinstance(record.msg, str):
            at = record.msg.find(" - - [")
            if at > 0:
                record.msg = "-" + record.msg[at:]
        return True


def install_dev_filter() -> None:
    """Filter Werkzeug's request log (once per process)."""
    logger = logging.getLogger("werkzeug")
    if not any(isinstance(f, DevServerTipFilter) for f in logger.filters):
        logger.addFilter(DevServerTipFilter())
