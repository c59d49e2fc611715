"""Assignment rules: each rule, idempotence, scope, the command."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command

from guanxi.core.models import AuditEntry
from guanxi.core.roles import Role
from guanxi.relationships.models import Assignment, AssignmentRule, RuleKind
from guanxi.relationships.selectors import unassigned_customers
from guanxi.relationships.services import assignment_rule_save, assignment_rules_run, rule_reason
from tests.factories import CustomerFactory, UserFactory


def owner_of(customer):
    return Assignment.objects.get(customer=customer, active=True).owner


def make_high(*customers):
    """Segmentation computes `tier` from balances once it exists; until then the balances alone decide."""
    from guanxi.relationships.services import _has_tier

    if _has_tier():
        type(customers[0]).objects.filter(pk__in=[c.pk for c in customers]).update(tier="high")


def test_loan_customers_go_to_their_loan_officer(bank, rules):
    customer = CustomerFactory(org_unit=bank.b1, loan_balance=Decimal("30000"), loan_officer=bank.bob)
    assignment_rules_run(acting_user=None)
    assert owner_of(customer) == bank.bob
    assert Assignment.objects.get(customer=customer, active=True).reason == rule_reason("loan officer")


def test_an_inactive_loan_officer_is_passed_over(bank, rules):
    bank.bob.is_active = False
    bank.bob.save()
    customer = CustomerFactory(org_unit=bank.b1, loan_balance=Decimal("30000"), loan_officer=bank.bob)
    assignment_rules_run(acting_user=None)
    assert owner_of(customer) == bank.tina


def test_high_tier_customers_go_to_the_head_of_their_unit(bank, rules):
    rich = CustomerFactory(org_unit=bank.b1, deposit_balance=Decimal("1000000"))
    big_loan = CustomerFactory(org_unit=bank.b1, loan_balance=Decimal("2000000"))
    make_high(rich, big_loan)
    summary = assignment_rules_run(acting_user=None)
    assert owner_of(rich) == bank.hank and owner_of(big_loan) == bank.hank
    assert summary.per_rule["high tier to head"] == 2


def test_just_below_the_high_tier_is_a_teller_customer(bank, rules):
    customer = CustomerFactory(org_unit=bank.b1, deposit_balance=Decimal("999999.99"))
    assignment_rules_run(acting_user=None)
    assert owner_of(customer) == bank.tina


def test_group_customers_go_to_the_head_office_leader(bank, leo, rules):
    group = CustomerFactory(org_unit=bank.b1, customer_type="company", loan_balance=Decimal("5000000"),
                            loan_officer=bank.bob)
    person_with_big_loan = CustomerFactory(org_unit=bank.b1, loan_balance=Decimal("5000000"))
    listed = CustomerFactory(org_unit=bank.b2, deposit_balance=Decimal("10"))
    make_high(person_with_big_loan)
    rules["leader"].parameters["group_customer_nos"] = [listed.customer_no]
    rules["leader"].save()
    assignment_rules_run(acting_user=None)
    assert owner_of(group) == leo and owner_of(listed) == leo
    assert owner_of(person_with_big_loan) == bank.hank  # high tier, not a group


def test_deposit_customers_are_spread_over_the_least_loaded_tellers(bank, rules):
    UserFactory(username="tom", role=Role.TELLER, org_unit=bank.b1)
    CustomerFactory(org_unit=bank.b1, owner=bank.tina)
    CustomerFactory(org_unit=bank.b1, owner=bank.tina)
    new = [CustomerFactory(org_unit=bank.b1, deposit_balance=Decimal("100")) for _ in range(4)]
    assignment_rules_run(acting_user=None)
    owners = [owner_of(c).username for c in new]
    assert owners.count("tom") == 3 and owners.count("tina") == 1


def test_round_robin_takes_the_tellers_in_turn(bank, rules):
    UserFactory(username="tom", role=Role.TELLER, org_unit=bank.b1)
    rules["teller"].parameters["strategy"] = "round_robin"
    rules["teller"].save()
    new = [CustomerFactory(org_unit=bank.b1, deposit_balance=Decimal("100")) for _ in range(4)]
    assignment_rules_run(acting_user=None)
    assert sorted(owner_of(c).username for c in new) == ["tina", "tina", "tom", "tom"]


def test_a_unit_without_tellers_falls_back_to_its_managers(bank, rules):
    customer = CustomerFactory(org_unit=bank.b2, deposit_balance=Decimal("100"))
    assignment_rules_run(acting_user=None)
    assert owner_of(customer) == bank.carol


def test_the_tier_field_is_used_once_segmentation_adds_it(bank, rules, monkeypatch):
    from guanxi.relationships import services

    monkeypatch.setattr(services, "_has_tier", lambda: True)
    assert str(services._high_tier_q({})) == str(services.Q(tier="high"))


def test_after_running_the_rules_no_customer_is_unassigned(bank, customers, rules):
    assert unassigned_customers(user=bank.hank).exists()
    summary = assignment_rules_run(acting_user=None)
    assert summary.unmatched == 0
    assert not unassigned_customers(user=bank.hank).exists()
    assert not unassigned_customers(user=bank.audrey).exists()


def test_running_twice_changes_nothing_the_second_time(bank, customers, rules):
    CustomerFactory(org_unit=bank.b1, loan_balance=Decimal("30000"), loan_officer=bank.bob)
    first = assignment_rules_run(acting_user=None, scope="all")
    count = Assignment.objects.count()
    second = assignment_rules_run(acting_user=None, scope="all")
    assert first.changed > 0 and second.changed == 0
    assert Assignment.objects.count() == count
    assert assignment_rules_run(acting_user=None).changed == 0


def test_scope_all_moves_a_customer_and_ends_the_old_assignment_naming_the_rule(bank, customers, rules):
    customer = customers.alice_person
    Customer = type(customer)
    Customer.objects.filter(pk=customer.pk).update(loan_balance=Decimal("100"), loan_officer=bank.bob)
    assignment_rules_run(acting_user=bank.hank, scope="all")
    assert owner_of(customer) == bank.bob
    ended = Assignment.objects.get(customer=customer, owner=bank.alice)
    assert not ended.active and ended.ended_at is not None and ended.end_reason == rule_reason("loan officer")


def test_one_audit_entry_per_run_with_counts(bank, customers, rules):
    before = AuditEntry.objects.count()
    assignment_rules_run(acting_user=bank.hank)
    entries = AuditEntry.objects.all()[: AuditEntry.objects.count() - before]
    assert [e.action for e in entries] == ["assignment.rules_run"]
    assert entries[0].changes["changed"] == 1 and entries[0].actor == bank.hank


def test_a_dry_run_changes_nothing(bank, customers, rules):
    before = (Assignment.objects.count(), AuditEntry.objects.count())
    summary = assignment_rules_run(acting_user=None, dry_run=True)
    assert summary.changed == 1 and summary.sample
    assert (Assignment.objects.count(), AuditEntry.objects.count()) == before


def test_a_head_runs_the_rules_over_their_subtree_only(bank, customers, rules):
    other = CustomerFactory(org_unit=bank.b2, deposit_balance=Decimal("5"))
    assignment_rules_run(acting_user=bank.hank)
    assert not Assignment.objects.filter(customer=other).exists()
    assert owner_of(customers.unassigned) == bank.tina


def test_a_head_cannot_run_the_rules_for_another_unit(bank, rules):
    with pytest.raises(PermissionDenied):
        assignment_rules_run(acting_user=bank.hank, org_unit=bank.b2)


def test_a_manager_cannot_run_the_rules(bank, rules):
    with pytest.raises(PermissionDenied):
        assignment_rules_run(acting_user=bank.alice)


def test_a_line_department_runs_the_rules_for_its_line(bank, rules):
    farmer = CustomerFactory(org_unit=bank.b1, customer_type="farmer", deposit_balance=Decimal("5"))
    person = CustomerFactory(org_unit=bank.b1, deposit_balance=Decimal("5"))
    assignment_rules_run(acting_user=bank.lena)
    assert owner_of(farmer) == bank.tina
    assert not Assignment.objects.filter(customer=person).exists()


def test_rules_are_saved_with_checked_parameters_and_audited(bank):
    rule = assignment_rule_save(acting_user=bank.hank, name="tellers", kind=RuleKind.DEPOSIT_TELLER,
                                parameters={"strategy": "round_robin"})
    assert rule.org_unit == bank.b1
    assert AuditEntry.objects.filter(action="assignment_rule.save", object_id=str(rule.pk)).exists()
    with pytest.raises(ValidationError):
        assignment_rule_save(acting_user=bank.hank, name="x", kind=RuleKind.HEAD_OFFICE_LEADER,
                             parameters={"username": "nobody"})
    with pytest.raises(ValidationError):
        assignment_rule_save(acting_user=bank.hank, name="x", kind=RuleKind.HIGH_TIER_HEAD,
                             parameters={"deposit_threshold": "lots"})
    with pytest.raises(PermissionDenied):
        assignment_rule_save(acting_user=bank.alice, name="x", kind=RuleKind.LOAN_OFFICER)
    with pytest.raises(PermissionDenied):
        assignment_rule_save(acting_user=bank.hank, name="x", kind=RuleKind.LOAN_OFFICER, org_unit=bank.b2)


def test_a_rule_limited_to_a_unit_applies_there_only(bank, rules):
    AssignmentRule.objects.exclude(pk=rules["teller"].pk).delete()
    rules["teller"].org_unit = bank.b2
    rules["teller"].save()
    inside = CustomerFactory(org_unit=bank.b2, deposit_balance=Decimal("5"))
    outside = CustomerFactory(org_unit=bank.b1, deposit_balance=Decimal("5"))
    summary = assignment_rules_run(acting_user=None)
    assert owner_of(inside) == bank.carol and summary.unmatched == 1
    assert not Assignment.objects.filter(customer=outside).exists()


def test_the_rules_run_in_a_bounded_number_of_queries(bank, rules, django_assert_max_num_queries):
    for _ in range(30):
        CustomerFactory(org_unit=bank.b1, deposit_balance=Decimal("5"))
        CustomerFactory(org_unit=bank.b2, loan_balance=Decimal("5"), loan_officer=bank.carol)
    with django_assert_max_num_queries(25):
        summary = assignment_rules_run(acting_user=None)
    assert summary.changed == 60


def test_the_assign_command_runs_the_rules(bank, customers, rules, capsys):
    call_command("assign", "--dry-run", "--as", "hank")
    assert "试算：1 个将变更" in capsys.readouterr().out  # "Dry run: 1 would change"
    call_command("assign", "--org", "B1")
    out = capsys.readouterr().out
    assert "已分配 1 个" in out and "deposits to tellers：1" in out  # "1 assigned", per rule
    assert owner_of(customers.unassigned) == bank.tina


def test_the_assign_command_refuses_an_unknown_user(bank, rules):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("assign", "--as", "nobody")


def test_without_a_tier_field_the_balance_thresholds_decide(bank, rules, monkeypatch):
    from guanxi.relationships import services

    monkeypatch.setattr(services, "_has_tier", lambda: False)
    rules["high"].parameters = {"deposit_threshold": "500000"}
    rules["high"].save()
    rich = CustomerFactory(org_unit=bank.b1, deposit_balance=Decimal("500000"))
    modest = CustomerFactory(org_unit=bank.b1, deposit_balance=Decimal("499999.99"))
    assignment_rules_run(acting_user=None)
    assert owner_of(rich) == bank.hank and owner_of(modest) == bank.tina
