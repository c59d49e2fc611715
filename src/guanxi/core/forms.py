"""Forms of the core app: staff management by the security administrator."""

from django import forms
from django.utils.translation import gettext_lazy as _

from guanxi.core.roles import MarketLine, Role


class StaffForm(forms.Form):
    username = forms.CharField(label=_("username"), max_length=150)
    name = forms.CharField(label=_("full name"), max_length=100)
    role = forms.ChoiceField(label=_("role"), choices=Role.choices)
    org_code = forms.ChoiceField(label=_("org unit"))
    market_line = forms.ChoiceField(label=_("market line"), required=False, choices=[("", "—"), *MarketLine.choices])
    is_active = forms.BooleanField(label=_("active"), required=False, initial=True)

    def __init__(self, *args, org_units=(), editing=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["org_code"].choices = [(unit.code, f"{unit.name} ({unit.code})") for unit in org_units]
        if editing:
            self.fields["username"].disabled = True


class PasswordForm(forms.Form):
    password = forms.CharField(label=_("new password"), widget=forms.PasswordInput, min_length=1)
