from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run background-job workers alone (with GUANXI_REDIS_URL, on as many machines as needed)."

    def add_arguments(self, parser):
        parser.add_argument("--workers", type=int, default=None)

    def handle(self, *args, workers, **options):
        arguments = ["run_huey"]
        if workers:
            arguments += ["--workers", str(workers)]
        call_command(*arguments)
