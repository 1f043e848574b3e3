"""`flask storage migrate --to URL`: local -> S3, verified, resumed after an interruption."""

from __future__ import annotations

import os
from typing import Any

from flask import Flask

from hotline.crypto.envelope import MasterKeyRing
from hotline.extensions import runtime
from hotline.pipeline.services import services_for
from hotline.storage import EncryptedStore
from hotline.storage.s3 import S3BlobStore
from tests.storage.conftest import BUCKET


def _fill(app: Flask, count: int) -> dict[str, bytes]:
    """Store `count` encrypted recordings in the app's (local) store; their plaintexts by key."""
    with app.app_context():
        store = services_for(runtime.get(app).settings).store
        plain = {f"recordings/{i}/RE{i:04d}.wav": os.urandom(2000 + i) for i in range(count)}
        for key, data in plain.items():
            store.put_and_verify(key, data, key.encode())
    return plain


def _migrate(app: Flask, *args: str) -> Any:
    return app.test_cli_runner().invoke(args=["storage", "migrate", *args])


def test_local_to_s3_copies_verifies_and_resumes(app: Flask, s3_prefix: str) -> None:
    plain = _fill(app, 6)
    source = services_for(runtime.get(app).settings).blobs
    target = S3BlobStore(BUCKET, s3_prefix)
    # An earlier run was interrupted: two objects made it, one arrived damaged.
    keys = sorted(source.keys())
    assert len(keys) == 12  # each recording and its wrapped data key
    target.put(keys[0], source.get(keys[0]))
    target.put(keys[1], source.get(keys[1]))
    target.put(keys[2], b"half an upload")

    result = _migrate(app, "--to", f"s3://{BUCKET}/{s3_prefix}")
    assert result.exit_code == 0, result.output
    assert "10 object(s) copied and verified, 2 already there and identical" in result.output
    assert "copying 12 objects" in result.output  # the progress bar's label
    assert sorted(target.keys()) == keys
    assert all(target.get(k) == source.get(k) for k in keys)
    # The copies are the same ciphertext: the master key opens them from S3.
    on_s3 = EncryptedStore(target, MasterKeyRing(runtime.get(app).settings.master_key))
    assert all(on_s3.get_decrypted(k, k.encode()) == v for k, v in plain.items())

    again = _migrate(app, "--to", f"s3://{BUCKET}/{s3_prefix}")
    assert again.exit_code == 0, again.output
    assert "0 object(s) copied and verified, 12 already there and identical" in again.output


def test_an_object_shredded_since_an_earlier_run_is_pruned_when_asked(app: Flask, s3_prefix: str) -> None:
    _fill(app, 2)
    url = f"s3://{BUCKET}/{s3_prefix}"
    assert _migrate(app, "--to", url).exit_code == 0
    with app.app_context():
        services_for(runtime.get(app).settings).store.shred("recordings/0/RE0000.wav")
    result = _migrate(app, "--to", url)
    assert "2 object(s) at the destination are not at the source (shredded?)" in result.output
    assert S3BlobStore(BUCKET, s3_prefix).exists("recordings/0/RE0000.wav.dek")
    pruned = _migrate(app, "--to", url, "--prune")
    assert pruned.exit_code == 0 and "2 object(s) the source no longer has deleted" in pruned.output
    assert sorted(S3BlobStore(BUCKET, s3_prefix).keys()) == ["recordings/1/RE0001.wav", "recordings/1/RE0001.wav.dek"]


def test_a_destination_that_cannot_be_used_fails_with_one_clear_line(app: Flask, s3_env: Any) -> None:
    _fill(app, 1)
    result = _migrate(app, "--to", "s3://no-such-bucket/x")
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        "Error: the destination storage cannot be used: "
        "s3://no-such-bucket/x: the bucket 'no-such-bucket' does not exist"
    )
    bad = _migrate(app, "--to", "s3://Bad_Name/x")
    assert bad.exit_code == 1 and "not a valid S3 bucket name" in bad.output


def test_a_copy_that_reads_back_wrong_stops_the_run(app: Flask, s3_prefix: str, monkeypatch: Any) -> None:
    _fill(app, 2)
    # A destination that loses the end of every object it stores.
    real_put = S3BlobStore.put
    monkeypatch.setattr(S3BlobStore, "put", lambda self, key, data: real_put(self, key, data[:-1]))
    result = _migrate(app, "--to", f"s3://{BUCKET}/{s3_prefix}")
    assert result.exit_code == 1
    assert "the copy read back from the destination differs from the source" in result.output.splitlines()[-1]
