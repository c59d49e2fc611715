from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RelationshipsConfig(AppConfig):
    name = "guanxi.relationships"
    label = "relationships"
    verbose_name = _("Relationships")
    # What the audit log page calls this app's actions (`core.audit_display`).
    audit_actions = {
        "assignment.set": _("assign a relationship manager"),
        "assignment.transfer": _("transfer customers"),
        "assignment.rules_run": _("assign by rules"),
        "assignment_rule.save": _("save an assignment rule"),
    }

    def ready(self) -> None:
        from guanxi.relationships import receivers  # noqa: F401
