"""Twilio's webhooks: POST only, every request signed, no login, no CSRF."""

from hotline.voice.views import bp

__all__ = ["bp"]
