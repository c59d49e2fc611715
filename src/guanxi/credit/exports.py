"""XLSX downloads of credit: a rating campaign's progress per org unit against the 100% goal."""

from __future__ import annotations

import io
from datetime import date

import xlsxwriter
from django.utils.translation import gettext as _

from guanxi.credit.selectors import CampaignProgress, Coverage


def campaign_progress_xlsx(progress: CampaignProgress, *, today: date) -> bytes:
    """Title, period and population, then a row per org unit and the total: the population, how many are
    collected, rated and have a line approved (each with its share of the population), credit households."""
    campaign = progress.campaign
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
    columns = [_("Org unit"), _("Target population"), _("Collected"), _("Collected share"), _("Rated"),
               _("Rated share"), _("Line approved"), _("Approved share"), _("Farmer households"),
               _("Credit households"), _("Credit household share")]
    sheet.write(0, 0, _("Rating campaign: %(name)s") % {"name": campaign.name}, title)
    sheet.write(1, 0, _("Period: %(start)s – %(end)s") % {"start": campaign.starts_on.isoformat(),
                                                          "end": campaign.ends_on.isoformat()})
    sheet.write(1, 4, _("Date: %(date)s") % {"date": today.isoformat()})
    sheet.write(1, 7, _("Goal: 100%"))
    if campaign.is_village:
        status = _("credit village") if progress.credit_village else _("not yet a credit village")
        sheet.write(2, 0, _("Village: %(village)s (%(status)s)") % {"village": campaign.village, "status": status})
    for col, label in enumerate(columns):
        sheet.write(3, col, label, head)

    def write(row: int, coverage: Coverage, label: str, label_format) -> None:
        sheet.write(row, 0, label, label_format)
        values = [(coverage.population, count), (coverage.collected, count), (coverage.collected_share, share),
                  (coverage.rated, count), (coverage.rated_share, share), (coverage.approved, count),
                  (coverage.approved_share, share), (coverage.farmers, count), (coverage.credit_households, count),
                  (coverage.credit_household_share, share)]
        for col, (value, cell_format) in enumerate(values, 1):
            if value is None:
                sheet.write_blank(row, col, None, cell_format)
            else:
                sheet.write_number(row, col, value, cell_format)

    for offset, coverage in enumerate(progress.rows):
        write(4 + offset, coverage, coverage.org_unit.name if coverage.org_unit else "", text)
    write(4 + len(progress.rows), progress.total, _("Total"), bold)
    sheet.set_column(0, 0, 18)
    sheet.set_column(1, len(columns) - 1, 12)
    sheet.write(6 + len(progress.rows), 0, _("Collected: the model could score the customer during the campaign; "
                                             "rated: a person confirmed the grade; line approved: a line calculated "
                                             "during the campaign was approved."))
    book.close()
    return buffer.getvalue()
