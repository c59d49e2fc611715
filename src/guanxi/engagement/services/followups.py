"""Visit tasks (回访): frequency rules per tier and market line, nightly generation, completion.

A customer with an owner is due a visit `interval_months` after the last contact anyone of the bank
logged (or after registration, if nobody ever contacted them); the nightly job creates the task
`LEAD_DAYS` ahead of that date, so it shows on the owner's list before it is due. Completing a
task logs the contact (an Interaction) and opens the next task one interval later.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.core import audit
from guanxi.core.dates import add_months
from guanxi.core.models import User
from guanxi.core.roles import MarketLine, Role
from guanxi.customers.models import Customer, CustomerTier
from guanxi.engagement.models import Channel, FollowUp, FollowUpRule, FollowUpStatus, Interaction
from guanxi.engagement.services import interaction_log

LEAD_DAYS = 14
CHUNK = 2000
DEFAULT_INTERVALS = {CustomerTier.HIGH: 1, CustomerTier.MID: 3, CustomerTier.GENERAL: 12}


def intervals() -> dict[tuple[str, str], int]:
    """{(market, tier): months} for every market line and tier: the line's own active rule, else the
    bank-wide one (`market` empty); a tier without any active rule gets no visit tasks."""
    rules = {(r.market, r.tier): r.interval_months for r in FollowUpRule.objects.filter(active=True)}
    table = {}
    for market in MarketLine.values:
        for tier in CustomerTier.values:
            months = rules.get((market, tier), rules.get(("", tier)))
            if months:
                table[(market, tier)] = months
    return table


def _has_owner() -> Exists:
    return Exists(User.objects.filter(assignments__customer=OuterRef("pk"), assignments__active=True))


@dataclass
class GenerateOutcome:
    created: int = 0
    cancelled: int = 0


def followups_generate(*, today: dt.date | None = None) -> GenerateOutcome:
    """Create the visit tasks due within `LEAD_DAYS` for owned customers without an open task; the nightly job.

    Set-based per (market line, tier): SQL picks the customers whose last contact (or registration)
    is old enough, Python adds the months to each date, bulk inserts write the tasks (the partial
    unique constraint skips any customer that got an open task meanwhile). Open tasks of customers
    merged away are cancelled. Idempotent.
    """
    today = today or timezone.localdate()
    outcome = GenerateOutcome()
    outcome.cancelled = FollowUp.objects.filter(status=FollowUpStatus.OPEN, customer__merged_into__isnull=False
                                                ).update(status=FollowUpStatus.CANCELLED)
    last_contact = (Interaction.objects.filter(customer=OuterRef("pk")).order_by("-occurred_at")
                    .values("occurred_at")[:1])
    open_task = FollowUp.objects.filter(customer=OuterRef("pk"), status=FollowUpStatus.OPEN)
    now = timezone.now()
    horizon = today + dt.timedelta(days=LEAD_DAYS)
    for (market, tier), months in intervals().items():
        # Due on or before the horizon <=> the base date is on or before the horizon minus the interval.
        cutoff = timezone.make_aware(dt.datetime.combine(add_months(horizon, -months) + dt.timedelta(days=1),
                                                         dt.time.min))
        rows = (Customer.objects.filter(market=market, tier=tier, merged_into__isnull=True)
                .filter(_has_owner()).filter(~Exists(open_task))
                .annotate(last_contact=Subquery(last_contact))
                .filter(Q(last_contact__lt=cutoff) | Q(last_contact__isnull=True, created_at__lt=cutoff))
                .order_by("pk").values_list("pk", "last_contact", "created_at"))
        batch = []
        for pk, last, created in rows.iterator(chunk_size=CHUNK):
            base = timezone.localdate(last or created)
            batch.append(FollowUp(customer_id=pk, due_on=add_months(base, months), interval_months=months,
                                  created_at=now))
            if len(batch) >= CHUNK:
                FollowUp.objects.bulk_create(batch, ignore_conflicts=True)
                batch = []
        if batch:
            FollowUp.objects.bulk_create(batch, ignore_conflicts=True)
    outcome.created = FollowUp.objects.filter(created_at=now).count()
    return outcome


def followup_complete(*, user: User, follow_up: FollowUp, summary: str, channel: str = Channel.VISIT,
                      outcome: str = "", next_step: str = "", next_step_on: dt.date | None = None,
                      occurred_at: dt.datetime | None = None) -> FollowUp:
    """Complete an open visit task: log the contact (`interaction_log`, with its checks and audit) and
    open the next task one interval after today. Anyone who may log a contact on the customer may
    complete its task (usually the owner). Audited (`followup.complete`).
    """
    if follow_up.status != FollowUpStatus.OPEN:
        raise ValidationError({"status": _("This visit task is already closed.")})
    customer = follow_up.customer
    with transaction.atomic():
        locked = FollowUp.objects.select_for_update().get(pk=follow_up.pk)
        if locked.status != FollowUpStatus.OPEN:
            raise ValidationError({"status": _("This visit task is already closed.")})
        interaction = interaction_log(user=user, customer=customer, channel=channel, summary=summary,
                                      outcome=outcome, next_step=next_step, next_step_on=next_step_on,
                                      occurred_at=occurred_at)
        now = timezone.now()
        FollowUp.objects.filter(pk=locked.pk).update(status=FollowUpStatus.DONE, completed_at=now, completed_by=user,
                                                     interaction=interaction)
        months = intervals().get((customer.market, customer.tier), locked.interval_months)
        next_task = FollowUp.objects.create(customer=customer, interval_months=months, created_at=now,
                                            due_on=add_months(timezone.localdate(interaction.occurred_at), months))
        audit.record(actor=user, action="followup.complete", obj=customer, object_repr=str(customer),
                     changes={"follow_up": locked.pk, "due_on": locked.due_on.isoformat(),
                              "interaction": interaction.pk, "next_due_on": next_task.due_on.isoformat()})
    follow_up.refresh_from_db()
    return follow_up


# Who may change the visit frequencies: a line department its own line's rules, the system administrator
# the bank-wide ones (system configuration).
def _check_rule_editor(user: User, market: str) -> None:
    if user.role == Role.LINE_DEPT and user.is_active and market and market == user.market_line:
        return
    if user.role == Role.SYSADMIN and user.is_active:
        return
    raise PermissionDenied(_("You may not change this visit frequency."))


def followup_rule_save(*, acting_user: User, tier: str, market: str = "", interval_months: int,
                       active: bool = True) -> FollowUpRule:
    """Set how often customers of `tier` in `market` (empty: every line) are visited. Audited
    (`followup_rule.save`). Raises ValidationError naming the bad field, PermissionDenied (see above)."""
    errors = {}
    if tier not in CustomerTier.values:
        errors["tier"] = _("Choose a tier: %(choices)s.") % {"choices": ", ".join(CustomerTier.values)}
    if market and market not in MarketLine.values:
        errors["market"] = _("Choose a market line: %(choices)s.") % {"choices": ", ".join(MarketLine.values)}
    try:
        interval_months = int(interval_months)
    except (TypeError, ValueError):
        interval_months = 0
    if not 1 <= interval_months <= 60:
        errors["interval_months"] = _("Between 1 and 60 months.")
    if errors:
        raise ValidationError(errors)
    _check_rule_editor(acting_user, market)
    try:
        with transaction.atomic():
            rule = FollowUpRule.objects.select_for_update().filter(tier=tier, market=market).first()
            before = (rule.interval_months, rule.active) if rule else (None, None)
            if rule is None:
                rule = FollowUpRule(tier=tier, market=market)
            rule.interval_months, rule.active = interval_months, bool(active)
            rule.updated_at, rule.updated_by = timezone.now(), acting_user
            rule.save()
            audit.record(actor=acting_user, action="followup_rule.save", obj=rule,
                         changes={"interval_months": [before[0], interval_months], "active": [before[1], rule.active]})
    except IntegrityError:
        raise ValidationError({"tier": _("Someone saved this rule at the same time; try again.")}) from None
    return rule
