"""Who may rate whom: managers their own customers, heads their subtree, everyone else reads at most (404 when
the customer is not theirs)."""

import pytest

from guanxi.credit.models import RatingAssessment
from guanxi.credit.services import assessment_run


@pytest.fixture
def farmer(make_farmer):
    return make_farmer()


@pytest.mark.parametrize("username", ["bob", "carol", "tina"])
def test_a_manager_cannot_rate_or_read_another_managers_customer(bank, farmer, api, username):
    user = getattr(bank, username)
    assert api(user, "post", f"/credit/customers/{farmer.pk}/assessments").status_code == 404
    assert api(user, "get", f"/credit/customers/{farmer.pk}/inputs").status_code == 404
    assert not RatingAssessment.objects.exists()


def test_pages_of_another_managers_customer_are_404(bank, farmer, login):
    client = login(bank.bob)
    assert client.get(f"/credit/customers/{farmer.pk}/").status_code == 404
    assert client.post(f"/credit/customers/{farmer.pk}/assess/").status_code == 404
    assessment = assessment_run(acting_user=bank.alice, customer=farmer)
    assert client.get(f"/credit/assessments/{assessment.pk}/").status_code == 404
    assert client.post(f"/credit/assessments/{assessment.pk}/confirm/", {"grade": "AAA"}).status_code == 404


def test_the_owner_and_the_branch_head_rate_the_customer(bank, farmer, api):
    assert api(bank.alice, "post", f"/credit/customers/{farmer.pk}/assessments").status_code == 201
    assert api(bank.hank, "post", f"/credit/customers/{farmer.pk}/assessments").status_code == 201


def test_the_auditor_reads_but_does_not_rate(bank, farmer, api, login):
    assessment = assessment_run(acting_user=bank.alice, customer=farmer)
    assert api(bank.audrey, "get", f"/credit/assessments/{assessment.pk}").status_code == 200
    assert login(bank.audrey).get(f"/credit/customers/{farmer.pk}/").status_code == 200
    assert api(bank.audrey, "post", f"/credit/customers/{farmer.pk}/assessments").status_code == 403
    assert api(bank.audrey, "post", f"/credit/assessments/{assessment.pk}/confirm", {}).status_code == 403
    assert api(bank.audrey, "put", f"/credit/customers/{farmer.pk}/inputs",
               {"values": {"member_shares": "1"}}).status_code == 403
    assert login(bank.audrey).post(f"/credit/customers/{farmer.pk}/inputs/", {"member_shares": "1"}).status_code == 403
    assessment.refresh_from_db()
    assert assessment.status == "proposed"


def test_the_line_department_reads_its_line_but_does_not_rate(bank, farmer, api):
    assessment = assessment_run(acting_user=bank.alice, customer=farmer)
    assert api(bank.lena, "get", f"/credit/assessments/{assessment.pk}").status_code == 200
    assert api(bank.lena, "post", f"/credit/customers/{farmer.pk}/assessments").status_code == 403


def test_the_administrators_see_no_assessment(bank, farmer, api):
    assessment = assessment_run(acting_user=bank.alice, customer=farmer)
    for user in (bank.sam, bank.sec, bank.ada):
        assert api(user, "get", f"/credit/assessments/{assessment.pk}").status_code == 404
        assert api(user, "get", "/credit/assessments").json()["count"] == 0


def test_the_list_holds_only_assessments_in_scope(bank, make_farmer, api):
    mine = assessment_run(acting_user=bank.alice, customer=make_farmer())
    assessment_run(acting_user=bank.carol, customer=make_farmer(owner=bank.carol, org_unit=bank.b2))
    assert [row["id"] for row in api(bank.alice, "get", "/credit/assessments").json()["items"]] == [mine.pk]
    assert api(bank.hank, "get", "/credit/assessments").json()["count"] == 1
    assert api(bank.cora, "get", "/credit/assessments").json()["count"] == 2
