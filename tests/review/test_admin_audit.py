"""Administrators search the audit log and export it; the export is itself audited."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime

from flask import Flask

from hotline.review.admin import _cell
from tests.review.conftest import Login, add_report, audit_entries


def test_search_by_user_action_and_date(rapp: Flask, login: Login) -> None:
    report = add_report(rapp, ["riverbend_sd"])
    ann = login("ann@riverbend.example.org")
    ann.get(f"/reports/{report}")
    ann.get("/reports/999999")
    root = login("root@riverbend.example.org", "admin", ("riverbend_sd",))

    def rows(query: str) -> list[tuple[str, str]]:
        html = root.get(f"/admin/audit?{query}").get_data(as_text=True)
        cells = re.findall(
            r'<tr class="audit-row">\s*<td>\d+</td>\s*<td>[^<]*</td>\s*<td>([^<]*)</td>\s*<td>([^<]*)</td>', html
        )
        return [(user, action) for user, action in cells]

    assert rows("action=report.view") == [("ann@riverbend.example.org", "report.view")]
    assert rows("action=report.") == [
        ("ann@riverbend.example.org", "report.denied"),
        ("ann@riverbend.example.org", "report.view"),
    ]
    assert {action for _, action in rows("user=ann@")} >= {"login.success", "report.view", "report.denied"}
    assert all(user.startswith("root@") for user, _ in rows("user=root"))
    assert rows("date_to=2000-01-01") == []
    assert rows("date_from=2000-01-01&action=report.view") == [("ann@riverbend.example.org", "report.view")]
    # Who touched this report: by id with its type, by reference, by id alone.
    reference = f"R-{datetime.now(UTC).year}-{report:05d}"
    for target in (f"report {report}", f"report+{report}", reference):
        assert rows(f"target={target}") == [("ann@riverbend.example.org", "report.view")], target
    assert rows("target=999999") == [("ann@riverbend.example.org", "report.denied")]
    assert rows(f"target=note {report}") == []


def test_export_csv_and_jsonl_is_audited(rapp: Flask, login: Login) -> None:
    report = add_report(rapp, ["riverbend_sd"])
    ann = login("ann@riverbend.example.org")
    ann.get(f"/reports/{report}")
    root = login("root@riverbend.example.org", "admin", ("riverbend_sd",))
    page = root.get("/admin/audit?action=report.view").get_data(as_text=True)
    assert 'id="export-csv"' in page and 'id="export-jsonl"' in page

    response = root.get("/admin/audit/export?format=csv&action=report.view")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="audit-')
    assert response.headers["Cache-Control"] == "no-store"
    table = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [(r["action"], r["user_email"], r["target_id"]) for r in table] == [
        ("report.view", "ann@riverbend.example.org", str(report))
    ]
    assert len(table[0]["hash"]) == 64

    response = root.get("/admin/audit/export?format=jsonl")
    assert response.mimetype == "application/x-ndjson"
    lines = [json.loads(line) for line in response.get_data(as_text=True).splitlines()]
    assert [e["seq"] for e in lines] == list(range(1, len(lines) + 1))
    assert "report.view" in {e["action"] for e in lines}

    exports = audit_entries(rapp, "audit.exported")
    assert [e.detail for e in exports] == [
        {"format": "csv", "filters": {"action": "report.view"}},
        {"format": "jsonl", "filters": {}},
    ]
    assert all(e.user_email == "root@riverbend.example.org" for e in exports)
    # The chain is still intact after everything the review app appended.
    verify = rapp.test_cli_runner().invoke(args=["audit", "verify"])
    assert verify.exit_code == 0, verify.output


def test_spreadsheet_formulas_are_neutralised_in_csv(rapp: Flask, login: Login) -> None:
    root = login("root@riverbend.example.org", "admin", ("riverbend_sd",))
    # A failed sign-in logs the address that was tried: input from anyone on the internet.
    client = rapp.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    client.post("/login", data={"email": "=cmd@x.org", "password": "x", "csrf_token": token.group(1)})
    body = root.get("/admin/audit/export?format=csv&action=login.failed").get_data(as_text=True)
    cells = [cell for row in csv.reader(io.StringIO(body)) for cell in row]
    assert any("=cmd@x.org" in cell for cell in cells)
    assert not any(cell[:1] in ("=", "+", "-", "@") for cell in cells)
    assert _cell("=HYPERLINK(1)") == "'=HYPERLINK(1)" and _cell("-1") == "'-1" and _cell(7) == 7
