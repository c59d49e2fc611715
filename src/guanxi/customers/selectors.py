"""Read queries on customers, always starting from the user's data scope."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet
from django.shortcuts import get_object_or_404

from guanxi.core.models import User
from guanxi.customers.models import Customer


def _with_owner(queryset: QuerySet) -> QuerySet:
    from guanxi.relationships.models import Assignment  # read-only reverse lookup

    active = Assignment.objects.filter(active=True).select_related("owner")
    return queryset.select_related("org_unit").prefetch_related(
        Prefetch("assignments", queryset=active, to_attr="active_assignments")
    )


def customer_list(
    *, user: User, search: str = "", customer_type: str = "", status: str = "", org_code: str = "",
    market: str = "", owner: str = "", tier: str = "", within: str = "",
) -> QuerySet[Customer]:
    """Customers the user may see, filtered; the list page, the API and exports use this."""
    customers = Customer.objects.visible_to(user)
    if search:
        customers = customers.search(search)
    if customer_type:
        customers = customers.filter(customer_type=customer_type)
    if status:
        customers = customers.filter(status=status)
    if market:
        customers = customers.filter(market=market)
    if org_code:
        customers = customers.filter(org_unit__code=org_code)
    if tier:
        customers = customers.filter(tier=tier)
    if within:
        # The subtree of an org unit (the segmentation tables link here).
        from guanxi.core.models import OrgUnit

        root = OrgUnit.objects.filter(code=within).only("path").first()
        customers = customers.filter(org_unit__path__startswith=root.path) if root else customers.none()
    if owner:
        customers = customers.filter(assignments__owner__username=owner, assignments__active=True)
    # A name search comes ordered by its token index (the same order as customer numbers).
    return _with_owner(customers if customers.query.order_by else customers.order_by("customer_no"))


def customer_get(*, user: User, pk: int) -> Customer:
    """One customer in the user's scope; 404 when it does not exist *or* is not theirs."""
    return get_object_or_404(_with_owner(Customer.objects.visible_to(user)).prefetch_related("members"), pk=pk)


def customer_owner(customer: Customer) -> User | None:
    assignments = getattr(customer, "active_assignments", None)
    if assignments is None:
        assignments = list(customer.assignments.filter(active=True).select_related("owner"))
    return assignments[0].owner if assignments else None
