"""Administrators manage accounts on the web and see the configured agencies; nobody else can."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from hotline.auth.models import AuditEntry, User
from hotline.extensions import db, runtime
from hotline.review.users import contact_channels, wait_text
from hotline.settings import Contact
from tests.auth.conftest import Account, Clock, password_step, sign_in, submit
from tests.review.conftest import Browser, Login, add_report, audit_entries

ADMIN = "root@riverbend.example.org"
ANN = "ann@riverbend.example.org"
# The enrolment page shows the secret in groups of four.
SECRET = re.compile(r'<code class="secret">([A-Z2-7 ]+)</code>')


@dataclass
class Row:
    attrs: dict[str, str]
    cells: list[str] = field(default_factory=list)


class Page(HTMLParser):
    """What the tests read off a page: text by element id, notices, table rows, form inputs."""

    VOID = frozenset({"input", "br", "img", "meta", "link", "hr", "source", "col", "wbr"})

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.text: dict[str, str] = {}
        self.notices: list[str] = []
        self.inputs: list[dict[str, str]] = []
        self.tables: dict[str, list[Row]] = {}
        self._stack: list[tuple[str, dict[str, str], list[str]]] = []
        self._table: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "input":
            self.inputs.append(a)
        if tag in self.VOID:
            return
        if tag == "table":
            self._table.append(a.get("id", ""))
        if tag == "tr" and self._table:
            self.tables.setdefault(self._table[-1], []).append(Row(a))
        self._stack.append((tag, a, []))

    def handle_data(self, data: str) -> None:
        for _, _, buffer in self._stack:
            buffer.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.VOID:
            return
        while self._stack:
            open_tag, a, buffer = self._stack.pop()
            text = " ".join("".join(buffer).split())
            if a.get("id"):
                self.text[a["id"]] = text
            if "notice" in a.get("class", "").split():
                self.notices.append(text)
            if open_tag in ("td", "th") and self._table and self.tables.get(self._table[-1]):
                self.tables[self._table[-1]][-1].cells.append(text)
            if open_tag == "table" and self._table:
                self._table.pop()
            if open_tag == tag:
                break

    def rows(self, table: str, row_class: str) -> list[Row]:
        return [r for r in self.tables.get(table, []) if row_class in r.attrs.get("class", "").split()]

    def checked(self, name: str) -> list[str]:
        return [i["value"] for i in self.inputs if i.get("name") == name and "checked" in i]


def page(response: TestResponse) -> Page:
    return Page(response.get_data(as_text=True))


def post(
    browser: Browser, path: str, data: dict[str, str | list[str]], form_page: str = "/admin/users"
) -> TestResponse:
    """Submit a form (lists become repeated fields, as checkboxes send them) with its CSRF token."""
    return browser.client.post(path, data={**data, "csrf_token": browser.token(form_page)})


def row(app: Flask, email: str) -> User:
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == email))
        assert user is not None
        db.session.expunge(user)
        return user


def by_admin(app: Flask, action: str) -> list[AuditEntry]:
    """Entries the administrator wrote on the web (the fixtures' `flask users create` log theirs too)."""
    return [e for e in audit_entries(app, action) if e.user_email == ADMIN]


def user_count(app: Flask) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count()).select_from(User)) or 0)


def signed_out(browser: Browser) -> bool:
    response = browser.get("/queue")
    return response.status_code == 302 and "/login" in response.headers["Location"]


def fresh_sign_in(app: Flask, account: Account, clock: Clock) -> Browser:
    client = app.test_client()
    done = sign_in(client, account, clock)
    assert done.status_code == 302 and done.headers["Location"] == "/queue", done.get_data(as_text=True)
    return Browser(client, account)


def test_admin_lists_accounts(rapp: Flask, login: Login) -> None:
    ann = login(ANN, "investigator", ("riverbend_sd", "precinct_2_central"))
    root = login(ADMIN, "admin", ("riverbend_sd", "precinct_2_central"))
    response = root.get("/admin/users")
    assert response.status_code == 200
    listing = page(response)
    rows = {r.cells[0]: r.cells for r in listing.rows("users", "user-row")}
    assert list(rows) == [ANN, ADMIN]  # ordered by email
    _email, role, agencies, totp, disabled, created = rows[ANN]
    assert role == "investigator"
    assert agencies == "2nd Precinct - Central County; Riverbend School District"
    assert totp == "Enrolled" and disabled == ""
    assert created.endswith(" UTC")
    assert rows[ADMIN][1:5] == ["admin", "2nd Precinct - Central County; Riverbend School District", "Enrolled", ""]
    # The create form offers the administrator's own agencies, in configuration order.
    boxes = [i["value"] for i in listing.inputs if i.get("name") == "agencies"]
    assert boxes == [
        a.id for a in runtime.get(rapp).settings.agencies if a.id in ("riverbend_sd", "precinct_2_central")
    ]
    assert ann.account.password not in response.get_data(as_text=True)
    nav = response.get_data(as_text=True)
    assert 'href="/admin/users" aria-current="page">Users</a>' in nav and 'href="/admin/agencies"' in nav


def test_create_shows_credentials_once_and_the_user_can_sign_in(rapp: Flask, login: Login, clock: Clock) -> None:
    root = login(ADMIN, "admin", ("riverbend_sd", "safe_schools_unit"))
    response = post(
        root,
        "/admin/users",
        {
            "email": " New.Person@Example.org ",
            "role": "investigator",
            "agencies": ["safe_schools_unit", "riverbend_sd"],
        },
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    shown = page(response)
    password, secret, uri = shown.text["new-password"], shown.text["new-secret"], shown.text["new-uri"]
    parsed = pyotp.parse_uri(uri)
    assert isinstance(parsed, pyotp.TOTP) and parsed.secret == secret and parsed.name == "new.person@example.org"
    assert "new.person@example.org" in shown.text["created-summary"]

    user = row(rapp, "new.person@example.org")
    assert user.role == "investigator" and user.agencies == ["riverbend_sd", "safe_schools_unit"]
    assert user.totp_enrolled_at is None and password not in user.password_hash and secret not in user.totp_secret
    [created] = by_admin(rapp, "user.created")
    assert created.user_email == ADMIN and created.target_type == "user" and created.target_id == str(user.id)
    assert created.detail == {
        "email": "new.person@example.org",
        "role": "investigator",
        "agencies": ["riverbend_sd", "safe_schools_unit"],
    }
    assert password not in json.dumps(created.detail) and secret not in json.dumps(created.detail)

    # Shown once: the list page never repeats them.
    assert password not in root.get("/admin/users").get_data(as_text=True)

    newcomer = fresh_sign_in(rapp, Account("new.person@example.org", password, secret), clock)
    assert newcomer.get("/queue").status_code == 200
    assert row(rapp, "new.person@example.org").totp_enrolled_at is not None


@pytest.mark.parametrize(
    ("email", "role", "agencies", "message"),
    [
        ("not-an-email", "investigator", ["riverbend_sd"], "Not an email address"),
        ("x@example.org", "janitor", ["riverbend_sd"], "Unknown role 'janitor'"),
        ("x@example.org", "investigator", ["riverbend_sd", "no_such_agency"], "Unknown agency id(s) no_such_agency"),
        ("x@example.org", "investigator", [], "Tick at least one agency."),
        ("Ann@Riverbend.Example.org", "dispatcher", ["riverbend_sd"], f"A user with email {ANN} already exists."),
    ],
)
def test_bad_input_is_refused_and_creates_nothing(
    rapp: Flask, login: Login, email: str, role: str, agencies: list[str], message: str
) -> None:
    login(ANN)
    root = login(ADMIN, "admin", ("riverbend_sd",))
    before = user_count(rapp)
    response = post(root, "/admin/users", {"email": email, "role": role, "agencies": agencies})
    assert response.status_code == 400
    shown = page(response)
    assert shown.text["form-error"].startswith(message), shown.text["form-error"]
    # The form comes back with what was typed, so nothing has to be entered twice.
    assert next(i for i in shown.inputs if i.get("name") == "email")["value"] == email.strip()
    assert shown.checked("agencies") == [a for a in agencies if a != "no_such_agency"]
    assert "new-password" not in shown.text
    assert user_count(rapp) == before
    assert by_admin(rapp, "user.created") == []
    assert row(rapp, ANN).role == "investigator"


def test_disable_ends_the_users_session_and_enable_lets_them_back(rapp: Flask, login: Login, clock: Clock) -> None:
    ann = login(ANN)
    root = login(ADMIN, "admin", ("riverbend_sd",))
    ann_id = row(rapp, ANN).id
    before = row(rapp, ANN).session_generation
    done = post(root, f"/admin/users/{ann_id}/disable", {})
    assert done.status_code == 302 and done.headers["Location"] == f"/admin/users/{ann_id}"
    shown = page(root.get(done.headers["Location"]))
    assert shown.text["fact-state"] == "Disabled"
    assert any("Disabled ann@" in n for n in shown.notices)
    assert "enable-form" in shown.text and "disable-form" not in shown.text
    assert row(rapp, ANN).disabled and row(rapp, ANN).session_generation == before + 1
    assert signed_out(ann)
    refused = password_step(rapp.test_client(), ann.account)
    assert refused.status_code == 200 and "incorrect" in refused.get_data(as_text=True)
    listing = page(root.get("/admin/users"))
    [ann_listed] = [r for r in listing.rows("users", "user-row") if r.cells[0] == ANN]
    assert ann_listed.cells[4] == "Disabled" and "disabled-row" in ann_listed.attrs["class"]

    # Disabling twice changes (and logs) nothing more.
    post(root, f"/admin/users/{ann_id}/disable", {})
    assert len(audit_entries(rapp, "user.disabled")) == 1

    post(root, f"/admin/users/{ann_id}/enable", {})
    assert not row(rapp, ANN).disabled
    fresh_sign_in(rapp, ann.account, clock)
    entries = [
        (e.action, e.user_email, e.target_id, e.detail) for e in audit_entries(rapp) if e.action.startswith("user.")
    ]
    assert entries[-2:] == [
        ("user.disabled", ADMIN, str(ann_id), {"email": ANN}),
        ("user.enabled", ADMIN, str(ann_id), {"email": ANN}),
    ]


def test_reset_password_shows_the_new_one_once(rapp: Flask, login: Login, clock: Clock) -> None:
    ann = login(ANN)
    root = login(ADMIN, "admin", ("riverbend_sd",))
    ann_id = row(rapp, ANN).id
    response = post(root, f"/admin/users/{ann_id}/reset-password", {}, form_page=f"/admin/users/{ann_id}")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    password = page(response).text["new-password"]
    assert password and password != ann.account.password
    assert signed_out(ann)
    old = password_step(rapp.test_client(), ann.account)
    assert "incorrect" in old.get_data(as_text=True)
    fresh_sign_in(rapp, Account(ANN, password, ann.account.secret), clock)
    [reset] = audit_entries(rapp, "user.password_reset")
    assert reset.user_email == ADMIN and reset.detail == {"email": ANN}


def test_reset_totp_makes_the_user_enrol_again(rapp: Flask, login: Login, clock: Clock) -> None:
    ann = login(ANN)
    root = login(ADMIN, "admin", ("riverbend_sd",))
    ann_id = row(rapp, ANN).id
    done = post(root, f"/admin/users/{ann_id}/reset-totp", {}, form_page=f"/admin/users/{ann_id}")
    assert done.status_code == 302
    shown = page(root.get(done.headers["Location"]))
    assert shown.text["fact-totp"].startswith("Not enrolled")
    assert row(rapp, ANN).totp_enrolled_at is None
    assert signed_out(ann)
    # The password still works; the authenticator has to be set up anew, with a new secret.
    client = rapp.test_client()
    first = password_step(client, ann.account)
    assert first.headers["Location"] == "/enrol"
    found = SECRET.search(client.get("/enrol").get_data(as_text=True))
    assert found
    secret = found.group(1).replace(" ", "")
    assert secret != ann.account.secret
    # Only the user sees the new secret, on their enrolment page; the administrator never does.
    assert secret not in root.get(f"/admin/users/{ann_id}").get_data(as_text=True)
    clock.next_step()
    assert submit(client, "/enrol", {"code": pyotp.TOTP(secret).at(clock())}).headers["Location"] == "/queue"
    [reset] = audit_entries(rapp, "user.totp_reset")
    assert reset.user_email == ADMIN and reset.detail == {"email": ANN}


def test_unlock_forgets_failed_sign_ins(rapp: Flask, login: Login, clock: Clock) -> None:
    ann = login(ANN)
    root = login(ADMIN, "admin", ("riverbend_sd",))
    ann_id = row(rapp, ANN).id
    for address in ("203.0.113.8", "203.0.113.9"):
        stranger = rapp.test_client()
        stranger.environ_base["REMOTE_ADDR"] = address
        for _ in range(5):
            password_step(stranger, ann.account, password="wrong-password")
    shown = page(root.get(f"/admin/users/{ann_id}"))
    assert shown.text["fact-failed"] == "10 from 2 clients"
    assert shown.text["fact-locked"].startswith("For some clients")

    done = post(root, f"/admin/users/{ann_id}/unlock", {}, form_page=f"/admin/users/{ann_id}")
    shown = page(root.get(done.headers["Location"]))
    assert shown.text["fact-locked"] == "No" and shown.text["fact-failed"] == "0"
    [unlocked] = audit_entries(rapp, "user.unlocked")
    assert unlocked.user_email == ADMIN and unlocked.detail == {"email": ANN, "failed_attempts": 10}
    # Unlocking does not end sessions, and the user can sign in straight away from anywhere.
    assert not signed_out(ann)
    fresh_sign_in(rapp, ann.account, clock)

    again = post(root, f"/admin/users/{ann_id}/unlock", {}, form_page=f"/admin/users/{ann_id}")
    assert any("no failed sign-in attempts" in n for n in page(root.get(again.headers["Location"])).notices)
    assert len(audit_entries(rapp, "user.unlocked")) == 1


def test_editing_agencies_changes_what_the_user_sees(rapp: Flask, login: Login, clock: Clock) -> None:
    riverbend = add_report(rapp, ["riverbend_sd"])
    south = add_report(rapp, ["south_county_sd"])
    ann = login(ANN)
    root = login(ADMIN, "admin", ("riverbend_sd", "south_county_sd", "precinct_4_south"))
    ann_id = row(rapp, ANN).id
    queue = ann.get("/queue").get_data(as_text=True)
    assert f'data-report-id="{riverbend}"' in queue and f'data-report-id="{south}"' not in queue

    edit = page(root.get(f"/admin/users/{ann_id}"))
    assert edit.checked("agencies") == ["riverbend_sd"]
    done = post(
        root,
        f"/admin/users/{ann_id}",
        {"role": "investigator", "agencies": ["south_county_sd", "precinct_4_south"]},
        form_page=f"/admin/users/{ann_id}",
    )
    assert done.status_code == 302
    assert row(rapp, ANN).agencies == ["precinct_4_south", "south_county_sd"]
    # The old session, opened with the old rights, is over.
    assert signed_out(ann)
    ann = fresh_sign_in(rapp, ann.account, clock)
    queue = ann.get("/queue").get_data(as_text=True)
    assert f'data-report-id="{south}"' in queue and f'data-report-id="{riverbend}"' not in queue
    assert ann.get(f"/reports/{riverbend}").status_code == 404

    post(root, f"/admin/users/{ann_id}", {"role": "dispatcher", "agencies": ["south_county_sd", "precinct_4_south"]})
    assert row(rapp, ANN).role == "dispatcher"
    # Nothing new: nothing logged.
    post(root, f"/admin/users/{ann_id}", {"role": "dispatcher", "agencies": ["south_county_sd", "precinct_4_south"]})
    assert [e.detail for e in audit_entries(rapp, "user.updated")] == [
        {"email": ANN, "agencies": {"added": ["precinct_4_south", "south_county_sd"], "removed": ["riverbend_sd"]}},
        {"email": ANN, "role": {"from": "investigator", "to": "dispatcher"}},
    ]

    refused = post(root, f"/admin/users/{ann_id}", {"role": "dispatcher", "agencies": []})
    assert refused.status_code == 400 and page(refused).text["form-error"] == "Tick at least one agency."
    refused = post(root, f"/admin/users/{ann_id}", {"role": "dispatcher", "agencies": ["nope"]})
    assert refused.status_code == 400 and "Unknown agency id(s) nope" in page(refused).text["form-error"]
    assert row(rapp, ANN).agencies == ["precinct_4_south", "south_county_sd"]


def test_an_admin_cannot_disable_or_demote_themselves(rapp: Flask, login: Login) -> None:
    root = login(ADMIN, "admin", ("riverbend_sd",))
    own = row(rapp, ADMIN)
    done = post(root, f"/admin/users/{own.id}/disable", {})
    shown = page(root.get(done.headers["Location"]))
    assert any("cannot disable your own account" in n for n in shown.notices)
    refused = post(root, f"/admin/users/{own.id}", {"role": "investigator", "agencies": ["riverbend_sd"]})
    assert refused.status_code == 400
    assert page(refused).text["form-error"].startswith("You cannot change your own role")
    after = row(rapp, ADMIN)
    assert not after.disabled and after.role == "admin" and after.session_generation == own.session_generation
    assert audit_entries(rapp, "user.disabled") == [] and audit_entries(rapp, "user.updated") == []

    # Nor widen what they can read: their own agencies are another administrator's call.
    widened = post(root, f"/admin/users/{own.id}", {"role": "admin", "agencies": ["riverbend_sd", "prea_unit"]})
    assert widened.status_code == 400
    assert page(widened).text["form-error"].startswith("You cannot change your own agencies")
    assert row(rapp, ADMIN).agencies == ["riverbend_sd"]
    assert audit_entries(rapp, "user.updated") == []
    assert root.get("/admin/users").status_code == 200


def test_non_admins_get_404_everywhere_and_it_is_audited(rapp: Flask, login: Login) -> None:
    root = login(ADMIN, "admin", ("riverbend_sd",))
    root_id = row(rapp, ADMIN).id
    form: dict[str, str] = {"email": "sneaky@example.org", "role": "admin", "agencies": "riverbend_sd"}
    routes: list[tuple[str, str, dict[str, str]]] = [
        ("GET", "/admin/users", {}),
        ("POST", "/admin/users", form),
        ("GET", f"/admin/users/{root_id}", {}),
        ("POST", f"/admin/users/{root_id}", {"role": "investigator", "agencies": "riverbend_sd"}),
        ("POST", f"/admin/users/{root_id}/disable", {}),
        ("POST", f"/admin/users/{root_id}/enable", {}),
        ("POST", f"/admin/users/{root_id}/reset-password", {}),
        ("POST", f"/admin/users/{root_id}/reset-totp", {}),
        ("POST", f"/admin/users/{root_id}/unlock", {}),
        ("POST", "/admin/users/999999/disable", {}),
        ("GET", "/admin/agencies", {}),
    ]
    for role in ("investigator", "dispatcher"):
        other = login(f"{role}@riverbend.example.org", role, ("riverbend_sd",))
        nav = other.get("/queue").get_data(as_text=True)
        assert "/admin/users" not in nav and "/admin/agencies" not in nav
        for method, path, data in routes:
            response = other.get(path) if method == "GET" else other.post(path, data)
            assert response.status_code == 404, (role, method, path, response.status_code)
            assert b"new-password" not in response.data
        denied = [d for d in audit_entries(rapp, "report.denied") if d.user_email == other.account.email]
        assert len(denied) == len(routes)
        assert all(d.detail["reason"] == "not_admin" and d.target_type == "admin_page" for d in denied)
        assert [d.detail["path"] for d in denied] == [path for _, path, _ in routes]
    after = row(rapp, ADMIN)
    assert after.role == "admin" and not after.disabled and after.totp_enrolled_at is not None
    assert user_count(rapp) == 3
    assert [e for e in audit_entries(rapp) if e.action.startswith("user.") and e.action != "user.created"] == []
    assert root.get("/admin/users").status_code == 200


def test_anonymous_visitors_are_sent_to_sign_in(rapp: Flask) -> None:
    client: FlaskClient = rapp.test_client()
    for path in ("/admin/users", "/admin/users/1", "/admin/agencies"):
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"], path


def test_forms_without_the_csrf_token_are_refused(rapp: Flask, login: Login) -> None:
    ann = login(ANN)
    root = login(ADMIN, "admin", ("riverbend_sd",))
    ann_id = row(rapp, ANN).id
    before = user_count(rapp)
    created = root.client.post("/admin/users", data={"email": "x@example.org", "role": "admin", "agencies": "dispatch"})
    assert created.status_code == 400 and "Form expired" in created.get_data(as_text=True)
    assert root.client.post(f"/admin/users/{ann_id}/disable").status_code == 400
    assert root.client.post(f"/admin/users/{ann_id}", data={"role": "admin", "agencies": "dispatch"}).status_code == 400
    assert user_count(rapp) == before
    user = row(rapp, ANN)
    assert not user.disabled and user.role == "investigator"
    assert not signed_out(ann)


def test_agencies_page_is_read_only_and_shows_no_secrets(rapp: Flask, login: Login) -> None:
    root = login(ADMIN, "admin", ("riverbend_sd",))
    settings = runtime.get(rapp).settings
    response = root.get("/admin/agencies")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    shown = Page(html)
    assert "HOTLINE_CONFIG" in shown.text["config-note"] and "restart" in shown.text["config-note"]
    agencies = {r.attrs["data-agency-id"]: r.cells for r in shown.rows("agencies", "agency-row")}
    assert list(agencies) == [a.id for a in settings.agencies]
    assert agencies["precinct_1_north"][:4] == ["precinct_1_north", "1st Precinct - North County", "police", "1"]
    assert "Desk sergeant (email p1@police.example.org, SMS +13146150101)" in agencies["precinct_1_north"][4]
    hotlines = {r.attrs["data-hotline-id"]: r.cells for r in shown.rows("hotlines", "hotline-row")}
    assert hotlines["prea"][2:5] == ["+13146155055", "prea.yaml", "Yes"]
    assert hotlines["safe_schools"][5] == "County police dispatch"
    rules = [r.cells for r in shown.rows("routing", "rule-row")]
    assert len(rules) == len(settings.routing)
    assert rules[0][1:] == ["safe_schools", "Every report", "Safe Schools unit (county police)"]
    assert rules[2][2] == "district is central_county"
    assert rules[5][2] == "category is drugs"
    for secret in (settings.secret_key, settings.twilio_auth_token, settings.audit_key):
        assert secret and secret not in html
    assert "<form" not in html.split("</header>", 1)[1]  # nothing to change here
    assert "<script" not in html and "style=" not in html
    assert 'href="/admin/agencies" aria-current="page"' in html


def test_contact_channels_and_deadlines_are_described_safely() -> None:
    hook = Contact(name="Ops", webhook="https://hooks.example.org/in/abc?token=s3cret")
    assert contact_channels(hook) == ["webhook to hooks.example.org"]
    assert wait_text(300) == "5 min" and wait_text(3600) == "1 h" and wait_text(86400) == "1 day"
    assert wait_text(172800) == "2 days" and wait_text(45) == "45 s"


def test_the_audit_chain_stays_intact(rapp: Flask, login: Login) -> None:
    root = login(ADMIN, "admin", ("riverbend_sd", "dispatch"))
    post(root, "/admin/users", {"email": "z@example.org", "role": "dispatcher", "agencies": ["dispatch"]})
    z = row(rapp, "z@example.org")
    for action in ("disable", "enable", "unlock", "reset-password", "reset-totp"):
        post(root, f"/admin/users/{z.id}/{action}", {})
    actions = [e.action for e in audit_entries(rapp) if e.action.startswith("user.")]
    assert actions[-5:] == ["user.created", "user.disabled", "user.enabled", "user.password_reset", "user.totp_reset"]
    verify = rapp.test_cli_runner().invoke(args=["audit", "verify"])
    assert verify.exit_code == 0, verify.output
