from django.core.management.base import BaseCommand

from guanxi.site import demo, server


class Command(BaseCommand):
    help = "Migrate, load the demo bank (once), print the logins and serve it on http://127.0.0.1:8000."

    def add_arguments(self, parser):
        parser.add_argument("--no-serve", action="store_true", help="only migrate and load the demo data")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--customers", type=int, default=3000, help="number of demo customers (default 3000)")

    def handle(self, *args, no_serve, port, customers, **options):
        server.prepare()
        if demo.demo_loaded():
            self.stdout.write("The demo bank is already loaded.")
        else:
            counts = demo.load_demo(customers=customers)
            self.stdout.write(
                f"Loaded the demo bank: {counts['org_units']} org units, {counts['staff']} staff, "
                f"{counts['customers']} customers, {counts['members']} household members."
            )
        self.stdout.write(f"\nLogins (password for all: {demo.DEMO_PASSWORD}):")
        for username, name, role, org, _line in demo.NAMED_STAFF:
            self.stdout.write(f"  {username:<14} {name}  {role.label}  ({org})")
        if no_serve:
            return
        self.stdout.write(f"\nGuanxi demo on http://127.0.0.1:{port}/ (Ctrl-C to stop)")
        self.stdout.flush()
        server.serve(host="127.0.0.1", port=port)
