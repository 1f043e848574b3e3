"""The package's shape: hotline never imports workers, jobs are declared once and exist,
and the models import without the web app."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from hotline.jobs import declarations
from hotline.jobs.declarations import FETCH, FINALIZE, NOTIFY, ON_CALL, SWEEP, TRANSCRIBE, JobDeclaration

ROOT = Path(__file__).resolve().parents[2]


def _imported_modules(path: Path) -> set[str]:
    """Every module an `import` or `from ... import` names in the file, at any depth."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_no_module_under_hotline_imports_workers() -> None:
    # workers/ holds the job entry points and imports hotline; the other way round is a cycle.
    offenders = {
        str(path.relative_to(ROOT)): sorted(m for m in _imported_modules(path) if m.split(".")[0] == "workers")
        for path in sorted((ROOT / "hotline").rglob("*.py"))
    }
    assert {path: mods for path, mods in offenders.items() if mods} == {}


def test_importing_the_models_does_not_import_the_web_app() -> None:
    code = "import sys, hotline.models; print(' '.join(sorted(m for m in sys.modules if m.startswith('hotline'))))"
    loaded = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout.split()
    assert "hotline.models" in loaded
    web = [
        m for m in loaded if m.split(".")[1:2] and m.split(".")[1] in {"voice", "review", "auth", "cli", "extensions"}
    ]
    assert web == []


def test_every_declared_job_function_exists() -> None:
    declarations.check_all()  # what the worker runs at start
    for declared in declarations.ALL:
        assert declared.resolve().__name__ == declared.func.rsplit(".", 1)[1]


def test_a_renamed_job_function_fails_the_check() -> None:
    with pytest.raises(ImportError, match=r"workers\.recordings\.fetch_it"):
        JobDeclaration("workers.recordings.fetch_it", "fetch-{}").resolve()
    with pytest.raises(ImportError):
        JobDeclaration("workers.nowhere.fetch_recording", "fetch-{}").resolve()


def test_job_ids_and_queues_stay_as_running_systems_know_them() -> None:
    assert FETCH.id("RE1") == "fetch-RE1" and TRANSCRIBE.id("RE1") == "transcribe-RE1"
    assert FINALIZE.id(7, "call") == "finalize-7-call" and FINALIZE.id(7, "RE1") == "finalize-7-RE1"
    assert NOTIFY.id(3, 1) == "notify-3-1"
    assert ON_CALL.id("CA1", 2) == "oncall-CA1-2" and ON_CALL.id("sweep", 7) == "oncall-sweep-7"
    assert SWEEP.id(123) == "sweep-123"
    # Critical jumps the queue, for the jobs that follow a report's urgency.
    for declared in (FETCH, TRANSCRIBE, NOTIFY):
        assert declared.queue_for("critical") == "critical"
        assert declared.queue_for("high") == declared.queue_for("normal") == "recordings"
    assert FINALIZE.queue_for("critical") == "default" and SWEEP.queue_for() == "default"
    assert ON_CALL.queue_for("normal") == "critical"
    assert SWEEP.retry is None and FETCH.retry is not None and FETCH.retry.rq().max == 5
