"""The default authority matrix of the domain reference (§8) and the credit committee.

Outlet: farmer and personal lines up to a compared amount of 300,000 unsecured, 1,000,000 secured;
the credit department / deputy president up to 5,000,000; the credit committee above, where a
two-thirds majority carries. The committee starts without members: the bank names them.
"""

from decimal import Decimal

from django.db import migrations

DEFAULT_RULES = [
    ("outlet", "farmer", "unsecured", Decimal("300000")),
    ("outlet", "person", "unsecured", Decimal("300000")),
    ("outlet", "farmer", "secured", Decimal("1000000")),
    ("outlet", "person", "secured", Decimal("1000000")),
    ("department", "", "", Decimal("5000000")),
    ("committee", "", "", None),
]


def seed(apps, schema_editor):
    AuthorityRule = apps.get_model("credit", "AuthorityRule")
    CreditCommittee = apps.get_model("credit", "CreditCommittee")
    if not AuthorityRule.objects.exists():
        for level, customer_type, guarantee_class, limit in DEFAULT_RULES:
            AuthorityRule.objects.create(level=level, customer_type=customer_type, guarantee_class=guarantee_class,
                                         limit=limit)
    if not CreditCommittee.objects.exists():
        CreditCommittee.objects.create(name="贷款审查委员会", majority_numerator=2, majority_denominator=3)


def unseed(apps, schema_editor):
    apps.get_model("credit", "AuthorityRule").objects.all().delete()
    apps.get_model("credit", "CreditCommittee").objects.all().delete()


class Migration(migrations.Migration):

    dependencies = [
        ("credit", "0003_approvals_campaigns"),
    ]

    operations = [migrations.RunPython(seed, unseed)]
