"""Segmentation API: the statistics table (附件1/附件2), tier moves, thresholds, territories, target lists."""

from datetime import date, datetime
from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import File, Form, Router, Schema, Status, UploadedFile
from ninja.pagination import LimitOffsetPagination, paginate

from guanxi.core.models import OrgUnit, User
from guanxi.customers.models import CustomerStatus
from guanxi.relationships.services import assignable_owners
from guanxi.segmentation import selectors, services
from guanxi.segmentation.models import TargetList, TargetListEntry, TargetListEntryUpdate, TargetListStatus, Territory
from guanxi.segmentation.services import target_lists as lists_services
from guanxi.segmentation.services import territories as territories_services

router = Router(tags=["segments"])


class CellOut(Schema):
    market: str
    tier: str
    count: int
    deposit: Decimal
    loan: Decimal


class TableOut(Schema):
    form: int
    title: str
    org_code: str
    org_name: str
    status: str
    date: date
    cells: list[CellOut]
    total: CellOut


class TierChangeOut(Schema):
    customer_id: int
    customer_no: str
    name: str
    org_code: str
    market: str
    old_tier: str
    new_tier: str
    as_of: date

    @staticmethod
    def resolve_customer_no(obj) -> str:
        return obj.customer.customer_no

    @staticmethod
    def resolve_name(obj) -> str:
        return obj.customer.name

    @staticmethod
    def resolve_org_code(obj) -> str:
        return obj.customer.org_unit.code

    @staticmethod
    def resolve_market(obj) -> str:
        return obj.customer.market


class ThresholdOut(Schema):
    market: str
    deposit_high: Decimal
    loan_high: Decimal
    deposit_mid: Decimal
    loan_mid: Decimal


class ThresholdIn(Schema):
    deposit_high: Decimal
    loan_high: Decimal
    deposit_mid: Decimal
    loan_mid: Decimal


@router.get("/stats", response=TableOut)
def stats(request, org_code: str = "", status: str = CustomerStatus.EXISTING):
    """Counts and balance sums by market line × tier (with totals) over your scope within an org unit's subtree."""
    if org_code:
        unit = get_object_or_404(selectors.org_units_for(request.user), code=org_code)
    else:
        unit = selectors.default_org_unit(request.user)
        if unit is None:
            raise Http404
    if status not in CustomerStatus.values:
        raise ValidationError({"status": [_("Choose existing or prospect.")]})
    table = selectors.segment_table(user=request.user, org_unit=unit, status=status)
    return {
        "form": table.form_number, "title": table.title, "org_code": unit.code, "org_name": unit.name,
        "status": status, "date": timezone.localdate(),
        "cells": [cell for _m, _l, cells in table.rows for cell in cells],
        "total": table.total,
    }


@router.get("/moves", response=list[TierChangeOut])
@paginate(LimitOffsetPagination)
def moves(request, start: date | None = None, end: date | None = None, direction: str = "", market: str = ""):
    """Tier moves (history) of the customers you may see, by balance date; `direction` down / up."""
    return selectors.tier_changes(user=request.user, start=start, end=end, direction=direction, market=market)


@router.get("/thresholds", response=list[ThresholdOut])
def threshold_list(request):
    return selectors.thresholds()


@router.put("/thresholds/{market}", response=ThresholdOut)
def threshold_update(request, market: str, payload: ThresholdIn):
    """Change a line's thresholds (yuan): system administrator or that line's department; recomputes the line."""
    return services.tier_threshold_update(acting_user=request.user, market=market, **payload.dict())


# --- territories (划片包干) -------------------------------------------------------------------------------------


class TerritoryOut(Schema):
    id: int
    name: str
    kind: str
    org_code: str
    keywords: list[str]
    team: list[str]

    @staticmethod
    def resolve_org_code(obj: Territory) -> str:
        return obj.org_unit.code

    @staticmethod
    def resolve_keywords(obj: Territory) -> list[str]:
        return [keyword.keyword for keyword in obj.keywords.all()]

    @staticmethod
    def resolve_team(obj: Territory) -> list[str]:
        return [user.username for user in obj.team.all()]


class TerritoryDetailOut(TerritoryOut):
    existing: int
    prospects: int
    unassigned_prospects: int


class TerritoryIn(Schema):
    name: str
    kind: str
    org_code: str
    keywords: list[str]
    team: list[str] = []


class TerritoryRoutedOut(Schema):
    territory_id: int
    name: str
    org_code: str
    routed: int
    assigned: int


class RouteOut(Schema):
    routed: int
    assigned: int
    territories: list[TerritoryRoutedOut]


def _territory_input(request, payload: TerritoryIn) -> dict:
    """The service's arguments from the payload; unknown unit or staff → 422 naming the field."""
    unit = territories_services.territory_units(request.user).filter(code=payload.org_code).first()
    if unit is None:
        if not OrgUnit.objects.filter(code=payload.org_code).exists():
            raise ValidationError({"org_code": [_("No org unit has this code.")]})
        raise PermissionDenied(_("You may only keep the territories of your own org unit's subtree."))
    names = list(dict.fromkeys(payload.team))
    team = list(User.objects.filter(username__in=names).select_related("org_unit"))
    missing = sorted(set(names) - {user.username for user in team})
    if missing:
        raise ValidationError({"team": [_("No staff member is named %(username)s") % {"username": name}
                                        for name in missing]})
    return {"name": payload.name, "kind": payload.kind, "org_unit": unit, "keywords": payload.keywords,
            "team": team}


def _territory_detail(request, territory: Territory) -> Territory:
    """The territory as the caller sees it, its customer counts attached."""
    territory = selectors.territory_get(user=request.user, pk=territory.pk)
    counts = selectors.territory_counts(user=request.user, territory_ids=[territory.pk])[territory.pk]
    territory.existing, territory.prospects = counts.existing, counts.prospects
    territory.unassigned_prospects = counts.unassigned
    return territory


@router.get("/territories", response=list[TerritoryOut])
@paginate(LimitOffsetPagination)
def territory_list(request, org_code: str = ""):
    """Territories you may read (heads: their subtree's; line departments, the sysadmin, the auditor: all)."""
    territories = selectors.territories_for(user=request.user)
    return territories.filter(org_unit__code=org_code) if org_code else territories


@router.post("/territories", response={201: TerritoryDetailOut})
def territory_create(request, payload: TerritoryIn):
    """Add a territory (branch head within their subtree, line department, sysadmin); audited."""
    territory = territories_services.territory_save(acting_user=request.user, **_territory_input(request, payload))
    return Status(201, _territory_detail(request, territory))


@router.post("/territories/route", response=RouteOut)
def territory_route(request):
    """Route the prospects of your scope living in your territories to the territory's unit (and team)."""
    result = territories_services.territory_route(user=request.user)
    return {"routed": result.routed, "assigned": result.assigned, "territories": result.territories}


@router.get("/territories/{int:territory_id}", response=TerritoryDetailOut)
def territory_detail(request, territory_id: int):
    """A territory with the customers in it (of your data scope): existing, prospects, prospects without owner."""
    return _territory_detail(request, selectors.territory_get(user=request.user, pk=territory_id))


def _administered(request, territory_id: int) -> Territory:
    territory = selectors.territory_get(user=request.user, pk=territory_id)
    if not Territory.objects.administered_by(request.user).filter(pk=territory.pk).exists():
        raise PermissionDenied(_("You may only keep the territories of your own org unit's subtree."))
    return territory


@router.put("/territories/{int:territory_id}", response=TerritoryDetailOut)
def territory_update(request, territory_id: int, payload: TerritoryIn):
    territory = _administered(request, territory_id)
    territory = territories_services.territory_save(acting_user=request.user, territory=territory,
                                                    **_territory_input(request, payload))
    return _territory_detail(request, territory)


@router.delete("/territories/{int:territory_id}", response={204: None})
def territory_delete(request, territory_id: int):
    territories_services.territory_delete(acting_user=request.user, territory=_administered(request, territory_id))
    return Status(204, None)


# --- target lists (名单制管理) ------------------------------------------------------------------------------------


class TargetListOut(Schema):
    id: int
    name: str
    description: str
    market: str
    org_code: str
    created_by: str
    created_at: datetime
    due_on: date | None
    status: str

    @staticmethod
    def resolve_org_code(obj: TargetList) -> str:
        return obj.org_unit.code

    @staticmethod
    def resolve_created_by(obj: TargetList) -> str:
        return obj.created_by.username


class FiltersIn(Schema):
    market: str = ""
    sub_market: str = ""
    tier: str = ""
    org_code: str = ""
    status: str = ""
    deposit: bool = False
    loan: bool = False
    intermediary: bool = False
    unassigned_only: bool = False


class BuildIn(Schema):
    filters: FiltersIn = FiltersIn()
    default_owner: str | None = None


class RejectedRowOut(Schema):
    line: int
    value: str
    reason: str


class BuildOut(Schema):
    added: int
    already: int
    without_owner: int
    rejected: list[RejectedRowOut] = []


class TargetListIn(Schema):
    name: str
    description: str = ""
    market: str = ""
    org_code: str = ""
    due_on: date | None = None
    filters: FiltersIn | None = None
    default_owner: str | None = None


class TargetListCreatedOut(TargetListOut):
    build: BuildOut | None = None


class TargetListUpdateIn(Schema):
    name: str
    description: str = ""
    due_on: date | None = None
    status: str = TargetListStatus.OPEN


class EntryOut(Schema):
    id: int
    target_list_id: int
    customer_id: int
    customer_no: str
    customer_name: str
    owner: str
    status: str
    next_step: str
    next_step_on: date | None
    status_changed_at: datetime
    created_at: datetime
    overdue: bool

    @staticmethod
    def resolve_customer_no(obj: TargetListEntry) -> str:
        return obj.customer.customer_no

    @staticmethod
    def resolve_customer_name(obj: TargetListEntry) -> str:
        return obj.customer.name

    @staticmethod
    def resolve_owner(obj: TargetListEntry) -> str:
        return obj.owner.username

    @staticmethod
    def resolve_overdue(obj: TargetListEntry) -> bool:
        return obj.is_overdue(timezone.localdate())


class EntryUpdateOut(Schema):
    updated_by: str
    updated_at: datetime
    old_status: str
    new_status: str
    note: str

    @staticmethod
    def resolve_updated_by(obj: TargetListEntryUpdate) -> str:
        return obj.updated_by.username


class EntryDetailOut(EntryOut):
    updates: list[EntryUpdateOut]

    @staticmethod
    def resolve_updates(obj: TargetListEntry) -> list:
        return list(selectors.entry_updates(obj))


class EntryUpdateIn(Schema):
    status: str | None = None
    next_step: str | None = None
    next_step_on: date | None = None
    note: str = ""


class ReassignIn(Schema):
    entry_ids: list[int]
    owner: str


class ProgressOut(Schema):
    owner: str | None
    total: int
    counts: dict[str, int]
    contacted: int
    won: int
    contacted_percent: float
    won_percent: float
    overdue: int


class ListProgressOut(Schema):
    total: ProgressOut
    owners: list[ProgressOut]


def _owner_named(request, username: str | None) -> User | None:
    if not username:
        return None
    owner = assignable_owners(request.user).filter(username=username).first()
    if owner is None:
        raise ValidationError({"default_owner": [_("%(user)s cannot work entries in your scope.")
                                                 % {"user": username}]})
    return owner


def _filters(payload: FiltersIn) -> lists_services.BuildFilters:
    return lists_services.BuildFilters(**payload.dict())


def _build_out(result: lists_services.BuildResult) -> dict:
    return {"added": result.added, "already": result.already, "without_owner": result.without_owner,
            "rejected": [{"line": line, "value": value, "reason": reason} for line, value, reason in result.rejected]}


@router.get("/target-lists", response=list[TargetListOut])
@paginate(LimitOffsetPagination)
def target_list_list(request, status: str = ""):
    """Target lists you may open: those you manage and those holding entries you may see."""
    return selectors.target_lists_for(user=request.user, status=status)


@router.post("/target-lists", response={201: TargetListCreatedOut})
def target_list_create(request, payload: TargetListIn):
    """Start a list (branch heads within their subtree, line departments for their line); with `filters`,
    fill it at once from the matching customers you may see."""
    unit = None
    if payload.org_code:
        unit = OrgUnit.objects.filter(code=payload.org_code).first()
        if unit is None:
            raise ValidationError({"org_code": [_("No org unit has this code.")]})
    with transaction.atomic():
        target_list = lists_services.target_list_create(
            acting_user=request.user, name=payload.name, description=payload.description, market=payload.market,
            org_unit=unit, due_on=payload.due_on)
        build = None
        if payload.filters is not None:
            build = _build_out(lists_services.target_list_build(
                acting_user=request.user, target_list=target_list, filters=_filters(payload.filters),
                default_owner=_owner_named(request, payload.default_owner)))
    target_list = selectors.target_list_get(user=request.user, pk=target_list.pk)
    target_list.build = build
    return Status(201, target_list)


@router.get("/target-lists/mine", response=list[EntryOut])
@paginate(LimitOffsetPagination)
def my_entries(request):
    """Your unfinished entries on open lists, next steps due first ("My list")."""
    return selectors.my_entries(user=request.user)


@router.get("/target-lists/{int:list_id}", response=TargetListOut)
def target_list_detail(request, list_id: int):
    return selectors.target_list_get(user=request.user, pk=list_id)


@router.put("/target-lists/{int:list_id}", response=TargetListOut)
def target_list_update(request, list_id: int, payload: TargetListUpdateIn):
    """Rename, re-date, close or reopen a list (its manager)."""
    target_list = selectors.target_list_get(user=request.user, pk=list_id)
    return lists_services.target_list_update(acting_user=request.user, target_list=target_list, **payload.dict())


@router.post("/target-lists/{int:list_id}/build", response=BuildOut)
def target_list_build(request, list_id: int, payload: BuildIn):
    """Add the customers the filters select (within your scope and the list's); set-based."""
    target_list = selectors.target_list_get(user=request.user, pk=list_id)
    return _build_out(lists_services.target_list_build(
        acting_user=request.user, target_list=target_list, filters=_filters(payload.filters),
        default_owner=_owner_named(request, payload.default_owner)))


@router.post("/target-lists/{int:list_id}/upload", response=BuildOut)
def target_list_upload(request, list_id: int, file: UploadedFile = File(...),  # noqa: B008
                       default_owner: str = Form("")):  # noqa: B008
    """Add the customers named in a CSV/XLSX file (客户号 or 证件号码 column); every refused row comes back
    with its line number."""
    target_list = selectors.target_list_get(user=request.user, pk=list_id)
    return _build_out(lists_services.target_list_upload_file(
        acting_user=request.user, target_list=target_list, uploaded_file=file,
        default_owner=_owner_named(request, default_owner)))


@router.get("/target-lists/{int:list_id}/entries", response=list[EntryOut])
@paginate(LimitOffsetPagination)
def target_list_entries(request, list_id: int, status: str = "", owner: str = "", overdue: bool = False):
    """The entries of a list you may see (managers: their own), next steps due first."""
    target_list = selectors.target_list_get(user=request.user, pk=list_id)
    return selectors.list_entries(user=request.user, target_list=target_list, status=status, owner=owner,
                                  overdue=overdue)


@router.get("/target-lists/{int:list_id}/entries/{int:entry_id}", response=EntryDetailOut)
def entry_detail(request, list_id: int, entry_id: int):
    target_list = selectors.target_list_get(user=request.user, pk=list_id)
    return selectors.entry_get(user=request.user, target_list=target_list, pk=entry_id)


@router.patch("/target-lists/{int:list_id}/entries/{int:entry_id}", response=EntryDetailOut)
def entry_update(request, list_id: int, entry_id: int, payload: EntryUpdateIn):
    """The entry's owner records their work (status, next step and date, note); fields left out keep their
    value. Writes the entry's history and the audit log."""
    target_list = selectors.target_list_get(user=request.user, pk=list_id)
    entry = selectors.entry_get(user=request.user, target_list=target_list, pk=entry_id)
    given = payload.model_fields_set
    lists_services.target_list_entry_update(
        acting_user=request.user, entry=entry, status=payload.status if payload.status is not None else entry.status,
        next_step=payload.next_step if payload.next_step is not None else entry.next_step,
        next_step_on=payload.next_step_on if "next_step_on" in given else entry.next_step_on, note=payload.note)
    return selectors.entry_get(user=request.user, target_list=target_list, pk=entry_id)


@router.post("/target-lists/{int:list_id}/entries/reassign", response=dict[str, int])
def entries_reassign(request, list_id: int, payload: ReassignIn):
    """Give entries of a list to another owner (the list's manager); returns {"count": n}."""
    target_list = selectors.target_list_get(user=request.user, pk=list_id)
    owner = assignable_owners(request.user).filter(username=payload.owner).first()
    if owner is None:
        raise ValidationError({"owner": [_("%(user)s cannot work entries in your scope.") % {"user": payload.owner}]})
    count = lists_services.target_list_entries_reassign(acting_user=request.user, target_list=target_list,
                                                        entry_ids=payload.entry_ids, owner=owner)
    return {"count": count}


@router.get("/target-lists/{int:list_id}/progress", response=ListProgressOut)
def target_list_progress(request, list_id: int):
    """Counts by status, shares contacted and won, overdue next steps: the list's and each owner's (over the
    entries you may see)."""
    target_list = selectors.target_list_get(user=request.user, pk=list_id)
    total, per_owner = selectors.progress_by_owner(user=request.user, target_list=target_list)
    return {"total": _progress(total), "owners": [_progress(p) for p in per_owner]}


def _progress(progress: selectors.Progress) -> dict:
    return {"owner": progress.owner.username if progress.owner else None, "total": progress.total,
            "counts": progress.counts, "contacted": progress.contacted, "won": progress.won,
            "contacted_percent": progress.contacted_percent, "won_percent": progress.won_percent,
            "overdue": progress.overdue}
