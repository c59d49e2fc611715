"""Business operations of engagement: the only writers of its records.

Each operation takes the acting user (None: the system, for the nightly jobs and the customer's own
opt-out), runs in one transaction and writes its audit entry there. Contacts are here; visit tasks
in `followups`, consent in `consent`, care plans in `care`, sending in `messages`.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.core import audit
from guanxi.core.models import User
from guanxi.customers.models import Customer
from guanxi.engagement.models import Channel, Direction, Interaction

# A client's clock may run a little ahead of the server's; more than this is "in the future".
CLOCK_SKEW = timedelta(minutes=2)
SUMMARY_MAX = 4000


def interaction_log(*, user: User, customer: Customer, channel: str, summary: str,
                    direction: str = Direction.OUTBOUND, occurred_at: datetime | None = None, outcome: str = "",
                    next_step: str = "", next_step_on: date | None = None) -> Interaction:
    """Record that `user` was in contact with `customer`; returns the new Interaction.

    Allowed to staff who may write customer data (not the auditor, not the administrators:
    PermissionDenied), on a customer they can see (PermissionDenied otherwise — pages and the
    API fetch the customer through the user's scope first and answer 404). `occurred_at`
    defaults to now and may not lie in the future; a naive time is read in the bank's time
    zone. Raises ValidationError naming each bad field. Audited (`interaction.log`).
    """
    if not user.can_write_customers:
        raise PermissionDenied(_("your role may not change customer data"))
    if not Customer.objects.visible_to(user).filter(pk=customer.pk).exists():
        raise PermissionDenied(_("This customer is outside your scope."))
    now = timezone.now()
    if occurred_at is None:
        occurred_at = now
    elif timezone.is_naive(occurred_at):
        occurred_at = timezone.make_aware(occurred_at)
    summary, outcome, next_step = (summary or "").strip(), (outcome or "").strip(), (next_step or "").strip()
    errors: dict[str, str] = {}
    if channel not in Channel.values:
        errors["channel"] = _("Choose a channel: %(choices)s.") % {"choices": ", ".join(Channel.values)}
    if direction not in Direction.values:
        errors["direction"] = _("Choose outbound or inbound.")
    if not summary:
        errors["summary"] = _("Write what the contact was about.")
    elif len(summary) > SUMMARY_MAX:
        errors["summary"] = _("Keep the summary under %(n)d characters.") % {"n": SUMMARY_MAX}
    if occurred_at > now + CLOCK_SKEW:
        errors["occurred_at"] = _("The contact time cannot be in the future.")
    if next_step_on is not None and next_step_on < timezone.localtime(occurred_at).date():
        errors["next_step_on"] = _("The next step cannot be due before the contact.")
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        # Staff without a unit (rare: some head-office users) are reported under the customer's unit.
        interaction = Interaction.objects.create(
            customer=customer, staff=user, org_unit_id=user.org_unit_id or customer.org_unit_id,
            channel=channel, direction=direction, occurred_at=occurred_at, summary=summary, outcome=outcome,
            next_step=next_step, next_step_on=next_step_on, created_at=now,
        )
        audit.record(actor=user, action="interaction.log", obj=interaction, object_repr=str(customer),
                     changes={"customer": customer.customer_no, "channel": channel, "direction": direction,
                              "occurred_at": timezone.localtime(occurred_at).isoformat(timespec="minutes"),
                              "next_step_on": next_step_on.isoformat() if next_step_on else None})
    return interaction
