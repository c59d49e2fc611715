"""One validator for customer input, shared by forms, the API and the importers."""

from __future__ import annotations

import csv
import functools
import importlib.resources
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext_lazy as _

from guanxi.core.models import OrgUnit
from guanxi.core.validators import normalize_text, resident_id_facts, validate_id_number, validate_mobile
from guanxi.customers import search
from guanxi.customers.models import CustomerStatus, CustomerType, GuaranteeType

# Chinese labels accepted wherever a code is expected (registration files, forms).
TYPE_ALIASES = {"个人": "person", "公司": "company", "企业": "company", "农户": "farmer"}
STATUS_ALIASES = {"存量": "existing", "存量客户": "existing", "目标": "prospect", "目标客户": "prospect", "潜在": "prospect"}
GUARANTEE_ALIASES = {"信用": "credit", "保证": "guarantee", "抵押": "mortgage", "质押": "pledge"}

FIELDS = [
    "customer_type", "name", "id_number", "phone", "email", "org_code", "status", "address", "industry",
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


def _choice(text: str, field: str, choices, aliases: dict[str, str]) -> str:
    """`text` is already normalize_text()'s result (the function is idempotent: not run again)."""
    value = aliases.get(text) or text.lower()  # every alias maps to a non-empty code
    if value not in _values(choices):
        allowed = "、".join(f"{label}({code})" for code, label in zip(choices.values, choices.labels, strict=True))
        raise ValidationError({field: _("%(value)s is not one of %(allowed)s") % {"value": value, "allowed": allowed}})
    return value


_FEN = Decimal("0.01")


def parse_amount(value: Any, field: str) -> Decimal | None:
    """Parse yuan: thousands separators, full-width digits, a currency sign or 元 are accepted."""
    if value is None:
        return None
    if isinstance(value, str) and _PLAIN_AMOUNT_RE.match(value):
        return Decimal(value).quantize(_FEN)
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
    if amount != amount.quantize(_FEN):
        raise ValidationError({field: _("at most two decimal places (fen)")})
    return amount.quantize(_FEN)


# Each cleaner stores its field's value(s) in `out`. A cleaner that raises stores nothing
# before raising, and any error makes clean_customer_input raise, so `out` never escapes
# half-filled. normalize_text() is idempotent, so a value normalised once is passed on as is.


def _clean_type(value, ctx, out):
    text = normalize_text(value)
    if not text:
        raise ValidationError(_("this field is required"))
    ctx["customer_type"] = out["customer_type"] = _choice(text, "customer_type", CustomerType, TYPE_ALIASES)


def _clean_name(value, ctx, out):
    name = normalize_text(value)
    if not name:
        raise ValidationError(_("this field is required"))
    if len(name) > 100:
        raise ValidationError(_("at most 100 characters"))
    out["name"] = name


def _clean_id(value, ctx, out):
    text = normalize_text(value)
    if not text:
        raise ValidationError(_("this field is required"))
    customer_type = ctx["customer_type"]
    if customer_type in _RESIDENT_TYPES:
        out["id_number"], out["birth_date"], out["gender"] = resident_id_facts(text)
    else:
        out["id_number"], out["birth_date"], out["gender"] = validate_id_number(text, customer_type), None, ""


def _clean_phone(value, ctx, out):
    raw = normalize_text(value)
    out["phone"] = validate_mobile(raw) if raw else ""


def _clean_email(value, ctx, out):
    email = normalize_text(value).replace(" ", "")
    if not email:
        out["email"] = ""
        return
    local, _at, domain = email.rpartition("@")
    email = f"{local}@{domain.lower()}" if local else email  # the domain part is case-insensitive
    try:
        validate_email(email)
    except ValidationError:
        raise ValidationError(_("%(value)s is not an email address") % {"value": email}) from None
    out["email"] = email


def _clean_org(value, ctx, out):
    code = normalize_text(value)
    if not code:
        raise ValidationError(_("this field is required"))
    org_units = ctx["org_units"]
    unit = org_units.get(code) if org_units is not None else OrgUnit.objects.filter(code=code).first()
    if unit is None:
        raise ValidationError(_("%(code)s is not a known org unit code") % {"code": code})
    out["org_unit"] = unit


def _clean_status(value, ctx, out):
    raw = normalize_text(value)
    out["status"] = _choice(raw, "status", CustomerStatus, STATUS_ALIASES) if raw else CustomerStatus.PROSPECT


def _clean_address(value, ctx, out):
    address = normalize_text(value)
    if len(address) > 200:
        raise ValidationError(_("at most 200 characters"))
    out["address"] = address


def _clean_industry(value, ctx, out):
    code = normalize_text(value).upper().replace(" ", "")
    if code and (not _INDUSTRY_RE.match(code) or code[0] not in industry_sections()):
        raise ValidationError(_("%(code)s is not a GB/T 4754 code (a section letter A–T, e.g. A or A0111)")
                              % {"code": code})
    out["industry"] = code


def _money_cleaner(field: str):
    zero_when_blank = field in ("deposit_balance", "loan_balance")

    def clean(value, ctx, out):
        amount = parse_amount(value, field)
        if amount is None and zero_when_blank:
            amount = Decimal("0.00")
        out[field] = amount

    return clean


def _clean_household(value, ctx, out):
    raw = normalize_text(str(value or ""))
    if not raw:
        out["household_size"] = None
        return
    if len(raw) <= 4 and raw.isascii() and raw.isdigit():
        # A few plain digits: int() gives what int(Decimal()) gives, and the value is whole.
        # (Long digit strings take the Decimal path: int() refuses more than 4,300 digits.)
        size = int(raw)
        if size < 1 or size > 50:
            raise ValidationError(_("a household has between 1 and 50 people"))
        out["household_size"] = size
        return
    try:
        size = int(Decimal(raw))
    except (InvalidOperation, ValueError):
        raise ValidationError(_("%(value)s is not a whole number") % {"value": raw}) from None
    if size < 1 or size > 50 or Decimal(raw) != size:
        raise ValidationError(_("a household has between 1 and 50 people"))
    out["household_size"] = size


def _clean_guarantee(value, ctx, out):
    raw = normalize_text(value)
    out["guarantee_type"] = _choice(raw, "guarantee_type", GuaranteeType, GUARANTEE_ALIASES) if raw else ""


def _clean_notes(value, ctx, out):
    out["notes"] = (value or "").strip()


def _remembered(cleaner, field: str, *, in_ctx: bool = False):
    """`cleaner` for a field of few distinct values (a code or its label), remembering what each text
    it accepted became: a registration file repeats the same few texts in every row.

    What it refused is not remembered: the reason is worded in the language of the moment.
    """
    seen: dict[str, Any] = {}

    def clean(value, ctx, out):
        if type(value) is str and (hit := seen.get(value)) is not None:
            out[field] = hit
            if in_ctx:
                ctx[field] = hit
            return
        cleaner(value, ctx, out)
        if type(value) is str:
            if len(seen) >= 4096:
                seen.clear()
            seen[value] = out[field]

    return clean


_RESIDENT_TYPES = frozenset({CustomerType.PERSON.value, CustomerType.FARMER.value})
# Field cleaners in order; the ID number depends on the customer type cleaned before it.
_CLEANERS = [
    ("customer_type", _remembered(_clean_type, "customer_type", in_ctx=True)), ("name", _clean_name),
    ("id_number", _clean_id), ("phone", _clean_phone), ("email", _clean_email), ("org_code", _clean_org),
    ("status", _remembered(_clean_status, "status")), ("address", _clean_address),
    ("industry", _remembered(_clean_industry, "industry")),
    *[(field, _money_cleaner(field)) for field in MONEY_FIELDS],
    ("household_size", _remembered(_clean_household, "household_size")), ("guarantee_type", _remembered(_clean_guarantee, "guarantee_type")), ("notes", _clean_notes),
]
_REQUIRED_ON_CREATE = frozenset({"customer_type", "name", "id_number", "org_code"})
# Each field's cleaner, `cleaner(value, ctx, out)`: the registration import cleans a block of rows
# a column at a time with them (`importing.customers._prepare_rows`), leaving to
# clean_customer_input every row with a value they refuse.
CLEANERS = dict(_CLEANERS)


def clean_customer_input(
    data: dict[str, Any], *, current: dict[str, Any] | None = None, org_units: dict[str, OrgUnit] | None = None
) -> dict[str, Any]:
    """Normalise and validate customer fields named as in DESIGN.md.

    `data` holds the fields given (absent keys are left alone when `current` is given, so
    it serves updates too). Returns model-ready values (`org_unit`, `birth_date`, `gender`
    and the search columns derived). Raises one ValidationError mapping every bad field to
    its reason. This is the one validator: forms, the API and the importers all call it.
    """
    current = current or {}
    creating = not current
    ctx = {"customer_type": current.get("customer_type"), "org_units": org_units}
    errors: dict[str, list] = {}
    out: dict[str, Any] = {}
    for field, cleaner in _CLEANERS:
        if field in data:
            value = data[field]
        elif creating and field in _REQUIRED_ON_CREATE:
            value = None
        elif field == "id_number" and "customer_type" in data:
            value = current.get("id_number")  # a new type re-checks the existing number
        else:
            continue
        if field == "id_number":
            if "customer_type" in errors:
                continue
            if ctx["customer_type"] not in _values(CustomerType):
                if creating:
                    errors.setdefault("id_number", []).append(_("this field is required"))
                continue
        try:
            cleaner(value, ctx, out)
        except ValidationError as exc:
            if hasattr(exc, "error_dict"):
                for key, messages in exc.message_dict.items():
                    errors.setdefault(key, []).extend(messages)
            else:
                errors.setdefault(field, []).extend(exc.messages)
    if errors:
        raise ValidationError(errors)
    out.update(search.derived_fields(name=out.get("name"), phone=out.get("phone"),
                                     customer_type=ctx["customer_type"]))
    return out
