"""What the jobs need (Twilio, the encrypted store, the recogniser, the notice channels),
built once per app from its settings and kept on the app."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from flask import Flask

from hotline.appstate import state_of
from hotline.crypto.envelope import MasterKeyRing
from hotline.pipeline.notify import Channel, channels
from hotline.settings import Settings
from hotline.storage.encrypted import EncryptedStore
from hotline.storage.local import LocalBlobStore
from hotline.twilio_api import TwilioApi

if TYPE_CHECKING:
    from hotline.speech.transcriber import Transcriber


@dataclass
class Services:
    settings: Settings

    @cached_property
    def twilio(self) -> TwilioApi:
        s = self.settings
        return TwilioApi(
            s.twilio_rest_url(),
            s.twilio_account_sid,
            s.twilio_auth_token,
            api_key=s.twilio_api_key,
            api_secret=s.twilio_api_secret,
        )

    @cached_property
    def store(self) -> EncryptedStore:
        return EncryptedStore(LocalBlobStore(Path(self.settings.storage_path)), key_ring(self.settings))

    @cached_property
    def transcriber(self) -> Transcriber:
        # Loading the model takes a while: once per worker process, then reused.
        from hotline.speech.transcriber import Transcriber

        return Transcriber(max_seconds=self.settings.pipeline.max_recording_seconds)

    @cached_property
    def channels(self) -> dict[str, Channel]:
        return channels(self.settings, self.twilio)


def key_ring(settings: Settings) -> MasterKeyRing:
    """The master key ring: the current key plus any retired ones still to be rotated away."""
    return MasterKeyRing(settings.master_key, settings.old_master_keys)


SERVICES = "hotline.services"


class AppServices:
    """One app's Services: one per settings object the app has run with (normally one).

    Services are built lazily and kept: the recogniser's model loads once per app. Each
    Services holds its settings, so an id here cannot be reused by other settings while
    its entry lives.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_settings: dict[int, Services] = {}

    def for_settings(self, settings: Settings) -> Services:
        with self._lock:
            found = self._by_settings.get(id(settings))
            if found is None or found.settings is not settings:
                found = self._by_settings[id(settings)] = Services(settings)
            return found


def services_of(app: Flask | None = None) -> Services:
    """The Services of `app` (by default the current app) for its current settings."""
    settings: Settings = state_of("hotline", app).settings
    return app_services(app).for_settings(settings)


def services_for(settings: Settings) -> Services:
    """The current app's Services for these settings (outside a context: the last app's)."""
    return app_services().for_settings(settings)


def app_services(app: Flask | None = None) -> AppServices:
    found: AppServices = state_of(SERVICES, app)
    return found
