"""XLSX downloads: the statistics table (附件1/附件2) laid out like the paper form; a target list's progress."""

from __future__ import annotations

import io

import xlsxwriter
from django.utils.translation import gettext as _

from guanxi.segmentation.models import EntryStatus, TargetList
from guanxi.segmentation.selectors import Progress, SegmentTable, tier_labels


def segment_table_xlsx(table: SegmentTable, *, today) -> bytes:
    """Title, org unit and date, then the grid: a row per market line, per tier count/deposit/loan."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = book.add_worksheet(_("Attachment %(n)d") % {"n": table.form_number})
    title = book.add_format({"bold": True, "font_size": 16, "align": "center", "valign": "vcenter"})
    head = book.add_format({"bold": True, "border": 1, "align": "center", "valign": "vcenter", "text_wrap": True,
                            "bg_color": "#EEEEEE"})
    text = book.add_format({"border": 1})
    bold = book.add_format({"border": 1, "bold": True})
    count = book.add_format({"border": 1, "num_format": "#,##0"})
    money = book.add_format({"border": 1, "num_format": "#,##0.00"})
    tiers = tier_labels()
    width = 1 + 3 * len(tiers)
    sheet.merge_range(0, 0, 0, width - 1, _("Attachment %(n)d: %(title)s") % {"n": table.form_number,
                                                                             "title": table.title}, title)
    sheet.write(1, 0, _("Org unit: %(unit)s") % {"unit": table.org_unit.name})
    sheet.write(1, width - 4, _("Date: %(date)s") % {"date": today.isoformat()})
    sheet.write(2, width - 4, _("Amounts in yuan"))
    sheet.merge_range(3, 0, 4, 0, _("Market line"), head)
    for index, (_code, label) in enumerate(tiers):
        col = 1 + 3 * index
        sheet.merge_range(3, col, 3, col + 2, str(label), head)
        sheet.write(4, col, _("Customers"), head)
        sheet.write(4, col + 1, _("Deposit balance"), head)
        sheet.write(4, col + 2, _("Loan balance"), head)
    for offset, (market, label, cells) in enumerate(table.rows):
        row = 5 + offset
        sheet.write(row, 0, str(label), bold if not market else text)
        for index, cell in enumerate(cells):
            col = 1 + 3 * index
            sheet.write_number(row, col, cell.count, count)
            # Written as numbers for the spreadsheet; the exact values are the Decimal strings on the page/API.
            sheet.write_number(row, col + 1, float(cell.deposit), money)
            sheet.write_number(row, col + 2, float(cell.loan), money)
    sheet.set_column(0, 0, 16)
    sheet.set_column(1, width - 1, 14)
    sheet.write(6 + len(table.rows), 0, _("High-end: deposit ≥ the line's high threshold or loan ≥ its high "
                                          "threshold; mid-range: likewise with the mid thresholds; else general."))
    book.close()
    return buffer.getvalue()


def target_list_progress_xlsx(target_list: TargetList, total: Progress, per_owner: list[Progress], *, today) -> bytes:
    """A list's progress: a row per owner (entries by status, shares contacted and won, overdue), then the total."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = book.add_worksheet(_("Progress"))
    title = book.add_format({"bold": True, "font_size": 14})
    head = book.add_format({"bold": True, "border": 1, "align": "center", "valign": "vcenter", "text_wrap": True,
                            "bg_color": "#EEEEEE"})
    text = book.add_format({"border": 1})
    bold = book.add_format({"border": 1, "bold": True})
    count = book.add_format({"border": 1, "num_format": "#,##0"})
    share = book.add_format({"border": 1, "num_format": "0.0%"})
    statuses = list(EntryStatus.choices)
    columns = [_("Owner"), _("Entries"), *[str(label) for _code, label in statuses], _("Contact rate"), _("Success rate"),
               _("Overdue next steps")]
    sheet.write(0, 0, _("Target list: %(name)s") % {"name": target_list.name}, title)
    sheet.write(1, 0, _("Org unit: %(unit)s") % {"unit": target_list.org_unit.name})
    sheet.write(1, 3, _("Date: %(date)s") % {"date": today.isoformat()})
    if target_list.due_on:
        sheet.write(1, 6, _("Due date: %(date)s") % {"date": target_list.due_on.isoformat()})
    for col, label in enumerate(columns):
        sheet.write(3, col, label, head)
    for offset, progress in enumerate([*per_owner, total]):
        row = 4 + offset
        is_total = progress is total
        owner = _("Total") if is_total else (progress.owner.display_name if progress.owner else "—")
        sheet.write(row, 0, owner, bold if is_total else text)
        sheet.write_number(row, 1, progress.total, count)
        for index, (code, _label) in enumerate(statuses):
            sheet.write_number(row, 2 + index, progress.counts[code], count)
        col = 2 + len(statuses)
        sheet.write_number(row, col, progress.contacted / progress.total if progress.total else 0, share)
        sheet.write_number(row, col + 1, progress.won / progress.total if progress.total else 0, share)
        sheet.write_number(row, col + 2, progress.overdue, count)
    sheet.set_column(0, 0, 16)
    sheet.set_column(1, len(columns) - 1, 11)
    sheet.write(6 + len(per_owner), 0, _("Contact rate: share of entries past the first status. Overdue: next step "
                                         "dated before today on an entry neither won nor given up."))
    book.close()
    return buffer.getvalue()
