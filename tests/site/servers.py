"""Real `guanxi` processes for the tests: the demo bank (`guanxi demo`) and helpers for `guanxi serve`.

The processes run with the real settings module (`guanxi.settings`), never the test settings, in a
fresh data directory and a fresh database of the engine the test run uses. They bind 127.0.0.1 on a
free port and are always stopped in fixture teardown.

`demo_server` is imported into `tests/site/conftest.py` and `tests/e2e/conftest.py` so that both
directories can use it (a non-root conftest may not declare `pytest_plugins`).
"""

from __future__ import annotations

import http.cookiejar
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

HOST = "127.0.0.1"
READY_TIMEOUT = 90  # seconds to wait for a server to answer
STOP_TIMEOUT = 15  # seconds to wait for a server to stop before killing it


# --- processes ---------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def guanxi_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a real `guanxi` command: none of the test run's Django or Guanxi settings.

    DJANGO_SETTINGS_MODULE goes (the real `guanxi.settings` applies), and so do the GUANXI_* values
    of the test run (tests/settings.py sets GUANXI_HTTPS=false) and any other DJANGO_* switch such as
    DJANGO_ALLOW_ASYNC_UNSAFE, which `check --deploy` rightly reports.
    """
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("DJANGO_", "GUANXI_"))}
    env["GUANXI_DATA_DIR"] = str(data_dir)
    env["PYTHONUNBUFFERED"] = "1"  # stdout goes to a file; the test reads it while the server runs
    env.update(extra)
    return env


def guanxi_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "guanxi", *args]


def run_guanxi(*args: str, env: dict[str, str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run a `guanxi` command to completion (killed after `timeout` seconds)."""
    return subprocess.run(guanxi_command(*args), env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, check=False)


def _postgres_settings() -> dict | None:
    from django.conf import settings

    config = settings.DATABASES["default"]
    return config if "postgresql" in config["ENGINE"] else None


@contextmanager
def database_url(data_dir: Path) -> Iterator[str]:
    """A fresh database for a subprocess, on the engine of the test run; dropped afterwards.

    PostgreSQL: a new database `guanxi_e2e_<random>` on the test run's server. SQLite: a new file
    in `data_dir`.
    """
    config = _postgres_settings()
    if config is None:
        yield f"sqlite:///{data_dir / 'demo.sqlite3'}"
        return

    import psycopg
    from psycopg import sql

    user = config.get("USER") or "postgres"
    host = config.get("HOST") or HOST
    port = str(config.get("PORT") or 5432)
    password = config.get("PASSWORD") or ""
    name = f"guanxi_e2e_{secrets.token_hex(6)}"
    connect = {"dbname": "postgres", "user": user, "host": host, "port": port, "autocommit": True}
    if password:
        connect["password"] = password
    with psycopg.connect(**connect) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    auth = user + (":" + urllib.parse.quote(password, safe="") if password else "")
    try:
        yield f"postgres://{auth}@{host}:{port}/{name}"
    finally:
        with psycopg.connect(**connect) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def start(args: list[str], *, env: dict[str, str], cwd: Path, log_dir: Path) -> subprocess.Popen:
    """Start a command in its own process group, stdout and stderr to files in `log_dir`."""
    stdout = (log_dir / "stdout.log").open("wb")
    stderr = (log_dir / "stderr.log").open("wb")
    try:
        return subprocess.Popen(args, env=env, cwd=cwd, stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    finally:
        # The child has its own copies of the descriptors.
        stdout.close()
        stderr.close()


def stop(process: subprocess.Popen) -> None:
    """Stop a started server: SIGTERM to its process group, SIGKILL if it has not gone after a while."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=STOP_TIMEOUT)


def logs(log_dir: Path) -> str:
    parts = []
    for name in ("stdout.log", "stderr.log"):
        path = log_dir / name
        text = path.read_text(errors="replace") if path.exists() else ""
        parts.append(f"--- {name} ---\n{text[-4000:]}")
    return "\n".join(parts)


def wait_until_ready(process: subprocess.Popen, url: str, *, log_dir: Path, headers: dict[str, str] | None = None,
                     status: int = 200, timeout: float = READY_TIMEOUT) -> None:
    """Poll `url` until it answers `status`; fail with the server's output if it exits or takes too long."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{process.args} exited with {process.returncode} before serving {url}\n{logs(log_dir)}")
        try:
            response = http_request(url, headers=headers, timeout=5)
        except OSError as exc:  # refused while starting up, or a timeout
            last = repr(exc)
        else:
            if response.status == status:
                return
            last = f"HTTP {response.status}"
        time.sleep(0.25)
    pytest.fail(f"{process.args} did not serve {url} within {timeout} s (last: {last})\n{logs(log_dir)}")


# --- HTTP --------------------------------------------------------------------------------------


@dataclass
class Response:
    status: int
    headers: dict[str, str]  # lower-case names
    text: str
    url: str

    @property
    def location(self) -> str:
        return self.headers.get("location", "")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # hand the 3xx to the caller


def http_request(url: str, *, data: dict[str, str] | None = None, headers: dict[str, str] | None = None,
                 timeout: float = 15, opener: urllib.request.OpenerDirector | None = None) -> Response:
    """One request, redirects not followed (the caller sees the 3xx)."""
    opener = opener or urllib.request.build_opener(_NoRedirect)
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    request = urllib.request.Request(url, data=body, headers=headers or {}, method="POST" if body else "GET")
    try:
        with opener.open(request, timeout=timeout) as raw:
            return Response(raw.status, {k.lower(): v for k, v in raw.headers.items()},
                            raw.read().decode("utf-8", "replace"), raw.geturl())
    except urllib.error.HTTPError as exc:
        with exc:
            return Response(exc.code, {k.lower(): v for k, v in exc.headers.items()},
                            exc.read().decode("utf-8", "replace"), url)


class HttpClient:
    """A cookie-keeping client for one signed-in user (what a browser does, without JavaScript)."""

    def __init__(self, base_url: str):
        self.base_url = base_url.rstrip("/")
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(_NoRedirect, urllib.request.HTTPCookieProcessor(self.cookies))

    def url(self, path: str) -> str:
        return urllib.parse.urljoin(self.base_url + "/", path)

    def get(self, path: str, **headers: str) -> Response:
        return http_request(self.url(path), headers=headers, opener=self.opener)

    def post(self, path: str, data: dict[str, str], **headers: str) -> Response:
        return http_request(self.url(path), data=data, headers=headers, opener=self.opener)

    def sign_in(self, username: str, password: str) -> Response:
        """GET the sign-in form, POST it with its CSRF token and the Referer a browser sends; the answer."""
        form = self.get("/login/")
        assert form.status == 200, form.status
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
        assert match, "no CSRF token on the sign-in page"
        return self.post("/login/", {"csrfmiddlewaretoken": match.group(1), "username": username,
                                     "password": password, "next": ""},
                         Referer=self.url("/login/"))


# --- the demo bank -----------------------------------------------------------------------------


LOGINS_HEADER = re.compile(r"^Logins \(password for all: (?P<password>\S+)\):\s*$", re.MULTILINE)
LOGIN_LINE = re.compile(r"^  (?P<username>\S+)\s+(?P<name>\S+)\s{2}(?P<role>.+?)\s{2}\((?P<org>[^)]+)\)\s*$")


@dataclass
class Login:
    username: str
    name: str
    role: str
    org: str


@dataclass
class DemoServer:
    base_url: str
    port: int
    password: str
    logins: dict[str, Login]
    data_dir: Path
    env: dict[str, str] = field(repr=False)
    stdout: str = field(repr=False)

    @property
    def usernames(self) -> list[str]:
        return list(self.logins)

    def url(self, path: str) -> str:
        return urllib.parse.urljoin(self.base_url + "/", path.lstrip("/"))


def parse_logins(stdout: str) -> tuple[str, dict[str, Login]]:
    """The password and the logins printed by `guanxi demo`."""
    header = LOGINS_HEADER.search(stdout)
    assert header, f"no logins in the demo's output:\n{stdout}"
    logins: dict[str, Login] = {}
    for line in stdout[header.end():].lstrip("\n").splitlines():
        match = LOGIN_LINE.match(line)
        if not match:
            break
        logins[match["username"]] = Login(match["username"], match["name"], match["role"].strip(), match["org"])
    return header["password"], logins


@pytest.fixture(scope="session")
def demo_server(tmp_path_factory) -> Iterator[DemoServer]:
    """`guanxi demo --port P --customers 300` in a subprocess, serving until the end of the session."""
    root = tmp_path_factory.mktemp("demo")
    data_dir = root / "data"
    data_dir.mkdir()
    port = free_port()
    base_url = f"http://{HOST}:{port}"
    with database_url(data_dir) as db_url:
        env = guanxi_env(data_dir, GUANXI_DATABASE_URL=db_url)
        process = start(guanxi_command("demo", "--port", str(port), "--customers", "300"),
                        env=env, cwd=root, log_dir=root)
        try:
            wait_until_ready(process, f"{base_url}/login/", log_dir=root)
            stdout = (root / "stdout.log").read_text()
            password, logins = parse_logins(stdout)
            yield DemoServer(base_url=base_url, port=port, password=password, logins=logins, data_dir=data_dir,
                             env=env, stdout=stdout)
        finally:
            stop(process)
