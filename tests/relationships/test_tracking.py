"""Follow-up tracking (跟踪问效): exact figures on a small bank, each scope, the XLSX, the query budget.

The bank (period: the last 30 days up to today, "not contacted" = 60 days):

    alice (B1) owns a1 (person), a2 (farmer), a3 (person); bob (B1) owns b1; carol (B2) owns c1 (company), c2 (farmer)
    hank (head of B1) and tina (teller of B1) own nothing; one B1 farmer has no owner.
"""

from __future__ import annotations

import io
from datetime import timedelta
from decimal import Decimal

import openpyxl
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from guanxi.core.services import token_create
from guanxi.customers.models import BalanceSnapshot
from guanxi.engagement.models import Interaction
from guanxi.relationships import tracking
from guanxi.segmentation.models import TargetList, TargetListEntry, TargetListEntryUpdate
from tests.factories import CustomerFactory, UserFactory

PERIOD_DAYS = 30
STALE_DAYS = 60


def _customer(org_unit, owner, customer_type="person", deposit="0", loan="0"):
    return CustomerFactory(org_unit=org_unit, owner=owner, customer_type=customer_type,
                           deposit_balance=Decimal(deposit), loan_balance=Decimal(loan))


def _contact(customer, staff, days_ago: float):
    return Interaction.objects.create(customer=customer, staff=staff, org_unit=staff.org_unit, channel="phone",
                                      summary="回访", occurred_at=timezone.now() - timedelta(days=days_ago))


@pytest.fixture
def period():
    today = timezone.localdate()
    return tracking.Period(start=today - timedelta(days=PERIOD_DAYS), end=today, stale_days=STALE_DAYS)


@pytest.fixture
def book(bank, period):
    start = period.start
    c = {
        "a1": _customer(bank.b1, bank.alice, deposit="1000.50"),
        "a2": _customer(bank.b1, bank.alice, "farmer", deposit="200.00", loan="5000.00"),
        "a3": _customer(bank.b1, bank.alice),
        "b1": _customer(bank.b1, bank.bob, deposit="50.00"),
        "c1": _customer(bank.b2, bank.carol, "company", deposit="10000.00", loan="20000.00"),
        "c2": _customer(bank.b2, bank.carol, "farmer", deposit="10.00"),
        "nobody": _customer(bank.b1, None, "farmer", deposit="123.00"),
    }
    snapshots = [
        ("a1", -40, "500.00", "0"), ("a1", -10, "800.25", "0"), ("a1", 5, "9999.00", "0"),  # after the start: ignored
        ("a3", 0, "300.00", "100.00"),  # on the start day: counts
        ("b1", -1, "70.00", "0"),
        ("c1", -5, "8000.00", "25000.00"),
        ("nobody", -3, "1.00", "0"),
    ]
    BalanceSnapshot.objects.bulk_create([
        BalanceSnapshot(customer=c[key], as_of=start + timedelta(days=offset), deposit_balance=Decimal(deposit),
                        loan_balance=Decimal(loan)) for key, offset, deposit, loan in snapshots])
    _contact(c["a1"], bank.alice, 2)
    _contact(c["a1"], bank.alice, 5)
    _contact(c["a2"], bank.alice, 10)
    _contact(c["a1"], bank.alice, 40)  # before the period
    _contact(c["a3"], bank.alice, 100)  # before the period and the 60 days: a3 is stale
    _contact(c["a1"], bank.bob, 3)  # bob called alice's customer
    _contact(c["c1"], bank.carol, 50)  # before the period, within the 60 days: c1 is not stale
    target = TargetList.objects.create(name="春季营销", org_unit=bank.b1, created_by=bank.hank)
    entries = {key: TargetListEntry.objects.create(target_list=target, customer=c[key], owner=owner)
               for key, owner in (("a1", bank.alice), ("a2", bank.alice), ("a3", bank.alice), ("b1", bank.bob))}
    now = timezone.now()
    for key, who, days_ago in (("a1", bank.alice, 1), ("a1", bank.alice, 3), ("a2", bank.alice, 4),
                               ("a3", bank.alice, 45), ("b1", bank.bob, 6)):
        TargetListEntryUpdate.objects.create(entry=entries[key], updated_by=who, old_status="to_contact",
                                             new_status="contacted", updated_at=now - timedelta(days=days_ago))
    return c


ALICE = {"customers": 3, "deposit_now": Decimal("1200.50"), "deposit_start": Decimal("1100.25"),
         "deposit_change": Decimal("100.25"), "loan_now": Decimal("5000.00"), "loan_start": Decimal("100.00"),
         "loan_change": Decimal("4900.00"), "contacts": 3, "customers_contacted": 2, "entries_worked": 2,
         "stale_customers": 1}
BOB = {"customers": 1, "deposit_now": Decimal("50.00"), "deposit_start": Decimal("70.00"),
       "deposit_change": Decimal("-20.00"), "loan_now": Decimal("0.00"), "loan_start": Decimal("0.00"),
       "loan_change": Decimal("0.00"), "contacts": 1, "customers_contacted": 1, "entries_worked": 1,
       "stale_customers": 1}
CAROL = {"customers": 2, "deposit_now": Decimal("10010.00"), "deposit_start": Decimal("8000.00"),
         "deposit_change": Decimal("2010.00"), "loan_now": Decimal("20000.00"), "loan_start": Decimal("25000.00"),
         "loan_change": Decimal("-5000.00"), "contacts": 0, "customers_contacted": 0, "entries_worked": 0,
         "stale_customers": 1}
NOTHING = {name: (Decimal("0.00") if isinstance(value, Decimal) else 0) for name, value in ALICE.items()}


def _rows(report) -> dict[str, dict]:
    return {row.owner.username: row.figures.as_dict() for row in report.owners}


def test_the_auditor_sees_every_owner_with_exact_figures(bank, book, period):
    report = tracking.tracking_report(user=bank.audrey, period=period)
    assert _rows(report) == {"alice": ALICE, "bob": BOB, "carol": CAROL}
    total = report.total.as_dict()
    assert total["customers"] == 6 and total["deposit_now"] == Decimal("11260.50")
    assert total["deposit_start"] == Decimal("9170.25") and total["loan_change"] == Decimal("-100.00")
    # Distinct over everyone: alice and bob both contacted a1.
    assert total["contacts"] == 4 and total["customers_contacted"] == 2 and total["entries_worked"] == 3
    assert total["stale_customers"] == 3


def test_a_manager_sees_only_her_own_row(bank, book, period):
    report = tracking.tracking_report(user=bank.alice, period=period)
    assert _rows(report) == {"alice": ALICE}
    assert report.total.as_dict() == ALICE


def test_a_branch_head_sees_the_owners_of_the_subtree(bank, book, period):
    report = tracking.tracking_report(user=bank.hank, period=period)
    assert list(_rows(report)) == ["alice", "bob", "hank", "tina"]
    assert _rows(report)["alice"] == ALICE and _rows(report)["bob"] == BOB and _rows(report)["tina"] == NOTHING
    [b1] = report.org_units
    assert b1.org_unit == bank.b1 and b1.owners == 4
    figures = b1.figures.as_dict()
    assert figures["customers"] == 4 and figures["deposit_change"] == Decimal("80.25")
    assert figures["contacts"] == 4 and figures["customers_contacted"] == 2  # a1 counted once for the branch
    assert figures["entries_worked"] == 3 and figures["stale_customers"] == 2


def test_a_line_department_sees_its_lines_customers_across_branches(bank, book, period):
    report = tracking.tracking_report(user=bank.lena, period=period)  # agri: the farmers a2 and c2
    rows = _rows(report)
    assert list(rows) == ["alice", "carol"]
    assert rows["alice"]["customers"] == 1 and rows["alice"]["deposit_now"] == Decimal("200.00")
    assert rows["alice"]["loan_change"] == Decimal("5000.00") and rows["alice"]["stale_customers"] == 0
    assert rows["carol"]["customers"] == 1 and rows["carol"]["deposit_start"] == Decimal("0.00")
    assert rows["carol"]["stale_customers"] == 1
    assert [(r.org_unit.code, r.owners, r.figures.customers) for r in report.org_units] == [("B1", 1, 1), ("B2", 1, 1)]


def test_administrators_and_approvers_read_nothing(login, bank, book):
    for user in (bank.sam, bank.sec, bank.ada, bank.cora):
        assert login(user).get("/relationships/tracking/").status_code == 403


def test_the_period_defaults_to_this_month_so_far():
    today = timezone.localdate()
    period = tracking.tracking_period()
    assert (period.start, period.end, period.stale_days) == (today.replace(day=1), today, 90)


def test_the_stale_drill_down_lists_one_owners_customers(login, bank, book, period):
    query = {"from": period.start.isoformat(), "to": period.end.isoformat(), "stale_days": STALE_DAYS}
    page = login(bank.hank).get("/relationships/tracking/stale/alice/", query).content.decode()
    assert book["a3"].customer_no in page and book["a1"].customer_no not in page
    assert login(bank.hank).get("/relationships/tracking/stale/carol/", query).status_code == 404
    assert login(bank.alice).get("/relationships/tracking/stale/bob/", query).status_code == 404
    page = login(bank.alice).get("/relationships/tracking/stale/alice/", query).content.decode()
    assert book["a3"].customer_no in page


def test_the_page_shows_the_tables_for_the_scope(login, bank, book, period):
    query = {"from": period.start.isoformat(), "to": period.end.isoformat(), "stale_days": STALE_DAYS}
    page = login(bank.hank).get("/relationships/tracking/", query).content.decode()
    assert 'id="tracking-owners"' in page and 'id="tracking-org-units"' in page
    assert 'data-owner="alice"' in page and 'data-owner="carol"' not in page
    assert "1,200.50" in page and "1,100.25" in page and "/relationships/tracking/stale/alice/?" in page
    page = login(bank.alice).get("/relationships/tracking/", query).content.decode()
    assert 'data-owner="alice"' in page and 'data-owner="bob"' not in page and 'id="tracking-org-units"' not in page


def test_bad_period_input_is_shown_on_the_page(login, bank, book):
    page = login(bank.hank).get("/relationships/tracking/", {"from": "2026-02-10", "to": "2026-02-01"})
    assert "起始日期不能晚于截止日期" in page.content.decode()


@pytest.fixture
def api(client):
    class Api:
        headers: dict = {}

        def login(self, user):
            self.headers = {"HTTP_AUTHORIZATION": f"Bearer {token_create(acting_user=None, user=user)}"}
            return self

        def get(self, path, **params):
            return client.get(f"/api/v1/relationships{path}", params, **self.headers)

    return Api()


def _api_figures(row: dict) -> dict:
    return {name: (Decimal(row[name]) if name in ("deposit_now", "deposit_start", "deposit_change", "loan_now",
                                                   "loan_start", "loan_change") else row[name]) for name in ALICE}


def test_the_api_gives_the_same_figures_per_owner_and_per_org_unit(api, bank, book, period):
    params = {"from": period.start.isoformat(), "to": period.end.isoformat(), "stale_days": STALE_DAYS}
    body = api.login(bank.audrey).get("/tracking", **params).json()
    assert body["from"] == period.start.isoformat() and body["to"] == period.end.isoformat()
    assert body["by"] == "owner" and body["stale_days"] == STALE_DAYS
    assert {row["owner"]: _api_figures(row) for row in body["rows"]} == {"alice": ALICE, "bob": BOB, "carol": CAROL}
    body = api.get("/tracking", by="org_unit", **params).json()
    assert [(row["org_code"], row["owners"], row["customers"]) for row in body["rows"]] == [("B1", 2, 4), ("B2", 1, 2)]
    assert body["total"]["customers_contacted"] == 2


def test_the_api_keeps_to_the_scope(api, bank, book):
    assert [row["owner"] for row in api.login(bank.alice).get("/tracking").json()["rows"]] == ["alice"]
    assert [row["owner"] for row in api.login(bank.lena).get("/tracking").json()["rows"]] == ["alice", "carol"]
    assert api.login(bank.sam).get("/tracking").status_code == 403


def test_the_api_names_bad_parameters(api, bank):
    api.login(bank.hank)
    for params, field in (({"from": "2026-03-02", "to": "2026-03-01"}, "from"), ({"to": "tomorrow"}, "to"),
                          ({"stale_days": "0"}, "stale_days"), ({"by": "region"}, "by")):
        response = api.get("/tracking", **params)
        assert response.status_code == 422 and response.json()["detail"][0]["field"] == field


def test_the_api_drill_down(api, bank, book, period):
    params = {"owner": "alice", "from": period.start.isoformat(), "to": period.end.isoformat(),
              "stale_days": STALE_DAYS}
    body = api.login(bank.hank).get("/tracking/stale", **params).json()
    assert [row["customer_no"] for row in body["items"]] == [book["a3"].customer_no]
    assert api.get("/tracking/stale", **{**params, "owner": "carol"}).status_code == 404


def test_the_xlsx_has_the_numbers_of_the_page(login, api, bank, book, period):
    params = {"from": period.start.isoformat(), "to": period.end.isoformat(), "stale_days": STALE_DAYS}
    response = login(bank.hank).get("/relationships/tracking/export/", params)
    assert response.status_code == 200 and response["Content-Disposition"].endswith('.xlsx"')
    workbook = openpyxl.load_workbook(io.BytesIO(response.content))
    by_owner, by_unit = workbook.worksheets
    names = list(ALICE)
    sheet_rows = {row[1]: dict(zip(names, row[3:], strict=True))
                  for row in by_owner.iter_rows(min_row=5, values_only=True) if row[1]}
    api_rows = {row["owner"]: _api_figures(row) for row in api.login(bank.hank).get("/tracking", **params).json()["rows"]}
    assert set(sheet_rows) == set(api_rows) == {"alice", "bob", "hank", "tina"}
    for username, figures in api_rows.items():
        assert {k: Decimal(str(v)).quantize(Decimal("0.01")) if isinstance(figures[k], Decimal) else v
                for k, v in sheet_rows[username].items()} == figures
    unit_row = next(by_unit.iter_rows(min_row=5, max_row=5, values_only=True))
    assert unit_row[1] == "B1" and unit_row[2] == 4 and unit_row[3] == 4 and unit_row[3 + names.index(
        "customers_contacted")] == 2


def test_the_report_runs_a_fixed_number_of_queries(login, api, bank, book, period, django_assert_max_num_queries):
    client = login(bank.hank)
    with CaptureQueriesContext(connection) as before:
        client.get("/relationships/tracking/")
    for index in range(8):
        manager = UserFactory(username=f"extra{index}", org_unit=bank.b1)
        for _ in range(2):
            customer = _customer(bank.b1, manager, deposit="10.00")
            _contact(customer, manager, 1)
    # 10 for the report (1 for the owners, 3 per grouping), the rest is the session and the signed-in user.
    with django_assert_max_num_queries(16) as after:
        assert client.get("/relationships/tracking/").status_code == 200
    assert len(after) == len(before)
    with django_assert_max_num_queries(16):
        assert client.get("/relationships/tracking/export/").status_code == 200
    api.login(bank.audrey)
    with django_assert_max_num_queries(14):  # the report's 10 and the token's
        assert len(api.get("/tracking").json()["rows"]) == 11
