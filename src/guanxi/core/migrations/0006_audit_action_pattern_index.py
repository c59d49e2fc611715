"""The audit log's action keeps one index: on PostgreSQL the pattern index.

`db_index=True` on a CharField gives PostgreSQL two indexes, a B-tree and a `varchar_pattern_ops`
one. The log page filters actions by their start (`action__startswith`, LIKE 'customer.%'), which
only the pattern index serves, and the pattern index serves equality too: the B-tree cost every
entry written (every customer an import creates or changes) and a bulk load's rebuild, for nothing.
On SQLite the plain index stays, under its new name. Done by hand, as customers 0014: Django's
AlterField would rebuild the table on SQLite and lose the append-only triggers (0002).
"""

from django.db import migrations, models

TABLE = "core_auditentry"
OLD = "core_auditentry_action_6ad0fad5"  # Django's name for the db_index B-tree (+ "_like" on PostgreSQL)
NEW = "core_audit_action"


def forward(apps, schema_editor):
    postgres = schema_editor.connection.vendor == "postgresql"
    with schema_editor.connection.cursor() as cursor:
        # A bulk load killed before this upgrade may have left them dropped, to be built again under
        # their old names (`core.bulkload.indexes_restore`): build the new one instead.
        cursor.execute("DELETE FROM core_deferredindex WHERE name IN (%s, %s)", [OLD, f"{OLD}_like"])
        cursor.execute(f'DROP INDEX IF EXISTS "{OLD}"')
        if postgres:
            cursor.execute(f'ALTER INDEX IF EXISTS "{OLD}_like" RENAME TO "{NEW}"')
            cursor.execute(f'CREATE INDEX IF NOT EXISTS "{NEW}" ON "{TABLE}" ("action" varchar_pattern_ops)')
        else:  # SQLite cannot rename an index
            cursor.execute(f'CREATE INDEX IF NOT EXISTS "{NEW}" ON "{TABLE}" ("action")')


def backward(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f'DROP INDEX IF EXISTS "{NEW}"')
        cursor.execute(f'CREATE INDEX IF NOT EXISTS "{OLD}" ON "{TABLE}" ("action")')
        if schema_editor.connection.vendor == "postgresql":
            cursor.execute(f'CREATE INDEX IF NOT EXISTS "{OLD}_like" ON "{TABLE}" ("action" varchar_pattern_ops)')


class Migration(migrations.Migration):

    dependencies = [("core", "0005_audit_changes_json")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(forward, backward)],
            state_operations=[
                migrations.AlterField(
                    model_name="auditentry",
                    name="action",
                    field=models.CharField(max_length=50, verbose_name="action"),
                ),
                migrations.AddIndex(
                    model_name="auditentry",
                    index=models.Index(fields=["action"], name=NEW, opclasses=["varchar_pattern_ops"]),
                ),
            ],
        ),
    ]
