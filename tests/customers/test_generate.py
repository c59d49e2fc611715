"""`guanxi generate`: synthetic registration files and balance feeds that the project itself accepts."""

from __future__ import annotations

import csv
import importlib.resources
import io
import re
from collections import Counter
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from guanxi.core.models import OrgUnit
from guanxi.core.validators import validate_mobile, validate_resident_id, validate_uscc
from guanxi.customers.synthetic import HEADER_EN, HEADER_ZH, Synth
from guanxi.customers.validation import clean_customer_input

ZH_HEADER = "客户类型,客户名称,证件号码,手机号码,所属机构,行业,地址,存款余额,贷款余额,年收入,总资产,总负债,家庭人口,担保方式,客户状态"
FEED_HEADER = ["证件号码", "日期", "存款余额", "贷款余额", "持有产品", "信贷员"]


def generate(*args: str) -> str:
    out = io.StringIO()
    call_command("generate", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def read_csv(path: Path, encoding: str = "utf-8-sig") -> list[list[str]]:
    with open(path, encoding=encoding, newline="") as handle:
        return list(csv.reader(handle))


def as_fields(header, row) -> dict:
    names = HEADER_EN if list(header) == list(HEADER_ZH) else header
    return dict(zip(names, row, strict=True))


def loc_dat_eras() -> dict[str, tuple[int, int]]:
    """{code: (first year, last year) in use} straight from python-stdnum's loc.dat (0 / 9999: open)."""
    text = (importlib.resources.files("stdnum.cn") / "loc.dat").read_text(encoding="utf-8")
    eras: dict[str, tuple[int, int]] = {}
    province = ""
    for line in text.splitlines():
        if match := re.match(r"^(\d{2})\s+province=", line):
            province = match.group(1)
        elif match := re.match(r'^\s+(\d{4})\s+county="([^"]*)"', line):
            code = province + match.group(1)
            for part in match.group(2).split(","):
                era = re.match(r"\[(\d{4})?-(\d{4})?\]", part.strip())
                start = int(era.group(1)) if era and era.group(1) else 0
                end = int(era.group(2)) if era and era.group(2) else 9999
                old = eras.get(code, (9999, 0))
                eras[code] = (min(old[0], start), max(old[1], end))
    return eras


@pytest.fixture(scope="module")
def big_file(tmp_path_factory) -> Path:
    """3 000 customers spread over the test bank's outlets (named explicitly: the file is shared)."""
    path = tmp_path_factory.mktemp("generate") / "customers.csv"
    generate("customers", "3000", "--out", str(path), "--seed", "11", "--orgs", "B1,B2")
    return path


def test_every_generated_row_passes_the_projects_validator(bank, big_file):
    units = {unit.code: unit for unit in OrgUnit.objects.all()}
    rows = read_csv(big_file)
    assert ",".join(rows[0]) == ZH_HEADER
    assert len(rows) == 3001
    failures = []
    for number, row in enumerate(rows[1:], start=2):
        try:
            clean_customer_input(as_fields(rows[0], row), org_units=units)
        except ValidationError as exc:
            failures.append(f"line {number}: {exc.message_dict}")
    assert not failures, failures[:5]


def test_identifiers_are_unique_and_of_the_right_kind(big_file):
    rows = read_csv(big_file)[1:]
    ids = [row[2] for row in rows]
    assert len(set(ids)) == len(ids)
    kinds = Counter(row[0] for row in rows)
    assert set(kinds) == {"个人", "公司", "农户"}
    assert 0.06 < kinds["公司"] / len(rows) < 0.14
    assert 0.38 < kinds["农户"] / len(rows) < 0.52
    assert 0.38 < kinds["个人"] / len(rows) < 0.52
    companies = [row for row in rows if row[0] == "公司"]
    for row in companies:
        assert validate_uscc(row[2]) == row[2]
        assert row[12] == ""  # no household for a company
    assert {row[2][:2] for row in companies} >= {"91", "92", "93"}
    assert {row[2][:2] for row in companies} <= {"91", "92", "93", "N2", "N3"}
    for row in rows:
        if row[0] != "公司":
            birth = validate_resident_id(row[2]).birth_date
            assert 1940 <= birth.year <= 2005
        if row[3]:
            assert validate_mobile(row[3]) == row[3]
    farmers = [row for row in rows if row[0] == "农户"]
    assert {int(row[12]) for row in farmers} <= set(range(1, 9))
    assert all(row[5].startswith("A") for row in farmers)
    assert all(row[6].endswith("组") for row in farmers)


def test_names_and_money_look_real(big_file):
    rows = read_csv(big_file)[1:]
    people = [row for row in rows if row[0] != "公司"]
    surnames = Counter(row[1][0] for row in people)
    assert {name for name, _count in surnames.most_common(4)} <= set("王李张刘陈")
    lengths = Counter(len(row[1]) for row in people)
    assert set(lengths) <= {2, 3, 4}
    assert lengths[3] > lengths[2] > lengths[4] > 0
    status = Counter(row[14] for row in rows)
    assert set(status) == {"存量", "目标"}
    assert 0.68 < status["存量"] / len(rows) < 0.82
    existing = [row for row in rows if row[14] == "存量"]
    with_deposit = [row for row in existing if Decimal(row[7]) > 0]
    with_loan = [row for row in existing if Decimal(row[8]) > 0]
    assert 0.72 < len(with_deposit) / len(existing) < 0.88
    assert 0.22 < len(with_loan) / len(existing) < 0.40
    assert all(row[7] == row[8] == "0.00" for row in rows if row[14] == "目标")
    # A long tail: the median deposit is small, the largest are far larger.
    deposits = sorted(Decimal(row[7]) for row in with_deposit)
    median = deposits[len(deposits) // 2]
    assert median < 100_000
    assert deposits[-1] > 20 * median
    assert all(re.fullmatch(r"\d+\.\d{2}", row[7]) for row in rows)
    solvent = [row for row in rows if row[10] and Decimal(row[10]) >= Decimal(row[11])]
    assert len(solvent) / len([row for row in rows if row[10]]) > 0.9
    for row in with_loan:
        assert row[13] in ("信用", "保证", "抵押", "质押")
        assert Decimal(row[11]) >= Decimal(row[8])  # the loan is among the liabilities


def test_counties_span_provinces_and_eras(big_file):
    rows = [row for row in read_csv(big_file)[1:] if row[0] != "公司"]
    provinces = Counter(row[2][:2] for row in rows)
    assert len(provinces) >= 8
    assert 0.70 < provinces["23"] / len(rows) < 0.90  # mostly the bank's own province
    eras = loc_dat_eras()
    assert all(row[2][:6] in eras for row in rows)
    # People born before the code of their card's county existed (e.g. 230183 尚志市, from 1996).
    younger_codes = [row[2] for row in rows if eras[row[2][:6]][0] > int(row[2][6:10])]
    assert len(younger_codes) > 10
    assert any(code.startswith("230183") and int(code[6:10]) < 1996 for code in younger_codes)
    # Codes no longer in use appear too, but none that was gone before the holder could get a card.
    assert any(eras[row[2][:6]][1] < 9999 for row in rows)
    assert all(eras[row[2][:6]][1] >= max(1985, int(row[2][6:10]) + 16) for row in rows)


def test_same_seed_same_bytes_and_another_seed_differs(tmp_path):
    # No database fixture: with --orgs the command must not touch the database.
    first, second, other = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.csv"
    generate("customers", "500", "--out", str(first), "--seed", "5", "--orgs", "B1,B2")
    generate("customers", "500", "--out", str(second), "--seed", "5", "--orgs", "B1,B2")
    generate("customers", "500", "--out", str(other), "--seed", "6", "--orgs", "B1,B2")
    assert first.read_bytes() == second.read_bytes()
    assert first.read_bytes() != other.read_bytes()
    assert first.read_bytes().startswith(b"\xef\xbb\xbf")
    assert first.read_bytes().count(b"\xef\xbb\xbf") == 1
    assert not list(tmp_path.glob(".*.part"))


def test_worker_processes_do_not_change_the_output(tmp_path):
    single, pooled = tmp_path / "single.csv", tmp_path / "pooled.csv"
    generate("customers", "12000", "--out", str(single), "--seed", "9", "--orgs", "B1", "--jobs", "1")
    generate("customers", "12000", "--out", str(pooled), "--seed", "9", "--orgs", "B1", "--jobs", "2")
    assert single.read_bytes() == pooled.read_bytes()
    assert len(read_csv(single)) == 12001


def test_org_codes_come_from_the_outlets_in_the_database(bank, tmp_path):
    path = tmp_path / "c.csv"
    generate("customers", "200", "--out", str(path), "--seed", "1")
    assert {row[4] for row in read_csv(path)[1:]} == {"B1", "B2"}  # branch and coop, not HQ or the union


def test_xlsx_is_readable_with_the_same_header_and_valid_rows(bank, tmp_path):
    path = tmp_path / "customers.xlsx"
    generate("customers", "300", "--out", str(path), "--seed", "3", "--orgs", "B1,B2")
    units = {unit.code: unit for unit in OrgUnit.objects.all()}
    workbook = openpyxl.load_workbook(path, read_only=True)
    rows = list(workbook.worksheets[0].iter_rows(values_only=True))
    workbook.close()
    assert ",".join(rows[0]) == ZH_HEADER
    assert len(rows) == 301
    for row in rows[1:]:
        assert isinstance(row[2], str) and len(row[2]) == 18  # ID numbers stay text, not 2.3E+17
        data = {name: ("" if value is None else value) for name, value in zip(HEADER_EN, row, strict=True)}
        clean_customer_input(data, org_units=units)
    assert len({row[2] for row in rows[1:]}) == 300


def test_english_header_and_codes(bank, tmp_path):
    path = tmp_path / "en.csv"
    generate("customers", "400", "--out", str(path), "--seed", "4", "--orgs", "B1", "--english")
    rows = read_csv(path)
    assert tuple(rows[0]) == HEADER_EN
    assert {row[0] for row in rows[1:]} == {"person", "company", "farmer"}
    assert {row[14] for row in rows[1:]} == {"existing", "prospect"}
    assert {row[13] for row in rows[1:]} <= {"", "credit", "guarantee", "mortgage", "pledge"}
    units = {unit.code: unit for unit in OrgUnit.objects.all()}
    for row in rows[1:]:
        clean_customer_input(dict(zip(rows[0], row, strict=True)), org_units=units)


def test_gb18030_encoding(tmp_path):
    path = tmp_path / "gb.csv"
    generate("customers", "100", "--out", str(path), "--seed", "4", "--orgs", "B1", "--encoding", "gb18030")
    data = path.read_bytes()
    assert not data.startswith(b"\xef\xbb\xbf")
    assert data.decode("gb18030").startswith(ZH_HEADER)


def test_progress_is_not_written_when_stderr_is_not_a_terminal(tmp_path):
    stderr = io.StringIO()
    call_command("generate", "customers", "50", "--out", str(tmp_path / "x.csv"), "--orgs", "B1",
                 stdout=io.StringIO(), stderr=stderr)
    assert stderr.getvalue() == ""


def test_balance_feed_refers_to_the_generated_customers(bank, big_file, tmp_path):
    feed = tmp_path / "balances.csv"
    generate("balances", "--from", str(big_file), "--out", str(feed), "--date", "2026-01-31", "--seed", "2",
             "--share", "0.9", "--officers", "alice,bob")
    customers = {row[2]: row for row in read_csv(big_file)[1:]}
    rows = read_csv(feed)
    assert rows[0] == FEED_HEADER
    lines = rows[1:]
    assert 0.85 * len(customers) < len(lines) < 0.95 * len(customers)
    assert len({line[0] for line in lines}) == len(lines)
    assert {line[0] for line in lines} <= set(customers)
    assert {line[1] for line in lines} == {"2026-01-31"}
    drifted = 0
    for id_number, _day, deposit, loan, products, officer in lines:
        codes = set(products.split(";")) - {""}
        assert codes <= {"DEP", "LOAN", "CARD", "EBANK", "WM", "INS"}
        assert ("LOAN" in codes) == (Decimal(loan) > 0)
        assert ("DEP" in codes) == (Decimal(deposit) > 0)
        assert officer in ({"", "alice", "bob"} if Decimal(loan) > 0 else {""})
        before = Decimal(customers[id_number][7])
        if before > 100:
            assert Decimal("0.69") * before <= Decimal(deposit) <= Decimal("1.31") * before
            drifted += Decimal(deposit) != before
    assert drifted > len(lines) // 2
    assert any(line[5] for line in lines)


def test_balance_feed_from_xlsx_with_officers_from_the_database(bank, tmp_path):
    source, feed = tmp_path / "c.xlsx", tmp_path / "f.csv"
    generate("customers", "300", "--out", str(source), "--seed", "8", "--orgs", "B1", "--english")
    generate("balances", "--from", str(source), "--out", str(feed), "--seed", "1", "--share", "1", "--english")
    rows = read_csv(feed)
    assert rows[0] == ["id_number", "as_of", "deposit_balance", "loan_balance", "products", "loan_officer"]
    assert len(rows) == 301
    assert {row[5] for row in rows[1:]} <= {"", "alice", "bob", "carol"}  # the managers of the test bank
    assert any(row[5] for row in rows[1:])


def test_synth_public_api_still_works():
    synth = Synth(seed=1, counties_prefix="23")
    assert synth.counties and all(code.startswith("23") for code in synth.counties)
    assert 2 <= len(synth.person_name()) <= 4
    number = synth.resident_id(born_from=1960, born_to=1970, gender="female")
    resident = validate_resident_id(number)
    assert resident.gender == "female" and 1960 <= resident.birth_date.year <= 1970
    assert validate_uscc(synth.uscc("93")).startswith("93")
    assert all(validate_mobile(synth.mobile()) for _ in range(200))
    assert synth.village_address().endswith("组")
    name, section = synth.company_name()
    assert name and section in "ACEFGHI"
    assert 1000 <= synth.amount(1000, 5000) <= 5000
    assert 0 <= synth.random.random() < 1


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["customers", "-1", "--out", "x.csv", "--orgs", "B1"], "argument N: must be at least 1"),
        (["customers", "ten", "--out", "x.csv", "--orgs", "B1"], "argument N: must be a whole number"),
        (["customers", "10", "--out", "x.txt", "--orgs", "B1"], "--out: unknown file type (“.txt”"),
        (["customers", "10", "--out", "no/such/dir/x.csv", "--orgs", "B1"], "--out: the folder"),
        (["customers", "10", "--out", "x.xlsx", "--orgs", "B1", "--encoding", "gb18030"], "--encoding: only for CSV"),
        (["customers", "10", "--out", "x.csv", "--orgs", ","], "argument --orgs: give at least one"),
        (["customers", "2000000", "--out", "x.xlsx", "--orgs", "B1"], "N: an XLSX sheet holds at most"),
        (["customers", "10", "--out", "x.csv", "--orgs", "B1", "--seed", "-3"], "argument --seed: must be 0 or more"),
        (["balances", "--from", "missing.csv", "--out", "f.csv"], "--from: missing.csv does not exist"),
        (["balances", "--from", "c.csv", "--out", "f.csv", "--share", "1.5"], "argument --share: must be more than 0"),
        (["balances", "--from", "c.csv", "--out", "f.csv", "--date", "2026-02-30"], "argument --date: “2026-02-30”"),
        (["balances", "--from", "c.csv", "--out", "f.xlsx"], "--out: unknown file type (“.xlsx”"),
        (["balances", "--from", "notes.txt", "--out", "f.csv"], "--from: unknown file type (“.txt”"),
    ],
)
def test_bad_arguments_are_named_with_the_reason(tmp_path, monkeypatch, args, expected):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.csv").write_text("证件号码\n230183199001011234\n", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("hello", encoding="utf-8")
    with pytest.raises(CommandError) as error:
        generate(*args)
    assert expected in str(error.value)
    assert not list(tmp_path.glob("x.*")) and not list(tmp_path.glob("f.*"))


def test_no_org_units_anywhere_is_a_clear_error(db, tmp_path):
    with pytest.raises(CommandError) as error:
        generate("customers", "10", "--out", str(tmp_path / "x.csv"))
    message = str(error.value)
    assert message.startswith("--orgs:") and "guanxi demo" in message and "import orgunits" in message
    assert not (tmp_path / "x.csv").exists()


def test_a_file_without_an_id_column_is_refused(tmp_path):
    source = tmp_path / "c.csv"
    source.write_text("客户名称,手机号码\n张三,13812345678\n", encoding="utf-8-sig")
    with pytest.raises(CommandError, match="no 证件号码 \\(id_number\\) column"):
        generate("balances", "--from", str(source), "--out", str(tmp_path / "f.csv"), "--officers", "u1")
