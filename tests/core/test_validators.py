"""Tests for guanxi.core.validators (no database needed)."""

from __future__ import annotations

from datetime import date

import pytest
from django.core.exceptions import ValidationError
from stdnum.cn import uscc as stdnum_uscc

from guanxi.core.validators import (
    ResidentId,
    convert_15_to_18,
    county_exists,
    county_name,
    is_excel_mangled,
    normalize_identifier,
    normalize_text,
    resident_id_check_digit,
    uscc_check_char,
    validate_id_number,
    validate_mobile,
    validate_resident_id,
    validate_uscc,
)


@pytest.fixture(autouse=True)
def english():
    """These tests read the English source messages; the Chinese ones are checked below."""
    from django.utils import translation

    with translation.override("en"):
        yield


def test_messages_are_chinese_by_default():
    from django.utils import translation

    with translation.override("zh-hans"):
        with pytest.raises(ValidationError) as excinfo:
            validate_resident_id("110101199002301234")
        assert "不存在" in excinfo.value.messages[0]


TODAY = date(2025, 6, 1)


# --- independent reference implementations (deliberately not the module's) --


def reference_rid_check(first17: str) -> str:
    """GB 11643 check digit computed as 2**(17-i) mod 11, i.e. ISO 7064 MOD 11-2."""
    total = sum(int(d) * (2 ** (17 - i) % 11) for i, d in enumerate(first17))
    return "10X98765432"[total % 11]


def reference_uscc_check(first17: str) -> str:
    """GB 32100 check character computed with weights 3**i mod 31."""
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    total = sum(alphabet.index(c) * (3**i % 31) for i, c in enumerate(first17))
    return alphabet[(31 - total % 31) % 31]


def make_id(first17: str) -> str:
    return first17 + reference_rid_check(first17)


def error_of(func, *args, **kwargs) -> ValidationError:
    with pytest.raises(ValidationError) as excinfo:
        func(*args, **kwargs)
    return excinfo.value


def message_of(error: ValidationError) -> str:
    assert len(error.messages) == 1
    return error.messages[0]


# --- normalisation ----------------------------------------------------------


def test_normalize_text_folds_full_width_and_collapses_whitespace():
    assert normalize_text("\u3000ＡＢＣ　１２３  \t x ") == "ABC 123 x"


def test_normalize_text_turns_none_into_empty_string():
    assert normalize_text(None) == ""


def test_normalize_identifier_removes_spaces_dashes_and_uppercases():
    assert normalize_identifier(" 2311-0219 9001 01123x ") == "23110219900101123X"


def test_normalize_identifier_folds_full_width_digits():
    assert normalize_identifier("２３１１０２") == "231102"


@pytest.mark.parametrize("value", ["2.31102E+17", "2.31102e17", "2.31102199001011E+17", "2,31102E+17"])
def test_is_excel_mangled_detects_scientific_notation(value):
    assert is_excel_mangled(value)


@pytest.mark.parametrize("value", ["231102199001011234", "23110219900101123X", "91350100M000100Y43", ""])
def test_is_excel_mangled_ignores_normal_identifiers(value):
    assert not is_excel_mangled(value)


# --- county codes -------------------------------------------------------------


def test_county_name_returns_current_name_of_county():
    assert county_name("230183") == "尚志市"


def test_county_name_takes_latest_of_several_historical_names():
    # "[1983-1987]梅里斯区,[1988-]梅里斯达斡尔族区"
    assert county_name("230208") == "梅里斯达斡尔族区"


def test_county_name_strips_era_of_abolished_county():
    # "[-2010]崇文区", merged into Dongcheng in 2010 but still on old ID cards
    assert county_name("110103") == "崇文区"


def test_county_exists_accepts_prefecture_code():
    assert county_exists("230100")


@pytest.mark.parametrize("code", ["239999", "000000", "2301", "abcdef"])
def test_county_exists_rejects_unknown_codes(code):
    assert not county_exists(code)
    assert county_name(code) is None


# --- resident ID: check digit and conversion ----------------------------------


@pytest.mark.parametrize(
    "first17", ["11010519491231002", "23018319600315123", "44052419800101001", "23110219900101123"]
)
def test_resident_id_check_digit_matches_reference(first17):
    assert resident_id_check_digit(first17) == reference_rid_check(first17)


def test_resident_id_check_digit_of_official_example():
    # Example from GB 11643-1999
    assert resident_id_check_digit("11010519491231002") == "X"


def test_convert_15_to_18_inserts_century_and_check_digit():
    assert convert_15_to_18("231102900101123") == make_id("23110219900101123")


# --- resident ID: valid numbers -----------------------------------------------


def test_id_born_before_county_code_existed_is_valid_shangzhi():
    number = make_id("23018319600315123")  # 尚志市 [1996-], born 1960
    result = validate_resident_id(number, today=TODAY)
    assert result == ResidentId(
        number=number,
        birth_date=date(1960, 3, 15),
        gender="male",
        county_code="230183",
        county_name="尚志市",
    )


def test_id_born_before_county_code_existed_is_valid_wuchang():
    number = make_id("23018419750720004")  # 五常市 [1996-], born 1975
    result = validate_resident_id(number, today=TODAY)
    assert result.birth_date == date(1975, 7, 20)
    assert result.county_name == "五常市"


def test_id_born_before_county_code_existed_is_valid_shuangcheng():
    number = make_id("23011319701108002")  # 双城区 [2014-], born 1970
    result = validate_resident_id(number, today=TODAY)
    assert result.birth_date == date(1970, 11, 8)
    assert result.county_code == "230113"
    assert result.county_name == "双城区"


def test_id_with_even_sequence_digit_is_female():
    assert validate_resident_id(make_id("23011319701108002"), today=TODAY).gender == "female"


def test_id_with_odd_sequence_digit_is_male():
    assert validate_resident_id(make_id("23011319701108003"), today=TODAY).gender == "male"


def test_id_of_abolished_county_is_valid():
    number = make_id("11010319800101001")  # 崇文区 [-2010]
    assert validate_resident_id(number, today=TODAY).county_name == "崇文区"


def test_id_with_full_width_digits_and_spaces_is_normalised():
    number = make_id("23018319600315123")
    full_width = "　" + " ".join(chr(ord(c) + 0xFEE0) for c in number) + "　"
    assert validate_resident_id(full_width, today=TODAY).number == number


def test_id_with_lowercase_x_is_accepted_and_uppercased():
    assert reference_rid_check("11010519491231002") == "X"
    assert validate_resident_id("11010519491231002x", today=TODAY).number == "11010519491231002X"


def test_fifteen_digit_id_is_converted_to_eighteen():
    result = validate_resident_id("230183600315123", today=TODAY)
    assert result.number == make_id("23018319600315123")
    assert result.birth_date == date(1960, 3, 15)


def test_birth_date_today_is_accepted():
    number = make_id("23018320250601001")
    assert validate_resident_id(number, today=TODAY).birth_date == TODAY


def test_default_today_accepts_past_birth_date():
    assert validate_resident_id(make_id("23018319600315123")).birth_date == date(1960, 3, 15)


# --- resident ID: refusals ------------------------------------------------------


def test_id_with_wrong_check_digit_is_refused_naming_expected_digit():
    number = make_id("23018319600315123")
    wrong = "0" if number[-1] != "0" else "1"
    error = error_of(validate_resident_id, number[:17] + wrong, today=TODAY)
    assert error.code == "check_digit"
    assert f"should be {number[-1]}" in message_of(error)


def test_id_with_trailing_zeros_and_wrong_check_digit_mentions_excel():
    error = error_of(validate_resident_id, "231102199001011000", today=TODAY)
    assert error.code == "check_digit"
    assert "Excel" in message_of(error)


def test_id_with_impossible_birth_date_is_refused():
    error = error_of(validate_resident_id, make_id("23110219900230123"), today=TODAY)
    assert error.code == "birth_date"
    assert "1990-02-30 " in message_of(error)
    assert "does not exist" in message_of(error)


def test_id_with_future_birth_date_is_refused():
    error = error_of(validate_resident_id, make_id("23110220250602123"), today=TODAY)
    assert error.code == "birth_date"
    assert "future" in message_of(error)


def test_id_with_future_birth_date_is_refused_with_default_today():
    error = error_of(validate_resident_id, make_id("23110220990101123"))
    assert error.code == "birth_date"


def test_id_born_before_1900_is_refused():
    error = error_of(validate_resident_id, make_id("23110218991231123"), today=TODAY)
    assert error.code == "birth_date"
    assert "1900" in message_of(error)


@pytest.mark.parametrize("prefix", ["239999", "000000"])
def test_id_with_unknown_county_code_is_refused(prefix):
    error = error_of(validate_resident_id, make_id(prefix + "19900101123"), today=TODAY)
    assert error.code == "county"
    assert prefix in message_of(error)


@pytest.mark.parametrize("value", ["2.31102E+17", "2.31102e17", "2.31102199001011E+17"])
def test_id_mangled_by_excel_is_refused(value):
    error = error_of(validate_resident_id, value, today=TODAY)
    assert error.code == "excel_mangled"
    assert "text" in message_of(error)


def test_id_with_wrong_length_is_refused_naming_length():
    error = error_of(validate_resident_id, "23018319600315123", today=TODAY)
    assert error.code == "format"
    assert "17" in message_of(error)


def test_id_with_letters_is_refused_naming_them():
    error = error_of(validate_resident_id, "2301831960031512Y4", today=TODAY)
    assert error.code == "format"
    assert "Y" in message_of(error)


def test_id_with_x_not_in_last_position_is_refused():
    error = error_of(validate_resident_id, "23018319600315X231", today=TODAY)
    assert error.code == "format"


def test_empty_id_is_refused():
    assert error_of(validate_resident_id, "  ", today=TODAY).code == "format"


def test_credit_code_entered_as_resident_id_is_explained():
    error = error_of(validate_resident_id, "91350100M000100Y43", today=TODAY)
    assert error.code == "format"
    assert "unified social credit code" in message_of(error)


# --- unified social credit code -----------------------------------------------


def test_uscc_check_char_matches_reference():
    for body in ["91350100M000100Y4", "N2230183MA1234567", "Y1230184MJ0000001", "91440300192203821"]:
        assert uscc_check_char(body) == reference_uscc_check(body)


def test_uscc_company_example_is_valid():
    assert reference_uscc_check("91350100M000100Y4") == "3"
    assert stdnum_uscc.is_valid("91350100M000100Y43")
    assert validate_uscc("91350100M000100Y43") == "91350100M000100Y43"


def test_uscc_real_world_company_code_is_valid():
    # Huawei Technologies Co., Ltd., checked by python-stdnum independently
    assert stdnum_uscc.is_valid("914403001922038216")
    assert validate_uscc("914403001922038216") == "914403001922038216"


def test_uscc_with_n_prefix_village_collective_is_valid():
    code = "N2230183MA1234567" + reference_uscc_check("N2230183MA1234567")
    assert validate_uscc(code) == code


def test_uscc_with_y_prefix_is_valid():
    code = "Y1230184MJ0000001" + reference_uscc_check("Y1230184MJ0000001")
    assert validate_uscc(code) == code


def test_uscc_with_a_prefix_is_valid():
    code = "A1230100MB1234567" + reference_uscc_check("A1230100MB1234567")
    assert validate_uscc(code) == code


def test_uscc_is_normalised_from_lowercase_full_width_and_spaces():
    assert validate_uscc(" ９１３５０１００m０００ １００y４３ ") == "91350100M000100Y43"


def test_uscc_with_wrong_check_char_is_refused_naming_expected_char():
    error = error_of(validate_uscc, "91350100M000100Y44")
    assert error.code == "check_digit"
    assert "should be 3" in message_of(error)


@pytest.mark.parametrize("bad", ["I", "O", "S", "V", "Z"])
def test_uscc_with_unused_letter_is_refused(bad):
    error = error_of(validate_uscc, "91350100M000100" + bad + "43")
    assert error.code == "format"
    assert bad in message_of(error)


def test_uscc_with_letters_in_region_code_is_refused():
    error = error_of(validate_uscc, "9135A100M000100Y43")
    assert error.code == "format"
    assert "35A100" in message_of(error)


def test_uscc_with_wrong_length_is_refused():
    error = error_of(validate_uscc, "91350100M000100Y4")
    assert error.code == "format"
    assert "17" in message_of(error)


def test_uscc_mangled_by_excel_is_refused():
    assert error_of(validate_uscc, "9.13501E+17").code == "excel_mangled"


# --- mobile numbers -----------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "+86 138-1234-5678",
        "＋８６　１３８１２３４５６７８",
        "０１３８１２３４５６７８",
        "8613812345678",
        "008613812345678",
        "138 1234 5678",
        "(+86) 138.1234.5678",
        "13812345678",
    ],
)
def test_mobile_is_normalised_to_eleven_digits(value):
    assert validate_mobile(value) == "13812345678"


def test_mobile_with_unassigned_range_is_refused():
    assert error_of(validate_mobile, "12345678901").code == "invalid"


def test_mobile_with_ten_digits_is_refused_naming_length():
    error = error_of(validate_mobile, "1381234567")
    assert error.code == "format"
    assert "10 digits" in message_of(error)


def test_landline_is_refused_as_mobile():
    assert error_of(validate_mobile, "0451-8765-4321").code == "format"


def test_foreign_mobile_is_refused():
    error = error_of(validate_mobile, "+1 415 555 1234")
    assert error.code == "format"
    assert "foreign" in message_of(error)


def test_mobile_with_letters_is_refused():
    assert error_of(validate_mobile, "138abcd5678").code == "format"


def test_empty_mobile_is_refused():
    assert error_of(validate_mobile, None).code == "format"


# --- dispatch by customer type ------------------------------------------------


@pytest.mark.parametrize("customer_type", ["person", "farmer"])
def test_id_number_of_person_or_farmer_is_resident_id(customer_type):
    assert validate_id_number("230183600315123", customer_type, today=TODAY) == make_id("23018319600315123")


def test_id_number_of_company_is_credit_code():
    assert validate_id_number("91350100m000100y43", "company") == "91350100M000100Y43"


def test_id_number_of_company_refuses_resident_id():
    assert error_of(validate_id_number, make_id("23018319600315123"), "company").code == "check_digit"


def test_id_number_with_unknown_customer_type_is_refused():
    assert error_of(validate_id_number, "91350100M000100Y43", "alien").code == "customer_type"
