"""Outside attack on linking (moved by issue 9 into hotline.reports.links): a reference out
of reach written in another script's digits is refused and audited under the report's id as
an audit search finds it, not under the digits as typed."""

from __future__ import annotations

import pytest
from flask import Flask

from hotline.extensions import db
from hotline.models import Report
from tests.review.conftest import Login, add_report, audit_entries


def _digits(number: int, zero: str) -> str:
    return "".join(chr(ord(zero) + int(d)) for d in str(number))


@pytest.mark.parametrize("zero", ["\u0660", "\uff10", "\u0966"])  # Arabic-Indic, fullwidth, Devanagari
def test_a_reference_out_of_reach_in_other_digits_is_audited_by_id(
    rapp: Flask, report_id: int, login: Login, zero: str
) -> None:
    ann = login("ann@riverbend.example.org")
    theirs = add_report(rapp, ["south_county_sd"])
    with rapp.app_context():
        report = db.session.get(Report, theirs)
        assert report is not None
        year = report.created_at.year
    page = f"/reports/{report_id}"
    for typed in (_digits(theirs, zero), f"R-{year}-{zero * 3}{_digits(theirs, zero)}"):
        got = ann.post(f"{page}/links", {"reference": typed}, form_page=page)
        assert got.status_code == 302
    denied = audit_entries(rapp, "report.denied")
    assert [(e.target_id, e.detail["reason"]) for e in denied] == [(str(theirs), "link_target")] * 2
