"""The REST API: tokens, data scope, validation, masking."""

import pytest

from guanxi.core.models import ApiToken, AuditEntry
from guanxi.core.services import token_create
from guanxi.customers.models import Customer
from guanxi.customers.synthetic import Synth


@pytest.fixture
def api(client):
    class Api:
        def __init__(self):
            self.headers = {}

        def login(self, user):
            self.headers = {"HTTP_AUTHORIZATION": f"Bearer {token_create(acting_user=None, user=user)}"}
            return self

        def get(self, path, **params):
            return client.get(f"/api/v1{path}", params, **self.headers)

        def post(self, path, payload=None):
            return client.post(f"/api/v1{path}", payload or {}, content_type="application/json", **self.headers)

        def patch(self, path, payload):
            return client.patch(f"/api/v1{path}", payload, content_type="application/json", **self.headers)

    return Api()


def test_no_token_is_401(api, bank):
    assert api.get("/customers").status_code == 401
    assert api.get("/me").status_code == 401


def test_a_wrong_token_is_401(api, bank):
    api.headers = {"HTTP_AUTHORIZATION": "Bearer gx_not-a-token"}
    assert api.get("/customers").status_code == 401


def test_tokens_are_stored_hashed(bank):
    key = token_create(acting_user=None, user=bank.alice)
    stored = ApiToken.objects.get()
    assert key not in (stored.key_hash, stored.prefix) and stored.key_hash == ApiToken.hash_key(key)


def test_a_managers_token_lists_only_their_own_customers(api, bank, customers):
    body = api.login(bank.alice).get("/customers").json()
    assert body["count"] == 2
    assert {item["customer_no"] for item in body["items"]} == {
        customers.alice_person.customer_no, customers.alice_farmer.customer_no}


def test_another_managers_customer_is_404(api, bank, customers):
    response = api.login(bank.alice).get(f"/customers/{customers.bob_person.pk}")
    assert response.status_code == 404
    assert api.patch(f"/customers/{customers.bob_person.pk}", {"address": "x"}).status_code == 404


def test_the_sysadmin_sees_no_customer_data(api, bank, customers):
    api.login(bank.sam)
    assert api.get("/customers").json()["count"] == 0
    assert api.get(f"/customers/{customers.alice_person.pk}").status_code == 404


def test_the_auditor_reads_everything_but_changes_nothing(api, bank, customers):
    api.login(bank.audrey)
    assert api.get("/customers").json()["count"] == 5
    assert api.patch(f"/customers/{customers.alice_person.pk}", {"address": "x"}).status_code == 403
    response = api.post("/customers", {"customer_type": "person", "name": "张三", "id_number": Synth(1).resident_id(),
                                       "org_code": "B1"})
    assert response.status_code == 403
    assert Customer.objects.count() == 5


def test_id_numbers_and_phones_are_masked_in_the_api(api, bank, customers):
    item = api.login(bank.alice).get(f"/customers/{customers.alice_person.pk}").json()
    full = customers.alice_person.id_number
    assert item["id_number"] == full[:4] + "*" * 10 + full[-4:]
    assert item["phone"] == customers.alice_person.phone[:3] + "****" + customers.alice_person.phone[-4:]


def test_reveal_returns_the_full_value_and_is_audited(api, bank, customers):
    response = api.login(bank.alice).post(f"/customers/{customers.alice_person.pk}/reveal?field=id_number")
    assert response.json()["value"] == customers.alice_person.id_number
    assert AuditEntry.objects.filter(action="customer.reveal.id_number", actor_username="alice").count() == 1


def test_a_line_department_cannot_reveal(api, bank, customers):
    response = api.login(bank.lena).post(f"/customers/{customers.alice_farmer.pk}/reveal?field=phone")
    assert response.status_code == 403


def test_a_manager_creates_a_customer_and_becomes_its_owner(api, bank):
    id_number = Synth(3).resident_id()
    response = api.login(bank.alice).post("/customers", {
        "customer_type": "个人", "name": " 张 三 ", "id_number": id_number, "phone": "+86 138-1234-5678",
        "org_code": "B1", "deposit_balance": "12,345.60", "industry": "A0111",
    })
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["owner"] == "alice"
    assert body["customer_no"].startswith("KH")
    assert body["deposit_balance"] in ("12345.60", "12345.6")
    customer = Customer.objects.get(pk=body["id"])
    assert customer.phone == "13812345678"
    assert customer.name == "张 三"
    assert str(customer.birth_date) == f"{id_number[6:10]}-{id_number[10:12]}-{id_number[12:14]}"
    assert AuditEntry.objects.filter(action="customer.create", object_id=str(customer.pk)).exists()


@pytest.mark.parametrize(("field", "value", "reason"), [
    ("id_number", "2.31102E+17", "Excel"),
    ("phone", "12345", ""),
    ("org_code", "NOPE", "NOPE"),
    ("deposit_balance", "abc", "abc"),
    ("customer_type", "alien", "alien"),
])
def test_bad_input_is_422_naming_the_field(api, bank, field, value, reason):
    payload = {"customer_type": "person", "name": "张三", "id_number": Synth(4).resident_id(), "org_code": "B1"}
    payload[field] = value
    response = api.login(bank.alice).post("/customers", payload)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert field in [d["field"] for d in detail]
    assert reason in " ".join(d["msg"] for d in detail if d["field"] == field)
    assert Customer.objects.count() == 0


def test_a_duplicate_id_number_is_refused(api, bank, customers):
    response = api.login(bank.alice).post("/customers", {
        "customer_type": "person", "name": "张三", "id_number": customers.bob_person.id_number, "org_code": "B1"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "id_number"


def test_a_manager_cannot_move_a_customer_outside_their_scope(api, bank, customers):
    # Moving is allowed (the customer stays theirs); an org code outside the bank is refused.
    response = api.login(bank.alice).patch(f"/customers/{customers.alice_person.pk}", {"org_code": "B2"})
    assert response.status_code == 200
    response = api.patch(f"/customers/{customers.alice_person.pk}", {"org_code": "ZZZ"})
    assert response.status_code == 422


def test_a_branch_head_cannot_move_a_customer_out_of_their_subtree(api, bank, customers):
    response = api.login(bank.hank).patch(f"/customers/{customers.bob_person.pk}", {"org_code": "B2"})
    assert response.status_code == 403
    customers.bob_person.refresh_from_db()
    assert customers.bob_person.org_unit == bank.b1
    assert not AuditEntry.objects.filter(action="customer.update").exists()


def test_lists_are_paginated_and_filterable(api, bank, customers):
    api.login(bank.audrey)
    page = api.get("/customers", limit=2, offset=0).json()
    assert page["count"] == 5 and len(page["items"]) == 2
    assert api.get("/customers", customer_type="company").json()["count"] == 1
    assert api.get("/customers", q=customers.bob_person.phone).json()["items"][0]["name"] == customers.bob_person.name


def test_the_list_query_count_does_not_grow_with_the_page(api, bank, customers, django_assert_max_num_queries):
    api.login(bank.audrey)
    with django_assert_max_num_queries(8):
        assert len(api.get("/customers", limit=50).json()["items"]) == 5


def test_orgunits_and_me(api, bank):
    api.login(bank.alice)
    me = api.get("/me").json()
    assert me["role"] == "manager" and me["org_code"] == "B1"
    units = api.get("/orgunits", within="U1").json()
    assert {u["code"] for u in units["items"]} == {"U1", "B1", "B2"}


def test_openapi_schema_is_published(client):
    schema = client.get("/api/v1/openapi.json").json()
    assert "/api/v1/customers" in schema["paths"]


def test_household_members_are_added_and_listed_masked(api, bank, customers):
    api.login(bank.alice)
    id_number = Synth(21).resident_id()
    response = api.post(f"/customers/{customers.alice_farmer.pk}/members",
                        {"name": "王小红", "relation": "spouse", "id_number": id_number})
    assert response.status_code == 201
    members = api.get(f"/customers/{customers.alice_farmer.pk}").json()["members"]
    assert members[0]["name"] == "王小红" and members[0]["id_number"] == id_number[:4] + "*" * 10 + id_number[-4:]


def test_a_member_with_a_bad_id_number_is_422(api, bank, customers):
    response = api.login(bank.alice).post(f"/customers/{customers.alice_farmer.pk}/members",
                                          {"name": "王小红", "relation": "spouse", "id_number": "230183196001011234"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "id_number"


def test_the_api_docs_page_is_served(client):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200 and b"swagger" in response.content.lower()
