from django.core.management.base import BaseCommand

from guanxi.site import server


class Command(BaseCommand):
    help = "Migrate if needed and serve Guanxi with a production-grade server (what an operator starts)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--threads", type=int, default=8)

    def handle(self, *args, host, port, threads, **options):
        server.prepare()
        self.stdout.write(f"Guanxi serving on http://{host}:{port}/ (Ctrl-C to stop)")
        server.serve(host=host, port=port, threads=threads)
