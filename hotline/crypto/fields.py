"""Small secrets kept in database cells (TOTP secrets, keypad answers, notes), under the key ring.

A cell holds the base64 of an ordinary envelope (`Sealed.to_bytes`: key header + body), so
the cells, the recordings and the transcripts all answer to the same master keys and
`flask keys rotate` re-wraps them all the same way.

Unlike a recording, a cell does not get a data key of its own: the voice webhooks read and
write keypad answers on every turn, and a fresh key plus a wrap per cell would double the
work. Each process seals with one data key (wrapped once, its header repeated in every
cell it seals) and keeps the data keys it has unwrapped, so sealing or opening a cell costs
one AES-GCM operation. A random 96-bit nonce per cell keeps a shared data key safe far past
the `_MAX_USES` after which a process takes a fresh one anyway.
"""

from __future__ import annotations

import base64
import binascii
import threading

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hotline.crypto.envelope import (
    KEY_BYTES,
    KeyHeader,
    MalformedEnvelope,
    MasterKeyRing,
    Sealed,
    open_with,
    rewrap,
    seal_with,
)

# How the base64 of the header magic b"HLK\x01" starts: "HLK" and the top 6 bits of 0x01.
SEALED_PREFIX = "SExLA"
# NIST SP 800-38D allows 2**32 random nonces per key; stay far below.
_MAX_USES = 2**24
# Data keys this process has unwrapped: one per process that ever sealed (per rotation).
_MAX_OPENED = 4096


def is_sealed(value: str) -> bool:
    """Return whether a stored cell is an envelope (rather than legacy plaintext)."""
    if not value.startswith(SEALED_PREFIX):
        return False
    try:
        parse(value)
    except MalformedEnvelope:
        return False
    return True


def parse(token: str) -> Sealed:
    """Decode a stored cell into its envelope."""
    try:
        return Sealed.from_bytes(base64.b64decode(token, validate=True))
    except (binascii.Error, ValueError) as exc:
        raise MalformedEnvelope("not a sealed database value") from exc


class FieldCipher:
    """Seal and open database values with the ring's keys; see the module's docstring."""

    def __init__(self, ring: MasterKeyRing) -> None:
        """Use ring: its current key wraps new data keys, any of its keys unwraps."""
        self.ring = ring
        self._lock = threading.Lock()
        self._current: tuple[KeyHeader, AESGCM] | None = None
        self._uses = 0
        self._opened: dict[bytes, AESGCM] = {}
        # Old header -> new header during a rotation, so cells that shared a data key still do.
        self._rewrapped: dict[bytes, KeyHeader] = {}

    def __repr__(self) -> str:
        return f"FieldCipher({self.ring!r})"

    def _sealing_key(self) -> tuple[KeyHeader, AESGCM]:
        with self._lock:
            if self._current is None or self._uses >= _MAX_USES:
                raw = AESGCM.generate_key(bit_length=8 * KEY_BYTES)
                header = self.ring.wrap(raw)
                self._current, self._uses = (header, AESGCM(raw)), 0
                self._opened[header.to_bytes()] = self._current[1]
            self._uses += 1
            return self._current

    def _data_key(self, header: KeyHeader) -> AESGCM:
        wrapped = header.to_bytes()
        cipher = self._opened.get(wrapped)
        if cipher is None:
            # Raises UnknownKeyError when the master key that wrapped it left the ring.
            cipher = AESGCM(self.ring.unwrap(header))
            if len(self._opened) >= _MAX_OPENED:
                self._opened.clear()
            self._opened[wrapped] = cipher
        return cipher

    def seal(self, plaintext: bytes, aad: bytes) -> str:
        """Encrypt plaintext bound to aad; return the text to store."""
        header, cipher = self._sealing_key()
        sealed = seal_with(cipher, header, plaintext, associated_data=aad)
        return base64.b64encode(sealed.to_bytes()).decode("ascii")

    def open(self, token: str, aad: bytes) -> bytes:
        """Decrypt a stored cell; raise DecryptionError (or a subclass) on any mismatch."""
        sealed = parse(token)
        return open_with(self._data_key(sealed.header), sealed, associated_data=aad)

    def rewrap(self, token: str) -> str | None:
        """Return the cell with its data key re-wrapped under the current key, or None if it is.

        Only the header changes; the ciphertext is kept, so no plaintext is handled.
        """
        sealed = parse(token)
        if sealed.key_id == self.ring.current_id:
            return None
        old = sealed.header.to_bytes()
        header = self._rewrapped.get(old)
        if header is None:
            header = rewrap(sealed.header, self.ring)
            if len(self._rewrapped) >= _MAX_OPENED:
                self._rewrapped.clear()
            self._rewrapped[old] = header
        return base64.b64encode(sealed.with_header(header).to_bytes()).decode("ascii")
