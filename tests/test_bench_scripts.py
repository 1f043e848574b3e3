"""The benchmarks start as the README says (`python bench/<name>.py`), from the project root.

Running a script puts bench/ first on sys.path, where bench/queue.py would shadow the stdlib
`queue` that redis imports; each script must take itself out of the way before importing.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(p.name for p in (ROOT / "bench").glob("*.py") if "argparse" in p.read_text())


@pytest.mark.parametrize("script", SCRIPTS)
def test_bench_script_starts_and_explains_itself(script: str) -> None:
    done = subprocess.run(
        [sys.executable, f"bench/{script}", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("usage:")


def test_every_benchmark_is_checked() -> None:
    assert {"webhooks.py", "pipeline.py", "queue.py", "transcription.py"} <= set(SCRIPTS)
