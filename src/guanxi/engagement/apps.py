from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class EngagementConfig(AppConfig):
    name = "guanxi.engagement"
    label = "engagement"
    verbose_name = _("Engagement")
    # What the audit log page calls this app's actions (`core.audit_display`).
    audit_actions = {
        "interaction.log": _("log a contact"),
        "care_plan.save": _("save a care plan"),
        "care_plan.delete": _("delete a care plan"),
        "followup.complete": _("complete a follow-up visit"),
        "followup_rule.save": _("save a follow-up rule"),
        "consent.set": _("set contact preferences"),
        "consent.opt_out": _("opt out of marketing"),
    }
