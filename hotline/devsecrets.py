"""Development-only secrets, generated once under instance/ when the environment has none.

They let `make run` and the simulator work on a fresh clone. Only a development run
(HOTLINE_ENV unset or "development") ever calls this: in production a missing secret stops
start-up (hotline.settings.require_production_secrets). Each use here logs a warning.
"""

from __future__ import annotations

import base64
import logging
import os
import secrets
from pathlib import Path

log = logging.getLogger(__name__)

_GENERATORS = {
    "TWILIO_AUTH_TOKEN": lambda: secrets.token_hex(16),
    "HOTLINE_MASTER_KEY": lambda: base64.b64encode(secrets.token_bytes(32)).decode(),
    "HOTLINE_SECRET_KEY": lambda: secrets.token_hex(32),
    "HOTLINE_AUDIT_KEY": lambda: secrets.token_hex(32),
}


def dev_secret(instance_path: Path, name: str) -> str:
    """Return the development value of a secret, creating it (mode 0600) on first use."""
    folder = instance_path / "dev-secrets"
    path = folder / name
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(_GENERATORS[name]())
    log.warning("%s is not set: using the development value in %s (never in production)", name, path)
    return path.read_text().strip()
