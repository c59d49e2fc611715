"""Named personas, one per role, in a small bank (healthchecks-style: alice owns, bob is a colleague).

    HQ (head office)
    ├── U1 (union)
    │   ├── B1 (branch): alice (manager), bob (manager), tina (teller), hank (branch head)
    │   └── B2 (branch): carol (manager)
    HQ: lena (line dept, agri), cora (credit approver), audrey (auditor),
        sam (sysadmin), sec (secadmin), ada (auditadmin)
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from guanxi.core.roles import MarketLine, Role
from tests.factories import CustomerFactory, OrgUnitFactory, UserFactory


def _seeded_segments() -> None:
    """The plan's sub-markets, mapping rules and tier thresholds, as the data migration seeds them.

    A transactional test empties the database when it ends, and the seeded rows with it: a test
    that runs after one (pytest-django runs them last, in file order) would find no rules.
    """
    import importlib

    from django.apps import apps

    from guanxi.segmentation.models import SubMarket

    if not SubMarket.objects.exists():
        importlib.import_module("guanxi.segmentation.migrations.0002_seed").seed(apps, None)


@pytest.fixture
def bank(db):
    _seeded_segments()
    hq = OrgUnitFactory(code="HQ", name="总行", kind="head_office")
    union = OrgUnitFactory(code="U1", name="北城联社", kind="union", parent=hq)
    b1 = OrgUnitFactory(code="B1", name="城关支行", kind="branch", parent=union)
    b2 = OrgUnitFactory(code="B2", name="兴隆信用社", kind="coop", parent=union)
    people = dict(
        alice=UserFactory(username="alice", role=Role.MANAGER, org_unit=b1),
        bob=UserFactory(username="bob", role=Role.MANAGER, org_unit=b1),
        tina=UserFactory(username="tina", role=Role.TELLER, org_unit=b1),
        hank=UserFactory(username="hank", role=Role.BRANCH_HEAD, org_unit=b1),
        carol=UserFactory(username="carol", role=Role.MANAGER, org_unit=b2),
        lena=UserFactory(username="lena", role=Role.LINE_DEPT, org_unit=hq, market_line=MarketLine.AGRI),
        cora=UserFactory(username="cora", role=Role.CREDIT_APPROVER, org_unit=hq),
        audrey=UserFactory(username="audrey", role=Role.AUDITOR, org_unit=hq),
        sam=UserFactory(username="sam", role=Role.SYSADMIN, org_unit=hq),
        sec=UserFactory(username="sec", role=Role.SECADMIN, org_unit=hq),
        ada=UserFactory(username="ada", role=Role.AUDITADMIN, org_unit=hq),
    )
    return SimpleNamespace(hq=hq, union=union, b1=b1, b2=b2, **people)


@pytest.fixture
def customers(bank):
    """alice owns two (a person and a farmer), bob one, carol one (other branch), one unassigned in B1."""
    return SimpleNamespace(
        alice_person=CustomerFactory(org_unit=bank.b1, owner=bank.alice),
        alice_farmer=CustomerFactory(org_unit=bank.b1, customer_type="farmer", owner=bank.alice),
        bob_person=CustomerFactory(org_unit=bank.b1, owner=bank.bob),
        carol_company=CustomerFactory(org_unit=bank.b2, customer_type="company", owner=bank.carol),
        unassigned=CustomerFactory(org_unit=bank.b1),
    )


@pytest.fixture
def login(client):
    """Sign a persona in on the test client (through the model backend, as a real sign-in ends)."""

    def sign_in(user):
        client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
        return client

    return sign_in


@pytest.fixture(autouse=True, scope="session")
def _flush_may_empty_the_audit_log():
    """Transactional tests end with `flush`; let it empty the throw-away test database's audit log."""
    from django.core.management.commands import flush

    from guanxi.core.dbfunctions import allow_audit_purge

    original = flush.Command.handle

    def handle(self, *args, **options):
        with allow_audit_purge():
            return original(self, *args, **options)

    flush.Command.handle = handle
    yield
    flush.Command.handle = original
