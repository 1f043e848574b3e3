"""Keep the tipster's address, browser and referrer out of the access log for /tip pages.

Two servers write access logs: gunicorn (`make run`, production: pass
`--logger-class hotline.tipweb.accesslog.TipPrivacyLogger`) and Werkzeug's development
server (`flask run`, the tests' live server), filtered through the `werkzeug` logger. For
any path under /tip every field that could identify the client becomes "-".
"""

from __future__ import annotations

import logging
from typing import Any

from gunicorn.glogging import Logger  # type: ignore[import-untyped]

TIP_PREFIX = "/tip"
# gunicorn's atoms about the client: address, user, referrer, user agent.
_CLIENT_ATOMS = ("h", "u", "f", "a")


def is_tip_path(path: str) -> bool:
    return path == TIP_PREFIX or path.startswith(TIP_PREFIX + "/") or path.startswith(TIP_PREFIX + "?")


class TipPrivacyLogger(Logger):  # type: ignore[misc]
    """gunicorn's logger, with the client's fields blanked on /tip requests."""

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> dict[str, Any]:
        found: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        if is_tip_path(str(environ.get("PATH_INFO") or getattr(req, "path", "") or "")):
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
        if len(parts) >= 2 and is_tip_path(parts[1]) and isinstance(record.msg, str):
            at = record.msg.find(" - - [")
            if at > 0:
                record.msg = "-" + record.msg[at:]
        return True


def install_dev_filter() -> None:
    """Filter Werkzeug's request log (once per process)."""
    logger = logging.getLogger("werkzeug")
    if not any(isinstance(f, DevServerTipFilter) for f in logger.filters):
        logger.addFilter(DevServerTipFilter())
