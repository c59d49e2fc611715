"""Rated customers on top of the shared personas: a farmer household, a person and a company with every
input the default scorecards read, and the local averages of the union U1 (inherited by B1 and B2)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from guanxi.credit.facts import CATALOGUE
from guanxi.credit.models import LocalAverage, RatingInput
from guanxi.customers.models import HouseholdMember
from tests.factories import CustomerFactory

FARMER_INPUTS = {"member_shares": "12000", "overall_judgement": "excellent", "repayment_record": "on_time",
                 "credit_reference": "clean", "registered_in_area": "true", "full_civil_capacity": "true",
                 "lawful_business": "true", "business_income": "50000"}
PERSON_INPUTS = {"occupation": "civil_servant", "years_in_job": "6", "housing": "owned",
                 "repayment_record": "on_time", "full_civil_capacity": "true", "credit_reference": "clean"}
COMPANY_INPUTS = {"management": "excellent", "market_position": "leading", "compliance": "clean",
                  "current_ratio": "2.1", "interest_coverage": "6", "sales_growth": "25", "profit_margin": "16",
                  "repayment_record": "on_time", "lawful_business": "true", "operating_cash_flow": "800000",
                  "taxes_on_time": "true", "loans_performing": "true", "industry_policy": "permitted",
                  "credit_reference": "clean", "annual_cash_inflow": "6000000"}


def put_inputs(customer, values: dict[str, str]) -> None:
    """Store inputs directly (the service is tested on its own)."""
    for key, raw in values.items():
        text, number = CATALOGUE[key].parse(raw)
        RatingInput.objects.update_or_create(customer=customer, key=key, defaults={"value": text, "number": number})


@pytest.fixture
def averages(bank):
    """Local averages configured on the union: households hold 300,000 yuan, net 250,000, earn 60,000 a year."""
    for key, amount in (("household_assets", "300000"), ("net_assets", "250000"), ("net_income", "60000")):
        LocalAverage.objects.create(org_unit=bank.union, key=key, amount=Decimal(amount))


@pytest.fixture
def make_farmer(bank, averages):
    def make(*, owner=None, members=(True, True, True, False), inputs=None, **fields):
        values = {"household_size": 4, "total_assets": Decimal("450000"), "total_liabilities": Decimal("50000"),
                  "annual_income": Decimal("90000"), "birth_date": date(1975, 5, 1), "org_unit": bank.b1}
        values.update(fields)
        customer = CustomerFactory(customer_type="farmer", owner=owner or bank.alice, **values)
        for index, labourer in enumerate(members):
            HouseholdMember.objects.create(customer=customer, name=f"成员{index}", relation="other",
                                           is_labourer=labourer)
        put_inputs(customer, FARMER_INPUTS if inputs is None else inputs)
        return customer

    return make


@pytest.fixture
def make_person(bank):
    def make(*, owner=None, inputs=None, **fields):
        values = {"annual_income": Decimal("320000"), "total_assets": Decimal("2500000"),
                  "total_liabilities": Decimal("500000"), "deposit_balance": Decimal("600000"),
                  "products": "DEP;CARD;EBANK;WM", "birth_date": date(1980, 3, 1), "org_unit": bank.b1}
        values.update(fields)
        customer = CustomerFactory(customer_type="person", owner=owner or bank.alice, **values)
        put_inputs(customer, PERSON_INPUTS if inputs is None else inputs)
        return customer

    return make


@pytest.fixture
def make_company(bank):
    def make(*, owner=None, inputs=None, **fields):
        values = {"annual_income": Decimal("20000000"), "total_assets": Decimal("10000000"),
                  "total_liabilities": Decimal("4000000"), "industry": "C", "org_unit": bank.b1}
        values.update(fields)
        customer = CustomerFactory(customer_type="company", owner=owner or bank.alice, **values)
        put_inputs(customer, COMPANY_INPUTS if inputs is None else inputs)
        return customer

    return make


@pytest.fixture
def api(client):
    """Call the API as a persona with a fresh Bearer token."""
    from guanxi.core.services import token_create

    def call(user, method: str, path: str, json=None):
        token = token_create(acting_user=user, user=user)
        kwargs = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
        if json is not None:
            kwargs.update(data=json, content_type="application/json")
        return getattr(client, method)(f"/api/v1{path}", **kwargs)

    return call
