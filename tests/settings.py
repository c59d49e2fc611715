"""Test settings: Guanxi's own settings, served over plain HTTP by the test client.

The TLS settings that `guanxi serve` uses are checked separately (`check --deploy` in a
subprocess with the real settings module).
"""

import os

os.environ.setdefault("GUANXI_HTTPS", "false")

from guanxi.settings import *  # noqa: E402,F403

# Fast hashing for the many personas; test_security checks Argon2 with the real setting.
REAL_PASSWORD_HASHERS = PASSWORD_HASHERS  # noqa: F405
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher", *REAL_PASSWORD_HASHERS]

# Jobs run in-process during tests (huey's immediate mode, the real task code, no broker);
# the worker itself is tested separately with SQLite and Redis storage.
HUEY = {**HUEY, "immediate": True}  # noqa: F405

# Messages to customers stay in memory (Django's locmem mail outbox, `MemorySmsGateway.outbox`), unthrottled.
SMS_BACKEND = "memory"
SMS_INBOUND_TOKEN = "test-inbound-token"
MESSAGE_RATES = {"sms": 0, "email": 0}
