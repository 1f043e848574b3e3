"""One idle connection to a worker's metrics port must not stop it answering Prometheus."""

from __future__ import annotations

import socket

import requests

from hotline.ops.metrics import serve_worker_metrics
from tests.conftest import free_port
from tests.ops.conftest import TOKEN


def test_an_idle_connection_does_not_block_the_scrape() -> None:
    port = free_port()
    server = serve_worker_metrics(port, TOKEN, host="127.0.0.1")
    assert server is not None
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
    idle[1].sendall(b"GET /metrics HTTP/1.1\r\n")  # a request line, then nothing more
    try:
        good = requests.get(f"http://127.0.0.1:{port}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
        assert good.status_code == 200
    finally:
        for sock in idle:
            sock.close()
        server.shutdown()
        server.server_close()
