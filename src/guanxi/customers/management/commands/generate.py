"""`guanxi generate`: synthetic registration files and core-banking balance feeds.

    guanxi generate customers N --out FILE [--seed S] [--orgs CODE,CODE,…] [--encoding gb18030] [--english]
    guanxi generate balances --from FILE --out FILE [--date YYYY-MM-DD] [--seed S] [--share 0.9]
                             [--officers u1,u2,…]

The customer file is CSV (UTF-8 with BOM unless `--encoding gb18030`) or XLSX, by the suffix of
FILE, with the columns of DESIGN.md's "Customer fields" table. Every identifier in it is valid and
unique; the same seed, N and org codes give the same bytes (whatever `--jobs`). Rows are made in
chunks by worker processes and streamed to FILE, so memory does not grow with N.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import multiprocessing
import os
import random
import re
import secrets
import sys
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from datetime import date
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connections
from django.utils import timezone

from guanxi.customers.synthetic import CHUNK, HOUSEHOLD_COLUMN, MONEY_COLUMNS, CustomerFile

BALANCE_HEADER_ZH = ("证件号码", "日期", "存款余额", "贷款余额", "持有产品", "信贷员")
BALANCE_HEADER_EN = ("id_number", "as_of", "deposit_balance", "loan_balance", "products", "loan_officer")
ENCODINGS = {"utf-8": "utf-8-sig", "utf-8-sig": "utf-8-sig", "gb18030": "gb18030"}
_CODE_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_PROGRESS_EVERY = 50_000
_XLSX_MAX_ROWS = 1_048_575  # Excel's 1,048,576 rows less the header


# ---------------------------------------------------------------------------
# Argument types: each names what is wrong (argparse prefixes "argument NAME:")
# ---------------------------------------------------------------------------


def _count(text: str) -> int:
    try:
        value = int(text.replace("_", "").replace(",", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number of customers, not “{text}”") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, not “{text}”") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {value}")
    return value


def _jobs(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number of processes, not “{text}”") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _names(text: str) -> list[str]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise argparse.ArgumentTypeError("give at least one, separated by commas (e.g. B0101,C0102)")
    bad = [name for name in names if not _CODE_RE.match(name)]
    if bad:
        raise argparse.ArgumentTypeError(f"“{bad[0]}” is not a code (letters, digits, _ . - only)")
    return list(dict.fromkeys(names))


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a fraction between 0 and 1, not “{text}”") from None
    if not (0 < value <= 1):
        raise argparse.ArgumentTypeError(f"must be more than 0 and at most 1, not {text}")
    return value


def _day(text: str) -> date:
    try:
        if not _DATE_RE.match(text):
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"“{text}” is not a date in the form YYYY-MM-DD") from None


# ---------------------------------------------------------------------------
# Chunk production (in worker processes when there is more than one chunk)
# ---------------------------------------------------------------------------

_WORKER: dict = {}


def _worker_setup(seed: int, org_codes: tuple[str, ...], english: bool, n: int, encoding: str | None) -> None:
    """Build the generator once per process (a forked worker already has the parent's)."""
    if _WORKER.get("key", ())[:3] != (seed, org_codes, english):
        _WORKER["file"] = CustomerFile(seed, org_codes, english=english)
    _WORKER.update(key=(seed, org_codes, english, n, encoding), n=n, encoding=encoding)


def _worker_chunk(number: int) -> bytes | list[tuple[str, ...]]:
    """Chunk `number`: encoded CSV lines, or the rows themselves for XLSX (encoding None)."""
    rows = _WORKER["file"].chunk(number, _WORKER["n"])
    if _WORKER["encoding"] is None:
        return rows
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    # The header line carries the BOM of utf-8-sig; the chunks are plain UTF-8.
    codec = "utf-8" if _WORKER["encoding"] == "utf-8-sig" else _WORKER["encoding"]
    return buffer.getvalue().encode(codec)


def _produce(numbers: range, jobs: int) -> Iterator[bytes | list[tuple[str, ...]]]:
    """Chunks in order; with `jobs` > 1 a few at a time in a pool (bounded, so memory stays flat)."""
    if jobs <= 1 or len(numbers) <= 1:
        for number in numbers:
            yield _worker_chunk(number)
        return
    connections.close_all()  # never share a database connection with forked workers
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods and sys.platform != "darwin" else "spawn")
    key = _WORKER["key"]
    with context.Pool(jobs, initializer=_worker_setup, initargs=key) as pool:
        pending: deque = deque()
        todo = iter(numbers)
        for number in todo:
            pending.append(pool.apply_async(_worker_chunk, (number,)))
            if len(pending) >= jobs * 2:
                break
        while pending:
            result = pending.popleft().get()
            number = next(todo, None)
            if number is not None:
                pending.append(pool.apply_async(_worker_chunk, (number,)))
            yield result


# ---------------------------------------------------------------------------
# The command
# ---------------------------------------------------------------------------


class Command(BaseCommand):
    help = (
        "Write synthetic test data: `generate customers N --out FILE` (a registration file, CSV or XLSX) or "
        "`generate balances --from FILE --out FILE` (a core-banking daily balance feed for those customers)."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser):
        kinds = parser.add_subparsers(dest="what", required=True, metavar="{customers,balances}")
        customers = kinds.add_parser(
            "customers", help="a synthetic registration file (CSV or XLSX by the suffix of --out)",
            description="Write N synthetic customers with valid, unique ID numbers, credit codes and phones.")
        customers.add_argument("count", metavar="N", type=_count, help="number of customers")
        customers.add_argument("--out", required=True, type=Path, metavar="FILE", help="FILE.csv or FILE.xlsx")
        customers.add_argument("--seed", type=_seed, help="same seed, N and org codes: same file (default: random)")
        customers.add_argument("--orgs", type=_names, metavar="CODE,CODE,…",
                               help="org unit codes to spread customers over (default: the outlets in the database)")
        customers.add_argument("--encoding", choices=sorted(ENCODINGS),
                               help="CSV encoding: utf-8 (with BOM, the default) or gb18030")
        customers.add_argument("--english", action="store_true",
                               help="English header and codes (person, credit, existing) instead of Chinese")
        customers.add_argument("--jobs", type=_jobs, default=None,
                               help="worker processes (default: the number of CPUs; the output is the same)")

        balances = kinds.add_parser(
            "balances", help="a core-banking balance feed for the customers of a registration file",
            description="Write a daily balance feed (CSV) for a share of the customers of a registration file.")
        balances.add_argument("--from", dest="source", required=True, type=Path, metavar="FILE",
                              help="a registration file (CSV or XLSX) with a 证件号码 or id_number column")
        balances.add_argument("--out", required=True, type=Path, metavar="FILE", help="FILE.csv")
        balances.add_argument("--date", dest="as_of", type=_day, metavar="YYYY-MM-DD", help="as-of date (default: today)")
        balances.add_argument("--seed", type=_seed, help="same seed and input: same feed (default: random)")
        balances.add_argument("--share", type=_share, default=0.9, help="share of the customers in the feed")
        balances.add_argument("--officers", type=_names, metavar="USER,USER,…",
                              help="loan officers' usernames (default: the managers in the database, if any)")
        balances.add_argument("--encoding", choices=sorted(ENCODINGS), help="utf-8 (with BOM, default) or gb18030")
        balances.add_argument("--english", action="store_true", help="English header")

    def handle(self, *args, what, **options):
        started = time.perf_counter()
        if options.get("seed") is None:
            options["seed"] = secrets.randbelow(2**31)
        if what == "customers":
            self._customers(started=started, **options)
        else:
            self._balances(started=started, **options)

    # -- helpers -------------------------------------------------------------

    def _progress(self) -> Callable[[int, int | None, str], None]:
        tty = self.stderr.isatty()

        def show(done: int, total: int | None, noun: str) -> None:
            if tty:
                of = f" / {total:,}" if total else ""
                self.stderr.write(f"\r{done:,}{of} {noun}", ending="", style_func=str)
                self.stderr.flush()

        return show

    def _progress_end(self) -> None:
        if self.stderr.isatty():
            self.stderr.write("", style_func=str)

    @staticmethod
    def _check_out(path: Path, suffixes: tuple[str, ...]) -> str:
        suffix = path.suffix.lower()
        if suffix not in suffixes:
            allowed = " or ".join(suffixes)
            shown = f"“{path.suffix}”" if path.suffix else "no suffix"
            raise CommandError(f"--out: unknown file type ({shown} in {path}); use a file name ending in {allowed}")
        parent = path.parent if str(path.parent) else Path(".")
        if not parent.is_dir():
            raise CommandError(f"--out: the folder {parent} does not exist")
        if path.is_dir():
            raise CommandError(f"--out: {path} is a folder, not a file")
        return suffix

    @staticmethod
    def _temporary(path: Path) -> Path:
        return path.with_name(f".{path.name}.part")

    def _org_codes(self, given: list[str] | None) -> tuple[str, ...]:
        if given:
            return tuple(given)
        from guanxi.core.models import OrgUnit, OrgUnitKind

        advice = ("load the demo bank (`guanxi demo`) or import org units (`guanxi import orgunits FILE`) first, "
                  "or name the codes with --orgs CODE,CODE,…")
        try:
            codes = list(OrgUnit.objects.filter(kind__in=[OrgUnitKind.BRANCH, OrgUnitKind.COOP])
                         .order_by("code").values_list("code", flat=True))
            if not codes:
                codes = list(OrgUnit.objects.order_by("code").values_list("code", flat=True))
        except DatabaseError as exc:
            raise CommandError(f"--orgs: not given, and the database cannot be read ({exc}: is it set up? "
                               f"`guanxi migrate` does that); {advice}") from exc
        if not codes:
            raise CommandError(f"--orgs: not given, and the database has no org units; {advice}")
        return tuple(codes)

    # -- customers -------------------------------------------------------------

    def _customers(self, *, count: int, out: Path, seed: int, orgs, encoding, english: bool, jobs, started: float,
                   **_options) -> None:
        suffix = self._check_out(out, (".csv", ".xlsx"))
        if suffix == ".xlsx" and encoding:
            raise CommandError("--encoding: only for CSV files; an XLSX file has no text encoding to choose")
        if suffix == ".xlsx" and count > _XLSX_MAX_ROWS:
            raise CommandError(f"N: an XLSX sheet holds at most {_XLSX_MAX_ROWS:,} customers, not {count:,}; "
                               "write a .csv file instead")
        org_codes = self._org_codes(orgs)
        codec = None if suffix == ".xlsx" else ENCODINGS[encoding or "utf-8"]
        _worker_setup(seed, org_codes, english, count, codec)
        generator: CustomerFile = _WORKER["file"]
        if count > generator.capacity:
            raise CommandError(f"N: at most {generator.capacity:,} customers can be generated, not {count:,}")
        if jobs is None:
            jobs = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        jobs = min(jobs, len(generator.chunks(count)))
        chunks = _produce(generator.chunks(count), jobs)
        temporary = self._temporary(out)
        show = self._progress()
        try:
            if codec is None:
                self._write_xlsx(temporary, generator.header, chunks, count, show)
            else:
                self._write_csv(temporary, generator.header, codec, chunks, count, show)
            os.replace(temporary, out)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        finally:
            self._progress_end()
        seconds = time.perf_counter() - started
        self.stdout.write(f"Wrote {count:,} customers to {out} in {seconds:.1f} s "
                          f"(seed {seed}, {len(org_codes)} org unit(s)).")

    @staticmethod
    def _write_csv(path: Path, header, codec: str, chunks: Iterable[bytes], total: int, show) -> None:
        done = 0
        with open(path, "wb") as handle:
            buffer = io.StringIO()
            csv.writer(buffer).writerow(header)
            handle.write(buffer.getvalue().encode(codec))  # utf-8-sig puts the BOM first
            for data in chunks:
                handle.write(data)
                done = min(done + CHUNK, total)
                show(done, total, "customers")

    @staticmethod
    def _write_xlsx(path: Path, header, chunks: Iterable[list[tuple[str, ...]]], total: int, show) -> None:
        import xlsxwriter

        workbook = xlsxwriter.Workbook(str(path), {"constant_memory": True})
        try:
            sheet = workbook.add_worksheet("客户" if header[0] == "客户类型" else "customers")
            text = workbook.add_format({"num_format": "@"})
            money = workbook.add_format({"num_format": "#,##0.00"})
            bold = workbook.add_format({"bold": True})
            widths = (8, 28, 21, 13, 10, 8, 36, 14, 14, 14, 14, 14, 8, 8, 8)
            for column, width in enumerate(widths):
                sheet.set_column(column, column, width, money if column in MONEY_COLUMNS else text)
            sheet.freeze_panes(1, 0)
            for column, title in enumerate(header):
                sheet.write_string(0, column, title, bold)
            write_string, write_number = sheet.write_string, sheet.write_number
            texts = [c for c in range(len(header)) if c not in MONEY_COLUMNS and c != HOUSEHOLD_COLUMN]
            row_number = 0
            for rows in chunks:
                for row in rows:
                    row_number += 1
                    for column in texts:
                        if row[column]:
                            write_string(row_number, column, row[column], text)
                    for column in MONEY_COLUMNS:
                        if row[column]:
                            write_number(row_number, column, float(row[column]), money)
                    if row[HOUSEHOLD_COLUMN]:
                        write_number(row_number, HOUSEHOLD_COLUMN, int(row[HOUSEHOLD_COLUMN]))
                show(row_number, total, "customers")
        finally:
            workbook.close()

    # -- balances --------------------------------------------------------------

    def _balances(self, *, source: Path, out: Path, seed: int, as_of: date | None, share: float, officers,
                  encoding, english: bool, started: float, **_options) -> None:
        if not source.is_file():
            raise CommandError(f"--from: {source} does not exist" if not source.exists()
                               else f"--from: {source} is not a file")
        if source.suffix.lower() not in (".csv", ".xlsx"):
            raise CommandError(f"--from: unknown file type (“{source.suffix}” in {source}); "
                               "give a registration file ending in .csv or .xlsx")
        self._check_out(out, (".csv",))
        if out.resolve() == source.resolve():
            raise CommandError("--out: must not be the --from file")
        day = (as_of or timezone.localdate()).isoformat()
        officers = officers if officers is not None else self._managers()
        codec = ENCODINGS[encoding or "utf-8"]
        rnd = random.Random(f"guanxi-balances/{seed}")  # noqa: S311 - synthetic data
        rows = self._registration_rows(source)
        temporary = self._temporary(out)
        show = self._progress()
        written = read = 0
        try:
            with open(temporary, "w", encoding=codec, newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(BALANCE_HEADER_EN if english else BALANCE_HEADER_ZH)
                for id_number, deposit, loan in rows:
                    read += 1
                    if rnd.random() >= share:
                        continue
                    writer.writerow(_feed_row(rnd, id_number, day, deposit, loan, officers))
                    written += 1
                    if written % _PROGRESS_EVERY == 0:
                        show(written, None, "balance rows")
            os.replace(temporary, out)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        finally:
            self._progress_end()
        seconds = time.perf_counter() - started
        self.stdout.write(f"Wrote {written:,} balance rows (of {read:,} customers, as of {day}) to {out} "
                          f"in {seconds:.1f} s (seed {seed}).")

    @staticmethod
    def _managers() -> list[str]:
        from guanxi.core.models import User
        from guanxi.core.roles import Role

        try:
            return list(User.objects.filter(role=Role.MANAGER, is_active=True)
                        .order_by("username").values_list("username", flat=True))
        except DatabaseError:
            return []

    def _registration_rows(self, source: Path) -> Iterator[tuple[str, float, float]]:
        """(ID number, deposit, loan) of each row, streamed; the header is checked first."""
        if source.suffix.lower() == ".xlsx":
            records = _xlsx_records(source)
        else:
            records = _csv_records(source)
        header = next(records, None)
        if header is None:
            raise CommandError(f"--from: {source} is empty")
        names = [str(cell or "").strip().lstrip("\ufeff").lower() for cell in header]

        def find(*candidates: str) -> int | None:
            for candidate in candidates:
                if candidate in names:
                    return names.index(candidate)
            return None

        id_column = find("证件号码", "id_number")
        if id_column is None:
            shown = ",".join(names[:8]) + ("…" if len(names) > 8 else "")
            raise CommandError(f"--from: {source} has no 证件号码 (id_number) column; its header is: {shown}")
        deposit_column, loan_column = find("存款余额", "deposit_balance"), find("贷款余额", "loan_balance")

        def rows() -> Iterator[tuple[str, float, float]]:
            for cells in records:
                try:
                    id_number = cells[id_column]
                except IndexError:
                    continue
                id_number = str(id_number).strip() if id_number is not None else ""
                if id_number:
                    yield id_number, _amount(cells, deposit_column), _amount(cells, loan_column)

        return rows()


def _amount(cells, column: int | None) -> float:
    """A balance from a cell: a number, or text such as "1,234.50" or "¥1234"; anything else is 0."""
    if column is None:
        return 0.0
    try:
        value = float(cells[column] or 0)
    except IndexError:
        return 0.0
    except (TypeError, ValueError):
        text = str(cells[column]).replace(",", "").replace("，", "").replace("¥", "").replace("￥", "")
        try:
            value = float(text.removesuffix("元").strip() or 0)
        except ValueError:
            return 0.0
    return value if value > 0 and math.isfinite(value) else 0.0


def _csv_records(path: Path) -> Iterator[list[str]]:
    with open(path, "rb") as handle:
        head = handle.read(1 << 16)
    if head.startswith(b"\xef\xbb\xbf"):
        codec = "utf-8-sig"
    else:
        try:
            head.decode("utf-8")
            codec = "utf-8"
        except UnicodeDecodeError as exc:
            # A multi-byte character cut at the end of the sample is still UTF-8.
            codec = "utf-8" if exc.start >= len(head) - 3 else "gb18030"
    with open(path, encoding=codec, newline="") as handle:
        yield from csv.reader(handle)


def _xlsx_records(path: Path) -> Iterator[tuple]:
    import openpyxl

    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:
        raise CommandError(f"--from: {path} cannot be read as an XLSX file ({exc})") from exc
    try:
        yield from workbook.worksheets[0].iter_rows(values_only=True)
    finally:
        workbook.close()


def _feed_row(rnd: random.Random, id_number: str, as_of: str, deposit: float, loan: float,
              officers: list[str]) -> tuple[str, ...]:
    """One customer's line of the feed: balances drift up to ±30 % from the registration; now and
    then a deposit is opened, a loan granted or paid off, so a recompute moves some customers."""
    r = rnd.random
    if deposit > 0:
        deposit *= 0.7 + 0.6 * r()
    elif r() < 0.05:
        deposit = 2_000 * math.exp(1.2 * rnd.gauss(0, 1))
    if loan > 0:
        loan = 0.0 if r() < 0.04 else loan * (0.7 + 0.6 * r())
    elif r() < 0.03:
        loan = 50_000 * math.exp(0.8 * rnd.gauss(0, 1))
    deposit, loan = round(deposit, 2), round(loan, 2)
    products = []
    if deposit > 0:
        products.append("DEP")
    if loan > 0:
        products.append("LOAN")
    if deposit > 0 and r() < 0.7:
        products.append("CARD")
    if products and r() < 0.5:
        products.append("EBANK")
    if (deposit >= 200_000 and r() < 0.4) or (deposit >= 50_000 and r() < 0.1):
        products.append("WM")
    if deposit > 0 and r() < 0.08:
        products.append("INS")
    officer = ""
    if loan > 0 and officers and r() < 0.95:
        # The same customer keeps the same officer from one day's feed to the next.
        officer = officers[zlib.crc32(id_number.encode()) % len(officers)]
    return id_number, as_of, f"{deposit:.2f}", f"{loan:.2f}", ";".join(products), officer
