"""Writing the audit log. Services call `record()` inside their own transaction."""

from __future__ import annotations

import contextvars
from typing import Any

from django.db import models

from guanxi.core.masking import SENSITIVE_FIELDS, mask_value
from guanxi.core.models import AuditEntry, User

_client_ip: contextvars.ContextVar[str | None] = contextvars.ContextVar("guanxi_client_ip", default=None)


def set_client_ip(ip: str | None) -> contextvars.Token:
    return _client_ip.set(ip)


def reset_client_ip(token: contextvars.Token) -> None:
    _client_ip.reset(token)


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, models.Model):
        return str(value)
    return str(value)


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    """Changed fields as {field: [old, new]}, sensitive values masked."""
    changes: dict[str, list[Any]] = {}
    for field, new in after.items():
        old = before.get(field)
        if _plain(old) != _plain(new):
            if field in SENSITIVE_FIELDS:
                changes[field] = [mask_value(field, old) if old else old, mask_value(field, new) if new else new]
            else:
                changes[field] = [_plain(old), _plain(new)]
    return changes


def record(
    *,
    actor: User | None,
    action: str,
    obj: models.Model | None = None,
    object_type: str | None = None,
    object_id: str | int | None = None,
    object_repr: str | None = None,
    changes: dict | None = None,
) -> AuditEntry:
    """Append one audit entry. `actor` None means the system itself (named `system`)."""
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = obj.pk if object_id is None else object_id
        object_repr = object_repr if object_repr is not None else str(obj)
    return AuditEntry.objects.create(
        actor=actor,
        actor_username=actor.username if actor else "system",
        action=action,
        object_type=object_type or "",
        object_id="" if object_id is None else str(object_id),
        object_repr=(object_repr or "")[:200],
        changes=changes or {},
        ip_address=_client_ip.get(),
    )
