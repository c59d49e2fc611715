"""One validator for customer input, shared by forms, the API and the importers."""

from __future__ import annotations

import csv
import functools
import importlib.resources
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from guanxi.core.models import OrgUnit
from guanxi.core.validators import normalize_text, validate_id_number, validate_mobile, validate_resident_id
from guanxi.customers import search
from guanxi.customers.models import CustomerStatus, CustomerType, GuaranteeType

# Chinese labels accepted wherever a code is expected (registration files, forms).
TYPE_ALIASES = {"个人": "person", "公司": "company", "企业": "company", "农户": "farmer"}
STATUS_ALIASES = {"存量": "existing", "存量客户": "existing", "目标": "prospect", "目标客户": "prospect", "潜在": "prospect"}
GUARANTEE_ALIASES = {"信用": "credit", "保证": "guarantee", "抵押": "mortgage", "质押": "pledge"}

FIELDS = [
    "customer_type", "name", "id_number", "phone", "org_code", "status", "address", "industry",
    "annual_income", "total_assets", "total_liabilities", "household_size", "guarantee_type", "notes",
    "deposit_balance", "loan_balance",
]
MONEY_FIELDS = ["annual_income", "total_assets", "total_liabilities", "deposit_balance", "loan_balance"]
_PLAIN_AMOUNT_RE = re.compile(r"^\d{1,13}(\.\d{1,2})?$")
_INDUSTRY_RE = re.compile(r"^[A-T](\d{2,4})?$")
_MAX_YUAN = Decimal("90000000000000")  # 9e13 yuan fits a BIGINT of fen comfortably


@functools.cache
def industry_sections() -> dict[str, dict[str, str]]:
    """GB/T 4754 sections with their divisions and the plan's sub-markets (shipped data)."""
    text = (importlib.resources.files("guanxi.customers") / "data" / "industry_sections.csv").read_text("utf-8")
    return {row["section"]: row for row in csv.DictReader(text.splitlines())}


@functools.cache
def _values(choices) -> frozenset[str]:
    return frozenset(choices.values)


def _choice(value: str, field: str, choices, aliases: dict[str, str]) -> str:
    value = normalize_text(value)
    value = aliases.get(value, value.lower())
    if value not in _values(choices):
        allowed = "、".join(f"{label}({code})" for code, label in zip(choices.values, choices.labels, strict=True))
        raise ValidationError({field: _("%(value)s is not one of %(allowed)s") % {"value": value, "allowed": allowed}})
    return value


def parse_amount(value: Any, field: str) -> Decimal | None:
    """Parse yuan: thousands separators, full-width digits, a currency sign or 元 are accepted."""
    if value is None:
        return None
    if isinstance(value, str) and _PLAIN_AMOUNT_RE.match(value):
        return Decimal(value).quantize(Decimal("0.01"))
    if isinstance(value, int | Decimal):
        amount = Decimal(value)
    else:
        text = normalize_text(str(value)).replace(",", "").replace("，", "").replace("¥", "").replace("￥", "")
        text = text.removesuffix("元").strip()
        if text == "":
            return None
        try:
            amount = Decimal(text)
        except InvalidOperation:
            raise ValidationError({field: _("%(value)s is not an amount in yuan") % {"value": value}}) from None
    if not amount.is_finite():
        raise ValidationError({field: _("%(value)s is not an amount in yuan") % {"value": value}})
    if amount < 0:
        raise ValidationError({field: _("the amount cannot be negative")})
    if amount > _MAX_YUAN:
        raise ValidationError({field: _("the amount is too large")})
    if amount != amount.quantize(Decimal("0.01")):
        raise ValidationError({field: _("at most two decimal places (fen)")})
    return amount.quantize(Decimal("0.01"))


def clean_customer_input(
    data: dict[str, Any], *, current: dict[str, Any] | None = None, org_units: dict[str, OrgUnit] | None = None
) -> dict[str, Any]:
    """Normalise and validate customer fields named as in DESIGN.md.

    `data` holds the fields given (absent keys are left alone when `current` is given, so
    it serves updates too). Returns model-ready values (`org_unit`, `birth_date`, `gender`
    derived). Raises one ValidationError mapping every bad field to its reason.
    """
    current = current or {}
    errors: dict[str, list] = {}
    out: dict[str, Any] = {}

    def run(field: str, func) -> None:
        try:
            func()
        except ValidationError as exc:
            if hasattr(exc, "error_dict"):
                for key, value in exc.message_dict.items():
                    errors.setdefault(key, []).extend(value)
            else:
                errors.setdefault(field, []).extend(exc.messages)

    def given(field: str) -> bool:
        return field in data

    creating = not current
    customer_type = current.get("customer_type")
    if given("customer_type") or creating:
        def _type():
            nonlocal customer_type
            if not normalize_text(data.get("customer_type")):
                raise ValidationError(_("this field is required"))
            customer_type = _choice(data["customer_type"], "customer_type", CustomerType, TYPE_ALIASES)
            out["customer_type"] = customer_type
        run("customer_type", _type)

    if given("name") or creating:
        def _name():
            name = normalize_text(data.get("name"))
            if not name:
                raise ValidationError(_("this field is required"))
            if len(name) > 100:
                raise ValidationError(_("at most 100 characters"))
            out["name"] = name
        run("name", _name)

    if (given("id_number") or given("customer_type") or creating) and customer_type in _values(CustomerType):
        def _id():
            raw = data.get("id_number", current.get("id_number"))
            if not normalize_text(raw):
                raise ValidationError(_("this field is required"))
            if customer_type in (CustomerType.PERSON, CustomerType.FARMER):
                resident = validate_resident_id(raw)
                out["id_number"] = resident.number
                out["birth_date"], out["gender"] = resident.birth_date, resident.gender
            else:
                out["id_number"] = validate_id_number(raw, customer_type)
                out["birth_date"], out["gender"] = None, ""
        run("id_number", _id)
    elif creating and "customer_type" not in errors:
        errors.setdefault("id_number", []).append(_("this field is required"))

    if given("phone"):
        def _phone():
            raw = normalize_text(data.get("phone"))
            out["phone"] = validate_mobile(raw) if raw else ""
        run("phone", _phone)

    if given("org_code") or creating:
        def _org():
            code = normalize_text(data.get("org_code"))
            if not code:
                raise ValidationError(_("this field is required"))
            unit = org_units.get(code) if org_units is not None else OrgUnit.objects.filter(code=code).first()
            if unit is None:
                raise ValidationError(_("%(code)s is not a known org unit code") % {"code": code})
            out["org_unit"] = unit
        run("org_code", _org)

    if given("status"):
        def _status():
            raw = normalize_text(data.get("status"))
            out["status"] = _choice(raw, "status", CustomerStatus, STATUS_ALIASES) if raw else CustomerStatus.PROSPECT
        run("status", _status)

    if given("address"):
        def _address():
            address = normalize_text(data.get("address"))
            if len(address) > 200:
                raise ValidationError(_("at most 200 characters"))
            out["address"] = address
        run("address", _address)

    if given("industry"):
        def _industry():
            code = normalize_text(data.get("industry")).upper().replace(" ", "")
            if code and (not _INDUSTRY_RE.match(code) or code[0] not in industry_sections()):
                raise ValidationError(_("%(code)s is not a GB/T 4754 code (a section letter A–T, e.g. A or A0111)")
                                      % {"code": code})
            out["industry"] = code
        run("industry", _industry)

    for field in MONEY_FIELDS:
        if given(field):
            def _money(field=field):
                amount = parse_amount(data.get(field), field)
                if amount is None and field in ("deposit_balance", "loan_balance"):
                    amount = Decimal("0.00")
                out[field] = amount
            run(field, _money)

    if given("household_size"):
        def _size():
            raw = normalize_text(str(data.get("household_size") or ""))
            if not raw:
                out["household_size"] = None
                return
            try:
                size = int(Decimal(raw))
            except (InvalidOperation, ValueError):
                raise ValidationError(_("%(value)s is not a whole number") % {"value": raw}) from None
            if size < 1 or size > 50 or Decimal(raw) != size:
                raise ValidationError(_("a household has between 1 and 50 people"))
            out["household_size"] = size
        run("household_size", _size)

    if given("guarantee_type"):
        def _guarantee():
            raw = normalize_text(data.get("guarantee_type"))
            out["guarantee_type"] = _choice(raw, "guarantee_type", GuaranteeType, GUARANTEE_ALIASES) if raw else ""
        run("guarantee_type", _guarantee)

    if given("notes"):
        out["notes"] = (data.get("notes") or "").strip()

    if errors:
        raise ValidationError(errors)
    out.update(search.derived_fields(name=out.get("name"), phone=out.get("phone"),
                                     customer_type=customer_type))
    return out
