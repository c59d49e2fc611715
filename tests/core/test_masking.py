"""Tests for guanxi.core.masking."""

from __future__ import annotations

from guanxi.core.masking import SENSITIVE_FIELDS, mask_id_number, mask_phone, mask_value


def test_mask_id_number_keeps_first_four_and_last_four():
    assert mask_id_number("231102199001011234") == "2311**********1234"


def test_mask_id_number_keeps_length():
    assert len(mask_id_number("23110219900101123X")) == 18


def test_mask_id_number_of_credit_code():
    assert mask_id_number("91350100M000100Y43") == "9135**********0Y43"


def test_mask_id_number_of_short_value_keeps_last_two():
    assert mask_id_number("12345678") == "******78"


def test_mask_id_number_of_tiny_value_is_all_stars():
    assert mask_id_number("12") == "**"


def test_mask_id_number_of_empty_or_none_is_empty():
    assert mask_id_number("") == ""
    assert mask_id_number(None) == ""


def test_mask_phone_keeps_first_three_and_last_four():
    assert mask_phone("13812345678") == "138****5678"


def test_mask_phone_of_short_value_keeps_last_two():
    assert mask_phone("12345") == "***45"


def test_mask_phone_of_none_is_empty():
    assert mask_phone(None) == ""


def test_sensitive_fields_are_id_number_and_phone():
    assert frozenset({"id_number", "phone"}) == SENSITIVE_FIELDS


def test_mask_value_masks_id_number_field():
    assert mask_value("id_number", "231102199001011234") == "2311**********1234"


def test_mask_value_masks_phone_field():
    assert mask_value("phone", "13812345678") == "138****5678"


def test_mask_value_leaves_other_fields_unchanged():
    assert mask_value("name", "张三") == "张三"
    assert mask_value("credit_limit", 50000) == 50000


def test_mask_value_leaves_none_unchanged():
    assert mask_value("phone", None) is None


def test_postgresqls_mask_is_the_same_as_pythons(db):
    """Set-based writes on PostgreSQL mask in SQL: every length, multi-byte characters, NULL, the same text."""
    import pytest
    from django.db import connection

    from guanxi.core.masking import mask_sql

    if connection.vendor != "postgresql":
        pytest.skip("SQLite calls mask_value itself")
    values = ["", "1", "12", "123", "1234567", "12345678", "123456789", "13812345678", "231102199001011234",
              "91350100M000100Y43", "王小明的电话号码", "ab\\c\"d'e\tf", None]
    with connection.cursor() as cursor:
        for field in sorted(SENSITIVE_FIELDS):
            cursor.execute(f"SELECT {mask_sql(field, 'v')} FROM unnest(%s::text[]) WITH ORDINALITY AS t(v, n) "
                           "ORDER BY n", [values])
            assert [row[0] for row in cursor.fetchall()] == [mask_value(field, value) for value in values], field
