"""Envelope encryption: round trips, tampering, associated data, rotation, bad keys."""

from __future__ import annotations

import base64
import os

import pytest

from hotline.crypto.envelope import (
    HEADER_BYTES,
    DecryptionError,
    KeyHeader,
    MalformedEnvelope,
    MasterKeyRing,
    Sealed,
    UnknownKeyError,
    key_id,
    rewrap,
)

AAD = b"recording:RE0123456789abcdef0123456789abcdef"
OLD_KEY = bytes(range(32))
NEW_KEY = bytes(range(32, 64))


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


@pytest.fixture
def ring() -> MasterKeyRing:
    return MasterKeyRing(OLD_KEY)


def test_round_trip_through_bytes(ring: MasterKeyRing) -> None:
    plaintext = os.urandom(10_000)
    sealed = ring.encrypt(plaintext, associated_data=AAD)
    blob = sealed.to_bytes()
    assert plaintext not in blob
    assert Sealed.from_bytes(blob) == sealed
    assert ring.decrypt(Sealed.from_bytes(blob), associated_data=AAD) == plaintext


def test_empty_plaintext_round_trips(ring: MasterKeyRing) -> None:
    assert ring.decrypt(ring.encrypt(b"", associated_data=AAD), associated_data=AAD) == b""


def test_each_object_gets_its_own_data_key_and_nonce(ring: MasterKeyRing) -> None:
    a = ring.encrypt(b"same", associated_data=AAD)
    b = ring.encrypt(b"same", associated_data=AAD)
    assert a.wrapped_key != b.wrapped_key
    assert a.nonce != b.nonce
    assert a.ciphertext != b.ciphertext


def test_layout_is_self_describing(ring: MasterKeyRing) -> None:
    sealed = ring.encrypt(b"x" * 100, associated_data=AAD)
    blob = sealed.to_bytes()
    assert blob.startswith(b"HLK\x01")
    assert blob[HEADER_BYTES:].startswith(b"HLB\x01")
    assert len(sealed.header.to_bytes()) == HEADER_BYTES
    assert KeyHeader.from_bytes(blob[:HEADER_BYTES]).key_id == key_id(OLD_KEY) == ring.current_id
    assert Sealed.from_parts(sealed.header.to_bytes(), sealed.body_bytes()) == sealed


def test_every_flipped_byte_is_detected(ring: MasterKeyRing) -> None:
    blob = ring.encrypt(b"tip: the gun is in locker 12", associated_data=AAD).to_bytes()
    for position in range(len(blob)):
        tampered = bytearray(blob)
        tampered[position] ^= 0x01
        # Any byte: magic, key id, wrapped key, nonce, ciphertext or tag.
        with pytest.raises(DecryptionError):
            ring.decrypt(Sealed.from_bytes(bytes(tampered)), associated_data=AAD)


def test_truncation_is_detected(ring: MasterKeyRing) -> None:
    blob = ring.encrypt(b"payload", associated_data=AAD).to_bytes()
    for length in (0, 10, HEADER_BYTES, HEADER_BYTES + 20, len(blob) - 1):
        with pytest.raises(DecryptionError):
            ring.decrypt(Sealed.from_bytes(blob[:length]), associated_data=AAD)


def test_wrong_associated_data_is_rejected(ring: MasterKeyRing) -> None:
    sealed = ring.encrypt(b"payload", associated_data=AAD)
    with pytest.raises(DecryptionError, match="associated data"):
        ring.decrypt(sealed, associated_data=b"recording:RE-someone-else")


def test_swapping_headers_between_objects_fails(ring: MasterKeyRing) -> None:
    a = ring.encrypt(b"first", associated_data=AAD)
    b = ring.encrypt(b"second", associated_data=AAD)
    with pytest.raises(DecryptionError):
        ring.decrypt(a.with_header(b.header), associated_data=AAD)


def test_empty_associated_data_is_refused(ring: MasterKeyRing) -> None:
    with pytest.raises(ValueError, match="associated_data"):
        ring.encrypt(b"payload", associated_data=b"")


def test_unknown_master_key_is_reported(ring: MasterKeyRing) -> None:
    sealed = ring.encrypt(b"payload", associated_data=AAD)
    with pytest.raises(UnknownKeyError, match=key_id(OLD_KEY)):
        MasterKeyRing(NEW_KEY).decrypt(sealed, associated_data=AAD)


def test_rewrap_changes_only_the_header_and_retires_the_old_key(ring: MasterKeyRing) -> None:
    sealed = ring.encrypt(b"payload", associated_data=AAD)
    rotated_ring = MasterKeyRing(NEW_KEY, [OLD_KEY])
    rotated = rewrap(sealed, rotated_ring)
    assert rotated.key_id == key_id(NEW_KEY)
    assert (rotated.nonce, rotated.ciphertext) == (sealed.nonce, sealed.ciphertext)
    assert rotated.wrapped_key != sealed.wrapped_key
    # After rotation the old master key is no longer needed at all.
    assert MasterKeyRing(NEW_KEY).decrypt(rotated, associated_data=AAD) == b"payload"


def test_rewrap_of_a_header_alone(ring: MasterKeyRing) -> None:
    sealed = ring.encrypt(b"payload", associated_data=AAD)
    header = rewrap(sealed.header, MasterKeyRing(NEW_KEY, [OLD_KEY]))
    assert isinstance(header, KeyHeader)
    assert MasterKeyRing(NEW_KEY).decrypt(sealed.with_header(header), associated_data=AAD) == b"payload"


def test_rewrap_is_idempotent(ring: MasterKeyRing) -> None:
    sealed = ring.encrypt(b"payload", associated_data=AAD)
    assert rewrap(sealed, ring) is sealed


def test_rewrap_without_the_old_key_fails(ring: MasterKeyRing) -> None:
    sealed = ring.encrypt(b"payload", associated_data=AAD)
    with pytest.raises(UnknownKeyError):
        rewrap(sealed, MasterKeyRing(NEW_KEY))


def test_destroying_the_wrapped_key_makes_the_payload_unreadable(ring: MasterKeyRing) -> None:
    sealed = ring.encrypt(b"payload", associated_data=AAD)
    shredded = sealed.with_header(KeyHeader(sealed.key_id, bytes(len(sealed.wrapped_key))))
    with pytest.raises(DecryptionError):
        ring.decrypt(shredded, associated_data=AAD)


def test_from_env_with_old_keys() -> None:
    env = {"HOTLINE_MASTER_KEY": b64(NEW_KEY), "HOTLINE_OLD_MASTER_KEYS": f" {b64(OLD_KEY)} ,"}
    ring = MasterKeyRing.from_env(env)
    assert ring.current_id == key_id(NEW_KEY)
    assert ring.key_ids == (key_id(NEW_KEY), key_id(OLD_KEY))
    sealed = MasterKeyRing(OLD_KEY).encrypt(b"old", associated_data=AAD)
    assert ring.decrypt(sealed, associated_data=AAD) == b"old"


def test_repr_hides_keys() -> None:
    ring = MasterKeyRing(NEW_KEY)
    assert b64(NEW_KEY) not in repr(ring)
    assert NEW_KEY.hex() not in repr(ring)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "HOTLINE_MASTER_KEY is not set"),
        ({"HOTLINE_MASTER_KEY": "  "}, "HOTLINE_MASTER_KEY is not set"),
        ({"HOTLINE_MASTER_KEY": "not base64!"}, "HOTLINE_MASTER_KEY is not valid base64"),
        ({"HOTLINE_MASTER_KEY": b64(b"short")}, "HOTLINE_MASTER_KEY must decode to 32 bytes, not 5"),
        (
            {"HOTLINE_MASTER_KEY": b64(NEW_KEY), "HOTLINE_OLD_MASTER_KEYS": f"{b64(OLD_KEY)},%%%"},
            "HOTLINE_OLD_MASTER_KEYS entry 2 is not valid base64",
        ),
        (
            {"HOTLINE_MASTER_KEY": b64(NEW_KEY), "HOTLINE_OLD_MASTER_KEYS": b64(bytes(16))},
            "HOTLINE_OLD_MASTER_KEYS entry 1 must decode to 32 bytes, not 16",
        ),
    ],
)
def test_bad_environment_names_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MasterKeyRing.from_env(env)


def test_bad_raw_key_length() -> None:
    with pytest.raises(ValueError, match="must be 32 bytes"):
        MasterKeyRing(b"x" * 16)


def test_header_parsing_rejects_garbage() -> None:
    with pytest.raises(MalformedEnvelope):
        KeyHeader.from_bytes(b"HLK\x02" + bytes(HEADER_BYTES - 4))
