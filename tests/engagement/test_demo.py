"""The demo bank comes with months of contacts, made by each customer's owner."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db.models import F
from django.utils import timezone

from guanxi.engagement.models import Interaction
from guanxi.site.demo import load_demo

pytestmark = pytest.mark.django_db


def test_the_demo_has_contacts_of_the_last_months_by_the_owners():
    load_demo(customers=200)
    contacts = Interaction.objects.all()
    assert contacts.count() >= 200
    assert not contacts.filter(occurred_at__gt=timezone.now()).exists()
    assert contacts.filter(occurred_at__lt=timezone.now() - timedelta(days=90)).exists()
    assert not contacts.exclude(customer__assignments__owner=F("staff"), customer__assignments__active=True).exists()
    assert not contacts.exclude(org_unit=F("staff__org_unit")).exists()
    assert contacts.values("channel").distinct().count() >= 5
