"""What the jobs need, built once per worker process from the app's settings."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from hotline.settings import Settings
from hotline.twilio_api import TwilioApi


@dataclass
class Services:
    settings: Settings

    @cached_property
    def twilio(self) -> TwilioApi:
        s = self.settings
        return TwilioApi(s.twilio_api_base_url.rstrip("/"), s.twilio_account_sid, s.twilio_auth_token)

    @cached_property
    def store(self):  # type: ignore[no-untyped-def]
        from hotline.crypto.envelope import MasterKeyRing
        from hotline.storage.encrypted import EncryptedStore
        from hotline.storage.local import LocalBlobStore

        ring = MasterKeyRing.from_settings(self.settings)
        return EncryptedStore(LocalBlobStore(Path(self.settings.storage_path)), ring)

    @cached_property
    def transcriber(self):  # type: ignore[no-untyped-def]
        from hotline.speech.transcriber import Transcriber

        return Transcriber(max_seconds=self.settings.pipeline.max_recording_seconds)

    @cached_property
    def channels(self):  # type: ignore[no-untyped-def]
        from hotline.pipeline.notify import channels

        return channels(self.settings, self.twilio)


_cache: dict[int, Services] = {}


def services_for(settings: Settings) -> Services:
    """Return the process's Services for these settings (one per settings object)."""
    key = id(settings)
    if key not in _cache:
        _cache[key] = Services(settings)
    return _cache[key]
