"""Log set-up: structlog's formatter on the standard library's root logger.

Every module keeps logging through `logging.getLogger(__name__)`; the formatter adds the
time, level, logger and whatever the thread has bound (the request id, a job's id), and
renders JSON lines in production or readable lines in development. Nothing here decides
what is logged: no caller number, transcript or message text is ever passed to a logger.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any, Literal

import structlog

Format = Literal["json", "console"]
_HANDLER_NAME = "hotline"


def environment() -> str:
    """HOTLINE_ENV, `development` when unset."""
    return os.environ.get("HOTLINE_ENV", "").strip() or "development"


def chosen_format(configured: str = "auto") -> Format:
    """JSON unless development, unless HOTLINE_LOG_FORMAT says otherwise."""
    if configured in ("json", "console"):
        return configured  # type: ignore[return-value]
    return "console" if environment() == "development" else "json"


def _shared() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def formatter(fmt: Format) -> logging.Formatter:
    """A logging.Formatter rendering records (stdlib's and structlog's) as JSON or for people."""
    # Plain tracebacks only: rich's (the console default when installed) prints each frame's
    # local variables, which may hold a webhook's form with the caller's number in it.
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback)
    )
    processors: list[Any] = [structlog.stdlib.ProcessorFormatter.remove_processors_meta]
    if fmt == "json":
        # A traceback as one string field: a JSON line stays one line.
        processors.append(structlog.processors.format_exc_info)
    processors.append(renderer)
    return structlog.stdlib.ProcessorFormatter(foreign_pre_chain=_shared(), processors=processors)


def configure(configured: str = "auto", level: int = logging.INFO) -> Format:
    """Install (or replace) the app's handler on the root logger; return the format chosen."""
    fmt = chosen_format(configured)
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_shared(),
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    root = logging.getLogger()
    # As logging.basicConfig did: the level is ours to set only when nobody else (a test
    # runner's capture) has configured the root logger already.
    foreign = [h for h in root.handlers if h.get_name() != _HANDLER_NAME]
    # One handler of ours, whatever the number of apps a process builds (tests build many).
    for handler in list(root.handlers):
        if handler.get_name() == _HANDLER_NAME:
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(formatter(fmt))
    root.addHandler(handler)
    if not foreign:
        root.setLevel(level)
    # Alembic lists every plugin it loads at INFO in each process; migrations still log.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    return fmt
