"""Seed the sub-markets and mapping rules of the plan (实施方案) and the default tier thresholds.

Company: the 15 sub-markets of the reference table `customers/data/industry_sections.csv`
(GB/T 4754 sections A–T) plus `other`; agri: 农场 / 林场 by address keyword, default 乡镇;
personal: S/P/Q → 行政事业单位, F–O and R → 第三产业, default other.
"""

import csv
from pathlib import Path

from django.db import migrations

COMPANY_EN = {
    "agriculture": "Agriculture, forestry, animal husbandry and fishery", "mining": "Mining",
    "manufacturing": "Manufacturing", "utilities": "Electricity, heat, gas and water",
    "construction": "Construction", "wholesale_retail": "Wholesale and retail",
    "transport": "Transport, storage and post", "hospitality": "Accommodation and catering",
    "it_services": "Information technology services", "finance_tax": "Finance and taxation",
    "real_estate": "Real estate", "resident_services": "Resident services, repair and other services",
    "public_facilities": "Public facilities management",
    "education_health_culture": "Education, health, culture, sports and entertainment",
    "public_administration": "Public administration, social security and social organisations",
}
PERSONAL_PUBLIC = "SPQ"
PERSONAL_TERTIARY = "FGHIJKLMNOR"


def _sections():
    import guanxi.customers

    path = Path(guanxi.customers.__file__).parent / "data" / "industry_sections.csv"
    with path.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def seed(apps, schema_editor):
    SubMarket = apps.get_model("segmentation", "SubMarket")
    Rule = apps.get_model("segmentation", "SubMarketRule")
    Threshold = apps.get_model("segmentation", "TierThreshold")

    def sub(market, code, name_zh, name_en, default=False):
        return SubMarket.objects.get_or_create(market=market, code=code, defaults={
            "name_zh": name_zh, "name_en": name_en, "is_default": default})[0]

    farm = sub("agri", "farm", "农场", "Farms")
    forest = sub("agri", "forest_farm", "林场", "Forest farms")
    sub("agri", "township", "乡镇", "Townships", default=True)
    Rule.objects.get_or_create(market="agri", kind="address_keyword", value="林场",
                               defaults={"sub_market": forest, "priority": 10})
    Rule.objects.get_or_create(market="agri", kind="address_keyword", value="农场",
                               defaults={"sub_market": farm, "priority": 20})

    for row in _sections():
        target = sub("company", row["sub_market"], row["sub_market_zh"], COMPANY_EN.get(row["sub_market"], ""))
        Rule.objects.get_or_create(market="company", kind="industry_section", value=row["section"],
                                   defaults={"sub_market": target, "priority": 100})
    sub("company", "other", "其他", "Other", default=True)

    public = sub("personal", "public_institution", "行政事业单位", "Government and public institutions")
    tertiary = sub("personal", "tertiary", "第三产业", "Tertiary industry")
    sub("personal", "other", "其他", "Other", default=True)
    for letters, target in ((PERSONAL_PUBLIC, public), (PERSONAL_TERTIARY, tertiary)):
        for letter in letters:
            Rule.objects.get_or_create(market="personal", kind="industry_section", value=letter,
                                       defaults={"sub_market": target, "priority": 100})

    # The model defaults are the plan's amounts (yuan; MoneyField stores them as fen).
    for market in ("agri", "company", "personal"):
        Threshold.objects.get_or_create(market=market)


def unseed(apps, schema_editor):
    apps.get_model("segmentation", "SubMarketRule").objects.all().delete()
    apps.get_model("segmentation", "SubMarket").objects.all().delete()
    apps.get_model("segmentation", "TierThreshold").objects.all().delete()


class Migration(migrations.Migration):

    dependencies = [
        ("segmentation", "0001_initial"),
    ]

    operations = [migrations.RunPython(seed, unseed)]
