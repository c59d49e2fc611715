"""Ownership API: unassigned lists and counts, history, owner change, transfer, rules run."""

from __future__ import annotations

import json

import pytest

from guanxi.core.models import AuditEntry
from guanxi.core.services import token_create
from guanxi.relationships.models import Assignment
from tests.factories import CustomerFactory


@pytest.fixture
def api(client):
    class Api:
        headers: dict = {}

        def login(self, user):
            self.headers = {"HTTP_AUTHORIZATION": f"Bearer {token_create(acting_user=None, user=user)}"}
            return self

        def get(self, path, **params):
            return client.get(f"/api/v1/relationships{path}", params, **self.headers)

        def post(self, path, payload):
            return client.post(f"/api/v1/relationships{path}", json.dumps(payload), content_type="application/json",
                               **self.headers)

    return Api()


def test_unassigned_list_and_counts_for_a_head(api, bank, customers):
    CustomerFactory(org_unit=bank.b2)
    api.login(bank.hank)
    body = api.get("/unassigned").json()
    assert [row["customer_no"] for row in body["items"]] == [customers.unassigned.customer_no]
    assert api.get("/unassigned/counts").json() == [{"org_code": "B1", "org_name": bank.b1.name, "count": 1}]


def test_a_manager_gets_403_on_unassigned(api, bank):
    assert api.login(bank.alice).get("/unassigned").status_code == 403


def test_the_unassigned_api_list_query_count_is_bounded(api, bank, django_assert_max_num_queries):
    for _ in range(30):
        CustomerFactory(org_unit=bank.b1)
    api.login(bank.hank)
    with django_assert_max_num_queries(8):
        assert api.get("/unassigned").status_code == 200


def test_running_the_rules_through_the_api_empties_unassigned(api, bank, customers, rules):
    api.login(bank.hank)
    preview = api.post("/rules/run", {"dry_run": True}).json()
    assert preview["changed"] == 1 and preview["per_rule"]["deposits to tellers"] == 1
    assert api.post("/rules/run", {}).json()["changed"] == 1
    assert api.get("/unassigned").json()["count"] == 0


def test_a_manager_cannot_run_the_rules_through_the_api(api, bank, rules):
    assert api.login(bank.alice).post("/rules/run", {}).status_code == 403


def test_owner_change_and_history_through_the_api(api, bank, customers):
    api.login(bank.hank)
    pk = customers.alice_person.pk
    response = api.post(f"/customers/{pk}/owner", {"owner": "bob", "reason": "cover", "expected_owner": "alice"})
    assert response.status_code == 200 and response.json()["owner"] == "bob"
    history = api.get(f"/customers/{pk}/history").json()["items"]
    assert [(h["owner"], h["active"]) for h in history] == [("bob", True), ("alice", False)]
    assert history[1]["end_reason"] == "cover"


def test_a_stale_owner_change_is_422(api, bank, customers):
    response = api.login(bank.hank).post(f"/customers/{customers.alice_person.pk}/owner",
                                         {"owner": "bob", "reason": "x", "expected_owner": None})
    assert response.status_code == 422 and "已被他人分配" in response.json()["detail"][0]["msg"]  # someone else


def test_owner_change_outside_the_subtree_is_404(api, bank, customers):
    response = api.login(bank.hank).post(f"/customers/{customers.carol_company.pk}/owner",
                                         {"owner": "bob", "reason": "x"})
    assert response.status_code == 404


def test_transfer_through_the_api_is_one_audited_operation(api, bank, customers):
    response = api.login(bank.hank).post("/transfers", {"from_user": "alice", "to_users": ["bob"], "reason": "left"})
    assert response.status_code == 200 and response.json() == {"count": 2, "to": {"bob": 2}}
    assert AuditEntry.objects.filter(action="assignment.transfer").count() == 1
    assert not Assignment.objects.filter(owner=bank.alice, active=True).exists()


def test_a_manager_cannot_transfer_through_the_api(api, bank, customers):
    response = api.login(bank.bob).post("/transfers", {"from_user": "alice", "to_users": ["bob"], "reason": "x"})
    assert response.status_code == 403


def test_a_line_department_transfer_outside_its_line_is_403(api, bank, customers):
    response = api.login(bank.lena).post("/transfers", {"from_user": "alice", "to_users": ["bob"], "reason": "x"})
    assert response.status_code == 403
    response = api.login(bank.lena).post("/transfers", {"from_user": "alice", "to_users": ["bob"], "reason": "x",
                                                        "customer_ids": [customers.alice_farmer.pk]})
    assert response.status_code == 200 and response.json()["count"] == 1


def test_staff_history_through_the_api(api, bank, customers):
    body = api.login(bank.hank).get("/staff/alice/history").json()
    assert {h["customer_no"] for h in body["items"]} == {customers.alice_person.customer_no,
                                                           customers.alice_farmer.customer_no}
    assert api.get("/staff/carol/history").status_code == 404
