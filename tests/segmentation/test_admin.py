"""Editing the mapping (system administrator) and the thresholds (administrator or that line's department)."""

from decimal import Decimal

from guanxi.core.models import AuditEntry
from guanxi.customers.models import Customer
from guanxi.segmentation.models import SubMarket, SubMarketRule, TierThreshold
from guanxi.segmentation.services import segments_recompute

THRESHOLDS = {"deposit_high": "800000", "loan_high": "2000000", "deposit_mid": "50000", "loan_mid": "500000"}


def test_the_sysadmin_sees_the_rules(bank, login):
    response = login(bank.sam).get("/segments/rules/")
    assert response.status_code == 200 and "林场" in response.content.decode()


def test_a_manager_may_not_see_or_edit_the_rules(bank, login):
    client = login(bank.alice)
    assert client.get("/segments/rules/").status_code == 403
    forest = SubMarket.objects.get(market="agri", code="forest_farm")
    assert client.post("/segments/rules/new/", {"market": "agri", "kind": "address_keyword", "value": "苗圃",
                                                "sub_market": forest.pk, "priority": 5}).status_code == 403
    assert not SubMarketRule.objects.filter(value="苗圃").exists()


def test_the_sysadmin_adds_a_rule_which_is_applied_and_audited(bank, login, make):
    nursery = make("farmer", address="五大连池苗圃")
    segments_recompute(acting_user=None)
    forest = SubMarket.objects.get(market="agri", code="forest_farm")
    response = login(bank.sam).post("/segments/rules/new/", {"market": "agri", "kind": "address_keyword",
                                                             "value": "苗圃", "sub_market": forest.pk, "priority": 5})
    assert response.status_code == 302
    assert Customer.objects.get(pk=nursery.pk).sub_market == "forest_farm"
    entry = AuditEntry.objects.get(action="segments.rule_create")
    assert entry.actor == bank.sam and entry.changes["value"] == [None, "苗圃"]


def test_the_sysadmin_moves_a_section_to_another_sub_market(bank, login, make):
    lessor = make("company", industry="L")
    segments_recompute(acting_user=None)
    rule = SubMarketRule.objects.get(market="company", value="L")
    finance = SubMarket.objects.get(market="company", code="finance_tax")
    response = login(bank.sam).post(f"/segments/rules/{rule.pk}/", {
        "market": "company", "kind": "industry_section", "value": "L", "sub_market": finance.pk, "priority": 100})
    assert response.status_code == 302
    assert Customer.objects.get(pk=lessor.pk).sub_market == "finance_tax"
    entry = AuditEntry.objects.get(action="segments.rule_update")
    assert entry.changes == {"sub_market": ["resident_services", "finance_tax"]}


def test_a_rule_must_point_to_a_sub_market_of_its_line(bank, login):
    farm = SubMarket.objects.get(market="agri", code="farm")
    response = login(bank.sam).post("/segments/rules/new/", {"market": "company", "kind": "industry_section",
                                                             "value": "B", "sub_market": farm.pk, "priority": 1})
    assert response.status_code == 200 and response.context["form"].errors["sub_market"]


def test_the_sysadmin_deletes_a_rule_audited(bank, login, make):
    farm_customer = make("farmer", address="红星农场")
    segments_recompute(acting_user=None)
    rule = SubMarketRule.objects.get(market="agri", value="农场")
    assert login(bank.sam).post(f"/segments/rules/{rule.pk}/delete/").status_code == 302
    assert Customer.objects.get(pk=farm_customer.pk).sub_market == "township"
    assert AuditEntry.objects.filter(action="segments.rule_delete", object_id=str(rule.pk)).exists()


def test_the_line_department_edits_its_own_lines_thresholds(bank, login):
    response = login(bank.lena).post("/segments/thresholds/agri/", THRESHOLDS)
    assert response.status_code == 302
    assert TierThreshold.objects.get(market="agri").deposit_high == Decimal("800000.00")
    assert AuditEntry.objects.filter(action="segments.threshold_update", actor=bank.lena).exists()


def test_the_line_department_may_not_edit_another_lines_thresholds(bank, login):
    assert login(bank.lena).post("/segments/thresholds/company/", THRESHOLDS).status_code == 403
    assert TierThreshold.objects.get(market="company").deposit_high == Decimal("1000000.00")


def test_a_manager_may_not_edit_thresholds(bank, login, api):
    assert login(bank.alice).post("/segments/thresholds/personal/", THRESHOLDS).status_code == 403
    assert api.login(bank.alice).put("/segments/thresholds/personal", THRESHOLDS).status_code == 403


def test_mid_thresholds_may_not_exceed_high_ones(bank, login):
    response = login(bank.sam).post("/segments/thresholds/personal/", {**THRESHOLDS, "deposit_mid": "900000"})
    assert response.status_code == 200 and response.context["form"].errors["deposit_mid"]


def test_the_sysadmin_sets_thresholds_over_the_api(bank, api):
    response = api.login(bank.sam).put("/segments/thresholds/company", THRESHOLDS)
    assert response.status_code == 200 and Decimal(response.json()["deposit_high"]) == Decimal("800000")
    listed = api.get("/segments/thresholds").json()
    assert [t["market"] for t in listed] == ["agri", "company", "personal"]


def test_everyone_signed_in_sees_the_thresholds(bank, login):
    response = login(bank.alice).get("/segments/thresholds/")
    assert response.status_code == 200 and "/segments/thresholds/personal/" not in response.content.decode()
