"""Home page and the audit log (read-only)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Q, Sum
from django.shortcuts import render

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
    if filters["date_from"]:
        entries = entries.filter(created_at__date__gte=filters["date_from"])
    if filters["date_to"]:
        entries = entries.filter(created_at__date__lte=filters["date_to"])
    page = Paginator(entries, 50).get_page(request.GET.get("page"))
    return render(request, "core/audit_log.html", {"page": page, "filters": filters})
