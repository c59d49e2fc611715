from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


def _ensure_name_search(sender, using="default", **kwargs):
    from guanxi.customers.search import ensure_fts

    ensure_fts(using)


class CustomersConfig(AppConfig):
    name = "guanxi.customers"
    label = "customers"
    verbose_name = _("Customers")

    def ready(self):
        post_migrate.connect(_ensure_name_search, sender=self, dispatch_uid="customers.ensure_name_search")
