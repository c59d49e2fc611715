"""A relationship manager's first minutes in a real Chromium, against the real demo server.

Sign in, find a customer by surname (the list filters as they type, without a reload), open the
customer and reveal the masked ID number. Chromium is the system one (/usr/bin/chromium); no
browser is ever downloaded.
"""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from playwright.sync_api import expect, sync_playwright

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]
TIMEOUT_MS = 15_000
MASKED_RESIDENT_ID = re.compile(r"^\d{4}\*{10}[\dX]{4}$")
FULL_RESIDENT_ID = re.compile(r"^\d{17}[\dX]$")
ROWS = "#customer-table tbody tr"
NAME_LINKS = "#customer-table tbody tr td:nth-child(2) a"

expect.set_options(timeout=TIMEOUT_MS)


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
                                             timeout=60_000)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def tab(browser, demo_server):
    """A fresh browser context (no cookies) on the demo; collects JavaScript errors and CSP violations."""
    context = browser.new_context(base_url=demo_server.base_url, locale="zh-CN", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(30_000)
    page = context.new_page()
    errors: list[str] = []

    def on_console(message):
        url = message.location.get("url", "")
        # The app has no favicon; Chromium's own request for it is no error of the page.
        if message.type == "error" and not url.endswith("/favicon.ico"):
            errors.append(f"{message.text} ({url})")

    page.on("console", on_console)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("response", lambda response: errors.append(f"HTTP {response.status} {response.url}")
            if response.status >= 400 else None)
    try:
        yield SimpleNamespace(page=page, errors=errors)
    finally:
        context.close()


def sign_in(page, username: str, password: str) -> None:
    page.goto("/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("main form button[type=submit]")


def mark_results_stale(page) -> None:
    """Tag the results table, so that its replacement by htmx can be waited for."""
    page.eval_on_selector("#customer-table", "table => { table.dataset.stale = 'yes'; }")


def wait_for_new_results(page) -> None:
    page.wait_for_function(
        "() => { const t = document.getElementById('customer-table'); return t && !t.dataset.stale; }",
        timeout=TIMEOUT_MS,
    )


def test_manager_finds_a_customer_and_reveals_the_id_number(tab, demo_server, tmp_path):
    page = tab.page
    sign_in(page, "manager1", demo_server.password)
    page.wait_for_url(demo_server.url("/"))
    expect(page.locator("h1")).to_contain_text(demo_server.logins["manager1"].name)

    # 客户 / Customers in the top bar.
    page.click("header nav a[href='/customers/']")
    page.wait_for_url(demo_server.url("/customers/"))
    expect(page.locator(ROWS).first).to_be_visible()
    page.evaluate("window.__sameDocument = true")  # gone if the page reloads

    # Individuals only (resident ID numbers), then the surname of the first one listed.
    mark_results_stale(page)
    page.select_option("select[name=customer_type]", "person")
    wait_for_new_results(page)
    first_name = page.locator(NAME_LINKS).first.inner_text().strip()
    surname = first_name[0]

    mark_results_stale(page)
    page.locator("#search").press_sequentially(surname, delay=50)
    wait_for_new_results(page)
    names = [name.strip() for name in page.locator(NAME_LINKS).all_inner_texts()]
    assert names, f"searching {surname!r} found nobody, although {first_name} is listed"
    assert first_name in names
    assert all(surname in name for name in names), names
    assert page.evaluate("window.__sameDocument === true"), "the list reloaded the page instead of filtering"
    page.wait_for_url(re.compile(r"[?&]q="))  # the filtered list keeps its own address (hx-push-url)

    # The first customer found.
    page.locator(NAME_LINKS).first.click()
    page.wait_for_url(re.compile(r"/customers/\d+/$"))
    expect(page.locator("h1")).to_contain_text(names[0])
    id_number = page.locator("#id-number")
    masked = id_number.inner_text().strip()
    assert MASKED_RESIDENT_ID.match(masked), masked

    page.locator("dd", has=page.locator("#id-number")).locator("button").click()
    expect(id_number).to_have_text(FULL_RESIDENT_ID)
    full = id_number.inner_text().strip()
    assert len(full) == 18
    assert full[:4] == masked[:4] and full[-4:] == masked[-4:]

    screenshot = tmp_path / "customer.png"
    page.screenshot(path=str(screenshot), full_page=True)
    assert screenshot.stat().st_size > 1000
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not tab.errors, tab.errors  # no script errors, no Content-Security-Policy violations


def test_failed_sign_in_shows_an_error_and_stays_on_the_sign_in_page(tab, demo_server):
    page = tab.page
    sign_in(page, "manager2", demo_server.password + "-wrong")
    error = page.locator("main .error")
    expect(error).to_be_visible()
    assert error.inner_text().strip()
    assert page.url.split("?")[0] == demo_server.url("/login/")
    expect(page.locator("#id_username")).to_have_value("manager2")
    expect(page.locator("header nav")).to_have_count(0)  # not signed in


def test_the_top_bar_groups_pages_into_menus_that_open_and_close(tab, demo_server):
    page = tab.page
    sign_in(page, "manager1", demo_server.password)
    page.wait_for_url(demo_server.url("/"))
    service = page.locator("header nav details.menu", has=page.locator("summary", has_text="客户服务"))
    contacts = service.locator("a", has_text="联系记录")
    expect(contacts).to_be_hidden()  # closed until asked
    service.locator("summary").click()
    expect(contacts).to_be_visible()
    page.locator("main h1").click()  # a click elsewhere closes it
    expect(contacts).to_be_hidden()
    page.keyboard.press("Escape")
    service.locator("summary").click()
    page.keyboard.press("Escape")  # and so does Escape
    expect(contacts).to_be_hidden()
    service.locator("summary").click()
    contacts.click()
    page.wait_for_url(demo_server.url("/engagement/interactions/"))
    expect(page.locator("header nav details.menu.current summary")).to_have_text("客户服务")
    expect(page.locator("header nav a[aria-current=page]")).to_have_attribute("href", "/engagement/interactions/")
    assert not tab.errors, tab.errors
