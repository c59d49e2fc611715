"""Acceptance: a campaign of care emails through a real SMTP server on loopback (aiosmtpd), read back.

Right recipients, right text, nobody who opted out, and no duplicate when the run is repeated. The
unsubscribe link in a received email opts its customer out for the next campaign.
"""

from __future__ import annotations

import email
import email.policy
import re
from datetime import date

import pytest
from aiosmtpd.controller import Controller

from guanxi.engagement.models import ContactPreference, Message
from guanxi.engagement.services.care import care_plan_save, care_plans_run
from guanxi.engagement.services.consent import contact_preference_set
from tests.site.servers import free_port


class Inbox:
    """An aiosmtpd handler that keeps every message it is given."""

    def __init__(self):
        self.received: list[tuple[list[str], email.message.EmailMessage]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802  (aiosmtpd's hook name)
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        self.received.append((list(envelope.rcpt_tos), message))
        return "250 OK"


@pytest.fixture
def smtp_server(settings):
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.DEFAULT_FROM_EMAIL = "care@bank.example"
    settings.BASE_URL = "https://crm.bank.example"
    try:
        yield inbox
    finally:
        controller.stop()


def test_a_care_campaign_goes_out_through_smtp_once_and_never_to_opted_out_customers(bank, person, smtp_server,
                                                                                      client):
    zhang = person("张伟", email="zhang.wei@example.cn", tier="high")
    li = person("李娜", gender="female", email="Li.Na@EXAMPLE.cn", tier="high")
    refused = person("赵敏", gender="female", email="zhao@example.cn", tier="high")
    person("钱多", email="qian@example.cn", tier="general")  # not in the audience
    person("孙无邮", tier="high")  # no email address
    contact_preference_set(acting_user=bank.alice, customer=refused, marketing_opt_out=True)
    care_plan_save(acting_user=bank.hank, name="中秋关怀", occasion="holiday", holiday="mid_autumn", channel="email",
                   tiers=["high"], subject="{name}{honorific}，中秋快乐",
                   template="尊敬的{name}{honorific}：\n{branch}客户经理{owner}祝您中秋快乐，阖家团圆！")

    first = care_plans_run(today=date(2025, 10, 6))
    second = care_plans_run(today=date(2025, 10, 6))

    assert (first.queued, first.sending.sent, second.queued, second.sending.sent) == (2, 2, 0, 0)
    assert sorted(rcpt for rcpts, _m in smtp_server.received for rcpt in rcpts) == [
        "Li.Na@EXAMPLE.cn", "zhang.wei@example.cn"]
    received = {rcpts[0]: message for rcpts, message in smtp_server.received}
    to_zhang = received["zhang.wei@example.cn"]
    assert to_zhang["Subject"] == "张伟先生，中秋快乐"
    assert to_zhang["From"] == "care@bank.example"
    body = to_zhang.get_content().replace("\r\n", "\n")
    owner = bank.alice.display_name
    assert body.startswith(f"尊敬的张伟先生：\n城关支行客户经理{owner}祝您中秋快乐，阖家团圆！")
    assert received["Li.Na@EXAMPLE.cn"]["Subject"] == "李娜女士，中秋快乐"
    assert all(m.status == "sent" for m in Message.objects.all()) and Message.objects.count() == 2

    # One click on the link in the email (or the mail client's RFC 8058 POST) opts Zhang out.
    assert to_zhang["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = re.search(r"https://crm\.bank\.example(/engagement/unsubscribe/\S+/)", body).group(1)
    assert to_zhang["List-Unsubscribe"].strip() == f"<https://crm.bank.example{link}>"
    assert "退订" in client.get(link).content.decode()
    assert client.post(link).status_code == 200
    preference = ContactPreference.objects.get(customer=zhang)
    assert preference.marketing_opt_out and preference.opted_out_via == "link"

    care_plan_save(acting_user=bank.hank, name="国庆", occasion="holiday", holiday="national_day", channel="email",
                   tiers=["high"], subject="国庆快乐", template="{name}{honorific}，国庆快乐")
    care_plans_run(today=date(2026, 10, 1))
    assert [rcpts for rcpts, _m in smtp_server.received[2:]] == [["Li.Na@EXAMPLE.cn"]]
    assert li.pk != zhang.pk
