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
    # What the audit log page calls this app's actions (`core.audit_display`).
    audit_actions = {
        "customer.create": _("create a customer"),
        "customer.update": _("change a customer"),
        "customer.reveal": _("view in full"),
        "customer.member_add": _("add a household member"),
        "customer.merge": _("merge suspected duplicates"),
        "customer.merge_revert": _("undo a merge"),
        "customer.import_upload": _("upload an import file"),
        "customer.export": _("export customers"),
        "customer.export.unmasked": _("export customers unmasked"),
        "balances.import": _("import core-banking balances"),
    }
    audit_vocabularies = {
        "tier": "guanxi.customers.models.CustomerTier",
        "tiers": "guanxi.customers.models.CustomerTier",
        "customer_type": "guanxi.customers.models.CustomerType",
        "customer_types": "guanxi.customers.models.CustomerType",
        "guarantee_type": "guanxi.customers.models.GuaranteeType",
        "guarantees": "guanxi.customers.models.GuaranteeType",
    }

    def ready(self):
        post_migrate.connect(_ensure_name_search, sender=self, dispatch_uid="customers.ensure_name_search")
