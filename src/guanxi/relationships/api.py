"""Ownership API: unassigned customers, history, owner change, transfer, rules run."""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404
from ninja import Router, Schema
from ninja.pagination import LimitOffsetPagination, paginate

from guanxi.core.models import OrgUnit
from guanxi.relationships import selectors, services
from guanxi.relationships.models import Assignment

router = Router(tags=["relationships"])


class UnassignedOut(Schema):
    id: int
    customer_no: str
    name: str
    customer_type: str
    org_code: str

    @staticmethod
    def resolve_org_code(obj) -> str:
        return obj.org_unit.code


class UnitCountOut(Schema):
    org_code: str
    org_name: str
    count: int


class AssignmentOut(Schema):
    customer_id: int
    customer_no: str
    owner: str
    active: bool
    started_at: datetime
    ended_at: datetime | None
    reason: str
    end_reason: str
    assigned_by: str | None

    @staticmethod
    def resolve_customer_no(obj: Assignment) -> str:
        return obj.customer.customer_no

    @staticmethod
    def resolve_owner(obj: Assignment) -> str:
        return obj.owner.username

    @staticmethod
    def resolve_assigned_by(obj: Assignment) -> str | None:
        return obj.assigned_by.username if obj.assigned_by else None


class OwnerIn(Schema):
    owner: str
    reason: str
    expected_owner: str | None = None


class TransferIn(Schema):
    from_user: str
    to_users: list[str]
    reason: str
    strategy: str = "balanced"
    customer_ids: list[int] | None = None


class TransferOut(Schema):
    count: int
    to: dict[str, int]


class RunIn(Schema):
    scope: str = "unassigned"
    org_code: str | None = None
    dry_run: bool = False


class RunOut(Schema):
    scope: str
    dry_run: bool
    considered: int
    changed: int
    unchanged: int
    unmatched: int
    per_rule: dict[str, int]


def _require_reader(user) -> None:
    if user.role not in selectors.UNASSIGNED_READER_ROLES:
        raise PermissionDenied


@router.get("/unassigned", response=list[UnassignedOut])
@paginate(LimitOffsetPagination)
def unassigned_list(request, org_code: str = ""):
    _require_reader(request.user)
    return selectors.unassigned_customers(user=request.user, org_code=org_code)


@router.get("/unassigned/counts", response=list[UnitCountOut])
def unassigned_counts(request):
    _require_reader(request.user)
    return [{"org_code": r["org_unit__code"], "org_name": r["org_unit__name"], "count": r["count"]}
            for r in selectors.unassigned_counts(user=request.user)]


@router.get("/customers/{int:customer_id}/history", response=list[AssignmentOut])
@paginate(LimitOffsetPagination)
def customer_history(request, customer_id: int):
    _customer, history = selectors.customer_history(user=request.user, customer_id=customer_id)
    return history.select_related("customer")


@router.get("/staff/{username}/history", response=list[AssignmentOut])
@paginate(LimitOffsetPagination)
def staff_history(request, username: str):
    _owner, history = selectors.staff_history(user=request.user, username=username)
    return history


@router.post("/customers/{int:customer_id}/owner", response=AssignmentOut)
def owner_change(request, customer_id: int, payload: OwnerIn):
    if request.user.role not in services.ASSIGNER_ROLES:
        raise PermissionDenied
    customer = get_object_or_404(services.assignable_customers(request.user), pk=customer_id)
    owner = get_object_or_404(services.assignable_owners(request.user), username=payload.owner)
    kwargs = {}
    if "expected_owner" in payload.model_fields_set:
        kwargs["expected_owner"] = (get_object_or_404(services.User, username=payload.expected_owner)
                                    if payload.expected_owner else None)
    assignment = services.assignment_change(acting_user=request.user, customer=customer, owner=owner,
                                            reason=payload.reason, **kwargs)
    return Assignment.objects.select_related("customer", "owner", "assigned_by").get(pk=assignment.pk)


@router.post("/transfers", response=TransferOut)
def transfer(request, payload: TransferIn):
    if request.user.role not in services.ASSIGNER_ROLES:
        raise PermissionDenied
    staff = {u.username: u for u in services.assignable_owners(request.user).filter(
        username__in=[payload.from_user, *payload.to_users])}
    from_user = staff.get(payload.from_user) or get_object_or_404(services.User, username=payload.from_user)
    to_users = [staff.get(name) or get_object_or_404(services.User, username=name) for name in payload.to_users]
    return services.assignment_transfer(acting_user=request.user, from_user=from_user, to_users=to_users,
                                        reason=payload.reason, strategy=payload.strategy,
                                        customers=payload.customer_ids)


@router.post("/rules/run", response=RunOut)
def rules_run(request, payload: RunIn):
    org_unit = get_object_or_404(OrgUnit, code=payload.org_code) if payload.org_code else None
    summary = services.assignment_rules_run(acting_user=request.user, scope=payload.scope, org_unit=org_unit,
                                            dry_run=payload.dry_run)
    return summary.as_dict()
