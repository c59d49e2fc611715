"""Territories (划片包干): keyword matching, routing prospects to the territory's unit and team, scope."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from guanxi.core.models import AuditEntry
from guanxi.customers.models import Customer
from guanxi.relationships.models import Assignment
from guanxi.segmentation.models import Territory
from guanxi.segmentation.selectors import territory_counts, territory_for_address, territory_match
from guanxi.segmentation.services.territories import territory_route, territory_save
from tests.factories import UserFactory


@pytest.fixture
def area(bank):
    """Two territories: 红旗街道 (B1, no team) and 幸福小区 (B2, carol and a second B2 manager)."""
    dora = UserFactory(username="dora", role="manager", org_unit=bank.b2)
    street = territory_save(acting_user=bank.sam, name="红旗街道", kind="street", org_unit=bank.b1,
                            keywords="红旗街\n解放路")
    estate = territory_save(acting_user=bank.sam, name="幸福小区", kind="community", org_unit=bank.b2,
                            keywords="红旗街幸福小区", team=[bank.carol, dora])
    return street, estate


def test_an_address_falls_in_the_territory_whose_keyword_it_contains(area):
    street, _estate = area
    assert territory_for_address("哈尔滨市红旗街18号") == street
    assert territory_for_address("哈尔滨市解放路3号") == street
    assert territory_for_address("五常市山河镇") is None


def test_the_longest_keyword_wins(area):
    _street, estate = area
    assert territory_for_address("哈尔滨市红旗街幸福小区2栋") == estate


def test_a_tie_goes_to_the_older_territory_whatever_the_order():
    pairs = [(9, "红旗"), (4, "幸福"), (7, "红旗")]
    assert territory_match("红旗幸福", pairs) == 4
    assert territory_match("红旗幸福", list(reversed(pairs))) == 4
    assert territory_match("红旗", pairs) == 7


def test_keywords_are_normalised_and_deduplicated(bank):
    territory = territory_save(acting_user=bank.sam, name="一街", kind="street", org_unit=bank.b1,
                               keywords="  红旗街１号 \n\n红旗街1号\n")
    assert list(territory.keywords.values_list("keyword", flat=True)) == ["红旗街1号"]


def test_a_territory_needs_keywords_and_a_team_from_its_subtree(bank):
    with pytest.raises(ValidationError) as error:
        territory_save(acting_user=bank.sam, name="空", kind="street", org_unit=bank.b1, keywords="\n",
                       team=[bank.carol])
    assert set(error.value.message_dict) == {"keywords", "team"}


def test_a_branch_head_keeps_only_territories_of_their_subtree(bank):
    territory_save(acting_user=bank.hank, name="城关村", kind="village", org_unit=bank.b1, keywords="城关村")
    with pytest.raises(PermissionDenied):
        territory_save(acting_user=bank.hank, name="兴隆村", kind="village", org_unit=bank.b2, keywords="兴隆村")
    with pytest.raises(PermissionDenied):
        territory_save(acting_user=bank.alice, name="城关二村", kind="village", org_unit=bank.b1, keywords="二村")


def test_routing_moves_prospects_to_the_unit_and_team_and_leaves_existing_customers(bank, area, make):
    _street, estate = area
    prospect = make(address="哈尔滨市红旗街幸福小区2栋", status="prospect")
    existing = make(address="哈尔滨市红旗街幸福小区3栋", status="existing")
    owned = make(address="哈尔滨市红旗街幸福小区4栋", status="prospect", owner=bank.alice)
    elsewhere = make(address="五常市山河镇", status="prospect")

    result = territory_route(user=bank.sam)

    assert Customer.objects.get(pk=prospect.pk).org_unit == bank.b2
    assert Customer.objects.get(pk=owned.pk).org_unit == bank.b2
    assert Customer.objects.get(pk=existing.pk).org_unit == bank.b1
    assert Customer.objects.get(pk=elsewhere.pk).org_unit == bank.b1
    owner = Assignment.objects.get(customer=prospect, active=True).owner
    assert owner in set(estate.team.all())
    assert Assignment.objects.get(customer=owned, active=True).owner == bank.alice  # an owner is kept
    assert not Assignment.objects.filter(customer=existing).exists()
    row = next(t for t in result.territories if t.territory_id == estate.pk)
    assert (row.routed, row.assigned) == (2, 1)
    entry = AuditEntry.objects.get(action="customer.route", object_id=str(prospect.pk))
    assert entry.actor == bank.sam and entry.changes == {"org_unit": ["B1", "B2"], "territory": "幸福小区"}
    summary = AuditEntry.objects.get(action="segments.territory_route")
    assert summary.changes["territories"] == {"幸福小区": {"routed": 2, "assigned": 1}}
    assert AuditEntry.objects.filter(action="assignment.set", object_id=str(prospect.pk)).exists()


def test_routing_twice_changes_nothing_the_second_time(bank, area, make):
    make(address="红旗街幸福小区1栋", status="prospect")
    territory_route(user=bank.sam)
    again = territory_route(user=bank.sam)
    assert (again.routed, again.assigned) == (0, 0)


def test_team_members_take_prospects_in_turn(bank, area, make):
    _street, estate = area
    prospects = [make(address=f"红旗街幸福小区{n}栋", status="prospect") for n in range(4)]
    territory_route(user=bank.sam)
    owners = [Assignment.objects.get(customer=p, active=True).owner for p in prospects]
    team = sorted(estate.team.all(), key=lambda u: u.pk)
    assert owners == [team[p.pk % 2] for p in prospects]
    assert {o.pk for o in owners} == {u.pk for u in team}


def test_a_branch_head_routes_only_within_their_subtree(bank, area, make):
    street, _estate = area
    mine = make(address="红旗街7号", status="prospect", org_unit=bank.b1)
    theirs = make(address="红旗街幸福小区9栋", status="prospect", org_unit=bank.b1)  # B2's territory wins
    result = territory_route(user=bank.hank)
    assert [t.territory_id for t in result.territories] == [street.pk]
    assert Customer.objects.get(pk=mine.pk).org_unit == bank.b1
    assert Customer.objects.get(pk=theirs.pk).org_unit == bank.b1  # not moved out of hank's sight


def test_a_manager_may_not_route(bank, area):
    with pytest.raises(PermissionDenied):
        territory_route(user=bank.alice)


def test_a_prospect_registered_in_a_territory_is_routed_at_once(bank, area):
    from guanxi.customers.services import customer_create
    from tests.factories import synth

    customer = customer_create(acting_user=bank.alice, data={
        "customer_type": "person", "name": "王小明", "id_number": synth.resident_id(), "org_code": "B1",
        "status": "prospect", "address": "哈尔滨市红旗街幸福小区6栋"})
    assert Customer.objects.get(pk=customer.pk).org_unit == bank.b2
    # Registered by a manager: the manager keeps it (谁营销谁维护), the team does not take it.
    assert Assignment.objects.get(customer=customer, active=True).owner == bank.alice


def test_imported_prospects_are_routed(bank, area, tmp_path):
    from guanxi.customers.importing.customers import customers_import
    from tests.factories import synth

    rows = ["客户类型,客户名称,证件号码,所属机构,地址,客户状态"]
    rows += [f"个人,客户{n},{synth.resident_id()},B1,红旗街幸福小区{n}栋,目标" for n in range(30)]
    rows += [f"个人,老客户{n},{synth.resident_id()},B1,红旗街幸福小区{n}栋,存量" for n in range(5)]
    path = tmp_path / "prospects.csv"
    path.write_text("\n".join(rows), encoding="utf-8")

    outcome = customers_import(acting_user=None, path=path)

    assert outcome.created == 35
    assert Customer.objects.filter(status="prospect", org_unit=bank.b2).count() == 30
    assert Customer.objects.filter(status="existing", org_unit=bank.b1).count() == 5
    assert Assignment.objects.filter(active=True, customer__status="prospect").count() == 30


def test_routing_takes_as_many_queries_for_many_prospects_as_for_one(bank, area, make,
                                                                      django_assert_max_num_queries):
    from guanxi.segmentation.services.territories import territory_route_registered

    ids = [make(address=f"红旗街{n}号", status="prospect", org_unit=bank.b2).pk for n in range(60)]
    with django_assert_max_num_queries(12):
        result = territory_route_registered(acting_user=None, customer_ids=ids)
    assert result.routed == 60 and Customer.objects.filter(pk__in=ids, org_unit=bank.b1).count() == 60


def test_counts_per_territory_follow_the_readers_scope(bank, area, make):
    street, estate = area
    make(address="红旗街1号", status="existing")
    make(address="红旗街2号", status="prospect")
    make(address="红旗街3号", status="prospect", owner=bank.alice)
    make(address="红旗街幸福小区1栋", status="prospect", org_unit=bank.b2)
    counts = territory_counts(user=bank.hank, territory_ids=[street.pk, estate.pk])
    assert (counts[street.pk].existing, counts[street.pk].prospects, counts[street.pk].unassigned) == (1, 2, 1)
    assert counts[estate.pk].prospects == 0  # in B2, outside hank's scope
    assert territory_counts(user=bank.alice, territory_ids=[street.pk])[street.pk].prospects == 1


def test_deleting_a_territory_is_audited(bank, area):
    street, _estate = area
    from guanxi.segmentation.services.territories import territory_delete

    territory_delete(acting_user=bank.hank, territory=street)
    assert not Territory.objects.filter(pk=street.pk).exists()
    assert AuditEntry.objects.filter(action="segments.territory_delete", actor=bank.hank).exists()


# --- pages ----------------------------------------------------------------------------------------------------------


def test_a_branch_head_adds_a_territory_on_the_page_audited(bank, login):
    response = login(bank.hank).post("/segments/territories/new/", {
        "name": "城关村", "kind": "village", "org_unit": "B1", "keywords": "城关村\n城关镇", "team": ["alice", "bob"]})
    assert response.status_code == 302
    territory = Territory.objects.get(name="城关村")
    assert territory.org_unit == bank.b1 and {u.username for u in territory.team.all()} == {"alice", "bob"}
    entry = AuditEntry.objects.get(action="segments.territory_create")
    assert entry.actor == bank.hank and entry.changes["keywords"] == [None, "城关村\n城关镇"]


def test_the_territory_form_shows_errors_in_chinese(bank, login):
    response = login(bank.hank).post("/segments/territories/new/", {"name": "城关村", "kind": "village",
                                                                    "org_unit": "B1", "keywords": " "})
    assert response.status_code == 422 and "这个字段是必填项" in response.content.decode()


def test_a_branch_head_sees_and_edits_only_their_subtrees_territories(bank, area, login):
    street, estate = area
    client = login(bank.hank)
    page = client.get("/segments/territories/").content.decode()
    assert "红旗街道" in page and "幸福小区" not in page
    assert client.get(f"/segments/territories/{estate.pk}/").status_code == 404
    assert client.get(f"/segments/territories/{estate.pk}/edit/").status_code == 404
    assert client.post(f"/segments/territories/{estate.pk}/delete/").status_code == 404
    assert client.get(f"/segments/territories/{street.pk}/edit/").status_code == 200


def test_a_manager_reads_territories_but_may_not_change_them(bank, area, login):
    street, _estate = area
    client = login(bank.alice)
    assert client.get("/segments/territories/").status_code == 200
    assert client.get(f"/segments/territories/{street.pk}/edit/").status_code == 403
    assert client.get("/segments/territories/new/").status_code == 403
    assert client.post("/segments/territories/route/").status_code == 403


def test_the_route_button_reports_per_territory(bank, area, login, make):
    make(address="红旗街幸福小区1栋", status="prospect")
    response = login(bank.sam).post("/segments/territories/route/", follow=True)
    page = response.content.decode()
    assert "幸福小区" in page and "1 个目标客户划入 B2" in page


def test_the_detail_page_lists_the_prospects_without_owner(bank, area, login, make):
    street, _estate = area
    lost = make(address="红旗街5号", status="prospect")
    kept = make(address="红旗街6号", status="prospect", owner=bank.alice)
    page = login(bank.hank).get(f"/segments/territories/{street.pk}/").content.decode()
    assert lost.customer_no in page and kept.customer_no not in page
    assert 'id="count-prospects">2<' in page and 'id="count-unassigned">1<' in page


def test_the_territory_list_query_count_does_not_grow(bank, login, make, django_assert_max_num_queries):
    client = login(bank.hank)
    for n in range(3):
        territory_save(acting_user=bank.hank, name=f"村{n}", kind="village", org_unit=bank.b1, keywords=f"{n}村",
                       team=[bank.alice])
    with django_assert_max_num_queries(12) as few:
        client.get("/segments/territories/")
    for n in range(3, 15):
        territory_save(acting_user=bank.hank, name=f"村{n}", kind="village", org_unit=bank.b1, keywords=f"{n}村",
                       team=[bank.alice, bank.bob])
        make(address=f"{n}村", status="prospect")
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get("/segments/territories/")


# --- API and command ------------------------------------------------------------------------------------------------


def test_the_api_creates_changes_and_deletes_a_territory(bank, api):
    client = api.login(bank.hank)
    created = client.post("/segments/territories", {"name": "城关村", "kind": "village", "org_code": "B1",
                                                    "keywords": ["城关村"], "team": ["alice"]})
    assert created.status_code == 201 and created.json()["team"] == ["alice"]
    pk = created.json()["id"]
    changed = client.put(f"/segments/territories/{pk}", {"name": "城关村", "kind": "village", "org_code": "B1",
                                                         "keywords": ["城关村", "城关镇"]})
    assert changed.status_code == 200 and changed.json()["keywords"] == ["城关村", "城关镇"]
    assert changed.json()["team"] == []
    assert client.delete(f"/segments/territories/{pk}").status_code == 204
    assert AuditEntry.objects.filter(action__startswith="segments.territory_", actor=bank.hank).count() == 3


def test_the_api_names_the_bad_field(bank, api):
    response = api.login(bank.hank).post("/segments/territories", {"name": "城关村", "kind": "hamlet",
                                                                    "org_code": "B1", "keywords": ["城关村"],
                                                                    "team": ["carol"]})
    assert response.status_code == 422
    assert {d["field"] for d in response.json()["detail"]} == {"kind", "team"}


def test_the_api_hides_other_subtrees_territories(bank, area, api):
    _street, estate = area
    client = api.login(bank.hank)
    assert [t["name"] for t in client.get("/segments/territories").json()["items"]] == ["红旗街道"]
    assert client.get(f"/segments/territories/{estate.pk}").status_code == 404
    assert client.delete(f"/segments/territories/{estate.pk}").status_code == 404
    assert client.post("/segments/territories", {"name": "x", "kind": "street", "org_code": "B2",
                                                 "keywords": ["x"]}).status_code == 403


def test_the_api_routes_and_reports_per_territory(bank, area, api, make):
    make("farmer", address="红旗街幸福小区1栋", status="prospect")
    make("person", address="红旗街幸福小区2栋", status="prospect")  # not the agri line's
    response = api.login(bank.lena).post("/segments/territories/route")
    assert response.status_code == 200
    rows = {row["name"]: row for row in response.json()["territories"]}
    assert rows["幸福小区"]["routed"] == 1 and rows["红旗街道"]["routed"] == 0
    assert api.login(bank.alice).post("/segments/territories/route").status_code == 403


def test_the_route_command(bank, area, make):
    from io import StringIO

    from django.core.management import call_command

    prospect = make(address="红旗街幸福小区1栋", status="prospect")
    out = StringIO()
    call_command("territories", "route", stdout=out)
    assert Customer.objects.get(pk=prospect.pk).org_unit == bank.b2
    assert "幸福小区" in out.getvalue()
    assert AuditEntry.objects.get(action="segments.territory_route").actor is None


def test_a_heads_registration_is_routed_only_within_their_subtree(bank, area):
    from guanxi.customers.services import customer_create
    from tests.factories import synth

    customer = customer_create(acting_user=bank.hank, data={
        "customer_type": "person", "name": "李小红", "id_number": synth.resident_id(), "org_code": "B1",
        "status": "prospect", "address": "红旗街幸福小区8栋"})  # B2's territory: hank would lose sight of it
    assert Customer.objects.get(pk=customer.pk).org_unit == bank.b1


def test_routing_can_be_narrowed_to_given_customers(bank, area, make):
    first = make(address="红旗街幸福小区1栋", status="prospect")
    second = make(address="红旗街幸福小区2栋", status="prospect")
    result = territory_route(user=bank.sam, customers=[first])
    assert result.routed == 1
    assert Customer.objects.get(pk=second.pk).org_unit == bank.b1


@pytest.mark.parametrize("persona", ["alice", "tina", "hank", "carol", "lena", "cora", "audrey", "sam", "sec", "ada"])
def test_every_role_opens_the_territory_pages_without_error(bank, area, login, persona):
    street, _estate = area
    client = login(getattr(bank, persona))
    assert client.get("/segments/territories/").status_code == 200
    assert client.get(f"/segments/territories/{street.pk}/").status_code in (200, 404)
