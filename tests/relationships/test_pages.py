"""Ownership pages: rules with preview and run, unassigned, history, owner change, transfer."""

from __future__ import annotations

from decimal import Decimal

from guanxi.core.models import AuditEntry
from guanxi.relationships.models import Assignment, AssignmentRule
from tests.factories import CustomerFactory


def test_a_manager_cannot_open_the_rules_page(login, bank):
    assert login(bank.alice).get("/relationships/rules/").status_code == 403


def test_a_head_adds_a_rule_on_the_page(login, bank):
    client = login(bank.hank)
    response = client.post("/relationships/rules/", {"action": "save", "name": "to tellers",
                                                      "kind": "deposit_teller", "priority": "5", "active": "on",
                                                      "strategy": "round_robin"})
    assert response.status_code == 302
    rule = AssignmentRule.objects.get(name="to tellers")
    assert rule.org_unit == bank.b1 and rule.parameters["strategy"] == "round_robin" and rule.priority == 5


def test_a_bad_parameter_is_shown_on_the_page(login, bank):
    response = login(bank.hank).post("/relationships/rules/", {"action": "save", "name": "leader",
                                                                "kind": "head_office_leader", "username": "nobody"})
    assert response.status_code == 200 and "nobody" in response.content.decode()
    assert not AssignmentRule.objects.exists()


def test_the_preview_shows_proposals_and_changes_nothing(login, bank, customers, rules):
    response = login(bank.hank).post("/relationships/rules/", {"action": "preview", "scope": "unassigned"})
    page = response.content.decode()
    assert 'id="preview"' in page and customers.unassigned.customer_no in page and bank.tina.display_name in page
    assert not Assignment.objects.filter(customer=customers.unassigned).exists()


def test_running_the_rules_from_the_page_empties_the_unassigned_view(login, bank, customers, rules):
    client = login(bank.hank)
    assert customers.unassigned.customer_no in client.get("/relationships/unassigned/").content.decode()
    assert client.post("/relationships/rules/", {"action": "run", "scope": "unassigned"}).status_code == 302
    page = client.get("/relationships/unassigned/").content.decode()
    assert customers.unassigned.customer_no not in page and 'id="unassigned-list"' not in page


def test_the_unassigned_view_counts_per_unit_within_the_subtree(login, bank, customers):
    CustomerFactory(org_unit=bank.b2)
    page = login(bank.hank).get("/relationships/unassigned/").content.decode()
    assert bank.b1.name in page and bank.b2.name not in page


def test_a_manager_cannot_open_the_unassigned_view(login, bank):
    assert login(bank.alice).get("/relationships/unassigned/").status_code == 403


def test_the_unassigned_page_query_count_is_bounded(login, bank, customers, django_assert_max_num_queries):
    for _ in range(30):
        CustomerFactory(org_unit=bank.b1)
    client = login(bank.hank)
    with django_assert_max_num_queries(10):
        client.get("/relationships/unassigned/")


def test_the_customer_history_page_shows_who_owned_when_and_why(login, bank, customers):
    from guanxi.relationships.services import assignment_change

    assignment_change(acting_user=bank.hank, customer=customers.alice_person, owner=bank.bob, reason="alice away")
    page = login(bank.hank).get(f"/relationships/customers/{customers.alice_person.pk}/history/").content.decode()
    assert bank.alice.display_name in page and bank.bob.display_name in page and "alice away" in page


def test_the_history_of_a_customer_out_of_scope_is_404(login, bank, customers):
    assert login(bank.alice).get(f"/relationships/customers/{customers.bob_person.pk}/history/").status_code == 404


def test_the_staff_history_page_and_its_scope(login, bank, customers, django_assert_max_num_queries):
    for _ in range(20):
        CustomerFactory(org_unit=bank.b1, owner=bank.alice)
    client = login(bank.hank)
    with django_assert_max_num_queries(10):
        page = client.get("/relationships/staff/alice/history/").content.decode()
    assert customers.alice_person.customer_no in page
    assert client.get("/relationships/staff/carol/history/").status_code == 404
    assert login(bank.bob).get("/relationships/staff/alice/history/").status_code == 404


def test_the_customer_page_shows_the_owner_block_and_the_change_form_to_heads(login, bank, customers):
    url = f"/customers/{customers.alice_person.pk}/"
    page = login(bank.hank).get(url).content.decode()
    assert 'id="ownership"' in page and 'id="owner-change"' in page
    page = login(bank.alice).get(url).content.decode()
    assert 'id="ownership"' in page and 'id="owner-change"' not in page


def test_the_customer_page_query_count_stays_bounded(login, bank, customers, django_assert_max_num_queries):
    client = login(bank.hank)
    # A fixed budget, whatever the history: the customer, its ownership, its timeline and its
    # credit panel (grade, latest assessment, line: 3 queries).
    with django_assert_max_num_queries(17):
        client.get(f"/customers/{customers.alice_person.pk}/")


def test_a_head_changes_the_owner_from_the_customer_page(login, bank, customers):
    response = login(bank.hank).post(f"/relationships/customers/{customers.alice_person.pk}/owner/",
                                     {"owner": "bob", "reason": "rebalancing", "expected_owner": "alice"})
    assert response.status_code == 302
    assert Assignment.objects.get(customer=customers.alice_person, active=True).owner == bank.bob


def test_a_stale_owner_change_is_refused(login, bank, customers):
    client = login(bank.hank)
    client.post(f"/relationships/customers/{customers.alice_person.pk}/owner/",
                {"owner": "tina", "reason": "x", "expected_owner": "bob"}, follow=True)
    assert Assignment.objects.get(customer=customers.alice_person, active=True).owner == bank.alice


def test_a_head_cannot_change_the_owner_outside_the_subtree(login, bank, customers):
    response = login(bank.hank).post(f"/relationships/customers/{customers.carol_company.pk}/owner/",
                                     {"owner": "bob", "reason": "x"})
    assert response.status_code == 404


def test_a_manager_cannot_change_owners(login, bank, customers):
    response = login(bank.alice).post(f"/relationships/customers/{customers.alice_person.pk}/owner/",
                                      {"owner": "bob", "reason": "x"})
    assert response.status_code == 403


def test_the_transfer_page_moves_a_leaving_managers_customers(login, bank, customers):
    client = login(bank.hank)
    assert client.get("/relationships/transfer/").status_code == 200
    response = client.post("/relationships/transfer/", {"from_user": "alice", "to_users": ["bob", "tina"],
                                                         "reason": "alice leaves", "strategy": "balanced"})
    assert response.status_code == 302
    assert not Assignment.objects.filter(owner=bank.alice, active=True).exists()
    assert AuditEntry.objects.filter(action="assignment.transfer").count() == 1


def test_a_manager_cannot_open_the_transfer_page(login, bank):
    assert login(bank.alice).get("/relationships/transfer/").status_code == 403


def test_the_nav_links_heads_to_ownership(login, bank):
    assert "/relationships/unassigned/" in login(bank.hank).get("/customers/").content.decode()
    assert "/relationships/unassigned/" not in login(bank.alice).get("/customers/").content.decode()


def test_rule_run_results_keep_high_balances_with_the_head(login, bank, rules):
    from guanxi.relationships.services import _has_tier

    rich = CustomerFactory(org_unit=bank.b1, deposit_balance=Decimal("2000000"))
    if _has_tier():
        type(rich).objects.filter(pk=rich.pk).update(tier="high")
    login(bank.hank).post("/relationships/rules/", {"action": "run", "scope": "all"})
    assert Assignment.objects.get(customer=rich, active=True).owner == bank.hank


def test_a_deactivated_managers_customers_can_be_transferred(login, bank, customers):
    bank.alice.is_active = False
    bank.alice.save()
    client = login(bank.hank)
    assert "alice" in client.get("/relationships/transfer/").content.decode()
    client.post("/relationships/transfer/", {"from_user": "alice", "to_users": ["bob"], "reason": "left the bank"})
    assert Assignment.objects.filter(owner=bank.bob, active=True).count() == 3


def test_the_rules_page_query_count_is_bounded(login, bank, rules, django_assert_max_num_queries):
    client = login(bank.hank)
    with django_assert_max_num_queries(10):
        assert client.get("/relationships/rules/").status_code == 200


def test_the_transfer_page_query_count_is_bounded(login, bank, customers, django_assert_max_num_queries):
    client = login(bank.hank)
    with django_assert_max_num_queries(10):
        assert client.get("/relationships/transfer/").status_code == 200
