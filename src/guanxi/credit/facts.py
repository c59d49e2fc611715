"""The facts a scorecard can read: what each one is, where it comes from, how it is measured.

Every numeric fact is carried as an exact integer in a fixed unit, so the Python evaluator,
the batch reader and any SQL agree to the last digit: money in fen, percentages and ratios in
ten-thousandths (basis points), counts as themselves, yes/no as 1/0. Categories are codes.

A fact's *origin* says where its value lives:

- ``customer``: a column (or an expression over columns) of the customer record;
- ``members``: counted from the farmer household's members (`HouseholdMember.is_labourer`);
- ``input``: collected per customer by the officer (`RatingInput`), because the customer record
  has no place for it (member shares, the village rating group's judgement, PBOC status, ...).

Scorecards may declare further ``input`` facts of their own (``definition["inputs"]``), with
their labels in both languages; `facts_for(definition)` merges them with this catalogue.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import translation
from django.utils.translation import gettext_lazy as _


class Kind(models.TextChoices):
    MONEY = "money", _("amount (yuan)")  # carried in fen
    PERCENT = "percent", _("percentage")  # carried in basis points (1% = 100)
    TIMES = "times", _("ratio (times)")  # e.g. 1.5×; carried in ten-thousandths (1.5 = 15000)
    COUNT = "count", _("whole number")
    BOOL = "bool", _("yes / no")  # carried as 1 / 0
    CATEGORY = "category", _("category")  # one code of `choices`


# The integer carried for one natural unit of each numeric kind.
SCALE = {Kind.MONEY: 100, Kind.PERCENT: 100, Kind.TIMES: 10000, Kind.COUNT: 1, Kind.BOOL: 1}
# Upper bound stored for a debt ratio whose assets are zero (liabilities on nothing).
UNBOUNDED_RATIO = 99_999_999


class Label:
    """A label given in data in both languages; shows the one of the active language."""

    def __init__(self, zh: str, en: str = "") -> None:
        self.zh, self.en = zh, en or zh

    def __str__(self) -> str:
        language = translation.get_language() or "zh-hans"
        return self.zh if language.startswith("zh") else self.en


def data_label(item: dict, fallback: Any = "") -> Any:
    """The label of a definition item (``label_zh`` / ``label_en``), or `fallback`."""
    if item.get("label_zh") or item.get("label_en"):
        return Label(item.get("label_zh") or item.get("label_en", ""), item.get("label_en", ""))
    return fallback


@dataclass(frozen=True)
class Fact:
    key: str
    kind: Kind
    label: Any
    origin: str  # "customer" | "members" | "input"
    choices: tuple[tuple[str, Any], ...] = ()
    allow_negative: bool = False
    help: Any = ""
    types: frozenset[str] = field(default_factory=lambda: frozenset({"farmer", "person", "company"}))

    @property
    def is_numeric(self) -> bool:
        return self.kind not in (Kind.CATEGORY,)

    @property
    def scale(self) -> int:
        return SCALE.get(self.kind, 1)

    def choice_label(self, code: str) -> Any:
        return dict(self.choices).get(code, code)

    # --- values -----------------------------------------------------------------------------

    def parse(self, raw: Any) -> tuple[str, int | None]:
        """A value as typed (form, API) → (canonical text, carried integer or None for categories).

        Raises ValidationError with a message in the user's language.
        """
        if isinstance(raw, bool) or self.kind == Kind.BOOL:
            text = str(raw).strip().lower()
            if text in ("1", "true", "yes", "on", "是", "y"):
                return "true", 1
            if text in ("0", "false", "no", "off", "否", "n"):
                return "false", 0
            raise ValidationError(_("Answer yes or no."))
        text = str(raw).strip()
        if self.kind == Kind.CATEGORY:
            if text not in dict(self.choices):
                raise ValidationError(_("Choose one of: %(choices)s.")
                                      % {"choices": ", ".join(code for code, _label in self.choices)})
            return text, None
        try:
            number = Decimal(text.replace(",", "").replace("，", ""))
        except InvalidOperation:
            raise ValidationError(_("%(value)s is not a number.") % {"value": text}) from None
        if not number.is_finite():
            raise ValidationError(_("%(value)s is not a number.") % {"value": text})
        if number < 0 and not self.allow_negative:
            raise ValidationError(_("The value cannot be negative."))
        if self.kind == Kind.COUNT:
            if number != number.to_integral_value():
                raise ValidationError(_("Enter a whole number."))
            return str(int(number)), int(number)
        carried = int((number * self.scale).quantize(Decimal(1), rounding=ROUND_HALF_UP))
        return self.display(carried), carried

    def display(self, carried: int | str | None) -> str:
        """The carried value in natural units, as text (no unit sign)."""
        if carried is None:
            return ""
        if self.kind == Kind.CATEGORY:
            return str(carried)
        if self.kind == Kind.BOOL:
            return "true" if carried else "false"
        if self.kind == Kind.COUNT:
            return str(carried)
        places = {Kind.MONEY: 2, Kind.PERCENT: 2, Kind.TIMES: 4}[self.kind]
        return f"{Decimal(int(carried)) / self.scale:.{places}f}"

    def human(self, carried: int | str | None) -> str:
        """The carried value for people: category and yes/no labels, money with separators."""
        if carried is None:
            return "—"
        if self.kind == Kind.CATEGORY:
            return str(self.choice_label(str(carried)))
        if self.kind == Kind.BOOL:
            return str(_("yes") if carried else _("no"))
        if self.kind == Kind.MONEY:
            return f"{Decimal(int(carried)) / 100:,.2f}"
        if self.kind == Kind.PERCENT:
            return f"{Decimal(int(carried)) / 100:.2f}%"
        if self.kind == Kind.TIMES:
            return f"{Decimal(int(carried)) / 10000:.2f}×"
        return str(carried)


JUDGEMENT = (("excellent", _("excellent")), ("good", _("good")), ("fair", _("fair")), ("poor", _("poor")))
REPAYMENT = (
    ("on_time", _("always repaid on time")),
    ("no_history", _("no borrowing record")),
    ("interest_arrears", _("interest in arrears")),
    ("principal_arrears", _("principal overdue")),
    ("bad_debt", _("non-performing loan")),
)
CREDIT_REFERENCE = (
    ("clean", _("no bad record")),
    ("minor", _("minor overdue, settled")),
    ("bad", _("bad record")),
)

_FARMER, _PERSON, _COMPANY = frozenset({"farmer"}), frozenset({"person"}), frozenset({"company"})
_PEOPLE = frozenset({"farmer", "person"})

CATALOGUE: dict[str, Fact] = {fact.key: fact for fact in (
    # --- from the customer record -------------------------------------------------------------
    Fact("household_size", Kind.COUNT, _("household size"), "customer", types=_FARMER),
    Fact("annual_income", Kind.MONEY, _("annual income"), "customer",
         help=_("a farmer household's net income of last year; a company's sales revenue")),
    Fact("total_assets", Kind.MONEY, _("total assets"), "customer"),
    Fact("total_liabilities", Kind.MONEY, _("total liabilities"), "customer"),
    Fact("net_assets", Kind.MONEY, _("net assets"), "customer", allow_negative=True,
         help=_("total assets minus total liabilities")),
    Fact("debt_ratio", Kind.PERCENT, _("debt ratio"), "customer",
         help=_("total liabilities as a percentage of total assets")),
    Fact("deposit_balance", Kind.MONEY, _("deposit balance"), "customer"),
    Fact("loan_balance", Kind.MONEY, _("loan balance"), "customer"),
    Fact("product_count", Kind.COUNT, _("number of products held"), "customer"),
    Fact("age", Kind.COUNT, _("age"), "customer", types=_PEOPLE, help=_("from the resident ID number")),
    # --- from the household members -----------------------------------------------------------
    Fact("labourers", Kind.COUNT, _("labourers"), "members", types=_FARMER,
         help=_("household members marked as labourers; record the members first")),
    # --- collected by the officer (RatingInput) -----------------------------------------------
    Fact("member_shares", Kind.MONEY, _("member shares in the bank"), "input", types=_FARMER),
    Fact("overall_judgement", Kind.CATEGORY, _("overall judgement of the village rating group"), "input",
         choices=JUDGEMENT, types=_FARMER),
    Fact("repayment_record", Kind.CATEGORY, _("repayment record"), "input", choices=REPAYMENT),
    Fact("credit_reference", Kind.CATEGORY, _("PBOC credit reference status"), "input", choices=CREDIT_REFERENCE),
    Fact("registered_in_area", Kind.BOOL, _("household registered in the bank's service area"), "input",
         types=_PEOPLE),
    Fact("full_civil_capacity", Kind.BOOL, _("full civil capacity"), "input", types=_PEOPLE),
    Fact("lawful_business", Kind.BOOL, _("lawful production or business"), "input"),
    Fact("business_income", Kind.MONEY, _("household business income"), "input", types=_FARMER,
         help=_("income of the household's production and business last year")),
    Fact("occupation", Kind.CATEGORY, _("occupation"), "input", types=_PERSON, choices=(
        ("civil_servant", _("civil servant or public institution")),
        ("employee", _("company employee")),
        ("self_employed", _("sole proprietor")),
        ("farmer", _("farming")),
        ("other", _("other")),
        ("unemployed", _("no regular occupation")),
    )),
    Fact("years_in_job", Kind.COUNT, _("years in the current job"), "input", types=_PERSON),
    Fact("housing", Kind.CATEGORY, _("housing"), "input", types=_PERSON, choices=(
        ("owned", _("own home without a mortgage")),
        ("mortgaged", _("own home with a mortgage")),
        ("rented", _("rented")),
        ("other", _("other")),
    )),
    Fact("payroll_with_us", Kind.BOOL, _("salary paid through the bank"), "input", types=_PERSON),
    Fact("guarantee_default", Kind.BOOL, _("a guarantee given for others is in default"), "input",
         types=_PEOPLE),
    Fact("management", Kind.CATEGORY, _("management quality"), "input", choices=JUDGEMENT, types=_COMPANY),
    Fact("market_position", Kind.CATEGORY, _("market position"), "input", types=_COMPANY, choices=(
        ("leading", _("leading")), ("stable", _("stable")), ("weak", _("weak")))),
    Fact("compliance", Kind.CATEGORY, _("compliance"), "input", types=_COMPANY, choices=(
        ("clean", _("compliant")), ("minor", _("minor violations")), ("serious", _("serious violations")))),
    Fact("current_ratio", Kind.TIMES, _("current ratio"), "input", types=_COMPANY),
    Fact("interest_coverage", Kind.TIMES, _("interest coverage"), "input", types=_COMPANY, allow_negative=True),
    Fact("sales_growth", Kind.PERCENT, _("sales growth"), "input", types=_COMPANY, allow_negative=True),
    Fact("profit_margin", Kind.PERCENT, _("net profit margin"), "input", types=_COMPANY, allow_negative=True),
    Fact("operating_cash_flow", Kind.MONEY, _("net operating cash flow"), "input", types=_COMPANY,
         allow_negative=True),
    Fact("industry_policy", Kind.CATEGORY, _("state industry policy"), "input", types=_COMPANY, choices=(
        ("encouraged", _("encouraged")), ("permitted", _("permitted")), ("restricted", _("restricted")),
        ("obsolete", _("to be eliminated")))),
    Fact("taxes_on_time", Kind.BOOL, _("taxes paid on time"), "input", types=_COMPANY),
    Fact("loans_performing", Kind.BOOL, _("all loans performing"), "input", types=_COMPANY),
    Fact("annual_cash_inflow", Kind.MONEY, _("annual effective cash inflow"), "input", types=_COMPANY),
    Fact("guarantor_net_assets", Kind.MONEY, _("guarantor's effective net assets"), "input", types=_COMPANY),
    Fact("external_guarantees", Kind.MONEY, _("external guarantees given"), "input", types=_COMPANY),
    Fact("external_financing", Kind.MONEY, _("external financing"), "input", types=_COMPANY),
)}


def custom_facts(definition: dict) -> dict[str, Fact]:
    """The input facts a scorecard declares for itself (``definition["inputs"]``)."""
    facts: dict[str, Fact] = {}
    for item in definition.get("inputs") or []:
        choices = tuple((str(c.get("code", "")), data_label(c, c.get("code", ""))) for c in item.get("choices") or [])
        facts[item["key"]] = Fact(item["key"], Kind(item.get("kind", "count")), data_label(item, item["key"]),
                                  "input", choices=choices, allow_negative=bool(item.get("allow_negative")))
    return facts


def facts_for(definition: dict | None) -> dict[str, Fact]:
    facts = dict(CATALOGUE)
    if definition:
        facts.update(custom_facts(definition))
    return facts


# Local averages (configuration per org unit) that a ratio rule may divide by.
class AverageKey(models.TextChoices):
    HOUSEHOLD_ASSETS = "household_assets", _("local average total household assets")
    NET_ASSETS = "net_assets", _("local average household net assets")
    NET_INCOME = "net_income", _("local average household net income")

AVERAGE_PREFIX = "average:"


def missing_label(key: str, facts: dict[str, Fact] | None = None) -> Any:
    """The label of something missing: a fact, or a local average (configuration) of the customer's unit."""
    if key.startswith(AVERAGE_PREFIX):
        average = key[len(AVERAGE_PREFIX):]
        label = AverageKey(average).label if average in AverageKey.values else average
        return _("%(average)s (configuration of the org unit)") % {"average": label}
    fact = (facts or CATALOGUE).get(key)
    return fact.label if fact else key
