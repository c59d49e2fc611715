"""Segmentation pages: the statistics table (附件1/附件2), tier moves, thresholds, sub-market rules,
territories (划片包干) and target lists (名单制管理)."""

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

from guanxi.core.models import User
from guanxi.core.paging import page_of
from guanxi.core.roles import MarketLine, Role
from guanxi.customers.models import CustomerStatus, CustomerTier
from guanxi.relationships.services import OWNER_ROLES, assignable_owners
from guanxi.segmentation import exports, selectors, services
from guanxi.segmentation.forms import (
    EntryUpdateForm,
    SubMarketRuleForm,
    TargetListEditForm,
    TargetListForm,
    TerritoryForm,
    TierThresholdForm,
)
from guanxi.segmentation.models import (
    EntryStatus,
    SubMarketRule,
    TargetList,
    TargetListStatus,
    Territory,
    TierThreshold,
)
from guanxi.segmentation.services import target_lists as lists_services
from guanxi.segmentation.services import territories as territories_services


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


# --- territories (划片包干) -------------------------------------------------------------------------------------


def _form_errors(form, exc: ValidationError) -> None:
    for name, errors in exc.message_dict.items():
        for error in errors:
            form.add_error(name if name in form.fields else None, error)


@login_required
def territory_list(request):
    """Territories the user may read, with the customers in each (existing, prospects, prospects without owner)."""
    territories = list(selectors.territories_for(user=request.user))
    ids = [t.pk for t in territories]
    counts = selectors.territory_counts(user=request.user, territory_ids=ids)
    administered = set(Territory.objects.administered_by(request.user).filter(pk__in=ids).values_list("pk", flat=True))
    rows = [(t, counts[t.pk], t.pk in administered) for t in territories]
    return render(request, "segmentation/territories.html", {
        "rows": rows, "can_create": territories_services.can_administer_territories(request.user),
        "can_route": request.user.role in (Role.BRANCH_HEAD, Role.LINE_DEPT, Role.SYSADMIN),
    })


def _territory_staff(user):
    """Staff who may be on a team of a territory the user keeps (the service checks the unit)."""
    units = territories_services.territory_units(user)
    return (User.objects.filter(is_active=True, role__in=list(OWNER_ROLES), org_unit__in=units)
            .select_related("org_unit").order_by("org_unit__path", "username"))


@login_required
def territory_edit(request, territory_id: int | None = None):
    territory = None
    if territory_id is not None:
        territory = selectors.territory_get(user=request.user, pk=territory_id)
        if not Territory.objects.administered_by(request.user).filter(pk=territory.pk).exists():
            raise PermissionDenied
    elif not territories_services.can_administer_territories(request.user):
        raise PermissionDenied
    initial = {}
    if territory is not None:
        initial = {"name": territory.name, "kind": territory.kind, "org_unit": territory.org_unit,
                   "keywords": "\n".join(k.keyword for k in territory.keywords.all()),
                   "team": list(territory.team.all())}
    form = TerritoryForm(request.POST or None, initial=initial,
                         units=territories_services.territory_units(request.user).order_by("path"),
                         staff=_territory_staff(request.user))
    if request.method == "POST" and form.is_valid():
        try:
            saved = territories_services.territory_save(acting_user=request.user, territory=territory,
                                                        **form.cleaned_data)
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, _("Territory %(name)s saved.") % {"name": saved.name})
            return redirect("segmentation:territories")
    return render(request, "segmentation/territory_form.html", {"form": form, "territory": territory},
                  status=422 if form.errors else 200)


@login_required
@require_POST
def territory_delete(request, territory_id: int):
    territory = selectors.territory_get(user=request.user, pk=territory_id)
    territories_services.territory_delete(acting_user=request.user, territory=territory)
    messages.success(request, _("Territory %(name)s deleted.") % {"name": territory.name})
    return redirect("segmentation:territories")


@login_required
@require_POST
def territory_route(request):
    """Route the prospects in the user's territories now; the numbers per territory come back as messages."""
    result = territories_services.territory_route(user=request.user)
    for row in result.territories:
        if row.routed or row.assigned:
            messages.info(request, _("%(territory)s: %(routed)d prospects routed to %(unit)s, %(assigned)d given "
                                     "an owner.") % {"territory": row.name, "routed": row.routed,
                                                     "unit": row.org_code, "assigned": row.assigned})
    messages.success(request, _("Routing done: %(routed)d prospects routed, %(assigned)d given an owner.")
                     % {"routed": result.routed, "assigned": result.assigned})
    return redirect("segmentation:territories")


@login_required
def territory_detail(request, territory_id: int):
    """One territory: its keywords and team, its customers counted, its prospects without an owner."""
    territory = selectors.territory_get(user=request.user, pk=territory_id)
    counts = selectors.territory_counts(user=request.user, territory_ids=[territory.pk])[territory.pk]
    page = page_of(selectors.territory_unassigned_prospects(user=request.user, territory=territory),
                   request.GET.get("page"))
    return render(request, "segmentation/territory_detail.html", {
        "territory": territory, "counts": counts, "page": page,
        "can_edit": Territory.objects.administered_by(request.user).filter(pk=territory.pk).exists(),
    })


# --- target lists (名单制管理) ------------------------------------------------------------------------------------


@login_required
def target_list_list(request):
    """Lists the user may open, each with its progress (over the entries the user may see)."""
    status = request.GET.get("status", "")
    page = page_of(selectors.target_lists_for(user=request.user, status=status), request.GET.get("page"))
    progress = selectors.progress_by_list(user=request.user, list_ids=[tl.pk for tl in page])
    return render(request, "segmentation/target_lists.html", {
        "page": page, "rows": [(tl, progress[tl.pk]) for tl in page], "status": status,
        "statuses": TargetListStatus.choices, "can_build": lists_services.can_build_lists(request.user),
        "entry_statuses": EntryStatus.choices,
    })


@login_required
def target_list_create(request):
    if not lists_services.can_build_lists(request.user):
        raise PermissionDenied
    units = list(lists_services.list_units(request.user).order_by("path"))
    initial = {"org_code": request.user.org_unit.code if request.user.org_unit_id else "",
               "market": request.user.market_line}
    form = TargetListForm(request.POST or None, initial=initial, units=units)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        unit = next((u for u in units if u.code == data["org_code"]), None)
        try:
            target_list = lists_services.target_list_create(
                acting_user=request.user, name=data["name"], description=data["description"],
                market=data["market"], org_unit=unit, due_on=data["due_on"])
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, _("Target list %(name)s created; now add customers to it.")
                             % {"name": target_list.name})
            return redirect("segmentation:target_list_detail", list_id=target_list.pk)
    return render(request, "segmentation/target_list_form.html", {"form": form, "target_list": None},
                  status=422 if form.errors else 200)


def _managed(request, target_list) -> bool:
    return TargetList.objects.managed_by(request.user).filter(pk=target_list.pk).exists()


@login_required
def target_list_edit(request, list_id: int):
    target_list = selectors.target_list_get(user=request.user, pk=list_id)
    if not _managed(request, target_list):
        raise PermissionDenied
    initial = {"name": target_list.name, "description": target_list.description, "due_on": target_list.due_on,
               "status": target_list.status}
    form = TargetListEditForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            lists_services.target_list_update(acting_user=request.user, target_list=target_list, **form.cleaned_data)
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, _("Target list saved."))
            return redirect("segmentation:target_list_detail", list_id=target_list.pk)
    return render(request, "segmentation/target_list_form.html", {"form": form, "target_list": target_list},
                  status=422 if form.errors else 200)


def _flag(data, name: str) -> bool:
    return str(data.get(name, "")).lower() in ("1", "true", "on", "yes")


def build_filters_from(data) -> lists_services.BuildFilters:
    return lists_services.BuildFilters(
        market=data.get("market", ""), sub_market=data.get("sub_market", ""), tier=data.get("tier", ""),
        org_code=data.get("org_code", ""), status=data.get("status", ""), deposit=_flag(data, "deposit"),
        loan=_flag(data, "loan"), intermediary=_flag(data, "intermediary"),
        unassigned_only=_flag(data, "unassigned_only"))


def _default_owner(request):
    username = request.POST.get("owner", "")
    if not username:
        return None
    return get_object_or_404(assignable_owners(request.user), username=username)


@login_required
def target_list_detail(request, list_id: int, *, upload=None, status_code: int = 200):
    """A list: progress per owner, its entries (filterable), and for its manager the build, upload and
    reassign forms."""
    target_list = selectors.target_list_get(user=request.user, pk=list_id)
    total, per_owner = selectors.progress_by_owner(user=request.user, target_list=target_list)
    entries = selectors.list_entries(user=request.user, target_list=target_list,
                                     status=request.GET.get("status", ""), owner=request.GET.get("owner", ""),
                                     overdue=_flag(request.GET, "overdue"))
    managed = _managed(request, target_list)
    context = {
        "target_list": target_list, "total": total, "per_owner": per_owner, "managed": managed,
        "page": page_of(entries, request.GET.get("page"), per_page=50), "today": timezone.localdate(),
        "entry_statuses": EntryStatus.choices, "filter_status": request.GET.get("status", ""),
        "filter_owner": request.GET.get("owner", ""), "filter_overdue": _flag(request.GET, "overdue"),
        "upload": upload,
    }
    if managed:
        context.update({
            "owners": assignable_owners(request.user).select_related("org_unit").order_by("org_unit__path",
                                                                                          "username"),
            "markets": MarketLine.choices, "sub_markets": selectors.sub_markets(), "tiers": CustomerTier.choices,
            "customer_statuses": CustomerStatus.choices,
            "units": lists_services.list_units(request.user).filter(path__startswith=target_list.org_unit.path)
            .order_by("path"),
        })
    return render(request, "segmentation/target_list_detail.html", context, status=status_code)


@login_required
@require_POST
def target_list_build(request, list_id: int):
    target_list = selectors.target_list_get(user=request.user, pk=list_id)
    try:
        result = lists_services.target_list_build(acting_user=request.user, target_list=target_list,
                                                  filters=build_filters_from(request.POST),
                                                  default_owner=_default_owner(request))
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    else:
        messages.success(request, _built_message(result))
    return redirect("segmentation:target_list_detail", list_id=target_list.pk)


def _built_message(result: lists_services.BuildResult) -> str:
    text = _("%(added)d customers added, %(already)d already on the list.") % {"added": result.added,
                                                                              "already": result.already}
    if result.without_owner:
        text += " " + _("%(count)d customers have no owner and were left out; choose a default owner to add "
                        "them.") % {"count": result.without_owner}
    return text


@login_required
@require_POST
def target_list_upload(request, list_id: int):
    """Add the customers of an uploaded file; the page comes back with every refused row and its line."""
    target_list = selectors.target_list_get(user=request.user, pk=list_id)
    uploaded = request.FILES.get("file")
    if uploaded is None:
        messages.error(request, _("Choose a .csv or .xlsx file."))
        return redirect("segmentation:target_list_detail", list_id=target_list.pk)
    try:
        result = lists_services.target_list_upload_file(acting_user=request.user, target_list=target_list,
                                                        uploaded_file=uploaded, default_owner=_default_owner(request))
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
        return redirect("segmentation:target_list_detail", list_id=target_list.pk)
    messages.success(request, _built_message(result))
    return target_list_detail(request, list_id, upload=result, status_code=200)


@login_required
@require_POST
def target_list_reassign(request, list_id: int):
    target_list = selectors.target_list_get(user=request.user, pk=list_id)
    owner = _default_owner(request)
    try:
        if owner is None:
            raise ValidationError({"owner": [_("Choose the new owner.")]})
        ids = [int(pk) for pk in request.POST.getlist("entries") if pk.isdigit()]
        count = lists_services.target_list_entries_reassign(acting_user=request.user, target_list=target_list,
                                                            entry_ids=ids, owner=owner)
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    else:
        messages.success(request, _("%(count)d entries given to %(owner)s.") % {"count": count,
                                                                                "owner": owner.display_name})
    return redirect("segmentation:target_list_detail", list_id=target_list.pk)


@login_required
def target_list_xlsx(request, list_id: int):
    target_list = selectors.target_list_get(user=request.user, pk=list_id)
    total, per_owner = selectors.progress_by_owner(user=request.user, target_list=target_list)
    today = timezone.localdate()
    response = HttpResponse(exports.target_list_progress_xlsx(target_list, total, per_owner, today=today),
                            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    response["Content-Disposition"] = f'attachment; filename="target-list-{target_list.pk}-{today:%Y%m%d}.xlsx"'
    return response


@login_required
def entry_detail(request, list_id: int, entry_id: int):
    """One entry: where it stands and its history; its owner updates it here (or from "My list" via htmx)."""
    target_list = selectors.target_list_get(user=request.user, pk=list_id)
    entry = selectors.entry_get(user=request.user, target_list=target_list, pk=entry_id)
    can_work = entry.owner_id == request.user.pk and target_list.is_open
    initial = {"status": entry.status, "next_step": entry.next_step, "next_step_on": entry.next_step_on}
    form = EntryUpdateForm(request.POST or None, initial=initial)
    htmx = bool(request.headers.get("HX-Request"))
    if request.method == "POST":
        if not can_work:
            raise PermissionDenied
        if form.is_valid():
            try:
                lists_services.target_list_entry_update(acting_user=request.user, entry=entry, **form.cleaned_data)
            except ValidationError as exc:
                _form_errors(form, exc)
            else:
                if htmx:
                    entry = selectors.entry_get(user=request.user, target_list=target_list, pk=entry_id)
                    return render(request, "segmentation/_my_entry_row.html",
                                  {"entry": entry, "today": timezone.localdate(), "saved": True,
                                   "entry_statuses": EntryStatus.choices})
                messages.success(request, _("Entry updated."))
                return redirect("segmentation:entry_detail", list_id=target_list.pk, entry_id=entry.pk)
        if htmx:
            return render(request, "segmentation/_my_entry_row.html",
                          {"entry": entry, "today": timezone.localdate(), "errors": _all_errors(form),
                           "entry_statuses": EntryStatus.choices})  # 200: htmx swaps only successful answers
    return render(request, "segmentation/entry_detail.html", {
        "target_list": target_list, "entry": entry, "form": form, "can_work": can_work,
        "updates": selectors.entry_updates(entry), "today": timezone.localdate(),
    }, status=422 if form.errors else 200)


def _all_errors(form) -> list[str]:
    return [error for errors in form.errors.values() for error in errors]


@login_required
def my_entries(request):
    """"My list": the unfinished entries the user owns on open lists, next steps due first, overdue marked."""
    page = page_of(selectors.my_entries(user=request.user), request.GET.get("page"), per_page=50)
    return render(request, "segmentation/my_entries.html", {"page": page, "today": timezone.localdate(),
                                                            "entry_statuses": EntryStatus.choices})
