"""Registration import (客户信息采集): stream a file, validate every row, upsert by identifier.

Rows are validated by the same `clean_customer_input` as forms and the API. Valid rows are
written in batches, each batch in one transaction with its audit entries, through the
database driver's bulk path (executemany on SQLite, COPY on PostgreSQL) rather than the ORM,
so a county bank's whole book goes in within a minute. A crash leaves whole batches; a rerun
upserts the same rows and ends in the same state. Refused rows go to an error report in the
input's own columns plus the reason, ready to be corrected and imported again.

Big files are validated in worker processes. A big CSV file on SQLite goes further: each
worker reads its own blocks of the file and stages the valid rows of a block in a scratch
SQLite file, and the writer moves a block's new customers into the customer, search and
audit tables with INSERT … SELECT (`_Writer.write_staged`), so their values never pass
through the writing process, which is the one SQLite cannot run twice.
"""

from __future__ import annotations

import collections
import contextlib
import csv
import functools
import gc
import io
import itertools
import json
import marshal
import operator
import os
import pickle
import re
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import EmptyResultSet, ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.core.audit import _client_ip
from guanxi.core.bulkload import checkpoints_apart, indexes_deferred, indexes_restore, process_running, reserve_ids
from guanxi.core.masking import SENSITIVE_FIELDS, mask_sql, mask_value
from guanxi.core.models import AuditEntry, OrgUnit, User
from guanxi.core.services import sequence_take
from guanxi.core.validators import county_exists, normalize_text
from guanxi.core.workers import call, process_pool
from guanxi.customers.importing.common import ImportOutcome, map_columns, rejector
from guanxi.customers.importing.readers import open_tabular
from guanxi.customers.importing.report import ErrorReport, default_report_path
from guanxi.customers.models import MARKET_BY_TYPE, Customer, ImportRun, NameToken
from guanxi.customers.search import FTS_TABLE, fts_text, name_pinyin, name_tokens, uses_fts, write_tokens
from guanxi.customers.services import CUSTOMER_NUMBER_FORMAT
from guanxi.customers.signals import (
    customer_insert_columns,
    customer_insert_values,
    customers_bulk_registered,
    customers_bulk_updated,
)
from guanxi.customers.validation import CLEANERS, MONEY_FIELDS, clean_customer_input

# Header names accepted for each field: DESIGN.md's Chinese header and the API name.
HEADERS: dict[str, str] = {
    "客户类型": "customer_type", "客户名称": "name", "证件号码": "id_number", "手机号码": "phone",
    "电子邮箱": "email",
    "所属机构": "org_code", "行业": "industry", "地址": "address", "存款余额": "deposit_balance",
    "贷款余额": "loan_balance", "年收入": "annual_income", "总资产": "total_assets", "总负债": "total_liabilities",
    "家庭人口": "household_size", "担保方式": "guarantee_type", "客户状态": "status", "非财务信息": "notes",
}
HEADERS.update({name: name for name in list(HEADERS.values())})
# Columns Guanxi itself writes (exports, error reports): known, not imported.
IGNORED_HEADERS = {"客户号", "customer_no", "维护责任人", "owner", "错误原因", "error_reason"}
REQUIRED = ("customer_type", "name", "id_number", "org_code")

COLUMNS = [
    "customer_type", "name", "id_number", "phone", "org_unit_id", "status", "address", "industry", "market",
    "birth_date", "gender", "annual_income", "total_assets", "total_liabilities", "household_size",
    "guarantee_type", "notes", "deposit_balance", "loan_balance", "name_pinyin", "name_initials", "phone_last4",
    "email",
]
DEFAULTS: dict[str, Any] = {
    "phone": "", "status": "prospect", "address": "", "industry": "", "birth_date": None, "gender": "",
    "annual_income": None, "total_assets": None, "total_liabilities": None, "household_size": None,
    "guarantee_type": "", "notes": "", "deposit_balance": 0, "loan_balance": 0, "phone_last4": "",
    "email": "",
}


_MONEY_SET = frozenset(MONEY_FIELDS)
_COLUMN_SET = frozenset(COLUMNS)
_BIRTH_DATE_INDEX = COLUMNS.index("birth_date")
_INDEX = {column: index for index, column in enumerate(COLUMNS)}
# The change set arrives as JSON text, encoded in the worker processes.
_AUDIT_COLUMNS = ["created_at", "actor_id", "actor_username", "action", "object_type", "object_id", "object_repr",
                  "changes", "ip_address"]
_MONEY_INDEXES = [COLUMNS.index(field) for field in MONEY_FIELDS]
# The value each column takes when the cleaned values lack it (the columns without a default
# are always among the values of a customer that can be created).
_COLUMN_DEFAULTS = [DEFAULTS.get(column) for column in COLUMNS]


def _db_row(row: dict[str, Any]) -> list[Any]:
    """A whole cleaned row (DEFAULTS where absent) as the driver receives it (the hot path: no per-column dispatch)."""
    values = list(map(row.get, COLUMNS, _COLUMN_DEFAULTS))  # row.get(column, default), looped in C
    for index in _MONEY_INDEXES:
        if values[index] is not None:
            values[index] = int(values[index] * 100)
    if values[_BIRTH_DATE_INDEX] is not None:
        values[_BIRTH_DATE_INDEX] = values[_BIRTH_DATE_INDEX].isoformat()  # both databases take ISO text
    return values
_SEARCH_COLUMNS = frozenset({"name_pinyin", "name_initials", "phone_last4"})
_CUSTOMER_INSERT_COLUMNS = ["id", "customer_no", *COLUMNS, "products", "created_at", "updated_at", "created_by_id"]
# A block of prepared rows staged by a worker (`_stage_rows`), in columns named as the customer
# table's (so that SQL written for customers `c` reads them as they are), and what the writer needs.
_STAGE_SCHEMA = "guanxi_stage"
_KNOWN_CHUNK = 20_000  # staged rows read back and updated at a time (when they name known customers)
# A known customer's row as the writer compares it: (id, customer_no, *COLUMNS), of table alias {k}.
_KNOWN_SELECT = ", ".join(f"{{k}}{column}" for column in ["id", "customer_no", *COLUMNS])
_STAGED_VALUES = ", ".join(f"c.{column}" for column in COLUMNS)
# `line` and `cells` (the row's index in its block and its cells, marshalled) only where the writer
# may still refuse a valid row (`_RowContext.keep_cells`).
_STAGE_TABLE = (f"CREATE TABLE rows ({', '.join(COLUMNS)}, products TEXT NOT NULL DEFAULT '', "
                "given TEXT NOT NULL, created_json TEXT NOT NULL, tokens TEXT NOT NULL, line INTEGER, cells BLOB)")
_STAGE_INSERT = (f"INSERT INTO rows ({', '.join(COLUMNS)}, given, created_json, tokens, line, cells) "  # noqa: S608
                 f"VALUES ({', '.join(['?'] * (len(COLUMNS) + 5))})")


def _insert_rows(cursor, table: str, columns: list[str], rows: list[list[Any]]) -> None:
    """The driver's bulk path: COPY on PostgreSQL (executemany sends a statement per row), executemany on SQLite.

    Values are plain text, numbers and None (dates as ISO text, JSON as text), which COPY's text
    format and SQLite both take as they are.
    """
    if not rows:
        return
    if connection.vendor == "postgresql":
        with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    else:
        marks = ", ".join(["%s"] * len(columns))
        cursor.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)  # noqa: S608


# json.dumps(value, ensure_ascii=False) without building an encoder per call (a million calls: seconds),
# and without the blanks after separators: the audit change sets of a million-row import are
# some 50 MB smaller (they are read back as JSON, whatever their spacing).
_JSON_TEXT = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _comparable(value: Any) -> Any:
    return None if value is None else str(value)


def _yuan(fen: int) -> str:
    """An amount in fen as yuan to the fen, exactly: fen / 100 as a float is off by one near the largest."""
    return f"{fen // 100}.{fen % 100:02d}"  # never negative (`parse_amount`)


def _audit_changes(changed: dict[str, tuple]) -> dict[str, list]:
    """Old → new per column for the audit log: money in yuan, identifiers masked, all plain JSON."""
    out = {}
    for column, (old, new) in changed.items():
        if column in _SEARCH_COLUMNS:
            continue
        if column in SENSITIVE_FIELDS:
            old, new = (mask_value(column, old) if old else old), (mask_value(column, new) if new else new)
        elif column in _MONEY_SET:
            old = None if old is None else _yuan(old)
            new = None if new is None else _yuan(new)
        elif column in ("birth_date",):
            old, new = (None if old is None else str(old)), (None if new is None else str(new))
        out["org_unit" if column == "org_unit_id" else column] = [old, new]
    return out


def _audit_changes_json(changed: dict[str, tuple]) -> str:
    """``_JSON_TEXT(_audit_changes(changed))``, written directly (the same text): an update of a million
    customers writes a million of these, and building the change set and encoding it took twice as long."""
    parts = []
    for column, (old, new) in changed.items():
        head = _AUDIT_KEYS.get(column)  # (None for the search columns, which are not audited)
        if head is not None:
            parts.append(f"{head}{_audit_json(column, old)},{_audit_json(column, new)}]")
    return "{" + ",".join(parts) + "}"


def _audit_json(column: str, value: Any) -> str:
    """One old or new value of `_audit_changes_json` as JSON text."""
    if value is None:
        return "null"
    if column in SENSITIVE_FIELDS:
        return _json_string(mask_value(column, value)) if value else _json_value(value)
    if column in _MONEY_SET:
        return f'"{_yuan(value)}"'
    if column == "birth_date":
        return _json_string(str(value))
    return _json_value(value)


def _outside_scope(id_number: str) -> str:
    """Why a scoped user's row for a customer they may not update is refused."""
    return (_("证件号码 %(value)s: this customer is already registered outside your data scope; ask its branch "
              "to update it") % {"value": mask_value("id_number", id_number)})


class _Writer:
    """Writes one batch of cleaned rows: insert new, update changed, skip unchanged, audit all."""

    def __init__(self, *, acting_user: User | None, outcome: ImportOutcome):
        self.acting_user = acting_user
        self.outcome = outcome
        self.table = Customer._meta.db_table
        self.scope_checked = acting_user is not None and bool(acting_user.role)
        self.copy_derived: list[str] = []  # the derived columns of PostgreSQL's new rows (`_RowContext.derivers`)

    set_based_updates = True  # (PostgreSQL; the tests compare both ways)

    def _existing(self, id_numbers: list[str], *, whole: bool = True) -> tuple[dict[str, tuple], set[str]]:
        """Known customers by identifier; a merged-away record stands for the customer it was merged into.

        Returns the rows and the identifiers that were redirected that way. The rows are (id, customer
        number, *COLUMNS); not `whole`, (id, customer number, identifier) only, but the whole rows of
        the customers that merged-away records stand for (their updates are compared row by row).
        """
        found: dict[str, tuple] = {}
        merged: dict[str, int] = {}
        # The whole batch in one statement: one text parameter, split by the database (a validated
        # identifier holds no comma; psycopg quoted a list of 12,500 as an array for 50 ms) or JSON.
        if connection.vendor == "postgresql":
            where, param = "id_number = ANY(string_to_array(%s, ','))", ",".join(id_numbers)
        else:
            where, param = "id_number IN (SELECT value FROM json_each(%s))", json.dumps(id_numbers)
        select, key_at = (_KNOWN_SELECT.format(k=""), _INDEX["id_number"] + 2) if whole else ("id, customer_no, id_number", 2)
        if id_numbers:
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT {select}, merged_into_id FROM {self.table} WHERE {where}", [param])  # noqa: S608
                for row in cursor.fetchall():
                    if row[-1] is not None:
                        merged[row[key_at]] = row[-1]
                    else:
                        found[row[key_at]] = row[:-1]
        found.update(self._survivors(merged))
        return found, set(merged)

    def _survivors(self, merged: dict[str, int]) -> dict[str, tuple]:
        """For identifiers of merged-away records (→ the record merged into): the customer that survives."""
        found = {}
        with connection.cursor() as cursor:
            for id_number, pk in merged.items():
                for _hop in range(10):  # follow A → B → C merges to the customer that survives
                    cursor.execute(f"SELECT {_KNOWN_SELECT.format(k='')}, merged_into_id FROM {self.table} "  # noqa: S608
                                   "WHERE id = %s", [pk])
                    row = cursor.fetchone()
                    if row[-1] is None:
                        found[id_number] = row[:-1]
                        break
                    pk = row[-1]
        return found

    def write(self, batch: dict[str, tuple[int, list[str], tuple]],
              reject: Callable[[int, list[str], str], None], run: ImportRun | None) -> None:
        # PostgreSQL compares and updates the known customers set-based (`_update_copied`), from the
        # rows' COPY text; the customers that merged-away records stand for are compared row by row.
        set_based = self.set_based_updates and not uses_fts()
        with transaction.atomic():
            existing, redirected = self._existing(list(batch), whole=not set_based)
            if self.scope_checked and existing:
                visible = self._visible(existing)
                for id_number, row in list(existing.items()):
                    if row[0] not in visible:
                        line, raw, _prepared = batch.pop(id_number)
                        del existing[id_number]
                        reject(line, raw, _outside_scope(id_number))
            known = {id_number: entry[2] for id_number, entry in batch.items() if id_number in existing}
            if set_based:
                self._update_copied({id_number: prepared for id_number, prepared in known.items()
                                     if id_number not in redirected}, existing)
                known = {id_number: prepared for id_number, prepared in known.items() if id_number in redirected}
            self._write_known(known, existing, redirected)
            inserts = [entry[2] for id_number, entry in batch.items() if id_number not in existing]
            if inserts:
                self._insert_new(inserts)
            self._counted(run)

    def _stamp(self) -> tuple[Any, int | None, str, str | None]:
        """(now as the driver takes it, actor id, actor name, client IP) for a batch's rows and audit entries."""
        actor_id = self.acting_user.pk if self.acting_user else None
        actor_name = self.acting_user.username if self.acting_user else "system"
        return connection.ops.adapt_datetimefield_value(timezone.now()), actor_id, actor_name, _client_ip.get()

    def _write_known(self, known: dict[str, tuple], existing: dict[str, tuple], redirected: set[str]) -> None:
        """Update the known customers among a batch's prepared rows where a value changed, with audit entries."""
        if not known:
            return
        now_db, actor_id, actor_name, ip = self._stamp()
        audit_values, updates_by_columns = [], {}
        for id_number, prepared in known.items():
            _id, name, given, db_values, _json, text = prepared[:6]
            if db_values is None:  # PostgreSQL's COPY text only (`_for_writer`)
                db_values = _copy_values(text)
            old = existing[id_number]
            changed = {}
            if id_number in redirected:
                # A row for a merged-away record updates the survivor, but never its identity.
                given = given - {"birth_date", "gender", "customer_type", "market"}
            for column in _in_order(given):
                index = _INDEX[column]
                new_value, old_value = db_values[index], old[index + 2]
                # Equal as they are means equal (the common case); else compare as text
                # (a date may come back from the driver as a date or as ISO text).
                if new_value != old_value and _comparable(new_value) != _comparable(old_value):
                    changed[column] = (old_value, new_value)
            if not changed:
                self.outcome.unchanged += 1
                continue
            key = tuple(sorted(changed))
            updates_by_columns.setdefault(key, []).append((old[0], changed))
            audit_values.append([now_db, actor_id, actor_name, "customer.update", "customers.customer", str(old[0]),
                                 f"{name or old[3]} ({old[1]})"[:200],
                                 _audit_changes_json(changed), ip])
        with connection.cursor() as cursor:
            renamed, changed_columns = [], set()
            for columns, rows in updates_by_columns.items():
                changed_columns.update(columns)
                assignments = ", ".join(f"{c} = %s" for c in columns)
                cursor.executemany(
                    f"UPDATE {self.table} SET {assignments}, updated_at = %s WHERE id = %s",  # noqa: S608
                    [[*[changed[c][1] for c in columns], now_db, pk] for pk, changed in rows],
                )
                if "name" in columns:
                    renamed.extend((pk, changed["name"][1]) for pk, changed in rows)
            write_tokens(renamed, replace=True)
            _insert_rows(cursor, "core_auditentry", _AUDIT_COLUMNS, audit_values)
        if updates_by_columns:
            customers_bulk_updated.send(sender=Customer, acting_user=self.acting_user, columns=frozenset(changed_columns),
                                        customer_ids=sorted(pk for rows in updates_by_columns.values()
                                                            for pk, _changed in rows))
        self.outcome.updated += sum(len(rows) for rows in updates_by_columns.values())

    def _update_copied(self, known: dict[str, tuple], existing: dict[str, tuple]) -> None:
        """PostgreSQL: update the known customers named by prepared rows (`existing`: their keys), set-based.

        What `_write_known` does row by row, done by the database as SQLite's staged path does it
        (`_update_staged`): the rows' values go in as they came from the workers, as COPY text,
        into a scratch table with the customer's key and the bits of the columns each row gives;
        one statement finds which given columns differ (`IS DISTINCT FROM`), the audit entries of
        the changed customers are written with INSERT … SELECT (old values read before the update;
        the same JSON text as `_audit_changes_json`, `_update_audit_sql`), then one UPDATE … FROM
        sets the changed columns. Rather than an UPDATE statement per customer (a 100,000-row
        update: 2 s of psycopg's executemany in this process alone) and the rows' old values read
        into this process to be compared.
        """
        if not known:
            return
        table, columns = self.table, ", ".join(COLUMNS)
        lines = [f"{row}\t{existing[id_number][0]}\t{_given_mask(prepared[2])}\t{prepared[5]}\n"
                 for row, (id_number, prepared) in enumerate(known.items())]
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE TEMP TABLE guanxi_import_known AS SELECT 0 AS srow, id AS kid, 0 AS given, "  # noqa: S608
                           f"{columns} FROM {table} WITH NO DATA")
            with cursor.copy(f"COPY guanxi_import_known (srow, kid, given, {columns}) FROM STDIN") as copy:
                copy.write("".join(lines))
            cursor.execute(f"CREATE TEMP TABLE guanxi_import_mask AS SELECT c.srow, c.kid, "  # noqa: S608
                           f"c.given & ({_CHANGED_BITS_POSTGRES}) AS mask "
                           f"FROM guanxi_import_known c JOIN {table} k ON k.id = c.kid")
            cursor.execute("SELECT mask, count(*) FROM guanxi_import_mask WHERE mask <> 0 GROUP BY mask")
            masks = dict(cursor.fetchall())
            if masks:
                now_db, actor_id, actor_name, ip = self._stamp()
                source = (f"FROM guanxi_import_mask m JOIN guanxi_import_known c ON c.srow = m.srow "
                          f"JOIN {table} k ON k.id = m.kid WHERE m.mask <> 0")
                # (each combination of changed columns has its own change set expression: few per file)
                changes = " ".join(f"WHEN {mask} THEN {_update_audit_sql(mask, postgres=True)}" for mask in masks)
                cursor.execute(
                    f"INSERT INTO core_auditentry ({', '.join(_AUDIT_COLUMNS)}) "  # noqa: S608
                    f"SELECT %s, %s, %s, 'customer.update', 'customers.customer', k.id::text, "
                    f"substr(coalesce(nullif(c.name, ''), k.name) || ' (' || k.customer_no || ')', 1, 200), "
                    f"(CASE m.mask {changes} END)::json, %s {source} ORDER BY m.srow",
                    [now_db, actor_id, actor_name, ip])
                changed = _mask_columns(functools.reduce(operator.or_, masks))
                if len(masks) == 1:
                    assignments = ", ".join(f"{column} = c.{column}" for column in changed)
                else:  # a column that a customer's row leaves as it is keeps its value
                    assignments = ", ".join(f"{column} = CASE WHEN m.mask & {1 << _INDEX[column]} <> 0 "
                                            f"THEN c.{column} ELSE k.{column} END" for column in changed)
                cursor.execute(f"UPDATE {table} k SET {assignments}, updated_at = %s "  # noqa: S608
                               f"FROM guanxi_import_mask m JOIN guanxi_import_known c ON c.srow = m.srow "
                               f"WHERE k.id = m.kid AND m.mask <> 0", [now_db])
                if "name" in changed:
                    cursor.execute("SELECT m.kid, c.name FROM guanxi_import_mask m JOIN guanxi_import_known c "
                                   "ON c.srow = m.srow WHERE m.mask & %s <> 0", [1 << _INDEX["name"]])
                    write_tokens(cursor.fetchall(), replace=True)
                cursor.execute("SELECT kid FROM guanxi_import_mask WHERE mask <> 0 ORDER BY kid")
                updated_ids = [row[0] for row in cursor.fetchall()]
            cursor.execute("DROP TABLE guanxi_import_mask, guanxi_import_known")
        updated = sum(masks.values())
        self.outcome.updated += updated
        self.outcome.unchanged += len(known) - updated
        if masks:
            customers_bulk_updated.send(sender=Customer, customer_ids=updated_ids, columns=frozenset(changed),
                                        acting_user=self.acting_user)

    def _insert_new(self, inserts: list[tuple]) -> None:
        """Insert new customers from their prepared rows, with their audit entries and search rows."""
        now_db, actor_id, actor_name, ip = self._stamp()
        # Keys taken up front: the rows' audit entries and search rows need no read-back.
        pks = reserve_ids(self.table, len(inserts))
        numbers = map(CUSTOMER_NUMBER_FORMAT.__mod__, sequence_take(name="customer_no", count=len(inserts)))
        if connection.vendor == "postgresql":
            derived = self._copy_new(pks, numbers, inserts, now_db, actor_id, actor_name, ip)
        else:
            tail = ("", now_db, now_db, actor_id)
            customer_rows, audit_values, search_rows = [], [], []
            # One pass builds all three tables' rows (the hot loop of a bulk load).
            for pk, number, (_id, name, _given, db_values, created_json, tokens) in zip(
                    pks, numbers, inserts, strict=True):
                customer_rows.append([pk, number, *db_values, *tail])
                audit_values.append([now_db, actor_id, actor_name, "customer.create", "customers.customer",
                                     str(pk), f"{name} ({number})"[:200], created_json, ip])
                search_rows.append((pk, tokens))
            with connection.cursor() as cursor:
                _insert_rows(cursor, self.table, _CUSTOMER_INSERT_COLUMNS, customer_rows)
                _insert_rows(cursor, FTS_TABLE, ["rowid", "tokens"], search_rows)  # the FTS5 text already
                _insert_rows(cursor, "core_auditentry", _AUDIT_COLUMNS, audit_values)
            derived = []
        self.outcome.created += len(inserts)
        customers_bulk_registered.send(sender=Customer, customer_ids=pks, acting_user=self.acting_user,
                                       derived=frozenset(derived))

    def _copy_new(self, pks, numbers, inserts: list[tuple], now_db, actor_id, actor_name, ip) -> list[str]:
        """PostgreSQL: COPY new customers into the customer table with their derived columns and their name
        tokens, and write their audit entries from them; returns the derived columns (`customer_insert_values`).

        The workers wrote each row's values, its derived columns (the segments, computed as
        `customer_insert_columns`' SQL would) and its tokens as COPY text already (`_for_writer`);
        this process only puts the keys in front and the batch's stamp behind (for 100,000 rows,
        psycopg's write_row took 1.5 s here). Each row is written once, where it stays: rather
        than COPY into a scratch table and INSERT … SELECT from it with the segments' CASEs
        (100,000 rows: 0.5 s of COPY and 0.8 s of INSERT), or UPDATE the rows after (PostgreSQL
        writes an updated row anew). The tokens go one row each (0.2 s for 660,000; unnesting
        arrays from a scratch table took 0.5 s).
        """
        derived = self.copy_derived
        now, actor = now_db.isoformat(), _copy_text(actor_id)
        tail = f"\t\t{now}\t{now}\t{actor}"  # products '', created, updated, by
        customer_lines, token_lines = [], []
        for pk, number, prepared in zip(pks, numbers, inserts, strict=True):
            text, derived_text, tokens = prepared[5], prepared[6], prepared[7]
            customer_lines.append(f"{pk}\t{number}\t{text}{tail}\t{derived_text}\n" if derived
                                  else f"{pk}\t{number}\t{text}{tail}\n")
            token_lines.append(_token_rows(tokens, pk))
        # The audit entries are written by the server from the rows just copied, their change sets
        # in SQL (`_creation_audit_postgres`): the same text the workers would write, without sending
        # it (100,000 rows: the workers' and this process's share was 0.7 s of CPU, the COPY's 0.7 s).
        if isinstance(pks, range) and pks.step == 1:
            which, keys = "k.id BETWEEN %s AND %s", [pks.start, pks.stop - 1]
        else:
            which, keys = "k.id = ANY(%s)", [list(pks)]
        with connection.cursor() as cursor:
            with cursor.copy(f"COPY {self.table} ({', '.join([*_CUSTOMER_INSERT_COLUMNS, *derived])}) "
                             "FROM STDIN") as copy:
                copy.write("".join(customer_lines))
            with cursor.copy(f"COPY {NameToken._meta.db_table} (token, customer_id) FROM STDIN") as copy:
                copy.write("".join(token_lines))
            cursor.execute(
                f"INSERT INTO core_auditentry ({', '.join(_AUDIT_COLUMNS)}) "  # noqa: S608
                "SELECT %s::timestamptz, %s::bigint, %s::text, 'customer.create', 'customers.customer', k.id::text, "
                f"left(k.name || ' (' || k.customer_no || ')', 200), ({_creation_audit_postgres()})::json, %s::inet "
                f"FROM {self.table} k WHERE {which} ORDER BY k.id",
                [now_db, actor_id, actor_name, ip, *keys])
        return derived

    def _visible(self, existing: dict[str, tuple]) -> set[int]:
        """The keys of the known customers (rows of `_existing`) that the importing user may update."""
        return set(Customer.objects.visible_to(self.acting_user)
                   .filter(pk__in=[row[0] for row in existing.values()]).values_list("pk", flat=True))

    def write_staged(self, path: Path, staged: int, run: ImportRun | None, line: int,
                     reject: Callable[[int, list[str], str], None]) -> None:
        """Write one block of prepared rows that a worker process staged in an SQLite file (`_stage_rows`).

        SQLite only. New customers go from the staging file into the customer, search and audit
        tables with INSERT … SELECT, so their values never pass through this process; the known
        ones are read back and updated as in `write`. The `staged` rows' identifiers are unique
        (the worker kept the later row), their rowids 1 … `staged`. `line` is the block's first
        line: a scoped user's rows for customers outside their data scope are refused (`reject`)
        with their line numbers.
        """
        table, stage = self.table, _STAGE_SCHEMA
        with connection.cursor() as cursor:
            cursor.execute(f"ATTACH DATABASE %s AS {stage}", [str(path)])
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("DROP TABLE IF EXISTS temp.guanxi_import_new")
                cursor.execute("CREATE TEMP TABLE guanxi_import_new (k INTEGER PRIMARY KEY, srow INTEGER NOT NULL)")
                cursor.execute(
                    f"INSERT INTO temp.guanxi_import_new (srow) SELECT c.rowid FROM {stage}.rows c "  # noqa: S608
                    f"WHERE NOT EXISTS (SELECT 1 FROM {table} k WHERE k.id_number = c.id_number) ORDER BY c.rowid")
                added = cursor.rowcount
                if added < staged:
                    self._write_staged_known(cursor, staged, line, reject)
                if added:
                    self._insert_staged(cursor, added)
                cursor.execute("DROP TABLE temp.guanxi_import_new")
                self._counted(run)
        finally:
            with connection.cursor() as cursor:
                cursor.execute(f"DETACH DATABASE {stage}")

    def _write_staged_known(self, cursor, staged: int, line: int, reject) -> None:
        """Update the known customers among the staged rows, a chunk of rows at a time (memory stays
        bounded): in SQL (`_update_staged`), and a merged-away record's row through `_write_known`."""
        for low in range(1, staged + 1, _KNOWN_CHUNK):
            high = low + _KNOWN_CHUNK - 1
            self._update_staged(cursor, low, high, line, reject)
            self._update_staged_merged(cursor, low, high, line, reject)

    def _update_staged(self, cursor, low: int, high: int, line: int, reject) -> None:
        """Update the known customers (not merged away) named by staged rows `low` … `high`, set-based.

        What `_write_known` does row by row in this process, done by SQLite without the values
        passing through it: which of the columns a row gives differ from the customer's
        (`_CHANGED_BITS`, compared as SQLite compares them: `IS NOT`), the audit entries of the
        changed ones (old values read before the update; the same JSON text, `_update_audit_sql`),
        then an UPDATE … FROM per combination of changed columns (only the indexes of the
        columns that changed are touched), and the search text of the renamed.
        """
        table, stage = self.table, _STAGE_SCHEMA
        pairs = f"{stage}.rows c JOIN {table} k ON k.id_number = c.id_number"
        where, params = "c.rowid BETWEEN %s AND %s AND k.merged_into_id IS NULL", [low, high]
        if self.scope_checked:
            visible, visible_params = self._visible_sql
            cursor.execute(f"SELECT c.line, c.cells, c.id_number FROM {pairs} "  # noqa: S608
                           f"WHERE {where} AND k.id NOT IN ({visible}) ORDER BY c.rowid", [*params, *visible_params])
            for index, cells, id_number in cursor.fetchall():
                reject(line + index, marshal.loads(cells), _outside_scope(id_number))  # noqa: S302
            where, params = f"{where} AND k.id IN ({visible})", [*params, *visible_params]
        cursor.execute(f"SELECT DISTINCT given FROM {stage}.rows WHERE rowid BETWEEN %s AND %s", [low, high])  # noqa: S608
        givens = [(text, _given_bits(text)) for (text,) in cursor.fetchall()]
        cursor.execute("CREATE TEMP TABLE guanxi_import_given (given TEXT PRIMARY KEY, bits INTEGER NOT NULL)")
        cursor.executemany("INSERT INTO temp.guanxi_import_given (given, bits) VALUES (%s, %s)", givens)
        cursor.execute("CREATE TEMP TABLE guanxi_import_known (srow INTEGER PRIMARY KEY, kid INTEGER NOT NULL, "
                       "mask INTEGER NOT NULL)")
        cursor.execute(f"INSERT INTO temp.guanxi_import_known (srow, kid, mask) "  # noqa: S608
                       f"SELECT c.rowid, k.id, g.bits & ({_CHANGED_BITS}) FROM {pairs} "
                       f"JOIN temp.guanxi_import_given g ON g.given = c.given WHERE {where}", params)
        known = cursor.rowcount
        cursor.execute("SELECT mask, count(*) FROM temp.guanxi_import_known WHERE mask != 0 GROUP BY mask")
        masks = dict(cursor.fetchall())
        if masks:
            now_db, actor_id, actor_name, ip = self._stamp()
            source = f"FROM temp.guanxi_import_known t JOIN {stage}.rows c ON c.rowid = t.srow"
            # (each combination of changed columns has its own change set expression: few per file)
            changes = " ".join(f"WHEN {mask} THEN {_update_audit_sql(mask)}" for mask in masks)
            cursor.execute(
                f"INSERT INTO core_auditentry ({', '.join(_AUDIT_COLUMNS)}) "  # noqa: S608
                f"SELECT %s, %s, %s, 'customer.update', 'customers.customer', CAST(k.id AS TEXT), "
                f"substr(coalesce(nullif(c.name, ''), k.name) || ' (' || k.customer_no || ')', 1, 200), "
                f"CASE t.mask {changes} END, %s {source} JOIN {table} k ON k.id = t.kid WHERE t.mask != 0 "
                "ORDER BY t.srow",
                [now_db, actor_id, actor_name, ip])
            renamed = 1 << _INDEX["name"]
            if any(mask & renamed for mask in masks):
                cursor.execute(f"INSERT OR REPLACE INTO {FTS_TABLE} (rowid, tokens) "  # noqa: S608
                               f"SELECT t.kid, c.tokens {source} WHERE t.mask & %s", [renamed])
            for mask in masks:
                assignments = ", ".join(f"{column} = c.{column}" for column in _mask_columns(mask))
                cursor.execute(f"UPDATE {table} SET {assignments}, updated_at = %s {source} "  # noqa: S608
                               f"WHERE {table}.id = t.kid AND t.mask = %s", [now_db, mask])
            cursor.execute("SELECT kid FROM temp.guanxi_import_known WHERE mask != 0 ORDER BY kid")
            customers_bulk_updated.send(sender=Customer, customer_ids=[row[0] for row in cursor.fetchall()],
                                        columns=frozenset(_mask_columns(functools.reduce(operator.or_, masks))),
                                        acting_user=self.acting_user)
        cursor.execute("DROP TABLE temp.guanxi_import_known")
        cursor.execute("DROP TABLE temp.guanxi_import_given")
        updated = sum(masks.values())
        self.outcome.updated += updated
        self.outcome.unchanged += known - updated

    def _update_staged_merged(self, cursor, low: int, high: int, line: int, reject) -> None:
        """Update, through `_write_known`, the customers that survive the merged-away records named by staged
        rows `low` … `high` (rare: a row for a record that a merge absorbed updates the one it was merged into)."""
        width = len(COLUMNS)
        cursor.execute(
            f"SELECT {_STAGED_VALUES}, c.given, c.line, c.cells, k.merged_into_id "  # noqa: S608
            f"FROM {_STAGE_SCHEMA}.rows c JOIN {self.table} k ON k.id_number = c.id_number "
            "WHERE c.rowid BETWEEN %s AND %s AND k.merged_into_id IS NOT NULL ORDER BY c.rowid", [low, high])
        known, merged, origin = {}, {}, {}
        for row in cursor.fetchall():
            values = list(row[:width])
            id_number = values[_INDEX["id_number"]]
            # (the creation audit text and the search tokens are not needed for an update)
            known[id_number] = (id_number, values[_INDEX["name"]], _given_columns(row[width]), values, "", "")
            origin[id_number] = row[width + 1:width + 3]
            merged[id_number] = row[-1]
        if not known:
            return
        existing = self._survivors(merged)
        if self.scope_checked:
            visible = self._visible(existing)
            for id_number, row in list(existing.items()):
                if row[0] not in visible:
                    del existing[id_number], known[id_number]
                    index, cells = origin[id_number]
                    reject(line + index, marshal.loads(cells), _outside_scope(id_number))  # noqa: S302
        self._write_known(known, existing, set(merged))

    @functools.cached_property
    def _visible_sql(self) -> tuple[str, tuple]:
        """The importing user's data scope as a subquery of customer keys (`visible_to`), for SQL that updates."""
        try:
            return Customer.objects.visible_to(self.acting_user).values("pk").query.sql_with_params()
        except EmptyResultSet:
            return "SELECT NULL WHERE 0", ()

    def _insert_staged(self, cursor, added: int) -> None:
        """INSERT … SELECT the staged rows listed in temp.guanxi_import_new as new customers.

        Derived columns that other apps compute for new customers (segmentation) come in the same
        statement (`customer_insert_columns`), rather than as an UPDATE of the rows just written.
        """
        now_db, actor_id, actor_name, ip = self._stamp()
        pks = reserve_ids(self.table, added)
        numbers = sequence_take(name="customer_no", count=added)
        assert isinstance(pks, range)  # SQLite's keys are consecutive (`reserve_ids`)
        pk_base, number_base = pks[0] - 1, numbers[0] - 1
        derived, expressions, derived_params, joins = self._insert_columns
        source = f"FROM temp.guanxi_import_new n JOIN {_STAGE_SCHEMA}.rows c ON c.rowid = n.srow"
        # The table's CHECK constraints (customer type, status, tier, household size) hold already: the workers
        # validated each value with the same rules and the tier comes from the segment rules. Checked again
        # row by row, they cost the single writer a seventh of this INSERT (100,000 rows: 0.08 s of 0.6 s).
        cursor.execute("PRAGMA ignore_check_constraints = ON")
        try:
            cursor.execute(
                f"INSERT INTO {self.table} ({', '.join([*_CUSTOMER_INSERT_COLUMNS, *derived])}) "  # noqa: S608
                f"SELECT %s + n.k, printf(%s, %s + n.k), {_STAGED_VALUES}, c.products, %s, %s, %s{expressions} "
                f"{source}{joins} ORDER BY n.k",
                [pk_base, CUSTOMER_NUMBER_FORMAT, number_base, now_db, now_db, actor_id, *derived_params])
        finally:
            cursor.execute("PRAGMA ignore_check_constraints = OFF")
        cursor.execute(f"INSERT INTO {FTS_TABLE} (rowid, tokens) SELECT %s + n.k, c.tokens {source}",  # noqa: S608
                       [pk_base])
        cursor.execute(
            f"INSERT INTO core_auditentry ({', '.join(_AUDIT_COLUMNS)}) "  # noqa: S608
            f"SELECT %s, %s, %s, 'customer.create', 'customers.customer', CAST(%s + n.k AS TEXT), "
            f"substr(c.name || ' (' || printf(%s, %s + n.k) || ')', 1, 200), c.created_json, %s {source}",
            [now_db, actor_id, actor_name, pk_base, CUSTOMER_NUMBER_FORMAT, number_base, ip])
        self.outcome.created += added
        customers_bulk_registered.send(sender=Customer, customer_ids=pks, acting_user=self.acting_user,
                                       derived=frozenset(derived))

    @functools.cached_property
    def _insert_columns(self) -> tuple[list[str], str, list[Any], str]:
        """The derived columns of `customer_insert_columns` (columns, expressions, parameters, joins),
        asked for once per import rather than once per block (the segment rules are read once)."""
        derived, expressions, params, joins = [], "", [], ""
        for _receiver, (columns, sql, sql_params, join) in customer_insert_columns.send(sender=Customer):
            derived += columns
            expressions += f", {sql}"
            params += sql_params
            joins += f" {join}"
        return derived, expressions, params, joins

    def _counted(self, run: ImportRun | None) -> None:
        if run is not None:
            ImportRun.objects.filter(pk=run.pk).update(
                rows_read=self.outcome.rows_read, rows_created=self.outcome.created,
                rows_updated=self.outcome.updated, rows_unchanged=self.outcome.unchanged,
                rows_rejected=self.outcome.rejected,
            )


def _tracking(run: ImportRun, progress: Callable | None) -> Callable[[int, int, int], None]:
    """Wrap a progress callback so that the run's page can show the bytes read so far."""

    def track(rows: int, done: int, total: int) -> None:
        ImportRun.objects.filter(pk=run.pk).update(bytes_read=done, rows_read=rows)
        if progress:
            progress(rows, done, total)

    return track


def _unneutralise(value: str) -> str:
    """Undo the apostrophe Guanxi's exports put before text that a spreadsheet would run as a formula."""
    if value[:1] == "'" and value[1:2] in ("=", "+", "-", "@", "\t", "\r"):
        return value[1:]
    return value


def _reason(errors: dict[str, list[str]], header_of: dict[str, str], data: dict[str, str]) -> str:
    parts = []
    for name, messages in errors.items():
        column = header_of.get(name, name)
        value = normalize_text(data.get(name, ""))
        if name in SENSITIVE_FIELDS and value:
            value = mask_value(name, value)
        shown = f"{column}「{value}」" if value else column
        parts.append(f"{shown}: {' '.join(messages)}")
    return "; ".join(parts)


@dataclass
class _RowContext:
    mapping: list[tuple[int, str]]
    header_of: dict[str, str]
    units: dict[str, OrgUnit]
    allowed_units: set[str] | None
    # Whether the writer may still refuse a valid row (a scoped user's data scope), and so needs its
    # cells for the error report; otherwise only refused rows' cells come back from the workers.
    keep_cells: bool = True
    # The functions that compute derived columns of a new customer from its values (`customer_insert_values`),
    # for PostgreSQL's COPY of new customers (`_Writer._copy_new`).
    derivers: tuple[Callable, ...] = ()


_REQUIRED_SET = frozenset(REQUIRED)
_MARKET_OF = {customer_type.value: market.value for customer_type, market in MARKET_BY_TYPE.items()}
_json_string = json.encoder.encode_basestring  # the string encoder of json.dumps(..., ensure_ascii=False)
# The JSON text that opens each audited column's [old, new] pair in a change set (the search columns are not
# audited), and for a creation, whose old values are all null: (index in COLUMNS, column, its opening).
_AUDIT_KEYS = {column: json.dumps("org_unit" if column == "org_unit_id" else column, ensure_ascii=False) + ":["
               for column in COLUMNS if column not in _SEARCH_COLUMNS}
_CREATION_AUDIT = [(index, column, _AUDIT_KEYS[column] + "null,") for index, column in enumerate(COLUMNS)
                   if column in _AUDIT_KEYS]


def _audit_value_sql(column: str, value: str) -> str:
    """SQL for `_audit_json(column, value)`: the same JSON text (json_quote escapes as json does)."""
    if column in SENSITIVE_FIELDS:
        return f"json_quote(guanxi_mask('{column}', {value}))"
    if column in _MONEY_SET:  # (%% for % in SQL run with parameters)
        return f"CASE WHEN {value} IS NULL THEN 'null' ELSE printf('\"%%d.%%02d\"', {value} / 100, {value} %% 100) END"
    return f"json_quote({value})"


def _audit_value_postgres(column: str, value: str) -> str:
    """PostgreSQL's `_audit_value_sql`: the same JSON text (to_json escapes strings as json does, and
    writes integers and ISO dates as it does)."""
    if column in SENSITIVE_FIELDS:  # (an empty value is not masked: "")
        return f"CASE WHEN {value} = '' THEN '\"\"' ELSE coalesce(to_json({mask_sql(column, value)})::text, 'null') END"
    if column in _MONEY_SET:  # (%% for % in SQL run with parameters)
        return (f"CASE WHEN {value} IS NULL THEN 'null' ELSE "
                f"'\"' || ({value} / 100)::text || '.' || lpad(({value} %% 100)::text, 2, '0') || '\"' END")
    return f"coalesce(to_json({value})::text, 'null')"


# Staged row `c` against known customer `k`: bit i set where COLUMNS[i] differs (`_Writer._update_staged`), and
# the same on PostgreSQL (`_Writer._update_copied`).
_CHANGED_BITS = " | ".join(f"((c.{column} IS NOT k.{column}) << {index})" for index, column in enumerate(COLUMNS))
_CHANGED_BITS_POSTGRES = " | ".join(f"((c.{column} IS DISTINCT FROM k.{column})::int << {index})"
                                   for index, column in enumerate(COLUMNS))
assert len(COLUMNS) < 31, "the change bits are a PostgreSQL integer (`_Writer._update_copied`)"


@functools.lru_cache(maxsize=1024)
def _update_audit_sql(mask: int, *, postgres: bool = False) -> str:
    """SQL for the change set (`_audit_changes_json`) of an update from staged row `c` to customer `k`
    that changes the columns of `mask` (bits as `_CHANGED_BITS`)."""
    value_sql = _audit_value_postgres if postgres else _audit_value_sql
    parts = [f"'{_AUDIT_KEYS[column]}' || {value_sql(column, f'k.{column}')} || ',' || "
             f"{value_sql(column, f'c.{column}')} || ']'"
             for column in _mask_columns(mask) if column in _AUDIT_KEYS]
    return "'{' || " + " || ',' || ".join(parts) + " || '}'" if parts else "'{}'"


_BLANK_TEXT = " OR k.{column} = ''"  # a blank text is left out of a creation's change set, as a null is


def _is_text(index: int) -> bool:
    """Whether COLUMNS[index] holds text (not an amount, key or count, nor the birth date)."""
    return index not in _INTEGER_INDEXES and COLUMNS[index] != "birth_date"


@functools.cache
def _creation_audit_postgres() -> str:
    """PostgreSQL: SQL for the change set of a creation (`_creation_audit_json`) of customer `k`, the same
    text: the non-empty columns' [null, value] pairs, in COLUMNS order."""
    parts = [f"CASE WHEN k.{column} IS NULL{_BLANK_TEXT.format(column=column) if _is_text(index) else ''} "
             f"THEN NULL ELSE '{before}' || {_audit_value_postgres(column, f'k.{column}')} || ']' END"
             for index, column, before in _CREATION_AUDIT]
    return "'{' || concat_ws(',', " + ", ".join(parts) + ") || '}'"


def _json_value(value: Any) -> str:
    if type(value) is str:
        return _json_string(value)
    if type(value) is int:
        return int.__repr__(value)  # as json does
    return _JSON_TEXT(value)


def _creation_audit_json(db_values: list[Any]) -> str:
    """``_JSON_TEXT(_audit_changes({column: (None, value)}))`` for the non-empty values.

    The same text (same separators, same string escapes), written directly: twice as cheap
    as building the change set and encoding it.
    """
    return "{" + "".join([_creation_audit_fragment(db_values[index], column, before)
                          for index, column, before in _CREATION_AUDIT])[:-1] + "}"


def _creation_audit_fragment(value: Any, column: str, before: str) -> str:
    """One column's part of `_creation_audit_json`, with the comma after it ("" for no value)."""
    if value is None or value == "" or value is _REFUSED:
        return ""
    return f"{before}{_audit_json(column, value)}],"


def _unique_fragments(values: list, column: str, before: str) -> list[str]:
    """`_creation_audit_fragment` of each value of a column whose values seldom repeat (`_UNIQUE_FIELDS`: text,
    identifiers masked), written in one loop: a quarter of a worker's audit time went to the calls."""
    quote = _json_string
    if column in SENSITIVE_FIELDS:
        return [f"{before}{quote(mask_value(column, value))}]," if value and value is not _REFUSED else ""
                for value in values]
    return [f"{before}{quote(value)}]," if type(value) is str and value else
            "" if value is None or value == "" or value is _REFUSED else _creation_audit_fragment(value, column, before)
            for value in values]


def _creation_audit_texts(ordered: list, count: int) -> list[str]:
    """`_creation_audit_json` of each of `count` rows given a column at a time (`ordered`, in COLUMNS order:
    lists, or itertools.repeat of a column's default); a value that repeats in a column is written once."""
    parts = []
    for index, column, before in _CREATION_AUDIT:
        values = ordered[index]
        if type(values) is itertools.repeat:  # the column was not in the file: one default for every row
            fragment = _creation_audit_fragment(_COLUMN_DEFAULTS[index], column, before)
            if fragment:
                parts.append(itertools.repeat(fragment, count))
            continue
        if column in _UNIQUE_FIELDS:
            parts.append(_unique_fragments(values, column, before))
            continue
        memo: dict[Any, str] = {}
        fragments = []
        for value in values:
            fragment = memo.get(value)
            if fragment is None:
                fragment = memo[value] = _creation_audit_fragment(value, column, before)
            fragments.append(fragment)
        parts.append(fragments)
    return ["{" + "".join(row)[:-1] + "}" for row in zip(*parts, strict=True)]


@functools.lru_cache(maxsize=1024)
def _given_text(given: frozenset[str]) -> str:
    """The columns a staged row sets, as the staging table keeps them (`_given_columns` reads them back)."""
    return ",".join(sorted(given))


@functools.lru_cache(maxsize=1024)
def _given_columns(text: str) -> frozenset[str]:
    return frozenset(text.split(",")) if text else frozenset()


@functools.lru_cache(maxsize=1024)
def _in_order(given: frozenset[str]) -> tuple[str, ...]:
    """A row's given columns in the order of COLUMNS: a change set lists its columns in that order, whichever
    path writes it (`_Writer._write_known`, `_update_audit_sql`)."""
    return tuple(column for column in COLUMNS if column in given)


@functools.lru_cache(maxsize=1024)
def _given_bits(text: str) -> int:
    """The columns a staged row gives (its `given` text) as bits: bit i for COLUMNS[i] (`_CHANGED_BITS`)."""
    return _given_mask(_given_columns(text))


@functools.lru_cache(maxsize=1024)
def _given_mask(given: frozenset[str]) -> int:
    """The columns a prepared row gives (its given set) as bits: bit i for COLUMNS[i] (`_CHANGED_BITS`)."""
    return sum(1 << index for index, column in enumerate(COLUMNS) if column in given)


@functools.lru_cache(maxsize=1024)
def _mask_columns(mask: int) -> tuple[str, ...]:
    """The columns of a bit mask as `_given_bits` and `_CHANGED_BITS` set them, in COLUMNS order."""
    return tuple(column for index, column in enumerate(COLUMNS) if mask >> index & 1)


@functools.lru_cache(maxsize=1024)
def _columns_set(given: tuple[str, ...]) -> frozenset[str]:
    """The columns a row sets, from the fields it gives (rows of one file give few combinations)."""
    columns = {("org_unit_id" if name == "org_code" else name) for name in given}
    if "id_number" in columns:
        columns |= {"birth_date", "gender"}
    if "customer_type" in columns:
        columns.add("market")
    if "name" in columns:
        columns |= {"name_pinyin", "name_initials"}
    if "phone" in columns:
        columns.add("phone_last4")
    columns.discard("id_number")
    return frozenset(columns)


def _prepare_row(raw: list[str], ctx: _RowContext) -> tuple | str:
    """Validate one row, or say why it is refused.

    Everything that does not depend on the database is done here (and so in the worker
    processes): the driver-ready values, the audit change set of a creation, the name tokens.
    Returns (id number, name or None, columns it sets, db values in COLUMNS order, creation
    audit JSON, tokens), built of plain str/int/None only so that a worker can hand a whole
    chunk back as one `marshal` string (unpickling rich rows cost the parent more than writing them).
    """
    size = len(raw)
    data = {}  # every mapped field (the error report shows them); map_columns() maps a field once
    given = {}  # the fields with a value, and the required ones
    for index, name in ctx.mapping:
        value = raw[index] if index < size else ""
        if value[:1] == "'":
            value = _unneutralise(value)
        data[name] = value
        # (value and not value.isspace()) == bool(value.strip()), without building the stripped copy
        if (value and not value.isspace()) or name in _REQUIRED_SET:
            given[name] = value
    try:
        values = clean_customer_input(given, org_units=ctx.units)
        if ctx.allowed_units is not None and values["org_unit"].code not in ctx.allowed_units:
            raise ValidationError({"org_code": [_("%(code)s is outside your org unit")
                                                % {"code": values["org_unit"].code}]})
    except ValidationError as exc:
        return _reason(exc.message_dict, ctx.header_of, data)
    values["org_unit_id"] = values.pop("org_unit").pk
    values["market"] = _MARKET_OF[values["customer_type"]]
    db_values = _db_row(values)
    return (values["id_number"], values.get("name"), _columns_set(tuple(given)), db_values,
            _creation_audit_json(db_values), name_tokens(values["name"]))


_REFUSED = object()  # a cell the column path leaves to `_prepare_row` (with the rest of its row)
_MISSING = object()
# Fields whose cells seldom repeat: cleaned cell by cell, without remembering them for the block.
_UNIQUE_FIELDS = frozenset({"id_number", "phone", "address", "email", "notes"})
_PLAIN_AMOUNT = re.compile(r"\d{1,13}(?:\.\d{1,2})?")  # yuan as parse_amount takes them as they are


def _plain_fen(text: str) -> int:
    """Fen of a plain amount (`_PLAIN_AMOUNT`): what int(Decimal(text).quantize(0.01) * 100) gives."""
    whole, _point, decimals = text.partition(".")
    return int(whole) * 100 + (int(decimals) * (10 if len(decimals) == 1 else 1) if decimals else 0)


def _clean_column(field: str, cells: list[str], units: dict[str, OrgUnit],
                  allowed_units: set[str] | None) -> tuple[list[Any], list[bool]]:
    """A field's cells of a block, cleaned by the field's own cleaner (`validation.CLEANERS`): the value
    each takes in its column (as `_db_row` gives it; DEFAULTS for a blank one) or _REFUSED, and
    whether the row gives it (a blank cell of an optional field is not given). Cells that repeat
    are cleaned once per block. A cell starting with an apostrophe (`_unneutralise`) is left to
    the row path, as are all refused cells: `_prepare_row` words the reason.
    """
    cleaner = CLEANERS[field]
    required = field in _REQUIRED_SET
    column = "org_unit_id" if field == "org_code" else field
    default = DEFAULTS.get(column)
    key = "org_unit" if field == "org_code" else field
    money = field in _MONEY_SET
    memo: dict[str, tuple[Any, bool]] | None = None if field in _UNIQUE_FIELDS else {}
    ctx: dict[str, Any] = {"customer_type": None, "org_units": units}
    out: dict[str, Any] = {}
    values, given = [], []
    for cell in cells:
        if memo is not None and (hit := memo.get(cell, _MISSING)) is not _MISSING:
            values.append(hit[0])
            given.append(hit[1])
            continue
        flag = True
        if not cell or cell.isspace():
            value, flag = (_REFUSED if required else default), required
        elif cell[0] == "'":
            value = _REFUSED
        elif money and _PLAIN_AMOUNT.fullmatch(cell):
            value = _plain_fen(cell)
        else:
            try:
                cleaner(cell, ctx, out)
            except ValidationError:
                value = _REFUSED
            else:
                value = out[key]
                if money:
                    value = None if value is None else int(value * 100)
                elif field == "org_code":
                    value = value.pk if allowed_units is None or value.code in allowed_units else _REFUSED
        if memo is not None:
            memo[cell] = (value, flag)
        values.append(value)
        given.append(flag)
    return values, given


def _clean_ids(cells: list[str], types: list[Any]) -> tuple[list[Any], list[Any], list[Any]]:
    """Identifier cells with their rows' customer types: (identifiers, birth dates as ISO text, genders)."""
    ids, births, genders = [], [], []
    clean_id = CLEANERS["id_number"]
    ctx: dict[str, Any] = {"customer_type": None}
    out: dict[str, Any] = {}
    for cell, customer_type in zip(cells, types, strict=True):
        if customer_type is _REFUSED or not cell or cell.isspace() or cell[0] == "'":
            ids.append(_REFUSED)
            births.append(None)
            genders.append("")
            continue
        ctx["customer_type"] = customer_type
        try:
            clean_id(cell, ctx, out)
        except ValidationError:
            ids.append(_REFUSED)
            births.append(None)
            genders.append("")
            continue
        ids.append(out["id_number"])
        births.append(None if out["birth_date"] is None else out["birth_date"].isoformat())
        genders.append(out["gender"])
    return ids, births, genders


def _prepare_rows(raws: list[list[str]], ctx: _RowContext, *, writer: bool = False) -> list[tuple | str]:
    """`[_prepare_row(raw, ctx) for raw in raws]`, cleaned a column at a time; with `writer`, each row as the
    writer takes it (`[_for_writer(row) for row in ...]`).

    Each field's cells go through the field's own cleaner (`_clean_column`), without building a
    dict per row and calling clean_customer_input, and codes, names and amounts that repeat
    are cleaned once. A row with any cell the column path refuses or does not take as it is goes
    through `_prepare_row` whole, so a refused row's reason is worded as ever. The COPY text of
    the rows' values (PostgreSQL) is written a column at a time too, each repeated value once.
    """
    count = len(raws)
    if not count:
        return []
    width = 1 + max(index for index, _name in ctx.mapping)
    if any(len(raw) < width for raw in raws):
        raws_padded = [raw if len(raw) >= width else [*raw, *([""] * (width - len(raw)))] for raw in raws]
    else:
        raws_padded = raws
    cells_by_index = list(zip(*raws_padded, strict=False))
    cells = {name: list(cells_by_index[index]) for index, name in ctx.mapping}
    columns: dict[str, Any] = {}
    given_flags: list[list[bool]] = []
    given_names: list[str] = []
    for name, field_cells in cells.items():
        if name == "id_number":
            continue
        values, given = _clean_column(name, field_cells, ctx.units, ctx.allowed_units)
        columns["org_unit_id" if name == "org_code" else name] = values
        given_flags.append(given)
        given_names.append(name)
    types = columns["customer_type"]
    columns["id_number"], columns["birth_date"], columns["gender"] = _clean_ids(cells["id_number"], types)
    given_flags.append([True] * count)
    given_names.append("id_number")
    columns["market"] = [_MARKET_OF.get(customer_type) for customer_type in types]  # (_REFUSED: None)
    names = columns["name"]
    pinyin_of: dict[tuple[str, bool], tuple[str, str]] = {}
    readings = []
    for name, customer_type in zip(names, types, strict=True):
        if name is _REFUSED:
            readings.append(("", ""))
            continue
        person = customer_type != "company"
        reading = pinyin_of.get((name, person))
        if reading is None:
            reading = pinyin_of[(name, person)] = name_pinyin(name, is_person=person)
        readings.append(reading)
    columns["name_pinyin"] = [reading[0] for reading in readings]
    columns["name_initials"] = [reading[1] for reading in readings]
    if "phone" in columns:
        columns["phone_last4"] = [phone[-4:] if type(phone) is str else "" for phone in columns["phone"]]
    refused: set[int] = set()
    for values in columns.values():
        if _REFUSED in values:
            refused.update(index for index, value in enumerate(values) if value is _REFUSED)
    ordered = [columns[column] if column in columns else itertools.repeat(_COLUMN_DEFAULTS[_INDEX[column]], count)
               for column in COLUMNS]
    sets: dict[tuple[bool, ...], frozenset[str]] = {}
    tokens_of: dict[str, Any] = {}
    prepared: list[tuple | str] = []
    copy = writer and not uses_fts()
    # (PostgreSQL's COPY path: the server writes a creation's change set itself, `_Writer._copy_new`.)
    audit_texts = None if copy else _creation_audit_texts(ordered, count)
    fts = writer and not copy  # SQLite: a row's tokens as `_for_writer` writes them, once per distinct name
    copy_texts = _copy_texts(ordered, count) if copy else None
    derived_texts: dict[tuple, str] = {}
    for index, (values, flags) in enumerate(zip(zip(*ordered, strict=True), zip(*given_flags, strict=True), strict=True)):
        if index in refused:
            row = _prepare_row(raws[index], ctx)
            prepared.append(_for_writer(row, ctx) if writer else row)
            continue
        columns_set = sets.get(flags)
        if columns_set is None:
            columns_set = sets[flags] = _columns_set(tuple(n for n, flag in zip(given_names, flags, strict=True) if flag))
        name = values[1]
        tokens = tokens_of.get(name)
        if tokens is None:
            tokens = name_tokens(name)
            tokens = tokens_of[name] = _tokens_copy_text(tokens) if copy else fts_text(tokens) if fts else tokens
        if copy:  # `_for_writer`'s PostgreSQL form, its values' text already written
            prepared.append((values[2], name, columns_set, None, None, copy_texts[index],
                             _derived_text(values, ctx.derivers, derived_texts), tokens))
            continue
        # (on SQLite, the writer form: the tokens are their FTS5 text already, as `_for_writer` writes them)
        prepared.append((values[2], name, columns_set, list(values), audit_texts[index], tokens))
    return prepared


def _derived_text(values, derivers: tuple[Callable, ...], memo: dict[tuple, str]) -> str:
    """The COPY text of a new customer's derived columns (`_RowContext.derivers`), each distinct result
    written once (`memo`: a segment is one of a few hundred combinations)."""
    if not derivers:
        return ""
    derived = tuple(itertools.chain.from_iterable(derive(values) for derive in derivers))
    text = memo.get(derived)
    if text is None:
        text = memo[derived] = "\t".join(("t" if value else "f") if type(value) is bool else _copy_text(value)
                                         for value in derived)
    return text


def _tokens_copy_text(tokens) -> str:
    """A customer's name tokens as COPY text, one per line without the key: `_Writer._copy_new` puts its key
    behind each (an escaped token holds no line break)."""
    return "\n".join(map(_copy_text, tokens))


def _token_rows(tokens: str, pk: int) -> str:
    """COPY rows (token, customer) of `NameToken` for a customer's tokens as `_tokens_copy_text` wrote them."""
    if not tokens:
        return ""
    key = f"\t{pk}\n"
    return tokens.replace("\n", key) + key


def _copy_texts(ordered: list, count: int) -> list[str]:
    """Each row's values in COPY text (`_copy_text`, tab-separated), from the rows' values given a column at a
    time (`ordered`, as for `_creation_audit_texts`); a value that repeats in a column is written once."""
    parts = []
    for index, values in enumerate(ordered):
        if type(values) is itertools.repeat:
            parts.append(itertools.repeat(_copy_text(_COLUMN_DEFAULTS[index]), count))
        elif COLUMNS[index] in _UNIQUE_FIELDS:
            parts.append(map(_copy_text, values))
        else:
            memo: dict[Any, str] = {}
            texts = []
            for value in values:
                text = memo.get(value)
                if text is None:
                    text = memo[value] = _copy_text(value)
                texts.append(text)
            parts.append(texts)
    return list(map("\t".join, zip(*parts, strict=True)))


_WORKER_CONTEXT: _RowContext | None = None
_WORKER_FILE: tuple[Path, str] | None = None  # (path, encoding) of the CSV file the workers read
_WORKER_STAGE: Path | None = None  # the folder where workers stage their blocks (`_stage_block`)
_CHUNK = 2000  # rows of an XLSX file sent to a worker at a time
_BLOCK = 1 << 20  # bytes of a CSV file a worker reads at a time (~8,000 rows)


def _for_writer(prepared: tuple | str, ctx: _RowContext) -> tuple | str:
    """A prepared row as the writer takes it, its last items as the database takes them.

    On SQLite, the name tokens as the FTS5 text. On PostgreSQL, as COPY text (`_Writer._copy_new`):
    the row's values, its derived columns (`_RowContext.derivers`), and its tokens
    (`_tokens_copy_text`); no creation audit JSON (the server writes it from the row); the values are not sent twice: a row for a known customer
    takes them back from that text (`_copy_values`), and most rows of a big import are new
    (sending them cost a third of the time of marshalling the rows to the importing process and back).
    """
    if isinstance(prepared, str):
        return prepared
    if uses_fts():
        return (*prepared[:5], fts_text(prepared[5]))
    text = "\t".join([_copy_text(value) for value in prepared[3]])
    return (*prepared[:3], None, None, text, _derived_text(prepared[3], ctx.derivers, {}),
            _tokens_copy_text(prepared[5]))


def _copy_text(value: Any) -> str:
    """A value as PostgreSQL's COPY text format writes it (what psycopg's write_row does, for the
    values of a prepared row: text, integers and None)."""
    if value is None:
        return "\\N"
    if type(value) is not str:
        return str(value)
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return value.translate(_COPY_ESCAPES)
    return value


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_COPY_UNESCAPE = re.compile(r"\\(.)")
_COPY_UNESCAPED = {"\\": "\\", "t": "\t", "n": "\n", "r": "\r"}
# The columns whose values are integers (amounts in fen, keys, counts); the others are text or null.
_INTEGER_INDEXES = frozenset([*_MONEY_INDEXES, _INDEX["org_unit_id"], _INDEX["household_size"]])


def _copy_values(text: str) -> list[Any]:
    """A row's values back from its COPY text (`_for_writer`), as `_db_row` gave them."""
    values: list[Any] = text.split("\t", len(COLUMNS))[: len(COLUMNS)]
    for index, cell in enumerate(values):
        if cell == "\\N":
            values[index] = None
        elif index in _INTEGER_INDEXES:
            values[index] = int(cell)
        elif "\\" in cell:
            values[index] = _COPY_UNESCAPE.sub(lambda match: _COPY_UNESCAPED[match.group(1)], cell)
    return values


def _prepare_chunk(chunk: list[tuple[int, list[str]]]) -> bytes:
    """A worker's share of an XLSX file: the prepared rows of a chunk, in order, as one marshal string."""
    assert _WORKER_CONTEXT is not None
    return marshal.dumps(_prepare_rows([raw for _line, raw in chunk], _WORKER_CONTEXT, writer=True))


def _prepare_block(start: int, end: int) -> bytes:
    """A worker's share of a CSV file: it reads and parses the bytes [start, end) itself (whole records).

    Returns, as one marshal string, the number of records in the range (blank ones included,
    for the line numbers) and (index in the range, cells, prepared row) of each non-blank one:
    the parent needs the cells only for the error report, so they come back only for refused rows
    (and for every row when the writer may still refuse one); sending those back is cheaper than
    parsing the file in the parent and sending every row to a worker.
    """
    assert _WORKER_CONTEXT is not None and _WORKER_FILE is not None
    path, encoding = _WORKER_FILE
    with path.open("rb") as handle:
        handle.seek(start)
        text = handle.read(end - start).decode("utf-8" if encoding == "utf-8-sig" else encoding)
    records, indexes, raws = _records(text)
    keep_cells = _WORKER_CONTEXT.keep_cells
    out = []
    for index, raw, prepared in zip(indexes, raws, _prepare_rows(raws, _WORKER_CONTEXT, writer=True), strict=True):
        out.append((index, raw if keep_cells or type(prepared) is str else None, prepared))
    return marshal.dumps((records, out))


def _records(text: str) -> tuple[int, list[int], list[list[str]]]:
    """The CSV records of a block of text: how many (blank ones included, for the line numbers), and the
    non-blank ones with their indexes in the block."""
    records = 0
    indexes, raws = [], []
    for index, raw in enumerate(csv.reader(io.StringIO(text, newline=""))):
        records += 1
        if any(cell.strip() for cell in raw):
            indexes.append(index)
            raws.append(raw)
    return records, indexes, raws


def _stage_block(start: int, end: int) -> bytes:
    """A worker's share of a CSV file for `_Writer.write_staged`: validated and staged in an SQLite file.

    As `_prepare_block`, but the valid rows do not come back: the worker keeps the later of
    rows with the same identifier and writes the rest to a staging file of its own, from which
    the parent inserts them with INSERT … SELECT. Returns, as one marshal string, the number of
    records (blank ones included), of non-blank rows, of rows merged into a later one, the
    refused rows as (index in the range, cells, reason), the staging file's path and the number
    of rows staged in it.
    """
    assert _WORKER_CONTEXT is not None and _WORKER_FILE is not None and _WORKER_STAGE is not None
    path, encoding = _WORKER_FILE
    with path.open("rb") as handle:
        handle.seek(start)
        text = handle.read(end - start).decode("utf-8" if encoding == "utf-8-sig" else encoding)
    merged = 0
    refused, kept = [], {}
    keep_cells = _WORKER_CONTEXT.keep_cells
    records, indexes, raws = _records(text)
    rows = len(raws)
    for index, raw, prepared in zip(indexes, raws, _prepare_rows(raws, _WORKER_CONTEXT, writer=True), strict=True):
        if type(prepared) is str:
            refused.append((index, raw, prepared))
            continue
        if prepared[0] in kept:
            merged += 1
            del kept[prepared[0]]  # the later row wins, and takes its place in the order
        kept[prepared[0]] = (prepared, index, marshal.dumps(raw)) if keep_cells else (prepared, None, None)
    stage = _WORKER_STAGE / f"{start}.sqlite3"
    _stage_rows(stage, kept.values())
    return marshal.dumps((records, rows, merged, refused, str(stage), len(kept)))


def _stage_rows(path: Path, rows) -> None:
    """Write prepared rows, as (prepared row, index in the block, marshalled cells), to a new staging
    file (a scratch copy: no journal, no syncing). In pages of 16 KiB, as the database's own, and held
    in memory until the commit: 100,000 rows staged in 0.56 s rather than 0.73 s (4 KiB pages, 2 MiB cache)."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA page_size = 16384")
        db.execute("PRAGMA cache_size = -65536")  # KiB: a block's rows (at most ~35 MiB)
        db.execute("PRAGMA journal_mode = OFF")
        db.execute("PRAGMA synchronous = OFF")
        db.execute(_STAGE_TABLE)
        db.execute("BEGIN")
        db.executemany(_STAGE_INSERT, [(*db_values, _given_text(given), created_json, tokens, index, cells)
                                       for (_id, _name, given, db_values, created_json, tokens), index, cells
                                       in rows])
        db.execute("COMMIT")
    finally:
        db.close()


_SCRATCH_PREFIX = "guanxi-import-"  # + the importing process's id + "-" + random


def _remove_abandoned_scratch() -> None:
    """Remove the scratch folders of staged imports that were killed (their process is gone).

    A killed import leaves its scratch folder (a few blocks of staged rows) in the temporary
    directory; the rows themselves are safe in the database or imported again by the rerun.
    """
    for folder in Path(tempfile.gettempdir()).glob(f"{_SCRATCH_PREFIX}*-*"):
        pid = folder.name.removeprefix(_SCRATCH_PREFIX).split("-", 1)[0]
        if not pid.isdigit() or not folder.is_dir():
            continue
        if not process_running(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


_WORKER_NICENESS = 10
# Blocks in flight per worker: how far the workers may validate ahead of the writer. While the writer writes a
# batch, nobody hands them new blocks; with too few, they run out of work and a CPU stands idle. A 100,000-row
# import on 2 CPUs (median of 3-4 alternated runs): PostgreSQL 6.23 s with 2 per worker, 6.09 s with 4, 5.99 s
# with 8 (the window is bounded: a block's results are a few MiB); SQLite's staged path 4.19 s with 2, 4.10 s
# with 4, 4.12 s with 8 (in bytes of the file there, its blocks being staged on disk).
_WINDOW = 8
_STAGED_WINDOW = 4


def _worker_pool(workers: int, ctx: _RowContext, file: tuple[Path, str] | None = None, stage: Path | None = None):
    """Worker processes (`core.workers`) that validate rows (`ctx`), reading `file` and staging in
    `stage` where given, and yield the CPU to the writer.

    The single writer is what limits an import; the workers validate ahead of it, a few
    blocks in flight. At the same priority they would take a share of its core whenever all
    are runnable; at a lower one they use what it leaves, and the writer runs flat out
    (a 1,000,000-row import on 2 CPUs: 45.1-45.7 s instead of 47.0-48.7 s).
    """
    county_exists("110101")  # load the code table before forking, once for all workers
    return process_pool(workers, init=f"{__name__}._worker_init", niceness=_WORKER_NICENESS,
                        initargs=(pickle.dumps((ctx, file, stage)),))


def _worker_init(state: bytes) -> None:
    global _WORKER_CONTEXT, _WORKER_FILE, _WORKER_STAGE
    _WORKER_CONTEXT, _WORKER_FILE, _WORKER_STAGE = pickle.loads(state)  # noqa: S301 - from the importing process


def _staged_blocks(tabular, ctx: _RowContext, workers: int, block: int):
    """Staged blocks of a CSV file in file order: (first line, rows, merged, refused, staging file, rows staged).

    The workers validate and stage the blocks (`_stage_block`) in a scratch folder that is
    removed at the end; a bounded window of blocks is in flight, so neither memory nor the
    scratch folder grows with the file. The file's last blocks are smaller (`csv_blocks`'s
    taper): the workers finish together and the writer is left with little to do after them.
    The window counts bytes, so that a worker done with small blocks does not wait for a free
    place in it while another still works on a big one.
    """
    _remove_abandoned_scratch()
    with tempfile.TemporaryDirectory(prefix=f"{_SCRATCH_PREFIX}{os.getpid()}-") as folder:
        pool = _worker_pool(workers, ctx, (tabular.path, tabular.encoding), Path(folder))
        pending: collections.deque = collections.deque()
        in_flight = 0  # bytes
        try:
            line = 2  # the first record after the header
            blocks = tabular.csv_blocks(block, taper=2 * workers)
            while True:
                for start, end in blocks:
                    pending.append((end - start, pool.apply_async(call, (f"{__name__}._stage_block", start, end))))
                    in_flight += end - start
                    if in_flight >= _STAGED_WINDOW * workers * block:
                        break
                if not pending:
                    return
                size, result = pending.popleft()
                in_flight -= size
                records, rows, merged, refused, stage, staged = marshal.loads(result.get())  # noqa: S302
                yield line, rows, merged, refused, Path(stage), staged
                Path(stage).unlink()
                line += records
        finally:
            pool.terminate()
            pool.join()


def _chunks(rows, size: int):
    chunk = []
    for item in rows:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _worker_count(tabular, workers: int | None) -> int:
    """How many worker processes validate the rows: `workers` if given, by default one per CPU (at most 4)
    for files over a few megabytes (for smaller ones, starting them costs more than they save)."""
    if workers is None:
        cpus = os.cpu_count() or 1
        big = tabular.total_bytes > 4 * 1024 * 1024
        workers = min(cpus, 4) if cpus > 1 and big else 0
    return max(workers, 0)


def _prepared_rows(tabular, ctx: _RowContext, workers: int):
    """Validated rows in file order; validation runs in forked worker processes for big files.

    The workers only compute (no database access): they receive the org units and the active
    language from the parent (`_worker_pool`). A CSV file is cut into byte
    ranges of whole records that each worker reads and parses itself; an XLSX file is read
    by the parent and its rows are sent to the workers in chunks.
    """
    if workers <= 0:
        for chunk in _chunks(tabular.rows(), _CHUNK):
            for (line, raw), prepared in zip(chunk, _prepare_rows([raw for _line, raw in chunk], ctx, writer=True),
                                             strict=True):
                yield line, raw, prepared
        return
    pool = _worker_pool(workers, ctx, (tabular.path, tabular.encoding) if tabular.kind == "csv" else None)
    pending: collections.deque = collections.deque()
    try:
        # A bounded window of work in flight, so memory does not grow with the file.
        if tabular.kind == "csv":
            line = 2  # the first record after the header
            for block in tabular.csv_blocks(_BLOCK, taper=2 * workers):  # the last blocks smaller
                pending.append(pool.apply_async(call, (f"{__name__}._prepare_block", *block)))
                if len(pending) >= _WINDOW * workers:
                    records, rows = marshal.loads(pending.popleft().get())  # noqa: S302 - own worker
                    for index, raw, prepared in rows:
                        yield line + index, raw, prepared
                    line += records
            while pending:
                records, rows = marshal.loads(pending.popleft().get())  # noqa: S302 - own worker
                for index, raw, prepared in rows:
                    yield line + index, raw, prepared
                line += records
            return
        # The parent keeps each chunk's raw rows (for the error report); workers send back only results.
        for chunk in _chunks(tabular.rows(), _CHUNK):
            pending.append((chunk, pool.apply_async(call, (f"{__name__}._prepare_chunk", chunk))))
            if len(pending) >= 2 * workers:
                done, result = pending.popleft()
                for (line, raw), prepared in zip(done, marshal.loads(result.get()), strict=True):  # noqa: S302 - own worker
                    yield line, raw, prepared
        while pending:
            done, result = pending.popleft()
            for (line, raw), prepared in zip(done, marshal.loads(result.get()), strict=True):  # noqa: S302 - own worker
                yield line, raw, prepared
    finally:
        pool.terminate()
        pool.join()


_BYTES_PER_ROW = 120  # a generated registration row: 100-140 bytes in CSV (fewer in XLSX: an underestimate)


def _batch_rows(tabular, workers: int, most: int) -> int:
    """Rows per batch (per block on SQLite's staged path): `most` in a big file, fewer in a smaller one.

    Big batches mean fewer commits (a million rows on the staged path: 55.2 s in blocks of
    20,000, 50.5 s in blocks of 50,000). But the writer waits for the first batch to be validated
    whole, and the workers wait for the writer once they are a window of blocks ahead: a file
    of a few batches would be validated first and written after, rather than both at once. At
    least four batches per worker keep them overlapping.
    """
    if workers <= 0:
        return most
    rows = tabular.total_bytes // _BYTES_PER_ROW
    return max(5_000, min(most, rows // (4 * workers)))


def _worth_deferring(tabular, *, known_share: float = 0.0) -> bool:
    """Whether rebuilding the indexes at the end beats maintaining them row by row (see `core.bulkload`):
    when the file brings at least as many new customers as the table holds, `known_share` of its rows
    expected to name known customers."""
    rows = tabular.total_bytes // _BYTES_PER_ROW
    return rows >= settings.IMPORT_DEFER_INDEXES_MIN_ROWS and rows * (1 - known_share) >= _customer_count()


def _customer_count() -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {Customer._meta.db_table}")  # noqa: S608
        return cursor.fetchone()[0]


def _deferred_tables(tabular) -> list[str]:
    """The tables whose indexes a load that defers them drops (`core.bulkload`): the customers, their name
    tokens (PostgreSQL), and the audit log when the file brings at least as many entries as it holds
    (a bank's first load; the span of its keys stands for its size, read without a count: the log only grows)."""
    tables = [Customer._meta.db_table] + ([] if uses_fts() else [NameToken._meta.db_table])
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT coalesce(max(id) - min(id) + 1, 0) FROM {AuditEntry._meta.db_table}")  # noqa: S608
        if tabular.total_bytes // _BYTES_PER_ROW >= cursor.fetchone()[0]:
            tables.append(AuditEntry._meta.db_table)
    return tables


@contextlib.contextmanager
def _collector_paused():
    """Python's cyclic garbage collector off while the rows stream through this process, on again after.

    Each block of results from the workers is tens of thousands of new tuples and lists, and
    the collector walked them, and the process's whole heap, again and again (a 100,000-row
    import: a fifth of this process's time). The rows hold no cycles: reference counting frees
    them; the few cycles made meanwhile are collected when it is back on. It stays off if
    something else turned it off.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def customers_import(
    *,
    acting_user: User | None,
    path: Path,
    dry_run: bool = False,
    errors_path: Path | None = None,
    batch_size: int | None = None,
    progress: Callable[[int, int, int], None] | None = None,
    run: ImportRun | None = None,
    workers: int | None = None,
    defer_indexes: bool | None = None,
    stage: Callable[[str], None] | None = None,
) -> ImportOutcome:
    """Import a registration file (CSV or XLSX). See the module docstring for the guarantees.

    `progress(rows_read, bytes_read, total_bytes)` is called after every batch. `run` is an
    ImportRun created by the caller (the upload page) to follow; otherwise one is created.
    `batch_size` rows go in one transaction: fewer, bigger commits write each page of the
    name-token index to the WAL fewer times (25,000 instead of 5,000 rows: 21% faster at
    300,000 rows on SQLite). By default 20,000, and up to 50,000 on SQLite's staged path, whose
    rows never sit in this process (`_staged_block_rows`).
    `workers` validates rows in that many extra processes (default: one per CPU for files over
    a few megabytes, also when run by the job runner behind the upload page, `core.workers`);
    rows keep their order, so the later row still wins.
    `defer_indexes` drops the customer table's secondary indexes (and those of the tables in
    `_deferred_tables`) for the import and builds them again at its end (`core.bulkload`); by default, when the file holds at least
    IMPORT_DEFER_INDEXES_MIN_ROWS rows and brings at least as many new customers as the table holds
    (`_worth_deferring`; on SQLite's staged path into a table that holds customers, judged by the
    share of known ones in the first block). `stage(text)` is told
    when that rebuild starts (every row is in by then; it takes seconds at a million rows), as
    is the run's page (its message).
    """
    started = time.monotonic()
    if not dry_run:
        indexes_restore()  # left dropped by a bulk import that was killed (`indexes_deferred` checks again)
    tabular = open_tabular(path)
    outcome = ImportOutcome(run=None)
    mapping, header_of = map_columns(tabular.header, HEADERS, IGNORED_HEADERS, outcome)
    outcome.missing_columns = [name for name in REQUIRED if name not in header_of]
    if outcome.missing_columns:
        tabular.close()
        if run is not None:
            ImportRun.objects.filter(pk=run.pk).update(
                state=ImportRun.State.FAILED, finished_at=timezone.now(),
                message=_("the file lacks the required column(s): %(columns)s")
                % {"columns": ", ".join(outcome.missing_columns)})
        return outcome

    if run is None and not dry_run:
        run = ImportRun.objects.create(kind=ImportRun.Kind.CUSTOMERS, file_name=path.name, started_by=acting_user)
    if run is not None:
        ImportRun.objects.filter(pk=run.pk).update(state=ImportRun.State.RUNNING, bytes_total=tabular.total_bytes)
        progress = _tracking(run, progress)
    outcome.run = run
    outcome.error_report = errors_path or default_report_path(path)
    report = ErrorReport(outcome.error_report, tabular.header)
    writer = _Writer(acting_user=acting_user, outcome=outcome)
    units = {unit.code: unit for unit in OrgUnit.objects.all()}
    allowed_units = None
    if acting_user is not None and acting_user.role and acting_user.org_unit_id and acting_user.role != "line_dept":
        allowed_units = {unit.code for unit in OrgUnit.objects.subtree(acting_user.org_unit)}

    reject = rejector(outcome, report)

    derivers: tuple[Callable, ...] = ()
    if not dry_run and not uses_fts():  # PostgreSQL's COPY: the workers compute the derived columns
        for _receiver, (columns, derive) in customer_insert_values.send(sender=Customer, columns=tuple(COLUMNS)):
            writer.copy_derived += columns
            derivers += (derive,)
    context = _RowContext(mapping=mapping, header_of=header_of, units=units, allowed_units=allowed_units,
                          keep_cells=writer.scope_checked, derivers=derivers)
    batch: dict[str, tuple[int, list[str], tuple]] = {}
    valid_rows = 0
    stack = contextlib.ExitStack()
    touch = None
    workers = _worker_count(tabular, workers)
    # SQLite's bulk path: workers stage their blocks, the writer inserts them with INSERT … SELECT.
    # (SQLite attaches a staging file only outside a transaction: not when the caller holds one open.)
    staged = (workers > 0 and tabular.kind == "csv" and connection.vendor == "sqlite" and not dry_run
              and not connection.in_atomic_block)
    # SQLite updates only the indexes of the columns an update changes: a file that mostly updates the
    # customers it names is not worth a rebuild of every index. The staged path sees how many rows of
    # its first block name known customers before it decides (a million-row update: 49 s -> 39 s).
    undecided = staged and defer_indexes is None and _customer_count() > 0
    # (entered first, so left last: the log of the index rebuild is copied too)
    committed = stack.enter_context(checkpoints_apart()) if staged else None
    def defer() -> Callable[[], None]:
        return stack.enter_context(indexes_deferred(_deferred_tables(tabular), derived=(NameToken._meta.db_table,)))

    if not dry_run and not undecided and (defer_indexes if defer_indexes is not None else _worth_deferring(tabular)):
        touch = defer()
    block_rows = batch_size or _batch_rows(tabular, workers, 50_000)  # per staged block
    batch_size = batch_size or _batch_rows(tabular, workers, 20_000)
    try:
        stack.enter_context(_collector_paused())
        if staged:
            for line, rows, merged, refused, staged_file, staged_rows in _staged_blocks(
                    tabular, context, workers, max(block_rows * _BYTES_PER_ROW, 4096)):
                outcome.rows_read += rows
                outcome.duplicates_merged += merged
                for index, raw, reason in refused:
                    reject(line + index, raw, reason)
                created = outcome.created
                writer.write_staged(staged_file, staged_rows, run, line, reject)
                committed()
                if touch:
                    touch()
                if undecided:
                    undecided = False
                    known = 1 - (outcome.created - created) / staged_rows if staged_rows else 0.0
                    if _worth_deferring(tabular, known_share=known):
                        touch = defer()
                if progress:
                    progress(outcome.rows_read, tabular.bytes_read, tabular.total_bytes)
        for line, raw, prepared in () if staged else _prepared_rows(tabular, context, workers):
            outcome.rows_read += 1
            if isinstance(prepared, str):
                reject(line, raw, prepared)
                continue
            valid_rows += 1
            id_number = prepared[0]
            if id_number in batch:
                # The later row wins; a duplicate in an earlier batch is simply updated again.
                outcome.duplicates_merged += 1
                del batch[id_number]
            batch[id_number] = (line, raw, prepared)
            if len(batch) >= batch_size:
                if not dry_run:
                    writer.write(batch, reject, run)
                    if touch:
                        touch()
                batch = {}
                if progress:
                    progress(outcome.rows_read, tabular.bytes_read, tabular.total_bytes)
        if batch and not dry_run:
            writer.write(batch, reject, run)
        if progress:
            progress(outcome.rows_read, tabular.total_bytes, tabular.total_bytes)
        if touch:
            text = _("every row is in; rebuilding the search indexes…")
            if run is not None:
                ImportRun.objects.filter(pk=run.pk).update(message=text)
            if stage:
                stage(text)
    except Exception as exc:
        if run is not None:
            ImportRun.objects.filter(pk=run.pk).update(state=ImportRun.State.FAILED, finished_at=timezone.now(),
                                                       message=str(exc)[:2000])
        raise
    finally:
        report.close()
        tabular.close()
        stack.close()  # the deferred indexes are built again, also after a failure
    if dry_run:
        outcome.created = valid_rows - outcome.duplicates_merged
    if report.count == 0:
        outcome.error_report = None
    outcome.seconds = time.monotonic() - started
    if run is not None:
        ImportRun.objects.filter(pk=run.pk).update(
            state=ImportRun.State.DONE, finished_at=timezone.now(), rows_read=outcome.rows_read,
            rows_created=outcome.created, rows_updated=outcome.updated, rows_unchanged=outcome.unchanged,
            rows_rejected=outcome.rejected, error_report=str(outcome.error_report or ""),
            message="; ".join(_("unknown column %(name)s ignored") % {"name": name}
                              for name in outcome.unknown_columns),
        )
    return outcome
