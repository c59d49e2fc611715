"""1-to-N responsibility: each customer has at most one active owner (维护责任人)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from guanxi.core.models import User
from guanxi.customers.models import Customer


class Assignment(models.Model):
    """Who is responsible for a customer, from when to when, and why.

    Invariant: at most one active assignment per customer — a partial unique constraint,
    so the database itself refuses a second owner even under concurrent requests.
    Ended assignments are the ownership history.
    """

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="assignments")
    owner = models.ForeignKey(User, verbose_name=_("owner"), on_delete=models.PROTECT, related_name="assignments")
    active = models.BooleanField(default=True)
    started_at = models.DateTimeField(_("from"), default=timezone.now)
    ended_at = models.DateTimeField(_("until"), null=True, blank=True)
    reason = models.CharField(_("reason"), max_length=200, blank=True)
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
