from django.core.management.base import BaseCommand, CommandError

from guanxi.core.models import User
from guanxi.core.services import token_create


class Command(BaseCommand):
    help = "API tokens: `guanxi token create USERNAME` prints a new Bearer token (only its hash is stored)."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["create"])
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="a label for the token")

    def handle(self, *args, action, username, name, **options):
        user = User.objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"username: no active staff member {username!r}")
        self.stdout.write(token_create(acting_user=None, user=user, name=name))
