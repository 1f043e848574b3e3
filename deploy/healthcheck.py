"""Container and unit health checks: `healthcheck.py web` or `healthcheck.py worker NAME`.

Standard library plus what the image already has (redis, rq): slim images have no curl.
Exit 0 when healthy, 1 otherwise, with one line saying why (Docker keeps it in the state).
"""

from __future__ import annotations

import os
import sys
import urllib.request
from datetime import UTC, datetime, timedelta


def web() -> int:
    """The process answers /healthz (alive; /readyz is for the load balancer's routing)."""
    url = os.environ.get("HOTLINE_HEALTH_URL", "http://127.0.0.1:8000/healthz")
    try:
        with urllib.request.urlopen(url, timeout=4) as response:  # noqa: S310 - a fixed local URL
            return 0 if response.status == 200 else 1
    except OSError as exc:
        print(f"{url}: {exc}")
        return 1


def worker(name: str) -> int:
    """A worker started with --name NAME renewed its RQ heartbeat recently (it adds a suffix)."""
    import redis
    from rq import Worker

    limit = timedelta(seconds=int(os.environ.get("HOTLINE_WORKER_STALE_SECONDS", "90")))
    connection = redis.Redis.from_url(os.environ["REDIS_URL"], socket_timeout=4)
    now = datetime.now(UTC)
    for item in Worker.all(connection=connection):
        beat = item.last_heartbeat
        if beat is not None and beat.tzinfo is None:
            beat = beat.replace(tzinfo=UTC)
        if item.name.startswith(f"{name}.") and beat is not None and now - beat < limit:
            return 0
    print(f"no worker {name}.* with a heartbeat in the last {limit.seconds} s")
    return 1


if __name__ == "__main__":
    if sys.argv[1:2] == ["web"]:
        raise SystemExit(web())
    if sys.argv[1:2] == ["worker"] and len(sys.argv) == 3:
        raise SystemExit(worker(sys.argv[2]))
    raise SystemExit("usage: healthcheck.py web | healthcheck.py worker NAME")
