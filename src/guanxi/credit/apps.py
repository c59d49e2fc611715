from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CreditConfig(AppConfig):
    name = "guanxi.credit"
    label = "credit"
    verbose_name = _("Credit rating and credit lines")
    # What the audit log page calls this app's actions (`core.audit_display`).
    audit_actions = {
        "scorecard.draft_create": _("create a scorecard draft"),
        "scorecard.draft_update": _("change a scorecard draft"),
        "scorecard.draft_discard": _("discard a scorecard draft"),
        "scorecard.publish": _("publish a scorecard"),
        "credit.local_average_set": _("set a local average"),
        "credit.inputs_save": _("save rating inputs"),
        "credit.form_print": _("print a credit form"),
        "rating.assess": _("assess a rating"),
        "rating.batch": _("rate in batch"),
        "rating.adjust": _("adjust a rating"),
        "rating.confirm": _("confirm a rating"),
        "rating.override_approve": _("approve a rating override"),
        "rating.override_reject": _("reject a rating override"),
        "credit_line.calculate": _("calculate a credit line"),
        "approval.submit": _("submit for approval"),
        "approval.approve": _("approve"),
        "approval.reject": _("reject"),
        "approval.return": _("send back"),
        "approval.vote": _("vote in the credit committee"),
        "approval.committee_outcome": _("credit committee outcome"),
        "approval.committee_save": _("save the credit committee"),
        "approval.authority_rule_save": _("save an authority rule"),
        "campaign.create": _("create a credit campaign"),
        "campaign.applicant_add": _("register a campaign applicant"),
    }
    audit_keys = {
        "applicants": _("include applicants"),
        "existing": _("include existing customers"),
        "guarantee": _("guarantee"),
        "household_assets": _("local average total household assets"),
        "majority": _("majority"),
        "net_assets": _("local average household net assets"),
        "net_income": _("local average household net income"),
        "requested": _("requested amount"),
    }
    audit_vocabularies = {"guarantee": "guanxi.credit.models.GuaranteeClass"}
