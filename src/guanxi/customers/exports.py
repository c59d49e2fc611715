"""Customer export: the customers a user may see, as CSV or XLSX, masked unless allowed.

DESIGN.md's contract `guanxi export customers FILE`; the list page and the API download the
same file through `export_response`. The columns are the registration vocabulary of DESIGN.md
(plus the customer number first and the owner last), so an English export can be imported again.
"""

from __future__ import annotations

import codecs
import csv
import tempfile
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from typing import IO, Any

import xlsxwriter
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import FileResponse
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.core import audit
from guanxi.core.masking import mask_id_number, mask_phone
from guanxi.core.models import User
from guanxi.core.validators import normalize_identifier
from guanxi.customers import selectors
from guanxi.customers.models import Customer

FORMATS = ("csv", "xlsx")
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
# The keyword arguments of `selectors.customer_list`, i.e. the filters an export accepts.
FILTERS = ("search", "customer_type", "status", "org_code", "market", "owner")
CHUNK_SIZE = 2000
XLSX_MAX_ROWS = 1_048_576 - 1  # one worksheet, less the header row
SPOOL_MAX_BYTES = 8 * 1024 * 1024  # a download is kept in memory up to this size, then on disk

# OWASP "CSV injection": a cell starting with one of these is a formula to Excel/WPS/LibreOffice.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")

# The Chinese words of the registration file for each code (all accepted by `validation`'s aliases).
CHINESE_LABELS: dict[str, dict[str, str]] = {
    "customer_type": {"person": "个人", "company": "公司", "farmer": "农户"},
    "status": {"existing": "存量", "prospect": "目标"},
    "guarantee_type": {"credit": "信用", "guarantee": "保证", "mortgage": "抵押", "pledge": "质押"},
}


@dataclass(frozen=True)
class Column:
    """One export column: the English header is the API field name, the Chinese one DESIGN.md's."""

    name: str
    header: str
    kind: str = "text"  # text | identifier (kept as text in Excel) | money | count


# Headers are the file-format vocabulary of DESIGN.md, not UI text: they stay the same whatever
# the interface language, so that the importer recognises them.
COLUMNS: tuple[Column, ...] = (
    Column("customer_no", "客户号", "identifier"),
    Column("customer_type", "客户类型"),
    Column("name", "客户名称"),
    Column("id_number", "证件号码", "identifier"),
    Column("phone", "手机号码", "identifier"),
    Column("org_code", "所属机构", "identifier"),
    Column("industry", "行业"),
    Column("address", "地址"),
    Column("deposit_balance", "存款余额", "money"),
    Column("loan_balance", "贷款余额", "money"),
    Column("annual_income", "年收入", "money"),
    Column("total_assets", "总资产", "money"),
    Column("total_liabilities", "总负债", "money"),
    Column("household_size", "家庭人口", "count"),
    Column("guarantee_type", "担保方式"),
    Column("status", "客户状态"),
    Column("owner", "维护责任人"),
    # Added after the first release: at the end, so that scripts reading columns by position keep working.
    Column("email", "电子邮箱"),
    Column("notes", "非财务信息"),
)


def neutralise(text: str) -> str:
    """Prefix a `'` to text a spreadsheet would otherwise run as a formula (OWASP CSV injection)."""
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def _export_queryset(user: User, filters: dict[str, str]) -> QuerySet[Customer]:
    """The selector's rows (the data scope), with the owner's username as one annotation.

    The selector prefetches the active assignment; for a streamed export a correlated subquery
    is cheaper (one query in all instead of one more per chunk), so the prefetch is dropped.
    """
    from guanxi.relationships.models import Assignment  # read-only reverse lookup, as in selectors

    owner = Assignment.objects.filter(customer=OuterRef("pk"), active=True).values("owner__username")[:1]
    return (
        selectors.customer_list(user=user, **filters)
        .prefetch_related(None)
        .annotate(export_owner=Subquery(owner))
    )


def _rows(customers: QuerySet[Customer], *, english: bool, unmasked: bool) -> Iterator[list[Any]]:
    """One list of values per customer, in COLUMNS order; text not yet neutralised."""
    show_id: Callable[[str], str] = str if unmasked else mask_id_number
    show_phone: Callable[[str], str] = str if unmasked else mask_phone

    def label(field: str, code: str) -> str:
        return code if english or not code else CHINESE_LABELS[field].get(code, code)

    # Closed explicitly so that on PostgreSQL the server-side cursor is closed while its
    # transaction is still open, also when the writer stops early with an error.
    with closing(customers.iterator(chunk_size=CHUNK_SIZE)) as iterator:
        for customer in iterator:
            yield [
                customer.customer_no,
                label("customer_type", customer.customer_type),
                customer.name,
                show_id(customer.id_number),
                show_phone(customer.phone),
                customer.org_unit.code,
                customer.industry,
                customer.address,
                customer.deposit_balance,
                customer.loan_balance,
                customer.annual_income,
                customer.total_assets,
                customer.total_liabilities,
                customer.household_size,
                label("guarantee_type", customer.guarantee_type),
                label("status", customer.status),
                customer.export_owner or "",
                customer.email,
                customer.notes,
            ]


class _Utf8Writer:
    """Lets csv.writer write into a binary file-like (a file, a spool, a response) as UTF-8."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out = out

    def write(self, text: str) -> int:
        return self.out.write(text.encode("utf-8"))


def _write_csv(out: IO[bytes], headers: list[str], rows: Iterator[list[Any]]) -> int:
    """UTF-8 with a BOM (so Excel picks the encoding), CRLF lines, amounts as `1234.50`."""
    out.write(codecs.BOM_UTF8)
    writer = csv.writer(_Utf8Writer(out))
    writer.writerow(headers)
    count = 0
    for values in rows:
        writer.writerow([_csv_cell(column, value) for column, value in zip(COLUMNS, values, strict=True)])
        count += 1
    return count


def _csv_cell(column: Column, value: Any) -> str:
    if value is None:
        return ""
    if column.kind == "money":
        return f"{value:.2f}"
    if column.kind == "count":
        return str(value)
    return neutralise(str(value))


def _write_xlsx(out: IO[bytes], headers: list[str], rows: Iterator[list[Any]]) -> int:
    """Streamed XLSX: `constant_memory` flushes each row to a temp file, so memory stays flat.

    Identifiers are text cells with the text format `@` (Excel would turn an 18-digit ID number
    into 2.31102E+17); amounts are numbers shown as `#,##0.00`; every string goes through
    `_write_text`, so no cell is a formula.
    """
    workbook = xlsxwriter.Workbook(out, {
        "constant_memory": True, "strings_to_formulas": False, "strings_to_numbers": False,
        "strings_to_urls": False,
    })
    try:
        sheet = workbook.add_worksheet(_("Customers"))
        header_format = workbook.add_format({"bold": True, "bottom": 1})
        formats = {
            "identifier": workbook.add_format({"num_format": "@"}),
            "money": workbook.add_format({"num_format": "#,##0.00"}),
            "count": None,
            "text": None,
        }
        widths = {"identifier": 20, "money": 16, "count": 8, "text": 14}
        for index, column in enumerate(COLUMNS):
            width = 36 if column.name == "address" else widths[column.kind]
            sheet.set_column(index, index, width, formats[column.kind])
        for index, header in enumerate(headers):
            sheet.write_string(0, index, header, header_format)
        sheet.freeze_panes(1, 0)
        count = 0
        for values in rows:
            count += 1
            if count > XLSX_MAX_ROWS:
                raise ValidationError({"format": _(
                    "more than %(max)s customers do not fit in one Excel sheet; export CSV or narrow the filters"
                ) % {"max": f"{XLSX_MAX_ROWS:,}"}})
            for index, (column, value) in enumerate(zip(COLUMNS, values, strict=True)):
                cell_format = formats[column.kind]
                if value is None or value == "":
                    continue
                if column.kind in ("money", "count"):
                    sheet.write_number(count, index, float(value), cell_format)
                else:
                    _write_text(sheet, count, index, neutralise(str(value)), cell_format)
        sheet.autofilter(0, 0, max(count, 1), len(COLUMNS) - 1)
    finally:
        workbook.close()
    return count


def _write_text(sheet, row: int, col: int, text: str, cell_format) -> None:
    """Write a string cell that Excel shows exactly as given.

    In constant_memory mode xlsxwriter writes a string that starts with `<r>` and ends with
    `</r>` into the sheet XML unescaped (it takes it for a prepared rich string), so such a
    value could smuggle in a `<f>` formula element. Written as a rich string of plain
    fragments, the same text is escaped like any other.
    """
    if text.startswith("<r>") and text.endswith("</r>"):
        fragments: list[Any] = [text[:1], text[1:2], text[2:]]
        sheet.write_rich_string(row, col, *fragments, *([cell_format] if cell_format else []))
    else:
        sheet.write_string(row, col, text, cell_format)


WRITERS = {"csv": _write_csv, "xlsx": _write_xlsx}


def _audited_filters(filters: dict[str, str]) -> dict[str, str]:
    """The filters given, for the audit log; a search for an ID number or phone is masked there too."""
    given = {name: value for name, value in filters.items() if value}
    search = given.get("search", "")
    ident = normalize_identifier(search)
    if len(ident) >= 7 and (ident.isdigit() or (ident[:-1].isdigit() and ident.endswith("X"))):
        given["search"] = mask_id_number(ident) if len(ident) >= 15 else mask_phone(ident)
    return given


def customers_export(
    *, acting_user: User, filters: dict[str, str], fmt: str, out: IO[bytes], unmasked: bool = False,
    english: bool = False,
) -> int:
    """Write the customers `acting_user` may see (filtered as the list page) to `out`; return the row count.

    Rows come only from `selectors.customer_list`, so the data scope is the user's. ID numbers
    and phones are masked unless `unmasked` is asked for by a role that may reveal them;
    otherwise PermissionDenied. Headers and codes are Chinese, or English with `english`.
    Writes one audit entry (`customer.export` / `customer.export.unmasked`, with the row count,
    format and filters) in the same transaction as the read: if writing fails, nothing is
    logged and the caller must discard `out`. Raises ValidationError for a bad format or filter.
    """
    if fmt not in FORMATS:
        raise ValidationError({"format": _("%(value)s is not an export format; use csv or xlsx") % {"value": fmt}})
    unknown = sorted(set(filters) - set(FILTERS))
    if unknown:
        raise ValidationError({"filters": _("unknown filter: %(names)s") % {"names": ", ".join(unknown)}})
    if unmasked and not acting_user.can_reveal:
        raise PermissionDenied(_("your role may not export full ID numbers and phones"))
    filters = {name: str(value or "").strip() for name, value in filters.items()}
    headers = [column.name if english else column.header for column in COLUMNS]
    with transaction.atomic():
        rows = _rows(_export_queryset(acting_user, filters), english=english, unmasked=unmasked)
        with closing(rows):
            count = WRITERS[fmt](out, headers, rows)
        audit.record(
            actor=acting_user,
            action="customer.export.unmasked" if unmasked else "customer.export",
            object_type=Customer._meta.label_lower,
            object_repr=f"{count} customers ({fmt})",
            changes={"rows": count, "format": fmt, "filters": _audited_filters(filters), "unmasked": unmasked},
        )
    return count


def export_filename(fmt: str) -> str:
    return f"customers-{timezone.localtime():%Y%m%d-%H%M}.{fmt}"


def export_response(
    *, acting_user: User, filters: dict[str, str], fmt: str, unmasked: bool = False, english: bool = False,
) -> FileResponse:
    """The export as a download, for the page and the API.

    The file is written completely into a SpooledTemporaryFile (memory up to 8 MB, then
    disk) before the first byte is sent: the audit entry is committed before any data
    leaves, an error is a clean error response instead of a truncated file, and no
    database transaction stays open while a slow client downloads.
    """
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_MAX_BYTES)  # FileResponse closes it
    try:
        customers_export(acting_user=acting_user, filters=filters, fmt=fmt, out=spool, unmasked=unmasked,
                         english=english)
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    return FileResponse(spool, as_attachment=True, filename=export_filename(fmt), content_type=CONTENT_TYPES[fmt])
