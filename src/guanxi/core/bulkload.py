"""Bulk loads without per-row index maintenance: drop a table's secondary indexes, load, create them again.

Inserting a row into a table with a dozen secondary indexes costs a dozen random B-tree
inserts; building each index once at the end from the loaded table is a sort, several times
cheaper per row (measured on the customer table: 300,000 rows with every index in place
40 s; without the secondary indexes 13 s, plus 5 s to build them all at the end). So a load
that brings in at least as many rows as the table already holds drops the table's secondary
indexes (never a primary key or a unique index: those guard the data) and builds them again
when it ends, whether it succeeded or failed.

On PostgreSQL the tables' foreign keys go the same way, as its manual advises for bulk loads:
a deferred foreign key is checked row by row at each commit (a 100,000-row registration
import: 660,000 name tokens and 100,000 customers, 4.3 s of commits), while adding it again
checks the whole table in one join. The rows stay consistent meanwhile: each batch writes a
customer and its tokens in one transaction, and adding a key back fails if a row breaks it.

A table derived from others (the name tokens, computed from the customers' names) guards no
data of its own: such a table may lose its primary key for the load too (`derived`), as its
secondary indexes do (a 100,000-row import: 660,000 tokens in 2.2 s with the key in place,
1.0 s without it and building it after). Should an exact duplicate row have crept in
meanwhile, it is removed before the key is built again: a copy of derived data says nothing new.

Crash safety: each dropped index or key is recorded (`DeferredIndex`: its name and its CREATE
INDEX or ALTER TABLE … ADD statement) in the same transaction as the DROP, and the record is
deleted in the same transaction as the CREATE. A load killed in between leaves the records; `indexes_restore`
builds those indexes again. It runs at the start of every bulk load and of the server, and
restores the indexes of any load whose process is gone (same host, process not running) or
that has not touched its records for `STALE_AFTER`.
"""

from __future__ import annotations

import collections
import contextlib
import os
import socket
import sqlite3
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone

STALE_AFTER = timedelta(minutes=30)


def secondary_indexes(table: str) -> list[tuple[str, str]]:
    """(name, CREATE INDEX statement) of a table's indexes that are neither primary keys nor unique."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT ic.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i "
                "JOIN pg_class ic ON ic.oid = i.indexrelid "
                "WHERE i.indrelid = %s::regclass AND NOT i.indisprimary AND NOT i.indisunique "
                "AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid) "
                "ORDER BY ic.relname", [table])
        else:
            cursor.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = %s AND sql IS NOT NULL "
                "AND upper(sql) NOT LIKE 'CREATE UNIQUE%%' ORDER BY name", [table])
        return [(name, sql) for name, sql in cursor.fetchall()]


def foreign_keys(table: str) -> list[tuple[str, str]]:
    """(name, ALTER TABLE … ADD CONSTRAINT statement) of a table's foreign keys (PostgreSQL; none on SQLite,
    where a key cannot be dropped without rebuilding the table)."""
    return _constraints(table, "f")


def primary_key(table: str) -> list[tuple[str, str]]:
    """(name, ALTER TABLE … ADD CONSTRAINT statement) of a table's primary key (PostgreSQL; SQLite cannot
    drop one)."""
    return _constraints(table, "p")


def _constraints(table: str, kind: str) -> list[tuple[str, str]]:
    """A table's constraints of one kind (pg_constraint.contype), as (name, statement that adds it back)."""
    if connection.vendor != "postgresql":
        return []
    with connection.cursor() as cursor:
        cursor.execute("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                       "WHERE conrelid = %s::regclass AND contype = %s ORDER BY conname", [table, kind])
        return [(name, f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}')
                for name, definition in cursor.fetchall()]


def _is_key(record) -> bool:
    """Whether a deferred record is a key (its ALTER TABLE … ADD statement) rather than an index."""
    return record.sql.startswith("ALTER TABLE ")


def _is_foreign_key(record) -> bool:
    return _is_key(record) and " FOREIGN KEY (" in record.sql


def _on_expression(sql: str) -> bool:
    """Whether a CREATE INDEX statement (as pg_get_indexdef writes it) indexes an expression rather than
    columns only (`USING btree (a, b)`; a partial index's WHERE clause does not count)."""
    _head, using, rest = sql.partition(" USING ")
    if not using:
        return False
    depth, inside = 0, ""
    for char in rest[rest.find("("):]:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0:
            break
        inside += char
    return "(" in inside[1:]


@contextlib.contextmanager
def _checks_run_first(cursor) -> Iterator[None]:
    """Run the pending deferred foreign key checks first, and defer them again after (PostgreSQL).

    Inside a caller's transaction, rows written since its start may have deferred foreign key
    checks pending, and PostgreSQL refuses CREATE INDEX and ALTER TABLE on such a table.
    """
    postgres = connection.vendor == "postgresql"
    if postgres:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    yield
    if postgres:
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")  # back to the foreign keys' own INITIALLY DEFERRED


def _if_not_exists(sql: str) -> str:
    head, sep, rest = sql.partition("INDEX ")
    return f"{head}{sep}IF NOT EXISTS {rest}" if "IF NOT EXISTS" not in rest[:20] else sql


def _key_exists(cursor, record) -> bool:
    cursor.execute("SELECT 1 FROM pg_constraint WHERE conrelid = %s::regclass AND conname = %s",
                   [record.table, record.name])
    return cursor.fetchone() is not None


def _add_primary_key(cursor, record) -> None:
    """Add a derived table's primary key back, removing exact duplicate rows first if there are any."""
    from django.db import IntegrityError

    try:
        with transaction.atomic():
            cursor.execute(record.sql)
    except IntegrityError:
        columns = record.sql.rpartition("PRIMARY KEY (")[2].rstrip(")").split(", ")
        same = " AND ".join(f"a.{column} = b.{column}" for column in columns)
        cursor.execute(f'DELETE FROM "{record.table}" a USING "{record.table}" b '  # noqa: S608 - our names
                       f"WHERE a.ctid > b.ctid AND {same}")
        cursor.execute(record.sql)


def _create(records, *, one_cpu: bool = False) -> None:
    from guanxi.core.models import DeferredIndex

    with transaction.atomic(), connection.cursor() as cursor, _checks_run_first(cursor):
        if connection.vendor == "postgresql":
            # Room to sort a whole index in memory, for this transaction only: the manual's advice
            # for bulk loads (the server's default, 64 MB, sorts a million-row index on disk).
            cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
            if one_cpu:  # others build at the same time: no parallel workers besides
                cursor.execute("SET LOCAL max_parallel_maintenance_workers = 0")
        # The indexes first: adding a foreign key back checks the rows, which an index may serve.
        for record in sorted(records, key=_is_key):
            if not _is_key(record):
                cursor.execute(_if_not_exists(record.sql))
            elif not _key_exists(cursor, record):
                if " PRIMARY KEY (" in record.sql:
                    _add_primary_key(cursor, record)
                else:
                    cursor.execute(record.sql)
        DeferredIndex.objects.filter(pk__in=[record.pk for record in records]).delete()


def _process_gone(record) -> bool:
    """Whether the load that dropped this index has ended without building it again."""
    if record.touched_at < timezone.now() - STALE_AFTER:
        return True  # a live load touches its records every batch
    if record.host != socket.gethostname():
        return False
    return not process_running(record.pid)


def process_running(pid: int) -> bool:
    """Whether a process of this host with this id is running (a process of another user counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a process of another user: alive
        return True
    return True


def indexes_restore() -> list[str]:
    """Build again the indexes left dropped by bulk loads that are no longer running; their names."""
    from guanxi.core.models import DeferredIndex

    orphans = [record for record in DeferredIndex.objects.all() if _process_gone(record)]
    if orphans:
        _create(orphans)
    return [record.name for record in orphans]


@contextlib.contextmanager
def indexes_deferred(tables: list[str], *, derived: tuple[str, ...] = ()) -> Iterator[callable]:
    """Drop these tables' secondary indexes (and foreign keys, on PostgreSQL) for the duration of the
    block; build them again at its end. The tables among them that are `derived` from others lose
    their primary key too (PostgreSQL).

    Yields `touch()`, to be called now and then (every batch) so that a long load on another
    host is not taken for a dead one.
    """
    from guanxi.core.models import DeferredIndex

    indexes_restore()
    host, pid = socket.gethostname(), os.getpid()
    with transaction.atomic():
        records = [DeferredIndex.objects.create(table=table, name=name, sql=sql, host=host, pid=pid)
                   for table in tables for name, sql in [*secondary_indexes(table), *foreign_keys(table),
                                                         *(primary_key(table) if table in derived else [])]]
        with connection.cursor() as cursor, _checks_run_first(cursor):
            for record in records:
                if _is_key(record):
                    cursor.execute(f'ALTER TABLE "{record.table}" DROP CONSTRAINT "{record.name}"')
                else:
                    cursor.execute(f'DROP INDEX "{record.name}"')

    def touch() -> None:
        DeferredIndex.objects.filter(pk__in=[record.pk for record in records]).update(touched_at=timezone.now())

    try:
        yield touch
    finally:
        _build_again(records, tables)


def _build_again(records, tables: list[str]) -> None:
    """Build the dropped indexes and keys again; on PostgreSQL, analyze the tables too.

    On PostgreSQL outside a transaction, in a few sessions at once (`_build_at_once`), then the
    foreign keys. Inside a caller's transaction the other sessions would wait for it: there, one
    after the other, in one transaction.
    """
    if connection.vendor == "postgresql" and not connection.in_atomic_block and len(records) > 1:
        _build_at_once(records, tables)
        return
    _create(records)
    if connection.vendor == "postgresql":
        for table in tables:
            _analyze(table)


def _build_at_once(records, tables: list[str]) -> None:
    """PostgreSQL: the tables analyzed, each index (and a derived table's primary key) built in its own
    transaction, by a session per CPU taking the next job as it is done; then the foreign keys,
    one after the other.

    The load's workers are done by then, and a build or an analysis uses one CPU. Indexes of
    one table can be built at once (each locks the table only against writes), but not beside
    its analysis, and adding a foreign key locks both tables it joins: with a session per table,
    a table's keys waited for the other tables' builds, and their analyses for the keys. So the
    analyses come first (the longest jobs), then the indexes of the tables of most rows (a sort
    each), and the keys last, each checked with one join on analyzed tables. (The three tables
    of a 100,000-row import: 2.4-3.3 s rather than 3.5-3.9 s with a session per table.) Each
    transaction deletes the record of what it built, as `_create` does; a failure costs nothing
    else, and the first one is raised once everything has been tried.
    """
    keys = [record for record in records if _is_foreign_key(record)]
    builds = [record for record in records if not _is_foreign_key(record)]
    with connection.cursor() as cursor:  # rows per table, as the server counts them (no statistics yet)
        cursor.execute("SELECT relname, n_live_tup FROM pg_stat_user_tables WHERE relname = ANY(%s)", [tables])
        rows = dict(cursor.fetchall())
    builds.sort(key=lambda record: -rows.get(record.table, 0))  # a sort per index: the most rows first
    # A table is analyzed before its indexes are built (the analysis locks out the builds, and the
    # statistics of columns need no index), unless one of them is on an expression: its statistics
    # come from the index, so such a table is analyzed as soon as its last index is in.
    after = {record.table for record in builds if _on_expression(record.sql)}
    left = collections.Counter(record.table for record in builds if record.table in after)
    jobs = collections.deque([(None, table) for table in tables if table not in after or not left[table]])
    jobs.extend((record, record.table) for record in builds)
    lock = threading.Lock()
    failures: list[BaseException] = []

    def session() -> None:
        try:
            while True:
                with lock:
                    if not jobs:
                        return
                    record, table = jobs.popleft()
                try:
                    if record is None:
                        _analyze(table)
                    else:
                        _create([record], one_cpu=True)
                except Exception as exc:  # noqa: BLE001 - the others are still built; the first is raised
                    failures.append(exc)
                if record is not None and table in after:
                    with lock:
                        left[table] -= 1
                        if not left[table]:
                            jobs.appendleft((None, table))
        finally:
            connection.close()  # this thread's own connection

    sessions = min(len(jobs), os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=sessions) as pool:
        for _session in range(sessions):
            pool.submit(session)
    for key in keys:
        try:
            _create([key])
        except Exception as exc:  # noqa: BLE001 - as above
            failures.append(exc)
    if failures:
        raise failures[0]


def _analyze(table: str) -> None:
    """Fresh statistics for a loaded table (PostgreSQL): until autovacuum gets to it, the planner would still
    plan for the table before the load (a search walking the whole table)."""
    with connection.cursor() as cursor:
        cursor.execute(f'ANALYZE "{table}"')


WAL_BOUND = 256 * 1024 * 1024  # bytes of log past which a load waits for its copy (`_Checkpointer.poke`)


class _Checkpointer:
    """`checkpoints_apart`'s thread and its own connection to the database."""

    def __init__(self, path: str, *, bound: int = WAL_BOUND):
        self.path = path
        self.bound = bound
        self.thread: threading.Thread | None = None
        self.wake = threading.Event()
        self.idle = threading.Event()  # set after a copy that started after the last poke
        self.stop = threading.Event()

    def poke(self) -> None:
        """A transaction has just been committed: copy what the log holds into the database file.

        The log starts over only when a transaction begins with all of it copied; a load whose next
        block is ready at once would otherwise make it grow with every block. So past `bound` bytes,
        this waits for the copy: the next transaction starts the log over (a bound like the log of
        the index rebuild at a million customers, which was already that big).
        """
        if self.thread is None:
            self.thread = threading.Thread(target=self._run, name="guanxi-wal-checkpoint", daemon=True)
            self.thread.start()
        self.idle.clear()
        self.wake.set()
        try:
            size = os.path.getsize(f"{self.path}-wal")
        except OSError:
            size = 0
        if size > self.bound and self.thread.is_alive():
            self.idle.wait()

    def close(self) -> None:
        """A last checkpoint (of what was committed since the last one), then the thread ends."""
        if self.thread is None:
            return
        self.stop.set()
        self.wake.set()
        self.thread.join()

    def _run(self) -> None:
        try:
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            try:
                db.execute("PRAGMA synchronous = NORMAL")  # as the site's own connections: a sync per checkpoint
                while True:
                    self.wake.wait()
                    self.wake.clear()
                    last = self.stop.is_set()
                    with contextlib.suppress(sqlite3.Error):  # a checkpoint left undone is done by the next one
                        db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    if not self.wake.is_set():
                        self.idle.set()
                    if last:
                        return
            finally:
                db.close()
        finally:
            self.idle.set()  # nobody waits for a thread that has ended


@contextlib.contextmanager
def checkpoints_apart() -> Iterator[Callable[[], None]]:
    """SQLite in WAL mode: a bulk load's commits leave the log to be copied into the database file by a
    thread of this process, from its own connection, while the load goes on (the thread starts at
    the first `poke()`, so that a process that forks its workers first still forks single-threaded).

    Yields `poke()`, to be called after each commit. By default the committing connection copies
    the log itself once it has grown past 1,000 pages: the load stops for the copy and its sync,
    while its workers may have nothing left to do (a 100,000-row import on 2 CPUs: 7 copies of
    0.08-0.17 s each, a sixth of its time). At the end the last of the log is copied before the
    block is left, so that a load ends with everything in the database file, as before.
    Elsewhere (PostgreSQL, another journal mode) `poke()` does nothing.
    """
    pages = None
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA journal_mode")
            if cursor.fetchone()[0].lower() == "wal":
                cursor.execute("PRAGMA wal_autocheckpoint")
                pages = cursor.fetchone()[0]
                cursor.execute("PRAGMA wal_autocheckpoint = 0")
    if pages is None:
        yield lambda: None
        return
    checkpointer = _Checkpointer(str(connection.settings_dict["NAME"]))
    try:
        yield checkpointer.poke
    finally:
        try:
            checkpointer.close()
        finally:
            with connection.cursor() as cursor:
                cursor.execute(f"PRAGMA wal_autocheckpoint = {int(pages)}")


def reserve_ids(table: str, count: int) -> range | list[int]:
    """Take `count` new primary keys of `table` (an auto-increment "id"), inside the caller's transaction.

    Rows inserted with these ids need no read-back to learn their keys. On SQLite the keys are
    consecutive: the AUTOINCREMENT counter is moved past them in a statement that takes the
    database's write lock first, so no other writer can take the same keys. On PostgreSQL they
    are drawn from the table's sequence (consecutive unless another session draws at the same
    time); a `range` when they are consecutive.
    """
    if count <= 0:
        return range(0)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # The sequence named once (looked up for every key, it took nine tenths of the time), and
            # the keys drawn stay in the server unless they are not consecutive (another session drew
            # some at the same time): 12,500 keys in 5 ms rather than 45 ms.
            cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
            sequence = cursor.fetchone()[0]
            cursor.execute("SELECT min(k), max(k), CASE WHEN max(k) - min(k) + 1 = count(*) THEN NULL "
                           "ELSE array_agg(k ORDER BY k) END "
                           "FROM (SELECT nextval(%s::regclass) AS k FROM generate_series(1, %s)) drawn",
                           [sequence, count])
            low, high, ids = cursor.fetchone()
            return range(low, high + 1) if ids is None else ids
        highest = f'(SELECT coalesce(max(id), 0) FROM "{table}")'  # noqa: S608 - a table name of ours
        cursor.execute(f"UPDATE sqlite_sequence SET seq = max(seq, {highest}) + %s WHERE name = %s",  # noqa: S608
                       [count, table])
        if cursor.rowcount == 0:  # no row was ever inserted: SQLite has no counter for the table yet
            cursor.execute(f"INSERT INTO sqlite_sequence (name, seq) VALUES (%s, {highest} + %s)",  # noqa: S608
                           [table, count])
        cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [table])
        last = cursor.fetchone()[0]
    return range(last - count + 1, last + 1)
