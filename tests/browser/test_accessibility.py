"""WCAG 2.1 AA on every page of the review app, checked with axe-core in a real browser, in
the light and the dark colour scheme: signed out, signing in, as investigator, dispatcher and
administrator, forms showing their errors, and the 403, 404 and 500 pages. Keyboard focus
rings are measured too (axe does not), and the queue's 30-second refresh can be paused."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from hotline.auth.models import User
from hotline.extensions import db
from hotline.review.models import Note
from tests.browser.axe import Audit
from tests.browser.conftest import Account, Site, create_user
from tests.browser.test_review_flow import CRITICAL_CLIP, sign_in
from tests.conftest import SAFE_SCHOOLS
from tests.review.conftest import add_report
from tests.voice.driver import VoiceCall

pytest.importorskip("axe_playwright_python", reason="axe-playwright-python is not installed (requirements-dev.txt)")


def taken_call(site: Site) -> None:
    """A call transferred to a dispatcher who took it: the console offers a note box for it."""
    call = VoiceCall(site.twilio, SAFE_SCHOOLS, media_base=site.fake_twilio.base_url)  # type: ignore[arg-type]
    call.start()
    call.press("1")
    call.press("0")
    call.dial_result("completed")
    call.hang_up()


def user_id(site: Site, email: str) -> int:
    with site.app.app_context():
        found = db.session.scalar(select(User.id).where(User.email == email))
        assert found is not None
        return found


def password_step(page: Page, site: Site, email: str, password: str) -> None:
    page.goto(site.url + "/login")
    page.fill("#email", email)
    page.fill("#password", password)
    page.get_by_role("button", name="Continue").click()


def submit_code(page: Page, code: str) -> None:
    page.fill("#code", code)
    page.locator("form:has(#code) button[type=submit]").click()


@pytest.fixture
def fault(site: Site) -> Iterator[None]:
    """The account page's view fails, for the 500 page; put back afterwards."""

    def boom() -> str:
        raise RuntimeError("a fault inside a view")

    view = site.app.view_functions["auth.home"]
    site.app.view_functions["auth.home"] = boom
    yield
    site.app.view_functions["auth.home"] = view


def test_every_page_meets_wcag_21_aa(site: Site, new_browser: Any, fault: None) -> None:
    audit = Audit()
    call = site.place_call(CRITICAL_CLIP, topic="1")
    taken_call(site)
    taken_call(site)
    site.run_jobs()
    report = site.report_of(call)
    add_report(site.app, ["safe_schools_unit"], urgency="high")
    add_report(site.app, ["safe_schools_unit"], urgency="normal", due_in=-timedelta(hours=2))  # overdue
    ivy = create_user(site.app, "ivy@schools.example.org", "safe_schools_unit")
    dan = create_user(site.app, "dan@dispatch.example.org", "dispatch", role="dispatcher")
    root = create_user(site.app, "root@schools.example.org", "safe_schools_unit", role="admin")

    # --- Signed out: sign-in, its error, a missing page.
    page = new_browser().new_page()
    page.goto(site.url + "/no/such/page")
    audit.check(page, "404 signed out")
    page.goto(site.url + "/login")
    audit.check(page, "sign-in")
    audit.check_focus(page, "sign-in")
    page.fill("#email", "nobody@schools.example.org")
    page.evaluate("document.querySelector('input[name=csrf_token]').value = 'stale'")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Form expired")).to_be_visible()
    audit.check(page, "form expired")
    password_step(page, site, "nobody@schools.example.org", "not the password")
    expect(page.locator("#email")).to_have_attribute("aria-invalid", "true")
    audit.check(page, "sign-in error")

    # --- First sign-in: enrolment, a wrong code, then in.
    password_step(page, site, ivy.email, ivy.password)
    expect(page).to_have_url(re.compile(r"/enrol$"))
    audit.check(page, "enrol")
    submit_code(page, "000000")
    expect(page.locator("#code")).to_have_attribute("aria-invalid", "true")
    audit.check(page, "enrol error")
    submit_code(page, ivy.code())
    expect(page).to_have_url(re.compile(r"/queue$"))

    # --- The investigator's pages.
    expect(page.locator("tr.report-row.overdue")).to_have_count(1)
    audit.check(page, "queue")
    audit.check_focus(page, "queue")
    page.get_by_role("button", name="Pause automatic updates").click()
    expect(page.locator("#refresh-state")).to_contain_text("paused")
    audit.check(page, "queue paused")
    page.goto(site.url + "/queue?status=all&urgency=critical")
    audit.check(page, "queue filtered")
    page.goto(f"{site.url}/reports/{report.id}")
    expect(page.locator("audio.recording")).to_have_count(1)
    audit.check(page, "report")
    audit.check_focus(page, "report", stops=60)
    page.fill("#note", "Called the school back.")
    page.locator("form#note-form button").click()
    expect(page.locator("p.notice")).to_be_visible()
    audit.check(page, "report with a note")
    page.fill("#reference", "R-1999-00001")
    page.locator("form#link-form button").click()
    audit.check(page, "report after a refused link")
    with site.app.app_context():
        note_id = db.session.scalar(select(Note.id).where(Note.report_id == report.id))
    page.goto(f"{site.url}/reports/{report.id}/notes/{note_id}")
    audit.check(page, "note")
    page.goto(site.url + "/home")
    assert page.goto(site.url + "/dispatch").status == 403  # type: ignore[union-attr]
    audit.check(page, "403")
    assert page.goto(site.url + "/reports/999999").status == 404  # type: ignore[union-attr]
    audit.check(page, "404")
    page.get_by_role("button", name="Sign out").click()

    # --- Signing in again: the code step and its error.
    password_step(page, site, ivy.email, ivy.password)
    expect(page).to_have_url(re.compile(r"/login/totp$"))
    audit.check(page, "totp")
    submit_code(page, "000000")
    expect(page.locator("#code")).to_have_attribute("aria-invalid", "true")
    audit.check(page, "totp error")

    # --- The dispatcher's console, two taken calls with a note box each.
    console = new_browser().new_page()
    sign_in(console, site, dan)
    console.goto(site.url + "/dispatch")
    expect(console.locator("textarea[name=note]")).to_have_count(2)
    audit.check(console, "dispatch")
    audit.check_focus(console, "dispatch")

    # --- The administrator's pages.
    admin = new_browser().new_page()
    sign_in(admin, site, root)
    admin.goto(site.url + "/admin/users")
    audit.check(admin, "users")
    audit.check_focus(admin, "users")
    admin.fill("#new-email", "another@schools.example.org")
    admin.get_by_role("button", name="Create account").click()  # no agency ticked
    expect(admin.locator("#create-user input[name=agencies]").first).to_have_attribute("aria-invalid", "true")
    audit.check(admin, "users error (agencies)")
    admin.fill("#new-email", ivy.email)  # taken already
    admin.locator("#create-user input[name=agencies]").first.check()
    admin.get_by_role("button", name="Create account").click()
    expect(admin.locator("#new-email")).to_have_attribute("aria-invalid", "true")
    expect(admin.locator("#new-email")).to_have_attribute("aria-describedby", "form-error")
    expect(admin.locator("#form-error")).to_contain_text("already exists")
    audit.check(admin, "users error (email)")
    admin.fill("#new-email", "new@schools.example.org")
    admin.locator("#create-user input[name=agencies]").first.check()
    admin.get_by_role("button", name="Create account").click()
    expect(admin.locator("#new-password")).to_be_visible()
    audit.check(admin, "user created")
    ivy_page = f"{site.url}/admin/users/{user_id(site, ivy.email)}"
    admin.goto(ivy_page)
    audit.check(admin, "user")
    for box in admin.locator("#edit-user input[name=agencies]").all():
        box.uncheck()
    admin.locator("#edit-user").get_by_role("button", name="Save").click()
    expect(admin.locator("#edit-user input[name=agencies]").first).to_have_attribute("aria-invalid", "true")
    audit.check(admin, "user error")
    admin.goto(ivy_page)
    admin.get_by_role("button", name="Reset password").click()
    expect(admin.locator("#new-password")).to_be_visible()
    audit.check(admin, "new password")
    admin.goto(f"{site.url}/admin/users/{user_id(site, root.email)}")
    audit.check(admin, "own account")
    admin.goto(site.url + "/admin/audit")
    audit.check(admin, "audit log")
    admin.goto(site.url + "/admin/audit?action=report.&user=ivy")
    audit.check(admin, "audit log filtered")
    admin.goto(site.url + "/admin/agencies")
    audit.check(admin, "agencies")
    assert admin.goto(site.url + "/home").status == 500  # type: ignore[union-attr]
    audit.check(admin, "500")

    assert len(audit.pages) >= 28, audit.pages
    assert not audit.found, audit.report()


def test_the_queue_refresh_can_be_paused_and_resumed_from_the_keyboard(site: Site, new_browser: Any) -> None:
    add_report(site.app, ["riverbend_sd"], urgency="normal")
    ann: Account = create_user(site.app, "ann@riverbend.example.org", "riverbend_sd")
    page = new_browser().new_page()
    sign_in(page, site, ann)
    rows = page.locator("table#queue tr.report-row")
    expect(rows).to_have_count(1)
    toggle = page.locator("#refresh-toggle")
    status = page.locator("#refresh-state")
    expect(toggle).to_be_visible()
    expect(status).to_have_attribute("role", "status")  # changes are announced

    # Paused with the keyboard: a new report does not appear when the page would refresh.
    toggle.focus()
    page.keyboard.press("Enter")
    expect(toggle).to_have_text("Resume automatic updates")
    expect(status).to_contain_text("paused")
    add_report(site.app, ["riverbend_sd"], urgency="critical")
    page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
    page.wait_for_timeout(500)
    expect(rows).to_have_count(1)

    # The pause holds for this tab when the page is loaded again.
    page.reload()
    expect(page.locator("#refresh-toggle")).to_have_text("Resume automatic updates")
    expect(rows).to_have_count(2)  # a reload always shows what is there

    # Resumed with the space bar: updates come again, at once.
    add_report(site.app, ["riverbend_sd"], urgency="high")
    page.locator("#refresh-toggle").focus()
    page.keyboard.press(" ")
    expect(page.locator("#refresh-toggle")).to_have_text("Pause automatic updates")
    expect(page.locator("#refresh-state")).to_contain_text("every 30 seconds")
    expect(rows).to_have_count(3)
