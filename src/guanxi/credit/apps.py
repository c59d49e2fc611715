from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CreditConfig(AppConfig):
    name = "guanxi.credit"
    label = "credit"
    verbose_name = _("Credit rating and credit lines")
