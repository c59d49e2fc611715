"""The credit committee (贷审会) votes on lines above the department's authority: the configured majority
of the members entitled to vote carries; one vote each; never the proposer."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from guanxi.core.models import AuditEntry
from guanxi.credit.approvals import approval_decide, approval_vote, committee_save, credit_line_submit, tally
from guanxi.credit.models import CreditCommittee, CreditLine, Notification
from tests.credit.approval_helpers import proposed_line
from tests.factories import UserFactory


@pytest.fixture
def committee(bank):
    """cora and three more credit approvers at head office sit on the committee (two thirds carry)."""
    members = [bank.cora] + [UserFactory(username=f"member{i}", role="credit_approver", org_unit=bank.hq)
                             for i in range(1, 4)]
    committee_save(acting_user=bank.sam, members=members, majority_numerator=2, majority_denominator=3)
    return members


@pytest.fixture
def big_line(bank, make_company, committee):
    """A company line of 6,000,000: above the department's 5,000,000, so the committee votes."""
    line = proposed_line(bank.alice, make_company(), amount="6000000")
    return credit_line_submit(acting_user=bank.alice, line=line)


def test_the_committee_defaults_to_a_two_thirds_majority(db):
    committee = CreditCommittee.current()
    assert (committee.majority_numerator, committee.majority_denominator) == (2, 3)


def test_two_thirds_of_four_is_three_agreements(bank, committee, big_line):
    assert big_line.level == "committee"
    approval_vote(acting_user=committee[0], approval=big_line, vote="agree")
    approval_vote(acting_user=committee[1], approval=big_line, vote="agree")
    big_line.refresh_from_db()
    assert big_line.status == "pending" and tally(big_line).needed == 3
    approval_vote(acting_user=committee[2], approval=big_line, vote="agree")
    big_line.refresh_from_db()
    assert big_line.status == "approved"
    assert CreditLine.objects.get(pk=big_line.line_id).status == "approved"
    assert Notification.objects.get().status == "approved"
    assert AuditEntry.objects.filter(action="approval.vote").count() == 3
    assert AuditEntry.objects.get(action="approval.committee_outcome").changes["outcome"] == "approved"


def test_it_fails_as_soon_as_the_majority_cannot_be_reached(bank, committee, big_line):
    approval_vote(acting_user=committee[0], approval=big_line, vote="reject", comment="负债率过高")
    big_line.refresh_from_db()
    assert big_line.status == "pending"  # three may still agree
    approval_vote(acting_user=committee[1], approval=big_line, vote="abstain", comment="回避")
    big_line.refresh_from_db()
    assert big_line.status == "rejected"
    assert CreditLine.objects.get(pk=big_line.line_id).status == "rejected"


def test_more_reconsider_than_reject_sends_it_back(bank, committee, big_line):
    approval_vote(acting_user=committee[0], approval=big_line, vote="reconsider", comment="补充现金流测算")
    approval_vote(acting_user=committee[1], approval=big_line, vote="reconsider", comment="同上")
    big_line.refresh_from_db()
    assert big_line.status == "returned"
    assert CreditLine.objects.get(pk=big_line.line_id).status == "proposed"


def test_the_configured_majority_decides(bank, committee, make_company):
    committee_save(acting_user=bank.cora, members=committee, majority_numerator=1, majority_denominator=2)
    approval = credit_line_submit(acting_user=bank.alice,
                                  line=proposed_line(bank.alice, make_company(), amount="6000000"))
    approval_vote(acting_user=committee[0], approval=approval, vote="agree")
    approval_vote(acting_user=committee[1], approval=approval, vote="agree")
    approval.refresh_from_db()
    assert approval.status == "approved"  # a half of four is two


def test_the_proposer_does_not_vote_and_is_not_counted(bank, committee, make_company):
    approval = credit_line_submit(acting_user=bank.hank,
                                  line=proposed_line(bank.hank, make_company(), amount="6000000"))
    assert tally(approval).voters == 4
    member = committee[0]
    approval.submitted_by = member  # as if a member had proposed it
    approval.save(update_fields=["submitted_by"])
    assert (tally(approval).voters, tally(approval).needed) == (3, 2)
    with pytest.raises(PermissionDenied):
        approval_vote(acting_user=member, approval=approval, vote="agree")


def test_one_vote_per_member_and_only_members(bank, committee, big_line):
    approval_vote(acting_user=committee[0], approval=big_line, vote="agree")
    with pytest.raises(ValidationError):
        approval_vote(acting_user=committee[0], approval=big_line, vote="agree")
    outsider = UserFactory(username="otto", role="credit_approver", org_unit=bank.hq)
    with pytest.raises(PermissionDenied):
        approval_vote(acting_user=outsider, approval=big_line, vote="agree")
    with pytest.raises(PermissionDenied):
        approval_vote(acting_user=bank.hank, approval=big_line, vote="agree")


def test_a_committee_line_is_not_decided_by_one_approver(bank, committee, big_line):
    with pytest.raises(PermissionDenied):
        approval_decide(acting_user=bank.cora, approval=big_line, decision="approve")


def test_a_vote_other_than_agree_needs_a_comment(bank, committee, big_line):
    with pytest.raises(ValidationError) as caught:
        approval_vote(acting_user=committee[0], approval=big_line, vote="reject")
    assert "comment" in caught.value.message_dict


def test_a_committee_without_voters_cannot_receive_a_line(bank, make_company):
    line = proposed_line(bank.alice, make_company(), amount="6000000")
    with pytest.raises(ValidationError):
        credit_line_submit(acting_user=bank.alice, line=line)
    assert CreditLine.objects.get(pk=line.pk).status == "proposed"


def test_only_credit_approvers_sit_on_the_committee(bank):
    with pytest.raises(ValidationError) as caught:
        committee_save(acting_user=bank.cora, members=[bank.hank], majority_numerator=2, majority_denominator=3)
    assert "members" in caught.value.message_dict
    with pytest.raises(ValidationError):
        committee_save(acting_user=bank.cora, members=[], majority_numerator=4, majority_denominator=3)
    committee = CreditCommittee.current()
    assert (committee.majority_numerator, committee.majority_denominator) == (2, 3)
