"""Helpers for the segmentation tests: customers with given balances, products, address and industry."""

from __future__ import annotations

from decimal import Decimal

import pytest

from guanxi.core.services import token_create
from tests.factories import CustomerFactory


@pytest.fixture
def make(bank):
    """Build a customer in B1 (unless told otherwise) with balances in yuan."""

    def build(customer_type="person", *, deposit="0", loan="0", products="", address="", industry="",
              org_unit=None, owner=None, status="existing"):
        return CustomerFactory(customer_type=customer_type, deposit_balance=Decimal(deposit),
                               loan_balance=Decimal(loan), products=products, address=address, industry=industry,
                               org_unit=org_unit or bank.b1, owner=owner, status=status)

    return build


@pytest.fixture
def api(client):
    class Api:
        def __init__(self):
            self.headers = {}

        def login(self, user):
            self.headers = {"HTTP_AUTHORIZATION": f"Bearer {token_create(acting_user=None, user=user)}"}
            return self

        def get(self, path, **params):
            return client.get(f"/api/v1{path}", params, **self.headers)

        def put(self, path, payload):
            return client.put(f"/api/v1{path}", payload, content_type="application/json", **self.headers)

        def post(self, path, payload=None):
            return client.post(f"/api/v1{path}", payload or {}, content_type="application/json", **self.headers)

        def patch(self, path, payload):
            return client.patch(f"/api/v1{path}", payload, content_type="application/json", **self.headers)

        def delete(self, path):
            return client.delete(f"/api/v1{path}", **self.headers)

        def upload(self, path, files):
            return client.post(f"/api/v1{path}", files, **self.headers)

    return Api()
