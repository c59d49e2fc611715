"""The contacts block of the customer page (quick entry, timeline) and the list of contacts."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from guanxi.engagement.models import Interaction
from tests.factories import CustomerFactory


def test_the_customer_page_shows_the_quick_entry_and_the_timeline(login, bank, customers, contact):
    contact(customers.alice_person, bank.alice, summary="上月电话回访")
    page = login(bank.alice).get(f"/customers/{customers.alice_person.pk}/").content.decode()
    assert 'id="interactions"' in page and 'id="interaction-form"' in page and "上月电话回访" in page
    assert "记录联系" in page  # the button


def test_logging_from_the_page_with_htmx_returns_the_refreshed_block(login, bank, customers):
    client = login(bank.alice)
    response = client.post(f"/engagement/customers/{customers.alice_person.pk}/interactions/",
                           {"channel": "visit", "direction": "outbound", "summary": "上门走访了解用款需求",
                            "outcome": "有意向", "next_step": "送授信材料", "next_step_on": "2099-01-01"},
                           HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    page = response.content.decode()
    assert page.lstrip().startswith('<section class="card" id="interactions">') and "上门走访了解用款需求" in page
    assert "已记录联系。" in page
    interaction = Interaction.objects.get()
    assert interaction.staff == bank.alice and interaction.next_step_on.isoformat() == "2099-01-01"
    assert abs(interaction.occurred_at - timezone.now()) < timedelta(seconds=5)  # defaults to now


def test_logging_without_htmx_redirects_to_the_customer_page(login, bank, customers):
    url = f"/engagement/customers/{customers.alice_person.pk}/interactions/"
    response = login(bank.alice).post(url, {"channel": "phone", "summary": "电话"})
    assert response.status_code == 302 and response["Location"] == f"/customers/{customers.alice_person.pk}/"
    assert Interaction.objects.count() == 1


def test_the_page_shows_the_errors_by_field(login, bank, customers):
    future = (timezone.localtime() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    response = login(bank.alice).post(f"/engagement/customers/{customers.alice_person.pk}/interactions/",
                                      {"channel": "fax", "summary": "", "occurred_at": future},
                                      HTTP_HX_REQUEST="true")
    page = response.content.decode()
    assert response.status_code == 200
    assert "请填写联系内容。" in page and "联系时间不能晚于当前时间。" in page and "请选择联系方式" in page
    assert not Interaction.objects.exists()


def test_a_manager_cannot_log_on_another_managers_customer_from_the_page(login, bank, customers):
    response = login(bank.alice).post(f"/engagement/customers/{customers.bob_person.pk}/interactions/",
                                      {"channel": "phone", "summary": "越权"})
    assert response.status_code == 404 and not Interaction.objects.exists()


def test_the_auditor_sees_the_timeline_but_no_form_and_cannot_post(login, bank, customers, contact):
    contact(customers.alice_person, bank.alice, summary="已回访")
    client = login(bank.audrey)
    page = client.get(f"/customers/{customers.alice_person.pk}/").content.decode()
    assert "已回访" in page and 'id="interaction-form"' not in page
    response = client.post(f"/engagement/customers/{customers.alice_person.pk}/interactions/",
                           {"channel": "phone", "summary": "审计"})
    assert response.status_code == 403 and Interaction.objects.count() == 1


def test_the_timeline_is_newest_first(login, bank, customers, contact):
    contact(customers.alice_person, bank.alice, days_ago=30, summary="最早一次")
    contact(customers.alice_person, bank.alice, days_ago=1, summary="最近一次")
    contact(customers.alice_person, bank.bob, days_ago=10, summary="中间一次")
    page = login(bank.alice).get(f"/customers/{customers.alice_person.pk}/").content.decode()
    assert page.index("最近一次") < page.index("中间一次") < page.index("最早一次")


def test_the_customer_page_stays_within_its_query_budget(login, bank, customers, contact,
                                                          django_assert_max_num_queries):
    for days in range(25):
        contact(customers.alice_person, bank.alice, days_ago=days)
    client = login(bank.hank)
    # A fixed budget, whatever the history: the customer, its ownership, its timeline and its
    # credit panel (grade, latest assessment, line: 3 queries).
    with django_assert_max_num_queries(17):
        client.get(f"/customers/{customers.alice_person.pk}/")


def test_the_list_filters_by_staff_branch_channel_and_period(login, bank, customers, contact):
    carol_b1 = CustomerFactory(org_unit=bank.b1, owner=bank.bob)
    contact(customers.alice_person, bank.alice, days_ago=2, channel="visit", summary="甲-走访")
    contact(customers.bob_person, bank.bob, days_ago=40, channel="phone", summary="乙-电话")
    contact(carol_b1, bank.carol, days_ago=3, channel="phone", summary="丙-电话")  # made from B2
    contact(customers.carol_company, bank.carol, days_ago=1, channel="wechat", summary="丁-微信")
    client = login(bank.audrey)

    def shown(**params):
        page = client.get("/engagement/interactions/", params).content.decode()
        return {s for s in ("甲-走访", "乙-电话", "丙-电话", "丁-微信") if s in page}

    assert shown() == {"甲-走访", "乙-电话", "丙-电话", "丁-微信"}
    assert shown(staff="carol") == {"丙-电话", "丁-微信"}
    assert shown(org_code="B1") == {"甲-走访", "乙-电话"}
    assert shown(org_code="U1") == {"甲-走访", "乙-电话", "丙-电话", "丁-微信"}
    assert shown(channel="phone") == {"乙-电话", "丙-电话"}
    today = timezone.localdate()
    assert shown(since=(today - timedelta(days=5)).isoformat()) == {"甲-走访", "丙-电话", "丁-微信"}
    assert shown(until=(today - timedelta(days=10)).isoformat()) == {"乙-电话"}
    assert shown(customer_no=customers.carol_company.customer_no) == {"丁-微信"}


def test_the_list_keeps_to_the_users_scope(login, bank, customers, contact):
    contact(customers.alice_person, bank.alice, summary="甲的客户")
    contact(customers.bob_person, bank.bob, summary="乙的客户")
    contact(customers.carol_company, bank.carol, summary="二支行客户")
    page = login(bank.alice).get("/engagement/interactions/").content.decode()
    assert "甲的客户" in page and "乙的客户" not in page and "二支行客户" not in page
    page = login(bank.hank).get("/engagement/interactions/").content.decode()
    assert "甲的客户" in page and "乙的客户" in page and "二支行客户" not in page
    page = login(bank.sam).get("/engagement/interactions/").content.decode()
    assert "甲的客户" not in page


def test_the_list_pages_without_counting(login, bank, customers, contact, django_assert_max_num_queries):
    for days in range(30):
        contact(customers.alice_person, bank.alice, days_ago=days, summary=f"第{days}天")
    client = login(bank.hank)
    with django_assert_max_num_queries(10) as captured:
        page = client.get("/engagement/interactions/").content.decode()
    assert not any("COUNT(" in q["sql"].upper() for q in captured.captured_queries)
    assert "第0天" in page and "第29天" not in page and "page=2" in page
    assert "第29天" in client.get("/engagement/interactions/", {"page": 2}).content.decode()


def test_the_list_answers_htmx_with_the_table_only(login, bank, customers, contact):
    contact(customers.alice_person, bank.alice, summary="只要表格")
    response = login(bank.alice).get("/engagement/interactions/", HTTP_HX_REQUEST="true")
    page = response.content.decode()
    assert "只要表格" in page and "<html" not in page
