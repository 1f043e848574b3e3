"""Where per-app state lives: `app.extensions`, found from the current app context.

Each app keeps its own database, queues and services (see hotline.extensions), so two apps
in one process never share an engine, a Redis connection or a Twilio client. Outside any
app context (a test's teardown, a thread started without one) a handle resolves to the app
initialised last, which is what a process with one app expects; inside a context the
current app's state always wins.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, has_app_context

# The state of the app initialised last, per extension name (a reference, never a copy).
_last: dict[str, Any] = {}


def init_state(app: Flask, name: str, state: object) -> None:
    """Keep `state` as the app's extension `name` (and as the last one initialised)."""
    app.extensions[name] = state
    _last[name] = state


def state_of(name: str, app: Flask | None = None) -> Any:
    """The extension `name` of `app`, of the current app, or else of the app initialised last."""
    if app is None and has_app_context():
        app = current_app._get_current_object()  # type: ignore[attr-defined]
    if app is not None and name in app.extensions:
        return app.extensions[name]
    if name in _last:
        return _last[name]
    raise RuntimeError(f"{name} is not initialised: create the app (hotline.create_app) first")
