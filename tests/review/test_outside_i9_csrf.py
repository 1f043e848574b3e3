"""Outside attack: after issue 9 moved the forms to Flask-WTF, every POST of the web app
(all but Twilio's signed webhooks) still needs the session's CSRF token, in the form or its
header; a JSON body does not get around it, and a refused POST changes nothing."""

from __future__ import annotations

from flask import Flask, url_for
from sqlalchemy import select

from hotline.auth.models import AuditEntry, User
from hotline.extensions import db
from tests.review.conftest import Login, audit_entries


def _post_paths(app: Flask, report_id: int, user_id: int) -> list[str]:
    paths = []
    for rule in app.url_map.iter_rules():
        if "POST" not in (rule.methods or ()) or rule.rule.startswith("/voice") or rule.endpoint == "static":
            continue
        values: dict[str, object] = {}
        for arg in rule.arguments:
            converter = rule._converters[arg]
            is_int = type(converter).__name__ == "IntegerConverter"
            values[arg] = (user_id if arg == "user_id" else report_id) if is_int else "x"
        with app.test_request_context():
            paths.append(url_for(rule.endpoint, **values))
    return sorted(set(paths))


def test_every_post_needs_the_csrf_token(rapp: Flask, report_id: int, login: Login) -> None:
    root = login("root@riverbend.example.org", "admin", ("riverbend_sd",))
    other = login("ann@riverbend.example.org")
    with rapp.app_context():
        other_id = db.session.scalar(select(User.id).where(User.email == other.account.email))
    assert other_id is not None
    paths = _post_paths(rapp, report_id, other_id)
    assert any(p.startswith("/reports/") for p in paths) and any(p.startswith("/admin/users") for p in paths)
    assert len(paths) >= 15, paths
    before = len(audit_entries(rapp))
    data = {"note": "x", "status": "closed", "disposition": "prank", "hold": "place", "role": "admin"}
    for path in paths:
        if path in ("/login", "/logout"):
            continue
        for how in ("form", "json", "bad token"):
            if how == "form":
                got = root.client.post(path, data=data)
            elif how == "json":
                got = root.client.post(path, json=data)
            else:
                got = root.client.post(path, data={**data, "csrf_token": "x"}, headers={"X-CSRFToken": "x"})
            assert got.status_code == 400, (path, how, got.status_code)
            assert "Form expired" in got.get_data(as_text=True), (path, how)
    with rapp.app_context():
        assert db.session.query(AuditEntry).count() == before
