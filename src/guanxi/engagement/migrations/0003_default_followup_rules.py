"""The default visit frequencies of the bank's plan: high-tier monthly, mid-tier quarterly, general yearly."""

from django.db import migrations

DEFAULTS = {"high": 1, "mid": 3, "general": 12}


def add_defaults(apps, schema_editor):
    FollowUpRule = apps.get_model("engagement", "FollowUpRule")
    for tier, months in DEFAULTS.items():
        FollowUpRule.objects.get_or_create(tier=tier, market="", defaults={"interval_months": months})


class Migration(migrations.Migration):

    dependencies = [
        ("engagement", "0002_visits_care_messages"),
    ]

    operations = [
        migrations.RunPython(add_defaults, migrations.RunPython.noop),
    ]
