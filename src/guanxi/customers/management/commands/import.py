from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from guanxi.core.services import orgunits_import, staff_import

IMPORTERS = {"orgunits": orgunits_import, "staff": staff_import}


class Command(BaseCommand):
    help = "Import a file: `guanxi import orgunits FILE` or `guanxi import staff FILE` (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("kind", choices=sorted(IMPORTERS))
        parser.add_argument("file", type=Path)

    def handle(self, *args, kind, file, **options):
        if not file.exists():
            raise CommandError(f"file: {file} does not exist")
        try:
            result = IMPORTERS[kind](acting_user=None, path=file)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        if result.errors:
            for error in result.errors:
                self.stderr.write(error)
            raise CommandError(f"{len(result.errors)} row(s) refused; nothing was imported")
        if result.changed == 0:
            self.stdout.write(f"Nothing changed: all {result.unchanged} row(s) already up to date.")
        else:
            self.stdout.write(
                f"{result.created} created, {result.updated} updated, {result.unchanged} unchanged."
            )
