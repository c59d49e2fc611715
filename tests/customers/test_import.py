"""`guanxi import customers` and `guanxi import balances`: messy real-world files, reports, upserts, crashes."""

import csv
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from guanxi.core.models import AuditEntry
from guanxi.core.validators import resident_id_check_digit
from guanxi.customers.models import BalanceSnapshot, Customer, ImportRun
from guanxi.customers.synthetic import Synth

HEADER = ["客户类型", "客户名称", "证件号码", "手机号码", "所属机构", "行业", "地址", "存款余额", "贷款余额",
          "年收入", "总资产", "总负债", "家庭人口", "担保方式", "客户状态"]
FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def write_csv(path: Path, rows, header=HEADER, encoding="gb18030"):
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def read_report(path: Path):
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def run_import(*args):
    from io import StringIO

    out, err = StringIO(), StringIO()
    try:
        call_command("import", *args, "--no-progress", stdout=out, stderr=err)
        return 0, out.getvalue(), err.getvalue()
    except CommandError as exc:
        return exc.returncode, out.getvalue(), err.getvalue() + str(exc)


@pytest.fixture
def messy(tmp_path, bank):
    """A branch's spreadsheet as it really arrives: GB18030, full-width digits, Excel damage, duplicates."""
    synth = Synth(seed=99)
    good_id = synth.resident_id(born_from=1955, born_to=1965)
    wrong_check = good_id[:17] + str((int(resident_id_check_digit(good_id[:17]).replace("X", "10")) + 1) % 10)
    duplicate_id = synth.resident_id()
    rows = [
        ["农户", "王建国", good_id.translate(FULLWIDTH), "+86 138-1234-5678", "B1", "A0111", "兴隆镇红旗村3组",
         "１２,３４５.６０", "0", "50000", "200,000", "10000", "4", "信用", "存量"],
        ["个人", "李秀英", "2.31102E+17", "13912345678", "B1", "", "", "", "", "", "", "", "", "", "目标"],
        ["个人", "张伟", wrong_check, "13912345679", "B1", "", "", "", "", "", "", "", "", "", "存量"],
        ["个人", "刘芳", duplicate_id, "13700001111", "B1", "F", "城关镇", "100", "", "", "", "", "", "", "存量"],
        ["公司", "兴农合作社", synth.uscc("93"), "", "B2", "A", "", "2000000", "500000", "", "", "", "", "抵押", "存量"],
        ["个人", "刘芳", duplicate_id, "13700002222", "B1", "F", "城关镇东街1号", "200", "", "", "", "", "", "", "存量"],
        ["外星人", "某某", synth.resident_id(), "", "B1", "", "", "", "", "", "", "", "", "", ""],
        ["个人", "赵六", synth.resident_id(), "12345", "NOPE", "", "", "-5", "", "", "", "", "", "", ""],
    ]
    return SimpleFile(write_csv(tmp_path / "登记表.csv", rows), good_id=good_id, duplicate_id=duplicate_id)


class SimpleFile:
    def __init__(self, path, **kwargs):
        self.path = path
        self.__dict__.update(kwargs)


def test_a_messy_file_imports_exactly_the_valid_rows(messy):
    code, out, err = run_import("customers", str(messy.path))
    assert code == 1  # not every row was taken
    assert Customer.objects.count() == 3
    farmer = Customer.objects.get(id_number=messy.good_id)
    assert farmer.phone == "13812345678"
    assert farmer.deposit_balance == Decimal("12345.60")
    assert farmer.total_assets == Decimal("200000.00")
    assert farmer.household_size == 4 and farmer.guarantee_type == "credit" and farmer.industry == "A0111"
    assert "3 taken" in out and "4 refused" in out and "1 duplicate rows merged" in out


def test_duplicates_in_one_file_are_merged_and_the_later_row_wins(messy):
    run_import("customers", str(messy.path))
    customer = Customer.objects.get(id_number=messy.duplicate_id)
    assert customer.phone == "13700002222" and customer.address == "城关镇东街1号"


def test_every_refused_row_is_reported_with_its_line_column_and_reason(messy):
    run_import("customers", str(messy.path))
    report = read_report(messy.path.with_name("登记表.errors.csv"))
    reasons = {row["客户名称"]: row["错误原因"] for row in report}
    assert set(reasons) == {"李秀英", "张伟", "某某", "赵六"}
    assert reasons["李秀英"].startswith("第 3 行") and "证件号码" in reasons["李秀英"] and "Excel" in reasons["李秀英"]
    assert "证件号码" in reasons["张伟"] and "校验码" in reasons["张伟"]
    assert "客户类型" in reasons["某某"]
    assert "所属机构" in reasons["赵六"] and "手机号码" in reasons["赵六"] and "存款余额" in reasons["赵六"]
    # Sensitive values are masked in the reason, while the row keeps the clerk's own value to correct.
    assert report[1]["证件号码"] in open(messy.path, encoding="gb18030").read()


def test_the_corrected_error_report_imports_as_it_is(messy):
    run_import("customers", str(messy.path))
    report_path = messy.path.with_name("登记表.errors.csv")
    rows = read_report(report_path)
    synth = Synth(seed=5)
    fixes = {"李秀英": {"证件号码": synth.resident_id()}, "张伟": {"证件号码": synth.resident_id()},
             "某某": {"客户类型": "个人"}, "赵六": {"所属机构": "B1", "手机号码": "13500001111", "存款余额": "5"}}
    for row in rows:
        row.update(fixes[row["客户名称"]])
    with report_path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    code, out, _err = run_import("customers", str(report_path))
    assert code == 0, out
    assert Customer.objects.count() == 7


def test_a_second_import_of_the_same_file_changes_nothing(messy):
    run_import("customers", str(messy.path))
    state = list(Customer.objects.order_by("id_number").values_list("id_number", "phone", "deposit_balance"))
    audit_rows = AuditEntry.objects.count()
    _code, out, _err = run_import("customers", str(messy.path))
    assert "3 unchanged" in out and "0 created" in out
    assert list(Customer.objects.order_by("id_number").values_list("id_number", "phone", "deposit_balance")) == state
    assert AuditEntry.objects.count() == audit_rows


def test_an_update_changes_only_the_given_cells_and_is_audited(messy, tmp_path):
    run_import("customers", str(messy.path))
    row = ["农户", "王建国", messy.good_id, "", "B1", "", "", "99999", "", "", "", "", "", "", ""]
    code, out, _err = run_import("customers", str(write_csv(tmp_path / "update.csv", [row])))
    assert code == 0 and "1 updated" in out
    farmer = Customer.objects.get(id_number=messy.good_id)
    assert farmer.deposit_balance == Decimal("99999.00")
    assert farmer.phone == "13812345678"  # a blank cell does not wipe what is known
    entry = AuditEntry.objects.filter(action="customer.update", object_id=str(farmer.pk)).get()
    assert entry.changes["deposit_balance"] == ["12345.60", "99999.00"]


def test_every_created_customer_is_in_the_audit_log(messy):
    run_import("customers", str(messy.path))
    created = AuditEntry.objects.filter(action="customer.create")
    assert created.count() == 3
    farmer = Customer.objects.get(id_number=messy.good_id)
    entry = created.get(object_id=str(farmer.pk))
    assert entry.changes["phone"] == [None, "138****5678"]
    assert entry.changes["name"] == [None, "王建国"] and entry.changes["org_unit"] == [None, farmer.org_unit_id]
    assert entry.changes["deposit_balance"] == [None, "12345.60"]
    assert entry.changes["id_number"][1] != messy.good_id and "*" in entry.changes["id_number"][1]


def test_dry_run_writes_nothing(messy):
    code, out, _err = run_import("customers", str(messy.path), "--dry-run")
    assert code == 1 and "dry run" in out
    assert Customer.objects.count() == 0 and ImportRun.objects.count() == 0


def test_unknown_columns_are_reported(tmp_path, bank):
    path = write_csv(tmp_path / "x.csv", [["个人", "王五", Synth(3).resident_id(), "", "B1", "x"]],
                     header=["客户类型", "客户名称", "证件号码", "手机号码", "所属机构", "婚姻状况"], encoding="utf-8")
    code, _out, err = run_import("customers", str(path))
    assert code == 0 and "婚姻状况" in err


def test_a_file_without_a_required_column_is_refused_whole(tmp_path, bank):
    path = write_csv(tmp_path / "x.csv", [["个人", "王五", "B1"]], header=["客户类型", "客户名称", "所属机构"])
    code, _out, err = run_import("customers", str(path))
    assert code != 0 and "id_number" in err
    assert Customer.objects.count() == 0


def test_an_xlsx_file_imports_and_reports_errors_as_xlsx(tmp_path, bank):
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["customer_type", "name", "id_number", "phone", "org_code", "deposit_balance", "status"])
    good = Synth(8).resident_id()
    sheet.append(["person", "孙七", good, 13812345678, "B1", 1500.5, "existing"])
    sheet.append(["person", "周八", 2.31102e17, "", "B1", None, "prospect"])
    path = tmp_path / "reg.xlsx"
    book.save(path)
    code, _out, _err = run_import("customers", str(path))
    assert code == 1
    customer = Customer.objects.get(id_number=good)
    assert customer.phone == "13812345678" and customer.deposit_balance == Decimal("1500.50")
    report = openpyxl.load_workbook(tmp_path / "reg.errors.xlsx").active
    values = [[cell.value for cell in row] for row in report.iter_rows()]
    assert values[0][-1] == "错误原因" and values[1][1] == "周八" and "Excel" in values[1][-1]


def test_a_managers_import_is_assigned_to_them_and_limited_to_their_scope(tmp_path, bank, customers):
    rows = [["个人", "新客户", Synth(31).resident_id(), "", "B1"],
            ["个人", "别行客户", Synth(32).resident_id(), "", "B2"],
            ["个人", "抢客户", customers.bob_person.id_number, "", "B1"]]
    path = write_csv(tmp_path / "m.csv", rows, header=HEADER[:5])
    code, _out, _err = run_import("customers", str(path), "--as", "alice")
    assert code == 1
    new = Customer.objects.get(name="新客户")
    assert new.assignments.get(active=True).owner == bank.alice
    assert not Customer.objects.filter(name="别行客户").exists()
    customers.bob_person.refresh_from_db()
    assert customers.bob_person.name != "抢客户"
    reasons = [row["错误原因"] for row in read_report(tmp_path / "m.errors.csv")]
    assert any("B2" in reason for reason in reasons) and any("scope" in r or "范围" in r for r in reasons)


def test_balance_feed_keeps_history_and_current_values(tmp_path, bank, customers):
    person = customers.alice_person
    header = ["证件号码", "日期", "存款余额", "贷款余额", "持有产品", "信贷员"]
    day1 = [[person.id_number, "2026-11-27", "1000", "0", "DEP;CARD", ""],
            [customers.bob_person.customer_no, "2026-11-27", "5", "0", "DEP", ""]]
    day1[1][0] = ""
    path1 = write_csv(tmp_path / "b1.csv", day1, header=["证件号码", "日期", "存款余额", "贷款余额", "持有产品", "信贷员"],
                      encoding="utf-8")
    rows = [[person.id_number, "2026-11-28", "2,000.50", "30000", "dep;loan", "bob"],
            [Synth(77).resident_id(), "2026-11-28", "1", "0", "", ""],
            [person.id_number, "2026-11-26", "10", "0", "DEP", ""]]
    path2 = write_csv(tmp_path / "b2.csv", rows, header=header, encoding="utf-8")
    run_import("balances", str(path2))
    code, out, _err = run_import("balances", str(path2))
    assert code == 1 and "1 row(s) name a customer Guanxi does not know" in out
    person.refresh_from_db()
    assert person.deposit_balance == Decimal("2000.50") and person.loan_balance == Decimal("30000.00")
    assert person.products == "DEP;LOAN" and person.loan_officer == bank.bob
    assert str(person.balance_as_of) == "2026-11-28"  # the older day does not overwrite the newer one
    assert BalanceSnapshot.objects.filter(customer=person).count() == 2
    assert "2 unchanged" in out
    report = read_report(tmp_path / "b2.errors.csv")
    assert len(report) == 1
    assert "register" in report[0]["错误原因"] or "登记" in report[0]["错误原因"]
    assert path1.exists()


def test_an_export_reimports_with_formula_guards_undone(tmp_path, bank, customers, login):
    from guanxi.customers.exports import customers_export

    customers.alice_person.address = "=1+1 村"
    customers.alice_person.save()
    path = tmp_path / "export.csv"
    with path.open("wb") as handle:
        customers_export(acting_user=bank.audrey, filters={}, fmt="csv", out=handle, unmasked=True)
    assert "'=1+1 村" in path.read_text(encoding="utf-8-sig")
    code, out, _err = run_import("customers", str(path))
    assert code == 0, out
    customers.alice_person.refresh_from_db()
    assert customers.alice_person.address == "=1+1 村"


def test_validation_in_worker_processes_gives_the_same_result(messy, tmp_path):
    from guanxi.customers.importing.customers import customers_import

    outcome = customers_import(acting_user=None, path=messy.path, workers=2,
                               errors_path=tmp_path / "parallel.errors.csv")
    assert (outcome.created, outcome.rejected, outcome.duplicates_merged) == (3, 4, 1)
    customer = Customer.objects.get(id_number=messy.duplicate_id)
    assert customer.phone == "13700002222"  # order kept: the later row still wins
    reasons = [row["错误原因"] for row in read_report(tmp_path / "parallel.errors.csv")]
    assert len(reasons) == 4 and reasons[0].startswith("第 3 行")


@pytest.mark.parametrize("encoding", ["utf-8-sig", "gb18030"])
def test_workers_reading_their_own_parts_of_a_csv_file_see_every_record_whole(tmp_path, bank, monkeypatch,
                                                                               encoding):
    """Parts cut at record ends: quoted newlines and quotes, blank lines and refused rows keep their line numbers."""
    from guanxi.customers.importing import customers as importing

    synth = Synth(seed=515)
    path = tmp_path / "parts.csv"
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["客户类型", "客户名称", "证件号码", "手机号码", "所属机构", "地址"])
        for index in range(120):
            if index % 17 == 5:
                handle.write("\r\n")  # a blank line
            address = f'东风村{index}组\n"老屋"旁' if index % 3 == 0 else f"东风村{index}组"
            id_number = synth.resident_id()
            if index % 11 == 7:
                id_number = id_number[:-1] + ("0" if id_number[-1] != "0" else "1")  # a wrong check digit
            writer.writerow(["个人", synth.person_name(), id_number, synth.mobile(), "B1", address])
    monkeypatch.setattr(importing, "_BLOCK", 256)  # many parts, most cutting through a quoted cell
    outcomes = {}
    for workers in (0, 2):
        report = tmp_path / f"w{workers}.errors.csv"
        outcome = importing.customers_import(acting_user=None, path=path, workers=workers, dry_run=True,
                                             errors_path=report)
        outcomes[workers] = (outcome.rows_read, outcome.created, outcome.rejected,
                             [(row["错误原因"], row["地址"]) for row in read_report(report)])
    assert outcomes[0] == outcomes[2]
    assert outcomes[2][:3] == (120, 109, 11)
    assert outcomes[2][3][0][0].startswith("第 10 行")  # the 8th record, after one blank line
    importing.customers_import(acting_user=None, path=path, workers=2)
    assert Customer.objects.filter(address='东风村0组 "老屋"旁').count() == 1  # the newline made a space
    assert Customer.objects.count() == 109


def test_the_import_says_when_every_row_is_in_and_the_indexes_are_being_rebuilt(tmp_path, bank):
    """A million rows take seconds of index building after the last one: the clerk is told why the bar waits."""
    from guanxi.core.bulkload import secondary_indexes
    from guanxi.customers.importing.customers import customers_import

    synth = Synth(seed=4242)
    path = write_csv(tmp_path / "big.csv", [["个人", synth.person_name(), synth.resident_id(), synth.mobile(), "B1",
                                             "", "", "", "", "", "", "", "", "", ""] for _ in range(12)])
    run = ImportRun.objects.create(kind=ImportRun.Kind.CUSTOMERS, file_name=path.name, started_by=bank.hank)
    seen = []

    def stage(text):
        seen.append((text, Customer.objects.count(), ImportRun.objects.get(pk=run.pk).message,
                     len(secondary_indexes(Customer._meta.db_table))))

    customers_import(acting_user=None, path=path, run=run, defer_indexes=True, stage=stage)
    text = "所有行均已写入，正在重建检索索引…"
    assert seen == [(text, 12, text, 0)]  # every row in, the indexes not yet back
    run.refresh_from_db()
    assert run.state == ImportRun.State.DONE and run.message == ""
    assert len(secondary_indexes(Customer._meta.db_table)) > 5
    customers_import(acting_user=None, path=path, defer_indexes=False, stage=stage)
    assert len(seen) == 1  # nothing to rebuild, nothing said


def test_the_garbage_collector_is_back_on_after_an_import_even_a_failed_one(tmp_path, bank, monkeypatch):
    """An import pauses Python's cycle collector while rows stream through; a server process must get it back."""
    import gc

    from guanxi.customers.importing import customers as importing

    synth = Synth(seed=4343)
    rows = [["个人", synth.person_name(), synth.resident_id(), synth.mobile(), "B1", "", "", "", "", "", "", "", "",
             "", ""] for _ in range(30)]
    path = write_csv(tmp_path / "f.csv", rows)
    paused = []
    original = importing._Writer.write

    def write(self, *args):
        paused.append(not gc.isenabled())
        return original(self, *args)

    monkeypatch.setattr(importing._Writer, "write", write)
    assert gc.isenabled()
    assert importing.customers_import(acting_user=None, path=path, batch_size=10).created == 30
    assert paused == [True, True, True] and gc.isenabled()

    def fail(self, *args):
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(importing._Writer, "write", fail)
    with pytest.raises(RuntimeError):
        importing.customers_import(acting_user=None, path=path, batch_size=10)
    assert gc.isenabled()
    gc.disable()
    try:  # turned off by someone else: left off
        monkeypatch.setattr(importing._Writer, "write", original)
        importing.customers_import(acting_user=None, path=path, batch_size=10)
        assert not gc.isenabled()
    finally:
        gc.enable()
