"""Read queries of credit rating: always starting from the user's data scope.

Also the explanations shown to staff and customers: the breakdown of a score by indicator, the
gates that fired and what is missing — read back from the scorecard version that was used.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from guanxi.core.models import OrgUnit, User
from guanxi.core.roles import Role
from guanxi.credit import reader
from guanxi.credit.engine import CompiledScorecard
from guanxi.credit.facts import AVERAGE_PREFIX, AverageKey, data_label, missing_label
from guanxi.credit.models import (
    Approval,
    ApprovalStep,
    AssessmentStatus,
    AuthorityRule,
    CreditLine,
    CreditLineStatus,
    GradeOverride,
    LocalAverage,
    Notification,
    OverrideStatus,
    RatingAssessment,
    RatingCampaign,
    RatingInput,
    Scorecard,
)
from guanxi.credit.services import AUTHORITY, batch_population, collectable_facts
from guanxi.customers.models import Customer, CustomerStatus, CustomerType

ORIGIN_LABELS = {
    "input": gettext_lazy("rating inputs"),
    "customer": gettext_lazy("the customer's record"),
    "members": gettext_lazy("household members"),
    "average": gettext_lazy("configuration of local averages"),
}


# --- customers and assessments -------------------------------------------------------------------


def customer_get(*, user: User, pk: int) -> Customer:
    """A customer in the user's scope; 404 when it does not exist or is not theirs."""
    return get_object_or_404(Customer.objects.visible_to(user).select_related("org_unit"), pk=pk)


def assessment_list(*, user: User, status: str = "", grade: str = "", customer_type: str = "",
                    customer_id: int | None = None) -> QuerySet[RatingAssessment]:
    """Assessments of the customers the user may see, newest first."""
    assessments = RatingAssessment.objects.visible_to(user)
    if status:
        assessments = assessments.filter(status=status)
    if grade:
        assessments = assessments.filter(Q(final_grade=grade) | Q(final_grade="", model_grade=grade))
    if customer_type:
        assessments = assessments.filter(customer__customer_type=customer_type)
    if customer_id is not None:
        assessments = assessments.filter(customer_id=customer_id)
    return assessments.select_related("customer", "scorecard", "org_unit", "final_by").order_by("-created_at", "-id")


def assessment_get(*, user: User, pk: int) -> RatingAssessment:
    """One assessment of a customer in the user's scope; 404 otherwise."""
    return get_object_or_404(RatingAssessment.objects.visible_to(user).select_related(
        "customer", "customer__org_unit", "scorecard", "final_by", "created_by"), pk=pk)


def latest_assessment(customer: Customer) -> RatingAssessment | None:
    return (RatingAssessment.objects.filter(customer=customer).exclude(status=AssessmentStatus.SUPERSEDED)
            .select_related("scorecard", "final_by", "created_by").order_by("-created_at", "-id").first())


def current_grade(customer: Customer) -> RatingAssessment | None:
    """The customer's latest confirmed assessment (its final grade is the customer's grade)."""
    return (RatingAssessment.objects.filter(customer=customer, status=AssessmentStatus.CONFIRMED)
            .order_by("-final_at", "-id").first())


def credit_line_get(*, user: User, pk: int) -> CreditLine:
    return get_object_or_404(CreditLine.objects.visible_to(user).select_related(
        "customer", "assessment", "scorecard", "created_by").prefetch_related("steps"), pk=pk)


def credit_lines_of(customer: Customer) -> QuerySet[CreditLine]:
    return CreditLine.objects.filter(customer=customer).select_related("created_by").order_by("-created_at", "-id")


def inputs_of(customer: Customer) -> dict[str, RatingInput]:
    return {i.key: i for i in RatingInput.objects.filter(customer=customer).select_related("collected_by")}


# --- explanations --------------------------------------------------------------------------------


@dataclass
class BreakdownRow:
    block: Any
    code: str
    label: Any
    value: str
    detail: str
    points: int | None
    max_points: int | None
    kind: str  # indicator / bonus / penalty


def breakdown_rows(assessment: RatingAssessment) -> list[BreakdownRow]:
    """The score explained: each indicator (in its block) with the value used and the points, then
    the bonus and penalty items that applied."""
    definition = assessment.scorecard.definition
    compiled: CompiledScorecard = assessment.scorecard.compiled()
    blocks = {b["code"]: data_label(b, b["code"]) for b in definition.get("blocks") or []}
    rows: list[BreakdownRow] = []
    entries = assessment.breakdown or {}
    items = [(item, "indicator") for item in definition["indicators"]]
    items += [(item, item.get("kind", "bonus")) for item in definition.get("adjustments") or []]
    for item, kind in items:
        fact = compiled.fact_table[item["fact"]]
        entry = entries.get(item["code"])
        if entry is None and kind != "indicator":
            continue
        value, detail, points = "—", "", None
        if entry is not None:
            value, points = fact.human(entry[0]), entry[1]
            if len(entry) >= 4:
                detail = _("%(ratio)s× the local average %(average)s") % {
                    "ratio": f"{entry[2] / 10000:.2f}", "average": f"{entry[3] / 100:,.2f}"}
        rows.append(BreakdownRow(blocks.get(item.get("block"), ""), item["code"], data_label(item, fact.label), value,
                                 detail, points, item.get("max_points") if kind == "indicator" else None, kind))
    return rows


@dataclass
class GateRow:
    code: str
    label: Any
    kind: str  # eligibility / cap
    grade: str


def gate_rows(assessment: RatingAssessment) -> list[GateRow]:
    definition = assessment.scorecard.definition
    by_code: dict[str, GateRow] = {}
    for item in definition.get("eligibility") or []:
        by_code[item["code"]] = GateRow(item["code"], data_label(item, item["code"]), "eligibility",
                                        definition["bands"][-1]["grade"])
    for item in definition.get("caps") or []:
        by_code[item["code"]] = GateRow(item["code"], data_label(item, item["code"]), "cap", item["grade"])
    return [by_code[code] for code in assessment.gates or [] if code in by_code]


@dataclass
class MissingRow:
    key: str
    label: Any
    origin: Any


def missing_rows(missing: list[str], scorecard: Scorecard) -> list[MissingRow]:
    """What to collect before the customer can be rated, with where it is recorded."""
    table = scorecard.compiled().fact_table
    rows = []
    for key in missing:
        if key.startswith(AVERAGE_PREFIX):
            origin = ORIGIN_LABELS["average"]
        else:
            fact = table.get(key)
            origin = ORIGIN_LABELS.get(fact.origin if fact else "input", "")
        rows.append(MissingRow(key, missing_label(key, table), origin))
    return rows


def grade_label(scorecard: Scorecard, grade: str) -> str:
    """A grade as shown: its code, with the band's label when it has one (无信用户)."""
    if not grade:
        return "—"
    compiled = scorecard.compiled()
    if grade not in compiled.rank:
        return grade
    label = data_label(compiled.band(grade), "")
    return f"{grade} · {label}" if str(label) else grade


# --- overrides -----------------------------------------------------------------------------------


def pending_overrides(*, user: User) -> QuerySet[GradeOverride]:
    """Adjustments waiting for `user`'s decision: of customers in their scope, within their level, not their own."""
    level = AUTHORITY.get(user.role, -1)
    if level < 1:
        return GradeOverride.objects.none()
    overrides = GradeOverride.objects.visible_to(user).filter(status=OverrideStatus.PENDING).exclude(
        proposed_by=user)
    if level == 1:
        overrides = overrides.filter(steps=1)
    return overrides.select_related("assessment", "assessment__customer", "assessment__scorecard", "proposed_by")


# --- configuration -------------------------------------------------------------------------------


def local_average_table(org_units: QuerySet[OrgUnit]) -> list[dict]:
    """For each unit: its own averages and the ones it inherits (yuan), for the configuration page."""
    effective = reader.local_averages()
    own = {(a.org_unit_id, a.key): a for a in LocalAverage.objects.filter(org_unit__in=org_units)}
    rows = []
    for unit in org_units:
        cells = []
        for key in AverageKey.values:
            mine = own.get((unit.pk, key))
            value = effective.get(unit.pk, {}).get(key)
            cells.append({"key": key, "own": mine.amount if mine else None,
                          "effective": None if value is None else value / 100, "inherited": mine is None})
        rows.append({"unit": unit, "cells": cells})
    return rows


def collect_form_facts(customer: Customer) -> list[dict]:
    """The inputs to collect for a customer, each with its current value (for the form)."""
    current = inputs_of(customer)
    rows = []
    for fact in collectable_facts(customer):
        held = current.get(fact.key)
        human = fact.human(held.number if fact.is_numeric else held.value) if held else ""
        rows.append({"fact": fact, "value": held.value if held else "", "input": held, "human": human})
    return rows


# --- preview of a draft --------------------------------------------------------------------------


@dataclass
class Preview:
    """How a draft would move the grades of the customers in the editor's scope (existing customers)."""

    moves: list[tuple[str, str, int]]
    customers: int
    changed: int
    grades: list[str]


def scorecard_preview(*, user: User, draft: Scorecard, today: date | None = None) -> Preview:
    """Grade moves from the version in force to `draft` over the existing customers of its type that
    `user` may see: [(from grade, to grade, count)]. '' is "lacking inputs". Nothing is written."""
    today = today or timezone.localdate()
    current = Scorecard.objects.effective(draft.customer_type, today)
    population = batch_population(acting_user=user).filter(customer_type=draft.customer_type,
                                                           status=CustomerStatus.EXISTING)
    averages = reader.local_averages()
    chunks = list(reader.id_chunks(20_000))

    def grades(scorecard: Scorecard | None) -> dict[int, str]:
        if scorecard is None:
            return {}
        compiled = scorecard.compiled()
        query = reader.FactQuery(compiled.facts, compiled.fact_table, today=today)
        out: dict[int, str] = {}
        for low, high in chunks:
            for row in query.rows(population, low, high):
                out[row[0]] = compiled.evaluate_row(row, averages.get(row[1], {}))[1]
        return out

    before, after = grades(current), grades(draft)
    moves = Counter((before.get(pk, ""), grade) for pk, grade in after.items())
    order = {grade: index for index, grade in enumerate(draft.compiled().grades)}
    rows = sorted(((old, new, count) for (old, new), count in moves.items()),
                  key=lambda r: (order.get(r[0], 99), order.get(r[1], 99)))
    return Preview(moves=rows, customers=len(after), changed=sum(c for o, n, c in rows if o != n),
                   grades=draft.compiled().grades)


def editable_org_units(user: User) -> QuerySet[OrgUnit]:
    if user.role in (Role.SYSADMIN, Role.CREDIT_APPROVER):
        return OrgUnit.objects.all()
    return OrgUnit.objects.none()


# --- approvals -----------------------------------------------------------------------------------


def approval_get(*, user: User, pk: int) -> Approval:
    """One approval of a customer in the user's scope; 404 otherwise."""
    return get_object_or_404(Approval.objects.visible_to(user).select_related(
        "customer", "customer__org_unit", "line", "line__scorecard", "line__assessment", "rule", "rule__org_unit",
        "submitted_by", "decided_by"), pk=pk)


def approval_steps(approval: Approval) -> list[ApprovalStep]:
    return list(approval.steps.select_related("actor").order_by("at", "id"))


def approvals_of_line(line: CreditLine) -> QuerySet[Approval]:
    return line.approvals.select_related("submitted_by", "decided_by").order_by("-submitted_at", "-id")


def notifications_for(user: User, *, limit: int = 10) -> list[Notification]:
    """The user's latest notifications, unread first."""
    return list(Notification.objects.visible_to(user).select_related("customer", "actor", "approval")
                .order_by(F("read_at").desc(nulls_first=True), "-created_at", "-id")[:limit])


def authority_matrix() -> QuerySet[AuthorityRule]:
    return AuthorityRule.objects.select_related("org_unit", "updated_by").order_by(
        "level", "org_unit__path", "customer_type", "guarantee_class", "limit", "id")


# --- campaigns -----------------------------------------------------------------------------------


def campaign_period(campaign: RatingCampaign) -> tuple[datetime, datetime]:
    """The campaign's period as aware datetimes [first day 00:00, the day after the last 00:00)."""
    start = timezone.make_aware(datetime.combine(campaign.starts_on, time.min))
    end = timezone.make_aware(datetime.combine(campaign.ends_on + timedelta(days=1), time.min))
    return start, end


def credit_household_grades() -> Q:
    """Assessments whose final grade makes a farmer household a credit household (信用户): a grade of its
    farmer scorecard version that carries a line (the reference's A and above; not 无信用户)."""
    condition = Q(pk__in=[])
    for scorecard in Scorecard.objects.filter(customer_type=CustomerType.FARMER):
        compiled = scorecard.compiled()
        grades = [grade for grade in compiled.grades if compiled.grade_has_line(grade)]
        condition |= Q(scorecard_id=scorecard.pk, final_grade__in=grades)
    return condition


def is_credit_household(customer: Customer) -> bool:
    """A farmer household whose current confirmed grade carries a line."""
    if customer.customer_type != CustomerType.FARMER:
        return False
    confirmed = current_grade(customer)
    return bool(confirmed and confirmed.scorecard.compiled().grade_has_line(confirmed.final_grade))


@dataclass
class Coverage:
    """One org unit's progress (or the total's): how much of the target population is collected (enough
    inputs for the model to score), rated (a grade confirmed by a person) and has a line approved —
    each within the campaign's period — and, among farmer households, the credit households."""

    org_unit: OrgUnit | None
    population: int = 0
    collected: int = 0
    rated: int = 0
    approved: int = 0
    farmers: int = 0
    credit_households: int = 0

    @staticmethod
    def _share(part: int, whole: int) -> float | None:
        return part / whole if whole else None

    @property
    def collected_share(self) -> float | None:
        return self._share(self.collected, self.population)

    @property
    def rated_share(self) -> float | None:
        return self._share(self.rated, self.population)

    @property
    def approved_share(self) -> float | None:
        return self._share(self.approved, self.population)

    @property
    def credit_household_share(self) -> float | None:
        return self._share(self.credit_households, self.farmers)

    @property
    def to_collect(self) -> int:
        """How many remain to reach the 100% goal of collection."""
        return self.population - self.collected


COVERAGE_COUNTS = ("population", "collected", "rated", "approved", "farmers", "credit_households")


@dataclass
class CampaignProgress:
    campaign: RatingCampaign
    rows: list[Coverage]
    total: Coverage
    credit_village: bool | None  # village campaigns only

    @property
    def goal(self) -> int:
        return 100


def campaign_progress(*, campaign: RatingCampaign, user: User) -> CampaignProgress:
    """Coverage of the campaign's target population per org unit within `user`'s scope, against the 100%
    goal: one grouped query over the population (each count is a direct count over the unit's
    customers), rows for every outlet taking part and every unit holding part of the population."""
    from guanxi.credit.campaigns import campaign_population

    start, end = campaign_period(campaign)
    population = campaign_population(campaign, user=user)
    in_period = RatingAssessment.objects.filter(customer=OuterRef("pk"), created_at__gte=start, created_at__lt=end)
    confirmed = in_period.filter(status=AssessmentStatus.CONFIRMED)
    approved = CreditLine.objects.filter(customer=OuterRef("pk"), status=CreditLineStatus.APPROVED,
                                         created_at__gte=start, created_at__lt=end)
    farmer = Q(customer_type=CustomerType.FARMER)
    grouped = (population.order_by().values("org_unit").annotate(
        population=Count("pk"),
        collected=Count("pk", filter=Exists(in_period.filter(model_score__isnull=False))),
        rated=Count("pk", filter=Exists(confirmed)),
        approved=Count("pk", filter=Exists(approved)),
        farmers=Count("pk", filter=farmer),
        credit_households=Count("pk", filter=farmer & Exists(confirmed.filter(credit_household_grades())))))
    counts = {row["org_unit"]: row for row in grouped}
    subtree = Q(pk__in=[])
    for unit in campaign.org_units.all():
        subtree |= Q(path__startswith=unit.path)
    units = OrgUnit.objects.filter(subtree).filter(Q(pk__in=list(counts)) | Q(kind__in=("branch", "coop")))
    rows = []
    total = Coverage(None)
    for unit in units.order_by("path"):
        row = counts.get(unit.pk, {})
        coverage = Coverage(unit, **{name: row.get(name, 0) for name in COVERAGE_COUNTS})
        rows.append(coverage)
        for name in COVERAGE_COUNTS:
            setattr(total, name, getattr(total, name) + getattr(coverage, name))
    village = None
    if campaign.is_village:
        share = total.credit_household_share
        village = share is not None and share * 100 >= campaign.credit_village_share
    return CampaignProgress(campaign, rows, total, village)
