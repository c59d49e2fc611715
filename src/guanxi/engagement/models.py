"""Keeping in touch with customers (客户维护): contacts, visit tasks, care plans and messages.

`Interaction` is the one record of "someone of the bank was in contact with a customer": the
single source for "when was this customer last contacted" and for the follow-up tracking report
(跟踪问效) of `relationships`. A completed visit task (`FollowUp`) points at the Interaction it
wrote. Messages the system sends by itself (`Message`: care greetings, marketing, service notices)
are not Interactions — an automatic birthday text is no contact by a relationship manager and must
not make a customer look looked after — but the customer page shows both on one timeline.

`CarePlan` says what to send on which occasion to whom; `ContactPreference` holds the customer's
consent (PIPL opt-out of marketing and care messages) and lunar-birthday preference;
`FollowUpRule` says how often customers of a tier and market line are visited.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from guanxi.core.models import OrgUnit, User
from guanxi.core.roles import MarketLine
from guanxi.customers.models import Customer, CustomerTier
from guanxi.engagement.occasions import Holiday


class Channel(models.TextChoices):
    """How the contact was made; message channels (SMS, email, WeChat) reuse these codes."""

    PHONE = "phone", _("Phone")
    VISIT = "visit", _("On-site visit")
    COUNTER = "counter", _("At the counter")
    SMS = "sms", _("SMS")
    EMAIL = "email", _("Email")
    WECHAT = "wechat", _("WeChat")
    OTHER = "other", _("Other")


class Direction(models.TextChoices):
    OUTBOUND = "outbound", _("Outbound (we contacted the customer)")
    INBOUND = "inbound", _("Inbound (the customer contacted us)")


class InteractionQuerySet(models.QuerySet):
    def visible_to(self, user: User | None) -> InteractionQuerySet:
        """Interactions of the customers `user` may see (`Customer.objects.visible_to`), nothing else."""
        return self.filter(customer__in=Customer.objects.visible_to(user).values("pk"))


class Interaction(models.Model):
    """One contact with a customer: who, when, how, what was said and what comes next.

    `org_unit` is the staff member's unit at the time of the contact, kept so that reports by
    branch do not move when the staff member later changes unit. `occurred_at` is never in the
    future. Written only by `engagement.services.interaction_log` (audited).
    """

    customer = models.ForeignKey(Customer, verbose_name=_("customer"), on_delete=models.CASCADE,
                                 related_name="interactions")
    staff = models.ForeignKey(User, verbose_name=_("staff member"), on_delete=models.PROTECT,
                              related_name="interactions")
    org_unit = models.ForeignKey(OrgUnit, verbose_name=_("org unit"), on_delete=models.PROTECT, related_name="+")
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    direction = models.CharField(_("contact direction"), max_length=10, choices=Direction.choices,
                                 default=Direction.OUTBOUND)
    occurred_at = models.DateTimeField(_("contact time"), default=timezone.now)
    summary = models.TextField(_("summary"))
    outcome = models.TextField(_("outcome"), blank=True)
    next_step = models.TextField(_("next step"), blank=True)
    next_step_on = models.DateField(_("next step on"), null=True, blank=True)
    created_at = models.DateTimeField(_("recorded at"), default=timezone.now)

    objects = InteractionQuerySet.as_manager()

    class Meta:
        ordering = ["-occurred_at", "-id"]
        verbose_name = _("interaction")
        verbose_name_plural = _("interactions")
        indexes = [
            models.Index(fields=["customer", "occurred_at"], name="interaction_customer_time"),
            models.Index(fields=["staff", "occurred_at"], name="interaction_staff_time"),
            models.Index(fields=["org_unit", "occurred_at"], name="interaction_unit_time"),
            # The bank-wide list (auditor, line departments) reads newest first without sorting everything.
            models.Index(fields=["occurred_at"], name="interaction_time"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(channel__in=Channel.values), name="interaction_channel_valid"),
            models.CheckConstraint(condition=Q(direction__in=Direction.values), name="interaction_direction_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.channel} {self.occurred_at:%Y-%m-%d %H:%M}"


# --- visit tasks (回访) -------------------------------------------------------------------------------------------

class FollowUpRule(models.Model):
    """How often the owner visits customers of a tier, in one market line or (`market` empty) in all.

    The rule of the customer's own market line wins over the bank-wide one of its tier. Defaults
    (a data migration): high monthly, mid quarterly, general yearly. Written only by
    `services.followups.followup_rule_save` (audited).
    """

    tier = models.CharField(_("tier"), max_length=10, choices=CustomerTier.choices)
    market = models.CharField(_("market line"), max_length=10, choices=MarketLine.choices, blank=True,
                              help_text=_("empty: every market line"))
    interval_months = models.PositiveSmallIntegerField(_("visit every (months)"))
    active = models.BooleanField(_("active"), default=True)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)
    updated_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["market", "tier"]
        verbose_name = _("visit frequency rule")
        verbose_name_plural = _("visit frequency rules")
        constraints = [
            models.UniqueConstraint(fields=["tier", "market"], name="one_followup_rule_per_tier_and_market"),
            models.CheckConstraint(condition=Q(interval_months__gte=1, interval_months__lte=60),
                                   name="followup_rule_interval_range"),
        ]

    def __str__(self) -> str:
        return f"{self.market or '*'}/{self.tier}: {self.interval_months}"


class FollowUpStatus(models.TextChoices):
    OPEN = "open", _("Open")
    DONE = "done", _("Done")
    CANCELLED = "cancelled", _("Cancelled")


class FollowUpQuerySet(models.QuerySet):
    def visible_to(self, user: User | None) -> FollowUpQuerySet:
        """Visit tasks of the customers `user` may see (`Customer.objects.visible_to`), nothing else."""
        return self.filter(customer__in=Customer.objects.visible_to(user).values("pk"))

    def assigned_to(self, user: User) -> FollowUpQuerySet:
        """Open tasks of the customers `user` owns now: a task follows the customer's active owner, so
        every path that changes an owner (a change, the rules, a transfer, a merge) moves open tasks."""
        return self.filter(status=FollowUpStatus.OPEN, customer__assignments__owner=user,
                           customer__assignments__active=True, customer__merged_into__isnull=True)


class FollowUp(models.Model):
    """A visit task (回访): the customer's owner should contact the customer by `due_on`.

    At most one open task per customer (a partial unique constraint, so the nightly generation can
    run twice, or beside a completion, without doubling tasks). Whose task it is is not stored: it
    is the customer's current owner (`assigned_to`). Completing it writes the Interaction
    (`interaction`) and schedules the next one. Written only by `services.followups`.
    """

    customer = models.ForeignKey(Customer, verbose_name=_("customer"), on_delete=models.CASCADE,
                                 related_name="follow_ups")
    due_on = models.DateField(_("due on"))
    interval_months = models.PositiveSmallIntegerField(_("visit every (months)"))
    status = models.CharField(_("status"), max_length=10, choices=FollowUpStatus.choices,
                              default=FollowUpStatus.OPEN)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)
    completed_by = models.ForeignKey(User, verbose_name=_("completed by"), null=True, blank=True,
                                     on_delete=models.PROTECT, related_name="+")
    interaction = models.OneToOneField(Interaction, verbose_name=_("contact"), null=True, blank=True,
                                       on_delete=models.SET_NULL, related_name="follow_up")

    objects = FollowUpQuerySet.as_manager()

    class Meta:
        ordering = ["due_on", "id"]
        verbose_name = _("visit task")
        verbose_name_plural = _("visit tasks")
        constraints = [
            models.UniqueConstraint(fields=["customer"], condition=Q(status="open"),
                                    name="one_open_followup_per_customer"),
            models.CheckConstraint(condition=Q(status__in=FollowUpStatus.values), name="followup_status_valid"),
        ]
        indexes = [models.Index(fields=["customer", "status"], name="followup_customer_status"),
                   models.Index(fields=["status", "due_on"], name="followup_status_due")]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.due_on} {self.status}"

    @property
    def overdue(self) -> bool:
        return self.status == FollowUpStatus.OPEN and self.due_on < timezone.localdate()


# --- consent and preferences ---------------------------------------------------------------------------------------

class OptOutVia(models.TextChoices):
    LINK = "link", _("Unsubscribe link")
    SMS_REPLY = "sms_reply", _("SMS reply")
    STAFF = "staff", _("Recorded by staff")


class ContactPreference(models.Model):
    """A customer's consent and preferences for messages; no row means the defaults.

    `marketing_opt_out`: the customer refused marketing and care messages (PIPL); only service
    messages still reach them. Set in one click (the signed link of every email), one reply (TD /
    退订 to a text) or by staff on the customer's word, and reversed only by staff on the
    customer's word. `lunar_birthday`: greet on the lunar birthday instead of the Gregorian one.
    Written only by `services.consent` (audited).
    """

    customer = models.OneToOneField(Customer, verbose_name=_("customer"), on_delete=models.CASCADE,
                                    related_name="contact_preference")
    marketing_opt_out = models.BooleanField(_("opted out of marketing and care messages"), default=False)
    opted_out_at = models.DateTimeField(_("opted out at"), null=True, blank=True)
    opted_out_via = models.CharField(_("opted out by"), max_length=10, choices=OptOutVia.choices, blank=True)
    lunar_birthday = models.BooleanField(_("prefers the lunar birthday"), default=False)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    class Meta:
        verbose_name = _("contact preference")
        verbose_name_plural = _("contact preferences")

    def __str__(self) -> str:
        return f"{self.customer_id} opt-out={self.marketing_opt_out} lunar={self.lunar_birthday}"


# --- care plans (关怀) and messages --------------------------------------------------------------------------------

class CareOccasion(models.TextChoices):
    BIRTHDAY = "birthday", _("Birthday")
    HOLIDAY = "holiday", _("Holiday")
    CUSTOM = "custom", _("Custom date")


class MessageKind(models.TextChoices):
    """Marketing and care messages need consent; service messages (notices about the customer's own
    business with the bank) do not and are never stopped by an opt-out."""

    SERVICE = "service", _("Service")
    CARE = "care", _("Care")
    MARKETING = "marketing", _("Marketing")


MESSAGE_CHANNELS = (Channel.SMS, Channel.EMAIL)


class CarePlan(models.Model):
    """What to send, on which occasion, to whom, through which channel.

    `occasion`: every customer's birthday, a `holiday`, or a `custom` date (`occasion_date`),
    greeted `days_before` days ahead. The audience: current customers of the `tiers`, `markets`
    (empty: all) and `org_unit` subtree (empty: the bank) who can be reached on the channel and
    have not opted out. `template` (and the email `subject`) may use the placeholders of
    `services.care.PLACEHOLDERS`. Written only by `services.care.care_plan_save` (audited).
    """

    name = models.CharField(_("name"), max_length=100)
    occasion = models.CharField(_("occasion"), max_length=10, choices=CareOccasion.choices)
    holiday = models.CharField(_("holiday"), max_length=20, choices=Holiday.choices, blank=True)
    occasion_date = models.DateField(_("date"), null=True, blank=True)
    days_before = models.PositiveSmallIntegerField(_("days ahead"), default=0)
    kind = models.CharField(_("message kind"), max_length=10, choices=MessageKind.choices, default=MessageKind.CARE)
    channel = models.CharField(_("channel"), max_length=10,
                               choices=[(c.value, c.label) for c in MESSAGE_CHANNELS])
    subject = models.CharField(_("email subject"), max_length=200, blank=True)
    template = models.TextField(_("message template"))
    tiers = models.JSONField(_("tiers"), default=list, blank=True)
    markets = models.JSONField(_("market lines"), default=list, blank=True)
    org_unit = models.ForeignKey(OrgUnit, verbose_name=_("org unit"), null=True, blank=True,
                                 on_delete=models.PROTECT, related_name="+")
    active = models.BooleanField(_("active"), default=True)
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    class Meta:
        ordering = ["occasion", "name", "id"]
        verbose_name = _("care plan")
        verbose_name_plural = _("care plans")
        constraints = [
            models.CheckConstraint(condition=Q(occasion__in=CareOccasion.values), name="care_plan_occasion_valid"),
            models.CheckConstraint(condition=~Q(kind="service"), name="care_plan_not_service"),
        ]

    def __str__(self) -> str:
        return self.name


class MessageStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")


class MessageQuerySet(models.QuerySet):
    def visible_to(self, user: User | None) -> MessageQuerySet:
        """Messages to the customers `user` may see (`Customer.objects.visible_to`), nothing else."""
        return self.filter(customer__in=Customer.objects.visible_to(user).values("pk"))


class Message(models.Model):
    """One message to one customer (email or SMS) and what became of it.

    `occasion` names what a greeting was for (`birthday:2025`, `holiday:mid_autumn:2025`,
    `plan:7:2025-06-01`); a customer has at most one message per occasion — a partial unique
    constraint, so a care run that runs again, or twice at once, never greets anyone twice.
    Queued by `services.care` (and other senders), sent by `services.messages.messages_send`.
    """

    customer = models.ForeignKey(Customer, verbose_name=_("customer"), on_delete=models.CASCADE,
                                 related_name="messages")
    channel = models.CharField(_("channel"), max_length=10, choices=[(c.value, c.label) for c in MESSAGE_CHANNELS])
    kind = models.CharField(_("message kind"), max_length=10, choices=MessageKind.choices)
    care_plan = models.ForeignKey(CarePlan, verbose_name=_("care plan"), null=True, blank=True,
                                  on_delete=models.SET_NULL, related_name="messages")
    occasion = models.CharField(_("occasion"), max_length=60, blank=True)
    recipient = models.CharField(_("recipient"), max_length=254)
    subject = models.CharField(_("subject"), max_length=200, blank=True)
    body = models.TextField(_("text"))
    status = models.CharField(_("status"), max_length=10, choices=MessageStatus.choices, default=MessageStatus.QUEUED)
    error = models.TextField(_("error"), blank=True)
    gateway_id = models.CharField(_("gateway message id"), max_length=100, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    objects = MessageQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        constraints = [
            models.UniqueConstraint(fields=["customer", "occasion"], condition=~Q(occasion=""),
                                    name="one_message_per_customer_and_occasion"),
            models.CheckConstraint(condition=Q(status__in=MessageStatus.values), name="message_status_valid"),
            models.CheckConstraint(condition=Q(kind__in=MessageKind.values), name="message_kind_valid"),
        ]
        indexes = [models.Index(fields=["customer", "created_at"], name="message_customer_time"),
                   models.Index(fields=["status", "channel", "id"], name="message_status_queue"),
                   models.Index(fields=["care_plan", "status"], name="message_plan_status")]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.channel} {self.status}"
