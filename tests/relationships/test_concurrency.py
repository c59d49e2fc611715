"""Two people assign the same unowned customer at the same moment: exactly one wins (PostgreSQL)."""

from __future__ import annotations

import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections, transaction

from guanxi.core.models import AuditEntry
from guanxi.relationships.models import Assignment
from guanxi.relationships.services import assignment_set
from tests.factories import CustomerFactory

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL row locking"),
    pytest.mark.django_db(transaction=True),
]


def run_in_threads(*targets):
    outcomes: list[object] = [None] * len(targets)

    def wrap(i, target):
        try:
            outcomes[i] = target()
        except ValidationError as exc:
            outcomes[i] = exc
        finally:
            connections.close_all()  # each thread has its own connection; close it

    threads = [threading.Thread(target=wrap, args=(i, t)) for i, t in enumerate(targets)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcomes


def test_two_heads_assigning_an_unowned_customer_at_once_leave_exactly_one_owner(bank):
    customer = CustomerFactory(org_unit=bank.b1)
    barrier = threading.Barrier(2)

    def assign(owner):
        def target():
            barrier.wait(timeout=10)
            return assignment_set(acting_user=bank.hank, customer=customer, owner=owner, reason="race",
                                  expected_owner=None)
        return target

    outcomes = run_in_threads(assign(bank.alice), assign(bank.bob))
    winners = [o for o in outcomes if isinstance(o, Assignment)]
    losers = [o for o in outcomes if isinstance(o, ValidationError)]
    assert len(winners) == 1 and len(losers) == 1, outcomes
    assert "已被他人分配" in losers[0].messages[0]
    assert Assignment.objects.filter(customer=customer, active=True).count() == 1
    assert Assignment.objects.filter(customer=customer).count() == 1  # the loser wrote nothing
    assert AuditEntry.objects.filter(action="assignment.set", object_id=str(customer.pk)).count() == 1


def test_the_database_constraint_decides_when_both_inserts_overlap(bank):
    """The other writer's insert is still uncommitted when ours runs: the unique index makes ours
    wait, then fail; the IntegrityError comes back as the clear ValidationError, nothing written."""
    customer = CustomerFactory(org_unit=bank.b1)
    inserted = threading.Event()

    def other_writer():
        with transaction.atomic():
            Assignment.objects.create(customer=customer, owner=bank.alice, reason="other")
            inserted.set()
            threading.Event().wait(0.5)  # hold the row while the second writer arrives
        return "committed"

    def second_writer():
        inserted.wait(timeout=10)
        return assignment_set(acting_user=bank.hank, customer=customer, owner=bank.bob, reason="second")

    outcomes = run_in_threads(other_writer, second_writer)
    assert outcomes[0] == "committed"
    assert isinstance(outcomes[1], ValidationError), outcomes
    assert "已被他人分配" in outcomes[1].messages[0]
    assert list(Assignment.objects.filter(customer=customer).values_list("owner__username", "active")) == [
        ("alice", True)]
    assert not AuditEntry.objects.filter(action="assignment.set", object_id=str(customer.pk)).exists()
