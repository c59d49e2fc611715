"""What the registration import and the balance feed share: column mapping, outcome, refusals."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.utils.translation import gettext as _

from guanxi.customers.importing.report import ErrorReport
from guanxi.customers.models import ImportRun


@dataclass
class ImportOutcome:
    """Counts and findings of one import, as the command, the page and the API report them."""

    run: ImportRun | None
    rows_read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    duplicates_merged: int = 0
    unknown_columns: list[str] = field(default_factory=list)
    missing_columns: list[str] = field(default_factory=list)
    error_report: Path | None = None
    first_errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.rejected == 0 and not self.missing_columns

    @property
    def taken(self) -> int:
        return self.created + self.updated + self.unchanged

    @property
    def extra_lines(self) -> list[str]:
        return []


def map_columns(header: list[str], known: dict[str, str], ignored: set[str],
                outcome: ImportOutcome) -> tuple[list[tuple[int, str]], dict[str, str]]:
    """(column index, field) pairs and each field's header as written; unknown headers go to the outcome."""
    mapping: list[tuple[int, str]] = []
    header_of: dict[str, str] = {}
    for index, title in enumerate(header):
        key = known.get(title) or known.get(title.lower())
        if key and key not in header_of:
            mapping.append((index, key))
            header_of[key] = title
        elif title and title not in ignored and title.lower() not in ignored:
            outcome.unknown_columns.append(title)
    return mapping, header_of


def rejector(outcome: ImportOutcome, report: ErrorReport) -> Callable[[int, list[str], str], None]:
    """Record a refused row: count it, write it to the report with its reason, keep the first few to print."""

    def reject(line: int, raw: list[str], reason: str) -> None:
        outcome.rejected += 1
        report.add(raw, _("line %(line)d: %(reason)s") % {"line": line, "reason": reason})
        if len(outcome.first_errors) < 20:
            outcome.first_errors.append(_("line %(line)d: %(reason)s") % {"line": line, "reason": reason})

    return reject
