"""Rules and a head-office leader on top of the shared personas."""

from __future__ import annotations

import pytest

from guanxi.core.roles import Role
from guanxi.relationships.models import AssignmentRule, RuleKind
from tests.factories import UserFactory


@pytest.fixture
def leo(bank):
    """A head-office leader (联社领导) who keeps the group customers."""
    return UserFactory(username="leo", role=Role.BRANCH_HEAD, org_unit=bank.hq)


@pytest.fixture
def rules(bank, leo):
    """The four standard rules, in the order the bank tries them."""
    return {
        "leader": AssignmentRule.objects.create(
            name="group customers to leo", kind=RuleKind.HEAD_OFFICE_LEADER, priority=10,
            parameters={"username": "leo", "group_loan_threshold": "5000000"}),
        "loan": AssignmentRule.objects.create(name="loan officer", kind=RuleKind.LOAN_OFFICER, priority=20),
        "high": AssignmentRule.objects.create(name="high tier to head", kind=RuleKind.HIGH_TIER_HEAD, priority=30),
        "teller": AssignmentRule.objects.create(
            name="deposits to tellers", kind=RuleKind.DEPOSIT_TELLER, priority=40,
            parameters={"strategy": "least_loaded", "include_remaining": True}),
    }
