"""`flask simulate HOTLINE`: place a simulated call, with this app's hotlines and credentials."""

from __future__ import annotations

from flask import current_app

from hotline.extensions import runtime
from hotline.simulator.cli import make_simulate_command


def _resolve(hotline: str) -> tuple[str, str, str]:
    settings = runtime.get(current_app).settings
    line = settings.hotline(hotline.replace("-", "_")) or settings.hotline_by_number(hotline)
    if line is None:
        known = ", ".join(h.id for h in settings.hotlines)
        raise ValueError(f"unknown hotline {hotline!r}; configured: {known}")
    return line.number, settings.twilio_account_sid, settings.twilio_auth_token


def _twilio_api() -> str:
    return runtime.get(current_app).settings.twilio_api_base_url


def _public_url() -> str:
    return runtime.get(current_app).settings.public_url


simulate_command = make_simulate_command(_resolve, _twilio_api, _public_url)
