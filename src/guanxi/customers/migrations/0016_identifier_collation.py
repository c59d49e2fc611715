"""PostgreSQL compares customer numbers and ID numbers byte by byte (collation "C").

Both are codes of digits and capital letters, looked up whole or by their start. Under the
database's default collation (a libc locale, even C.UTF-8) every comparison goes through the
locale, and a prefix search (LIKE 'KH00012%', the duplicates page's ID bodies) needs a second,
pattern index beside each unique one (Django's "_like" index). Under "C", comparisons are byte
comparisons and the unique indexes serve prefixes themselves: the two pattern indexes go, which
every customer written paid for (a 100,000-row import on PostgreSQL: 0.15 s of index builds, and
the unique checks of its rows cheaper). Ordered by either column, the rows come in the same
order as before (digits and capitals). SQLite compares bytes already: the models' state keeps
the default, and only PostgreSQL's columns change (as for the name tokens, 0015).
"""

from django.db import migrations

COLUMNS = ("id_number", "customer_no")


def _collate(apps, schema_editor, collation: str):
    """Set both columns' collation (PostgreSQL); returns the historical model (None elsewhere)."""
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return None
    customer = apps.get_model("customers", "Customer")
    table = customer._meta.db_table
    alterations = ", ".join(f'ALTER COLUMN "{column}" TYPE {customer._meta.get_field(column).db_type(connection)} '
                            f'COLLATE "{collation}"' for column in COLUMNS)
    schema_editor.execute(f'ALTER TABLE "{table}" {alterations}')
    return customer


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:  # the pattern indexes go first (not rebuilt for nothing)
        for column in COLUMNS:
            cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = %s AND indexdef LIKE %s",
                           ["customers_customer", f"%({column} varchar_pattern_ops)%"])
            for (name,) in cursor.fetchall():
                schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')
    _collate(apps, schema_editor, "C")


def backwards(apps, schema_editor):
    customer = _collate(apps, schema_editor, "default")
    if customer is not None:
        for column in COLUMNS:
            schema_editor.execute(schema_editor._create_like_index_sql(customer, customer._meta.get_field(column)))


class Migration(migrations.Migration):
    dependencies = [("customers", "0015_name_token_collation")]

    operations = [migrations.RunPython(forwards, backwards)]
