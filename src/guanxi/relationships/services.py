"""Assignments: one active owner per customer (1对N)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.core import audit
from guanxi.core.models import User
from guanxi.core.roles import Role
from guanxi.customers.models import Customer
from guanxi.relationships.models import Assignment

OWNER_ROLES = frozenset({Role.MANAGER, Role.TELLER, Role.BRANCH_HEAD})


def assignment_set(*, acting_user: User | None, customer: Customer, owner: User, reason: str = "") -> Assignment:
    """Make `owner` the customer's one active owner, ending any previous assignment.

    The partial unique constraint guarantees a single active owner even when two requests
    race; the loser's transaction fails with IntegrityError and changes nothing.
    """
    if owner.role not in OWNER_ROLES or not owner.is_active:
        raise ValidationError({"owner": _("%(user)s cannot own customers") % {"user": owner.display_name}})
    with transaction.atomic():
        now = timezone.now()
        previous = (
            Assignment.objects.select_for_update().filter(customer=customer, active=True).select_related("owner").first()
        )
        if previous is not None:
            if previous.owner_id == owner.pk:
                return previous
            Assignment.objects.filter(pk=previous.pk).update(active=False, ended_at=now)
        assignment = Assignment.objects.create(
            customer=customer, owner=owner, started_at=now, reason=reason, assigned_by=acting_user
        )
        audit.record(
            actor=acting_user, action="assignment.set", obj=customer,
            changes={"owner": [previous.owner.username if previous else None, owner.username], "reason": reason},
        )
    return assignment


def current_owner(customer: Customer) -> User | None:
    assignment = Assignment.objects.filter(customer=customer, active=True).select_related("owner").first()
    return assignment.owner if assignment else None
