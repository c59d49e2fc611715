"""Browser tests: a real Chromium (Playwright) against the real demo server."""

from tests.site.servers import demo_server  # noqa: F401  (the fixture, shared with tests/site)
