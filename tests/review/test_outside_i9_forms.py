"""Outside attack on issue 9's Flask-WTF forms: a POST whose field arrives as an uploaded file
or in a JSON body (Flask-WTF reads both, request.form never did) is a clear refusal, never a 500."""

from __future__ import annotations

import io
import re

import pytest
from flask import Flask

from tests.review.conftest import Login


def _token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found
    return found.group(1)


@pytest.mark.parametrize("action", ["notes", "status", "assign", "links", "hold"])
def test_a_report_action_with_a_file_for_its_field_is_not_a_500(
    rapp: Flask, report_id: int, login: Login, action: str
) -> None:
    ann = login("ann@riverbend.example.org", "admin", ("riverbend_sd",))
    page = f"/reports/{report_id}"
    token = _token(ann.get(page).get_data(as_text=True))
    field = {"notes": "note", "status": "status", "assign": "assignee", "links": "reference", "hold": "hold"}[action]
    response = ann.client.post(
        f"{page}/{action}",
        data={"csrf_token": token, field: (io.BytesIO(b"closed"), "x.txt")},
        content_type="multipart/form-data",
    )
    assert response.status_code in (302, 400), response.status_code


@pytest.mark.parametrize("value", [123, True, {"a": "b"}, ["x", "y"]])
def test_a_note_sent_as_json_of_another_type_is_not_a_500(
    rapp: Flask, report_id: int, login: Login, value: object
) -> None:
    ann = login("ann@riverbend.example.org")
    page = f"/reports/{report_id}"
    token = _token(ann.get(page).get_data(as_text=True))
    response = ann.client.post(f"{page}/notes", json={"note": value}, headers={"X-CSRFToken": token})
    assert response.status_code in (302, 400), response.status_code


def test_an_account_created_with_a_file_for_its_email_is_not_a_500(rapp: Flask, login: Login) -> None:
    root = login("root@riverbend.example.org", "admin", ("riverbend_sd",))
    token = _token(root.get("/admin/users").get_data(as_text=True))
    response = root.client.post(
        "/admin/users",
        data={
            "csrf_token": token,
            "email": (io.BytesIO(b"x@riverbend.example.org"), "e.txt"),
            "role": "investigator",
            "agencies": "riverbend_sd",
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 400, response.status_code


@pytest.mark.parametrize("missing", ["email", "role"])
def test_an_account_created_without_a_field_is_a_400_on_that_field(rapp: Flask, login: Login, missing: str) -> None:
    # Before issue 9 the view read request.form.get("email", ""); the form's field is None.
    root = login("root@riverbend.example.org", "admin", ("riverbend_sd",))
    token = _token(root.get("/admin/users").get_data(as_text=True))
    data = {
        "csrf_token": token,
        "email": "new@riverbend.example.org",
        "role": "investigator",
        "agencies": "riverbend_sd",
    }
    del data[missing]
    response = root.client.post("/admin/users", data=data)
    assert response.status_code == 400, response.status_code
    assert 'aria-invalid="true"' in response.get_data(as_text=True)
