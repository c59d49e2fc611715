"""Secondary indexes (and PostgreSQL's foreign keys) dropped for a bulk load are always built again: at the end,
after a failure, after a kill."""

import socket
import subprocess
import sys
import threading

import pytest
from django.db import connection

from guanxi.core.bulkload import foreign_keys, indexes_deferred, indexes_restore, secondary_indexes
from guanxi.core.models import DeferredIndex
from guanxi.customers.models import Customer

TABLE = "customers_customer"


def _all_indexes() -> set[str]:
    with connection.cursor() as cursor:
        return {info for info, spec in connection.introspection.get_constraints(cursor, TABLE).items()
                if spec["index"] or spec["unique"]}


def _keys(table: str = TABLE) -> dict[str, tuple]:
    with connection.cursor() as cursor:
        return {name: spec["foreign_key"] for name, spec in connection.introspection.get_constraints(cursor, table).items()
                if spec["foreign_key"]}


def test_the_secondary_indexes_are_dropped_during_the_load_and_built_again_after(db):
    before, keys = _all_indexes(), _keys()
    secondary = {name for name, _sql in secondary_indexes(TABLE)}
    assert "customer_segment_cover" in secondary
    assert len(keys) >= 3  # org unit, creator, loan officer, ...
    with indexes_deferred([TABLE]):
        during = _all_indexes()
        assert not (during & secondary)
        assert during  # the primary key and the unique customer and ID numbers stay
        # PostgreSQL checks a foreign key row by row at each commit: dropped for the load too
        assert _keys() == ({} if connection.vendor == "postgresql" else keys)
        assert DeferredIndex.objects.count() == len(secondary) + (len(keys) if connection.vendor == "postgresql" else 0)
    assert _all_indexes() == before
    assert _keys() == keys
    assert not DeferredIndex.objects.exists()


def test_a_failed_load_builds_them_again_too(db):
    before = _all_indexes()
    with pytest.raises(RuntimeError), indexes_deferred([TABLE]):
        raise RuntimeError("the file was unreadable")
    assert _all_indexes() == before


def test_the_unique_identifier_is_enforced_during_the_load(bank, db):
    from django.db import IntegrityError, transaction

    from tests.factories import CustomerFactory

    customer = CustomerFactory(org_unit=bank.b1)
    with indexes_deferred([TABLE]), pytest.raises(IntegrityError), transaction.atomic():
        Customer.objects.create(customer_no="KH9999999999", customer_type="person", name="重复",
                                id_number=customer.id_number, org_unit=bank.b1, market="personal")


def test_indexes_left_by_a_killed_load_are_built_again(db):
    before = _all_indexes()
    name, sql = secondary_indexes(TABLE)[0]
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    with connection.cursor() as cursor:
        cursor.execute(f'DROP INDEX "{name}"')
    DeferredIndex.objects.create(table=TABLE, name=name, sql=sql, host=socket.gethostname(),
                                 pid=int(dead.stdout))
    alive = secondary_indexes(TABLE)[1]
    DeferredIndex.objects.create(table=TABLE, name=alive[0], sql=alive[1], host=socket.gethostname(), pid=1)
    assert name not in _all_indexes()
    assert indexes_restore() == [name]  # the other record belongs to a running process (pid 1): left alone
    assert _all_indexes() == before
    assert list(DeferredIndex.objects.values_list("name", flat=True)) == [alive[0]]


def test_foreign_keys_left_by_a_killed_load_are_added_again_and_checked(bank, db):
    from django.db import IntegrityError, transaction

    from tests.factories import CustomerFactory

    if connection.vendor != "postgresql":
        pytest.skip("SQLite keeps its foreign keys during a load")
    tokens = "customers_nametoken"
    keys = _keys(tokens)
    ((name, sql),) = foreign_keys(tokens)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True)
    with connection.cursor() as cursor:
        cursor.execute(f'ALTER TABLE "{tokens}" DROP CONSTRAINT "{name}"')
    DeferredIndex.objects.create(table=tokens, name=name, sql=sql, host=socket.gethostname(), pid=int(dead.stdout))
    customer = CustomerFactory(org_unit=bank.b1)
    with connection.cursor() as cursor:  # a token of a customer that does not exist: nothing refuses it now
        cursor.execute(f'INSERT INTO "{tokens}" (token, customer_id) VALUES (%s, %s)', ["孤", customer.pk + 1000])
    with pytest.raises(IntegrityError), transaction.atomic():
        indexes_restore()  # the key comes back only over rows that keep it
    assert _keys(tokens) == {} and DeferredIndex.objects.filter(name=name).exists()
    with connection.cursor() as cursor:
        cursor.execute(f'DELETE FROM "{tokens}" WHERE customer_id = %s', [customer.pk + 1000])
    assert indexes_restore() == [name]
    assert _keys(tokens) == keys
    assert not DeferredIndex.objects.exists()


def test_reserved_keys_are_new_and_never_handed_out_again(bank, db):
    from django.db import transaction

    from guanxi.core.bulkload import reserve_ids
    from tests.factories import CustomerFactory

    first = CustomerFactory(org_unit=bank.b1)
    with transaction.atomic():
        keys = reserve_ids(TABLE, 3)
    assert len(keys) == 3 and min(keys) > first.pk
    if connection.vendor == "sqlite":
        assert keys == range(keys[0], keys[0] + 3)  # consecutive: an import batch is one id range
    # Rows inserted with them keep them, and later customers get keys past them.
    customers = [Customer.objects.create(pk=pk, customer_no=f"KH99999999{i:02d}", customer_type="person",
                                         name="预留", id_number=f"11010119900101{i:03d}X"[:18], org_unit=bank.b1,
                                         market="personal") for i, pk in enumerate(list(keys)[:2])]
    assert [c.pk for c in customers] == list(keys)[:2]
    later = CustomerFactory(org_unit=bank.b1)
    assert later.pk > max(keys)  # even the reserved key left unused is not handed out
    with transaction.atomic():
        assert min(reserve_ids(TABLE, 2)) > later.pk


def test_postgresql_has_fresh_statistics_after_the_load(bank, db):
    if connection.vendor != "postgresql":
        pytest.skip("Guanxi leaves SQLite's planner statistics alone")
    from tests.factories import CustomerFactory

    with indexes_deferred([TABLE]):
        CustomerFactory.create_batch(3, org_unit=bank.b1, address="统计村")
    with connection.cursor() as cursor:
        cursor.execute("SELECT most_common_vals::text FROM pg_stats WHERE tablename = %s AND attname = 'address'",
                       [TABLE])
        row = cursor.fetchone()
    assert row is not None and "统计村" in row[0]  # the planner knows what the load brought


def _primary_key(table: str) -> list[str]:
    with connection.cursor() as cursor:
        return [name for name, spec in connection.introspection.get_constraints(cursor, table).items()
                if spec["primary_key"]]


def test_a_derived_tables_primary_key_goes_too_and_comes_back_without_the_duplicates_of_the_meantime(bank, db):
    """The name tokens are computed from the names: their key need not slow a load, and a copy of a token adds nothing."""
    from tests.factories import CustomerFactory

    if connection.vendor != "postgresql":
        pytest.skip("SQLite cannot drop a primary key (and keeps the tokens in FTS5)")
    tokens = "customers_nametoken"
    key = _primary_key(tokens)
    customer = CustomerFactory(org_unit=bank.b1, name="王小明")
    with indexes_deferred([TABLE, tokens], derived=(tokens,)):
        assert _primary_key(tokens) == [] and _primary_key(TABLE)  # the customers' own key stays
        with connection.cursor() as cursor:
            cursor.execute(f'INSERT INTO "{tokens}" (token, customer_id) VALUES (%s, %s)', ["小明", customer.pk])
    assert _primary_key(tokens) == key
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT token, count(*) FROM "{tokens}" WHERE customer_id = %s GROUP BY token', [customer.pk])
        counts = dict(cursor.fetchall())
    assert counts["小明"] == 1 and set(counts.values()) == {1}
    assert set(counts) >= {"王", "小", "明", "王小"}  # its other tokens are all still there
    assert not DeferredIndex.objects.exists()


def test_after_a_load_outside_a_transaction_each_table_is_built_again_even_when_another_fails(transactional_db, bank,
                                                                                                   monkeypatch):
    """PostgreSQL builds the indexes in other sessions, at once; one table's failure costs no other's."""
    from django.db import IntegrityError

    from guanxi.core import bulkload
    from tests.factories import CustomerFactory

    if connection.vendor != "postgresql":
        pytest.skip("SQLite has one writer: its indexes are built one after the other")
    tokens, audit = "customers_nametoken", "core_auditentry"
    before = {table: (_all_indexes() if table == TABLE else None, _keys(table)) for table in (TABLE, tokens, audit)}
    audit_indexes = {name for name, _sql in secondary_indexes(audit)}
    sessions = {}  # what each thread built
    original = bulkload._create
    monkeypatch.setattr(bulkload, "_create", lambda records, **options: sessions.setdefault(
        threading.current_thread().name, []).extend(record.table for record in records) or original(records, **options))
    customer = CustomerFactory(org_unit=bank.b1)
    with pytest.raises(IntegrityError), indexes_deferred([TABLE, tokens, audit], derived=(tokens,)):
        with connection.cursor() as cursor:  # a token of no customer: the tokens' foreign key cannot come back
            cursor.execute(f'INSERT INTO "{tokens}" (token, customer_id) VALUES (%s, %s)', ["孤", customer.pk + 1000])
    others = {name: tables for name, tables in sessions.items() if name != threading.main_thread().name}
    assert {table for tables in others.values() for table in tables} == {TABLE, tokens, audit}  # not the caller's
    assert _all_indexes() == before[TABLE][0] and _keys() == before[TABLE][1]
    assert {name for name, _sql in secondary_indexes(audit)} == audit_indexes and _keys(audit) == before[audit][1]
    assert set(DeferredIndex.objects.values_list("table", flat=True)) == {tokens}  # left for indexes_restore
    with connection.cursor() as cursor:
        cursor.execute(f'DELETE FROM "{tokens}" WHERE customer_id = %s', [customer.pk + 1000])
    DeferredIndex.objects.update(pid=subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                                                    capture_output=True, text=True, check=True).stdout)
    indexes_restore()
    assert _keys(tokens) == before[tokens][1] and _primary_key(tokens)
    assert not DeferredIndex.objects.exists()


def test_a_loads_log_is_copied_into_the_database_file_by_its_checkpointer(tmp_path):
    """SQLite in WAL mode (`checkpoints_apart`): with the committing connection's own copying off, the
    checkpointer's thread copies the log into the database file; once it is closed, the file holds every
    committed row, even read without its log."""
    import shutil
    import sqlite3

    from guanxi.core.bulkload import _Checkpointer

    path = tmp_path / "load.sqlite3"
    db = sqlite3.connect(path, isolation_level=None)
    assert db.execute("PRAGMA journal_mode = WAL").fetchone() == ("wal",)
    db.execute("PRAGMA wal_autocheckpoint = 0")
    db.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)")
    checkpointer = _Checkpointer(str(path))
    for block in range(5):
        db.execute("BEGIN")
        db.executemany("INSERT INTO t (v) VALUES (?)", [(f"row {block}-{i}",) for i in range(2000)])
        db.execute("COMMIT")
        checkpointer.poke()
    db.execute("BEGIN")
    db.execute("INSERT INTO t (v) VALUES ('the last')")
    db.execute("COMMIT")
    checkpointer.close()  # the last copy happens here
    assert checkpointer.thread is not None and not checkpointer.thread.is_alive()  # its thread has ended
    alone = tmp_path / "alone.sqlite3"
    shutil.copyfile(path, alone)  # the database file without its log
    copy = sqlite3.connect(alone)
    assert copy.execute("SELECT count(*), max(v) FROM t WHERE k > 0").fetchone() == (10001, "the last")
    copy.close()
    db.close()


def test_a_checkpointed_loads_log_starts_over_once_past_its_bound(tmp_path):
    """Past its bound, the log is copied whole before the next transaction, which starts it over: the log file
    stays within the bound and a block, however many blocks come at once."""
    import os
    import sqlite3

    from guanxi.core.bulkload import _Checkpointer

    path = tmp_path / "load.sqlite3"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA wal_autocheckpoint = 0")
    db.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)")
    bound = 1024 * 1024
    checkpointer = _Checkpointer(str(path), bound=bound)
    block = [("x" * 200,)] * 2000  # some 450 KiB of log each
    largest = 0
    for _block in range(40):
        db.execute("BEGIN")
        db.executemany("INSERT INTO t (v) VALUES (?)", block)
        db.execute("COMMIT")
        largest = max(largest, os.path.getsize(f"{path}-wal"))
        checkpointer.poke()
    checkpointer.close()
    assert bound < largest < bound + 1024 * 1024
    assert db.execute("SELECT count(*) FROM t").fetchone() == (80000,)
    db.close()
