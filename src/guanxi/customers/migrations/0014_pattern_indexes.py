"""The phone and the name's pinyin and initials keep one index each: the PostgreSQL pattern index.

`db_index=True` on a CharField gives PostgreSQL two indexes: a B-tree and a `varchar_pattern_ops`
one for LIKE 'abc%'. These columns are looked up by prefix (`CustomerQuerySet._starting_with`)
and by equality, and the pattern index serves both (whatever the database's collation), so
the B-tree was never used, and every customer written paid for it (and a bulk load built it
again). On SQLite, where the operator class means nothing, the index stays a plain one under its
new name. Done by hand: Django would rebuild the customer table on SQLite to change db_index.
"""

from django.db import migrations, models

TABLE = "customers_customer"
# (column, Django's name for its db_index B-tree, the name in Meta.indexes)
RENAMED = [
    ("phone", "customers_customer_phone_01182399", "customer_phone"),
    ("name_pinyin", "customers_customer_name_pinyin_ac0356a3", "customer_name_pinyin"),
    ("name_initials", "customers_customer_name_initials_27649238", "customer_name_initials"),
]


def forward(apps, schema_editor):
    postgres = schema_editor.connection.vendor == "postgresql"
    with schema_editor.connection.cursor() as cursor:
        # A bulk load killed before this upgrade may have left the old indexes dropped, to be built
        # again under their old names (`core.bulkload.indexes_restore`): build the new ones instead.
        names = [name for _column, old, _new in RENAMED for name in (old, f"{old}_like")]
        marks = ", ".join(["%s"] * len(names))
        cursor.execute(f"DELETE FROM core_deferredindex WHERE name IN ({marks})", names)  # noqa: S608
        for column, old, new in RENAMED:
            cursor.execute(f'DROP INDEX IF EXISTS "{old}"')
            if postgres:
                cursor.execute(f'ALTER INDEX IF EXISTS "{old}_like" RENAME TO "{new}"')
                cursor.execute(f'CREATE INDEX IF NOT EXISTS "{new}" ON "{TABLE}" ("{column}" varchar_pattern_ops)')
            else:  # SQLite cannot rename an index
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
        ("customers", "0013_equality_indexes"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(forward, backward)],
            state_operations=[
                migrations.AlterField(
                    model_name="customer",
                    name="name_initials",
                    field=models.CharField(blank=True, editable=False, max_length=30),
                ),
                migrations.AlterField(
                    model_name="customer",
                    name="name_pinyin",
                    field=models.CharField(blank=True, editable=False, max_length=100),
                ),
                migrations.AlterField(
                    model_name="customer",
                    name="phone",
                    field=models.CharField(blank=True, max_length=11, verbose_name="mobile phone"),
                ),
                *[migrations.AddIndex(
                    model_name="customer",
                    index=models.Index(fields=[field], name=f"customer_{field}", opclasses=["varchar_pattern_ops"]),
                ) for field in ("phone", "name_pinyin", "name_initials")],
            ],
        ),
    ]
