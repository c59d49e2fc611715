"""The audit log's change sets as PostgreSQL's json rather than jsonb (`JSONDocumentField`).

Only PostgreSQL's column changes: on SQLite both are the same text, and Django's AlterField
would rebuild the table there, losing the triggers that keep the log append-only (0002).
"""

from django.db import migrations

import guanxi.core.fields


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute('ALTER TABLE "core_auditentry" ALTER COLUMN "changes" TYPE json')


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute('ALTER TABLE "core_auditentry" ALTER COLUMN "changes" TYPE jsonb')


class Migration(migrations.Migration):
    dependencies = [("core", "0004_audit_entry_indexes")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="auditentry",
                    name="changes",
                    field=guanxi.core.fields.JSONDocumentField(blank=True, default=dict, verbose_name="changes"),
                ),
            ],
            database_operations=[migrations.RunPython(forwards, backwards)],
        ),
    ]
