"""Engagement pages: contacts, visit tasks, consent, care plans, and the two doors customers use
(the unsubscribe link, SMS replies)."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from guanxi.core.models import OrgUnit
from guanxi.core.paging import page_of
from guanxi.core.roles import MarketLine, Role
from guanxi.customers.models import Customer, CustomerTier
from guanxi.engagement import selectors, services
from guanxi.engagement.forms import CarePlanForm, ContactPreferenceForm, FollowUpCompleteForm, InteractionForm
from guanxi.engagement.gateways import sms_gateway
from guanxi.engagement.models import Channel, FollowUp, MessageStatus, OptOutVia
from guanxi.engagement.services import care, consent, followups
from guanxi.engagement.templatetags.engagement import panel_context


def _date(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text) if text else None
    except ValueError:
        return None


@login_required
@require_POST
def interaction_create(request, customer_id: int):
    """The quick entry of the customer page. With htmx the contacts block comes back (fresh form and
    timeline, or the form with its errors); without, a redirect to the customer page."""
    customer = get_object_or_404(Customer.objects.visible_to(request.user), pk=customer_id)
    form = InteractionForm(request.POST)
    logged = False
    if form.is_valid():
        data = form.cleaned_data
        try:
            services.interaction_log(
                user=request.user, customer=customer, channel=data["channel"], direction=data["direction"] or "outbound",
                occurred_at=data["occurred_at"], summary=data["summary"], outcome=data["outcome"],
                next_step=data["next_step"], next_step_on=data["next_step_on"])
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                for error in errors:
                    form.add_error(field if field in form.fields else None, error)
        else:
            logged = True
    if request.headers.get("HX-Request"):
        context = {**panel_context(request, customer, None if logged else form), "logged": logged}
        return render(request, "engagement/_interaction_panel.html", context)
    if logged:
        messages.success(request, _("Contact logged."))
    else:
        for field, errors in form.errors.items():
            for error in errors:
                messages.error(request, f"{form.fields[field].label}: {error}" if field in form.fields else error)
    return redirect("customers:detail", customer_id=customer.pk)


@login_required
def interaction_list(request):
    """Contacts within the user's scope, filtered by who, branch (subtree), channel and period; no COUNT."""
    filters = {
        "customer_no": request.GET.get("customer_no", "").strip(),
        "staff": request.GET.get("staff", "").strip(),
        "org_code": request.GET.get("org_code", "").strip(),
        "channel": request.GET.get("channel", "") if request.GET.get("channel", "") in Channel.values else "",
        "since": _date(request.GET.get("since", "")),
        "until": _date(request.GET.get("until", "")),
    }
    interactions = selectors.interaction_list(user=request.user, **filters)
    page = page_of(interactions, request.GET.get("page"))
    context = {"page": page, "filters": filters, "channels": Channel.choices,
               "staff": selectors.filter_staff(request.user), "org_units": selectors.filter_org_units(request.user)}
    template = "engagement/_interaction_table.html" if request.headers.get("HX-Request") else "engagement/interactions.html"
    return render(request, template, context)


# --- visit tasks ----------------------------------------------------------------------------------------------------

@login_required
def follow_up_mine(request):
    """"My tasks": the open visit tasks of the customers the user owns, soonest due first, overdue marked."""
    overdue_only = request.GET.get("overdue") == "1"
    tasks = selectors.my_follow_ups(user=request.user, overdue_only=overdue_only)
    page = page_of(tasks, request.GET.get("page"))
    context = {"page": page, "overdue_only": overdue_only, "today": timezone.localdate(),
               "form": FollowUpCompleteForm(), "channels": Channel.choices}
    return render(request, "engagement/tasks.html", context)


@login_required
@require_POST
def follow_up_complete(request, follow_up_id: int):
    """Complete a visit task: the contact is logged. With htmx the task's row comes back (done, or with errors)."""
    task = get_object_or_404(FollowUp.objects.visible_to(request.user).select_related("customer"), pk=follow_up_id)
    form = FollowUpCompleteForm(request.POST)
    errors: list[str] = []
    if form.is_valid():
        data = form.cleaned_data
        try:
            followups.followup_complete(user=request.user, follow_up=task, channel=data["channel"] or Channel.VISIT,
                                        summary=data["summary"], outcome=data["outcome"],
                                        next_step=data["next_step"], next_step_on=data["next_step_on"])
        except ValidationError as exc:
            errors = [message for messages_ in exc.message_dict.values() for message in messages_]
    else:
        errors = [error for field_errors in form.errors.values() for error in field_errors]
    task.refresh_from_db()
    if request.headers.get("HX-Request"):
        return render(request, "engagement/_task_row.html",
                      {"task": task, "errors": errors, "today": timezone.localdate(), "form": form,
                       "channels": Channel.choices})
    if errors:
        for error in errors:
            messages.error(request, error)
    else:
        messages.success(request, _("Visit recorded."))
    return redirect("engagement:tasks")


@login_required
def followup_rules(request):
    """The visit frequencies per tier and market line; line departments change their line's, the system
    administrator the bank-wide ones."""
    saved = None
    if request.method == "POST":
        try:
            saved = followups.followup_rule_save(
                acting_user=request.user, tier=request.POST.get("tier", ""), market=request.POST.get("market", ""),
                interval_months=request.POST.get("interval_months", ""), active=request.POST.get("active") == "on")
        except ValidationError as exc:
            for errors in exc.message_dict.values():
                for error in errors:
                    messages.error(request, error)
        else:
            messages.success(request, _("Visit frequency saved."))
            return redirect("engagement:followup_rules")
    user = request.user
    editable_markets = ([user.market_line] if user.role == Role.LINE_DEPT and user.market_line else
                        ["", *MarketLine.values] if user.role == Role.SYSADMIN else [])
    context = {"rules": selectors.followup_rules(), "editable_markets": editable_markets, "saved": saved,
               "tiers": CustomerTier.choices, "markets": MarketLine.choices}
    return render(request, "engagement/followup_rules.html", context)


# --- customer page: consent and preferences ---------------------------------------------------------------------------

@login_required
@require_POST
def contact_preference_update(request, customer_id: int):
    """Record what the customer said about marketing messages and the lunar birthday (customer page)."""
    customer = get_object_or_404(Customer.objects.visible_to(request.user), pk=customer_id)
    form = ContactPreferenceForm(request.POST)
    form.is_valid()
    consent.contact_preference_set(acting_user=request.user, customer=customer,
                                   marketing_opt_out=form.cleaned_data.get("marketing_opt_out", False),
                                   lunar_birthday=form.cleaned_data.get("lunar_birthday", False))
    if request.headers.get("HX-Request"):
        context = {**panel_context(request, customer), "preferences_saved": True}
        return render(request, "engagement/_interaction_panel.html", context)
    messages.success(request, _("Preferences saved."))
    return redirect("customers:detail", customer_id=customer.pk)


# --- care plans -----------------------------------------------------------------------------------------------------

def _planner_units(user) -> list[OrgUnit]:
    if user.role == Role.BRANCH_HEAD and user.org_unit_id:
        return list(OrgUnit.objects.subtree(user.org_unit))
    if user.role == Role.LINE_DEPT:
        return list(OrgUnit.objects.all())
    return []


@login_required
def care_plan_list(request):
    """Care plans of the user's scope, with how many messages each sent; planners and the auditor."""
    if request.user.role not in (*care.PLANNER_ROLES, Role.AUDITOR):
        raise PermissionDenied
    plans = care.care_plans_for(request.user).annotate(
        sent=Count("messages", filter=Q(messages__status=MessageStatus.SENT)),
        failed=Count("messages", filter=Q(messages__status=MessageStatus.FAILED)))
    tiers, lines = dict(CustomerTier.choices), dict(MarketLine.choices)
    for plan in plans:  # the audience by its names, not the codes the plan keeps
        plan.tier_names = _(", ").join(str(tiers.get(code, code)) for code in plan.tiers)
        plan.market_names = _(", ").join(str(lines.get(code, code)) for code in plan.markets)
    return render(request, "engagement/care_plans.html",
                  {"plans": plans, "can_edit": request.user.role in care.PLANNER_ROLES,
                   "placeholders": care.PLACEHOLDERS})


@login_required
def care_plan_edit(request, plan_id: int | None = None):
    """Create or change a care plan (line departments, branch heads)."""
    if request.user.role not in care.PLANNER_ROLES:
        raise PermissionDenied
    plan = get_object_or_404(care.care_plans_for(request.user), pk=plan_id) if plan_id else None
    units = _planner_units(request.user)
    if request.method == "POST":
        form = CarePlanForm(request.POST, org_units=units)
        if form.is_valid():
            data = dict(form.cleaned_data)
            code = data.pop("org_code")
            unit = next((u for u in units if u.code == code), None)
            try:
                plan = care.care_plan_save(acting_user=request.user, plan=plan, org_unit=unit,
                                           **{**data, "days_before": data["days_before"] or 0})
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    for error in errors:
                        form.add_error(field if field in form.fields else "org_code" if field == "org_unit" else None,
                                       error)
            else:
                messages.success(request, _("Care plan saved."))
                return redirect("engagement:care_plans")
    elif plan is not None:
        form = CarePlanForm(org_units=units, initial={
            "name": plan.name, "occasion": plan.occasion, "holiday": plan.holiday, "occasion_date": plan.occasion_date,
            "days_before": plan.days_before, "kind": plan.kind, "channel": plan.channel, "subject": plan.subject,
            "template": plan.template, "tiers": plan.tiers, "markets": plan.markets,
            "org_code": plan.org_unit.code if plan.org_unit_id else "", "active": plan.active})
    elif request.GET.get("copy", "").isdigit():  # "copy as a new plan": the source's values, named as a copy
        source = get_object_or_404(care.care_plans_for(request.user), pk=int(request.GET["copy"]))
        initial = care.care_plan_copy_initial(acting_user=request.user, plan=source)
        unit = initial.pop("org_unit")
        form = CarePlanForm(org_units=units, initial={**initial, "org_code": unit.code if unit else ""})
    else:
        form = CarePlanForm(org_units=units, initial={
            "org_code": request.user.org_unit.code if request.user.role == Role.BRANCH_HEAD else ""})
    preview = care.care_plan_preview(plan=plan, day=timezone.localdate()) if plan is not None else []
    return render(request, "engagement/care_plan_form.html", {"form": form, "plan": plan, "preview": preview})


@login_required
def care_plan_delete(request, plan_id: int):
    """Delete a care plan that has sent nothing yet: a page that asks, and its button (POST)."""
    if request.user.role not in care.PLANNER_ROLES:
        raise PermissionDenied
    plan = get_object_or_404(care.care_plans_for(request.user), pk=plan_id)
    if request.method == "POST":
        try:
            care.care_plan_delete(acting_user=request.user, plan=plan)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
            return redirect("engagement:care_plan_edit", plan.pk)
        messages.success(request, _("Care plan %(name)s deleted.") % {"name": plan.name})
        return redirect("engagement:care_plans")
    return render(request, "engagement/care_plan_delete.html",
                  {"plan": plan, "sent": plan.messages.exists()})


# --- what customers do: unsubscribe links, SMS replies -------------------------------------------------------------------

@csrf_exempt  # the signed token is the credential; mail clients POST here for RFC 8058 one-click unsubscribe
def unsubscribe(request, token: str):
    """The link of every care and marketing email. GET shows one button; POST (the button, or the mail
    client's one-click) opts the customer out. No sign-in: the signed token names the customer."""
    customer_id = consent.unsubscribe_customer_id(token)
    customer = Customer.objects.filter(pk=customer_id).only("pk", "name").first() if customer_id else None
    if customer is None:
        return render(request, "engagement/unsubscribe.html", {"invalid": True}, status=404)
    done = False
    if request.method == "POST":
        consent.marketing_opt_out(customer_ids=[customer.pk], via=OptOutVia.LINK)
        done = True
    return render(request, "engagement/unsubscribe.html", {"done": done, "token": token})


@csrf_exempt  # the SMS gateway authenticates with the shared inbound token
@require_POST
def sms_inbound(request):
    """Customers' replies, forwarded by the SMS gateway: TD / 退订 opts the sender out."""
    gateway = sms_gateway()
    if not gateway.authenticate_inbound(request):
        return JsonResponse({"detail": "forbidden"}, status=403)
    opted_out = sum(consent.sms_reply_receive(phone=reply.phone, text=reply.text)
                    for reply in gateway.parse_inbound(request))
    return JsonResponse({"opted_out": opted_out})
