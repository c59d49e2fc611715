from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SegmentationConfig(AppConfig):
    name = "guanxi.segmentation"
    label = "segmentation"
    verbose_name = _("Segmentation")

    def ready(self) -> None:
        from guanxi.segmentation import receivers  # noqa: F401
