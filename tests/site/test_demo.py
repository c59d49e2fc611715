"""`guanxi demo`, as a new user meets it: it prints logins, and each of them works on the served site."""

from __future__ import annotations

import re

from tests.site.servers import HttpClient, parse_logins, run_guanxi

STAT_TOTAL = re.compile(r'id="stat-total">\s*([\d,]+)\s*<')
CUSTOMER_LINK = re.compile(r'href="/customers/\d+/"')


def signed_in(demo_server, username: str) -> HttpClient:
    client = HttpClient(demo_server.base_url)
    answer = client.sign_in(username, demo_server.password)
    assert answer.status == 302, f"{username}: sign-in answered {answer.status}"
    assert answer.location == "/", f"{username}: sign-in redirected to {answer.location!r}"
    return client


def customers_in_scope(client: HttpClient) -> int:
    home = client.get("/")
    assert home.status == 200
    match = STAT_TOTAL.search(home.text)
    assert match, "the home page shows no customer count"
    return int(match.group(1).replace(",", ""))


def test_demo_prints_the_logins_and_where_it_serves(demo_server):
    assert demo_server.password
    assert len(demo_server.logins) >= 10
    for wanted in ("manager1", "teller1", "head1", "auditor", "sysadmin"):
        assert wanted in demo_server.logins, f"{wanted} is not among the printed logins"
    for login in demo_server.logins.values():
        assert login.name and login.role and login.org
    assert f"http://127.0.0.1:{demo_server.port}/" in demo_server.stdout


def test_every_printed_login_signs_in_and_sees_their_name(demo_server):
    failures = []
    for login in demo_server.logins.values():
        client = HttpClient(demo_server.base_url)
        answer = client.sign_in(login.username, demo_server.password)
        if answer.status != 302 or answer.location != "/":
            failures.append(f"{login.username}: sign-in answered {answer.status} {answer.location!r}")
            continue
        home = client.get("/")
        if home.status != 200 or login.name not in home.text:
            failures.append(f"{login.username}: home page {home.status} without the name {login.name}")
    assert not failures, "\n".join(failures)


def test_wrong_password_does_not_sign_in(demo_server):
    client = HttpClient(demo_server.base_url)
    answer = client.sign_in("manager2", demo_server.password + "-wrong")
    assert answer.status == 200  # the form again, not a redirect
    assert 'class="error"' in answer.text
    assert client.get("/").location.startswith("/login/")


def test_manager_home_counts_customers(demo_server):
    client = signed_in(demo_server, "manager1")
    assert customers_in_scope(client) > 0
    listing = client.get("/customers/")
    assert listing.status == 200
    assert CUSTOMER_LINK.search(listing.text), "manager1's customer list is empty"


def test_administrator_sees_no_customer_data(demo_server):
    client = signed_in(demo_server, "sysadmin")
    home = client.get("/")
    assert home.status == 200
    assert demo_server.logins["sysadmin"].name in home.text
    assert not STAT_TOTAL.search(home.text), "the administrator's home page shows customer counts"
    assert not CUSTOMER_LINK.search(home.text)
    listing = client.get("/customers/")
    assert not CUSTOMER_LINK.search(listing.text), "the administrator's customer list shows customers"


def test_second_demo_run_keeps_the_loaded_bank(demo_server):
    manager = signed_in(demo_server, "manager1")
    before = customers_in_scope(manager)

    # Alongside the running demo, on the same data directory and database.
    again = run_guanxi("demo", "--no-serve", "--customers", "300", env=demo_server.env, cwd=demo_server.data_dir)

    assert again.returncode == 0, again.stderr
    assert "already loaded" in again.stdout
    password, logins = parse_logins(again.stdout)
    assert password == demo_server.password
    assert list(logins) == demo_server.usernames
    assert "serving" not in again.stdout.lower() and "Ctrl-C" not in again.stdout  # --no-serve returns
    assert customers_in_scope(manager) == before, "the second run loaded the customers again"


def test_demo_serves_plain_http_with_a_content_security_policy(demo_server):
    client = HttpClient(demo_server.base_url)
    page = client.get("/login/")
    assert page.status == 200  # no redirect to https on the localhost demo
    assert "default-src 'self'" in page.headers.get("content-security-policy", "")
    assert "strict-transport-security" not in page.headers
    static = client.get("/static/vendor/htmx.min.js")
    assert static.status == 200 and "htmx" in static.text
