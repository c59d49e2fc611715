"""Contacts on top of the shared personas: a helper to log one, and an API client."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from guanxi.core.services import token_create
from guanxi.engagement.models import Interaction


@pytest.fixture
def contact(bank):
    """Write an Interaction directly (test state), `days_ago` before now."""

    def make(customer, staff, *, days_ago: float = 0, channel: str = "phone", summary: str = "回访",
             org_unit=None) -> Interaction:
        return Interaction.objects.create(customer=customer, staff=staff, org_unit=org_unit or staff.org_unit,
                                          channel=channel, summary=summary,
                                          occurred_at=timezone.now() - timedelta(days=days_ago))

    return make


@pytest.fixture
def api(client):
    class Api:
        headers: dict = {}

        def login(self, user):
            self.headers = {"HTTP_AUTHORIZATION": f"Bearer {token_create(acting_user=None, user=user)}"}
            return self

        def get(self, path, **params):
            return client.get(f"/api/v1/engagement{path}", params, **self.headers)

        def post(self, path, payload):
            return client.post(f"/api/v1/engagement{path}", json.dumps(payload), content_type="application/json",
                               **self.headers)

        def put(self, path, payload):
            return client.put(f"/api/v1/engagement{path}", json.dumps(payload), content_type="application/json",
                              **self.headers)

    return Api()


@pytest.fixture
def person(bank):
    """A customer of B1 with the given birth date, gender, email, tier and owner (alice by default, None: none)."""
    from tests.factories import CustomerFactory

    def make(name: str, *, born=None, gender: str = "male", email: str = "", tier: str = "general",
             customer_type: str = "person", org_unit=None, owner=..., phone: str | None = None, **extra):
        values = {"name": name, "birth_date": born, "gender": gender if customer_type != "company" else "",
                  "email": email, "tier": tier, "customer_type": customer_type, "org_unit": org_unit or bank.b1,
                  "owner": bank.alice if owner is ... else owner, **extra}  # owner=None: unassigned
        if phone is not None:
            values["phone"] = phone
        return CustomerFactory(**values)

    return make


@pytest.fixture
def sms_outbox():
    from guanxi.engagement.gateways import MemorySmsGateway

    MemorySmsGateway.outbox.clear()
    yield MemorySmsGateway.outbox
    MemorySmsGateway.outbox.clear()
