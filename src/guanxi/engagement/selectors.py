"""Read queries of engagement, always starting from the user's data scope."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db.models import CharField, DateField, F, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce, NullIf
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.core.models import OrgUnit, User
from guanxi.core.roles import OWN_SCOPE_ROLES, SUBTREE_SCOPE_ROLES, WRITER_ROLES, Role
from guanxi.customers.models import Customer
from guanxi.engagement.models import (
    Channel,
    ContactPreference,
    FollowUp,
    FollowUpRule,
    FollowUpStatus,
    Interaction,
    Message,
    MessageKind,
    MessageStatus,
    OptOutVia,
)

TIMELINE_LENGTH = 20


def day_start(day: dt.date) -> dt.datetime:
    """Midnight at the start of `day` in the bank's time zone (an aware datetime)."""
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def interaction_list(*, user: User, customer_no: str = "", staff: str = "", org_code: str = "", channel: str = "",
                     since: dt.date | None = None, until: dt.date | None = None) -> QuerySet[Interaction]:
    """Interactions the user may see, newest first; the list page and the API filter through this.

    `staff` is a username (who made the contact); `org_code` keeps the contacts made from that
    org unit's subtree; `since` / `until` are dates, both included. A bad channel is a
    ValidationError naming `channel`; an unknown org unit or staff member simply matches nothing.
    """
    interactions = Interaction.objects.visible_to(user)
    if customer_no:
        interactions = interactions.filter(customer__customer_no=customer_no.strip())
    if staff:
        interactions = interactions.filter(staff__username=staff.strip())
    if channel:
        if channel not in Channel.values:
            raise ValidationError({"channel": _("Choose a channel: %(choices)s.")
                                   % {"choices": ", ".join(Channel.values)}})
        interactions = interactions.filter(channel=channel)
    if org_code:
        root = OrgUnit.objects.filter(code=org_code).only("path").first()
        interactions = (interactions.filter(org_unit__path__startswith=root.path) if root
                        else interactions.none())
    if since:
        interactions = interactions.filter(occurred_at__gte=day_start(since))
    if until:
        interactions = interactions.filter(occurred_at__lt=day_start(until + dt.timedelta(days=1)))
    return interactions.select_related("customer", "staff", "org_unit").order_by("-occurred_at", "-id")


@dataclass
class TimelineEntry:
    """One line of a customer's timeline: a contact someone logged (`source` "interaction": `direction`,
    `summary`, `outcome`, `next_step`) or a message the bank sent (`source` "message": `kind`, `subject`,
    the text in `summary`, `status`). `who` is the staff member, or the care plan of a message."""

    source: str
    pk: int
    at: dt.datetime
    channel: str
    who: str
    subject: str
    summary: str
    outcome: str
    state: str
    next_step: str
    next_step_on: dt.date | None

    @property
    def channel_label(self) -> str:
        return Channel(self.channel).label if self.channel in Channel.values else self.channel

    @property
    def kind_label(self) -> str:
        return MessageKind(self.outcome).label if self.outcome in MessageKind.values else self.outcome

    @property
    def status_label(self) -> str:
        return MessageStatus(self.state).label if self.state in MessageStatus.values else self.state


_TIMELINE_FIELDS = ("source", "pk", "at", "channel", "who", "title", "text", "extra", "state", "step", "step_on")


def customer_timeline(customer: Customer, *, limit: int = TIMELINE_LENGTH) -> list[TimelineEntry]:
    """The latest contacts and messages of a customer the caller already fetched through the user's scope,
    newest first, as one timeline. One query (a UNION ALL of both tables)."""
    text = CharField()
    interactions = Interaction.objects.filter(customer=customer).annotate(
        source=Value("interaction", text), at=F("occurred_at"),
        who=Coalesce(NullIf(F("staff__name"), Value("", text)), F("staff__username")),
        title=Value("", text), text=F("summary"), extra=F("outcome"), state=F("direction"), step=F("next_step"),
        step_on=F("next_step_on"),
    ).order_by().values_list(*_TIMELINE_FIELDS)
    messages = Message.objects.filter(customer=customer).exclude(status=MessageStatus.QUEUED).annotate(
        source=Value("message", text), at=Coalesce(F("sent_at"), F("created_at")),
        who=Coalesce(F("care_plan__name"), Value("", text)), title=F("subject"), text=F("body"), extra=F("kind"),
        state=F("status"), step=Value("", text), step_on=Value(None, DateField()),
    ).order_by().values_list(*_TIMELINE_FIELDS)
    rows = interactions.union(messages, all=True).order_by("-at", "-pk")[:limit]
    return [TimelineEntry(*row) for row in rows]


@dataclass
class CustomerCare:
    """The open visit task and the message preferences of one customer (defaults when none recorded)."""

    follow_up_due_on: dt.date | None = None
    marketing_opt_out: bool = False
    opted_out_at: dt.datetime | None = None
    opted_out_via: str = ""
    lunar_birthday: bool = False

    @property
    def follow_up_overdue(self) -> bool:
        return self.follow_up_due_on is not None and self.follow_up_due_on < timezone.localdate()

    @property
    def opted_out_via_label(self) -> str:
        return OptOutVia(self.opted_out_via).label if self.opted_out_via in OptOutVia.values else ""


def customer_care(customer: Customer) -> CustomerCare:
    """One query: the customer's open visit task's due date and the consent and birthday preferences."""
    preference = ContactPreference.objects.filter(customer=OuterRef("pk"))
    row = Customer.objects.filter(pk=customer.pk).annotate(
        due_on=Subquery(FollowUp.objects.filter(customer=OuterRef("pk"), status=FollowUpStatus.OPEN)
                        .values("due_on")[:1]),
        opt_out=Subquery(preference.values("marketing_opt_out")[:1]),
        opted_at=Subquery(preference.values("opted_out_at")[:1]),
        via=Subquery(preference.values("opted_out_via")[:1]),
        lunar=Subquery(preference.values("lunar_birthday")[:1]),
    ).values_list("due_on", "opt_out", "opted_at", "via", "lunar").first()
    if row is None:
        return CustomerCare()
    due_on, opt_out, opted_at, via, lunar = row
    return CustomerCare(follow_up_due_on=due_on, marketing_opt_out=bool(opt_out), opted_out_at=opted_at,
                        opted_out_via=via or "", lunar_birthday=bool(lunar))


def contact_preference(customer: Customer) -> ContactPreference:
    """The customer's preferences, or the defaults (unsaved) when none were ever recorded."""
    return ContactPreference.objects.filter(customer=customer).first() or ContactPreference(customer=customer)


def my_follow_ups(*, user: User, overdue_only: bool = False) -> QuerySet[FollowUp]:
    """The open visit tasks of the customers `user` owns now, soonest due first."""
    tasks = FollowUp.objects.assigned_to(user)
    if overdue_only:
        tasks = tasks.filter(due_on__lt=timezone.localdate())
    return tasks.select_related("customer", "customer__org_unit").order_by("due_on", "id")


def follow_up_list(*, user: User, owner: str = "", overdue_only: bool = False,
                   status: str = FollowUpStatus.OPEN) -> QuerySet[FollowUp]:
    """Visit tasks of the customers in the user's scope (`owner`: a username, whose current customers only)."""
    if status and status not in FollowUpStatus.values:
        raise ValidationError({"status": _("Choose a status: %(choices)s.")
                               % {"choices": ", ".join(FollowUpStatus.values)}})
    tasks = FollowUp.objects.visible_to(user)
    if status:
        tasks = tasks.filter(status=status)
    if owner:
        tasks = tasks.filter(customer__assignments__owner__username=owner.strip(), customer__assignments__active=True)
    if overdue_only:
        tasks = tasks.filter(due_on__lt=timezone.localdate())
    return tasks.select_related("customer", "customer__org_unit", "completed_by").order_by("due_on", "id")


def message_list(*, user: User, customer_no: str = "", status: str = "", channel: str = "",
                 occasion: str = "") -> QuerySet[Message]:
    """Messages to the customers in the user's scope, newest first."""
    if status and status not in MessageStatus.values:
        raise ValidationError({"status": _("Choose a status: %(choices)s.")
                               % {"choices": ", ".join(MessageStatus.values)}})
    messages = Message.objects.visible_to(user)
    if customer_no:
        messages = messages.filter(customer__customer_no=customer_no.strip())
    if status:
        messages = messages.filter(status=status)
    if channel:
        messages = messages.filter(channel=channel)
    if occasion:
        messages = messages.filter(occasion=occasion)
    return messages.select_related("customer", "care_plan").order_by("-created_at", "-id")


def followup_rules() -> QuerySet[FollowUpRule]:
    """The visit frequency rules (configuration, no customer data: every staff member may read them)."""
    return FollowUpRule.objects.select_related("updated_by").order_by("market", "tier")


def filter_org_units(user: User) -> QuerySet[OrgUnit]:
    """Org units offered in the list's filter: a head's subtree; the whole tree for bank-wide roles."""
    if user.role in (Role.LINE_DEPT, Role.AUDITOR):
        return OrgUnit.objects.all()
    if user.role in SUBTREE_SCOPE_ROLES and user.org_unit_id:
        return OrgUnit.objects.subtree(user.org_unit)
    return OrgUnit.objects.none()


def filter_staff(user: User) -> QuerySet[User]:
    """Staff offered in the list's "who" filter: colleagues of the user's unit (or subtree, or the bank)."""
    staff = User.objects.filter(role__in=WRITER_ROLES)
    if user.role in (Role.LINE_DEPT, Role.AUDITOR):
        pass
    elif user.role in SUBTREE_SCOPE_ROLES and user.org_unit_id:
        staff = staff.filter(org_unit__path__startswith=user.org_unit.path)
    elif user.role in OWN_SCOPE_ROLES and user.org_unit_id:
        staff = staff.filter(org_unit=user.org_unit_id)
    else:
        return User.objects.none()
    return staff.select_related("org_unit").order_by("org_unit__path", "username")
