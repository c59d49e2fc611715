"""`{% ownership_panel customer %}`: the owner block of the customer page (history and "change owner")."""

from __future__ import annotations

from django import template

from guanxi.core.roles import Role
from guanxi.relationships import services
from guanxi.relationships.models import Assignment

register = template.Library()


@register.inclusion_tag("relationships/_owner_panel.html", takes_context=True)
def ownership_panel(context, customer):
    """The last assignments of a customer the page already fetched through the user's scope; heads and
    line departments get the form to change the owner (candidates: owners they may assign). 2–4 queries."""
    user = context["request"].user
    history = list(Assignment.objects.filter(customer=customer).select_related("owner", "assigned_by")
                   .order_by("-started_at", "-id")[:10])
    current = next((a.owner for a in history if a.active), None)
    can_change = (user.role in (Role.BRANCH_HEAD, Role.LINE_DEPT)
                  and services.assignable_customers(user).filter(pk=customer.pk).exists())
    candidates = (list(services.assignable_owners(user).filter(org_unit__path__startswith=customer.org_unit.path)
                       .order_by("role", "username")) if can_change else [])
    return {"customer": customer, "history": history, "current": current, "can_change": can_change,
            "candidates": candidates, "csrf_token": context.get("csrf_token"), "user": user}
