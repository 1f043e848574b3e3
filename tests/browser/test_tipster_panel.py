"""The report page's follow-up with the tipster in a real browser: WCAG 2.1 AA (axe-core, light
and dark) with the thread filled in every state, after writing a message, with a refused
message's error on its field, without a PIN, and for a web tip with its files."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from playwright.sync_api import expect

from hotline.models import utcnow
from tests.browser.axe import Audit
from tests.browser.conftest import Site, create_user, screenshot
from tests.browser.test_review_flow import sign_in
from tests.review.seed import (
    TINY_PDF,
    TINY_PNG,
    add_attachment,
    add_message,
    seed_report,
    seed_web_report,
    set_pin,
)

pytest.importorskip("axe_playwright_python", reason="axe-playwright-python is not installed (requirements-dev.txt)")


def test_the_tipster_panel_meets_wcag_21_aa(site: Site, new_browser: Any) -> None:
    audit = Audit()
    report_id = seed_report(site.app)
    no_pin = seed_report(site.app)
    set_pin(site.app, report_id)
    now = utcnow()
    add_message(site.app, report_id, "Was anyone hurt?", agency="safe_schools_unit", heard_at=now - timedelta(hours=2))
    reply = add_message(site.app, report_id, "Nobody.\nHe left at noon by car.", from_tipster=True)
    add_attachment(site.app, report_id, TINY_PNG, "image/png", message_id=reply)
    add_attachment(site.app, report_id, TINY_PDF, "application/pdf", message_id=reply, shredded=True)
    add_message(site.app, report_id, "¿Qué coche era?", language="es", agency="safe_schools_unit", read_at=now)
    web = seed_web_report(site.app, {"problem": "Pills sold behind the gym.", "where": "Gym door"})
    add_attachment(site.app, web, TINY_PNG, "image/png")
    add_attachment(site.app, web, TINY_PDF, "application/pdf", shredded=True)
    ivy = create_user(site.app, "ivy@schools.example.org", "safe_schools_unit")

    page = new_browser().new_page()
    sign_in(page, site, ivy)
    page.goto(f"{site.url}/reports/{report_id}")
    panel = page.locator("#tipster-messages")
    expect(panel.get_by_role("heading", name="Messages to the tipster")).to_be_visible()
    expect(panel.locator("li.thread-item")).to_have_count(3)
    expect(panel.locator("select[name=language]")).to_have_value("en")  # the report's language

    # Written the way another test drives it: the field names and the button's words.
    panel.get_by_label("Message to the tipster").fill("Thank you, we are on it.")
    panel.locator("select[name=language]").select_option("es")
    panel.get_by_role("button", name="Send to the tipster").click()
    expect(page).to_have_url(re.compile(rf"/reports/{report_id}#tipster-messages$"))
    expect(panel.locator("li.thread-item")).to_have_count(4)
    expect(panel.locator("li.thread-item").last).to_contain_text("Thank you, we are on it.")
    expect(panel.locator("li.thread-item").last).to_contain_text("Waiting")
    audit.check(page, "report with the tipster thread")
    audit.check_focus(page, "report with the tipster thread", stops=80)

    # Only spaces: the browser lets it through (required is met), the server refuses it.
    panel.locator("textarea[name=body]").fill("   ")
    panel.get_by_role("button", name="Send to the tipster").click()
    body = page.locator("#message-body")
    expect(body).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#message-body-error")).to_contain_text("Write a message of 1 to 500 characters.")
    assert "message-body-error" in (body.get_attribute("aria-describedby") or "")
    audit.check(page, "message refused")
    screenshot(page, "tipster-panel-error.png")

    page.goto(f"{site.url}/reports/{no_pin}")
    expect(page.locator("#message-no-pin")).to_contain_text("chose no PIN")
    expect(page.get_by_role("button", name="Send to the tipster")).to_be_disabled()
    audit.check(page, "report without a PIN")

    page.goto(f"{site.url}/reports/{web}")
    expect(page.locator("#report-channel")).to_have_text("Web form")
    expect(page.get_by_role("heading", name="Written answers")).to_be_visible()
    audit.check(page, "web tip")
    screenshot(page, "report-web-tip.png")

    assert len(audit.pages) == 4, audit.pages
    assert not audit.found, audit.report()
