"""Read queries on ownership: history per customer and per manager, unassigned customers."""

from __future__ import annotations

from django.db.models import Count, Exists, OuterRef, QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404

from guanxi.core.models import User
from guanxi.core.roles import OWN_SCOPE_ROLES, Role
from guanxi.customers.models import Customer
from guanxi.relationships.models import Assignment, AssignmentRule

UNASSIGNED_READER_ROLES = frozenset({Role.BRANCH_HEAD, Role.LINE_DEPT, Role.AUDITOR})


def customer_history(*, user: User, customer_id: int) -> tuple[Customer, QuerySet[Assignment]]:
    """Every assignment of one customer in the user's scope, newest first; 404 when not visible."""
    customer = get_object_or_404(Customer.objects.visible_to(user).select_related("org_unit"), pk=customer_id)
    history = (Assignment.objects.filter(customer=customer).select_related("owner", "assigned_by")
               .order_by("-started_at", "-id"))
    return customer, history


def staff_get(*, user: User, username: str) -> User:
    """A member of staff whose ownership history `user` may read: themselves, staff of a head's
    subtree, anyone for a line department or the auditor; 404 otherwise."""
    staff = User.objects.select_related("org_unit")
    if user.role in (Role.LINE_DEPT, Role.AUDITOR):
        return get_object_or_404(staff, username=username)
    if user.role == Role.BRANCH_HEAD and user.org_unit_id:
        return get_object_or_404(staff, username=username, org_unit__path__startswith=user.org_unit.path)
    if user.role in OWN_SCOPE_ROLES and user.username == username:
        return get_object_or_404(staff, username=username)
    raise Http404


def staff_history(*, user: User, username: str) -> tuple[User, QuerySet[Assignment]]:
    """Who a member of staff owned, from when until when and why — limited to customers the user may see
    (managers see their own history only for customers they still own)."""
    owner = staff_get(user=user, username=username)
    visible = Customer.objects.visible_to(user) if user.pk != owner.pk else Customer.objects.all()
    history = (Assignment.objects.filter(owner=owner, customer__in=visible)
               .select_related("customer", "assigned_by").order_by("-started_at", "-id"))
    return owner, history


def unassigned_customers(*, user: User, org_code: str = "") -> QuerySet[Customer]:
    """Customers in the user's scope without an active owner (heads: their subtree)."""
    customers = Customer.objects.visible_to(user).filter(
        ~Exists(Assignment.objects.filter(customer=OuterRef("pk"), active=True)))
    if org_code:
        customers = customers.filter(org_unit__code=org_code)
    return customers.select_related("org_unit").order_by("customer_no")


def unassigned_counts(*, user: User) -> list[dict]:
    """[{org_code, org_name, count}] of unassigned customers per unit of the user's scope, one query."""
    return list(unassigned_customers(user=user).order_by().values("org_unit__code", "org_unit__name", "org_unit__path")
                .annotate(count=Count("pk")).order_by("org_unit__path"))


def rules_visible_to(user: User) -> QuerySet[AssignmentRule]:
    """Rules a user may read and edit: a head's for their subtree (bank-wide ones read-only), all for a line dept."""
    return AssignmentRule.objects.select_related("org_unit", "created_by").order_by("priority", "id")


def transfer_sources(*, user: User) -> QuerySet[User]:
    """Staff (active or not — a manager who left is usually deactivated) who own customers and whose
    customers `user` might transfer: a head's subtree, anyone for a line department; with `owned` counts."""
    from django.db.models import Q

    staff = User.objects.all()
    if user.role == Role.BRANCH_HEAD:
        staff = staff.filter(org_unit__path__startswith=user.org_unit.path) if user.org_unit_id else staff.none()
    elif user.role != Role.LINE_DEPT:
        staff = staff.none()
    return (staff.annotate(owned=Count("assignments", filter=Q(assignments__active=True))).filter(owned__gt=0)
            .select_related("org_unit").order_by("org_unit__path", "username"))
