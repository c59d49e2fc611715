"""Engagement API beyond contacts: visit tasks, frequencies, preferences, care plans, messages."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from guanxi.engagement.models import ContactPreference, FollowUp, Interaction, Message


def test_my_follow_ups_and_completing_one(api, bank, customers):
    today = timezone.localdate()
    mine = FollowUp.objects.create(customer=customers.alice_person, due_on=today - timedelta(days=2), interval_months=3)
    FollowUp.objects.create(customer=customers.bob_person, due_on=today, interval_months=3)
    api.login(bank.alice)
    body = api.get("/follow-ups", mine="true").json()
    assert [t["id"] for t in body["items"]] == [mine.pk] and body["items"][0]["overdue"] is True
    response = api.post(f"/follow-ups/{mine.pk}/complete", {"summary": "电话回访", "channel": "phone"})
    assert response.status_code == 200 and response.json()["status"] == "done"
    assert response.json()["interaction_id"] == Interaction.objects.get().pk
    assert api.post(f"/follow-ups/{mine.pk}/complete", {"summary": "again"}).status_code == 422
    other = FollowUp.objects.get(customer=customers.bob_person)
    assert api.post(f"/follow-ups/{other.pk}/complete", {"summary": "越权"}).status_code == 404
    api.login(bank.hank)
    assert {t["customer_no"] for t in api.get("/follow-ups").json()["items"]} == {
        customers.alice_person.customer_no, customers.bob_person.customer_no}  # the open ones of the branch
    assert api.get("/follow-ups", owner="bob").json()["count"] == 1
    assert api.get("/follow-ups", status="nonsense").status_code == 422


def test_follow_up_rules_through_the_api(api, bank):
    assert len(api.login(bank.alice).get("/follow-up-rules").json()) == 3
    assert api.put("/follow-up-rules", {"tier": "high", "interval_months": 2}).status_code == 403
    response = api.login(bank.lena).put("/follow-up-rules", {"tier": "mid", "market": "agri", "interval_months": 2})
    assert response.status_code == 200 and response.json()["market"] == "agri"
    response = api.put("/follow-up-rules", {"tier": "mid", "market": "agri", "interval_months": 99})
    assert response.status_code == 422 and response.json()["detail"][0]["field"] == "interval_months"


def test_preferences_through_the_api(api, bank, customers):
    number = customers.alice_person.customer_no
    api.login(bank.alice)
    assert api.get(f"/customers/{number}/preferences").json()["marketing_opt_out"] is False
    body = api.put(f"/customers/{number}/preferences", {"marketing_opt_out": True}).json()
    assert body["marketing_opt_out"] is True and body["opted_out_via"] == "staff"
    assert ContactPreference.objects.get(customer=customers.alice_person).marketing_opt_out
    assert api.get(f"/customers/{customers.bob_person.customer_no}/preferences").status_code == 404
    assert api.login(bank.audrey).put(f"/customers/{number}/preferences", {"lunar_birthday": True}).status_code == 403


def test_care_plans_and_messages_through_the_api(api, bank, customers, sms_outbox):
    plan = {"name": "生日祝福", "occasion": "birthday", "channel": "sms", "template": "{name}{honorific}，生日快乐"}
    response = api.login(bank.hank).post("/care-plans", plan)
    assert response.status_code == 201 and response.json()["org_code"] == "B1"
    assert api.post("/care-plans", {**plan, "template": "{nom}"}).json()["detail"][0]["field"] == "template"
    assert api.post("/care-plans", {**plan, "org_code": "B2"}).status_code == 422
    assert api.login(bank.alice).post("/care-plans", plan).status_code == 403
    assert [p["name"] for p in api.login(bank.audrey).get("/care-plans").json()] == ["生日祝福"]
    assert api.login(bank.carol).get("/care-plans").json() == []
    plan_id = response.json()["id"]
    assert api.login(bank.hank).put(f"/care-plans/{plan_id}", {**plan, "active": False}).json()["active"] is False
    Message.objects.create(customer=customers.alice_person, channel="sms", kind="care", body="生日快乐",
                           recipient=customers.alice_person.phone, status="sent", occasion="birthday:2025")
    Message.objects.create(customer=customers.carol_company, channel="sms", kind="care", body="生日快乐",
                           recipient=customers.carol_company.phone, status="sent", occasion="birthday:2025")
    items = api.login(bank.alice).get("/messages").json()["items"]
    assert [m["customer_no"] for m in items] == [customers.alice_person.customer_no]
    assert api.login(bank.audrey).get("/messages", occasion="birthday:2025").json()["count"] == 2


def test_the_list_endpoints_have_a_bounded_query_count(api, bank, customers, django_assert_max_num_queries):
    for n in range(20):
        Message.objects.create(customer=customers.alice_person, channel="sms", kind="care", body=str(n),
                               recipient="13800000000", status="sent", occasion=f"x:{n}")
    FollowUp.objects.create(customer=customers.alice_person, due_on=timezone.localdate(), interval_months=1)
    api.login(bank.hank)
    with django_assert_max_num_queries(8):
        assert api.get("/messages", limit=50).status_code == 200
    with django_assert_max_num_queries(8):
        assert api.get("/follow-ups", limit=50).status_code == 200


def test_a_care_plan_is_deleted_through_the_api_unless_it_has_sent_messages(api, bank, customers, client):
    from guanxi.engagement.models import CarePlan
    from guanxi.engagement.services.care import care_plan_save

    def plan(name):
        return care_plan_save(acting_user=bank.hank, name=name, occasion="holiday", holiday="mid_autumn",
                              channel="sms", template="{name}，中秋快乐！")

    unsent, sent = plan("甲"), plan("乙")
    Message.objects.create(customer=customers.alice_person, channel="sms", kind="care", care_plan=sent,
                           occasion="holiday:mid_autumn:2026", recipient="13900001111", body="中秋快乐", status="sent")
    api.login(bank.hank)
    delete = lambda pk: client.delete(f"/api/v1/engagement/care-plans/{pk}", **api.headers)  # noqa: E731
    assert delete(unsent.pk).status_code == 204
    response = delete(sent.pk)
    assert response.status_code == 422 and "请改为停用" in response.json()["detail"][0]["msg"]
    assert list(CarePlan.objects.values_list("name", flat=True)) == ["乙"]
    api.login(bank.alice)
    assert delete(sent.pk).status_code == 404
