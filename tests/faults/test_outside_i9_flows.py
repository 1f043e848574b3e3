"""Outside attack on issue 9's pydantic flow schema: a malformed flow is a FlowError naming
the problem, never a crash with a traceback when the app starts or `flask flows check` runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hotline.flows.loader import FlowError, check_all, parse_flow

ROOT = Path(__file__).resolve().parents[2]
SAFE_SCHOOLS = (ROOT / "ivr_flows" / "safe_schools.yaml").read_text(encoding="utf-8")
NORWEGIAN = "languages:\n  no: {voice: Polly.Liv, language: nb-NO, label: Norsk}\n"


def _with_norwegian() -> str:
    # YAML 1.1 reads an unquoted `no` as the boolean false: a Norwegian flow's likeliest typo.
    assert "languages:\n" in SAFE_SCHOOLS
    return SAFE_SCHOOLS.replace("languages:\n", NORWEGIAN, 1)


def test_a_language_code_yaml_reads_as_a_boolean_is_a_flow_error_not_a_type_error() -> None:
    # Before issue 9 the hand-written checker said "missing prompt for language False"; the
    # pydantic schema's message joined the codes as strings and crashed with a TypeError.
    with pytest.raises(FlowError) as caught:
        parse_flow(_with_norwegian(), "no.yaml")
    assert "missing prompt for language False" in str(caught.value)


@pytest.mark.parametrize("key", ["1", "yes", "on", "null", "1.5"])
def test_language_codes_yaml_reads_as_other_types_are_flow_errors(key: str) -> None:
    text = SAFE_SCHOOLS.replace("languages:\n", f"languages:\n  {key}: {{voice: Polly.Liv, language: nb-NO}}\n", 1)
    with pytest.raises(FlowError):
        parse_flow(text, "odd.yaml")


def test_flows_check_lists_the_bad_flow_instead_of_crashing(tmp_path: Path) -> None:
    (tmp_path / "norsk.yaml").write_text(_with_norwegian(), encoding="utf-8")
    errors = check_all(tmp_path, [])
    assert len(errors) == 1 and errors[0].startswith(f"{tmp_path / 'norsk.yaml'}: ")


def broken_prea_flow(tmp_path: Path) -> Path:
    """Copy config.yaml and the flows into tmp_path with PREA's flow broken; return that flow."""
    flows = tmp_path / "ivr_flows"
    flows.mkdir()
    for path in (ROOT / "ivr_flows").glob("*.yaml"):
        (flows / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    prea = flows / "prea.yaml"
    prea.write_text(prea.read_text(encoding="utf-8").replace("type: hangup", "type: hangupp"), encoding="utf-8")
    (tmp_path / "config.yaml").write_text((ROOT / "config.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    return prea


def test_flows_check_reports_a_broken_hotline_flow_without_a_traceback(tmp_path: Path) -> None:
    broken_prea_flow(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOTLINE_", "FLASK_", "DATABASE_URL"))}
    env.update(HOTLINE_CONFIG=str(tmp_path / "config.yaml"), FLASK_APP=str(ROOT / "app.py"))
    done = subprocess.run(
        [sys.executable, "-m", "flask", "flows", "check"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert "prea.yaml: step 'thanks': unknown step type 'hangupp'" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_make_run_refuses_a_broken_flow_with_one_line(tmp_path: Path) -> None:
    # Before anything starts: no Redis, no database, one line naming the file and step.
    prea = broken_prea_flow(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOTLINE_", "FLASK_", "DATABASE_URL", "REDIS_URL"))}
    env.update(HOTLINE_CONFIG=str(tmp_path / "config.yaml"), HOTLINE_INSTANCE_PATH=str(tmp_path / "instance"))
    done = subprocess.run(
        [sys.executable, "-m", "hotline.devserver"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert f"hotline cannot start: {prea}: step 'thanks': unknown step type 'hangupp'" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert not (tmp_path / "instance" / "redis").exists()
    assert not (tmp_path / "instance" / "hotline.db").exists()
