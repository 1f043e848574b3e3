"""What the jobs need, built once per worker process from the app's settings."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

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


_cache: dict[int, Services] = {}


def services_for(settings: Settings) -> Services:
    """Return the process's Services for these settings (one per settings object)."""
    key = id(settings)
    if key not in _cache:
        _cache[key] = Services(settings)
    return _cache[key]
