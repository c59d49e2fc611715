"""Customer forms. Validation itself lives in `validation.clean_customer_input` (one validator)."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from guanxi.customers.models import CustomerStatus, CustomerType, GuaranteeType, HouseholdRelation
from guanxi.customers.validation import clean_customer_input


class CustomerForm(forms.Form):
    customer_type = forms.ChoiceField(label=_("customer type"), choices=CustomerType.choices)
    name = forms.CharField(label=_("name"), max_length=100)
    id_number = forms.CharField(label=_("ID number"), max_length=40,
                                help_text=_("resident ID for persons and farmers, unified social credit code for companies"))
    phone = forms.CharField(label=_("mobile phone"), max_length=40, required=False)
    email = forms.CharField(label=_("email"), max_length=254, required=False)
    org_code = forms.ChoiceField(label=_("org unit"))
    status = forms.ChoiceField(label=_("status"), choices=CustomerStatus.choices, initial=CustomerStatus.PROSPECT)
    address = forms.CharField(label=_("address"), max_length=200, required=False)
    industry = forms.CharField(label=_("industry"), max_length=10, required=False,
                               help_text=_("GB/T 4754 code, e.g. A or A0111"))
    annual_income = forms.CharField(label=_("annual income (yuan)"), required=False)
    total_assets = forms.CharField(label=_("total assets (yuan)"), required=False)
    total_liabilities = forms.CharField(label=_("total liabilities (yuan)"), required=False)
    household_size = forms.CharField(label=_("household size"), required=False)
    guarantee_type = forms.ChoiceField(label=_("guarantee type"), required=False,
                                       choices=[("", "—"), *GuaranteeType.choices])
    notes = forms.CharField(label=_("non-financial notes"), required=False, widget=forms.Textarea(attrs={"rows": 3}))

    def __init__(self, *args, org_units=(), editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["org_code"].choices = [(unit.code, f"{unit.name} ({unit.code})") for unit in org_units]
        self.editing = editing
        self.cleaned_input: dict = {}

    def clean(self):
        data = {name: self.data.get(name, "") for name in self.fields}
        try:
            self.cleaned_input = clean_customer_input(data, current=self.initial if self.editing else None)
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                for message in messages:
                    self.add_error(field if field in self.fields else None, message)
        return self.cleaned_data


class HouseholdMemberForm(forms.Form):
    name = forms.CharField(label=_("name"), max_length=100)
    relation = forms.ChoiceField(label=_("relation"), choices=HouseholdRelation.choices)
    id_number = forms.CharField(label=_("ID number"), max_length=40, required=False)
    phone = forms.CharField(label=_("mobile phone"), max_length=40, required=False)
    is_labourer = forms.BooleanField(label=_("labourer"), required=False, initial=True)
    occupation = forms.CharField(label=_("occupation"), max_length=100, required=False)
