"""The production settings, as an operator meets them: `guanxi check --deploy` and `guanxi serve`.

Everything here runs in subprocesses with the real settings module (`guanxi.settings`) and none of
the test run's GUANXI_* variables, so GUANXI_HTTPS and GUANXI_DEBUG take their defaults.
"""

from __future__ import annotations

import secrets
from types import SimpleNamespace

import pytest

from tests.site.servers import (
    HOST,
    database_url,
    free_port,
    guanxi_command,
    guanxi_env,
    http_request,
    run_guanxi,
    start,
    stop,
    wait_until_ready,
)

HTTPS = {"X-Forwarded-Proto": "https"}
STATIC = "/static/vendor/htmx.min.js"

# `guanxi serve` must trust the proxy's X-Forwarded-Proto (waitress drops it otherwise, and every
# request behind the TLS proxy would be redirected to https in a loop).


def secret_key() -> str:
    key = secrets.token_urlsafe(45)
    assert len(key) == 60
    return key


@pytest.fixture
def check_env(tmp_path):
    return guanxi_env(tmp_path, GUANXI_SECRET_KEY=secret_key())


def test_check_deploy_reports_nothing_with_the_defaults(check_env, tmp_path):
    result = run_guanxi("check", "--deploy", "--fail-level", "WARNING", env=check_env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_warns_when_https_is_off(check_env, tmp_path):
    check_env["GUANXI_HTTPS"] = "false"
    result = run_guanxi("check", "--deploy", "--fail-level", "WARNING", env=check_env, cwd=tmp_path)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "WARNINGS" in output
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in output


@pytest.fixture(scope="module")
def production_server(tmp_path_factory):
    """`guanxi serve --port P` with the real settings (HTTPS on, behind a proxy): base_url, env, root."""
    root = tmp_path_factory.mktemp("serve")
    data_dir = root / "data"
    data_dir.mkdir()
    port = free_port()
    base_url = f"http://{HOST}:{port}"
    with database_url(data_dir) as db_url:
        env = guanxi_env(data_dir, GUANXI_SECRET_KEY=secret_key(), GUANXI_DATABASE_URL=db_url)
        process = start(guanxi_command("serve", "--port", str(port)), env=env, cwd=root, log_dir=root)
        try:
            # Up when it answers plain HTTP the way it should: with the redirect to https.
            wait_until_ready(process, f"{base_url}/login/", status=301, log_dir=root)
            yield SimpleNamespace(base_url=base_url, env=env, root=root)
        finally:
            stop(process)


def test_serve_serves_static_files_behind_the_proxy(production_server):
    answer = http_request(production_server.base_url + STATIC, headers=HTTPS)
    assert answer.status == 200
    assert "htmx" in answer.text
    assert "javascript" in answer.headers.get("content-type", "")
    assert answer.headers.get("strict-transport-security", "").startswith("max-age=31536000")


@pytest.mark.parametrize("path", ["/login/", STATIC, "/"])
def test_serve_redirects_plain_http_to_https(production_server, path):
    answer = http_request(production_server.base_url + path)
    assert answer.status == 301
    assert answer.location == "https://" + production_server.base_url.removeprefix("http://") + path
    assert "strict-transport-security" not in answer.headers  # HSTS is sent over https only


def test_serve_sends_security_headers_over_https(production_server):
    answer = http_request(production_server.base_url + "/login/", headers=HTTPS)
    assert answer.status == 200
    hsts = answer.headers.get("strict-transport-security", "")
    assert "max-age=31536000" in hsts and "includeSubDomains" in hsts and "preload" in hsts
    csp = answer.headers.get("content-security-policy", "")
    assert "default-src 'self'" in csp
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert answer.headers.get("x-frame-options") == "DENY"
    assert answer.headers.get("x-content-type-options") == "nosniff"
    cookie = answer.headers.get("set-cookie", "")
    assert "csrftoken=" in cookie and "Secure" in cookie and "HttpOnly" in cookie



def test_serve_migrated_and_announced_itself(production_server):
    base_url = production_server.base_url
    assert f"Guanxi serving on {base_url}/" in (production_server.root / "stdout.log").read_text()
    # `guanxi serve` migrates before serving: nothing is left to apply.
    pending = run_guanxi("migrate", "--check", env=production_server.env, cwd=production_server.root)
    assert pending.returncode == 0, pending.stdout + pending.stderr
