"""Suspected duplicates (detection within scope) and merging two customers, audited and reversible."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import translation

from guanxi.core.models import AuditEntry
from guanxi.core.services import token_create
from guanxi.core.validators import resident_id_check_digit
from guanxi.customers import duplicates, search
from guanxi.customers.models import BalanceSnapshot, Customer, CustomerMerge, HouseholdMember
from guanxi.customers.synthetic import Synth
from tests.factories import CustomerFactory

synth = Synth(seed=404)


@pytest.fixture(autouse=True)
def _leave_the_shared_generator_as_found():
    """The factories draw names and numbers from one seeded stream shared by the whole session; put it back
    after each test here, so that adding these tests does not reshuffle the names other modules' fixtures get."""
    from tests import factories

    state, used = factories.synth.random.getstate(), set(factories.synth.used_ids)
    yield
    factories.synth.random.setstate(state)
    factories.synth.used_ids = used


def _other_check_digit(number: str) -> str:
    """The same first 17 characters with a wrong check character (a typo from before validation)."""
    wrong = "0" if number[-1] != "0" else "1"
    assert resident_id_check_digit(number[:17]) != wrong
    return number[:17] + wrong


@pytest.fixture
def suspects(bank):
    """B1: a same-name-and-phone pair (alice), a shared family phone (bob + alice), an ID typo pair (hank's unit,
    unassigned) and a raw 15-digit ID next to its 18-digit form; B2: carol's own same-name-and-phone pair."""
    id18 = synth.resident_id(born_from=1950, born_to=1990)
    typo = synth.resident_id(born_from=1950, born_to=1990)
    return dict(
        twin_a=CustomerFactory(org_unit=bank.b1, owner=bank.alice, name="王建国", phone="13900000001"),
        twin_b=CustomerFactory(org_unit=bank.b1, owner=bank.alice, name="王 建国", phone="13900000001"),
        family_a=CustomerFactory(org_unit=bank.b1, owner=bank.bob, name="李秀英", phone="13900000002"),
        family_b=CustomerFactory(org_unit=bank.b1, owner=bank.alice, name="张伟", phone="13900000002"),
        typo_a=CustomerFactory(org_unit=bank.b1, customer_type="farmer", name="赵一", phone="", id_number=typo),
        typo_b=CustomerFactory(org_unit=bank.b1, customer_type="farmer", name="赵二", phone="",
                               id_number=_other_check_digit(typo)),
        new_form=CustomerFactory(org_unit=bank.b1, name="钱三", phone="", id_number=id18),
        old_form=CustomerFactory(org_unit=bank.b1, name="钱三", phone="", id_number=id18[:6] + id18[8:17]),
        carol_a=CustomerFactory(org_unit=bank.b2, owner=bank.carol, name="孙丽", phone="13900000003"),
        carol_b=CustomerFactory(org_unit=bank.b2, owner=bank.carol, name="孙丽", phone="13900000003"),
    )


def _groups(user, **kwargs):
    groups, _has_next = duplicates.duplicate_groups(user=user, **kwargs)
    return {(g.reason, frozenset(c.pk for c in g.customers)) for g in groups}


def _group(reason, *customers):
    return (reason, frozenset(c.pk for c in customers))


# --- detection -------------------------------------------------------------------------------------------------


def test_the_branch_head_sees_every_reason_in_the_branch(bank, suspects):
    s = suspects
    assert _groups(bank.hank) == {
        _group("same_name_phone", s["twin_a"], s["twin_b"]),
        _group("same_phone", s["family_a"], s["family_b"]),
        _group("same_person_id_body", s["typo_a"], s["typo_b"]),
        _group("same_person_id_body", s["new_form"], s["old_form"]),
    }


def test_another_branchs_manager_sees_only_her_own_group(bank, suspects):
    assert _groups(bank.carol) == {_group("same_name_phone", suspects["carol_a"], suspects["carol_b"])}


def test_a_manager_sees_only_groups_of_customers_they_own(bank, suspects):
    # The family phone is shared with bob's customer, so alice sees one member only: no group.
    assert _groups(bank.alice) == {_group("same_name_phone", suspects["twin_a"], suspects["twin_b"])}


@pytest.mark.parametrize("listed", [duplicates.KEYS_LISTED, 1])
def test_id_typo_groups_are_found_whether_the_shared_bodies_are_listed_or_too_many(bank, suspects, monkeypatch,
                                                                                  listed):
    # Two shared bodies: listed, they narrow the grouping to their prefix ranges; over the limit, every
    # person's ID is grouped instead. The same groups either way.
    monkeypatch.setattr(duplicates, "KEYS_LISTED", listed)
    s = suspects
    assert _groups(bank.hank, reason="same_person_id_body") == {
        _group("same_person_id_body", s["typo_a"], s["typo_b"]),
        _group("same_person_id_body", s["new_form"], s["old_form"]),
    }


def test_a_phone_shared_with_a_merged_away_record_makes_no_group(bank, suspects):
    # The phone is shared in the table (the narrowing counts every record), but the group is made of the
    # customers that take part: a merged-away record does not.
    survivor = CustomerFactory(org_unit=bank.b1, name="周末", phone="13900000077")
    CustomerFactory(org_unit=bank.b1, name="周末", phone="13900000077", merged_into=survivor)
    assert not {members for _reason, members in _groups(bank.hank) if survivor.pk in members}


def test_a_shared_phone_under_one_name_is_not_listed_as_same_phone(bank, suspects):
    reasons = {reason for reason, members in _groups(bank.hank)
               if members == frozenset({suspects["twin_a"].pk, suspects["twin_b"].pk})}
    assert reasons == {"same_name_phone"}


def test_the_sysadmin_sees_no_groups(bank, suspects):
    assert _groups(bank.sam) == set()


def test_groups_can_be_narrowed_to_one_reason(bank, suspects):
    assert _groups(bank.hank, reason="same_phone") == {_group("same_phone", suspects["family_a"], suspects["family_b"])}


def test_an_unknown_reason_is_refused_naming_the_field(bank):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as caught:
        duplicates.duplicate_groups(user=bank.hank, reason="same_shoe_size")
    assert "reason" in caught.value.message_dict


def test_groups_are_paged_without_counting(bank, suspects):
    first, has_next = duplicates.duplicate_groups(user=bank.audrey, offset=0, limit=2)
    rest, has_more = duplicates.duplicate_groups(user=bank.audrey, offset=2, limit=10)
    assert len(first) == 2 and has_next
    assert len(rest) == 3 and not has_more
    seen = [(g.reason, tuple(c.pk for c in g.customers)) for g in first + rest]
    assert len(set(seen)) == 5


def test_a_big_group_shows_its_first_members_and_its_size(bank):
    for _ in range(duplicates.MEMBERS_SHOWN + 3):
        CustomerFactory(org_unit=bank.b1, phone="13900000009")
    (group,), _has_next = duplicates.duplicate_groups(user=bank.hank, reason="same_phone")
    assert group.size == duplicates.MEMBERS_SHOWN + 3
    assert len(group.customers) == duplicates.MEMBERS_SHOWN and group.more == 3


def test_the_duplicates_page_lists_groups_masked(login, bank, suspects):
    page = login(bank.hank).get("/customers/duplicates/").content.decode()
    twin = suspects["twin_a"]
    assert twin.customer_no in page and twin.masked_phone in page
    assert twin.phone not in page and twin.id_number not in page
    assert page.count('class="card duplicate-group"') == 4
    assert 'name="keep_id"' in page and 'name="reason"' in page


def test_the_auditor_sees_the_groups_but_no_merge_forms(login, bank, suspects):
    page = login(bank.audrey).get("/customers/duplicates/").content.decode()
    assert suspects["carol_a"].customer_no in page and 'name="keep_id"' not in page


def test_the_duplicates_page_query_count_is_bounded(login, bank, suspects, django_assert_max_num_queries):
    client = login(bank.hank)
    for _ in range(5):  # more groups do not mean more queries
        CustomerFactory(org_unit=bank.b1, phone=synth.mobile(), owner=bank.bob)
    with django_assert_max_num_queries(14):
        assert client.get("/customers/duplicates/").status_code == 200
    for index in range(6):
        phone = f"1390000010{index}"
        CustomerFactory(org_unit=bank.b1, phone=phone, name="周同名")
        CustomerFactory(org_unit=bank.b1, phone=phone, name="周同名")
    with django_assert_max_num_queries(14):
        assert client.get("/customers/duplicates/").status_code == 200


def test_the_list_page_links_to_the_duplicates(login, bank):
    assert 'href="/customers/duplicates/"' in login(bank.alice).get("/customers/").content.decode()


# --- merging ---------------------------------------------------------------------------------------------------


@pytest.fixture
def pair(bank):
    """Two farmer records of one household in B1, both owned by alice; `absorb` has more history."""
    keep = CustomerFactory(org_unit=bank.b1, customer_type="farmer", owner=bank.alice, name="刘德明", phone="",
                           address="", notes="老客户", industry="A")
    absorb = CustomerFactory(org_unit=bank.b1, customer_type="farmer", owner=bank.alice, name="刘德明",
                             phone="13900000004", address="兴隆镇永安村2组", notes="新登记", annual_income=Decimal("80000"),
                             household_size=4)
    HouseholdMember.objects.create(customer=absorb, name="王小红", relation="spouse")
    HouseholdMember.objects.create(customer=absorb, name="刘强", relation="child")
    HouseholdMember.objects.create(customer=keep, name="刘老汉", relation="parent")
    day1, day2 = datetime.date(2026, 1, 1), datetime.date(2026, 1, 2)
    BalanceSnapshot.objects.create(customer=keep, as_of=day1, deposit_balance=Decimal("100.00"))
    BalanceSnapshot.objects.create(customer=absorb, as_of=day1, deposit_balance=Decimal("5.00"))
    BalanceSnapshot.objects.create(customer=absorb, as_of=day2, deposit_balance=Decimal("6.00"))
    return keep, absorb


def _merge(user, keep, absorb, reason="同一农户重复登记"):
    return duplicates.customer_merge(acting_user=user, keep=keep, absorb=absorb, reason=reason)


def test_merging_moves_household_members(bank, pair):
    keep, absorb = pair
    _merge(bank.alice, keep, absorb)
    assert set(keep.members.values_list("name", flat=True)) == {"王小红", "刘强", "刘老汉"}
    assert not absorb.members.exists()


def test_merging_moves_balance_history_but_a_same_day_snapshot_stays_with_the_absorbed(bank, pair):
    keep, absorb = pair
    merge = _merge(bank.alice, keep, absorb)
    assert sorted((s.as_of.day, s.deposit_balance) for s in keep.balance_history.all()) == [
        (1, Decimal("100.00")), (2, Decimal("6.00"))]
    left = BalanceSnapshot.objects.get(customer=absorb)
    assert left.as_of.day == 1 and left.deposit_balance == Decimal("5.00")
    assert merge.left_with_absorbed == [["customers.balancesnapshot", "customer", left.pk]]


def test_the_absorbed_owner_becomes_history_on_the_kept_customer(bank, pair):
    keep, absorb = pair
    _merge(bank.alice, keep, absorb)
    assert keep.assignments.count() == 2
    assert keep.assignments.filter(active=True).count() == 1
    assert not absorb.assignments.exists()


def test_the_absorbed_owner_becomes_the_owner_of_a_kept_customer_without_one(bank):
    keep = CustomerFactory(org_unit=bank.b1, name="陈一")
    absorb = CustomerFactory(org_unit=bank.b1, name="陈一", owner=bank.bob)
    _merge(bank.hank, keep, absorb)
    assert keep.assignments.get(active=True).owner == bank.bob


def test_merging_fills_blank_fields_without_overwriting(bank, pair):
    keep, absorb = pair
    merge = _merge(bank.alice, keep, absorb)
    keep.refresh_from_db()
    assert keep.phone == "13900000004" and keep.phone_last4 == "0004"
    assert keep.address == "兴隆镇永安村2组" and keep.annual_income == Decimal("80000.00") and keep.household_size == 4
    assert keep.notes == "老客户" and keep.industry == "A"
    assert merge.filled == {"phone": "", "address": "", "annual_income": None, "household_size": None}


def test_the_absorbed_customer_disappears_for_managers_but_not_for_the_auditor(login, bank, pair):
    keep, absorb = pair
    _merge(bank.alice, keep, absorb)
    absorb.refresh_from_db()
    assert absorb.merged_into == keep and absorb.merged_at is not None
    for user in (bank.alice, bank.hank, bank.lena):
        assert not Customer.objects.visible_to(user).filter(pk=absorb.pk).exists()
    assert Customer.objects.visible_to(bank.audrey).filter(pk=absorb.pk).exists()
    assert absorb.customer_no not in login(bank.hank).get("/customers/", {"q": "13900000004"}).content.decode()
    assert login(bank.alice).get(f"/customers/{absorb.pk}/").status_code == 404
    assert absorb.customer_no in login(bank.audrey).get("/customers/", {"q": absorb.customer_no}).content.decode()


def test_merging_is_audited_with_counts_and_masked_filled_fields(bank, pair):
    keep, absorb = pair
    merge = _merge(bank.alice, keep, absorb)
    entry = AuditEntry.objects.get(action="customer.merge")
    assert entry.actor_username == "alice" and entry.object_id == str(keep.pk)
    assert entry.changes["merge"] == merge.pk and entry.changes["absorbed"] == absorb.customer_no
    assert entry.changes["moved"] == {"customers.householdmember": 2, "customers.balancesnapshot": 1,
                                      "relationships.assignment": 1}
    assert entry.changes["left_with_absorbed"] == {"customers.balancesnapshot": 1}
    assert entry.changes["filled"]["phone"] == ["", "139****0004"]
    assert "13900000004" not in str(entry.changes)


def test_the_kept_customers_name_tokens_are_rebuilt(bank, pair):
    keep, absorb = pair
    _merge(bank.alice, keep, absorb)
    assert search.tokens_of(keep.pk) == {
        "刘", "德", "明", "刘德", "德明"}
    assert Customer.objects.visible_to(bank.alice).search("刘德明").get() == keep


def _state(*customers):
    """Every field of the customers and every row that points at them (search tokens included)."""
    skip = {"updated_at", "merged_into", "merged_at"}
    state = {}
    for customer in customers:
        customer = Customer.objects.get(pk=customer.pk)
        state[customer.pk] = {
            "fields": {f.attname: getattr(customer, f.attname) for f in Customer._meta.concrete_fields
                       if f.name not in skip},
            "members": sorted(customer.members.values_list("pk", "name")),
            "balances": sorted(customer.balance_history.values_list("pk", "as_of", "deposit_balance")),
            "assignments": sorted(customer.assignments.values_list("pk", "owner_id", "active", "started_at",
                                                                   "ended_at")),
            "tokens": sorted(search.tokens_of(customer.pk)),
        }
    return state


def test_reverting_restores_exactly_the_previous_state(bank, pair):
    keep, absorb = pair
    before = _state(keep, absorb)
    merge = _merge(bank.alice, keep, absorb)
    assert _state(keep, absorb) != before
    duplicates.customer_merge_revert(acting_user=bank.alice, merge=merge)
    assert _state(keep, absorb) == before
    absorb.refresh_from_db()
    assert absorb.merged_into is None and absorb.merged_at is None
    assert Customer.objects.visible_to(bank.alice).filter(pk=absorb.pk).exists()
    merge.refresh_from_db()
    assert merge.reverted_at is not None and merge.reverted_by == bank.alice
    entry = AuditEntry.objects.get(action="customer.merge_revert")
    assert entry.changes["moved_back"] == {"customers.householdmember": 2, "customers.balancesnapshot": 1,
                                           "relationships.assignment": 1}
    assert entry.changes["restored"]["phone"] == ["139****0004", ""]


def test_reverting_gives_back_an_owner_that_had_become_the_kept_customers(bank):
    keep = CustomerFactory(org_unit=bank.b1, name="陈一")
    absorb = CustomerFactory(org_unit=bank.b1, name="陈一", owner=bank.bob)
    before = _state(keep, absorb)
    merge = _merge(bank.hank, keep, absorb)
    duplicates.customer_merge_revert(acting_user=bank.hank, merge=merge)
    assert _state(keep, absorb) == before


def test_a_field_changed_after_the_merge_keeps_its_newer_value_on_revert(bank, pair):
    from guanxi.customers.services import customer_update

    keep, absorb = pair
    merge = _merge(bank.alice, keep, absorb)
    keep.refresh_from_db()
    customer_update(acting_user=bank.alice, customer=keep, data={"address": "兴隆镇新村1组"})
    duplicates.customer_merge_revert(acting_user=bank.alice, merge=merge)
    keep.refresh_from_db()
    assert keep.address == "兴隆镇新村1组" and keep.phone == ""
    entry = AuditEntry.objects.get(action="customer.merge_revert")
    assert entry.changes["kept_newer"] == {"address": ["兴隆镇永安村2组", "兴隆镇新村1组"]}


def test_a_second_revert_is_refused(bank, pair):
    from django.core.exceptions import ValidationError

    keep, absorb = pair
    merge = _merge(bank.alice, keep, absorb)
    duplicates.customer_merge_revert(acting_user=bank.alice, merge=merge)
    with pytest.raises(ValidationError) as caught:
        duplicates.customer_merge_revert(acting_user=bank.alice, merge=merge)
    assert "撤销" in caught.value.message_dict["merge"][0]  # "this merge was already reverted on … by …"
    assert AuditEntry.objects.filter(action="customer.merge_revert").count() == 1


def test_a_merge_into_a_customer_merged_away_since_is_reverted_last(bank, pair):
    from django.core.exceptions import ValidationError

    keep, absorb = pair
    first = _merge(bank.alice, keep, absorb)
    final = CustomerFactory(org_unit=bank.b1, customer_type="farmer", owner=bank.alice, name="刘德明")
    second = _merge(bank.alice, final, keep)
    with translation.override("en"), pytest.raises(ValidationError, match="revert that merge first"):
        duplicates.customer_merge_revert(acting_user=bank.alice, merge=first)
    duplicates.customer_merge_revert(acting_user=bank.alice, merge=second)
    duplicates.customer_merge_revert(acting_user=bank.alice, merge=first)
    assert absorb.members.count() == 2


@pytest.mark.parametrize(("change", "field"), [
    ({"reason": "  "}, "reason"),
    ({"same": True}, "absorb_id"),
])
def test_bad_merges_are_refused_naming_the_field(bank, pair, change, field):
    from django.core.exceptions import ValidationError

    keep, absorb = pair
    with pytest.raises(ValidationError) as caught:
        _merge(bank.alice, keep, keep if change.get("same") else absorb, reason=change.get("reason", "dup"))
    assert field in caught.value.message_dict
    assert not CustomerMerge.objects.exists()


def test_an_absorbed_customer_cannot_be_merged_again(bank, pair):
    from django.core.exceptions import ValidationError

    keep, absorb = pair
    _merge(bank.alice, keep, absorb)
    other = CustomerFactory(org_unit=bank.b1, customer_type="farmer", name="刘德明")
    absorb.refresh_from_db()
    with pytest.raises(ValidationError) as caught:
        _merge(bank.hank, other, absorb)
    assert "absorb_id" in caught.value.message_dict


def test_a_company_is_not_merged_into_a_person(bank):
    from django.core.exceptions import ValidationError

    person = CustomerFactory(org_unit=bank.b1, phone="13900000005")
    company = CustomerFactory(org_unit=bank.b1, customer_type="company", phone="13900000005")
    with pytest.raises(ValidationError):
        _merge(bank.hank, person, company)


def test_a_teller_may_not_merge(bank, pair):
    from django.core.exceptions import PermissionDenied

    keep, absorb = pair
    with pytest.raises(PermissionDenied):
        _merge(bank.tina, keep, absorb)


def test_merge_moves_rows_of_every_model_pointing_at_customers():
    labels = {(model._meta.label_lower, fk.name) for model, fk in duplicates.customer_foreign_keys()}
    assert {("customers.householdmember", "customer"), ("customers.balancesnapshot", "customer"),
            ("relationships.assignment", "customer")} <= labels
    assert not {label for label, _name in labels} & duplicates.NOT_MOVED


# --- pages -----------------------------------------------------------------------------------------------------


def test_the_confirmation_page_shows_what_will_move(login, bank, pair):
    keep, absorb = pair
    response = login(bank.alice).get("/customers/duplicates/merge/",
                                     {"keep_id": keep.pk, "absorb_id": absorb.pk, "reason": "dup"})
    page = response.content.decode()
    assert response.status_code == 200
    assert 'data-moves="customers.householdmember"' in page and 'data-stays="customers.balancesnapshot"' in page
    assert "139****0004" in page and "13900000004" not in page
    assert 'name="csrfmiddlewaretoken"' in page
    assert not CustomerMerge.objects.exists()


def test_merging_through_the_page(login, bank, pair):
    keep, absorb = pair
    response = login(bank.alice).post("/customers/duplicates/merge/",
                                      {"keep_id": keep.pk, "absorb_id": absorb.pk, "reason": "同一农户"})
    assert response.status_code == 302 and response.url == f"/customers/{keep.pk}/"
    assert CustomerMerge.objects.get().reason == "同一农户"


def test_the_page_refuses_a_merge_without_a_reason(login, bank, pair):
    keep, absorb = pair
    response = login(bank.alice).post("/customers/duplicates/merge/",
                                      {"keep_id": keep.pk, "absorb_id": absorb.pk, "reason": ""})
    assert response.status_code == 422 and 'data-field="reason"' in response.content.decode()
    assert not CustomerMerge.objects.exists()


def test_the_merge_page_is_404_outside_the_scope(login, bank, pair, customers):
    keep, _absorb = pair
    client = login(bank.alice)
    params = {"keep_id": keep.pk, "absorb_id": customers.bob_person.pk, "reason": "x"}
    assert client.get("/customers/duplicates/merge/", params).status_code == 404
    assert client.post("/customers/duplicates/merge/", params).status_code == 404
    assert client.get("/customers/duplicates/merge/", {"keep_id": "x"}).status_code == 404


def test_the_auditor_gets_no_merge_page(login, bank, pair):
    keep, absorb = pair
    client = login(bank.audrey)
    assert client.get("/customers/duplicates/merge/", {"keep_id": keep.pk, "absorb_id": absorb.pk}).status_code == 403
    assert client.post("/customers/duplicates/merge/",
                       {"keep_id": keep.pk, "absorb_id": absorb.pk, "reason": "x"}).status_code == 403


def test_the_merge_form_needs_the_csrf_token(bank, pair):
    keep, absorb = pair
    client = Client(enforce_csrf_checks=True)
    client.force_login(bank.alice, backend="django.contrib.auth.backends.ModelBackend")
    response = client.post("/customers/duplicates/merge/", {"keep_id": keep.pk, "absorb_id": absorb.pk, "reason": "x"})
    assert response.status_code == 403 and not CustomerMerge.objects.exists()


def test_the_history_lists_merges_and_reverts_them(login, bank, pair):
    keep, absorb = pair
    merge = _merge(bank.alice, keep, absorb)
    client = login(bank.alice)
    page = client.get("/customers/duplicates/").content.decode()
    assert f'id="merge-{merge.pk}"' in page and f"/customers/merges/{merge.pk}/revert/" in page
    response = client.post(f"/customers/merges/{merge.pk}/revert/")
    assert response.status_code == 302
    merge.refresh_from_db()
    assert merge.reverted
    page = client.get("/customers/duplicates/").content.decode()
    assert f"/customers/merges/{merge.pk}/revert/" not in page
    response = client.post(f"/customers/merges/{merge.pk}/revert/", follow=True)
    assert "已于" in response.content.decode() and "撤销" in response.content.decode()


def test_another_managers_merge_is_404_to_revert(login, bank, pair):
    keep, absorb = pair
    merge = _merge(bank.alice, keep, absorb)
    assert login(bank.carol).post(f"/customers/merges/{merge.pk}/revert/").status_code == 404
    assert f'id="merge-{merge.pk}"' not in login(bank.carol).get("/customers/duplicates/").content.decode()


# --- API -------------------------------------------------------------------------------------------------------


@pytest.fixture
def api(client):
    class Api:
        headers: dict = {}

        def login(self, user):
            self.headers = {"HTTP_AUTHORIZATION": f"Bearer {token_create(acting_user=None, user=user)}"}
            return self

        def get(self, path, **params):
            return client.get(f"/api/v1{path}", params, **self.headers)

        def post(self, path, payload=None):
            return client.post(f"/api/v1{path}", payload or {}, content_type="application/json", **self.headers)

    return Api()


def test_the_api_lists_groups_paged_and_masked(api, bank, suspects):
    body = api.login(bank.hank).get("/customers/duplicates", limit=3).json()
    assert len(body["items"]) == 3 and body["next_offset"] == 3
    assert body["items"][0]["reason"] == "same_name_phone"
    member = body["items"][0]["customers"][0]
    assert "*" in member["id_number"] and "*" in member["phone"]
    rest = api.get("/customers/duplicates", limit=3, offset=3).json()
    assert len(rest["items"]) == 1 and rest["next_offset"] is None
    assert api.get("/customers/duplicates", reason="nope").status_code == 422


def test_the_api_merges_and_reverts(api, bank, pair):
    keep, absorb = pair
    response = api.login(bank.alice).post(f"/customers/{keep.pk}/merge", {"absorb_id": absorb.pk, "reason": "dup"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["keep_id"] == keep.pk and body["absorbed_id"] == absorb.pk and body["merged_by"] == "alice"
    assert body["moved"]["customers.householdmember"] == 2
    assert body["left_with_absorbed"] == {"customers.balancesnapshot": 1}
    assert set(body["filled"]) == {"phone", "address", "annual_income", "household_size"}
    assert api.get(f"/customers/{absorb.pk}").status_code == 404
    reverted = api.post(f"/customers/merges/{body['id']}/revert")
    assert reverted.status_code == 200 and reverted.json()["reverted_by"] == "alice"
    again = api.post(f"/customers/merges/{body['id']}/revert")
    assert again.status_code == 422 and again.json()["detail"][0]["field"] == "merge"
    assert api.get("/customers/merges").json()["count"] == 1


def test_the_api_needs_a_reason(api, bank, pair):
    keep, absorb = pair
    response = api.login(bank.alice).post(f"/customers/{keep.pk}/merge", {"absorb_id": absorb.pk})
    assert response.status_code == 422 and response.json()["detail"][0]["field"] == "reason"


def test_a_manager_cannot_merge_a_customer_outside_their_scope(api, bank, pair, customers):
    keep, _absorb = pair
    api.login(bank.alice)
    response = api.post(f"/customers/{keep.pk}/merge", {"absorb_id": customers.bob_person.pk, "reason": "dup"})
    assert response.status_code == 404
    response = api.post(f"/customers/{customers.bob_person.pk}/merge", {"absorb_id": keep.pk, "reason": "dup"})
    assert response.status_code == 404
    assert not CustomerMerge.objects.exists()


def test_the_auditor_cannot_merge(api, bank, pair):
    keep, absorb = pair
    response = api.login(bank.audrey).post(f"/customers/{keep.pk}/merge", {"absorb_id": absorb.pk, "reason": "dup"})
    assert response.status_code == 403
    assert not CustomerMerge.objects.exists() and not AuditEntry.objects.filter(action="customer.merge").exists()


def test_the_auditor_cannot_revert(api, bank, pair):
    keep, absorb = pair
    merge = _merge(bank.alice, keep, absorb)
    assert api.login(bank.audrey).post(f"/customers/merges/{merge.pk}/revert").status_code == 403


def test_the_api_duplicates_query_count_is_bounded(api, bank, suspects, django_assert_max_num_queries):
    api.login(bank.audrey)
    with django_assert_max_num_queries(10):
        assert len(api.get("/customers/duplicates").json()["items"]) == 5


def test_imports_for_a_merged_away_identifier_update_the_survivor(bank, tmp_path):
    """Registration rows and balance feeds naming the absorbed record land on the customer it was merged into."""
    import csv as csv_module

    from django.core.management import call_command

    from guanxi.customers.duplicates import customer_merge

    keep = CustomerFactory(org_unit=bank.b1, owner=bank.alice, name="王五", phone="13900001111")
    absorb = CustomerFactory(org_unit=bank.b1, name="王五", phone="13900001111")
    customer_merge(acting_user=bank.hank, keep=keep, absorb=absorb, reason="same person")
    registration = tmp_path / "r.csv"
    with registration.open("w", encoding="utf-8", newline="") as handle:
        writer = csv_module.writer(handle)
        writer.writerow(["客户类型", "客户名称", "证件号码", "所属机构", "地址"])
        writer.writerow(["个人", "王五", absorb.id_number, "B1", "新地址"])
    call_command("import", "customers", str(registration), "--no-progress")
    feed = tmp_path / "b.csv"
    feed.write_text(f"证件号码,日期,存款余额,贷款余额\n{absorb.id_number},2026-11-20,777,0\n", encoding="utf-8")
    call_command("import", "balances", str(feed), "--no-progress")
    keep.refresh_from_db()
    absorb.refresh_from_db()
    assert keep.address == "新地址" and str(keep.deposit_balance) == "777.00"
    assert keep.id_number != absorb.id_number and absorb.address != "新地址"
