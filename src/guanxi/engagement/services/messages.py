"""Sending queued messages: email through Django's mail backend, SMS through the configured gateway.

Messages are queued first (rows with status `queued`, written set-based by whoever composes them)
and sent afterwards, outside any transaction that could roll back. A batch is claimed (`sending`)
in its own short transaction — rows locked by another worker are skipped — then sent at the
channel's rate (`settings.MESSAGE_RATES`) and marked `sent` or `failed` in bulk. A message left
`sending` by a crash is not sent again: a missing greeting is better than a double one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.engagement.gateways import OutgoingSms, SmsResult, sms_gateway
from guanxi.engagement.models import Channel, Message, MessageKind, MessageStatus
from guanxi.engagement.services.consent import unsubscribe_url

BATCH = 200
SMS_PER_REQUEST = 100


class RateLimiter:
    """At most `per_second` calls of `wait()` per second (0: no limit), spaced evenly."""

    def __init__(self, per_second: float):
        self.interval = 1.0 / per_second if per_second and per_second > 0 else 0.0
        self.next_at = time.monotonic()

    def wait(self) -> None:
        if not self.interval:
            return
        now = time.monotonic()
        if self.next_at > now:
            time.sleep(self.next_at - now)
        self.next_at = max(now, self.next_at) + self.interval


@dataclass
class SendOutcome:
    sent: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, other: SendOutcome) -> None:
        self.sent += other.sent
        self.failed += other.failed
        self.errors += other.errors[: 20 - len(self.errors)]


def consent_footer(*, kind: str, channel: str, customer_id: int) -> str:
    """The way out that every care or marketing message carries (none on service messages)."""
    if kind == MessageKind.SERVICE:
        return ""
    if channel == Channel.SMS:
        return _(" Reply TD to unsubscribe.")
    return "\n\n--\n" + _("To stop receiving greetings and offers from us: %(url)s") % {
        "url": unsubscribe_url(customer_id)}


def _claim(channel: str, limit: int) -> list[Message]:
    """Mark up to `limit` queued messages of the channel as being sent by this worker, oldest first."""
    with transaction.atomic():
        ids = list(Message.objects.filter(status=MessageStatus.QUEUED, channel=channel).order_by("id")
                   .select_for_update(skip_locked=True).values_list("pk", flat=True)[:limit])
        if not ids:
            return []
        Message.objects.filter(pk__in=ids).update(status=MessageStatus.SENDING)
    return list(Message.objects.filter(pk__in=ids).order_by("id"))


def _record(messages: list[Message], results: list[SmsResult]) -> SendOutcome:
    now = timezone.now()
    outcome = SendOutcome()
    for message, result in zip(messages, results, strict=True):
        message.status = MessageStatus.SENT if result.ok else MessageStatus.FAILED
        message.gateway_id = result.gateway_id[:100]
        message.error = result.error
        message.sent_at = now if result.ok else None
        if result.ok:
            outcome.sent += 1
        else:
            outcome.failed += 1
            outcome.errors.append(f"{message.pk}: {result.error}")
    Message.objects.bulk_update(messages, ["status", "gateway_id", "error", "sent_at"], batch_size=500)
    return outcome


def _send_emails(messages: list[Message], limiter: RateLimiter) -> list[SmsResult]:
    results = []
    with get_connection() as connection:
        for message in messages:
            headers = {}
            if message.kind != MessageKind.SERVICE:
                # RFC 8058: mail clients offer their own one-click "unsubscribe" with these.
                headers = {"List-Unsubscribe": f"<{unsubscribe_url(message.customer_id)}>",
                           "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
            email = EmailMessage(subject=message.subject, body=message.body, to=[message.recipient],
                                 headers=headers, connection=connection)
            limiter.wait()
            try:
                email.send(fail_silently=False)
            except Exception as exc:  # noqa: BLE001  one refused address must not stop the batch
                results.append(SmsResult(ok=False, error=f"{type(exc).__name__}: {exc}"[:500]))
            else:
                results.append(SmsResult(ok=True))
    return results


def _send_sms(messages: list[Message], limiter: RateLimiter) -> list[SmsResult]:
    gateway = sms_gateway()
    results: list[SmsResult] = []
    for start in range(0, len(messages), SMS_PER_REQUEST):
        chunk = messages[start:start + SMS_PER_REQUEST]
        for _message in chunk:
            limiter.wait()
        try:
            results += gateway.send([OutgoingSms(m.pk, m.recipient, m.body) for m in chunk])
        except Exception as exc:  # noqa: BLE001  the gateway failed the whole request
            results += [SmsResult(ok=False, error=f"{type(exc).__name__}: {exc}"[:500])] * len(chunk)
    return results


def messages_send(*, channels: tuple[str, ...] = (Channel.EMAIL, Channel.SMS), limit: int | None = None
                  ) -> SendOutcome:
    """Send the queued messages of the channels (all of them, or at most `limit` per channel).

    Called by the care run and by the worker; safe to run in several workers at once (each claims
    its own batches). Returns how many were sent and failed, with the first errors.
    """
    outcome = SendOutcome()
    for channel in channels:
        limiter = RateLimiter(settings.MESSAGE_RATES.get(channel, 0))
        sender = _send_emails if channel == Channel.EMAIL else _send_sms
        left = limit
        while left is None or left > 0:
            batch = _claim(channel, BATCH if left is None else min(BATCH, left))
            if not batch:
                break
            outcome.add(_record(batch, sender(batch, limiter)))
            if left is not None:
                left -= len(batch)
    return outcome
