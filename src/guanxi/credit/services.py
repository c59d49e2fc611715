"""Credit operations: the only writers of scorecards, inputs, averages, assessments, overrides and lines.

Each takes the acting user, runs in one transaction and writes its audit entry there.

Who does what:

- scorecards and local averages (configuration): credit approvers and the system administrator;
- rating inputs, assessments, confirming a grade and calculating a line: relationship managers for
  the customers they own, branch heads for their subtree (`Customer.objects.visible_to`);
- adjusting the model's grade: one grade needs a branch head, more a credit approver — a proposer
  with that authority decides at once, anyone else's adjustment waits for such an approver, who is
  never the proposer (four eyes).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from guanxi.core import audit
from guanxi.core.dates import add_months
from guanxi.core.fields import to_fen
from guanxi.core.models import OrgUnit, User
from guanxi.core.roles import Role
from guanxi.credit import reader
from guanxi.credit.engine import CompiledScorecard, dumps, validate_definition
from guanxi.credit.facts import AverageKey, facts_for
from guanxi.credit.lines import Guarantee, compute_line, guarantees_check, required_facts
from guanxi.credit.models import (
    OPEN_STATUSES,
    AssessmentStatus,
    CreditLine,
    CreditLineStatus,
    CreditLineStep,
    GradeOverride,
    LocalAverage,
    OverrideStatus,
    RatingAssessment,
    RatingCampaign,
    RatingInput,
    RatingRun,
    Scorecard,
    ScorecardStatus,
)
from guanxi.customers.models import Customer, CustomerStatus, CustomerType

CONFIGURATION_ROLES = frozenset({Role.CREDIT_APPROVER, Role.SYSADMIN})
ASSESSOR_ROLES = frozenset({Role.MANAGER, Role.BRANCH_HEAD})
# Authority over grade adjustments: how many grades a role may move on its own.
AUTHORITY = {Role.MANAGER: 0, Role.BRANCH_HEAD: 1, Role.CREDIT_APPROVER: 2}
APPROVER_OF_LEVEL = {1: Role.BRANCH_HEAD, 2: Role.CREDIT_APPROVER}
BATCH_CHUNK = 20_000


def can_configure(user: User) -> bool:
    return bool(user.is_authenticated and user.is_active and user.role in CONFIGURATION_ROLES)


def can_assess(user: User) -> bool:
    return bool(user.is_authenticated and user.is_active and user.role in ASSESSOR_ROLES)


def _require_configurer(user: User) -> None:
    if not can_configure(user):
        raise PermissionDenied(_("Only credit approvers and the system administrator configure credit rating."))


def _require_assessor(user: User, customer: Customer) -> None:
    """An assessor whose data scope holds the customer (callers fetch through the scope and answer 404)."""
    if not can_assess(user):
        raise PermissionDenied(_("Only relationship managers and branch heads rate customers."))
    if not Customer.objects.visible_to(user).filter(pk=customer.pk).exists():
        raise PermissionDenied(_("This customer is outside your scope."))


# --- scorecards ----------------------------------------------------------------------------------


def effective_scorecard(customer_type: str, on: date | None = None) -> Scorecard:
    """The published scorecard in force for a customer type; ValidationError when there is none."""
    scorecard = Scorecard.objects.effective(customer_type, on or timezone.localdate())
    if scorecard is None:
        raise ValidationError(_("No scorecard is in force for %(type)s customers.")
                              % {"type": CustomerType(customer_type).label})
    return scorecard


def scorecard_draft_create(*, acting_user: User, based_on: Scorecard) -> Scorecard:
    """Start a new draft version of a customer type's scorecard from an existing version. Audited.

    Only one draft per customer type: with one already open, ValidationError names it.
    """
    _require_configurer(acting_user)
    with transaction.atomic():
        open_draft = Scorecard.objects.select_for_update().filter(customer_type=based_on.customer_type,
                                                                  status=ScorecardStatus.DRAFT).first()
        if open_draft is not None:
            raise ValidationError(_("Version %(version)d is already a draft; edit or discard it first.")
                                  % {"version": open_draft.version})
        last = (Scorecard.objects.filter(customer_type=based_on.customer_type).order_by("-version")
                .values_list("version", flat=True).first() or 0)
        now = timezone.now()
        draft = Scorecard.objects.create(customer_type=based_on.customer_type, version=last + 1, name=based_on.name,
                                         definition=based_on.definition, based_on=based_on, created_by=acting_user,
                                         created_at=now, updated_at=now)
        audit.record(actor=acting_user, action="scorecard.draft_create", obj=draft,
                     changes={"based_on": based_on.version, "customer_type": draft.customer_type})
    return draft


def _changed_paths(before: Any, after: Any, path: str = "") -> list[str]:
    """Where two definitions differ (for the audit entry), at most one level into lists and objects."""
    if isinstance(before, dict) and isinstance(after, dict):
        paths = []
        for key in sorted(set(before) | set(after)):
            if before.get(key) != after.get(key):
                paths += _changed_paths(before.get(key), after.get(key), f"{path}.{key}" if path else str(key))
        return paths
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        paths = []
        for index, (old, new) in enumerate(zip(before, after, strict=True)):
            if old != new:
                paths += _changed_paths(old, new, f"{path}[{index}]")
        return paths
    return [path or "definition"]


def scorecard_draft_update(*, acting_user: User, scorecard: Scorecard, definition: dict, name: str | None = None,
                           notes: str | None = None) -> Scorecard:
    """Change a draft's definition (and name, notes). Published versions never change. Validated; audited."""
    _require_configurer(acting_user)
    validate_definition(definition, scorecard.customer_type)
    with transaction.atomic():
        current = Scorecard.objects.select_for_update().get(pk=scorecard.pk)
        if not current.is_draft:
            raise ValidationError(_("A published scorecard cannot be changed; start a new draft from it."))
        changed = _changed_paths(current.definition, definition)
        current.definition = definition
        if name is not None and name.strip():
            current.name = name.strip()[:100]
        if notes is not None:
            current.notes = notes
        current.updated_at = timezone.now()
        current.save(update_fields=["definition", "name", "notes", "updated_at"])
        audit.record(actor=acting_user, action="scorecard.draft_update", obj=current,
                     changes={"changed": changed[:50], "name": current.name})
    return current


def scorecard_draft_discard(*, acting_user: User, scorecard: Scorecard) -> None:
    """Throw a draft away. Audited."""
    _require_configurer(acting_user)
    with transaction.atomic():
        current = Scorecard.objects.select_for_update().get(pk=scorecard.pk)
        if not current.is_draft:
            raise ValidationError(_("A published scorecard cannot be changed; start a new draft from it."))
        audit.record(actor=acting_user, action="scorecard.draft_discard", obj=current,
                     changes={"version": current.version})
        current.delete()


def scorecard_publish(*, acting_user: User, scorecard: Scorecard, effective_from: date) -> Scorecard:
    """Publish a draft: from `effective_from` (today or later) new assessments of its type use it. Audited.

    The definition is checked once more; afterwards the version is immutable.
    """
    _require_configurer(acting_user)
    if effective_from is None or effective_from < timezone.localdate():
        raise ValidationError({"effective_from": [_("The effective date cannot be in the past.")]})
    with transaction.atomic():
        current = Scorecard.objects.select_for_update().get(pk=scorecard.pk)
        if not current.is_draft:
            raise ValidationError(_("This version is already published."))
        validate_definition(current.definition, current.customer_type)
        current.status = ScorecardStatus.PUBLISHED
        current.effective_from = effective_from
        current.published_by = acting_user
        current.published_at = timezone.now()
        current.save(update_fields=["status", "effective_from", "published_by", "published_at"])
        audit.record(actor=acting_user, action="scorecard.publish", obj=current,
                     changes={"version": current.version, "effective_from": effective_from.isoformat()})
    return current


# --- local averages ------------------------------------------------------------------------------


def local_average_set(*, acting_user: User, org_unit: OrgUnit, key: str, amount: Decimal | None) -> None:
    """Set (or with None, remove) an org unit's local average in yuan. Configuration roles; audited."""
    _require_configurer(acting_user)
    if key not in AverageKey.values:
        raise ValidationError({"key": [_("Unknown local average.")]})
    if amount is not None and Decimal(amount) <= 0:
        raise ValidationError({"amount": [_("A local average is more than zero.")]})
    with transaction.atomic():
        current = LocalAverage.objects.select_for_update().filter(org_unit=org_unit, key=key).first()
        before = current.amount if current else None
        if amount is None:
            if current is not None:
                current.delete()
        elif current is None:
            LocalAverage.objects.create(org_unit=org_unit, key=key, amount=amount, updated_by=acting_user)
        else:
            current.amount, current.updated_by, current.updated_at = amount, acting_user, timezone.now()
            current.save(update_fields=["amount", "updated_by", "updated_at"])
        after = None if amount is None else Decimal(amount).quantize(Decimal("0.01"))
        if before != after:
            audit.record(actor=acting_user, action="credit.local_average_set", obj=org_unit,
                         changes={key: [None if before is None else str(before), None if after is None else str(after)]})


# --- inputs --------------------------------------------------------------------------------------


def collectable_facts(customer: Customer, scorecard: Scorecard | None = None) -> list:
    """The input facts staff collect for this customer: those its scorecard (and line policy) read."""
    scorecard = scorecard or Scorecard.objects.effective(customer.customer_type, timezone.localdate())
    if scorecard is None:
        return []
    compiled = scorecard.compiled()
    keys = [*compiled.facts, *required_facts(scorecard.definition.get("line") or {})]
    seen: dict[str, Any] = {}
    for key in keys:
        fact = compiled.fact_table.get(key)
        if fact is not None and fact.origin == "input" and key not in seen:
            seen[key] = fact
    return list(seen.values())


def rating_inputs_save(*, acting_user: User, customer: Customer, values: dict[str, Any]) -> list[RatingInput]:
    """Record collected inputs of a customer: {key: value}; an empty value removes the input.

    Keys are the input facts of the customer's scorecard (or of the built-in catalogue); values are
    checked per fact (ValidationError naming each bad key). Assessors within their scope; one audit
    entry with the old and new values.
    """
    _require_assessor(acting_user, customer)
    scorecard = Scorecard.objects.effective(customer.customer_type, timezone.localdate())
    table = facts_for(scorecard.definition if scorecard else None)
    errors: dict[str, list[str]] = {}
    parsed: dict[str, tuple[str, int | None] | None] = {}
    for key, raw in values.items():
        fact = table.get(key)
        if fact is None or fact.origin != "input" or customer.customer_type not in fact.types:
            errors[key] = [_("Not an input of this customer's rating.")]
            continue
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            parsed[key] = None
            continue
        try:
            parsed[key] = fact.parse(raw)
        except ValidationError as exc:
            errors[key] = exc.messages
    if errors:
        raise ValidationError(errors)
    now = timezone.now()
    changes: dict[str, list] = {}
    with transaction.atomic():
        current = {i.key: i for i in RatingInput.objects.select_for_update().filter(customer=customer,
                                                                                   key__in=list(parsed))}
        for key, value in parsed.items():
            existing = current.get(key)
            if value is None:
                if existing is not None:
                    changes[key] = [existing.value, None]
                    existing.delete()
                continue
            text, number = value
            if existing is None:
                RatingInput.objects.create(customer=customer, key=key, value=text, number=number,
                                           collected_by=acting_user, collected_at=now)
                changes[key] = [None, text]
            elif existing.value != text or existing.number != number:
                changes[key] = [existing.value, text]
                existing.value, existing.number, existing.collected_by, existing.collected_at = (
                    text, number, acting_user, now)
                existing.save(update_fields=["value", "number", "collected_by", "collected_at"])
        if changes:
            audit.record(actor=acting_user, action="credit.inputs_save", obj=customer, changes=changes)
    return list(RatingInput.objects.filter(customer=customer).order_by("key"))


# --- assessment ----------------------------------------------------------------------------------


def _has_pending(customer: Customer) -> bool:
    return RatingAssessment.objects.filter(customer=customer, status=AssessmentStatus.PENDING).exists()


def assessment_run(*, acting_user: User, customer: Customer, today: date | None = None) -> RatingAssessment:
    """Rate one customer with the scorecard in force: score, breakdown, gates, model grade — or the list
    of inputs to collect first (status `incomplete`, no score).

    Replaces the customer's open (unconfirmed) assessments; refused while an adjustment awaits
    approval. Assessors within their scope; audited.
    """
    _require_assessor(acting_user, customer)
    today = today or timezone.localdate()
    scorecard = effective_scorecard(customer.customer_type, today)
    compiled = scorecard.compiled()
    row = reader.read_one(compiled.facts, compiled.fact_table, customer, today=today)
    averages = reader.local_averages().get(customer.org_unit_id, {})
    score, grade, eligible, breakdown, gates, missing = compiled.evaluate_row(row, averages)
    with transaction.atomic():
        # One rating of a customer at a time: two concurrent runs would both leave an open assessment.
        Customer.objects.select_for_update().filter(pk=customer.pk).values_list("pk", flat=True).first()
        if _has_pending(customer):
            raise ValidationError(_("An adjustment of this customer's grade awaits approval."))
        RatingAssessment.objects.filter(customer=customer, status__in=OPEN_STATUSES).update(
            status=AssessmentStatus.SUPERSEDED)
        assessment = RatingAssessment.objects.create(
            customer=customer, scorecard=scorecard, org_unit_id=customer.org_unit_id,
            status=AssessmentStatus.INCOMPLETE if missing else AssessmentStatus.PROPOSED,
            model_score=score, model_grade=grade, eligible=eligible, breakdown=json.loads(breakdown),
            gates=json.loads(gates), missing=missing or [], created_by=acting_user)
        audit.record(actor=acting_user, action="rating.assess", obj=assessment, object_repr=str(customer),
                     changes={"customer": customer.customer_no, "scorecard": f"{scorecard.customer_type} "
                              f"v{scorecard.version}", "score": score, "grade": grade, "missing": missing or []})
    return assessment


@dataclass
class BatchResult:
    run: RatingRun
    by_grade: Counter = field(default_factory=Counter)
    incomplete: int = 0
    assessed: int = 0
    seconds: float = 0.0


INSERT_COLUMNS = ("customer_id", "scorecard_id", "run_id", "org_unit_id", "status", "model_score", "model_grade",
                  "eligible", "breakdown", "gates", "missing", "final_grade", "created_by_id", "created_at")


def _write(rows: list[tuple]) -> None:
    """Insert assessment rows with the driver's bulk path: COPY on PostgreSQL, executemany on SQLite."""
    table = RatingAssessment._meta.db_table
    columns = ", ".join(INSERT_COLUMNS)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join(["%s"] * len(INSERT_COLUMNS))
            cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)  # noqa: S608


def batch_population(*, acting_user: User | None, org_unit: OrgUnit | None = None,
                     campaign: RatingCampaign | None = None) -> QuerySet[Customer]:
    """Existing customers a batch assesses — or a campaign's target population — in the acting user's
    scope (the system: everyone), within `org_unit`'s subtree; customers whose grade adjustment awaits
    approval are left alone."""
    if campaign is not None:
        from guanxi.credit.campaigns import campaign_population

        customers = campaign_population(campaign, user=acting_user)
    else:
        customers = (Customer.objects.visible_to(acting_user) if acting_user is not None
                     else Customer.objects.filter(merged_into__isnull=True))
        customers = customers.filter(status=CustomerStatus.EXISTING)
    if org_unit is not None:
        customers = customers.filter(org_unit__path__startswith=org_unit.path)
    pending = RatingAssessment.objects.filter(customer=OuterRef("pk"), status=AssessmentStatus.PENDING)
    return customers.filter(~Exists(pending))


def assessments_run_batch(*, acting_user: User | None, org_unit: OrgUnit | None = None,
                          customer_type: str | None = None, today: date | None = None,
                          progress: Callable[[int, int, int], None] | None = None,
                          chunk: int = BATCH_CHUNK, campaign: RatingCampaign | None = None) -> BatchResult:
    """Assess a whole population at once (`guanxi rate`): every existing customer of the scope, or the
    target population of a rating `campaign` (the run is recorded against it).

    `acting_user` None is the system (every customer); staff run it over their own scope (a branch
    head: the subtree). For each customer type with a scorecard in force, chunk by chunk of ids:
    one SELECT reads the facts (`reader`), the compiled scorecard scores each row, the customers'
    open assessments are marked superseded and the new rows written with COPY / executemany. One
    transaction, one `RatingRun` and one audit entry (a run that fails leaves nothing but a `failed`
    RatingRun); `progress(chunks done, chunks in all, customers so far)` is called per chunk.
    """
    if acting_user is not None and not can_assess(acting_user):
        raise PermissionDenied(_("Only relationship managers and branch heads rate customers."))
    if org_unit is not None and acting_user is not None and acting_user.role == Role.BRANCH_HEAD and (
            acting_user.org_unit_id is None or not org_unit.is_within(acting_user.org_unit)):
        raise PermissionDenied(_("This org unit is outside your scope."))
    if customer_type and customer_type not in CustomerType.values:
        raise ValidationError({"customer_type": [_("Unknown customer type.")]})
    started = time.monotonic()
    today = today or timezone.localdate()
    types = [customer_type] if customer_type else list(CustomerType.values)
    scorecards = {t: Scorecard.objects.effective(t, today) for t in types}
    scorecards = {t: s for t, s in scorecards.items() if s is not None}
    population = batch_population(acting_user=acting_user, org_unit=org_unit, campaign=campaign)
    chunks = list(reader.id_chunks(chunk))
    result = BatchResult(run=RatingRun(started_by=acting_user, org_unit=org_unit, customer_type=customer_type or "",
                                       campaign=campaign))
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    by_grade: Counter = Counter()
    try:
        _run_batch(result, acting_user, org_unit, customer_type, scorecards, population, chunks, today, now,
                   by_grade, progress, started)
    except Exception:
        RatingRun.objects.create(started_by=acting_user, org_unit=org_unit, customer_type=customer_type or "",
                                 campaign=campaign, state=RatingRun.State.FAILED, finished_at=timezone.now(),
                                 seconds=time.monotonic() - started)
        raise
    return result


def _run_batch(result: BatchResult, acting_user: User | None, org_unit: OrgUnit | None, customer_type: str | None,
               scorecards: dict[str, Scorecard], population: QuerySet[Customer], chunks: list[tuple[int, int]],
               today: date, now: Any, by_grade: Counter, progress: Callable[[int, int, int], None] | None,
               started: float) -> None:
    total_steps = len(chunks) * len(scorecards)
    done = 0
    with transaction.atomic():
        run = result.run
        run.save()
        averages = reader.local_averages()
        table = RatingAssessment._meta.db_table
        open_marks = ", ".join(["%s"] * len(OPEN_STATUSES))
        actor_id = acting_user.pk if acting_user else None
        if not population.exists():
            scorecards = {}
        for customer_type_, scorecard in scorecards.items():
            compiled: CompiledScorecard = scorecard.compiled()
            query = reader.FactQuery(compiled.facts, compiled.fact_table, today=today)
            of_type = population.filter(customer_type=customer_type_)
            evaluate = compiled.evaluate_row
            incomplete, proposed = AssessmentStatus.INCOMPLETE.value, AssessmentStatus.PROPOSED.value
            no_averages: dict[str, int] = {}
            for low, high in chunks:
                rows = query.rows(of_type, low, high)
                if rows:
                    out = []
                    for row in rows:
                        score, grade, eligible, breakdown, gates, missing = evaluate(
                            row, averages.get(row[1], no_averages))
                        out.append((row[0], scorecard.pk, run.pk, row[1], incomplete if missing else proposed,
                                    score, grade, eligible, breakdown, gates, dumps(missing) if missing else "[]",
                                    "", actor_id, now))
                        by_grade[grade] += 1
                    chunk_sql, chunk_params = of_type.filter(pk__gte=low, pk__lt=high).order_by().values(
                        "pk").query.sql_with_params()
                    with connection.cursor() as cursor:
                        cursor.execute(
                            f"UPDATE {table} SET status = %s WHERE status IN ({open_marks}) "  # noqa: S608
                            f"AND customer_id >= %s AND customer_id < %s AND customer_id IN ({chunk_sql})",
                            [AssessmentStatus.SUPERSEDED.value, *OPEN_STATUSES, low, high, *chunk_params])
                    _write(out)
                done += 1
                if progress is not None:
                    progress(done, total_steps, sum(by_grade.values()))
        result.incomplete = by_grade.pop("", 0)
        result.by_grade = by_grade
        result.assessed = sum(by_grade.values()) + result.incomplete
        result.seconds = time.monotonic() - started
        run.state = RatingRun.State.DONE
        run.finished_at = timezone.now()
        run.assessed, run.incomplete, run.seconds = result.assessed, result.incomplete, result.seconds
        run.by_grade = dict(sorted(by_grade.items()))
        run.save(update_fields=["state", "finished_at", "assessed", "incomplete", "seconds", "by_grade"])
        audit.record(actor=acting_user, action="rating.batch", obj=run,
                     changes={"org_unit": org_unit.code if org_unit else None, "customer_type": customer_type,
                              "campaign": run.campaign_id,
                              "assessed": result.assessed, "incomplete": result.incomplete,
                              "by_grade": run.by_grade})


# --- confirmation and overrides ------------------------------------------------------------------


def grade_steps(scorecard: Scorecard, from_grade: str, to_grade: str) -> int:
    rank = scorecard.compiled().rank
    return abs(rank[to_grade] - rank[from_grade])


def _authority(user: User) -> int:
    return AUTHORITY.get(user.role, -1)


def assessment_confirm(*, acting_user: User, assessment: RatingAssessment, grade: str | None = None,
                       reason: str = "") -> RatingAssessment:
    """Confirm the model's grade, or adjust it to `grade` with a reason.

    Confirming as is, or adjusting within the acting user's authority, makes the grade final.
    A larger adjustment is recorded as a pending `GradeOverride` for a branch head (one grade) or
    a credit approver (more); the assessment waits (`pending`). Assessors within their scope; audited.
    """
    customer = assessment.customer
    _require_assessor(acting_user, customer)
    reason = (reason or "").strip()
    with transaction.atomic():
        current = RatingAssessment.objects.select_for_update().select_related("scorecard").get(pk=assessment.pk)
        if current.status == AssessmentStatus.INCOMPLETE:
            raise ValidationError(_("Collect the missing inputs and assess again before confirming."))
        if current.status != AssessmentStatus.PROPOSED:
            raise ValidationError(_("Only an assessment awaiting confirmation can be confirmed (this one is %(status)s).")
                                  % {"status": current.get_status_display()})
        grade = grade or current.model_grade
        if grade not in current.scorecard.compiled().rank:
            raise ValidationError({"grade": [_("%(grade)s is not a grade of this scorecard.") % {"grade": grade}]})
        steps = grade_steps(current.scorecard, current.model_grade, grade)
        now = timezone.now()
        if steps == 0:
            current.status, current.final_grade, current.final_by, current.final_at = (
                AssessmentStatus.CONFIRMED, grade, acting_user, now)
            current.save(update_fields=["status", "final_grade", "final_by", "final_at"])
            audit.record(actor=acting_user, action="rating.confirm", obj=current, object_repr=str(customer),
                         changes={"grade": grade, "reason": reason})
            return current
        if not reason:
            raise ValidationError({"reason": [_("Give the reason for changing the model's grade.")]})
        level = 1 if steps == 1 else 2
        within = _authority(acting_user) >= level
        override = GradeOverride.objects.create(
            assessment=current, from_grade=current.model_grade, to_grade=grade, steps=steps, reason=reason,
            proposed_by=acting_user, proposed_at=now, required_role="" if within else APPROVER_OF_LEVEL[level],
            status=OverrideStatus.APPROVED if within else OverrideStatus.PENDING,
            decided_by=acting_user if within else None, decided_at=now if within else None)
        if within:
            current.status, current.final_grade, current.final_by, current.final_at = (
                AssessmentStatus.CONFIRMED, grade, acting_user, now)
            current.save(update_fields=["status", "final_grade", "final_by", "final_at"])
        else:
            current.status = AssessmentStatus.PENDING
            current.save(update_fields=["status"])
        audit.record(actor=acting_user, action="rating.adjust", obj=current, object_repr=str(customer),
                     changes={"grade": [current.model_grade, grade], "steps": steps, "reason": reason,
                              "override": override.pk, "approver": override.required_role or None})
    return current


def can_decide(user: User, override: GradeOverride) -> bool:
    """Whether `user` may approve or reject this pending adjustment (role level, scope, not their own)."""
    if not (user.is_authenticated and user.is_active) or override.status != OverrideStatus.PENDING:
        return False
    level = 1 if override.steps == 1 else 2
    if _authority(user) < level or user.pk == override.proposed_by_id:
        return False
    return Customer.objects.visible_to(user).filter(pk=override.assessment.customer_id).exists()


def grade_override_decide(*, acting_user: User, override: GradeOverride, approve: bool,
                          reason: str = "") -> GradeOverride:
    """Approve (the adjusted grade becomes final) or reject (the assessment awaits confirmation again,
    a reason is required) a pending adjustment. Branch heads decide one-grade adjustments, credit
    approvers any; never the proposer. Audited."""
    reason = (reason or "").strip()
    if not approve and not reason:
        raise ValidationError({"reason": [_("Give the reason for rejecting the adjustment.")]})
    with transaction.atomic():
        current = GradeOverride.objects.select_for_update().select_related("assessment").get(pk=override.pk)
        if current.status != OverrideStatus.PENDING:
            raise ValidationError(_("This adjustment has already been decided."))
        if not can_decide(acting_user, current):
            if acting_user.pk == current.proposed_by_id:
                raise PermissionDenied(_("Nobody approves their own adjustment."))
            raise PermissionDenied(_("This adjustment needs an approver of a higher level."))
        now = timezone.now()
        current.status = OverrideStatus.APPROVED if approve else OverrideStatus.REJECTED
        current.decided_by, current.decided_at, current.decision_reason = acting_user, now, reason
        current.save(update_fields=["status", "decided_by", "decided_at", "decision_reason"])
        assessment = RatingAssessment.objects.select_for_update().get(pk=current.assessment_id)
        if approve:
            assessment.status, assessment.final_grade, assessment.final_by, assessment.final_at = (
                AssessmentStatus.CONFIRMED, current.to_grade, acting_user, now)
        else:
            assessment.status = AssessmentStatus.PROPOSED
        assessment.save(update_fields=["status", "final_grade", "final_by", "final_at"])
        audit.record(actor=acting_user, action="rating.override_approve" if approve else "rating.override_reject",
                     obj=assessment, object_repr=str(assessment.customer),
                     changes={"grade": [current.from_grade, current.to_grade], "override": current.pk,
                              "reason": reason})
    return current


# --- credit lines --------------------------------------------------------------------------------


def line_facts(scorecard: Scorecard, customer: Customer, *, today: date) -> dict[str, int | None]:
    """The facts the line policy reads, for one customer (carried units), through the batch reader."""
    line = scorecard.definition["line"]
    keys = list(dict.fromkeys(required_facts(line)))
    if not keys:
        return {}
    compiled = scorecard.compiled()
    row = reader.read_one(keys, compiled.fact_table, customer, today=today)
    return dict(zip(keys, row[2:], strict=True)) if row else {}


def credit_line_calculate(*, acting_user: User, assessment: RatingAssessment, guarantees: list[dict] | None = None,
                          requested_amount: Decimal | None = None, valid_from: date | None = None) -> CreditLine:
    """Calculate and store the credit line of a confirmed assessment, step by step (授信额度测算表).

    `guarantees` as [{type, kind, value, guarantor_line}] (yuan); without any, the customer's recorded
    guarantee type (credit when none). The line of the final grade is `amount`, that of the model's
    grade `model_amount`. A proposed line of the customer calculated earlier is superseded; the
    approval routing takes the new one from here. Assessors within their scope; audited.
    """
    customer = assessment.customer
    _require_assessor(acting_user, customer)
    if assessment.status != AssessmentStatus.CONFIRMED:
        raise ValidationError(_("Confirm the grade before calculating the line."))
    scorecard = assessment.scorecard
    compiled = scorecard.compiled()
    line = scorecard.definition["line"]
    if not guarantees:
        guarantees = [{"type": customer.guarantee_type or "credit"}]
    offered: list[Guarantee] = guarantees_check(guarantees, line)
    if requested_amount is not None:
        requested_amount = Decimal(requested_amount)
        if requested_amount <= 0:
            raise ValidationError({"requested_amount": [_("The amount requested is more than zero.")]})
        to_fen(requested_amount)  # a bad amount raises here
    today = timezone.localdate()
    valid_from = valid_from or today
    facts = line_facts(scorecard, customer, today=today)

    def sheet_for(grade: str):
        # Labels and formulas in the bank's language: the sheet is printed and filed.
        with translation.override(settings.LANGUAGE_CODE):
            return compute_line(line=line, grade=grade, grade_has_line=compiled.grade_has_line(grade), facts=facts,
                                guarantees=offered, requested=requested_amount, industry=customer.industry,
                                facts_table=compiled.fact_table)

    sheet = sheet_for(assessment.final_grade)
    model_sheet = sheet if assessment.model_grade == assessment.final_grade else sheet_for(assessment.model_grade)
    with transaction.atomic():
        Customer.objects.select_for_update().filter(pk=customer.pk).values_list("pk", flat=True).first()
        if CreditLine.objects.filter(customer=customer, status=CreditLineStatus.PENDING).exists():
            # Two lines of one customer under approval at once would let both be approved.
            raise ValidationError(_("A credit line of this customer is under approval; it has to be decided or "
                                    "sent back before a new line is calculated."))
        CreditLine.objects.filter(customer=customer, status=CreditLineStatus.PROPOSED).update(
            status=CreditLineStatus.SUPERSEDED)
        credit_line = CreditLine.objects.create(
            customer=customer, assessment=assessment, scorecard=scorecard, grade=assessment.final_grade,
            guarantees=[g.as_dict() for g in offered], requested_amount=requested_amount,
            model_amount=model_sheet.amount, amount=sheet.amount, valid_from=valid_from,
            valid_until=add_months(valid_from, line["validity_months"]),
            review_on=add_months(valid_from, line["review_months"]), created_by=acting_user)
        CreditLineStep.objects.bulk_create([
            CreditLineStep(line=credit_line, position=index, code=step.code[:60], label=step.label[:200],
                           formula=step.formula[:300], amount=step.amount)
            for index, step in enumerate(sheet.steps, 1)])
        audit.record(actor=acting_user, action="credit_line.calculate", obj=credit_line, object_repr=str(customer),
                     changes={"grade": assessment.final_grade, "amount": str(sheet.amount),
                              "model_amount": str(model_sheet.amount),
                              "requested": None if requested_amount is None else str(requested_amount),
                              "guarantees": [g.type for g in offered]})
    return credit_line
