"""The pages of care plans, visit frequencies and "my tasks": who sees them, and that they save."""

from __future__ import annotations

from django.utils import timezone

from guanxi.engagement.models import CarePlan, FollowUp, FollowUpRule


def test_a_branch_head_creates_a_care_plan_from_the_page(login, bank):
    client = login(bank.hank)
    assert "新建关怀计划" in client.get("/engagement/care-plans/").content.decode()
    response = client.post("/engagement/care-plans/new/", {
        "name": "中秋问候", "occasion": "holiday", "holiday": "mid_autumn", "kind": "care", "channel": "sms",
        "template": "{name}{honorific}，中秋快乐！{branch}{owner}", "tiers": ["high", "mid"], "org_code": "B1",
        "days_before": "1", "active": "on"})
    assert response.status_code == 302
    plan = CarePlan.objects.get()
    assert (plan.holiday, plan.tiers, plan.org_unit, plan.days_before) == ("mid_autumn", ["high", "mid"], bank.b1, 1)
    page = client.get(f"/engagement/care-plans/{plan.pk}/").content.decode()
    assert "中秋问候" in page and 'id="care-plan-preview"' not in page  # not Mid-Autumn today → nothing to preview


def test_the_care_plan_form_shows_errors_by_field(login, bank):
    page = login(bank.hank).post("/engagement/care-plans/new/", {
        "name": "", "occasion": "holiday", "kind": "care", "channel": "email", "template": "{nmae}"}).content.decode()
    assert "请填写计划名称。" in page and "请选择节日。" in page and "电子邮件需要填写主题。" in page
    assert "未知的占位符 {nmae}" in page and not CarePlan.objects.exists()


def test_who_may_open_the_care_plan_pages(login, bank):
    assert login(bank.audrey).get("/engagement/care-plans/").status_code == 200
    assert login(bank.audrey).get("/engagement/care-plans/new/").status_code == 403
    for user in (bank.alice, bank.sam, bank.tina):
        assert login(user).get("/engagement/care-plans/").status_code == 403


def test_the_frequencies_page_lets_the_line_department_change_its_line(login, bank):
    client = login(bank.lena)
    assert 'id="rule-form"' in client.get("/engagement/visit-frequencies/").content.decode()
    response = client.post("/engagement/visit-frequencies/", {"tier": "high", "market": "agri",
                                                               "interval_months": "2", "active": "on"})
    assert response.status_code == 302
    assert FollowUpRule.objects.get(market="agri", tier="high").interval_months == 2
    page = login(bank.alice).get("/engagement/visit-frequencies/").content.decode()
    assert "每月" not in page and 'id="rule-form"' not in page and "全部条线" in page


def test_my_tasks_page_stays_within_its_query_budget(login, bank, customers, person, django_assert_max_num_queries):
    for n in range(15):
        FollowUp.objects.create(customer=person(f"客户{n}", tier="high"), due_on=timezone.localdate(),
                                interval_months=1)
    client = login(bank.alice)
    with django_assert_max_num_queries(8):
        page = client.get("/engagement/tasks/").content.decode()
    assert page.count('data-task="') == 15
