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


def _plan(bank, **fields):
    from guanxi.engagement.services.care import care_plan_save

    values = {"name": "中秋问候", "occasion": "holiday", "holiday": "mid_autumn", "channel": "sms", "kind": "care",
              "template": "{name}{honorific}，中秋快乐！", "tiers": ["high"], **fields}
    return care_plan_save(acting_user=bank.hank, **values)


def test_a_plan_is_copied_as_a_new_switched_off_plan_leaving_the_original(login, bank):
    original = _plan(bank, days_before=2)
    client = login(bank.hank)
    page = client.get(f"/engagement/care-plans/{original.pk}/").content.decode()
    assert f'href="/engagement/care-plans/new/?copy={original.pk}"' in page and "复制为新计划" in page
    form = client.get(f"/engagement/care-plans/new/?copy={original.pk}").content.decode()
    assert 'value="中秋问候（副本）"' in form and "{name}{honorific}，中秋快乐！" in form
    response = client.post(f"/engagement/care-plans/new/?copy={original.pk}", {
        "name": "中秋问候（副本）", "occasion": "holiday", "holiday": "mid_autumn", "kind": "care", "channel": "sms",
        "template": "{name}{honorific}，中秋快乐！明年见", "tiers": ["high"], "org_code": "B1", "days_before": "2"})
    assert response.status_code == 302
    copy = CarePlan.objects.exclude(pk=original.pk).get()
    assert (copy.name, copy.active, copy.days_before, copy.tiers) == ("中秋问候（副本）", False, 2, ["high"])
    original.refresh_from_db()
    assert (original.name, original.active, original.template) == ("中秋问候", True, "{name}{honorific}，中秋快乐！")


def test_a_plan_that_sent_nothing_is_deleted_after_asking_and_audited(login, bank):
    from guanxi.core.models import AuditEntry

    plan = _plan(bank)
    client = login(bank.hank)
    ask = client.get(f"/engagement/care-plans/{plan.pk}/delete/").content.decode()
    assert "删除“中秋问候”？" in ask and 'id="care-plan-delete-form"' in ask
    assert CarePlan.objects.filter(pk=plan.pk).exists()  # asking deletes nothing
    response = client.post(f"/engagement/care-plans/{plan.pk}/delete/")
    assert response.status_code == 302 and not CarePlan.objects.filter(pk=plan.pk).exists()
    entry = AuditEntry.objects.get(action="care_plan.delete")
    assert entry.actor_username == "hank" and entry.changes["name"] == ["中秋问候", None]
    assert "关怀计划“中秋问候”已删除。" in client.get("/engagement/care-plans/").content.decode()


def test_a_plan_that_greeted_customers_is_kept_and_the_planner_told_to_switch_it_off(login, bank, customers):
    from guanxi.engagement.models import Message

    plan = _plan(bank)
    Message.objects.create(customer=customers.alice_person, channel="sms", kind="care", care_plan=plan,
                           occasion="holiday:mid_autumn:2026", recipient="13900001111", body="中秋快乐", status="sent")
    client = login(bank.hank)
    assert "请改为停用" in client.get(f"/engagement/care-plans/{plan.pk}/delete/").content.decode()
    response = client.post(f"/engagement/care-plans/{plan.pk}/delete/", follow=True)
    assert CarePlan.objects.filter(pk=plan.pk).exists()
    assert "“中秋问候”已发送过信息，不能删除" in response.content.decode()


def test_only_the_plans_planners_may_copy_or_delete_it(login, bank):
    plan = _plan(bank)
    for user in (bank.alice, bank.audrey):
        client = login(user)
        assert client.post(f"/engagement/care-plans/{plan.pk}/delete/").status_code == 403
        assert client.get(f"/engagement/care-plans/new/?copy={plan.pk}").status_code == 403
    other_branch = _other_branch_head(bank)
    client = login(other_branch)
    assert client.post(f"/engagement/care-plans/{plan.pk}/delete/").status_code == 404
    assert client.get(f"/engagement/care-plans/new/?copy={plan.pk}").status_code == 404
    assert CarePlan.objects.filter(pk=plan.pk).exists()


def _other_branch_head(bank):
    from guanxi.core.roles import Role
    from tests.factories import UserFactory

    return UserFactory(username="hugo", role=Role.BRANCH_HEAD, org_unit=bank.b2)


def test_the_plan_list_names_its_audience(login, bank):
    _plan(bank, tiers=["high", "mid"])
    page = login(bank.hank).get("/engagement/care-plans/").content.decode()
    assert "高端、中端" in page and "high" not in page.split('id="care-plan-list"')[1]


def test_the_plan_page_previews_todays_greetings_by_occasion_name(login, bank, person):
    today = timezone.localdate()
    born = today.replace(year=1980) if (today.month, today.day) != (2, 29) else today.replace(year=1980, day=28)
    person("张伟", born=born, phone="13900001111")
    plan = _plan(bank, occasion="birthday", holiday="", tiers=[])
    page = login(bank.hank).get(f"/engagement/care-plans/{plan.pk}/").content.decode()
    preview = page.split('id="care-plan-preview">')[1].split("</p>")[0]
    expected = 1 if born == today.replace(year=1980) else 0
    assert f"今日运行将问候 {expected} 位客户（生日）。" in preview and "今日运行将问候 0 位客户（农历生日）。" in preview
    assert "birthday" not in preview
