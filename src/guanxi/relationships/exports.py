"""The follow-up tracking report (跟踪问效) as an XLSX file: the same numbers as the page and the API."""

from __future__ import annotations

import io

import xlsxwriter
from django.utils.translation import gettext as _

from guanxi.relationships.tracking import Figures, TrackingReport


def figure_headers(stale_days: int) -> list[str]:
    """Column titles of the figures, in the order of `figure_values` (shared with the page)."""
    return [_("Customers owned"), _("Deposits now"), _("Deposits at start"), _("Deposit change"), _("Loans now"),
            _("Loans at start"), _("Loan change"), _("Contacts made"), _("Customers contacted"), _("Entries worked"),
            _("Not contacted for %(days)d days") % {"days": stale_days}]


def figure_values(figures: Figures) -> list:
    return [figures.customers, figures.deposit_now, figures.deposit_start, figures.deposit_change, figures.loan_now,
            figures.loan_start, figures.loan_change, figures.contacts, figures.customers_contacted,
            figures.entries_worked, figures.stale_customers]


MONEY_COLUMNS = frozenset({1, 2, 3, 4, 5, 6})


def tracking_xlsx(report: TrackingReport) -> bytes:
    """A sheet per owner and, when the report has it, a sheet per org unit; a total row on each."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    title = book.add_format({"bold": True, "font_size": 14})
    head = book.add_format({"bold": True, "border": 1, "align": "center", "valign": "vcenter", "text_wrap": True,
                            "bg_color": "#EEEEEE"})
    text = book.add_format({"border": 1})
    bold = book.add_format({"border": 1, "bold": True})
    count = book.add_format({"border": 1, "num_format": "#,##0"})
    money = book.add_format({"border": 1, "num_format": "#,##0.00"})
    period = report.period
    subtitle = _("Period %(start)s to %(end)s; amounts in yuan") % {"start": period.start.isoformat(),
                                                                   "end": period.end.isoformat()}

    def write_figures(sheet, row: int, first_col: int, figures: Figures) -> None:
        for offset, value in enumerate(figure_values(figures)):
            if offset in MONEY_COLUMNS:
                # Numbers for the spreadsheet; the exact values are the Decimal strings of the page and the API.
                sheet.write_number(row, first_col + offset, float(value), money)
            else:
                sheet.write_number(row, first_col + offset, value, count)

    def sheet_of(name: str, heading: str, keys: list[str]):
        sheet = book.add_worksheet(name)
        sheet.write(0, 0, heading, title)
        sheet.write(1, 0, subtitle)
        for col, label in enumerate([*keys, *figure_headers(period.stale_days)]):
            sheet.write(3, col, label, head)
        sheet.set_row(3, 32)
        sheet.set_column(0, len(keys) - 1, 14)
        sheet.set_column(len(keys), len(keys) + 10, 13)
        return sheet

    sheet = sheet_of(_("By owner"), _("Follow-up tracking by owner"), [_("Owner"), _("Username"), _("Org unit")])
    row = 4
    for line in report.owners:
        sheet.write(row, 0, line.owner.display_name, text)
        sheet.write(row, 1, line.owner.username, text)
        sheet.write(row, 2, line.org_unit.name if line.org_unit else "", text)
        write_figures(sheet, row, 3, line.figures)
        row += 1
    sheet.merge_range(row, 0, row, 2, _("Total"), bold)
    write_figures(sheet, row, 3, report.total)

    if report.org_units:
        sheet = sheet_of(_("By org unit"), _("Follow-up tracking by org unit"),
                         [_("Org unit"), _("Code"), _("Owners")])
        row = 4
        for line in report.org_units:
            sheet.write(row, 0, line.org_unit.name if line.org_unit else "—", text)
            sheet.write(row, 1, line.org_unit.code if line.org_unit else "", text)
            sheet.write_number(row, 2, line.owners, count)
            write_figures(sheet, row, 3, line.figures)
            row += 1
        sheet.merge_range(row, 0, row, 1, _("Total"), bold)
        sheet.write_number(row, 2, len(report.owners), count)
        write_figures(sheet, row, 3, report.total)
    book.close()
    return buffer.getvalue()
