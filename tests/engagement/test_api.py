"""Engagement API: list with filters and scope, log a contact (422 naming the field, 404 out of scope)."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from guanxi.engagement.models import Interaction


def test_a_manager_logs_a_contact_through_the_api(api, bank, customers):
    response = api.login(bank.alice).post("/interactions", {
        "customer_no": customers.alice_person.customer_no, "channel": "phone", "summary": "电话回访",
        "outcome": "满意", "next_step": "下月再访", "next_step_on": "2099-02-01"})
    assert response.status_code == 201
    body = response.json()
    assert body["customer_no"] == customers.alice_person.customer_no and body["staff"] == "alice"
    assert body["org_code"] == "B1" and body["direction"] == "outbound" and body["next_step_on"] == "2099-02-01"
    assert Interaction.objects.get().summary == "电话回访"


def test_an_explicit_time_is_kept(api, bank, customers):
    response = api.login(bank.alice).post("/interactions", {
        "customer_no": customers.alice_person.customer_no, "channel": "visit", "direction": "inbound",
        "summary": "客户来访", "occurred_at": "2024-03-01T10:15:00+08:00"})
    assert response.status_code == 201
    assert response.json()["occurred_at"].startswith("2024-03-01T")
    assert timezone.localtime(Interaction.objects.get().occurred_at).strftime("%Y-%m-%d %H:%M") == "2024-03-01 10:15"


def test_bad_input_is_422_naming_each_field(api, bank, customers):
    future = (timezone.now() + timedelta(days=1)).isoformat()
    response = api.login(bank.alice).post("/interactions", {
        "customer_no": customers.alice_person.customer_no, "channel": "fax", "summary": " ", "occurred_at": future})
    assert response.status_code == 422
    fields = {d["field"]: d["msg"] for d in response.json()["detail"]}
    assert set(fields) == {"channel", "summary", "occurred_at"}
    assert fields["summary"] == "请填写联系内容。"
    assert not Interaction.objects.exists()


def test_a_customer_outside_the_scope_is_404(api, bank, customers):
    response = api.login(bank.alice).post("/interactions", {
        "customer_no": customers.bob_person.customer_no, "channel": "phone", "summary": "越权"})
    assert response.status_code == 404
    response = api.post("/interactions", {"customer_no": "KH9999999999", "channel": "phone", "summary": "x"})
    assert response.status_code == 404
    assert not Interaction.objects.exists()


def test_the_auditor_cannot_log_through_the_api(api, bank, customers):
    response = api.login(bank.audrey).post("/interactions", {
        "customer_no": customers.alice_person.customer_no, "channel": "phone", "summary": "审计"})
    assert response.status_code == 403 and not Interaction.objects.exists()


def test_the_list_filters_and_keeps_to_the_scope(api, bank, customers, contact):
    contact(customers.alice_person, bank.alice, days_ago=1, channel="visit")
    contact(customers.bob_person, bank.bob, days_ago=20, channel="phone")
    contact(customers.carol_company, bank.carol, days_ago=2, channel="phone")
    api.login(bank.hank)
    body = api.get("/interactions").json()
    assert body["count"] == 2 and [i["staff"] for i in body["items"]] == ["alice", "bob"]  # newest first
    assert [i["staff"] for i in api.get("/interactions", channel="phone").json()["items"]] == ["bob"]
    assert [i["staff"] for i in api.get("/interactions", staff="alice").json()["items"]] == ["alice"]
    since = (timezone.localdate() - timedelta(days=5)).isoformat()
    assert [i["staff"] for i in api.get("/interactions", since=since).json()["items"]] == ["alice"]
    until = (timezone.localdate() - timedelta(days=5)).isoformat()
    assert [i["staff"] for i in api.get("/interactions", until=until).json()["items"]] == ["bob"]
    assert api.get("/interactions", customer_no=customers.carol_company.customer_no).json()["count"] == 0
    api.login(bank.audrey)
    assert [i["org_code"] for i in api.get("/interactions", org_code="B2").json()["items"]] == ["B2"]
    assert api.get("/interactions", limit=1, offset=1).json()["items"][0]["staff"] == "carol"


def test_a_bad_channel_filter_is_422(api, bank):
    response = api.login(bank.audrey).get("/interactions", channel="fax")
    assert response.status_code == 422 and response.json()["detail"][0]["field"] == "channel"


def test_the_api_list_query_count_is_bounded(api, bank, customers, contact, django_assert_max_num_queries):
    for days in range(30):
        contact(customers.alice_person, bank.alice, days_ago=days)
    api.login(bank.hank)
    with django_assert_max_num_queries(8):
        assert api.get("/interactions", limit=50).status_code == 200
