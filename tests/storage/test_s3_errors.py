"""What an operator sees when S3 is misconfigured or down, and retries through 5xx answers."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from botocore.config import Config

from hotline import create_app
from hotline.settings import SettingsError
from hotline.storage.base import StorageMisconfigured, StorageUnavailable
from hotline.storage.s3 import S3BlobStore, make_client
from tests.conftest import RedisServer, free_port, make_settings
from tests.seaweed import SeaweedServer
from tests.storage.conftest import BUCKET


def test_wrong_credentials_are_named(s3_prefix: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    store = S3BlobStore(BUCKET, s3_prefix)
    with pytest.raises(StorageMisconfigured, match=r"credentials were refused .*AWS_SECRET_ACCESS_KEY"):
        store.probe()
    reason = store.check()
    assert reason is not None and "SignatureDoesNotMatch" in reason and "not-the-secret" not in reason
    with pytest.raises(StorageMisconfigured):
        store.put("a", b"x")  # every operation says it the same way
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "nobody")
    reason = S3BlobStore(BUCKET, s3_prefix).check()
    assert reason is not None and "credentials were refused (InvalidAccessKeyId)" in reason


def test_a_missing_bucket_is_named(s3_env: SeaweedServer) -> None:
    store = S3BlobStore("no-such-bucket", "x")
    assert store.check() == "s3://no-such-bucket/x: the bucket 'no-such-bucket' does not exist"
    with pytest.raises(StorageMisconfigured):
        store.get("a")


def test_an_unreachable_server_is_unavailable_not_misconfigured(s3_env: SeaweedServer, monkeypatch: Any) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    store = S3BlobStore(BUCKET, "x", client=make_client(Config(retries={"mode": "standard", "total_max_attempts": 1})))
    reason = store.check()
    assert reason is not None and "cannot reach the object store" in reason
    with pytest.raises(StorageUnavailable) as raised:
        store.get("a")
    assert not isinstance(raised.value, StorageMisconfigured)
    assert isinstance(raised.value, OSError)  # handled wherever a failing disk is


def _settings(tmp_path: Path, database_url: str, redis_server: RedisServer, url: str) -> Any:
    return make_settings(tmp_path, database_url, redis_server.url, storage_url=url)


def test_start_up_refuses_a_missing_bucket(
    s3_env: SeaweedServer, tmp_path: Path, database_url: str, redis_server: RedisServer
) -> None:
    settings = _settings(tmp_path, database_url, redis_server, "s3://no-such-bucket/hotline")
    with pytest.raises(SettingsError, match=r"HOTLINE_STORAGE_URL: .*the bucket 'no-such-bucket' does not exist"):
        create_app(settings)


def test_start_up_refuses_wrong_credentials(
    s3_env: SeaweedServer, tmp_path: Path, database_url: str, redis_server: RedisServer, monkeypatch: Any
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
    settings = _settings(tmp_path, database_url, redis_server, f"s3://{BUCKET}/hotline")
    with pytest.raises(SettingsError, match="credentials were refused"):
        create_app(settings)


def test_start_up_survives_an_object_store_outage(
    s3_env: SeaweedServer,
    tmp_path: Path,
    database_url: str,
    redis_server: RedisServer,
    monkeypatch: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A node restarted while the store is down must come back by itself.
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    app = create_app(_settings(tmp_path, database_url, redis_server, f"s3://{BUCKET}/hotline"))
    assert app is not None
    assert "object storage not reachable at start-up" in caplog.text


def test_settings_refuse_a_bad_storage_url(tmp_path: Path, database_url: str, redis_server: RedisServer) -> None:
    for url, says in (
        ("s3://No_Such/x", "not a valid S3 bucket name"),
        ("file://relative/path", "file:///absolute/path"),
        ("ftp://host/x", "file:///path or s3://bucket/prefix"),
        ("s3://bucket-ok/../up", "invalid key prefix"),
    ):
        with pytest.raises(SettingsError, match=says):
            _settings(tmp_path, database_url, redis_server, url)


def test_a_file_url_is_the_local_store(tmp_path: Path, database_url: str, redis_server: RedisServer) -> None:
    default = make_settings(tmp_path, database_url, redis_server.url)
    assert default.blob_store_url() == (tmp_path / "storage").resolve().as_uri()
    named = _settings(tmp_path, database_url, redis_server, f"file://{tmp_path}/elsewhere")
    assert named.storage_path == f"{tmp_path}/elsewhere"


class FlakyProxy:
    """Forwards to SeaweedFS, answering 503 to the first `failures` requests: a real 5xx."""

    def __init__(self, upstream_port: int, failures: int) -> None:
        self.failures = failures
        self.seen: list[int] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if proxy.failures > 0:
                    proxy.failures -= 1
                    proxy.seen.append(503)
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                conn = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=30)
                # The Host header is forwarded as signed: the signature covers it.
                conn.request(self.command, self.path, body=body, headers=dict(self.headers))
                answer = conn.getresponse()
                data = answer.read()
                proxy.seen.append(answer.status)
                self.send_response(answer.status)
                for name, value in answer.getheaders():
                    if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                conn.close()

            do_GET = do_PUT = do_HEAD = do_DELETE = do_POST = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def flaky(s3_env: SeaweedServer) -> Iterator[FlakyProxy]:
    proxy = FlakyProxy(s3_env.s3, failures=0)
    yield proxy
    proxy.close()


@pytest.mark.slow  # botocore's backoff between attempts
def test_5xx_answers_are_retried(flaky: FlakyProxy, s3_prefix: str, monkeypatch: Any) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{flaky.port}")
    store = S3BlobStore(BUCKET, s3_prefix)
    flaky.failures = 2
    store.put("a", b"through two 503s")
    flaky.failures = 3
    assert store.get("a") == b"through two 503s"
    assert flaky.seen == [503, 503, 200, 503, 503, 503, 200]


@pytest.mark.slow  # four backoffs, about 7 s
def test_retries_are_bounded(flaky: FlakyProxy, s3_prefix: str, monkeypatch: Any) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{flaky.port}")
    store = S3BlobStore(BUCKET, s3_prefix)
    flaky.failures = 100
    with pytest.raises(StorageUnavailable, match="answered 503"):
        store.put("a", b"never")
    assert flaky.seen == [503] * 5  # five attempts, then the job's own retry takes over
