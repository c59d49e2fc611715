"""Credit-line approval (审议审批): routing by the authority matrix, decisions, committee votes.

The only writers of `Approval`, `ApprovalStep`, `Notification`, `AuthorityRule` and `CreditCommittee`;
each operation takes the acting user, runs in one transaction and writes its audit entry there.

Who does what:

- submitting a calculated line: relationship managers for the customers they own, branch heads for
  their subtree (the assessors of `credit.services`); the submitter and the line's calculator are
  its proposers;
- deciding (approve, reject, send back with a comment): a branch head at the outlet level, a credit
  approver at the outlet or department level — each within their data scope, never a proposer;
- voting at the committee level: the committee's members (credit approvers), never a proposer; the
  configured majority of the members entitled to vote carries;
- the matrix and the committee (configuration): credit approvers and the system administrator.

Every outcome is told to the customer's owner (a `Notification`; the proposer when there is no owner).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from guanxi.core import audit
from guanxi.core.models import OrgUnit, User
from guanxi.core.roles import Role
from guanxi.credit.models import (
    LEVEL_RANK,
    Approval,
    ApprovalLevel,
    ApprovalStatus,
    ApprovalStep,
    AuthorityRule,
    CreditCommittee,
    CreditLine,
    CreditLineStatus,
    GuaranteeClass,
    Notification,
    StepAction,
    Vote,
)
from guanxi.credit.services import _require_assessor, _require_configurer
from guanxi.customers.models import Customer, CustomerType

ZERO = Decimal("0.00")
# The highest level each role decides alone (the committee decides by vote, see `can_vote`).
DECIDER_RANK = {Role.BRANCH_HEAD: LEVEL_RANK[ApprovalLevel.OUTLET],
                Role.CREDIT_APPROVER: LEVEL_RANK[ApprovalLevel.DEPARTMENT]}
DECISIONS = {"approve": ApprovalStatus.APPROVED, "reject": ApprovalStatus.REJECTED, "return": ApprovalStatus.RETURNED}


# --- routing -------------------------------------------------------------------------------------


def guarantee_class(line: CreditLine) -> str:
    """Unsecured when the line rests on credit alone; secured with any guarantee, mortgage or pledge."""
    types = {g.get("type") for g in line.guarantees or []} - {"credit", None, ""}
    return GuaranteeClass.SECURED if types else GuaranteeClass.UNSECURED


@dataclass
class Route:
    """Where a line goes: the compared amount in its parts (yuan) and the level with the rule that gives it."""

    loan_balance: Decimal
    approved_lines: Decimal
    amount: Decimal
    exposure: Decimal
    level: str
    rule: AuthorityRule | None
    guarantee_class: str


def exposure_of(line: CreditLine, *, today=None) -> tuple[Decimal, Decimal, Decimal]:
    """(current loan balance, approved lines still valid other than this one, this line) in yuan."""
    today = today or timezone.localdate()
    customer = Customer.objects.only("loan_balance").get(pk=line.customer_id)
    approved = (CreditLine.objects.filter(customer_id=line.customer_id, status=CreditLineStatus.APPROVED,
                                          valid_until__gte=today).exclude(pk=line.pk)
                .aggregate(total=Sum("amount"))["total"]) or ZERO
    return customer.loan_balance or ZERO, approved, line.amount


def _rule_matches(rule: AuthorityRule, line: CreditLine, customer_type: str, secured: str) -> bool:
    if rule.customer_type and rule.customer_type != customer_type:
        return False
    if rule.guarantee_class and rule.guarantee_class != secured:
        return False
    if rule.min_grade:
        rank = line.scorecard.compiled().rank
        if rule.min_grade not in rank or line.grade not in rank or rank[line.grade] > rank[rule.min_grade]:
            return False
    return True


def rules_for(org_unit: OrgUnit) -> dict[str, list[AuthorityRule]]:
    """The active rules that apply to a customer of `org_unit`, per level: those of the nearest unit
    above it (itself included) that has rules for the level, else the bank-wide ones."""
    rules = AuthorityRule.objects.active().select_related("org_unit")
    by_level: dict[str, dict[str, list[AuthorityRule]]] = {}
    for rule in rules:
        path = rule.org_unit.path if rule.org_unit_id else ""
        if path and not org_unit.path.startswith(path):
            continue
        by_level.setdefault(rule.level, {}).setdefault(path, []).append(rule)
    return {level: paths[max(paths, key=len)] for level, paths in by_level.items()}


def route(line: CreditLine, *, today=None) -> Route:
    """The lowest level whose authority covers the line: a matching rule with a limit not below the
    customer's total exposure (the committee when none does)."""
    loan, approved, amount = exposure_of(line, today=today)
    exposure = loan + approved + amount
    customer = line.customer
    secured = guarantee_class(line)
    applicable = rules_for(customer.org_unit)
    for level in sorted(ApprovalLevel.values, key=LEVEL_RANK.get):
        covering = [rule for rule in applicable.get(level, [])
                    if _rule_matches(rule, line, customer.customer_type, secured)
                    and (rule.limit is None or exposure <= rule.limit)]
        if covering:
            # The most specific rule explains the route (a bound before none, the lowest bound first).
            rule = min(covering, key=lambda r: (r.limit is None, r.limit or 0, r.pk))
            return Route(loan, approved, amount, exposure, level, rule, secured)
    return Route(loan, approved, amount, exposure, ApprovalLevel.COMMITTEE, None, secured)


# --- who may act ---------------------------------------------------------------------------------


def proposers(approval: Approval) -> set[int]:
    """The staff who proposed the line: whoever calculated it and whoever submitted it."""
    return {pk for pk in (approval.submitted_by_id, approval.line.created_by_id) if pk}


def _active(user: User) -> bool:
    return bool(user.is_authenticated and user.is_active)


def _in_scope(user: User, approval: Approval) -> bool:
    return Customer.objects.visible_to(user).filter(pk=approval.customer_id).exists()


def can_decide(user: User, approval: Approval) -> bool:
    """Whether `user` may approve, reject or send back this approval alone (outlet or department level)."""
    if not _active(user) or not approval.is_pending or approval.level == ApprovalLevel.COMMITTEE:
        return False
    if DECIDER_RANK.get(user.role, -1) < LEVEL_RANK[approval.level] or user.pk in proposers(approval):
        return False
    return _in_scope(user, approval)


def committee_voters(committee: CreditCommittee, approval: Approval) -> set[int]:
    """The members entitled to vote on this approval: active credit approvers, never a proposer."""
    members = committee.members.filter(is_active=True, role=Role.CREDIT_APPROVER).values_list("pk", flat=True)
    return set(members) - proposers(approval)


def can_vote(user: User, approval: Approval, committee: CreditCommittee | None = None) -> bool:
    """Whether `user` may still vote on this committee-level approval."""
    if not _active(user) or not approval.is_pending or approval.level != ApprovalLevel.COMMITTEE:
        return False
    committee = committee or CreditCommittee.current()
    if user.pk not in committee_voters(committee, approval):
        return False
    if approval.steps.filter(action=StepAction.VOTE, actor=user).exists():
        return False
    return _in_scope(user, approval)


# --- operations ----------------------------------------------------------------------------------


def _notify(approval: Approval, actor: User | None, comment: str) -> Notification:
    """Tell the customer's owner (the proposer when there is none) how the approval ended."""
    owner_id = (approval.customer.assignments.filter(active=True).values_list("owner_id", flat=True).first()
                or approval.submitted_by_id)
    return Notification.objects.create(recipient_id=owner_id, customer_id=approval.customer_id, approval=approval,
                                       status=approval.status, actor=actor, comment=comment)


def credit_line_submit(*, acting_user: User, line: CreditLine, comment: str = "") -> Approval:
    """Submit a proposed line for approval: fix its compared amount and the level that approves it.

    Refused unless the line is `proposed` (a line sent back may be submitted again), and at the
    committee level while the committee has nobody entitled to vote. The line becomes `pending`.
    Assessors within their scope; audited.
    """
    customer = line.customer
    _require_assessor(acting_user, customer)
    comment = (comment or "").strip()
    with transaction.atomic():
        Customer.objects.select_for_update().filter(pk=customer.pk).values_list("pk", flat=True).first()
        current = CreditLine.objects.select_for_update().select_related("customer__org_unit", "scorecard").get(
            pk=line.pk)
        if current.status != CreditLineStatus.PROPOSED:
            raise ValidationError(_("Only a proposed credit line can be submitted (this one is %(status)s).")
                                  % {"status": current.get_status_display()})
        if current.amount <= 0:
            raise ValidationError(_("A credit line of zero needs no approval."))
        path = route(current)
        approval = Approval(line=current, customer=customer, level=path.level, rule=path.rule,
                            loan_balance=path.loan_balance, approved_lines=path.approved_lines, amount=path.amount,
                            exposure=path.exposure, submitted_by=acting_user, comment=comment)
        if path.level == ApprovalLevel.COMMITTEE and not committee_voters(CreditCommittee.current(), approval):
            raise ValidationError(_("The credit committee has no member entitled to vote on this line."))
        approval.save()
        ApprovalStep.objects.create(approval=approval, action=StepAction.SUBMIT, actor=acting_user, comment=comment)
        current.status = CreditLineStatus.PENDING
        current.save(update_fields=["status"])
        audit.record(actor=acting_user, action="approval.submit", obj=approval, object_repr=str(customer),
                     changes={"line": current.pk, "amount": str(path.amount), "exposure": str(path.exposure),
                              "loan_balance": str(path.loan_balance), "approved_lines": str(path.approved_lines),
                              "level": path.level, "rule": path.rule.pk if path.rule else None,
                              "guarantee": path.guarantee_class, "comment": comment})
    return approval


def _close(approval: Approval, status: str, actor: User | None, comment: str, now) -> None:
    """End an approval: its line becomes approved / rejected, or proposed again when sent back."""
    approval.status, approval.decided_by, approval.decided_at, approval.decision_comment = status, actor, now, comment
    approval.save(update_fields=["status", "decided_by", "decided_at", "decision_comment"])
    line_status = {ApprovalStatus.APPROVED: CreditLineStatus.APPROVED, ApprovalStatus.REJECTED: CreditLineStatus.REJECTED,
                   ApprovalStatus.RETURNED: CreditLineStatus.PROPOSED}[status]
    CreditLine.objects.filter(pk=approval.line_id).update(status=line_status)
    _notify(approval, actor, comment)


def _locked(approval: Approval) -> Approval:
    current = Approval.objects.select_for_update().get(pk=approval.pk)
    if not current.is_pending:
        raise ValidationError(_("This approval has already been decided."))
    return Approval.objects.select_related("line", "customer").get(pk=current.pk)


def approval_decide(*, acting_user: User, approval: Approval, decision: str, comment: str = "") -> Approval:
    """Approve, reject or send back (`decision`: approve / reject / return) an outlet- or department-level
    approval. Rejecting and sending back need a comment. A branch head decides at the outlet level,
    a credit approver at either; never a proposer; within scope. The owner is told; audited."""
    if decision not in DECISIONS:
        raise ValidationError({"decision": [_("Choose approve, reject or send back.")]})
    comment = (comment or "").strip()
    if decision != "approve" and not comment:
        raise ValidationError({"comment": [_("Give the reason for rejecting or sending back.")]})
    with transaction.atomic():
        current = _locked(approval)
        if not can_decide(acting_user, current):
            if acting_user.pk in proposers(current):
                raise PermissionDenied(_("Nobody approves a credit line they proposed."))
            if current.level == ApprovalLevel.COMMITTEE:
                raise PermissionDenied(_("The credit committee decides this line by vote."))
            raise PermissionDenied(_("This credit line is above your approval authority."))
        now = timezone.now()
        ApprovalStep.objects.create(approval=current, action=decision, actor=acting_user, at=now, comment=comment)
        _close(current, DECISIONS[decision], acting_user, comment, now)
        audit.record(actor=acting_user, action=f"approval.{decision}", obj=current, object_repr=str(current.customer),
                     changes={"line": current.line_id, "level": current.level, "amount": str(current.amount),
                              "comment": comment})
    return current


@dataclass
class Tally:
    """The committee's votes so far against the majority that carries."""

    voters: int
    needed: int
    counts: dict[str, int]
    remaining: int
    outcome: str | None  # an ApprovalStatus once decided


def tally(approval: Approval, committee: CreditCommittee | None = None) -> Tally:
    """Count the votes of the members entitled to vote. The line carries once `needed` agree (the
    configured fraction of the voters, rounded up); once that can no longer happen it fails — sent
    back for reconsideration when more votes asked for it than rejected, else rejected."""
    committee = committee or CreditCommittee.current()
    voters = committee_voters(committee, approval)
    needed = max(1, math.ceil(len(voters) * committee.majority_numerator / committee.majority_denominator))
    votes = list(approval.steps.filter(action=StepAction.VOTE).values_list("actor_id", "vote"))
    counts = Counter(vote for actor, vote in votes if actor in voters)
    remaining = len(voters) - sum(counts.values())
    outcome = None
    if counts[Vote.AGREE] >= needed:
        outcome = ApprovalStatus.APPROVED
    elif counts[Vote.AGREE] + remaining < needed:
        outcome = (ApprovalStatus.RETURNED if counts[Vote.RECONSIDER] > counts[Vote.REJECT]
                   else ApprovalStatus.REJECTED)
    return Tally(len(voters), needed, {v: counts[v] for v in Vote.values}, remaining, outcome)


def approval_vote(*, acting_user: User, approval: Approval, vote: str, comment: str = "") -> Approval:
    """A committee member's vote (agree / reject / reconsider / abstain) on a committee-level approval.

    One vote per member; a vote other than agree needs a comment. When the votes decide it (see
    `tally`) the approval closes with the committee's outcome and the owner is told. Audited.
    """
    if vote not in Vote.values:
        raise ValidationError({"vote": [_("Vote agree, reject, reconsider or abstain.")]})
    comment = (comment or "").strip()
    if vote != Vote.AGREE and not comment:
        raise ValidationError({"comment": [_("Give the reason for your vote.")]})
    with transaction.atomic():
        current = _locked(approval)
        committee = CreditCommittee.current()
        if not can_vote(acting_user, current, committee):
            if acting_user.pk in proposers(current):
                raise PermissionDenied(_("Nobody approves a credit line they proposed."))
            if current.level != ApprovalLevel.COMMITTEE:
                raise PermissionDenied(_("This credit line is not for the credit committee."))
            if current.steps.filter(action=StepAction.VOTE, actor=acting_user).exists():
                raise ValidationError(_("You have already voted on this line."))
            raise PermissionDenied(_("Only members of the credit committee vote."))
        now = timezone.now()
        ApprovalStep.objects.create(approval=current, action=StepAction.VOTE, vote=vote, actor=acting_user, at=now,
                                    comment=comment)
        result = tally(current, committee)
        audit.record(actor=acting_user, action="approval.vote", obj=current, object_repr=str(current.customer),
                     changes={"line": current.line_id, "vote": vote, "comment": comment, "votes": result.counts,
                              "needed": result.needed, "voters": result.voters, "outcome": result.outcome})
        if result.outcome is not None:
            summary = _("%(agree)d of %(voters)d agreed (%(needed)d needed).") % {
                "agree": result.counts[Vote.AGREE], "voters": result.voters, "needed": result.needed}
            ApprovalStep.objects.create(approval=current, action=StepAction.OUTCOME, at=now, comment=summary)
            _close(current, result.outcome, None, summary, now)
            audit.record(actor=acting_user, action="approval.committee_outcome", obj=current,
                         object_repr=str(current.customer), changes={"outcome": result.outcome, "votes": result.counts})
    return current


# --- configuration -------------------------------------------------------------------------------


def authority_rule_save(*, acting_user: User, rule: AuthorityRule | None = None, level: str,
                        org_unit: OrgUnit | None = None, customer_type: str = "", guarantee_class: str = "",
                        min_grade: str = "", limit: Decimal | None = None, active: bool = True) -> AuthorityRule:
    """Create or change one cell of the authority matrix. Configuration roles; audited with the change."""
    _require_configurer(acting_user)
    errors: dict[str, list[str]] = {}
    if level not in ApprovalLevel.values:
        errors["level"] = [_("Unknown approval level.")]
    if customer_type and customer_type not in CustomerType.values:
        errors["customer_type"] = [_("Unknown customer type.")]
    if guarantee_class and guarantee_class not in GuaranteeClass.values:
        errors["guarantee_class"] = [_("Unknown guarantee class.")]
    min_grade = (min_grade or "").strip().upper()[:4]
    if limit is not None and Decimal(limit) <= 0:
        errors["limit"] = [_("A limit is more than zero (leave it empty for no limit).")]
    if errors:
        raise ValidationError(errors)
    fields = {"level": level, "org_unit": org_unit, "customer_type": customer_type or "",
              "guarantee_class": guarantee_class or "", "min_grade": min_grade,
              "limit": None if limit is None else Decimal(limit).quantize(Decimal("0.01")), "active": active}
    with transaction.atomic():
        if rule is None:
            before: dict = {}
            rule = AuthorityRule(updated_by=acting_user)
        else:
            rule = AuthorityRule.objects.select_for_update().get(pk=rule.pk)
            before = {name: getattr(rule, name) for name in fields}
        for name, value in fields.items():
            setattr(rule, name, value)
        rule.updated_by, rule.updated_at = acting_user, timezone.now()
        rule.save()
        audit.record(actor=acting_user, action="approval.authority_rule_save", obj=rule,
                     changes=audit.diff(before, fields))
    return rule


def committee_save(*, acting_user: User, members: list[User], majority_numerator: int,
                   majority_denominator: int) -> CreditCommittee:
    """Name the committee's members (active credit approvers) and the majority that carries. Audited."""
    _require_configurer(acting_user)
    errors: dict[str, list[str]] = {}
    if not (0 < majority_numerator <= majority_denominator):
        errors["majority_numerator"] = [_("The majority is a fraction between 0 and 1.")]
    wrong = [m.username for m in members if m.role != Role.CREDIT_APPROVER or not m.is_active]
    if wrong:
        errors["members"] = [_("Only active credit approvers sit on the committee: %(names)s")
                             % {"names": ", ".join(wrong)}]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        committee = CreditCommittee.current()
        committee = CreditCommittee.objects.select_for_update().get(pk=committee.pk)
        before = sorted(committee.members.values_list("username", flat=True))
        committee.majority_numerator, committee.majority_denominator = majority_numerator, majority_denominator
        committee.updated_by, committee.updated_at = acting_user, timezone.now()
        committee.save()
        committee.members.set(members)
        audit.record(actor=acting_user, action="approval.committee_save", obj=committee,
                     changes={"members": [before, sorted(m.username for m in members)],
                              "majority": f"{majority_numerator}/{majority_denominator}"})
    return committee


def notifications_mark_read(*, acting_user: User, ids: list[int] | None = None) -> int:
    """Mark the user's own notifications read (all unread ones without `ids`); returns how many."""
    unread = Notification.objects.visible_to(acting_user).filter(read_at__isnull=True)
    if ids is not None:
        unread = unread.filter(pk__in=ids)
    return unread.update(read_at=timezone.now())


# --- reads ---------------------------------------------------------------------------------------


def inbox(*, user: User):
    """Approvals waiting for `user` (待我审批): at exactly their level within their scope, or committee
    approvals they have not voted on as a member; never their own proposals. Oldest first."""
    pending = Approval.objects.visible_to(user).filter(status=ApprovalStatus.PENDING).exclude(
        Q(submitted_by=user) | Q(line__created_by=user))
    wanted = Q(pk__in=[])
    if user.role == Role.BRANCH_HEAD:
        wanted |= Q(level=ApprovalLevel.OUTLET)
    elif user.role == Role.CREDIT_APPROVER:
        wanted |= Q(level=ApprovalLevel.DEPARTMENT)
        if CreditCommittee.current().members.filter(pk=user.pk, is_active=True).exists():
            voted = ApprovalStep.objects.filter(action=StepAction.VOTE, actor=user).values("approval_id")
            wanted |= Q(level=ApprovalLevel.COMMITTEE) & ~Q(pk__in=voted)
    return (pending.filter(wanted).select_related("customer", "customer__org_unit", "line", "submitted_by")
            .order_by("submitted_at", "id"))
