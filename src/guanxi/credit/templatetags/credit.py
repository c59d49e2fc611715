"""Template helpers for reading scorecard definitions."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.translation import gettext as _

from guanxi.credit.engine import CompiledScorecard
from guanxi.credit.facts import Kind, data_label

register = template.Library()


@register.inclusion_tag("credit/_customer_panel.html", takes_context=True)
def credit_panel(context, customer) -> dict:
    """The customer's grade and line on the customer page: `{% load credit %}{% credit_panel customer %}`."""
    from guanxi.credit.models import CreditLine
    from guanxi.credit.selectors import current_grade, latest_assessment
    from guanxi.credit.services import can_assess

    request = context.get("request")
    confirmed = current_grade(customer)
    credit_household = bool(customer.customer_type == "farmer" and confirmed is not None
                            and confirmed.scorecard.compiled().grade_has_line(confirmed.final_grade))
    return {"customer": customer, "latest": latest_assessment(customer), "confirmed": confirmed,
            "line": CreditLine.objects.filter(customer=customer).exclude(status="superseded").first(),
            "can_assess": bool(request and can_assess(request.user)), "credit_household": credit_household}


@register.inclusion_tag("credit/_notifications.html", takes_context=True)
def credit_notifications(context) -> dict:
    """The signed-in user's notes about their customers' credit lines (approved, rejected, sent back):
    `{% load credit %}{% credit_notifications %}` on the home page."""
    from guanxi.credit.selectors import notifications_for

    request = context.get("request")
    user = getattr(request, "user", None)
    notes = notifications_for(user) if user is not None and user.is_authenticated else []
    return {"notifications": notes, "unread": sum(1 for n in notes if n.read_at is None),
            "next": request.get_full_path() if request else "/", "csrf_token": context.get("csrf_token")}


@register.filter
def dict_get(mapping: dict | None, key: str) -> Any:
    return (mapping or {}).get(key)


@register.simple_tag
def item_label(item: dict | None, fallback: str | None = None) -> str:
    if not item:
        return ""
    return str(data_label(item, item.get("code", "") if fallback is None else fallback))


@register.simple_tag
def fact_label(compiled: CompiledScorecard, key: str) -> str:
    fact = compiled.fact_table.get(key)
    return str(fact.label) if fact else key


@register.simple_tag
def rule_text(compiled: CompiledScorecard, item: dict) -> str:
    """A rule in words: "≥ 3: 8 · ≥ 2: 7 · below: 0", "excellent 30 · good 25"."""
    fact = compiled.fact_table.get(item.get("fact", ""))
    rule = item.get("rule") or {}
    if rule.get("kind") == "categories":
        parts = []
        # Best first: PostgreSQL's jsonb does not keep the order of an object's keys.
        for code, points in sorted((rule.get("points") or {}).items(), key=lambda item: -item[1]):
            label = (_("yes") if code == "true" else _("no")) if fact and fact.kind == Kind.BOOL else (
                fact.choice_label(code) if fact else code)
            parts.append(f"{label} {points}")
        return " · ".join(parts)
    unit = "×" if rule.get("kind") == "ratio_to_local_average" else ("%" if fact and fact.kind == Kind.PERCENT else "")
    parts = [f"≥ {b['from']}{unit}: {b['points']}" for b in reversed(rule.get("bins") or [])]
    parts.append(_("below: %(points)s") % {"points": rule.get("below", 0)})
    text = " · ".join(parts)
    if rule.get("kind") == "ratio_to_local_average":
        text = _("ratio to the local average: %(bins)s") % {"bins": text}
    return text
