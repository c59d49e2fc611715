"""`guanxi rate [--campaign X | --org CODE] [--customer-type T] [--as USERNAME]`: assess a whole population at once."""

from __future__ import annotations

import sys

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from guanxi.core.models import OrgUnit, User
from guanxi.customers.models import CustomerType


class Command(BaseCommand):
    @property
    def help(self) -> str:
        return _("Assess every existing customer (of an org unit's subtree, of one type) — or the target population "
                 "of a rating campaign — with the scorecard in force; report the counts by grade and how many lack "
                 "inputs. Without --as the system runs it.")

    def add_arguments(self, parser):
        parser.add_argument("--org", metavar="CODE", default="", help=_("only customers of this org unit's subtree"))
        parser.add_argument("--campaign", metavar="X", default="",
                            help=_("the target population of this rating campaign (its number or name)"))
        parser.add_argument("--customer-type", dest="customer_type", choices=CustomerType.values, default=None,
                            help=_("only customers of this type"))
        parser.add_argument("--as", dest="username", default="", metavar="USERNAME",
                            help=_("the staff member whose scope and audit entry apply"))
        parser.add_argument("--no-progress", action="store_true", help=_("no progress bar"))

    def handle(self, *args, **options):
        from guanxi.credit.services import assessments_run_batch

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
        campaign = None
        if options["campaign"]:
            from guanxi.credit.models import RatingCampaign

            key = options["campaign"]
            campaigns = RatingCampaign.objects.filter(pk=int(key)) if key.isdigit() else \
                RatingCampaign.objects.filter(name=key)
            campaign = campaigns.first()
            if campaign is None:
                raise CommandError(_("--campaign: no rating campaign is %(campaign)s") % {"campaign": key})
        bar = None
        progress = None
        if not options["no_progress"] and sys.stderr.isatty():
            from tqdm import tqdm

            bar = tqdm(total=0, unit="chunk", desc=_("rating"), file=sys.stderr)

            def progress(done: int, total: int, customers: int) -> None:
                bar.total = total
                bar.update(done - bar.n)
                elapsed = bar.format_dict["elapsed"] or 1e-9
                bar.set_postfix_str(f"{customers:,} customers, {customers / elapsed:,.0f}/s")
        try:
            result = assessments_run_batch(acting_user=user, org_unit=org_unit, campaign=campaign,
                                           customer_type=options["customer_type"], progress=progress)
        except (PermissionDenied, ValidationError) as exc:
            raise CommandError("; ".join(getattr(exc, "messages", [str(exc)]))) from exc
        finally:
            if bar is not None:
                bar.close()
        for grade, count in sorted(result.by_grade.items()):
            self.stdout.write(_("%(grade)s: %(count)d") % {"grade": grade, "count": count})
        self.stdout.write(_("lacking inputs: %(count)d") % {"count": result.incomplete})
        self.stdout.write(_("%(count)d customers assessed in %(seconds).1f s (%(rate)d per second).") % {
            "count": result.assessed, "seconds": result.seconds,
            "rate": int(result.assessed / result.seconds) if result.seconds else 0})
