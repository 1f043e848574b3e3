"""The BlobStore contract and the encrypted store on both backends: a local directory and S3."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from hotline.crypto.envelope import DecryptionError, MasterKeyRing
from hotline.storage import BlobNotFound, BlobStore, EncryptedStore, InvalidKey
from hotline.storage.encrypted import KEY_SUFFIX
from hotline.storage.local import LocalBlobStore
from hotline.storage.s3 import S3BlobStore
from tests.storage.conftest import BUCKET

KEY = bytes(range(32))
NEW_KEY = bytes(range(32, 64))
AAD = b"recording:RE0001"


@pytest.mark.parametrize("key", ["", "/etc/passwd", "../escape", "a/../b", ".hidden", "a//b", "a/", "caf\u00e9"])
def test_every_operation_validates_the_key(any_blobs: BlobStore, key: str) -> None:
    for operation in (any_blobs.get, any_blobs.exists, any_blobs.delete):
        with pytest.raises(InvalidKey):
            operation(key)
    with pytest.raises(InvalidKey):
        any_blobs.put(key, b"data")


def test_invalid_prefix(any_blobs: BlobStore) -> None:
    for prefix in ("/", "../", "a/../", "a b"):
        with pytest.raises(InvalidKey):
            any_blobs.keys(prefix)


def test_round_trip_overwrite_and_listing(any_blobs: BlobStore) -> None:
    blobs = any_blobs
    blobs.put("recordings/2024/RE2", b"two")
    blobs.put("recordings/2024/RE1", b"one")
    blobs.put("reports/R1", b"report")
    blobs.put("recordings/2024/RE1", b"one again")
    blobs.put("empty", b"")
    binary = os.urandom(70_000)
    blobs.put("bin/blob", binary)
    assert blobs.get("recordings/2024/RE1") == b"one again"
    assert blobs.get("empty") == b""
    assert blobs.get("bin/blob") == binary
    assert blobs.exists("recordings/2024/RE2")
    assert not blobs.exists("recordings/2024")  # a "directory" is not an object
    assert list(blobs.keys()) == ["bin/blob", "empty", "recordings/2024/RE1", "recordings/2024/RE2", "reports/R1"]
    assert list(blobs.keys("rec")) == ["recordings/2024/RE1", "recordings/2024/RE2"]
    assert list(blobs.keys("recordings/2024/RE2")) == ["recordings/2024/RE2"]
    assert list(blobs.keys("nothing")) == []


def test_missing_and_delete(any_blobs: BlobStore) -> None:
    blobs = any_blobs
    with pytest.raises(BlobNotFound):
        blobs.get("missing")
    assert not blobs.exists("missing")
    blobs.delete("missing")  # deleting nothing is not an error
    blobs.put("k", b"v")
    blobs.delete("k")
    assert not blobs.exists("k")
    with pytest.raises(BlobNotFound):
        blobs.get("k")
    assert list(blobs.keys()) == []


def test_the_store_is_ready(any_blobs: BlobStore) -> None:
    assert any_blobs.check() is None


def test_listing_pages_through_every_key(s3_prefix: str) -> None:
    blobs = S3BlobStore(BUCKET, s3_prefix, page_size=2)
    names = [f"r/{i:02d}" for i in range(7)]
    for name in reversed(names):
        blobs.put(name, name.encode())
    assert list(blobs.keys()) == names  # four pages of at most two
    assert list(blobs.keys("r/0")) == names


def test_s3_keys_live_under_the_prefix(s3_prefix: str, raw_s3: Any) -> None:
    S3BlobStore(BUCKET, s3_prefix).put("a/b", b"x")
    S3BlobStore(BUCKET, s3_prefix + "-other").put("a/c", b"y")  # a neighbour sharing the bucket
    listed = raw_s3.list_objects_v2(Bucket=BUCKET, Prefix=s3_prefix + "/")["Contents"]
    assert [o["Key"] for o in listed] == [f"{s3_prefix}/a/b"]
    assert list(S3BlobStore(BUCKET, s3_prefix).keys()) == ["a/b"]
    # Another tool's folder marker is not one of our objects.
    raw_s3.put_object(Bucket=BUCKET, Key=f"{s3_prefix}/folder/", Body=b"")
    assert list(S3BlobStore(BUCKET, s3_prefix).keys()) == ["a/b"]


def test_encrypted_round_trip_and_only_ciphertext_stored(any_blobs: BlobStore) -> None:
    store = EncryptedStore(any_blobs, MasterKeyRing(KEY))
    audio = b"RIFF....WAVEfmt " + os.urandom(4000)
    digest = store.put_and_verify("recordings/1/RE1.wav", audio, AAD)
    assert len(digest) == 64
    assert store.get_decrypted("recordings/1/RE1.wav", AAD) == audio
    assert sorted(any_blobs.keys()) == ["recordings/1/RE1.wav", "recordings/1/RE1.wav" + KEY_SUFFIX]
    for key in any_blobs.keys():
        raw = any_blobs.get(key)
        assert b"RIFF" not in raw and audio[16:80] not in raw
    with pytest.raises(DecryptionError):
        store.get_decrypted("recordings/1/RE1.wav", b"recording:RE0002")
    assert list(store.keys()) == ["recordings/1/RE1.wav"]


def test_shred_really_deletes_from_s3(s3_prefix: str, raw_s3: Any) -> None:
    store = EncryptedStore(S3BlobStore(BUCKET, s3_prefix), MasterKeyRing(KEY))
    store.put_encrypted("r/RE1", b"payload", AAD)
    store.put_encrypted("r/RE2", b"other", AAD)
    store.shred("r/RE1")
    assert not store.exists("r/RE1")
    with pytest.raises(BlobNotFound):
        store.get_decrypted("r/RE1", AAD)
    # Asked behind the store's back: both the wrapped key and the payload are gone.
    listed = raw_s3.list_objects_v2(Bucket=BUCKET, Prefix=s3_prefix + "/").get("Contents", [])
    assert sorted(o["Key"] for o in listed) == [f"{s3_prefix}/r/RE2", f"{s3_prefix}/r/RE2{KEY_SUFFIX}"]
    for name in (f"{s3_prefix}/r/RE1", f"{s3_prefix}/r/RE1{KEY_SUFFIX}"):
        with pytest.raises(raw_s3.exceptions.NoSuchKey):
            raw_s3.get_object(Bucket=BUCKET, Key=name)
    store.shred("r/RE1")  # twice is harmless
    assert store.get_decrypted("r/RE2", AAD) == b"other"


def test_rotate_rewraps_only_the_keys(any_blobs: BlobStore) -> None:
    store = EncryptedStore(any_blobs, MasterKeyRing(KEY))
    payloads = {f"r/RE{i}": os.urandom(300) for i in range(3)}
    for key, data in payloads.items():
        store.put_encrypted(key, data, key.encode())
    bodies = {key: any_blobs.get(key) for key in payloads}
    assert store.rotate(MasterKeyRing(NEW_KEY, [KEY])) == 3
    fresh = EncryptedStore(any_blobs, MasterKeyRing(NEW_KEY))
    for key, data in payloads.items():
        assert any_blobs.get(key) == bodies[key]
        assert fresh.get_decrypted(key, key.encode()) == data
    assert fresh.rotate(MasterKeyRing(NEW_KEY)) == 0


def test_a_local_store_whose_directory_went_away_says_so(tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path / "store")
    assert blobs.check() is None
    (tmp_path / "store").rmdir()
    assert blobs.check() == f"{tmp_path / 'store'}: not a directory"
