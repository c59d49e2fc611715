from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SiteConfig(AppConfig):
    """Site-wide operations that span every app: the demo bank and the production server."""

    name = "guanxi.site"
    label = "guanxi_site"
    verbose_name = _("Site")
