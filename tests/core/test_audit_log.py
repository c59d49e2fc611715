"""The audit log: written with every change and reveal, never changed afterwards."""

import json

import pytest
from django.db import DatabaseError, connection, transaction

from guanxi.core.models import AuditEntry
from guanxi.customers import services


def test_a_customer_change_is_logged_with_user_and_changed_fields(bank, customers):
    services.customer_update(acting_user=bank.alice, customer=customers.alice_person,
                             data={"address": "城关镇红旗村3组", "phone": "139 0000 1111"})
    entry = AuditEntry.objects.filter(action="customer.update").get()
    assert entry.actor_username == "alice"
    assert entry.object_id == str(customers.alice_person.pk)
    assert entry.changes["address"] == ["", "城关镇红旗村3组"]
    # Sensitive values are masked in the log itself.
    assert entry.changes["phone"][1] == "139****1111"


def test_an_unchanged_save_writes_no_entry(bank, customers):
    services.customer_update(acting_user=bank.alice, customer=customers.alice_person,
                             data={"name": customers.alice_person.name})
    assert not AuditEntry.objects.filter(action="customer.update").exists()


def test_an_entry_keeps_its_changes_as_written_for_an_auditor_reading_the_table(bank, customers):
    """The log's change sets come back whole, and on PostgreSQL the table holds them as written (json, not
    jsonb): Chinese as Chinese, queryable with ->>."""
    services.customer_update(acting_user=bank.alice, customer=customers.alice_person,
                             data={"phone": "139 0000 1111", "address": "城关镇红旗村3组"})
    entry = AuditEntry.objects.get(action="customer.update")
    assert entry.changes["address"] == ["", "城关镇红旗村3组"]
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT changes::text, changes ->> 'address', pg_typeof(changes)::text "
                       "FROM core_auditentry WHERE id = %s", [entry.pk])
        text, address, kind = cursor.fetchone()
    assert kind == "json" and "城关镇红旗村3组" in text and "\\u" not in text
    assert json.loads(address) == ["", "城关镇红旗村3组"]


def test_a_reveal_is_logged(bank, customers):
    value = services.customer_reveal(acting_user=bank.alice, customer=customers.alice_person, field="id_number")
    assert value == customers.alice_person.id_number
    entry = AuditEntry.objects.get(action="customer.reveal.id_number")
    assert entry.actor_username == "alice"


def test_audit_entries_cannot_be_changed_or_deleted_through_the_orm(bank, customers):
    services.customer_reveal(acting_user=bank.alice, customer=customers.alice_person, field="phone")
    entry = AuditEntry.objects.get(action="customer.reveal.phone")
    entry.action = "tampered"
    with pytest.raises(PermissionError):
        entry.save()
    with pytest.raises(PermissionError):
        entry.delete()
    with pytest.raises(PermissionError):
        AuditEntry.objects.all().delete()
    with pytest.raises(PermissionError):
        AuditEntry.objects.update(action="tampered")


@pytest.mark.parametrize("sql", [
    "UPDATE core_auditentry SET action = 'tampered'",
    "DELETE FROM core_auditentry",
])
def test_the_database_itself_refuses_to_change_the_audit_log(bank, customers, sql):
    services.customer_reveal(acting_user=bank.alice, customer=customers.alice_person, field="phone")
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql)
    assert AuditEntry.objects.filter(action="customer.reveal.phone").count() == 1


def test_the_auditor_reads_and_filters_the_log(client, login, bank, customers):
    services.customer_reveal(acting_user=bank.alice, customer=customers.alice_person, field="phone")
    services.customer_reveal(acting_user=bank.bob, customer=customers.bob_person, field="phone")
    login(bank.audrey)
    page = client.get("/audit/", {"actor": "bob"}).content.decode()
    assert "customer.reveal.phone" in page
    assert customers.bob_person.name in page
    assert customers.alice_person.name not in page


def test_a_manager_cannot_read_the_audit_log(client, login, bank):
    login(bank.alice)
    assert client.get("/audit/").status_code == 403


def test_no_page_or_api_route_writes_the_audit_log():
    from django.urls import get_resolver

    def walk(patterns, prefix=""):
        for pattern in patterns:
            if hasattr(pattern, "url_patterns"):
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
            else:
                yield prefix + str(pattern.pattern)

    routes = list(walk(get_resolver().url_patterns))
    assert any(route.startswith("audit/") for route in routes)
    assert [r for r in routes if "audit" in r] == ["audit/"]


def test_the_log_pages_action_filter_walks_the_one_action_index(bank, customers):
    """Filtering by the start of an action (the log page's filter) and by a whole action go through one index;
    on PostgreSQL the pattern index, without a second B-tree that every entry written would pay for. (SQLite's
    LIKE ignores case and cannot use an index: there the index serves the whole action.)"""
    services.customer_reveal(acting_user=bank.alice, customer=customers.alice_person, field="phone")
    by_start = AuditEntry.objects.filter(action__startswith="customer.")
    whole = AuditEntry.objects.filter(action="customer.reveal.phone")
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = 'core_auditentry'")
            on_action = [row[0] for row in cursor.fetchall() if "(action" in row[0]]
            assert len(on_action) == 1 and "varchar_pattern_ops" in on_action[0], on_action
            cursor.execute("SET enable_seqscan = off")  # a few test rows: the planner would read them all
            try:
                plans = [by_start.explain(), whole.explain()]
            finally:
                cursor.execute("RESET enable_seqscan")
        else:
            plans = [whole.explain()]
    assert all("core_audit_action" in plan for plan in plans), plans
    assert [entry.object_repr for entry in whole] == [entry.object_repr for entry in by_start] != []


def _row_of(page: str, text: str) -> str:
    """The table row of the log page that holds `text`."""
    rows = [row for row in page.split("<tbody>", 1)[1].split("<tr>") if text in row]
    assert len(rows) == 1, rows
    return rows[0]


def test_the_auditor_reads_actions_fields_and_values_in_the_banks_language(client, login, bank, customers):
    customer = customers.alice_person
    assert customer.status == "existing" and customer.address == ""
    services.customer_update(acting_user=bank.alice, customer=customer,
                             data={"address": "城关镇红旗村3组", "phone": "139 0000 1111", "status": "prospect"})
    services.customer_reveal(acting_user=bank.alice, customer=customers.alice_person, field="id_number")
    login(bank.audrey)
    page = client.get("/audit/").content.decode()
    update = _row_of(page, "修改客户信息")
    assert "<b>地址</b>: — → 城关镇红旗村3组" in update
    assert "<b>手机号码</b>: " in update and "139****1111" in update  # still masked as written
    assert "<b>状态</b>: 存量 → 目标客户" in update  # choice codes by their labels
    for code in ("customer.update", "address", "prospect", "existing"):  # codes only in the title
        assert f">{code}<" not in update and f": {code}" not in update
    assert 'title="customer.update"' in update
    reveal = _row_of(page, "查看完整信息")
    assert "查看完整信息（证件号码）" in reveal


def test_an_entry_whose_values_are_not_pairs_reads_as_written(client, login, bank, customers):
    from guanxi.core import audit

    audit.record(actor=bank.alice, action="customer.export", object_type="customers.customer",
                 object_repr="export", changes={"rows": 12, "format": "xlsx", "unmasked": False,
                                                "filters": {"status": "existing", "market": None}})
    login(bank.audrey)
    row = _row_of(client.get("/audit/").content.decode(), "导出客户信息")
    assert "<b>行数</b>: 12" in row
    assert "<b>格式</b>: xlsx" in row  # a word, not its letters joined by arrows
    assert "<b>未脱敏</b>: 否" in row
    assert "<b>筛选条件</b>: 状态: 存量; 市场条线: —" in row


def test_the_action_filter_lists_every_action_by_name_and_keeps_an_unknown_one(client, login, bank, customers):
    services.customer_reveal(acting_user=bank.alice, customer=customers.alice_person, field="phone")
    services.customer_update(acting_user=bank.alice, customer=customers.alice_person, data={"address": "新地址"})
    login(bank.audrey)
    page = client.get("/audit/", {"action": "customer.reveal"}).content.decode()
    assert '<option value="customer.reveal" selected>查看完整信息</option>' in page
    assert '<option value="segments.recompute">重新计算细分市场与客户分层</option>' in page
    assert "新地址" not in page and "查看完整信息（手机号码）" in page
    page = client.get("/audit/", {"action": "customer.upd"}).content.decode()
    assert '<option value="customer.upd" selected>customer.upd</option>' in page
    assert "新地址" in page


def test_a_date_that_is_not_one_is_said_not_failed_on(client, login, bank, customers):
    services.customer_reveal(acting_user=bank.alice, customer=customers.alice_person, field="phone")
    login(bank.audrey)
    response = client.get("/audit/", {"date_from": "2026-02-30", "date_to": "yesterday"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "2026-02-30 不是日期（YYYY-MM-DD），未按此筛选。" in page
    assert "yesterday 不是日期" in page
    assert "查看完整信息（手机号码）" in page  # the other filters still apply: nothing dropped


def test_every_action_the_code_writes_has_a_name_in_the_banks_language():
    """A new audited operation needs a label in its app's `audit_actions` (and the catalogue) before the
    auditor can read it: every action code written anywhere in the code is named."""
    import re
    from pathlib import Path

    from django.apps import apps
    from django.utils import translation

    import guanxi
    from guanxi.core import audit_display
    from guanxi.credit.approvals import DECISIONS

    written = set()
    for path in Path(guanxi.__file__).parent.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            if "action" in line or "INSERT INTO" in line or "SELECT %s, %s, %s" in line:
                written.update(re.findall(r"""["']([a-z_]+(?:\.[a-z_]+)+)["']""", line))
    models = {model._meta.label_lower for model in apps.get_models()}
    written -= models | {"segmentation.tierchange", "segmentation.territory", "relationships.assignment"}
    written |= {f"approval.{decision}" for decision in DECISIONS}
    assert {"customer.update", "customer.create", "user.role_change", "approval.return"} <= written
    labels = audit_display.action_labels()
    assert sorted(written - set(labels)) == []
    with translation.override("en"):
        english = {code: str(label) for code, label in labels.items()}
    with translation.override("zh-hans"):
        untranslated = [code for code, label in labels.items() if str(label) == english[code]]
    assert untranslated == []
