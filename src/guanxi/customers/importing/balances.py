"""The core-banking daily balance feed: history per customer and date, and the current values.

Idempotent per customer and date (a unique constraint and an upsert). Run by the system
(the feed comes from the core banking system, not from a member of staff), so it is not
limited to a data scope; one audit entry per batch records what was loaded.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.core import audit
from guanxi.core.masking import mask_value
from guanxi.core.models import User
from guanxi.core.validators import convert_15_to_18, normalize_identifier, normalize_text
from guanxi.customers.importing.common import ImportOutcome, map_columns, rejector
from guanxi.customers.importing.readers import open_tabular
from guanxi.customers.importing.report import ErrorReport, default_report_path
from guanxi.customers.models import BalanceSnapshot, Customer, ImportRun
from guanxi.customers.signals import balances_imported
from guanxi.customers.validation import parse_amount

HEADERS = {
    "证件号码": "id_number", "客户号": "customer_no", "日期": "as_of", "存款余额": "deposit_balance",
    "贷款余额": "loan_balance", "持有产品": "products", "信贷员": "loan_officer",
}
HEADERS.update({name: name for name in list(HEADERS.values())})
IGNORED_HEADERS = {"错误原因", "error_reason", "客户名称", "name"}
_PRODUCT_RE = re.compile(r"^[A-Z][A-Z0-9_]{0,19}$")


@dataclass
class BalanceOutcome(ImportOutcome):
    unknown_customers: int = 0
    current_moved: int = 0
    as_of_dates: set[date] = field(default_factory=set)  # feed dates written (for `balances_imported`)

    @property
    def extra_lines(self) -> list[str]:
        return [f"{self.unknown_customers} row(s) name a customer Guanxi does not know (listed in the report); "
                f"{self.current_moved} customer(s) got new current balances."]


def _parse_date(text: str) -> date:
    value = normalize_text(text).replace("/", "-").replace(".", "-")
    if re.fullmatch(r"\d{8}", value):
        value = f"{value[:4]}-{value[4:6]}-{value[6:]}"
    try:
        parsed = date.fromisoformat(value)
    except ValueError:
        raise ValidationError({"as_of": [_("%(value)s is not a date (YYYY-MM-DD)") % {"value": text}]}) from None
    if parsed > timezone.localdate():
        raise ValidationError({"as_of": [_("%(value)s is in the future") % {"value": text}]})
    return parsed


def _clean(data: dict[str, str], officers: dict[str, int]) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    out: dict[str, Any] = {}
    ident = normalize_identifier(data.get("id_number", ""))
    if len(ident) == 15 and ident.isdigit():
        ident = convert_15_to_18(ident)
    out["id_number"] = ident
    out["customer_no"] = normalize_identifier(data.get("customer_no", ""))
    if not ident and not out["customer_no"]:
        errors["id_number"] = [_("either the ID number or the customer number is required")]
    for name, parse in (("as_of", _parse_date),):
        try:
            out[name] = parse(data.get(name, ""))
        except ValidationError as exc:
            errors.update(exc.message_dict)
    for name in ("deposit_balance", "loan_balance"):
        try:
            amount = parse_amount(data.get(name, ""), name)
            out[name] = int((amount or 0) * 100)
        except ValidationError as exc:
            errors.update(exc.message_dict)
    products = [p for p in re.split(r"[;；,，\s]+", normalize_text(data.get("products", "")).upper()) if p]
    bad = [p for p in products if not _PRODUCT_RE.match(p)]
    if bad:
        errors["products"] = [_("%(codes)s are not product codes") % {"codes": ", ".join(bad)}]
    out["products"] = ";".join(dict.fromkeys(products))
    officer = normalize_text(data.get("loan_officer", ""))
    if officer and officer not in officers:
        errors["loan_officer"] = [_("%(name)s is not a staff username") % {"name": officer}]
    out["loan_officer"] = officer
    out["loan_officer_id"] = officers.get(officer)
    if errors:
        raise ValidationError(errors)
    return out


def balances_import(
    *, acting_user: User | None, path: Path, dry_run: bool = False, errors_path: Path | None = None,
    batch_size: int = 5000, progress: Callable[[int, int, int], None] | None = None,
) -> BalanceOutcome:
    """Load a balance feed file (CSV/XLSX); see the module docstring."""
    started = time.monotonic()
    tabular = open_tabular(path)
    outcome = BalanceOutcome(run=None)
    mapping, header_of = map_columns(tabular.header, HEADERS, IGNORED_HEADERS, outcome)
    if "id_number" not in header_of and "customer_no" not in header_of:
        outcome.missing_columns.append("id_number / customer_no")
    outcome.missing_columns += [n for n in ("as_of", "deposit_balance", "loan_balance") if n not in header_of]
    if outcome.missing_columns:
        tabular.close()
        return outcome
    officers = dict(User.objects.filter(is_active=True).values_list("username", "pk"))
    run = None if dry_run else ImportRun.objects.create(kind=ImportRun.Kind.BALANCES, file_name=path.name,
                                                        started_by=acting_user)
    outcome.run = run
    outcome.error_report = errors_path or default_report_path(path)
    report = ErrorReport(outcome.error_report, tabular.header)

    reject = rejector(outcome, report)

    batch: dict[tuple[str, date], tuple[int, list[str], dict[str, Any]]] = {}
    try:
        for line, raw in tabular.rows():
            outcome.rows_read += 1
            data = {name: raw[index] if index < len(raw) else "" for index, name in mapping}
            try:
                values = _clean(data, officers)
            except ValidationError as exc:
                parts = []
                for name, messages in exc.message_dict.items():
                    value = normalize_text(data.get(name, ""))
                    value = mask_value(name, value) if value else value
                    parts.append(f"{header_of.get(name, name)}「{value}」: {' '.join(messages)}")
                reject(line, raw, "; ".join(parts))
                continue
            key = (values["id_number"] or "#" + values["customer_no"], values["as_of"])
            if key in batch:
                outcome.duplicates_merged += 1
            batch[key] = (line, raw, values)
            if len(batch) >= batch_size:
                _write(batch, outcome, reject, run, acting_user, dry_run)
                batch = {}
                if progress:
                    progress(outcome.rows_read, tabular.bytes_read, tabular.total_bytes)
        if batch:
            _write(batch, outcome, reject, run, acting_user, dry_run)
        if progress:
            progress(outcome.rows_read, tabular.total_bytes, tabular.total_bytes)
    except Exception as exc:
        if run is not None:
            ImportRun.objects.filter(pk=run.pk).update(state=ImportRun.State.FAILED, finished_at=timezone.now(),
                                                       message=str(exc)[:2000])
        raise
    finally:
        report.close()
        tabular.close()
    if report.count == 0:
        outcome.error_report = None
    outcome.seconds = time.monotonic() - started
    if run is not None:
        ImportRun.objects.filter(pk=run.pk).update(
            state=ImportRun.State.DONE, finished_at=timezone.now(), rows_read=outcome.rows_read,
            rows_created=outcome.created, rows_updated=outcome.updated, rows_unchanged=outcome.unchanged,
            rows_rejected=outcome.rejected, error_report=str(outcome.error_report or ""),
        )
        balances_imported.send(sender=ImportRun, run=run, acting_user=acting_user,
                               as_of_dates=sorted(outcome.as_of_dates))
    return outcome


def _lookup(cursor, column: str, keys: list[str]) -> dict[str, int]:
    """Customer ids by identifier or number; a merged-away record maps to the customer that survives."""
    found: dict[str, int] = {}
    merged: dict[str, int] = {}
    table = Customer._meta.db_table
    for start in range(0, len(keys), 900):
        chunk = keys[start : start + 900]
        marks = ", ".join(["%s"] * len(chunk))
        cursor.execute(f"SELECT {column}, id, merged_into_id FROM {table} WHERE {column} IN ({marks})", chunk)  # noqa: S608
        for key, pk, merged_into in cursor.fetchall():
            if merged_into is None:
                found[key] = pk
            else:
                merged[key] = merged_into
    for key, pk in merged.items():
        for _hop in range(10):
            cursor.execute(f"SELECT merged_into_id FROM {table} WHERE id = %s", [pk])  # noqa: S608
            next_pk = cursor.fetchone()[0]
            if next_pk is None:
                found[key] = pk
                break
            pk = next_pk
    return found


def _write(batch, outcome: BalanceOutcome, reject, run, acting_user, dry_run: bool) -> None:
    snapshots = BalanceSnapshot._meta.db_table
    customers = Customer._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        by_id = _lookup(cursor, "id_number", sorted({v["id_number"] for _l, _r, v in batch.values() if v["id_number"]}))
        by_no = _lookup(cursor, "customer_no",
                        sorted({v["customer_no"] for _l, _r, v in batch.values() if v["customer_no"]}))
        rows = []
        for line, raw, values in batch.values():
            pk = by_id.get(values["id_number"]) if values["id_number"] else by_no.get(values["customer_no"])
            if pk is None:
                outcome.unknown_customers += 1
                shown = mask_value("id_number", values["id_number"]) if values["id_number"] else values["customer_no"]
                reject(line, raw, _("customer %(who)s is not known to Guanxi; register it first") % {"who": shown})
                continue
            rows.append((pk, values))
        if dry_run or not rows:
            outcome.created += len(rows) if dry_run else 0
            return
        day = connection.ops.adapt_datefield_value
        existing = {}
        pks = [pk for pk, _v in rows]
        for start in range(0, len(pks), 900):
            chunk = pks[start : start + 900]
            marks = ", ".join(["%s"] * len(chunk))
            cursor.execute(
                f"SELECT customer_id, as_of, deposit_balance, loan_balance, products, loan_officer "  # noqa: S608
                f"FROM {snapshots} WHERE customer_id IN ({marks})", chunk)
            for customer_id, as_of, deposit, loan, products, officer in cursor.fetchall():
                existing[(customer_id, str(as_of))] = (deposit, loan, products, officer)
        inserts, updates = [], []
        for pk, v in rows:
            key = (pk, str(v["as_of"]))
            new = (v["deposit_balance"], v["loan_balance"], v["products"], v["loan_officer"])
            if key not in existing:
                inserts.append([pk, day(v["as_of"]), *new])
            elif tuple(existing[key]) != new:
                updates.append([*new, pk, day(v["as_of"])])
            else:
                outcome.unchanged += 1
        if inserts:
            cursor.executemany(
                f"INSERT INTO {snapshots} (customer_id, as_of, deposit_balance, loan_balance, products, loan_officer) "  # noqa: S608
                "VALUES (%s, %s, %s, %s, %s, %s)", inserts)
        if updates:
            cursor.executemany(
                f"UPDATE {snapshots} SET deposit_balance = %s, loan_balance = %s, products = %s, "  # noqa: S608
                "loan_officer = %s WHERE customer_id = %s AND as_of = %s", updates)
        # The current values follow the newest date seen for each customer.
        current = [[v["deposit_balance"], v["loan_balance"], v["products"], v["loan_officer_id"], day(v["as_of"]),
                    pk, day(v["as_of"])] for pk, v in rows]
        cursor.executemany(
            f"UPDATE {customers} SET deposit_balance = %s, loan_balance = %s, products = %s, "  # noqa: S608
            "loan_officer_id = %s, balance_as_of = %s WHERE id = %s AND (balance_as_of IS NULL OR balance_as_of <= %s)",
            current)
        outcome.current_moved += max(cursor.rowcount, 0) if cursor.rowcount is not None else 0
        outcome.as_of_dates.update(v["as_of"] for _pk, v in rows)
        outcome.created += len(inserts)
        outcome.updated += len(updates)
        audit.record(actor=acting_user, action="balances.import", object_type="customers.importrun",
                     object_id=run.pk if run else None, object_repr=run.file_name if run else "",
                     changes={"snapshots_created": len(inserts), "snapshots_updated": len(updates)})
        if run is not None:
            ImportRun.objects.filter(pk=run.pk).update(rows_read=outcome.rows_read, rows_created=outcome.created,
                                                       rows_updated=outcome.updated, rows_rejected=outcome.rejected)
