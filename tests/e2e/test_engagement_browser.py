"""A relationship manager logs a contact from the customer page in a real Chromium and sees it on the
timeline at once (htmx swaps the contacts block; no reload)."""

from __future__ import annotations

import re
import secrets

import pytest
from playwright.sync_api import expect

from tests.e2e.test_browser import NAME_LINKS, ROWS, browser, sign_in, tab  # noqa: F401  (fixtures)

pytestmark = pytest.mark.e2e


def test_a_manager_logs_a_contact_and_sees_it_on_the_timeline(tab, demo_server):  # noqa: F811
    page = tab.page
    sign_in(page, "manager1", demo_server.password)
    page.wait_for_url(demo_server.url("/"))
    page.click("header nav a[href='/customers/']")
    expect(page.locator(ROWS).first).to_be_visible()
    page.locator(NAME_LINKS).first.click()
    page.wait_for_url(re.compile(r"/customers/\d+/$"))
    page.evaluate("window.__sameDocument = true")  # gone if the page reloads

    summary = f"电话回访，客户有意办理定期存款 {secrets.token_hex(3)}"
    form = page.locator("#interaction-form")
    form.locator("select[name=channel]").select_option("phone")
    form.locator("textarea[name=summary]").fill(summary)
    form.locator("input[name=outcome]").fill("有意向")
    form.locator("button[type=submit]").click()

    expect(page.locator("#interactions [role=status]")).to_have_text("已记录联系。")
    first_row = page.locator("#interaction-timeline tbody tr").first
    expect(first_row).to_contain_text(summary)
    expect(first_row).to_contain_text("电话")
    expect(first_row).to_contain_text(demo_server.logins["manager1"].name)
    assert page.evaluate("window.__sameDocument === true"), "logging the contact reloaded the page"
    expect(page.locator("#interaction-form textarea[name=summary]")).to_have_value("")  # a fresh form

    page.reload()
    expect(page.locator("#interaction-timeline tbody tr").first).to_contain_text(summary)
    assert not tab.errors, tab.errors
