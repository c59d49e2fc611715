"""On SQLite, name tokens move from `NameToken` rows to one FTS5 row per customer (see `customers.search`)."""

from django.db import migrations

FTS_TABLE = "customers_namesearch"


def fts_term(token):
    """As `customers.search.fts_term` (kept here so that the migration does not change with the app)."""
    return token.encode("utf-32-be").hex()


def to_fts(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5(tokens, detail=none)")
        # The delete trigger is created (and re-created after any rebuild of the customer table)
        # by `customers.search.ensure_fts`, run after every migrate.
        cursor.execute("SELECT customer_id, token FROM customers_nametoken ORDER BY customer_id")
        rows, current, terms = [], None, []
        for customer_id, token in cursor.fetchall():
            if customer_id != current:
                if terms:
                    rows.append((current, " ".join(terms)))
                current, terms = customer_id, []
            terms.append(fts_term(token))
        if terms:
            rows.append((current, " ".join(terms)))
        cursor.executemany(f"INSERT INTO {FTS_TABLE} (rowid, tokens) VALUES (%s, %s)", rows)  # noqa: S608
        cursor.execute("DELETE FROM customers_nametoken")


def from_fts(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"SELECT rowid, tokens FROM {FTS_TABLE}")  # noqa: S608
        rows = [(
            bytes.fromhex(term).decode("utf-32-be"), customer_id)
            for customer_id, text in cursor.fetchall() for term in text.split()]
        cursor.executemany("INSERT INTO customers_nametoken (token, customer_id) VALUES (%s, %s)", rows)
        cursor.execute("DROP TRIGGER IF EXISTS customers_namesearch_delete")
        cursor.execute(f"DROP TABLE {FTS_TABLE}")


class Migration(migrations.Migration):

    dependencies = [
        ("customers", "0008_customer_email"),
    ]

    operations = [migrations.RunPython(to_fts, from_fts)]
