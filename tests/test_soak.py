"""The many-node soak, short: 50 calls over two web nodes and three workers, with faults."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ADMIN_DSN = os.environ.get("SOAK_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/test")


def _postgres_reachable() -> bool:
    import psycopg

    try:
        psycopg.connect(ADMIN_DSN, connect_timeout=3).close()
    except psycopg.Error:
        return False
    return True


@pytest.mark.slow
@pytest.mark.skipif(
    os.environ.get("HOTLINE_SOAK") != "1",
    reason="not in `make test` yet: longer runs found a job stuck after a Redis restart and "
    "notices counted twice, to settle first (bench/README.md); run with HOTLINE_SOAK=1",
)
def test_short_soak_loses_and_duplicates_nothing() -> None:
    if not _postgres_reachable():
        pytest.skip(f"the soak needs a local PostgreSQL it may create databases on ({ADMIN_DSN})")
    # Redis's restart is left out of the short run: a job that a worker has just taken off
    # its queue when Redis stops is stuck until RQ's own maintenance (every 10 min) frees it
    # (bench/README.md, "The soak"); the long run keeps it.
    command = [sys.executable, "bench/soak.py", "--calls", "50", "--think", "0.3", "--concurrency", "8"]
    command += ["--drain", "150", "--skip-fault", "redis restarted"]
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=420)
    out = run.stdout
    assert run.returncode == 0, out + run.stderr[-3000:]
    assert "lost = 0, duplicated = 0" in out
    assert "calls placed: 50 " in out
    assert "recordings: " in out and "would have gone to the fallback: 0" in out
