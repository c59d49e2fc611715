"""1-to-N responsibility: each customer has at most one active owner (维护责任人)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from guanxi.core.models import OrgUnit, User
from guanxi.customers.models import Customer


class Assignment(models.Model):
    """Who is responsible for a customer, from when to when, and why.

    Invariant: at most one active assignment per customer — a partial unique constraint,
    so the database itself refuses a second owner even under concurrent requests.
    Ended assignments are the ownership history; `end_reason` says why one ended
    (the rule, the transfer or the manual change that replaced it).
    """

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="assignments")
    owner = models.ForeignKey(User, verbose_name=_("owner"), on_delete=models.PROTECT, related_name="assignments")
    active = models.BooleanField(default=True)
    started_at = models.DateTimeField(_("from"), default=timezone.now)
    ended_at = models.DateTimeField(_("until"), null=True, blank=True)
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    end_reason = models.CharField(_("reason for ending"), max_length=200, blank=True)
    assigned_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-started_at", "-id"]
        verbose_name = _("assignment")
        verbose_name_plural = _("assignments")
        constraints = [
            models.UniqueConstraint(fields=["customer"], condition=Q(active=True), name="one_active_owner_per_customer"),
        ]
        indexes = [models.Index(fields=["owner", "active"])]

    def __str__(self) -> str:
        return f"{self.customer} → {self.owner}"


class RuleKind(models.TextChoices):
    LOAN_OFFICER = "loan_officer", _("Loan customers to their loan officer")
    HIGH_TIER_HEAD = "high_tier_head", _("High-tier customers to the head of their org unit")
    HEAD_OFFICE_LEADER = "head_office_leader", _("High-value and group customers to a head-office leader")
    DEPOSIT_TELLER = "deposit_teller", _("Other deposit customers to a teller of their branch")


class AssignmentRule(models.Model):
    """A rule the bank configures to give customers an owner (see `services.assignment_rules_run`).

    Active rules are tried in ascending `priority`; the first that matches a customer and finds
    an owner decides. `org_unit` limits the rule to that subtree (empty: bank-wide).
    `parameters` (amounts in yuan):

    - `high_tier_head`: `deposit_threshold` (default 1,000,000), `loan_threshold` (2,000,000),
      used only while Customer has no `tier` field;
    - `head_office_leader`: `username` (required), `deposit_threshold` / `loan_threshold`
      (high value, optional), `group_loan_threshold` (company customers with at least this loan),
      `group_customer_nos` (list of customer numbers);
    - `deposit_teller`: `strategy` `least_loaded` (default) or `round_robin`, `include_remaining`
      (also customers without a deposit, default false).

    Written only by `services.assignment_rule_save`.
    """

    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=30, choices=RuleKind.choices)
    priority = models.PositiveIntegerField(_("priority"), default=100)
    active = models.BooleanField(_("active"), default=True)
    parameters = models.JSONField(_("parameters"), default=dict, blank=True)
    org_unit = models.ForeignKey(OrgUnit, verbose_name=_("org unit"), null=True, blank=True,
                                 on_delete=models.PROTECT, related_name="+")
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    class Meta:
        ordering = ["priority", "id"]
        verbose_name = _("assignment rule")
        verbose_name_plural = _("assignment rules")
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=RuleKind.values), name="assignment_rule_kind_valid"),
        ]

    def __str__(self) -> str:
        return self.name
