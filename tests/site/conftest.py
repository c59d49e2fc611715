"""Fixtures for the tests that run real `guanxi` processes (see `tests/site/servers.py`)."""

from tests.site.servers import demo_server  # noqa: F401  (the fixture, shared with tests/e2e)
