"""The registration import cleans a block of rows a column at a time: exactly what row by row gives."""

import random

import pytest

from guanxi.core.models import OrgUnit
from guanxi.customers import search
from guanxi.customers.importing import customers as importing
from guanxi.customers.importing.common import ImportOutcome, map_columns
from guanxi.customers.synthetic import Synth

HEADER = ["客户类型", "客户名称", "证件号码", "手机号码", "所属机构", "行业", "地址", "存款余额", "贷款余额",
          "年收入", "总资产", "总负债", "家庭人口", "担保方式", "客户状态", "电子邮箱", "非财务信息"]


def variants(synth: Synth) -> dict[str, list[str]]:
    """Cells of every kind a branch's file holds, per column: good, blank, messy and wrong."""
    people = [synth.resident_id() for _ in range(6)]
    return {
        "客户类型": ["个人", "农户", "公司", "person", " 企业 ", "FARMER", "外星人", "", "'=个人"],
        "客户名称": ["王建国", "李 秀英", "ＡＢＣ公司", "  ", "王建国", "欧阳娜娜", "x" * 101, "'=SUM(A1)", "张三"],
        "证件号码": [*people, people[0].translate(str.maketrans("0123456789", "０１２３４５６７８９")),
                 people[1][:17] + ("0" if people[1][17] != "0" else "1"), "2.31102E+17", "", synth.uscc("91"),
                 synth.uscc("93"), "123", people[2][:6] + "-" + people[2][6:]],
        "手机号码": [synth.mobile(), synth.mobile(), "+86 138-1234-5678", "", "12345", " ", "'+8613812345678"],
        "所属机构": ["B1", "B2", "U1", "HQ", "NOPE", "", " B1 "],
        "行业": ["A", "A0111", "f", "", "Z99", "C 13", "A0111"],
        "地址": ["兴隆镇红旗村3组", "", "城关镇  东街１号", "路" * 201],
        "存款余额": ["0", "0.00", "12.5", "12.05", "１２,３４５.６０", "¥100", "100元", "-5", "abc", "", "1e3",
                 "12.345", "99999999999999", "007", "1,000"],
        "贷款余额": ["", "0", "5000000", "3.1"],
        "年收入": ["", "50000", "5万", "٣٠٠"],
        "总资产": ["", "200,000", "元", "NaN"],
        "总负债": ["", "10000", " 10000 "],
        "家庭人口": ["", "4", "０", "51", "2.0", "2.5", "x", "1"],
        "担保方式": ["", "信用", "抵押", "mortgage", "贷款"],
        "客户状态": ["", "存量", "目标", "潜在", "existing", "别的"],
        "电子邮箱": ["", "a@Example.COM", "not-an-email", " b @ c.cn "],
        "非财务信息": ["", "  种植大户  ", "'-注意"],
    }


@pytest.fixture
def context(bank):
    outcome = ImportOutcome(run=None)
    mapping, header_of = map_columns(HEADER, importing.HEADERS, importing.IGNORED_HEADERS, outcome)
    units = {unit.code: unit for unit in OrgUnit.objects.all()}
    return importing._RowContext(mapping=mapping, header_of=header_of, units=units, allowed_units=None)


def rows(seed: int, count: int) -> list[list[str]]:
    rng = random.Random(seed)
    cells = variants(Synth(seed=seed))
    out = []
    for _ in range(count):
        # Mostly good rows (the first few variants of each column), with a bad cell here and there.
        row = [rng.choice(cells[h][:2]) if rng.random() < 0.7 else rng.choice(cells[h]) for h in HEADER]
        if rng.random() < 0.05:
            row = row[: rng.randrange(4, len(row))]  # a short row: the missing cells are blank
        elif rng.random() < 0.05:
            row = [*row, "extra"]
        out.append(row)
    return out


@pytest.mark.parametrize("scoped", [False, True])
def test_a_block_cleaned_column_by_column_gives_what_row_by_row_gives(context, scoped):
    if scoped:
        context.allowed_units = {"B1", "U1"}
    block = rows(seed=7, count=3000)
    by_row = [importing._prepare_row(raw, context) for raw in block]
    by_column = importing._prepare_rows(block, context)
    assert by_column == by_row
    # Both kinds of row are there: the comparison covers refused rows and taken ones.
    refused = sum(isinstance(prepared, str) for prepared in by_row)
    assert 300 < refused < 2700
    # And the column path's own shortcuts were taken: plain amounts, repeated names and codes.
    assert any(not isinstance(p, str) and p[3][importing._INDEX["deposit_balance"]] == 1205 for p in by_column)


def test_a_block_as_the_writer_takes_it_is_each_row_converted_for_it(context):
    """The rows' COPY text (PostgreSQL) or FTS5 text (SQLite), written a column at a time, is what converting
    each row gives: backslashes, tabs and newlines escaped, empty values as null."""
    block = rows(seed=11, count=2000)
    block[5][HEADER.index("地址")] = "红旗村\\3组\t东"  # a backslash and a tab to escape
    block[6][HEADER.index("非财务信息")] = "两行\n说明"
    if not search.uses_fts():  # PostgreSQL: new customers' segments are computed as their rows are prepared
        from guanxi.segmentation.services import new_customer_segments

        context.derivers = (new_customer_segments(importing.COLUMNS),)
    prepared_rows = importing._prepare_rows(block, context)
    converted = [importing._for_writer(prepared, context) for prepared in prepared_rows]
    assert importing._prepare_rows(block, context, writer=True) == converted
    taken = [(row, text) for row, text in zip(prepared_rows, converted, strict=True) if not isinstance(row, str)]
    assert len(taken) > 500
    if not search.uses_fts():  # PostgreSQL: a known customer's row takes its values back from the COPY text
        assert [importing._copy_values(text[5]) for _row, text in taken] == [row[3] for row, _text in taken]
        values = list(taken[0][0][3])
        odd = {"address": "红旗村\\3组", "notes": "制表\t换行\n回车\r", "email": "\\N", "annual_income": None}
        for column, value in odd.items():
            values[importing._INDEX[column]] = value
        assert importing._copy_values("\t".join(map(importing._copy_text, values)) + '\t{"王"}') == values


def test_a_plain_amount_becomes_the_same_fen_as_through_decimal():
    from decimal import Decimal

    for text in ["0", "7", "007", "12.5", "12.05", "12.50", "9999999999999.99", "１２.３"]:
        assert importing._PLAIN_AMOUNT.fullmatch(text)
        assert importing._plain_fen(text) == int(Decimal(text).quantize(Decimal("0.01")) * 100)
    for text in ["12.", ".5", "1,000", "12.345", "12345678901234", "-1", "1e3", " 1"]:
        assert not importing._PLAIN_AMOUNT.fullmatch(text)


def test_an_updates_audit_text_is_what_encoding_its_change_set_gives(context):
    """The audit entry of an updated customer is written directly: the same text json gives, masks and yuan included."""
    import datetime

    taken = [p for p in importing._prepare_rows(rows(seed=9, count=600), context) if not isinstance(p, str)]
    rng = random.Random(9)
    text = ['他说"好"', "back\\slash", "换行\n制表\t", "", "☃ 𝄞", None]
    odd = {"name": text, "address": text, "phone": text, "id_number": text, "birth_date": [None, datetime.date(1990, 2, 3)],
           "deposit_balance": [None, 0, 5, 123456789012345]}
    checked = 0
    for old, new in zip(taken, taken[1:], strict=False):
        changed = {column: (old[3][index], new[3][index]) for index, column in enumerate(importing.COLUMNS)
                   if old[3][index] != new[3][index] or rng.random() < 0.1}
        for column in rng.sample(sorted(odd), 2):
            changed[column] = (changed.get(column, (None, None))[0], rng.choice(odd[column]))
        assert importing._audit_changes_json(changed) == importing._JSON_TEXT(importing._audit_changes(changed))
        checked += 1
    assert checked > 100
