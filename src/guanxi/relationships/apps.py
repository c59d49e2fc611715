from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RelationshipsConfig(AppConfig):
    name = "guanxi.relationships"
    label = "relationships"
    verbose_name = _("Relationships")

    def ready(self) -> None:
        from guanxi.relationships import receivers  # noqa: F401
