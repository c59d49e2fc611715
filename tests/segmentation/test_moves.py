"""Tier moves: who moved down (or up) in a period, within the user's scope."""

from datetime import date

import pytest

from guanxi.customers.models import Customer
from guanxi.segmentation.selectors import tier_changes
from guanxi.segmentation.services import segments_recompute


@pytest.fixture
def moves(bank, make):
    alices = make(deposit="1000000", owner=bank.alice)
    bobs = make(deposit="1000000", owner=bank.bob)
    carols = make(deposit="1000000", owner=bank.carol, org_unit=bank.b2)
    segments_recompute(acting_user=None, as_of=date(2026, 10, 31))
    Customer.objects.update(deposit_balance=100)
    segments_recompute(acting_user=None, as_of=date(2026, 11, 27))
    return alices, bobs, carols


def test_who_moved_down_this_month(bank, moves):
    november = tier_changes(user=bank.audrey, start=date(2026, 11, 1), end=date(2026, 11, 30), direction="down")
    assert {c.customer_id for c in november} == {m.pk for m in moves}
    assert all((c.old_tier, c.new_tier) == ("high", "general") for c in november)
    october_up = tier_changes(user=bank.audrey, start=date(2026, 10, 1), end=date(2026, 10, 31), direction="up")
    assert october_up.count() == 3
    assert not tier_changes(user=bank.audrey, start=date(2026, 10, 1), end=date(2026, 10, 31), direction="down")


def test_a_manager_sees_only_their_customers_moves(bank, moves):
    mine = tier_changes(user=bank.alice, direction="down")
    assert [c.customer_id for c in mine] == [moves[0].pk]


def test_a_branch_head_sees_their_subtree(bank, moves):
    assert {c.customer_id for c in tier_changes(user=bank.hank)} == {moves[0].pk, moves[1].pk}


def test_the_administrator_sees_no_moves(bank, moves):
    assert not tier_changes(user=bank.sam).exists()


def test_the_page_lists_the_moves_in_scope(bank, moves, login):
    response = login(bank.carol).get("/segments/moves/", {"start": "2026-11-01", "end": "2026-11-30"})
    assert response.status_code == 200
    assert [c.customer_id for c in response.context["page"]] == [moves[2].pk]


def test_the_page_uses_a_bounded_number_of_queries(bank, moves, make, login, django_assert_max_num_queries):
    client = login(bank.audrey)
    client.get("/segments/moves/", {"start": "2026-10-01", "end": "2026-11-30", "direction": "all"})
    with django_assert_max_num_queries(8):
        response = client.get("/segments/moves/", {"start": "2026-10-01", "end": "2026-11-30", "direction": "all"})
    assert len(response.context["page"]) == 6


def test_the_api_lists_the_moves_in_scope(bank, moves, api):
    body = api.login(bank.hank).get("/segments/moves", start="2026-11-01", direction="down").json()
    assert body["count"] == 2
    assert {item["customer_id"] for item in body["items"]} == {moves[0].pk, moves[1].pk}
    assert body["items"][0]["old_tier"] == "high" and body["items"][0]["new_tier"] == "general"
