"""Credit API: rating inputs, assessments (run, read with breakdown, confirm / adjust), adjustments to
approve, credit-line calculation, scorecards (read), line approval (submit, inbox, decide, vote), the
authority matrix, notifications, rating campaigns (create, applicants, batch run, progress).
Customers outside the caller's scope are 404."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from ninja import Router, Schema, Status
from ninja.pagination import LimitOffsetPagination, paginate

from guanxi.core.models import OrgUnit
from guanxi.credit import approvals, campaigns, selectors, services
from guanxi.credit.models import (
    Approval,
    ApprovalLevel,
    ApprovalStep,
    AuthorityRule,
    CreditLine,
    GradeOverride,
    Notification,
    RatingAssessment,
    RatingCampaign,
    Scorecard,
)

router = Router(tags=["credit"])


class InputOut(Schema):
    key: str
    label: str
    kind: str
    value: str | None
    choices: list[str]
    collected_by: str | None
    collected_at: datetime | None


class InputsIn(Schema):
    """{key: value}; an empty string or null removes the value."""

    values: dict[str, Any]


class BreakdownOut(Schema):
    code: str
    block: str
    label: str
    kind: str
    value: str
    detail: str
    points: int | None
    max_points: int | None


class GateOut(Schema):
    code: str
    label: str
    kind: str
    grade: str


class MissingOut(Schema):
    key: str
    label: str
    origin: str


class OverrideOut(Schema):
    id: int
    assessment_id: int
    from_grade: str
    to_grade: str
    steps: int
    reason: str
    proposed_by: str
    proposed_at: datetime
    required_role: str
    status: str
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str

    @staticmethod
    def resolve_proposed_by(obj: GradeOverride) -> str:
        return obj.proposed_by.username

    @staticmethod
    def resolve_decided_by(obj: GradeOverride) -> str | None:
        return obj.decided_by.username if obj.decided_by_id else None


class AssessmentSummaryOut(Schema):
    id: int
    customer_id: int
    customer_no: str
    customer_type: str
    scorecard_id: int
    scorecard_version: int
    status: str
    model_score: int | None
    model_grade: str
    final_grade: str
    eligible: bool
    created_at: datetime
    final_at: datetime | None

    @staticmethod
    def resolve_customer_no(obj: RatingAssessment) -> str:
        return obj.customer.customer_no

    @staticmethod
    def resolve_customer_type(obj: RatingAssessment) -> str:
        return obj.customer.customer_type

    @staticmethod
    def resolve_scorecard_version(obj: RatingAssessment) -> int:
        return obj.scorecard.version


class AssessmentOut(AssessmentSummaryOut):
    """An assessment explained: every indicator with its value and points, the gates, what is missing."""

    final_by: str | None
    breakdown: list[BreakdownOut]
    gates: list[GateOut]
    missing: list[MissingOut]
    overrides: list[OverrideOut]

    @staticmethod
    def resolve_final_by(obj: RatingAssessment) -> str | None:
        return obj.final_by.username if obj.final_by_id else None

    @staticmethod
    def resolve_breakdown(obj: RatingAssessment) -> list[dict]:
        return [{"code": r.code, "block": str(r.block), "label": str(r.label), "kind": r.kind, "value": r.value,
                 "detail": r.detail, "points": r.points, "max_points": r.max_points}
                for r in selectors.breakdown_rows(obj)]

    @staticmethod
    def resolve_gates(obj: RatingAssessment) -> list[dict]:
        return [{"code": g.code, "label": str(g.label), "kind": g.kind, "grade": g.grade}
                for g in selectors.gate_rows(obj)]

    @staticmethod
    def resolve_missing(obj: RatingAssessment) -> list[dict]:
        return [{"key": m.key, "label": str(m.label), "origin": str(m.origin)}
                for m in selectors.missing_rows(obj.missing, obj.scorecard)]

    @staticmethod
    def resolve_overrides(obj: RatingAssessment) -> list:
        return list(obj.overrides.select_related("proposed_by", "decided_by"))


class ConfirmIn(Schema):
    """Confirm the model's grade (no `grade`, or the same), or adjust it: `grade` and a `reason`."""

    grade: str | None = None
    reason: str = ""


class DecisionIn(Schema):
    approve: bool
    reason: str = ""


class GuaranteeIn(Schema):
    type: str
    kind: str = ""
    value: Decimal | None = None
    guarantor_line: Decimal | None = None


class LineIn(Schema):
    requested_amount: Decimal | None = None
    guarantees: list[GuaranteeIn] = []
    valid_from: date | None = None


class StepOut(Schema):
    position: int
    code: str
    label: str
    formula: str
    amount: Decimal


class LineOut(Schema):
    id: int
    customer_id: int
    assessment_id: int
    scorecard_id: int
    grade: str
    guarantees: list[dict]
    requested_amount: Decimal | None
    model_amount: Decimal
    amount: Decimal
    valid_from: date
    valid_until: date
    review_on: date
    status: str
    created_at: datetime
    steps: list[StepOut]

    @staticmethod
    def resolve_steps(obj: CreditLine) -> list:
        return list(obj.steps.all())


class ScorecardOut(Schema):
    id: int
    customer_type: str
    version: int
    name: str
    status: str
    effective_from: date | None
    definition: dict


def _inputs_out(customer) -> list[dict]:
    return [{"key": row["fact"].key, "label": str(row["fact"].label), "kind": str(row["fact"].kind),
             "value": row["value"] or None, "choices": [code for code, _label in row["fact"].choices],
             "collected_by": row["input"].collected_by.username if row["input"] and row["input"].collected_by
             else None, "collected_at": row["input"].collected_at if row["input"] else None}
            for row in selectors.collect_form_facts(customer)]


def _assessment(request, pk: int) -> RatingAssessment:
    return selectors.assessment_get(user=request.user, pk=pk)


@router.get("/customers/{int:customer_id}/inputs", response=list[InputOut])
def inputs_get(request, customer_id: int):
    """The inputs the customer's scorecard reads that staff collect, with their current values."""
    return _inputs_out(selectors.customer_get(user=request.user, pk=customer_id))


@router.put("/customers/{int:customer_id}/inputs", response=list[InputOut])
def inputs_put(request, customer_id: int, payload: InputsIn):
    customer = selectors.customer_get(user=request.user, pk=customer_id)
    services.rating_inputs_save(acting_user=request.user, customer=customer, values=payload.values)
    return _inputs_out(customer)


@router.post("/customers/{int:customer_id}/assessments", response={201: AssessmentOut})
def assessment_run(request, customer_id: int):
    """Assess the customer with the scorecard in force (managers: own customers; heads: their subtree)."""
    customer = selectors.customer_get(user=request.user, pk=customer_id)
    assessment = services.assessment_run(acting_user=request.user, customer=customer)
    return Status(201, _assessment(request, assessment.pk))


@router.get("/assessments", response=list[AssessmentSummaryOut])
@paginate(LimitOffsetPagination)
def assessment_list(request, status: str = "", grade: str = "", customer_type: str = "",
                    customer_id: int | None = None):
    return selectors.assessment_list(user=request.user, status=status, grade=grade, customer_type=customer_type,
                                     customer_id=customer_id)


@router.get("/assessments/{int:assessment_id}", response=AssessmentOut)
def assessment_detail(request, assessment_id: int):
    return _assessment(request, assessment_id)


@router.post("/assessments/{int:assessment_id}/confirm", response=AssessmentOut)
def assessment_confirm(request, assessment_id: int, payload: ConfirmIn):
    """Confirm or adjust; an adjustment beyond your authority waits for an approver (status `pending`)."""
    assessment = _assessment(request, assessment_id)
    services.assessment_confirm(acting_user=request.user, assessment=assessment, grade=payload.grade,
                                reason=payload.reason)
    return _assessment(request, assessment_id)


@router.get("/overrides/pending", response=list[OverrideOut])
@paginate(LimitOffsetPagination)
def overrides_pending(request):
    """Adjustments waiting for your decision."""
    return selectors.pending_overrides(user=request.user).select_related("decided_by").order_by("proposed_at", "id")


@router.post("/overrides/{int:override_id}/decision", response=OverrideOut)
def override_decide(request, override_id: int, payload: DecisionIn):
    override = get_object_or_404(GradeOverride.objects.visible_to(request.user).select_related("assessment"),
                                 pk=override_id)
    services.grade_override_decide(acting_user=request.user, override=override, approve=payload.approve,
                                   reason=payload.reason)
    return GradeOverride.objects.select_related("proposed_by", "decided_by").get(pk=override.pk)


@router.post("/assessments/{int:assessment_id}/lines", response={201: LineOut})
def line_calculate(request, assessment_id: int, payload: LineIn):
    """Calculate the credit line of a confirmed assessment; the response is the calculation sheet."""
    assessment = _assessment(request, assessment_id)
    line = services.credit_line_calculate(
        acting_user=request.user, assessment=assessment, guarantees=[g.dict() for g in payload.guarantees],
        requested_amount=payload.requested_amount, valid_from=payload.valid_from)
    return Status(201, selectors.credit_line_get(user=request.user, pk=line.pk))


@router.get("/lines/{int:line_id}", response=LineOut)
def line_detail(request, line_id: int):
    return selectors.credit_line_get(user=request.user, pk=line_id)


@router.get("/scorecards", response=list[ScorecardOut])
@paginate(LimitOffsetPagination)
def scorecard_list(request, customer_type: str = ""):
    scorecards = Scorecard.objects.order_by("customer_type", "-version")
    return scorecards.filter(customer_type=customer_type) if customer_type else scorecards


@router.get("/scorecards/{int:scorecard_id}", response=ScorecardOut)
def scorecard_detail(request, scorecard_id: int):
    return get_object_or_404(Scorecard, pk=scorecard_id)


# --- approval ------------------------------------------------------------------------------------


class SubmitIn(Schema):
    comment: str = ""


class ApprovalDecisionIn(Schema):
    """`decision`: approve, reject or return (send back); a comment is required to reject or send back."""

    decision: str
    comment: str = ""


class VoteIn(Schema):
    """`vote`: agree, reject, reconsider or abstain; a comment is required unless you agree."""

    vote: str
    comment: str = ""


class StepOutApproval(Schema):
    action: str
    vote: str
    actor: str | None
    at: datetime
    comment: str

    @staticmethod
    def resolve_actor(obj: ApprovalStep) -> str | None:
        return obj.actor.username if obj.actor_id else None


class TallyOut(Schema):
    voters: int
    needed: int
    counts: dict[str, int]
    remaining: int


class ApprovalSummaryOut(Schema):
    id: int
    line_id: int
    customer_id: int
    customer_no: str
    level: str
    status: str
    grade: str
    amount: Decimal
    loan_balance: Decimal
    approved_lines: Decimal
    exposure: Decimal
    submitted_by: str
    submitted_at: datetime

    @staticmethod
    def resolve_customer_no(obj: Approval) -> str:
        return obj.customer.customer_no

    @staticmethod
    def resolve_grade(obj: Approval) -> str:
        return obj.line.grade

    @staticmethod
    def resolve_submitted_by(obj: Approval) -> str:
        return obj.submitted_by.username


class ApprovalOut(ApprovalSummaryOut):
    """An approval with its route (the authority rule), every step and, at the committee level, the tally."""

    rule_id: int | None
    comment: str
    decided_by: str | None
    decided_at: datetime | None
    decision_comment: str
    steps: list[StepOutApproval]
    tally: TallyOut | None

    @staticmethod
    def resolve_decided_by(obj: Approval) -> str | None:
        return obj.decided_by.username if obj.decided_by_id else None

    @staticmethod
    def resolve_steps(obj: Approval) -> list:
        return selectors.approval_steps(obj)

    @staticmethod
    def resolve_tally(obj: Approval) -> dict | None:
        if obj.level != ApprovalLevel.COMMITTEE:
            return None
        result = approvals.tally(obj)
        return {"voters": result.voters, "needed": result.needed, "counts": result.counts,
                "remaining": result.remaining}


class AuthorityRuleOut(Schema):
    id: int
    level: str
    org_code: str | None
    customer_type: str
    guarantee_class: str
    min_grade: str
    limit: Decimal | None
    active: bool

    @staticmethod
    def resolve_org_code(obj: AuthorityRule) -> str | None:
        return obj.org_unit.code if obj.org_unit_id else None


class NotificationOut(Schema):
    id: int
    customer_id: int
    approval_id: int | None
    status: str
    actor: str | None
    comment: str
    created_at: datetime
    read_at: datetime | None

    @staticmethod
    def resolve_actor(obj: Notification) -> str | None:
        return obj.actor.username if obj.actor_id else None


def _approval(request, pk: int) -> Approval:
    return selectors.approval_get(user=request.user, pk=pk)


@router.post("/lines/{int:line_id}/submit", response={201: ApprovalOut})
def line_submit(request, line_id: int, payload: SubmitIn):
    """Submit a proposed line for approval; the response says which level approves it and why."""
    line = selectors.credit_line_get(user=request.user, pk=line_id)
    approval = approvals.credit_line_submit(acting_user=request.user, line=line, comment=payload.comment)
    return Status(201, _approval(request, approval.pk))


@router.get("/approvals/pending", response=list[ApprovalSummaryOut])
@paginate(LimitOffsetPagination)
def approvals_pending(request):
    """待我审批: lines waiting for your decision or your committee vote, oldest first."""
    return approvals.inbox(user=request.user)


@router.get("/approvals/{int:approval_id}", response=ApprovalOut)
def approval_detail(request, approval_id: int):
    return _approval(request, approval_id)


@router.post("/approvals/{int:approval_id}/decision", response=ApprovalOut)
def approval_decide(request, approval_id: int, payload: ApprovalDecisionIn):
    """Approve, reject or send back (outlet and department levels; never your own proposal)."""
    approvals.approval_decide(acting_user=request.user, approval=_approval(request, approval_id),
                              decision=payload.decision, comment=payload.comment)
    return _approval(request, approval_id)


@router.post("/approvals/{int:approval_id}/votes", response=ApprovalOut)
def approval_vote(request, approval_id: int, payload: VoteIn):
    """A committee member's vote; the configured majority decides."""
    approvals.approval_vote(acting_user=request.user, approval=_approval(request, approval_id), vote=payload.vote,
                            comment=payload.comment)
    return _approval(request, approval_id)


@router.get("/authority-rules", response=list[AuthorityRuleOut])
@paginate(LimitOffsetPagination)
def authority_rules(request):
    """The authority matrix (bank policy: every staff member reads it)."""
    return selectors.authority_matrix()


@router.get("/notifications", response=list[NotificationOut])
@paginate(LimitOffsetPagination)
def notifications(request, unread: bool = False):
    """Your notes about your customers' credit lines, newest first."""
    notes = Notification.objects.visible_to(request.user).select_related("actor").order_by("-created_at", "-id")
    return notes.filter(read_at__isnull=True) if unread else notes


# --- campaigns -----------------------------------------------------------------------------------


class CampaignIn(Schema):
    name: str
    starts_on: date
    ends_on: date
    org_codes: list[str]
    customer_type: str = ""
    include_existing: bool = True
    include_applicants: bool = True
    village: str = ""
    credit_village_share: int = 70


class CampaignOut(Schema):
    id: int
    name: str
    starts_on: date
    ends_on: date
    org_codes: list[str]
    customer_type: str
    include_existing: bool
    include_applicants: bool
    village: str
    credit_village_share: int

    @staticmethod
    def resolve_org_codes(obj: RatingCampaign) -> list[str]:
        return sorted(unit.code for unit in obj.org_units.all())


class CoverageOut(Schema):
    org_code: str | None
    org_name: str | None
    population: int
    collected: int
    rated: int
    approved: int
    farmers: int
    credit_households: int
    collected_share: float | None
    rated_share: float | None
    approved_share: float | None


class ProgressOut(Schema):
    campaign_id: int
    goal: int
    rows: list[CoverageOut]
    total: CoverageOut
    credit_village: bool | None


class ApplicantIn(Schema):
    customer_id: int


class RunOut(Schema):
    id: int
    state: str
    assessed: int
    incomplete: int
    by_grade: dict


def _coverage(row) -> dict:
    return {"org_code": row.org_unit.code if row.org_unit else None,
            "org_name": row.org_unit.name if row.org_unit else None,
            **{name: getattr(row, name) for name in selectors.COVERAGE_COUNTS},
            "collected_share": row.collected_share, "rated_share": row.rated_share,
            "approved_share": row.approved_share}


def _campaign(pk: int) -> RatingCampaign:
    return get_object_or_404(RatingCampaign.objects.prefetch_related("org_units"), pk=pk)


@router.get("/campaigns", response=list[CampaignOut])
@paginate(LimitOffsetPagination)
def campaign_list(request):
    return RatingCampaign.objects.prefetch_related("org_units")


@router.post("/campaigns", response={201: CampaignOut})
def campaign_create(request, payload: CampaignIn):
    """Start a rating campaign (line departments, credit approvers; branch heads within their subtree)."""
    units = list(OrgUnit.objects.filter(code__in=payload.org_codes))
    unknown = sorted(set(payload.org_codes) - {u.code for u in units})
    if unknown:
        raise ValidationError({"org_codes": [_("No org unit has the code %(code)s.") % {"code": ", ".join(unknown)}]})
    campaign = campaigns.campaign_create(
        acting_user=request.user, name=payload.name, starts_on=payload.starts_on, ends_on=payload.ends_on,
        org_units=units, customer_type=payload.customer_type, include_existing=payload.include_existing,
        include_applicants=payload.include_applicants, village=payload.village,
        credit_village_share=payload.credit_village_share)
    return Status(201, _campaign(campaign.pk))


@router.get("/campaigns/{int:campaign_id}/progress", response=ProgressOut)
def campaign_progress(request, campaign_id: int):
    """Coverage per org unit of the customers you may see: collected, rated, line approved, against 100%."""
    progress = selectors.campaign_progress(campaign=_campaign(campaign_id), user=request.user)
    return {"campaign_id": campaign_id, "goal": progress.goal, "rows": [_coverage(r) for r in progress.rows],
            "total": _coverage(progress.total), "credit_village": progress.credit_village}


@router.post("/campaigns/{int:campaign_id}/applicants", response={201: dict})
def campaign_applicant_add(request, campaign_id: int, payload: ApplicantIn):
    """Register a prospect who asked for credit (a customer you may see) in the campaign's population."""
    customer = selectors.customer_get(user=request.user, pk=payload.customer_id)
    applicant = campaigns.campaign_applicant_add(acting_user=request.user, campaign=_campaign(campaign_id),
                                                 customer=customer)
    return Status(201, {"campaign_id": campaign_id, "customer_id": applicant.customer_id})


@router.post("/campaigns/{int:campaign_id}/runs", response={201: RunOut})
def campaign_rate(request, campaign_id: int):
    """Assess the campaign's population within your scope now (batch); the run's counts by grade."""
    result = services.assessments_run_batch(acting_user=request.user, campaign=_campaign(campaign_id))
    return Status(201, result.run)
