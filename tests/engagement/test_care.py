"""Care plans: who is greeted on which day, with which text, and never twice for the same occasion."""

from __future__ import annotations

from datetime import date

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError

from guanxi.core.models import AuditEntry
from guanxi.engagement.models import CarePlan, ContactPreference, Message
from guanxi.engagement.services.care import care_plan_save, care_plans_run, honorific, render
from guanxi.engagement.services.consent import contact_preference_set

SPRING_2026 = date(2026, 2, 17)


@pytest.fixture
def plan(bank):
    def make(**fields) -> CarePlan:
        values = {"name": "春节问候", "occasion": "holiday", "holiday": "spring_festival", "channel": "email",
                  "subject": "{name}{honorific}，新春快乐", "kind": "care",
                  "template": "尊敬的{name}{honorific}：{branch}{owner}祝您新春快乐！", **fields}
        return care_plan_save(acting_user=bank.hank, **values)

    return make


def test_a_holiday_plan_greets_its_audience_on_the_day(bank, person, plan):
    zhang = person("张伟", email="zhang@example.cn")
    li = person("李娜", gender="female", email="li@example.cn")
    person("王强")  # no email: not reachable by email
    plan()
    assert care_plans_run(today=date(2026, 2, 16)).queued == 0  # the eve: nothing
    outcome = care_plans_run(today=SPRING_2026)
    assert outcome.queued == 2 and outcome.sending.sent == 2
    by_address = {m.to[0]: m for m in mail.outbox}
    assert set(by_address) == {"zhang@example.cn", "li@example.cn"}
    assert by_address["zhang@example.cn"].subject == "张伟先生，新春快乐"
    owner = bank.alice.display_name
    assert by_address["li@example.cn"].body.startswith(f"尊敬的李娜女士：城关支行{owner}祝您新春快乐！")
    assert Message.objects.filter(customer=zhang, occasion="holiday:spring_festival:2026", status="sent").exists()
    assert Message.objects.get(customer=li).sent_at is not None


def test_a_rerun_greets_nobody_twice(bank, person, plan, sms_outbox):
    person("张伟", email="zhang@example.cn")
    plan()
    plan(name="春节短信", channel="sms", subject="")  # a second plan for the same occasion
    care_plans_run(today=SPRING_2026)
    care_plans_run(today=SPRING_2026)
    assert len(mail.outbox) == 1 and sms_outbox == []
    assert Message.objects.count() == 1


def test_opted_out_customers_get_no_care_message(bank, person, plan):
    person("张伟", email="zhang@example.cn")
    refuses = person("赵敏", gender="female", email="zhao@example.cn")
    contact_preference_set(acting_user=bank.alice, customer=refuses, marketing_opt_out=True)
    plan()
    care_plans_run(today=SPRING_2026)
    assert [m.to for m in mail.outbox] == [["zhang@example.cn"]]


def test_the_audience_is_narrowed_by_tier_market_and_branch(bank, person, plan, sms_outbox):
    high = person("高客户", tier="high")
    person("中客户", tier="mid")
    farmer = person("农户甲", tier="high", customer_type="farmer")
    other_branch = person("二支行", tier="high", org_unit=bank.b2, owner=bank.carol)
    plan(channel="sms", subject="", tiers=["high"])  # hank: B1 by default
    care_plans_run(today=SPRING_2026)
    assert {m.phone for m in sms_outbox} == {high.phone, farmer.phone}
    assert other_branch.phone not in {m.phone for m in sms_outbox}
    sms_outbox.clear()
    care_plan_save(acting_user=bank.lena, name="三农中秋", occasion="holiday", holiday="mid_autumn", channel="sms",
                   template="{name}，中秋快乐", tiers=["high"])
    care_plans_run(today=date(2026, 9, 25))
    assert {m.phone for m in sms_outbox} == {farmer.phone}  # lena's plans reach the agri line only
    assert sms_outbox[0].text.startswith("农户甲，中秋快乐") and sms_outbox[0].text.endswith("回复TD退订。")


def test_birthdays_gregorian_and_lunar_by_preference(bank, person, plan, sms_outbox):
    solar = person("公历生日", born=date(1980, 6, 2))
    lunar = person("农历生日", born=date(1990, 5, 20))  # lunar 4/26: 2024-06-02
    contact_preference_set(acting_user=bank.alice, customer=lunar, lunar_birthday=True)
    person("公历但选农历", born=date(1985, 6, 2))
    ContactPreference.objects.update_or_create(customer=person("另一个", born=date(1975, 6, 2)),
                                               defaults={"lunar_birthday": True})
    plan(name="生日", occasion="birthday", holiday="", channel="sms", subject="", template="{name}，生日快乐")
    care_plans_run(today=date(2024, 6, 2))
    greeted = {m.phone for m in sms_outbox}
    assert solar.phone in greeted and lunar.phone in greeted and len(greeted) == 3
    assert Message.objects.get(customer=lunar).occasion == "birthday:lunar:2024"
    assert Message.objects.get(customer=solar).occasion == "birthday:2024"
    care_plans_run(today=date(2024, 5, 20))  # the lunar customer's Gregorian birthday: not greeted
    assert not Message.objects.filter(customer=lunar, occasion="birthday:2024").exists()


def test_a_plan_can_greet_days_ahead_and_a_custom_event_once(bank, person, plan, sms_outbox):
    person("高端客户", tier="high")
    person("一般客户")
    plan(days_before=1, channel="sms", subject="")
    assert care_plans_run(today=date(2026, 2, 16)).queued == 2
    care_plan_save(acting_user=bank.hank, name="高端客户专享利率", occasion="custom", occasion_date=date(2026, 3, 8),
                   kind="marketing", channel="sms", template="{name}{honorific}，专享存款利率上浮", tiers=["high"])
    outcome = care_plans_run(today=date(2026, 3, 8))
    assert outcome.queued == 1 and Message.objects.filter(kind="marketing").count() == 1
    assert care_plans_run(today=date(2026, 3, 8)).queued == 0


def test_companies_are_addressed_by_name_and_placeholders_are_plain():
    assert honorific(customer_type="company", gender="") == ""
    assert honorific(customer_type="farmer", gender="female") == "女士"
    assert render("{name}{honorific} {name.__class__} {unknown}", {"name": "甲公司", "honorific": ""}) == \
        "甲公司 {name.__class__} {unknown}"


def test_a_company_is_greeted_by_its_name(bank, person, plan):
    person("兴隆农资有限公司", customer_type="company", email="info@xinglong.cn")
    plan()
    care_plans_run(today=SPRING_2026)
    assert mail.outbox[0].subject == "兴隆农资有限公司，新春快乐"


@pytest.mark.parametrize(("fields", "field"), [
    ({"template": "您好{nmae}"}, "template"),
    ({"holiday": ""}, "holiday"),
    ({"subject": ""}, "subject"),
    ({"channel": "fax"}, "channel"),
    ({"tiers": ["vip"]}, "tiers"),
    ({"occasion": "custom", "occasion_date": None}, "occasion_date"),
])
def test_bad_plans_are_refused_naming_the_field(bank, fields, field):
    values = {"name": "x", "occasion": "holiday", "holiday": "lantern", "channel": "email", "subject": "元宵",
              "template": "{name}元宵快乐", **fields}
    with pytest.raises(ValidationError) as caught:
        care_plan_save(acting_user=bank.hank, **values)
    assert field in caught.value.message_dict


def test_only_planners_manage_plans_within_their_scope(bank):
    values = {"name": "x", "occasion": "birthday", "channel": "sms", "template": "{name}生日快乐"}
    for user in (bank.alice, bank.audrey, bank.sam):
        with pytest.raises(PermissionDenied):
            care_plan_save(acting_user=user, **values)
    with pytest.raises(ValidationError) as caught:
        care_plan_save(acting_user=bank.hank, org_unit=bank.b2, **values)
    assert "org_unit" in caught.value.message_dict
    with pytest.raises(ValidationError):
        care_plan_save(acting_user=bank.lena, markets=["company"], **values)
    plan = care_plan_save(acting_user=bank.lena, **values)
    assert plan.markets == ["agri"]
    assert AuditEntry.objects.filter(action="care_plan.save", object_id=str(plan.pk)).exists()
    with pytest.raises(PermissionDenied):  # another planner's plan
        care_plan_save(acting_user=bank.hank, plan=plan, **values)
