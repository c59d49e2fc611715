"""Segmentation pages: the statistics table (附件1/附件2), tier moves, thresholds, sub-market rules."""

from __future__ import annotations

from datetime import date

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from guanxi.core.paging import page_of
from guanxi.core.roles import MarketLine
from guanxi.customers.models import CustomerStatus
from guanxi.segmentation import exports, selectors, services
from guanxi.segmentation.forms import SubMarketRuleForm, TierThresholdForm
from guanxi.segmentation.models import SubMarketRule, TierThreshold


def _chosen_unit(request):
    """The org unit asked for (`?org=CODE`) among those the user may choose; 404 otherwise."""
    code = request.GET.get("org", "")
    if not code:
        unit = selectors.default_org_unit(request.user)
        if unit is None:
            raise Http404
        return unit
    return get_object_or_404(selectors.org_units_for(request.user), code=code)


def _status(request) -> str:
    status = request.GET.get("status", CustomerStatus.EXISTING)
    return status if status in CustomerStatus.values else CustomerStatus.EXISTING


@login_required
def stats(request):
    unit = _chosen_unit(request)
    table = selectors.segment_table(user=request.user, org_unit=unit, status=_status(request))
    return render(request, "segmentation/stats.html", {
        "table": table, "tiers": selectors.tier_labels(), "org_units": selectors.org_units_for(request.user),
        "statuses": CustomerStatus.choices, "today": timezone.localdate(),
    })


@login_required
def stats_xlsx(request):
    unit = _chosen_unit(request)
    table = selectors.segment_table(user=request.user, org_unit=unit, status=_status(request))
    today = timezone.localdate()
    response = HttpResponse(exports.segment_table_xlsx(table, today=today),
                            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    name = f"segments-{table.form_number}-{unit.code}-{today:%Y%m%d}.xlsx"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def _date(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def month_start(today: date) -> date:
    return today.replace(day=1)


@login_required
def moves(request):
    today = timezone.localdate()
    start = _date(request.GET.get("start", "")) or month_start(today)
    end = _date(request.GET.get("end", "")) or today
    direction = request.GET.get("direction", "down")
    market = request.GET.get("market", "")
    changes = selectors.tier_changes(user=request.user, start=start, end=end, direction=direction, market=market)
    return render(request, "segmentation/moves.html", {
        "page": page_of(changes, request.GET.get("page")), "start": start, "end": end, "direction": direction,
        "market": market, "markets": MarketLine.choices, "query": request.GET.copy(),
    })


@login_required
def threshold_list(request):
    rows = [(t, services.can_edit_threshold(request.user, t.market)) for t in selectors.thresholds()]
    return render(request, "segmentation/thresholds.html", {"rows": rows})


@login_required
def threshold_edit(request, market: str):
    if market not in MarketLine.values:
        raise Http404
    if not services.can_edit_threshold(request.user, market):
        raise PermissionDenied
    current = TierThreshold.objects.filter(market=market).first() or TierThreshold(market=market)
    initial = {name: getattr(current, name) for name in services.THRESHOLD_FIELDS}
    form = TierThresholdForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            result = services.tier_threshold_update(acting_user=request.user, market=market, **form.cleaned_data)
        except ValidationError as exc:
            for name, errors in exc.message_dict.items():
                for error in errors:
                    form.add_error(name if name in form.fields else None, error)
        else:
            messages.success(request, _("Thresholds of %(line)s saved.") % {"line": MarketLine(result.market).label})
            return redirect("segmentation:thresholds")
    return render(request, "segmentation/threshold_form.html", {"form": form, "market": MarketLine(market)})


def _sysadmin_only(request) -> None:
    if not services.can_edit_rules(request.user):
        raise PermissionDenied


@login_required
def rule_list(request):
    _sysadmin_only(request)
    return render(request, "segmentation/rules.html", {"rules": selectors.rules_list(),
                                                       "sub_markets": selectors.sub_markets()})


@login_required
def rule_edit(request, rule_id: int | None = None):
    _sysadmin_only(request)
    rule = get_object_or_404(SubMarketRule, pk=rule_id) if rule_id else None
    initial = {}
    if rule is not None:
        initial = {"market": rule.market, "kind": rule.kind, "value": rule.value, "sub_market": rule.sub_market,
                   "priority": rule.priority}
    form = SubMarketRuleForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.submarket_rule_save(acting_user=request.user, rule=rule, **form.cleaned_data)
        except ValidationError as exc:
            for name, errors in exc.message_dict.items():
                for error in errors:
                    form.add_error(name if name in form.fields else None, error)
        else:
            messages.success(request, _("Rule saved; the customers of its market line were recomputed."))
            return redirect("segmentation:rules")
    return render(request, "segmentation/rule_form.html", {"form": form, "rule": rule})


@login_required
@require_POST
def rule_delete(request, rule_id: int):
    _sysadmin_only(request)
    rule = get_object_or_404(SubMarketRule, pk=rule_id)
    services.submarket_rule_delete(acting_user=request.user, rule=rule)
    messages.success(request, _("Rule deleted."))
    return redirect("segmentation:rules")
