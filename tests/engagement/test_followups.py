"""Visit tasks (回访): the right owners at the right frequency; completing one logs the contact."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from guanxi.core.models import AuditEntry
from guanxi.engagement.models import FollowUp, FollowUpRule, Interaction, Message
from guanxi.engagement.services.followups import (
    add_months,
    followup_complete,
    followup_rule_save,
    followups_generate,
)
from guanxi.relationships.services import assignment_change


def registered(customer, *, days_ago: int):
    customer.created_at = timezone.now() - timedelta(days=days_ago)
    customer.save(update_fields=["created_at"])
    return customer


def test_the_default_frequencies_are_monthly_quarterly_yearly(db):
    assert {(r.market, r.tier): r.interval_months for r in FollowUpRule.objects.all()} == {
        ("", "high"): 1, ("", "mid"): 3, ("", "general"): 12}


def test_add_months_keeps_the_day_or_the_end_of_the_month():
    assert add_months(date(2025, 1, 31), 1) == date(2025, 2, 28)
    assert add_months(date(2025, 11, 15), 3) == date(2026, 2, 15)
    assert add_months(date(2025, 3, 31), -1) == date(2025, 2, 28)


def test_tasks_come_due_by_tier_after_the_last_contact(bank, person, contact):
    today = timezone.localdate()
    high = registered(person("高端", tier="high"), days_ago=400)
    contact(high, bank.alice, days_ago=25)  # monthly: due in ~5 days → within the two weeks' lead
    mid = registered(person("中端", tier="mid"), days_ago=400)
    contact(mid, bank.alice, days_ago=30)  # quarterly: due in ~2 months → not yet
    general = registered(person("一般", tier="general"), days_ago=400)  # never contacted: a year after registration
    fresh = registered(person("新客户", tier="general"), days_ago=3)
    unowned = registered(person("无主", tier="high", owner=None), days_ago=400)
    outcome = followups_generate(today=today)
    tasks = {t.customer_id: t for t in FollowUp.objects.all()}
    assert set(tasks) == {high.pk, general.pk} and outcome.created == 2
    assert tasks[high.pk].due_on == add_months(today - timedelta(days=25), 1)
    assert tasks[general.pk].due_on == add_months(timezone.localdate(general.created_at), 12)
    assert tasks[general.pk].overdue and not tasks[high.pk].overdue
    assert mid.pk not in tasks and fresh.pk not in tasks and unowned.pk not in tasks
    assert followups_generate(today=today).created == 0  # idempotent
    assert FollowUp.objects.count() == 2


def test_a_market_lines_own_rule_wins_over_the_bank_wide_one(bank, person):
    followup_rule_save(acting_user=bank.lena, tier="general", market="agri", interval_months=6)
    farmer = registered(person("农户", customer_type="farmer"), days_ago=200)
    townsman = registered(person("市民"), days_ago=200)
    followups_generate()
    assert list(FollowUp.objects.values_list("customer_id", "interval_months")) == [(farmer.pk, 6)]
    assert not FollowUp.objects.filter(customer=townsman).exists()


def test_who_may_change_the_frequencies(bank):
    with pytest.raises(PermissionDenied):
        followup_rule_save(acting_user=bank.lena, tier="high", market="company", interval_months=2)
    with pytest.raises(PermissionDenied):
        followup_rule_save(acting_user=bank.hank, tier="high", interval_months=2)
    with pytest.raises(ValidationError) as caught:
        followup_rule_save(acting_user=bank.sam, tier="high", interval_months=0)
    assert list(caught.value.message_dict) == ["interval_months"]
    rule = followup_rule_save(acting_user=bank.sam, tier="high", interval_months=2)
    assert rule.interval_months == 2 and FollowUpRule.objects.filter(tier="high").count() == 1
    assert AuditEntry.objects.get(action="followup_rule.save").changes["interval_months"] == [1, 2]


def test_my_tasks_lists_the_owners_tasks_by_due_date_with_overdue_marked(login, bank, person):
    later = person("迟些", tier="high")
    overdue = person("逾期", tier="high")
    person("别人的", tier="high", owner=bank.bob)
    today = timezone.localdate()
    FollowUp.objects.create(customer=later, due_on=today + timedelta(days=7), interval_months=1)
    FollowUp.objects.create(customer=overdue, due_on=today - timedelta(days=3), interval_months=1)
    page = login(bank.alice).get("/engagement/tasks/").content.decode()
    assert page.index("逾期") < page.index("迟些") and "别人的" not in page
    row = page[page.index(f'data-task="{FollowUp.objects.get(customer=overdue).pk}"'):]
    assert "已逾期" in row[:400]
    only_overdue = login(bank.alice).get("/engagement/tasks/", {"overdue": "1"}).content.decode()
    assert "逾期" in only_overdue and "迟些" not in only_overdue


def test_completing_a_task_logs_the_contact_and_opens_the_next(login, bank, person):
    customer = person("高端", tier="high")
    task = FollowUp.objects.create(customer=customer, due_on=timezone.localdate(), interval_months=1)
    response = login(bank.alice).post(f"/engagement/tasks/{task.pk}/complete/",
                                      {"channel": "visit", "summary": "上门回访，了解春耕资金需求", "outcome": "满意"},
                                      HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "已记录回访" in response.content.decode()
    task.refresh_from_db()
    interaction = Interaction.objects.get()
    assert (task.status, task.completed_by, task.interaction) == ("done", bank.alice, interaction)
    assert (interaction.channel, interaction.summary, interaction.staff) == ("visit", "上门回访，了解春耕资金需求", bank.alice)
    following = FollowUp.objects.get(status="open")
    assert following.due_on == add_months(timezone.localdate(), 1)
    assert AuditEntry.objects.filter(action="followup.complete").exists()
    assert AuditEntry.objects.filter(action="interaction.log").exists()
    with pytest.raises(ValidationError):
        followup_complete(user=bank.alice, follow_up=task, summary="again")


def test_completing_needs_a_summary_and_the_customer_in_scope(login, bank, person):
    task = FollowUp.objects.create(customer=person("高端", tier="high"), due_on=timezone.localdate(),
                                   interval_months=1)
    page = login(bank.alice).post(f"/engagement/tasks/{task.pk}/complete/", {"summary": ""},
                                  HTTP_HX_REQUEST="true").content.decode()
    assert "请填写联系内容。" in page and FollowUp.objects.get(pk=task.pk).status == "open"
    assert login(bank.carol).post(f"/engagement/tasks/{task.pk}/complete/", {"summary": "x"}).status_code == 404


def test_a_new_owner_takes_over_the_open_tasks(bank, person):
    customer = person("高端", tier="high")
    done = FollowUp.objects.create(customer=customer, due_on=date(2024, 1, 1), interval_months=1, status="done",
                                   completed_by=bank.alice)
    task = FollowUp.objects.create(customer=customer, due_on=timezone.localdate(), interval_months=1)
    assert list(FollowUp.objects.assigned_to(bank.alice)) == [task]
    assignment_change(acting_user=bank.hank, customer=customer, owner=bank.bob, reason="调岗")
    assert list(FollowUp.objects.assigned_to(bank.bob)) == [task]
    assert not FollowUp.objects.assigned_to(bank.alice).exists()
    done.refresh_from_db()
    assert done.completed_by == bank.alice  # history stays with who did it


def test_the_customer_page_shows_one_timeline_of_visits_and_messages(login, bank, person):
    customer = person("高端", tier="high")
    task = FollowUp.objects.create(customer=customer, due_on=timezone.localdate(), interval_months=1)
    followup_complete(user=bank.alice, follow_up=task, summary="上门回访")
    Message.objects.create(customer=customer, channel="sms", kind="care", body="生日快乐！", recipient=customer.phone,
                           status="sent", sent_at=timezone.now() + timedelta(seconds=1))
    page = login(bank.alice).get(f"/customers/{customer.pk}/").content.decode()
    timeline = page[page.index('id="interaction-timeline"'):]
    assert timeline.index("生日快乐！") < timeline.index("上门回访")  # one table, newest first
    assert "下次回访" in page


def test_a_merge_keeps_one_open_task_and_one_preference(bank, person):
    from guanxi.customers.duplicates import customer_merge
    from guanxi.engagement.models import ContactPreference

    keep, absorb = person("张伟", tier="high"), person("张伟", tier="high")
    for customer in (keep, absorb):
        FollowUp.objects.create(customer=customer, due_on=timezone.localdate(), interval_months=1)
        ContactPreference.objects.create(customer=customer, lunar_birthday=True)
    Message.objects.create(customer=absorb, channel="sms", kind="care", body="x", recipient="1", occasion="birthday:2025")
    customer_merge(acting_user=bank.hank, keep=keep, absorb=absorb, reason="同一人")
    assert FollowUp.objects.filter(customer=keep, status="open").count() == 1
    assert ContactPreference.objects.filter(customer=keep).count() == 1
    assert Message.objects.filter(customer=keep, occasion="birthday:2025").count() == 1
