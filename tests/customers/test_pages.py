"""Customer pages: list and search, detail within scope, create and edit with inline errors."""

import re

from guanxi.core.models import AuditEntry
from guanxi.customers.models import Customer
from guanxi.customers.synthetic import Synth


def test_signed_out_users_are_sent_to_the_login_page(client, bank):
    response = client.get("/customers/")
    assert response.status_code == 302 and response.url.startswith("/login/")


def test_the_list_shows_only_the_managers_customers_masked(login, bank, customers):
    page = login(bank.alice).get("/customers/").content.decode()
    assert customers.alice_person.name in page and customers.bob_person.name not in page
    assert customers.alice_person.id_number not in page
    assert customers.alice_person.masked_id_number in page
    assert customers.alice_person.phone not in page


def test_search_by_name_phone_customer_number_and_id_number(login, bank, customers):
    client = login(bank.hank)
    target = customers.bob_person
    for text in (target.name, target.phone, target.customer_no, target.id_number, target.phone[-4:]):
        page = client.get("/customers/", {"q": text}).content.decode()
        assert target.customer_no in page, text


def test_search_with_htmx_returns_only_the_table(login, bank, customers):
    response = login(bank.alice).get("/customers/", {"q": customers.alice_person.name}, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert 'id="customer-table"' in body and "<html" not in body


def test_filters_by_type(login, bank, customers):
    page = login(bank.hank).get("/customers/", {"customer_type": "farmer"}).content.decode()
    assert customers.alice_farmer.customer_no in page and customers.alice_person.customer_no not in page


def test_the_list_page_query_count_is_bounded(login, bank, customers, django_assert_max_num_queries):
    client = login(bank.audrey)
    with django_assert_max_num_queries(10):
        client.get("/customers/")


def test_another_managers_customer_is_404_on_its_page(login, bank, customers):
    assert login(bank.alice).get(f"/customers/{customers.bob_person.pk}/").status_code == 404


def test_the_customer_page_shows_profile_owner_and_masked_ids(login, bank, customers):
    page = login(bank.alice).get(f"/customers/{customers.alice_person.pk}/").content.decode()
    assert customers.alice_person.masked_id_number in page
    assert bank.alice.display_name in page
    assert customers.alice_person.id_number not in page


def test_revealing_an_id_number_on_the_page_is_audited(login, bank, customers):
    client = login(bank.alice)
    response = client.post(f"/customers/{customers.alice_person.pk}/reveal/id_number/")
    assert customers.alice_person.id_number in response.content.decode()
    assert AuditEntry.objects.filter(action="customer.reveal.id_number", actor_username="alice").exists()


def test_the_sysadmin_cannot_open_a_customer_page(login, bank, customers):
    assert login(bank.sam).get(f"/customers/{customers.alice_person.pk}/").status_code == 404


def test_the_auditor_gets_no_edit_form(login, bank, customers):
    client = login(bank.audrey)
    assert client.get(f"/customers/{customers.alice_person.pk}/edit/").status_code == 403
    assert client.post(f"/customers/{customers.alice_person.pk}/edit/", {"name": "x"}).status_code == 403


def _form(**overrides):
    data = {"customer_type": "person", "name": "李四", "id_number": Synth(11).resident_id(), "phone": "13912345678",
            "org_code": "B1", "status": "prospect", "address": "", "industry": "", "annual_income": "",
            "total_assets": "", "total_liabilities": "", "household_size": "", "guarantee_type": "", "notes": ""}
    data.update(overrides)
    return data


def test_a_manager_registers_a_customer_through_the_form(login, bank):
    response = login(bank.alice).post("/customers/new/", _form(annual_income="１２０,０００"))
    customer = Customer.objects.get()
    assert response.status_code == 302 and response.url == f"/customers/{customer.pk}/"
    assert str(customer.annual_income) == "120000.00"
    assert customer.assignments.get(active=True).owner == bank.alice


def test_the_form_shows_the_reason_next_to_the_field(login, bank):
    response = login(bank.alice).post("/customers/new/", _form(id_number="2.31102E+17", phone="123"))
    assert response.status_code == 200
    page = response.content.decode()
    id_error = re.search(r'id="err-id_number"[^>]*>(.*?)</span>\s*</span>', page, re.S)
    assert id_error and "Excel" in id_error.group(1)
    assert re.search(r'id="err-phone"[^>]*><span class="error">', page)
    assert Customer.objects.count() == 0


def test_inline_validation_answers_for_one_field(login, bank):
    client = login(bank.alice)
    bad = client.post("/customers/validate/?field=id_number", {"customer_type": "person", "id_number": "110101199002301234"})
    assert 'class="error"' in bad.content.decode()
    good = client.post("/customers/validate/?field=phone", {"phone": "+86 139 1234 5678"})
    assert 'class="ok"' in good.content.decode()


def test_editing_changes_the_customer_and_logs_it(login, bank, customers):
    customer = customers.alice_person
    data = _form(name=customer.name, id_number=customer.id_number, phone=customer.phone, address="兴隆镇永安村2组",
                 status=customer.status)
    response = login(bank.alice).post(f"/customers/{customer.pk}/edit/", data)
    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.address == "兴隆镇永安村2组"
    entry = AuditEntry.objects.get(action="customer.update")
    assert entry.changes["address"] == ["", "兴隆镇永安村2组"]


def test_household_members_are_added_to_a_farmer(login, bank, customers):
    farmer = customers.alice_farmer
    response = login(bank.alice).post(f"/customers/{farmer.pk}/members/", {
        "name": "王小红", "relation": "spouse", "id_number": Synth(12).resident_id(gender="female"),
        "phone": "", "is_labourer": "on", "occupation": "种植"})
    assert response.status_code == 302
    page = login(bank.alice).get(f"/customers/{farmer.pk}/").content.decode()
    assert "王小红" in page


def test_the_home_page_shows_the_users_own_work(login, bank, customers):
    page = login(bank.alice).get("/").content.decode()
    assert re.search(r'id="stat-total">2<', page)
    admin_page = login(bank.sam).get("/").content.decode()
    assert 'id="stat-total"' not in admin_page
