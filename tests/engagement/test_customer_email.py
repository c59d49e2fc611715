"""Customers' email address: one validator for the form, the API and the registration import (电子邮箱)."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ValidationError

from guanxi.core.services import token_create
from guanxi.customers.importing.customers import customers_import
from guanxi.customers.models import Customer
from guanxi.customers.synthetic import Synth
from guanxi.customers.validation import clean_customer_input


def test_the_validator_normalises_and_refuses_bad_addresses():
    assert clean_customer_input({"email": " Zhang.Wei＠Example.CN "}, current={"customer_type": "person"}) == {
        "email": "Zhang.Wei@example.cn"}
    assert clean_customer_input({"email": ""}, current={"customer_type": "person"}) == {"email": ""}
    with pytest.raises(ValidationError) as caught:
        clean_customer_input({"email": "zhang@"}, current={"customer_type": "person"})
    assert caught.value.message_dict == {"email": ["zhang@ 不是有效的电子邮箱地址"]}


def test_the_import_reads_the_email_column(bank, tmp_path):
    synth = Synth(seed=11)
    good, bad = synth.resident_id(), synth.resident_id()
    path = tmp_path / "customers.csv"
    path.write_text("客户类型,客户名称,证件号码,所属机构,电子邮箱\n"
                    f"个人,张伟,{good},B1,zhang@example.cn\n"
                    f"个人,李娜,{bad},B1,not-an-address\n", encoding="utf-8")
    outcome = customers_import(acting_user=None, path=path, errors_path=tmp_path / "errors.csv")
    assert outcome.created == 1 and outcome.rejected == 1
    assert Customer.objects.get(id_number=good).email == "zhang@example.cn"
    assert "电子邮箱" in (tmp_path / "errors.csv").read_text(encoding="utf-8-sig")


def test_the_api_takes_and_shows_the_email(client, bank, customers):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token_create(acting_user=None, user=bank.alice)}"}
    url = f"/api/v1/customers/{customers.alice_person.pk}"
    response = client.patch(url, json.dumps({"email": "bad@"}), content_type="application/json", **headers)
    assert response.status_code == 422 and response.json()["detail"][0]["field"] == "email"
    response = client.patch(url, json.dumps({"email": "alice.customer@example.cn"}),
                            content_type="application/json", **headers)
    assert response.status_code == 200 and response.json()["email"] == "alice.customer@example.cn"
    assert client.get(url, **headers).json()["email"] == "alice.customer@example.cn"


def test_the_edit_form_offers_the_email(login, bank, customers):
    page = login(bank.alice).get(f"/customers/{customers.alice_person.pk}/edit/").content.decode()
    assert 'name="email"' in page
