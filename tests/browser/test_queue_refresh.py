"""The queue refreshes itself in a real browser: new reports appear, and a keyboard user's
place (the focused report link) and the page's filters survive the refresh."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import Site, create_user
from tests.browser.test_review_flow import sign_in
from tests.review.conftest import add_report


def test_a_refresh_shows_new_reports_and_keeps_the_focused_row(site: Site, new_browser: Any) -> None:
    older = add_report(site.app, ["riverbend_sd"], urgency="high")
    normal = add_report(site.app, ["riverbend_sd"], urgency="normal")
    ann = create_user(site.app, "ann@riverbend.example.org", "riverbend_sd")
    page = new_browser().new_page()
    sign_in(page, site, ann)
    page.goto(site.url + "/queue?urgency=&status=open")
    rows = page.locator("table#queue tr.report-row")
    expect(rows).to_have_count(2)
    page.locator(f'tr[data-report-id="{normal}"] a.report-link').focus()

    # A critical report arrives; the page asks for fresh rows when it becomes visible again,
    # as it does every 30 seconds.
    arrived = add_report(site.app, ["riverbend_sd"], urgency="critical")
    page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
    expect(rows).to_have_count(3)
    assert rows.first.get_attribute("data-report-id") == str(arrived)  # critical first
    focused = page.evaluate("document.activeElement.closest('tr')?.getAttribute('data-report-id') ?? null")
    assert focused == str(normal)
    assert page.url.endswith("/queue?urgency=&status=open")
    assert {rows.nth(i).get_attribute("data-report-id") for i in range(3)} == {str(older), str(normal), str(arrived)}
