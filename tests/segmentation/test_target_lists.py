"""Target lists (名单制管理): building from filters and files, scope, working entries, progress, downloads."""

from __future__ import annotations

import io
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from guanxi.core.models import AuditEntry
from guanxi.segmentation.models import TargetList, TargetListEntry, TargetListEntryUpdate
from guanxi.segmentation.selectors import progress_by_owner
from guanxi.segmentation.services import segments_recompute
from guanxi.segmentation.services.target_lists import (
    BuildFilters,
    target_list_build,
    target_list_create,
    target_list_entries_reassign,
    target_list_entry_update,
    target_list_update,
    target_list_upload,
)


@pytest.fixture
def people(bank, make):
    """Customers of B1 and B2 with owners, products and tiers; segments computed as after a nightly run."""
    folks = SimpleNamespace(
        alice_farmer=make("farmer", deposit="2000000", owner=bank.alice, status="prospect"),
        alice_person=make("person", deposit="500", owner=bank.alice),
        bob_farmer=make("farmer", loan="80000", owner=bank.bob, status="prospect"),
        loose_farmer=make("farmer", status="prospect"),  # no owner
        carol_farmer=make("farmer", org_unit=bank.b2, owner=bank.carol, status="prospect"),
    )
    segments_recompute(acting_user=None)
    return folks


@pytest.fixture
def hank_list(bank):
    return target_list_create(acting_user=bank.hank, name="春季三农营销", description="走访农户")


def entries_of(target_list) -> dict[int, str]:
    return dict(TargetListEntry.objects.filter(target_list=target_list).values_list("customer_id", "owner__username"))


# --- building -------------------------------------------------------------------------------------------------------


def test_a_list_built_from_filters_holds_exactly_the_matching_visible_customers(bank, people, hank_list):
    result = target_list_build(acting_user=bank.hank, target_list=hank_list,
                               filters=BuildFilters(market="agri", status="prospect"))
    assert entries_of(hank_list) == {people.alice_farmer.pk: "alice", people.bob_farmer.pk: "bob"}
    assert (result.added, result.already, result.without_owner) == (2, 0, 1)  # loose_farmer has no owner
    entry = AuditEntry.objects.get(action="segments.target_list_build")
    assert entry.actor == bank.hank and entry.changes["added"] == 2
    assert entry.changes["filters"] == {"market": "agri", "status": "prospect"}


def test_a_default_owner_takes_the_customers_without_owner(bank, people, hank_list):
    result = target_list_build(acting_user=bank.hank, target_list=hank_list,
                               filters=BuildFilters(market="agri", unassigned_only=True), default_owner=bank.tina)
    assert entries_of(hank_list) == {people.loose_farmer.pk: "tina"}
    assert result.without_owner == 0


def test_building_again_adds_only_the_new_customers(bank, people, hank_list, make):
    target_list_build(acting_user=bank.hank, target_list=hank_list, filters=BuildFilters(market="agri"))
    newcomer = make("farmer", owner=bank.bob)
    again = target_list_build(acting_user=bank.hank, target_list=hank_list, filters=BuildFilters(market="agri"))
    assert (again.added, again.already) == (1, 2) and newcomer.pk in entries_of(hank_list)


@pytest.mark.parametrize(("filters", "expected"), [
    (BuildFilters(tier="high"), {"alice_farmer"}),
    (BuildFilters(loan=True), {"bob_farmer"}),
    (BuildFilters(deposit=True), {"alice_farmer", "alice_person"}),
    (BuildFilters(status="existing"), {"alice_person"}),
    (BuildFilters(sub_market="township"), {"alice_farmer", "bob_farmer"}),
    (BuildFilters(org_code="B2"), set()),
])
def test_each_filter_narrows_the_list(bank, people, hank_list, filters, expected):
    target_list_build(acting_user=bank.hank, target_list=hank_list, filters=filters)
    assert set(entries_of(hank_list)) == {getattr(people, name).pk for name in expected}


def test_a_line_department_builds_lists_of_its_own_line_bank_wide(bank, people):
    agri = target_list_create(acting_user=bank.lena, name="农户名单", org_unit=bank.hq)
    assert agri.market == "agri"
    target_list_build(acting_user=bank.lena, target_list=agri, filters=BuildFilters(), default_owner=bank.carol)
    assert set(entries_of(agri)) == {people.alice_farmer.pk, people.bob_farmer.pk, people.loose_farmer.pk,
                                     people.carol_farmer.pk}
    with pytest.raises(ValidationError) as error:
        target_list_create(acting_user=bank.lena, name="公司名单", market="company")
    assert "market" in error.value.message_dict


def test_only_heads_and_line_departments_build_within_their_scope(bank, hank_list):
    with pytest.raises(PermissionDenied):
        target_list_create(acting_user=bank.alice, name="我的名单")
    with pytest.raises(ValidationError) as error:
        target_list_create(acting_user=bank.hank, name="兴隆名单", org_unit=bank.b2)
    assert "org_code" in error.value.message_dict
    carols_head = target_list_create(acting_user=bank.lena, name="兴隆农户", org_unit=bank.b2)
    with pytest.raises(PermissionDenied):
        target_list_build(acting_user=bank.hank, target_list=carols_head, filters=BuildFilters())


def test_a_bad_filter_is_named(bank, hank_list):
    with pytest.raises(ValidationError) as error:
        target_list_build(acting_user=bank.hank, target_list=hank_list, filters=BuildFilters(tier="gold"))
    assert set(error.value.message_dict) == {"tier"}


def test_an_uploaded_file_adds_its_customers_and_reports_every_unknown_row(bank, people, hank_list, tmp_path):
    path = tmp_path / "名单.csv"
    path.write_text("客户号,备注\n"
                    f"{people.alice_farmer.customer_no},老客户\n"
                    "KH9999999999,不存在\n"
                    f"{people.carol_farmer.customer_no},兴隆的\n"
                    "hello,乱写\n"
                    f"{people.alice_farmer.customer_no},重复\n"
                    f"{people.loose_farmer.customer_no},没有责任人\n", encoding="utf-8-sig")
    result = target_list_upload(acting_user=bank.hank, target_list=hank_list, path=path)
    assert entries_of(hank_list) == {people.alice_farmer.pk: "alice"}
    assert [(line, reason) for line, _value, reason in result.rejected] == [
        (3, "您的数据权限范围内没有此编号的客户"), (4, "您的数据权限范围内没有此编号的客户"), (5, "既不是客户号也不是证件号码"),
        (7, "该客户没有维护责任人；请选择默认跟进人")]
    assert result.already == 1 and result.added == 1
    assert AuditEntry.objects.get(action="segments.target_list_upload").changes["rejected"] == 4


def test_an_xlsx_of_id_numbers_without_header_is_read_from_its_first_row(bank, people, hank_list, tmp_path):
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append([people.bob_farmer.id_number])
    sheet.append(["110101199003077777"])
    sheet.append([people.loose_farmer.id_number])
    path = tmp_path / "ids.xlsx"
    book.save(path)
    result = target_list_upload(acting_user=bank.hank, target_list=hank_list, path=path, default_owner=bank.bob)
    assert entries_of(hank_list) == {people.bob_farmer.pk: "bob", people.loose_farmer.pk: "bob"}
    assert [line for line, _value, _reason in result.rejected] == [2]
    assert "*" in result.rejected[0][1]  # the ID number is shown masked


# --- scope ----------------------------------------------------------------------------------------------------------


@pytest.fixture
def worked(bank, people, hank_list):
    """hank's list with alice's farmer (alice), bob's farmer (bob), the loose farmer (tina)."""
    target_list_build(acting_user=bank.hank, target_list=hank_list, filters=BuildFilters(market="agri"),
                      default_owner=bank.tina)
    entries = {e.owner.username: e for e in TargetListEntry.objects.filter(target_list=hank_list)
               .select_related("owner")}
    return SimpleNamespace(target_list=hank_list, **entries)


def test_a_manager_sees_only_the_entries_they_own(bank, worked, login, api):
    url = f"/segments/target-lists/{worked.target_list.pk}/"
    client = login(bank.alice)
    page = client.get(url).content.decode()
    assert worked.alice.customer.customer_no in page and worked.bob.customer.customer_no not in page
    assert client.get(f"{url}entries/{worked.bob.pk}/").status_code == 404
    assert client.get(f"{url}entries/{worked.alice.pk}/").status_code == 200
    answer = api.login(bank.alice).get(f"/segments/target-lists/{worked.target_list.pk}/entries")
    assert [e["id"] for e in answer.json()["items"]] == [worked.alice.pk]
    assert api.get(f"/segments/target-lists/{worked.target_list.pk}/entries/{worked.bob.pk}").status_code == 404
    assert api.patch(f"/segments/target-lists/{worked.target_list.pk}/entries/{worked.bob.pk}",
                     {"status": "contacted"}).status_code == 404


def test_a_manager_without_entries_does_not_see_the_list(bank, worked, login, api):
    assert login(bank.carol).get(f"/segments/target-lists/{worked.target_list.pk}/").status_code == 404
    assert api.login(bank.carol).get(f"/segments/target-lists/{worked.target_list.pk}").status_code == 404
    assert [t["id"] for t in api.get("/segments/target-lists").json()["items"]] == []


def test_a_branch_head_sees_the_entries_of_their_subtree_on_a_bank_wide_list(bank, people, api):
    agri = target_list_create(acting_user=bank.lena, name="农户名单", org_unit=bank.hq)
    target_list_build(acting_user=bank.lena, target_list=agri, filters=BuildFilters(), default_owner=bank.carol)
    answer = api.login(bank.hank).get(f"/segments/target-lists/{agri.pk}/entries?limit=50")
    customers = {e["customer_id"] for e in answer.json()["items"]}
    assert people.alice_farmer.pk in customers and people.carol_farmer.pk not in customers
    assert api.post(f"/segments/target-lists/{agri.pk}/build", {}).status_code == 403  # not his list to build


def test_a_branch_head_does_not_see_another_subtrees_list(bank, people, login):
    from tests.factories import UserFactory

    head_b2 = UserFactory(username="helen", role="branch_head", org_unit=bank.b2)
    theirs = target_list_create(acting_user=head_b2, name="兴隆名单")
    target_list_build(acting_user=head_b2, target_list=theirs, filters=BuildFilters())
    assert login(bank.hank).get(f"/segments/target-lists/{theirs.pk}/").status_code == 404


# --- working entries ------------------------------------------------------------------------------------------------


def test_an_owner_update_writes_history_and_the_audit_log(bank, worked):
    before = worked.alice.status_changed_at
    next_week = timezone.localdate() + timedelta(days=7)
    update = target_list_entry_update(acting_user=bank.alice, entry=worked.alice, status="contacted",
                                      next_step="带上贷款资料上门", next_step_on=next_week, note="电话约好了")
    entry = TargetListEntry.objects.get(pk=worked.alice.pk)
    assert (entry.status, entry.next_step, entry.next_step_on) == ("contacted", "带上贷款资料上门", next_week)
    assert entry.status_changed_at > before
    assert (update.updated_by, update.old_status, update.new_status, update.note) == (
        bank.alice, "to_contact", "contacted", "电话约好了")
    audit = AuditEntry.objects.get(action="segments.target_list_entry_update")
    assert audit.actor == bank.alice and audit.changes["status"] == ["to_contact", "contacted"]
    changed_at = entry.status_changed_at
    target_list_entry_update(acting_user=bank.alice, entry=entry, status="contacted", next_step="改天",
                             next_step_on=next_week)
    assert TargetListEntry.objects.get(pk=entry.pk).status_changed_at == changed_at  # status kept: time kept
    assert TargetListEntryUpdate.objects.filter(entry=entry).count() == 2


def test_only_the_owner_works_an_entry_and_only_on_an_open_list(bank, worked):
    with pytest.raises(PermissionDenied):
        target_list_entry_update(acting_user=bank.hank, entry=worked.alice, status="won")
    with pytest.raises(ValidationError):  # nothing changed, no note
        target_list_entry_update(acting_user=bank.alice, entry=worked.alice, status="to_contact")
    target_list_update(acting_user=bank.hank, target_list=worked.target_list, name="春季三农营销", status="closed")
    worked.alice.target_list.refresh_from_db()
    with pytest.raises(ValidationError):
        target_list_entry_update(acting_user=bank.alice, entry=worked.alice, status="won")
    assert not TargetListEntryUpdate.objects.exists()


def test_the_owner_updates_an_entry_on_its_page(bank, worked, login):
    url = f"/segments/target-lists/{worked.target_list.pk}/entries/{worked.alice.pk}/"
    response = login(bank.alice).post(url, {"status": "interested", "next_step": "面谈", "note": "想贷款"})
    assert response.status_code == 302
    page = login(bank.alice).get(url).content.decode()
    assert "想贷款" in page and "有意向" in page
    assert login(bank.bob).post(url, {"status": "won"}).status_code == 404


def test_the_owner_updates_an_entry_over_the_api(bank, worked, api):
    path = f"/segments/target-lists/{worked.target_list.pk}/entries/{worked.bob.pk}"
    response = api.login(bank.bob).patch(path, {"status": "won", "note": "开了存款户"})
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "won" and body["updates"][0]["note"] == "开了存款户"
    assert api.patch(path, {"status": "sleeping"}).status_code == 422
    assert api.login(bank.hank).patch(path, {"status": "lost"}).status_code == 403


def test_a_head_reassigns_entries_in_bulk(bank, worked, login):
    response = login(bank.hank).post(f"/segments/target-lists/{worked.target_list.pk}/reassign/",
                                     {"entries": [worked.alice.pk, worked.bob.pk], "owner": "tina"})
    assert response.status_code == 302
    assert set(entries_of(worked.target_list).values()) == {"tina"}
    audit = AuditEntry.objects.get(action="segments.target_list_reassign")
    assert audit.changes["count"] == 2 and audit.changes["from"] == ["alice", "bob"]
    with pytest.raises(PermissionDenied):
        target_list_entries_reassign(acting_user=bank.alice, target_list=worked.target_list,
                                     entry_ids=[worked.alice.pk], owner=bank.alice)
    with pytest.raises(ValidationError):  # carol is outside hank's subtree
        target_list_entries_reassign(acting_user=bank.hank, target_list=worked.target_list,
                                     entry_ids=[worked.alice.pk], owner=bank.carol)


# --- progress -------------------------------------------------------------------------------------------------------


@pytest.fixture
def progressed(bank, worked):
    """alice: contacted, overdue; bob: won (past date, not overdue); tina: to contact, due next week."""
    today = timezone.localdate()
    target_list_entry_update(acting_user=bank.alice, entry=worked.alice, status="contacted",
                             next_step_on=today - timedelta(days=2))
    target_list_entry_update(acting_user=bank.bob, entry=worked.bob, status="won", next_step_on=today - timedelta(days=2))
    target_list_entry_update(acting_user=bank.tina, entry=worked.tina, status="to_contact",
                             next_step_on=today + timedelta(days=7))
    return worked


def test_progress_counts_statuses_shares_and_overdue_steps(bank, progressed):
    total, per_owner = progress_by_owner(user=bank.hank, target_list=progressed.target_list)
    assert total.total == 3 and total.counts["contacted"] == 1 and total.counts["won"] == 1
    assert (total.contacted, total.contacted_percent, total.won_percent, total.overdue) == (2, 66.7, 33.3, 1)
    by_owner = {p.owner.username: p for p in per_owner}
    assert (by_owner["alice"].overdue, by_owner["bob"].won_percent, by_owner["tina"].contacted_percent) == (1, 100.0,
                                                                                                            0.0)
    alone, mine = progress_by_owner(user=bank.alice, target_list=progressed.target_list)
    assert alone.total == 1 and [p.owner for p in mine] == [bank.alice]


def test_progress_over_the_api(bank, progressed, api):
    body = api.login(bank.hank).get(f"/segments/target-lists/{progressed.target_list.pk}/progress").json()
    assert body["total"]["total"] == 3 and body["total"]["overdue"] == 1 and body["total"]["won_percent"] == 33.3
    assert {row["owner"] for row in body["owners"]} == {"alice", "bob", "tina"}


def test_the_xlsx_download_has_the_progress_numbers(bank, progressed, login):
    from openpyxl import load_workbook

    response = login(bank.hank).get(f"/segments/target-lists/{progressed.target_list.pk}/progress.xlsx")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content)).active
    header = [cell.value for cell in sheet[4]]
    assert header[:7] == ["维护责任人", "名单客户", "待联系", "已联系", "有意向", "营销成功", "已放弃"]
    rows = {row[0]: row for row in sheet.iter_rows(min_row=5, max_row=8, values_only=True)}
    total = rows["合计"]
    assert total[1:7] == (3, 1, 1, 0, 1, 0)
    assert round(total[7], 4) == round(2 / 3, 4) and round(total[8], 4) == round(1 / 3, 4) and total[9] == 1
    assert rows[bank.alice.display_name][9] == 1


def test_the_list_page_shows_progress_with_a_bounded_query_count(bank, people, login, django_assert_max_num_queries):
    client = login(bank.hank)
    first = target_list_create(acting_user=bank.hank, name="名单0")
    target_list_build(acting_user=bank.hank, target_list=first, filters=BuildFilters())
    with django_assert_max_num_queries(12) as few:
        page = client.get("/segments/target-lists/").content.decode()
    assert "名单0" in page
    for n in range(1, 12):
        more = target_list_create(acting_user=bank.hank, name=f"名单{n}")
        target_list_build(acting_user=bank.hank, target_list=more, filters=BuildFilters(), default_owner=bank.bob)
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get("/segments/target-lists/")


def test_the_list_detail_page_query_count_does_not_grow(bank, hank_list, login, make,
                                                        django_assert_max_num_queries):
    client = login(bank.hank)
    make("farmer", owner=bank.alice)
    target_list_build(acting_user=bank.hank, target_list=hank_list, filters=BuildFilters())
    url = f"/segments/target-lists/{hank_list.pk}/"
    with django_assert_max_num_queries(20) as few:
        client.get(url)
    for owner in (bank.alice, bank.bob, bank.tina) * 6:
        make("farmer", owner=owner)
    target_list_build(acting_user=bank.hank, target_list=hank_list, filters=BuildFilters())
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(url)


# --- my list --------------------------------------------------------------------------------------------------------


def test_my_list_shows_my_open_entries_by_next_step_with_overdue_marked(bank, progressed, login, make,
                                                                        django_assert_max_num_queries):
    other = target_list_create(acting_user=bank.hank, name="秋季名单")
    later = make("farmer", owner=bank.alice)
    target_list_build(acting_user=bank.hank, target_list=other, filters=BuildFilters())
    entry = TargetListEntry.objects.get(target_list=other, customer=later)
    target_list_entry_update(acting_user=bank.alice, entry=entry, status="contacted",
                             next_step_on=timezone.localdate() + timedelta(days=1))
    client = login(bank.alice)
    with django_assert_max_num_queries(8):
        page = client.get("/segments/target-lists/mine/").content.decode()
    overdue_at = page.index(f'id="entry-{progressed.alice.pk}" class="overdue"')
    assert overdue_at < page.index(f'id="entry-{entry.pk}"')
    assert "已逾期" in page
    mine = login(bank.bob).get("/segments/target-lists/mine/").content.decode()
    assert f'id="entry-{progressed.bob.pk}"' not in mine  # won: nothing left to do


def test_an_entry_is_updated_from_my_list_with_htmx(bank, worked, login):
    url = f"/segments/target-lists/{worked.alice.target_list_id}/entries/{worked.alice.pk}/"
    response = login(bank.alice).post(url, {"status": "interested", "note": "有兴趣"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    row = response.content.decode()
    assert row.lstrip().startswith("<tr") and "有意向" in row
    assert TargetListEntryUpdate.objects.get(entry=worked.alice).new_status == "interested"


# --- pages and API for builders -------------------------------------------------------------------------------------


def test_a_head_creates_and_fills_a_list_on_the_pages(bank, people, login):
    client = login(bank.hank)
    response = client.post("/segments/target-lists/new/", {"name": "高端客户名单", "org_code": "B1", "market": ""})
    assert response.status_code == 302
    target_list = TargetList.objects.get(name="高端客户名单")
    response = client.post(f"/segments/target-lists/{target_list.pk}/build/", {"tier": "high"}, follow=True)
    assert "已加入 1 个客户" in response.content.decode()
    assert set(entries_of(target_list)) == {people.alice_farmer.pk}


def test_the_upload_page_lists_the_refused_rows(bank, people, hank_list, login):
    file = SimpleUploadedFile("list.csv", f"客户号\n{people.bob_farmer.customer_no}\nKH0000000000\n".encode())
    response = login(bank.hank).post(f"/segments/target-lists/{hank_list.pk}/upload/", {"file": file})
    page = response.content.decode()
    assert response.status_code == 200 and 'id="upload-rejected"' in page and "KH0000000000" in page
    assert set(entries_of(hank_list)) == {people.bob_farmer.pk}


def test_a_manager_cannot_open_the_builder_pages(bank, worked, login):
    client = login(bank.alice)
    assert client.get("/segments/target-lists/new/").status_code == 403
    assert client.post(f"/segments/target-lists/{worked.target_list.pk}/build/", {}).status_code == 403
    assert client.get(f"/segments/target-lists/{worked.target_list.pk}/edit/").status_code == 403


def test_the_api_creates_a_list_from_filters_and_reports_the_upload(bank, people, api):
    client = api.login(bank.hank)
    created = client.post("/segments/target-lists", {"name": "三农目标", "filters": {"market": "agri"},
                                                     "default_owner": "tina"})
    assert created.status_code == 201
    body = created.json()
    assert body["org_code"] == "B1" and body["build"]["added"] == 3
    upload = client.upload(f"/segments/target-lists/{body['id']}/upload",
                           {"file": SimpleUploadedFile("a.csv", b"customer_no\nKH1234567890\n")})
    assert upload.status_code == 200
    assert upload.json()["rejected"] == [{"line": 2, "value": "KH1234567890",
                                          "reason": "您的数据权限范围内没有此编号的客户"}]
    bad = client.post("/segments/target-lists", {"name": "x", "filters": {"status": "dormant"}})
    assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "status"
    assert not TargetList.objects.filter(name="x").exists()  # created and built together, or not at all


@pytest.mark.parametrize("persona", ["alice", "tina", "hank", "carol", "lena", "cora", "audrey", "sam", "sec", "ada"])
def test_every_role_opens_the_list_pages_without_error(bank, progressed, login, persona):
    client = login(getattr(bank, persona))
    assert client.get("/segments/target-lists/").status_code == 200
    assert client.get("/segments/target-lists/mine/").status_code == 200
    assert client.get(f"/segments/target-lists/{progressed.target_list.pk}/").status_code in (200, 404)


def test_the_api_entry_list_query_count_does_not_grow(bank, hank_list, api, make, django_assert_max_num_queries):
    client = api.login(bank.hank)
    make("farmer", owner=bank.alice)
    target_list_build(acting_user=bank.hank, target_list=hank_list, filters=BuildFilters())
    path = f"/segments/target-lists/{hank_list.pk}/entries?limit=100"
    with django_assert_max_num_queries(10) as few:
        assert len(client.get(path).json()["items"]) == 1
    for owner in (bank.alice, bank.bob, bank.tina) * 5:
        make("farmer", owner=owner)
    target_list_build(acting_user=bank.hank, target_list=hank_list, filters=BuildFilters())
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(client.get(path).json()["items"]) == 16
