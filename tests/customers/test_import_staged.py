"""Big CSV files on SQLite take a bulk path: the worker processes stage their validated blocks in
files of their own and the writer inserts them with INSERT … SELECT. It must end exactly where the
general path ends: same customers, same audit entries, same search terms, same report, same counts."""

import csv
import json
from pathlib import Path

import pytest
from django.db import connection

from guanxi.core.models import AuditEntry
from guanxi.customers.duplicates import customer_merge
from guanxi.customers.importing import customers as importing
from guanxi.customers.models import Customer, CustomerMerge
from guanxi.customers.search import is_cjk, name_tokens, tokens_of
from guanxi.customers.synthetic import HEADER_ZH, CustomerFile

SKIPPED = {"id", "customer_no", "created_at", "updated_at", "merged_into_id", "merged_at"}  # keys, times


def _write(path: Path, rows) -> Path:
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER_ZH)
        for row in rows:
            if row is None:
                handle.write("\r\n")  # a blank line
            else:
                writer.writerow(row)
    return path


def _state():
    fields = [field.attname for field in Customer._meta.concrete_fields if field.attname not in SKIPPED]
    customers = {row["id_number"]: row for row in Customer.objects.values(*fields, "merged_into__id_number")}
    id_number_of = {str(pk): id_number for pk, id_number in Customer.objects.values_list("pk", "id_number")}
    audit = sorted(
        (entry.action, id_number_of[entry.object_id], entry.object_repr.split(" (")[0], entry.actor_username,
         json.dumps(entry.changes, sort_keys=True, ensure_ascii=False))
        for entry in AuditEntry.objects.filter(object_type="customers.customer", object_id__in=list(id_number_of),
                                               action__in=["customer.create", "customer.update"])
    )
    numbers = sorted(Customer.objects.values_list("customer_no", flat=True))
    tokens = {id_number_of[str(pk)]: sorted(tokens_of(pk)) for pk in Customer.objects.values_list("pk", flat=True)}
    return customers, audit, tokens, len(numbers) == len(set(numbers)) and all(n.startswith("KH") for n in numbers)


def _report(path: Path):
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.reader(handle))


def test_staged_blocks_end_where_the_general_path_ends(tmp_path, transactional_db, bank, monkeypatch):
    rows = [list(row) for row in CustomerFile(seed=808, org_codes=["B1"]).rows(460)]  # B1: hank may merge
    known, fresh = rows[:40], rows[40:]
    phone = HEADER_ZH.index("手机号码")
    address = HEADER_ZH.index("地址")
    changed = [[*row[:phone], "13900001111", *row[phone + 1:]] for row in known[:25]]  # 25 updated, 15 unchanged
    merged_away = [*known[31][:phone], "13900002222", *known[31][phone + 1:]]  # updates known[30]'s customer
    same_block = [*fresh[5][:address], "后来的地址", *fresh[5][address + 1:]]  # merged into the earlier row
    later_block = [*fresh[10][:address], "再后来的地址", *fresh[10][address + 1:]]  # updates it in its block
    wrong_check = [*fresh[20][:2], fresh[20][2][:-1] + ("1" if fresh[20][2][-1] != "1" else "2"), *fresh[20][3:]]
    body = [*fresh[:8], same_block, None, wrong_check, *fresh[8:], *changed, *known[25:31], merged_away,
            *known[32:], later_block]
    seed_file = _write(tmp_path / "known.csv", known)
    main_file = _write(tmp_path / "main.csv", body)

    staged_calls = []
    original = importing._Writer.write_staged

    def counting(self, *args):
        staged_calls.append(args[0])
        return original(self, *args)

    monkeypatch.setattr(importing._Writer, "write_staged", counting)
    monkeypatch.setattr(importing, "_KNOWN_CHUNK", 7)  # known customers read back a few at a time
    results = {}
    for workers in (0, 2):
        CustomerMerge.objects.all().delete()
        Customer.objects.update(merged_into=None)
        Customer.objects.all().delete()
        importing.customers_import(acting_user=None, path=seed_file, workers=0)
        # a merged-away record's row updates the customer it was merged into
        customer_merge(acting_user=bank.hank, keep=Customer.objects.get(id_number=known[30][2]),
                       absorb=Customer.objects.get(id_number=known[31][2]), reason="same person")
        report = tmp_path / f"main-{workers}.errors.csv"
        outcome = importing.customers_import(acting_user=None, path=main_file, workers=workers, batch_size=50,
                                             errors_path=report)
        counts = (outcome.rows_read, outcome.created, outcome.updated, outcome.unchanged, outcome.rejected,
                  outcome.duplicates_merged)
        results[workers] = (counts, _state(), _report(report))
    if connection.vendor == "sqlite":
        assert len(staged_calls) > 5  # many blocks of about 50 rows went the bulk way
        assert not any(path.exists() for path in staged_calls)  # staging files are removed
    else:
        assert not staged_calls  # PostgreSQL's COPY path takes every file
    assert results[2] == results[0]
    counts, (customers, audit, tokens, numbers_ok), report = results[2]
    # 420 new rows (+1 duplicate in the same block, +1 in a later block, +1 refused), 40 known
    assert counts == (463, 420, 27, 14, 1, 1)
    assert numbers_ok
    assert customers[fresh[5][2]]["address"] == "后来的地址"
    assert customers[fresh[10][2]]["address"] == "再后来的地址"
    assert customers[known[0][2]]["phone"] == "13900001111"
    assert customers[known[30][2]]["phone"] == "13900002222"
    # segmented in the creating INSERT as the recompute segments (compared with the general path above)
    assert len({row["tier"] for row in customers.values()}) == 3
    assert len({row["sub_market"] for row in customers.values()}) > 3
    assert {row["is_deposit_customer"] for row in customers.values()} == {True, False}
    assert len([entry for entry in audit if entry[0] == "customer.create"]) == 460  # with the 40 known
    assert all(tokens[row[2]] for row in fresh)  # every new customer is findable by name
    assert len(report) == 2 and report[1][-1].startswith("第 12 行")


def test_an_xlsx_file_takes_the_general_path_with_workers(tmp_path, transactional_db, bank, monkeypatch):
    """Only CSV files are cut into blocks for the workers to read; an XLSX file's rows go through the parent."""
    import openpyxl

    rows = [list(row) for row in CustomerFile(seed=809, org_codes=["B1"]).rows(30)]
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(list(HEADER_ZH))
    for row in rows:
        sheet.append(row)
    path = tmp_path / "book.xlsx"
    book.save(path)
    monkeypatch.setattr(importing._Writer, "write_staged", None)  # would fail if called
    outcome = importing.customers_import(acting_user=None, path=path, workers=2)
    assert (outcome.created, outcome.rejected) == (30, 0)
    assert Customer.objects.count() == 30


def test_a_staged_import_removes_the_scratch_folders_of_killed_imports_only(tmp_path, transactional_db, bank):
    import os
    import subprocess
    import sys
    import tempfile

    if connection.vendor != "sqlite":
        pytest.skip("only SQLite's staged path makes scratch folders")
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    root = Path(tempfile.gettempdir())
    abandoned = root / f"guanxi-import-{int(gone.stdout)}-test"
    alive = root / f"guanxi-import-{os.getppid()}-test"  # a live process: an import still running
    for folder in (abandoned, alive):
        folder.mkdir(exist_ok=True)
        (folder / "1.sqlite3").write_bytes(b"staged rows")
    try:
        rows = [list(row) for row in CustomerFile(seed=810, org_codes=["B1"]).rows(40)]
        outcome = importing.customers_import(acting_user=None, path=_write(tmp_path / "f.csv", rows), workers=2)
        assert outcome.created == 40
        assert not abandoned.exists()
        assert (alive / "1.sqlite3").exists()
    finally:
        for folder in (abandoned, alive):
            if folder.exists():
                (folder / "1.sqlite3").unlink()
                folder.rmdir()


def test_a_staged_import_with_deferred_indexes_announces_the_rebuild(tmp_path, transactional_db, bank):
    from guanxi.core.bulkload import secondary_indexes

    rows = [list(row) for row in CustomerFile(seed=811, org_codes=["B1"]).rows(60)]
    seen = []
    outcome = importing.customers_import(acting_user=None, path=_write(tmp_path / "f.csv", rows), workers=2,
                                         batch_size=20, defer_indexes=True,
                                         stage=lambda text: seen.append((text, Customer.objects.count())))
    assert (outcome.created, outcome.rejected) == (60, 0)
    assert seen == [("所有行均已写入，正在重建检索索引…", 60)]
    assert len(secondary_indexes(Customer._meta.db_table)) > 5


def test_after_a_staged_import_the_database_checks_customer_values_again(tmp_path, transactional_db, bank):
    """The staged INSERT leaves the table's CHECK constraints to the workers' validation: only for itself."""
    from django.db import IntegrityError, transaction

    rows = [list(row) for row in CustomerFile(seed=812, org_codes=["B1"]).rows(80)]
    outcome = importing.customers_import(acting_user=None, path=_write(tmp_path / "f.csv", rows), workers=2,
                                         batch_size=20)
    assert (outcome.created, outcome.rejected) == (80, 0)
    customer = Customer.objects.order_by("pk").last()
    for column, value in (("customer_type", "alien"), ("status", "lost"), ("tier", "gold"), ("household_size", -1)):
        with pytest.raises(IntegrityError), transaction.atomic():
            Customer.objects.filter(pk=customer.pk).update(**{column: value})
    assert set(Customer.objects.values_list("customer_type", flat=True)) <= {"person", "company", "farmer"}


@pytest.mark.parametrize("workers", [0, 2])
def test_a_scoped_users_import_refuses_customers_outside_their_scope_on_either_path(
        tmp_path, transactional_db, bank, customers, monkeypatch, workers):
    """A manager's big file takes the bulk path too, and is refused the same rows with the same lines and reasons."""
    staged_calls = []
    original = importing._Writer.write_staged
    monkeypatch.setattr(importing._Writer, "write_staged",
                        lambda self, *args: staged_calls.append(args[0]) or original(self, *args))
    rows = [list(row) for row in CustomerFile(seed=812, org_codes=["B1"]).rows(45)]
    type_at, id_at, phone_at, org_at = (HEADER_ZH.index(h) for h in ("客户类型", "证件号码", "手机号码", "所属机构"))

    def naming(customer, phone):
        row = list(rows[0])
        row[type_at], row[id_at], row[phone_at] = "个人", customer.id_number, phone
        return row

    other_branch = list(rows[1])
    other_branch[org_at] = "B2"
    body = [*rows[2:20], naming(customers.bob_person, "13900003333"), *rows[20:30], other_branch,
            naming(customers.alice_person, "13900004444"), *rows[30:]]
    report = tmp_path / "scoped.errors.csv"
    before = Customer.objects.count()
    outcome = importing.customers_import(acting_user=bank.alice, path=_write(tmp_path / "scoped.csv", body),
                                         workers=workers, batch_size=10, errors_path=report)
    assert (len(staged_calls) >= 2) == (workers > 0 and connection.vendor == "sqlite")
    assert (outcome.rows_read, outcome.created, outcome.updated, outcome.rejected) == (46, 43, 1, 2)
    assert Customer.objects.count() == before + 43
    customers.bob_person.refresh_from_db()
    customers.alice_person.refresh_from_db()
    assert customers.bob_person.phone != "13900003333" and customers.alice_person.phone == "13900004444"
    new = Customer.objects.filter(id_number__in=[row[id_at] for row in rows[2:]])
    assert new.count() == 43 and all(c.assignments.get(active=True).owner == bank.alice for c in new)
    refused = sorted(_report(report)[1:], key=lambda row: row[-1])
    assert [row[:-1] for row in refused] == [naming(customers.bob_person, "13900003333"), other_branch]
    assert refused[0][-1].startswith("第 20 行") and "范围之外" in refused[0][-1]
    assert refused[1][-1].startswith("第 31 行") and "B2" in refused[1][-1]


def test_an_import_run_by_the_job_runner_validates_in_worker_processes_too(tmp_path, transactional_db, bank,
                                                                            monkeypatch):
    """The job runner behind the upload page has threads of its own, where forking is unsafe: its
    workers are started afresh, and still give the reasons in the language of the one importing."""
    import threading

    from django.utils import translation

    staged_calls = []
    original = importing._Writer.write_staged
    monkeypatch.setattr(importing._Writer, "write_staged",
                        lambda self, *args: staged_calls.append(args[0]) or original(self, *args))

    rows = [list(row) for row in CustomerFile(seed=813, org_codes=["B1"]).rows(30)]
    id_at = HEADER_ZH.index("证件号码")
    rows[7][id_at] = rows[7][id_at][:-1] + ("1" if rows[7][id_at][-1] != "1" else "2")  # a wrong check digit
    path = _write(tmp_path / "job.csv", rows)
    results = {}

    def job(language):
        with translation.override(language):
            report = tmp_path / f"{language}.errors.csv"
            outcome = importing.customers_import(acting_user=bank.hank, path=path, workers=2, errors_path=report,
                                                 dry_run=language == "en")
            results[language] = (outcome.created, outcome.rejected, _report(report)[1][-1])

    threads = [threading.Thread(target=job, args=(language,)) for language in ("zh-hans", "en")]
    for thread in threads:
        thread.start()
        thread.join()
    assert results["zh-hans"][:2] == (29, 1) and results["en"][:2] == (29, 1)
    assert results["zh-hans"][2].startswith("第 9 行") and "校验码错误" in results["zh-hans"][2]
    assert results["en"][2].startswith("line 9") and "Wrong check digit" in results["en"][2]
    assert Customer.objects.count() == 29
    assert bool(staged_calls) == (connection.vendor == "sqlite")  # the bulk path: only with workers


def _expected_creation(customer: Customer) -> dict:
    """A creation's change set as the audit page should show it, from the customer as stored."""
    from guanxi.core.masking import mask_id_number, mask_phone

    audited = ["customer_type", "name", "id_number", "phone", "org_unit_id", "status", "address", "industry",
               "market", "birth_date", "gender", "annual_income", "total_assets", "total_liabilities",
               "household_size", "guarantee_type", "notes", "deposit_balance", "loan_balance", "email"]
    shown = {}
    for column in audited:
        value = getattr(customer, column)
        if value is None or value == "":
            continue
        if column == "id_number":
            value = mask_id_number(value)
        elif column == "phone":
            value = mask_phone(value)
        elif column == "birth_date":
            value = value.isoformat()
        elif column in importing.MONEY_FIELDS:
            value = f"{value:.2f}"  # a Decimal: exact
        shown["org_unit" if column == "org_unit_id" else column] = [None, value]
    return shown


@pytest.mark.parametrize("workers", [0, 2])
def test_import_audit_entries_show_the_values_as_stored(tmp_path, transactional_db, bank, workers):
    """Both paths write each new customer's values in its creation entry: masked identifiers, money to
    the fen, also for text that JSON must escape and for the largest amount a customer may hold."""
    header = [*HEADER_ZH, "非财务信息", "电子邮箱"]
    rows = [[*row, "", ""] for row in CustomerFile(seed=909, org_codes=["B1"]).rows(120)]
    address, deposit, loan, income = (HEADER_ZH.index(name) for name in ("地址", "存款余额", "贷款余额", "年收入"))
    household, phone = HEADER_ZH.index("家庭人口"), HEADER_ZH.index("手机号码")
    rows[0][address] = '和平路"3号"\\东\t院'
    rows[0][-2] = '第一行\n第二行 "引号" \\ 反斜杠\x01'
    rows[0][-1] = "Zhang.San@Example.COM"
    rows[1][deposit] = "89,999,999,999,999.99"
    rows[1][loan] = "0"
    rows[1][income] = "0.07"
    rows[2][phone] = rows[2][household] = rows[2][income] = ""
    path = tmp_path / "audited.csv"
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    calls = []
    original = importing._Writer.write_staged
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(importing._Writer, "write_staged", lambda self, *args: calls.append(1) or original(self, *args))
        outcome = importing.customers_import(acting_user=bank.hank, path=path, workers=workers)
    assert outcome.created == 120 and outcome.rejected == 0
    assert bool(calls) == (workers > 0 and connection.vendor == "sqlite")  # the staged path where there is one
    entries = {entry.object_id: entry for entry in AuditEntry.objects.filter(action="customer.create")}
    customers = list(Customer.objects.all())
    assert len(entries) == len(customers) == 120
    for customer in customers:
        entry = entries[str(customer.pk)]
        assert entry.changes == _expected_creation(customer), customer.id_number
        assert entry.object_repr == f"{customer.name} ({customer.customer_no})"
        assert entry.actor_username == "hank" and entry.actor_id == bank.hank.pk
    # As text, each change set is exactly what `_creation_audit_json` writes for the stored row, whoever wrote
    # it: the workers a column at a time (`_creation_audit_texts`), or PostgreSQL's server (`_creation_audit_postgres`).
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT CAST(a.changes AS TEXT), {', '.join(f'c.{column}' for column in importing.COLUMNS)} "
                       "FROM core_auditentry a JOIN customers_customer c ON a.object_id = CAST(c.id AS TEXT) "
                       "WHERE a.action = 'customer.create'")
        pairs = [(text, importing._creation_audit_json(list(values))) for text, *values in cursor.fetchall()]
    assert len(pairs) == 120 and [text for text, _python in pairs] == [python for _text, python in pairs]
    first = Customer.objects.get(id_number=_normalised_id(rows[0]))
    assert entries[str(first.pk)].changes["notes"] == [None, '第一行\n第二行 "引号" \\ 反斜杠\x01']
    assert entries[str(first.pk)].changes["address"] == [None, '和平路"3号"\\东 院']
    rich = entries[str(Customer.objects.get(id_number=_normalised_id(rows[1])).pk)].changes
    assert rich["deposit_balance"] == [None, "89999999999999.99"] and rich["loan_balance"] == [None, "0.00"]
    assert rich["annual_income"] == [None, "0.07"]
    bare = entries[str(Customer.objects.get(id_number=_normalised_id(rows[2])).pk)].changes
    assert "phone" not in bare and "household_size" not in bare and "annual_income" not in bare

    rows[3][deposit] = "89999999999999.99"  # and an update's entry shows the amounts as exactly
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        csv.writer(handle).writerows([header, rows[3]])
    before = Customer.objects.get(id_number=_normalised_id(rows[3])).deposit_balance
    assert importing.customers_import(acting_user=bank.hank, path=path, workers=0).updated == 1
    update = AuditEntry.objects.get(action="customer.update")
    assert update.changes == {"deposit_balance": [f"{before:.2f}", "89999999999999.99"]}


def _normalised_id(row) -> str:
    return row[HEADER_ZH.index("证件号码")].strip().upper()


@pytest.mark.parametrize("workers", [0, 2])
def test_imported_names_are_found_whatever_characters_they_hold(tmp_path, transactional_db, bank, workers):
    """An import writes each name's tokens in bulk (FTS5 text on SQLite, an array literal unnested on
    PostgreSQL): quotes, backslashes, commas, braces and spaces stay inside the tokens."""
    names = ['张"三', "李\\四", "王,五", "{赵}", "钱 孙", "NULL", '"', "阿依古丽·买买提", "A,B}{\\\"C"]
    rows = [list(row) for row in CustomerFile(seed=915, org_codes=["B1"]).rows(len(names))]
    name_at = HEADER_ZH.index("客户名称")
    for row, name in zip(rows, names, strict=True):
        row[name_at] = name
    outcome = importing.customers_import(acting_user=None, path=_write(tmp_path / "names.csv", rows), workers=workers)
    assert outcome.created == len(names) and outcome.rejected == 0
    for name in names:
        customer = Customer.objects.get(name=name)
        assert tokens_of(customer.pk) == name_tokens(customer.name), name
        if is_cjk(name[-2:]):  # (Latin letters are looked up as pinyin)
            assert Customer.objects.search(name[-2:]).filter(pk=customer.pk).exists(), name


def test_a_first_load_defers_the_audit_logs_indexes_too_but_not_once_the_log_is_bigger(tmp_path, transactional_db,
                                                                                       bank):
    """Every customer created writes an audit entry: on a bank's first load the log is rebuilt after, like the customers."""
    from guanxi.core.bulkload import secondary_indexes

    audit = AuditEntry._meta.db_table
    indexes = len(secondary_indexes(audit))
    rows = [list(row) for row in CustomerFile(seed=813, org_codes=["B1"]).rows(300)]
    path = _write(tmp_path / "first.csv", rows)
    assert AuditEntry.objects.count() < path.stat().st_size // 120  # the file brings more entries than the log has
    seen = []
    outcome = importing.customers_import(acting_user=None, path=path, workers=2, batch_size=100, defer_indexes=True,
                                         stage=lambda text: seen.append(len(secondary_indexes(audit))))
    assert (outcome.created, outcome.rejected) == (300, 0)
    assert seen == [0] and len(secondary_indexes(audit)) == indexes >= 4  # dropped for the load, back after
    assert AuditEntry.objects.filter(action="customer.create").count() == 300
    again = _write(tmp_path / "again.csv", rows[:200])  # fewer rows than the log now holds
    importing.customers_import(acting_user=None, path=again, workers=2, batch_size=100, defer_indexes=True,
                               stage=lambda text: seen.append(len(secondary_indexes(audit))))
    assert seen == [0, indexes]  # the log kept its indexes this time


def test_a_big_update_keeps_the_indexes_a_big_load_of_new_customers_drops_them(tmp_path, transactional_db, bank,
                                                                               settings, monkeypatch):
    """SQLite maintains only the indexes of the columns an update changes: a file that names known customers
    is written with the indexes in place; one that brings more new customers than the table holds drops them
    after its first block and builds them again at its end."""
    from guanxi.core.bulkload import secondary_indexes

    if connection.vendor != "sqlite":
        pytest.skip("only SQLite's staged path decides on its first block")
    settings.IMPORT_DEFER_INDEXES_MIN_ROWS = 10
    table = Customer._meta.db_table
    indexes = len(secondary_indexes(table))
    during = []
    original = importing._Writer.write_staged
    monkeypatch.setattr(importing._Writer, "write_staged",
                        lambda self, *args: during.append(len(secondary_indexes(table))) or original(self, *args))
    rows = [list(row) for row in CustomerFile(seed=814, org_codes=["B1"]).rows(600)]
    first = _write(tmp_path / "first.csv", rows[:200])
    importing.customers_import(acting_user=None, path=first, workers=2, batch_size=50)
    assert set(during) == {0}  # an empty table: dropped before the first block
    deposit = HEADER_ZH.index("存款余额")
    update = _write(tmp_path / "update.csv", [[*row[:deposit], "123.45", *row[deposit + 1:]] for row in rows[:200]])
    during.clear()
    outcome = importing.customers_import(acting_user=None, path=update, workers=2, batch_size=50)
    assert (outcome.created, outcome.updated) == (0, 200)
    assert len(during) >= 3 and set(during) == {indexes}  # every block updated with the indexes in place
    assert Customer.objects.filter(deposit_balance="123.45").count() == 200
    during.clear()
    outcome = importing.customers_import(acting_user=None, path=_write(tmp_path / "new.csv", rows[200:]), workers=2,
                                         batch_size=50)
    assert (outcome.created, outcome.updated) == (400, 0)
    assert during[0] == indexes and set(during[1:]) == {0}  # 400 new customers into a table of 200
    assert len(secondary_indexes(table)) == indexes
    assert Customer.objects.search(rows[599][1]).filter(id_number=rows[599][2]).exists()


def test_an_update_writes_the_same_audit_entries_on_either_path(tmp_path, transactional_db, bank):
    """The staged path (SQLite) and the set-based update (PostgreSQL) compare and audit an update in SQL, the
    general path in Python: the same change sets, to the byte (masked phones, amounts to the fen, escapes, a value
    emptied), and the same customers after."""
    header = [*HEADER_ZH, "非财务信息", "电子邮箱"]
    rows = [[*row, "", ""] for row in CustomerFile(seed=915, org_codes=["B1"]).rows(90)]
    at = {name: header.index(name) for name in ("客户名称", "手机号码", "地址", "存款余额", "年收入", "家庭人口",
                                                "非财务信息", "电子邮箱", "担保方式")}
    changed = [list(row) for row in rows]
    changed[0][at["地址"]] = '和平路"3号"\\东\t院'
    changed[0][at["非财务信息"]] = '第一行\n第二行 \x01'
    changed[1][at["手机号码"]] = "13900001111"
    changed[2][at["存款余额"]] = "89,999,999,999,999.99"
    changed[2][at["年收入"]] = "0.07"
    changed[3][at["客户名称"]] = "欧阳新名"
    changed[4][at["家庭人口"]] = "7"
    changed[5][at["电子邮箱"]] = "New.Mail@Example.COM"
    changed[6][at["担保方式"]] = "抵押"
    changed[7][at["手机号码"]] = ""  # not given: kept
    for row in changed[8:60]:
        row[at["存款余额"]] = "1234.5"
    calls, original = [], importing._Writer.write_staged

    def counting(self, *args):
        calls.append(1)
        return original(self, *args)

    results = {}
    for workers in (0, 2):
        Customer.objects.all().delete()
        importing.customers_import(acting_user=None, path=_write_rows(tmp_path / "seed.csv", header, rows), workers=0)
        since = AuditEntry.objects.order_by("-pk").values_list("pk", flat=True).first()
        staged_before = len(calls)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(importing._Writer, "write_staged", counting)
            patch.setattr(importing._Writer, "set_based_updates", workers > 0)
            outcome = importing.customers_import(acting_user=bank.hank, path=_write_rows(tmp_path / "up.csv", header,
                                                                                       changed), workers=workers)
        assert (len(calls) - staged_before > 0) == (workers > 0 and connection.vendor == "sqlite")
        with connection.cursor() as cursor:  # the stored text itself, not its parse
            cursor.execute("SELECT c.id_number, a.object_repr, a.actor_username, CAST(a.changes AS TEXT) "
                           "FROM core_auditentry a JOIN customers_customer c ON CAST(c.id AS TEXT) = a.object_id "
                           "WHERE a.id > %s AND a.action = 'customer.update' ORDER BY a.id", [since])
            entries = [(id_number, name.split(" (KH")[0], actor, text) for id_number, name, actor, text in cursor]
        results[workers] = ((outcome.updated, outcome.unchanged), entries, _state()[0])
    assert results[2] == results[0]
    (updated, unchanged), entries, customers = results[2]
    assert (updated, unchanged) == (59, 31)
    changes = {id_number: json.loads(text) for id_number, _repr, _actor, text in entries}
    assert changes[_normalised_id(rows[1])]["phone"][1] == "139****1111"
    assert changes[_normalised_id(rows[2])]["deposit_balance"][1] == "89999999999999.99"
    assert changes[_normalised_id(rows[0])]["notes"] == ["", "第一行\n第二行 \x01"]
    assert entries[3][1] == "欧阳新名"
    assert customers[_normalised_id(rows[7])]["phone"] == rows[7][at["手机号码"]]


def _write_rows(path: Path, header, rows) -> Path:
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path
