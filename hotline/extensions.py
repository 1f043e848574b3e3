"""Per-app state, wired into the app by create_app(), and the handles that find it.

Each app keeps its own runtime (settings and what is built from them), database (engine
and sessions), queues (Redis connection) and services in `app.extensions`, as Flask
extensions do: two apps in one process never share an engine, a Redis connection or a
Twilio client. `db` and `queues` hold no state of their own: they are proxies to the
current app's (like Flask-SQLAlchemy's `db`; see hotline.appstate for outside a context).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import cast

from flask import Flask, current_app
from twilio.request_validator import RequestValidator
from werkzeug.local import LocalProxy

from hotline.appstate import init_state, state_of
from hotline.crypto import columns
from hotline.crypto.envelope import MasterKeyRing
from hotline.crypto.fields import FieldCipher
from hotline.db import Database
from hotline.hotlines import Lines
from hotline.pipeline.services import SERVICES, AppServices
from hotline.queueing import Queues
from hotline.settings import Settings

RUNTIME, DATABASE, QUEUES = "hotline", "hotline.db", "hotline.queues"


@dataclass(frozen=True)
class Runtime:
    """The validated settings and what is built from them once per app."""

    settings: Settings
    lines: Lines
    validator: RequestValidator
    # Seals database cells (TOTP secrets, keypad answers, notes) under the master key ring.
    fields: FieldCipher


class RuntimeHolder:
    def init_app(self, app: Flask, settings: Settings) -> None:
        app.extensions[RUNTIME] = Runtime(
            settings=settings,
            lines=Lines(settings),
            validator=RequestValidator(settings.twilio_auth_token),
            fields=FieldCipher(MasterKeyRing(settings.master_key, settings.old_master_keys)),
        )
        columns.install(app.extensions, app.extensions[RUNTIME].fields)

    def get(self, app: Flask | None = None) -> Runtime:
        runtime: Runtime = (app or current_app).extensions[RUNTIME]
        return runtime


def init_app(app: Flask, settings: Settings) -> None:
    """Give the app its own runtime, database, queues and services."""
    runtime.init_app(app, settings)
    database = Database()
    # No request waits longer for a pooled connection than a webhook may spend on the database.
    database.init_app(app, settings.database_url, pool_timeout=settings.voice.db_budget_seconds)
    init_state(app, DATABASE, database)
    redis_queues = Queues()
    redis_queues.init_app(
        app,
        settings.redis_url,
        Path(app.instance_path),
        settings.pipeline.job_timeout_seconds,
        liveness=settings.pipeline.liveness_seconds,
    )
    init_state(app, QUEUES, redis_queues)
    init_state(app, SERVICES, AppServices())


def _database() -> Database:
    found: Database = state_of(DATABASE)
    return found


def _queues() -> Queues:
    return queues_of()


def queues_of(app: Flask | None = None) -> Queues:
    """The queues of `app` (by default the current app): for threads with no app context."""
    found: Queues = state_of(QUEUES, app)
    return found


# `db.session` is the current app's session, `queues.redis` its Redis connection.
db = cast(Database, LocalProxy(_database))
queues = cast(Queues, LocalProxy(_queues))
runtime = RuntimeHolder()
