"""Drop the index on the customer's name: no query uses it (names are found through their search tokens)."""

from django.db import migrations, models

NAME = "customers_customer_name_427cefae"


def drop(apps, schema_editor):
    for name in (NAME, f"{NAME}_like"):  # _like: PostgreSQL's pattern index
        schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')


def create(apps, schema_editor):
    schema_editor.execute(f'CREATE INDEX IF NOT EXISTS "{NAME}" ON "customers_customer" ("name")')


class Migration(migrations.Migration):

    dependencies = [
        ('customers', '0010_fewer_customer_indexes'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(drop, create)],
            state_operations=[
                migrations.AlterField(
                    model_name='customer',
                    name='name',
                    field=models.CharField(max_length=100, verbose_name='name'),
                ),
            ],
        ),
    ]
