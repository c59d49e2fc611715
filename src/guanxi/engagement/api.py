"""Engagement API: the contact log, visit tasks and frequencies, consent, care plans and messages."""

from datetime import date, datetime

from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from ninja import Router, Schema, Status
from ninja.pagination import LimitOffsetPagination, paginate

from guanxi.core.models import OrgUnit
from guanxi.customers.models import Customer
from guanxi.engagement import selectors, services
from guanxi.engagement.models import (
    CarePlan,
    Channel,
    ContactPreference,
    Direction,
    FollowUp,
    Interaction,
    Message,
    MessageKind,
)
from guanxi.engagement.services import care, consent, followups

router = Router(tags=["engagement"])


class InteractionOut(Schema):
    id: int
    customer_no: str
    customer_name: str
    staff: str
    staff_name: str
    org_code: str
    channel: str
    direction: str
    occurred_at: datetime
    summary: str
    outcome: str
    next_step: str
    next_step_on: date | None
    created_at: datetime

    @staticmethod
    def resolve_customer_no(obj: Interaction) -> str:
        return obj.customer.customer_no

    @staticmethod
    def resolve_customer_name(obj: Interaction) -> str:
        return obj.customer.name

    @staticmethod
    def resolve_staff(obj: Interaction) -> str:
        return obj.staff.username

    @staticmethod
    def resolve_staff_name(obj: Interaction) -> str:
        return obj.staff.display_name

    @staticmethod
    def resolve_org_code(obj: Interaction) -> str:
        return obj.org_unit.code


class InteractionIn(Schema):
    """A contact with one customer; `occurred_at` defaults to now (ISO 8601, bank time if no offset)."""

    customer_no: str
    channel: str = ""
    direction: str = Direction.OUTBOUND
    occurred_at: datetime | None = None
    summary: str = ""
    outcome: str = ""
    next_step: str = ""
    next_step_on: date | None = None


@router.get("/interactions", response=list[InteractionOut])
@paginate(LimitOffsetPagination)
def interaction_list(request, customer_no: str = "", staff: str = "", org_code: str = "", channel: str = "",
                     since: date | None = None, until: date | None = None):
    """Contacts with the customers in your data scope, newest first. `staff` is the username of who made
    the contact, `org_code` keeps contacts made from that org unit's subtree, `since`/`until` are dates (included)."""
    return selectors.interaction_list(user=request.user, customer_no=customer_no, staff=staff, org_code=org_code,
                                      channel=channel, since=since, until=until)


@router.post("/interactions", response={201: InteractionOut})
def interaction_create(request, payload: InteractionIn):
    """Log a contact with a customer in your scope (404 otherwise); 422 names the bad field."""
    customer = get_object_or_404(Customer.objects.visible_to(request.user), customer_no=payload.customer_no.strip())
    data = payload.dict(exclude={"customer_no"})
    interaction = services.interaction_log(user=request.user, customer=customer, **data)
    return Status(201, Interaction.objects.select_related("customer", "staff", "org_unit").get(pk=interaction.pk))


# --- visit tasks ------------------------------------------------------------------------------------------------------

class FollowUpOut(Schema):
    id: int
    customer_no: str
    customer_name: str
    due_on: date
    overdue: bool
    interval_months: int
    status: str
    completed_at: datetime | None
    completed_by: str | None
    interaction_id: int | None

    @staticmethod
    def resolve_customer_no(obj: FollowUp) -> str:
        return obj.customer.customer_no

    @staticmethod
    def resolve_customer_name(obj: FollowUp) -> str:
        return obj.customer.name

    @staticmethod
    def resolve_completed_by(obj: FollowUp) -> str | None:
        return obj.completed_by.username if obj.completed_by_id else None


class FollowUpCompleteIn(Schema):
    summary: str
    channel: str = Channel.VISIT
    outcome: str = ""
    next_step: str = ""
    next_step_on: date | None = None
    occurred_at: datetime | None = None


@router.get("/follow-ups", response=list[FollowUpOut])
@paginate(LimitOffsetPagination)
def follow_up_list(request, mine: bool = False, owner: str = "", overdue: bool = False, status: str = "open"):
    """Visit tasks of the customers in your scope, soonest due first. `mine=true`: the open tasks of the
    customers you own; `owner`: of a colleague's current customers; `status`: open, done, cancelled or empty."""
    if mine:
        return selectors.my_follow_ups(user=request.user, overdue_only=overdue).select_related("completed_by")
    return selectors.follow_up_list(user=request.user, owner=owner, overdue_only=overdue, status=status)


@router.post("/follow-ups/{int:follow_up_id}/complete", response=FollowUpOut)
def follow_up_complete(request, follow_up_id: int, payload: FollowUpCompleteIn):
    """Complete a visit task of a customer in your scope: logs the contact and opens the next task."""
    task = get_object_or_404(FollowUp.objects.visible_to(request.user).select_related("customer"), pk=follow_up_id)
    followups.followup_complete(user=request.user, follow_up=task, **payload.dict())
    return FollowUp.objects.select_related("customer", "completed_by").get(pk=task.pk)


class FollowUpRuleOut(Schema):
    tier: str
    market: str
    interval_months: int
    active: bool
    updated_at: datetime


class FollowUpRuleIn(Schema):
    tier: str
    market: str = ""
    interval_months: int
    active: bool = True


@router.get("/follow-up-rules", response=list[FollowUpRuleOut])
def follow_up_rule_list(request):
    """Visit frequencies per market line (empty: every line) and tier."""
    return list(selectors.followup_rules())


@router.put("/follow-up-rules", response=FollowUpRuleOut)
def follow_up_rule_save(request, payload: FollowUpRuleIn):
    """Set a visit frequency: line departments for their line, the system administrator bank-wide (403 otherwise)."""
    return followups.followup_rule_save(acting_user=request.user, **payload.dict())


# --- consent and preferences ------------------------------------------------------------------------------------------

class PreferenceOut(Schema):
    customer_no: str
    marketing_opt_out: bool
    opted_out_at: datetime | None
    opted_out_via: str
    lunar_birthday: bool

    @staticmethod
    def resolve_customer_no(obj: ContactPreference) -> str:
        return obj.customer.customer_no


class PreferenceIn(Schema):
    marketing_opt_out: bool | None = None
    lunar_birthday: bool | None = None


@router.get("/customers/{customer_no}/preferences", response=PreferenceOut)
def preference_get(request, customer_no: str):
    """A customer's consent to marketing and care messages and birthday preference (404 outside your scope)."""
    customer = get_object_or_404(Customer.objects.visible_to(request.user), customer_no=customer_no)
    return selectors.contact_preference(customer)


@router.put("/customers/{customer_no}/preferences", response=PreferenceOut)
def preference_set(request, customer_no: str, payload: PreferenceIn):
    """Record what the customer told you (opting out or back in, lunar birthday); audited."""
    customer = get_object_or_404(Customer.objects.visible_to(request.user), customer_no=customer_no)
    return consent.contact_preference_set(acting_user=request.user, customer=customer, **payload.dict())


# --- care plans and messages --------------------------------------------------------------------------------------------

class CarePlanOut(Schema):
    id: int
    name: str
    occasion: str
    holiday: str
    occasion_date: date | None
    days_before: int
    kind: str
    channel: str
    subject: str
    template: str
    tiers: list[str]
    markets: list[str]
    org_code: str | None
    active: bool
    updated_at: datetime

    @staticmethod
    def resolve_org_code(obj: CarePlan) -> str | None:
        return obj.org_unit.code if obj.org_unit_id else None


class CarePlanIn(Schema):
    name: str
    occasion: str
    channel: str
    template: str
    holiday: str = ""
    occasion_date: date | None = None
    days_before: int = 0
    kind: str = MessageKind.CARE
    subject: str = ""
    tiers: list[str] = []
    markets: list[str] = []
    org_code: str | None = None
    active: bool = True


def _plan_fields(payload: CarePlanIn) -> dict:
    data = payload.dict()
    code = data.pop("org_code")
    org_unit = None
    if code:
        org_unit = OrgUnit.objects.filter(code=code).first()
        if org_unit is None:
            raise ValidationError({"org_code": _("%(code)s is not a known org unit code") % {"code": code}})
    return {**data, "org_unit": org_unit}


@router.get("/care-plans", response=list[CarePlanOut])
def care_plan_list(request):
    """Care plans of your scope (line departments, branch heads; the auditor reads all)."""
    return list(care.care_plans_for(request.user))


@router.post("/care-plans", response={201: CarePlanOut})
def care_plan_create(request, payload: CarePlanIn):
    """A new care plan: occasion (birthday, holiday + `holiday`, custom + `occasion_date`), template, audience."""
    return Status(201, care.care_plan_save(acting_user=request.user, **_plan_fields(payload)))


@router.put("/care-plans/{int:plan_id}", response=CarePlanOut)
def care_plan_update(request, plan_id: int, payload: CarePlanIn):
    plan = get_object_or_404(care.care_plans_for(request.user), pk=plan_id)
    return care.care_plan_save(acting_user=request.user, plan=plan, **_plan_fields(payload))


@router.delete("/care-plans/{int:plan_id}", response={204: None})
def care_plan_delete(request, plan_id: int):
    """Delete a plan that has sent no message yet (422 naming why otherwise: switch it off instead)."""
    plan = get_object_or_404(care.care_plans_for(request.user), pk=plan_id)
    care.care_plan_delete(acting_user=request.user, plan=plan)
    return Status(204, None)


class MessageOut(Schema):
    id: int
    customer_no: str
    channel: str
    kind: str
    occasion: str
    care_plan_id: int | None
    subject: str
    body: str
    status: str
    error: str
    created_at: datetime
    sent_at: datetime | None

    @staticmethod
    def resolve_customer_no(obj: Message) -> str:
        return obj.customer.customer_no


@router.get("/messages", response=list[MessageOut])
@paginate(LimitOffsetPagination)
def message_list(request, customer_no: str = "", status: str = "", channel: str = "", occasion: str = ""):
    """Messages sent (or queued, failed) to the customers in your scope, newest first."""
    return selectors.message_list(user=request.user, customer_no=customer_no, status=status, channel=channel,
                                  occasion=occasion)
