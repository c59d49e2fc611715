"""The credit-line calculation (授信额度测算): formula by customer type, guarantee adjustment, caps, request.

Every parameter is data in the scorecard version's ``definition["line"]`` (percentages as per cent,
multiples and coefficients as plain numbers, amounts in yuan)::

    method                 farmer | income_multiple | company
    farmer:                base_by_grade {grade: yuan}, asset_share (% of total household assets),
                           business_income_share (% of household business income)
    income_multiple:       multiple_by_grade {grade: times annual income}
    company:               methods [net_assets, cash_flow] (the lower result counts),
                           coefficient_by_grade {grade: credit coefficient}, cash_flow_turnover (times),
                           cash_flow_turnover_by_section {GB/T 4754 section: times} (optional)
    formula_cap            the formula's value is at most this (yuan)
    guarantee              credit / guarantee (% of the formula value), mortgage {kind: %}, pledge {kind: %},
                           total_cap_multiple (mixed guarantees add up to at most this × the formula value)
    caps                   [{code, label_zh, label_en, amount}] further limits (single-borrower cap ...)
    validity_months        how long a line is valid; review_months: when it is reviewed (年审)

`compute_line` returns the calculation sheet: every step with its label, its formula written
out with the numbers used, and its amount — in exact Decimal yuan, rounded half up to the fen.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from guanxi.credit.facts import Fact, data_label, missing_label

CENT = Decimal("0.01")
HUNDRED = Decimal(100)
METHODS = ("farmer", "income_multiple", "company")
COMPANY_METHODS = ("net_assets", "cash_flow")
GUARANTEE_TYPES = ("credit", "guarantee", "mortgage", "pledge")
COLLATERAL_KINDS = {
    "mortgage": (("housing", gettext_lazy("housing")), ("commercial", gettext_lazy("commercial property")),
                 ("land_use", gettext_lazy("land-use right"))),
    "pledge": (("deposit", gettext_lazy("certificate of deposit")), ("bond", gettext_lazy("government bond"))),
}
GUARANTEE_LABELS = {"credit": gettext_lazy("credit (unsecured)"), "guarantee": gettext_lazy("guarantee"),
                    "mortgage": gettext_lazy("mortgage"), "pledge": gettext_lazy("pledge")}
# Facts each method needs (the optional ones count as zero when not recorded).
REQUIRED = {
    "farmer": ("total_assets", "business_income"),
    "income_multiple": ("annual_income",),
    "net_assets": ("net_assets",),
    "cash_flow": ("annual_cash_inflow",),
}
OPTIONAL_ZERO = {"net_assets": ("guarantor_net_assets", "external_guarantees"),
                 "cash_flow": ("external_financing", "external_guarantees")}


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def check_policy(line: dict, customer_type: str, grades: list[str], facts: dict[str, Fact],
                 add: Callable[[str, str], None]) -> None:
    """Check a line policy; report each problem through `add(path, message)`."""
    method = line.get("method")
    if method not in METHODS:
        add("line.method", _("the method is one of %(methods)s") % {"methods": ", ".join(METHODS)})
        return

    def amount(path: str, value: Any, *, required: bool = True) -> None:
        if value is None and not required:
            return
        number = _number(value)
        if number is None or number < 0:
            add(path, _("give an amount of zero or more"))

    def by_grade(key: str) -> None:
        table = line.get(key)
        if not isinstance(table, dict):
            add(f"line.{key}", _("give a value for each grade that gets a line"))
            return
        for grade, value in table.items():
            if grade not in grades:
                add(f"line.{key}.{grade}", _("no grade band is named %(grade)s") % {"grade": grade})
            amount(f"line.{key}.{grade}", value)

    if method == "farmer":
        by_grade("base_by_grade")
        amount("line.asset_share", line.get("asset_share"))
        amount("line.business_income_share", line.get("business_income_share"))
    elif method == "income_multiple":
        by_grade("multiple_by_grade")
    else:
        methods = line.get("methods")
        if not isinstance(methods, list) or not methods or any(m not in COMPANY_METHODS for m in methods):
            add("line.methods", _("choose among %(methods)s") % {"methods": ", ".join(COMPANY_METHODS)})
        by_grade("coefficient_by_grade")
        amount("line.cash_flow_turnover", line.get("cash_flow_turnover", 1))
        for section, value in (line.get("cash_flow_turnover_by_section") or {}).items():
            amount(f"line.cash_flow_turnover_by_section.{section}", value)
    amount("line.formula_cap", line.get("formula_cap"))
    guarantee = line.get("guarantee")
    if not isinstance(guarantee, dict):
        add("line.guarantee", _("give the guarantee adjustment"))
    else:
        amount("line.guarantee.credit", guarantee.get("credit"))
        amount("line.guarantee.guarantee", guarantee.get("guarantee"))
        for kind in ("mortgage", "pledge"):
            table = guarantee.get(kind)
            if not isinstance(table, dict) or not table:
                add(f"line.guarantee.{kind}", _("give the ratio of each collateral kind"))
                continue
            for code, value in table.items():
                if code not in dict(COLLATERAL_KINDS[kind]):
                    add(f"line.guarantee.{kind}.{code}", _("unknown collateral kind"))
                amount(f"line.guarantee.{kind}.{code}", value)
        amount("line.guarantee.total_cap_multiple", guarantee.get("total_cap_multiple"))
    for index, cap in enumerate(line.get("caps") or []):
        if not isinstance(cap, dict):
            add(f"line.caps[{index}]", _("a cap has a code, a label and an amount"))
            continue
        amount(f"line.caps[{index}].amount", cap.get("amount"))
    for key in ("validity_months", "review_months"):
        value = line.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 120:
            add(f"line.{key}", _("a whole number of months from 1 to 120"))


# --- the calculation -----------------------------------------------------------------------------


@dataclass
class Step:
    code: str
    label: str
    formula: str
    amount: Decimal


@dataclass
class Sheet:
    """The calculation sheet: the steps in order, the model's line and the final amount."""

    steps: list[Step] = field(default_factory=list)
    formula_value: Decimal = Decimal(0)
    amount: Decimal = Decimal(0)

    def add(self, code: str, label: Any, formula: str, amount: Decimal) -> Decimal:
        amount = amount.quantize(CENT, rounding=ROUND_HALF_UP)
        self.steps.append(Step(code, str(label), formula, amount))
        return amount


def yuan(value: Decimal) -> str:
    return f"{value:,.2f}"


def pct(value: Decimal) -> str:
    return f"{value.normalize():f}%"


def _facts_yuan(facts: dict[str, int | None], keys: tuple[str, ...], missing: list[str]) -> dict[str, Decimal]:
    values = {}
    for key in keys:
        carried = facts.get(key)
        if carried is None:
            missing.append(key)
        else:
            values[key] = Decimal(int(carried)) / 100
    return values


def required_facts(line: dict) -> tuple[str, ...]:
    method = line.get("method")
    if method == "company":
        return tuple(key for m in line.get("methods") or [] for key in (*REQUIRED[m], *OPTIONAL_ZERO[m]))
    return REQUIRED.get(method, ())


@dataclass
class Guarantee:
    """One guarantee offered for the line. Amounts in yuan."""

    type: str
    kind: str = ""
    value: Decimal | None = None  # appraised value of the collateral / pledge
    guarantor_line: Decimal | None = None  # the guarantor's own line (guarantee)

    def as_dict(self) -> dict:
        return {"type": self.type, "kind": self.kind, "value": None if self.value is None else str(self.value),
                "guarantor_line": None if self.guarantor_line is None else str(self.guarantor_line)}


def guarantees_check(items: list[dict], line: dict) -> list[Guarantee]:
    """Parse guarantees as sent by a form or the API; ValidationError({"guarantees": ...}) on bad ones."""
    table = line.get("guarantee") or {}
    result: list[Guarantee] = []
    errors: list[str] = []
    for index, item in enumerate(items):
        number = index + 1
        kind_of = item.get("type", "")
        if kind_of not in GUARANTEE_TYPES:
            errors.append(_("guarantee %(n)d: the type is one of %(types)s")
                          % {"n": number, "types": ", ".join(GUARANTEE_TYPES)})
            continue
        guarantee = Guarantee(kind_of, str(item.get("kind") or ""))
        for name in ("value", "guarantor_line"):
            raw = item.get(name)
            if raw in (None, ""):
                continue
            amount = _number(str(raw).replace(",", ""))
            if amount is None or amount < 0:
                errors.append(_("guarantee %(n)d: %(value)s is not an amount in yuan") % {"n": number, "value": raw})
                continue
            setattr(guarantee, name, amount.quantize(CENT, rounding=ROUND_HALF_UP))
        if kind_of in ("mortgage", "pledge"):
            if guarantee.kind not in (table.get(kind_of) or {}):
                errors.append(_("guarantee %(n)d: the collateral kind is one of %(kinds)s")
                              % {"n": number, "kinds": ", ".join(table.get(kind_of) or {})})
            if guarantee.value is None:
                errors.append(_("guarantee %(n)d: give the appraised value of the collateral") % {"n": number})
        result.append(guarantee)
    if not result and not errors:
        errors.append(_("Give at least one guarantee (credit, guarantee, mortgage or pledge)."))
    if errors:
        raise ValidationError({"guarantees": errors})
    return result


def compute_line(*, line: dict, grade: str, grade_has_line: bool, facts: dict[str, int | None],
                 guarantees: list[Guarantee], requested: Decimal | None, industry: str = "",
                 facts_table: dict[str, Fact] | None = None) -> Sheet:
    """The calculation sheet for a customer of `grade` with these facts (carried units) and guarantees.

    Raises ValidationError({"inputs": [labels]}) when a fact the formula needs is not recorded.
    """
    sheet = Sheet()
    if not grade_has_line:
        sheet.add("no_line", _("Grade %(grade)s: no credit line") % {"grade": grade}, grade, Decimal(0))
        sheet.amount = Decimal(0)
        return sheet
    method = line["method"]
    missing: list[str] = []
    if method == "farmer":
        values = _facts_yuan(facts, REQUIRED["farmer"], missing)
        _raise_missing(missing, facts_table)
        base = Decimal(str(line["base_by_grade"].get(grade, 0)))
        sheet.add("base", _("base line of grade %(grade)s") % {"grade": grade}, grade, base)
        asset_share = Decimal(str(line["asset_share"]))
        assets = sheet.add("asset_share", _("share of total household assets"),
                           f"{pct(asset_share)} × {yuan(values['total_assets'])}",
                           asset_share / HUNDRED * values["total_assets"])
        income_share = Decimal(str(line["business_income_share"]))
        income = sheet.add("business_income_share", _("share of household business income"),
                           f"{pct(income_share)} × {yuan(values['business_income'])}",
                           income_share / HUNDRED * values["business_income"])
        value = sheet.add("formula", _("formula value"), f"{yuan(base)} + {yuan(assets)} + {yuan(income)}",
                          base + assets + income)
    elif method == "income_multiple":
        values = _facts_yuan(facts, REQUIRED["income_multiple"], missing)
        _raise_missing(missing, facts_table)
        multiple = Decimal(str(line["multiple_by_grade"].get(grade, 0)))
        value = sheet.add("formula", _("multiple of annual income for grade %(grade)s") % {"grade": grade},
                          f"{multiple.normalize():f} × {yuan(values['annual_income'])}",
                          multiple * values["annual_income"])
    else:
        value = _company(sheet, line, grade, facts, guarantees, industry, facts_table)
    cap = Decimal(str(line["formula_cap"]))
    if value > cap:
        value = sheet.add("formula_cap", _("formula cap"), f"min({yuan(value)}, {yuan(cap)})", cap)
    sheet.formula_value = value
    amount = _guarantee_adjust(sheet, line["guarantee"], value, guarantees)
    for index, item in enumerate(line.get("caps") or []):
        limit = Decimal(str(item["amount"]))
        label = data_label(item, _("cap %(n)d") % {"n": index + 1})
        if amount > limit:
            amount = sheet.add(f"cap:{item.get('code', index)}", label, f"min({yuan(amount)}, {yuan(limit)})", limit)
    if requested is not None:
        if requested < amount:
            amount = sheet.add("requested", _("amount requested"), f"min({yuan(amount)}, {yuan(requested)})",
                               requested)
        else:
            sheet.add("requested", _("amount requested"), f"{yuan(requested)} ≥ {yuan(amount)}", amount)
    sheet.amount = sheet.add("line", _("credit line"), yuan(amount), amount)
    return sheet


def _raise_missing(missing: list[str], facts_table: dict[str, Fact] | None) -> None:
    if missing:
        raise ValidationError({"inputs": [_("Record first: %(what)s") % {
            "what": ", ".join(str(missing_label(key, facts_table)) for key in missing)}]})


def _company(sheet: Sheet, line: dict, grade: str, facts: dict[str, int | None], guarantees: list[Guarantee],
             industry: str, facts_table: dict[str, Fact] | None) -> Decimal:
    missing: list[str] = []
    for method in line["methods"]:
        _facts_yuan(facts, REQUIRED[method], missing)
    _raise_missing(missing, facts_table)

    def fact(key: str) -> Decimal:
        carried = facts.get(key)
        return Decimal(int(carried)) / 100 if carried is not None else Decimal(0)

    coefficient = Decimal(str(line["coefficient_by_grade"].get(grade, 0)))
    results: list[Decimal] = []
    if "net_assets" in line["methods"]:
        collateral = sum((g.value or Decimal(0) for g in guarantees if g.type in ("mortgage", "pledge")), Decimal(0))
        own, guarantor, external = fact("net_assets"), fact("guarantor_net_assets"), fact("external_guarantees")
        results.append(sheet.add(
            "net_assets_method", _("net-asset method"),
            f"(({yuan(own)} + {yuan(guarantor)} + {yuan(collateral)}) / 2 − {yuan(external)}) × "
            f"{coefficient.normalize():f}",
            max(((own + guarantor + collateral) / 2 - external) * coefficient, Decimal(0))))
    if "cash_flow" in line["methods"]:
        turnover = Decimal(str((line.get("cash_flow_turnover_by_section") or {}).get(
            industry[:1], line.get("cash_flow_turnover", 1))))
        inflow, financing, external = fact("annual_cash_inflow"), fact("external_financing"), fact("external_guarantees")
        results.append(sheet.add(
            "cash_flow_method", _("cash-flow method"),
            f"({yuan(inflow)} × {turnover.normalize():f} − {yuan(financing)} − {yuan(external)}) × "
            f"{coefficient.normalize():f}",
            max((inflow * turnover - financing - external) * coefficient, Decimal(0))))
    value = min(results)
    if len(results) > 1:
        value = sheet.add("formula", _("formula value (the lower method)"),
                          f"min({', '.join(yuan(r) for r in results)})", value)
    return value


def _guarantee_adjust(sheet: Sheet, table: dict, value: Decimal, guarantees: list[Guarantee]) -> Decimal:
    parts: list[Decimal] = []
    for guarantee in guarantees:
        label = GUARANTEE_LABELS[guarantee.type]
        if guarantee.type == "credit":
            ratio = Decimal(str(table["credit"]))
            parts.append(sheet.add("guarantee:credit", label, f"{pct(ratio)} × {yuan(value)}", ratio / HUNDRED * value))
        elif guarantee.type == "guarantee":
            ratio = Decimal(str(table["guarantee"]))
            amount = ratio / HUNDRED * value
            formula = f"{pct(ratio)} × {yuan(value)}"
            if guarantee.guarantor_line is not None and guarantee.guarantor_line < amount.quantize(CENT):
                formula = f"min({formula}, {yuan(guarantee.guarantor_line)})"
                amount = guarantee.guarantor_line
            parts.append(sheet.add("guarantee:guarantee", label, formula, amount))
        else:
            ratio = Decimal(str(table[guarantee.type][guarantee.kind]))
            kind = dict(COLLATERAL_KINDS[guarantee.type])[guarantee.kind]
            parts.append(sheet.add(f"guarantee:{guarantee.type}", f"{label} ({kind})",
                                   f"{pct(ratio)} × {yuan(guarantee.value)}", ratio / HUNDRED * guarantee.value))
    total = sum(parts, Decimal(0))
    multiple = Decimal(str(table["total_cap_multiple"]))
    limit = (multiple * value).quantize(CENT, rounding=ROUND_HALF_UP)
    if len(parts) > 1:
        total = sheet.add("guarantee_total", _("guarantees together"), " + ".join(yuan(p) for p in parts), total)
    if total > limit:
        total = sheet.add("guarantee_cap", _("guarantees capped"),
                          f"min({yuan(total)}, {multiple.normalize():f} × {yuan(value)})", limit)
    return total
