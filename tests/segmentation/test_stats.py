"""附件1/附件2: the market line × tier table, its totals, its scope, its API and its Excel file."""

import io
from decimal import Decimal

import openpyxl
import pytest
from django.db.models import Count, Sum

from guanxi.customers.models import Customer
from guanxi.segmentation.selectors import segment_table
from guanxi.segmentation.services import segments_recompute


@pytest.fixture
def book(bank, make):
    """Customers of every line and tier in B1 (alice, bob, nobody) and B2 (carol), plus a prospect."""
    made = [
        make("person", deposit="1000000.01", owner=bank.alice),
        make("person", deposit="0.01", loan="0.02", owner=bank.alice),
        make("farmer", deposit="150000.33", owner=bank.alice),
        make("farmer", loan="2500000.10", owner=bank.bob),
        make("company", deposit="123456.78", loan="600000", owner=bank.bob),
        make("person", deposit="33.30"),
        make("company", deposit="5000000", owner=bank.carol, org_unit=bank.b2),
        make("person", deposit="200000", owner=bank.carol, org_unit=bank.b2),
        make("person", deposit="300000", owner=bank.alice, status="prospect"),
    ]
    segments_recompute(acting_user=None)
    return made


def _expected(queryset):
    row = queryset.aggregate(n=Count("id"), deposit=Sum("deposit_balance"), loan=Sum("loan_balance"))
    return row["n"], row["deposit"] or Decimal("0.00"), row["loan"] or Decimal("0.00")


def test_every_cell_and_total_equals_the_sums_over_its_customers(bank, book):
    table = segment_table(user=bank.hank, org_unit=bank.b1)
    existing = Customer.objects.filter(org_unit=bank.b1, status="existing")
    for market, _label, cells in table.rows:
        for cell in cells:
            subset = existing.filter(**({"market": market} if market else {}), **({"tier": cell.tier} if cell.tier else {}))
            assert (cell.count, cell.deposit, cell.loan) == _expected(subset), (market, cell.tier)
    assert table.total.count == 6
    assert table.total.deposit == Decimal("1273490.43") and table.total.loan == Decimal("3100000.12")
    assert table.cell("agri", "high").count == 1 and table.cell("company", "mid").count == 1


def test_the_prospects_table_is_attachment_2(bank, book):
    table = segment_table(user=bank.hank, org_unit=bank.b1, status="prospect")
    assert table.form_number == 2 and table.total.count == 1 and table.cell("personal", "mid").count == 1


def test_a_manager_sees_only_their_own_customers_in_the_table(bank, book):
    table = segment_table(user=bank.alice, org_unit=bank.union)
    assert table.total.count == 3
    assert table.total.deposit == Decimal("1150000.35")


def test_the_chosen_subtree_limits_the_table(bank, book, login):
    union = segment_table(user=bank.audrey, org_unit=bank.union)
    b2 = segment_table(user=bank.audrey, org_unit=bank.b2)
    assert union.total.count == 8 and b2.total.count == 2


def test_a_branch_head_cannot_choose_a_unit_outside_their_subtree(bank, book, login):
    assert login(bank.hank).get("/segments/", {"org": "B2"}).status_code == 404
    assert login(bank.hank).get("/segments/", {"org": "U1"}).status_code == 404


def test_a_line_department_sees_its_line_only(bank, book):
    table = segment_table(user=bank.lena, org_unit=bank.hq)
    assert table.total.count == 2
    assert table.cell("company", "").count == 0 and table.cell("agri", "").count == 2


def test_the_page_shows_the_grid_with_links_to_the_customer_lists(bank, book, login):
    response = login(bank.hank).get("/segments/")
    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="segment-table"' in body
    assert "/customers/?status=existing&amp;within=B1&amp;market=agri&amp;tier=high" in body
    assert "1273490.43" in body


def test_the_link_behind_a_cell_lists_its_customers(bank, book, login):
    client = login(bank.hank)
    response = client.get("/customers/", {"status": "existing", "within": "B1", "market": "agri", "tier": "high"})
    assert response.status_code == 200
    assert list(response.context["page"]) == [book[3]]


def test_the_page_uses_a_bounded_number_of_queries(bank, book, login, make, django_assert_max_num_queries):
    client = login(bank.hank)
    client.get("/segments/")
    for _n in range(20):
        make("company", deposit="10", owner=bank.alice)
    with django_assert_max_num_queries(9):
        assert client.get("/segments/").status_code == 200


def test_the_api_returns_the_table(bank, book, api):
    body = api.login(bank.hank).get("/segments/stats", org_code="B1").json()
    assert body["form"] == 1 and body["org_code"] == "B1"
    assert body["total"]["count"] == 6 and Decimal(body["total"]["deposit"]) == Decimal("1273490.43")
    cells = {(c["market"], c["tier"]): c for c in body["cells"]}
    assert cells[("agri", "high")]["count"] == 1 and cells[("", "high")]["count"] == 2


def test_the_api_refuses_a_unit_outside_the_scope(bank, book, api):
    assert api.login(bank.carol).get("/segments/stats", org_code="B1").status_code == 404


def test_the_excel_file_is_laid_out_like_the_form_with_the_right_totals(bank, book, login):
    response = login(bank.hank).get("/segments/stats.xlsx", {"org": "B1"})
    assert response.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    assert "1" in str(sheet["A1"].value)
    assert bank.b1.name in str(sheet["A2"].value)
    rows = list(sheet.iter_rows(min_row=6, max_row=9, values_only=True))
    total = rows[-1]
    assert total[-3:] == (6, pytest.approx(1273490.43), pytest.approx(3100000.12))
    assert Decimal(str(total[-2])) == Decimal("1273490.43")
    assert sum(row[-3] for row in rows[:-1]) == 6
