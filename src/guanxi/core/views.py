"""Home page and the audit log (read-only)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Q, Sum
from django.shortcuts import render
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _

from guanxi.core import audit_display
from guanxi.core.models import AuditEntry
from guanxi.customers.models import Customer, CustomerStatus


@login_required
def home(request):
    """The signed-in user's own work: their customers and the counts behind them."""
    user = request.user
    visible = Customer.objects.visible_to(user)
    totals = visible.aggregate(
        total=Count("id"),
        existing=Count("id", filter=Q(status=CustomerStatus.EXISTING)),
        prospects=Count("id", filter=Q(status=CustomerStatus.PROSPECT)),
        deposits=Sum("deposit_balance"),
        loans=Sum("loan_balance"),
    )
    by_type = dict(visible.order_by().values_list("customer_type").annotate(n=Count("id")))
    recent = visible.select_related("org_unit").order_by("-updated_at", "-id")[:10]
    return render(request, "core/home.html", {"totals": totals, "by_type": by_type, "recent": recent})


@login_required
def audit_log(request):
    """The audit log for the auditor and the audit administrator; filters, no edits."""
    if not request.user.can_read_audit_log:
        raise PermissionDenied
    entries = AuditEntry.objects.all()
    filters = {key: request.GET.get(key, "").strip() for key in ("actor", "action", "object_id", "date_from", "date_to")}
    if filters["actor"]:
        entries = entries.filter(actor_username=filters["actor"])
    if filters["action"]:
        entries = entries.filter(action__startswith=filters["action"])
    if filters["object_id"]:
        entries = entries.filter(object_id=filters["object_id"])
    for key, lookup in (("date_from", "created_at__date__gte"), ("date_to", "created_at__date__lte")):
        try:
            day = parse_date(filters[key]) if filters[key] else None
        except ValueError:  # well formed but no such day (2026-02-30)
            day = None
        if day is not None:
            entries = entries.filter(**{lookup: day})
        elif filters[key]:
            messages.error(request, _("%(value)s is not a date (YYYY-MM-DD); the filter was not applied.")
                           % {"value": filters[key]})
    page = Paginator(entries, 50).get_page(request.GET.get("page"))
    for entry in page:  # the codes the log stores, in the reader's language (`core.audit_display`)
        entry.action_label = audit_display.action_label(entry.action)
        entry.object_type_label = audit_display.object_type_label(entry.object_type)
        entry.change_lines = audit_display.changes(entry.object_type, entry.changes)
    actions = [(code, str(label)) for code, label in audit_display.action_labels().items()]
    return render(request, "core/audit_log.html", {"page": page, "filters": filters, "actions": actions,
                                                   "action_codes": {code for code, _label in actions}})


def _secadmin_only(request) -> None:
    if request.user.role != "secadmin":
        raise PermissionDenied


@login_required
def staff_list(request):
    """Staff and their roles, for the security administrator."""
    from guanxi.core.models import User

    _secadmin_only(request)
    staff = User.objects.select_related("org_unit").order_by("org_unit__path", "username")
    query = request.GET.get("q", "").strip()
    if query:
        staff = staff.filter(Q(username__icontains=query) | Q(name__icontains=query))
    return render(request, "core/staff_list.html", {"page": Paginator(staff, 50).get_page(request.GET.get("page")),
                                                    "query": query})


@login_required
def staff_edit(request, username: str | None = None):
    from django.contrib import messages
    from django.core.exceptions import ValidationError
    from django.shortcuts import get_object_or_404, redirect
    from django.utils.translation import gettext as _

    from guanxi.core.forms import PasswordForm, StaffForm
    from guanxi.core.models import OrgUnit, User
    from guanxi.core.services import staff_manage, staff_set_password

    _secadmin_only(request)
    member = get_object_or_404(User, username=username) if username else None
    units = list(OrgUnit.objects.all())
    initial = {}
    if member is not None:
        initial = {"username": member.username, "name": member.name, "role": member.role,
                   "org_code": member.org_unit.code if member.org_unit_id else "", "market_line": member.market_line,
                   "is_active": member.is_active}
    form = StaffForm(initial=initial, org_units=units, editing=member is not None)
    password_form = PasswordForm()
    if request.method == "POST" and "password" in request.POST and member is not None:
        password_form = PasswordForm(request.POST)
        if password_form.is_valid():
            try:
                staff_set_password(acting_user=request.user, user=member, password=password_form.cleaned_data["password"])
            except ValidationError as exc:
                for error in exc.message_dict.get("password", exc.messages):
                    password_form.add_error("password", error)
            else:
                messages.success(request, _("Password set."))
                return redirect("staff_edit", username=member.username)
    elif request.method == "POST":
        form = StaffForm(request.POST, initial=initial, org_units=units, editing=member is not None)
        if form.is_valid():
            data = form.cleaned_data
            try:
                user, _changed = staff_manage(acting_user=request.user, username=data["username"], name=data["name"],
                                              role=data["role"], org_code=data["org_code"],
                                              market_line=data["market_line"], is_active=data["is_active"])
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    for error in errors:
                        form.add_error(field if field in form.fields else None, error)
            else:
                messages.success(request, _("Saved."))
                return redirect("staff_edit", username=user.username)
    return render(request, "core/staff_form.html", {"form": form, "member": member, "password_form": password_form})
