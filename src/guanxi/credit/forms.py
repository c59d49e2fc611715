"""Forms of the credit pages. Checking proper lives in `services` (and `engine` for definitions)."""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from guanxi.credit.facts import AverageKey, Fact, Kind, data_label
from guanxi.credit.lines import COLLATERAL_KINDS, GUARANTEE_LABELS, GUARANTEE_TYPES
from guanxi.credit.models import ApprovalLevel, GuaranteeClass, Vote
from guanxi.customers.models import CustomerType

UNITS = {Kind.MONEY: _("yuan"), Kind.PERCENT: "%", Kind.TIMES: _("times")}


class RatingInputsForm(forms.Form):
    """One field per input fact the customer's scorecard reads; an empty field removes the value."""

    def __init__(self, *args: Any, facts: list[Fact], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.facts = facts
        for fact in facts:
            help_text = fact.help or ""
            if fact.kind == Kind.CATEGORY:
                field: forms.Field = forms.ChoiceField(choices=[("", "—"), *fact.choices], required=False)
            elif fact.kind == Kind.BOOL:
                field = forms.ChoiceField(choices=[("", "—"), ("true", _("yes")), ("false", _("no"))], required=False)
            else:
                field = forms.CharField(required=False, max_length=30)
                unit = UNITS.get(fact.kind)
                if unit:
                    help_text = f"{help_text} ({unit})" if help_text else f"({unit})"
            field.label = fact.label
            field.help_text = help_text
            self.fields[fact.key] = field


class ConfirmForm(forms.Form):
    grade = forms.ChoiceField(label=_("grade"))
    reason = forms.CharField(label=_("reason"), required=False, widget=forms.Textarea(attrs={"rows": 2}),
                             help_text=_("required when the grade differs from the model's"))

    def __init__(self, *args: Any, grades: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["grade"].choices = [(g, g) for g in grades]


class DecisionForm(forms.Form):
    reason = forms.CharField(label=_("reason"), required=False, widget=forms.Textarea(attrs={"rows": 2}),
                             help_text=_("required to reject"))


GUARANTEE_ROWS = 3


class LineForm(forms.Form):
    """The amount requested, the guarantees offered (up to three, mixed), and the start of validity."""

    requested_amount = forms.DecimalField(label=_("amount requested (yuan)"), required=False, min_value=Decimal("0.01"),
                                          decimal_places=2, max_digits=17)
    valid_from = forms.DateField(label=_("valid from"), required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        kinds = [("", "—")] + [(code, label) for table in COLLATERAL_KINDS.values() for code, label in table]
        for row in range(1, GUARANTEE_ROWS + 1):
            self.fields[f"g{row}_type"] = forms.ChoiceField(
                label=_("guarantee %(n)d") % {"n": row}, required=False,
                choices=[("", "—"), *((t, GUARANTEE_LABELS[t]) for t in GUARANTEE_TYPES)])
            self.fields[f"g{row}_kind"] = forms.ChoiceField(label=_("collateral kind"), required=False, choices=kinds)
            self.fields[f"g{row}_value"] = forms.DecimalField(label=_("appraised value (yuan)"), required=False,
                                                              min_value=0, decimal_places=2, max_digits=17)
            self.fields[f"g{row}_guarantor_line"] = forms.DecimalField(
                label=_("guarantor's own line (yuan)"), required=False, min_value=0, decimal_places=2, max_digits=17)

    def guarantee_rows(self) -> list[list[forms.BoundField]]:
        return [[self[f"g{row}_{name}"] for name in ("type", "kind", "value", "guarantor_line")]
                for row in range(1, GUARANTEE_ROWS + 1)]

    def guarantees(self) -> list[dict]:
        data = self.cleaned_data
        return [{"type": data[f"g{row}_type"], "kind": data[f"g{row}_kind"], "value": data[f"g{row}_value"],
                 "guarantor_line": data[f"g{row}_guarantor_line"]}
                for row in range(1, GUARANTEE_ROWS + 1) if data.get(f"g{row}_type")]


class PublishForm(forms.Form):
    effective_from = forms.DateField(label=_("effective from"), widget=forms.DateInput(attrs={"type": "date"}))


class LocalAverageForm(forms.Form):
    org_code = forms.CharField(label=_("org unit code"), max_length=32)
    key = forms.ChoiceField(label=_("average"), choices=AverageKey.choices)
    amount = forms.DecimalField(label=_("amount (yuan)"), required=False, min_value=Decimal("0.01"), decimal_places=2,
                                max_digits=17, help_text=_("leave empty to inherit from the unit above"))


# --- editing a draft scorecard -----------------------------------------------------------------------


def _leaves(definition: dict) -> list[tuple[str, str, Any]]:
    """The numbers of a definition a credit officer adjusts, as (path, label, value) in reading order."""
    out: list[tuple[str, str, Any]] = []
    for index, band in enumerate(definition.get("bands") or []):
        out.append((f"bands.{index}.min", _("grade %(grade)s: minimum score") % {"grade": band.get("grade")},
                    band.get("min")))
    for group in ("indicators", "adjustments"):
        for index, item in enumerate(definition.get(group) or []):
            name = str(data_label(item, item.get("code", "")))
            base = f"{group}.{index}"
            if group == "indicators":
                out.append((f"{base}.max_points", _("%(item)s: maximum points") % {"item": name}, item.get("max_points")))
            rule = item.get("rule") or {}
            for number, bin_ in enumerate(rule.get("bins") or []):
                out.append((f"{base}.rule.bins.{number}.from", _("%(item)s: range %(n)d from") % {
                    "item": name, "n": number + 1}, bin_.get("from")))
                out.append((f"{base}.rule.bins.{number}.points", _("%(item)s: range %(n)d points") % {
                    "item": name, "n": number + 1}, bin_.get("points")))
            if "below" in rule:
                out.append((f"{base}.rule.below", _("%(item)s: points below the first range") % {"item": name},
                            rule["below"]))
            for code, points in (rule.get("points") or {}).items():
                out.append((f"{base}.rule.points.{code}", f"{name}: {code}", points))

    def walk(value: Any, path: str) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, f"{path}.{key}")
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, f"{path}.{index}")
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out.append((path, path, value))

    walk(definition.get("line") or {}, "line")
    return out


def _field_name(path: str) -> str:
    return "q__" + path.replace(".", "__")


def _set(definition: dict, path: str, value: Any) -> None:
    parts = path.split(".")
    target: Any = definition
    for part in parts[:-1]:
        target = target[int(part)] if isinstance(target, list) else target[part]
    last = parts[-1]
    if isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value


def _number(text: str) -> int | float:
    number = Decimal(text)
    return int(number) if number == number.to_integral_value() else float(text)


class ScorecardValuesForm(forms.Form):
    """The numbers of a draft (bands, points, bounds, line parameters), one field each."""

    name = forms.CharField(label=_("name"), max_length=100)
    notes = forms.CharField(label=_("notes"), required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args: Any, definition: dict, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.definition = definition
        self.paths: list[str] = []
        for path, label, value in _leaves(definition):
            name = _field_name(path)
            self.fields[name] = forms.CharField(label=label, initial="" if value is None else str(value),
                                                max_length=30)
            self.paths.append(path)

    def value_fields(self) -> list[forms.BoundField]:
        return [self[_field_name(path)] for path in self.paths]

    def changed_definition(self) -> dict:
        definition = json.loads(json.dumps(self.definition))
        for path in self.paths:
            text = self.cleaned_data[_field_name(path)].strip().replace(",", "")
            try:
                value = _number(text)
            except (InvalidOperation, ValueError):
                self.add_error(_field_name(path), _("%(value)s is not a number") % {"value": text})
                continue
            _set(definition, path, value)
        return definition


class ScorecardJsonForm(forms.Form):
    """The whole definition as JSON, for changes of structure (new indicators, gates, bands)."""

    definition = forms.CharField(label=_("definition (JSON)"), widget=forms.Textarea(attrs={"rows": 24,
                                                                                           "class": "mono"}))

    def clean_definition(self) -> dict:
        try:
            value = json.loads(self.cleaned_data["definition"])
        except ValueError as exc:
            raise forms.ValidationError(_("Not valid JSON: %(error)s") % {"error": exc}) from exc
        if not isinstance(value, dict):
            raise forms.ValidationError(_("The definition is a JSON object."))
        return value


# --- approval ----------------------------------------------------------------------------------------


class SubmitForm(forms.Form):
    comment = forms.CharField(label=_("comment"), required=False, widget=forms.Textarea(attrs={"rows": 2}))


class ApprovalDecisionForm(forms.Form):
    decision = forms.ChoiceField(label=_("decision"), choices=[("approve", _("Approve")), ("reject", _("Reject")),
                                                               ("return", _("Send back"))])
    comment = forms.CharField(label=_("comment"), required=False, widget=forms.Textarea(attrs={"rows": 2}),
                              help_text=_("required to reject or send back"))


class VoteForm(forms.Form):
    vote = forms.ChoiceField(label=_("vote"), choices=Vote.choices)
    comment = forms.CharField(label=_("comment"), required=False, widget=forms.Textarea(attrs={"rows": 2}),
                              help_text=_("required unless you agree"))


class AuthorityRuleForm(forms.Form):
    level = forms.ChoiceField(label=_("approval level"), choices=ApprovalLevel.choices)
    org_code = forms.CharField(label=_("org unit code"), max_length=32, required=False,
                               help_text=_("empty: the whole bank"))
    customer_type = forms.ChoiceField(label=_("customer type"), required=False,
                                      choices=[("", _("any")), *CustomerType.choices])
    guarantee_class = forms.ChoiceField(label=_("guarantee"), required=False,
                                        choices=[("", _("any")), *GuaranteeClass.choices])
    min_grade = forms.CharField(label=_("grade at least"), max_length=4, required=False)
    limit = forms.DecimalField(label=_("limit of the compared amount (yuan)"), required=False,
                               min_value=Decimal("0.01"), decimal_places=2, max_digits=17,
                               help_text=_("empty: no limit"))
    active = forms.BooleanField(label=_("active"), required=False, initial=True)


class CommitteeForm(forms.Form):
    members = forms.ModelMultipleChoiceField(label=_("members"), queryset=None, required=False,
                                             widget=forms.CheckboxSelectMultiple)
    majority_numerator = forms.IntegerField(label=_("majority (numerator)"), min_value=1, max_value=99)
    majority_denominator = forms.IntegerField(label=_("majority (denominator)"), min_value=1, max_value=99)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        from guanxi.core.models import User
        from guanxi.core.roles import Role

        super().__init__(*args, **kwargs)
        self.fields["members"].queryset = User.objects.filter(role=Role.CREDIT_APPROVER, is_active=True).order_by(
            "username")


# --- campaigns ---------------------------------------------------------------------------------------


class CampaignForm(forms.Form):
    name = forms.CharField(label=_("name"), max_length=100)
    starts_on = forms.DateField(label=_("starts on"), widget=forms.DateInput(attrs={"type": "date"}))
    ends_on = forms.DateField(label=_("ends on"), widget=forms.DateInput(attrs={"type": "date"}))
    org_codes = forms.CharField(label=_("org units taking part"), max_length=500,
                                help_text=_("org unit codes separated by spaces or commas"))
    customer_type = forms.ChoiceField(label=_("customer type"), required=False,
                                      choices=[("", _("all types")), *CustomerType.choices])
    include_existing = forms.BooleanField(label=_("existing customers"), required=False, initial=True)
    include_applicants = forms.BooleanField(label=_("prospects who asked for credit"), required=False, initial=True)
    village = forms.CharField(label=_("village"), max_length=100, required=False,
                              help_text=_("everybody whose address contains this name (整村授信)"))
    credit_village_share = forms.IntegerField(
        label=_("credit village at this share of credit households (per cent)"), min_value=1, max_value=100,
        initial=70)

    def org_code_list(self) -> list[str]:
        return [code for code in self.cleaned_data["org_codes"].replace(",", " ").replace("，", " ").split() if code]


class ApplicantForm(forms.Form):
    customer_no = forms.CharField(label=_("customer number"), max_length=20)
