"""Masking of sensitive customer data for display, exports and logs.

Bank staff without the right permission, audit logs and CSV exports must not
show complete ID numbers or phone numbers.  These helpers keep just enough
characters for a clerk to recognise a record: ``2311**********1234`` and
``138****5678``.  The masked value always has the same length as the input.
"""

from __future__ import annotations

from typing import Any

__all__ = ["MASK_CHAR", "SENSITIVE_FIELDS", "mask_id_number", "mask_phone", "mask_sql", "mask_value"]

MASK_CHAR = "*"

SENSITIVE_FIELDS = frozenset({"id_number", "phone"})
"""Field names whose values are masked by :func:`mask_value`."""


def _mask(text: str, keep_start: int, keep_end: int) -> str:
    """Replace all but the first ``keep_start`` and last ``keep_end`` characters.

    Values too short to keep that much are masked except their last two
    characters; values of two characters or fewer are masked completely.
    """
    length = len(text)
    if length == 0:
        return ""
    if length <= keep_start + keep_end:
        if length <= 2:
            return MASK_CHAR * length
        return MASK_CHAR * (length - 2) + text[-2:]
    return text[:keep_start] + MASK_CHAR * (length - keep_start - keep_end) + text[-keep_end:]


# The characters each sensitive field keeps at its start and end (`_mask`).
_KEEP = {"id_number": (4, 4), "phone": (3, 4)}


def mask_id_number(value: str | None) -> str:
    """Mask an ID number or credit code, keeping the first 4 and last 4 characters.

    ``"231102199001011234"`` → ``"2311**********1234"``.  Values of 8
    characters or fewer keep only their last 2 characters; ``None`` → ``""``.
    """
    if value is None:
        return ""
    return _mask(str(value), *_KEEP["id_number"])


def mask_phone(value: str | None) -> str:
    """Mask a phone number, keeping the first 3 and last 4 characters.

    ``"13812345678"`` → ``"138****5678"``.  Values of 7 characters or fewer
    keep only their last 2 characters; ``None`` → ``""``.
    """
    if value is None:
        return ""
    return _mask(str(value), *_KEEP["phone"])


def mask_value(field_name: str, value: Any) -> Any:
    """Mask ``value`` if ``field_name`` is in :data:`SENSITIVE_FIELDS`, else return it unchanged.

    ``None`` is returned unchanged for every field (there is nothing to hide).
    """
    if value is None:
        return None
    if field_name == "id_number":
        return mask_id_number(value)
    if field_name == "phone":
        return mask_phone(value)
    return value


def mask_sql(field_name: str, expression: str) -> str:
    """:func:`mask_value` of a sensitive field as a PostgreSQL expression over `expression` (text; NULL stays
    NULL), for set-based writes of audit entries (SQLite registers `mask_value` itself instead)."""
    keep_start, keep_end = _KEEP[field_name]
    length = f"char_length({expression})"
    return (f"CASE WHEN {length} > {keep_start + keep_end} THEN left({expression}, {keep_start}) || "
            f"repeat('{MASK_CHAR}', {length} - {keep_start + keep_end}) || right({expression}, {keep_end}) "
            f"WHEN {length} > 2 THEN repeat('{MASK_CHAR}', {length} - 2) || right({expression}, 2) "
            f"ELSE repeat('{MASK_CHAR}', {length}) END")
