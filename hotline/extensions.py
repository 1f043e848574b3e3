"""Extensions, created once and wired into the app by create_app()."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app
from twilio.request_validator import RequestValidator

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


class RuntimeHolder:
    def init_app(self, app: Flask, settings: Settings) -> None:
        app.extensions["hotline"] = Runtime(
            settings=settings,
            lines=Lines(settings),
            validator=RequestValidator(settings.twilio_auth_token),
        )

    def get(self, app: Flask | None = None) -> Runtime:
        runtime: Runtime = (app or current_app).extensions["hotline"]
        return runtime


db = Database()
queues = Queues()
runtime = RuntimeHolder()
