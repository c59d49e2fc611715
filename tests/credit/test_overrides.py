"""Confirming the model's grade, adjusting it, and who approves an adjustment (four eyes)."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from guanxi.core.models import AuditEntry
from guanxi.credit.models import AssessmentStatus, GradeOverride, OverrideStatus
from guanxi.credit.services import assessment_confirm, assessment_run, grade_override_decide
from tests.credit.conftest import FARMER_INPUTS


@pytest.fixture
def proposed(bank, make_farmer):
    """A farmer household of alice's the model rates AAA (97 points)."""
    return assessment_run(acting_user=bank.alice, customer=make_farmer())


def test_a_manager_confirms_the_models_grade(bank, proposed):
    assessment = assessment_confirm(acting_user=bank.alice, assessment=proposed)
    assert (assessment.status, assessment.final_grade, assessment.final_by) == ("confirmed", "AAA", bank.alice)
    assert AuditEntry.objects.filter(action="rating.confirm", actor=bank.alice, object_id=str(proposed.pk)).exists()
    assert not GradeOverride.objects.exists()


def test_an_adjustment_needs_a_reason(bank, proposed):
    with pytest.raises(ValidationError) as caught:
        assessment_confirm(acting_user=bank.alice, assessment=proposed, grade="AA")
    assert "reason" in caught.value.message_dict


def test_a_managers_one_grade_adjustment_waits_for_the_branch_head(bank, proposed):
    assessment = assessment_confirm(acting_user=bank.alice, assessment=proposed, grade="AA", reason="村组评议偏高")
    assert (assessment.status, assessment.final_grade, assessment.model_grade) == ("pending", "", "AAA")
    override = GradeOverride.objects.get()
    assert (override.steps, override.required_role, override.status) == (1, "branch_head", "pending")
    grade_override_decide(acting_user=bank.hank, override=override, approve=True)
    assessment.refresh_from_db()
    assert (assessment.status, assessment.final_grade, assessment.final_by) == ("confirmed", "AA", bank.hank)
    assert assessment.model_grade == "AAA" and assessment.model_score == 97
    override.refresh_from_db()
    assert (override.proposed_by, override.decided_by, override.reason) == (bank.alice, bank.hank, "村组评议偏高")
    assert AuditEntry.objects.filter(action="rating.override_approve", actor=bank.hank).exists()


def test_more_than_one_grade_needs_a_credit_approver(bank, proposed):
    assessment_confirm(acting_user=bank.alice, assessment=proposed, grade="A", reason="经营风险")
    override = GradeOverride.objects.get()
    assert (override.steps, override.required_role) == (2, "credit_approver")
    with pytest.raises(PermissionDenied):
        grade_override_decide(acting_user=bank.hank, override=override, approve=True)
    grade_override_decide(acting_user=bank.cora, override=override, approve=True)
    proposed.refresh_from_db()
    assert (proposed.status, proposed.final_grade) == ("confirmed", "A")


def test_a_branch_head_adjusts_one_grade_on_his_own_authority(bank, proposed):
    assessment = assessment_confirm(acting_user=bank.hank, assessment=proposed, grade="AA", reason="贷后检查")
    assert (assessment.status, assessment.final_grade) == ("confirmed", "AA")
    override = GradeOverride.objects.get()
    assert (override.status, override.decided_by, override.required_role) == ("approved", bank.hank, "")


def test_nobody_approves_their_own_adjustment(bank, proposed):
    from tests.factories import UserFactory

    head_of_union = UserFactory(username="uma", role="branch_head", org_unit=bank.union)
    assessment_confirm(acting_user=bank.hank, assessment=proposed, grade="A", reason="两级下调")
    override = GradeOverride.objects.get()
    with pytest.raises(PermissionDenied):
        grade_override_decide(acting_user=bank.hank, override=override, approve=True)
    with pytest.raises(PermissionDenied):  # a head of a higher unit is still only a branch head
        grade_override_decide(acting_user=head_of_union, override=override, approve=True)


def test_a_rejection_needs_a_reason_and_reopens_the_assessment(bank, proposed):
    assessment_confirm(acting_user=bank.alice, assessment=proposed, grade="AA", reason="偏高")
    override = GradeOverride.objects.get()
    with pytest.raises(ValidationError):
        grade_override_decide(acting_user=bank.hank, override=override, approve=False)
    grade_override_decide(acting_user=bank.hank, override=override, approve=False, reason="依据不足")
    override.refresh_from_db()
    proposed.refresh_from_db()
    assert (override.status, override.decision_reason) == (OverrideStatus.REJECTED, "依据不足")
    assert proposed.status == AssessmentStatus.PROPOSED and proposed.final_grade == ""
    assert assessment_confirm(acting_user=bank.alice, assessment=proposed).final_grade == "AAA"


def test_an_assessment_lacking_inputs_cannot_be_confirmed(bank, make_farmer):
    assessment = assessment_run(acting_user=bank.alice, customer=make_farmer(inputs={}))
    with pytest.raises(ValidationError):
        assessment_confirm(acting_user=bank.alice, assessment=assessment)


def test_no_new_assessment_while_an_adjustment_waits(bank, proposed):
    assessment_confirm(acting_user=bank.alice, assessment=proposed, grade="AA", reason="偏高")
    with pytest.raises(ValidationError):
        assessment_run(acting_user=bank.alice, customer=proposed.customer)


def test_a_new_assessment_supersedes_the_open_one(bank, make_farmer):
    farmer = make_farmer(inputs={**FARMER_INPUTS, "overall_judgement": "fair"})
    first = assessment_run(acting_user=bank.alice, customer=farmer)
    second = assessment_run(acting_user=bank.alice, customer=farmer)
    first.refresh_from_db()
    assert (first.status, second.status) == ("superseded", "proposed")


def test_a_teller_or_the_auditor_may_not_confirm(bank, proposed):
    for user in (bank.tina, bank.audrey, bank.cora):
        with pytest.raises(PermissionDenied):
            assessment_confirm(acting_user=user, assessment=proposed)
