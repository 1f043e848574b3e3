"""Extensions, created once and wired into the app by create_app()."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app
from twilio.request_validator import RequestValidator

from hotline.crypto import columns
from hotline.crypto.envelope import MasterKeyRing
from hotline.crypto.fields import FieldCipher
from hotline.db import Database
from hotline.hotlines import Lines
from hotline.queueing import Queues
from hotline.settings import Settings


@dataclass(frozen=True)
class Runtime:
    """The validated settings and what is built from them once per process."""

    settings: Settings
    lines: Lines
    validator: RequestValidator
    # Seals database cells (TOTP secrets, keypad answers, notes) under the master key ring.
    fields: FieldCipher


class RuntimeHolder:
    def init_app(self, app: Flask, settings: Settings) -> None:
        app.extensions["hotline"] = Runtime(
            settings=settings,
            lines=Lines(settings),
            validator=RequestValidator(settings.twilio_auth_token),
            fields=FieldCipher(MasterKeyRing(settings.master_key, settings.old_master_keys)),
        )
        columns.install(app.extensions, app.extensions["hotline"].fields)

    def get(self, app: Flask | None = None) -> Runtime:
        runtime: Runtime = (app or current_app).extensions["hotline"]
        return runtime


db = Database()
queues = Queues()
runtime = RuntimeHolder()
