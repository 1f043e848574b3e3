"""An administrator manages only accounts within their own agencies, and gives only agencies
they hold: a school district's administrator can neither make, nor take over, an account of
the PREA unit. The audit log pages are scoped the same way."""

from __future__ import annotations

import json

from flask import Flask

from hotline.auth.models import User
from tests.auth.conftest import Account, Clock, create_account
from tests.review.conftest import Login, add_report, audit_entries
from tests.review.test_admin_users import fresh_sign_in, page, post, row, user_count

SCHOOL_ADMIN = "root@riverbend.example.org"
PREA_ADMIN = "chief@prea.example.org"
PAT = "pat@prea.example.org"
ANN = "ann@riverbend.example.org"


def _state(user: User) -> tuple[object, ...]:
    """Everything an administrator's action could change on an account."""
    return (
        user.role,
        user.agencies,
        user.disabled,
        user.password_hash,
        user.totp_secret,
        user.totp_enrolled_at,
        user.session_generation,
    )


def test_a_school_admin_cannot_touch_a_prea_unit_account(rapp: Flask, login: Login, clock: Clock) -> None:
    pat = create_account(rapp, PAT, "investigator", ("prea_unit",))
    # An account in both a school district and the PREA unit reads PREA reports too.
    both = create_account(rapp, "both@county.example.org", "investigator", ("riverbend_sd", "prea_unit"))
    root = login(SCHOOL_ADMIN, "admin", ("riverbend_sd", "precinct_2_central"))
    listed = [r.cells[0] for r in page(root.get("/admin/users")).rows("users", "user-row")]
    assert listed == [SCHOOL_ADMIN]
    before = {email: _state(row(rapp, email)) for email in (PAT, both.email)}
    for email in (PAT, both.email):
        uid = row(rapp, email).id
        attempts = [
            ("GET", f"/admin/users/{uid}", {}),
            ("POST", f"/admin/users/{uid}", {"role": "investigator", "agencies": ["riverbend_sd"]}),
            ("POST", f"/admin/users/{uid}/disable", {}),
            ("POST", f"/admin/users/{uid}/enable", {}),
            ("POST", f"/admin/users/{uid}/reset-password", {}),
            ("POST", f"/admin/users/{uid}/reset-totp", {}),
            ("POST", f"/admin/users/{uid}/unlock", {}),
        ]
        for method, path, data in attempts:
            response = root.get(path) if method == "GET" else post(root, path, data)
            assert response.status_code == 404, (path, response.status_code)
            assert b"new-password" not in response.data and email.encode() not in response.data
        denied = [d for d in audit_entries(rapp, "report.denied") if d.target_id == str(uid)]
        assert [(d.user_email, d.target_type, d.detail["reason"]) for d in denied] == [
            (SCHOOL_ADMIN, "user", "out_of_reach")
        ] * len(attempts)
    # Answered exactly like an account that does not exist, and audited as such.
    assert root.get("/admin/users/999999").status_code == 404
    assert audit_entries(rapp, "report.denied")[-1].detail["reason"] == "missing"
    assert {email: _state(row(rapp, email)) for email in (PAT, both.email)} == before
    assert not [e for e in audit_entries(rapp) if e.user_email == SCHOOL_ADMIN and e.action.startswith("user.")]
    # Pat still signs in with what Pat was given: nothing was reset.
    assert fresh_sign_in(rapp, pat, clock).get("/queue").status_code == 200


def test_a_school_admin_cannot_create_or_grant_prea_access(rapp: Flask, login: Login) -> None:
    prea = add_report(rapp, ["prea_unit", "dhs_outside"], hotline="prea")
    ann = login(ANN, "investigator", ("riverbend_sd",))
    root = login(SCHOOL_ADMIN, "admin", ("riverbend_sd",))
    ann_before = _state(row(rapp, ANN))
    count = user_count(rapp)
    # The attack: one POST making an account in the PREA unit.
    for agencies in (["prea_unit"], ["riverbend_sd", "dhs_outside"]):
        refused = post(root, "/admin/users", {"email": "mole@example.org", "role": "admin", "agencies": agencies})
        assert refused.status_code == 403
        assert page(refused).text["form-error"].startswith("Only an administrator of ")
        assert "new-password" not in page(refused).text
    assert user_count(rapp) == count
    # Nor give it to an account already within reach, or reach a police precinct through one.
    ann_id = str(row(rapp, ANN).id)
    for agencies in (["riverbend_sd", "prea_unit"], ["riverbend_sd", "precinct_2_central"]):
        refused = post(
            root, f"/admin/users/{ann_id}", {"role": "admin", "agencies": agencies}, form_page=f"/admin/users/{ann_id}"
        )
        assert refused.status_code == 403
    assert "not 2nd Precinct - Central County" in page(refused).text["form-error"]
    assert _state(row(rapp, ANN)) == ann_before
    denied = audit_entries(rapp, "user.denied")
    assert [(d.user_email, d.target_id, d.detail["agencies"]) for d in denied] == [
        (SCHOOL_ADMIN, None, ["prea_unit"]),
        (SCHOOL_ADMIN, None, ["dhs_outside"]),
        (SCHOOL_ADMIN, ann_id, ["prea_unit"]),
        (SCHOOL_ADMIN, ann_id, ["precinct_2_central"]),
    ]
    assert all(d.detail["reason"] == "agency_out_of_reach" for d in denied)
    # The forms offer only the administrator's own agencies.
    boxes = {i["value"] for i in page(root.get("/admin/users")).inputs if i.get("name") == "agencies"}
    assert boxes == {"riverbend_sd"}
    # And nobody on the school's side reads the PREA report.
    assert ann.get(f"/reports/{prea}").status_code == 404
    assert root.get(f"/reports/{prea}").status_code == 404


def test_an_admin_cannot_widen_their_own_reach(rapp: Flask, login: Login) -> None:
    root = login(SCHOOL_ADMIN, "admin", ("riverbend_sd",))
    me = row(rapp, SCHOOL_ADMIN)
    widened = post(root, f"/admin/users/{me.id}", {"role": "admin", "agencies": ["riverbend_sd", "prea_unit"]})
    assert widened.status_code == 400
    # A second admin account of their own making gets no more than they have.
    for agencies in (["prea_unit"], ["riverbend_sd", "precinct_1_north"]):
        made = post(root, "/admin/users", {"email": "me2@example.org", "role": "admin", "agencies": agencies})
        assert made.status_code == 403
    # A peer administrator with more agencies is out of reach too: no password reset to borrow them.
    peer = create_account(rapp, "peer@county.example.org", "admin", ("riverbend_sd", "precinct_1_north"))
    peer_before = _state(row(rapp, peer.email))
    peer_id = row(rapp, peer.email).id
    assert post(root, f"/admin/users/{peer_id}/reset-password", {}).status_code == 404
    assert row(rapp, SCHOOL_ADMIN).agencies == ["riverbend_sd"]
    assert _state(row(rapp, peer.email)) == peer_before


def test_a_prea_admin_creates_prea_unit_accounts(rapp: Flask, login: Login, clock: Clock) -> None:
    prea = add_report(rapp, ["prea_unit", "dhs_outside"], hotline="prea")
    chief = login(PREA_ADMIN, "admin", ("prea_unit",))
    made = post(chief, "/admin/users", {"email": PAT, "role": "investigator", "agencies": ["prea_unit"]})
    assert made.status_code == 200, made.get_data(as_text=True)
    shown = page(made)
    pat = fresh_sign_in(rapp, Account(PAT, shown.text["new-password"], shown.text["new-secret"]), clock)
    assert pat.get(f"/reports/{prea}").status_code == 200
    assert [r.cells[0] for r in page(chief.get("/admin/users")).rows("users", "user-row")] == [PREA_ADMIN, PAT]
    pat_id = row(rapp, PAT).id
    assert post(chief, f"/admin/users/{pat_id}/reset-totp", {}, form_page=f"/admin/users/{pat_id}").status_code == 302
    # The outside agency is not the PREA unit's to give.
    refused = post(
        chief, "/admin/users", {"email": "x@example.org", "role": "investigator", "agencies": ["dhs_outside"]}
    )
    assert refused.status_code == 403
    assert "Department of Human Services (outside agency)" in page(refused).text["form-error"]


def test_the_audit_log_shows_an_admin_only_their_agencies(rapp: Flask, login: Login) -> None:
    prea = add_report(rapp, ["prea_unit", "dhs_outside"], hotline="prea")
    school = add_report(rapp, ["riverbend_sd", "precinct_2_central"])
    pat = login(PAT, "investigator", ("prea_unit",))
    pat.get(f"/reports/{prea}")
    ann = login(ANN, "investigator", ("riverbend_sd",))
    ann.get(f"/reports/{school}")
    # Someone of two agencies, only one of them the school's: their look at the school's
    # report concerns the school's administrator; the rest of what they do does not.
    cop = login("cop@police.example.org", "investigator", ("riverbend_sd", "precinct_2_central"))
    cop.get(f"/reports/{school}")
    root = login(SCHOOL_ADMIN, "admin", ("riverbend_sd",))
    chief = login(PREA_ADMIN, "admin", ("prea_unit",))

    def seen(admin_email: str) -> list[dict[str, object]]:
        browser = root if admin_email == SCHOOL_ADMIN else chief
        response = browser.get("/admin/audit/export?format=jsonl")
        return [json.loads(line) for line in response.get_data(as_text=True).splitlines()]

    school_view = seen(SCHOOL_ADMIN)
    users = {e["user_email"] for e in school_view}
    assert PAT not in users and PREA_ADMIN not in users
    assert not [e for e in school_view if e["target_type"] == "report" and e["target_id"] == str(prea)]
    views = {(e["user_email"], e["target_id"]) for e in school_view if e["action"] == "report.view"}
    assert views == {(ANN, str(school)), ("cop@police.example.org", str(school))}
    assert ("cop@police.example.org", "login.success") not in {(e["user_email"], e["action"]) for e in school_view}
    html = root.get(f"/admin/audit?target=report {prea}").get_data(as_text=True)
    assert PAT not in html and 'class="audit-row"' not in html

    prea_view = seen(PREA_ADMIN)
    assert (PAT, str(prea)) in {(e["user_email"], e["target_id"]) for e in prea_view if e["action"] == "report.view"}
    assert ANN not in {e["user_email"] for e in prea_view}
