"""`guanxi segment`: recompute sub-markets, product classes and value tiers of every customer."""

from datetime import date

from django.core.management.base import BaseCommand, CommandError

from guanxi.core.models import User
from guanxi.core.roles import MarketLine


class Command(BaseCommand):
    help = ("Recompute every customer's sub-market, product classes and value tier (set-based), "
            "recording tier moves in the history.")

    def add_arguments(self, parser):
        parser.add_argument("--as", dest="as_user", default="", help="username of the staff member running it "
                            "(default: the system)")
        parser.add_argument("--market", choices=MarketLine.values, action="append", default=None,
                            help="only this market line (repeatable)")
        parser.add_argument("--as-of", dest="as_of", default="", help="balance date of the moves (YYYY-MM-DD, "
                            "default today)")

    def handle(self, *args, as_user, market, as_of, **options):
        from guanxi.segmentation.services import segments_recompute

        acting_user = None
        if as_user:
            acting_user = User.objects.filter(username=as_user, is_active=True).first()
            if acting_user is None:
                raise CommandError(f"--as: no active staff member {as_user!r}")
        day = None
        if as_of:
            try:
                day = date.fromisoformat(as_of)
            except ValueError:
                raise CommandError(f"--as-of: {as_of!r} is not a date (YYYY-MM-DD)") from None
        result = segments_recompute(acting_user=acting_user, as_of=day, markets=market)
        for line in market or MarketLine.values:
            self.stdout.write(f"{line}: {result.updated.get(line, 0)} customer(s) updated, "
                              f"{result.moved.get(line, 0)} tier move(s)")
        self.stdout.write(f"Done in {result.seconds:.2f} s.")
