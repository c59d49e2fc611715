"""Validation and normalisation of Chinese customer identifiers.

This module checks the identifiers a rural bank clerk types in or imports
from spreadsheets:

* resident identity card numbers (GB 11643, 18 digits, or old 15-digit ones),
* unified social credit codes of companies and collectives (GB 32100),
* mainland mobile phone numbers.

Every check raises :class:`django.core.exceptions.ValidationError` with a
single, translatable message that names the reason, and a stable ``code``
(``"format"``, ``"county"``, ``"birth_date"``, ``"check_digit"``,
``"excel_mangled"``, ``"invalid"``) so callers can react programmatically.
The caller is responsible for attaching the error to a form or model field.
"""

from __future__ import annotations

import functools
import importlib.resources
import operator
import re
import time
import unicodedata
from dataclasses import dataclass
from datetime import date

import phonenumbers
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

__all__ = [
    "USCC_ALPHABET",
    "ResidentId",
    "convert_15_to_18",
    "county_exists",
    "county_name",
    "is_excel_mangled",
    "normalize_identifier",
    "normalize_text",
    "resident_id_check_digit",
    "resident_id_facts",
    "uscc_check_char",
    "validate_id_number",
    "validate_mobile",
    "validate_resident_id",
    "validate_uscc",
]

# ---------------------------------------------------------------------------
# Text normalisation
# ---------------------------------------------------------------------------

# ASCII hyphen plus the Unicode dashes people paste from Word/WPS documents
# (NFKC does not fold all of them to "-").
_IDENTIFIER_JUNK_RE = re.compile(r"[\s\-\u2010-\u2015\u2212\uFE58\uFE63\uFF0D]+")

# A number that Excel displayed in scientific notation and that was then
# exported as text, e.g. "2.31102E+17" or "2,31102E+17" (decimal comma).
_EXCEL_SCIENTIFIC_RE = re.compile(r"^[+-]?[0-9]+(?:[.,][0-9]*)?E[+-]?[0-9]+$", re.IGNORECASE)


def normalize_text(value: str | None) -> str:
    """Return ``value`` in a canonical form for storage and comparison.

    Applies Unicode NFKC (full-width digits, letters and the ideographic
    space U+3000 become their ASCII equivalents), strips leading and trailing
    whitespace and collapses every run of whitespace into a single space.
    ``None`` becomes the empty string.
    """
    if value is None:
        return ""
    text = value if type(value) is str else str(value)  # str() would return a str itself anyway
    # Fast path for plain ASCII (most cells of a big import): NFKC changes nothing there.
    # (For other text, unicodedata.normalize() itself returns text that is already NFKC as is.)
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    # str.split() splits on exactly the characters regex \s matches (both use str.isspace()),
    # so this collapses every whitespace run into one space and strips both ends in one go,
    # several times faster than a regex search and substitution.
    return " ".join(text.split())


def normalize_identifier(value: str | None) -> str:
    """Normalise an identifier such as an ID number or a credit code.

    Runs :func:`normalize_text`, removes all whitespace and dashes, and
    upper-cases the result (so a trailing ``x`` becomes ``X``).
    """
    text = normalize_text(value)
    # Whitespace and dashes are never alphanumeric: a text that is can have nothing to remove.
    if not text.isalnum():
        text = _IDENTIFIER_JUNK_RE.sub("", text)
    return text.upper()


def is_excel_mangled(value: str | None) -> bool:
    """Tell whether ``value`` looks like a number Excel put in scientific notation.

    Excel shows long numbers such as ID numbers as ``2.31102E+17`` and keeps
    only 15 significant digits, so the original value cannot be recovered.
    """
    return bool(_EXCEL_SCIENTIFIC_RE.match(normalize_identifier(value)))


def _is_excel_mangled_identifier(number: str) -> bool:
    """:func:`is_excel_mangled` for a value that :func:`normalize_identifier` already returned."""
    if number.isascii():
        # normalize_identifier() returns such an ASCII value unchanged (no whitespace or dashes
        # left, already upper case), so running it again is useless; and the pattern needs an
        # "E", which upper-casing made the only possible form of the exponent letter.
        return "E" in number and _EXCEL_SCIENTIFIC_RE.match(number) is not None
    return is_excel_mangled(number)


def _excel_mangled_error() -> ValidationError:
    return ValidationError(
        _(
            "This looks like a number mangled by Excel (scientific notation, e.g. 2.31102E+17). "
            "Format the column as text in the spreadsheet and export again."
        ),
        code="excel_mangled",
    )


_TODAY_CACHE: list = [0.0, None]


def _today(today: date | None) -> date:
    """Return ``today`` or the current local date (aware-datetime safe).

    The local date is cached for a second: bulk imports validate thousands of numbers a
    second and the time-zone conversion would otherwise dominate.
    """
    if today is not None:
        return today
    tick = time.monotonic()
    if tick - _TODAY_CACHE[0] < 1.0 and _TODAY_CACHE[1] is not None:
        return _TODAY_CACHE[1]
    now = timezone.now()
    value = timezone.localdate(now) if timezone.is_aware(now) else now.date()
    _TODAY_CACHE[0], _TODAY_CACHE[1] = tick, value
    return value


# ---------------------------------------------------------------------------
# Administrative division (county) codes
# ---------------------------------------------------------------------------

_LOC_PROVINCE_RE = re.compile(r'^(\d{2})\s+province="([^"]*)"')
_LOC_COUNTY_RE = re.compile(r'^\s+(\d{4})\s+county="([^"]*)"')
_LOC_ERA_RE = re.compile(r"^\[(\d{4})?-(\d{4})?\]")


def _latest_name(raw: str) -> str:
    """Pick the most recent name from a loc.dat entry.

    ``"[1983-1987]梅里斯区,[1988-]梅里斯达斡尔族区"`` → ``"梅里斯达斡尔族区"``.
    Names still in use (open-ended era) win, then the latest end year, then
    the latest start year, then the last one listed.
    """
    best: tuple[int, int, int] | None = None
    best_name = ""
    for index, part in enumerate(p.strip() for p in raw.split(",")):
        match = _LOC_ERA_RE.match(part)
        if match:
            start = int(match.group(1)) if match.group(1) else 0
            end = int(match.group(2)) if match.group(2) else 9999
            name = part[match.end() :]
        else:
            start, end, name = 0, 9999, part
        key = (end, start, index)
        if name and (best is None or key > best):
            best, best_name = key, name
    return best_name


@functools.cache
def _county_names() -> dict[str, str]:
    """Parse python-stdnum's ``loc.dat`` into ``{six-digit code: latest name}``.

    Every code that was valid at any time is included, because an ID number
    keeps the code of the place where it was issued, even after that county
    was renamed, merged or abolished.
    """
    data = (importlib.resources.files("stdnum.cn") / "loc.dat").read_text(encoding="utf-8")
    names: dict[str, str] = {}
    province = ""
    for line in data.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        province_match = _LOC_PROVINCE_RE.match(line)
        if province_match:
            province = province_match.group(1)
            continue
        county_match = _LOC_COUNTY_RE.match(line)
        if county_match and province:
            names[province + county_match.group(1)] = _latest_name(county_match.group(2))
    return names


def county_name(code: str) -> str | None:
    """Return the most recent name of a 6-digit division code, or ``None`` if unknown."""
    return _county_names().get(code)


def county_exists(code: str) -> bool:
    """Tell whether ``code`` is a division code that was valid in any era."""
    return code in _county_names()


# ---------------------------------------------------------------------------
# Resident identity card numbers (GB 11643-1999)
# ---------------------------------------------------------------------------

_RID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_RID_CHECK_CHARS = "10X98765432"
_RID_18_RE = re.compile(r"^[0-9]{17}[0-9X]$")


@dataclass(frozen=True)
class ResidentId:
    """A validated resident identity card number and the facts encoded in it."""

    number: str
    """The normalised 18-character number (15-digit numbers are converted)."""
    birth_date: date
    gender: str
    """``"male"`` or ``"female"``, from the parity of the 17th digit."""
    county_code: str
    """The 6-digit code of the county where the number was issued."""
    county_name: str | None
    """The most recent name of that county, if known."""


def resident_id_check_digit(first17: str) -> str:
    """Compute the GB 11643 (ISO 7064 MOD 11-2) check character for 17 digits."""
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise ValueError("resident_id_check_digit() needs exactly 17 ASCII digits")
    return _rid_check_char(first17)


def _rid_check_char(first17: str) -> str:
    """:func:`resident_id_check_digit` for a value known to be 17 ASCII digits."""
    # The weight of digit i (0-based) is 2**(17 - i) mod 11 (ISO 7064 MOD 11-2), so the weighted
    # sum is, mod 11, twice the digits read as a base-2 number. Reading them in base 13 instead
    # gives the same remainder, as 13 ≡ 2 (mod 11), and int() does that in C (digits 0-9 are
    # valid base-13 digits): 10x cheaper than 17 multiplications in Python.
    return _RID_CHECK_CHARS[2 * int(first17, 13) % 11]


def convert_15_to_18(number15: str) -> str:
    """Convert an old 15-digit ID number (2-digit year, no check digit) to 18 digits."""
    if len(number15) != 15 or not number15.isascii() or not number15.isdigit():
        raise ValueError("convert_15_to_18() needs exactly 15 ASCII digits")
    first17 = number15[:6] + "19" + number15[6:]
    return first17 + resident_id_check_digit(first17)


def _id_format_error(number: str) -> ValidationError:
    """Build a clerk-friendly message describing what is wrong with the shape."""
    if not number:
        return ValidationError(_("The ID number is empty."), code="format")
    if len(number) not in (15, 18):
        return ValidationError(
            _(
                "An ID number must have 18 characters (or 15 for old cards), "
                "but %(length)d characters were entered."
            ),
            code="format",
            params={"length": len(number)},
        )
    if _is_valid_uscc(number):
        return ValidationError(
            _(
                "This is a unified social credit code (used by companies and collectives), "
                "not a resident ID number. Check the customer type."
            ),
            code="format",
        )
    allowed = "0123456789" if len(number) == 15 else None
    bad: list[str] = []
    for position, char in enumerate(number):
        if allowed is not None:
            ok = char in allowed
        elif position < 17:
            ok = char in "0123456789"
        else:
            ok = char in "0123456789X"
        if not ok and char not in bad:
            bad.append(char)
    if len(number) == 15:
        message = _("An old 15-character ID number may contain digits only; found %(chars)s.")
    else:
        message = _("An ID number must be 17 digits followed by a digit or X; found %(chars)s.")
    return ValidationError(message, code="format", params={"chars": ", ".join(f"“{c}”" for c in bad)})


def validate_resident_id(value: str | None, *, today: date | None = None) -> ResidentId:
    """Validate a resident identity card number and return what it encodes.

    Accepts full-width characters, spaces, dashes, a lowercase ``x`` and old
    15-digit numbers (converted to 18 digits).  Checks, in order: Excel
    damage, shape, county code (any era: the code is where the card was
    issued, which may be later than the birth), birth date and check digit.

    :param today: reference date for the "birth date in the future" check;
        defaults to the current local date.
    :raises ValidationError: with code ``excel_mangled``, ``format``,
        ``county``, ``birth_date`` or ``check_digit``.
    """
    number, birth_date, gender = resident_id_facts(value, today=today)
    county_code = number[:6]
    return ResidentId(
        number=number,
        birth_date=birth_date,
        gender=gender,
        county_code=county_code,
        county_name=county_name(county_code),
    )


def resident_id_facts(value: str | None, *, today: date | None = None) -> tuple[str, date, str]:
    """:func:`validate_resident_id`'s checks, returning only (number, birth date, gender).

    For bulk imports, which validate thousands of numbers a second and need no county name:
    building the :class:`ResidentId` would cost a quarter of the check.
    """
    number = normalize_identifier(value)
    if _is_excel_mangled_identifier(number):
        raise _excel_mangled_error()

    if len(number) == 15 and number.isascii() and number.isdigit():
        number = convert_15_to_18(number)
    if not _RID_18_RE.match(number):
        raise _id_format_error(number)

    county_code = number[:6]
    if not county_exists(county_code):
        raise ValidationError(
            _("Unknown county code %(code)s (the first 6 digits of the ID number)."),
            code="county",
            params={"code": county_code},
        )

    year, month_day = divmod(int(number[6:14]), 10000)  # YYYYMMDD, ASCII digits
    month, day = divmod(month_day, 100)
    try:
        birth_date = date(year, month, day)
    except ValueError:
        raise ValidationError(
            _("The birth date %(date)s in the ID number does not exist."),
            code="birth_date",
            params={"date": _shown_birth_date(number)},
        ) from None
    if year < 1900:
        raise ValidationError(
            _("The birth date %(date)s in the ID number is before 1900."),
            code="birth_date",
            params={"date": _shown_birth_date(number)},
        )
    if birth_date > _today(today):
        raise ValidationError(
            _("The birth date %(date)s in the ID number is in the future."),
            code="birth_date",
            params={"date": _shown_birth_date(number)},
        )

    expected = _rid_check_char(number[:17])  # _RID_18_RE matched: 17 ASCII digits
    if number[17] != expected:
        if number[15:18] == "000":
            # Excel keeps 15 significant digits and replaces the rest by zeros.
            message = _(
                "Wrong check digit: the last character should be %(expected)s, not %(found)s. "
                "The number ends in zeros, so it may have been damaged by Excel; "
                "format the column as text and export again."
            )
        else:
            message = _(
                "Wrong check digit: the last character should be %(expected)s, not %(found)s. "
                "Please compare the number with the ID card."
            )
        raise ValidationError(message, code="check_digit", params={"expected": expected, "found": number[17]})

    return number, birth_date, "male" if number[16] in "13579" else "female"  # parity of an ASCII digit


def _shown_birth_date(number: str) -> str:
    return f"{number[6:10]}-{number[10:12]}-{number[12:14]}"


# ---------------------------------------------------------------------------
# Unified social credit codes (GB 32100-2015)
# ---------------------------------------------------------------------------

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
"""The 31 characters a unified social credit code may use (no I, O, S, V, Z)."""

_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_USCC_VALUE = {char: index for index, char in enumerate(USCC_ALPHABET)}  # == USCC_ALPHABET.index(char)
_USCC_CHARS = frozenset(USCC_ALPHABET)


def uscc_check_char(first17: str) -> str:
    """Compute the GB 32100 (MOD 31) check character for the first 17 characters."""
    if len(first17) != 17 or any(char not in USCC_ALPHABET for char in first17):
        raise ValueError("uscc_check_char() needs 17 characters of the USCC alphabet")
    return _uscc_check_char(first17)


def _uscc_check_char(first17: str) -> str:
    """:func:`uscc_check_char` for 17 characters known to be of the alphabet."""
    total = sum(map(operator.mul, map(_USCC_VALUE.__getitem__, first17), _USCC_WEIGHTS))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def validate_uscc(value: str | None) -> str:
    """Validate a unified social credit code and return it normalised.

    Any registration authority / organisation type (first two characters)
    is accepted, including ``N`` (agriculture, village collectives) and
    ``Y`` (other), which are everyday data for rural banks.  Characters 3-8
    must be digits (administrative division code).

    :raises ValidationError: with code ``excel_mangled``, ``format`` or
        ``check_digit``.
    """
    code = normalize_identifier(value)
    if _is_excel_mangled_identifier(code):
        raise _excel_mangled_error()
    if not code:
        raise ValidationError(_("The unified social credit code is empty."), code="format")
    if len(code) != 18:
        raise ValidationError(
            _(
                "A unified social credit code must have 18 characters, "
                "but %(length)d characters were entered."
            ),
            code="format",
            params={"length": len(code)},
        )
    # USCC_ALPHABET holds single characters, so "char in" the string and the set agree.
    bad = [] if _USCC_CHARS.issuperset(code) else list(dict.fromkeys(c for c in code if c not in USCC_ALPHABET))
    if bad:
        raise ValidationError(
            _(
                "The unified social credit code contains characters that are never used: %(chars)s. "
                "Only digits and capital letters except I, O, S, V and Z are allowed."
            ),
            code="format",
            params={"chars": ", ".join(f"“{c}”" for c in bad)},
        )
    if not code[2:8].isdigit():
        raise ValidationError(
            _(
                "Characters 3 to 8 of a unified social credit code are the region code "
                "and must be digits; found %(region)s."
            ),
            code="format",
            params={"region": code[2:8]},
        )
    expected = _uscc_check_char(code[:17])  # every character was checked above
    if code[17] != expected:
        raise ValidationError(
            _(
                "Wrong check character: the last character should be %(expected)s, not %(found)s. "
                "Please compare the code with the business licence."
            ),
            code="check_digit",
            params={"expected": expected, "found": code[17]},
        )
    return code


def _is_valid_uscc(value: str) -> bool:
    try:
        validate_uscc(value)
    except ValidationError:
        return False
    return True


# ---------------------------------------------------------------------------
# Mobile phone numbers
# ---------------------------------------------------------------------------

_PHONE_SEPARATORS_RE = re.compile(r"[\s\-\u2010-\u2015\u2212.()\[\]]+")
_PHONE_COUNTRY_PREFIX_RE = re.compile(r"^(?:\+86|0086|86(?=[0-9]{11}$))")
_PHONE_TRUNK_PREFIX_RE = re.compile(r"^0(?=1[0-9]{10}$)")
_MOBILE_TYPES = frozenset(
    {phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE}
)


@functools.lru_cache(maxsize=65536)
def _mobile_range_assigned(prefix: str) -> bool:
    """Whether the 5-digit prefix (号段) is an assigned mobile range, per phonenumbers.

    phonenumbers' mainland mobile pattern is decided by the first five digits at most
    (``1740[0-5]``, ``1610``, ``13x`` …), so the answer for one number holds for every
    number sharing its first five digits; caching it makes bulk imports fast. The number is
    built rather than parsed from text (the same number, a fifth of the cost: each import
    worker meets a few thousand prefixes).
    """
    number = phonenumbers.PhoneNumber(country_code=86, national_number=int(prefix + "000000"))
    return phonenumbers.is_valid_number(number) and phonenumbers.number_type(number) in _MOBILE_TYPES


def validate_mobile(value: str | None) -> str:
    """Validate a mainland China mobile number and return its 11 digits.

    Accepts full-width characters, a ``+86`` / ``0086`` country prefix (or
    ``86`` directly followed by 11 digits), a leading trunk ``0`` and separators (spaces, dashes, dots,
    parentheses): ``"+86 138-1234-5678"`` → ``"13812345678"``.

    :raises ValidationError: with code ``format`` (not 11 digits starting
        with 1) or ``invalid`` (no such mobile number range).
    """
    text = normalize_text(value)
    if len(text) == 11 and text[0] == "1" and text.isascii() and text.isdigit():
        # The usual case, 11 plain digits starting with 1: there are no separators, and
        # neither prefix pattern can match (both need a leading "+", "0" or "8").
        digits = text
    else:
        digits = _PHONE_SEPARATORS_RE.sub("", text)
        digits = _PHONE_COUNTRY_PREFIX_RE.sub("", digits)
        digits = _PHONE_TRUNK_PREFIX_RE.sub("", digits)
    if not digits:
        raise ValidationError(_("The mobile number is empty."), code="format")
    if digits.startswith(("+", "00")):
        raise ValidationError(
            _("Only mainland China mobile numbers can be entered; “%(value)s” has a foreign country code."),
            code="format",
            params={"value": text},
        )
    if not (digits.isascii() and digits.isdigit()):
        raise ValidationError(
            _(
                "A mobile number may contain digits only (and an optional +86 prefix); "
                "“%(value)s” was entered."
            ),
            code="format",
            params={"value": text},
        )
    if len(digits) != 11 or not digits.startswith("1"):
        raise ValidationError(
            _(
                "A mainland China mobile number has 11 digits and starts with 1; "
                "“%(value)s” has %(length)d digits."
            ),
            code="format",
            params={"value": text, "length": len(digits)},
        )
    if not _mobile_range_assigned(digits[:5]):
        raise ValidationError(
            _(
                "%(number)s is not a valid mainland China mobile number: its number range "
                "is not assigned to any mobile carrier. Please check the number with the customer."
            ),
            code="invalid",
            params={"number": digits},
        )
    return digits


# ---------------------------------------------------------------------------
# Dispatch by customer type
# ---------------------------------------------------------------------------

_PERSON_TYPES = frozenset({"person", "farmer"})
_COMPANY_TYPES = frozenset({"company"})


def validate_id_number(value: str | None, customer_type: str, *, today: date | None = None) -> str:
    """Validate the ID number of a customer according to its type.

    ``"person"`` and ``"farmer"`` need a resident identity card number,
    ``"company"`` a unified social credit code.  Returns the normalised number.

    :raises ValidationError: from :func:`validate_resident_id` or
        :func:`validate_uscc`, or with code ``customer_type`` when the
        customer type is unknown (e.g. the type field itself was invalid).
    """
    kind = (customer_type or "").strip().lower()
    if kind in _PERSON_TYPES:
        return validate_resident_id(value, today=today).number
    if kind in _COMPANY_TYPES:
        return validate_uscc(value)
    raise ValidationError(
        _("Cannot check the ID number: unknown customer type “%(type)s”."),
        code="customer_type",
        params={"type": customer_type},
    )


def county_codes() -> list[str]:
    """Every county code known in any era, sorted (for synthetic data and pickers)."""
    return sorted(_county_names())
