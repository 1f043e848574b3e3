"""TOTP (RFC 6238) secrets: generation, encryption at rest, single-use verification, QR codes."""

from __future__ import annotations

import base64
import hmac
import os
import time
from collections.abc import Callable

import pyotp
import segno
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

ISSUER = "hotline"
STEP_SECONDS = 30
# One step either side of now: phone clocks drift, and a code typed at :29 arrives at :31.
WINDOW = 1
_NONCE_BYTES = 12

# Tests replace this to move through time steps without sleeping.
clock: Callable[[], float] = time.time


class SecretDecryptionError(Exception):
    """A stored TOTP secret could not be decrypted (wrong master key, or tampered)."""


def _key(master_key: bytes) -> bytes:
    # A key of its own for TOTP secrets, so this use never shares a key with recordings.
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"totp").derive(master_key)


def new_secret() -> str:
    """Generate a random base32 TOTP secret (160 bits)."""
    return pyotp.random_base32(length=32)


def encrypt_secret(master_key: bytes, secret: str, email: str) -> str:
    """Encrypt a TOTP secret for storage; the email is bound in, so rows cannot swap secrets."""
    nonce = os.urandom(_NONCE_BYTES)
    sealed = AESGCM(_key(master_key)).encrypt(nonce, secret.encode("ascii"), _aad(email))
    return base64.b64encode(nonce + sealed).decode("ascii")


def decrypt_secret(master_key: bytes, stored: str, email: str) -> str:
    """Decrypt a stored TOTP secret."""
    raw = base64.b64decode(stored)
    try:
        plain = AESGCM(_key(master_key)).decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _aad(email))
    except InvalidTag as exc:
        raise SecretDecryptionError("the TOTP secret could not be decrypted") from exc
    return plain.decode("ascii")


def _aad(email: str) -> bytes:
    return b"hotline/totp/v1:" + email.encode("utf-8")


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
