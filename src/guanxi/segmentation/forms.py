"""Forms of the segmentation pages (validation proper lives in `services`)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from guanxi.core.models import OrgUnit, User
from guanxi.core.roles import MarketLine
from guanxi.segmentation.models import EntryStatus, RuleKind, SubMarket, TargetListStatus, TerritoryKind


class SubMarketRuleForm(forms.Form):
    market = forms.ChoiceField(label=_("market line"), choices=MarketLine.choices)
    kind = forms.ChoiceField(label=_("kind"), choices=RuleKind.choices)
    value = forms.CharField(label=_("value"), max_length=50)
    sub_market = forms.ModelChoiceField(label=_("sub-market"), queryset=SubMarket.objects.order_by("market", "code"))
    priority = forms.IntegerField(label=_("priority"), min_value=0, initial=100,
                                  help_text=_("lower numbers are tried first"))


class TierThresholdForm(forms.Form):
    deposit_high = forms.DecimalField(label=_("high-end: deposit from (yuan)"), min_value=0, decimal_places=2,
                                      max_digits=17)
    loan_high = forms.DecimalField(label=_("high-end: loan from (yuan)"), min_value=0, decimal_places=2,
                                   max_digits=17)
    deposit_mid = forms.DecimalField(label=_("mid-range: deposit from (yuan)"), min_value=0, decimal_places=2,
                                     max_digits=17)
    loan_mid = forms.DecimalField(label=_("mid-range: loan from (yuan)"), min_value=0, decimal_places=2,
                                  max_digits=17)


class TerritoryForm(forms.Form):
    name = forms.CharField(label=_("name"), max_length=100)
    kind = forms.ChoiceField(label=_("kind"), choices=TerritoryKind.choices)
    org_unit = forms.ModelChoiceField(label=_("org unit"), queryset=OrgUnit.objects.none(), to_field_name="code")
    keywords = forms.CharField(label=_("addresses or keywords"), widget=forms.Textarea(attrs={"rows": 6}),
                               help_text=_("one per line; a customer whose address contains one is in the territory"))
    team = forms.ModelMultipleChoiceField(label=_("team"), queryset=User.objects.none(), required=False,
                                          to_field_name="username",
                                          help_text=_("managers who collect the information of its prospects"))

    def __init__(self, *args, units=None, staff=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["org_unit"].queryset = units if units is not None else OrgUnit.objects.none()
        self.fields["org_unit"].label_from_instance = lambda unit: f"{unit.name} ({unit.code})"
        self.fields["team"].queryset = staff if staff is not None else User.objects.none()
        self.fields["team"].label_from_instance = lambda user: (
            f"{user.display_name} ({user.username}, {user.org_unit.name if user.org_unit_id else '—'})")


class TargetListForm(forms.Form):
    name = forms.CharField(label=_("name"), max_length=100)
    description = forms.CharField(label=_("description"), required=False, widget=forms.Textarea(attrs={"rows": 3}))
    market = forms.ChoiceField(label=_("market line"), required=False, choices=[("", "—"), *MarketLine.choices])
    org_code = forms.ChoiceField(label=_("org unit"))
    due_on = forms.DateField(label=_("due date"), required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, units=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["org_code"].choices = [(unit.code, f"{unit.name} ({unit.code})") for unit in units]


class TargetListEditForm(forms.Form):
    name = forms.CharField(label=_("name"), max_length=100)
    description = forms.CharField(label=_("description"), required=False, widget=forms.Textarea(attrs={"rows": 3}))
    due_on = forms.DateField(label=_("due date"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    status = forms.ChoiceField(label=_("status"), choices=TargetListStatus.choices)


class EntryUpdateForm(forms.Form):
    status = forms.ChoiceField(label=_("follow-up status"), choices=EntryStatus.choices)
    next_step = forms.CharField(label=_("next step"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
    next_step_on = forms.DateField(label=_("next step on"), required=False,
                                   widget=forms.DateInput(attrs={"type": "date"}))
    note = forms.CharField(label=_("note"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
