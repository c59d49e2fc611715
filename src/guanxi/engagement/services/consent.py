"""Consent (PIPL) and contact preferences: opting out of marketing and care messages, lunar birthdays.

A customer opts out in one click (the signed link in every care or marketing email), in one reply
(TD or 退订 to any text) or by telling staff. Opting back in needs the customer's word, recorded by
staff. Service messages are not affected by an opt-out.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

from django.core import signing
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.core import audit
from guanxi.core.models import User
from guanxi.customers.models import Customer
from guanxi.engagement.models import ContactPreference, OptOutVia

UNSUBSCRIBE_SALT = "guanxi.engagement.unsubscribe"
# Replies that opt out (compared after NFKC, upper-cased, without spaces and punctuation).
OPT_OUT_KEYWORDS = frozenset({"TD", "退订"})


def unsubscribe_token(customer_id: int) -> str:
    """A signed, non-expiring token naming the customer, for the unsubscribe link.

    Without a timestamp, so a customer's token is always the same: the link in a message's
    text and its List-Unsubscribe header, made at different times, are one link.
    """
    return signing.Signer(salt=UNSUBSCRIBE_SALT).sign_object(customer_id, compress=True)


def unsubscribe_customer_id(token: str) -> int | None:
    """The customer a token names, or None when it is not one of ours."""
    try:
        if token.count(":") == 2:  # value:timestamp:signature, a link sent before tokens lost their timestamp
            value = signing.loads(token, salt=UNSUBSCRIBE_SALT)
        else:
            value = signing.Signer(salt=UNSUBSCRIBE_SALT).unsign_object(token)
    except (signing.BadSignature, ValueError):
        return None
    return value if type(value) is int else None


def unsubscribe_url(customer_id: int) -> str:
    from django.conf import settings

    return settings.BASE_URL + reverse("engagement:unsubscribe", args=[unsubscribe_token(customer_id)])


def marketing_opt_out(*, customer_ids: Iterable[int], via: str, acting_user: User | None = None) -> int:
    """Opt the customers out of marketing and care messages; returns how many were opted in before.

    Set-based (one upsert); idempotent (an opted-out customer keeps the time and way of the first
    opt-out). `acting_user` None is the customer themself (link, reply). Audited per customer
    (`consent.opt_out`).
    """
    ids = sorted(set(customer_ids))
    if not ids:
        return 0
    now = timezone.now()
    with transaction.atomic():
        already = set(ContactPreference.objects.filter(customer_id__in=ids, marketing_opt_out=True)
                      .values_list("customer_id", flat=True))
        changed = [pk for pk in ids if pk not in already]
        if not changed:
            return 0
        ContactPreference.objects.bulk_create(
            [ContactPreference(customer_id=pk, marketing_opt_out=True, opted_out_at=now, opted_out_via=via,
                               updated_at=now) for pk in changed],
            update_conflicts=True, unique_fields=["customer"],
            update_fields=["marketing_opt_out", "opted_out_at", "opted_out_via", "updated_at"])
        names = dict(Customer.objects.filter(pk__in=changed).values_list("pk", "customer_no"))
        for pk in changed:
            audit.record(actor=acting_user, action="consent.opt_out", object_type="customers.customer",
                         object_id=pk, object_repr=names.get(pk, ""),
                         changes={"marketing_opt_out": [False, True], "via": via})
    return len(changed)


def _keyword(text: str) -> str:
    text = unicodedata.normalize("NFKC", text or "").upper()
    return "".join(ch for ch in text if not (ch.isspace() or unicodedata.category(ch).startswith("P")))


def sms_reply_receive(*, phone: str, text: str) -> int:
    """A customer's reply to a text: TD / 退订 opts out every customer with that mobile number.

    Returns how many customers were opted out (0 for any other reply). Merged-away records are left alone.
    """
    if _keyword(text) not in OPT_OUT_KEYWORDS:
        return 0
    number = "".join(ch for ch in unicodedata.normalize("NFKC", phone) if ch.isdigit())
    if number.startswith("86") and len(number) == 13:
        number = number[2:]
    ids = Customer.objects.filter(phone=number, merged_into__isnull=True).values_list("pk", flat=True)
    return marketing_opt_out(customer_ids=list(ids), via=OptOutVia.SMS_REPLY)


def contact_preference_set(*, acting_user: User, customer: Customer, marketing_opt_out: bool | None = None,
                           lunar_birthday: bool | None = None) -> ContactPreference:
    """Staff record what the customer told them: opting out or back in, and the birthday to keep.

    Allowed to staff who may write customer data, on a customer they can see (PermissionDenied
    otherwise). Audited (`consent.set`) with the changed values.
    """
    if not acting_user.can_write_customers:
        raise PermissionDenied(_("your role may not change customer data"))
    if not Customer.objects.visible_to(acting_user).filter(pk=customer.pk).exists():
        raise PermissionDenied(_("This customer is outside your scope."))
    now = timezone.now()
    with transaction.atomic():
        preference, _created = ContactPreference.objects.select_for_update().get_or_create(customer=customer)
        changes: dict[str, list] = {}
        if marketing_opt_out is not None and marketing_opt_out != preference.marketing_opt_out:
            changes["marketing_opt_out"] = [preference.marketing_opt_out, marketing_opt_out]
            preference.marketing_opt_out = marketing_opt_out
            preference.opted_out_at = now if marketing_opt_out else None
            preference.opted_out_via = OptOutVia.STAFF if marketing_opt_out else ""
        if lunar_birthday is not None and lunar_birthday != preference.lunar_birthday:
            changes["lunar_birthday"] = [preference.lunar_birthday, lunar_birthday]
            preference.lunar_birthday = lunar_birthday
        if changes:
            preference.updated_at = now
            preference.save()
            audit.record(actor=acting_user, action="consent.set", obj=customer, changes=changes)
    return preference
