"""Routing a credit line by the authority matrix, and deciding it: four eyes, authority, scope, audit."""

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from guanxi.core.models import AuditEntry
from guanxi.credit.approvals import approval_decide, authority_rule_save, credit_line_submit, route
from guanxi.credit.models import Approval, AuthorityRule, CreditLine, Notification
from tests.credit.approval_helpers import proposed_line
from tests.credit.conftest import FARMER_INPUTS


def test_the_default_matrix_is_the_reference(db):
    rules = {(r.level, r.customer_type, r.guarantee_class): r.limit for r in AuthorityRule.objects.all()}
    assert rules == {
        ("outlet", "farmer", "unsecured"): Decimal("300000.00"), ("outlet", "person", "unsecured"): Decimal("300000.00"),
        ("outlet", "farmer", "secured"): Decimal("1000000.00"), ("outlet", "person", "secured"): Decimal("1000000.00"),
        ("department", "", ""): Decimal("5000000.00"), ("committee", "", ""): None}


def test_a_small_unsecured_farmer_line_stays_at_the_outlet(bank, make_farmer):
    line = proposed_line(bank.alice, make_farmer())
    path = route(line)
    assert (path.level, path.exposure, path.guarantee_class) == ("outlet", Decimal("160000.00"), "unsecured")
    assert path.rule.limit == Decimal("300000.00")


def test_the_compared_amount_is_the_total_exposure(bank, make_farmer):
    farmer = make_farmer(loan_balance=Decimal("100000"))
    earlier = proposed_line(bank.alice, farmer, amount="50000")
    CreditLine.objects.filter(pk=earlier.pk).update(status="approved")
    line = proposed_line(bank.alice, farmer, amount="160000")
    path = route(line)
    # 100,000 loan + 50,000 approved + 160,000 new = 310,000 > the outlet's 300,000 unsecured.
    assert (path.loan_balance, path.approved_lines, path.amount) == (
        Decimal("100000.00"), Decimal("50000.00"), Decimal("160000.00"))
    assert (path.exposure, path.level) == (Decimal("310000.00"), "department")


def test_an_expired_approved_line_does_not_count(bank, make_farmer):
    from datetime import date

    farmer = make_farmer()
    old = proposed_line(bank.alice, farmer, amount="250000")
    CreditLine.objects.filter(pk=old.pk).update(status="approved", valid_from=date(2020, 1, 1),
                                                valid_until=date(2021, 1, 1))
    assert route(proposed_line(bank.alice, farmer)).approved_lines == Decimal("0.00")


def test_a_secured_line_has_the_larger_outlet_authority(bank, make_farmer):
    line = proposed_line(bank.alice, make_farmer(), guarantees=[{"type": "mortgage", "kind": "housing",
                                                                 "value": "900000"}], amount="800000")
    assert (route(line).level, route(line).guarantee_class) == ("outlet", "secured")


def test_a_company_line_starts_at_the_credit_department(bank, make_company):
    assert route(proposed_line(bank.alice, make_company(), amount="200000")).level == "department"


def test_above_five_million_goes_to_the_committee(bank, make_company):
    assert route(proposed_line(bank.alice, make_company(), amount="5000000.01")).level == "committee"


def test_an_outlet_rule_replaces_the_bank_wide_one_and_grade_counts(bank, make_farmer):
    authority_rule_save(acting_user=bank.cora, level="outlet", org_unit=bank.b1, customer_type="farmer",
                        guarantee_class="unsecured", min_grade="AAA", limit=Decimal("500000"))
    aaa = proposed_line(bank.alice, make_farmer(), amount="400000")
    assert route(aaa).level == "outlet"
    # The B1 rule only covers AAA; the bank-wide outlet rules no longer apply in B1.
    lower = make_farmer(household_size=2, members=(True,), inputs={**FARMER_INPUTS, "overall_judgement": "fair"})
    small = proposed_line(bank.alice, lower, amount="100000")
    assert small.grade != "AAA" and route(small).level == "department"
    # Elsewhere the bank-wide rules still hold.
    carols = proposed_line(bank.carol, make_farmer(owner=bank.carol, org_unit=bank.b2), amount="400000")
    assert route(carols).level == "department"


def test_submitting_fixes_the_route_and_audits_it(bank, make_farmer):
    line = proposed_line(bank.alice, make_farmer(loan_balance=Decimal("20000")))
    approval = credit_line_submit(acting_user=bank.alice, line=line, comment="春耕用款")
    line.refresh_from_db()
    assert (line.status, approval.level, approval.exposure, approval.status) == (
        "pending", "outlet", Decimal("180000.00"), "pending")
    entry = AuditEntry.objects.get(action="approval.submit")
    assert entry.changes["exposure"] == "180000.00" and entry.changes["level"] == "outlet"
    with pytest.raises(ValidationError):
        credit_line_submit(acting_user=bank.alice, line=line)


def test_no_new_line_is_calculated_while_one_is_under_approval(bank, make_farmer):
    customer = make_farmer()
    line = proposed_line(bank.alice, customer)
    approval = credit_line_submit(acting_user=bank.alice, line=line)
    with pytest.raises(ValidationError, match="审批"):
        proposed_line(bank.alice, customer)
    assert CreditLine.objects.filter(customer=customer).count() == 1
    approval_decide(acting_user=bank.hank, approval=approval, decision="return", comment="补充抵押物评估")
    again = proposed_line(bank.alice, customer)  # sent back: a new calculation replaces it
    line.refresh_from_db()
    assert (line.status, again.status) == ("superseded", "proposed")


def test_a_line_above_the_outlets_authority_cannot_be_approved_at_the_outlet(bank, make_farmer):
    line = proposed_line(bank.alice, make_farmer(), amount="400000")
    approval = credit_line_submit(acting_user=bank.alice, line=line)
    assert approval.level == "department"
    with pytest.raises(PermissionDenied, match="超出"):
        approval_decide(acting_user=bank.hank, approval=approval, decision="approve")
    approval_decide(acting_user=bank.cora, approval=approval, decision="approve")
    line.refresh_from_db()
    assert line.status == "approved"


def test_the_proposer_cannot_approve_their_own_line(bank, make_farmer):
    line = proposed_line(bank.hank, make_farmer())  # the branch head calculated it himself
    approval = credit_line_submit(acting_user=bank.hank, line=line)
    with pytest.raises(PermissionDenied, match="自己"):
        approval_decide(acting_user=bank.hank, approval=approval, decision="approve")
    # Whoever submits is a proposer too, even for a line somebody else calculated.
    other = credit_line_submit(acting_user=bank.hank, line=proposed_line(bank.alice, make_farmer()))
    with pytest.raises(PermissionDenied):
        approval_decide(acting_user=bank.hank, approval=other, decision="approve")
    assert Approval.objects.filter(status="pending").count() == 2


def test_approval_outside_the_approvers_scope_is_refused(bank, make_farmer):
    from tests.factories import UserFactory

    other_head = UserFactory(username="hugo", role="branch_head", org_unit=bank.b2)
    approval = credit_line_submit(acting_user=bank.alice, line=proposed_line(bank.alice, make_farmer()))
    with pytest.raises(PermissionDenied):
        approval_decide(acting_user=other_head, approval=approval, decision="approve")


def test_approving_tells_the_owner_and_audits(bank, make_farmer):
    farmer = make_farmer()
    # The branch head proposes for alice's customer; a credit approver (a higher level) decides it.
    approval = credit_line_submit(acting_user=bank.hank, line=proposed_line(bank.hank, farmer))
    approval_decide(acting_user=bank.cora, approval=approval, decision="approve", comment="同意")
    note = Notification.objects.get()
    assert (note.recipient, note.customer, note.status, note.actor) == (bank.alice, farmer, "approved", bank.cora)
    assert AuditEntry.objects.filter(action="approval.approve", object_id=str(approval.pk)).exists()
    assert [s.action for s in approval.steps.order_by("id")] == ["submit", "approve"]


def test_rejecting_needs_a_comment(bank, make_farmer):
    approval = credit_line_submit(acting_user=bank.alice, line=proposed_line(bank.alice, make_farmer()))
    with pytest.raises(ValidationError) as caught:
        approval_decide(acting_user=bank.hank, approval=approval, decision="reject")
    assert "comment" in caught.value.message_dict
    approval_decide(acting_user=bank.hank, approval=approval, decision="reject", comment="收入证明不足")
    assert CreditLine.objects.get(pk=approval.line_id).status == "rejected"
    assert Notification.objects.get().status == "rejected"


def test_sending_back_lets_the_proposer_resubmit(bank, make_farmer):
    line = proposed_line(bank.alice, make_farmer())
    approval = credit_line_submit(acting_user=bank.alice, line=line)
    approval_decide(acting_user=bank.hank, approval=approval, decision="return", comment="补充担保材料")
    line.refresh_from_db()
    assert line.status == "proposed" and Notification.objects.get().comment == "补充担保材料"
    again = credit_line_submit(acting_user=bank.alice, line=line)
    assert again.pk != approval.pk and again.status == "pending"
    with pytest.raises(ValidationError, match="已"):
        approval_decide(acting_user=bank.hank, approval=approval, decision="approve")


def test_managers_and_outsiders_configure_nothing(bank):
    with pytest.raises(PermissionDenied):
        authority_rule_save(acting_user=bank.hank, level="outlet", limit=Decimal("1"))
