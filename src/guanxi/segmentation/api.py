"""Segmentation API: the statistics table (附件1/附件2), tier moves, thresholds."""

from datetime import date
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Router, Schema
from ninja.pagination import LimitOffsetPagination, paginate

from guanxi.customers.models import CustomerStatus
from guanxi.segmentation import selectors, services

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
