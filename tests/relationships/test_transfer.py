"""Manual assignment and bulk transfer: one transaction, one audit entry, only within scope."""

from __future__ import annotations

import time

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from guanxi.core.models import AuditEntry
from guanxi.core.roles import Role
from guanxi.customers.models import Customer
from guanxi.relationships.models import Assignment
from guanxi.relationships.services import assignment_change, assignment_transfer
from tests.factories import CustomerFactory, UserFactory


def active_owners(customers):
    return {a.customer_id: a.owner.username
            for a in Assignment.objects.filter(customer__in=customers, active=True).select_related("owner")}


def test_a_head_sets_the_owner_of_a_customer_with_a_reason(bank, customers):
    assignment_change(acting_user=bank.hank, customer=customers.alice_person, owner=bank.bob, reason="alice on leave")
    ended = Assignment.objects.get(customer=customers.alice_person, owner=bank.alice)
    assert not ended.active and ended.end_reason == "alice on leave"
    new = Assignment.objects.get(customer=customers.alice_person, active=True)
    assert new.owner == bank.bob and new.assigned_by == bank.hank


def test_a_manual_change_needs_a_reason(bank, customers):
    with pytest.raises(ValidationError):
        assignment_change(acting_user=bank.hank, customer=customers.alice_person, owner=bank.bob, reason=" ")


def test_a_head_cannot_give_a_customer_to_staff_outside_the_unit(bank, customers):
    with pytest.raises(ValidationError):
        assignment_change(acting_user=bank.hank, customer=customers.unassigned, owner=bank.carol, reason="x")


def test_a_head_cannot_reassign_outside_the_subtree(bank, customers):
    with pytest.raises(PermissionDenied):
        assignment_change(acting_user=bank.hank, customer=customers.carol_company, owner=bank.bob, reason="x")


def test_a_manager_cannot_reassign(bank, customers):
    with pytest.raises(PermissionDenied):
        assignment_change(acting_user=bank.alice, customer=customers.alice_person, owner=bank.bob, reason="x")


def test_a_manager_leaving_moves_all_customers_balanced(bank, customers):
    result = assignment_transfer(acting_user=bank.hank, from_user=bank.alice, to_users=[bank.bob, bank.tina],
                                 reason="alice leaves")
    # bob already has one customer, so balancing gives tina the first.
    assert result == {"count": 2, "to": {"tina": 1, "bob": 1}}
    assert not Assignment.objects.filter(owner=bank.alice, active=True).exists()
    assert Assignment.objects.filter(owner=bank.alice, active=False, end_reason="alice leaves").count() == 2


def test_round_robin_takes_the_recipients_in_turn(bank, customers):
    result = assignment_transfer(acting_user=bank.hank, from_user=bank.alice, to_users=[bank.bob, bank.tina],
                                 reason="x", strategy="round_robin")
    assert result["to"] == {"bob": 1, "tina": 1}


def test_a_transfer_of_some_customers_only(bank, customers):
    assignment_transfer(acting_user=bank.hank, from_user=bank.alice, to_users=[bank.bob], reason="x",
                        customers=[customers.alice_farmer])
    assert active_owners([customers.alice_person, customers.alice_farmer]) == {
        customers.alice_person.pk: "alice", customers.alice_farmer.pk: "bob"}


def test_a_transfer_refuses_customers_the_user_does_not_own(bank, customers):
    with pytest.raises(ValidationError):
        assignment_transfer(acting_user=bank.hank, from_user=bank.alice, to_users=[bank.bob], reason="x",
                            customers=[customers.bob_person])


def test_a_manager_cannot_transfer(bank, customers):
    with pytest.raises(PermissionDenied):
        assignment_transfer(acting_user=bank.bob, from_user=bank.alice, to_users=[bank.bob], reason="x")


def test_a_head_outside_the_subtree_cannot_transfer(bank, customers):
    other_head = UserFactory(role=Role.BRANCH_HEAD, org_unit=bank.b2)
    with pytest.raises(PermissionDenied):
        assignment_transfer(acting_user=other_head, from_user=bank.alice, to_users=[bank.carol], reason="x")
    assert Assignment.objects.filter(owner=bank.alice, active=True).count() == 2


def test_a_line_department_transfers_for_its_line_only(bank, customers):
    with pytest.raises(PermissionDenied):  # alice's person customer is the personal line's
        assignment_transfer(acting_user=bank.lena, from_user=bank.alice, to_users=[bank.bob], reason="x")
    assignment_transfer(acting_user=bank.lena, from_user=bank.alice, to_users=[bank.bob], reason="x",
                        customers=[customers.alice_farmer])
    assert active_owners([customers.alice_farmer]) == {customers.alice_farmer.pk: "bob"}


def test_recipients_must_be_able_to_own_customers(bank, customers):
    with pytest.raises(ValidationError):
        assignment_transfer(acting_user=bank.hank, from_user=bank.alice, to_users=[bank.audrey], reason="x")
    with pytest.raises(ValidationError):
        assignment_transfer(acting_user=bank.hank, from_user=bank.alice, to_users=[bank.alice], reason="x")


def test_ten_thousand_customers_move_in_one_audited_operation(bank):
    customers = [
        Customer(customer_no=f"KB{n:010d}", customer_type="person", name=f"客户{n}", id_number=f"T{n:017d}",
                 org_unit=bank.b1, status="existing", market="personal")
        for n in range(10_000)
    ]
    Customer.objects.bulk_create(customers, batch_size=2000)
    ids = list(Customer.objects.filter(customer_no__startswith="KB").values_list("pk", flat=True))
    Assignment.objects.bulk_create([Assignment(customer_id=pk, owner=bank.alice, reason="test") for pk in ids],
                                   batch_size=2000)
    audit_before = AuditEntry.objects.count()
    started = time.monotonic()
    result = assignment_transfer(acting_user=bank.hank, from_user=bank.alice, to_users=[bank.bob, bank.tina],
                                 reason="alice leaves the bank")
    elapsed = time.monotonic() - started
    assert result == {"count": 10_000, "to": {"bob": 5_000, "tina": 5_000}}
    assert elapsed < 5, elapsed
    assert AuditEntry.objects.count() == audit_before + 1
    entry = AuditEntry.objects.get(action="assignment.transfer")
    assert entry.changes["count"] == 10_000 and entry.changes["to"] == {"bob": 5_000, "tina": 5_000}
    assert Assignment.objects.filter(owner=bank.alice, active=False).count() == 10_000
    assert Assignment.objects.filter(active=True, customer_id__in=ids).count() == 10_000


def test_a_failed_transfer_writes_nothing(bank, customers, monkeypatch):
    from guanxi.relationships import services

    def broken(**kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(services.audit, "record", broken)
    with pytest.raises(RuntimeError):
        assignment_transfer(acting_user=bank.hank, from_user=bank.alice, to_users=[bank.bob], reason="x")
    assert Assignment.objects.filter(owner=bank.alice, active=True).count() == 2
    assert not Assignment.objects.filter(owner=bank.bob, reason="x").exists()


def test_a_transfer_of_a_few_customers_uses_a_bounded_number_of_queries(bank, django_assert_max_num_queries):
    for _ in range(20):
        CustomerFactory(org_unit=bank.b1, owner=bank.alice)
    with django_assert_max_num_queries(15):
        assignment_transfer(acting_user=bank.hank, from_user=bank.alice, to_users=[bank.bob, bank.tina], reason="x")
