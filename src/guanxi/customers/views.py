"""Customer pages: list and search, detail, create, edit, reveal, household members."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from guanxi.core.models import OrgUnit
from guanxi.core.paging import page_of
from guanxi.core.roles import MarketLine
from guanxi.customers import exports, selectors, services
from guanxi.customers.forms import CustomerForm, HouseholdMemberForm
from guanxi.customers.models import CustomerStatus, CustomerTier, CustomerType
from guanxi.customers.validation import FIELDS, clean_customer_input


def _org_units_for(user):
    """Org units a user may register customers in: their subtree (all for head-office users)."""
    if user.org_unit_id is None:
        return OrgUnit.objects.none()
    root = user.org_unit
    if user.role == "line_dept":
        return OrgUnit.objects.all()
    return OrgUnit.objects.subtree(root)


@login_required
def customer_list(request):
    filters = {
        "search": request.GET.get("q", "").strip(),
        "customer_type": request.GET.get("customer_type", ""),
        "status": request.GET.get("status", ""),
        "market": request.GET.get("market", ""),
        "org_code": request.GET.get("org_code", ""),
        "tier": request.GET.get("tier", ""),
        "within": request.GET.get("within", ""),
    }
    customers = selectors.customer_list(user=request.user, **filters)
    page = page_of(customers, request.GET.get("page"))
    context = {
        "page": page, "filters": filters, "query": request.GET.copy(),
        "types": CustomerType.choices, "statuses": CustomerStatus.choices, "markets": MarketLine.choices,
        "tiers": CustomerTier.choices, "org_units": _org_units_for(request.user) if request.user.org_unit_id else [],
    }
    template = "customers/_table.html" if request.headers.get("HX-Request") else "customers/list.html"
    return render(request, template, context)


@login_required
def customer_detail(request, customer_id: int):
    customer = selectors.customer_get(user=request.user, pk=customer_id)
    return render(request, "customers/detail.html", {
        "customer": customer,
        "owner": selectors.customer_owner(customer),
        "member_form": HouseholdMemberForm(),
        "can_write": request.user.can_write_customers,
    })


@login_required
def customer_create(request):
    if not request.user.can_write_customers:
        raise PermissionDenied
    units = list(_org_units_for(request.user))
    if request.method == "POST":
        form = CustomerForm(request.POST, org_units=units)
        if form.is_valid():
            try:
                customer = services.customer_create(acting_user=request.user, data=dict(request.POST.items()))
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    for error in errors:
                        form.add_error(field if field in form.fields else None, error)
            except PermissionDenied as exc:
                form.add_error("org_code", str(exc))
            else:
                messages.success(request, _("Customer %(name)s registered as %(no)s.")
                                 % {"name": customer.name, "no": customer.customer_no})
                return redirect("customers:detail", customer_id=customer.pk)
    else:
        initial = {"org_code": request.user.org_unit.code if request.user.org_unit_id else ""}
        form = CustomerForm(initial=initial, org_units=units)
    return render(request, "customers/form.html", {"form": form, "creating": True})


@login_required
def customer_edit(request, customer_id: int):
    if not request.user.can_write_customers:
        raise PermissionDenied
    customer = selectors.customer_get(user=request.user, pk=customer_id)
    units = list(_org_units_for(request.user))
    if customer.org_unit not in units:
        units.insert(0, customer.org_unit)
    initial = {field: getattr(customer, field, "") for field in FIELDS if hasattr(customer, field)}
    initial.update({"org_code": customer.org_unit.code, "id_number": customer.id_number,
                    "customer_type": customer.customer_type})
    for field in ("annual_income", "total_assets", "total_liabilities", "household_size"):
        if initial.get(field) is None:
            initial[field] = ""
    if request.method == "POST":
        form = CustomerForm(request.POST, initial=initial, org_units=units, editing=True)
        if form.is_valid():
            changed = {k: v for k, v in request.POST.items() if k in form.fields}
            try:
                services.customer_update(acting_user=request.user, customer=customer, data=changed)
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    for error in errors:
                        form.add_error(field if field in form.fields else None, error)
            except PermissionDenied as exc:
                form.add_error("org_code", str(exc))
            else:
                messages.success(request, _("Changes saved."))
                return redirect("customers:detail", customer_id=customer.pk)
    else:
        form = CustomerForm(initial=initial, org_units=units, editing=True)
    return render(request, "customers/form.html", {"form": form, "creating": False, "customer": customer})


@login_required
@require_POST
def customer_validate_field(request):
    """Inline validation while typing: the error (or nothing) for one field."""
    field = request.GET.get("field", "")
    if field not in FIELDS:
        return HttpResponse("")
    data = {field: request.POST.get(field, "")}
    if field == "id_number":
        data["customer_type"] = request.POST.get("customer_type", "")
    if not str(data[field]).strip():
        return HttpResponse("")
    try:
        clean_customer_input(data, current={"customer_type": request.POST.get("customer_type", "person"),
                                            "id_number": ""})
    except ValidationError as exc:
        message = " ".join(exc.message_dict.get(field, []))
        return HttpResponse(format_html('<span class="error">{}</span>', message) if message else "")
    return HttpResponse(format_html('<span class="ok">{}</span>', "✓"))


@login_required
@require_POST
def customer_reveal(request, customer_id: int, field: str):
    customer = selectors.customer_get(user=request.user, pk=customer_id)
    value = services.customer_reveal(acting_user=request.user, customer=customer, field=field)
    return HttpResponse(format_html('<span class="revealed">{}</span>', value))


@login_required
@require_POST
def member_add(request, customer_id: int):
    customer = selectors.customer_get(user=request.user, pk=customer_id)
    form = HouseholdMemberForm(request.POST)
    if form.is_valid():
        try:
            services.household_member_add(acting_user=request.user, customer=customer, **form.cleaned_data)
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                for error in errors:
                    form.add_error(field if field in form.fields else None, error)
        else:
            messages.success(request, _("Household member added."))
            return redirect("customers:detail", customer_id=customer.pk)
    return render(request, "customers/detail.html", {
        "customer": customer, "owner": selectors.customer_owner(customer), "member_form": form,
        "can_write": request.user.can_write_customers,
    }, status=422)


@login_required
@require_GET
def customer_export(request):
    """Download the list page's customers (same filters) as CSV or XLSX, masked unless asked and allowed."""
    names = ("format", "q", "customer_type", "status", "market", "org_code", "unmasked", "english")
    params = {name: request.GET.get(name, "").strip() for name in names}
    if request.headers.get("HX-Request"):
        # The list page's export form comes through htmx with the filter form's current values.
        # A file cannot be swapped into the page, so let the browser fetch the same URL itself.
        response = HttpResponse(status=204)
        query = urlencode({name: value for name, value in params.items() if value})
        response["HX-Redirect"] = f"{reverse('customers:export')}?{query}"
        return response
    filters = {"search": params["q"], "customer_type": params["customer_type"], "status": params["status"],
               "market": params["market"], "org_code": params["org_code"]}
    try:
        return exports.export_response(
            acting_user=request.user, filters=filters, fmt=params["format"] or "csv",
            unmasked=params["unmasked"].lower() in ("1", "true", "on", "yes"),
            english=params["english"].lower() in ("1", "true", "on", "yes"),
        )
    except ValidationError as exc:
        return HttpResponseBadRequest(" ".join(exc.messages), content_type="text/plain; charset=utf-8")


@login_required
def import_upload(request):
    """Upload a registration file; the import runs as a background job with a progress bar."""
    from guanxi.customers.importing.uploads import import_upload_start
    from guanxi.customers.models import ImportRun

    if not request.user.can_write_customers:
        raise PermissionDenied
    error = ""
    if request.method == "POST":
        uploaded = request.FILES.get("file")
        if uploaded is None:
            error = _("Choose a .csv or .xlsx file.")
        else:
            try:
                run = import_upload_start(acting_user=request.user, uploaded_file=uploaded,
                                          dry_run=bool(request.POST.get("dry_run")))
            except ValidationError as exc:
                error = " ".join(exc.messages)
            else:
                return redirect("customers:import_status", run_id=run.pk)
    runs = ImportRun.objects.filter(started_by=request.user).order_by("-started_at")[:20]
    return render(request, "customers/import.html", {"runs": runs, "error": error},
                  status=422 if error else 200)


@login_required
def import_status(request, run_id: int):
    from guanxi.customers.importing.uploads import import_run_get

    run = import_run_get(user=request.user, pk=run_id)
    template = "customers/_import_status.html" if request.headers.get("HX-Request") else "customers/import_status.html"
    return render(request, template, {"run": run})


@login_required
def import_errors(request, run_id: int):
    from django.http import FileResponse

    from guanxi.customers.importing.uploads import import_error_report, import_run_get

    path = import_error_report(import_run_get(user=request.user, pk=run_id))
    return FileResponse(path.open("rb"), as_attachment=True, filename=path.name)


# --- suspected duplicates and merges (customers.duplicates) ---

from django.http import Http404  # noqa: E402  (this section was appended to the module)

from guanxi.core.paging import Page  # noqa: E402
from guanxi.customers import duplicates  # noqa: E402


def _customer_param(request, params, name: str):
    """The customer whose id is in `params[name]`, through the user's scope (404 when absent or not theirs)."""
    try:
        pk = int(params.get(name, ""))
    except ValueError:
        raise Http404 from None
    return selectors.customer_get(user=request.user, pk=pk)


@login_required
@require_GET
def duplicate_list(request):
    """Suspected duplicate groups in the user's scope, a merge form per group, and the merge history."""
    reason = request.GET.get("reason", "")
    if reason not in duplicates.DuplicateReason.values:
        reason = ""
    per_page = 20
    try:
        number = max(1, int(request.GET.get("page") or 1))
    except ValueError:
        number = 1
    groups, has_next = duplicates.duplicate_groups(user=request.user, reason=reason,
                                                   offset=(number - 1) * per_page, limit=per_page)
    merges = page_of(duplicates.merge_list(user=request.user), request.GET.get("merges_page"), per_page=10)
    return render(request, "customers/duplicates.html", {
        "page": Page(object_list=groups, number=number, per_page=per_page, has_next=has_next),
        "reason": reason, "reasons": duplicates.DuplicateReason.choices, "merges": merges,
        "can_merge": duplicates.can_merge_customers(request.user),
    })


@login_required
def merge_confirm(request):
    """Review what merging one customer into another will move (GET), then merge (POST, with a reason)."""
    params = request.POST if request.method == "POST" else request.GET
    keep = _customer_param(request, params, "keep_id")
    absorb = _customer_param(request, params, "absorb_id")
    reason = params.get("reason", "")
    errors: dict[str, list[str]] = {}
    plan = None
    try:
        plan = duplicates.customer_merge_preview(acting_user=request.user, keep=keep, absorb=absorb)
    except ValidationError as exc:
        errors = exc.message_dict
    if request.method == "POST" and not errors:
        try:
            merge = duplicates.customer_merge(acting_user=request.user, keep=keep, absorb=absorb, reason=reason)
        except ValidationError as exc:
            errors = exc.message_dict
        else:
            messages.success(request, _("%(absorbed)s was merged into %(keep)s.")
                             % {"absorbed": merge.absorbed.customer_no, "keep": merge.keep.customer_no})
            return redirect("customers:detail", customer_id=keep.pk)
    return render(request, "customers/duplicates_confirm.html", {
        "keep": keep, "absorb": absorb, "reason": reason, "plan": plan, "errors": errors,
    }, status=422 if errors else 200)


@login_required
@require_POST
def merge_revert(request, merge_id: int):
    merge = duplicates.merge_get(user=request.user, pk=merge_id)
    try:
        duplicates.customer_merge_revert(acting_user=request.user, merge=merge)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("The merge of %(absorbed)s into %(keep)s was reverted.")
                         % {"absorbed": merge.absorbed.customer_no, "keep": merge.keep.customer_no})
    return redirect("customers:duplicates")
