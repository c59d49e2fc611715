"""Hand-written customer migrations, run back and forth on a table with customers in it."""

import pytest
from django.core.management import call_command
from django.db import connection

from guanxi.customers.models import Customer
from tests.factories import CustomerFactory

EQUALITY_COLUMNS = ("phone_last4", "sub_market", "tier")


def _indexes() -> dict[str, str]:
    """{index name: its definition} of the customer table."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'customers_customer'")
        else:
            cursor.execute("SELECT name, coalesce(sql, '') FROM sqlite_master WHERE type = 'index' "
                           "AND tbl_name = 'customers_customer'")
        return dict(cursor.fetchall())


def _on(column: str, indexes: dict[str, str]) -> list[str]:
    """The indexes whose first column is `column`."""
    return sorted(name for name, sql in indexes.items() if f"({column}" in sql.replace('"', ""))


@pytest.mark.django_db(transaction=True)
def test_equality_columns_keep_one_plain_index_each_and_lose_the_pattern_ones(bank):
    """Migration 0013: the last four digits, the sub-market and the tier keep a B-tree each (the lookups
    still use an index) and lose PostgreSQL's LIKE index; migrating back restores Django's pair."""
    customer = CustomerFactory(org_unit=bank.b1, phone="13912345678")
    after = _indexes()
    for column in EQUALITY_COLUMNS:
        assert _on(column, after) == [f"customer_{column}"], column
    assert not [name for name in after if name.endswith("_like") and any(c in name for c in EQUALITY_COLUMNS)]

    call_command("migrate", "customers", "0012", verbosity=0)
    before = _indexes()
    for column in EQUALITY_COLUMNS:
        names = _on(column, before)
        assert names and all(name.startswith(f"customers_customer_{column}_") for name in names), column
        assert len(names) == (2 if connection.vendor == "postgresql" else 1), names
    call_command("migrate", "customers", verbosity=0)
    assert _indexes() == after
    assert Customer.objects.search("5678").get() == customer  # the last four digits, by their index
