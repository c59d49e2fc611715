from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "guanxi.core"
    label = "core"
    verbose_name = _("Core")

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from guanxi.core import dbfunctions

        connection_created.connect(dbfunctions.register, dispatch_uid="guanxi_sqlite_functions")
