"""Outside attack on issue 9's pydantic flow schema: a malformed flow is a FlowError naming
the problem, never a crash with a traceback when the app starts or `flask flows check` runs."""

from __future__ import annotations

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
