"""TOTP (RFC 6238) secrets: generation, encryption at rest, single-use verification, QR codes."""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable

import pyotp
import segno

from hotline.crypto import columns
from hotline.crypto.envelope import DecryptionError

ISSUER = "hotline"
STEP_SECONDS = 30
# One step either side of now: phone clocks drift, and a code typed at :29 arrives at :31.
WINDOW = 1

# Tests replace this to move through time steps without sleeping.
clock: Callable[[], float] = time.time


class SecretDecryptionError(Exception):
    """A stored TOTP secret could not be decrypted (its master key left the ring, or tampered)."""


def new_secret() -> str:
    """Generate a random base32 TOTP secret (160 bits)."""
    return pyotp.random_base32(length=32)


def encrypt_secret(secret: str, email: str) -> str:
    """Seal a TOTP secret under the master key ring, bound to the account's address.

    The same envelope as every other secret at rest, so `flask keys rotate` re-wraps it and
    any key still in the ring opens it. The address is the associated data, so rows cannot
    swap secrets.
    """
    return columns.current().seal(secret.encode("ascii"), aad(email))


def decrypt_secret(stored: str, email: str) -> str:
    """Open a stored TOTP secret with whichever ring key its envelope names."""
    try:
        return columns.current().open(stored, aad(email)).decode("ascii")
    except DecryptionError as exc:
        raise SecretDecryptionError(f"the TOTP secret could not be decrypted: {exc}") from exc


def aad(email: str) -> bytes:
    """The associated data of an account's TOTP secret."""
    return b"hotline/totp/v2:" + email.encode("utf-8")


def current_step() -> int:
    """Return the TOTP time step for now."""
    return int(clock()) // STEP_SECONDS


def matching_step(secret: str, code: str, last_step: int | None) -> int | None:
    """Return the time step a code belongs to, or None if it is wrong or already used."""
    code = "".join(code.split())
    if len(code) != 6 or not code.isdigit():
        return None
    otp = pyotp.TOTP(secret)
    now = current_step()
    for step in range(now - WINDOW, now + WINDOW + 1):
        # Steps at or before the last accepted one are spent: a code works once.
        if last_step is not None and step <= last_step:
            continue
        if hmac.compare_digest(otp.generate_otp(step), code):
            return step
    return None


def provisioning_uri(secret: str, email: str) -> str:
    """Build the otpauth:// URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name=ISSUER)


def qr_svg(uri: str) -> str:
    """Render a URI as an inline SVG QR code (no images, no scripts, no style attributes)."""
    qr = segno.make(uri, error="m")
    return qr.svg_inline(scale=5, border=4, title="QR code for your authenticator app", svgclass="qr")
