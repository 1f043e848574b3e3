"""Outside attack on issue 9's own error pages: a fault that leaves the database session
failed (a flush refused by the database) still gets the site's 500 page, signed in; and
an over-long made-up id is an audited 404, not a 500."""

from __future__ import annotations

import pytest
from flask import Flask

from hotline.auth.models import User
from hotline.extensions import db
from tests.review.conftest import Login


def _poison() -> str:
    # A second account with an address already taken: the flush fails inside the view.
    db.session.add(User(email="ann@riverbend.example.org", role="investigator", agencies=[], password_hash="x"))
    db.session.flush()
    return "unreachable"


def test_the_500_page_keeps_the_layout_after_a_failed_flush(
    rapp: Flask, login: Login, monkeypatch: pytest.MonkeyPatch
) -> None:
    ann = login("ann@riverbend.example.org")
    monkeypatch.setitem(rapp.config, "PROPAGATE_EXCEPTIONS", False)
    monkeypatch.setitem(rapp.view_functions, "review.queue", _poison)
    got = ann.get("/queue")
    assert (got.status_code, got.mimetype) == (500, "text/html"), got.get_data(as_text=True)[:200]
    html = got.get_data(as_text=True)
    assert "<h1>Something went wrong</h1>" in html and "Signed in as" in html
    assert "IntegrityError" not in html and "UNIQUE" not in html.upper().replace("UNIQUE_", "")
