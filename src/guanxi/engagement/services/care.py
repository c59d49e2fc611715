"""Care plans (关怀): birthday and holiday greetings and custom care events, run daily by the worker.

`care_plans_run` finds the plans whose occasion is today (or `days_before` days from today),
selects each plan's audience in SQL — current customers of the plan's tiers, market lines and
branch who can be reached on the channel, have not opted out and have not yet been greeted for
this occasion — composes the text per customer from the template, queues the messages with bulk
inserts that skip any customer already greeted (the database's unique constraint on customer and
occasion decides, so a rerun or two runs at once never greet twice), and sends the queue.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import CharField, Exists, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce, NullIf
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from guanxi.core import audit
from guanxi.core.models import OrgUnit, User
from guanxi.core.roles import MarketLine, Role
from guanxi.customers.models import Customer, CustomerTier, CustomerType, Gender
from guanxi.engagement import occasions
from guanxi.engagement.models import (
    MESSAGE_CHANNELS,
    CareOccasion,
    CarePlan,
    Channel,
    ContactPreference,
    Message,
    MessageKind,
    MessageStatus,
)
from guanxi.engagement.services.messages import SendOutcome, consent_footer, messages_send

PLACEHOLDERS = ("name", "surname", "honorific", "owner", "branch")
_PLACEHOLDER_RE = re.compile(r"\{(\w*)\}")
COMPOUND_SURNAMES = frozenset({"欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙",
                               "宇文", "司徒", "夏侯", "令狐", "端木", "独孤", "南宫", "西门", "澹台", "呼延"})
CHUNK = 1000
TEMPLATE_MAX = 1000
# Who may manage care plans: line departments for their market line, branch heads for their subtree.
PLANNER_ROLES = frozenset({Role.LINE_DEPT, Role.BRANCH_HEAD})
# What a plan is made of (`care_plan_save`'s values), in its form's order.
PLAN_FIELDS = ("name", "occasion", "holiday", "occasion_date", "days_before", "kind", "channel", "subject",
               "template", "tiers", "markets", "org_unit", "active")


# --- composing ----------------------------------------------------------------------------------------------------

def surname(name: str) -> str:
    return name[:2] if name[:2] in COMPOUND_SURNAMES else name[:1]


def honorific(*, customer_type: str, gender: str) -> str:
    """先生 / 女士 from the gender of a person or farmer; companies (and unknown genders) get none."""
    if customer_type == CustomerType.COMPANY:
        return ""
    return {Gender.MALE: "先生", Gender.FEMALE: "女士"}.get(gender, "")


def placeholder_values(*, name: str, customer_type: str, gender: str, owner: str | None, branch: str) -> dict:
    """The values of the placeholders for one customer. A company is addressed by its name."""
    return {"name": name, "surname": name if customer_type == CustomerType.COMPANY else surname(name),
            "honorific": honorific(customer_type=customer_type, gender=gender), "owner": owner or "",
            "branch": branch}


def render(template: str, values: dict[str, str]) -> str:
    """Fill `{placeholder}`s. Only plain names are replaced (no format-string attribute access)."""
    return _PLACEHOLDER_RE.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def _check_template(text: str, field_name: str, errors: dict) -> None:
    unknown = sorted({m.group(1) for m in _PLACEHOLDER_RE.finditer(text)} - set(PLACEHOLDERS))
    if unknown:
        errors[field_name] = _("Unknown placeholder %(names)s; use %(allowed)s.") % {
            "names": ", ".join("{" + n + "}" for n in unknown),
            "allowed": ", ".join("{" + n + "}" for n in PLACEHOLDERS)}


# --- plans --------------------------------------------------------------------------------------------------------

def _check_planner(user: User) -> None:
    if not user.is_active or user.role not in PLANNER_ROLES:
        raise PermissionDenied(_("Only line departments and branch heads manage care plans."))


def care_plans_for(user: User) -> QuerySet[CarePlan]:
    """The plans a user may read: planners their own scope's; the auditor all; others none."""
    plans = CarePlan.objects.select_related("org_unit")
    if user.role == Role.AUDITOR:
        return plans
    if user.role == Role.LINE_DEPT and user.market_line:
        return plans.filter(markets=[user.market_line])  # a line department's plans are saved with its line
    if user.role == Role.BRANCH_HEAD and user.org_unit_id:
        return plans.filter(org_unit__path__startswith=user.org_unit.path)
    return plans.none()


def care_plan_save(*, acting_user: User, plan: CarePlan | None = None, name: str, occasion: str,
                   channel: str, template: str, holiday: str = "", occasion_date: dt.date | None = None,
                   days_before: int = 0, kind: str = MessageKind.CARE, subject: str = "",
                   tiers: list[str] | None = None, markets: list[str] | None = None,
                   org_unit: OrgUnit | None = None, active: bool = True) -> CarePlan:
    """Create or change a care plan. Audited (`care_plan.save`, with the changed fields).

    A line department's plans reach its own market line only (`markets` is set to it); a branch
    head's plans reach their subtree only (`org_unit` defaults to their unit and must lie within
    it). Raises PermissionDenied for other roles and ValidationError naming each bad field.
    """
    _check_planner(acting_user)
    if plan is not None and not care_plans_for(acting_user).filter(pk=plan.pk).exists():
        raise PermissionDenied(_("This care plan is outside your scope."))
    tiers, markets = list(tiers or []), list(markets or [])
    name, template, subject = (name or "").strip(), (template or "").strip(), (subject or "").strip()
    errors: dict[str, str] = {}
    if acting_user.role == Role.LINE_DEPT:
        if any(m != acting_user.market_line for m in markets):
            errors["markets"] = _("Your care plans reach your own market line only.")
        markets = [acting_user.market_line]
    elif acting_user.role == Role.BRANCH_HEAD:
        org_unit = org_unit or acting_user.org_unit
        if org_unit is None or acting_user.org_unit is None or not org_unit.is_within(acting_user.org_unit):
            errors["org_unit"] = _("Choose your own org unit or one below it.")
    if not name:
        errors["name"] = _("Give the plan a name.")
    if occasion not in CareOccasion.values:
        errors["occasion"] = _("Choose birthday, holiday or a custom date.")
    elif occasion == CareOccasion.HOLIDAY and holiday not in occasions.Holiday.values:
        errors["holiday"] = _("Choose the holiday.")
    elif occasion == CareOccasion.CUSTOM and occasion_date is None:
        errors["occasion_date"] = _("Give the date of the event.")
    if occasion != CareOccasion.HOLIDAY:
        holiday = ""
    if occasion != CareOccasion.CUSTOM:
        occasion_date = None
    if channel not in [c.value for c in MESSAGE_CHANNELS]:
        errors["channel"] = _("Choose SMS or email.")
    if kind not in (MessageKind.CARE, MessageKind.MARKETING):
        errors["kind"] = _("Choose care or marketing.")
    if not 0 <= int(days_before or 0) <= 30:
        errors["days_before"] = _("Between 0 and 30 days ahead.")
    if any(t not in CustomerTier.values for t in tiers):
        errors["tiers"] = _("Choose tiers among %(choices)s.") % {"choices": ", ".join(CustomerTier.values)}
    if any(m not in MarketLine.values for m in markets) and "markets" not in errors:
        errors["markets"] = _("Choose market lines among %(choices)s.") % {"choices": ", ".join(MarketLine.values)}
    if not template:
        errors["template"] = _("Write the message.")
    elif len(template) > TEMPLATE_MAX:
        errors["template"] = _("Keep the message under %(n)d characters.") % {"n": TEMPLATE_MAX}
    else:
        _check_template(template, "template", errors)
    if channel == Channel.EMAIL and not subject:
        errors["subject"] = _("An email needs a subject.")
    _check_template(subject, "subject", errors)
    if errors:
        raise ValidationError(errors)
    values: dict[str, Any] = {
        "name": name[:100], "occasion": occasion, "holiday": holiday, "occasion_date": occasion_date,
        "days_before": int(days_before or 0), "kind": kind, "channel": channel, "subject": subject[:200],
        "template": template, "tiers": sorted(set(tiers)), "markets": sorted(set(markets)),
        "org_unit": org_unit, "active": bool(active)}
    with transaction.atomic():
        creating = plan is None
        plan = plan or CarePlan(created_by=acting_user)
        before = {key: _plain(getattr(plan, key, None)) for key in values} if not creating else {}
        for key, value in values.items():
            setattr(plan, key, value)
        plan.updated_at = timezone.now()
        plan.save()
        after = {key: _plain(value) for key, value in values.items()}
        audit.record(actor=acting_user, action="care_plan.save", obj=plan,
                     changes={k: [before.get(k), v] for k, v in after.items() if before.get(k) != v})
    return plan


def care_plan_delete(*, acting_user: User, plan: CarePlan) -> None:
    """Delete a care plan that has not sent a message yet. Audited (`care_plan.delete`, with what it was).

    A plan that has greeted customers stays, so that its messages keep naming it: it can be switched
    off instead (ValidationError saying so). PermissionDenied outside the planner's scope.
    """
    _check_planner(acting_user)
    with transaction.atomic():
        locked = care_plans_for(acting_user).select_for_update(of=("self",)).filter(pk=plan.pk).first()
        if locked is None:
            raise PermissionDenied(_("This care plan is outside your scope."))
        if locked.messages.exists():
            raise ValidationError(_("%(name)s has already sent messages: switch it off instead, so that its "
                                    "messages keep their plan.") % {"name": locked.name})
        values = {key: _plain(getattr(locked, key)) for key in PLAN_FIELDS}
        audit.record(actor=acting_user, action="care_plan.delete", obj=locked,
                     changes={key: [value, None] for key, value in values.items() if value not in (None, "", [])})
        locked.delete()


def care_plan_copy_initial(*, acting_user: User, plan: CarePlan) -> dict[str, Any]:
    """The form values of a new plan made from `plan` (a planner's own, within scope): the same
    occasion, message and audience, named as a copy and switched off until its author has looked at it."""
    _check_planner(acting_user)
    if not care_plans_for(acting_user).filter(pk=plan.pk).exists():
        raise PermissionDenied(_("This care plan is outside your scope."))
    values = {key: getattr(plan, key) for key in PLAN_FIELDS}
    values["name"] = (_("%(name)s (copy)") % {"name": plan.name})[:100]
    values["active"] = False
    return values


def _plain(value: Any) -> Any:
    if isinstance(value, OrgUnit):
        return value.code
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


# --- the daily run ------------------------------------------------------------------------------------------------

@dataclass
class PlanOutcome:
    plan: str
    occasion: str
    queued: int = 0


@dataclass
class CareRunOutcome:
    day: dt.date
    plans: list[PlanOutcome] = field(default_factory=list)
    sending: SendOutcome = field(default_factory=SendOutcome)

    @property
    def queued(self) -> int:
        return sum(p.queued for p in self.plans)


def _audience(plan: CarePlan) -> QuerySet[Customer]:
    """The plan's reachable, consenting customers, before the occasion narrows them."""
    customers = Customer.objects.filter(merged_into__isnull=True)
    if plan.tiers:
        customers = customers.filter(tier__in=plan.tiers)
    if plan.markets:
        customers = customers.filter(market__in=plan.markets)
    if plan.org_unit_id:
        customers = customers.filter(org_unit__path__startswith=plan.org_unit.path)
    customers = customers.exclude(email="") if plan.channel == Channel.EMAIL else customers.exclude(phone="")
    opted_out = ContactPreference.objects.filter(customer=OuterRef("pk"), marketing_opt_out=True)
    return customers.filter(~Exists(opted_out))


def _not_greeted(customers: QuerySet[Customer], occasion: str) -> QuerySet[Customer]:
    return customers.filter(~Exists(Message.objects.filter(customer=OuterRef("pk"), occasion=occasion)))


def _occasions(plan: CarePlan, day: dt.date, audience: QuerySet[Customer]
               ) -> Iterator[tuple[str, QuerySet[Customer]]]:
    """(occasion key, the customers to greet for it) for the plan on `day` (the occasion's own date)."""
    if plan.occasion == CareOccasion.HOLIDAY:
        if occasions.holiday_date(plan.holiday, day.year) == day:
            yield f"holiday:{plan.holiday}:{day.year}", audience
    elif plan.occasion == CareOccasion.CUSTOM:
        if plan.occasion_date == day:
            yield f"plan:{plan.pk}:{day.isoformat()}", audience
    elif plan.occasion == CareOccasion.BIRTHDAY:
        lunar = Exists(ContactPreference.objects.filter(customer=OuterRef("pk"), lunar_birthday=True))
        yield (f"birthday:{day.year}",
               audience.filter(~lunar, birth_date__in=occasions.solar_birth_dates_on(day)))
        yield (f"birthday:lunar:{occasions.to_lunar(day).year}",
               audience.filter(lunar, birth_date__in=occasions.lunar_birth_dates_on(day)))


def _owner_name() -> Subquery:
    owners = User.objects.filter(assignments__customer=OuterRef("pk"), assignments__active=True)
    shown = Coalesce(NullIf("name", Value("", output_field=CharField())), "username")
    return Subquery(owners.annotate(shown=shown).values("shown")[:1])


def _queue(plan: CarePlan, occasion: str, customers: QuerySet[Customer], now: dt.datetime) -> int:
    """Compose and queue the plan's message for each customer; returns how many were queued."""
    address = "email" if plan.channel == Channel.EMAIL else "phone"
    rows = (_not_greeted(customers, occasion).order_by("pk")
            .annotate(owner_name=_owner_name())
            .values_list("pk", "name", "customer_type", "gender", address, "org_unit__name", "owner_name"))
    batch: list[Message] = []
    for pk, name, customer_type, gender, recipient, branch, owner in rows.iterator(chunk_size=CHUNK):
        values = placeholder_values(name=name, customer_type=customer_type, gender=gender, owner=owner, branch=branch)
        body = render(plan.template, values) + consent_footer(kind=plan.kind, channel=plan.channel, customer_id=pk)
        batch.append(Message(customer_id=pk, channel=plan.channel, kind=plan.kind, care_plan=plan, occasion=occasion,
                             recipient=recipient, subject=render(plan.subject, values)[:200], body=body,
                             status=MessageStatus.QUEUED, created_at=now))
        if len(batch) >= CHUNK:
            Message.objects.bulk_create(batch, ignore_conflicts=True)
            batch = []
    if batch:
        Message.objects.bulk_create(batch, ignore_conflicts=True)
    return Message.objects.filter(care_plan=plan, occasion=occasion, created_at=now).count()


def care_plans_run(*, today: dt.date | None = None, send: bool = True) -> CareRunOutcome:
    """Queue today's greetings of every active plan and send them (`send`); the nightly job.

    Idempotent: run again the same day, it queues nobody twice and sends what is still queued.
    """
    today = today or timezone.localdate()
    outcome = CareRunOutcome(day=today)
    now = timezone.now()
    with translation.override(settings.LANGUAGE_CODE):  # customers read the bank's language, whoever runs it
        for plan in CarePlan.objects.filter(active=True).select_related("org_unit").order_by("id"):
            day = today + dt.timedelta(days=plan.days_before)
            for occasion, customers in _occasions(plan, day, _audience(plan)):
                outcome.plans.append(PlanOutcome(plan=plan.name, occasion=occasion,
                                                 queued=_queue(plan, occasion, customers, now)))
    if send:
        outcome.sending = messages_send()
    return outcome


def care_plan_preview(*, plan: CarePlan, day: dt.date) -> list[tuple[str, int]]:
    """(occasion as the planner reads it, customers who would be greeted) of the plan on `day` — for the plan
    page."""
    return [(occasion_label(occasion), _not_greeted(customers, occasion).count())
            for occasion, customers in _occasions(plan, day + dt.timedelta(days=plan.days_before), _audience(plan))]


def occasion_label(key: str) -> str:
    """A message's occasion key (`birthday:2026`, `birthday:lunar:2026`, `holiday:mid_autumn:2026`,
    `plan:7:2026-12-01`) as words."""
    parts = key.split(":")
    if parts[0] == "birthday":
        return _("lunar birthday") if len(parts) > 1 and parts[1] == "lunar" else _("birthday")
    if parts[0] == "holiday" and len(parts) == 3 and parts[1] in occasions.Holiday.values:
        return f"{occasions.Holiday(parts[1]).label} {parts[2]}"
    if parts[0] == "plan" and len(parts) == 3:
        return parts[2]
    return key
