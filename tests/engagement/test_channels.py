"""Channels: the SMS gateway adapters, every message's status, rate limits, and the two ways out
(the signed unsubscribe link, an SMS reply TD / 退订)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core import mail

from guanxi.core.models import AuditEntry
from guanxi.engagement.models import ContactPreference, Message
from guanxi.engagement.services.consent import unsubscribe_token
from guanxi.engagement.services.messages import RateLimiter, messages_send


def queue(customer, *, channel="sms", kind="care", body="您好", subject="", recipient=None):
    return Message.objects.create(customer=customer, channel=channel, kind=kind, body=body, subject=subject,
                                  recipient=recipient or (customer.phone if channel == "sms" else customer.email))


class FakeGateway(BaseHTTPRequestHandler):
    """The bank's SMS gateway: accepts every number but 10000000000, or fails when told to."""

    requests: list = []
    status = 200

    def do_POST(self):  # noqa: N802
        payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append((self.headers["Authorization"], payload))
        body = json.dumps({"results": [
            {"id": m["id"], "ok": m["phone"] != "10000000000", "gateway_id": f"gw-{m['id']}",
             "error": "" if m["phone"] != "10000000000" else "empty number"} for m in payload["messages"]]})
        self.send_response(type(self).status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args):
        pass


@pytest.fixture
def gateway(settings):
    FakeGateway.requests, FakeGateway.status = [], 200
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeGateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.SMS_BACKEND = "http"
    settings.SMS_HTTP_URL = f"http://127.0.0.1:{server.server_address[1]}/send"
    settings.SMS_HTTP_TOKEN = "secret-token"
    try:
        yield FakeGateway
    finally:
        server.shutdown()
        server.server_close()


def test_the_http_gateway_sends_and_every_message_keeps_its_status(bank, person, gateway):
    ok = queue(person("张伟"), body="中秋快乐")
    refused = queue(person("李娜", phone="10000000000"))
    outcome = messages_send()
    assert (outcome.sent, outcome.failed) == (1, 1)
    authorization, payload = gateway.requests[0]
    assert authorization == "Bearer secret-token"
    assert payload["messages"][0] == {"id": ok.pk, "phone": ok.recipient, "text": "中秋快乐"}
    ok.refresh_from_db()
    refused.refresh_from_db()
    assert (ok.status, ok.gateway_id, ok.sent_at is not None) == ("sent", f"gw-{ok.pk}", True)
    assert (refused.status, refused.error, refused.sent_at) == ("failed", "empty number", None)


def test_a_gateway_failure_fails_the_batch_and_nothing_is_sent_twice(bank, person, gateway):
    gateway.status = 503
    message = queue(person("张伟"))
    assert messages_send().failed == 1
    message.refresh_from_db()
    assert message.status == "failed" and message.error == "HTTP 503"
    assert messages_send().sent == 0 and len(gateway.requests) == 1


def test_the_file_gateway_writes_one_json_line_per_text(bank, person, settings, tmp_path):
    settings.SMS_BACKEND = "file"
    settings.SMS_FILE_PATH = tmp_path / "sms.jsonl"
    message = queue(person("张伟"), body="生日快乐")
    messages_send()
    line = json.loads(settings.SMS_FILE_PATH.read_text(encoding="utf-8"))
    assert line == {"id": message.pk, "phone": message.recipient, "text": "生日快乐"}


def test_a_run_keeps_to_the_channels_rate(bank, person, settings, sms_outbox):
    settings.MESSAGE_RATES = {"sms": 100, "email": 0}
    customer = person("张伟")
    Message.objects.bulk_create([Message(customer=customer, channel="sms", kind="care", body=str(n),
                                         recipient=customer.phone) for n in range(21)])
    started = time.monotonic()
    assert messages_send().sent == 21
    assert time.monotonic() - started >= 0.19  # 21 texts at 100 a second
    assert len(sms_outbox) == 21


def test_the_rate_limiter_spaces_calls():
    limiter = RateLimiter(200)
    started = time.monotonic()
    for _ in range(11):
        limiter.wait()
    assert time.monotonic() - started >= 0.049
    unlimited = RateLimiter(0)
    started = time.monotonic()
    for _ in range(1000):
        unlimited.wait()
    assert time.monotonic() - started < 0.05


def test_service_messages_carry_no_unsubscribe_header_and_care_emails_do(bank, person):
    customer = person("张伟", email="zhang@example.cn")
    queue(customer, channel="email", kind="service", subject="账户变动提醒", body="您的账户……")
    queue(customer, channel="email", kind="care", subject="问候", body="您好")
    messages_send()
    service, care = sorted(mail.outbox, key=lambda m: m.subject != "账户变动提醒")
    assert "List-Unsubscribe" not in service.extra_headers
    assert care.extra_headers["List-Unsubscribe"].startswith("<http://127.0.0.1:8000/engagement/unsubscribe/")


def test_a_reply_td_opts_the_sender_out(bank, person, client):
    customer = person("张伟", phone="13812345678")
    same_phone = person("张伟的公司", customer_type="company", phone="13812345678")
    response = client.post("/engagement/sms/inbound/", json.dumps({"from": "+86 138-1234-5678", "text": " 退订 "}),
                           content_type="application/json", HTTP_X_GUANXI_TOKEN="test-inbound-token")
    assert response.status_code == 200 and response.json() == {"opted_out": 2}
    for c in (customer, same_phone):
        preference = ContactPreference.objects.get(customer=c)
        assert preference.marketing_opt_out and preference.opted_out_via == "sms_reply"
    entry = AuditEntry.objects.filter(action="consent.opt_out").first()
    assert entry.actor_username == "system" and entry.changes["via"] == "sms_reply"


def test_other_replies_and_unauthenticated_calls_change_nothing(bank, person, client):
    person("张伟", phone="13812345678")
    url = "/engagement/sms/inbound/"
    assert client.post(url, {"from": "13812345678", "text": "谢谢"}, HTTP_X_GUANXI_TOKEN="test-inbound-token"
                       ).json() == {"opted_out": 0}
    assert client.post(url, {"from": "13812345678", "text": "TD"}).status_code == 403
    assert client.post(url, {"from": "13812345678", "text": "td"}, HTTP_X_GUANXI_TOKEN="wrong").status_code == 403
    assert not ContactPreference.objects.exists()
    assert client.post(f"{url}?token=test-inbound-token", {"from": "13812345678", "text": "td"}
                       ).json() == {"opted_out": 1}


def test_the_unsubscribe_link_asks_once_and_refuses_forged_tokens(bank, person, client):
    customer = person("张伟")
    url = f"/engagement/unsubscribe/{unsubscribe_token(customer.pk)}/"
    assert client.get(url).status_code == 200 and not ContactPreference.objects.exists()  # GET changes nothing
    assert client.post(url).status_code == 200
    assert client.post(url).status_code == 200  # twice is fine
    assert ContactPreference.objects.get(customer=customer).marketing_opt_out
    assert AuditEntry.objects.filter(action="consent.opt_out").count() == 1
    forged = url.replace(url.split("/")[-2][-6:], "AAAAAA")
    assert client.get(forged).status_code == 404 and client.post(forged).status_code == 404


def test_a_customers_unsubscribe_link_never_changes_and_older_links_still_work(bank, person, client,
                                                                                 monkeypatch):
    """The text's link and the List-Unsubscribe header are made at different moments: one link."""
    import time

    from django.core import signing

    from guanxi.engagement.services.consent import UNSUBSCRIBE_SALT

    customer, other = person("张伟"), person("李娜")
    token = unsubscribe_token(customer.pk)
    later = time.time() + 3600
    monkeypatch.setattr(time, "time", lambda: later)  # an hour later, when the message is sent
    assert unsubscribe_token(customer.pk) == token != unsubscribe_token(other.pk)
    monkeypatch.undo()
    older = signing.dumps(other.pk, salt=UNSUBSCRIBE_SALT, compress=True)  # as links were signed before
    assert client.post(f"/engagement/unsubscribe/{older}/").status_code == 200
    assert ContactPreference.objects.get(customer=other).marketing_opt_out
    assert not ContactPreference.objects.filter(customer=customer).exists()
    forged = signing.dumps(customer.pk, salt="another purpose", compress=True)
    assert client.post(f"/engagement/unsubscribe/{forged}/").status_code == 404


def test_staff_record_an_opt_out_and_an_opt_in_from_the_customer_page(login, bank, person):
    customer = person("张伟")
    client = login(bank.alice)
    response = client.post(f"/engagement/customers/{customer.pk}/preferences/",
                           {"marketing_opt_out": "on", "lunar_birthday": "on"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and 'id="opted-out"' in response.content.decode()
    preference = ContactPreference.objects.get(customer=customer)
    assert preference.marketing_opt_out and preference.lunar_birthday and preference.opted_out_via == "staff"
    client.post(f"/engagement/customers/{customer.pk}/preferences/", {})
    preference.refresh_from_db()
    assert not preference.marketing_opt_out and preference.opted_out_at is None
    assert login(bank.audrey).post(f"/engagement/customers/{customer.pk}/preferences/", {}).status_code == 403
    assert login(bank.bob).post(f"/engagement/customers/{customer.pk}/preferences/", {}).status_code == 404
