"""Model fields shared by every app."""

from __future__ import annotations

import functools
import json
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

CENT = Decimal("0.01")


def to_fen(value: Decimal | int | str | None) -> int | None:
    """Convert an amount in yuan to integer fen, rounding half up to the cent."""
    if value is None or value == "":
        return None
    try:
        amount = Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)
    except (InvalidOperation, ValueError) as exc:
        raise ValidationError(_("%(value)s is not an amount in yuan") % {"value": value}) from exc
    return int(amount * 100)


def from_fen(value: int | None) -> Decimal | None:
    if value is None:
        return None
    return (Decimal(int(value)) / 100).quantize(CENT)


def sum_to_yuan(value: int | Decimal | None) -> Decimal:
    """A database SUM over a MoneyField in yuan: already yuan (a Decimal, converted by the field),
    raw fen (an integer), or None for no rows, which is 0.00 yuan."""
    if value is None:
        return Decimal("0.00")
    if isinstance(value, Decimal):
        return value.quantize(CENT)
    return from_fen(int(value))


class MoneyField(models.BigIntegerField):
    """An amount in yuan, stored as integer fen so sums are exact on SQLite and PostgreSQL.

    Python sees `Decimal` yuan with two places; the database sees whole fen. Aggregates
    (`Sum`) over a MoneyField come back as exact `Decimal` yuan too.
    """

    description = _("Amount in yuan (stored as fen)")

    def from_db_value(self, value, expression, connection):  # noqa: ARG002
        return from_fen(value)

    def to_python(self, value):
        if value is None or isinstance(value, Decimal):
            return value
        return Decimal(str(value)).quantize(CENT)

    def get_prep_value(self, value):
        if value is None:
            return None
        if isinstance(value, models.expressions.Combinable):
            return value
        return to_fen(value)

    def formfield(self, **kwargs):
        from django import forms

        defaults = {"form_class": forms.DecimalField, "decimal_places": 2, "max_digits": 17}
        defaults.update(kwargs)
        return models.Field.formfield(self, **defaults)


class JSONDocumentField(models.JSONField):
    """JSON kept as it was written: PostgreSQL's ``json`` type rather than Django's ``jsonb``.

    For append-only records that are written in bulk and read whole (the audit log): ``jsonb``
    takes its input apart into a binary form for fast queries into it, which such a record never
    needs (COPY of 100,000 creation change sets: 1.2 s into ``jsonb``, 0.64 s into ``json``),
    and its statistics took most of the time of analyzing the log after a bulk load. ``json``
    is still checked as JSON, keeps its keys in the order they were written, and answers the
    ``->`` and ``->>`` operators. On SQLite both are the same text.
    """

    def db_type(self, connection):
        return "json" if connection.vendor == "postgresql" else super().db_type(connection)

    def get_db_prep_value(self, value, connection, prepared=False):
        if connection.vendor != "postgresql":
            return super().get_db_prep_value(value, connection, prepared)
        from psycopg.types.json import Json

        if not prepared:
            value = self.get_prep_value(value)
        return Json(value, dumps=functools.partial(json.dumps, cls=self.encoder, ensure_ascii=False))

    def from_db_value(self, value, expression, connection):
        if value is not None and not isinstance(value, str):  # psycopg parsed the json type itself
            return value
        return super().from_db_value(value, expression, connection)
