"""The audit log in the reader's language: what an action code, a changed field and its values mean.

The log stores codes (`customer.update`, `deposit_balance`, `person`) so that it stays the same
whatever language wrote it. The page shows them as an auditor reads them. Each app declares in
its AppConfig what its entries need: `audit_actions` (action code -> label), `audit_keys` (a
change key that is no field of the audited model -> label) and `audit_vocabularies` (a key whose
values are codes -> dotted path of their Choices). A changed field is named by the verbose name
of the audited model's field, a common word below or an app's key; a code by its choice label.
Codes without a label are shown as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

# Words that audit entries use for what is not a field of the audited model.
KEYS = {
    "amount": gettext_lazy("amount"),
    "as_of": gettext_lazy("as of"),
    "based_on": gettext_lazy("based on version"),
    "bytes": gettext_lazy("file size (bytes)"),
    "changed": gettext_lazy("changed items"),
    "channel": gettext_lazy("channel"),
    "comment": gettext_lazy("comment"),
    "count": gettext_lazy("count"),
    "customer": gettext_lazy("customer"),
    "customers": gettext_lazy("customers"),
    "direction": gettext_lazy("direction"),
    "dry_run": gettext_lazy("dry run"),
    "due_on": gettext_lazy("due on"),
    "effective_from": gettext_lazy("effective from"),
    "exposure": gettext_lazy("exposure"),
    "field": gettext_lazy("field"),
    "file": gettext_lazy("file"),
    "filters": gettext_lazy("filters"),
    "follow_up": gettext_lazy("follow-up"),
    "form": gettext_lazy("form"),
    "format": gettext_lazy("format"),
    "from": gettext_lazy("from"),
    "grade": gettext_lazy("grade"),
    "level": gettext_lazy("level"),
    "line": gettext_lazy("credit line"),
    "member": gettext_lazy("member"),
    "members": gettext_lazy("members"),
    "moved": gettext_lazy("moved"),
    "note": gettext_lazy("note"),
    "org_unit": gettext_lazy("org unit"),
    "outcome": gettext_lazy("outcome"),
    "override": gettext_lazy("override request"),
    "owner": gettext_lazy("owner"),
    "period": gettext_lazy("period"),
    "reason": gettext_lazy("reason"),
    "relation": gettext_lazy("relation"),
    "rows": gettext_lazy("rows"),
    "scorecard": gettext_lazy("scorecard"),
    "snapshots_created": gettext_lazy("balance snapshots created"),
    "snapshots_updated": gettext_lazy("balance snapshots updated"),
    "staff": gettext_lazy("staff"),
    "steps": gettext_lazy("steps"),
    "territory": gettext_lazy("territory"),
    "to": gettext_lazy("to"),
    "unmasked": gettext_lazy("unmasked"),
    "updated": gettext_lazy("updated"),
    "version": gettext_lazy("version"),
    "via": gettext_lazy("via"),
    "vote": gettext_lazy("vote"),
    "votes": gettext_lazy("votes"),
}
EMPTY = "—"


@cache
def _declared(attribute: str) -> dict[str, Any]:
    """What the installed apps declare in their AppConfig under `attribute`, merged."""
    merged: dict[str, Any] = {}
    for config in apps.get_app_configs():
        merged.update(getattr(config, attribute, {}))
    return merged


@cache
def _vocabularies() -> dict[str, type[models.Choices]]:
    """Code lists of keys whose values are codes without a model field's choices to name them (a care
    plan's JSON list of tiers): the apps' `audit_vocabularies`, key -> dotted path of a Choices class."""
    return {key: import_string(path) for key, path in _declared("audit_vocabularies").items()}


def _code_label(code: str) -> str | None:
    """A market line's code used as a key (a recompute's counts per line)."""
    vocabulary = _vocabularies().get("market")
    return str(vocabulary(code).label) if vocabulary is not None and code in vocabulary.values else None


@cache
def action_labels() -> dict[str, Any]:
    """Every action code the installed apps name (`audit_actions`), with its label (lazy), in code order."""
    return dict(sorted(_declared("audit_actions").items()))


def action_label(code: str) -> str:
    """The label of an action code. A code that extends a named one (`customer.reveal.phone`) is named
    by that one and the rest (the revealed field)."""
    labels = action_labels()
    if code in labels:
        return str(labels[code])
    head, _dot, rest = code.rpartition(".")
    if head in labels:
        return _("%(action)s (%(what)s)") % {"action": labels[head], "what": _key_label(rest, None)}
    return code


def _model(object_type: str) -> type[models.Model] | None:
    try:
        return apps.get_model(object_type)
    except (LookupError, ValueError):
        return None


def _field(model: type[models.Model] | None, name: str) -> models.Field | None:
    if model is None:
        return None
    try:
        field = model._meta.get_field(name)
    except FieldDoesNotExist:
        return None
    return field if isinstance(field, models.Field) else None


def _field_named(key: str, model: type[models.Model] | None) -> models.Field | None:
    """The audited model's field `key`, or else a customer's (a revealed field, an export's filters)."""
    field = _field(model, key)
    if field is None and key not in KEYS and key not in _declared("audit_keys"):
        field = _field(_model("customers.customer"), key)
    return field


def _key_label(key: str, model: type[models.Model] | None) -> str:
    field = _field_named(key, model)
    if field is not None:
        return str(field.verbose_name)
    label = KEYS.get(key) or _declared("audit_keys").get(key)
    return str(label) if label is not None else _code_label(key) or key


def _value_text(value: Any, field: models.Field | None, key: str = "") -> str:
    if value is None or value == "":
        return EMPTY
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, dict):
        return "; ".join(f"{_key_label(k, None)}: {_value_text(v, _field_named(k, None), k)}"
                         for k, v in value.items()) or EMPTY
    if isinstance(value, list | tuple):
        return _(", ").join(_value_text(v, field, key) for v in value) or EMPTY  # 、 in Chinese
    if field is not None and field.choices:
        return str(dict(field.flatchoices).get(value, value))
    vocabulary = _vocabularies().get(key) if key else None
    if vocabulary is not None and value in vocabulary.values:
        return str(vocabulary(value).label)
    return str(value)


@dataclass(frozen=True)
class Change:
    label: str
    text: str  # the value, or "old → new"


def changes(object_type: str, recorded: Any) -> list[Change]:
    """An entry's recorded changes as lines to read: a field's [old, new] pair as `old → new`."""
    if not isinstance(recorded, dict):
        return [Change("", _value_text(recorded, None))] if recorded else []
    model = _model(object_type)
    lines = []
    for key, value in recorded.items():
        field = _field_named(key, model)
        if isinstance(value, list) and len(value) == 2 and not any(isinstance(v, dict) for v in value):
            text = f"{_value_text(value[0], field, key)} → {_value_text(value[1], field, key)}"
        else:
            text = _value_text(value, field, key)
        lines.append(Change(_key_label(key, model), text))
    return lines


def object_type_label(object_type: str) -> str:
    """What kind of object an entry is about; empty for what is not a model (the demo bank's `site`)."""
    model = _model(object_type)
    return str(model._meta.verbose_name) if model is not None else ""
