"""`guanxi assign [--all] [--org CODE] [--dry-run] [--as USERNAME]`: run the assignment rules."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from guanxi.core.models import OrgUnit, User
from guanxi.relationships.services import assignment_rules_run


class Command(BaseCommand):
    @property
    def help(self) -> str:
        return _("Give every customer an owner by the active assignment rules (unassigned customers only unless "
                 "--all). Without --as the system itself is the acting user.")

    def add_arguments(self, parser):
        parser.add_argument("--all", action="store_true", help=_("re-run the rules over every customer of the scope"))
        parser.add_argument("--org", metavar="CODE", default="", help=_("only customers of this org unit's subtree"))
        parser.add_argument("--dry-run", action="store_true", help=_("show what would change, change nothing"))
        parser.add_argument("--as", dest="username", default="", metavar="USERNAME",
                            help=_("the staff member whose scope and audit entry apply"))

    def handle(self, *args, **options):
        user = None
        if options["username"]:
            user = User.objects.filter(username=options["username"]).select_related("org_unit").first()
            if user is None or not user.is_active:
                raise CommandError(_("--as: no active staff member is named %(username)s")
                                   % {"username": options["username"]})
        org_unit = None
        if options["org"]:
            org_unit = OrgUnit.objects.filter(code=options["org"]).first()
            if org_unit is None:
                raise CommandError(_("--org: no org unit has the code %(code)s") % {"code": options["org"]})
        try:
            summary = assignment_rules_run(acting_user=user, scope="all" if options["all"] else "unassigned",
                                           org_unit=org_unit, dry_run=options["dry_run"])
        except (PermissionDenied, ValidationError) as exc:
            raise CommandError("; ".join(getattr(exc, "messages", [str(exc)]))) from exc
        for name, count in summary.per_rule.items():
            self.stdout.write(_("%(rule)s: %(count)d") % {"rule": name, "count": count})
        message = _("Dry run: %(changed)d would change, %(unchanged)d unchanged, %(unmatched)d without a matching rule."
                    ) if summary.dry_run else _(
            "%(changed)d assigned, %(unchanged)d unchanged, %(unmatched)d without a matching rule.")
        self.stdout.write(message % {"changed": summary.changed, "unchanged": summary.unchanged,
                                     "unmatched": summary.unmatched})
