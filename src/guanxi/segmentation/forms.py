"""Forms of the segmentation pages (validation proper lives in `services`)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from guanxi.core.roles import MarketLine
from guanxi.segmentation.models import RuleKind, SubMarket


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
