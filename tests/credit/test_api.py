"""The credit API end to end: inputs, assessment with its breakdown, confirmation, line calculation."""

from django.db import connection
from django.test.utils import CaptureQueriesContext

from guanxi.credit.models import RatingInput
from guanxi.credit.services import assessment_run


def test_inputs_are_listed_with_their_labels_and_saved(bank, make_farmer, api):
    farmer = make_farmer(inputs={})
    rows = {row["key"]: row for row in api(bank.alice, "get", f"/credit/customers/{farmer.pk}/inputs").json()}
    assert set(rows) == {"member_shares", "overall_judgement", "repayment_record", "registered_in_area",
                         "full_civil_capacity", "lawful_business", "credit_reference", "business_income"}
    assert rows["overall_judgement"]["label"] == "村级评议小组综合评价"
    assert rows["overall_judgement"]["choices"] == ["excellent", "good", "fair", "poor"]
    response = api(bank.alice, "put", f"/credit/customers/{farmer.pk}/inputs",
                   {"values": {"member_shares": "12,000", "overall_judgement": "good", "registered_in_area": True}})
    assert response.status_code == 200
    saved = {i.key: (i.value, i.number, i.collected_by) for i in RatingInput.objects.filter(customer=farmer)}
    assert saved == {"member_shares": ("12000.00", 1200000, bank.alice), "overall_judgement": ("good", None, bank.alice),
                     "registered_in_area": ("true", 1, bank.alice)}


def test_a_bad_input_is_422_naming_it(bank, make_farmer, api):
    farmer = make_farmer(inputs={})
    response = api(bank.alice, "put", f"/credit/customers/{farmer.pk}/inputs",
                   {"values": {"overall_judgement": "superb", "member_shares": "-5", "occupation": "employee"}})
    assert response.status_code == 422
    fields = {item["field"] for item in response.json()["detail"]}
    assert fields == {"overall_judgement", "member_shares", "occupation"}
    assert not RatingInput.objects.exists()


def test_assess_read_confirm_and_calculate_through_the_api(bank, make_farmer, api):
    farmer = make_farmer()
    response = api(bank.alice, "post", f"/credit/customers/{farmer.pk}/assessments")
    assert response.status_code == 201
    body = response.json()
    assert (body["model_score"], body["model_grade"], body["status"], body["final_grade"]) == (97, "AAA", "proposed", "")
    rows = {row["code"]: row for row in body["breakdown"]}
    assert rows["household_size"] == {"code": "household_size", "block": "家庭基本情况", "label": "人口数",
                                      "kind": "indicator", "value": "4", "detail": "", "points": 8, "max_points": 8}
    assert rows["total_assets"]["value"] == "450,000.00" and rows["total_assets"]["points"] == 12
    assert rows["total_assets"]["detail"] == "当地平均值 300,000.00 的 1.50 倍"
    assert rows["overall_judgement"]["value"] == "优秀"
    confirmed = api(bank.alice, "post", f"/credit/assessments/{body['id']}/confirm", {"grade": "AA", "reason": "偏高"})
    assert confirmed.json()["status"] == "pending" and confirmed.json()["overrides"][0]["required_role"] == "branch_head"
    pending = api(bank.hank, "get", "/credit/overrides/pending").json()
    assert [item["to_grade"] for item in pending["items"]] == ["AA"]
    decided = api(bank.hank, "post", f"/credit/overrides/{pending['items'][0]['id']}/decision", {"approve": True})
    assert decided.json()["status"] == "approved" and decided.json()["decided_by"] == "hank"
    line = api(bank.alice, "post", f"/credit/assessments/{body['id']}/lines",
               {"requested_amount": "500000", "guarantees": [{"type": "credit"}]})
    assert line.status_code == 201
    sheet = line.json()
    # AA: 80,000 + 45,000 + 15,000 = 140,000; the model's AAA would give 160,000.
    assert (sheet["grade"], sheet["amount"], sheet["model_amount"]) == ("AA", "140000.00", "160000.00")
    assert sheet["steps"][0] == {"position": 1, "code": "base", "label": "AA级基础额度", "formula": "AA",
                                 "amount": "80000.00"}
    assert api(bank.bob, "get", f"/credit/lines/{sheet['id']}").status_code == 404


def test_missing_inputs_are_listed_with_chinese_labels(bank, make_farmer, api):
    farmer = make_farmer(members=(), inputs={})
    body = api(bank.alice, "post", f"/credit/customers/{farmer.pk}/assessments").json()
    assert body["status"] == "incomplete" and body["model_score"] is None
    labels = {m["key"]: (m["label"], m["origin"]) for m in body["missing"]}
    assert labels["labourers"] == ("劳动力人数", "家庭成员")
    assert labels["credit_reference"] == ("人民银行征信状况", "评级采集信息")


def test_a_line_on_an_unconfirmed_assessment_is_422(bank, make_farmer, api):
    assessment = assessment_run(acting_user=bank.alice, customer=make_farmer())
    response = api(bank.alice, "post", f"/credit/assessments/{assessment.pk}/lines", {})
    assert response.status_code == 422


def test_a_mortgage_without_its_value_is_422(bank, make_farmer, api):
    assessment = assessment_run(acting_user=bank.alice, customer=make_farmer())
    api(bank.alice, "post", f"/credit/assessments/{assessment.pk}/confirm", {})
    response = api(bank.alice, "post", f"/credit/assessments/{assessment.pk}/lines",
                   {"guarantees": [{"type": "mortgage", "kind": "housing"}]})
    assert response.status_code == 422 and response.json()["detail"][0]["field"] == "guarantees"


def test_the_assessment_list_takes_the_same_queries_for_one_or_many(bank, make_farmer, api):
    assessment_run(acting_user=bank.alice, customer=make_farmer())
    api(bank.alice, "get", "/credit/assessments")  # warm up the token and settings caches
    with CaptureQueriesContext(connection) as one:
        assert api(bank.alice, "get", "/credit/assessments").json()["count"] == 1
    for _ in range(3):
        assessment_run(acting_user=bank.alice, customer=make_farmer())
    with CaptureQueriesContext(connection) as many:
        assert api(bank.alice, "get", "/credit/assessments").json()["count"] == 4
    assert len(many) == len(one)


def test_the_scorecards_are_readable(bank, api):
    body = api(bank.alice, "get", "/credit/scorecards?customer_type=farmer").json()
    assert body["count"] == 1 and body["items"][0]["definition"]["bands"][0] == {"grade": "AAA", "min": 80}


def test_the_credit_endpoints_are_documented(bank, api):
    paths = api(bank.alice, "get", "/openapi.json").json()["paths"]
    for path in ("/api/v1/credit/customers/{customer_id}/assessments", "/api/v1/credit/assessments/{assessment_id}",
                 "/api/v1/credit/assessments/{assessment_id}/confirm", "/api/v1/credit/assessments/{assessment_id}/lines",
                 "/api/v1/credit/customers/{customer_id}/inputs", "/api/v1/credit/overrides/{override_id}/decision"):
        assert path in paths, path
