"""Credit rating (信用等级评定) and credit lines (授信): scorecards as versioned data, the inputs collected
per customer, local averages, assessments with their overrides, and calculated lines.

Written only by `credit.services` (every change audited). Anything holding customer data has a
`visible_to(user)` queryset method that starts from `Customer.objects.visible_to(user)`.
"""

from __future__ import annotations

import json
from typing import Any

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from guanxi.core.fields import MoneyField
from guanxi.core.models import OrgUnit, User
from guanxi.credit.facts import AverageKey
from guanxi.customers.models import Customer, CustomerType


class JSONTextField(models.TextField):
    """JSON kept as plain text: a batch writes it a million times with COPY / executemany, and
    PostgreSQL's jsonb would parse every value (measured: twice the write time). Never queried
    inside; Python sees the decoded value."""

    def from_db_value(self, value, expression, connection):  # noqa: ARG002
        return None if value is None else json.loads(value)

    def to_python(self, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                return value
        return value

    def get_prep_value(self, value: Any) -> str | None:
        if value is None:
            return None
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)

    def value_to_string(self, obj: models.Model) -> str:
        return self.get_prep_value(self.value_from_object(obj)) or ""


def _of_visible_customers(queryset: models.QuerySet, user: User | None) -> models.QuerySet:
    return queryset.filter(customer__in=Customer.objects.visible_to(user).values("pk"))


# --- scorecards ------------------------------------------------------------------------------------


class ScorecardStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    PUBLISHED = "published", _("Published")


class ScorecardQuerySet(models.QuerySet):
    def published(self) -> ScorecardQuerySet:
        return self.filter(status=ScorecardStatus.PUBLISHED)

    def effective(self, customer_type: str, on) -> Scorecard | None:
        """The published version in force on date `on` for a customer type (latest effective date wins)."""
        return (self.published().filter(customer_type=customer_type, effective_from__lte=on)
                .order_by("-effective_from", "-version").first())


class Scorecard(models.Model):
    """One version of the rating scorecard and line policy of a customer type (see `credit.engine`).

    Versions are numbered per customer type. A draft is edited by credit approvers and the system
    administrator, then published with an effective date; a published version never changes again
    (the services refuse it), so every assessment can be explained by the version it names. At most
    one draft per customer type (held by the database).
    """

    customer_type = models.CharField(_("customer type"), max_length=10, choices=CustomerType.choices)
    version = models.PositiveIntegerField(_("version"))
    name = models.CharField(_("name"), max_length=100)
    status = models.CharField(_("status"), max_length=10, choices=ScorecardStatus.choices,
                              default=ScorecardStatus.DRAFT)
    effective_from = models.DateField(_("effective from"), null=True, blank=True)
    definition = models.JSONField(_("definition"), default=dict)
    notes = models.TextField(_("notes"), blank=True)
    based_on = models.ForeignKey("self", verbose_name=_("based on"), null=True, blank=True,
                                 on_delete=models.SET_NULL, related_name="+")
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)
    published_by = models.ForeignKey(User, verbose_name=_("published by"), null=True, blank=True,
                                     on_delete=models.SET_NULL, related_name="+")
    published_at = models.DateTimeField(_("published at"), null=True, blank=True)

    objects = ScorecardQuerySet.as_manager()

    class Meta:
        ordering = ["customer_type", "-version"]
        verbose_name = _("scorecard")
        verbose_name_plural = _("scorecards")
        constraints = [
            models.UniqueConstraint(fields=["customer_type", "version"], name="scorecard_version_unique"),
            models.UniqueConstraint(fields=["customer_type"], condition=Q(status="draft"),
                                    name="one_draft_scorecard_per_type"),
            models.CheckConstraint(condition=Q(status="draft") | Q(effective_from__isnull=False),
                                   name="published_scorecard_has_effective_date"),
            models.CheckConstraint(condition=Q(customer_type__in=CustomerType.values),
                                   name="scorecard_customer_type_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"

    @property
    def is_draft(self) -> bool:
        return self.status == ScorecardStatus.DRAFT

    def compiled(self):
        """The compiled form (cached per instance; a published definition never changes)."""
        from guanxi.credit.engine import CompiledScorecard

        cached = getattr(self, "_compiled", None)
        if cached is None or cached.definition is not self.definition:
            cached = self._compiled = CompiledScorecard(self.definition, self.customer_type)
        return cached


# --- configuration per org unit ------------------------------------------------------------------


class LocalAverage(models.Model):
    """A local average (household assets, net assets, net income) of an org unit's area, in yuan.

    A unit without its own value inherits the nearest ancestor's (see `selectors.local_averages`).
    Configuration: written by credit approvers and the system administrator (`services.local_average_set`).
    """

    org_unit = models.ForeignKey(OrgUnit, verbose_name=_("org unit"), on_delete=models.CASCADE,
                                 related_name="local_averages")
    key = models.CharField(_("average"), max_length=20, choices=AverageKey.choices)
    amount = MoneyField(_("amount"))
    updated_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    class Meta:
        ordering = ["org_unit__path", "key"]
        verbose_name = _("local average")
        verbose_name_plural = _("local averages")
        constraints = [
            models.UniqueConstraint(fields=["org_unit", "key"], name="local_average_unique"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="local_average_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.org_unit_id} {self.key}={self.amount}"


# --- inputs collected per customer ---------------------------------------------------------------


class RatingInputQuerySet(models.QuerySet):
    def visible_to(self, user: User | None) -> RatingInputQuerySet:
        return _of_visible_customers(self, user)


class RatingInput(models.Model):
    """One fact about a customer that the customer record has no place for, as collected by staff.

    `key` names a fact of `credit.facts` (or one a scorecard declares); `value` is its canonical
    text (``12345.67``, ``excellent``, ``true``) and `number` the exact integer the engine reads
    (fen, basis points, count, 1/0; NULL for categories). One current value per customer and key;
    earlier values live in the audit log. Written only by `services.rating_inputs_save`.
    """

    # The unique (customer, key) index serves lookups by customer; no second index.
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="rating_inputs", db_index=False)
    key = models.CharField(_("input"), max_length=40)
    value = models.CharField(_("value"), max_length=100)
    number = models.BigIntegerField(null=True, blank=True)
    collected_by = models.ForeignKey(User, verbose_name=_("collected by"), null=True, blank=True,
                                     on_delete=models.SET_NULL, related_name="+")
    collected_at = models.DateTimeField(_("collected at"), default=timezone.now)

    objects = RatingInputQuerySet.as_manager()

    class Meta:
        ordering = ["customer", "key"]
        verbose_name = _("rating input")
        verbose_name_plural = _("rating inputs")
        constraints = [models.UniqueConstraint(fields=["customer", "key"], name="rating_input_unique")]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.key}={self.value}"


# --- assessments ---------------------------------------------------------------------------------


class RatingRun(models.Model):
    """One batch assessment (`guanxi rate`, a page, a schedule): who ran it over what, and the outcome."""

    class State(models.TextChoices):
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    started_by = models.ForeignKey(User, verbose_name=_("started by"), null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    started_at = models.DateTimeField(_("started at"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.RUNNING)
    org_unit = models.ForeignKey(OrgUnit, verbose_name=_("org unit"), null=True, blank=True,
                                 on_delete=models.SET_NULL, related_name="+")
    customer_type = models.CharField(_("customer type"), max_length=10, choices=CustomerType.choices, blank=True)
    campaign = models.ForeignKey("RatingCampaign", verbose_name=_("rating campaign"), null=True, blank=True,
                                 on_delete=models.SET_NULL, related_name="runs")
    assessed = models.PositiveIntegerField(_("assessed"), default=0)
    incomplete = models.PositiveIntegerField(_("lacking inputs"), default=0)
    by_grade = models.JSONField(_("by grade"), default=dict, blank=True)
    seconds = models.FloatField(default=0)

    class Meta:
        ordering = ["-started_at", "-id"]
        verbose_name = _("rating run")
        verbose_name_plural = _("rating runs")

    def __str__(self) -> str:
        return f"{self.started_at:%Y-%m-%d %H:%M} {self.get_state_display()}"


class AssessmentStatus(models.TextChoices):
    INCOMPLETE = "incomplete", _("Lacking inputs")
    PROPOSED = "proposed", _("Awaiting confirmation")
    PENDING = "pending", _("Adjustment awaiting approval")
    CONFIRMED = "confirmed", _("Confirmed")
    SUPERSEDED = "superseded", _("Superseded")


# An assessment in one of these is open: a newer run replaces it.
OPEN_STATUSES = (AssessmentStatus.INCOMPLETE, AssessmentStatus.PROPOSED)


class RatingAssessmentQuerySet(models.QuerySet):
    def visible_to(self, user: User | None) -> RatingAssessmentQuerySet:
        """Assessments of the customers `user` may see (`Customer.objects.visible_to`), nothing else."""
        return _of_visible_customers(self, user)


class RatingAssessment(models.Model):
    """One rating of one customer against one scorecard version (客户信用等级评估表).

    The model's result (`model_score`, `model_grade`, `breakdown`, `gates`, `missing`) is written
    once and never changed; the person's decision is kept apart (`final_grade`, `final_by`,
    `final_at`) with every adjustment in `GradeOverride`. Automated results always go through a
    person: an assessment counts only once confirmed. `breakdown` maps indicator codes to
    ``[value, points]`` in the facts' carried units (see `credit.engine.Outcome`).
    """

    # A batch writes a million rows: few indexes, and database foreign keys only where integrity needs
    # them (customer, scorecard) — PostgreSQL checks each one per row at commit. The others are
    # provenance (who, which run, which unit then) and Django's on_delete still applies.
    customer = models.ForeignKey(Customer, verbose_name=_("customer"), on_delete=models.CASCADE,
                                 related_name="rating_assessments", db_index=False)
    scorecard = models.ForeignKey(Scorecard, verbose_name=_("scorecard"), on_delete=models.PROTECT,
                                  related_name="assessments", db_index=False)
    run = models.ForeignKey(RatingRun, verbose_name=_("rating run"), null=True, blank=True,
                            on_delete=models.SET_NULL, related_name="assessments", db_index=False,
                            db_constraint=False)
    org_unit = models.ForeignKey(OrgUnit, verbose_name=_("org unit"), on_delete=models.PROTECT, related_name="+",
                                 db_index=False, db_constraint=False)
    status = models.CharField(_("status"), max_length=12, choices=AssessmentStatus.choices)
    model_score = models.IntegerField(_("model score"), null=True, blank=True)
    model_grade = models.CharField(_("model grade"), max_length=4, blank=True)
    eligible = models.BooleanField(_("eligible"), default=True)
    breakdown = JSONTextField(_("breakdown"), default=dict, blank=True)
    gates = JSONTextField(_("gates that fired"), default=list, blank=True)
    missing = JSONTextField(_("missing inputs"), default=list, blank=True)
    final_grade = models.CharField(_("final grade"), max_length=4, blank=True)
    final_by = models.ForeignKey(User, verbose_name=_("confirmed by"), null=True, blank=True,
                                 on_delete=models.SET_NULL, related_name="+", db_index=False, db_constraint=False)
    final_at = models.DateTimeField(_("confirmed at"), null=True, blank=True)
    created_by = models.ForeignKey(User, verbose_name=_("assessed by"), null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+", db_index=False, db_constraint=False)
    created_at = models.DateTimeField(_("assessed at"), default=timezone.now)

    objects = RatingAssessmentQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("rating assessment")
        verbose_name_plural = _("rating assessments")
        indexes = [models.Index(fields=["customer", "status"], name="assessment_customer_status")]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=AssessmentStatus.values), name="assessment_status_valid"),
            models.CheckConstraint(condition=~Q(status="confirmed") | ~Q(final_grade=""),
                                   name="confirmed_assessment_has_final_grade"),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.model_grade or '—'} ({self.get_status_display()})"

    @property
    def grade(self) -> str:
        """The grade that counts: the final one once confirmed, else the model's."""
        return self.final_grade or self.model_grade

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def adjusted(self) -> bool:
        return bool(self.final_grade) and self.final_grade != self.model_grade


class OverrideStatus(models.TextChoices):
    PENDING = "pending", _("Awaiting approval")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")


class GradeOverrideQuerySet(models.QuerySet):
    def visible_to(self, user: User | None) -> GradeOverrideQuerySet:
        return self.filter(assessment__customer__in=Customer.objects.visible_to(user).values("pk"))


class GradeOverride(models.Model):
    """A person's change of the model's grade: who proposed it, when and why, and who decided.

    `steps` is how many grades it moves. Within the proposer's authority it is approved at once
    (decided by the proposer); otherwise it waits for an approver of the level `required_role`
    (a branch head for one grade, a credit approver for more), who may not be the proposer.
    """

    assessment = models.ForeignKey(RatingAssessment, on_delete=models.CASCADE, related_name="overrides")
    from_grade = models.CharField(_("from grade"), max_length=4)
    to_grade = models.CharField(_("to grade"), max_length=4)
    steps = models.PositiveSmallIntegerField(_("grades moved"))
    reason = models.TextField(_("reason"))
    proposed_by = models.ForeignKey(User, verbose_name=_("proposed by"), on_delete=models.PROTECT, related_name="+")
    proposed_at = models.DateTimeField(_("proposed at"), default=timezone.now)
    required_role = models.CharField(_("approver"), max_length=20, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=OverrideStatus.choices)
    decided_by = models.ForeignKey(User, verbose_name=_("decided by"), null=True, blank=True,
                                   on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decision_reason = models.TextField(_("reason for the decision"), blank=True)

    objects = GradeOverrideQuerySet.as_manager()

    class Meta:
        ordering = ["-proposed_at", "-id"]
        verbose_name = _("grade override")
        verbose_name_plural = _("grade overrides")
        constraints = [
            models.UniqueConstraint(fields=["assessment"], condition=Q(status="pending"),
                                    name="one_pending_override_per_assessment"),
            models.CheckConstraint(condition=~Q(reason=""), name="grade_override_has_reason"),
        ]

    def __str__(self) -> str:
        return f"{self.assessment_id} {self.from_grade}→{self.to_grade} ({self.get_status_display()})"


# --- credit lines --------------------------------------------------------------------------------


class CreditLineStatus(models.TextChoices):
    """`proposed` when calculated; submitted for approval it is `pending` until the approver (or the
    committee) approves or rejects it, or sends it back (`proposed` again); a newer calculation for
    the same customer supersedes a proposed one."""

    PROPOSED = "proposed", _("Proposed")
    PENDING = "pending", _("Under approval")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    SUPERSEDED = "superseded", _("Superseded")


class CreditLineQuerySet(models.QuerySet):
    def visible_to(self, user: User | None) -> CreditLineQuerySet:
        return _of_visible_customers(self, user)


class CreditLine(models.Model):
    """A customer's credit line (综合授信额度) as calculated from a confirmed assessment (客户授信额度测算表).

    `model_amount` is the line the formula gives for the model's grade, `amount` the one for the
    final grade after guarantees, caps and the amount requested; each step of the calculation is
    a `CreditLineStep`. Farmer lines are granted once and used revolving within `valid_from` –
    `valid_until`, reviewed every year (`review_on`, 年审).
    """

    customer = models.ForeignKey(Customer, verbose_name=_("customer"), on_delete=models.CASCADE,
                                 related_name="credit_lines")
    assessment = models.ForeignKey(RatingAssessment, verbose_name=_("rating assessment"), on_delete=models.PROTECT,
                                   related_name="credit_lines")
    scorecard = models.ForeignKey(Scorecard, verbose_name=_("scorecard"), on_delete=models.PROTECT, related_name="+")
    grade = models.CharField(_("grade"), max_length=4)
    guarantees = models.JSONField(_("guarantees"), default=list, blank=True)
    requested_amount = MoneyField(_("amount requested"), null=True, blank=True)
    model_amount = MoneyField(_("model line"))
    amount = MoneyField(_("credit line"))
    valid_from = models.DateField(_("valid from"))
    valid_until = models.DateField(_("valid until"))
    review_on = models.DateField(_("annual review on"))
    status = models.CharField(_("status"), max_length=12, choices=CreditLineStatus.choices,
                              default=CreditLineStatus.PROPOSED)
    created_by = models.ForeignKey(User, verbose_name=_("calculated by"), null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(_("calculated at"), default=timezone.now)

    objects = CreditLineQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("credit line")
        verbose_name_plural = _("credit lines")
        constraints = [
            models.CheckConstraint(condition=Q(status__in=CreditLineStatus.values), name="credit_line_status_valid"),
            models.CheckConstraint(condition=Q(amount__gte=0) & Q(model_amount__gte=0),
                                   name="credit_line_not_negative"),
            models.CheckConstraint(condition=Q(valid_until__gte=models.F("valid_from")),
                                   name="credit_line_valid_period"),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.grade} {self.amount}"


class CreditLineStep(models.Model):
    """One line of a calculation sheet: what was computed (label, in the bank's language), how, and the result."""

    line = models.ForeignKey(CreditLine, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField()
    code = models.CharField(max_length=60)
    label = models.CharField(_("step"), max_length=200)
    formula = models.CharField(_("formula"), max_length=300)
    amount = MoneyField(_("amount"))

    class Meta:
        ordering = ["line", "position"]
        verbose_name = _("calculation step")
        verbose_name_plural = _("calculation steps")
        constraints = [models.UniqueConstraint(fields=["line", "position"], name="credit_line_step_unique")]

    def __str__(self) -> str:
        return f"{self.line_id}.{self.position} {self.label}"


# --- approval (审议审批) -----------------------------------------------------------------------------


class ApprovalLevel(models.TextChoices):
    """Who may approve, lowest first: the outlet's head, the credit department or the deputy president
    for credit, the credit committee (贷审会, by vote)."""

    OUTLET = "outlet", _("Outlet")
    DEPARTMENT = "department", _("Credit department / deputy president")
    COMMITTEE = "committee", _("Credit committee")


LEVEL_RANK = {ApprovalLevel.OUTLET: 0, ApprovalLevel.DEPARTMENT: 1, ApprovalLevel.COMMITTEE: 2}


class GuaranteeClass(models.TextChoices):
    UNSECURED = "unsecured", _("Unsecured (credit only)")
    SECURED = "secured", _("Secured (guarantee, mortgage or pledge)")


class AuthorityRuleQuerySet(models.QuerySet):
    def active(self) -> AuthorityRuleQuerySet:
        return self.filter(active=True)


class AuthorityRule(models.Model):
    """One cell of the authority matrix (授权): lines of this kind whose compared amount (the customer's
    total exposure: loan balance + approved lines outstanding + the new line) is at most `limit` may be
    approved at `level`. Empty `customer_type`, `guarantee_class`, `min_grade` match any; `limit` NULL
    is no limit. `org_unit` differentiates by outlet: rules of the nearest unit above the customer's
    that has rules for a level replace the bank-wide ones (NULL) for that level.

    Bank policy, not customer data: every staff member may read it; configuration roles write it
    (`approvals.authority_rule_save`, audited).
    """

    level = models.CharField(_("approval level"), max_length=12, choices=ApprovalLevel.choices)
    org_unit = models.ForeignKey(OrgUnit, verbose_name=_("org unit"), null=True, blank=True,
                                 on_delete=models.CASCADE, related_name="+",
                                 help_text=_("empty: the whole bank"))
    customer_type = models.CharField(_("customer type"), max_length=10, choices=CustomerType.choices, blank=True)
    guarantee_class = models.CharField(_("guarantee"), max_length=10, choices=GuaranteeClass.choices, blank=True)
    min_grade = models.CharField(_("grade at least"), max_length=4, blank=True)
    limit = MoneyField(_("limit of the compared amount"), null=True, blank=True)
    active = models.BooleanField(_("active"), default=True)
    updated_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    objects = AuthorityRuleQuerySet.as_manager()

    class Meta:
        ordering = ["level", "org_unit__path", "customer_type", "guarantee_class", "limit", "id"]
        verbose_name = _("authority rule")
        verbose_name_plural = _("authority rules")
        constraints = [
            models.CheckConstraint(condition=Q(level__in=ApprovalLevel.values), name="authority_level_valid"),
            models.CheckConstraint(condition=Q(limit__isnull=True) | Q(limit__gt=0), name="authority_limit_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.level} {self.customer_type or '*'} {self.guarantee_class or '*'} ≤ {self.limit or '∞'}"


class CreditCommittee(models.Model):
    """The credit committee (贷审会): its members (credit approvers) and the majority that carries a vote.

    A proposal carries when at least `majority_numerator / majority_denominator` of the members
    entitled to vote (every member but the proposer) agree. One row, kept by a migration; written
    by configuration roles (`approvals.committee_save`, audited).
    """

    name = models.CharField(_("name"), max_length=100)
    members = models.ManyToManyField(User, verbose_name=_("members"), blank=True, related_name="+")
    majority_numerator = models.PositiveSmallIntegerField(_("majority (numerator)"), default=2)
    majority_denominator = models.PositiveSmallIntegerField(_("majority (denominator)"), default=3)
    updated_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    class Meta:
        verbose_name = _("credit committee")
        verbose_name_plural = _("credit committees")
        constraints = [
            models.CheckConstraint(condition=Q(majority_numerator__gt=0)
                                   & Q(majority_numerator__lte=models.F("majority_denominator")),
                                   name="committee_majority_valid"),
        ]

    def __str__(self) -> str:
        return self.name

    @classmethod
    def current(cls) -> CreditCommittee:
        committee = cls.objects.order_by("pk").first()
        if committee is None:
            committee = cls.objects.create(name=str(_("Credit committee")))
        return committee


class ApprovalStatus(models.TextChoices):
    PENDING = "pending", _("Awaiting approval")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    RETURNED = "returned", _("Sent back")


class ApprovalQuerySet(models.QuerySet):
    def visible_to(self, user: User | None) -> ApprovalQuerySet:
        """Approvals of the customers `user` may see (`Customer.objects.visible_to`), nothing else."""
        return _of_visible_customers(self, user)


class Approval(models.Model):
    """The review and approval (审议审批) of one credit line, submitted once (客户授信额度审议审批表).

    The route is fixed at submission: the compared amount (`exposure` = `loan_balance` +
    `approved_lines` + `amount`, yuan) and the `level` the authority matrix gives it (`rule`).
    Outlet and department levels are decided by one approver; the committee level by vote
    (`ApprovalStep` rows of action `vote`). The proposer (who calculated or submitted the line)
    never decides nor votes. At most one pending approval per line (held by the database).
    Written only by `credit.approvals`; every step audited.
    """

    line = models.ForeignKey(CreditLine, verbose_name=_("credit line"), on_delete=models.CASCADE,
                             related_name="approvals")
    customer = models.ForeignKey(Customer, verbose_name=_("customer"), on_delete=models.CASCADE,
                                 related_name="+")
    level = models.CharField(_("approval level"), max_length=12, choices=ApprovalLevel.choices)
    rule = models.ForeignKey(AuthorityRule, verbose_name=_("authority rule"), null=True, blank=True,
                             on_delete=models.SET_NULL, related_name="+")
    loan_balance = MoneyField(_("loan balance"))
    approved_lines = MoneyField(_("approved lines outstanding"))
    amount = MoneyField(_("new line"))
    exposure = MoneyField(_("compared amount"))
    status = models.CharField(_("status"), max_length=10, choices=ApprovalStatus.choices,
                              default=ApprovalStatus.PENDING)
    submitted_by = models.ForeignKey(User, verbose_name=_("proposed by"), on_delete=models.PROTECT,
                                     related_name="+")
    submitted_at = models.DateTimeField(_("submitted at"), default=timezone.now)
    comment = models.TextField(_("proposer's comment"), blank=True)
    decided_by = models.ForeignKey(User, verbose_name=_("decided by"), null=True, blank=True,
                                   on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decision_comment = models.TextField(_("comment on the decision"), blank=True)

    objects = ApprovalQuerySet.as_manager()

    class Meta:
        ordering = ["-submitted_at", "-id"]
        verbose_name = _("approval")
        verbose_name_plural = _("approvals")
        indexes = [models.Index(fields=["status", "level"], name="approval_status_level")]
        constraints = [
            models.UniqueConstraint(fields=["line"], condition=Q(status="pending"), name="one_pending_approval_per_line"),
            models.CheckConstraint(condition=Q(status__in=ApprovalStatus.values), name="approval_status_valid"),
            models.CheckConstraint(condition=Q(level__in=ApprovalLevel.values), name="approval_level_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.amount} {self.level} ({self.status})"

    @property
    def is_pending(self) -> bool:
        return self.status == ApprovalStatus.PENDING


class StepAction(models.TextChoices):
    SUBMIT = "submit", _("Submitted")
    APPROVE = "approve", _("Approved")
    REJECT = "reject", _("Rejected")
    RETURN = "return", _("Sent back")
    VOTE = "vote", _("Vote")
    OUTCOME = "outcome", _("Committee outcome")


class Vote(models.TextChoices):
    AGREE = "agree", _("Agree")
    REJECT = "reject", _("Reject")
    RECONSIDER = "reconsider", _("Reconsider")
    ABSTAIN = "abstain", _("Abstain")


class ApprovalStep(models.Model):
    """One step of an approval, in order: the submission, a decision, a committee member's vote, the
    committee's outcome — who, when, at which level and with which comment. One vote per member."""

    approval = models.ForeignKey(Approval, on_delete=models.CASCADE, related_name="steps")
    action = models.CharField(_("action"), max_length=10, choices=StepAction.choices)
    vote = models.CharField(_("vote"), max_length=12, choices=Vote.choices, blank=True)
    actor = models.ForeignKey(User, verbose_name=_("step by"), null=True, blank=True, on_delete=models.PROTECT,
                              related_name="+")
    at = models.DateTimeField(_("at"), default=timezone.now)
    comment = models.TextField(_("comment"), blank=True)

    class Meta:
        ordering = ["approval", "at", "id"]
        verbose_name = _("approval step")
        verbose_name_plural = _("approval steps")
        constraints = [
            models.UniqueConstraint(fields=["approval", "actor"], condition=Q(action="vote"),
                                    name="one_vote_per_member"),
            models.CheckConstraint(condition=~Q(action="vote") | ~Q(vote=""), name="vote_step_has_vote"),
        ]

    def __str__(self) -> str:
        return f"{self.approval_id} {self.action} {self.vote}"


class NotificationQuerySet(models.QuerySet):
    def visible_to(self, user: User | None) -> NotificationQuerySet:
        """A staff member's own notifications."""
        if user is None or not user.is_authenticated:
            return self.none()
        return self.filter(recipient=user)


class Notification(models.Model):
    """A note for a staff member about one of their customers: the outcome of a credit line's approval,
    told to the customer's owner (the proposer when the customer has none). Shown on the home page
    until read. Written by `credit.approvals` in the transaction of the decision."""

    recipient = models.ForeignKey(User, verbose_name=_("recipient"), on_delete=models.CASCADE,
                                  related_name="+")
    customer = models.ForeignKey(Customer, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="+")
    approval = models.ForeignKey(Approval, verbose_name=_("approval"), null=True, blank=True,
                                 on_delete=models.CASCADE, related_name="+")
    status = models.CharField(_("outcome"), max_length=10, choices=ApprovalStatus.choices)
    actor = models.ForeignKey(User, verbose_name=_("decided by"), null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    comment = models.TextField(_("comment"), blank=True)
    created_at = models.DateTimeField(_("at"), default=timezone.now)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)

    objects = NotificationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        indexes = [models.Index(fields=["recipient", "read_at"], name="notification_unread")]

    def __str__(self) -> str:
        return f"{self.recipient_id} {self.customer_id} {self.status}"


# --- rating campaigns (集中评级授信 / 整村授信) -----------------------------------------------------------


class RatingCampaign(models.Model):
    """A rating and credit campaign over a period: the org units taking part (each with its subtree)
    and the target population of their customers — existing customers, prospects who asked for
    credit (`CampaignApplicant`), and/or everybody whose address names `village` (整村授信) — of one
    customer type or all. Progress is counted per org unit against the 100% goal (`selectors`).

    `credit_village_share` is the share of credit households (信用户) among the farmer households
    of the population at which a village campaign makes the village a credit village (信用村).
    Written by `credit.campaigns` (audited); every staff member may read it.
    """

    name = models.CharField(_("name"), max_length=100)
    starts_on = models.DateField(_("starts on"))
    ends_on = models.DateField(_("ends on"))
    org_units = models.ManyToManyField(OrgUnit, verbose_name=_("org units taking part"), related_name="+")
    customer_type = models.CharField(_("customer type"), max_length=10, choices=CustomerType.choices, blank=True)
    include_existing = models.BooleanField(_("existing customers"), default=True)
    include_applicants = models.BooleanField(_("prospects who asked for credit"), default=True)
    village = models.CharField(_("village"), max_length=100, blank=True,
                               help_text=_("everybody whose address contains this name (整村授信)"))
    credit_village_share = models.PositiveSmallIntegerField(
        _("credit village at this share of credit households (per cent)"), default=70)
    created_by = models.ForeignKey(User, verbose_name=_("created by"), null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        ordering = ["-starts_on", "-id"]
        verbose_name = _("rating campaign")
        verbose_name_plural = _("rating campaigns")
        constraints = [
            models.CheckConstraint(condition=Q(ends_on__gte=models.F("starts_on")), name="campaign_period_valid"),
            models.CheckConstraint(condition=Q(credit_village_share__gt=0) & Q(credit_village_share__lte=100),
                                   name="campaign_village_share_valid"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_village(self) -> bool:
        return bool(self.village)


class CampaignApplicantQuerySet(models.QuerySet):
    def visible_to(self, user: User | None) -> CampaignApplicantQuerySet:
        return _of_visible_customers(self, user)


class CampaignApplicant(models.Model):
    """A prospect who asked for credit during a campaign: part of its target population."""

    campaign = models.ForeignKey(RatingCampaign, on_delete=models.CASCADE, related_name="applicants")
    customer = models.ForeignKey(Customer, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="+")
    registered_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    registered_at = models.DateTimeField(_("registered at"), default=timezone.now)

    objects = CampaignApplicantQuerySet.as_manager()

    class Meta:
        ordering = ["campaign", "-registered_at"]
        verbose_name = _("campaign applicant")
        verbose_name_plural = _("campaign applicants")
        constraints = [models.UniqueConstraint(fields=["campaign", "customer"], name="campaign_applicant_unique")]

    def __str__(self) -> str:
        return f"{self.campaign_id} {self.customer_id}"
