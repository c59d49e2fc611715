from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SegmentationConfig(AppConfig):
    name = "guanxi.segmentation"
    label = "segmentation"
    verbose_name = _("Segmentation")
    # What the audit log page calls this app's actions (`core.audit_display`).
    audit_actions = {
        "customer.route": _("move a customer to its territory's branch"),
        "segments.recompute": _("recompute segments and tiers"),
        "segments.rule_create": _("create a sub-market rule"),
        "segments.rule_update": _("change a sub-market rule"),
        "segments.rule_delete": _("delete a sub-market rule"),
        "segments.threshold_update": _("change the tier thresholds"),
        "segments.territory_create": _("create a territory"),
        "segments.territory_update": _("change a territory"),
        "segments.territory_delete": _("delete a territory"),
        "segments.territory_route": _("route customers by territory"),
        "segments.target_list_create": _("create a target list"),
        "segments.target_list_update": _("change a target list"),
        "segments.target_list_build": _("build a target list"),
        "segments.target_list_upload": _("upload a target list"),
        "segments.target_list_reassign": _("reassign target list entries"),
        "segments.target_list_entry_update": _("update a target list entry"),
    }
    audit_keys = {
        "added": _("added"),
        "already": _("already on the list"),
        "assigned": _("assigned"),
        "default_owner": _("default owner"),
        "keywords": _("keywords"),
        "rejected": _("rejected"),
        "routed": _("routed"),
        "territories": _("territories"),
        "without_owner": _("without an owner"),
    }

    def ready(self) -> None:
        from guanxi.segmentation import receivers  # noqa: F401
