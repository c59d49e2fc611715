"""The credit pages as a relationship manager, a branch head and a credit approver use them."""

from decimal import Decimal

from django.db import connection
from django.test.utils import CaptureQueriesContext

from guanxi.core.models import AuditEntry
from guanxi.credit.models import CreditLine, GradeOverride, LocalAverage, RatingInput
from guanxi.credit.services import assessment_confirm, assessment_run


def test_the_rating_page_explains_the_score(bank, make_farmer, login):
    farmer = make_farmer()
    client = login(bank.alice)
    assert client.post(f"/credit/customers/{farmer.pk}/assess/").status_code == 302
    page = client.get(f"/credit/customers/{farmer.pk}/").content.decode()
    for text in ("农户信用等级评定表", "人口数", "家庭资产总值", "当地平均值 300,000.00 的 1.50 倍", "97", "AAA",
                 "确认等级"):
        assert text in page, text


def test_the_page_lists_what_to_collect_in_chinese(bank, make_farmer, login):
    farmer = make_farmer(members=(), inputs={})
    client = login(bank.alice)
    client.post(f"/credit/customers/{farmer.pk}/assess/")
    page = client.get(f"/credit/customers/{farmer.pk}/").content.decode()
    assert "评级前请先采集以下信息" in page and "劳动力人数" in page and "人民银行征信状况" in page


def test_a_manager_records_inputs_in_the_form(bank, make_farmer, login):
    farmer = make_farmer(inputs={})
    client = login(bank.alice)
    page = client.get(f"/credit/customers/{farmer.pk}/inputs/")
    assert "村级评议小组综合评价" in page.content.decode()
    response = client.post(f"/credit/customers/{farmer.pk}/inputs/", {
        "member_shares": "8000", "overall_judgement": "good", "repayment_record": "on_time",
        "credit_reference": "clean", "registered_in_area": "true", "full_civil_capacity": "true",
        "lawful_business": "false", "business_income": ""})
    assert response.status_code == 302
    assert RatingInput.objects.get(customer=farmer, key="lawful_business").number == 0
    assert not RatingInput.objects.filter(customer=farmer, key="business_income").exists()
    entry = AuditEntry.objects.get(action="credit.inputs_save")
    assert entry.changes["member_shares"] == [None, "8000.00"]


def test_a_wrong_value_comes_back_on_the_form(bank, make_farmer, login):
    farmer = make_farmer(inputs={})
    response = login(bank.alice).post(f"/credit/customers/{farmer.pk}/inputs/", {"member_shares": "很多"})
    assert response.status_code == 200 and response.context["form"].errors["member_shares"]


def test_confirm_adjust_and_approve_in_pages(bank, make_farmer, login):
    farmer = make_farmer()
    assessment = assessment_run(acting_user=bank.alice, customer=farmer)
    response = login(bank.alice).post(f"/credit/assessments/{assessment.pk}/confirm/",
                                      {"grade": "AA", "reason": "村组评议偏高"})
    assert response.status_code == 302
    override = GradeOverride.objects.get()
    detail = login(bank.hank).get(f"/credit/assessments/{assessment.pk}/").content.decode()
    assert "调整等级须填写原因" not in detail and "批准" in detail  # the head decides, he does not confirm
    approvals = login(bank.hank).get("/credit/approvals/").content.decode()
    assert farmer.name in approvals and "村组评议偏高" in approvals
    response = login(bank.hank).post(f"/credit/overrides/{override.pk}/decide/", {"decision": "approve",
                                                                                  "next": "approvals"})
    assert response.status_code == 302 and response["Location"] == "/credit/approvals/"
    assessment.refresh_from_db()
    assert assessment.final_grade == "AA"


def test_a_manager_has_no_approvals_page(bank, login):
    assert login(bank.alice).get("/credit/approvals/").status_code == 403


def test_the_line_form_calculates_and_shows_the_sheet(bank, make_farmer, login):
    assessment = assessment_confirm(acting_user=bank.alice,
                                    assessment=assessment_run(acting_user=bank.alice, customer=make_farmer()))
    client = login(bank.alice)
    assert client.get(f"/credit/assessments/{assessment.pk}/line/").status_code == 200
    response = client.post(f"/credit/assessments/{assessment.pk}/line/", {
        "requested_amount": "120000", "g1_type": "credit", "g2_type": "mortgage", "g2_kind": "housing",
        "g2_value": "100000"})
    line = CreditLine.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/credit/lines/{line.pk}/"
    assert line.amount == Decimal("120000.00")
    page = client.get(f"/credit/lines/{line.pk}/").content.decode()
    assert "客户授信额度测算表" in page and "家庭资产总值部分" in page and "120,000.00" in page


def test_a_mortgage_without_value_is_an_error_on_the_form(bank, make_farmer, login):
    assessment = assessment_confirm(acting_user=bank.alice,
                                    assessment=assessment_run(acting_user=bank.alice, customer=make_farmer()))
    response = login(bank.alice).post(f"/credit/assessments/{assessment.pk}/line/",
                                      {"g1_type": "mortgage", "g1_kind": "housing"})
    assert response.status_code == 200 and response.context["form"].non_field_errors()
    assert not CreditLine.objects.exists()


def test_the_assessment_list_does_not_grow_queries(bank, make_farmer, login):
    client = login(bank.hank)
    assessment_run(acting_user=bank.alice, customer=make_farmer())
    client.get("/credit/")
    with CaptureQueriesContext(connection) as one:
        client.get("/credit/")
    for _ in range(3):
        assessment_run(acting_user=bank.alice, customer=make_farmer())
    with CaptureQueriesContext(connection) as many:
        response = client.get("/credit/")
    assert len(response.context["page"]) == 4 and len(many) == len(one)


def test_a_credit_approver_sets_a_local_average(bank, login):
    client = login(bank.cora)
    response = client.post("/credit/averages/", {"org_code": "B2", "key": "net_income", "amount": "55000"})
    assert response.status_code == 302
    assert LocalAverage.objects.get(org_unit=bank.b2, key="net_income").amount == Decimal("55000.00")
    assert AuditEntry.objects.filter(action="credit.local_average_set", actor=bank.cora).exists()
    assert login(bank.hank).get("/credit/averages/").status_code == 403


def test_the_scorecard_pages_render(bank, login):
    from guanxi.credit.models import Scorecard

    client = login(bank.alice)
    assert "农户信用等级评定表" in client.get("/credit/scorecards/").content.decode()
    page = client.get(f"/credit/scorecards/{Scorecard.objects.get(customer_type='company').pk}/").content.decode()
    assert "资产负债率" in page and "资不抵债" in page


def test_a_branch_head_rates_his_customers_from_the_list(bank, make_farmer, login):
    make_farmer()
    make_farmer(owner=bank.carol, org_unit=bank.b2)
    client = login(bank.hank)
    response = client.post("/credit/runs/", {"customer_type": "farmer"})
    assert response.status_code == 302
    page = client.get("/credit/").content.decode()
    assert "批量评级" in page and "AAA 1" in page
    from guanxi.credit.models import RatingRun

    assert RatingRun.objects.get().assessed == 1
    assert login(bank.audrey).post("/credit/runs/").status_code == 403


def test_the_customer_panel_shows_grade_and_line(bank, make_farmer, rf):
    from django.template import Context, Template

    from guanxi.credit.services import credit_line_calculate

    farmer = make_farmer()
    assessment = assessment_confirm(acting_user=bank.alice,
                                    assessment=assessment_run(acting_user=bank.alice, customer=farmer))
    credit_line_calculate(acting_user=bank.alice, assessment=assessment)
    request = rf.get("/")
    request.user = bank.alice
    html = Template("{% load credit %}{% credit_panel customer %}").render(Context({"customer": farmer,
                                                                                    "request": request}))
    assert "AAA" in html and "160,000.00" in html and f"/credit/customers/{farmer.pk}/" in html
