"""Error reports: the refused rows in the input's own columns plus the reason, ready to fix and re-import."""

from __future__ import annotations

import csv
from pathlib import Path

REASON_HEADER = "错误原因"


class ErrorReport:
    """Writes refused rows as they come (streaming), CSV or XLSX by the report's suffix."""

    def __init__(self, path: Path, header: list[str]):
        self.path = path
        self.header = [*header, REASON_HEADER]
        self.count = 0
        self._csv = self._handle = self._book = self._sheet = None

    def _open(self) -> None:
        if self.path.suffix.lower() == ".xlsx":
            import xlsxwriter

            self._book = xlsxwriter.Workbook(str(self.path), {"constant_memory": True, "strings_to_numbers": False,
                                                              "strings_to_formulas": False, "strings_to_urls": False})
            self._sheet = self._book.add_worksheet("errors")
            for col, title in enumerate(self.header):
                self._sheet.write_string(0, col, title)
        else:
            self._handle = self.path.open("w", encoding="utf-8-sig", newline="")
            self._csv = csv.writer(self._handle)
            self._csv.writerow(self.header)

    def add(self, values: list[str], reason: str) -> None:
        if self._csv is None and self._sheet is None:
            self._open()
        row = [*values[: len(self.header) - 1], *[""] * max(0, len(self.header) - 1 - len(values)), reason]
        self.count += 1
        if self._sheet is not None:
            for col, value in enumerate(row):
                self._sheet.write_string(self.count, col, value)
        else:
            self._csv.writerow(row)

    def close(self) -> None:
        if self._book is not None:
            self._book.close()
        if self._handle is not None:
            self._handle.close()
        if self.count == 0 and self.path.exists() and self._book is None and self._handle is None:
            self.path.unlink()


def default_report_path(input_path: Path) -> Path:
    suffix = ".xlsx" if input_path.suffix.lower() in (".xlsx", ".xlsm") else ".csv"
    return input_path.with_name(f"{input_path.stem}.errors{suffix}")
