"""Streaming readers for CSV (UTF-8, UTF-8 with BOM, GB18030) and XLSX files.

Memory does not grow with the file: rows are yielded one at a time, and the bytes read so
far are exposed for a progress bar.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _


class _CountingReader(io.RawIOBase):
    """Wraps a binary file and counts the bytes handed out (for progress and ETA)."""

    def __init__(self, raw):
        self.raw = raw
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.raw.read(len(buffer))
        buffer[: len(data)] = data
        self.count += len(data)
        return len(data)

    def close(self) -> None:
        self.raw.close()
        super().close()


def detect_encoding(path: Path) -> str:
    """UTF-8 (with or without BOM) or GB18030, as Excel in China writes it."""
    with path.open("rb") as handle:
        head = handle.read(1 << 20)
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    try:
        head.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the sample is still UTF-8.
        if exc.start >= len(head) - 3 and len(head) == 1 << 20:
            return "utf-8"
    try:
        head.decode("gb18030")
        return "gb18030"
    except UnicodeDecodeError:
        raise ValidationError(_("%(file)s is neither UTF-8 nor GB18030 text") % {"file": path.name}) from None


def _cell_text(value) -> str:
    """An XLSX cell as the text a clerk sees (numbers without a trailing .0)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        # Keep what Excel shows: a big number becomes 2.31102E+17 and will be refused as mangled.
        text = repr(value)
        return text.upper() if "e" in text else str(Decimal(text))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


@dataclass
class TabularFile:
    """Header and a row iterator over a CSV or XLSX file."""

    path: Path
    kind: str  # "csv" or "xlsx"
    encoding: str = ""
    header: list[str] = field(default_factory=list)
    total_bytes: int = 0
    total_rows: int | None = None
    _counter: _CountingReader | None = None
    _rows: Iterator[list[str]] | None = None
    _closers: list = field(default_factory=list)

    @property
    def bytes_read(self) -> int:
        return self._counter.count if self._counter else 0

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        """(line number as the clerk sees it, cell texts); blank rows are skipped."""
        assert self._rows is not None
        for number, row in enumerate(self._rows, start=2):
            if any(cell.strip() for cell in row):
                yield number, row

    def close(self) -> None:
        for closer in self._closers:
            closer()

    def csv_blocks(self, size: int = 1 << 19, *, taper: int = 0) -> Iterator[tuple[int, int]]:
        """(start, end) byte ranges of the CSV records after the header, each range holding whole records.

        For parsing a big file in several processes, each reading its own range: a record ends
        at a newline outside quotes, that is after an even number of quote characters since the
        previous cut (a doubled "" inside a quoted cell keeps the count even). Neither the quote
        nor the newline byte can occur inside a multi-byte character in UTF-8 or GB18030, so the
        cut is made on the bytes. `bytes_read` follows the ranges handed out.

        The last `taper` blocks' worth of the file comes in ranges a quarter of `size`: the
        processes working on the last ranges then finish close together, and what is left to do
        with their results after the last one finishes is small.
        """
        assert self.kind == "csv"
        small = max(size // 4, 1 << 12)
        with self.path.open("rb") as handle:
            start = self._header_end(handle)
            buffer = b""
            while True:
                want = size if self.total_bytes - start > taper * size else small
                chunk = handle.read(want - len(buffer) if len(buffer) < want else want)  # (a record longer than want)
                buffer += chunk
                cut = _record_cut(buffer) if chunk else len(buffer)
                if cut:
                    if self._counter is not None:
                        self._counter.count = start + cut
                    yield start, start + cut
                    start += cut
                    buffer = buffer[cut:]
                if not chunk:
                    return

    def _header_end(self, handle) -> int:
        """The byte offset just after the header record."""
        head = handle.read(3)
        offset = 3 if head == b"\xef\xbb\xbf" else 0
        handle.seek(offset)
        buffer = b""
        while True:
            chunk = handle.read(1 << 16)
            buffer += chunk
            cut = _record_cut(buffer, first=True)
            if cut or not chunk:
                handle.seek(offset + (cut or len(buffer)))
                return offset + (cut or len(buffer))


def _record_cut(data: bytes, *, first: bool = False) -> int:
    """The length of the longest (with `first`: shortest) prefix of `data` made of whole CSV records; 0 if none."""
    if first:
        position = data.find(b"\n")
        while position != -1:
            if data.count(b'"', 0, position) % 2 == 0:
                return position + 1
            position = data.find(b"\n", position + 1)
        return 0
    position = data.rfind(b"\n")
    while position != -1:
        if data.count(b'"', 0, position) % 2 == 0:
            return position + 1
        position = data.rfind(b"\n", 0, position)
    return 0


def open_tabular(path: Path) -> TabularFile:
    """Open a CSV or XLSX file by its suffix and read its header row."""
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        from openpyxl import load_workbook

        workbook = load_workbook(path, read_only=True, data_only=True)
        sheet = workbook.worksheets[0]
        iterator = sheet.iter_rows(values_only=True)
        tabular = TabularFile(path=path, kind="xlsx", total_bytes=path.stat().st_size)
        tabular._closers.append(workbook.close)
        try:
            first = next(iterator)
        except StopIteration:
            first = ()
        tabular.header = [_cell_text(v).strip() for v in first]
        width = len(tabular.header)
        if sheet.max_row:
            tabular.total_rows = max(sheet.max_row - 1, 0)
        tabular._rows = ([_cell_text(v) for v in (row + (None,) * (width - len(row)))[:max(width, len(row))]]
                         for row in iterator)
        return tabular
    if suffix in (".csv", ".txt", ""):
        encoding = detect_encoding(path)
        counter = _CountingReader(path.open("rb"))
        text = io.TextIOWrapper(io.BufferedReader(counter, 1 << 16), encoding=encoding, newline="")
        reader = csv.reader(text)
        tabular = TabularFile(path=path, kind="csv", encoding=encoding, total_bytes=path.stat().st_size,
                              _counter=counter)
        tabular._closers.append(text.close)
        tabular.header = [h.strip() for h in next(reader, [])]
        tabular._rows = reader
        return tabular
    raise ValidationError(_("%(file)s: only .csv and .xlsx files can be imported") % {"file": path.name})
