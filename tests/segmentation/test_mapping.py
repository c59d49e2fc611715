"""Market segmentation: each market line's sub-market from the editable rules."""

from guanxi.customers.models import Customer
from guanxi.segmentation.models import SubMarket, SubMarketRule
from guanxi.segmentation.services import segments_recompute


def _sub_market(customer) -> str:
    return Customer.objects.values_list("sub_market", flat=True).get(pk=customer.pk)


def test_farmers_are_segmented_by_area_keywords_with_township_as_default(bank, make):
    farm = make("farmer", address="黑河市红星农场三队")
    forest = make("farmer", address="爱辉区胜山林场")
    village = make("farmer", address="西岗子镇新生村")
    segments_recompute(acting_user=None)
    assert (_sub_market(farm), _sub_market(forest), _sub_market(village)) == ("farm", "forest_farm", "township")


def test_companies_follow_the_sections_of_the_reference_table(bank, make):
    maker = make("company", industry="C1311")
    lessor = make("company", industry="L")
    school = make("company", industry="P8321")
    unknown = make("company", industry="")
    segments_recompute(acting_user=None)
    assert _sub_market(maker) == "manufacturing"
    assert _sub_market(lessor) == "resident_services"
    assert _sub_market(school) == "education_health_culture"
    assert _sub_market(unknown) == "other"


def test_the_company_line_has_the_plans_fifteen_sub_markets_and_other(bank):
    codes = set(SubMarket.objects.filter(market="company").values_list("code", flat=True))
    assert len(codes) == 16 and "other" in codes
    assert SubMarketRule.objects.filter(market="company", kind="industry_section").count() == 20


def test_people_are_segmented_by_workplace(bank, make):
    civil_servant = make(industry="S9221")
    teacher = make(industry="P")
    nurse = make(industry="Q")
    shopkeeper = make(industry="F")
    factory_worker = make(industry="C")
    unknown = make()
    segments_recompute(acting_user=None)
    assert {_sub_market(c) for c in (civil_servant, teacher, nurse)} == {"public_institution"}
    assert _sub_market(shopkeeper) == "tertiary"
    assert _sub_market(factory_worker) == "other"
    assert _sub_market(unknown) == "other"


def test_a_rule_only_applies_to_its_own_market_line(bank, make):
    company_on_a_farm = make("company", industry="C", address="红星农场")
    segments_recompute(acting_user=None)
    assert _sub_market(company_on_a_farm) == "manufacturing"


def test_the_lowest_priority_number_wins(bank, make):
    both = make("farmer", address="红星农场林场路")
    segments_recompute(acting_user=None)
    assert _sub_market(both) == "forest_farm"
    SubMarketRule.objects.filter(market="agri", value="农场").update(priority=1)
    segments_recompute(acting_user=None)
    assert _sub_market(both) == "farm"


def test_address_keywords_are_matched_literally(bank, make):
    farm = SubMarket.objects.get(market="agri", code="farm")
    SubMarketRule.objects.create(market="agri", kind="address_keyword", value="50%_", sub_market=farm, priority=1)
    literal = make("farmer", address="某地50%_号")
    wildcard_bait = make("farmer", address="某地50号楼")
    segments_recompute(acting_user=None)
    assert _sub_market(literal) == "farm"
    assert _sub_market(wildcard_bait) == "township"


def test_rules_of_both_kinds_apply_in_one_priority_order(bank, make):
    """An address keyword ranked before the industry sections wins over them; ranked after them,
    it still places the customers whose industry matches no section before the line's default."""
    estate = SubMarket.objects.get(market="company", code="real_estate")
    rule = SubMarketRule.objects.create(market="company", kind="address_keyword", value="开发区",
                                        sub_market=estate, priority=0)
    maker_in_zone = make("company", industry="C1311", address="经济开发区1号")
    unknown_in_zone = make("company", industry="", address="经济开发区2号")
    maker_elsewhere = make("company", industry="C1311", address="新华镇")
    segments_recompute(acting_user=None)
    assert [_sub_market(c) for c in (maker_in_zone, unknown_in_zone, maker_elsewhere)] == [
        "real_estate", "real_estate", "manufacturing"]
    rule.priority = 10_000
    rule.save()
    segments_recompute(acting_user=None)
    assert [_sub_market(c) for c in (maker_in_zone, unknown_in_zone, maker_elsewhere)] == [
        "manufacturing", "real_estate", "manufacturing"]
