"""What the jobs need (Twilio, the encrypted store, the recogniser, the notice channels),
built once per app from its settings and kept on the app."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from flask import Flask

from hotline.appstate import state_of
from hotline.crypto.envelope import MasterKeyRing
from hotline.pipeline.notify import Channel, channels
from hotline.settings import Settings, SettingsError
from hotline.storage.base import BlobStore, StorageMisconfigured, StorageUnavailable
from hotline.storage.encrypted import EncryptedStore
from hotline.storage.urls import open_blob_store
from hotline.twilio_api import TwilioApi

if TYPE_CHECKING:
    from hotline.speech.transcriber import Transcriber

log = logging.getLogger(__name__)


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
    def blobs(self) -> BlobStore:
        """The configured backend (HOTLINE_STORAGE_URL): it only ever receives ciphertext."""
        return open_blob_store(self.settings.blob_store_url())

    @cached_property
    def store(self) -> EncryptedStore:
        return EncryptedStore(self.blobs, key_ring(self.settings))

    @cached_property
    def transcriber(self) -> Transcriber:
        # Loading the model takes a while: once per worker process, then reused.
        from hotline.speech.transcriber import Transcriber

        return Transcriber(max_seconds=self.settings.pipeline.max_recording_seconds)

    @cached_property
    def channels(self) -> dict[str, Channel]:
        return channels(self.settings, self.twilio)


def check_storage_at_startup(settings: Settings) -> None:
    """Refuse to start on storage that can never work; only warn about an outage.

    Wrong credentials or a missing bucket raise SettingsError naming them. An unreachable
    server is logged and the node starts anyway: a node restarted during an object-store
    outage must come back by itself, and its jobs retry until the store returns.
    """
    if not settings.blob_store_url().lower().startswith("s3:"):  # S3://, as urlsplit reads it, too
        return  # the local store creates its directory when it is opened
    from hotline.storage.s3 import S3BlobStore

    blobs = open_blob_store(settings.blob_store_url())
    if not isinstance(blobs, S3BlobStore):
        return
    try:
        blobs.probe()
    except StorageMisconfigured as exc:
        raise SettingsError(f"HOTLINE_STORAGE_URL: {exc}") from None
    except StorageUnavailable as exc:
        log.warning("object storage not reachable at start-up: %s", exc)
        return
    versioning = blobs.versioning()
    if versioning:
        # A delete then only hides the old versions: a shredded report's wrapped keys stay readable.
        log.warning(
            "the bucket %r has versioning %s: shredding leaves every deleted object readable in its "
            "old versions unless a lifecycle rule expires noncurrent versions; use a bucket without versioning",
            blobs.bucket,
            versioning,
        )


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
