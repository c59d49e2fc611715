"""The phone's last four digits, the sub-market and the tier lose their PostgreSQL pattern indexes.

`db_index=True` on a CharField gives PostgreSQL two indexes: a B-tree and a `varchar_pattern_ops`
one for LIKE 'abc%'. These three columns are only ever compared for equality, so the second
index was never used, and every customer written (an import, a balance feed moving a tier) paid
for it. The B-trees are kept, under names of their own in Meta.indexes. Done by hand: Django
would rebuild the customer table on SQLite to change db_index.
"""

from django.db import migrations, models

TABLE = "customers_customer"
# (column, Django's name for its db_index B-tree, the name in Meta.indexes)
RENAMED = [
    ("phone_last4", "customers_customer_phone_last4_94d1c47f", "customer_phone_last4"),
    ("sub_market", "customers_customer_sub_market_00cb574b", "customer_sub_market"),
    ("tier", "customers_customer_tier_0b681a87", "customer_tier"),
]


def forward(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        # A bulk load killed before this upgrade may have left the old indexes dropped, to be built
        # again under their old names (`core.bulkload.indexes_restore`): build the new ones instead.
        names = [name for _column, old, _new in RENAMED for name in (old, f"{old}_like")]
        marks = ", ".join(["%s"] * len(names))
        cursor.execute(f"DELETE FROM core_deferredindex WHERE name IN ({marks})", names)  # noqa: S608
        for column, old, new in RENAMED:
            if schema_editor.connection.vendor == "postgresql":
                cursor.execute(f'DROP INDEX IF EXISTS "{old}_like"')
                cursor.execute(f'ALTER INDEX IF EXISTS "{old}" RENAME TO "{new}"')
            else:  # SQLite cannot rename an index
                cursor.execute(f'DROP INDEX IF EXISTS "{old}"')
            cursor.execute(f'CREATE INDEX IF NOT EXISTS "{new}" ON "{TABLE}" ("{column}")')


def backward(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        for column, old, new in RENAMED:
            cursor.execute(f'DROP INDEX IF EXISTS "{new}"')
            cursor.execute(f'CREATE INDEX IF NOT EXISTS "{old}" ON "{TABLE}" ("{column}")')
            if schema_editor.connection.vendor == "postgresql":
                cursor.execute(f'CREATE INDEX IF NOT EXISTS "{old}_like" ON "{TABLE}" ("{column}" varchar_pattern_ops)')


class Migration(migrations.Migration):

    dependencies = [
        ("core", "0003_deferred_index"),
        ("customers", "0012_name_search_without_sizes"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(forward, backward)],
            state_operations=[
                migrations.AlterField(
                    model_name="customer",
                    name="phone_last4",
                    field=models.CharField(blank=True, editable=False, max_length=4),
                ),
                migrations.AlterField(
                    model_name="customer",
                    name="sub_market",
                    field=models.CharField(blank=True, db_default="", default="", editable=False, max_length=40,
                                           verbose_name="sub-market"),
                ),
                migrations.AlterField(
                    model_name="customer",
                    name="tier",
                    field=models.CharField(choices=[("high", "High-end"), ("mid", "Mid-range"), ("general", "General")],
                                           db_default="general", default="general", editable=False, max_length=10,
                                           verbose_name="tier"),
                ),
                migrations.AddIndex(
                    model_name="customer",
                    index=models.Index(fields=["phone_last4"], name="customer_phone_last4"),
                ),
                migrations.AddIndex(
                    model_name="customer",
                    index=models.Index(fields=["sub_market"], name="customer_sub_market"),
                ),
                migrations.AddIndex(
                    model_name="customer",
                    index=models.Index(fields=["tier"], name="customer_tier"),
                ),
            ],
        ),
    ]
