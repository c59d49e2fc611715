"""SQL functions Guanxi registers on every SQLite connection.

`guanxi_audit_locked()` is what the SQLite triggers on the audit log consult: it answers 1
(locked) unless the process has explicitly opened a purge window — which only the test
harness does, to empty its own throw-away databases. A client that does not register the
function (the sqlite3 shell, another program) gets "no such function" from the trigger, so
the table stays append-only for it too.
"""

from __future__ import annotations

import contextlib
import contextvars

_purge_allowed: contextvars.ContextVar[bool] = contextvars.ContextVar("guanxi_audit_purge", default=False)


def audit_locked() -> int:
    return 0 if _purge_allowed.get() else 1


@contextlib.contextmanager
def allow_audit_purge():
    """For throw-away test databases only: let `flush` empty the audit log."""
    token = _purge_allowed.set(True)
    try:
        yield
    finally:
        _purge_allowed.reset(token)


def masked(field: str, value):
    from guanxi.core.masking import mask_value

    return mask_value(field, value) if value else value


def register(sender, connection, **kwargs) -> None:
    if connection.vendor == "sqlite":
        connection.connection.create_function("guanxi_audit_locked", 0, audit_locked)
        connection.connection.create_function("guanxi_mask", 2, masked, deterministic=True)
