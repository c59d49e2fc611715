"""Ownership pages: rules (configure, preview, run), unassigned customers, history, owner change, transfer,
follow-up tracking."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from guanxi.core.models import OrgUnit, User
from guanxi.core.paging import page_of
from guanxi.customers.models import Customer
from guanxi.relationships import exports, selectors, services, tracking
from guanxi.relationships.models import AssignmentRule, RuleKind

PARAMETER_FIELDS = ("username", "deposit_threshold", "loan_threshold", "group_loan_threshold",
                    "group_customer_nos", "strategy", "include_remaining")


def _require_assigner(user: User) -> None:
    if user.role not in services.ASSIGNER_ROLES:
        raise PermissionDenied


def _errors(exc: ValidationError) -> list[str]:
    return exc.messages


@login_required
def rule_list(request):
    """Rules of the bank: add or change one, preview (dry run) or run them over a scope."""
    _require_assigner(request.user)
    rules = list(selectors.rules_visible_to(request.user))
    editing = None
    if request.GET.get("edit"):
        editing = next((r for r in rules if str(r.pk) == request.GET["edit"]), None)
    errors: list[str] = []
    preview = None
    if request.method == "POST":
        action = request.POST.get("action", "save")
        if action in ("preview", "run"):
            org_unit = None
            if request.POST.get("org_code"):
                org_unit = get_object_or_404(OrgUnit, code=request.POST["org_code"])
            try:
                summary = services.assignment_rules_run(
                    acting_user=request.user, scope=request.POST.get("scope", "unassigned"), org_unit=org_unit,
                    dry_run=action == "preview")
            except ValidationError as exc:
                errors = _errors(exc)
            else:
                if action == "run":
                    messages.success(request, _("%(changed)d customers assigned, %(unmatched)d without a matching "
                                                "rule.") % {"changed": summary.changed,
                                                            "unmatched": summary.unmatched})
                    return redirect("relationships:rules")
                preview = _preview(summary)
        else:
            rule = None
            if request.POST.get("rule_id"):
                rule = get_object_or_404(AssignmentRule, pk=request.POST["rule_id"])
            parameters = {k: request.POST.get(k, "").strip() for k in PARAMETER_FIELDS}
            parameters["include_remaining"] = bool(request.POST.get("include_remaining"))
            try:
                services.assignment_rule_save(
                    acting_user=request.user, rule=rule, name=request.POST.get("name", ""),
                    kind=request.POST.get("kind", ""), priority=int(request.POST.get("priority") or 100),
                    active=bool(request.POST.get("active")), parameters=parameters,
                    org_unit=rule.org_unit if rule else None)
            except (ValidationError, ValueError) as exc:
                errors = _errors(exc) if isinstance(exc, ValidationError) else [_("Priority is a whole number.")]
            else:
                messages.success(request, _("Rule saved."))
                return redirect("relationships:rules")
    return render(request, "relationships/rules.html", {
        "rules": rules, "kinds": RuleKind.choices, "editing": editing, "errors": errors, "preview": preview,
        "org_units": OrgUnit.objects.subtree(request.user.org_unit) if request.user.org_unit_id else [],
    })


def _preview(summary: services.RunSummary) -> dict:
    """The dry run's summary and a sample of proposals with names, in two queries."""
    ids = [row[0] for row in summary.sample]
    staff_ids = {row[1] for row in summary.sample} | {row[2] for row in summary.sample}
    customers = Customer.objects.in_bulk(ids)
    staff = User.objects.in_bulk([pk for pk in staff_ids if pk])
    rows = [{"customer": customers.get(c), "old": staff.get(old), "new": staff.get(new), "rule": rule}
            for c, old, new, rule in summary.sample]
    return {"summary": summary, "rows": rows}


@login_required
def unassigned(request):
    """Customers of the user's scope without an owner, with counts per unit."""
    if request.user.role not in selectors.UNASSIGNED_READER_ROLES:
        raise PermissionDenied
    org_code = request.GET.get("org_code", "")
    page = page_of(selectors.unassigned_customers(user=request.user, org_code=org_code), request.GET.get("page"))
    counts = selectors.unassigned_counts(user=request.user)
    return render(request, "relationships/unassigned.html", {
        "page": page, "counts": counts, "total": sum(c["count"] for c in counts), "org_code": org_code,
    })


@login_required
def customer_history(request, customer_id: int):
    customer, history = selectors.customer_history(user=request.user, customer_id=customer_id)
    page = page_of(history, request.GET.get("page"), per_page=50)
    return render(request, "relationships/history.html", {"customer": customer, "page": page})


@login_required
def staff_history(request, username: str):
    owner, history = selectors.staff_history(user=request.user, username=username)
    page = page_of(history, request.GET.get("page"), per_page=50)
    return render(request, "relationships/history.html", {"owner": owner, "page": page})


@login_required
@require_POST
def owner_change(request, customer_id: int):
    """The "change owner" form of the customer page (heads and line departments)."""
    _require_assigner(request.user)
    customer = get_object_or_404(services.assignable_customers(request.user), pk=customer_id)
    owner = get_object_or_404(services.assignable_owners(request.user), username=request.POST.get("owner", ""))
    expected = request.POST.get("expected_owner", "")
    expected_owner = User.objects.filter(username=expected).first() if expected else None
    try:
        services.assignment_change(acting_user=request.user, customer=customer, owner=owner,
                                   reason=request.POST.get("reason", ""), expected_owner=expected_owner)
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    else:
        messages.success(request, _("%(owner)s now owns %(customer)s.")
                         % {"owner": owner.display_name, "customer": customer.name})
    return redirect("customers:detail", customer_id=customer.pk)


@login_required
def transfer(request):
    """Move a leaving manager's customers to one or several colleagues."""
    _require_assigner(request.user)
    staff = list(services.assignable_owners(request.user).select_related("org_unit").order_by("org_unit__path",
                                                                                                "username"))
    sources = list(selectors.transfer_sources(user=request.user))
    errors: list[str] = []
    if request.method == "POST":
        by_name = {u.username: u for u in staff}
        from_user = next((u for u in sources if u.username == request.POST.get("from_user", "")), None)
        to_users = [by_name[name] for name in request.POST.getlist("to_users") if name in by_name]
        if from_user is None:
            errors = [_("Choose whose customers to transfer.")]
        else:
            try:
                result = services.assignment_transfer(
                    acting_user=request.user, from_user=from_user, to_users=to_users,
                    reason=request.POST.get("reason", ""), strategy=request.POST.get("strategy", "balanced"))
            except ValidationError as exc:
                errors = _errors(exc)
            else:
                messages.success(request, _("%(count)d customers of %(user)s transferred.")
                                 % {"count": result["count"], "user": from_user.display_name})
                return redirect("relationships:staff_history", username=from_user.username)
    return render(request, "relationships/transfer.html", {"staff": staff, "sources": sources, "errors": errors,
                                                           "post": request.POST})


# --- follow-up tracking (跟踪问效) -----------------------------------------------------------------------------

def _tracking_period(request) -> tuple[tracking.Period, list[str]]:
    """The period of the query string; on bad input the default period and the errors to show."""
    try:
        return tracking.tracking_period(start=request.GET.get("from"), end=request.GET.get("to"),
                                        stale_days=request.GET.get("stale_days")), []
    except ValidationError as exc:
        return tracking.tracking_period(), exc.messages


def _period_query(period: tracking.Period) -> str:
    return urlencode({"from": period.start.isoformat(), "to": period.end.isoformat(),
                      "stale_days": period.stale_days})


@login_required
def tracking_report(request):
    """跟踪问效: per owner (and per org unit for heads, line departments and the auditor) for a period."""
    tracking.require_reader(request.user)
    period, errors = _tracking_period(request)
    by = ((tracking.BY_OWNER, tracking.BY_ORG_UNIT) if request.user.role in tracking.BY_ORG_UNIT_ROLES
          else (tracking.BY_OWNER,))
    report = tracking.tracking_report(user=request.user, period=period, by=by)
    return render(request, "relationships/tracking.html", {
        "report": report, "period": period, "errors": errors, "query": _period_query(period),
        "show_org_units": tracking.BY_ORG_UNIT in by,
    })


@login_required
def tracking_export(request):
    """The same report as an XLSX file (the numbers of the page)."""
    tracking.require_reader(request.user)
    period, errors = _tracking_period(request)
    if errors:
        return HttpResponseBadRequest(" ".join(errors))
    by = ((tracking.BY_OWNER, tracking.BY_ORG_UNIT) if request.user.role in tracking.BY_ORG_UNIT_ROLES
          else (tracking.BY_OWNER,))
    report = tracking.tracking_report(user=request.user, period=period, by=by)
    response = HttpResponse(exports.tracking_xlsx(report),
                            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    name = f"tracking-{period.start:%Y%m%d}-{period.end:%Y%m%d}.xlsx"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@login_required
def tracking_stale(request, username: str):
    """Drill-down: one owner's customers nobody contacted in the last N days of the period."""
    owner = tracking.tracking_owner(user=request.user, username=username)
    period, errors = _tracking_period(request)
    customers = tracking.stale_customers(user=request.user, owner=owner, period=period)
    return render(request, "relationships/tracking_stale.html", {
        "owner": owner, "period": period, "errors": errors, "page": page_of(customers, request.GET.get("page")),
        "query": _period_query(period),
    })
