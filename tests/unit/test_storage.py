"""Blob stores and the encrypted store: keys, atomic writes, shredding, rotation."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hotline.crypto.envelope import DecryptionError, MasterKeyRing, UnknownKeyError, key_id
from hotline.storage import (
    BlobNotFound,
    EncryptedStore,
    InvalidKey,
    LocalBlobStore,
    VerificationError,
    validate_key,
)
from hotline.storage.encrypted import KEY_SUFFIX

OLD_KEY = bytes(range(32))
NEW_KEY = bytes(range(32, 64))
AAD = b"recording:RE0001"


@pytest.fixture
def blobs(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "store")


@pytest.fixture
def store(blobs: LocalBlobStore) -> EncryptedStore:
    return EncryptedStore(blobs, MasterKeyRing(OLD_KEY))


def all_files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


@pytest.mark.parametrize(
    "key",
    ["a", "recordings/RE123.wav", "a/b/c_d-e.f", "x" * 1024],
)
def test_valid_keys(key: str) -> None:
    assert validate_key(key) == key


@pytest.mark.parametrize(
    "key",
    [
        "",
        "/etc/passwd",
        "../escape",
        "a/../b",
        "a/./b",
        "a/..",
        ".hidden",
        "a//b",
        "a/",
        "with space",
        "back\\slash",
        "caf\u00e9",
        "nul\x00byte",
        "x" * 1025,
    ],
)
def test_invalid_keys(blobs: LocalBlobStore, key: str) -> None:
    with pytest.raises(InvalidKey):
        validate_key(key)
    # Every operation validates, not just put.
    for operation in (blobs.get, blobs.exists, blobs.delete):
        with pytest.raises(InvalidKey):
            operation(key)
    with pytest.raises(InvalidKey):
        blobs.put(key, b"data")


def test_invalid_prefix(blobs: LocalBlobStore) -> None:
    for prefix in ("/", "../", "a/../", "a b"):
        with pytest.raises(InvalidKey):
            blobs.keys(prefix)


def test_local_round_trip_and_listing(blobs: LocalBlobStore) -> None:
    blobs.put("recordings/2024/RE2", b"two")
    blobs.put("recordings/2024/RE1", b"one")
    blobs.put("reports/R1", b"report")
    blobs.put("recordings/2024/RE1", b"one again")
    assert blobs.get("recordings/2024/RE1") == b"one again"
    assert blobs.exists("recordings/2024/RE2")
    assert not blobs.exists("recordings/2024")  # a directory is not an object
    assert list(blobs.keys()) == ["recordings/2024/RE1", "recordings/2024/RE2", "reports/R1"]
    assert list(blobs.keys("rec")) == ["recordings/2024/RE1", "recordings/2024/RE2"]
    assert list(blobs.keys("recordings/2024/RE2")) == ["recordings/2024/RE2"]
    assert list(blobs.keys("nothing")) == []


def test_local_missing_and_delete(blobs: LocalBlobStore) -> None:
    with pytest.raises(BlobNotFound):
        blobs.get("missing")
    blobs.delete("missing")  # deleting nothing is not an error, as on S3
    blobs.put("k", b"v")
    blobs.delete("k")
    assert not blobs.exists("k")
    with pytest.raises(BlobNotFound):
        blobs.get("k")


def test_local_files_are_private(blobs: LocalBlobStore) -> None:
    blobs.put("a/b", b"secret")
    assert (blobs.root / "a" / "b").stat().st_mode & 0o777 == 0o600


def test_atomic_write_leaves_no_temp_files(blobs: LocalBlobStore) -> None:
    for i in range(20):
        blobs.put("dir/obj", os.urandom(1000 + i))
    assert all_files(blobs.root) == ["dir/obj"]


def test_failed_write_keeps_old_object_and_no_temp(blobs: LocalBlobStore, monkeypatch: pytest.MonkeyPatch) -> None:
    blobs.put("dir/obj", b"old")

    def broken_replace(src: str, dst: str) -> None:
        raise OSError("disk on fire")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk on fire"):
        blobs.put("dir/obj", b"new")
    monkeypatch.undo()
    assert blobs.get("dir/obj") == b"old"
    assert all_files(blobs.root) == ["dir/obj"]


def test_listing_ignores_in_flight_temp_files(blobs: LocalBlobStore) -> None:
    blobs.put("dir/obj", b"v")
    (blobs.root / "dir" / ".tmp-abc").write_bytes(b"partial")
    assert list(blobs.keys()) == ["dir/obj"]


def test_encrypted_round_trip_and_nothing_plaintext_on_disk(store: EncryptedStore, blobs: LocalBlobStore) -> None:
    plaintext = b"caller says the knife is in locker 12 " * 50
    store.put_encrypted("recordings/RE0001", plaintext, AAD)
    assert store.get_decrypted("recordings/RE0001", AAD) == plaintext
    assert all_files(blobs.root) == ["recordings/RE0001", "recordings/RE0001" + KEY_SUFFIX]
    for path in blobs.root.rglob("*"):
        if path.is_file():
            assert b"locker" not in path.read_bytes()
    assert list(store.keys()) == ["recordings/RE0001"]
    assert store.exists("recordings/RE0001")


def test_put_and_verify_returns_the_digest(store: EncryptedStore) -> None:
    import hashlib

    data = os.urandom(4096)
    assert store.put_and_verify("r/RE1", data, AAD) == hashlib.sha256(data).hexdigest()


def test_put_and_verify_detects_a_store_that_corrupts(blobs: LocalBlobStore) -> None:
    class Corrupting(LocalBlobStore):
        def get(self, key: str) -> bytes:
            data = super().get(key)
            return data if key.endswith(KEY_SUFFIX) else data[:-1] + bytes([data[-1] ^ 1])

    store = EncryptedStore(Corrupting(blobs.root), MasterKeyRing(OLD_KEY))
    with pytest.raises(DecryptionError):
        store.put_and_verify("r/RE1", b"data", AAD)


def test_put_and_verify_detects_a_stale_read(blobs: LocalBlobStore) -> None:
    class Stale(LocalBlobStore):
        """Serves the first version ever written, as an eventually consistent store may."""

        def __init__(self, root: Path) -> None:
            super().__init__(root)
            self.first: dict[str, bytes] = {}

        def put(self, key: str, data: bytes) -> None:
            self.first.setdefault(key, data)
            super().put(key, data)

        def get(self, key: str) -> bytes:
            return self.first[key]

    store = EncryptedStore(Stale(blobs.root), MasterKeyRing(OLD_KEY))
    store.put_and_verify("r/RE1", b"first take", AAD)
    with pytest.raises(VerificationError):
        store.put_and_verify("r/RE1", b"second take", AAD)


def test_tampered_payload_and_wrong_aad_are_rejected(store: EncryptedStore, blobs: LocalBlobStore) -> None:
    store.put_encrypted("r/RE1", b"payload", AAD)
    with pytest.raises(DecryptionError):
        store.get_decrypted("r/RE1", b"recording:RE0002")
    body = bytearray(blobs.get("r/RE1"))
    body[-3] ^= 0x80
    blobs.put("r/RE1", bytes(body))
    with pytest.raises(DecryptionError):
        store.get_decrypted("r/RE1", AAD)


def test_objects_cannot_be_swapped(store: EncryptedStore, blobs: LocalBlobStore) -> None:
    store.put_encrypted("r/RE1", b"one", b"recording:RE1")
    store.put_encrypted("r/RE2", b"two", b"recording:RE2")
    # An attacker with write access moves RE2's object (with its key) to RE1's place.
    blobs.put("r/RE1", blobs.get("r/RE2"))
    blobs.put("r/RE1" + KEY_SUFFIX, blobs.get("r/RE2" + KEY_SUFFIX))
    with pytest.raises(DecryptionError):
        store.get_decrypted("r/RE1", b"recording:RE1")


def test_sidecar_suffix_is_reserved(store: EncryptedStore) -> None:
    with pytest.raises(InvalidKey, match="reserved"):
        store.put_encrypted("r/RE1" + KEY_SUFFIX, b"x", AAD)


def test_shred_makes_the_object_unreadable(store: EncryptedStore, blobs: LocalBlobStore) -> None:
    store.put_encrypted("r/RE1", b"payload", AAD)
    store.put_encrypted("r/RE2", b"other", AAD)
    store.shred("r/RE1")
    assert not store.exists("r/RE1")
    with pytest.raises(BlobNotFound):
        store.get_decrypted("r/RE1", AAD)
    assert all_files(blobs.root) == ["r/RE2", "r/RE2" + KEY_SUFFIX]
    store.shred("r/RE1")  # shredding twice is harmless
    assert store.get_decrypted("r/RE2", AAD) == b"other"


def test_a_surviving_payload_without_its_key_is_useless(store: EncryptedStore, blobs: LocalBlobStore) -> None:
    store.put_encrypted("r/RE1", b"payload", AAD)
    body = blobs.get("r/RE1")
    store.shred("r/RE1")
    # Even with the master key and the payload restored (say, from a backup), it stays sealed.
    blobs.put("r/RE1", body)
    with pytest.raises(BlobNotFound):
        store.get_decrypted("r/RE1", AAD)
    store.put_encrypted("r/RE2", b"fresh", AAD)
    blobs.put("r/RE1" + KEY_SUFFIX, blobs.get("r/RE2" + KEY_SUFFIX))
    with pytest.raises(DecryptionError):
        store.get_decrypted("r/RE1", AAD)


def test_rotate_rewraps_without_touching_payloads(store: EncryptedStore, blobs: LocalBlobStore) -> None:
    payloads = {f"r/RE{i}": os.urandom(500) for i in range(5)}
    for key, data in payloads.items():
        store.put_encrypted(key, data, key.encode())
    bodies = {key: blobs.get(key) for key in payloads}
    mtimes = {key: (blobs.root / key).stat().st_mtime_ns for key in payloads}
    headers = {key: blobs.get(key + KEY_SUFFIX) for key in payloads}

    assert store.rotate(MasterKeyRing(NEW_KEY, [OLD_KEY])) == 5
    for key in payloads:
        assert blobs.get(key) == bodies[key]
        assert (blobs.root / key).stat().st_mtime_ns == mtimes[key]
        assert blobs.get(key + KEY_SUFFIX) != headers[key]

    # The old master key is no longer needed for anything.
    fresh = EncryptedStore(blobs, MasterKeyRing(NEW_KEY))
    for key, data in payloads.items():
        assert fresh.get_decrypted(key, key.encode()) == data
    # Running it again (e.g. after an interruption) has nothing left to do.
    assert fresh.rotate(MasterKeyRing(NEW_KEY)) == 0


def test_rotate_needs_the_old_key(store: EncryptedStore) -> None:
    store.put_encrypted("r/RE1", b"payload", AAD)
    with pytest.raises(UnknownKeyError, match=key_id(OLD_KEY)):
        store.rotate(MasterKeyRing(NEW_KEY))
