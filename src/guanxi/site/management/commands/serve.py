from django.core.management.base import BaseCommand

from guanxi.site import server


class Command(BaseCommand):
    help = "Migrate if needed and serve Guanxi with a production-grade server (what an operator starts)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--threads", type=int, default=8)
        parser.add_argument("--no-worker", action="store_true",
                            help="do not run background jobs in this process (run `guanxi worker` elsewhere)")

    def handle(self, *args, host, port, threads, no_worker, **options):
        server.prepare()
        self.stdout.write(f"Guanxi serving on http://{host}:{port}/ (Ctrl-C to stop)", ending="\n")
        self.stdout.flush()
        server.serve(host=host, port=port, threads=threads, with_worker=not no_worker)
