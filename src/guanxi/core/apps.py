from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "guanxi.core"
    label = "core"
    verbose_name = _("Core")
    # What the audit log page calls this app's actions (`core.audit_display`).
    audit_actions = {
        "orgunit.create": _("create an org unit"),
        "orgunit.update": _("change an org unit"),
        "user.create": _("create a staff account"),
        "user.update": _("change a staff account"),
        "user.role_change": _("change a staff member's role"),
        "user.activate": _("enable a staff account"),
        "user.deactivate": _("disable a staff account"),
        "user.password_set": _("set a password"),
        "token.create": _("create an API token"),
    }
    audit_vocabularies = {
        "market": "guanxi.core.roles.MarketLine",
        "markets": "guanxi.core.roles.MarketLine",
        "market_line": "guanxi.core.roles.MarketLine",
    }

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from guanxi.core import dbfunctions

        connection_created.connect(dbfunctions.register, dispatch_uid="guanxi_sqlite_functions")
