"""Forms of engagement. They only parse input; the services decide what is valid."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from guanxi.core.roles import MarketLine
from guanxi.customers.models import CustomerTier
from guanxi.engagement.models import MESSAGE_CHANNELS, CareOccasion, Channel, Direction, MessageKind
from guanxi.engagement.occasions import Holiday


class InteractionForm(forms.Form):
    """The quick entry of the customer page: a few seconds to fill; the time defaults to now."""

    channel = forms.CharField(label=_("channel"), required=False,
                              widget=forms.Select(choices=Channel.choices))
    direction = forms.CharField(label=_("contact direction"), required=False, initial=Direction.OUTBOUND,
                                widget=forms.Select(choices=Direction.choices))
    summary = forms.CharField(label=_("summary"), required=False,
                              widget=forms.Textarea(attrs={"rows": 2, "maxlength": 4000}))
    outcome = forms.CharField(label=_("outcome"), required=False, widget=forms.TextInput())
    next_step = forms.CharField(label=_("next step"), required=False, widget=forms.TextInput())
    next_step_on = forms.DateField(label=_("next step on"), required=False,
                                   widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    occurred_at = forms.DateTimeField(label=_("contact time"), required=False,
                                      help_text=_("leave empty for now"),
                                      input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"],
                                      widget=forms.DateTimeInput(attrs={"type": "datetime-local"},
                                                                 format="%Y-%m-%dT%H:%M"))


class FollowUpCompleteForm(forms.Form):
    """Completing a visit task from "my tasks": what was said; the contact is logged as of now."""

    channel = forms.CharField(label=_("channel"), required=False, initial=Channel.VISIT,
                              widget=forms.Select(choices=Channel.choices))
    summary = forms.CharField(label=_("summary"), required=False,
                              widget=forms.Textarea(attrs={"rows": 2, "maxlength": 4000}))
    outcome = forms.CharField(label=_("outcome"), required=False, widget=forms.TextInput())
    next_step = forms.CharField(label=_("next step"), required=False, widget=forms.TextInput())
    next_step_on = forms.DateField(label=_("next step on"), required=False,
                                   widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))


class ContactPreferenceForm(forms.Form):
    """What the customer told staff about messages and birthdays."""

    marketing_opt_out = forms.BooleanField(label=_("opted out of marketing and care messages"), required=False)
    lunar_birthday = forms.BooleanField(label=_("prefers the lunar birthday"), required=False)


class CarePlanForm(forms.Form):
    """A care plan: occasion, message, audience and channel. `care.care_plan_save` validates."""

    name = forms.CharField(label=_("name"), max_length=100, required=False)
    occasion = forms.ChoiceField(label=_("occasion"), choices=CareOccasion.choices)
    holiday = forms.ChoiceField(label=_("holiday"), required=False, choices=[("", "—"), *Holiday.choices])
    occasion_date = forms.DateField(label=_("date"), required=False,
                                    widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    days_before = forms.IntegerField(label=_("days ahead"), required=False, min_value=0, max_value=30, initial=0)
    kind = forms.ChoiceField(label=_("message kind"),
                             choices=[(MessageKind.CARE.value, MessageKind.CARE.label),
                                      (MessageKind.MARKETING.value, MessageKind.MARKETING.label)])
    channel = forms.ChoiceField(label=_("channel"), choices=[(c.value, c.label) for c in MESSAGE_CHANNELS])
    subject = forms.CharField(label=_("email subject"), max_length=200, required=False)
    template = forms.CharField(label=_("message template"), required=False,
                               help_text=_("placeholders: {name} {surname} {honorific} {owner} {branch}"),
                               widget=forms.Textarea(attrs={"rows": 3, "maxlength": 1000}))
    tiers = forms.MultipleChoiceField(label=_("tiers"), required=False, choices=CustomerTier.choices,
                                      widget=forms.CheckboxSelectMultiple, help_text=_("none ticked: every tier"))
    markets = forms.MultipleChoiceField(label=_("market lines"), required=False, choices=MarketLine.choices,
                                        widget=forms.CheckboxSelectMultiple,
                                        help_text=_("none ticked: every market line"))
    org_code = forms.ChoiceField(label=_("org unit"), required=False)
    active = forms.BooleanField(label=_("active"), required=False, initial=True)

    def __init__(self, *args, org_units=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["org_code"].choices = [("", "—"), *[(u.code, f"{u.name} ({u.code})") for u in org_units]]
