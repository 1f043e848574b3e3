"""A real S3-compatible server (SeaweedFS) for the storage tests, started once per session."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hotline.storage.base import BlobStore
from hotline.storage.local import LocalBlobStore
from hotline.storage.s3 import S3BlobStore, make_client
from tests.seaweed import SeaweedServer

BUCKET = "hotline-test"


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedServer]:
    """SeaweedFS serving S3 on free ports, with the bucket BUCKET created and writable."""
    server = SeaweedServer(tmp_path_factory.mktemp("seaweed"))
    server.start()
    with pytest.MonkeyPatch.context() as env:
        _isolate(env, server, tmp_path_factory.mktemp("aws"))
        _create_bucket(server)
    print(f"\nSeaweedFS: S3 answered after {server.started_in:.1f} s, writable after {server.ready_in:.1f} s")
    yield server
    server.stop()


def _isolate(env: pytest.MonkeyPatch, server: SeaweedServer, home: Path) -> None:
    """boto3's environment for this server only: no profile or config file of the machine's."""
    for name, value in server.env().items():
        env.setenv(name, value)
    env.setenv("AWS_CONFIG_FILE", str(home / "config"))
    env.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / "credentials"))
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3"):
        env.delenv(name, raising=False)


def _create_bucket(server: SeaweedServer, timeout: float = 60) -> None:
    """Create BUCKET and wait until an object round-trips (the volume servers register late)."""
    client = make_client()
    deadline = time.monotonic() + timeout
    began = time.monotonic()
    while True:
        try:
            if BUCKET not in {b["Name"] for b in client.list_buckets().get("Buckets", [])}:
                client.create_bucket(Bucket=BUCKET)
            client.put_object(Bucket=BUCKET, Key="ready", Body=b"ready")
            client.delete_object(Bucket=BUCKET, Key="ready")
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    server.ready_in = server.started_in + (time.monotonic() - began)


@pytest.fixture
def s3_env(seaweed: SeaweedServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> SeaweedServer:
    """AWS_* variables pointing boto3 at the session's SeaweedFS, for this test."""
    _isolate(monkeypatch, seaweed, tmp_path)
    return seaweed


@pytest.fixture
def s3_prefix(s3_env: SeaweedServer) -> str:
    """A prefix of BUCKET no other test uses."""
    return f"t-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def raw_s3(s3_env: SeaweedServer) -> Any:
    """A plain boto3 client, to look at the bucket behind the store's back."""
    return make_client()


@pytest.fixture(params=["local", "s3"])
def any_blobs(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    """The same contract on both backends: the local directory and S3 on SeaweedFS."""
    if request.param == "local":
        return LocalBlobStore(tmp_path / "store")
    prefix = request.getfixturevalue("s3_prefix")
    return S3BlobStore(BUCKET, prefix)
