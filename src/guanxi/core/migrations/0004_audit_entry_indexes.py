"""Only the audit log indexes that its filters use: none on the object type, a plain one on the object id.

Every customer an import creates or changes writes an audit entry, and each index costs every
one of them. The object type is never filtered on, and the object id is only compared whole
(PostgreSQL's pattern index `…_like`, which Django adds to an indexed text column, serves
LIKE 'x%' only).

Written by hand: on SQLite, Django alters an indexed column by rebuilding the whole table,
which would copy the whole log twice and lose its append-only triggers (0002).
"""

from django.db import migrations, models

OLD_TYPE = "core_auditentry_object_type_fca61eb3"
OLD_ID = "core_auditentry_object_id_bb227230"
NEW_ID = "core_audit_object_id"


def forwards(apps, schema_editor):
    for name in (OLD_TYPE, f"{OLD_TYPE}_like", f"{OLD_ID}_like"):
        schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f'ALTER INDEX IF EXISTS "{OLD_ID}" RENAME TO "{NEW_ID}"')
    else:  # SQLite cannot rename an index
        schema_editor.execute(f'DROP INDEX IF EXISTS "{OLD_ID}"')
    schema_editor.execute(f'CREATE INDEX IF NOT EXISTS "{NEW_ID}" ON "core_auditentry" ("object_id")')


def backwards(apps, schema_editor):
    postgres = schema_editor.connection.vendor == "postgresql"
    schema_editor.execute(f'DROP INDEX IF EXISTS "{NEW_ID}"')
    schema_editor.execute(f'CREATE INDEX "{OLD_ID}" ON "core_auditentry" ("object_id")')
    schema_editor.execute(f'CREATE INDEX "{OLD_TYPE}" ON "core_auditentry" ("object_type")')
    if postgres:
        schema_editor.execute(f'CREATE INDEX "{OLD_ID}_like" ON "core_auditentry" ("object_id" varchar_pattern_ops)')
        schema_editor.execute(
            f'CREATE INDEX "{OLD_TYPE}_like" ON "core_auditentry" ("object_type" varchar_pattern_ops)')


class Migration(migrations.Migration):
    dependencies = [("core", "0003_deferred_index")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(forwards, backwards)],
            state_operations=[
                migrations.AlterField(
                    model_name="auditentry",
                    name="object_id",
                    field=models.CharField(blank=True, max_length=64, verbose_name="object id"),
                ),
                migrations.AlterField(
                    model_name="auditentry",
                    name="object_type",
                    field=models.CharField(max_length=50, verbose_name="object type"),
                ),
                migrations.AddIndex(
                    model_name="auditentry",
                    index=models.Index(fields=["object_id"], name="core_audit_object_id"),
                ),
            ],
        ),
    ]
