"""SMS gateways: one small interface, an HTTP adapter for the bank's gateway, file/console/memory for the rest.

`settings.SMS_BACKEND` picks the adapter: `http` (POSTs to `SMS_HTTP_URL`), `file` (appends JSON
lines to `SMS_FILE_PATH`, the development default), `console`, `memory` (tests), or the dotted path
of any `SmsGateway` subclass. Each adapter also reads the replies its gateway forwards to the
inbound endpoint (`/engagement/sms/inbound/`), which is how a customer opts out with TD / 退订.
"""

from __future__ import annotations

import hmac
import json
import sys
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import ClassVar

from django.conf import settings
from django.http import HttpRequest
from django.utils.module_loading import import_string

HTTP_TIMEOUT = 15  # seconds per request to the gateway


@dataclass(frozen=True)
class OutgoingSms:
    message_id: int
    phone: str
    text: str


@dataclass(frozen=True)
class SmsResult:
    ok: bool
    gateway_id: str = ""
    error: str = ""


@dataclass(frozen=True)
class InboundSms:
    phone: str
    text: str


class SmsGateway:
    """What an adapter does: send a batch of texts, and read the replies its gateway forwards."""

    def send(self, messages: list[OutgoingSms]) -> list[SmsResult]:
        """One result per message, in order. May raise on a failure of the whole batch."""
        raise NotImplementedError

    def authenticate_inbound(self, request: HttpRequest) -> bool:
        """True when the request comes from the gateway: it carries `SMS_INBOUND_TOKEN`
        (header `X-Guanxi-Token` or `?token=`). Without a configured token nothing is accepted."""
        expected = settings.SMS_INBOUND_TOKEN
        given = request.headers.get("X-Guanxi-Token") or request.GET.get("token", "")
        return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())

    def parse_inbound(self, request: HttpRequest) -> list[InboundSms]:
        """Replies in the request: JSON `{"from": "138…", "text": "TD"}` or a list of them, or form
        fields `from` and `text`. Adapters for gateways with another format override this."""
        if request.content_type == "application/json":
            try:
                data = json.loads(request.body or b"null")
            except ValueError:
                return []
            items = data if isinstance(data, list) else [data]
        else:
            items = [request.POST]
        replies = []
        for item in items:
            if not hasattr(item, "get"):
                continue
            phone = str(item.get("from") or item.get("phone") or "").strip()
            if phone:
                replies.append(InboundSms(phone=phone, text=str(item.get("text") or "")))
        return replies


class HttpSmsGateway(SmsGateway):
    """The bank's SMS gateway over HTTP: POST `{"messages": [{"id", "phone", "text"}]}` as JSON to
    `SMS_HTTP_URL` (Bearer `SMS_HTTP_TOKEN`); the answer `{"results": [{"id", "ok", "gateway_id",
    "error"}]}`. An answer other than 2xx fails the whole batch."""

    def send(self, messages: list[OutgoingSms]) -> list[SmsResult]:
        if not settings.SMS_HTTP_URL:
            raise RuntimeError("GUANXI_SMS_URL is not set")
        body = json.dumps({"messages": [{"id": m.message_id, "phone": m.phone, "text": m.text} for m in messages]},
                          ensure_ascii=False).encode()
        request = urllib.request.Request(settings.SMS_HTTP_URL, data=body, method="POST",  # noqa: S310
                                         headers={"Content-Type": "application/json; charset=utf-8",
                                                  "Authorization": f"Bearer {settings.SMS_HTTP_TOKEN}"})
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:  # noqa: S310
                answer = json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            return [SmsResult(ok=False, error=f"HTTP {exc.code}")] * len(messages)
        except (OSError, ValueError) as exc:
            return [SmsResult(ok=False, error=str(exc)[:200])] * len(messages)
        by_id = {str(r.get("id")): r for r in answer.get("results", []) if isinstance(r, dict)}
        results = []
        for message in messages:
            result = by_id.get(str(message.message_id))
            if result is None:
                results.append(SmsResult(ok=False, error="no result from the gateway"))
            else:
                results.append(SmsResult(ok=bool(result.get("ok")), gateway_id=str(result.get("gateway_id") or ""),
                                         error=str(result.get("error") or "")[:500]))
        return results


class FileSmsGateway(SmsGateway):
    """Development: every text becomes one JSON line in `SMS_FILE_PATH`."""

    _lock = threading.Lock()

    def send(self, messages: list[OutgoingSms]) -> list[SmsResult]:
        path = settings.SMS_FILE_PATH
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, path.open("a", encoding="utf-8") as handle:
            for m in messages:
                handle.write(json.dumps({"id": m.message_id, "phone": m.phone, "text": m.text}, ensure_ascii=False))
                handle.write("\n")
        return [SmsResult(ok=True, gateway_id=f"file-{m.message_id}") for m in messages]


class ConsoleSmsGateway(SmsGateway):
    """Development: texts are printed to standard output."""

    def send(self, messages: list[OutgoingSms]) -> list[SmsResult]:
        for m in messages:
            sys.stdout.write(f"SMS to {m.phone}: {m.text}\n")
        sys.stdout.flush()
        return [SmsResult(ok=True, gateway_id=f"console-{m.message_id}") for m in messages]


class MemorySmsGateway(SmsGateway):
    """Tests: texts are kept in `MemorySmsGateway.outbox` (like Django's locmem mail outbox)."""

    outbox: ClassVar[list[OutgoingSms]] = []

    def send(self, messages: list[OutgoingSms]) -> list[SmsResult]:
        type(self).outbox.extend(messages)
        return [SmsResult(ok=True, gateway_id=f"memory-{m.message_id}") for m in messages]


BACKENDS = {"http": HttpSmsGateway, "file": FileSmsGateway, "console": ConsoleSmsGateway, "memory": MemorySmsGateway}


def sms_gateway() -> SmsGateway:
    """The configured adapter (`settings.SMS_BACKEND`)."""
    backend = settings.SMS_BACKEND
    cls = BACKENDS.get(backend) or import_string(backend)
    return cls()
