"""The three default scorecards of the domain reference, published as version 1 (effective 2020-01-01).

Farmer households: the county union's 100-point table exactly (AAA ≥ 80, AA ≥ 70, A ≥ 60, below:
not a credit household), the published line formula (base by grade + 10% of total household assets
+ 30% of household business income, capped at 200,000). Persons / sole proprietors: the proposed
split 45 / 25 / 15 / 15 with bands AAA ≥ 90 … C. Small enterprises: qualitative 30, financial 70,
the AAA/AA cap gates, the micro-enterprise gates, restricted industry → B, insolvency → C.
The definitions are the JSON files in `credit/data/`; the bank edits them as new versions.
"""

import datetime
import json
from pathlib import Path

from django.db import migrations

TYPES = ("farmer", "person", "company")


def _template(customer_type):
    import guanxi.credit

    path = Path(guanxi.credit.__file__).parent / "data" / f"{customer_type}.json"
    return json.loads(path.read_text(encoding="utf-8"))


def seed(apps, schema_editor):
    Scorecard = apps.get_model("credit", "Scorecard")
    for customer_type in TYPES:
        if Scorecard.objects.filter(customer_type=customer_type).exists():
            continue
        template = _template(customer_type)
        Scorecard.objects.create(customer_type=customer_type, version=1, name=template["name"], status="published",
                                 effective_from=datetime.date(2020, 1, 1), definition=template["definition"],
                                 notes="default template (domain reference)")


def unseed(apps, schema_editor):
    apps.get_model("credit", "Scorecard").objects.filter(version=1, notes="default template (domain reference)").delete()


class Migration(migrations.Migration):

    dependencies = [
        ("credit", "0001_initial"),
    ]

    operations = [migrations.RunPython(seed, unseed)]
