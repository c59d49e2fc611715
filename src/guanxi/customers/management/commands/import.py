"""`guanxi import KIND FILE`: org units, staff, customer registration files, balance feeds."""

import sys
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from guanxi.core.models import User
from guanxi.core.services import orgunits_import, staff_import


class Command(BaseCommand):
    help = (
        "Import a file. orgunits (CSV code,name,kind,parent_code) and staff (CSV username,name,role,org_code) "
        "are idempotent; customers (registration CSV/XLSX) and balances (core-banking feed) upsert, report every "
        "refused row next to the input and exit 0 only when every row was taken."
    )
    # Django's system checks inspect the code, not the data: skipped here as by `generate`, they
    # cost most of a second of a big import's start (the server and `guanxi check` run them).
    requires_system_checks: list[str] = []

    def add_arguments(self, parser):
        parser.add_argument("kind", choices=["orgunits", "staff", "customers", "balances"])
        parser.add_argument("file", type=Path)
        parser.add_argument("--as", dest="as_user", default="", help="username of the staff member importing")
        parser.add_argument("--dry-run", action="store_true", help="validate only, write nothing")
        parser.add_argument("--errors", type=Path, default=None, help="where to write the error report")
        parser.add_argument("--batch-size", type=int, default=None,
                            help="rows per transaction (default: the importer's own)")
        parser.add_argument("--workers", type=int, default=None,
                            help="customers: validate in this many worker processes, 0 for none "
                                 "(default: one per CPU, at most 4, for files over a few megabytes)")
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, kind, file, as_user, dry_run, errors, batch_size, workers, no_progress, **options):
        if not file.exists():
            raise CommandError(f"file: {file} does not exist")
        acting_user = None
        if as_user:
            acting_user = User.objects.filter(username=as_user, is_active=True).first()
            if acting_user is None:
                raise CommandError(f"--as: no active staff member {as_user!r}")
        try:
            if kind in ("orgunits", "staff"):
                return self._simple(kind, file, acting_user)
            return self._bulk(kind, file, acting_user, dry_run, errors, batch_size, workers, no_progress)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc

    def _simple(self, kind, file, acting_user):
        result = (orgunits_import if kind == "orgunits" else staff_import)(acting_user=acting_user, path=file)
        if result.errors:
            for error in result.errors:
                self.stderr.write(error)
            raise CommandError(f"{len(result.errors)} row(s) refused; nothing was imported")
        if result.changed == 0:
            self.stdout.write(f"Nothing changed: all {result.unchanged} row(s) already up to date.")
        else:
            self.stdout.write(f"{result.created} created, {result.updated} updated, {result.unchanged} unchanged.")

    def _bulk(self, kind, file, acting_user, dry_run, errors, batch_size, workers, no_progress):
        from guanxi.customers.importing import balances, customers

        bar = None
        if not no_progress and sys.stderr.isatty():
            from tqdm import tqdm

            bar = tqdm(total=file.stat().st_size, unit="B", unit_scale=True, desc=file.name, file=sys.stderr)
            state = {"rows": 0, "bytes": 0}

            def progress(rows, done, total):
                bar.update(done - state["bytes"])
                state["bytes"], state["rows"] = done, rows
                elapsed = bar.format_dict["elapsed"] or 1e-9
                bar.set_postfix_str(f"{rows:,} rows, {rows / elapsed:,.0f} rows/s")

            def stage(text):
                bar.set_postfix_str(f"{state['rows']:,} rows, {text}")
        else:
            progress = stage = None
        importer = customers.customers_import if kind == "customers" else balances.balances_import
        try:
            sizing = {"batch_size": batch_size} if batch_size else {}
            if workers is not None:
                if kind != "customers":
                    raise CommandError("--workers: only the customers import validates in worker processes")
                sizing["workers"] = workers
            if kind == "customers":
                sizing["stage"] = stage
            outcome = importer(acting_user=acting_user, path=file, dry_run=dry_run, errors_path=errors,
                               progress=progress, **sizing)
        finally:
            if bar is not None:
                bar.close()
        if outcome.missing_columns:
            raise CommandError(f"{file.name} lacks the required column(s): {', '.join(outcome.missing_columns)}")
        for name in outcome.unknown_columns:
            self.stderr.write(f"unknown column {name!r}: not imported")
        for line in outcome.first_errors:
            self.stderr.write(line)
        if outcome.rejected > len(outcome.first_errors):
            self.stderr.write(f"… and {outcome.rejected - len(outcome.first_errors)} more")
        verb = "would be taken (dry run)" if dry_run else "taken"
        rate = outcome.rows_read / outcome.seconds if outcome.seconds else 0
        self.stdout.write(
            f"{outcome.rows_read} rows read in {outcome.seconds:.1f} s ({rate:,.0f} rows/s): "
            f"{outcome.taken} {verb} ({outcome.created} created, {outcome.updated} updated, "
            f"{outcome.unchanged} unchanged), {outcome.duplicates_merged} duplicate rows merged, "
            f"{outcome.rejected} refused."
        )
        for line in getattr(outcome, "extra_lines", []):
            self.stdout.write(line)
        if outcome.error_report:
            self.stdout.write(f"Refused rows with their reasons: {outcome.error_report}")
        if not outcome.ok:
            raise CommandError(f"{outcome.rejected} row(s) refused; see above", returncode=1)
