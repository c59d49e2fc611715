"""Value tiers and product classes, recomputed set-based; the tier history; the command; after a feed."""

import csv
from datetime import date
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from guanxi.core.models import AuditEntry
from guanxi.customers.models import Customer
from guanxi.segmentation.models import TierChange, TierThreshold
from guanxi.segmentation.services import segments_recompute, tier_threshold_update


def _tiers() -> dict[int, str]:
    return dict(Customer.objects.values_list("pk", "tier"))


def test_the_plans_default_thresholds_give_the_tiers(bank, make):
    high_by_deposit = make(deposit="1000000")
    high_by_loan = make("company", loan="2000000")
    mid_by_deposit = make("farmer", deposit="100000")
    mid_by_loan = make(loan="500000")
    general = make(deposit="99999.99", loan="499999.99")
    segments_recompute(acting_user=None)
    tiers = _tiers()
    assert tiers[high_by_deposit.pk] == tiers[high_by_loan.pk] == "high"
    assert tiers[mid_by_deposit.pk] == tiers[mid_by_loan.pk] == "mid"
    assert tiers[general.pk] == "general"


def test_each_market_line_has_its_own_thresholds(bank, make):
    TierThreshold.objects.filter(market="agri").update(deposit_high=Decimal("50000"), deposit_mid=Decimal("10000"))
    farmer = make("farmer", deposit="60000")
    person = make("person", deposit="60000")
    segments_recompute(acting_user=None)
    assert _tiers()[farmer.pk] == "high" and _tiers()[person.pk] == "general"


def test_product_classes_come_from_balances_and_products(bank, make):
    saver = make(deposit="10")
    borrower = make(products="LOAN")
    card_only = make(products="CARD")
    plain = make(products="DEP;LOAN")
    nothing = make()
    segments_recompute(acting_user=None)
    flags = {pk: (d, lo, i) for pk, d, lo, i in Customer.objects.values_list(
        "pk", "is_deposit_customer", "is_loan_customer", "is_intermediary_customer")}
    assert flags[saver.pk] == (True, False, False)
    assert flags[borrower.pk] == (False, True, False)
    assert flags[card_only.pk] == (False, False, True)
    assert flags[plain.pk] == (True, True, False)
    assert flags[nothing.pk] == (False, False, False)


def test_a_recompute_moves_exactly_the_customers_that_crossed_a_threshold(bank, make):
    stays_high = make(deposit="2000000")
    falls = make(deposit="1000000")
    rises = make(deposit="99999.99")
    stays_general = make(deposit="5")
    segments_recompute(acting_user=None, as_of=date(2026, 10, 31))
    TierChange.objects.all().delete()
    Customer.objects.filter(pk=falls.pk).update(deposit_balance=Decimal("999999.99"))  # one fen below high
    Customer.objects.filter(pk=rises.pk).update(deposit_balance=Decimal("100000"))  # exactly mid
    Customer.objects.filter(pk=stays_high.pk).update(deposit_balance=Decimal("1500000"))
    Customer.objects.filter(pk=stays_general.pk).update(deposit_balance=Decimal("6"))
    result = segments_recompute(acting_user=None, as_of=date(2026, 11, 28))
    moves = {(c.customer_id, c.old_tier, c.new_tier, c.as_of) for c in TierChange.objects.all()}
    assert moves == {(falls.pk, "high", "mid", date(2026, 11, 28)), (rises.pk, "general", "mid", date(2026, 11, 28))}
    assert result.total_moved == 2
    assert _tiers() == {stays_high.pk: "high", falls.pk: "mid", rises.pk: "mid", stays_general.pk: "general"}


def test_a_second_recompute_changes_nothing(bank, make):
    make(deposit="1000000", products="DEP;CARD", industry="F")
    segments_recompute(acting_user=None)
    again = segments_recompute(acting_user=None)
    assert again.total_moved == 0 and again.total_updated == 0


def test_a_recompute_is_audited(bank, make):
    make(deposit="1000000")
    segments_recompute(acting_user=bank.sam, as_of=date(2026, 11, 1))
    entry = AuditEntry.objects.get(action="segments.recompute")
    assert entry.actor == bank.sam and entry.changes["moved"]["personal"] == 1


def test_the_recompute_runs_a_fixed_number_of_queries(bank, make, django_assert_max_num_queries):
    for n in range(30):
        make(deposit=str(n * 50_000))
    with django_assert_max_num_queries(20):
        segments_recompute(acting_user=None)


def test_changing_a_lines_threshold_moves_its_customers_and_is_audited(bank, make):
    farmer = make("farmer", deposit="300000")
    person = make(deposit="300000")
    segments_recompute(acting_user=None)
    TierChange.objects.all().delete()
    tier_threshold_update(acting_user=bank.lena, market="agri", deposit_high=Decimal("250000"),
                          loan_high=Decimal("2000000"), deposit_mid=Decimal("100000"), loan_mid=Decimal("500000"))
    assert _tiers() == {farmer.pk: "high", person.pk: "mid"}
    assert TierChange.objects.get().customer_id == farmer.pk
    entry = AuditEntry.objects.get(action="segments.threshold_update")
    assert entry.actor == bank.lena and entry.changes["deposit_high"] == ["1000000.00", "250000.00"]


def test_the_command_recomputes(bank, make):
    rich = make(deposit="1500000")
    out = StringIO()
    call_command("segment", "--as", "sam", "--as-of", "2026-11-01", stdout=out)
    assert "personal: 1 customer(s) updated, 1 tier move(s)" in out.getvalue()
    assert _tiers()[rich.pk] == "high"
    assert TierChange.objects.get().as_of == date(2026, 11, 1)


def test_the_command_refuses_an_unknown_user(bank):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("segment", "--as", "nobody", stdout=StringIO())


def test_a_balance_import_recomputes_the_tiers(tmp_path, bank, make):
    climber = make(deposit="100")
    steady = make(deposit="100")
    segments_recompute(acting_user=None)
    path = tmp_path / "feed.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["证件号码", "日期", "存款余额", "贷款余额", "持有产品"])
        writer.writerow([climber.id_number, "2026-11-27", "1200000", "0", "DEP;WM"])
        writer.writerow([steady.id_number, "2026-11-27", "200", "0", "DEP"])
    call_command("import", "balances", str(path), "--no-progress", stdout=StringIO())
    climber.refresh_from_db()
    assert climber.tier == "high" and climber.is_intermediary_customer
    assert [(c.customer_id, c.new_tier, c.as_of) for c in TierChange.objects.all()] == [
        (climber.pk, "high", date(2026, 11, 27))]


def test_a_dry_run_import_does_not_recompute(tmp_path, bank, make):
    climber = make(deposit="100")
    path = tmp_path / "feed.csv"
    path.write_text(f"证件号码,日期,存款余额,贷款余额\n{climber.id_number},2026-11-27,1200000,0\n", encoding="utf-8")
    call_command("import", "balances", str(path), "--no-progress", "--dry-run", stdout=StringIO())
    assert not TierChange.objects.exists()


def test_a_registered_customer_is_segmented_at_once_without_history(bank):
    from guanxi.customers.services import customer_create
    from guanxi.customers.synthetic import Synth

    customer = customer_create(acting_user=bank.alice, data={
        "customer_type": "farmer", "name": "王大山", "id_number": Synth(5).resident_id(), "org_code": "B1",
        "address": "红星农场", "deposit_balance": "1500000"})
    stored = Customer.objects.values("tier", "sub_market", "is_deposit_customer").get(pk=customer.pk)
    assert stored == {"tier": "high", "sub_market": "farm", "is_deposit_customer": True}
    assert not TierChange.objects.exists()


def test_an_imported_registration_batch_is_segmented(tmp_path, bank):
    from guanxi.customers.synthetic import Synth

    synth = Synth(11)
    path = tmp_path / "reg.csv"
    path.write_text("客户类型,客户名称,证件号码,所属机构,行业,存款余额\n"
                    f"公司,某某制造有限公司,{synth.uscc()},B1,C1311,150000\n"
                    f"个人,李四,{synth.resident_id()},B1,P,0\n", encoding="utf-8")
    call_command("import", "customers", str(path), "--no-progress", stdout=StringIO())
    stored = dict(Customer.objects.values_list("name", "sub_market"))
    assert stored == {"某某制造有限公司": "manufacturing", "李四": "public_institution"}
    assert Customer.objects.get(name="某某制造有限公司").tier == "mid"


@pytest.mark.parametrize("workers", [0, 2])
def test_customers_segmented_as_they_are_imported_are_segmented_as_the_recompute_would(tmp_path, bank, workers):
    """The import computes the segments as it writes the customers (in the statement that writes them, or, on
    PostgreSQL, in its worker processes as it prepares their rows); the nightly recompute finds nothing to change.
    With a line's own thresholds and rules of both kinds, an address keyword in Latin letters among them."""
    from guanxi.customers.importing.customers import customers_import
    from guanxi.customers.synthetic import HEADER_ZH, CustomerFile, Synth
    from guanxi.segmentation.models import SubMarket, SubMarketRule

    tier_threshold_update(acting_user=bank.lena, market="agri", deposit_high=Decimal("250000"),
                          loan_high=Decimal("900000"), deposit_mid=Decimal("30000"), loan_mid=Decimal("100000"))
    farm = SubMarket.objects.get(market="agri", code="farm")
    SubMarketRule.objects.create(market="agri", kind="address_keyword", value="Xin", sub_market=farm, priority=0)
    SubMarketRule.objects.create(market="agri", kind="address_keyword", value="路", sub_market=farm, priority=1)
    path = tmp_path / "reg.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER_ZH)
        writer.writerows(CustomerFile(seed=31, org_codes=["B1", "B2"]).rows(400))
        synth = Synth(41)
        for number, text in enumerate(["兴隆镇Xin村", "兴隆镇xin村", "兴隆镇XIN村", "", "100%农场", "红星农场_路"]):
            cells = {"客户类型": "农户", "客户名称": f"王{'一二三四五六'[number]}", "证件号码": synth.resident_id(),
                     "所属机构": "B1", "地址": text, "存款余额": str(20000 * number)}
            writer.writerow([cells.get(header, "") for header in HEADER_ZH])
    assert customers_import(acting_user=None, path=path, workers=workers).created == 406
    columns = ("id_number", "tier", "sub_market", "is_deposit_customer", "is_loan_customer", "is_intermediary_customer")
    imported = sorted(Customer.objects.values_list(*columns))
    assert len({row[1] for row in imported}) == 3 and len({row[2] for row in imported}) > 3
    assert Customer.objects.get(address="兴隆镇Xin村").sub_market == "farm"
    segments_recompute(acting_user=None)
    assert sorted(Customer.objects.values_list(*columns)) == imported


@pytest.mark.parametrize("workers", [0, 2])
def test_a_registration_update_moves_the_customers_at_once(tmp_path, transactional_db, bank, workers):
    """A registration file that changes balances or industry re-segments those customers in its own
    batches (with their tier history), on either import path; a file that changes only phones does not."""
    from guanxi.customers.importing.customers import customers_import
    from guanxi.customers.synthetic import HEADER_ZH, CustomerFile

    rows = [list(row) for row in CustomerFile(seed=33, org_codes=["B1"]).rows(1200)]
    type_at, deposit_at, industry_at, loan_at, phone_at = (
        HEADER_ZH.index(name) for name in ("客户类型", "存款余额", "行业", "贷款余额", "手机号码"))

    def write(name, body):
        path = tmp_path / name
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(HEADER_ZH)
            writer.writerows(body)
        return path

    for row in rows:
        row[deposit_at], row[loan_at] = "100", "0"
    assert customers_import(acting_user=None, path=write("first.csv", rows), workers=0).created == 1200
    assert set(Customer.objects.values_list("tier", flat=True)) == {"general"}
    company = next(i for i, row in enumerate(rows) if row[type_at] == "公司")
    rows[0][deposit_at] = "1,000,000"  # crosses the high threshold
    rows[1][loan_at] = "600000"  # the mid one
    rows[company][industry_at] = "C1311"  # a company moves to manufacturing
    for row in rows[2:1100]:
        row[phone_at] = "13900001111"  # many changed rows: the long list of ids
    rows[1150][deposit_at] = "100000"  # after them, mid
    outcome = customers_import(acting_user=bank.hank, path=write("update.csv", rows), workers=workers)
    assert outcome.updated >= 1101
    tier = dict(Customer.objects.values_list("id_number", "tier"))
    assert tier[rows[0][2]] == "high" and tier[rows[1][2]] == "mid" and tier[rows[1150][2]] == "mid"
    assert sum(value != "general" for value in tier.values()) == 3
    assert Customer.objects.get(id_number=rows[company][2]).sub_market == "manufacturing"
    moves = set(TierChange.objects.values_list("customer__id_number", "old_tier", "new_tier"))
    assert moves == {(rows[0][2], "general", "high"), (rows[1][2], "general", "mid"),
                     (rows[1150][2], "general", "mid")}
    segments_recompute(acting_user=None)  # the nightly run finds nothing left to do
    assert TierChange.objects.count() == 3
