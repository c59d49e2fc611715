"""`guanxi territories route [--as USERNAME]`: route the prospects living in territories (划片包干)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from guanxi.core.models import User


class Command(BaseCommand):
    @property
    def help(self) -> str:
        return _("Route every prospect living in a territory to the territory's org unit, and give those without "
                 "an owner a member of the territory's team. Without --as the system itself is the acting user.")

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["route"])
        parser.add_argument("--as", dest="username", default="", metavar="USERNAME",
                            help=_("the staff member whose scope and audit entry apply"))

    def handle(self, *args, **options):
        from guanxi.segmentation.services.territories import territory_route

        user = None
        if options["username"]:
            user = User.objects.filter(username=options["username"]).select_related("org_unit").first()
            if user is None or not user.is_active:
                raise CommandError(_("--as: no active staff member is named %(username)s")
                                   % {"username": options["username"]})
        try:
            result = territory_route(user=user)
        except PermissionDenied as exc:
            raise CommandError(str(exc)) from exc
        for row in result.territories:
            self.stdout.write(_("%(territory)s (%(unit)s): %(routed)d routed, %(assigned)d given an owner")
                              % {"territory": row.name, "unit": row.org_code, "routed": row.routed,
                                 "assigned": row.assigned})
        self.stdout.write(_("%(routed)d prospects routed, %(assigned)d given an owner.")
                          % {"routed": result.routed, "assigned": result.assigned})
