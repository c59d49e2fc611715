"""`guanxi export customers FILE --as USERNAME`: what that user may see, masked unless allowed."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from guanxi.core.models import User
from guanxi.customers.exports import FORMATS, customers_export

SUFFIXES = {f".{fmt}": fmt for fmt in FORMATS}


class Command(BaseCommand):
    @property
    def help(self) -> str:  # argparse wants a str, so translated when asked rather than lazily
        return _("Export the customers a user may see: `guanxi export customers FILE --as USERNAME` "
                 "(CSV or XLSX by the file's suffix; ID numbers and phones masked unless --unmasked).")

    def add_arguments(self, parser):
        parser.add_argument("kind", choices=["customers"])
        parser.add_argument("file", type=Path, metavar="FILE")
        parser.add_argument("--as", dest="username", required=True, metavar="USERNAME",
                            help=_("the staff member whose data scope, masking and audit entry apply"))
        parser.add_argument("--format", choices=FORMATS, help=_("default: by the suffix of FILE"))
        parser.add_argument("--unmasked", action="store_true",
                            help=_("full ID numbers and phones (only roles that may reveal them)"))
        parser.add_argument("--english", action="store_true",
                            help=_("English headers and codes, as the importer reads them"))
        parser.add_argument("--q", default="", help=_("search name, customer number, ID number, phone"))
        parser.add_argument("--customer-type", default="", help=_("person, company or farmer"))
        parser.add_argument("--status", default="", help=_("existing or prospect"))
        parser.add_argument("--org-code", default="", help=_("customers of this org unit"))
        parser.add_argument("--market", default="", help=_("agri, company or personal"))
        parser.add_argument("--owner", default="", help=_("customers owned by this username"))

    def handle(self, *args, file: Path, username: str, **options):
        user = User.objects.filter(username=username).select_related("org_unit").first()
        if user is None:
            raise CommandError(_("--as: no staff member is named %(username)s") % {"username": username})
        if not user.is_active:
            raise CommandError(_("--as: %(username)s is not an active staff member") % {"username": username})
        fmt = self._format(file, options["format"])
        if not file.parent.is_dir():
            raise CommandError(_("FILE: the directory %(directory)s does not exist") % {"directory": file.parent})
        filters = {
            "search": options["q"], "customer_type": options["customer_type"], "status": options["status"],
            "org_code": options["org_code"], "market": options["market"], "owner": options["owner"],
        }
        count = self._write(file, user=user, fmt=fmt, filters=filters, unmasked=options["unmasked"],
                            english=options["english"])
        self.stdout.write(ngettext("Exported %(count)d customer to %(file)s.",
                                   "Exported %(count)d customers to %(file)s.", count)
                          % {"count": count, "file": file})

    @staticmethod
    def _format(file: Path, given: str | None) -> str:
        by_suffix = SUFFIXES.get(file.suffix.lower())
        if given is None:
            if by_suffix is None:
                raise CommandError(_("FILE: %(file)s must end in .csv or .xlsx (or give --format)") % {"file": file})
            return by_suffix
        if by_suffix is not None and by_suffix != given:
            raise CommandError(_("--format %(format)s does not match the suffix of %(file)s")
                               % {"format": given, "file": file})
        return given

    @staticmethod
    def _write(file: Path, *, user: User, fmt: str, filters: dict[str, str], unmasked: bool, english: bool) -> int:
        # Written next to FILE and renamed into place only when complete, so a refused or failed
        # export leaves no partial file and never overwrites an existing one. The temporary file
        # is created private (0600) and keeps that mode: an export holds personal data.
        handle, temporary = tempfile.mkstemp(dir=file.parent, prefix=f".{file.name}.", suffix=".part")
        try:
            with os.fdopen(handle, "wb") as out:
                count = customers_export(acting_user=user, filters=filters, fmt=fmt, out=out, unmasked=unmasked,
                                         english=english)
            os.replace(temporary, file)
        except PermissionDenied as exc:
            raise CommandError(_("--unmasked: %(reason)s") % {"reason": exc}) from exc
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)
        return count
