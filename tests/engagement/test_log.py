"""`interaction_log`: who may log a contact, what is valid, what is recorded."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from guanxi.core.models import AuditEntry
from guanxi.engagement.models import Interaction
from guanxi.engagement.services import interaction_log


def test_a_manager_logs_a_contact_on_her_customer(bank, customers):
    interaction = interaction_log(user=bank.alice, customer=customers.alice_person, channel="visit",
                                  direction="outbound", occurred_at=None, summary=" 上门走访，了解春耕资金需求 ",
                                  outcome="有贷款意向", next_step="准备授信材料", next_step_on=timezone.localdate())
    interaction.refresh_from_db()
    assert interaction.staff == bank.alice and interaction.org_unit == bank.b1
    assert interaction.summary == "上门走访，了解春耕资金需求" and interaction.channel == "visit"
    assert abs(interaction.occurred_at - timezone.now()) < timedelta(seconds=5)
    entry = AuditEntry.objects.get(action="interaction.log")
    assert entry.actor == bank.alice and entry.object_id == str(interaction.pk)
    assert entry.changes["customer"] == customers.alice_person.customer_no and entry.changes["channel"] == "visit"


def test_the_org_unit_is_the_staff_members_unit_at_the_time(bank, customers):
    interaction = interaction_log(user=bank.lena, customer=customers.alice_farmer, channel="phone",
                                  summary="条线电话回访")
    assert interaction.org_unit == bank.hq
    bank.lena.org_unit = bank.b2
    bank.lena.save()
    interaction.refresh_from_db()
    assert interaction.org_unit == bank.hq


@pytest.mark.parametrize(("changes", "field"), [
    ({"summary": "   "}, "summary"),
    ({"channel": "carrier_pigeon"}, "channel"),
    ({"direction": "sideways"}, "direction"),
    ({"occurred_at": timezone.now() + timedelta(hours=1)}, "occurred_at"),
    ({"next_step_on": date(2000, 1, 1)}, "next_step_on"),
])
def test_bad_input_is_refused_naming_the_field(bank, customers, changes, field):
    data = {"channel": "phone", "summary": "电话回访", **changes}
    with pytest.raises(ValidationError) as caught:
        interaction_log(user=bank.alice, customer=customers.alice_person, **data)
    assert list(caught.value.message_dict) == [field]
    assert not Interaction.objects.exists() and not AuditEntry.objects.filter(action="interaction.log").exists()


def test_the_error_messages_are_chinese(bank, customers):
    with pytest.raises(ValidationError) as caught:
        interaction_log(user=bank.alice, customer=customers.alice_person, channel="phone", summary="",
                        occurred_at=timezone.now() + timedelta(days=1))
    assert caught.value.message_dict == {"summary": ["请填写联系内容。"], "occurred_at": ["联系时间不能晚于当前时间。"]}


def test_a_naive_time_is_read_in_the_banks_time_zone(bank, customers):
    interaction = interaction_log(user=bank.alice, customer=customers.alice_person, channel="counter",
                                  summary="柜面办理", occurred_at=datetime(2024, 5, 6, 9, 30))  # noqa: DTZ001
    assert timezone.localtime(interaction.occurred_at).strftime("%Y-%m-%d %H:%M %Z") == "2024-05-06 09:30 CST"


def test_the_auditor_cannot_log_a_contact(bank, customers):
    with pytest.raises(PermissionDenied):
        interaction_log(user=bank.audrey, customer=customers.alice_person, channel="phone", summary="审计")


def test_a_manager_cannot_log_on_another_managers_customer(bank, customers):
    with pytest.raises(PermissionDenied):
        interaction_log(user=bank.alice, customer=customers.bob_person, channel="phone", summary="越权")
    assert not Interaction.objects.exists()


def test_an_administrator_cannot_log_a_contact(bank, customers):
    with pytest.raises(PermissionDenied):
        interaction_log(user=bank.sam, customer=customers.alice_person, channel="phone", summary="x")


def test_visible_to_follows_the_customer_scope(bank, customers, contact):
    mine = contact(customers.alice_person, bank.alice)
    bobs = contact(customers.bob_person, bank.bob)
    carols = contact(customers.carol_company, bank.carol)
    assert set(Interaction.objects.visible_to(bank.alice)) == {mine}
    assert set(Interaction.objects.visible_to(bank.hank)) == {mine, bobs}
    assert set(Interaction.objects.visible_to(bank.audrey)) == {mine, bobs, carols}
    assert set(Interaction.objects.visible_to(bank.lena)) == set()  # no agri customer contacted
    assert not Interaction.objects.visible_to(bank.sam).exists()
