"""Customer export: data scope, masking, formats, formula injection, audit, command, page and API."""

import csv
import io
import re
from decimal import Decimal

import openpyxl
import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from guanxi.core.models import AuditEntry
from guanxi.core.services import token_create
from guanxi.customers import exports
from guanxi.customers.models import Customer
from guanxi.customers.validation import FIELDS, clean_customer_input
from tests.factories import CustomerFactory

BOM = b"\xef\xbb\xbf"
HEADERS_ZH = ["客户号", "客户类型", "客户名称", "证件号码", "手机号码", "所属机构", "行业", "地址", "存款余额", "贷款余额",
              "年收入", "总资产", "总负债", "家庭人口", "担保方式", "客户状态", "维护责任人", "电子邮箱", "非财务信息"]


def export(user, fmt="csv", **options):
    out = io.BytesIO()
    count = exports.customers_export(acting_user=user, filters=options.pop("filters", {}), fmt=fmt, out=out, **options)
    return count, out.getvalue()


def export_entries():
    return AuditEntry.objects.filter(action__startswith="customer.export")


def csv_rows(data):
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))


def xlsx_sheet(data):
    return openpyxl.load_workbook(io.BytesIO(data)).active


def xlsx_rows(data):
    rows = list(xlsx_sheet(data).iter_rows(values_only=True))
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


@pytest.fixture
def rich(bank):
    """A farmer household of alice's with every registration field filled in."""
    return CustomerFactory(
        org_unit=bank.b1, owner=bank.alice, customer_type="farmer", status="prospect", address="城关镇红旗村3组",
        industry="A0111", deposit_balance=Decimal("1234567.89"), loan_balance=Decimal("50000.00"),
        annual_income=Decimal("120000.50"), total_assets=Decimal("800000.00"), total_liabilities=Decimal("50000.00"),
        household_size=4, guarantee_type="mortgage", email="li.hua@example.cn", notes="种植大户，有农机两台",
    )


# --- the service: scope, masking, formats -------------------------------------------------------------


def test_a_managers_csv_export_holds_only_their_customers_masked(bank, customers):
    count, data = export(bank.alice)
    rows = csv_rows(data)
    assert count == 2 and len(rows) == 2
    assert {row["客户号"] for row in rows} == {customers.alice_person.customer_no, customers.alice_farmer.customer_no}
    person = next(row for row in rows if row["客户号"] == customers.alice_person.customer_no)
    assert person["证件号码"] == customers.alice_person.masked_id_number
    assert person["手机号码"] == customers.alice_person.masked_phone
    assert person["维护责任人"] == "alice"
    text = data.decode("utf-8-sig")
    for customer in (customers.alice_person, customers.alice_farmer):
        assert customer.id_number not in text and customer.phone not in text


def test_a_managers_xlsx_export_holds_only_their_customers_masked(bank, customers):
    count, data = export(bank.alice, "xlsx")
    rows = xlsx_rows(data)
    assert count == 2
    assert {row["客户号"] for row in rows} == {customers.alice_person.customer_no, customers.alice_farmer.customer_no}
    assert {row["证件号码"] for row in rows} == {customers.alice_person.masked_id_number,
                                             customers.alice_farmer.masked_id_number}


def test_the_columns_are_the_registration_vocabulary_with_chinese_labels(bank, customers, rich):
    rows = csv_rows(export(bank.alice)[1])
    assert list(rows[0]) == HEADERS_ZH
    row = next(row for row in rows if row["客户号"] == rich.customer_no)
    assert (row["客户类型"], row["客户状态"], row["担保方式"]) == ("农户", "目标", "抵押")
    assert row["所属机构"] == "B1" and row["存款余额"] == "1234567.89" and row["家庭人口"] == "4"
    assert (row["电子邮箱"], row["非财务信息"]) == ("li.hua@example.cn", "种植大户，有农机两台")


def test_an_export_imported_again_over_emptied_customers_restores_email_and_notes(bank, rich, tmp_path):
    """What the registration import takes, the export gives: a clerk's exported file is a backup of it."""
    from guanxi.customers.importing.customers import customers_import
    from guanxi.customers.models import Customer

    path = tmp_path / "export.csv"
    path.write_bytes(export(bank.audrey, unmasked=True, filters={"search": rich.customer_no})[1])
    Customer.objects.filter(pk=rich.pk).update(email="", notes="")
    outcome = customers_import(acting_user=None, path=path)
    assert (outcome.updated, outcome.rejected, outcome.unknown_columns) == (1, 0, [])
    rich.refresh_from_db()
    assert (rich.email, rich.notes) == ("li.hua@example.cn", "种植大户，有农机两台")


def test_the_english_export_has_the_api_names_and_codes(bank, customers, rich):
    rows = csv_rows(export(bank.alice, english=True)[1])
    assert list(rows[0]) == [column.name for column in exports.COLUMNS]
    assert set(rows[0]) - {"customer_no", "owner"} <= set(FIELDS)
    row = next(row for row in rows if row["customer_no"] == rich.customer_no)
    assert (row["customer_type"], row["status"], row["guarantee_type"]) == ("farmer", "prospect", "mortgage")


def test_a_sysadmin_exports_no_rows(bank, customers):
    count, data = export(bank.sam)
    assert count == 0 and csv_rows(data) == []
    assert export_entries().get(action="customer.export").changes["rows"] == 0


def test_filters_narrow_the_export_within_the_scope(bank, customers):
    count, data = export(bank.hank, filters={"customer_type": "farmer"})
    assert count == 1 and csv_rows(data)[0]["客户号"] == customers.alice_farmer.customer_no
    assert export(bank.alice, filters={"search": customers.bob_person.name})[0] == 0


def test_an_unknown_filter_is_refused(bank):
    with pytest.raises(ValidationError):
        export(bank.alice, filters={"id_number__startswith": "23"})


# --- unmasked exports ----------------------------------------------------------------------------------


def test_an_auditor_exports_unmasked_and_it_is_audited_as_such(bank, customers):
    count, data = export(bank.audrey, unmasked=True)
    assert count == 5
    assert {row["证件号码"] for row in csv_rows(data)} == set(Customer.objects.values_list("id_number", flat=True))
    entry = export_entries().get()
    assert entry.action == "customer.export.unmasked" and entry.actor_username == "audrey"
    assert entry.changes == {"rows": 5, "format": "csv", "filters": {}, "unmasked": True}


def test_a_line_department_may_not_export_unmasked(bank, customers):
    with pytest.raises(PermissionDenied, match="完整的证件号码"):
        export(bank.lena, unmasked=True)
    assert not export_entries().exists()


# --- file details --------------------------------------------------------------------------------------


def test_the_csv_starts_with_a_utf8_bom(bank, customers):
    assert export(bank.alice)[1].startswith(BOM)


@pytest.fixture
def formulas(customers):
    values = {customers.alice_person: '=HYPERLINK("http://x")', customers.alice_farmer: "+1+1"}
    for customer, address in values.items():
        Customer.objects.filter(pk=customer.pk).update(address=address, name="@SUM(A1)")
    return {customer.customer_no: address for customer, address in values.items()}


def test_formulas_are_neutralised_in_csv(bank, formulas):
    for row in csv_rows(export(bank.alice)[1]):
        assert row["地址"] == "'" + formulas[row["客户号"]]
        assert row["客户名称"] == "'@SUM(A1)"


def test_formulas_are_neutralised_in_xlsx(bank, formulas):
    sheet = xlsx_sheet(export(bank.alice, "xlsx")[1])
    for row in sheet.iter_rows(min_row=2):
        for cell in row:
            assert cell.data_type != "f"
        address, name = row[7], row[2]
        assert address.value == "'" + formulas[row[0].value] and name.value == "'@SUM(A1)"


def test_xml_in_a_value_cannot_become_an_xlsx_formula(bank, customers):
    # xlsxwriter's constant_memory mode writes "<r>…</r>" strings unescaped; the export escapes them.
    sneaky = "<r></r></is><f>1+1</f><is><r></r>"
    Customer.objects.filter(pk=customers.alice_person.pk).update(address=sneaky)
    sheet = xlsx_sheet(export(bank.alice, "xlsx")[1])
    cell = next(row[7] for row in sheet.iter_rows(min_row=2) if row[0].value == customers.alice_person.customer_no)
    assert cell.data_type == "s" and cell.value == sneaky


def test_identifiers_are_text_cells_and_amounts_numbers_in_xlsx(bank, customers, rich):
    sheet = xlsx_sheet(export(bank.audrey, "xlsx", unmasked=True)[1])
    row = next(row for row in sheet.iter_rows(min_row=2) if row[0].value == rich.customer_no)
    customer_no, id_number, phone, org_code = row[0], row[3], row[4], row[5]
    for cell in (customer_no, id_number, phone, org_code):
        assert cell.data_type == "s" and cell.number_format == "@"
    assert id_number.value == rich.id_number and phone.value == rich.phone
    deposit = row[8]
    assert deposit.data_type == "n" and deposit.value == pytest.approx(1234567.89)
    assert deposit.number_format == "#,##0.00"
    assert row[13].value == 4


def test_an_xlsx_export_too_big_for_a_sheet_is_refused_unlogged(bank, customers, monkeypatch):
    monkeypatch.setattr(exports, "XLSX_MAX_ROWS", 1)
    with pytest.raises(ValidationError, match="CSV"):
        export(bank.alice, "xlsx")
    assert not export_entries().exists()


def test_an_unknown_format_is_refused(bank):
    with pytest.raises(ValidationError) as info:
        export(bank.alice, "pdf")
    assert "format" in info.value.message_dict


# --- round trip through the registration validator ----------------------------------------------------


def test_an_unmasked_english_row_round_trips_through_the_validator(bank, rich):
    row = csv_rows(export(bank.audrey, english=True, unmasked=True, filters={"search": rich.customer_no})[1])[0]
    cleaned = clean_customer_input({field: value for field, value in row.items() if field in FIELDS})
    assert_matches(cleaned, rich)
    assert set(cleaned) >= {"customer_type", "name", "id_number", "phone", "org_unit", "status", "address",
                            "industry", "annual_income", "household_size", "guarantee_type", "deposit_balance",
                            "email", "notes"}


@pytest.mark.parametrize("english", [True, False])
def test_a_masked_row_round_trips_except_the_masked_fields(bank, rich, english):
    row = csv_rows(export(bank.alice, english=english, filters={"search": rich.customer_no})[1])[0]
    names = {column.header: column.name for column in exports.COLUMNS}
    data = {names.get(header, header): value for header, value in row.items()}
    data = {field: value for field, value in data.items() if field in FIELDS and field not in ("id_number", "phone")}
    cleaned = clean_customer_input(data, current={"customer_type": rich.customer_type, "id_number": rich.id_number})
    assert_matches(cleaned, rich)
    assert cleaned["customer_type"] == "farmer" and cleaned["guarantee_type"] == "mortgage"


def assert_matches(cleaned, customer):
    # Birth date and gender are derived from the ID number, not exported; the factory leaves them empty.
    for field, value in cleaned.items():
        if field not in ("birth_date", "gender"):
            assert getattr(customer, field) == value, field


# --- audit and query count -----------------------------------------------------------------------------


def test_each_export_leaves_one_audit_entry_with_the_row_count(bank, customers):
    export(bank.hank, "xlsx", filters={"customer_type": "person", "status": ""})  # alice's, bob's, unassigned
    entry = export_entries().get()
    assert entry.action == "customer.export" and entry.actor_username == "hank"
    assert entry.changes == {"rows": 3, "format": "xlsx", "filters": {"customer_type": "person"}, "unmasked": False}


def test_a_search_for_an_id_number_is_masked_in_the_audit_log(bank, customers):
    export(bank.alice, filters={"search": customers.alice_person.id_number})
    assert export_entries().get().changes["filters"]["search"] == customers.alice_person.masked_id_number


@pytest.mark.parametrize("fmt", exports.FORMATS)
def test_the_query_count_does_not_grow_with_the_customers(bank, customers, fmt, monkeypatch):
    monkeypatch.setattr(exports, "CHUNK_SIZE", 7)  # several chunks: nothing may be fetched per chunk either

    def queries():
        with CaptureQueriesContext(connection) as context:
            export(bank.audrey, fmt)
        return len(context.captured_queries)

    few = queries()
    CustomerFactory.create_batch(40, org_unit=bank.b1, owner=bank.bob)
    assert queries() == few <= 4


# --- the command ---------------------------------------------------------------------------------------


def run(*args):
    out = io.StringIO()
    call_command("export", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


@pytest.mark.parametrize("suffix", ["csv", "xlsx"])
def test_the_command_exports_what_the_user_may_see(bank, customers, tmp_path, suffix):
    path = tmp_path / f"mine.{suffix}"
    output = run("customers", str(path), "--as", "alice")
    assert re.search(r"\b2\b", output)
    rows = csv_rows(path.read_bytes()) if suffix == "csv" else xlsx_rows(path.read_bytes())
    assert {row["客户号"] for row in rows} == {customers.alice_person.customer_no, customers.alice_farmer.customer_no}
    assert customers.alice_person.id_number not in str(rows)
    assert export_entries().get().changes["format"] == suffix


def test_the_command_takes_filters_and_english(bank, customers, tmp_path):
    path = tmp_path / "farmers.txt"
    run("customers", str(path), "--as", "hank", "--format", "csv", "--english", "--customer-type", "farmer")
    rows = csv_rows(path.read_bytes())
    assert [row["customer_no"] for row in rows] == [customers.alice_farmer.customer_no]


def test_the_command_needs_an_acting_user(bank, tmp_path):
    with pytest.raises(CommandError, match="--as"):
        run("customers", str(tmp_path / "x.csv"))


def test_the_command_refuses_an_unknown_user(bank, tmp_path):
    with pytest.raises(CommandError, match="--as: .*nobody"):
        run("customers", str(tmp_path / "x.csv"), "--as", "nobody")


def test_the_command_refuses_an_unknown_suffix(bank, tmp_path):
    with pytest.raises(CommandError, match="FILE"):
        run("customers", str(tmp_path / "x.pdf"), "--as", "alice")
    assert not export_entries().exists()


def test_a_refused_unmasked_command_leaves_no_file(bank, customers, tmp_path):
    with pytest.raises(CommandError, match="--unmasked"):
        run("customers", str(tmp_path / "x.csv"), "--as", "lena", "--unmasked")
    assert list(tmp_path.iterdir()) == []
    assert not export_entries().exists()


def test_the_command_exports_unmasked_for_an_auditor(bank, customers, tmp_path):
    path = tmp_path / "all.csv"
    run("customers", str(path), "--as", "audrey", "--unmasked")
    assert customers.carol_company.id_number in path.read_text("utf-8-sig")
    assert export_entries().get().action == "customer.export.unmasked"


# --- the page ------------------------------------------------------------------------------------------


def download(response):
    return b"".join(response.streaming_content)


def test_signed_out_users_cannot_export(client, bank):
    response = client.get("/customers/export/", {"format": "csv"})
    assert response.status_code == 302 and response.url.startswith("/login/")


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_the_page_downloads_the_managers_customers(login, bank, customers, fmt):
    response = login(bank.alice).get("/customers/export/", {"format": fmt})
    assert response.status_code == 200
    assert re.fullmatch(rf'attachment; filename="customers-\d{{8}}-\d{{4}}\.{fmt}"', response["Content-Disposition"])
    assert response["Content-Type"] == exports.CONTENT_TYPES[fmt]
    data = download(response)
    rows = csv_rows(data) if fmt == "csv" else xlsx_rows(data)
    assert {row["客户号"] for row in rows} == {customers.alice_person.customer_no, customers.alice_farmer.customer_no}
    assert export_entries().get().changes["rows"] == 2


def test_the_page_applies_the_list_filters(login, bank, customers):
    response = login(bank.hank).get("/customers/export/", {"format": "csv", "customer_type": "farmer"})
    assert [row["客户号"] for row in csv_rows(download(response))] == [customers.alice_farmer.customer_no]


def test_the_page_refuses_an_unmasked_export_to_a_line_department(login, bank, customers):
    assert login(bank.lena).get("/customers/export/", {"format": "csv", "unmasked": "1"}).status_code == 403


def test_the_page_answers_a_bad_format_with_400(login, bank):
    response = login(bank.alice).get("/customers/export/", {"format": "<b>pdf</b>"})
    assert response.status_code == 400 and response["Content-Type"].startswith("text/plain")


def test_an_htmx_export_redirects_the_browser_with_the_current_filters(login, bank, customers):
    # The export form sends its (stale) hidden copy first and the filter form's current value last.
    response = login(bank.alice).get("/customers/export/?q=old&format=xlsx&q=new&status=", HTTP_HX_REQUEST="true")
    assert response.status_code == 204
    assert response["HX-Redirect"] == "/customers/export/?format=xlsx&q=new"
    assert not export_entries().exists()


def test_the_list_page_offers_the_export_with_its_filters(login, bank, customers):
    page = login(bank.alice).get("/customers/", {"q": "张", "customer_type": "farmer"}).content.decode()
    assert 'action="/customers/export/"' in page
    assert '<input type="hidden" name="q" value="张">' in page
    assert '<input type="hidden" name="customer_type" value="farmer">' in page
    assert 'name="format" value="xlsx"' in page and 'name="format" value="csv"' in page


# --- the API -------------------------------------------------------------------------------------------


@pytest.fixture
def api_get(client):
    def get(user, **params):
        headers = {"HTTP_AUTHORIZATION": f"Bearer {token_create(acting_user=None, user=user)}"} if user else {}
        return client.get("/api/v1/customers/export", params, **headers)

    return get


def test_the_api_needs_a_token(api_get, bank):
    assert api_get(None, format="csv").status_code == 401


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_the_api_downloads_the_managers_customers(api_get, bank, customers, fmt):
    response = api_get(bank.alice, format=fmt)
    assert response.status_code == 200 and response["Content-Disposition"].startswith("attachment;")
    data = download(response)
    rows = csv_rows(data) if fmt == "csv" else xlsx_rows(data)
    assert {row["客户号"] for row in rows} == {customers.alice_person.customer_no, customers.alice_farmer.customer_no}
    assert customers.alice_person.id_number not in str(rows)
    assert export_entries().get().changes["format"] == fmt


def test_the_api_filters_and_speaks_english(api_get, bank, customers):
    response = api_get(bank.audrey, format="csv", q=customers.bob_person.phone, english="true")
    assert [row["customer_no"] for row in csv_rows(download(response))] == [customers.bob_person.customer_no]


def test_the_api_unmasked_export_is_refused_to_a_line_department(api_get, bank, customers):
    assert api_get(bank.lena, format="csv", unmasked="true").status_code == 403
    assert not export_entries().exists()


def test_the_api_answers_a_bad_format_with_422_naming_it(api_get, bank):
    response = api_get(bank.alice, format="pdf")
    assert response.status_code == 422 and response.json()["detail"][0]["field"] == "format"


def test_the_export_is_in_the_openapi_schema(client):
    assert "/api/v1/customers/export" in client.get("/api/v1/openapi.json").json()["paths"]
