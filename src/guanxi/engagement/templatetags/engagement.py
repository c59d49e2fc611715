"""`{% interaction_panel customer %}`: the contacts block of the customer page: the quick entry, the open
visit task, the customer's message preferences and one timeline of contacts and messages sent."""

from __future__ import annotations

from django import template
from django.http import HttpRequest

from guanxi.customers.models import Customer
from guanxi.engagement import selectors
from guanxi.engagement.forms import ContactPreferenceForm, InteractionForm

register = template.Library()


def panel_context(request: HttpRequest, customer: Customer, form: InteractionForm | None = None) -> dict:
    """The timeline of a customer the caller already fetched through the user's scope, the open visit task,
    the message preferences, and the quick entry form for staff who may write customer data. Two queries."""
    care = selectors.customer_care(customer)
    return {"customer": customer, "timeline": selectors.customer_timeline(customer), "care": care,
            "preference_form": ContactPreferenceForm(initial={"marketing_opt_out": care.marketing_opt_out,
                                                              "lunar_birthday": care.lunar_birthday}),
            "form": form or InteractionForm(), "can_log": request.user.can_write_customers, "request": request}


@register.inclusion_tag("engagement/_interaction_panel.html", takes_context=True)
def interaction_panel(context, customer: Customer) -> dict:
    return {**panel_context(context["request"], customer), "csrf_token": context.get("csrf_token")}
