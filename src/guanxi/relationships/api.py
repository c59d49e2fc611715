"""Ownership API: unassigned customers, history, owner change, transfer, rules run, follow-up tracking."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema
from ninja.pagination import LimitOffsetPagination, paginate

from guanxi.core.models import OrgUnit
from guanxi.relationships import selectors, services, tracking
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


# --- follow-up tracking (跟踪问效) -----------------------------------------------------------------------------

class FiguresOut(Schema):
    customers: int
    deposit_now: Decimal
    deposit_start: Decimal
    deposit_change: Decimal
    loan_now: Decimal
    loan_start: Decimal
    loan_change: Decimal
    contacts: int
    customers_contacted: int
    entries_worked: int
    stale_customers: int


class TrackingRowOut(FiguresOut):
    """One owner (`by=owner`: owner, owner_name, org_code) or one org unit (`by=org_unit`: org_code, owners)."""

    owner: str | None = None
    owner_name: str | None = None
    org_code: str | None = None
    org_name: str | None = None
    owners: int | None = None


class TrackingOut(Schema):
    from_: date = Field(alias="from")
    to: date
    stale_days: int
    by: str
    rows: list[TrackingRowOut]
    total: FiguresOut


class StaleCustomerOut(Schema):
    id: int
    customer_no: str
    name: str
    customer_type: str
    org_code: str
    last_contact: datetime | None

    @staticmethod
    def resolve_org_code(obj) -> str:
        return obj.org_unit.code


def _period(start: str, end: str, stale_days: str) -> tracking.Period:
    return tracking.tracking_period(start=start, end=end, stale_days=stale_days)


@router.get("/tracking", response=TrackingOut, by_alias=True)
def tracking_report(request, start: str = Query("", alias="from"), to: str = "", stale_days: str = "",
                    by: str = tracking.BY_OWNER):
    """跟踪问效 for the period [from, to] (default: this month so far): per owner (`by=owner`) or per org unit
    of the owners (`by=org_unit`), within your scope. Amounts in yuan; `stale_days` (default 90) sets
    "not contacted for N days" as of `to`."""
    tracking.require_reader(request.user)
    period = _period(start, to, stale_days)
    if by not in (tracking.BY_OWNER, tracking.BY_ORG_UNIT):
        raise ValidationError({"by": _("Choose owner or org_unit.")})
    report = tracking.tracking_report(user=request.user, period=period, by=(by,))
    if by == tracking.BY_OWNER:
        rows = [{**row.figures.as_dict(), "owner": row.owner.username, "owner_name": row.owner.display_name,
                 "org_code": row.org_unit.code if row.org_unit else None,
                 "org_name": row.org_unit.name if row.org_unit else None} for row in report.owners]
    else:
        rows = [{**row.figures.as_dict(), "org_code": row.org_unit.code if row.org_unit else None,
                 "org_name": row.org_unit.name if row.org_unit else None, "owners": row.owners}
                for row in report.org_units]
    return {"from": period.start, "to": period.end, "stale_days": period.stale_days, "by": by, "rows": rows,
            "total": report.total.as_dict()}


@router.get("/tracking/stale", response=list[StaleCustomerOut])
@paginate(LimitOffsetPagination)
def tracking_stale(request, owner: str, start: str = Query("", alias="from"), to: str = "", stale_days: str = ""):
    """The customers of one owner (in your scope) nobody contacted in the `stale_days` days up to `to`."""
    staff = tracking.tracking_owner(user=request.user, username=owner)
    return tracking.stale_customers(user=request.user, owner=staff, period=_period(start, to, stale_days))
