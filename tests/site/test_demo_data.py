"""The demo bank as loaded: segmented like a bank after its nightly run."""

import pytest

from guanxi.customers.models import Customer
from guanxi.site.demo import load_demo

pytestmark = pytest.mark.django_db


def test_every_demo_customer_has_a_market_sub_market_and_tier():
    load_demo(customers=300)
    customers = Customer.objects.all()
    assert customers.count() == 300
    assert not customers.filter(market="").exists()
    assert not customers.filter(sub_market="").exists()
    assert set(customers.values_list("tier", flat=True)) <= {"high", "mid", "general"}
    # The tiers follow the balances (plan defaults: deposit ≥ 1,000,000 yuan is high).
    assert customers.filter(tier="high").exists()
    assert not customers.filter(tier="general", deposit_balance__gte=1_000_000).exists()


def test_demo_customers_have_a_balance_history_and_products():
    load_demo(customers=200)
    existing = Customer.objects.filter(status="existing")
    assert existing.exists()
    for customer in existing[:20]:
        history = list(customer.balance_history.order_by("-as_of"))
        assert len(history) == 7  # today and six month-ends
        assert history[0].deposit_balance == customer.deposit_balance
        assert "DEP" in customer.products.split(";")
    assert Customer.objects.filter(is_deposit_customer=True).count() == existing.count()


def test_the_demo_bank_has_care_plans_and_visit_tasks():
    from guanxi.engagement.models import CarePlan, FollowUp

    load_demo(customers=300)
    assert CarePlan.objects.filter(occasion="holiday", holiday="spring_festival").count() == 2
    assert any(plan.tiers == ["high"] for plan in CarePlan.objects.filter(occasion="birthday"))
    tasks = FollowUp.objects.filter(completed_at__isnull=True)
    assert tasks.exists()


def test_the_auditor_reads_the_demo_banks_whole_log_without_a_code(client):
    """Every entry the demo bank writes (some fifty kinds of operation across the apps) reads in the bank's
    language on the audit log page: the action, what changed and the coded values (tiers, market lines,
    guarantee classes, run states), where the log itself keeps the codes."""
    import re

    from guanxi.core import audit_display
    from guanxi.core.models import AuditEntry, User

    load_demo(customers=300)
    entries = list(AuditEntry.objects.all())
    assert len({entry.action for entry in entries}) >= 20
    raw = re.compile(r"\b[a-z]+(?:_[a-z]+)*\b")  # a code: lower-case ASCII words (`without_owner`, `unsecured`)
    for entry in entries:
        label = audit_display.action_label(entry.action)
        assert not raw.fullmatch(label.replace(".", "_")), entry.action
        for line in audit_display.changes(entry.object_type, entry.changes):
            assert not raw.fullmatch(line.label), (entry.action, line)
            values = re.sub(r"\{[a-z_]+\}", "", line.text)  # a care message's placeholders stay as written
            assert not raw.search(values) or line.label in {"用户名", "委员", "默认负责人", "管户客户经理"}, \
                (entry.action, line)
    client.force_login(User.objects.get(username="auditor"))
    page = client.get("/audit/", {"action": "care_plan.save"}).content.decode()
    assert "<b>客户层级</b>: — → 高端" in page and "<b>条线</b>: — → 个人" in page
