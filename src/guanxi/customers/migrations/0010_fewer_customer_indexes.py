"""Drop three single-column customer indexes that no query needs (see the fields' comments).

The index drops are written out: Django's SQLite backend would rebuild the whole customer
table (three times) to drop them.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

DROPPED = {
    "customers_customer_created_by_id_e3e9e010": '"created_by_id"',
    "customers_customer_market_41b948b3": '"market"',
    "customers_customer_org_unit_id_ff40f37e": '"org_unit_id"',
}


def drop(apps, schema_editor):
    for name in [*DROPPED, "customers_customer_market_41b948b3_like"]:  # _like: PostgreSQL's pattern index
        schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')


def create(apps, schema_editor):
    for name, column in DROPPED.items():
        schema_editor.execute(f'CREATE INDEX IF NOT EXISTS "{name}" ON "customers_customer" ({column})')


class Migration(migrations.Migration):

    dependencies = [
        ('core', '0003_deferred_index'),
        ('customers', '0009_name_search_fts'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(drop, create)],
            state_operations=[
                migrations.AlterField(
                    model_name='customer',
                    name='created_by',
                    field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL),
                ),
                migrations.AlterField(
                    model_name='customer',
                    name='market',
                    field=models.CharField(choices=[('agri', 'Agriculture, rural areas and farmers'), ('company', 'Company'), ('personal', 'Personal')], max_length=10, verbose_name='market line'),
                ),
                migrations.AlterField(
                    model_name='customer',
                    name='org_unit',
                    field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='customers', to='core.orgunit', verbose_name='org unit'),
                ),
            ],
        ),
    ]
