from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SiteConfig(AppConfig):
    """Site-wide operations that span every app: the demo bank and the production server."""

    name = "guanxi.site"
    label = "guanxi_site"
    verbose_name = _("Site")
    # What the audit log page calls this app's actions (`core.audit_display`).
    audit_actions = {
        "demo.load": _("load the demo bank"),
    }
