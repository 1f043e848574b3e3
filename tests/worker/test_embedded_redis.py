"""The embedded Redis's socket name is the same in every process (web, worker, CLI)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

SHOW = (
    "import sys; from pathlib import Path; from hotline.embedded_redis import _socket_path; "
    "print(_socket_path(Path(sys.argv[1])))"
)


def test_a_long_data_dir_gives_one_socket_path_in_every_process(tmp_path: Path) -> None:
    data_dir = tmp_path / ("x" * 120) / "redis"  # too long for a Unix socket: a short name is made
    paths = set()
    for seed in ("1", "2", "3"):  # what Python salts str hashes with, per process
        out = subprocess.run(
            [sys.executable, "-c", SHOW, str(data_dir)],
            cwd=ROOT,
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        )
        paths.add(out.stdout.strip())
    assert len(paths) == 1
    [path] = paths
    assert len(path) < 100 and path.endswith(".sock")
